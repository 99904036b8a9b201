// Amptek DP5-family serial packet codec (DP5, PX5, DP5G/Gamma-Rad5, X-123, MCA8000D): requests, responses, status, and a byte-stream decoder that survives garbage.
//
// Facts taken from Amptek's "DP5 Programmer's Guide" (Rev A4-B0; checked against the public copies of the guide
// and Amptek's own SDK constant tables, none of whose code is used here):
// - every packet is SYNC1 0xF5, SYNC2 0xFA, PID1, PID2, LEN (16 bits, MSB first), LEN data bytes, CHECKSUM (16 bits,
//   MSB first); the checksum is the two's complement of the 16-bit sum of every byte before it, so the 16-bit sum
//   of the whole packet is 0. The guide's examples: "Request Netfinder Packet" F5 FA 03 07 00 00 FE 07,
//   "Autoset Input Offset" F5 FA F0 05 00 00 FD 1C.
// - requests: status PID1=1/PID2=1; spectrum PID1=2 with PID2 1 spectrum, 2 spectrum + clear, 3 spectrum + status,
//   4 spectrum + status + clear; vendor requests PID1=0xF0 with PID2 1 clear spectrum, 2 enable MCA, 3 disable MCA.
// - responses: status PID1=0x80/PID2=1 with 64 data bytes; spectrum PID1=0x81 with PID2 1..12 = 256, 512, 1024,
//   2048, 4096, 8192 channels, odd without status, even with the 64 status bytes after the counts; counts are
//   3 bytes per channel, least significant byte first; ACK PID1=0xFF with PID2 0 OK, 1 sync, 2 PID, 3 length,
//   4 checksum error, 5 bad parameter, 6 bad hex record, 7 unrecognised command, 8 FPGA error, 9 CP2201 not
//   found, 10 scope data not available, 11 PC5 not present, 12 OK + Ethernet sharing request, 13 Ethernet busy.
//   The largest packet is an 8192-channel spectrum with status: 24 640 data bytes.
// - status bytes: 0-3 fast count, 4-7 slow count, 8-11 general-purpose counter (32 bits, LSB first); 12 the
//   accumulation time's milliseconds and 13-15 its 100 ms units; 16-19 live time in ms (MCA8000D only); 20-23
//   real time in ms; 24 firmware and 25 FPGA version (major in the high nibble); 26-29 serial number; 30-31 HV
//   (signed, MSB first, 0.5 V per count); 32-33 detector temperature (12 bits, MSB first, 0.1 K per count);
//   34 board temperature (signed °C); 35 flags (D7 preset real time reached, D5 MCA enabled, D4 preset count
//   reached); 39 device type (0 DP5, 1 PX5, 2 DP5G, 3 MCA8000D, 4 TB5, 5 DP5-X).
// What the guide does not define and this module chose: the live time of devices without a live-time counter is
// the accumulation time scaled by slow/fast counts (the fraction of input pulses the slow channel processed,
// the dead-time estimate Amptek's software shows), and the decoder's error reports and resynchronisation.

export const SYNC1 = 0xf5;
export const SYNC2 = 0xfa;
/** SYNC1 SYNC2 PID1 PID2 LEN_MSB LEN_LSB + CHK_MSB CHK_LSB. */
export const PACKET_OVERHEAD = 8;
export const STATUS_BYTES = 64;
export const SPECTRUM_CHANNELS = [256, 512, 1024, 2048, 4096, 8192] as const;
export type SpectrumChannels = (typeof SPECTRUM_CHANNELS)[number];
/** 8192 channels × 3 bytes + status. */
export const MAX_DATA_BYTES = 8192 * 3 + STATUS_BYTES;
/** Counts are 24-bit on the wire. */
export const MAX_COUNT = 0xffffff;

export const PID1 = { REQ_STATUS: 0x01, REQ_SPECTRUM: 0x02, STATUS: 0x80, SPECTRUM: 0x81, VENDOR: 0xf0, ACK: 0xff } as const;

/** Requests the host sends, as [PID1, PID2]. */
export const REQUESTS = {
  status: [0x01, 0x01],
  spectrum: [0x02, 0x01],
  spectrumClear: [0x02, 0x02],
  spectrumStatus: [0x02, 0x03],
  spectrumStatusClear: [0x02, 0x04],
  clearSpectrum: [0xf0, 0x01],
  enableMca: [0xf0, 0x02],
  disableMca: [0xf0, 0x03],
} as const satisfies Record<string, readonly [number, number]>;
export type Dp5RequestKind = keyof typeof REQUESTS;

export const ACK_NAMES: Readonly<Record<number, string>> = {
  0: 'OK',
  1: 'sync error',
  2: 'PID error',
  3: 'length error',
  4: 'checksum error',
  5: 'bad parameter',
  6: 'bad hex record',
  7: 'unrecognised command',
  8: 'FPGA error',
  9: 'CP2201 not found',
  10: 'scope data not available',
  11: 'PC5 not present',
  12: 'OK, Ethernet sharing request',
  13: 'Ethernet busy',
};
export const ACK = { OK: 0, SYNC: 1, PID: 2, LENGTH: 3, CHECKSUM: 4, BAD_PARAM: 5, UNRECOGNISED: 7 } as const;

export const DEVICE_TYPES = ['DP5', 'PX5', 'DP5G', 'MCA8000D', 'TB5', 'DP5-X'] as const;
export type Dp5DeviceType = (typeof DEVICE_TYPES)[number];

export interface Dp5Status {
  fastCount: number;
  slowCount: number;
  gpCount: number;
  accumulationTime_s: number;
  /** The device's own live time (MCA8000D); undefined for the others. */
  deviceLiveTime_s?: number;
  realTime_s: number;
  /** Raw version bytes, major version in the high nibble (0x68 is 6.08). */
  firmware: number;
  fpga: number;
  serialNumber: number;
  hv_V: number;
  /** 0 when the device has no detector temperature sensor. */
  detectorTemperature_K: number;
  boardTemperature_C: number;
  mcaEnabled: boolean;
  presetRealTimeReached: boolean;
  presetCountReached: boolean;
  deviceId: number;
  /** Name of `deviceId`, or `unknown(<id>)`. */
  deviceType: string;
}

/** Two's complement of the 16-bit sum of `bytes[start, end)`. */
export function checksum(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let sum = 0;
  for (let i = start; i < end; i++) sum += bytes[i]!;
  return (0x10000 - (sum & 0xffff)) & 0xffff;
}

/** A whole packet with its checksum. */
export function encodePacket(pid1: number, pid2: number, data: Uint8Array = new Uint8Array(0)): Buffer {
  if (data.length > 0xffff) throw new RangeError(`DP5 packet data is at most 65535 bytes, got ${data.length}`);
  const out = Buffer.alloc(PACKET_OVERHEAD + data.length);
  out[0] = SYNC1;
  out[1] = SYNC2;
  out[2] = pid1 & 0xff;
  out[3] = pid2 & 0xff;
  out.writeUInt16BE(data.length, 4);
  out.set(data, 6);
  out.writeUInt16BE(checksum(out, 0, 6 + data.length), 6 + data.length);
  return out;
}

export function encodeRequest(kind: Dp5RequestKind): Buffer {
  const [p1, p2] = REQUESTS[kind];
  return encodePacket(p1, p2);
}

/** PID2 of a spectrum response: 1 for 256 channels without status … 12 for 8192 with status. */
export function spectrumPid2(channels: number, withStatus: boolean): number {
  const i = (SPECTRUM_CHANNELS as readonly number[]).indexOf(channels);
  if (i < 0) throw new RangeError(`DP5 spectra have ${SPECTRUM_CHANNELS.join(', ')} channels, got ${channels}`);
  return 2 * i + (withStatus ? 2 : 1);
}

/** Channels and status presence of a spectrum response's PID2, or undefined outside 1..12. */
export function spectrumLayout(pid2: number): { channels: SpectrumChannels; withStatus: boolean } | undefined {
  if (!Number.isInteger(pid2) || pid2 < 1 || pid2 > 12) return undefined;
  return { channels: SPECTRUM_CHANNELS[(pid2 - 1) >> 1]!, withStatus: pid2 % 2 === 0 };
}

function u32le(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16)) + b[o + 3]! * 0x1000000;
}

function putU32le(b: Uint8Array, o: number, v: number): void {
  const x = Math.max(0, Math.min(0xffffffff, Math.round(v)));
  b[o] = x & 0xff;
  b[o + 1] = (x >>> 8) & 0xff;
  b[o + 2] = (x >>> 16) & 0xff;
  b[o + 3] = (x >>> 24) & 0xff;
}

/** Reads the 64 status bytes starting at `offset`. */
export function decodeStatus(b: Uint8Array, offset = 0): Dp5Status {
  const s = b.subarray(offset, offset + STATUS_BYTES);
  const deviceId = s[39]!;
  const firmware = s[24]!;
  const hvRaw = (s[30]! << 8) | s[31]!;
  const boardRaw = s[34]!;
  const status: Dp5Status = {
    fastCount: u32le(s, 0),
    slowCount: u32le(s, 4),
    gpCount: u32le(s, 8),
    accumulationTime_s: s[12]! * 0.001 + (s[13]! | (s[14]! << 8) | (s[15]! << 16)) * 0.1,
    realTime_s: u32le(s, 20) * 0.001,
    firmware,
    fpga: s[25]!,
    // The top bit set means "no serial number programmed".
    serialNumber: s[29]! < 0x80 ? u32le(s, 26) : -1,
    hv_V: (hvRaw >= 0x8000 ? hvRaw - 0x10000 : hvRaw) * 0.5,
    detectorTemperature_K: (((s[32]! & 0x0f) << 8) | s[33]!) * 0.1,
    boardTemperature_C: boardRaw >= 0x80 ? boardRaw - 0x100 : boardRaw,
    mcaEnabled: (s[35]! & 0x20) !== 0,
    presetRealTimeReached: (s[35]! & 0x80) !== 0,
    presetCountReached: (s[35]! & 0x10) !== 0,
    deviceId,
    deviceType: DEVICE_TYPES[deviceId] ?? `unknown(${deviceId})`,
  };
  // The MCA8000D has a live-time counter from firmware 6.07 on.
  if (deviceId === 3 && firmware >= 0x67) status.deviceLiveTime_s = u32le(s, 16) * 0.001;
  return status;
}

export interface StatusFields {
  fastCount?: number;
  slowCount?: number;
  gpCount?: number;
  accumulationTime_s?: number;
  deviceLiveTime_s?: number;
  realTime_s?: number;
  firmware?: number;
  fpga?: number;
  serialNumber?: number;
  hv_V?: number;
  detectorTemperature_K?: number;
  boardTemperature_C?: number;
  mcaEnabled?: boolean;
  deviceType?: Dp5DeviceType;
}

/** The 64 status bytes as the instrument sends them (simulator, tests). */
export function encodeStatus(f: StatusFields): Uint8Array {
  const s = new Uint8Array(STATUS_BYTES);
  putU32le(s, 0, f.fastCount ?? 0);
  putU32le(s, 4, f.slowCount ?? 0);
  putU32le(s, 8, f.gpCount ?? 0);
  const acc_ms = Math.max(0, Math.round((f.accumulationTime_s ?? 0) * 1000));
  s[12] = acc_ms % 100;
  const acc100 = Math.min(0xffffff, Math.floor(acc_ms / 100));
  s[13] = acc100 & 0xff;
  s[14] = (acc100 >> 8) & 0xff;
  s[15] = (acc100 >> 16) & 0xff;
  putU32le(s, 16, (f.deviceLiveTime_s ?? 0) * 1000);
  putU32le(s, 20, (f.realTime_s ?? 0) * 1000);
  s[24] = f.firmware ?? 0x68;
  s[25] = f.fpga ?? 0x6a;
  putU32le(s, 26, Math.max(0, Math.min(0x7fffffff, f.serialNumber ?? 0)));
  const hv = Math.round((f.hv_V ?? 0) / 0.5) & 0xffff;
  s[30] = hv >> 8;
  s[31] = hv & 0xff;
  const det = Math.max(0, Math.min(0xfff, Math.round((f.detectorTemperature_K ?? 0) / 0.1)));
  s[32] = det >> 8;
  s[33] = det & 0xff;
  s[34] = Math.max(-128, Math.min(127, Math.round(f.boardTemperature_C ?? 25))) & 0xff;
  s[35] = (f.mcaEnabled ?? true) ? 0x20 : 0;
  s[39] = DEVICE_TYPES.indexOf(f.deviceType ?? 'DP5G');
  return s;
}

/**
 * Live time of an acquisition: the device's own counter where it has one, else the accumulation time scaled by
 * the fraction of input pulses (fast channel) the slow channel processed.
 */
export function liveTimeOf(s: Dp5Status): number {
  if (s.deviceLiveTime_s !== undefined) return s.deviceLiveTime_s;
  if (s.fastCount > 0 && s.slowCount <= s.fastCount) return (s.accumulationTime_s * s.slowCount) / s.fastCount;
  return s.accumulationTime_s;
}

/** A spectrum response packet; counts above 2^24 − 1 are clipped as the 24-bit field would. */
export function encodeSpectrumResponse(counts: ArrayLike<number>, status?: Uint8Array): Buffer {
  const n = counts.length;
  const pid2 = spectrumPid2(n, status !== undefined);
  const data = new Uint8Array(n * 3 + (status ? STATUS_BYTES : 0));
  for (let i = 0; i < n; i++) {
    const c = Math.max(0, Math.min(MAX_COUNT, Math.round(counts[i]!)));
    data[3 * i] = c & 0xff;
    data[3 * i + 1] = (c >> 8) & 0xff;
    data[3 * i + 2] = (c >> 16) & 0xff;
  }
  if (status) data.set(status, n * 3);
  return encodePacket(PID1.SPECTRUM, pid2, data);
}

export function encodeStatusResponse(status: Uint8Array): Buffer {
  return encodePacket(PID1.STATUS, 0x01, status);
}

export function encodeAck(code: number): Buffer {
  return encodePacket(PID1.ACK, code);
}

// ───────────────────────────── stream decoder ─────────────────────────────

export type Dp5Packet =
  | { type: 'status'; offset: number; status: Dp5Status }
  | { type: 'spectrum'; offset: number; channels: SpectrumChannels; counts: Float64Array; status?: Dp5Status }
  | { type: 'ack'; offset: number; code: number; ok: boolean; name: string; data: Uint8Array }
  | { type: 'request'; offset: number; kind: Dp5RequestKind; pid1: number; pid2: number; data: Uint8Array };

export type Dp5ProblemCode = 'E_DP5_GARBAGE' | 'E_DP5_CHECKSUM' | 'E_DP5_LENGTH' | 'E_DP5_PID' | 'E_DP5_TRUNCATED';

/** Something wrong in the byte stream; `offset` counts bytes from the decoder's start (or last reset). */
export interface Dp5Problem {
  code: Dp5ProblemCode;
  offset: number;
  message: string;
  /** PID1/PID2 of the packet header the problem is in, when there was one. */
  pid?: [number, number];
}

export type Dp5Event = { kind: 'packet'; packet: Dp5Packet } | { kind: 'problem'; problem: Dp5Problem };

export interface Dp5Stats {
  packets: number;
  garbage: number;
  garbageBytes: number;
  badChecksum: number;
  badLength: number;
  unknownPid: number;
  truncated: number;
}

export function emptyDp5Stats(): Dp5Stats {
  return { packets: 0, garbage: 0, garbageBytes: 0, badChecksum: 0, badLength: 0, unknownPid: 0, truncated: 0 };
}

export interface Dp5DecoderOptions {
  /** Which side's packets this end receives: the host reads responses, the instrument (simulator) reads requests. */
  accept: 'responses' | 'requests';
}

function hex(n: number, digits = 2): string {
  return `0x${n.toString(16).toUpperCase().padStart(digits, '0')}`;
}

const REQUEST_KINDS = new Map<number, Dp5RequestKind>(Object.entries(REQUESTS).map(([k, [a, b]]) => [(a << 8) | b, k as Dp5RequestKind]));

/**
 * Incremental decoder: feed chunks as they arrive, get whole packets and problems back, in stream order. Never
 * throws on input. After garbage it resynchronises on the next 0xF5 0xFA; a header whose PID or length is wrong
 * is reported and scanning resumes just after its sync bytes; a bad checksum is reported and scanning resumes
 * at the next sync inside the bad packet if there is one (a truncated packet followed by a good one loses only
 * itself), else after it.
 */
export class Dp5Decoder {
  readonly stats: Dp5Stats = emptyDp5Stats();
  private buf: Buffer = Buffer.alloc(0);
  /** Stream offset of buf[0]. */
  private base = 0;
  /** Bytes skipped after a header error are part of that error, not garbage of their own. */
  private skipping = false;

  constructor(private readonly opts: Dp5DecoderOptions = { accept: 'responses' }) {}

  /** Bytes received since construction or reset(). */
  get position(): number {
    return this.base + this.buf.length;
  }

  push(chunk: Uint8Array): Dp5Event[] {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    const out: Dp5Event[] = [];
    this.scan(out);
    return out;
  }

  /** Forgets buffered bytes (a new session on a reopened port); offsets start again from 0. */
  reset(): void {
    this.buf = Buffer.alloc(0);
    this.base = 0;
    this.skipping = false;
  }

  /** No more bytes are coming for now (a reply timed out): whatever is buffered is a cut-off packet or garbage. */
  flush(): Dp5Event[] {
    const out: Dp5Event[] = [];
    if (this.buf.length > 0) {
      const b = this.buf;
      if (b[0] === SYNC1 && (b.length < 2 || b[1] === SYNC2)) {
        const expected = b.length >= 6 ? PACKET_OVERHEAD + b.readUInt16BE(4) : undefined;
        this.stats.truncated++;
        out.push({
          kind: 'problem',
          problem: {
            code: 'E_DP5_TRUNCATED',
            offset: this.base,
            message: `packet at byte ${this.base} cut off after ${b.length} bytes: expected ${expected === undefined ? 'at least a 6-byte header' : `${expected} bytes`}`,
            ...(b.length >= 4 ? { pid: [b[2]!, b[3]!] as [number, number] } : {}),
          },
        });
      } else {
        this.garbage(b.length, out);
      }
      this.consume(b.length);
    }
    this.skipping = false;
    return out;
  }

  private consume(n: number): void {
    this.buf = this.buf.subarray(n);
    this.base += n;
  }

  private garbage(n: number, out: Dp5Event[]): void {
    this.stats.garbageBytes += n;
    if (this.skipping) return;
    this.stats.garbage++;
    out.push({ kind: 'problem', problem: { code: 'E_DP5_GARBAGE', offset: this.base, message: `${n} bytes at byte ${this.base} outside any packet: expected sync 0xF5 0xFA` } });
  }

  /** Index of the next SYNC1 SYNC2 at or after `from`, or of a trailing SYNC1 that may start one, or -1. */
  private findSync(from: number): number {
    const b = this.buf;
    for (let i = from; i < b.length; i++) {
      if (b[i] !== SYNC1) continue;
      if (i + 1 === b.length || b[i + 1] === SYNC2) return i;
    }
    return -1;
  }

  private problem(out: Dp5Event[], code: Dp5ProblemCode, message: string, pid?: [number, number]): void {
    out.push({ kind: 'problem', problem: { code, offset: this.base, message, ...(pid ? { pid } : {}) } });
  }

  private scan(out: Dp5Event[]): void {
    for (;;) {
      const s = this.findSync(0);
      if (s < 0) {
        if (this.buf.length > 0) this.garbage(this.buf.length, out);
        this.consume(this.buf.length);
        return;
      }
      if (s > 0) {
        this.garbage(s, out);
        this.consume(s);
      }
      const b = this.buf;
      if (b.length < 6) return;
      const pid1 = b[2]!;
      const pid2 = b[3]!;
      const len = b.readUInt16BE(4);
      const at = this.base;
      const pid: [number, number] = [pid1, pid2];
      const expect = this.expectedLength(pid1, pid2);
      if (expect === undefined) {
        this.stats.unknownPid++;
        this.problem(out, 'E_DP5_PID', `packet at byte ${at}: PID1 ${hex(pid1)} PID2 ${hex(pid2)} is not a known ${this.opts.accept === 'responses' ? 'response' : 'request'}: expected ${this.knownPids()}`, pid);
        this.skipAfterHeader();
        continue;
      }
      if (len < expect.min || len > expect.max) {
        this.stats.badLength++;
        const want = expect.min === expect.max ? `${expect.min}` : `${expect.min}..${expect.max}`;
        this.problem(out, 'E_DP5_LENGTH', `packet at byte ${at} (PID1 ${hex(pid1)} PID2 ${hex(pid2)}): length ${len}, expected ${want} data bytes for ${expect.what}`, pid);
        this.skipAfterHeader();
        continue;
      }
      const total = PACKET_OVERHEAD + len;
      if (b.length < total) return;
      const got = b.readUInt16BE(6 + len);
      const want = checksum(b, 0, 6 + len);
      if (got !== want) {
        this.stats.badChecksum++;
        this.problem(out, 'E_DP5_CHECKSUM', `packet at byte ${at} (PID1 ${hex(pid1)} PID2 ${hex(pid2)}, ${len} data bytes): checksum ${hex(got, 4)}, expected ${hex(want, 4)}`, pid);
        // A sync inside the bad packet may be the start of a good one that followed a cut-off packet.
        const inner = this.findSync(2);
        const skip = inner > 0 && inner < total ? inner : total;
        this.stats.garbageBytes += skip;
        this.consume(skip);
        this.skipping = false;
        continue;
      }
      const data = Buffer.from(b.subarray(6, 6 + len));
      this.consume(total);
      this.skipping = false;
      this.stats.packets++;
      out.push({ kind: 'packet', packet: this.packet(at, pid1, pid2, data) });
    }
  }

  private skipAfterHeader(): void {
    this.stats.garbageBytes += 2;
    this.consume(2);
    this.skipping = true;
  }

  private knownPids(): string {
    return this.opts.accept === 'responses'
      ? 'status 0x80/0x01, spectrum 0x81/0x01..0x0C or ACK 0xFF/0x00..0x0D'
      : [...REQUEST_KINDS.keys()].map((k) => `${hex(k >> 8)}/${hex(k & 0xff)}`).join(', ');
  }

  private expectedLength(pid1: number, pid2: number): { min: number; max: number; what: string } | undefined {
    if (this.opts.accept === 'requests') {
      return REQUEST_KINDS.has((pid1 << 8) | pid2) ? { min: 0, max: 0, what: 'a request without data' } : undefined;
    }
    switch (pid1) {
      case PID1.STATUS:
        return pid2 === 1 ? { min: STATUS_BYTES, max: STATUS_BYTES, what: 'a status packet' } : undefined;
      case PID1.SPECTRUM: {
        const l = spectrumLayout(pid2);
        if (!l) return undefined;
        const n = l.channels * 3 + (l.withStatus ? STATUS_BYTES : 0);
        return { min: n, max: n, what: `${l.channels} channels${l.withStatus ? ' with status' : ''}` };
      }
      case PID1.ACK:
        // Some ACKs echo part of the offending request; none is longer than a status block.
        return ACK_NAMES[pid2] !== undefined ? { min: 0, max: STATUS_BYTES, what: 'an ACK' } : undefined;
      default:
        return undefined;
    }
  }

  private packet(offset: number, pid1: number, pid2: number, data: Buffer): Dp5Packet {
    if (this.opts.accept === 'requests') {
      return { type: 'request', offset, kind: REQUEST_KINDS.get((pid1 << 8) | pid2)!, pid1, pid2, data };
    }
    if (pid1 === PID1.STATUS) return { type: 'status', offset, status: decodeStatus(data) };
    if (pid1 === PID1.SPECTRUM) {
      const l = spectrumLayout(pid2)!;
      const counts = new Float64Array(l.channels);
      for (let i = 0; i < l.channels; i++) counts[i] = data[3 * i]! | (data[3 * i + 1]! << 8) | (data[3 * i + 2]! << 16);
      return {
        type: 'spectrum',
        offset,
        channels: l.channels,
        counts,
        ...(l.withStatus ? { status: decodeStatus(data, l.channels * 3) } : {}),
      };
    }
    return { type: 'ack', offset, code: pid2, ok: pid2 === ACK.OK || pid2 === 12, name: ACK_NAMES[pid2] ?? `code ${pid2}`, data };
  }
}
