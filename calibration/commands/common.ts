// Shared pieces of the customs-calib commands: the output context, option parsers, file writing, help examples.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CustomsError, InputError } from '../../common/errors.js';

export interface Io {
  out(s: string): void;
  err(s: string): void;
}

/** What every command gets: where to write, and the exit code a command that ran to the end still sets to 1. */
export interface CliContext {
  io: Io;
  /** A daily check that fails or a push a node refused completes normally but exits 1. */
  state: { code: number };
  /** With --json the value, else the human text, each followed by a newline. */
  print(json: boolean, value: unknown, human: () => string): void;
}

export function createContext(io: Io, state: { code: number }): CliContext {
  return {
    io,
    state,
    print: (json, value, human) => io.out(json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`),
  };
}

export function positive(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!(n > 0) || !Number.isFinite(n)) throw new InputError(`${flag}: expected a positive number, got "${v}"`);
    return n;
  };
}

export function integer(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InputError(`${flag}: expected an integer >= 1, got "${v}"`);
    return n;
  };
}

/** Parser of a repeatable option: each occurrence adds one value. */
export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** Written to a temporary name and renamed, so a crash never leaves half a result or record behind. */
export function writeAtomic(file: string, data: string | Buffer): void {
  mkdirSync(dirname(resolve(file)), { recursive: true });
  writeFileSync(`${file}.tmp`, data);
  renameSync(`${file}.tmp`, file);
}

export function readJson(file: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`${file}: cannot read ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new InputError(`${file}: ${what} is not valid JSON (${(e as Error).message})`);
  }
}

/** Fixed decimals for finite numbers; NaN and Infinity as themselves rather than an exception. */
export const f2 = (v: number, d = 2): string => (Number.isFinite(v) ? v.toFixed(d) : String(v));

/** Prefixes an analysis error with the file it came from. */
export function withFile<T>(file: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof CustomsError && !e.message.startsWith(file)) {
      const w = new CustomsError(e.code, `${file}: ${e.message}`, { cause: e });
      throw w;
    }
    throw e;
  }
}

/** Text for `addHelpText('after', ...)`: example invocations, one a line. */
export function examples(...lines: string[]): string {
  return `\nExample${lines.length > 1 ? 's' : ''}:\n${lines.map((l) => `  $ customs-calib ${l}`).join('\n')}`;
}
