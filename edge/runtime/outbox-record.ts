// The outbox's record on disk: u32 len | u32 crc32 | u8 priority | u16 topicLen | topic | u8 idLen | id | payload.
import { crc32 } from 'node:zlib';

/** Length and CRC32 before the body; the length counts the body (what follows the CRC). */
export const HEADER = 8;
/** The id's length is one byte. */
export const MAX_ID_BYTES = 255;

export type RecordPriority = 'critical' | 'routine';

export interface DecodedRecord {
  topic: string;
  priority: RecordPriority;
  id: string;
  payload: Buffer;
  /** Bytes of the whole record, header included. */
  size: number;
}

/** One record; the caller checks the id against MAX_ID_BYTES first. */
export function encodeRecord(topic: string, priority: RecordPriority, payload: Buffer, id: string): Buffer {
  const t = Buffer.from(topic, 'utf8');
  const i = Buffer.from(id, 'utf8');
  const body = 1 + 2 + t.length + 1 + i.length + payload.length;
  const buf = Buffer.allocUnsafe(HEADER + body);
  buf.writeUInt32LE(body, 0);
  buf.writeUInt8(priority === 'critical' ? 1 : 0, HEADER);
  buf.writeUInt16LE(t.length, HEADER + 1);
  t.copy(buf, HEADER + 3);
  buf.writeUInt8(i.length, HEADER + 3 + t.length);
  i.copy(buf, HEADER + 4 + t.length);
  payload.copy(buf, HEADER + 4 + t.length + i.length);
  buf.writeUInt32LE(crc32(buf.subarray(HEADER)), 4);
  return buf;
}

/**
 * The record at `off` in `data`, or undefined where no whole, intact one starts there: a torn or zeroed tail, a
 * length past the data, a CRC32 mismatch, or a topic or id that runs past the body. The payload is a view of data.
 */
export function decodeRecord(data: Buffer, off = 0): DecodedRecord | undefined {
  if (off + HEADER > data.length) return undefined;
  const len = data.readUInt32LE(off);
  if (len < 3 || off + HEADER + len > data.length) return undefined;
  const body = data.subarray(off + HEADER, off + HEADER + len);
  if (crc32(body) !== data.readUInt32LE(off + 4)) return undefined;
  const tlen = body.readUInt16LE(1);
  if (3 + tlen + 1 > len) return undefined;
  const ilen = body.readUInt8(3 + tlen);
  const start = 4 + tlen + ilen;
  if (start > len) return undefined;
  return {
    topic: body.toString('utf8', 3, 3 + tlen),
    priority: body.readUInt8(0) === 1 ? 'critical' : 'routine',
    id: body.toString('utf8', 4 + tlen, start),
    payload: body.subarray(start),
    size: HEADER + len,
  };
}
