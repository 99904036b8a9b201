// Gamma spectrometer driver for instruments that write N42 files into a folder: each file read once, its spectra emitted as typed readings.
//
// Contract with the instrument (what drop-folder integrations of portal monitors and mobile systems do):
// - the instrument writes one file per measurement (or a few per file) and makes it appear atomically:
//   written under a name starting with '.' or not ending in a watched extension, then renamed. For an
//   instrument that writes in place, set `minAge_ms` so a file is read only once it has been left alone that long.
// - files are taken in name order, which instruments make their time order (sequence numbers, timestamps).
// - after a file is read, its measurements emitted and handed to the listeners (synchronously), the file is
//   marked processed: `after: 'move'` (default) moves it into `done/` — the usual drop-folder hand-shake, it keeps
//   the folder small so a restart scans only what is new, and the instrument sees what was taken; `after: 'keep'`
//   leaves it in place (a read-only share, or another consumer) and appends its name, mtime and size to a state
//   file (a journal, compacted at start), so a restart skips it; a file rewritten in place under the same name
//   counts as new.
// - a file that cannot be read as N42, is larger than `maxFileBytes` (refused from its size, unread), or holds a
//   spectrum the analysis cannot use (fewer than 8 channels, two channel counts for one detector in a measurement)
//   is moved to `rejected/` next to a `<name>.why` text with the reason, and the driver carries on. Being moved, it
//   is not met again after a restart.
// - `done/` keeps at most `doneMaxFiles` files and `doneMaxBytes` bytes; the oldest are deleted first.
// Delivery is exactly once across stop()/start(): stop() lets the file in hand finish (emitted and marked). After
// a crash between emitting and marking, that one file is read again (at least once; consumers can tell by the
// file name and measurement id).
// Change detection: fs.watch for promptness, plus a rescan every `rescan_ms` because watch events can be
// coalesced or missing (network shares, overflow); a watcher that fails leaves the rescan alone to do the job.

import { EventEmitter } from 'node:events';
import { appendFile, mkdir, readFile, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { CustomsError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { FormatError, detectFormat, measurementProblem, parseN42 } from '../../analysis/radiation/formats/index.js';
import type { Measurement } from '../../analysis/radiation/spectrum.js';
import type { Component, ComponentContext, ComponentSpec } from '../../contract/component.js';
import { errnoOf, FolderScan } from '../folder-scan.js';
import { parseDeviceOptions, stringEnum } from '../../contract/options.js';
import { FileTooLargeError, MAX_RAD_FILE_BYTES, readFileBounded } from './files.js';

export const N42FolderOptionsSchema = Type.Object(
  {
    dir: Type.String({ minLength: 1, description: 'folder the instrument writes its N42 files into' }),
    after: stringEnum(['move', 'keep'] as const, {
      default: 'move',
      description: "move: processed files go to <dir>/done/ (default); keep: left in place, remembered in a state file",
    }),
    stateFile: Type.Optional(Type.String({ minLength: 1, description: "journal of processed files for after: keep (default <dir>/.n42-folder-state)" })),
    extensions: Type.Array(Type.String({ pattern: '^\\.[A-Za-z0-9]{1,8}$' }), {
      minItems: 1,
      default: ['.n42'],
      description: 'file extensions taken, case-insensitive (.n42 also matches .N42)',
    }),
    rescan_ms: Type.Integer({ minimum: 50, maximum: 600_000, default: 2000, description: 'periodic rescan besides fs.watch' }),
    minAge_ms: Type.Integer({
      minimum: 0,
      maximum: 600_000,
      default: 0,
      description: 'take a file only once unmodified this long (instruments that write in place instead of renaming)',
    }),
    publish: Type.Boolean({ default: true, description: "put every spectrum on the node's reading bus" }),
    maxFileBytes: Type.Integer({
      minimum: 1,
      default: MAX_RAD_FILE_BYTES,
      description: 'a larger file goes to rejected/ unread (default 16 MiB; real N42 files are kB to a few MB)',
    }),
    doneMaxFiles: Type.Integer({ minimum: 0, default: 10_000, description: 'after: move: keep at most this many files in done/, the oldest deleted first' }),
    doneMaxBytes: Type.Integer({ minimum: 0, default: 1024 ** 3, description: 'after: move: keep at most this many bytes in done/ (default 1 GiB), the oldest deleted first' }),
  },
  { additionalProperties: false },
);
export type N42FolderOptions = Static<typeof N42FolderOptionsSchema>;

export type N42FolderErrorCode = 'E_DEVICE_OPEN' | 'E_DEVICE_UNPLUGGED' | 'E_DEVICE_IO';

/** The folder cannot be used (absent, unreadable, gone); the message names it. */
export class N42FolderError extends CustomsError {
  constructor(
    override readonly code: N42FolderErrorCode,
    readonly dir: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

export interface N42Reading {
  /** Path of the file as it was found (before it was moved to done/). */
  file: string;
  measurement: Measurement;
}

export interface N42Rejection {
  file: string;
  /** Where it went (rejected/<name>), or undefined if it could not be moved. */
  movedTo?: string;
  reason: string;
}

export interface N42FolderEvents {
  /** One per measurement, in file order then measurement order. */
  reading: [N42Reading];
  rejected: [N42Rejection];
}

export interface N42FolderStats {
  files: number;
  measurements: number;
  rejected: number;
}

export const DONE_DIR = 'done';
export const REJECTED_DIR = 'rejected';
export const DEFAULT_STATE_FILE = '.n42-folder-state';

interface FileKey {
  mtimeMs: number;
  size: number;
}

/** A spectrum's detector position as the reading bus wants it (height_m rather than elevation_m). */
function busPosition(p: { lat: number; lon: number; elevation_m?: number } | undefined): { lat: number; lon: number; height_m?: number } | undefined {
  if (p === undefined) return undefined;
  return p.elevation_m === undefined ? { lat: p.lat, lon: p.lon } : { lat: p.lat, lon: p.lon, height_m: p.elevation_m };
}

export class N42FolderDriver extends EventEmitter<N42FolderEvents> implements Component {
  readonly kind = 'device' as const;
  private ctx: ComponentContext | undefined;
  /** Lines in the keep-mode journal, to compact it when it holds mostly forgotten names. */
  private journalLines = 0;
  private scan: FolderScan | undefined;
  private failed = false;
  /** Files marked processed in this run or (keep mode) in the journal: name → what it looked like. */
  private readonly processed = new Map<string, FileKey>();
  private readonly counters: N42FolderStats = { files: 0, measurements: 0, rejected: 0 };
  private readonly calibrations = new Map<string, string>();
  private readonly extensions: Set<string>;
  /** Files in done/, oldest first, and their total size: the retention deletes from the front. */
  private done: { name: string; size: number }[] = [];
  private doneBytes = 0;

  constructor(
    readonly name: string,
    readonly options: N42FolderOptions,
  ) {
    super();
    this.extensions = new Set(options.extensions.map((e) => e.toLowerCase()));
  }

  get dir(): string {
    return this.options.dir;
  }

  get stateFile(): string {
    return this.options.stateFile ?? join(this.options.dir, DEFAULT_STATE_FILE);
  }

  /** Counters since construction (across restarts). */
  stats(): N42FolderStats {
    return { ...this.counters };
  }

  /** The energy calibration each detector last reported, as "c0 c1 c2" keV (status shows them). */
  versions(): { calibration?: Record<string, string> } {
    return this.calibrations.size === 0 ? {} : { calibration: Object.fromEntries(this.calibrations) };
  }

  private get log(): Logger | undefined {
    return this.ctx?.log;
  }

  async start(ctx: ComponentContext): Promise<void> {
    if (this.running) await this.stop();
    this.ctx = ctx;
    this.failed = false;
    const dir = this.options.dir;
    let st;
    try {
      st = await stat(dir);
    } catch (e) {
      throw new N42FolderError('E_DEVICE_OPEN', dir, `N42 folder ${dir}: cannot open (${errnoOf(e) === 'ENOENT' ? 'it does not exist' : ((e as Error).message)})`, { cause: e });
    }
    if (!st.isDirectory()) throw new N42FolderError('E_DEVICE_OPEN', dir, `N42 folder ${dir}: not a directory`);
    try {
      if (this.options.after === 'move') {
        await mkdir(join(dir, DONE_DIR), { recursive: true });
        await this.loadDone();
      }
      await mkdir(join(dir, REJECTED_DIR), { recursive: true });
      if (this.options.after === 'keep') await this.loadJournal();
    } catch (e) {
      throw new N42FolderError('E_DEVICE_OPEN', dir, `N42 folder ${dir}: cannot prepare done/, rejected/ or the state file: ${(e as Error).message}`, { cause: e });
    }
    this.scan = new FolderScan({
      dir,
      what: 'N42 folder',
      rescan_ms: this.options.rescan_ms,
      log: () => this.log,
      scanOnce: () => this.scanOnce(),
      onError: (e) => this.fail(e instanceof N42FolderError ? e : new N42FolderError('E_DEVICE_IO', this.dir, `N42 folder ${this.dir}: ${(e as Error).message}`, { cause: e })),
    });
    ctx.log.info({ dir, after: this.options.after }, 'N42 folder driver watching');
    this.scan.start();
  }

  async stop(): Promise<void> {
    this.scan?.halt();
    // Let the file in hand finish: emitted and marked, or not started.
    await this.scan?.scanning;
  }

  private get running(): boolean {
    return this.scan?.running ?? false;
  }

  /** Resolves when the folder has been scanned once more from now (tests, and a caller that just dropped a file). */
  async settle(): Promise<void> {
    await this.scan?.settle();
  }

  private fail(err: Error): void {
    if (this.failed || !this.running || !this.ctx || this.ctx.signal.aborted) return;
    this.failed = true;
    this.ctx.fail(err);
  }

  private wanted(name: string): boolean {
    return !name.startsWith('.') && this.extensions.has(extname(name).toLowerCase());
  }

  private async scanOnce(): Promise<void> {
    const dir = this.dir;
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (e) {
      throw new N42FolderError('E_DEVICE_UNPLUGGED', dir, `N42 folder ${dir}: cannot list (${errnoOf(e) ?? (e as Error).message}): unmounted or removed?`, { cause: e });
    }
    const names = entries.filter((d) => d.isFile() && this.wanted(d.name)).map((d) => d.name).sort();
    const now = Date.now();
    for (const name of names) {
      if (!this.running) return;
      const path = join(dir, name);
      let key: FileKey;
      try {
        const st = await stat(path);
        key = { mtimeMs: st.mtimeMs, size: st.size };
      } catch (e) {
        if (errnoOf(e) === 'ENOENT') continue; // taken away between readdir and stat
        throw e;
      }
      const seen = this.processed.get(name);
      if (seen !== undefined && seen.mtimeMs === key.mtimeMs && seen.size === key.size) continue;
      if (this.options.minAge_ms > 0 && now - key.mtimeMs < this.options.minAge_ms) {
        this.scan?.wakeIn(this.options.minAge_ms - (now - key.mtimeMs));
        continue;
      }
      await this.processFile(name, path, key);
    }
    if (this.options.after === 'keep') {
      this.forgetMissing(new Set(names));
      if (this.journalLines > 1000 && this.journalLines > 2 * this.processed.size) await this.writeJournal();
    }
  }

  private async appendJournal(name: string, key: FileKey): Promise<void> {
    await appendFile(this.stateFile, `${JSON.stringify([name, key.mtimeMs, key.size])}\n`);
    this.journalLines++;
  }

  /** Rewrites the journal with only the names still remembered (tmp + rename, so a crash leaves old or new). */
  private async writeJournal(): Promise<void> {
    const tmp = `${this.stateFile}.tmp`;
    await writeFile(tmp, [...this.processed].map(([n, k]) => `${JSON.stringify([n, k.mtimeMs, k.size])}\n`).join(''));
    await rename(tmp, this.stateFile);
    this.journalLines = this.processed.size;
  }

  private async processFile(name: string, path: string, key: FileKey): Promise<void> {
    let measurements: Measurement[];
    try {
      // Refused from its size, unread: a 200 MB file would take gigabytes of heap and block the loop for a minute.
      if (key.size > this.options.maxFileBytes) throw new FileTooLargeError(path, key.size, this.options.maxFileBytes);
      const text = await readFileBounded(path, this.options.maxFileBytes);
      if (text.subarray(0, 4096).includes(0)) {
        throw new FormatError({ file: path, field: 'format', expected: 'expected an N42 XML text file, found binary data' });
      }
      const decoded = new TextDecoder('utf-8', { fatal: false }).decode(text);
      const format = detectFormat(decoded, path);
      if (format !== 'N42-2006' && format !== 'N42-2012') {
        throw new FormatError({ file: path, field: 'format', expected: `expected an N42 document, got ${format}` });
      }
      const file = parseN42(decoded, path);
      for (const w of file.warnings) this.log?.warn({ file: path, warning: w.message }, 'N42 file: warning');
      measurements = file.measurements;
      // A valid N42 the analysis cannot use is refused whole, before any of it is emitted: rejected/ keeps it.
      for (const m of measurements) {
        const problem = measurementProblem(m);
        if (problem !== undefined) throw new FormatError({ file: path, element: `measurement ${m.id}`, field: 'Spectrum', expected: problem });
      }
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return;
      await this.reject(name, path, key, e);
      return;
    }
    for (const m of measurements) this.deliver(path, m);
    this.counters.files++;
    await this.markDone(name, path, key);
  }

  private deliver(file: string, measurement: Measurement): void {
    this.counters.measurements++;
    for (const s of measurement.spectra) {
      if (s.calibration !== undefined) this.calibrations.set(s.detector, s.calibration.coefficients.join(' '));
    }
    this.safeEmit('reading', { file, measurement });
    const bus = this.ctx?.bus;
    if (!this.options.publish || bus === undefined) return;
    const start = measurement.startTime === undefined ? NaN : Date.parse(measurement.startTime);
    // The instrument's own start time when it wrote one; else when the file was read.
    const time_ms = Number.isFinite(start) ? start : (this.ctx?.clock.now().ts ?? Date.now());
    for (const s of measurement.spectra) {
      const position = busPosition(s.position ?? measurement.position);
      try {
        bus.emit('spectrum', {
          detector: s.detector,
          counts: s.counts,
          liveTime_s: s.liveTime_s,
          realTime_s: s.realTime_s,
          time_ms,
          ...(s.calibration !== undefined ? { calibration: s.calibration } : {}),
          ...(position !== undefined ? { position } : {}),
        });
      } catch (err) {
        this.log?.error({ err: (err as Error)?.message ?? String(err) }, 'N42 folder: spectrum listener threw');
      }
    }
  }

  private async markDone(name: string, path: string, key: FileKey): Promise<void> {
    this.processed.set(name, key);
    try {
      if (this.options.after === 'move') {
        const target = await this.freeName(join(this.dir, DONE_DIR), name);
        await rename(path, target);
        // Moved away: nothing to remember (a new file under the same name is a new measurement).
        this.processed.delete(name);
        this.done.push({ name: basename(target), size: key.size });
        this.doneBytes += key.size;
        await this.pruneDone();
      } else {
        await this.appendJournal(name, key);
      }
    } catch (e) {
      // Kept in memory so this run does not emit it twice; a restart may (logged so it can be explained).
      this.log?.error({ file: path, err: (e as Error).message }, 'N42 folder: cannot mark file processed; it may be read again after a restart');
    }
  }

  private async reject(name: string, path: string, key: FileKey, e: unknown): Promise<void> {
    const reason = e instanceof Error ? e.message : String(e);
    this.counters.rejected++;
    this.processed.set(name, key);
    let movedTo: string | undefined;
    try {
      const target = await this.freeName(join(this.dir, REJECTED_DIR), name);
      await writeFile(`${target}.why`, `${reason}\n`);
      await rename(path, target);
      movedTo = target;
      this.processed.delete(name);
    } catch (moveErr) {
      this.log?.error({ file: path, err: (moveErr as Error).message }, 'N42 folder: cannot move rejected file');
      if (this.options.after === 'keep') await this.appendJournal(name, key).catch(() => undefined);
    }
    this.log?.error({ file: path, movedTo, reason }, 'N42 folder: rejected file');
    this.safeEmit('rejected', { file: path, ...(movedTo !== undefined ? { movedTo } : {}), reason });
  }

  /** What done/ holds from earlier runs, oldest first (by mtime: a rename keeps it), pruned to the limits. */
  private async loadDone(): Promise<void> {
    const doneDir = join(this.dir, DONE_DIR);
    const found: { name: string; size: number; mtimeMs: number }[] = [];
    for (const e of await readdir(doneDir, { withFileTypes: true })) {
      if (!e.isFile()) continue;
      try {
        const st = await stat(join(doneDir, e.name));
        found.push({ name: e.name, size: st.size, mtimeMs: st.mtimeMs });
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') throw err;
      }
    }
    found.sort((a, b) => a.mtimeMs - b.mtimeMs || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.done = found.map(({ name, size }) => ({ name, size }));
    this.doneBytes = found.reduce((a, f) => a + f.size, 0);
    await this.pruneDone();
  }

  /** Deletes the oldest files of done/ until it is within doneMaxFiles and doneMaxBytes. */
  private async pruneDone(): Promise<void> {
    const { doneMaxFiles, doneMaxBytes } = this.options;
    let deleted = 0;
    while (this.done.length > 0 && (this.done.length > doneMaxFiles || this.doneBytes > doneMaxBytes)) {
      const oldest = this.done[0]!;
      try {
        await unlink(join(this.dir, DONE_DIR, oldest.name));
      } catch (e) {
        if (errnoOf(e) !== 'ENOENT') {
          // Not a reason to stop taking files: the next file moved in tries again.
          this.log?.warn({ file: oldest.name, err: (e as Error).message }, 'N42 folder: cannot delete from done/');
          break;
        }
      }
      this.done.shift();
      this.doneBytes -= oldest.size;
      deleted++;
    }
    if (deleted > 0) this.log?.debug({ deleted, files: this.done.length, bytes: this.doneBytes }, 'N42 folder: done/ retention');
  }

  /** `dir/name`, or `dir/name.2`, `.3` … if an instrument reused a name already there. */
  private async freeName(dir: string, name: string): Promise<string> {
    for (let n = 1; ; n++) {
      const candidate = join(dir, n === 1 ? name : `${name}.${n}`);
      try {
        await stat(candidate);
      } catch (e) {
        if (errnoOf(e) === 'ENOENT') return candidate;
        throw e;
      }
    }
  }

  /** Reads the keep-mode journal (a torn last line from a crash is skipped) and rewrites it compacted. */
  private async loadJournal(): Promise<void> {
    let text = '';
    try {
      text = await readFile(this.stateFile, 'utf8');
    } catch (e) {
      if (errnoOf(e) !== 'ENOENT') throw e;
    }
    this.processed.clear();
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try {
        const v: unknown = JSON.parse(line);
        if (Array.isArray(v) && typeof v[0] === 'string' && typeof v[1] === 'number' && typeof v[2] === 'number') {
          this.processed.set(v[0], { mtimeMs: v[1], size: v[2] });
        }
      } catch {
        this.log?.warn({ stateFile: this.stateFile, line: line.slice(0, 200) }, 'N42 folder: skipped an unreadable state line');
      }
    }
    // Names no longer in the folder need not be remembered.
    const present = new Set((await readdir(this.dir)).filter((n) => this.wanted(n)));
    this.forgetMissing(present);
    await this.writeJournal();
  }

  private forgetMissing(present: Set<string>): void {
    for (const name of this.processed.keys()) if (!present.has(name)) this.processed.delete(name);
  }

  private safeEmit<K extends keyof N42FolderEvents>(event: K, ...args: N42FolderEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: N42FolderEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      // A listener's bug must not stop the folder from being drained.
      this.log?.error({ err: (err as Error)?.message ?? String(err), event }, 'N42 folder listener threw');
    }
  }
}

/** Factory for the component registry: validates the options (errors name devices/<name>/options/<field>). */
export function createN42Folder(spec: ComponentSpec): N42FolderDriver {
  return new N42FolderDriver(spec.name, parseDeviceOptions(N42FolderOptionsSchema, spec));
}
