// The node's I/O board over Firmata (firmata-io + johnny-five): GM tube count rate, temperature for gain compensation, alarm LED and buzzer.
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { Type, type Static } from '@sinclair/typebox';
import type { SerialPort } from 'serialport';
import type { Component, ComponentContext, ComponentSpec } from '../../contract/component.js';
import { numberEnum, optionError, parseDeviceOptions, stringEnum } from '../../contract/options.js';
import { BAUD_RATES, DeviceError, closeSerial, createSerial, openSerial, unpluggedError } from '../serial/port.js';
import {
  GM_CONFIG,
  GM_MAX_INTERVAL_MS,
  GM_REPORT,
  GmRateMeter,
  PIN_MODE,
  decodeGmReport,
  sensorCelsius,
  to7bit,
  type AnalogTempSensor,
} from './protocol.js';

const SENSORS = ['TMP36', 'LM35'] as const satisfies readonly AnalogTempSensor[];

export const FirmataBoardOptionsSchema = Type.Object(
  {
    path: Type.String({ minLength: 1, description: 'serial device of the board, e.g. /dev/ttyACM0' }),
    baudRate: numberEnum(BAUD_RATES, { default: 57600, description: "StandardFirmata's line rate" }),
    handshake_s: Type.Number({ exclusiveMinimum: 0, maximum: 120, default: 10, description: 'time allowed from open to a ready board' }),
    silence_s: Type.Number({
      exclusiveMinimum: 0,
      maximum: 600,
      default: 5,
      description: 'this long without a byte from a board that streams analog reports means it hung or was reset',
    }),
    samplingInterval_ms: Type.Integer({ minimum: 10, maximum: 10_000, default: 100, description: 'Firmata analog sampling interval' }),
    gm: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        id: Type.String({ minLength: 1, maxLength: 64, default: 'gm-1', description: 'tube name in readings' }),
        pin: Type.Integer({ minimum: 0, maximum: 127, default: 2, description: 'interrupt pin the tube pulses arrive on' }),
        interval_s: Type.Number({ minimum: 0.05, maximum: GM_MAX_INTERVAL_MS / 1000, default: 1, description: 'count report interval' }),
        deadTime_s: Type.Number({ minimum: 0, maximum: 0.01, default: 0, description: 'tube dead time for the correction; 0 = none' }),
      },
      { additionalProperties: false, default: {} },
    ),
    temperature: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        id: Type.String({ minLength: 1, maxLength: 64, default: 'temp-1', description: 'sensor name in readings' }),
        pin: Type.String({ pattern: '^A[0-9]{1,2}$', default: 'A0', description: 'analog input of the sensor' }),
        sensor: stringEnum(SENSORS, { default: 'TMP36' }),
        aref_V: Type.Number({ exclusiveMinimum: 0, maximum: 5.5, default: 5, description: 'ADC reference voltage' }),
        interval_s: Type.Number({ minimum: 0.1, maximum: 3600, default: 1, description: 'readings are averaged over this' }),
      },
      { additionalProperties: false, default: {} },
    ),
    led: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        pin: Type.Integer({ minimum: 0, maximum: 127, default: 13 }),
      },
      { additionalProperties: false, default: {} },
    ),
    buzzer: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        pin: Type.Integer({ minimum: 0, maximum: 127, default: 8, description: 'an active buzzer: on while the pin is high' }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);
export type FirmataBoardOptions = Static<typeof FirmataBoardOptionsSchema>;

export interface GmReading {
  tube: string;
  counts: number;
  /** Counting time as the board's clock measured it. */
  live_s: number;
  cps_raw: number;
  /** Dead-time corrected rate (equal to cps_raw when no dead time is configured). */
  cps: number;
  sigma_cps: number;
  /** The raw rate is past what the dead-time model can correct: the tube is swamped. */
  saturated: boolean;
  ts: number;
  tsTrusted: boolean;
  mono_ms: number;
}

export interface TemperatureReading {
  sensor: string;
  celsius: number;
  /** ADC samples in the average. */
  samples: number;
  ts: number;
  tsTrusted: boolean;
  mono_ms: number;
}

export interface BoardProblem {
  code: 'E_FIRMATA_GM_FRAME' | 'E_FIRMATA_GM_RESET';
  message: string;
}

export interface FirmataBoardEvents {
  gm: [GmReading];
  temperature: [TemperatureReading];
  /** A malformed GM frame or a counter restart: reported, not fatal. */
  problem: [BoardProblem];
}

// ---- the parts of firmata-io and johnny-five this driver uses (neither ships type declarations)

interface FirmataPin {
  supportedModes: number[];
  analogChannel?: number;
}

interface FirmataIo extends EventEmitter {
  isReady: boolean;
  pins: FirmataPin[];
  analogPins: number[];
  firmware: { name?: string; version?: { major: number; minor: number } };
  version: { major?: number; minor?: number };
  RESOLUTION: { ADC: number | null };
  reportVersionTimeoutId?: NodeJS.Timeout;
  sysexResponse(command: number, handler: (this: FirmataIo, data: number[]) => void): FirmataIo;
  sysexCommand(message: number[]): FirmataIo;
}

interface FirmataIoClass {
  new (transport: SerialPort, options: Record<string, unknown>): FirmataIo;
}

interface FiveBoard extends EventEmitter {
  isReady: boolean;
  /** johnny-five's own connect timeout, armed on 'connect'. */
  timer?: NodeJS.Timeout | null;
}

interface FiveThermometer extends EventEmitter {
  disable(): void;
}

interface FiveLed {
  on(): void;
  off(): void;
  stop(): void;
}

interface FivePin {
  high(): void;
  low(): void;
}

interface Five {
  Board: new (options: Record<string, unknown>) => FiveBoard;
  Thermometer: new (options: Record<string, unknown>) => FiveThermometer;
  Led: new (options: Record<string, unknown>) => FiveLed;
  Pin: new (options: Record<string, unknown>) => FivePin;
}

const require = createRequire(import.meta.url);
// CommonJS libraries; loaded here rather than at the registry so that a node without the board never loads them.
const five = require('johnny-five') as Five;
const { Firmata } = require('firmata-io') as { Firmata: FirmataIoClass };

/**
 * firmata-io keeps SysEx handlers in one table for every board in the process, so the GM handler is installed once
 * and hands each frame to the driver that owns the board it came from.
 */
const gmSinks = new WeakMap<FirmataIo, (data: number[]) => void>();
let gmHandlerInstalled = false;

function installGmHandler(io: FirmataIo, path: string): void {
  if (gmHandlerInstalled) return;
  try {
    io.sysexResponse(GM_REPORT, function (this: FirmataIo, data: number[]) {
      gmSinks.get(this)?.(data);
    });
  } catch (err) {
    throw new DeviceError('E_DEVICE_PROTOCOL', path, `I/O board ${path}: SysEx 0x${GM_REPORT.toString(16)} is already taken in firmata-io: ${(err as Error).message}`, {
      cause: err,
    });
  }
  gmHandlerInstalled = true;
}

/**
 * firmata-io asks for the version only after this long without the banner StandardFirmata prints at boot. A board
 * that resets when the port opens (Uno) prints it within ~2 s; one that does not (Leonardo, a pty) never does.
 */
const VERSION_REQUEST_MS = 250;
const WATCHDOG_MS = 250;

interface Run {
  ctx: ComponentContext;
  port: SerialPort;
  io: FirmataIo;
  board: FiveBoard;
  thermometer?: FiveThermometer;
  led?: FiveLed;
  buzzer?: FivePin;
  timers: NodeJS.Timeout[];
  lastByte_ms: number;
  lastGm_ms: number;
  ready: boolean;
  failed: boolean;
  /** Handshake milestones, to say where a stalled handshake stopped. */
  stages: Set<'version' | 'firmware' | 'capabilities' | 'mapping'>;
}

export class FirmataBoard extends EventEmitter<FirmataBoardEvents> implements Component {
  readonly kind = 'device' as const;
  private run: Run | undefined;
  private alarmWanted = false;
  private readonly meter: GmRateMeter;
  private tempSum = 0;
  private tempSamples = 0;
  private lastTemp: TemperatureReading | undefined;
  private firmwareInfo: { name: string; version: string } | undefined;

  constructor(
    readonly name: string,
    readonly options: FirmataBoardOptions,
  ) {
    super();
    this.meter = new GmRateMeter(options.gm.deadTime_s);
  }

  /** Firmware name and Firmata protocol version of the board, once connected. */
  firmware(): { name: string; version: string } | undefined {
    return this.firmwareInfo;
  }

  /** The latest averaged temperature. */
  temperature(): TemperatureReading | undefined {
    return this.lastTemp;
  }

  /** Whether the alarm outputs are meant to be on (they are re-applied after a reconnect). */
  get alarmOn(): boolean {
    return this.alarmWanted;
  }

  /**
   * Switches the alarm LED and buzzer. Remembered while the board is away and applied when it is back, so an alarm
   * raised during a reconnect still sounds. Returns whether the board got the command now.
   */
  alarm(on: boolean): boolean {
    this.alarmWanted = on;
    const run = this.run;
    if (!run?.ready) return false;
    this.applyAlarm(run);
    return true;
  }

  async start(ctx: ComponentContext): Promise<void> {
    if (this.run) await this.stop();
    const { path, baudRate } = this.options;
    const port = createSerial({ path, baudRate, what: 'I/O board', highWaterMark: 256 });
    const io = new Firmata(port, { reportVersionTimeout: VERSION_REQUEST_MS, samplingInterval: this.options.samplingInterval_ms });
    // The io plugin makes johnny-five skip its own port handling (its serialport copy has no binding here); no REPL,
    // no console output, and no SIGINT handler that would exit the whole runtime.
    const board = new five.Board({ io, repl: false, debug: false, sigint: false, timeout: this.options.handshake_s * 1000 + 5000 });
    const run: Run = {
      ctx,
      port,
      io,
      board,
      timers: [],
      lastByte_ms: performance.now(),
      lastGm_ms: performance.now(),
      ready: false,
      failed: false,
      stages: new Set(),
    };
    this.run = run;
    this.meter.reset();
    port.on('data', () => {
      run.lastByte_ms = performance.now();
    });
    io.once('reportversion', () => run.stages.add('version'));
    io.once('queryfirmware', () => run.stages.add('firmware'));
    io.once('capability-query', () => run.stages.add('capabilities'));
    io.once('analog-mapping-query', () => run.stages.add('mapping'));
    gmSinks.set(io, (data) => this.onGmFrame(run, data));

    const handshake = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(this.handshakeTimeout(run)), this.options.handshake_s * 1000);
      run.timers.push(timer);
      const onAbort = () => reject(new DeviceError('E_DEVICE_NOT_READY', path, `I/O board ${path}: start aborted`));
      if (ctx.signal.aborted) onAbort();
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      board.once('ready', () => {
        clearTimeout(timer);
        ctx.signal.removeEventListener('abort', onAbort);
        resolve();
      });
      // Until ready these reject start(); afterwards they go to ctx.fail.
      port.on('close', (err: Error | null) => (run.ready ? this.fail(run, unpluggedError('I/O board', path, err)) : reject(unpluggedError('I/O board', path, err))));
      const onError = (err: unknown) => {
        const e = err instanceof Error ? err : new Error(String((err as { message?: unknown })?.message ?? err));
        // After a successful open, a port error is a read or write failing: the device went away.
        const wrapped = unpluggedError('I/O board', path, e);
        if (run.ready) this.fail(run, wrapped);
        else reject(wrapped);
      };
      // firmata-io re-emits port errors on itself (johnny-five then repeats them on the board, where the first one has
      // already been handled); an 'error' without a listener would throw.
      io.on('error', onError);
      board.on('error', (err: unknown) => {
        const message = String((err as { message?: unknown })?.message ?? err);
        const wrapped = new DeviceError('E_DEVICE_PROTOCOL', path, `I/O board ${path}: johnny-five: ${message}`, { cause: err });
        if (run.ready) this.fail(run, wrapped);
        else reject(wrapped);
      });
    });
    // Attached before open so that a failed open does not leave an unhandled rejection behind.
    handshake.catch(() => {});

    try {
      await openSerial(port, 'I/O board');
      await handshake;
      installGmHandler(io, path);
      this.setUp(run);
    } catch (err) {
      await this.teardown(run);
      throw err;
    }
    run.ready = true;
    const name = io.firmware.name ?? 'unknown';
    const version = `${io.version.major ?? '?'}.${io.version.minor ?? '?'}`;
    this.firmwareInfo = { name, version };
    ctx.log.info({ path, baudRate, firmware: name, protocol: version }, 'I/O board ready');
    this.applyAlarm(run);
  }

  async stop(): Promise<void> {
    const run = this.run;
    if (!run) return;
    await this.teardown(run);
  }

  private handshakeTimeout(run: Run): DeviceError {
    const { path, baudRate, handshake_s } = this.options;
    const s = run.stages;
    const where = !s.has('version')
      ? `no answer to REPORT_VERSION: is StandardFirmata flashed, and the line at ${baudRate} baud?`
      : !s.has('firmware')
        ? 'protocol version received, then no answer to REPORT_FIRMWARE'
        : !s.has('capabilities')
          ? `firmware "${run.io.firmware.name ?? '?'}" answered, then no answer to CAPABILITY_QUERY`
          : 'no answer to ANALOG_MAPPING_QUERY';
    return new DeviceError('E_DEVICE_TIMEOUT', path, `I/O board ${path}: Firmata handshake timed out after ${handshake_s} s (${where})`);
  }

  /** Checks the configured pins against what the board reported, then creates the johnny-five parts. */
  private setUp(run: Run): void {
    const { io, board } = run;
    const { path, gm, temperature, led, buzzer } = this.options;
    const describe = (pin: number) => `modes [${(io.pins[pin]?.supportedModes ?? []).join(', ')}]`;
    const requireMode = (pin: number, mode: number, what: string) => {
      if (!io.pins[pin]?.supportedModes.includes(mode)) {
        throw new DeviceError('E_DEVICE_PROTOCOL', path, `I/O board ${path}: pin ${pin} (${what}) does not support mode ${mode} on this board (${describe(pin)})`);
      }
    };
    if (led.enabled) requireMode(led.pin, PIN_MODE.OUTPUT, 'led');
    if (buzzer.enabled) requireMode(buzzer.pin, PIN_MODE.OUTPUT, 'buzzer');
    if (gm.enabled) requireMode(gm.pin, PIN_MODE.INPUT, 'gm');
    if (temperature.enabled) {
      const channel = Number(temperature.pin.slice(1));
      if (io.analogPins[channel] === undefined) {
        throw new DeviceError('E_DEVICE_PROTOCOL', path, `I/O board ${path}: no analog input ${temperature.pin} (the board has A0-A${io.analogPins.length - 1})`);
      }
      const adcMax = io.RESOLUTION.ADC ?? 1023;
      const { sensor, aref_V } = temperature;
      run.thermometer = new five.Thermometer({
        board,
        pin: temperature.pin,
        freq: this.options.samplingInterval_ms,
        toCelsius: (raw: number) => sensorCelsius(sensor, (raw * aref_V) / adcMax),
      });
      run.thermometer.on('data', (d: { celsius: number }) => {
        if (Number.isFinite(d.celsius)) {
          this.tempSum += d.celsius;
          this.tempSamples++;
        }
      });
      this.tempSum = 0;
      this.tempSamples = 0;
      run.timers.push(setInterval(() => this.emitTemperature(run), temperature.interval_s * 1000));
    }
    if (led.enabled) run.led = new five.Led({ board, pin: led.pin });
    if (buzzer.enabled) run.buzzer = new five.Pin({ board, pin: buzzer.pin, type: 'digital', mode: PIN_MODE.OUTPUT });
    if (gm.enabled) {
      run.io.sysexCommand([GM_CONFIG, gm.pin, ...to7bit(Math.round(gm.interval_s * 1000), 2)]);
      run.lastGm_ms = performance.now();
    }
    run.lastByte_ms = performance.now();
    run.timers.push(setInterval(() => this.watch(run), WATCHDOG_MS));
  }

  private watch(run: Run): void {
    const { path, silence_s, gm, temperature } = this.options;
    // Analog reports (every sampling interval) or GM reports (every interval) keep a healthy board talking.
    if (!gm.enabled && !temperature.enabled) return;
    const now = performance.now();
    if (now - run.lastByte_ms > silence_s * 1000) {
      this.fail(run, new DeviceError('E_DEVICE_TIMEOUT', path, `I/O board ${path}: no data from the board for ${silence_s} s: the firmware hung or the board reset`));
      return;
    }
    const gmLimit_s = Math.max(silence_s, 3 * gm.interval_s);
    if (gm.enabled && now - run.lastGm_ms > gmLimit_s * 1000) {
      this.fail(
        run,
        new DeviceError(
          'E_DEVICE_PROTOCOL',
          path,
          `I/O board ${path}: the board answers but sent no GM count for ${gmLimit_s} s (due every ${gm.interval_s} s): ` +
            `does its firmware implement the GM SysEx (config 0x${GM_CONFIG.toString(16).padStart(2, '0')}, report 0x${GM_REPORT.toString(16).padStart(2, '0')})?`,
        ),
      );
    }
  }

  private onGmFrame(run: Run, data: number[]): void {
    if (run !== this.run) return;
    const d = decodeGmReport(data);
    if (!d.ok) {
      this.problem({ code: 'E_FIRMATA_GM_FRAME', message: `I/O board ${this.options.path}: ${d.reason}` });
      return;
    }
    if (d.value.pin !== this.options.gm.pin) {
      this.problem({ code: 'E_FIRMATA_GM_FRAME', message: `I/O board ${this.options.path}: GM_REPORT for pin ${d.value.pin}, configured ${this.options.gm.pin}` });
      return;
    }
    run.lastGm_ms = performance.now();
    const step = this.meter.push(d.value);
    switch (step.kind) {
      case 'baseline':
        return;
      case 'reset':
        this.problem({ code: 'E_FIRMATA_GM_RESET', message: `I/O board ${this.options.path}: ${step.reason}` });
        return;
      case 'interval': {
        const clock = run.ctx.clock.now();
        this.safeEmit('gm', { tube: this.options.gm.id, ...step.interval, ts: clock.ts, tsTrusted: clock.tsTrusted, mono_ms: clock.mono_ms });
        this.publish(run, () => run.ctx.bus?.emit('gm', { cps: step.interval.cps, time_ms: clock.ts }));
        return;
      }
      default: {
        const never: never = step;
        throw new Error(`firmata: unknown GM step ${String(never)}`);
      }
    }
  }

  private emitTemperature(run: Run): void {
    if (this.tempSamples === 0) return;
    const clock = run.ctx.clock.now();
    const reading = {
      sensor: this.options.temperature.id,
      celsius: this.tempSum / this.tempSamples,
      samples: this.tempSamples,
      ts: clock.ts,
      tsTrusted: clock.tsTrusted,
      mono_ms: clock.mono_ms,
    };
    this.tempSum = 0;
    this.tempSamples = 0;
    this.lastTemp = reading;
    this.safeEmit('temperature', reading);
    this.publish(run, () => run.ctx.bus?.emit('temperature', { celsius: reading.celsius, sensor: reading.sensor, time_ms: reading.ts }));
  }

  private applyAlarm(run: Run): void {
    if (this.alarmWanted) {
      run.led?.on();
      run.buzzer?.high();
    } else {
      run.led?.off();
      run.buzzer?.low();
    }
  }

  private problem(p: BoardProblem): void {
    this.run?.ctx.log.warn({ code: p.code }, p.message);
    this.safeEmit('problem', p);
  }

  private fail(run: Run, err: Error): void {
    if (run.failed || run !== this.run || run.ctx.signal.aborted) return;
    run.failed = true;
    run.ctx.fail(err);
  }

  /** Quiets the board if it is still there, then releases every timer, listener and the port. */
  private async teardown(run: Run): Promise<void> {
    if (this.run === run) this.run = undefined;
    for (const t of run.timers) {
      clearTimeout(t);
      clearInterval(t);
    }
    run.timers = [];
    const { port, io, board } = run;
    if (run.ready && port.isOpen && !run.failed) {
      // Stop the count reports and leave the outputs off, so the next start finds a quiet board.
      if (this.options.gm.enabled) io.sysexCommand([GM_CONFIG, this.options.gm.pin, 0, 0]);
      run.led?.off();
      run.buzzer?.low();
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 500);
        port.drain(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    run.thermometer?.disable();
    run.led?.stop();
    clearTimeout(io.reportVersionTimeoutId);
    clearTimeout(board.timer ?? undefined);
    gmSinks.delete(io);
    // Late events from these objects have nobody left to tell; an 'error' without a listener would throw.
    for (const e of [board, io, port] as EventEmitter[]) {
      e.removeAllListeners();
      e.on('error', () => {});
    }
    await closeSerial(port);
    run.ready = false;
    // johnny-five keeps every Board it ever made in a module-level list; cut this one's links to the port and parts
    // so that a board restarted all day does not keep every old connection alive.
    Object.assign(board as object, { io: null, transport: null, register: [], occupied: [] });
  }

  /** Hands a reading to the node's bus (when the runtime gave one); a pipeline's listener bug stays the pipeline's. */
  private publish(run: Run, send: () => void): void {
    if (!run.ctx.bus) return;
    try {
      send();
    } catch (err) {
      run.ctx.log.error({ err: (err as Error)?.message ?? String(err) }, 'I/O board: reading bus listener threw');
    }
  }

  private safeEmit<K extends keyof FirmataBoardEvents>(event: K, ...args: FirmataBoardEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: FirmataBoardEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      // A listener's bug must not tear down the serial stream that called us.
      this.run?.ctx.log.error({ err: (err as Error)?.message ?? String(err), event }, 'I/O board listener threw');
    }
  }
}

/** Validates options (including the checks across fields) and builds the driver; nothing is opened yet. */
export function createFirmataBoard(spec: ComponentSpec): FirmataBoard {
  const o = parseDeviceOptions(FirmataBoardOptionsSchema, spec);
  if (o.gm.enabled && o.silence_s <= o.gm.interval_s) {
    throw optionError(spec, 'silence_s', `${o.silence_s} s must be longer than gm/interval_s (${o.gm.interval_s} s), or every pause between reports looks like a hang`);
  }
  const used = new Map<number, string>();
  for (const [part, cfg] of [
    ['gm', o.gm],
    ['led', o.led],
    ['buzzer', o.buzzer],
  ] as const) {
    if (!cfg.enabled) continue;
    const other = used.get(cfg.pin);
    if (other) throw optionError(spec, `${part}/pin`, `pin ${cfg.pin} is already used by ${other}`);
    used.set(cfg.pin, part);
  }
  return new FirmataBoard(spec.name, o);
}
