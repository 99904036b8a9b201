// Calibrated identification confidence: a monotone (isotonic) map from the template fit's raw score to how often such a call was right, with the reliability table that shows it.
//
// Why a map: the raw score (identify.ts: a logistic of the nuclide's significance times its share against the
// alternatives) saturates at 1.00 for almost every call, right or wrong, so "1.00" said nothing about how often a
// call at that score is wrong. The only property of the raw score worth keeping is its order (a higher score is
// at least as likely right), which is exactly what isotonic regression keeps: it fits the non-decreasing step
// function closest to the right/wrong outcomes (pool-adjacent-violators, Ayer et al. 1955; used for classifier
// calibration by Zadrozny and Elkan 2002). Fitted on simulated spectra (bench/identify-confidence.ts, a
// calibration set apart from the evaluation set), shipped below as a small table.

import { CustomsError } from '../../../common/errors.js';

/** One scored call: its raw confidence and whether it was right. */
export interface CalibrationPoint {
  x: number;
  right: boolean;
  /** Weight (default 1). */
  weight?: number;
}

/** A monotone map as knots: constant within a knot pair of equal y, linear between, held flat beyond the ends. */
export interface ConfidenceMap {
  /** Raw confidence at the knots, non-decreasing. */
  x: readonly number[];
  /** Calibrated value at the knots, non-decreasing, in [0, 1]. */
  y: readonly number[];
}

/** A map that cannot be applied (lengths differ, not sorted, values outside [0, 1]). */
export class ConfidenceMapError extends CustomsError {
  constructor(message: string) {
    super('E_CONFIDENCE_MAP', message);
  }
}

export interface IsotonicOptions {
  /**
   * Pseudo-counts added to every block as (right + a) / (n + a + b) after the fit (default 0, 0: plain isotonic
   * regression). With a = b = 1 a block of 40 calls all right maps to 0.98, not to a certainty no sample can show.
   */
  priorRight?: number;
  priorWrong?: number;
}

/**
 * Isotonic regression of right (1) / wrong (0) on the raw confidence by pool-adjacent-violators. Equal raw values
 * are pooled first (they must map to one value). Returns the map as knots at each block's lowest and highest raw
 * value.
 */
export function isotonicFit(points: readonly CalibrationPoint[], opts: IsotonicOptions = {}): ConfidenceMap {
  const a = opts.priorRight ?? 0;
  const b = opts.priorWrong ?? 0;
  const sorted = points.filter((p) => Number.isFinite(p.x) && (p.weight ?? 1) > 0).sort((p, q) => p.x - q.x);
  // Blocks: [xLo, xHi, Σ w·right, Σ w].
  const lo: number[] = [];
  const hi: number[] = [];
  const sum: number[] = [];
  const wt: number[] = [];
  for (const p of sorted) {
    const w = p.weight ?? 1;
    const r = p.right ? w : 0;
    const last = lo.length - 1;
    if (last >= 0 && hi[last] === p.x) {
      sum[last] += r;
      wt[last] += w;
    } else {
      lo.push(p.x);
      hi.push(p.x);
      sum.push(r);
      wt.push(w);
    }
    // Merge backwards while the last block's mean is below the one before it.
    while (lo.length > 1) {
      const j = lo.length - 1;
      if (sum[j - 1] / wt[j - 1] <= sum[j] / wt[j]) break;
      hi[j - 1] = hi[j];
      sum[j - 1] += sum[j];
      wt[j - 1] += wt[j];
      lo.pop();
      hi.pop();
      sum.pop();
      wt.pop();
    }
  }
  const x: number[] = [];
  const y: number[] = [];
  let floor = 0;
  for (let j = 0; j < lo.length; j++) {
    // Pseudo-counts pull small blocks towards ½ and can undo the order by a hair: keep it non-decreasing.
    const v = Math.max(floor, (sum[j] + a) / (wt[j] + a + b));
    floor = v;
    x.push(lo[j]);
    y.push(v);
    if (hi[j] > lo[j]) {
      x.push(hi[j]);
      y.push(v);
    }
  }
  return { x, y };
}

/** Check a map's shape; throws ConfidenceMapError naming what is wrong. */
export function checkConfidenceMap(map: ConfidenceMap, where = 'confidence map'): void {
  if (map.x.length !== map.y.length || map.x.length === 0) throw new ConfidenceMapError(`${where}: expected as many x as y knots (at least one), got ${map.x.length} and ${map.y.length}`);
  for (let i = 0; i < map.x.length; i++) {
    if (!(map.y[i] >= 0 && map.y[i] <= 1)) throw new ConfidenceMapError(`${where}: y[${i}] = ${map.y[i]}, expected a value in [0, 1]`);
    if (i > 0 && !(map.x[i] >= map.x[i - 1])) throw new ConfidenceMapError(`${where}: x[${i}] = ${map.x[i]} below x[${i - 1}] = ${map.x[i - 1]}, expected non-decreasing knots`);
    if (i > 0 && !(map.y[i] >= map.y[i - 1])) throw new ConfidenceMapError(`${where}: y[${i}] = ${map.y[i]} below y[${i - 1}] = ${map.y[i - 1]}, expected a non-decreasing map`);
  }
}

/** The calibrated confidence of a raw one: the map's value, linear between knots, flat beyond the ends. */
export function applyConfidenceMap(map: ConfidenceMap, raw: number): number {
  const { x, y } = map;
  const n = x.length;
  if (!(raw > x[0])) return y[0];
  if (raw >= x[n - 1]) return y[n - 1];
  let l = 0;
  let h = n - 1;
  while (h - l > 1) {
    const m = (l + h) >> 1;
    if (x[m] <= raw) l = m;
    else h = m;
  }
  const span = x[h] - x[l];
  return span > 0 ? y[l] + ((raw - x[l]) / span) * (y[h] - y[l]) : y[h];
}

export interface ReliabilityRow {
  lo: number;
  hi: number;
  n: number;
  /** Mean confidence of the calls in the bin (NaN when empty). */
  meanConfidence: number;
  /** Share of them that were right (NaN when empty). */
  accuracy: number;
}

export interface ReliabilityTable {
  rows: ReliabilityRow[];
  calls: number;
  /** Expected calibration error: Σ (n_bin / N) · |accuracy − mean confidence|. */
  ece: number;
}

/** Reliability table of calls (confidence, right) in `bins` equal bins over [0, 1]; confidence 1 falls in the last. */
export function reliabilityTable(calls: readonly { confidence: number; right: boolean }[], bins = 10): ReliabilityTable {
  const n = new Array<number>(bins).fill(0);
  const conf = new Array<number>(bins).fill(0);
  const right = new Array<number>(bins).fill(0);
  for (const c of calls) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor(c.confidence * bins)));
    n[b]++;
    conf[b] += c.confidence;
    if (c.right) right[b]++;
  }
  let ece = 0;
  const rows: ReliabilityRow[] = [];
  for (let b = 0; b < bins; b++) {
    const meanConfidence = n[b] > 0 ? conf[b] / n[b] : NaN;
    const accuracy = n[b] > 0 ? right[b] / n[b] : NaN;
    if (n[b] > 0) ece += (n[b] / calls.length) * Math.abs(accuracy - meanConfidence);
    rows.push({ lo: b / bins, hi: (b + 1) / bins, n: n[b], meanConfidence, accuracy });
  }
  return { rows, calls: calls.length, ece };
}

/**
 * The map identify.ts applies to the template fit's raw confidence (NaI and other scintillators; HPGe peak
 * identification keeps its own). Fitted by `npx tsx bench/identify-confidence.ts --fit` on the calibration set
 * described there (2,048 simulated spectra through other detectors' responses, 2,032 calls of which 1,660 right;
 * not the evaluation set), 2026-12-07; refit after a change of the identification that moves the raw scores. What
 * it says: a raw 1.00, which 98 % of calls get, is right about 84 % of the time on detectors the templates were not
 * built for; a raw score just above ½ about 59 %; below that a third. The calibration set holds single sources, so
 * the map knows nothing particular about the second nuclide of a mixture.
 */
export const IDENTIFY_CONFIDENCE_MAP: ConfidenceMap = {
  x: [0.2493, 0.25, 0.4845, 0.4907, 0.4958, 0.4965, 0.5, 0.5324, 0.5553, 0.9999, 1],
  y: [0.3333, 0.3333, 0.3333, 0.3333, 0.3333, 0.3333, 0.3333, 0.3333, 0.5913, 0.5913, 0.8389],
};

/** The calibrated confidence identify() reports for a raw template-fit confidence. */
export function calibratedConfidence(raw: number, map: ConfidenceMap = IDENTIFY_CONFIDENCE_MAP): number {
  return applyConfidenceMap(map, raw);
}
