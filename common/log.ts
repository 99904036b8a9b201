// The one injectable logger (pino): each module asks for a child with its namespace.
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

let root: Logger | undefined;

/** Root logger; level from LOG_LEVEL (default `info`, `silent` under tests unless LOG_LEVEL is set). */
export function rootLogger(): Logger {
  if (!root) {
    const level = (process.env.LOG_LEVEL as LevelWithSilent | undefined) ?? (process.env.TAP ? 'silent' : 'info');
    root = pino({ level, base: { pid: process.pid } }, pino.destination({ dest: 2, sync: false }));
  }
  return root;
}

export function logger(ns: string, parent?: Logger): Logger {
  return (parent ?? rootLogger()).child({ ns });
}

/** A logger that discards everything, for callers that inject one in unit tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
