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
// Thresholds: alarm/thresholds.ts (a table the caller owns). Measured (bench/radiation-alarm.ts, 8 NaI 2x4x16 logs at 10 Hz, 36 tests, estimated background): 0.70 false
// alarms/h over 10 h at a configured 1/h, 91/h over 1 h at a configured 100/h. NORM-vs-man-made: each event of
// alarmRun carries the window shape (windowShape) of its summed excess.

import { InputError } from '../../../common/errors.js';
import { createBackgroundEstimator, type BackgroundEstimator, type BackgroundOptions } from '../background.js';
import { sprtIncrement } from './sprt.js';
import { createThresholdTable, keyString, thresholdKey, type ThresholdKey, type ThresholdTable } from './thresholds.js';
import { DEFAULT_WINDOWS, type EnergyWindow } from './windows.js';


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
  /** Solved thresholds to use and fill (default: a table of this monitor's own). Share one to solve each cell once. */
  thresholds?: ThresholdTable;
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
  /**
   * The threshold cells update() would need for this sample that the table does not hold yet; nothing changes. A
   * caller that must not block solves them with ThresholdTable.solveLater first, then calls update().
   */
  missingThresholds(sample: MonitorSample, background?: Readonly<Record<string, KnownBackground>>): ThresholdKey[];
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
  /** The threshold cell in use and its ln A. */
  key?: string;
  lnA: number;
}

/** One test to run on a sample: its counts, expected background and the background's relative uncertainty. */
interface PlannedTest {
  test: AlarmTest;
  detector: string;
  windowIndex: number;
  n: number;
  mu0: number;
  biasSigma: number;
}

interface Plan {
  tests: PlannedTest[];
  /** Tests the budget is split over on this sample. */
  m: number;
  targetArl: number;
  windowSum?: { counts: number[]; background: number[] };
}

interface Row {
  d: DetectorSample;
  mu: number;
  /** Relative variance of the background estimate (gross, then per window). */
  varRel: number;
  muW: number[];
  varRelW: number[];
}

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
  const table = opts.thresholds ?? createThresholdTable();
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
  const stateOf = (p: PlannedTest): TestState => {
    let list = tests.get(p.detector);
    if (!list) tests.set(p.detector, (list = []));
    let s = list[p.windowIndex + 1];
    if (!s) {
      s = { test: p.test, detector: p.detector, window: p.windowIndex >= 0 ? windows[p.windowIndex]!.name : undefined, windowIndex: p.windowIndex, lambda: 0, alarm: false, lnA: NaN };
      list[p.windowIndex + 1] = s;
    }
    return s;
  };

  /** Background per detector for this sample: given, or the estimator's prediction (before the sample is folded in). */
  const rowsOf = (sample: MonitorSample, known?: Readonly<Record<string, KnownBackground>>): Row[] => {
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
      const e = estimators.get(d.id)?.estimate();
      if (!e) continue;
      rows.push({
        d,
        mu: e.gross_cps * d.liveTime_s,
        varRel: e.gross_cps > 0 ? (e.grossSigma_cps / e.gross_cps) ** 2 : 0,
        muW: e.windows_cps.map((w) => w * d.liveTime_s),
        varRelW: e.windows_cps.map((w, i) => (w > 0 ? (e.windowsSigma_cps[i]! / w) ** 2 : 0)),
      });
    }
    return rows;
  };

  /** The tests a sample gets and their inputs; reads the state, changes nothing. */
  const plan = (sample: MonitorSample, known?: Readonly<Record<string, KnownBackground>>): Plan => {
    if (!(sample.realTime_s > 0) || !Number.isFinite(sample.realTime_s)) throw new InputError(`realTime_s: expected a duration > 0 s, got ${sample.realTime_s}`);
    const rows = rowsOf(sample, known);
    // The budget is split over the tests that can run on this sample.
    const withWindows = rows.filter((r) => r.d.windows !== undefined && nW > 0);
    let m = 0;
    if (perDetector) m += rows.length + withWindows.length * nW;
    if (summed && rows.length > 0) m += 1 + (withWindows.length > 0 ? nW : 0);
    const out: PlannedTest[] = [];
    const bias = (v: number): number => (useBias ? Math.sqrt(v) : 0);
    if (m > 0 && perDetector) {
      for (const r of rows) {
        if (r.mu > 0) out.push({ test: 'gross-sprt', detector: r.d.id, windowIndex: -1, n: r.d.gross, mu0: r.mu, biasSigma: bias(r.varRel) });
        if (r.d.windows && nW > 0) {
          for (let i = 0; i < nW; i++) {
            if (r.muW[i]! > 0) out.push({ test: 'window-sprt', detector: r.d.id, windowIndex: i, n: r.d.windows[i]!, mu0: r.muW[i]!, biasSigma: bias(r.varRelW[i]!) });
          }
        }
      }
    }
    if (m > 0 && summed && rows.length > 0) {
      let n = 0;
      let mu = 0;
      let v = 0;
      for (const r of rows) {
        n += r.d.gross;
        mu += r.mu;
        v += r.varRel * r.mu * r.mu;
      }
      if (mu > 0) out.push({ test: 'gross-sprt', detector: 'sum', windowIndex: -1, n, mu0: mu, biasSigma: bias(v / (mu * mu)) });
      for (let i = 0; i < nW && withWindows.length > 0; i++) {
        let nw = 0;
        let muw = 0;
        let vw = 0;
        for (const r of withWindows) {
          nw += r.d.windows![i]!;
          muw += r.muW[i]!;
          vw += r.varRelW[i]! * r.muW[i]! * r.muW[i]!;
        }
        if (muw > 0) out.push({ test: 'window-sprt', detector: 'sum', windowIndex: i, n: nw, mu0: muw, biasSigma: bias(vw / (muw * muw)) });
      }
    }
    // Window counts and their background summed over the detectors that have both, for the shape check of an event.
    let windowSum: Plan['windowSum'];
    if (withWindows.length > 0) {
      const counts = new Array<number>(nW).fill(0);
      const background = new Array<number>(nW).fill(0);
      for (const r of withWindows) {
        for (let i = 0; i < nW; i++) {
          counts[i]! += r.d.windows![i]!;
          background[i]! += r.muW[i]!;
        }
      }
      windowSum = { counts, background };
    }
    return { tests: out, m, targetArl: m > 0 ? (3600 * m) / (far * sample.realTime_s) : 0, ...(windowSum ? { windowSum } : {}) };
  };

  const keyOf = (p: PlannedTest, targetArl: number): ThresholdKey => thresholdKey(shift, lnB, p.mu0, targetArl, p.biasSigma);

  const step = (p: PlannedTest, targetArl: number): TestResult => {
    const s = stateOf(p);
    const key = keyOf(p, targetArl);
    const id = keyString(key);
    if (s.key !== id) {
      s.key = id;
      const before = s.lnA;
      s.lnA = table.solve(key);
      // A lower threshold (the background became better known) must not turn evidence gathered against the old
      // one into an alarm at once: Λ keeps its share of the way to the threshold.
      if (!s.alarm && s.lambda > 0 && Number.isFinite(before) && before > 0 && s.lnA < before) s.lambda *= s.lnA / before;
    }
    const lnA = s.lnA;
    s.lambda += sprtIncrement(p.n, p.mu0, p.mu0 + shift * Math.sqrt(p.mu0));
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
    const p = plan(sample, known);
    if (p.m > 0) nTests = p.m;
    const results = p.tests.map((x) => step(x, p.targetArl));
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
      ...(p.windowSum ? { windowSum: p.windowSum } : {}),
    };
  };

  const missingThresholds = (sample: MonitorSample, known?: Readonly<Record<string, KnownBackground>>): ThresholdKey[] => {
    const p = plan(sample, known);
    const seen = new Set<string>();
    const out: ThresholdKey[] = [];
    for (const x of p.tests) {
      const k = keyOf(x, p.targetArl);
      const id = keyString(k);
      if (seen.has(id) || table.get(k) !== undefined) continue;
      seen.add(id);
      out.push(k);
    }
    return out;
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

  return {
    update,
    missingThresholds,
    backgroundOf: (id) => estimators.get(id),
    seed,
    config,
    reset: () => {
      estimators.clear();
      tests.clear();
      lastAlarm = false;
    },
    forget: (id) => {
      estimators.delete(id);
      tests.delete(id);
      tests.delete('sum');
    },
  };
}
