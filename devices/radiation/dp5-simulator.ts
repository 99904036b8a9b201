// An Amptek DP5-family spectrometer in software: answers DP5 serial packets on one end of a pty with spectra from a simulated radiation scene.
//
// The MCA accumulates in real time: whenever a request comes, the time since the last update is simulated as one
// step (scene.ts simulateStep: Poisson counts, non-paralysable dead time, temperature gain drift) at the pose the
// trajectory gives for the middle of that time, and added to the spectrum. "Clear" empties the spectrum and the
// status counters and times, as the instrument does. Faults for driver tests: garbage before a reply, corrupted
// checksums, truncated replies, silence, and vanishing (port closed, pty killed) and coming back.

import { EventEmitter } from 'node:events';
import { Type, type Static } from '@sinclair/typebox';
import { SerialPort } from 'serialport';
import { CustomsError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { DETECTORS } from '../../analysis/radiation/dose.js';
import type { Trajectory } from '../../analysis/radiation/sim/drive.js';
import { type Scene, type SimDetector, detectorPosition, expectedRates, mulberry32, simulateStep } from '../../analysis/radiation/sim/scene.js';
import type { Component, ComponentContext, ComponentSpec } from '../../contract/component.js';
import { numberEnum, parseDeviceOptions, stringEnum } from '../../contract/options.js';
import { SocatPty } from '../serial/pty.js';
import { N42SimulatorOptionsSchema, trajectoryOption } from './n42-simulator.js';
import {
  ACK,
  DEVICE_TYPES,
  Dp5Decoder,
  type Dp5DeviceType,
  type Dp5Event,
  SPECTRUM_CHANNELS,
  encodeAck,
  encodeSpectrumResponse,
  encodeStatus,
  encodeStatusResponse,
} from './dp5-protocol.js';

export class Dp5SimulatorError extends CustomsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_SIMULATOR', message, options);
  }
}

export interface Dp5SimulatorOptions {
  /** Device end of an existing pty. Without it the simulator makes its own pty (see `pty`). */
  path?: string;
  /** Where its own pty's links go: the driver opens `<dir>/<hostName>`. */
  pty?: { dir?: string; hostName?: string; deviceName?: string };
  scene: Scene;
  /** One detector: its nChannels must be one of 256 … 8192. */
  detector: SimDetector;
  trajectory: Trajectory;
  seed: number;
  /** Detector temperature over time (s since start), °C; default 20 (no drift). Reported as the board temperature. */
  temperature_C?: (t_s: number) => number;
  /** Drive the trajectory again when it ends (default true). */
  repeat?: boolean;
  deviceType?: Dp5DeviceType;
  serialNumber?: number;
  /** Milliseconds since the epoch; the pace of the acquisition (default Date.now). */
  now?: () => number;
}

/** One spectrum the simulator answered with, for tests to compare with what the driver read. */
export interface Dp5SentSpectrum {
  /** When the reply was written (simulator clock, ms). */
  time_ms: number;
  /** Sum of the counts sent. */
  total: number;
  realTime_s: number;
  liveTime_s: number;
  /** Σ expected rate × live time over the acquisition: what the Poisson counts scatter around. */
  expectedTotal: number;
  boardTemperature_C: number;
  cleared: boolean;
  /** A fault was applied to this reply (corrupt checksum, truncated). */
  fault?: 'checksum' | 'truncated';
}

export interface Dp5SimulatorEvents {
  request: [kind: string];
  sent: [Dp5SentSpectrum];
}

export class Dp5Simulator extends EventEmitter<Dp5SimulatorEvents> implements Component {
  readonly kind = 'device' as const;
  readonly sent: Dp5SentSpectrum[] = [];
  private readonly rng: () => number;
  private readonly decoder = new Dp5Decoder({ accept: 'requests' });
  private readonly now: () => number;
  private port: SerialPort | undefined;
  private ownPty: SocatPty | undefined;
  private ctx: ComponentContext | undefined;
  private t0_ms = 0;
  private last_ms = 0;
  private counts: Float64Array;
  private live_s = 0;
  private real_s = 0;
  private expected = 0;
  private mcaEnabled = true;
  private pendingGarbage: Buffer[] = [];
  private corruptNext = 0;
  private truncateNext = 0;
  private silent = false;
  private requests = 0;

  constructor(
    readonly name: string,
    readonly options: Dp5SimulatorOptions,
  ) {
    super();
    if (!(SPECTRUM_CHANNELS as readonly number[]).includes(options.detector.nChannels)) {
      throw new Dp5SimulatorError(`DP5 simulator: detector.nChannels must be one of ${SPECTRUM_CHANNELS.join(', ')}, got ${options.detector.nChannels}`);
    }
    this.rng = mulberry32(options.seed);
    this.now = options.now ?? Date.now;
    this.counts = new Float64Array(options.detector.nChannels);
  }

  /** The path a driver opens: the host end of the simulator's own pty. */
  get hostPath(): string {
    if (!this.ownPty) throw new Dp5SimulatorError('DP5 simulator: it has no pty of its own (it was given a path)');
    return this.ownPty.hostPath;
  }

  /** Requests answered or dropped so far. */
  requestCount(): number {
    return this.requests;
  }

  private get log(): Logger | undefined {
    return this.ctx?.log;
  }

  async start(ctx?: ComponentContext): Promise<void> {
    if (this.port) await this.stop();
    this.ctx = ctx;
    let path = this.options.path;
    if (path === undefined) {
      this.ownPty ??= new SocatPty({ dir: this.options.pty?.dir, hostName: this.options.pty?.hostName ?? 'dp5', deviceName: this.options.pty?.deviceName ?? 'dp5-device' });
      await this.ownPty.start();
      path = this.ownPty.devicePath;
    }
    const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
    // A write after the pty vanished fails; the instrument does not notice a pulled cable.
    port.on('error', () => {});
    port.on('data', (chunk: Buffer) => this.onData(chunk));
    await new Promise<void>((resolve, reject) => {
      port.open((err) => (err ? reject(new Dp5SimulatorError(`DP5 simulator: cannot open ${path}: ${err.message}`, { cause: err })) : resolve()));
    });
    this.port = port;
    this.decoder.reset();
    if (this.t0_ms === 0) {
      this.t0_ms = this.now();
      this.last_ms = this.t0_ms;
    }
    this.log?.info({ path }, 'DP5 simulator answering');
  }

  async stop(): Promise<void> {
    const port = this.port;
    this.port = undefined;
    if (port) {
      port.removeAllListeners('data');
      if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
    }
    await this.ownPty?.close();
    this.ownPty = undefined;
  }

  /** Unplug: the port closes and the simulator's own pty disappears (its links too). */
  async vanish(): Promise<void> {
    const port = this.port;
    this.port = undefined;
    if (port) {
      port.removeAllListeners('data');
      if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
    }
    await this.ownPty?.kill();
  }

  /** The instrument is plugged in again at the same path; its spectrum was kept (it has its own power). */
  async reappear(): Promise<void> {
    await this.start(this.ctx);
  }

  /** Bytes written just before the next reply (default 40 random bytes that hold no sync pair). */
  injectGarbage(bytes?: Uint8Array): void {
    this.pendingGarbage.push(Buffer.from(bytes ?? noise(this.rng, 40)));
  }

  /** The next `n` spectrum replies go out with a wrong checksum (one bit flipped in the count data). */
  corruptNextChecksums(n = 1): void {
    this.corruptNext += n;
  }

  /** The next `n` spectrum replies are cut off halfway, as when bytes are lost. */
  truncateNextReplies(n = 1): void {
    this.truncateNext += n;
  }

  /** While silent, requests are read and not answered (and the spectrum keeps accumulating). */
  setSilent(silent: boolean): void {
    this.silent = silent;
  }

  /** Expected count rate (counts/s, before dead time) at a time since start: for tests. */
  expectedRate_cps(t_s: number): number {
    const r = this.ratesAt(t_s);
    let s = 0;
    for (let i = 0; i < r.length; i++) s += r[i]!;
    return s;
  }

  private poseAt(t_s: number) {
    const tr = this.options.trajectory;
    const t = this.options.repeat === false ? Math.min(t_s, tr.duration_s) : t_s % tr.duration_s;
    return tr.at(t);
  }

  private temperatureAt(t_s: number): number {
    return this.options.temperature_C?.(t_s) ?? 20;
  }

  private ratesAt(t_s: number): Float64Array {
    const o = this.options;
    return expectedRates(o.scene, o.detector, detectorPosition(o.detector, this.poseAt(t_s)), this.temperatureAt(t_s));
  }

  /** Adds the acquisition since the last update to the spectrum. */
  private accumulate(): void {
    const now = this.now();
    const dt_s = (now - this.last_ms) / 1000;
    this.last_ms = now;
    if (!(dt_s > 0) || !this.mcaEnabled) return;
    const o = this.options;
    const mid_s = (now - this.t0_ms) / 1000 - dt_s / 2;
    const temp = this.temperatureAt(mid_s);
    const [step] = simulateStep(o.scene, [o.detector], this.poseAt(mid_s), dt_s, this.rng, temp);
    if (!step) return;
    for (let i = 0; i < this.counts.length; i++) this.counts[i]! += step.counts[i]!;
    this.live_s += step.liveTime_s;
    this.real_s += dt_s;
    const rates = this.ratesAt(mid_s);
    let rate = 0;
    for (let i = 0; i < rates.length; i++) rate += rates[i]!;
    const tau = o.detector.deadTime_s ?? 0;
    this.expected += ((rate * dt_s) / (1 + rate * tau));
  }

  private clear(): void {
    this.counts = new Float64Array(this.options.detector.nChannels);
    this.live_s = 0;
    this.real_s = 0;
    this.expected = 0;
  }

  private statusBytes(): Uint8Array {
    let slow = 0;
    for (let i = 0; i < this.counts.length; i++) slow += this.counts[i]!;
    // Input pulses seen by the fast channel: the processed ones over the live fraction.
    const fast = this.live_s > 0 ? Math.round((slow * this.real_s) / this.live_s) : slow;
    const t_s = (this.now() - this.t0_ms) / 1000;
    return encodeStatus({
      fastCount: fast,
      slowCount: slow,
      accumulationTime_s: this.real_s,
      realTime_s: this.real_s,
      serialNumber: this.options.serialNumber ?? 123456,
      hv_V: 700,
      boardTemperature_C: this.temperatureAt(t_s),
      mcaEnabled: this.mcaEnabled,
      deviceType: this.options.deviceType ?? 'DP5G',
    });
  }

  private onData(chunk: Buffer): void {
    for (const e of this.decoder.push(chunk)) this.onEvent(e);
  }

  private onEvent(e: Dp5Event): void {
    if (e.kind === 'problem') {
      // What the instrument does with a damaged request: an ACK naming the fault.
      const code = e.problem.code === 'E_DP5_CHECKSUM' ? ACK.CHECKSUM : e.problem.code === 'E_DP5_LENGTH' ? ACK.LENGTH : e.problem.code === 'E_DP5_PID' ? ACK.PID : undefined;
      if (code !== undefined && !this.silent) this.write(encodeAck(code));
      return;
    }
    const p = e.packet;
    if (p.type !== 'request') return;
    this.requests++;
    this.emit('request', p.kind);
    if (this.silent) return;
    this.accumulate();
    switch (p.kind) {
      case 'status':
        this.write(encodeStatusResponse(this.statusBytes()));
        break;
      case 'spectrum':
      case 'spectrumClear':
      case 'spectrumStatus':
      case 'spectrumStatusClear': {
        const withStatus = p.kind === 'spectrumStatus' || p.kind === 'spectrumStatusClear';
        const cleared = p.kind === 'spectrumClear' || p.kind === 'spectrumStatusClear';
        this.sendSpectrum(withStatus, cleared);
        if (cleared) this.clear();
        break;
      }
      case 'clearSpectrum':
        this.clear();
        this.write(encodeAck(ACK.OK));
        break;
      case 'enableMca':
        this.mcaEnabled = true;
        this.write(encodeAck(ACK.OK));
        break;
      case 'disableMca':
        this.mcaEnabled = false;
        this.write(encodeAck(ACK.OK));
        break;
      default: {
        const never: never = p.kind;
        this.write(encodeAck(ACK.UNRECOGNISED));
        this.log?.warn({ kind: String(never) }, 'DP5 simulator: unhandled request');
      }
    }
  }

  private sendSpectrum(withStatus: boolean, cleared: boolean): void {
    let total = 0;
    for (let i = 0; i < this.counts.length; i++) total += this.counts[i]!;
    let packet = encodeSpectrumResponse(this.counts, withStatus ? this.statusBytes() : undefined);
    let fault: Dp5SentSpectrum['fault'];
    if (this.corruptNext > 0) {
      this.corruptNext--;
      packet = Buffer.from(packet);
      // A flipped bit in the first channel's count: the checksum no longer matches.
      packet[6] = packet[6]! ^ 0x04;
      fault = 'checksum';
    } else if (this.truncateNext > 0) {
      this.truncateNext--;
      packet = packet.subarray(0, packet.length >> 1);
      fault = 'truncated';
    }
    const t_s = (this.now() - this.t0_ms) / 1000;
    const record: Dp5SentSpectrum = {
      time_ms: this.now(),
      total,
      realTime_s: this.real_s,
      liveTime_s: this.live_s,
      expectedTotal: this.expected,
      boardTemperature_C: Math.round(this.temperatureAt(t_s)),
      cleared,
      ...(fault ? { fault } : {}),
    };
    this.write(packet);
    this.sent.push(record);
    this.emit('sent', record);
  }

  private write(packet: Buffer): void {
    const port = this.port;
    if (!port?.isOpen) return;
    const garbage = this.pendingGarbage;
    this.pendingGarbage = [];
    port.write(garbage.length ? Buffer.concat([...garbage, packet]) : packet);
  }
}

/** Random bytes without a 0xF5 0xFA pair, so they cannot look like the start of a packet. */
function noise(rng: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let b: number;
    do b = Math.floor(rng() * 256);
    while (b === 0xf5);
    out[i] = b;
  }
  return out;
}

// ───────────────────────────── as a configured component ─────────────────────────────

const sim = N42SimulatorOptionsSchema.properties;

export const Dp5SimulatorOptionsSchema = Type.Object(
  {
    dir: Type.String({ minLength: 1, description: 'folder for the pty links; the dp5 driver opens <dir>/<hostName>' }),
    hostName: Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$', default: 'dp5', description: 'link name the driver opens' }),
    seed: Type.Integer({ minimum: 0, maximum: 0xffffffff, default: 1 }),
    deviceType: stringEnum(DEVICE_TYPES, { default: 'DP5G', description: 'what the status packet reports (DP5G is the Gamma-Rad5)' }),
    serialNumber: Type.Integer({ minimum: 0, maximum: 0x7fffffff, default: 123456 }),
    origin: sim.origin,
    background: sim.background,
    sources: sim.sources,
    detector: Type.Object(
      {
        id: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9._-]{0,63}$', default: 'dp5' }),
        model: stringEnum(Object.keys(DETECTORS), { default: 'NaI-3x3' }),
        offset: Type.Object(
          { x_m: Type.Number({ default: 0 }), y_m: Type.Number({ default: 0 }), z_m: Type.Number({ default: 1 }) },
          { additionalProperties: false, default: {} },
        ),
        nChannels: numberEnum(SPECTRUM_CHANNELS, { default: 1024 }),
        keVPerChannel: Type.Number({ exclusiveMinimum: 0, maximum: 100, default: 3 }),
        deadTime_s: Type.Number({ minimum: 0, maximum: 0.001, default: 5e-6 }),
        gainDriftPerDegC: Type.Number({ minimum: -0.05, maximum: 0.05, default: 0 }),
      },
      { additionalProperties: false, default: {} },
    ),
    trajectory: sim.trajectory,
    temperature: sim.temperature,
  },
  { additionalProperties: false },
);
export type Dp5SimulatorConfig = Static<typeof Dp5SimulatorOptionsSchema>;

/** Factory for the component registry: a `devices[]` entry of type dp5-simulator (list it before the dp5 driver). */
export function createDp5Simulator(spec: ComponentSpec): Dp5Simulator {
  const o = parseDeviceOptions(Dp5SimulatorOptionsSchema, spec);
  const trajectory = trajectoryOption(spec, o.trajectory);
  const temp = o.temperature;
  return new Dp5Simulator(spec.name, {
    pty: { dir: o.dir, hostName: o.hostName, deviceName: `${o.hostName}-device` },
    scene: { origin: o.origin, background: o.background, sources: o.sources },
    detector: { ...o.detector, model: DETECTORS[o.detector.model]! },
    trajectory,
    seed: o.seed,
    deviceType: o.deviceType,
    serialNumber: o.serialNumber,
    ...(temp !== undefined ? { temperature_C: (t_s: number) => temp.mean_C + temp.amplitude_C * Math.sin((2 * Math.PI * t_s) / temp.period_s) } : {}),
  });
}
