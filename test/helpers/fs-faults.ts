// Injected disk faults for files under one folder: writes refused (ENOSPC, EIO, cut short) and failing fsyncs.
// It patches node:fs and syncs the ESM bindings, so modules that imported `write`, `writeSync`... see it too.
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

export interface FsFaults {
  /** From now on writes to files under the folder fail with `code`; with `cut`, the first one writes half first. */
  refuseWrites(code?: 'ENOSPC' | 'EIO', opts?: { cut?: boolean }): void;
  /** fsync and fdatasync of files under the folder fail with EIO. */
  refuseSyncs(): void;
  /** Writes and syncs work again. */
  heal(): void;
  /** Writes refused so far (cut ones included). */
  readonly refused: number;
  /** Puts node:fs back as it was. */
  restore(): void;
}

type Cb = (err: NodeJS.ErrnoException | null, n?: number) => void;

function errno(code: 'ENOSPC' | 'EIO', syscall: string): NodeJS.ErrnoException {
  const text = code === 'ENOSPC' ? 'no space left on device' : 'i/o error';
  return Object.assign(new Error(`${code}: ${text}, ${syscall}`), { code, errno: code === 'ENOSPC' ? -28 : -5, syscall });
}

export function injectFsFaults(dir: string): FsFaults {
  const orig = {
    openSync: fs.openSync,
    closeSync: fs.closeSync,
    write: fs.write,
    writeSync: fs.writeSync,
    fdatasync: fs.fdatasync,
    fsyncSync: fs.fsyncSync,
  };
  const fds = new Set<number>();
  let writeCode: 'ENOSPC' | 'EIO' | undefined;
  let cut = false;
  let syncs = false;
  let refused = 0;
  const mine = (fd: number) => fds.has(fd);
  /** How many of `len` bytes a write may take now: all, half (the cut one) or none (refused). */
  const allowance = (fd: number, len: number): number => {
    if (!writeCode || !mine(fd)) return len;
    refused++;
    if (cut && len > 1) {
      cut = false;
      return len >> 1;
    }
    return 0;
  };
  const patched = {
    openSync: ((path: fs.PathLike, ...rest: unknown[]) => {
      const fd = (orig.openSync as (...a: unknown[]) => number)(path, ...rest);
      if (String(path).startsWith(dir)) fds.add(fd);
      return fd;
    }) as typeof fs.openSync,
    closeSync: ((fd: number) => {
      fds.delete(fd);
      orig.closeSync(fd);
    }) as typeof fs.closeSync,
    writeSync: ((fd: number, buf: Buffer, off?: number, len?: number, pos?: number | null) => {
      const from = off ?? 0;
      const n = allowance(fd, len ?? buf.length - from);
      if (n === 0) throw errno(writeCode!, 'write');
      return orig.writeSync(fd, buf, from, n, pos);
    }) as unknown as typeof fs.writeSync,
    write: ((fd: number, buf: Buffer, off: number, len: number, pos: number | null, cb: Cb) => {
      const n = allowance(fd, len);
      if (n === 0) return void process.nextTick(cb, errno(writeCode!, 'write'), 0);
      orig.write(fd, buf, off, n, pos, cb);
    }) as typeof fs.write,
    fdatasync: ((fd: number, cb: Cb) => {
      if (syncs && mine(fd)) return void process.nextTick(cb, errno('EIO', 'fdatasync'));
      orig.fdatasync(fd, cb);
    }) as typeof fs.fdatasync,
    fsyncSync: ((fd: number) => {
      if (syncs && mine(fd)) throw errno('EIO', 'fsync');
      orig.fsyncSync(fd);
    }) as typeof fs.fsyncSync,
  };
  Object.assign(fs, patched);
  syncBuiltinESMExports();
  return {
    refuseWrites(code = 'ENOSPC', opts = {}) {
      writeCode = code;
      cut = opts.cut ?? false;
    },
    refuseSyncs() {
      syncs = true;
    },
    heal() {
      writeCode = undefined;
      syncs = false;
    },
    get refused() {
      return refused;
    },
    restore() {
      Object.assign(fs, orig);
      syncBuiltinESMExports();
    },
  };
}
