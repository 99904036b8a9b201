// GPS receiver on a serial port (NMEA 0183): typed fixes, the node's position, and the wall clock marked trusted.
import { EventEmitter } from 'node:events';
import { Type, type Static } from '@sinclair/typebox';
import type { SerialPort } from 'serialport';
import type { Logger } from '../../common/log.js';
import type { Component, ComponentContext, ComponentSpec } from '../../contract/component.js';
import { numberEnum, parseDeviceOptions } from '../../contract/options.js';
import { BAUD_RATES, DeviceError, closeWithListeners, openWithListeners, type SerialListeners, unpluggedError } from '../serial/port.js';
import { FixAssembler, NmeaDecoder, emptyStats, type GpsFix, type NmeaProblem, type NmeaStats } from './nmea.js';

export const GpsOptionsSchema = Type.Object(
  {
    path: Type.String({ minLength: 1, description: 'serial device, e.g. /dev/ttyACM0 or /dev/serial/by-id/usb-u-blox...' }),
    baudRate: numberEnum(BAUD_RATES, { default: 9600, description: 'line rate; NMEA receivers ship at 4800 or 9600' }),
    silence_s: Type.Number({
      exclusiveMinimum: 0,
      maximum: 600,
      default: 5,
      description: 'a receiver talks at least once a second; this long without a valid sentence means it is gone',
    }),
    maxClockSkew_s: Type.Number({
      exclusiveMinimum: 0,
      maximum: 3600,
      default: 2,
      description: 'GPS time vouches for the wall clock only when they agree within this (covers the output latency)',
    }),
  },
  { additionalProperties: false },
);
export type GpsOptions = Static<typeof GpsOptionsSchema>;

export interface GpsEvents {
  /** One per epoch, valid or not (a lost fix is news too). */
  fix: [GpsFix];
  /** Garbage, a bad checksum or a malformed field: counted, reported, never fatal. */
  problem: [NmeaProblem];
}

/** Least time between two warnings about stream problems, so a noisy cable cannot flood the log. */
const PROBLEM_LOG_INTERVAL_MS = 10_000;

export class GpsDriver extends EventEmitter<GpsEvents> implements Component {
  private attached: SerialListeners | undefined;
  readonly kind = 'device' as const;
  private readonly decoder = new NmeaDecoder();
  private assembler = new FixAssembler();
  private port: SerialPort | undefined;
  private ctx: ComponentContext | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private lastSentence_ms = 0;
  private lastByte_ms = 0;
  private last: GpsFix | undefined;
  private failed = false;
  private stopping = false;
  private skewWarned = false;
  private lastProblemLog_ms = -Infinity;
  private problemsSinceLog = 0;

  constructor(
    readonly name: string,
    readonly options: GpsOptions,
  ) {
    super();
  }

  /** Stream counters since construction (across restarts). */
  stats(): NmeaStats {
    return { ...emptyStats(), ...this.decoder.stats };
  }

  /** The latest fix, valid or not. */
  lastFix(): GpsFix | undefined {
    return this.last;
  }

  async start(ctx: ComponentContext): Promise<void> {
    if (this.port) await this.stop();
    const { path, baudRate } = this.options;
    this.ctx = ctx;
    this.failed = false;
    this.stopping = false;
    this.skewWarned = false;
    this.decoder.reset();
    this.assembler = new FixAssembler();
    this.port = await openWithListeners({ path, baudRate, what: 'GPS', highWaterMark: 1024 }, this.portListeners);
    if (ctx.signal.aborted) {
      await this.stop();
      return;
    }
    const now = performance.now();
    this.lastByte_ms = now;
    this.lastSentence_ms = now;
    this.watchdog = setInterval(this.checkSilence, Math.min(1000, (this.options.silence_s * 1000) / 2));
    ctx.log.info({ path, baudRate }, 'GPS port open');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.watchdog);
    this.watchdog = undefined;
    const port = this.port;
    this.port = undefined;
    if (port) await closeWithListeners(port, this.portListeners);
  }

  /** Created once so that the very functions attached are the ones detached. */
  private get portListeners(): SerialListeners {
    return (this.attached ??= { onData: this.onData, onClose: this.onClose, onError: this.onError });
  }

  private get log(): Logger | undefined {
    return this.ctx?.log;
  }

  private fail(err: Error): void {
    if (this.failed || this.stopping || !this.ctx || this.ctx.signal.aborted) return;
    this.failed = true;
    this.ctx.fail(err);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.lastByte_ms = performance.now();
    for (const e of this.decoder.push(chunk)) {
      if (e.kind === 'problem') {
        this.problem(e.problem);
        continue;
      }
      this.lastSentence_ms = this.lastByte_ms;
      const fix = this.assembler.push(e.sentence);
      if (fix) this.onFix(fix);
    }
  };

  private readonly onClose = (err: Error | null): void => {
    this.fail(unpluggedError('GPS', this.options.path, err));
  };

  private readonly onError = (err: Error): void => {
    // After a successful open, a port error is a read or write failing: the device went away.
    this.fail(unpluggedError('GPS', this.options.path, err));
  };

  private readonly checkSilence = (): void => {
    const now = performance.now();
    const limit_ms = this.options.silence_s * 1000;
    const { path, baudRate, silence_s } = this.options;
    if (now - this.lastByte_ms > limit_ms) {
      this.fail(new DeviceError('E_DEVICE_TIMEOUT', path, `GPS ${path}: no data for ${silence_s} s (a receiver sends NMEA at least once a second)`));
    } else if (now - this.lastSentence_ms > limit_ms) {
      const s = this.decoder.stats;
      this.fail(
        new DeviceError(
          'E_DEVICE_PROTOCOL',
          path,
          `GPS ${path}: bytes but no valid NMEA sentence for ${silence_s} s (${s.garbage} garbage fragments, ${s.badChecksum} bad checksums so far): ` +
            `is the receiver really at ${baudRate} baud?`,
        ),
      );
    }
  };

  private problem(p: NmeaProblem): void {
    this.problemsSinceLog++;
    const now = performance.now();
    if (now - this.lastProblemLog_ms >= PROBLEM_LOG_INTERVAL_MS) {
      this.log?.warn({ path: this.options.path, code: p.code, sample: p.sample, count: this.problemsSinceLog, stats: this.decoder.stats }, `GPS stream: ${p.message}`);
      this.lastProblemLog_ms = now;
      this.problemsSinceLog = 0;
    }
    this.safeEmit('problem', p);
  }

  private onFix(fix: GpsFix): void {
    this.last = fix;
    const ctx = this.ctx;
    if (ctx && fix.valid && fix.lat !== null && fix.lon !== null) {
      const pos = fix.height_m === null ? { lat: fix.lat, lon: fix.lon } : { lat: fix.lat, lon: fix.lon, height_m: fix.height_m };
      ctx.setPosition?.(pos);
      // The receiver's own epoch time once it has a date; until then, when the fix was read.
      const time_ms = fix.time_ms ?? ctx.clock.now().ts;
      this.publish(ctx, () => ctx.bus?.emit('gps', { ...pos, fix: fix.quality, ...(fix.hdop === null ? {} : { hdop: fix.hdop }), time_ms }));
    }
    if (ctx && fix.timeValid && fix.time_ms !== null && !ctx.clock.trusted) this.vouchForClock(ctx, fix.time_ms);
    this.safeEmit('fix', fix);
  }

  /**
   * GPS time says the wall clock is right only if the two agree: the OS sets the clock (chrony, gpsd), and a box whose
   * clock is hours off must not stamp its summaries as trusted just because a receiver is attached.
   */
  private vouchForClock(ctx: ComponentContext, gps_ms: number): void {
    const skew_s = (ctx.clock.now().ts - gps_ms) / 1000;
    if (Math.abs(skew_s) <= this.options.maxClockSkew_s) {
      ctx.clock.markTrusted('gps');
    } else if (!this.skewWarned) {
      this.skewWarned = true;
      ctx.log.warn(
        { path: this.options.path, skew_s, maxClockSkew_s: this.options.maxClockSkew_s },
        'GPS time and the wall clock disagree; clock left untrusted until the OS corrects it',
      );
    }
  }

  private publish(ctx: ComponentContext, send: () => void): void {
    if (!ctx.bus) return;
    try {
      send();
    } catch (err) {
      ctx.log.error({ err: (err as Error)?.message ?? String(err) }, 'GPS: reading bus listener threw');
    }
  }

  private safeEmit<K extends keyof GpsEvents>(event: K, ...args: GpsEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: GpsEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      // A listener's bug must not tear down the serial stream that called us.
      this.log?.error({ err: (err as Error)?.message ?? String(err), event }, 'GPS listener threw');
    }
  }
}

export function createGps(spec: ComponentSpec): GpsDriver {
  return new GpsDriver(spec.name, parseDeviceOptions(GpsOptionsSchema, spec));
}
