// Solved SPRT thresholds on a grid of (μ0, target ARL, background bias): a table the caller owns and shares between
// monitors (every detector of a vehicle, pipeline restarts, CLI runs), solved inline or spread over the caller's
// scheduler. Nothing here is process-wide: whoever wants sharing passes the same table.
//
// Cells are solved with the closed-form ARL (sprtArlApprox: Wald with Siegmund's overshoot correction), a few tens
// of microseconds per hazard evaluation (1-3 ms a cell), instead of the Brook–Evans Markov chain (milliseconds to a second per hazard evaluation,
// 46 s of CPU for a 33 s portal recording whose fresh background asked for dozens of high-bias cells).
import { sprtHazardApprox, thresholdSearch, type ThresholdParams } from './sprt.js';

/**
 * Thresholds are solved for an ARL this much longer than the budget asks: the closed-form ARL is within ~10 % of the
 * Markov chain where the hazard comes from (background at or above μ0), the chain within ±4 % of Monte Carlo
 * (test/validation/radiation-background-alarm.test.ts), and the μ0 bins are 2 % wide.
 */
const ARL_MARGIN = 1.2;
const MU_BIN = 0.05;
const MU_NORMAL = 2000;
const ARL_BIN = 0.05;
const BIAS_BIN = 0.01;
const BIAS_RATIO = 1.25;
/** A per-sample bias of 0.55 σ: beyond it the monitor raises its design shift instead (learning period). */
const BIAS_BIN_MAX = 18;
const TABLE_MAX = 4096;

/** One cell of the grid: the design shift and ln B of the monitor, and the bins of μ0, ARL and bias. */
export interface ThresholdKey {
  shift: number;
  lnB: number;
  bMu: number;
  bArl: number;
  bBias: number;
}

/** Runs `fn` later (setImmediate in a node): the caller decides how solving work is spread over time. */
export type Scheduler = (fn: () => void) => void;

/**
 * The cell of a test: μ0 by 5 % (ln A moves by ~0.01 nats per factor 2 of μ0), target ARL by 5 %, bias·√μ0 (the bias
 * in per-sample sigmas) in geometric bins 25 % apart. Above MU_NORMAL counts per sample the Poisson is normal for
 * this purpose and the threshold no longer depends on μ0 (0.02 nats from 2,000 to 20,000 counts), so those share one
 * cell. Above BIAS_BIN_MAX the threshold is held at that bin's value: the monitor keeps the bias below it by raising
 * its design shift while the background is young (see monitor.ts, learning period).
 */
export function thresholdKey(shift: number, lnB: number, mu0: number, targetArl: number, biasSigma: number): ThresholdKey {
  const bMu = Math.round(Math.log(Math.min(mu0, MU_NORMAL)) / MU_BIN);
  const bArl = Math.round(Math.log(targetArl) / ARL_BIN);
  const perSample = biasSigma * Math.sqrt(mu0);
  const bBias = perSample <= BIAS_BIN ? 0 : Math.min(BIAS_BIN_MAX, Math.ceil(Math.log(perSample / BIAS_BIN) / Math.log(BIAS_RATIO)));
  return { shift, lnB, bMu, bArl, bBias };
}

export const keyString = (k: ThresholdKey): string => `${k.shift}|${k.lnB}|${k.bMu}|${k.bArl}|${k.bBias}`;

/** The solve a cell stands for, at the safe end of each bin (top of the ARL and of the bias bin). */
export function paramsOf(k: ThresholdKey): ThresholdParams {
  const m0 = Math.exp(k.bMu * MU_BIN);
  const arl = Math.exp((k.bArl + 0.5) * ARL_BIN);
  const bias = (BIAS_BIN * BIAS_RATIO ** k.bBias) / Math.sqrt(m0);
  return { mu0: m0, mu1: m0 + k.shift * Math.sqrt(m0), lnB: k.lnB, targetArl: arl * ARL_MARGIN, biasSigma: bias };
}

export interface ThresholdTable {
  /** ln A of a solved cell, or undefined. +∞ marks a cell no threshold can serve (the test never alarms). */
  get(k: ThresholdKey): number | undefined;
  /** ln A of a cell, solving it now if needed (a millisecond or two). */
  solve(k: ThresholdKey): number;
  /**
   * Solves the cells one hazard evaluation per `schedule` call, so a live node never stalls on them; `done` runs once
   * every cell asked for is in the table.
   */
  solveLater(keys: readonly ThresholdKey[], schedule: Scheduler, done: () => void): void;
  /** Cells solved so far. */
  readonly size: number;
}

/** A table of solved thresholds (at most TABLE_MAX cells, the oldest forgotten first). */
export function createThresholdTable(): ThresholdTable {
  const cells = new Map<string, number>();
  const store = (id: string, lnA: number): void => {
    cells.set(id, lnA);
    if (cells.size > TABLE_MAX) {
      const oldest = cells.keys().next().value;
      if (oldest !== undefined) cells.delete(oldest);
    }
  };
  const solveNow = (k: ThresholdKey): number => {
    const params = paramsOf(k);
    const search = thresholdSearch(params);
    try {
      let r = search.next();
      while (!r.done) r = search.next(Math.log(sprtHazardApprox({ ...params, lnA: r.value })));
      return r.value.lnA;
    } catch {
      // Out of the chain's domain or no ln A reaches the ARL: the test never alarms, rather than the caller failing.
      return Number.POSITIVE_INFINITY;
    }
  };
  // Cells being solved later, each with the callbacks waiting for it.
  const waiting = new Map<string, (() => void)[]>();

  const solveCellLater = (id: string, k: ThresholdKey, schedule: Scheduler): void => {
    const params = paramsOf(k);
    const search = thresholdSearch(params);
    const finish = (lnA: number): void => {
      store(id, lnA);
      const cbs = waiting.get(id) ?? [];
      waiting.delete(id);
      for (const cb of cbs) cb();
    };
    const step = (value?: number): void => {
      let r: IteratorResult<number, { lnA: number }>;
      try {
        r = value === undefined ? search.next() : search.next(value);
      } catch {
        return finish(Number.POSITIVE_INFINITY);
      }
      if (r.done) return finish(r.value.lnA);
      const lnA = r.value;
      schedule(() => {
        let h: number;
        try {
          h = Math.log(sprtHazardApprox({ ...params, lnA }));
        } catch {
          return finish(Number.POSITIVE_INFINITY);
        }
        step(h);
      });
    };
    schedule(() => step());
  };

  return {
    get: (k) => cells.get(keyString(k)),
    solve(k) {
      const id = keyString(k);
      let v = cells.get(id);
      if (v === undefined) store(id, (v = solveNow(k)));
      return v;
    },
    solveLater(keys, schedule, done) {
      let left = 0;
      const one = (): void => {
        if (--left === 0) done();
      };
      const todo = new Map<string, ThresholdKey>();
      for (const k of keys) if (!cells.has(keyString(k))) todo.set(keyString(k), k);
      left = todo.size;
      if (left === 0) {
        schedule(done);
        return;
      }
      // One cell at a time through the scheduler: cells asked for together are solved in turn, not interleaved.
      const ids = [...todo.keys()];
      const next = (i: number): void => {
        if (i >= ids.length) return;
        const id = ids[i]!;
        const then = (): void => {
          one();
          next(i + 1);
        };
        if (cells.has(id)) return then();
        const list = waiting.get(id);
        if (list) list.push(then);
        else {
          waiting.set(id, [then]);
          solveCellLater(id, todo.get(id)!, schedule);
        }
      };
      next(0);
    },
    get size() {
      return cells.size;
    },
  };
}
