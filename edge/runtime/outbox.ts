// Durable outbox: every summary is journalled on disk before it is published and forgotten only after PUBACK.
//
// Layout of the outbox directory:
//   seg-<n>.log  records appended in order; n increases forever (zero-padded), so name order is journal order
//   seg-<n>.ack  4-byte little-endian record indices of that segment that were acknowledged (or dropped: high bit)
// A record (outbox-record.ts) is  u32 len | u32 crc32 | u8 priority | u16 topicLen | topic | u8 idLen | id | payload
// (len counts what follows crc). The id is the caller's name for the message (`<boot>:<seq>`), matched by cloud acknowledgements.
// A torn record at the tail (power cut mid-write) fails its length or CRC check and is cut off on open.
// Ack records are not fsynced: losing one only re-sends a message, which the cloud drops as a duplicate by
// (node, boot, seq). A segment whose records are all resolved is deleted; when the journal is over its size
// bound, the oldest segments lose their routine records first and are compacted; critical records are kept.
// A write the disk refuses (ENOSPC, EIO, cut short) journals nothing: the segment is cut back to its last good
// record, the refused entries leave the index, appends go on in a fresh segment, and the appender gets the error
// (OutboxWriteError) to keep the message and append it again. Records read back from disk are checked (length,
// CRC32, topic and id) before their payload is handed out.
import {
  closeSync,
  fdatasync as fdatasyncCb,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  truncateSync,
  unlinkSync,
  write as writeCb,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { EventEmitter } from 'node:events';
import type { Logger } from '../../common/log.js';
import { silentLogger } from '../../common/log.js';
import { CustomsError } from '../../common/errors.js';
import { decodeRecord, encodeRecord, MAX_ID_BYTES } from './outbox-record.js';

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
  /** At the size bound, or the disk refuses writes (until a write succeeds again). */
  full: boolean;
  segments: number;
  /** Writes the disk refused (each failed the appends of its batch). */
  writeFailures: number;
  /** Entries whose record failed its check when read back: dropped, never counted as delivered. */
  corrupt: number;
}

export class OutboxError extends CustomsError {}

/**
 * The disk refused a write (code E_OUTBOX_NOSPACE for ENOSPC/EDQUOT, else E_OUTBOX_WRITE): nothing of the
 * refused records is in the journal, so the appender still owns the message and may append it again.
 */
export class OutboxWriteError extends OutboxError {}

const DROPPED = 0x8000_0000;
/** Above this many unacknowledged bytes, payloads are dropped from memory once written and read back when sent. */
const MEMORY_CAP = 16 * 1024 * 1024;
const SEG_RE = /^seg-(\d{12})\.log$/;

interface PendingWrite {
  rec: Buffer;
  entry: OutboxEntry;
  seg: Segment;
}

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
  /** The last write failed: `full` holds until one succeeds. */
  private refusing = false;
  private writeFailures = 0;
  private corrupt = 0;
  /** Acknowledgements the disk refused to take; retried with the next ones. */
  private ackRefused = false;
  private pendingWrites: PendingWrite[] = [];
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
   * when a routine message had to be dropped because the journal is full of critical ones. Rejects with an
   * OutboxWriteError when the disk refused the write: nothing of the message is journalled, the caller keeps it.
   */
  append(topic: string, priority: Priority, payload: Buffer, id = ''): Promise<OutboxEntry | undefined> {
    if (this.closed) return Promise.reject(new OutboxError('E_OUTBOX_CLOSED', 'outbox is closed'));
    if (Buffer.byteLength(id) > MAX_ID_BYTES) {
      return Promise.reject(new OutboxError('E_OUTBOX_ID', `message id "${id.slice(0, 40)}..." longer than ${MAX_ID_BYTES} bytes`));
    }
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

  /**
   * Reads an entry's payload back from its segment (for replay after it left memory). The record must be the
   * entry's own, whole and intact (length, CRC32, topic and id); anything else throws E_OUTBOX_CORRUPT, and the
   * caller hands the entry to discard(), never to ack().
   */
  payloadOf(e: OutboxEntry): Buffer {
    if (e.payload) return e.payload;
    const seg = this.segments.find((s) => s.n === e.seg);
    if (!seg) throw new OutboxError('E_OUTBOX_LOST', `outbox ${this.opts.dir}: segment ${e.seg} of entry ${e.idx} (${e.id || e.topic}) is gone`);
    const where = `outbox ${seg.path}: record ${e.idx} (${e.id || e.topic}) at offset ${e.offset}`;
    const buf = Buffer.alloc(e.size);
    let got: number;
    try {
      let fd = this.readFds.get(seg.n);
      if (fd === undefined) this.readFds.set(seg.n, (fd = openSync(seg.path, 'r')));
      got = readSync(fd, buf, 0, e.size, e.offset);
    } catch (err) {
      throw new OutboxError('E_OUTBOX_CORRUPT', `${where}: cannot be read: ${(err as Error).message}`, { cause: err });
    }
    if (got < e.size) throw new OutboxError('E_OUTBOX_CORRUPT', `${where}: only ${got} of its ${e.size} bytes are on disk`);
    const rec = decodeRecord(buf);
    if (!rec || rec.size !== e.size) {
      throw new OutboxError('E_OUTBOX_CORRUPT', `${where}: length or CRC32 check failed (expected a ${e.size}-byte record)`);
    }
    if (rec.topic !== e.topic || rec.id !== e.id) {
      throw new OutboxError('E_OUTBOX_CORRUPT', `${where}: holds another record (${rec.id || rec.topic}); the index is stale`);
    }
    return rec.payload;
  }

  /** The broker acknowledged the entry: it will never be sent again. */
  ack(e: OutboxEntry): void {
    this.resolve(e, false);
  }

  /**
   * An entry whose record payloadOf() could not hand out: it is dropped from the journal as undeliverable,
   * counted in stats().corrupt and logged, so it is neither sent with a wrong payload nor counted as delivered.
   */
  discard(e: OutboxEntry, err: Error): void {
    if (e.state === 'done') return;
    this.corrupt++;
    this.log.error({ segment: e.seg, idx: e.idx, id: e.id, err: err.message }, 'outbox: journal record unreadable, dropped as undeliverable');
    this.resolve(e, true);
  }

  stats(): OutboxStats {
    return {
      depth: this.liveCount,
      bytes: this.diskBytes,
      droppedRoutine: this.dropped,
      full: this.isFull || this.refusing,
      segments: this.segments.length,
      writeFailures: this.writeFailures,
      corrupt: this.corrupt,
    };
  }

  /** Waits for queued writes, writes pending acks, fsyncs and closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.fsyncTimer) clearInterval(this.fsyncTimer);
    while (this.pendingWrites.length || this.flushing) await this.flush();
    this.writeAcks();
    if (this.pendingAcks.size) {
      this.log.warn({ dir: this.opts.dir }, 'outbox: closing with acknowledgements the disk refused; their messages are sent again after reopen');
    }
    try {
      this.closeAppendFd(this.opts.fsync !== 'never');
    } catch (e) {
      this.log.error({ dir: this.opts.dir, err: (e as Error).message }, 'outbox: final fsync failed');
    }
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
    for (let rec = decodeRecord(data, off); rec; rec = decodeRecord(data, off)) {
      seg.entries.push({
        topic: rec.topic,
        priority: rec.priority,
        id: rec.id,
        seg: n,
        idx: seg.entries.length,
        offset: off,
        size: rec.size,
        payload: undefined,
        state: 'pending',
      });
      off += rec.size;
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
        await this.writeBatch(batch);
      } catch (e) {
        const err = this.refuse(batch, e);
        for (const w of waiters) w.reject(err);
        return;
      }
      if (this.refusing) {
        this.refusing = false;
        this.log.info({ dir: this.opts.dir }, 'outbox: the disk takes writes again');
        this.emitFull();
      }
      // Keep payloads in memory only while the backlog is small; the rest is read back from disk when sent.
      if (this.liveBytes > MEMORY_CAP) for (const b of batch) if (b.entry.state === 'pending') b.entry.payload = undefined;
      for (const w of waiters) w.resolve(w.entry);
      this.emit('appended');
    })();
    try {
      await this.flushing;
    } finally {
      this.flushing = undefined;
    }
  }

  private async writeBatch(batch: PendingWrite[]): Promise<void> {
    let i = 0;
    while (i < batch.length) {
      const seg = batch[i]!.seg;
      let j = i;
      while (j < batch.length && batch[j]!.seg === seg) j++;
      const buf = j - i === 1 ? batch[i]!.rec : Buffer.concat(batch.slice(i, j).map((b) => b.rec));
      const fd = this.fileFor(seg);
      await writeAll(fd, buf);
      seg.written += buf.length;
      i = j;
    }
    if (this.opts.fsync === 'always' && this.fd >= 0) await fdatasync(this.fd);
    else this.dirty = true;
    // Segments whose records all resolved while their write was in flight go once the batch is safely written.
    for (const seg of new Set(batch.map((b) => b.seg))) if (seg !== this.active && seg.live === 0) this.retire(seg);
  }

  /**
   * The disk refused part of a group commit (or its fsync): none of its records counts as written, nor do the
   * appends queued behind it, whose offsets assumed it. Each segment they went to is cut back to its first refused
   * record and its index with it; appends go on in a fresh segment, so no record index or offset of the refused
   * ones is ever reused (an acknowledgement written for one cannot hit a later record). Returns the appenders' error.
   */
  private refuse(batch: PendingWrite[], cause: unknown): OutboxWriteError {
    const failed = [...batch, ...this.pendingWrites];
    const laterWaiters = this.waiters;
    this.pendingWrites = [];
    this.waiters = [];
    this.closeAppendFd(false);
    const gone = new Set(failed.map((w) => w.entry));
    const cut = new Map<Segment, number>();
    for (const w of failed) if (!cut.has(w.seg)) cut.set(w.seg, w.entry.offset);
    for (const [seg, off] of cut) {
      for (const e of seg.entries) {
        if (!gone.has(e)) continue;
        if (e.state !== 'done') {
          seg.live--;
          this.liveCount--;
          this.liveBytes -= e.size;
          if (e.priority === 'routine') this.liveRoutine--;
        }
        e.state = 'done';
        e.payload = undefined;
      }
      seg.entries = seg.entries.filter((e) => !gone.has(e));
      this.diskBytes -= seg.bytes - off;
      seg.bytes = off;
      seg.written = off;
      try {
        truncateSync(seg.path, off);
      } catch (e) {
        // Left on disk they come back at the next open under the same ids, which the cloud drops as duplicates.
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
          this.log.error({ file: seg.path, at: off, err: (e as Error).message }, 'outbox: cannot cut refused records off the segment');
        }
      }
    }
    if (cut.has(this.active)) this.newSegment();
    for (const seg of cut.keys()) if (seg !== this.active && seg.live === 0) this.retire(seg);
    const errno = (cause as NodeJS.ErrnoException).code;
    const nospace = errno === 'ENOSPC' || errno === 'EDQUOT';
    const files = [...cut.keys()].map((s) => `${segName(s.n)}.log`).join(', ');
    const err = new OutboxWriteError(
      nospace ? 'E_OUTBOX_NOSPACE' : 'E_OUTBOX_WRITE',
      `outbox ${this.opts.dir}: ${files}: the disk refused the write of ${failed.length} records (${(cause as Error).message}); ` +
        'none of them is journalled: append them again once the disk takes writes',
      { cause },
    );
    this.writeFailures++;
    if (!this.refusing) {
      this.refusing = true;
      this.log.error({ dir: this.opts.dir, records: failed.length, err: (cause as Error).message }, 'outbox: disk refuses writes; appends are refused until it takes them again');
      this.emitFull();
    } else {
      this.log.debug({ records: failed.length, err: (cause as Error).message }, 'outbox: disk still refuses writes');
    }
    for (const w of laterWaiters) w.reject(err);
    return err;
  }

  /** The append fd for a segment; switching segments syncs and closes the previous file first. */
  private fileFor(seg: Segment): number {
    if (this.fdSeg === seg) return this.fd;
    this.closeAppendFd(this.opts.fsync !== 'never');
    this.fd = openSync(seg.path, 'a');
    this.fdSeg = seg;
    return this.fd;
  }

  /** Closes the append fd, with an fsync first when asked (not after a refused write: it would only fail again). */
  private closeAppendFd(sync: boolean): void {
    const fd = this.fd;
    this.fd = -1;
    this.fdSeg = undefined;
    if (fd < 0) return;
    try {
      if (sync) fsyncSync(fd);
    } finally {
      try {
        closeSync(fd);
      } catch {
        // The fd is released either way; after a refused write there is nothing more to lose.
      }
    }
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
      if (seg.live === 0 && seg !== this.active) this.retire(seg);
      if (!this.segments.includes(seg)) {
        this.pendingAcks.delete(seg);
        continue;
      }
      const buf = Buffer.allocUnsafe(idxs.length * 4);
      idxs.forEach((v, i) => buf.writeUInt32LE(v, i * 4));
      let size = -1;
      try {
        if (this.ackFdSeg !== seg) {
          this.closeAckFd();
          this.ackFd = openSync(seg.ackPath, 'a');
          this.ackFdSeg = seg;
        }
        size = fstatSync(this.ackFd).size;
        writeAllSync(this.ackFd, buf);
        this.pendingAcks.delete(seg);
        if (this.ackRefused) {
          this.ackRefused = false;
          this.log.info({ file: seg.ackPath }, 'outbox: acknowledgements written again');
        }
      } catch (e) {
        // Kept for the next try. A 4-byte index cut short would shift every later one: cut the file back first.
        this.ackWriteRefused(seg, size, e as Error);
      }
    }
    // Hysteresis: `full` clears once the link has drained the journal to half its bound.
    if (this.isFull && this.diskBytes < this.opts.maxBytes * 0.5) this.setFull(false);
  }

  private ackWriteRefused(seg: Segment, size: number, err: Error): void {
    if (size >= 0) {
      try {
        ftruncateSync(this.ackFd, size);
      } catch (e) {
        this.log.error({ file: seg.ackPath, err: (e as Error).message }, 'outbox: cannot cut a refused acknowledgement off');
      }
    }
    this.closeAckFd();
    if (!this.ackRefused) {
      this.ackRefused = true;
      this.log.warn({ file: seg.ackPath, err: err.message }, 'outbox: disk refused acknowledgements; keeping them to write later');
    }
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
    if (this.fdSeg === seg) this.closeAppendFd(false);
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
      if (seg.live > 0 && this.segments.includes(seg) && seg.written === seg.bytes && this.fdSeg !== seg) this.tryCompact(seg);
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

  /** Compaction is an optimisation: when the disk refuses it, the segment stays as it was, index included. */
  private tryCompact(seg: Segment): void {
    try {
      this.compact(seg);
    } catch (e) {
      try {
        unlinkSync(`${seg.path}.compact`);
      } catch {
        /* never created */
      }
      this.log.warn({ file: seg.path, err: (e as Error).message }, 'outbox: compaction failed; segment kept as it is');
    }
  }

  /**
   * Rewrites a segment with only its live records (atomic rename), so dropped records give their space back. The
   * index takes the new offsets only once the new file is in place.
   */
  private compact(seg: Segment): void {
    const src = openSync(seg.path, 'r');
    const tmp = `${seg.path}.compact`;
    let off = 0;
    const keep: { e: OutboxEntry; offset: number }[] = [];
    try {
      const dst = openSync(tmp, 'w');
      try {
        for (const e of seg.entries) {
          if (e.state === 'done') continue;
          const buf = Buffer.alloc(e.size);
          if (readSync(src, buf, 0, e.size, e.offset) !== e.size) throw new OutboxError('E_OUTBOX_CORRUPT', `outbox ${seg.path}: record ${e.idx} cut short`);
          writeAllSync(dst, buf);
          keep.push({ e, offset: off });
          off += e.size;
        }
        fsyncSync(dst);
      } finally {
        closeSync(dst);
      }
    } finally {
      closeSync(src);
    }
    this.closeReadFd(seg);
    if (this.ackFdSeg === seg) this.closeAckFd();
    renameSync(tmp, seg.path);
    try {
      unlinkSync(seg.ackPath);
    } catch {
      /* none */
    }
    keep.forEach((k, i) => {
      k.e.offset = k.offset;
      k.e.idx = i;
    });
    this.diskBytes -= seg.bytes - off;
    seg.bytes = off;
    seg.written = off;
    seg.entries = keep.map((k) => k.e);
    seg.live = keep.length;
  }

  private setFull(full: boolean): void {
    if (this.isFull === full) return;
    const was = this.isFull || this.refusing;
    this.isFull = full;
    if (was !== (this.isFull || this.refusing)) this.emit('full', !was);
  }

  /** After `refusing` changed: `full` is either cause. */
  private emitFull(): void {
    if (!this.isFull) this.emit('full', this.refusing);
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

/** A write cut short is continued; one that makes no progress is an error (the disk took nothing). */
async function writeAll(fd: number, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const n = await new Promise<number>((resolve, reject) =>
      writeCb(fd, buf, off, buf.length - off, null, (err, n) => (err ? reject(err) : resolve(n))),
    );
    if (n <= 0) throw Object.assign(new Error(`write took ${n} of ${buf.length - off} bytes`), { code: 'EIO' });
    off += n;
  }
}

function writeAllSync(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) {
    const n = writeSync(fd, buf, off, buf.length - off);
    if (n <= 0) throw Object.assign(new Error(`write took ${n} of ${buf.length - off} bytes`), { code: 'EIO' });
    off += n;
  }
}

function fdatasync(fd: number): Promise<void> {
  return new Promise<void>((resolve, reject) => fdatasyncCb(fd, (err) => (err ? reject(err) : resolve())));
}
