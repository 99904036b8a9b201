// The node's one table of solved alarm thresholds, shared by every radiation pipeline of the process and kept across
// pipeline restarts, and the scheduler that spreads solves over event-loop turns.
import { createThresholdTable, type Scheduler, type ThresholdKey, type ThresholdTable } from '../../analysis/radiation/alarm/index.js';

export const nodeThresholds: ThresholdTable = createThresholdTable();

/** One hazard evaluation per event-loop turn: serial lines and MQTT keep being served while a solve runs. */
export const eventLoopScheduler: Scheduler = (fn) => setImmediate(fn);

/** Resolves once every cell is solved, without ever blocking the event loop for a whole solve. */
export function solveOffLoop(table: ThresholdTable, keys: readonly ThresholdKey[]): Promise<void> {
  return new Promise((resolve) => table.solveLater(keys, eventLoopScheduler, resolve));
}
