// Gamma spectrometer driver for Amptek DP5-family MCAs (DP5, PX5, Gamma-Rad5, X-123) on a serial port: polls spectra and puts them on the reading bus.
//
// Delta mode: every 1/rate_Hz the driver sends "request spectrum + status, then clear" (PID1 2, PID2 4), so each
// reply holds exactly the counts, real time and dead time since the previous one and no event falls between a
// read and a separate clear. One request is in flight at a time; a reply that does not come within `timeout_ms`
// is counted and logged and the next request goes out on schedule. Garbage, bad checksums and cut-off packets
// are counted and logged (rate-limited), never fatal. Fatal, so the supervisor restarts the driver with backoff:
// the port closing or erroring (unplugged), no valid packet for `silence_s`, and a spectrum with a different
// channel count than configured (the calibration would be wrong).

import { EventEmitter } from 'node:events';
import { Type, type Static } from '@sinclair/typebox';
import type { SerialPort } from 'serialport';
import type { Logger } from '../../common/log.js';
import type { Component, ComponentContext, ComponentSpec, Readings } from '../../contract/component.js';
import { numberEnum, optionError, parseDeviceOptions } from '../../contract/options.js';
import { BAUD_RATES, DeviceError, closeWithListeners, openWithListeners, type SerialListeners, unpluggedError } from '../serial/port.js';
import {
  type Dp5Packet,
  type Dp5Problem,
  type Dp5Stats,
  type Dp5Status,
  Dp5Decoder,
  PACKET_OVERHEAD,
  SPECTRUM_CHANNELS,
  STATUS_BYTES,
  emptyDp5Stats,
  encodeRequest,
  liveTimeOf,
  type Dp5RequestKind,
} from './dp5-protocol.js';

export const Dp5OptionsSchema = Type.Object(
  {
    path: Type.String({ minLength: 1, description: 'serial device, e.g. /dev/ttyUSB0 or /dev/serial/by-id/...' }),
    baudRate: numberEnum(BAUD_RATES, { default: 115200, description: 'the rate the instrument is set to' }),
    detector: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9._-]{0,63}$', description: 'detector id on the reading bus (the radiation pipeline names it)' }),
    channels: numberEnum(SPECTRUM_CHANNELS, { default: 1024, description: 'MCA channels the instrument is configured for (MCAC)' }),
    rate_Hz: Type.Number({ minimum: 1, maximum: 10, default: 1, description: 'spectra per second' }),
    calibration: Type.Optional(
      Type.Object(
        {
          coefficients: Type.Array(Type.Number(), { minItems: 2, maxItems: 5, description: 'E(keV) = c0 + c1·ch + c2·ch² …' }),
          deviationPairs: Type.Optional(Type.Array(Type.Tuple([Type.Number(), Type.Number()]), { description: '[energy keV, correction keV]' })),
        },
        { additionalProperties: false },
      ),
    ),
    mode: Type.Unsafe<'delta'>({ type: 'string', enum: ['delta'], default: 'delta', description: 'delta: request spectrum + status and clear, one reply per interval' }),
    timeout_ms: Type.Optional(Type.Integer({ minimum: 20, maximum: 10_000, description: 'reply timeout (default: twice the wire time + 200 ms)' })),
    silence_s: Type.Number({ exclusiveMinimum: 0, maximum: 600, default: 5, description: 'no valid packet this long means the instrument is gone' }),
    temperature: Type.Boolean({ default: true, description: 'publish the board temperature as a temperature reading' }),
  },
  { additionalProperties: false },
);
export type Dp5Options = Static<typeof Dp5OptionsSchema>;

/** A spectrum as the driver read it (also published on the bus). */
export interface Dp5Reading {
  detector: string;
  counts: Float64Array;
  liveTime_s: number;
  realTime_s: number;
  time_ms: number;
  status: Dp5Status;
}

export interface Dp5Events {
  spectrum: [Dp5Reading];
  problem: [Dp5Problem];
}

export interface Dp5DriverStats extends Dp5Stats {
  requests: number;
  spectra: number;
  timeouts: number;
  /** ACKs with an error code (the instrument found our request damaged). */
  nacks: number;
  /** Packets that came when nothing was waiting for them (a late reply). */
  unexpected: number;
}

/** Least time between two warnings about stream problems, so a noisy cable cannot flood the log. */
const PROBLEM_LOG_INTERVAL_MS = 10_000;
/** A GPS position older than this is not attached to a spectrum. */
const POSITION_MAX_AGE_MS = 10_000;

/** Seconds a spectrum-with-status reply takes on the wire (8N1: 10 bits per byte). */
export function wireTime_s(channels: number, baudRate: number): number {
  return ((channels * 3 + STATUS_BYTES + PACKET_OVERHEAD * 2) * 10) / baudRate;
}

interface Pending {
  kind: Dp5RequestKind;
  resolve: (p: Dp5Packet | undefined) => void;
  timer: NodeJS.Timeout;
  sent_ms: number;
}

export class Dp5Driver extends EventEmitter<Dp5Events> implements Component {
  private attached: SerialListeners | undefined;
  readonly kind = 'device' as const;
  private readonly decoder = new Dp5Decoder({ accept: 'responses' });
  private readonly counters = { requests: 0, spectra: 0, timeouts: 0, nacks: 0, unexpected: 0 };
  private port: SerialPort | undefined;
  private ctx: ComponentContext | undefined;
  private pending: Pending | undefined;
  private loop: Promise<void> | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private wake: NodeJS.Timeout | undefined;
  private wakeResolve: (() => void) | undefined;
  private running = false;
  private failed = false;
  private lastPacket_ms = 0;
  private lastCheck_ms = 0;
  private checkEvery_ms = 1000;
  private lastProblemLog_ms = -Infinity;
  private problemsSinceLog = 0;
  private gps: { lat: number; lon: number; height_m?: number; at_ms: number } | undefined;
  private gpsListener: ((r: Readings['gps'][0]) => void) | undefined;
  private device: string | undefined;
  private readonly timeout_ms: number;

  constructor(
    readonly name: string,
    readonly options: Dp5Options,
  ) {
    super();
    this.timeout_ms = options.timeout_ms ?? Math.ceil(2000 * wireTime_s(options.channels, options.baudRate) + 200);
  }

  /** Stream and polling counters since construction (across restarts). */
  stats(): Dp5DriverStats {
    return { ...emptyDp5Stats(), ...this.decoder.stats, ...this.counters };
  }

  versions(): { calibration?: Record<string, string> } {
    const c = this.options.calibration;
    return c ? { calibration: { [this.options.detector]: c.coefficients.join(' ') } } : {};
  }

  private get log(): Logger | undefined {
    return this.ctx?.log;
  }

  async start(ctx: ComponentContext): Promise<void> {
    if (this.port) await this.stop();
    const { path, baudRate } = this.options;
    this.ctx = ctx;
    this.failed = false;
    this.decoder.reset();
    this.port = await openWithListeners({ path, baudRate, what: 'DP5 spectrometer', highWaterMark: 32 * 1024 }, this.portListeners);
    if (ctx.signal.aborted) {
      await this.stop();
      return;
    }
    this.running = true;
    this.lastPacket_ms = performance.now();
    this.lastCheck_ms = this.lastPacket_ms;
    this.checkEvery_ms = Math.min(1000, (this.options.silence_s * 1000) / 2);
    this.watchdog = setInterval(this.checkSilence, this.checkEvery_ms);
    if (ctx.bus) {
      this.gpsListener = (r) => {
        if (r.fix > 0) this.gps = { lat: r.lat, lon: r.lon, ...(r.height_m !== undefined ? { height_m: r.height_m } : {}), at_ms: performance.now() };
      };
      ctx.bus.on('gps', this.gpsListener);
    }
    ctx.log.info({ path, baudRate, rate_Hz: this.options.rate_Hz, channels: this.options.channels, timeout_ms: this.timeout_ms }, 'DP5 port open');
    this.loop = this.poll().catch((err: unknown) => this.fail(err instanceof Error ? err : new Error(String(err))));
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.watchdog);
    this.watchdog = undefined;
    this.interruptSleep();
    this.settle(undefined);
    if (this.gpsListener) this.ctx?.bus?.off('gps', this.gpsListener);
    this.gpsListener = undefined;
    const port = this.port;
    this.port = undefined;
    if (port) await closeWithListeners(port, this.portListeners);
    await this.loop;
    this.loop = undefined;
  }

  /** Created once so that the very functions attached are the ones detached. */
  private get portListeners(): SerialListeners {
    return (this.attached ??= { onData: this.onData, onClose: this.onClose, onError: this.onError });
  }

  private fail(err: Error): void {
    if (this.failed || !this.running || !this.ctx || this.ctx.signal.aborted) return;
    this.failed = true;
    this.running = false;
    this.interruptSleep();
    this.settle(undefined);
    this.ctx.fail(err);
  }

  /** Clears the instrument once (counts from before we were connected are not ours), then polls on a fixed schedule. */
  private async poll(): Promise<void> {
    const hello = await this.request('status');
    if (hello?.type === 'status') this.greet(hello.status);
    await this.request('clearSpectrum');
    await this.request('enableMca');
    let start_ms = this.ctx?.clock.now().ts ?? Date.now();
    const period_ms = 1000 / this.options.rate_Hz;
    let due = performance.now() + period_ms;
    while (this.running) {
      await this.sleep(due - performance.now());
      if (!this.running) return;
      const sentAt = this.ctx?.clock.now().ts ?? Date.now();
      const reply = await this.request('spectrumStatusClear');
      if (!this.running) return;
      if (reply?.type === 'spectrum') {
        this.onSpectrum(reply, start_ms);
        // The instrument cleared when it answered: the next acquisition starts about now.
        start_ms = sentAt;
      }
      due += period_ms;
      // A slow reply pushes the schedule on rather than firing a burst of catch-up requests.
      if (due < performance.now()) due = performance.now() + period_ms;
    }
  }

  private greet(s: Dp5Status): void {
    const fw = `${s.firmware >> 4}.${String(s.firmware & 0x0f).padStart(2, '0')}`;
    this.device = `${s.deviceType} #${s.serialNumber}`;
    this.log?.info({ device: s.deviceType, serialNumber: s.serialNumber, firmware: fw, hv_V: s.hv_V, boardTemperature_C: s.boardTemperature_C }, 'DP5 instrument found');
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.wakeResolve = resolve;
      this.wake = setTimeout(() => {
        this.wakeResolve = undefined;
        resolve();
      }, ms);
    });
  }

  private interruptSleep(): void {
    clearTimeout(this.wake);
    this.wake = undefined;
    const r = this.wakeResolve;
    this.wakeResolve = undefined;
    r?.();
  }

  /** Sends one request; resolves with its reply, or undefined on timeout / stop (both already counted). */
  private request(kind: Dp5RequestKind): Promise<Dp5Packet | undefined> {
    const port = this.port;
    if (!port || !this.running) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.onTimeout(pending), this.timeout_ms);
      const pending: Pending = { kind, resolve, timer, sent_ms: performance.now() };
      this.pending = pending;
      this.counters.requests++;
      port.write(encodeRequest(kind), (err) => {
        if (err) this.fail(unpluggedError('DP5 spectrometer', this.options.path, err));
      });
    });
  }

  private settle(p: Dp5Packet | undefined): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    clearTimeout(pending.timer);
    pending.resolve(p);
  }

  private onTimeout(pending: Pending, deferred = false): void {
    if (this.pending !== pending) return;
    // A timer far later than asked means the process stalled; timers run before the I/O that waited meanwhile, so
    // give that I/O (a poll, then a read on the thread pool) a moment before calling the reply missing.
    if (!deferred && performance.now() - pending.sent_ms > 2 * this.timeout_ms) {
      pending.timer = setTimeout(() => this.onTimeout(pending, true), 50);
      return;
    }
    const kind = pending.kind;
    this.counters.timeouts++;
    // A reply cut short will never complete: report it now, and start the next reply on a clean slate.
    for (const e of this.decoder.flush()) if (e.kind === 'problem') this.problem(e.problem);
    this.log?.warn({ path: this.options.path, request: kind, timeout_ms: this.timeout_ms, timeouts: this.counters.timeouts }, `DP5: no reply to ${kind} within ${this.timeout_ms} ms`);
    this.settle(undefined);
  }

  private readonly onData = (chunk: Buffer): void => {
    for (const e of this.decoder.push(chunk)) {
      if (e.kind === 'problem') {
        this.problem(e.problem);
        continue;
      }
      this.lastPacket_ms = performance.now();
      this.onPacket(e.packet);
    }
  };

  private onPacket(p: Dp5Packet): void {
    const pending = this.pending;
    if (p.type === 'ack' && !p.ok) {
      this.counters.nacks++;
      this.log?.warn({ path: this.options.path, code: p.code, request: pending?.kind }, `DP5: instrument answered "${p.name}" (ACK ${p.code})`);
      if (pending) this.settle(p);
      return;
    }
    const fits =
      pending !== undefined &&
      ((p.type === 'ack' && (pending.kind === 'clearSpectrum' || pending.kind === 'enableMca' || pending.kind === 'disableMca')) ||
        (p.type === 'status' && pending.kind === 'status') ||
        (p.type === 'spectrum' && pending.kind.startsWith('spectrum')));
    if (fits) {
      this.settle(p);
      return;
    }
    // A late spectrum still holds counts the instrument has cleared: keep them rather than lose them.
    if (p.type === 'spectrum' && p.status) {
      this.onSpectrum(p, (this.ctx?.clock.now().ts ?? Date.now()) - p.status.realTime_s * 1000);
      return;
    }
    this.counters.unexpected++;
  }

  private onSpectrum(p: Extract<Dp5Packet, { type: 'spectrum' }>, start_ms: number): void {
    const ctx = this.ctx;
    const { path, channels, detector } = this.options;
    if (p.channels !== channels) {
      this.fail(
        new DeviceError(
          'E_DEVICE_PROTOCOL',
          path,
          `DP5 spectrometer ${path}: spectrum at byte ${p.offset} has ${p.channels} channels, expected ${channels} (options.channels must match the instrument's MCAC setting)`,
        ),
      );
      return;
    }
    const status = p.status;
    if (!status || !ctx) return;
    this.counters.spectra++;
    const reading: Dp5Reading = { detector, counts: p.counts, liveTime_s: liveTimeOf(status), realTime_s: status.realTime_s, time_ms: start_ms, status };
    const g = this.gps && performance.now() - this.gps.at_ms <= POSITION_MAX_AGE_MS ? this.gps : undefined;
    const cal = this.options.calibration;
    this.publish(() =>
      ctx.bus?.emit('spectrum', {
        detector,
        counts: reading.counts,
        liveTime_s: reading.liveTime_s,
        realTime_s: reading.realTime_s,
        time_ms: reading.time_ms,
        ...(cal ? { calibration: { coefficients: [...cal.coefficients], ...(cal.deviationPairs ? { deviationPairs: cal.deviationPairs.map(([e, d]) => [e, d] as [number, number]) } : {}) } } : {}),
        ...(g ? { position: { lat: g.lat, lon: g.lon, ...(g.height_m !== undefined ? { height_m: g.height_m } : {}) } } : {}),
      }),
    );
    if (this.options.temperature) {
      const time_ms = ctx.clock.now().ts;
      this.publish(() => ctx.bus?.emit('temperature', { celsius: status.boardTemperature_C, sensor: `${detector}.board`, time_ms }));
      if (status.detectorTemperature_K > 0) {
        this.publish(() => ctx.bus?.emit('temperature', { celsius: status.detectorTemperature_K - 273.15, sensor: `${detector}.detector`, time_ms }));
      }
    }
    this.safeEmit('spectrum', reading);
  }

  private readonly onClose = (err: Error | null): void => {
    this.fail(unpluggedError('DP5 spectrometer', this.options.path, err));
  };

  private readonly onError = (err: Error): void => {
    this.fail(unpluggedError('DP5 spectrometer', this.options.path, err));
  };

  private readonly checkSilence = (): void => {
    const now = performance.now();
    const late = now - this.lastCheck_ms > 2 * this.checkEvery_ms;
    this.lastCheck_ms = now;
    // After the whole process stalled (timers run before the I/O that waited), the bytes may be there unread: look
    // again at the next tick rather than blame the instrument.
    if (late) return;
    const silence_s = this.options.silence_s;
    if (now - this.lastPacket_ms <= silence_s * 1000) return;
    const s = this.stats();
    const path = this.options.path;
    this.fail(
      new DeviceError(
        'E_DEVICE_TIMEOUT',
        path,
        `DP5 spectrometer ${path}${this.device ? ` (${this.device})` : ''}: no valid packet for ${silence_s} s ` +
          `(${s.timeouts} timeouts, ${s.garbageBytes} garbage bytes, ${s.badChecksum} bad checksums so far): is it powered, and at ${this.options.baudRate} baud?`,
      ),
    );
  };

  private problem(p: Dp5Problem): void {
    this.problemsSinceLog++;
    const now = performance.now();
    if (now - this.lastProblemLog_ms >= PROBLEM_LOG_INTERVAL_MS) {
      this.log?.warn({ path: this.options.path, code: p.code, offset: p.offset, count: this.problemsSinceLog, stats: this.decoder.stats }, `DP5 stream: ${p.message}`);
      this.lastProblemLog_ms = now;
      this.problemsSinceLog = 0;
    }
    this.safeEmit('problem', p);
  }

  private publish(send: () => void): void {
    try {
      send();
    } catch (err) {
      this.log?.error({ err: (err as Error)?.message ?? String(err) }, 'DP5: reading bus listener threw');
    }
  }

  private safeEmit<K extends keyof Dp5Events>(event: K, ...args: Dp5Events[K]): void {
    try {
      (this.emit as (e: K, ...a: Dp5Events[K]) => boolean)(event, ...args);
    } catch (err) {
      // A listener's bug must not tear down the serial stream that called us.
      this.log?.error({ err: (err as Error)?.message ?? String(err), event }, 'DP5 listener threw');
    }
  }
}

/** Factory for the component registry: validates the options (errors name devices/<name>/options/<field>). */
export function createDp5(spec: ComponentSpec): Dp5Driver {
  const o = parseDeviceOptions(Dp5OptionsSchema, spec);
  const wire_s = wireTime_s(o.channels, o.baudRate);
  // Replies must fit in the polling period with room to spare, or the driver can only fall behind.
  if (wire_s > 0.8 / o.rate_Hz) {
    const max = Math.floor(0.8 / wire_s);
    throw optionError(
      spec,
      'rate_Hz',
      `${o.rate_Hz} Hz is too fast: a ${o.channels}-channel spectrum with status takes ${(wire_s * 1000).toFixed(0)} ms at ${o.baudRate} baud; ` +
        (max >= 1 ? `expected at most ${max} Hz, or a higher baudRate` : 'expected a higher baudRate or fewer channels'),
    );
  }
  return new Dp5Driver(spec.name, o);
}
