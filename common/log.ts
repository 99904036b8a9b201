// The one injectable logger (pino): each module asks for a child with its namespace; the CLIs pick where and how it writes.
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import pinoPretty from 'pino-pretty';
import { CustomsError } from './errors.js';

export type { Logger };

/**
 * How log lines are written: `pretty` is one levelled, readable line per entry for a person at a terminal; `json`
 * is one JSON object per line for journald, Docker and log shippers; `auto` is pretty when the lines go to a terminal.
 */
export const LOG_FORMATS = ['auto', 'pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LogSetup {
  /** Default: LOG_FORMAT, else `auto`. */
  format?: LogFormat;
  /** Append the lines to this file instead of stderr (created with its folder); `auto` is then JSON. */
  file?: string;
  /** Default: LOG_LEVEL, else `info` (`silent` under tests). */
  level?: LevelWithSilent;
}

/** A log setting (flag or environment variable) that is not one of the known values. */
export class LogSetupError extends CustomsError {
  constructor(message: string) {
    super('E_LOG_SETUP', message);
  }
}

const LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

let setup: LogSetup = {};
let root: Logger | undefined;

/**
 * Sets where and how the root logger writes. Call it before the first `logger()` (the CLIs do it in a pre-action
 * hook): loggers made earlier keep the destination they were made with.
 */
export function configureLogging(s: LogSetup): void {
  if (s.format !== undefined) parseLogFormat(s.format, 'format');
  setup = { ...setup, ...s };
  root = undefined;
}

/** Checks a format given on the command line or in LOG_FORMAT; the error names where it came from. */
export function parseLogFormat(v: string, where: string): LogFormat {
  if (!(LOG_FORMATS as readonly string[]).includes(v)) throw new LogSetupError(`${where}: expected one of ${LOG_FORMATS.join(', ')}, got "${v}"`);
  return v as LogFormat;
}

function levelOf(): LevelWithSilent {
  if (setup.level !== undefined) return setup.level;
  const env = process.env.LOG_LEVEL;
  if (env !== undefined && env !== '') {
    if (!(LEVELS as readonly string[]).includes(env)) throw new LogSetupError(`LOG_LEVEL: expected one of ${LEVELS.join(', ')}, got "${env}"`);
    return env as LevelWithSilent;
  }
  return process.env.TAP ? 'silent' : 'info';
}

/** The format in effect: pretty only where a person reads the lines, i.e. stderr on a terminal. */
export function effectiveLogFormat(s: LogSetup = setup): 'pretty' | 'json' {
  const env = process.env.LOG_FORMAT;
  const f = s.format ?? (env !== undefined && env !== '' ? parseLogFormat(env, 'LOG_FORMAT') : 'auto');
  if (f !== 'auto') return f;
  return s.file === undefined && process.stderr.isTTY === true ? 'pretty' : 'json';
}

/**
 * A synchronous destination: pretty lines are formatted in this thread (pino-pretty's formatter, not its worker
 * transport), so a CLI that exits right after an error still shows the error's log line.
 */
function destination(format: 'pretty' | 'json'): DestinationStream {
  const file = setup.file;
  if (format === 'json') return pino.destination(file !== undefined ? { dest: file, mkdir: true, append: true, sync: false } : { dest: 2, sync: false });
  const out = pino.destination(file !== undefined ? { dest: file, mkdir: true, append: true, sync: true } : { dest: 2, sync: true });
  const colorize = file === undefined && process.stderr.isTTY === true && !process.env.NO_COLOR;
  const pretty = pinoPretty.prettyFactory({
    colorize,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,ns',
    messageFormat: '{if ns}{ns}: {end}{msg}',
    singleLine: true,
  });
  return { write: (line: string) => void out.write(pretty(line)) };
}

/** Root logger; level from LOG_LEVEL (default `info`, `silent` under tests unless LOG_LEVEL is set). */
export function rootLogger(): Logger {
  if (!root) {
    const format = effectiveLogFormat();
    root = pino({ level: levelOf(), base: { pid: process.pid } }, destination(format));
  }
  return root;
}

export function logger(ns: string, parent?: Logger): Logger {
  return (parent ?? rootLogger()).child({ ns });
}

/** A logger that discards everything, for callers that inject one in unit tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
