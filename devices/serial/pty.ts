// A linked pseudo-terminal pair from socat: a simulator writes to one end, a driver opens the other as real hardware.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CustomsError } from '../../common/errors.js';

export class PtyError extends CustomsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_PTY', message, options);
  }
}

export interface SocatPtyOptions {
  /** Folder for the two links; a fresh temporary folder (removed by close()) when absent. */
  dir?: string;
  /** Link names inside `dir` (default `device` and `host`). */
  deviceName?: string;
  hostName?: string;
  /** How long start() waits for socat to create both links. */
  timeout_ms?: number;
  /** socat binary (default `socat` on PATH). */
  socat?: string;
}

/**
 * Two ptys joined back to back by socat. `devicePath` is the end the simulated device (firmware, GPS receiver) writes;
 * `hostPath` is what the driver opens, like /dev/ttyUSB0. `kill()` is an unplug: socat dies and both paths vanish;
 * `start()` again is the device coming back at the same paths.
 */
export class SocatPty {
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private dirPath: string | undefined;
  private ownsDir = false;
  private stderrTail = '';

  constructor(private readonly opts: SocatPtyOptions = {}) {
    this.dirPath = opts.dir;
  }

  get dir(): string {
    if (!this.dirPath) throw new PtyError('pty: start() has not been called');
    return this.dirPath;
  }

  get devicePath(): string {
    return join(this.dir, this.opts.deviceName ?? 'device');
  }

  get hostPath(): string {
    return join(this.dir, this.opts.hostName ?? 'host');
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Spawns socat and resolves once both links resolve to live ptys; rejects naming socat's own complaint. */
  async start(): Promise<void> {
    if (this.child) return;
    if (!this.dirPath) {
      this.dirPath = await mkdtemp(join(tmpdir(), 'customs-pty-'));
      this.ownsDir = true;
    }
    // Links left by a killed socat point at ptys that no longer exist; socat refuses to replace them.
    await this.removeLinks();
    this.stderrTail = '';
    const child = spawn(
      this.opts.socat ?? 'socat',
      ['-d', '-d', `pty,raw,echo=0,link=${this.devicePath}`, `pty,raw,echo=0,link=${this.hostPath}`],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child = child;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      this.stderrTail = (this.stderrTail + s).slice(-2000);
    });
    let spawnError: Error | undefined;
    this.exited = new Promise<void>((resolve) => {
      child.once('error', (err) => {
        spawnError = err;
        resolve();
      });
      child.once('exit', () => resolve());
    }).then(() => {
      if (this.child === child) this.child = undefined;
    });
    const deadline = performance.now() + (this.opts.timeout_ms ?? 5000);
    while (!(await this.linksReady())) {
      if (!this.child || spawnError) {
        throw new PtyError(`pty: socat exited before creating ${this.devicePath} and ${this.hostPath}: ${spawnError?.message ?? this.stderrTail.trim()}`, {
          cause: spawnError,
        });
      }
      if (performance.now() > deadline) {
        await this.kill();
        throw new PtyError(`pty: socat did not create ${this.devicePath} and ${this.hostPath} in time: ${this.stderrTail.trim()}`);
      }
      await sleep(20);
    }
  }

  /** Stops socat gently (it removes its links itself). */
  async stop(): Promise<void> {
    await this.signal('SIGTERM');
    await this.removeLinks();
  }

  /** Unplug: SIGKILL, then the links go too, as /dev/ttyUSB0 vanishes when a cable is pulled. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
    await this.removeLinks();
  }

  /** stop() and remove the temporary folder if this object made it. */
  async close(): Promise<void> {
    await this.stop();
    if (this.ownsDir && this.dirPath) {
      await rm(this.dirPath, { recursive: true, force: true });
      this.dirPath = this.opts.dir;
      this.ownsDir = false;
    }
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill(sig);
    await this.exited;
  }

  private async linksReady(): Promise<boolean> {
    try {
      // stat follows the link, so this also proves the pty behind it exists.
      await stat(this.devicePath);
      await stat(this.hostPath);
      return true;
    } catch {
      return false;
    }
  }

  private async removeLinks(): Promise<void> {
    if (!this.dirPath) return;
    for (const p of [this.devicePath, this.hostPath]) {
      await unlink(p).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    }
  }
}

/** A started SocatPty in a fresh temporary folder. */
export async function openPtyPair(opts: SocatPtyOptions = {}): Promise<SocatPty> {
  const pty = new SocatPty(opts);
  await pty.start();
  return pty;
}
