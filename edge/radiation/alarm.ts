// Radiation alarms: Wald SPRTs on gross counts and energy-window counts, per detector and summed, at a configured false alarm rate.
//
// The test. For each sample (one spectrum per detector, typically 0.1-1 s) a test sees counts n with expected background
// μ0 = b·t (b from background.ts, t the live time). The alternative is a source adding `shift_sigma` standard
// deviations of the background per sample: μ1 = μ0 + shift_sigma·√μ0. Each sample adds the log-likelihood ratio
// Λ += n·ln(μ1/μ0) − (μ1 − μ0) (Poisson). Wald: Λ ≥ ln A → alarm (H1); Λ ≤ ln B → accept background and start
// again from 0. B = β/(1 − α) from the configured β; A = (1 − β)/α nominally, but for a test that runs for ever the
// α of one cycle says nothing about alarms per hour, so ln A is *calibrated*: it is solved for so that the mean
// number of samples between false alarms (the average run length, ARL, with restarts at 0) equals the target. The
// ARL is computed exactly up to a discretisation: Λ as a Markov chain on a grid between ln B and ln A with the
// Poisson transition probabilities (Brook & Evans 1972), restart at ln B folded in; within ±4 % of Monte Carlo
// (tested), and solved for an ARL 10 % longer than asked to cover that.
//
// The background is estimated, not known: its relative error ε (σ_ε = 1/√(b·T_eff), T_eff the estimator's
// effective live time) biases every sample the same way for as long as the estimate lasts, and false alarms are very
// sensitive to that (Λ's drift under H0 is only −shift²/2 per sample). So the threshold is solved against the false
// alarm rate averaged over ε ~ N(0, σ_ε²) (7-point Gauss–Hermite): the hazard 1/ARL at each ε, averaged.
//
// Rate budget. The target is alarms per hour of measurement time (driving time for a vehicle; not per occupancy:
// a vehicle system has no occupancies). It is split evenly over the m tests that run (gross and each window, per
// detector and summed), so the rate of all of them together is at most the target (Bonferroni; the tests are
// positively correlated, so the true combined rate is lower). Test i then gets ARL_i = 3600·m / (F·dt) samples.
//
// An alarm event lasts while Λ ≥ ln A; during it Λ is capped at ln A + holdMargin so it drops back soon after the
// source has gone; when it falls below ln A the event ends and Λ restarts at 0, as the ARL model assumes.
//
// Measured (bench/radiation-alarm.ts, 8 NaI 2x4x16 logs at 10 Hz, 36 tests, estimated background): 0.70 false
// alarms/h over 10 h at a configured 1/h, 91/h over 1 h at a configured 100/h. NORM-vs-man-made: each event of
// alarmRun carries the window shape (windowShape) of its summed excess.

import { InputError } from '../../common/errors.js';
import { createBackgroundEstimator, robustPooledRates, type BackgroundEstimator, type BackgroundOptions } from './background.js';
import { energyOf } from './calibration.js';
import type { EnergyCalibration, Measurement } from './spectrum.js';

// ------------------------------------------------------------------------------------------------
// Energy windows

export interface EnergyWindow {
  name: string;
  lo_keV: number;
  hi_keV: number;
}

/**
 * Default windows: 'low' holds the Compton continua and the low lines (Am-241, Ba-133, I-131, Tc-99m, HEU 186 keV),
 * 'mid' the Cs-137 662 keV peak and most medical/industrial lines, 'high' K-40, Co-60 and Th/U high lines. NORM
 * raises all three in the background's proportions; a man-made source raises one far more than the others.
 */
export const DEFAULT_WINDOWS: readonly EnergyWindow[] = [
  { name: 'low', lo_keV: 30, hi_keV: 400 },
  { name: 'mid', lo_keV: 400, hi_keV: 1200 },
  { name: 'high', lo_keV: 1200, hi_keV: 3000 },
];

/** Channel index ranges [first, last] of each window: channels whose centre energy lies in [lo, hi). */
export function windowChannels(cal: EnergyCalibration, nChannels: number, windows: readonly EnergyWindow[]): [number, number][] {
  const centre = new Float64Array(nChannels);
  for (let i = 0; i < nChannels; i++) centre[i] = energyOf(cal, i + 0.5);
  return windows.map((w) => {
    let first = nChannels;
    let last = -1;
    for (let i = 0; i < nChannels; i++) {
      if (centre[i] >= w.lo_keV && centre[i] < w.hi_keV) {
        if (i < first) first = i;
        last = i;
      }
    }
    return [first, last] as [number, number];
  });
}

/** Counts in each window (0 for a window outside the spectrum). */
export function windowCounts(counts: ArrayLike<number>, ranges: readonly [number, number][]): number[] {
  return ranges.map(([a, b]) => {
    let s = 0;
    for (let i = a; i <= b; i++) s += counts[i];
    return s;
  });
}

// ------------------------------------------------------------------------------------------------
// SPRT arithmetic: increments, ARL by Markov chain, threshold for a target ARL

/** Log-likelihood ratio of n counts: Poisson(μ1) against Poisson(μ0). */
export function sprtIncrement(n: number, mu0: number, mu1: number): number {
  return n * Math.log(mu1 / mu0) - (mu1 - mu0);
}

const LOG_FACT_SMALL = (() => {
  const t = new Float64Array(32);
  for (let k = 2; k < 32; k++) t[k] = t[k - 1] + Math.log(k);
  return t;
})();

function logFactorial(k: number): number {
  if (k < 32) return LOG_FACT_SMALL[k];
  const n = k + 1;
  const inv = 1 / n;
  const inv2 = inv * inv;
  return (n - 0.5) * Math.log(n) - n + 0.9189385332046728 + inv * (1 / 12 - inv2 * (1 / 360 - inv2 / 1260));
}

/**
 * P(N ≤ lo + k) for k = 0..K of a Poisson mean, over the range where the probability is not negligible (lo is where
 * the lower tail drops below ~1e-50, the top where the upper tail does), so a mean of 10⁵ costs 10⁴ terms, not 10⁵.
 */
function poissonCdf(mean: number): { lo: number; cdf: Float64Array } {
  const sd = Math.sqrt(mean);
  const lo = Math.max(0, Math.floor(mean - 16 * sd - 40));
  const hi = Math.ceil(mean + 16 * sd + 40);
  const cdf = new Float64Array(hi - lo + 1);
  let acc = 0;
  const lm = Math.log(Math.max(mean, 1e-300));
  for (let n = lo; n <= hi; n++) {
    acc += mean > 0 ? Math.exp(-mean + n * lm - logFactorial(n)) : n === 0 ? 1 : 0;
    cdf[n - lo] = Math.min(acc, 1);
  }
  return { lo, cdf };
}

export interface SprtArlOptions {
  mu0: number;
  mu1: number;
  lnA: number;
  lnB: number;
  /** The Poisson mean the counts really have (default mu0: the background is known exactly). */
  trueMean?: number;
  /** Override the number of grid cells (default: chosen from the increment's spread, 40-400). */
  cells?: number;
}

/**
 * Average run length (samples) from Λ = 0 to the first Λ ≥ ln A, restarting at 0 whenever Λ ≤ ln B: Brook–Evans
 * Markov chain on a grid of cells between ln B and ln A, the Poisson probabilities of landing in each cell from the
 * centre of each cell. The restart column is handled by superposition: with (I − T)u = 1 and (I − T)v = p (p the
 * probability of falling below ln B), ARL = u₀ / (1 − v₀) for the cell holding 0.
 */
export function sprtArl(o: SprtArlOptions): number {
  const { mu0, mu1, lnA, lnB } = o;
  if (!(mu0 > 0 && mu1 > mu0)) throw new InputError(`sprtArl: expected 0 < mu0 < mu1, got ${mu0}, ${mu1}`);
  if (!(lnA > 0 && lnB < 0)) throw new InputError(`sprtArl: expected lnB < 0 < lnA, got ${lnB}, ${lnA}`);
  const m = o.trueMean ?? mu0;
  const a = Math.log(mu1 / mu0);
  const c = mu1 - mu0;
  const sdInc = a * Math.sqrt(Math.max(m, 1e-12));
  // Cells an eighth of the increment's spread; where single counts are big steps (small means) a quarter of a step,
  // and never coarser than a quarter of the drift of an empty sample. 100-400 cells: within ~2 % of Monte Carlo
  // for means of 1-2400 counts (4 % at a mean of 3, where the lattice of the counts is coarsest), see the tests.
  let w = Math.min(sdInc / 8, c / 4);
  if (a > sdInc / 4) w = Math.min(w, a / 3);
  const span = lnA - lnB;
  const M = o.cells ?? Math.max(100, Math.min(400, Math.ceil(span / w)));
  w = span / M;
  const { lo: nLo, cdf } = poissonCdf(m);
  const nTop = nLo + cdf.length - 1;
  // S(u) = ∫₀ᵘ P(N ≤ t) dt, so the probability averaged over a uniform position within the source cell is a
  // difference quotient of S. Averaging over the cell rather than taking its centre keeps the lattice of the
  // counts (steps of a = ln(μ1/μ0)) from aliasing against the grid.
  const S0 = new Float64Array(cdf.length + 1);
  for (let k = 0; k < cdf.length; k++) S0[k + 1] = S0[k] + cdf[k];
  const S = (u: number): number => {
    if (u <= nLo) return 0;
    if (u >= nTop + 1) return S0[cdf.length] + (u - nTop - 1);
    const k = Math.floor(u);
    return S0[k - nLo] + (u - k) * cdf[k - nLo];
  };
  const step = w / a;
  // Mean over a source cell of P(N ≤ u + s), s uniform in [−step/2, step/2].
  const Fbar = (u: number): number => (S(u + step / 2) - S(u - step / 2)) / step;
  // Matrix I − T (row-major) and two right-hand sides.
  const A = new Float64Array(M * M);
  const u = new Float64Array(M).fill(1);
  const v = new Float64Array(M);
  for (let i = 0; i < M; i++) {
    const xi = lnB + (i + 0.5) * w;
    // Λ' = x + a·n − c lands in cell j when lnB + j·w < Λ' ≤ lnB + (j+1)·w, x spread over cell i.
    const base = (lnB - xi + c) / a;
    v[i] = Fbar(base);
    // Cells below jFrom cannot be reached (they would need fewer than 0 counts).
    const jFrom = Math.max(0, Math.floor(-base / step) - 2);
    let prev = Fbar(base + jFrom * step);
    for (let j = jFrom; j < M; j++) {
      const cur = Fbar(base + (j + 1) * step);
      const pj = cur - prev;
      prev = cur;
      if (pj > 0) A[i * M + j] -= pj;
      if (cur >= 1) break;
    }
    A[i * M + i] += 1;
  }
  // Gaussian elimination without pivoting: I − T is an M-matrix (diagonally dominant by rows), so it is stable.
  // Λ falls by at most c − a·nLo in a sample (nLo the fewest counts with any probability), so column k has
  // non-zeros only down to row k + band, and elimination stays within that band.
  const band = Math.min(M, Math.ceil((c - a * nLo) / w) + 3);
  for (let k = 0; k < M; k++) {
    const pk = A[k * M + k];
    const rEnd = Math.min(M, k + band + 1);
    for (let r = k + 1; r < rEnd; r++) {
      const f = A[r * M + k] / pk;
      if (f === 0) continue;
      A[r * M + k] = 0;
      for (let j = k + 1; j < M; j++) A[r * M + j] -= f * A[k * M + j];
      u[r] -= f * u[k];
      v[r] -= f * v[k];
    }
  }
  for (let r = M - 1; r >= 0; r--) {
    let su = u[r];
    let sv = v[r];
    for (let j = r + 1; j < M; j++) {
      su -= A[r * M + j] * u[j];
      sv -= A[r * M + j] * v[j];
    }
    u[r] = su / A[r * M + r];
    v[r] = sv / A[r * M + r];
  }
  const r0 = Math.min(M - 1, Math.max(0, Math.floor(-lnB / w)));
  return u[r0] / Math.max(1 - v[r0], 1e-300);
}

// Probabilists' Gauss–Hermite, 7 points: E[f(Z)] ≈ Σ wₖ f(zₖ) for Z ~ N(0, 1).
const GH_Z = [-3.750439717725742, -2.366759410734541, -1.154405394739968, 0, 1.154405394739968, 2.366759410734541, 3.750439717725742];
const GH_W = [5.48268855972218e-4, 3.07571239675865e-2, 2.40123178605013e-1, 4.57142857142857e-1, 2.40123178605013e-1, 3.07571239675865e-2, 5.48268855972218e-4];

/** False alarms per sample of an SPRT whose μ0 has relative error ~ N(0, biasSigma²): the hazard averaged over it. */
export function sprtHazard(o: { mu0: number; mu1: number; lnA: number; lnB: number; biasSigma?: number }): number {
  const s = o.biasSigma ?? 0;
  if (!(s > 0)) return 1 / sprtArl(o);
  let h = 0;
  for (let k = 0; k < GH_Z.length; k++) {
    const m = o.mu0 * Math.max(1e-6, 1 + s * GH_Z[k]);
    h += GH_W[k] / sprtArl({ ...o, trueMean: m });
  }
  return h;
}

/**
 * ln A for which the SPRT gives one false alarm per `targetArl` samples on average, with the background's relative
 * uncertainty `biasSigma` folded in. The false alarm rate falls close to e^(−ln A) (E0[e^Λ] = 1 for a likelihood
 * ratio), so Newton steps with that slope converge in a few evaluations. The discretised rate wiggles by a few per
 * cent around that line, so local secant slopes would mislead. Returns the ln A with the rate closest to the target
 * from below (never above it by more than 2 %).
 */
export function sprtThreshold(o: ThresholdParams): { lnA: number; hazard: number } {
  const search = thresholdSearch(o);
  let r = search.next();
  while (!r.done) r = search.next(Math.log(sprtHazard({ ...o, lnA: r.value })));
  return r.value;
}

export interface ThresholdParams {
  mu0: number;
  mu1: number;
  lnB: number;
  targetArl: number;
  biasSigma?: number;
}

/**
 * The search of sprtThreshold as a generator: it yields each ln A whose log hazard it needs and takes that value
 * back, so a caller can spread the evaluations (milliseconds to tens of milliseconds each) over event-loop turns.
 */
export function* thresholdSearch(o: ThresholdParams): Generator<number, { lnA: number; hazard: number }, number> {
  if (!(o.targetArl > 1)) throw new InputError(`targetArl: expected more than 1 sample, got ${o.targetArl}`);
  const goal = -Math.log(o.targetArl);
  const tol = 0.02;
  let best: { lnA: number; f: number } | undefined;
  const consider = (x: number, fx: number): void => {
    if (fx <= goal + tol && (!best || fx > best.f)) best = { lnA: x, f: fx };
  };
  // First guess, then one Newton step with the theoretical slope −1.
  let x0 = Math.max(0.5, Math.log(o.targetArl) - 2.5);
  let f0 = yield x0;
  consider(x0, f0);
  if (Math.abs(f0 - goal) <= tol) return { lnA: x0, hazard: Math.exp(f0) };
  let x1 = Math.max(0.05, x0 + (f0 - goal));
  let f1 = yield x1;
  consider(x1, f1);
  if (Math.abs(f1 - goal) <= tol) return { lnA: x1, hazard: Math.exp(f1) };
  // Bracket: [lo, hi] with f(lo) > goal >= f(hi), widening geometrically (the slope can be far shallower than −1
  // when the background is known so poorly that a biased estimate alone looks like a source).
  let lo: number;
  let flo: number;
  let hi: number;
  let fhi: number;
  if ((f0 > goal) === (f1 > goal)) {
    const up = f1 > goal;
    let step = Math.max(0.5, Math.abs(x1 - x0));
    for (let i = 0; i < 60 && (f1 > goal) === up; i++) {
      x0 = x1;
      f0 = f1;
      x1 = up ? x1 + step : Math.max(0.05, x1 - step);
      step *= 1.6;
      f1 = yield x1;
      consider(x1, f1);
      if (!up && x1 <= 0.05) break;
    }
  }
  if (f0 > goal) {
    lo = x0;
    flo = f0;
    hi = x1;
    fhi = f1;
  } else {
    lo = x1;
    flo = f1;
    hi = x0;
    fhi = f0;
  }
  if (!(flo > goal && fhi <= goal)) {
    if (best) return { lnA: best.lnA, hazard: Math.exp(best.f) };
    throw new InputError(`sprtThreshold: no threshold reaches an ARL of ${o.targetArl} samples`);
  }
  // Illinois regula falsi on ln(rate) − goal.
  let side = 0;
  for (let i = 0; i < 40; i++) {
    const x = hi - ((fhi - goal) * (hi - lo)) / (fhi - goal - (flo - goal));
    const fx = yield x;
    consider(x, fx);
    if (Math.abs(fx - goal) <= tol) break;
    if (fx > goal) {
      lo = x;
      flo = fx;
      if (side === -1) fhi = goal + (fhi - goal) / 2;
      side = -1;
    } else {
      hi = x;
      fhi = fx;
      if (side === 1) flo = goal + (flo - goal) / 2;
      side = 1;
    }
    if (hi - lo < 1e-3) break;
  }
  const b = best ?? { lnA: hi, f: fhi };
  return { lnA: b.lnA, hazard: Math.exp(b.f) };
}

// ------------------------------------------------------------------------------------------------
// Alarm monitor

export interface AlarmOptions {
  /** Target false alarm rate of all tests together, alarms per hour of measurement (driving) time. Default 1. */
  falseAlarmRate_per_h?: number;
  /** Wald β (missed-detection probability of one cycle): ln B = ln(β/(1 − α)). Default 0.05. */
  beta?: number;
  /** Design alternative: the source adds this many background standard deviations per sample (default 1). */
  shift_sigma?: number;
  /** Energy windows (default DEFAULT_WINDOWS); [] for gross counts only. */
  windows?: readonly EnergyWindow[];
  /** Run tests per detector (default true) and on the sum over detectors (default true). */
  perDetector?: boolean;
  summed?: boolean;
  /** How far above ln A Λ may climb during an alarm (nats, default 2): the alarm ends that much sooner. */
  holdMargin?: number;
  /** Fold the background estimate's own uncertainty into the thresholds (default true). */
  backgroundUncertainty?: boolean;
  /**
   * Solve new thresholds between event-loop turns instead of inside update() (default false). A solve takes tens
   * to hundreds of milliseconds, and a fresh background estimate needs one per bias bin as it settles; a live node
   * must not stall its serial lines and MQTT meanwhile. Until a threshold is solved the test uses the nearest
   * solved one for a larger background uncertainty (higher, so on the safe side), or does not alarm at all.
   */
  deferSolves?: boolean;
  /** Options of the per-detector background estimators (their nWindows is set from the windows). */
  background?: Omit<BackgroundOptions, 'nWindows'>;
}

export interface DetectorSample {
  id: string;
  liveTime_s: number;
  gross: number;
  /** Counts per window in the order of the configured windows (needed for the window tests). */
  windows?: readonly number[];
}

export interface MonitorSample {
  /** Start of the sample on the caller's time scale (seconds). */
  time_s: number;
  /** Real (clock) duration of the sample: the unit of the false alarm budget. */
  realTime_s: number;
  detectors: readonly DetectorSample[];
}

/** Given background rates per detector (instead of estimating them); `live_s` is how long they were measured. */
export interface KnownBackground {
  gross_cps: number;
  windows_cps?: readonly number[];
  live_s?: number;
}

/** The tests that can alarm. */
export type AlarmTest = 'gross-sprt' | 'window-sprt';

export interface TestResult {
  test: AlarmTest;
  /** Detector id, or 'sum' for the test on all detectors together. */
  detector: string;
  window?: string;
  statistic: number;
  threshold: number;
  alarm: boolean;
}

export interface AlarmDecision {
  /** Any test is in alarm. */
  alarm: boolean;
  /** This sample starts a new alarm event (no test was in alarm on the previous sample). */
  onset: boolean;
  /** Statistic and threshold of the test nearest to (or furthest over) its threshold ('none' before any test ran). */
  statistic: number;
  threshold: number;
  test: AlarmTest | 'none';
  detector?: string;
  window?: string;
  /** False while the background is still warming up (no test evaluated). */
  ready: boolean;
  tests: TestResult[];
  /** Counts and expected background per window, summed over the detectors (when windows are available). */
  windowSum?: { counts: number[]; background: number[] };
}

export interface WindowShape {
  /**
   * Excess below the last (highest) window against the excess in it, compared with the background's ratio of the
   * two, in standard deviations: z = (x_lo·b_hi − x_hi·b_lo) / √(n_lo·b_hi² + n_hi·b_lo²), x the net and n the gross
   * counts, b the background, "lo" all windows but the last together. NORM (K, U, Th in cargo) raises the windows
   * roughly in the background's proportions, potassium mostly the high one: z ≤ ~3. A man-made source with lines
   * below ~1.2 MeV (Cs-137, Ba-133, Am-241, I-131, Tc-99m, HEU) adds almost nothing above: z ≫ 3. Co-60 looks
   * NORM-like on this ratio; telling it apart is for nuclide identification.
   */
  ratio_nsigma: number;
  /** ratio_nsigma > 3. */
  manMadeLike: boolean;
  net: number[];
}

/** Shape check of summed window counts against their background (see WindowShape). */
export function windowShape(counts: readonly number[], background: readonly number[]): WindowShape {
  const k = counts.length - 1;
  const net = counts.map((c, i) => c - background[i]);
  if (k < 1) return { ratio_nsigma: 0, manMadeLike: false, net };
  let nLo = 0;
  let bLo = 0;
  for (let i = 0; i < k; i++) {
    nLo += counts[i];
    bLo += background[i];
  }
  const bHi = background[k];
  const v = nLo * bHi * bHi + counts[k] * bLo * bLo;
  const z = v > 0 ? ((nLo - bLo) * bHi - net[k] * bLo) / Math.sqrt(v) : 0;
  return { ratio_nsigma: z, manMadeLike: z > 3, net };
}

export interface AlarmMonitor {
  update(sample: MonitorSample, background?: Readonly<Record<string, KnownBackground>>): AlarmDecision;
  /** The background estimator of a detector (created on its first sample). */
  backgroundOf(id: string): BackgroundEstimator | undefined;
  /** Seed a detector's background estimate (e.g. from a robust look at the start of a file). */
  seed(id: string, rates: KnownBackground & { time_s?: number }): void;
  /** The configuration as applied: rates, number of tests, unit. */
  config(): AlarmConfigReport;
  /** Forget every test statistic and background estimate (a new run); calibrated thresholds are kept. */
  reset(): void;
  /** Forget one detector's background and tests, and the summed tests (its energy windows changed meaning). */
  forget(id: string): void;
}

export interface AlarmConfigReport {
  falseAlarmRate_per_h: number;
  unit: 'alarms per hour of measurement (driving) time';
  /** Tests the budget is split over (gross and windows, per detector and summed), as last run. */
  tests: number;
  perTestRate_per_h: number;
  beta: number;
  lnB: number;
  shift_sigma: number;
  windows: EnergyWindow[];
}

interface TestState {
  test: AlarmTest;
  detector: string;
  window?: string;
  windowIndex: number; // −1 for gross
  lambda: number;
  alarm: boolean;
  // Bins of the threshold in use.
  bMu: number;
  bArl: number;
  bBias: number;
  lnA: number;
}

const THRESHOLD_CACHE_MAX = 4096;
/**
 * Solved thresholds, shared by every monitor of the process (vehicles with many detectors, the CLI, tests): a
 * solve costs milliseconds to hundreds of milliseconds and depends only on the key `shift|lnB|bMu|bArl|bBias`.
 * `solvedByFamily` indexes them by `shift|lnB` for the stand-ins of deferred solves.
 */
const thresholdCache = new Map<string, number>();
const solvedByFamily = new Map<string, { bMu: number; bArl: number; bBias: number; lnA: number }[]>();

function remember(shift: number, lnB: number, bMu: number, bArl: number, bBias: number, lnA: number): void {
  const key = `${shift}|${lnB}|${bMu}|${bArl}|${bBias}`;
  if (thresholdCache.has(key)) return;
  thresholdCache.set(key, lnA);
  if (thresholdCache.size > THRESHOLD_CACHE_MAX) {
    const oldest = thresholdCache.keys().next().value;
    if (oldest !== undefined) thresholdCache.delete(oldest);
  }
  const fam = `${shift}|${lnB}`;
  let list = solvedByFamily.get(fam);
  if (!list) solvedByFamily.set(fam, (list = []));
  if (list.length < THRESHOLD_CACHE_MAX) list.push({ bMu, bArl, bBias, lnA });
}

/**
 * A solved threshold to use while the exact one is being solved: one for at least this ARL and this bias (both
 * raise ln A, so the stand-in is on the safe side), the nearest such; μ0 matters little (see thresholdFor).
 */
function standIn(shift: number, lnB: number, bMu: number, bArl: number, bBias: number): number | undefined {
  let best: { e: { lnA: number }; d: number } | undefined;
  for (const e of solvedByFamily.get(`${shift}|${lnB}`) ?? []) {
    if (e.bBias < bBias || e.bArl < bArl) continue;
    const d = (e.bArl - bArl) * 1000 + (e.bBias - bBias) * 100 + Math.abs(e.bMu - bMu);
    if (!best || d < best.d) best = { e, d };
  }
  return best?.e.lnA;
}

/** Threshold solves waiting or running in the background (deferSolves). */
export function pendingThresholdSolves(): number {
  return solveQueue.size;
}

/**
 * Deferred solves, one at a time, one hazard evaluation per event-loop turn. A threshold no ln A can reach is
 * stored as +∞ (the test never alarms), as a synchronous solve would have thrown.
 */
const solveQueue = (() => {
  const pending = new Map<string, { params: ThresholdParams; done: (lnA: number) => void }>();
  let running = false;
  const runNext = (): void => {
    const next = pending.entries().next();
    if (next.done) {
      running = false;
      return;
    }
    const [key, job] = next.value;
    const search = thresholdSearch(job.params);
    const finish = (lnA: number): void => {
      job.done(lnA);
      pending.delete(key);
      setImmediate(runNext);
    };
    const stepOnce = (value?: number): void => {
      let r: IteratorResult<number, { lnA: number }>;
      try {
        r = value === undefined ? search.next() : search.next(value);
      } catch {
        return finish(Number.POSITIVE_INFINITY);
      }
      if (r.done) return finish(r.value.lnA);
      const lnA = r.value;
      setImmediate(() => {
        let h: number;
        try {
          h = Math.log(sprtHazard({ ...job.params, lnA }));
        } catch {
          // Out of the chain's domain: as if no threshold could be solved (an exception here would be uncaught).
          return finish(Number.POSITIVE_INFINITY);
        }
        stepOnce(h);
      });
    };
    stepOnce();
  };
  return {
    get size(): number {
      return pending.size;
    },
    request(key: string, params: ThresholdParams, done: (lnA: number) => void): void {
      if (pending.has(key)) return;
      pending.set(key, { params, done });
      if (!running) {
        running = true;
        setImmediate(runNext);
      }
    },
  };
})();
/**
 * Thresholds are solved for an ARL this much longer than the budget asks: the Markov-chain ARL is within ±4 % of
 * Monte Carlo (test/radiation-background-alarm.test.ts) and the μ0 bins are 2 % wide.
 */
const ARL_MARGIN = 1.1;
const MU_BIN = 0.05;
const MU_NORMAL = 2000;
const ARL_BIN = 0.05;
const BIAS_BIN = 0.01;
const BIAS_RATIO = 1.25;
const BIAS_BIN_MAX = 13;

export function createAlarmMonitor(opts: AlarmOptions = {}): AlarmMonitor {
  const far = opts.falseAlarmRate_per_h ?? 1;
  if (!(far > 0) || !Number.isFinite(far)) throw new InputError(`falseAlarmRate_per_h: expected a rate > 0, got ${far}`);
  const beta = opts.beta ?? 0.05;
  if (!(beta > 0 && beta < 0.5)) throw new InputError(`beta: expected a probability in (0, 0.5), got ${beta}`);
  const shift = opts.shift_sigma ?? 1;
  if (!(shift > 0) || !Number.isFinite(shift)) throw new InputError(`shift_sigma: expected a number > 0, got ${shift}`);
  const windows = [...(opts.windows ?? DEFAULT_WINDOWS)];
  const perDetector = opts.perDetector ?? true;
  const summed = opts.summed ?? true;
  if (!perDetector && !summed) throw new InputError('perDetector and summed are both false: no test would run');
  const hold = opts.holdMargin ?? 2;
  const useBias = opts.backgroundUncertainty ?? true;
  const deferSolves = opts.deferSolves ?? false;
  // α of one Wald cycle is tiny next to 1 here, so B = β/(1 − α) ≈ β.
  const lnB = Math.log(beta);
  const nW = windows.length;

  const estimators = new Map<string, BackgroundEstimator>();
  const tests = new Map<string, TestState[]>();
  let nTests = 0;
  let lastAlarm = false;

  const estimatorOf = (id: string): BackgroundEstimator => {
    let e = estimators.get(id);
    if (!e) {
      e = createBackgroundEstimator({ ...opts.background, nWindows: nW });
      estimators.set(id, e);
    }
    return e;
  };

  // Per detector (and 'sum'): index 0 the gross test, 1 + i window i.
  const stateOf = (test: AlarmTest, detector: string, windowIndex: number): TestState => {
    let list = tests.get(detector);
    if (!list) {
      list = [];
      tests.set(detector, list);
    }
    let s = list[windowIndex + 1];
    if (!s) {
      s = { test, detector, window: windowIndex >= 0 ? windows[windowIndex].name : undefined, windowIndex, lambda: 0, alarm: false, bMu: NaN, bArl: NaN, bBias: NaN, lnA: NaN };
      list[windowIndex + 1] = s;
    }
    return s;
  };

  /** ln A for a test, from the cache of calibrations on a grid of (μ0, ARL, standardized bias). */
  const thresholdFor = (s: TestState, mu0: number, targetArl: number, biasSigma: number): number => {
    // Bins: μ0 by 5 % (ln A moves by ~0.01 nats per factor 2 of μ0), target ARL by 5 %, bias·√μ0 (the bias in
    // per-sample sigmas) by 0.01. Above MU_NORMAL counts per sample the Poisson is normal for this purpose and the
    // threshold no longer depends on μ0 (0.02 nats from 2,000 to 20,000 counts), so those share one calibration.
    const bMu = Math.round(Math.log(Math.min(mu0, MU_NORMAL)) / MU_BIN);
    const bArl = Math.round(Math.log(targetArl) / ARL_BIN);
    // The background's own uncertainty shrinks steadily as it accumulates live time; geometric bins (25 % apart)
    // keep that from forcing a new threshold solve every few samples, and calibrating at the top of the bin errs
    // on the safe side.
    const perSample = biasSigma * Math.sqrt(mu0);
    // Above BIAS_BIN_MAX (a per-sample bias of 0.18 σ) the threshold is held at that bin's value rather than solved:
    // those solves cost the most and give tens to thousands of nats. A background that uncertain is a fresh one
    // (its relative uncertainty falls as 1/√samples, so ~30 samples), and in so few samples Λ cannot drift to a
    // threshold of tens of nats (its drift is shift·bias − shift²/2 per sample).
    const bBias = perSample <= BIAS_BIN ? 0 : Math.min(BIAS_BIN_MAX, Math.ceil(Math.log(perSample / BIAS_BIN) / Math.log(BIAS_RATIO)));
    if (bMu === s.bMu && bArl === s.bArl && bBias === s.bBias) return s.lnA;
    const bins = `${shift}|${lnB}|${bMu}|${bArl}|${bBias}`;
    let lnA = thresholdCache.get(bins);
    if (lnA === undefined) {
      const m0 = Math.exp(bMu * MU_BIN);
      // Top of the ARL bin: the cache errs on the safe side.
      const arl = Math.exp((bArl + 0.5) * ARL_BIN);
      // Calibrate at the top of the bias bin so the cache errs on the safe side.
      const bias = (BIAS_BIN * BIAS_RATIO ** bBias) / Math.sqrt(m0);
      const params: ThresholdParams = { mu0: m0, mu1: m0 + shift * Math.sqrt(m0), lnB, targetArl: arl * ARL_MARGIN, biasSigma: bias };
      if (deferSolves) {
        solveQueue.request(bins, params, (v) => remember(shift, lnB, bMu, bArl, bBias, v));
        // Not recorded in s: the next sample looks in the cache again.
        return standIn(shift, lnB, bMu, bArl, bBias) ?? Number.POSITIVE_INFINITY;
      }
      lnA = sprtThreshold(params).lnA;
      remember(shift, lnB, bMu, bArl, bBias, lnA);
    }
    s.bMu = bMu;
    s.bArl = bArl;
    s.bBias = bBias;
    s.lnA = lnA;
    return lnA;
  };

  const step = (s: TestState, n: number, mu0: number, targetArl: number, biasSigma: number): TestResult => {
    const lnA = thresholdFor(s, mu0, targetArl, biasSigma);
    const mu1 = mu0 + shift * Math.sqrt(mu0);
    s.lambda += sprtIncrement(n, mu0, mu1);
    if (s.alarm) {
      if (s.lambda < lnA) {
        s.alarm = false;
        s.lambda = 0;
      } else {
        s.lambda = Math.min(s.lambda, lnA + hold);
      }
    } else if (s.lambda >= lnA) {
      s.alarm = true;
      s.lambda = Math.min(s.lambda, lnA + hold);
    } else if (s.lambda <= lnB) {
      s.lambda = 0;
    }
    return { test: s.test, detector: s.detector, window: s.window, statistic: s.lambda, threshold: lnA, alarm: s.alarm };
  };

  const update = (sample: MonitorSample, known?: Readonly<Record<string, KnownBackground>>): AlarmDecision => {
    if (!(sample.realTime_s > 0) || !Number.isFinite(sample.realTime_s)) throw new InputError(`realTime_s: expected a duration > 0 s, got ${sample.realTime_s}`);
    // Background for each detector: given, or the estimator's prediction (made before this sample is folded in).
    interface Row {
      d: DetectorSample;
      mu: number;
      varRel: number; // relative variance of the background estimate (gross)
      muW: number[];
      varRelW: number[];
    }
    const rows: Row[] = [];
    for (const d of sample.detectors) {
      if (!(d.liveTime_s > 0)) continue;
      if (nW > 0 && d.windows && d.windows.length < nW) throw new InputError(`detector ${d.id}: expected ${nW} window counts, got ${d.windows.length}`);
      const k = known?.[d.id];
      if (k) {
        const live = k.live_s ?? Infinity;
        const wc = k.windows_cps ?? [];
        rows.push({
          d,
          mu: k.gross_cps * d.liveTime_s,
          varRel: Number.isFinite(live) && k.gross_cps > 0 ? 1 / (k.gross_cps * live) : 0,
          muW: windows.map((_, i) => (wc[i] ?? 0) * d.liveTime_s),
          varRelW: windows.map((_, i) => (Number.isFinite(live) && (wc[i] ?? 0) > 0 ? 1 / ((wc[i] ?? 0) * live) : 0)),
        });
        continue;
      }
      const e = estimatorOf(d.id).estimate();
      if (!e) continue;
      rows.push({
        d,
        mu: e.gross_cps * d.liveTime_s,
        varRel: e.gross_cps > 0 ? (e.grossSigma_cps / e.gross_cps) ** 2 : 0,
        muW: e.windows_cps.map((w) => w * d.liveTime_s),
        varRelW: e.windows_cps.map((w, i) => (w > 0 ? (e.windowsSigma_cps[i] / w) ** 2 : 0)),
      });
    }
    // The budget is split over the tests that can run on this sample.
    const withWindows = rows.filter((r) => r.d.windows !== undefined && nW > 0);
    let m = 0;
    if (perDetector) m += rows.length + withWindows.length * nW;
    if (summed && rows.length > 0) m += 1 + (withWindows.length > 0 ? nW : 0);
    const results: TestResult[] = [];
    if (m > 0) {
      nTests = m;
      const targetArl = (3600 * m) / (far * sample.realTime_s);
      const bias = (v: number): number => (useBias ? Math.sqrt(v) : 0);
      if (perDetector) {
        for (const r of rows) {
          if (r.mu > 0) results.push(step(stateOf('gross-sprt', r.d.id, -1), r.d.gross, r.mu, targetArl, bias(r.varRel)));
          if (r.d.windows && nW > 0) {
            for (let i = 0; i < nW; i++) {
              if (r.muW[i] > 0) results.push(step(stateOf('window-sprt', r.d.id, i), r.d.windows[i], r.muW[i], targetArl, bias(r.varRelW[i])));
            }
          }
        }
      }
      if (summed && rows.length > 0) {
        let n = 0;
        let mu = 0;
        let v = 0;
        for (const r of rows) {
          n += r.d.gross;
          mu += r.mu;
          v += r.varRel * r.mu * r.mu;
        }
        if (mu > 0) results.push(step(stateOf('gross-sprt', 'sum', -1), n, mu, targetArl, bias(v / (mu * mu))));
        if (withWindows.length > 0) {
          for (let i = 0; i < nW; i++) {
            let nw = 0;
            let muw = 0;
            let vw = 0;
            for (const r of withWindows) {
              nw += (r.d.windows as readonly number[])[i];
              muw += r.muW[i];
              vw += r.varRelW[i] * r.muW[i] * r.muW[i];
            }
            if (muw > 0) results.push(step(stateOf('window-sprt', 'sum', i), nw, muw, targetArl, bias(vw / (muw * muw))));
          }
        }
      }
    }
    // Window counts and their background summed over the detectors that have both, for the shape check of an event.
    let windowSum: AlarmDecision['windowSum'];
    if (withWindows.length > 0) {
      const counts = new Array<number>(nW).fill(0);
      const background = new Array<number>(nW).fill(0);
      for (const r of withWindows) {
        for (let i = 0; i < nW; i++) {
          counts[i] += (r.d.windows as readonly number[])[i];
          background[i] += r.muW[i];
        }
      }
      windowSum = { counts, background };
    }
    const alarm = results.some((r) => r.alarm);
    // Then fold the sample into the background, kept out while any test alarms.
    for (const d of sample.detectors) {
      if (known?.[d.id] || !(d.liveTime_s > 0)) continue;
      estimatorOf(d.id).update({ time_s: sample.time_s, liveTime_s: d.liveTime_s, gross: d.gross, windows: nW > 0 ? (d.windows ?? new Array<number>(nW).fill(0)) : undefined, exclude: alarm });
    }
    const onset = alarm && !lastAlarm;
    lastAlarm = alarm;
    let best: TestResult | undefined;
    for (const r of results) if (!best || r.statistic / r.threshold > best.statistic / best.threshold) best = r;
    return {
      alarm,
      onset,
      statistic: best?.statistic ?? 0,
      threshold: best?.threshold ?? 0,
      test: best?.test ?? 'none',
      detector: best?.detector,
      window: best?.window,
      ready: results.some((r) => Number.isFinite(r.threshold)),
      tests: results,
      windowSum,
    };
  };

  const seed = (id: string, r: KnownBackground & { time_s?: number }): void => {
    estimatorOf(id).seed({ gross_cps: r.gross_cps, windows_cps: r.windows_cps, effectiveLive_s: r.live_s, time_s: r.time_s });
  };

  const config = (): AlarmConfigReport => ({
    falseAlarmRate_per_h: far,
    unit: 'alarms per hour of measurement (driving) time',
    tests: nTests,
    perTestRate_per_h: nTests > 0 ? far / nTests : far,
    beta,
    lnB,
    shift_sigma: shift,
    windows,
  });

  const reset = (): void => {
    estimators.clear();
    tests.clear();
    lastAlarm = false;
  };

  const forget = (id: string): void => {
    estimators.delete(id);
    tests.delete(id);
    tests.delete('sum');
  };

  return { update, backgroundOf: (id) => estimators.get(id), seed, config, reset, forget };
}

// ------------------------------------------------------------------------------------------------
// A whole file (what `customs-edge rad alarm` runs)

export interface AlarmRunOptions extends AlarmOptions {
  /** Known background per detector id; otherwise Background-class measurements in the file, otherwise estimated. */
  knownBackground?: Readonly<Record<string, KnownBackground>>;
  /** Calibration per detector id where a spectrum has none (needed for the window tests). */
  calibrations?: Readonly<Record<string, EnergyCalibration>>;
  /** Seconds at the start of the file looked at robustly to seed an estimated background (default 20). */
  seed_s?: number;
}

export interface AlarmRunMeasurement {
  index: number;
  /** Measurement start as written in the file (ISO 8601), or null. */
  time: string | null;
  /** Seconds since the first measurement. */
  time_s: number;
  alarm: boolean;
  statistic: number;
  threshold: number;
  /** The test nearest to its threshold, or 'background' for a Background measurement of the file (not tested). */
  test: AlarmTest | 'none' | 'background';
  detector?: string;
  window?: string;
  /** Number of the alarm event this measurement belongs to (1, 2, …). */
  event?: number;
}

export interface AlarmRunResult {
  measurements: AlarmRunMeasurement[];
  events: {
    event: number;
    firstIndex: number;
    lastIndex: number;
    maxStatistic: number;
    test: AlarmTest | 'none';
    detector?: string;
    window?: string;
    /** Window shape of the whole event (summed over its measurements and the detectors), when windows were available. */
    shape?: WindowShape;
  }[];
  background: { source: 'given' | 'file' | 'estimated'; detectors: Record<string, { gross_cps: number; windows_cps: number[] }> };
  config: AlarmConfigReport;
}

interface Prepared {
  index: number;
  time: string | null;
  time_s: number;
  realTime_s: number;
  background: boolean;
  detectors: DetectorSample[];
}

/**
 * Alarm decisions for every measurement of a file, in file order. Background comes from `knownBackground`, else from
 * the file's Background measurements (pooled per detector), else it is estimated from the data itself: seeded from a
 * robust look at the first `seed_s` seconds (blocks above the median dropped, so a source at the very start does not
 * poison it) and then followed by the per-detector estimators.
 */
export function alarmRun(measurements: readonly Measurement[], opts: AlarmRunOptions = {}): AlarmRunResult {
  const windows = [...(opts.windows ?? DEFAULT_WINDOWS)];
  const nW = windows.length;
  const rangeCache = new Map<string, [number, number][]>();
  const rangesFor = (cal: EnergyCalibration | undefined, n: number): [number, number][] | undefined => {
    if (!cal || nW === 0) return undefined;
    const key = `${n}|${cal.coefficients.join(',')}|${JSON.stringify(cal.deviationPairs ?? [])}`;
    let r = rangeCache.get(key);
    if (!r) {
      r = windowChannels(cal, n, windows);
      rangeCache.set(key, r);
    }
    return r;
  };
  // Times: seconds since the earliest start time in the file; without start times, the running sum of real times.
  const parsedTimes = measurements.map((m) => (m.startTime !== undefined ? Date.parse(m.startTime) : NaN));
  const t0 = Math.min(...parsedTimes.filter(Number.isFinite));
  let elapsed = 0;
  const prepared: Prepared[] = measurements.map((m, index) => {
    const parsed = parsedTimes[index];
    const time_s = Number.isFinite(parsed) && Number.isFinite(t0) ? (parsed - t0) / 1000 : elapsed;
    const detectors: DetectorSample[] = [];
    const seen = new Set<string>();
    for (const s of m.spectra) {
      if (seen.has(s.detector)) continue;
      seen.add(s.detector);
      let gross = 0;
      for (let i = 0; i < s.counts.length; i++) gross += s.counts[i];
      const ranges = rangesFor(s.calibration ?? opts.calibrations?.[s.detector], s.counts.length);
      detectors.push({ id: s.detector, liveTime_s: s.liveTime_s, gross, windows: ranges ? windowCounts(s.counts, ranges) : undefined });
    }
    for (const g of m.grossCounts) {
      if (seen.has(g.detector)) continue;
      seen.add(g.detector);
      detectors.push({ id: g.detector, liveTime_s: g.liveTime_s, gross: g.counts });
    }
    const realTime_s = m.realTime_s > 0 ? m.realTime_s : Math.max(0, ...detectors.map((d) => d.liveTime_s));
    elapsed = time_s + realTime_s;
    return { index, time: m.startTime ?? null, time_s, realTime_s, background: m.class === 'Background', detectors };
  });

  // Background: given, from the file, or estimated.
  let known: Record<string, KnownBackground> | undefined = opts.knownBackground ? { ...opts.knownBackground } : undefined;
  let source: AlarmRunResult['background']['source'] = known ? 'given' : 'estimated';
  if (!known && prepared.some((p) => p.background)) {
    const acc = new Map<string, { live: number; gross: number; windows: number[]; hasWindows: boolean }>();
    for (const p of prepared) {
      if (!p.background) continue;
      for (const d of p.detectors) {
        const a = acc.get(d.id) ?? { live: 0, gross: 0, windows: new Array<number>(nW).fill(0), hasWindows: true };
        a.live += d.liveTime_s;
        a.gross += d.gross;
        if (d.windows) d.windows.forEach((w, i) => (a.windows[i] += w));
        else a.hasWindows = false;
        acc.set(d.id, a);
      }
    }
    known = {};
    for (const [id, a] of acc) {
      if (a.live > 0) known[id] = { gross_cps: a.gross / a.live, windows_cps: a.hasWindows ? a.windows.map((w) => w / a.live) : undefined, live_s: a.live };
    }
    source = 'file';
  }

  const monitor = createAlarmMonitor({ ...opts, windows });
  if (source === 'estimated') {
    const seedSpan = opts.seed_s ?? 20;
    const k = opts.background?.k ?? 4;
    const perDet = new Map<string, { time_s: number; liveTime_s: number; gross: number; windows?: number[] }[]>();
    for (const p of prepared) {
      if (p.background || p.time_s > seedSpan) continue;
      for (const d of p.detectors) {
        const list = perDet.get(d.id) ?? [];
        list.push({ time_s: p.time_s, liveTime_s: d.liveTime_s, gross: d.gross, windows: d.windows ? [...d.windows] : new Array<number>(nW).fill(0) });
        perDet.set(d.id, list);
      }
    }
    for (const [id, list] of perDet) {
      const live = list.reduce((a, s) => a + s.liveTime_s, 0);
      const r = robustPooledRates(list, nW, k, Math.max(live / 20, 0.2));
      if (r) monitor.seed(id, { gross_cps: r.gross_cps, windows_cps: r.windows_cps, live_s: r.live_s, time_s: list[0].time_s });
    }
  }

  const out: AlarmRunMeasurement[] = [];
  const events: AlarmRunResult['events'] = [];
  let current: AlarmRunResult['events'][number] | undefined;
  let eventWindows: { counts: number[]; background: number[] } | undefined;
  // The background estimators need time in order: file times where they do not go back, else the previous time plus
  // the previous measurement's real time (files merged out of order, or without times).
  let clock = -Infinity;
  let lastReal = 0;
  for (const p of prepared) {
    if (p.background) {
      out.push({ index: p.index, time: p.time, time_s: p.time_s, alarm: false, statistic: 0, threshold: 0, test: 'background' });
      continue;
    }
    clock = p.time_s >= clock ? p.time_s : clock + lastReal;
    lastReal = p.realTime_s;
    const d = monitor.update({ time_s: clock, realTime_s: p.realTime_s, detectors: p.detectors }, known);
    const row: AlarmRunMeasurement = { index: p.index, time: p.time, time_s: p.time_s, alarm: d.alarm, statistic: d.statistic, threshold: d.threshold, test: d.test };
    if (d.detector !== undefined) row.detector = d.detector;
    if (d.window !== undefined) row.window = d.window;
    if (d.alarm) {
      if (d.onset || !current) {
        current = { event: events.length + 1, firstIndex: p.index, lastIndex: p.index, maxStatistic: d.statistic, test: d.test, detector: d.detector, window: d.window };
        events.push(current);
        eventWindows = d.windowSum ? { counts: new Array<number>(nW).fill(0), background: new Array<number>(nW).fill(0) } : undefined;
      }
      if (eventWindows && d.windowSum) {
        for (let i = 0; i < nW; i++) {
          eventWindows.counts[i] += d.windowSum.counts[i];
          eventWindows.background[i] += d.windowSum.background[i];
        }
        current.shape = windowShape(eventWindows.counts, eventWindows.background);
      }
      current.lastIndex = p.index;
      if (d.statistic > current.maxStatistic) {
        current.maxStatistic = d.statistic;
        current.test = d.test;
        current.detector = d.detector;
        current.window = d.window;
      }
      row.event = current.event;
    } else {
      current = undefined;
    }
    out.push(row);
  }

  const bgReport: AlarmRunResult['background']['detectors'] = {};
  const ids = new Set(prepared.flatMap((p) => p.detectors.map((d) => d.id)));
  for (const id of ids) {
    const k = known?.[id];
    if (k) bgReport[id] = { gross_cps: k.gross_cps, windows_cps: [...(k.windows_cps ?? [])] };
    else {
      const e = monitor.backgroundOf(id)?.estimate();
      if (e) bgReport[id] = { gross_cps: e.gross_cps, windows_cps: e.windows_cps };
    }
  }
  return { measurements: out, events, background: { source, detectors: bgReport }, config: monitor.config() };
}

// ------------------------------------------------------------------------------------------------
// Intervals for reporting measured rates

function poissonCdfAt(k: number, mean: number): number {
  // P(N ≤ k), summed in log space (k is a count of alarms: small).
  if (mean === 0) return 1;
  let term = Math.exp(-mean);
  let sum = term;
  for (let i = 1; i <= k; i++) {
    term *= mean / i;
    sum += term;
  }
  return Math.min(1, sum);
}

/** Exact (Garwood) 95 % interval of a Poisson rate: k events in `exposure` (hours, passes…). */
export function poissonRateInterval(k: number, exposure: number, level = 0.95): [number, number] {
  const tail = (1 - level) / 2;
  const solve = (g: (m: number) => number): number => {
    let lo = 0;
    let hi = Math.max(10, 3 * k + 20);
    for (let i = 0; i < 200; i++) {
      const mid = (lo + hi) / 2;
      if (g(mid) > 0) lo = mid;
      else hi = mid;
    }
    return (lo + hi) / 2;
  };
  // Lower: P(N ≥ k | m) = tail; upper: P(N ≤ k | m) = tail.
  const lower = k === 0 ? 0 : solve((m) => tail - (1 - poissonCdfAt(k - 1, m)));
  const upper = solve((m) => poissonCdfAt(k, m) - tail);
  return [lower / exposure, upper / exposure];
}

function binomialCdfAt(k: number, n: number, p: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  const lp = Math.log(p);
  const lq = Math.log1p(-p);
  let sum = 0;
  for (let i = 0; i <= k; i++) sum += Math.exp(logFactorial(n) - logFactorial(i) - logFactorial(n - i) + i * lp + (n - i) * lq);
  return Math.min(1, sum);
}

/** Exact (Clopper–Pearson) 95 % interval of a proportion k/n. */
export function binomialInterval(k: number, n: number, level = 0.95): [number, number] {
  if (!(n > 0) || k < 0 || k > n) throw new InputError(`binomialInterval: expected 0 <= k <= n, n > 0, got ${k}/${n}`);
  const tail = (1 - level) / 2;
  const bisect = (g: (p: number) => number): number => {
    let lo = 0;
    let hi = 1;
    for (let i = 0; i < 100; i++) {
      const mid = (lo + hi) / 2;
      if (g(mid) > 0) lo = mid;
      else hi = mid;
    }
    return (lo + hi) / 2;
  };
  const lower = k === 0 ? 0 : bisect((p) => tail - (1 - binomialCdfAt(k - 1, n, p)));
  const upper = k === n ? 1 : bisect((p) => binomialCdfAt(k, n, p) - tail);
  return [lower, upper];
}
