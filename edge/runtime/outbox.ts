// Durable outbox: every summary is journalled on disk before it is published and forgotten only after PUBACK.
//
// Layout of the outbox directory:
//   seg-<n>.log  records appended in order; n increases forever (zero-padded), so name order is journal order
//   seg-<n>.ack  4-byte little-endian record indices of that segment that were acknowledged (or dropped: high bit)
// A record is  u32 len | u32 crc32 | u8 priority | u16 topicLen | topic | u8 idLen | id | payload  (len counts
// what follows crc). The id is the caller's name for the message (`<boot>:<seq>`), matched by cloud acknowledgements.
// A torn record at the tail (power cut mid-write) fails its length or CRC check and is cut off on open.
// Ack records are not fsynced: losing one only re-sends a message, which the cloud drops as a duplicate by
// (node, boot, seq). A segment whose records are all resolved is deleted; when the journal is over its size
// bound, the oldest segments lose their routine records first and are compacted; critical records are kept.
import {
  closeSync,
  fdatasync as fdatasyncCb,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  write as writeCb,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { EventEmitter } from 'node:events';
import type { Logger } from '../../common/log.js';
import { silentLogger } from '../../common/log.js';
import { CustomsError } from '../../common/errors.js';

export type Priority = 'critical' | 'routine';
export type FsyncPolicy = 'always' | 'interval' | 'never';

export interface OutboxOptions {
  dir: string;
  maxBytes: number;
  segmentBytes: number;
  fsync: FsyncPolicy;
  fsyncInterval_ms?: number;
  log?: Logger;
}

/** One journalled message. `payload` is held in memory only until first sent; later sends read the file. */
export interface OutboxEntry {
  readonly topic: string;
  readonly priority: Priority;
  /** The caller's id of the message (`<boot>:<seq>`), empty when none was given. */
  readonly id: string;
  /** Journal position: segment number and record index within it. */
  seg: number;
  idx: number;
  offset: number;
  size: number;
  payload: Buffer | undefined;
  /** pending: to send; inflight: sent, no PUBACK yet; sent: the broker has it, the cloud has not confirmed it. */
  state: 'pending' | 'inflight' | 'sent' | 'done';
}

export interface OutboxStats {
  depth: number;
  bytes: number;
  droppedRoutine: number;
  full: boolean;
  segments: number;
}

export class OutboxError extends CustomsError {}

const HEADER = 8;
const DROPPED = 0x8000_0000;
/** Above this many unacknowledged bytes, payloads are dropped from memory once written and read back when sent. */
const MEMORY_CAP = 16 * 1024 * 1024;
const SEG_RE = /^seg-(\d{12})\.log$/;

interface Segment {
  n: number;
  path: string;
  ackPath: string;
  entries: OutboxEntry[];
  live: number;
  /** Bytes assigned to the segment (what it will hold once every queued write is done). */
  bytes: number;
  /** Bytes the flusher has written so far; compaction only touches segments fully written. */
  written: number;
}

function segName(n: number): string {
  return `seg-${String(n).padStart(12, '0')}`;
}

/** Bytes before the payload in a record body: priority, topic length, topic, id length, id. */
function payloadStart(body: Buffer): number {
  const tlen = body.readUInt16LE(1);
  return 3 + tlen + 1 + body.readUInt8(3 + tlen);
}

function encodeRecord(topic: string, priority: Priority, payload: Buffer, id: string): Buffer {
  const t = Buffer.from(topic, 'utf8');
  const i = Buffer.from(id, 'utf8');
  if (i.length > 255) throw new OutboxError('E_OUTBOX_ID', `message id "${id.slice(0, 40)}..." longer than 255 bytes`);
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

export class Outbox extends EventEmitter<{ appended: []; full: [boolean] }> {
  private readonly opts: Required<Omit<OutboxOptions, 'log'>>;
  private readonly log: Logger;
  private segments: Segment[] = [];
  private active!: Segment;
  /** The segment file the flusher appends to (it may lag `active` by the queued writes). */
  private fd = -1;
  private fdSeg: Segment | undefined;
  private readFds = new Map<number, number>();
  private ackFd = -1;
  private ackFdSeg: Segment | undefined;
  private diskBytes = 0;
  private liveCount = 0;
  private liveBytes = 0;
  /** Unresolved routine entries: when there are none, a full journal has nothing to drop. */
  private liveRoutine = 0;
  private dropped = 0;
  private isFull = false;
  private pendingWrites: { rec: Buffer; entry: OutboxEntry; seg: Segment }[] = [];
  private waiters: { resolve: (e: OutboxEntry | undefined) => void; reject: (e: Error) => void; entry: OutboxEntry | undefined }[] = [];
  private flushScheduled = false;
  private flushing: Promise<void> | undefined;
  private pendingAcks = new Map<Segment, number[]>();
  private ackScheduled = false;
  private fsyncTimer: NodeJS.Timeout | undefined;
  private dirty = false;
  private closed = false;
  /** Entries recovered from disk at open, in journal order, not yet handed out. */
  private recovered: OutboxEntry[] = [];

  private constructor(opts: OutboxOptions) {
    super();
    this.opts = { fsyncInterval_ms: 1000, ...opts } as Required<Omit<OutboxOptions, 'log'>>;
    this.log = opts.log ?? silentLogger;
  }

  /** Opens (creating) the journal, cuts torn tails and returns it with its unacknowledged entries ready for replay. */
  static async open(opts: OutboxOptions): Promise<Outbox> {
    const ob = new Outbox(opts);
    ob.recover();
    ob.newSegment();
    if (opts.fsync === 'interval') {
      ob.fsyncTimer = setInterval(() => ob.syncIfDirty(), ob.opts.fsyncInterval_ms);
      ob.fsyncTimer.unref();
    }
    return ob;
  }

  /** Entries found on disk at open that still need to be sent, oldest first (each returned once). */
  takeRecovered(): OutboxEntry[] {
    const r = this.recovered;
    this.recovered = [];
    return r;
  }

  /**
   * Journals one message. Resolves with the entry once it is on disk per the fsync policy, or with undefined
   * when a routine message had to be dropped because the journal is full of critical ones.
   */
  append(topic: string, priority: Priority, payload: Buffer, id = ''): Promise<OutboxEntry | undefined> {
    if (this.closed) return Promise.reject(new OutboxError('E_OUTBOX_CLOSED', 'outbox is closed'));
    const rec = encodeRecord(topic, priority, payload, id);
    if (!this.makeRoom(rec.length, priority)) {
      this.dropped++;
      this.setFull(true);
      return Promise.resolve(undefined);
    }
    if (this.active.bytes > 0 && this.active.bytes + rec.length > this.opts.segmentBytes) this.rollSegment();
    const seg = this.active;
    const entry: OutboxEntry = {
      topic,
      priority,
      id,
      seg: seg.n,
      idx: seg.entries.length,
      offset: seg.bytes,
      size: rec.length,
      payload,
      state: 'pending',
    };
    seg.entries.push(entry);
    seg.live++;
    seg.bytes += rec.length;
    this.diskBytes += rec.length;
    this.liveCount++;
    this.liveBytes += rec.length;
    if (priority === 'routine') this.liveRoutine++;
    this.pendingWrites.push({ rec, entry, seg });
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject, entry });
      this.scheduleFlush();
    });
  }

  /** Reads an entry's payload back from its segment (for replay after it left memory). */
  payloadOf(e: OutboxEntry): Buffer {
    if (e.payload) return e.payload;
    const seg = this.segments.find((s) => s.n === e.seg);
    if (!seg) throw new OutboxError('E_OUTBOX_LOST', `segment ${e.seg} of entry ${e.idx} is gone`);
    const buf = Buffer.allocUnsafe(e.size);
    let fd = this.readFds.get(seg.n);
    if (fd === undefined) this.readFds.set(seg.n, (fd = openSync(seg.path, 'r')));
    readSync(fd, buf, 0, e.size, e.offset);
    return buf.subarray(HEADER + payloadStart(buf.subarray(HEADER)));
  }

  /** The broker acknowledged the entry: it will never be sent again. */
  ack(e: OutboxEntry): void {
    this.resolve(e, false);
  }

  stats(): OutboxStats {
    return { depth: this.liveCount, bytes: this.diskBytes, droppedRoutine: this.dropped, full: this.isFull, segments: this.segments.length };
  }

  /** Waits for queued writes, writes pending acks, fsyncs and closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.fsyncTimer) clearInterval(this.fsyncTimer);
    while (this.pendingWrites.length || this.flushing) await this.flush();
    this.writeAcks();
    if (this.fd >= 0) {
      if (this.opts.fsync !== 'never') fsyncSync(this.fd);
      closeSync(this.fd);
    }
    this.fd = -1;
    this.closeAckFd();
    for (const fd of this.readFds.values()) closeSync(fd);
    this.readFds.clear();
    this.removeAllListeners();
  }

  // ---- recovery -------------------------------------------------------------------------------------------

  private recover(): void {
    mkdirSync(this.opts.dir, { recursive: true });
    const names = readdirSync(this.opts.dir)
      .filter((f) => SEG_RE.test(f))
      .sort();
    for (const name of names) {
      const n = Number(SEG_RE.exec(name)![1]);
      const seg = this.loadSegment(n);
      if (seg.live === 0) {
        this.deleteSegmentFiles(seg);
        continue;
      }
      this.segments.push(seg);
      this.diskBytes += seg.bytes;
      for (const e of seg.entries) {
        if (e.state === 'pending') {
          this.recovered.push(e);
          if (e.priority === 'routine') this.liveRoutine++;
          this.liveCount++;
          this.liveBytes += e.size;
        }
      }
    }
    if (this.recovered.length) {
      this.log.info({ entries: this.recovered.length, segments: this.segments.length }, 'outbox: replaying journal');
    }
  }

  private loadSegment(n: number): Segment {
    const path = join(this.opts.dir, `${segName(n)}.log`);
    const ackPath = join(this.opts.dir, `${segName(n)}.ack`);
    const data = readFileSync(path);
    const seg: Segment = { n, path, ackPath, entries: [], live: 0, bytes: 0, written: 0 };
    let off = 0;
    while (off + HEADER <= data.length) {
      const len = data.readUInt32LE(off);
      if (len < 3 || off + HEADER + len > data.length) break;
      const body = data.subarray(off + HEADER, off + HEADER + len);
      if (crc32(body) !== data.readUInt32LE(off + 4)) break;
      const tlen = body.readUInt16LE(1);
      if (3 + tlen + 1 > len || payloadStart(body) > len) break;
      const ilen = body.readUInt8(3 + tlen);
      seg.entries.push({
        topic: body.toString('utf8', 3, 3 + tlen),
        priority: body.readUInt8(0) === 1 ? 'critical' : 'routine',
        id: body.toString('utf8', 4 + tlen, 4 + tlen + ilen),
        seg: n,
        idx: seg.entries.length,
        offset: off,
        size: HEADER + len,
        payload: undefined,
        state: 'pending',
      });
      off += HEADER + len;
    }
    if (off < data.length) {
      this.log.warn({ file: path, at: off, size: data.length }, 'outbox: torn or corrupt record at tail, cutting it off');
      const fd = openSync(path, 'r+');
      try {
        ftruncateSync(fd, off);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    seg.bytes = off;
    seg.written = off;
    let acks: Buffer = Buffer.alloc(0);
    try {
      acks = readFileSync(ackPath);
    } catch {
      /* no acks yet */
    }
    for (let i = 0; i + 4 <= acks.length; i += 4) {
      const v = acks.readUInt32LE(i);
      const e = seg.entries[v & ~DROPPED];
      if (e) e.state = 'done';
    }
    seg.live = seg.entries.filter((e) => e.state !== 'done').length;
    return seg;
  }

  /** Starts a new (logical) segment; its file is created by the flusher with the first record written to it. */
  private newSegment(): void {
    const last = this.segments[this.segments.length - 1];
    const n = last ? last.n + 1 : 1;
    const seg: Segment = {
      n,
      path: join(this.opts.dir, `${segName(n)}.log`),
      ackPath: join(this.opts.dir, `${segName(n)}.ack`),
      entries: [],
      live: 0,
      bytes: 0,
      written: 0,
    };
    this.segments.push(seg);
    this.active = seg;
  }

  private rollSegment(): void {
    const old = this.active;
    this.newSegment();
    if (old.live === 0) this.retire(old);
  }

  // ---- writing --------------------------------------------------------------------------------------------

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  /** Group commit: everything appended since the last flush goes out in as few writes as possible and one fsync. */
  private async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (!this.pendingWrites.length) return;
    const batch = this.pendingWrites;
    const waiters = this.waiters;
    this.pendingWrites = [];
    this.waiters = [];
    this.flushing = (async () => {
      try {
        let i = 0;
        while (i < batch.length) {
          const seg = batch[i]!.seg;
          let j = i;
          while (j < batch.length && batch[j]!.seg === seg) j++;
          const buf = j - i === 1 ? batch[i]!.rec : Buffer.concat(batch.slice(i, j).map((b) => b.rec));
          const fd = this.fileFor(seg);
          await writeAll(fd, buf);
          seg.written += buf.length;
          if (seg !== this.active && seg.live === 0) this.retire(seg);
          i = j;
        }
        if (this.opts.fsync === 'always' && this.fd >= 0) await fdatasync(this.fd);
        else this.dirty = true;
        // Keep payloads in memory only while the backlog is small; the rest is read back from disk when sent.
        if (this.liveBytes > MEMORY_CAP) for (const b of batch) if (b.entry.state === 'pending') b.entry.payload = undefined;
        for (const w of waiters) w.resolve(w.entry);
        this.emit('appended');
      } catch (e) {
        const err = new OutboxError('E_OUTBOX_WRITE', `outbox ${this.opts.dir}: write failed: ${(e as Error).message}`, { cause: e });
        for (const w of waiters) w.reject(err);
      }
    })();
    try {
      await this.flushing;
    } finally {
      this.flushing = undefined;
    }
  }

  /** The append fd for a segment; switching segments syncs and closes the previous file first. */
  private fileFor(seg: Segment): number {
    if (this.fdSeg === seg) return this.fd;
    if (this.fd >= 0) {
      if (this.opts.fsync !== 'never') fsyncSync(this.fd);
      closeSync(this.fd);
    }
    this.fd = openSync(seg.path, 'a');
    this.fdSeg = seg;
    return this.fd;
  }

  private syncIfDirty(): void {
    if (!this.dirty || this.fd < 0) return;
    this.dirty = false;
    try {
      fsyncSync(this.fd);
    } catch (e) {
      this.log.error({ err: e }, 'outbox: fsync failed');
    }
  }

  // ---- acks, drops and space ------------------------------------------------------------------------------

  private resolve(e: OutboxEntry, droppedFlag: boolean): void {
    if (e.state === 'done') return;
    e.state = 'done';
    e.payload = undefined;
    if (e.priority === 'routine') this.liveRoutine--;
    this.liveCount--;
    this.liveBytes -= e.size;
    const seg = this.segments.find((s) => s.n === e.seg);
    if (!seg) return;
    seg.live--;
    let list = this.pendingAcks.get(seg);
    if (!list) this.pendingAcks.set(seg, (list = []));
    list.push(droppedFlag ? (e.idx | DROPPED) >>> 0 : e.idx);
    if (!this.ackScheduled) {
      this.ackScheduled = true;
      setImmediate(() => {
        this.ackScheduled = false;
        this.writeAcks();
      });
    }
  }

  private writeAcks(): void {
    for (const [seg, idxs] of this.pendingAcks) {
      if (!this.segments.includes(seg)) continue;
      if (seg.live === 0 && seg !== this.active) {
        this.retire(seg);
        if (!this.segments.includes(seg)) continue;
      }
      const buf = Buffer.allocUnsafe(idxs.length * 4);
      idxs.forEach((v, i) => buf.writeUInt32LE(v, i * 4));
      if (this.ackFdSeg !== seg) {
        this.closeAckFd();
        this.ackFd = openSync(seg.ackPath, 'a');
        this.ackFdSeg = seg;
      }
      writeSync(this.ackFd, buf);
    }
    this.pendingAcks.clear();
    // Hysteresis: `full` clears once the link has drained the journal to half its bound.
    if (this.isFull && this.diskBytes < this.opts.maxBytes * 0.5) this.setFull(false);
  }

  private closeAckFd(): void {
    if (this.ackFd >= 0) closeSync(this.ackFd);
    this.ackFd = -1;
    this.ackFdSeg = undefined;
  }

  private closeReadFd(seg: Segment): void {
    const fd = this.readFds.get(seg.n);
    if (fd !== undefined) closeSync(fd);
    this.readFds.delete(seg.n);
  }

  private retire(seg: Segment): void {
    // A segment still being written (or the one appends go to) stays; it is retired when it rolls or at open.
    if (seg === this.active || seg.written < seg.bytes) return;
    if (this.fdSeg === seg) {
      closeSync(this.fd);
      this.fd = -1;
      this.fdSeg = undefined;
    }
    if (this.ackFdSeg === seg) this.closeAckFd();
    this.closeReadFd(seg);
    this.segments = this.segments.filter((s) => s !== seg);
    this.pendingAcks.delete(seg);
    this.diskBytes -= seg.bytes;
    this.deleteSegmentFiles(seg);
  }

  private deleteSegmentFiles(seg: Segment): void {
    for (const p of [seg.path, seg.ackPath]) {
      try {
        unlinkSync(p);
      } catch {
        /* already gone */
      }
    }
  }

  /**
   * Frees space for `need` bytes by dropping routine records from the oldest segments and compacting them.
   * Returns false when a routine record cannot be placed; a critical one is always placed, over the bound if
   * the journal holds nothing but critical records.
   */
  private makeRoom(need: number, priority: Priority): boolean {
    if (this.diskBytes + need <= this.opts.maxBytes) return true;
    this.writeAcks();
    for (const seg of this.liveRoutine > 0 ? [...this.segments] : []) {
      if (this.diskBytes + need <= this.opts.maxBytes) break;
      if (seg === this.active) {
        // The active segment can only lose routine records by rolling it first.
        if (!seg.entries.some((e) => droppable(e))) continue;
        this.rollSegment();
      }
      let droppedHere = 0;
      for (const e of seg.entries) {
        if (droppable(e)) {
          this.resolve(e, true);
          droppedHere++;
        }
      }
      if (droppedHere === 0 && seg.live === seg.entries.length) continue;
      this.dropped += droppedHere;
      if (droppedHere) {
        this.setFull(true);
        this.log.warn({ segment: seg.n, dropped: droppedHere }, 'outbox full: dropped oldest routine telemetry');
      }
      this.writeAcks();
      if (seg.live > 0 && this.segments.includes(seg) && seg.written === seg.bytes && this.fdSeg !== seg) this.compact(seg);
      else if (seg.live === 0) this.retire(seg);
    }
    if (this.diskBytes + need <= this.opts.maxBytes) return true;
    this.setFull(true);
    if (priority === 'critical') {
      this.log.warn({ bytes: this.diskBytes, max: this.opts.maxBytes }, 'outbox full of critical messages: keeping a critical one over the bound');
      return true;
    }
    return false;
  }

  /** Rewrites a segment with only its live records (atomic rename), so dropped records give their space back. */
  private compact(seg: Segment): void {
    const src = openSync(seg.path, 'r');
    const tmp = `${seg.path}.compact`;
    const dst = openSync(tmp, 'w');
    let off = 0;
    const keep: OutboxEntry[] = [];
    try {
      for (const e of seg.entries) {
        if (e.state === 'done') continue;
        const buf = Buffer.allocUnsafe(e.size);
        readSync(src, buf, 0, e.size, e.offset);
        writeSync(dst, buf);
        e.offset = off;
        e.idx = keep.length;
        off += e.size;
        keep.push(e);
      }
      fsyncSync(dst);
    } finally {
      closeSync(src);
      closeSync(dst);
    }
    this.closeReadFd(seg);
    if (this.ackFdSeg === seg) this.closeAckFd();
    renameSync(tmp, seg.path);
    try {
      unlinkSync(seg.ackPath);
    } catch {
      /* none */
    }
    this.diskBytes -= seg.bytes - off;
    seg.bytes = off;
    seg.written = off;
    seg.entries = keep;
    seg.live = keep.length;
  }

  private setFull(full: boolean): void {
    if (this.isFull === full) return;
    this.isFull = full;
    this.emit('full', full);
  }

  /** Bytes on disk as the OS sees them (for tests of the bound). */
  diskUsage(): number {
    return readdirSync(this.opts.dir).reduce((sum, f) => sum + statSync(join(this.opts.dir, f)).size, 0);
  }
}

/** Routine telemetry not on the wire right now: unsent, or with the broker but not yet confirmed by the cloud. */
function droppable(e: OutboxEntry): boolean {
  return e.priority === 'routine' && (e.state === 'pending' || e.state === 'sent');
}

async function writeAll(fd: number, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    off += await new Promise<number>((resolve, reject) =>
      writeCb(fd, buf, off, buf.length - off, null, (err, n) => (err ? reject(err) : resolve(n))),
    );
  }
}

function fdatasync(fd: number): Promise<void> {
  return new Promise<void>((resolve, reject) => fdatasyncCb(fd, (err) => (err ? reject(err) : resolve())));
}
