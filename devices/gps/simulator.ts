// A GPS receiver in software: real NMEA sentences for a trajectory, written to a serial port (one end of a pty) at 1-10 Hz.
import { SerialPort } from 'serialport';
import { CustomsError } from '../../common/errors.js';
import { buildGga, buildRmc, formatSentence, type FixQuality } from './nmea.js';

export interface TrackPoint {
  lat: number;
  lon: number;
  height_m?: number;
}

/** Where the vehicle is `t_s` seconds after the simulator started. */
export type Trajectory = (t_s: number) => TrackPoint;

const EARTH_RADIUS_M = 6_371_008.8;
const RAD = Math.PI / 180;

/** Offsets a point by metres north and east on a local tangent plane (fine over the few km a test drives). */
export function offset(p: { lat: number; lon: number }, north_m: number, east_m: number): { lat: number; lon: number } {
  return {
    lat: p.lat + north_m / EARTH_RADIUS_M / RAD,
    lon: p.lon + east_m / (EARTH_RADIUS_M * Math.cos(p.lat * RAD)) / RAD,
  };
}

/** Metres north and east from `a` to `b` on the local tangent plane at `a`. */
export function enu(a: { lat: number; lon: number }, b: { lat: number; lon: number }): { north_m: number; east_m: number } {
  return {
    north_m: (b.lat - a.lat) * RAD * EARTH_RADIUS_M,
    east_m: (b.lon - a.lon) * RAD * EARTH_RADIUS_M * Math.cos(a.lat * RAD),
  };
}

/** Constant speed along a constant course from `start`. */
export function straightLine(o: { start: { lat: number; lon: number }; course_deg: number; speed_m_s: number; height_m?: number }): Trajectory {
  const c = o.course_deg * RAD;
  return (t_s) => {
    const d = o.speed_m_s * t_s;
    return { ...offset(o.start, d * Math.cos(c), d * Math.sin(c)), height_m: o.height_m ?? 0 };
  };
}

/** Laps of a circle around `centre`, starting due north of it, counter-clockwise unless `clockwise`. */
export function loop(o: { centre: { lat: number; lon: number }; radius_m: number; speed_m_s: number; height_m?: number; clockwise?: boolean }): Trajectory {
  const dir = o.clockwise ? 1 : -1;
  return (t_s) => {
    const a = (dir * o.speed_m_s * t_s) / o.radius_m;
    return { ...offset(o.centre, o.radius_m * Math.cos(a), o.radius_m * Math.sin(a)), height_m: o.height_m ?? 0 };
  };
}

export interface GpsSimulatorOptions {
  /** The device end of the pty. */
  path: string;
  baudRate?: number;
  /** Epochs per second, 1 to 10 as real receivers allow. */
  rate_hz?: number;
  trajectory: Trajectory;
  talker?: string;
  /** Sentence types per epoch (default RMC, GGA and a GSA the driver must skip). */
  sentences?: ('RMC' | 'GGA' | 'GSA')[];
  quality?: FixQuality;
  satellites?: number;
  hdop?: number;
  geoidSeparation_m?: number;
  /** Wall clock in ms (default Date.now), the receiver's idea of UTC. */
  now?: () => number;
}

/** One epoch the simulator wrote, for tests to compare with what the driver saw. */
export interface SentEpoch {
  time_ms: number;
  valid: boolean;
  lat: number;
  lon: number;
  height_m: number;
  /** Sentences of this epoch written with a corrupted byte. */
  corrupted: number;
  /** Garbage bytes written just before this epoch. */
  garbageBytes: number;
}

export class SimulatorError extends CustomsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_SIMULATOR', message, options);
  }
}

export class GpsSimulator {
  readonly sent: SentEpoch[] = [];
  private port: SerialPort | undefined;
  private timer: NodeJS.Timeout | undefined;
  private t0_ms = 0;
  private fixLost = false;
  private pendingGarbage: Buffer[] = [];
  private corruptNext = 0;
  private readonly period_ms: number;
  private readonly now: () => number;

  constructor(private readonly opts: GpsSimulatorOptions) {
    const rate = opts.rate_hz ?? 1;
    if (!(rate >= 1 && rate <= 10)) throw new SimulatorError(`GPS simulator: rate_hz ${rate} outside 1-10`);
    this.period_ms = 1000 / rate;
    this.now = opts.now ?? Date.now;
  }

  /** Opens the port and starts the epochs, aligned to whole periods of UTC as a receiver aligns them to GPS time. */
  async start(): Promise<void> {
    if (this.port) return;
    const port = new SerialPort({ path: this.opts.path, baudRate: this.opts.baudRate ?? 9600, autoOpen: false });
    // A write after the pty vanished fails; the simulator just stops, as a receiver with no cable would not notice.
    port.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      port.open((err) => (err ? reject(new SimulatorError(`GPS simulator: cannot open ${this.opts.path}: ${err.message}`, { cause: err })) : resolve()));
    });
    this.port = port;
    this.t0_ms = Math.round(this.now() / this.period_ms) * this.period_ms;
    this.schedule();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const port = this.port;
    this.port = undefined;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  /** While lost, epochs say "no fix": GGA quality 0 and RMC status V with empty positions. */
  setFixLost(lost: boolean): void {
    this.fixLost = lost;
  }

  /** Bytes written just before the next epoch, glued to its first sentence as line noise would be. */
  injectGarbage(bytes?: Buffer): void {
    this.pendingGarbage.push(bytes ?? randomNoise(32));
  }

  /** The next `n` sentences go out with one character changed after the checksum was computed (a bit error). */
  corruptNextSentences(n = 1): void {
    this.corruptNext += n;
  }

  /** The position the trajectory gives for a UTC time (what a perfect receiver would report). */
  positionAt(time_ms: number): TrackPoint {
    return this.opts.trajectory((time_ms - this.t0_ms) / 1000);
  }

  private schedule(): void {
    const now = this.now();
    const next = Math.floor(now / this.period_ms + 1) * this.period_ms;
    this.timer = setTimeout(() => {
      this.epoch(next);
      if (this.port) this.schedule();
    }, next - now);
  }

  private epoch(time_ms: number): void {
    const port = this.port;
    if (!port?.isOpen) return;
    const p = this.positionAt(time_ms);
    const height_m = p.height_m ?? 0;
    // Speed and course from the trajectory itself, over a short step ahead.
    const ahead = this.positionAt(time_ms + 100);
    const d = enu(p, ahead);
    const speed_m_s = Math.hypot(d.north_m, d.east_m) / 0.1;
    const course_deg = ((Math.atan2(d.east_m, d.north_m) / RAD) % 360 + 360) % 360;
    const talker = this.opts.talker ?? 'GP';
    const lost = this.fixLost;
    const sentences: string[] = [];
    for (const type of this.opts.sentences ?? ['RMC', 'GGA', 'GSA']) {
      switch (type) {
        case 'RMC':
          sentences.push(
            lost
              ? buildRmc({ talker, time_ms, status: 'V' })
              : buildRmc({ talker, time_ms, status: 'A', lat: p.lat, lon: p.lon, speed_m_s, course_deg: speed_m_s > 0.05 ? course_deg : null }),
          );
          break;
        case 'GGA':
          sentences.push(
            lost
              ? buildGga({ talker, time_ms, quality: 0, satellites: 2, hdop: 99.99 })
              : buildGga({
                  talker,
                  time_ms,
                  lat: p.lat,
                  lon: p.lon,
                  quality: this.opts.quality ?? 1,
                  satellites: this.opts.satellites ?? 9,
                  hdop: this.opts.hdop ?? 0.9,
                  altitude_m: height_m,
                  geoidSeparation_m: this.opts.geoidSeparation_m ?? 47,
                }),
          );
          break;
        case 'GSA':
          sentences.push(lost ? formatSentence(`${talker}GSA,A,1,,,,,,,,,,,,,99.99,99.99,99.99`) : formatSentence(`${talker}GSA,A,3,02,05,07,09,13,16,20,26,30,,,,1.6,${(this.opts.hdop ?? 0.9).toFixed(1)},1.3`));
          break;
        default: {
          const never: never = type;
          throw new SimulatorError(`GPS simulator: unknown sentence ${String(never)}`);
        }
      }
    }
    let corrupted = 0;
    for (let i = 0; i < sentences.length && this.corruptNext > 0; i++) {
      sentences[i] = corrupt(sentences[i] as string);
      this.corruptNext--;
      corrupted++;
    }
    const garbage = Buffer.concat(this.pendingGarbage);
    this.pendingGarbage = [];
    port.write(Buffer.concat([garbage, Buffer.from(sentences.join(''), 'latin1')]));
    this.sent.push({ time_ms, valid: !lost, lat: p.lat, lon: p.lon, height_m, corrupted, garbageBytes: garbage.length });
  }
}

/** Random bytes that cannot start a sentence or end a line, so they stay one fragment of noise. */
function randomNoise(n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    let b: number;
    do b = Math.floor(Math.random() * 256);
    while (b === 0x24 || b === 0x0a || b === 0x0d);
    out[i] = b;
  }
  return out;
}

/** Changes one digit of the body so the checksum no longer matches, as a flipped bit on the wire would. */
function corrupt(sentence: string): string {
  const star = sentence.lastIndexOf('*');
  for (let i = star - 1; i > 0; i--) {
    const c = sentence.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) return `${sentence.slice(0, i)}${String.fromCharCode(0x30 + ((c - 0x30 + 1) % 10))}${sentence.slice(i + 1)}`;
  }
  return `${sentence.slice(0, star)}*00\r\n`;
}
