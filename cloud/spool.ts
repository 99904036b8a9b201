// The aggregator's write-ahead spool: accepted points as line protocol in segment files, drained in order to the sink.
import {
  closeSync,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import { CustomsError } from '../common/errors.js';
import { logger, type Logger } from '../common/log.js';

/*
 * Layout: <dir>/<16-digit number>.lp, oldest first; the last one is appended to. A record is the lines of one
 * message, each ending in '\n', written with one synchronous write() before the message is acknowledged, so it is
 * in the page cache (and survives a kill of the process) when the broker forgets the message; fsync decides
 * whether it also survives a power cut. Segments are deleted once the sink has taken all of their lines. Commit
 * offsets are not persisted: after a restart every remaining segment is replayed from its start, which rewrites
 * at most one segment of points InfluxDB already has, harmless because point timestamps are deterministic.
 */

export type FsyncPolicy = 'always' | 'interval' | 'never';

export interface SpoolOptions {
  dir: string;
  maxBytes: number;
  fsync: FsyncPolicy;
  fsyncInterval_ms: number;
  /** A segment is sealed once it grows past this (default 8 MiB). */
  segmentBytes?: number;
  log?: Logger;
}

/** A run of whole lines read from the spool; hand it back to commit() once the sink has it. */
export interface SpoolBatch {
  data: Buffer;
  lines: number;
  /** True when more data follows in a sealed segment, i.e. the batch is not the live tail. */
  sealed: boolean;
  readonly seg: number;
  readonly start: number;
  readonly end: number;
}

export class SpoolError extends CustomsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_SPOOL', message, options);
  }
}

interface Segment {
  no: number;
  file: string;
  size: number;
  /** Append descriptor (active segment only). */
  wfd?: number;
  /** fdatasync calls in flight on wfd; its close waits for them. */
  syncing: number;
  closeWhenSynced: boolean;
}

const NAME_RE = /^(\d{16})\.lp$/;
/** Spool directories open in this process (a LOCK holding our own pid may be left by an earlier container run). */
const openHere = new Set<string>();
const NL = 10;

function segName(no: number): string {
  return `${String(no).padStart(16, '0')}.lp`;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class Spool {
  private readonly log: Logger;
  private readonly segmentBytes: number;
  private segments: Segment[] = [];
  /** Read position inside segments[0]. */
  private cursor = 0;
  private rfd: number | undefined;
  private rfdSeg = -1;
  private appendedBytes = 0;
  private committedBytes = 0;
  private appendedLines = 0;
  private pendingLineCount = 0;
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private spaceWaiters: (() => void)[] = [];
  private commitWaiters: { mark: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  private lockFile: string;
  private opened = false;
  /** Bytes per line seen so far, to size reads so one read holds about one batch. */
  private avgLine = 256;
  private replayedBytes = 0;

  constructor(private readonly opts: SpoolOptions) {
    this.log = opts.log ?? logger('spool');
    this.segmentBytes = opts.segmentBytes ?? 8 * 1024 * 1024;
    this.lockFile = join(opts.dir, 'LOCK');
  }

  /** Bytes accepted but not yet taken by the sink (what maxBytes limits). */
  get pendingBytes(): number {
    return this.appendedBytes - this.committedBytes;
  }

  /** Lines appended since open and not yet committed; replayed segments count as a full batch (see readBatch). */
  get pendingLines(): number {
    return this.pendingLineCount;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /** Bytes found in the spool at open, to be replayed. */
  get replayed(): number {
    return this.replayedBytes;
  }

  get full(): boolean {
    return this.pendingBytes >= this.opts.maxBytes;
  }

  /** Logical position after everything appended so far; see waitCommitted(). */
  mark(): number {
    return this.appendedBytes;
  }

  get committed(): number {
    return this.committedBytes;
  }

  open(): void {
    if (this.opened) return;
    mkdirSync(this.opts.dir, { recursive: true });
    this.lock();
    try {
      this.load();
    } catch (e) {
      for (const seg of this.segments) this.closeWfd(seg);
      this.segments = [];
      this.appendedBytes = this.replayedBytes = 0;
      rmSync(this.lockFile, { force: true });
      openHere.delete(resolvePath(this.opts.dir));
      throw e;
    }
    if (this.opts.fsync === 'interval') {
      this.timer = setInterval(() => this.syncActive(), this.opts.fsyncInterval_ms);
      this.timer.unref();
    }
    this.opened = true;
  }

  private load(): void {
    const names = readdirSync(this.opts.dir)
      .filter((n) => NAME_RE.test(n))
      .sort();
    let next = 0;
    for (const name of names) {
      const no = Number(NAME_RE.exec(name)![1]);
      next = Math.max(next, no + 1);
      const file = join(this.opts.dir, name);
      const size = this.repairTail(file);
      if (size === 0) {
        unlinkSync(file);
        continue;
      }
      this.segments.push({ no, file, size, syncing: 0, closeWhenSynced: false });
      this.appendedBytes += size;
      this.replayedBytes += size;
    }
    if (this.replayedBytes > 0) {
      this.log.info({ segments: this.segments.length, bytes: this.replayedBytes }, 'replaying spool left by the previous run');
    }
    this.newSegment(next);
  }

  /** One spool directory per process: a second aggregator on the same directory would replay and delete behind the first. */
  private lock(): void {
    const key = resolvePath(this.opts.dir);
    if (openHere.has(key)) {
      throw new SpoolError(`spool ${this.opts.dir}: already open in this process; give each aggregator its own spool.dir`);
    }
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        writeFileSync(this.lockFile, String(process.pid), { flag: 'wx' });
        openHere.add(key);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const pid = Number(readFileSync(this.lockFile, 'utf8').trim());
        // Our own pid in the file is stale: this process does not have the directory open (checked above), so it
        // comes from an earlier run that had the same pid, as happens with PID 1 in a restarted container.
        if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid)) {
          throw new SpoolError(`spool ${this.opts.dir}: in use by process ${pid} (${this.lockFile}); give each aggregator its own spool.dir`);
        }
        // Left by a process that died: take it over.
        rmSync(this.lockFile, { force: true });
      }
    }
    throw new SpoolError(`spool ${this.opts.dir}: cannot take ${this.lockFile}`);
  }

  /**
   * A power cut can leave a segment ending in a partial record (or zeros). Everything after the last newline is
   * cut off; such a record was never acknowledged, because the write that would have completed it had not returned.
   */
  private repairTail(file: string): number {
    const fd = openSync(file, 'r+');
    try {
      const size = fstatSync(fd).size;
      if (size === 0) return 0;
      const tailLen = Math.min(size, 1024 * 1024);
      const tail = Buffer.allocUnsafe(tailLen);
      readSync(fd, tail, 0, tailLen, size - tailLen);
      const nl = tail.lastIndexOf(NL);
      const good = nl < 0 ? size - tailLen : size - tailLen + nl + 1;
      if (good !== size) {
        this.log.warn({ file, size, kept: good }, 'spool segment ends in a partial record; cutting it off');
        ftruncateSync(fd, good);
      }
      return good;
    } finally {
      closeSync(fd);
    }
  }

  private newSegment(no: number): void {
    const file = join(this.opts.dir, segName(no));
    const wfd = openSync(file, 'wx');
    this.segments.push({ no, file, size: 0, wfd, syncing: 0, closeWhenSynced: false });
    if (this.opts.fsync === 'always') this.syncDir();
  }

  private syncDir(): void {
    let fd: number | undefined;
    try {
      fd = openSync(this.opts.dir, 'r');
      fdatasyncSync(fd);
    } catch {
      /* not every file system lets a directory be synced; the file data itself is synced regardless */
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  private get active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  /**
   * Appends records (whole lines, each ending in '\n') synchronously. Returns false, writing nothing, when the
   * spool is full (unless forced); the caller then waits for waitForSpace(). Throws SpoolError when the disk refuses the write,
   * after cutting off whatever part of the record did get written.
   */
  append(text: string, lines: number, force = false): boolean {
    if (!this.opened) throw new SpoolError('spool is not open');
    if (!force && this.pendingBytes >= this.opts.maxBytes) return false;
    const seg = this.active;
    const buf = Buffer.from(text, 'utf8');
    let off = 0;
    try {
      while (off < buf.length) off += writeSync(seg.wfd!, buf, off, buf.length - off);
    } catch (e) {
      try {
        if (off > 0) ftruncateSync(seg.wfd!, seg.size);
      } catch {
        /* the segment is then repaired at the next open */
      }
      throw new SpoolError(`spool ${seg.file}: write failed (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
    }
    seg.size += buf.length;
    this.appendedBytes += buf.length;
    this.appendedLines += lines;
    this.pendingLineCount += lines;
    this.avgLine = this.avgLine * 0.99 + (buf.length / Math.max(1, lines)) * 0.01;
    if (this.opts.fsync === 'always') fdatasyncSync(seg.wfd!);
    else this.dirty = true;
    if (seg.size >= this.segmentBytes) this.seal();
    return true;
  }

  /** Closes the active segment (synced unless fsync is 'never') and starts a new one. */
  private seal(): void {
    const seg = this.active;
    if (this.opts.fsync !== 'never' && this.dirty) fdatasyncSync(seg.wfd!);
    this.dirty = false;
    this.closeWfd(seg);
    this.newSegment(seg.no + 1);
  }

  private closeWfd(seg: Segment): void {
    if (seg.wfd === undefined) return;
    if (seg.syncing > 0) {
      seg.closeWhenSynced = true;
      return;
    }
    closeSync(seg.wfd);
    seg.wfd = undefined;
  }

  private syncActive(): void {
    if (!this.dirty) return;
    const seg = this.active;
    if (seg.wfd === undefined) return;
    this.dirty = false;
    seg.syncing++;
    fdatasync(seg.wfd, (err) => {
      seg.syncing--;
      if (err) this.log.error({ err, file: seg.file }, 'spool fdatasync failed');
      if (seg.syncing === 0 && seg.closeWhenSynced && seg.wfd !== undefined) {
        closeSync(seg.wfd);
        seg.wfd = undefined;
      }
    });
  }

  /** Resolves once the spool has room again (after the sink took some of it). */
  waitForSpace(): Promise<void> {
    if (!this.full) return Promise.resolve();
    return new Promise((resolve) => this.spaceWaiters.push(resolve));
  }

  /** Resolves once everything appended before `mark` (from mark()) has been committed. */
  waitCommitted(mark: number): Promise<void> {
    if (this.committedBytes >= mark) return Promise.resolve();
    if (!this.opened) return Promise.reject(new SpoolError('spool is closed'));
    return new Promise((resolve, reject) => this.commitWaiters.push({ mark, resolve, reject }));
  }

  private readFd(seg: Segment): number {
    if (this.rfdSeg !== seg.no) {
      if (this.rfd !== undefined) closeSync(this.rfd);
      this.rfd = openSync(seg.file, 'r');
      this.rfdSeg = seg.no;
    }
    return this.rfd!;
  }

  /** The next uncommitted lines, up to maxLines, or undefined when everything is committed. */
  readBatch(maxLines: number): SpoolBatch | undefined {
    if (!this.opened) return undefined;
    let seg = this.segments[0]!;
    while (seg !== this.active && seg.size === this.cursor) {
      this.dropFirst();
      seg = this.segments[0]!;
    }
    const avail = seg.size - this.cursor;
    if (avail === 0) return undefined;
    let want = Math.min(avail, Math.max(64 * 1024, Math.ceil(this.avgLine * maxLines * 1.25)));
    const fd = this.readFd(seg);
    for (;;) {
      const buf = Buffer.allocUnsafe(want);
      const got = readSync(fd, buf, 0, want, this.cursor);
      let pos = 0;
      let lines = 0;
      while (lines < maxLines) {
        const nl = buf.indexOf(NL, pos);
        if (nl < 0 || nl >= got) break;
        pos = nl + 1;
        lines++;
      }
      if (lines === 0) {
        if (got < avail && want < avail) {
          want = Math.min(avail, want * 4); // one record longer than the read: read more
          continue;
        }
        throw new SpoolError(`spool ${seg.file}: no complete line at offset ${this.cursor}`);
      }
      let data: Buffer = buf.subarray(0, pos);
      // Zeros come from a segment a power cut left half-written; those lines were never acknowledged.
      if (data.includes(0)) data = this.dropZeroLines(seg, data);
      const sealed = seg !== this.active;
      return { data, lines, sealed, seg: seg.no, start: this.cursor, end: this.cursor + pos };
    }
  }

  private dropZeroLines(seg: Segment, data: Buffer): Buffer {
    const kept: Buffer[] = [];
    let pos = 0;
    let dropped = 0;
    while (pos < data.length) {
      const nl = data.indexOf(NL, pos);
      const line = data.subarray(pos, nl + 1);
      if (line.includes(0)) dropped++;
      else kept.push(line);
      pos = nl + 1;
    }
    this.log.warn({ file: seg.file, dropped }, 'spool lines with NUL bytes (torn by a power cut) skipped');
    return Buffer.concat(kept);
  }

  /** Marks a batch from readBatch() as taken by the sink; deletes segments that are fully taken. */
  commit(b: SpoolBatch): void {
    const seg = this.segments[0];
    if (!seg || seg.no !== b.seg || this.cursor !== b.start) {
      throw new SpoolError(`spool commit out of order: segment ${b.seg} offset ${b.start}, expected ${seg?.no} offset ${this.cursor}`);
    }
    this.cursor = b.end;
    this.committedBytes += b.end - b.start;
    this.pendingLineCount = Math.max(0, this.pendingLineCount - b.lines);
    if (this.cursor === seg.size) {
      if (seg !== this.active) {
        this.dropFirst();
      } else if (seg.size >= Math.min(this.segmentBytes, 1024 * 1024)) {
        // Everything is in the sink: start afresh so a restart does not replay this segment.
        this.seal();
        this.dropFirst();
      }
    }
    if (this.spaceWaiters.length && !this.full) {
      const ws = this.spaceWaiters.splice(0);
      for (const w of ws) w();
    }
    if (this.commitWaiters.length) {
      const ready = this.commitWaiters.filter((w) => w.mark <= this.committedBytes);
      if (ready.length) {
        this.commitWaiters = this.commitWaiters.filter((w) => w.mark > this.committedBytes);
        for (const w of ready) w.resolve();
      }
    }
  }

  private dropFirst(): void {
    const seg = this.segments.shift()!;
    if (this.rfdSeg === seg.no && this.rfd !== undefined) {
      closeSync(this.rfd);
      this.rfd = undefined;
      this.rfdSeg = -1;
    }
    this.closeWfd(seg);
    try {
      unlinkSync(seg.file);
    } catch (e) {
      this.log.error({ err: e, file: seg.file }, 'cannot delete drained spool segment');
    }
    this.cursor = 0;
  }

  /** Syncs (unless fsync is 'never') and closes the files; what is not committed stays for the next open. */
  close(): void {
    if (!this.opened) return;
    this.opened = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const seg = this.active;
    if (this.opts.fsync !== 'never' && this.dirty && seg.wfd !== undefined) fdatasyncSync(seg.wfd);
    this.dirty = false;
    for (const s of this.segments) this.closeWfd(s);
    if (this.rfd !== undefined) closeSync(this.rfd);
    this.rfd = undefined;
    this.rfdSeg = -1;
    // An empty active segment is not worth keeping.
    if (seg.size === 0 && seg.wfd === undefined) rmSync(seg.file, { force: true });
    rmSync(this.lockFile, { force: true });
    openHere.delete(resolvePath(this.opts.dir));
    this.segments = [];
    this.cursor = 0;
    for (const w of this.spaceWaiters.splice(0)) w();
    for (const w of this.commitWaiters.splice(0)) w.reject(new SpoolError('spool closed before these points reached the sink; they stay spooled'));
  }
}
