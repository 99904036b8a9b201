// X-ray scanner drop-folder driver: groups each scan's images and sidecar, hands every scan to the pipeline exactly once, also across restarts.
//
// Contract with the scanner (how parcel and cargo scanners export to a share):
// - one scan = a JSON sidecar `<base>.json` ({scanId, scanner, energies_kV, declaration}) plus either one image
//   `<base>.png|.tif|.tiff` (single energy) or a pair `<base>_high.*` / `<base>_low.*` (dual energy; `-high`,
//   `.high` and upper case are accepted too). 16-bit grey; the driver does not decode images (the pipeline does,
//   so a corrupt image still becomes a scan that a person reviews instead of vanishing).
// - DICOS/DICOM (`.dcs`, `.dcm`): one file (one frame, or two frames high + low) or a `_high`/`_low` pair. The
//   sidecar is optional: the file carries scan id, scanner, energies and pixel size (read from its header here; a
//   sidecar, if present, adds the declaration and wins field by field). A scanner that writes a sidecar beside a
//   DICOS file must put it in place first (or set `minAge_ms`): the image alone is a complete scan.
// - files appear atomically (written under a dot-name or another extension, then renamed); for scanners that write
//   in place, `minAge_ms` makes the driver wait until a file has been left alone that long.
// - a scan whose other half or sidecar does not arrive within `pairTimeout_ms` (from its oldest file) is handed
//   over anyway with the problem named ("missing low-energy image"), which sends it to screener review.
// Exactly once: the driver hands over one scan at a time on the reading bus and waits for the pipeline's `done()`
// (called once the summary is in the durable outbox). Then it appends the scan's key to a journal (one JSON line,
// fsync'd; a torn last line from a crash is ignored; compacted through tmp + rename at start) and, with
// `after: 'move'`, moves the files into done/. A restart skips journaled scans (and finishes their move). Only a
// crash between the outbox write and the journal line can repeat a scan; its summary carries the same scanId.
import { EventEmitter } from 'node:events';
import { appendFileSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import { CustomsError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { formatErrors } from '../../protocol/index.js';
import { isDicosName, readDicosMeta, sidecarFromDicos } from './dicos.js';
import { SidecarSchema, type Sidecar } from '../../contract/readings.js';
import type { Component, ComponentContext, ComponentSpec, Readings } from '../../contract/component.js';
import { errnoOf, FolderScan } from '../folder-scan.js';
import { parseDeviceOptions, stringEnum } from '../../contract/options.js';

export const XrayFolderOptionsSchema = Type.Object(
  {
    dir: Type.String({ minLength: 1, description: 'folder the scanner exports into' }),
    after: stringEnum(['move', 'keep'] as const, { default: 'move', description: 'move: processed scans go to <dir>/done/; keep: left in place' }),
    journal: Type.Optional(Type.String({ minLength: 1, description: 'journal of processed scans (default <dir>/.xray-folder-journal)' })),
    pairTimeout_ms: Type.Integer({ minimum: 0, maximum: 3_600_000, default: 30_000, description: 'wait this long for the rest of a scan, then hand it over for review' }),
    minAge_ms: Type.Integer({ minimum: 0, maximum: 600_000, default: 0, description: 'take files only once unmodified this long' }),
    rescan_ms: Type.Integer({ minimum: 50, maximum: 600_000, default: 1000, description: 'periodic rescan besides fs.watch' }),
    doneTimeout_ms: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 120_000, description: 'longest wait for the pipeline to finish one scan' }),
  },
  { additionalProperties: false },
);
export type XrayFolderOptions = Static<typeof XrayFolderOptionsSchema>;

export class XrayFolderError extends CustomsError {
  constructor(
    override readonly code: 'E_DEVICE_OPEN' | 'E_DEVICE_UNPLUGGED' | 'E_DEVICE_IO',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

export const IMAGE_EXTENSIONS = ['.png', '.tif', '.tiff', '.dcs', '.dcm', '.jpg', '.jpeg', '.bmp'];
export const DONE_DIR = 'done';
export const DEFAULT_JOURNAL = '.xray-folder-journal';
/** How long stop() lets the pipeline finish the scan in hand. */
const STOP_GRACE_MS = 5000;

/** What a file name says: its scan's base name and its role. */
export function classifyName(name: string): { base: string; role: 'high' | 'low' | 'single' | 'sidecar' } | undefined {
  if (name.startsWith('.')) return undefined;
  const ext = extname(name).toLowerCase();
  const stem = name.slice(0, name.length - ext.length);
  if (ext === '.json') return { base: stem, role: 'sidecar' };
  if (!IMAGE_EXTENSIONS.includes(ext)) return undefined;
  const m = /^(.*)[_.-](high|low|he|le)$/i.exec(stem);
  if (m) return { base: m[1]!, role: /^(high|he)$/i.test(m[2]!) ? 'high' : 'low' };
  return { base: stem, role: 'single' };
}

interface Group {
  base: string;
  files: Partial<Record<'high' | 'low' | 'single' | 'sidecar', string>>;
  oldest_ms: number;
  newest_ms: number;
}

export interface XrayFolderStats {
  scans: number;
  incomplete: number;
  skippedJournaled: number;
}

export interface XrayFolderEvents {
  /** A scan handed over and finished (after the journal line). */
  scan: [{ base: string; scanId: string; problems: string[] }];
}

const validateSidecar = new Ajv({ allErrors: true, strict: false }).compile(SidecarSchema);

export class XrayFolderDriver extends EventEmitter<XrayFolderEvents> implements Component {
  readonly kind = 'device' as const;
  private ctx: ComponentContext | undefined;
  private scan: FolderScan | undefined;
  private failed = false;
  private warnedNoListener = false;
  private abortWait: (() => void) | undefined;
  /** Bases journaled as processed (kept until their files are gone from the folder). */
  private readonly journaled = new Set<string>();
  private journalLines = 0;
  private readonly counters: XrayFolderStats = { scans: 0, incomplete: 0, skippedJournaled: 0 };

  constructor(
    readonly name: string,
    readonly options: XrayFolderOptions,
  ) {
    super();
  }

  get dir(): string {
    return this.options.dir;
  }

  get journalFile(): string {
    return this.options.journal ?? join(this.options.dir, DEFAULT_JOURNAL);
  }

  stats(): XrayFolderStats {
    return { ...this.counters };
  }

  private get log(): Logger | undefined {
    return this.ctx?.log;
  }

  async start(ctx: ComponentContext): Promise<void> {
    if (this.running) await this.stop();
    this.ctx = ctx;
    this.failed = false;
    const dir = this.dir;
    try {
      const st = await stat(dir);
      if (!st.isDirectory()) throw new Error('not a directory');
    } catch (e) {
      throw new XrayFolderError('E_DEVICE_OPEN', `X-ray folder ${dir}: cannot open (${errnoOf(e) === 'ENOENT' ? 'it does not exist' : (e as Error).message})`, { cause: e });
    }
    try {
      if (this.options.after === 'move') await mkdir(join(dir, DONE_DIR), { recursive: true });
      await this.loadJournal();
    } catch (e) {
      throw new XrayFolderError('E_DEVICE_OPEN', `X-ray folder ${dir}: cannot prepare done/ or the journal ${this.journalFile}: ${(e as Error).message}`, { cause: e });
    }
    this.scan = new FolderScan({
      dir,
      what: 'X-ray folder',
      rescan_ms: this.options.rescan_ms,
      log: () => this.log,
      scanOnce: () => this.scanOnce(),
      onError: (e) => this.fail(e instanceof XrayFolderError ? e : new XrayFolderError('E_DEVICE_IO', `X-ray folder ${this.dir}: ${(e as Error).message}`, { cause: e })),
    });
    ctx.log.info({ dir, after: this.options.after, journal: this.journalFile }, 'X-ray folder driver watching');
    this.scan.start();
  }

  async stop(): Promise<void> {
    this.scan?.halt();
    // The scan in hand finishes (done and journaled) or, if the pipeline does not finish it within a grace
    // period, stays pending and is handed over again at the next start.
    const scanning = this.scan?.scanning;
    if (scanning !== undefined) {
      const grace = setTimeout(() => this.abortWait?.(), STOP_GRACE_MS);
      await scanning;
      clearTimeout(grace);
    }
  }

  /** Resolves once the folder has been scanned once more from now (tests; a caller that just dropped files). */
  async settle(): Promise<void> {
    await this.scan?.settle();
  }

  private get running(): boolean {
    return this.scan?.running ?? false;
  }

  private fail(err: Error): void {
    if (this.failed || !this.running || !this.ctx || this.ctx.signal.aborted) return;
    this.failed = true;
    this.ctx.fail(err);
  }

  private async listGroups(): Promise<Map<string, Group>> {
    let names: string[];
    try {
      names = (await readdir(this.dir, { withFileTypes: true })).filter((d) => d.isFile()).map((d) => d.name);
    } catch (e) {
      throw new XrayFolderError('E_DEVICE_UNPLUGGED', `X-ray folder ${this.dir}: cannot list (${errnoOf(e) ?? (e as Error).message}): unmounted or removed?`, { cause: e });
    }
    const groups = new Map<string, Group>();
    for (const name of names) {
      const c = classifyName(name);
      if (c === undefined) continue;
      let mtime: number;
      try {
        mtime = (await stat(join(this.dir, name))).mtimeMs;
      } catch (e) {
        if (errnoOf(e) === 'ENOENT') continue;
        throw e;
      }
      let g = groups.get(c.base);
      if (g === undefined) {
        g = { base: c.base, files: {}, oldest_ms: mtime, newest_ms: mtime };
        groups.set(c.base, g);
      }
      g.files[c.role] = name;
      g.oldest_ms = Math.min(g.oldest_ms, mtime);
      g.newest_ms = Math.max(g.newest_ms, mtime);
    }
    return groups;
  }

  private async scanOnce(): Promise<void> {
    const groups = await this.listGroups();
    // Journaled bases whose files are gone need no remembering.
    for (const b of [...this.journaled]) if (!groups.has(b)) this.journaled.delete(b);
    let wakeIn = Infinity;
    for (const base of [...groups.keys()].sort()) {
      if (!this.running) return;
      const g = groups.get(base)!;
      if (this.journaled.has(base)) {
        // Processed before a crash or restart: finish what was left (the move), never hand it over again.
        if (this.options.after === 'move') {
          this.counters.skippedJournaled++;
          await this.moveDone(g);
        }
        continue;
      }
      const now = Date.now();
      if (this.options.minAge_ms > 0 && now - g.newest_ms < this.options.minAge_ms) {
        wakeIn = Math.min(wakeIn, this.options.minAge_ms - (now - g.newest_ms));
        continue;
      }
      const verdict = await this.assess(g, now);
      if (verdict === 'wait') {
        wakeIn = Math.min(wakeIn, this.options.pairTimeout_ms - (now - g.oldest_ms));
        continue;
      }
      if (this.ctx?.bus === undefined || this.ctx.bus.listenerCount('xrayScan') === 0) {
        if (!this.warnedNoListener) this.log?.warn({ dir: this.dir }, 'X-ray folder: no pipeline listens for scans; waiting');
        this.warnedNoListener = true;
        return;
      }
      this.warnedNoListener = false;
      const ok = await this.handOver(verdict);
      if (!ok) return;
      await this.markDone(g, verdict);
    }
    // One pending timer to look again when a waiting scan times out or a young file is old enough.
    if (Number.isFinite(wakeIn)) this.scan?.wakeIn(wakeIn);
    // Moved scans need no remembering: keep the journal small on a node that runs for months.
    if (this.journalLines > 1000 && this.journalLines > 2 * this.journaled.size) await this.compactJournal();
  }

  /** Complete → the scan; incomplete and young → wait; incomplete past the timeout → the scan with its problems. */
  private async assess(g: Group, now: number): Promise<Readings['xrayScan'][0] | 'wait'> {
    const problems: string[] = [];
    let sidecar: Sidecar | undefined;
    let sidecarProblem: string | undefined;
    if (g.files.sidecar !== undefined) {
      const path = join(this.dir, g.files.sidecar);
      try {
        const v: unknown = JSON.parse(await readFile(path, 'utf8'));
        if (validateSidecar(v)) sidecar = v as Sidecar;
        else sidecarProblem = `sidecar ${path}: ${formatErrors(validateSidecar.errors).join('; ')}`;
      } catch (e) {
        sidecarProblem = `sidecar ${path}: ${errnoOf(e) ?? (e as Error).message}`;
      }
    }
    const paired = g.files.high !== undefined || g.files.low !== undefined;
    const dicosImage = [g.files.single, g.files.high, g.files.low].find((f) => f !== undefined && isDicosName(f));
    // A single DICOS file may hold both energies as two frames: it is complete on its own.
    const dicosSingle = !paired && g.files.single !== undefined && isDicosName(g.files.single);
    // Whether a pair is expected follows the JSON sidecar or the file names, not the KVP of a DICOS file (a
    // single-frame file of a pair names one tube voltage).
    const expectDual = dicosSingle ? false : sidecar?.energies_kV !== undefined ? sidecar.energies_kV.length === 2 : paired;
    if (dicosImage !== undefined) {
      try {
        const fromFile = sidecarFromDicos(await readDicosMeta(join(this.dir, dicosImage)), g.base);
        sidecar = sidecar !== undefined ? { ...fromFile, ...sidecar } : (fromFile as Sidecar);
      } catch {
        // The pipeline decodes the file and names what is wrong with it (the scan goes to review).
      }
    }
    const missing: string[] = [];
    if (g.files.sidecar === undefined && dicosImage === undefined) missing.push(`sidecar ${g.base}.json`);
    if (expectDual) {
      if (g.files.high === undefined) missing.push(`high-energy image ${g.base}_high.*`);
      if (g.files.low === undefined) missing.push(`low-energy image ${g.base}_low.*`);
    } else if (g.files.single === undefined) {
      missing.push(`image ${g.base}.png|.tif|.dcs`);
    }
    const timedOut = now - g.oldest_ms >= this.options.pairTimeout_ms;
    if ((missing.length > 0 || sidecarProblem !== undefined) && !timedOut) return 'wait';
    const waited = `${((now - g.oldest_ms) / 1000).toFixed(0)} s`;
    for (const m of missing) problems.push(`missing ${m} after ${waited}`);
    if (sidecarProblem !== undefined) problems.push(sidecarProblem);
    const high = expectDual ? g.files.high : (g.files.single ?? g.files.high);
    const low = expectDual ? g.files.low : undefined;
    const scanId = sidecar?.scanId ?? g.base;
    return {
      scanId,
      ...(high !== undefined ? { high: join(this.dir, high) } : {}),
      ...(low !== undefined ? { low: join(this.dir, low) } : {}),
      ...(sidecar !== undefined ? { sidecar } : {}),
      ...(problems.length > 0 ? { problems } : {}),
      time_ms: this.ctx?.clock.now().ts ?? Date.now(),
      done: () => undefined,
    };
  }

  /** Emits the scan and waits for the pipeline's done(); false if it did not come (the scan stays pending). */
  private async handOver(scan: Readings['xrayScan'][0]): Promise<boolean> {
    const bus = this.ctx?.bus;
    if (bus === undefined) return false;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`pipeline did not finish scan ${scan.scanId} within ${this.options.doneTimeout_ms} ms`)), this.options.doneTimeout_ms);
        this.abortWait = () => reject(new Error(`stopping before the pipeline finished scan ${scan.scanId}`));
        let called = false;
        const done = (err?: Error): void => {
          if (called) return;
          called = true;
          if (err) reject(err);
          else resolve();
        };
        try {
          bus.emit('xrayScan', { ...scan, done });
        } catch (e) {
          done(e as Error);
        }
      });
      return true;
    } catch (e) {
      this.log?.error({ scanId: scan.scanId, err: (e as Error).message }, 'X-ray folder: scan not finished; it will be handed over again');
      return false;
    } finally {
      clearTimeout(timer);
      this.abortWait = undefined;
    }
  }

  private async markDone(g: Group, scan: Readings['xrayScan'][0]): Promise<void> {
    this.counters.scans++;
    if (scan.problems !== undefined) this.counters.incomplete++;
    this.journaled.add(g.base);
    try {
      await this.appendJournal(g.base, scan.scanId);
    } catch (e) {
      // In memory it is done (no repeat in this run); a restart may repeat it, and the log says so.
      this.log?.error({ scanId: scan.scanId, err: (e as Error).message }, 'X-ray folder: cannot journal a finished scan; a restart may hand it over again');
    }
    if (this.options.after === 'move') await this.moveDone(g);
    try {
      this.emit('scan', { base: g.base, scanId: scan.scanId, problems: scan.problems ?? [] });
    } catch (err) {
      this.log?.error({ err: (err as Error).message }, 'X-ray folder: scan listener threw');
    }
  }

  private async moveDone(g: Group): Promise<void> {
    for (const f of Object.values(g.files)) {
      if (f === undefined) continue;
      try {
        await rename(join(this.dir, f), join(this.dir, DONE_DIR, f));
      } catch (e) {
        if (errnoOf(e) !== 'ENOENT') this.log?.error({ file: f, err: (e as Error).message }, 'X-ray folder: cannot move a processed file to done/');
      }
    }
  }

  private async appendJournal(base: string, scanId: string): Promise<void> {
    // The write itself is synchronous: once in the page cache it survives a killed process, and the gap after the
    // outbox write (the only window for a repeat) stays as short as it can be. The datasync covers power loss.
    appendFileSync(this.journalFile, `${JSON.stringify({ base, scanId, at: Date.now() })}\n`);
    this.journalLines++;
    const fh = await open(this.journalFile, 'r');
    try {
      await fh.datasync();
    } finally {
      await fh.close();
    }
  }

  /** Reads the journal (a torn last line is skipped), keeps the bases still in the folder, rewrites it atomically. */
  private async loadJournal(): Promise<void> {
    let text = '';
    try {
      text = await readFile(this.journalFile, 'utf8');
    } catch (e) {
      if (errnoOf(e) !== 'ENOENT') throw e;
    }
    const entries = new Map<string, string>();
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try {
        const v = JSON.parse(line) as { base?: unknown; scanId?: unknown };
        if (typeof v.base === 'string') entries.set(v.base, line);
      } catch {
        this.log?.warn({ journal: this.journalFile, line: line.slice(0, 200) }, 'X-ray folder: skipped an unreadable journal line');
      }
    }
    const present = new Set<string>();
    for (const name of await readdir(this.dir)) {
      const c = classifyName(name);
      if (c !== undefined) present.add(c.base);
    }
    this.journaled.clear();
    const keep: string[] = [];
    for (const [base, line] of entries) {
      if (!present.has(base)) continue;
      this.journaled.add(base);
      keep.push(line);
    }
    await this.rewriteJournal(keep);
  }

  private async compactJournal(): Promise<void> {
    await this.rewriteJournal([...this.journaled].map((base) => JSON.stringify({ base, scanId: base, at: Date.now() })));
  }

  /** tmp + rename: a crash leaves the old journal or the new one, never half of one. */
  private async rewriteJournal(lines: string[]): Promise<void> {
    const tmp = `${this.journalFile}.tmp`;
    await writeFile(tmp, lines.map((l) => `${l}\n`).join(''));
    await rename(tmp, this.journalFile);
    this.journalLines = lines.length;
  }
}

/** Factory for the component registry (errors name devices/<name>/options/<field>). */
export function createXrayFolder(spec: ComponentSpec): XrayFolderDriver {
  return new XrayFolderDriver(spec.name, parseDeviceOptions(XrayFolderOptionsSchema, spec));
}
