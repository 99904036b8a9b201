// The scanning loop of the drop-folder drivers (N42 spectrometer files, X-ray scans): fs.watch for promptness, a
// periodic rescan for the changes fs.watch misses, one scan at a time, one wake-up timer for files not ready yet.
import { type FSWatcher, watch } from 'node:fs';
import type { Logger } from '../common/log.js';

export interface FolderScanOptions {
  dir: string;
  /** How the log names the folder, e.g. "N42 folder". */
  what: string;
  rescan_ms: number;
  log: () => Logger | undefined;
  /** One pass over the folder; the scanner runs it again at once when a change came in meanwhile. */
  scanOnce: () => Promise<void>;
  /** A pass threw: the driver decides (usually: fail the component, the supervisor restarts it). */
  onError: (e: unknown) => void;
}

export class FolderScan {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private wakeTimer: NodeJS.Timeout | undefined;
  private again = false;
  /** The pass in progress, if any. */
  scanning: Promise<void> | undefined;
  running = false;

  constructor(private readonly o: FolderScanOptions) {}

  start(): void {
    this.running = true;
    const { dir, what } = this.o;
    try {
      this.watcher = watch(dir, { persistent: false }, () => this.schedule());
      this.watcher.on('error', (err) => {
        // The rescan timer keeps the driver working; only the promptness is lost.
        this.o.log()?.warn({ dir, err: err.message }, `${what}: watch failed, relying on the periodic rescan`);
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (e) {
      this.o.log()?.warn({ dir, err: (e as Error).message }, `${what}: cannot watch, relying on the periodic rescan`);
    }
    this.timer = setInterval(() => this.schedule(), this.o.rescan_ms);
    this.schedule();
  }

  /** Stops watching and the timers; the pass in progress goes on (await `scanning` to let it finish). */
  halt(): void {
    this.running = false;
    clearInterval(this.timer);
    this.timer = undefined;
    clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    this.watcher?.close();
    this.watcher = undefined;
  }

  /** Resolves once the folder has been scanned once more from now (tests; a caller that just dropped files). */
  async settle(): Promise<void> {
    this.schedule();
    while (this.scanning) await this.scanning;
  }

  schedule(): void {
    if (!this.running) return;
    if (this.scanning) {
      this.again = true;
      return;
    }
    this.scanning = this.loop().finally(() => {
      this.scanning = undefined;
    });
  }

  /** Look again in `ms` (a file too young, a scan waiting for its other half); one pending timer at most. */
  wakeIn(ms: number): void {
    if (this.wakeTimer !== undefined || !this.running) return;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined;
      this.schedule();
    }, Math.max(10, ms + 5));
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.o.scanOnce();
      } catch (e) {
        this.o.onError(e);
        return;
      }
    } while (this.again && this.running);
  }
}

/** The errno code of a file-system error, if it has one. */
export function errnoOf(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}
