// NMEA 0183 codec: checksums, GGA/RMC sentences to typed fixes and back, and a byte-stream decoder that survives garbage.
import { Transform, type TransformCallback } from 'node:stream';

/** GGA fix quality: 0 none, 1 GPS (SPS), 2 differential, 3 PPS, 4 RTK fixed, 5 RTK float, 6 dead reckoning, 7 manual, 8 simulator. */
export type FixQuality = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8;

export const FIX_QUALITY_NAMES: Record<FixQuality, string> = {
  0: 'invalid',
  1: 'gps',
  2: 'dgps',
  3: 'pps',
  4: 'rtk-fixed',
  5: 'rtk-float',
  6: 'estimated',
  7: 'manual',
  8: 'simulation',
};

export interface GgaSentence {
  type: 'GGA';
  /** Talker: GP (GPS), GN (multi-constellation), GL, GA, GB, BD... */
  talker: string;
  /** UTC milliseconds since midnight; null before the receiver knows the time. */
  timeOfDay_ms: number | null;
  lat: number | null;
  lon: number | null;
  quality: FixQuality;
  satellites: number | null;
  hdop: number | null;
  /** Antenna height above mean sea level. */
  altitude_m: number | null;
  /** Geoid height above the WGS84 ellipsoid. */
  geoidSeparation_m: number | null;
  dgpsAge_s: number | null;
}

export interface RmcSentence {
  type: 'RMC';
  talker: string;
  timeOfDay_ms: number | null;
  /** A: data valid, V: receiver warning (no fix). */
  status: 'A' | 'V';
  lat: number | null;
  lon: number | null;
  speed_m_s: number | null;
  /** Course over ground, degrees true. */
  course_deg: number | null;
  date: { year: number; month: number; day: number } | null;
  /** UTC epoch ms when both date and time are present. */
  time_ms: number | null;
  magneticVariation_deg: number | null;
  /** NMEA 2.3 mode indicator: A autonomous, D differential, E estimated, N not valid, ... */
  mode: string | null;
}

/** A well-formed sentence this codec does not interpret (GSA, GSV, VTG, proprietary $P...). */
export interface OtherSentence {
  type: 'other';
  address: string;
  fields: string[];
}

export type NmeaSentence = GgaSentence | RmcSentence | OtherSentence;

export type NmeaProblemCode = 'E_NMEA_GARBAGE' | 'E_NMEA_CHECKSUM' | 'E_NMEA_FIELD' | 'E_NMEA_TOO_LONG';

/** What was wrong with some bytes of the stream; `sample` is the offending text, cut and made printable. */
export interface NmeaProblem {
  code: NmeaProblemCode;
  message: string;
  sample: string;
}

export type ParseResult = { ok: true; sentence: NmeaSentence } | { ok: false; problem: NmeaProblem };

export const KNOTS_TO_M_S = 1852 / 3600;

/** The spec caps a sentence at 82 characters; receivers in high-precision modes go beyond, so allow some slack. */
export const MAX_SENTENCE_CHARS = 200;

/** XOR of every character between `$` and `*` (pass just that body). */
export function nmeaChecksum(body: string): number {
  let x = 0;
  for (let i = 0; i < body.length; i++) x ^= body.charCodeAt(i) & 0xff;
  return x;
}

function hex2(n: number): string {
  return n.toString(16).toUpperCase().padStart(2, '0');
}

/** `$<body>*HH\r\n` with the checksum of `body`. */
export function formatSentence(body: string): string {
  return `$${body}*${hex2(nmeaChecksum(body))}\r\n`;
}

/** Printable, short version of arbitrary bytes for logs and problem reports. */
export function printable(s: string, max = 60): string {
  const cut = s.length > max ? `${s.slice(0, max)}…` : s;
  return cut.replace(/[^\x20-\x7e]/g, (c) => `\\x${hex2(c.charCodeAt(0))}`);
}

class FieldError extends Error {}

function problem(code: NmeaProblemCode, message: string, text: string): { ok: false; problem: NmeaProblem } {
  return { ok: false, problem: { code, message, sample: printable(text) } };
}

const NUMBER = /^[+-]?\d+(\.\d+)?$/;

function num(v: string, what: string): number | null {
  if (v === '') return null;
  if (!NUMBER.test(v)) throw new FieldError(`${what}: expected a number, got "${printable(v, 20)}"`);
  return Number(v);
}

function int(v: string, what: string): number | null {
  if (v === '') return null;
  if (!/^\d+$/.test(v)) throw new FieldError(`${what}: expected an integer, got "${printable(v, 20)}"`);
  return Number(v);
}

/** `hhmmss(.sss)` to ms since midnight. */
function time(v: string, what: string): number | null {
  if (v === '') return null;
  const m = /^(\d{2})(\d{2})(\d{2}(?:\.\d+)?)$/.exec(v);
  const h = Number(m?.[1]);
  const min = Number(m?.[2]);
  const s = Number(m?.[3]);
  // 60 seconds is a leap second.
  if (!m || h > 23 || min > 59 || s >= 61) throw new FieldError(`${what}: expected hhmmss.ss UTC, got "${printable(v, 20)}"`);
  return Math.round(((h * 60 + min) * 60 + s) * 1000);
}

/** `ddmmyy` to a calendar date; two-digit years pivot at 1980, the GPS epoch. */
function date(v: string, what: string): { year: number; month: number; day: number } | null {
  if (v === '') return null;
  const m = /^(\d{2})(\d{2})(\d{2})$/.exec(v);
  const day = Number(m?.[1]);
  const month = Number(m?.[2]);
  const yy = Number(m?.[3]);
  if (!m || month < 1 || month > 12 || day < 1 || day > 31) throw new FieldError(`${what}: expected ddmmyy, got "${printable(v, 20)}"`);
  return { year: yy < 80 ? 2000 + yy : 1900 + yy, month, day };
}

/**
 * `ddmm.mmmm` + N/S or `dddmm.mmmm` + E/W to signed decimal degrees. Both empty means no position; one without the
 * other is an error rather than a guess at the hemisphere.
 */
function angle(v: string, hemi: string, kind: 'latitude' | 'longitude', what: string): number | null {
  if (v === '' && hemi === '') return null;
  const degDigits = kind === 'latitude' ? 2 : 3;
  const m = new RegExp(`^(\\d{${degDigits}})(\\d{2}(?:\\.\\d+)?)$`).exec(v);
  const deg = Number(m?.[1]);
  const min = Number(m?.[2]);
  const pattern = kind === 'latitude' ? 'ddmm.mmmm' : 'dddmm.mmmm';
  if (!m || min >= 60) throw new FieldError(`${what} (${kind}): expected ${pattern}, got "${printable(v, 20)}"`);
  const [pos, neg] = kind === 'latitude' ? ['N', 'S'] : ['E', 'W'];
  if (hemi !== pos && hemi !== neg) throw new FieldError(`${what} (${kind} hemisphere): expected ${pos} or ${neg}, got "${printable(hemi, 20)}"`);
  const value = deg + min / 60;
  if (value > (kind === 'latitude' ? 90 : 180)) throw new FieldError(`${what} (${kind}): ${value.toFixed(6)}° is out of range`);
  return hemi === neg ? -value : value;
}

function parseGga(talker: string, f: string[]): GgaSentence {
  const q = f[6] ?? '';
  if (!/^[0-8]$/.test(q)) throw new FieldError(`GGA field 6 (fix quality): expected a digit 0-8, got "${printable(q, 20)}"`);
  const quality = Number(q) as FixQuality;
  const lat = angle(f[2] ?? '', f[3] ?? '', 'latitude', 'GGA field 2');
  const lon = angle(f[4] ?? '', f[5] ?? '', 'longitude', 'GGA field 4');
  if (quality > 0 && (lat === null || lon === null)) throw new FieldError(`GGA fields 2-5: fix quality ${quality} without a position`);
  return {
    type: 'GGA',
    talker,
    timeOfDay_ms: time(f[1] ?? '', 'GGA field 1 (UTC time)'),
    lat,
    lon,
    quality,
    satellites: int(f[7] ?? '', 'GGA field 7 (satellites)'),
    hdop: num(f[8] ?? '', 'GGA field 8 (HDOP)'),
    altitude_m: num(f[9] ?? '', 'GGA field 9 (altitude)'),
    geoidSeparation_m: num(f[11] ?? '', 'GGA field 11 (geoid separation)'),
    dgpsAge_s: num(f[13] ?? '', 'GGA field 13 (DGPS age)'),
  };
}

function parseRmc(talker: string, f: string[]): RmcSentence {
  const status = f[2] ?? '';
  if (status !== 'A' && status !== 'V') throw new FieldError(`RMC field 2 (status): expected A or V, got "${printable(status, 20)}"`);
  const lat = angle(f[3] ?? '', f[4] ?? '', 'latitude', 'RMC field 3');
  const lon = angle(f[5] ?? '', f[6] ?? '', 'longitude', 'RMC field 5');
  if (status === 'A' && (lat === null || lon === null)) throw new FieldError('RMC fields 3-6: status A without a position');
  const timeOfDay_ms = time(f[1] ?? '', 'RMC field 1 (UTC time)');
  const d = date(f[9] ?? '', 'RMC field 9 (date)');
  const knots = num(f[7] ?? '', 'RMC field 7 (speed, knots)');
  const variation = num(f[10] ?? '', 'RMC field 10 (magnetic variation)');
  const varHemi = f[11] ?? '';
  return {
    type: 'RMC',
    talker,
    timeOfDay_ms,
    status,
    lat,
    lon,
    speed_m_s: knots === null ? null : knots * KNOTS_TO_M_S,
    course_deg: num(f[8] ?? '', 'RMC field 8 (course)'),
    date: d,
    time_ms: d && timeOfDay_ms !== null ? Date.UTC(d.year, d.month - 1, d.day) + timeOfDay_ms : null,
    magneticVariation_deg: variation === null ? null : varHemi === 'W' ? -variation : variation,
    mode: f[12] ? f[12] : null,
  };
}

/** Parses one sentence (`$...*HH`, line ending optional). Never throws: a bad sentence comes back as a problem. */
export function parseSentence(line: string): ParseResult {
  const text = line.replace(/\r?\n?$/, '');
  if (!text.startsWith('$')) return problem('E_NMEA_GARBAGE', 'sentence does not start with "$"', text);
  if (text.length > MAX_SENTENCE_CHARS) return problem('E_NMEA_TOO_LONG', `sentence of ${text.length} characters exceeds ${MAX_SENTENCE_CHARS}`, text);
  const bad = /[^\x20-\x7e]/.exec(text);
  if (bad) return problem('E_NMEA_GARBAGE', `non-printable byte 0x${hex2(bad[0].charCodeAt(0))} at column ${bad.index + 1}`, text);
  const star = text.lastIndexOf('*');
  if (star < 0) return problem('E_NMEA_CHECKSUM', 'missing "*HH" checksum', text);
  const given = text.slice(star + 1);
  if (!/^[0-9A-Fa-f]{2}$/.test(given)) return problem('E_NMEA_CHECKSUM', `checksum "${given}" is not two hex digits`, text);
  const body = text.slice(1, star);
  const expected = nmeaChecksum(body);
  if (expected !== parseInt(given, 16)) {
    return problem('E_NMEA_CHECKSUM', `checksum mismatch: computed ${hex2(expected)}, sentence says ${given.toUpperCase()}`, text);
  }
  const fields = body.split(',');
  const address = fields[0] ?? '';
  if (address.startsWith('P')) return { ok: true, sentence: { type: 'other', address, fields: fields.slice(1) } };
  if (!/^[A-Z]{5}$/.test(address)) return problem('E_NMEA_FIELD', `address field "${printable(address, 20)}": expected talker + sentence type like GPGGA`, text);
  const talker = address.slice(0, 2);
  const formatter = address.slice(2);
  try {
    switch (formatter) {
      case 'GGA':
        if (fields.length < 10) throw new FieldError(`GGA: expected at least 9 fields, got ${fields.length - 1}`);
        return { ok: true, sentence: parseGga(talker, fields) };
      case 'RMC':
        if (fields.length < 10) throw new FieldError(`RMC: expected at least 9 fields, got ${fields.length - 1}`);
        return { ok: true, sentence: parseRmc(talker, fields) };
      default:
        return { ok: true, sentence: { type: 'other', address, fields: fields.slice(1) } };
    }
  } catch (err) {
    if (err instanceof FieldError) return problem('E_NMEA_FIELD', err.message, text);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Encoding, for the simulator and tests.

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** ms since midnight to `hhmmss.ss`. */
export function formatTime(timeOfDay_ms: number): string {
  const cs = Math.round(timeOfDay_ms / 10);
  const h = Math.floor(cs / 360_000);
  const m = Math.floor((cs % 360_000) / 6000);
  const s = (cs % 6000) / 100;
  return `${pad(h, 2)}${pad(m, 2)}${s.toFixed(2).padStart(5, '0')}`;
}

/** Epoch ms to `ddmmyy`. */
export function formatDate(time_ms: number): string {
  const d = new Date(time_ms);
  return `${pad(d.getUTCDate(), 2)}${pad(d.getUTCMonth() + 1, 2)}${pad(d.getUTCFullYear() % 100, 2)}`;
}

/** Signed degrees to [`ddmm.mmmmmm`, hemisphere]; 6 decimals of minutes resolve 2 mm. */
export function formatAngle(deg: number, kind: 'latitude' | 'longitude', minuteDecimals = 6): [string, string] {
  const hemi = kind === 'latitude' ? (deg < 0 ? 'S' : 'N') : deg < 0 ? 'W' : 'E';
  const scale = 10 ** minuteDecimals;
  // Round in whole units of the last minute digit so that 59.9999999' carries into the degree instead of printing 60'.
  const units = Math.round(Math.abs(deg) * 60 * scale);
  const d = Math.floor(units / (60 * scale));
  const min = (units - d * 60 * scale) / scale;
  const minText = min.toFixed(minuteDecimals).padStart(minuteDecimals + 3, '0');
  return [`${pad(d, kind === 'latitude' ? 2 : 3)}${minText}`, hemi];
}

function fmt(v: number | null | undefined, decimals: number): string {
  return v === null || v === undefined ? '' : v.toFixed(decimals);
}

export interface GgaFields {
  talker?: string;
  time_ms: number;
  /** Absent or null with quality 0: the receiver has no fix and leaves the position empty. */
  lat?: number | null;
  lon?: number | null;
  quality: FixQuality;
  satellites?: number;
  hdop?: number | null;
  altitude_m?: number | null;
  geoidSeparation_m?: number | null;
}

/** A complete GGA sentence with checksum and CRLF. */
export function buildGga(g: GgaFields): string {
  const hasPos = g.lat !== null && g.lat !== undefined && g.lon !== null && g.lon !== undefined;
  const [lat, ns] = hasPos ? formatAngle(g.lat as number, 'latitude') : ['', ''];
  const [lon, ew] = hasPos ? formatAngle(g.lon as number, 'longitude') : ['', ''];
  const timeOfDay = ((g.time_ms % 86_400_000) + 86_400_000) % 86_400_000;
  const body = [
    `${g.talker ?? 'GP'}GGA`,
    formatTime(timeOfDay),
    lat,
    ns,
    lon,
    ew,
    String(g.quality),
    g.satellites === undefined ? '' : pad(g.satellites, 2),
    fmt(g.hdop, 2),
    fmt(g.altitude_m, 1),
    g.altitude_m === null || g.altitude_m === undefined ? '' : 'M',
    fmt(g.geoidSeparation_m, 1),
    g.geoidSeparation_m === null || g.geoidSeparation_m === undefined ? '' : 'M',
    '',
    '',
  ].join(',');
  return formatSentence(body);
}

export interface RmcFields {
  talker?: string;
  time_ms: number;
  status: 'A' | 'V';
  lat?: number | null;
  lon?: number | null;
  speed_m_s?: number | null;
  course_deg?: number | null;
  mode?: string;
}

/** A complete RMC sentence (NMEA 2.3 layout, with mode) with checksum and CRLF. */
export function buildRmc(r: RmcFields): string {
  const hasPos = r.lat !== null && r.lat !== undefined && r.lon !== null && r.lon !== undefined;
  const [lat, ns] = hasPos ? formatAngle(r.lat as number, 'latitude') : ['', ''];
  const [lon, ew] = hasPos ? formatAngle(r.lon as number, 'longitude') : ['', ''];
  const timeOfDay = ((r.time_ms % 86_400_000) + 86_400_000) % 86_400_000;
  const knots = r.speed_m_s === null || r.speed_m_s === undefined ? null : r.speed_m_s / KNOTS_TO_M_S;
  const body = [
    `${r.talker ?? 'GP'}RMC`,
    formatTime(timeOfDay),
    r.status,
    lat,
    ns,
    lon,
    ew,
    fmt(knots, 3),
    fmt(r.course_deg, 2),
    formatDate(r.time_ms),
    '',
    '',
    r.mode ?? (r.status === 'A' ? 'A' : 'N'),
  ].join(',');
  return formatSentence(body);
}

// ---------------------------------------------------------------------------------------------------------------
// Byte stream to sentences.

export type NmeaEvent = { kind: 'sentence'; sentence: NmeaSentence } | { kind: 'problem'; problem: NmeaProblem };

export interface NmeaStats {
  /** Sentences that passed the checksum and parsed (any type). */
  sentences: number;
  gga: number;
  rmc: number;
  other: number;
  badChecksum: number;
  badField: number;
  /** Fragments of bytes that were not part of any sentence, and how many bytes they held. */
  garbage: number;
  garbageBytes: number;
  tooLong: number;
}

export function emptyStats(): NmeaStats {
  return { sentences: 0, gga: 0, rmc: 0, other: 0, badChecksum: 0, badField: 0, garbage: 0, garbageBytes: 0, tooLong: 0 };
}

/**
 * Splits a byte stream into sentences however the chunks are cut. Bytes outside a sentence (line noise, a wrong baud
 * rate, a receiver's boot banner) and sentences that fail their checksum are counted and returned as problems; nothing
 * here throws, so a noisy cable costs data, not the driver.
 */
export class NmeaDecoder {
  readonly stats: NmeaStats = emptyStats();
  private buf = '';

  /** Feeds bytes (latin1, so every byte stays one character); returns the sentences and problems they completed. */
  push(chunk: Uint8Array | string): NmeaEvent[] {
    this.buf += typeof chunk === 'string' ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('latin1');
    const out: NmeaEvent[] = [];
    let nl = this.buf.indexOf('\n');
    while (nl >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      this.line(line, out);
      nl = this.buf.indexOf('\n');
    }
    if (this.buf.length > MAX_SENTENCE_CHARS) {
      // No line end in sight: keep a sentence that may still be arriving, drop the rest.
      const dollar = this.buf.lastIndexOf('$');
      if (dollar > 0 && this.buf.length - dollar <= MAX_SENTENCE_CHARS) {
        this.garbage(this.buf.slice(0, dollar), out);
        this.buf = this.buf.slice(dollar);
      } else {
        this.stats.tooLong++;
        out.push({
          kind: 'problem',
          problem: { code: 'E_NMEA_TOO_LONG', message: `${this.buf.length} bytes without a line end`, sample: printable(this.buf) },
        });
        this.buf = '';
      }
    }
    return out;
  }

  /** Forgets a partial sentence, as when the port is reopened and the bytes before it belong to another session. */
  reset(): void {
    this.buf = '';
  }

  /** End of stream: whatever is left without a line end is a cut-off sentence. */
  flush(): NmeaEvent[] {
    const out: NmeaEvent[] = [];
    if (this.buf.length > 0) this.line(this.buf, out);
    this.buf = '';
    return out;
  }

  private line(raw: string, out: NmeaEvent[]): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.length === 0) return;
    // A sentence cut short by lost bytes runs into the next one; only the last "$" can start a whole sentence.
    const dollar = line.lastIndexOf('$');
    if (dollar < 0) {
      this.garbage(line, out);
      return;
    }
    if (dollar > 0) this.garbage(line.slice(0, dollar), out);
    const r = parseSentence(line.slice(dollar));
    if (r.ok) {
      this.stats.sentences++;
      const t = r.sentence.type;
      if (t === 'GGA') this.stats.gga++;
      else if (t === 'RMC') this.stats.rmc++;
      else this.stats.other++;
      out.push({ kind: 'sentence', sentence: r.sentence });
      return;
    }
    switch (r.problem.code) {
      case 'E_NMEA_CHECKSUM':
        this.stats.badChecksum++;
        break;
      case 'E_NMEA_FIELD':
        this.stats.badField++;
        break;
      case 'E_NMEA_TOO_LONG':
        this.stats.tooLong++;
        break;
      case 'E_NMEA_GARBAGE':
        this.stats.garbage++;
        this.stats.garbageBytes += line.length - dollar;
        break;
      default: {
        const never: never = r.problem.code;
        throw new Error(`nmea: unhandled problem ${String(never)}`);
      }
    }
    out.push({ kind: 'problem', problem: r.problem });
  }

  private garbage(text: string, out: NmeaEvent[]): void {
    this.stats.garbage++;
    this.stats.garbageBytes += text.length;
    out.push({ kind: 'problem', problem: { code: 'E_NMEA_GARBAGE', message: `${text.length} bytes outside any sentence`, sample: printable(text) } });
  }
}

/** The decoder as a stream: bytes in, NmeaEvent objects out. */
export class NmeaTransform extends Transform {
  readonly decoder = new NmeaDecoder();

  constructor() {
    super({ readableObjectMode: true });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    for (const e of this.decoder.push(chunk)) this.push(e);
    done();
  }

  override _flush(done: TransformCallback): void {
    for (const e of this.decoder.flush()) this.push(e);
    done();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Sentences of one epoch to one fix.

/** What the receiver said about one epoch, merged from its GGA and RMC. */
export interface GpsFix {
  /** UTC epoch ms, once an RMC has supplied the date; null before. */
  time_ms: number | null;
  timeOfDay_ms: number;
  /** A usable position: GGA quality > 0 and RMC status A, as far as each was sent. */
  valid: boolean;
  /** GGA quality; inferred from RMC (A → 1, mode D → 2, V → 0) when the receiver sends no GGA. */
  quality: FixQuality;
  lat: number | null;
  lon: number | null;
  /** Height above mean sea level (GGA). */
  height_m: number | null;
  satellites: number | null;
  hdop: number | null;
  speed_m_s: number | null;
  course_deg: number | null;
  /** RMC status A with a date: the receiver vouches for the UTC time. */
  timeValid: boolean;
  sentences: ('GGA' | 'RMC')[];
}

/** Epochs a sentence type may be missing before a receiver is taken to have stopped sending it. */
const EXPECT_EPOCHS = 3;

/**
 * Groups sentences by their UTC time. An epoch is complete once it holds every sentence type seen in the last few
 * epochs, so a receiver sending GGA+RMC gets a fix as soon as the second one arrives and one sending only RMC gets it
 * at once; a partial epoch (a sentence lost to a bad checksum) is flushed when the next one starts.
 */
export class FixAssembler {
  private gga: GgaSentence | undefined;
  private rmc: RmcSentence | undefined;
  private epoch: number | undefined;
  private epochIndex = 0;
  private done = false;
  private readonly lastSeen: { GGA?: number; RMC?: number } = {};

  push(s: NmeaSentence): GpsFix | undefined {
    if (s.type === 'other' || s.timeOfDay_ms === null) return undefined;
    let out: GpsFix | undefined;
    if (s.timeOfDay_ms !== this.epoch) {
      out = this.flush();
      this.epoch = s.timeOfDay_ms;
      this.epochIndex++;
      this.done = false;
    }
    if (this.done) return out;
    if (s.type === 'GGA') this.gga = s;
    else this.rmc = s;
    this.lastSeen[s.type] = this.epochIndex;
    // Without an earlier epoch there is no telling which types are still to come.
    if (this.epochIndex > 1 && this.expected().every((t) => this.have().includes(t))) {
      out = this.flush();
      this.done = true;
    }
    return out;
  }

  /** The epoch in progress as a fix (undefined when none), e.g. on a timer or at the end of the stream. */
  flush(): GpsFix | undefined {
    const { gga, rmc } = this;
    if (this.epoch === undefined || (!gga && !rmc)) return undefined;
    const sentences = this.have();
    this.gga = undefined;
    this.rmc = undefined;
    let quality: FixQuality;
    if (gga) quality = gga.quality;
    else if (rmc?.status === 'A') quality = rmc.mode === 'D' ? 2 : 1;
    else quality = 0;
    const valid = (gga ? gga.quality > 0 : true) && (rmc ? rmc.status === 'A' : true);
    const lat = valid ? (gga?.lat ?? rmc?.lat ?? null) : null;
    const lon = valid ? (gga?.lon ?? rmc?.lon ?? null) : null;
    return {
      time_ms: rmc?.time_ms ?? null,
      timeOfDay_ms: this.epoch,
      valid: valid && lat !== null && lon !== null,
      quality,
      lat,
      lon,
      height_m: gga?.altitude_m ?? null,
      satellites: gga?.satellites ?? null,
      hdop: gga?.hdop ?? null,
      speed_m_s: rmc?.speed_m_s ?? null,
      course_deg: rmc?.course_deg ?? null,
      timeValid: rmc?.status === 'A' && rmc.time_ms !== null,
      sentences,
    };
  }

  private expected(): ('GGA' | 'RMC')[] {
    return (['GGA', 'RMC'] as const).filter((t) => {
      const seen = this.lastSeen[t];
      return seen !== undefined && this.epochIndex - seen <= EXPECT_EPOCHS;
    });
  }

  private have(): ('GGA' | 'RMC')[] {
    const out: ('GGA' | 'RMC')[] = [];
    if (this.gga) out.push('GGA');
    if (this.rmc) out.push('RMC');
    return out;
  }
}
