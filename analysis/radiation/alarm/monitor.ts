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
// source has gone; when it falls below ln A the event ends and Λ restarts at 0, as the ARL model assumes. That cap
// is also how a real portal recording sat "exactly 2 above the threshold for 45 samples": with the background frozen
// during the alarm and the summed test taking a 0.4 % drift for a source, Λ rose at every sample and was clipped
// back to ln A + 2. What ends that is not a different clamp but a test that knows the data's real spread:
//
// Over-dispersion (dispersion.ts). Each test learns φ = Var(n − μ̂)/μ̂ from the samples before it (single samples
// and ~4 s blocks, against the same trailing, guard-gapped estimate it is tested on) and runs as a quasi-Poisson
// test on n/φ against μ0/φ: the shift is in units of the data's real standard deviation, and the threshold cell is
// that of μ0/φ with the estimate's error also widened by √φ.
//
// Learning period. A background learnt from T_eff seconds of data has a per-sample bias of ~√(t/T_eff) standard
// deviations (0.32 for 1 s samples after the 10 s warm-up): against a 1 σ design shift that bias alone drives Λ up
// (drift shift·bias − shift²/2), so the threshold solved for it runs to tens of nats. Instead, while the background is
// young each test raises its design shift to 10× its per-sample bias (so that even a bias 3.75 standard errors out,
// the outermost Gauss–Hermite node, at the top of its bias bin, drifts Λ down), in steps of SHIFTS; the threshold
// stays near its settled value (15-17 nats for the summed test at 1 s) and the test sees only larger sources until
// the background has settled: 4 σ per sample right after a 10 s warm-up at 1 s samples, 2 σ after ~40 s, 1 σ once
// the estimate holds ~100 s of live time. The shift in use is reported with every test result.
//
// Spectral test (spectral.ts, NSCRAD): the SCRs of the summed windows against the background's window ratios, χ²
// over the last second; a level change of the background leaves it quiet, a source that adds to some windows far
// more than the background's shape does not. Σ remembers 15 minutes of the drive and D² is scaled by its tail learnt
// from the drive, so that a soil whose K/U/Th mix keeps changing does not alarm at each change.
//
// Thresholds: alarm/thresholds.ts (a table the caller owns). Types: alarm/types.ts. Measured false alarm rates on real
// and simulated backgrounds and PD: docs/radiation-alarms.md (bench/radiation-alarm.ts).

import { InputError } from '../../../common/errors.js';
import { createBackgroundEstimator, type BackgroundEstimator } from '../background.js';
import { dispersionOf, newDispersion, updateDispersion, type DispersionState } from './dispersion.js';
import { chiSquareUpper, learnSpectral, newSpectral, SPECTRAL_MEMORY_S, spectralScale, spectralStatistic, type SpectralState } from './spectral.js';
import { sprtIncrement } from './sprt.js';
import { createThresholdTable, keyString, thresholdKey, type ThresholdKey } from './thresholds.js';
import type { AlarmConfigReport, AlarmDecision, AlarmMonitor, AlarmOptions, AlarmTest, DetectorSample, KnownBackground, MonitorSample, TestResult } from './types.js';

/** Design shifts a test may raise itself to while its background is young (σ per sample). */
const SHIFTS = [1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8];
/** The design shift is at least this many times the per-sample bias of the background estimate. */
const SHIFT_PER_BIAS = 10;
/** A count test's alarm counts only when the spectral D² is above its χ² point for this probability (shape gate). */
const GATE_P = 1e-3;
/** Share of the false alarm budget the spectral test gets when it gates the count tests. */
const SPECTRAL_SHARE = 0.75;
import { DEFAULT_WINDOWS } from './windows.js';


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
  disp: DispersionState;
  spec?: SpectralState;
  /** The sample's counts and prediction, kept to learn φ once the sample's alarm state is known. */
  lastN: number;
  lastMu: number;
}

/** One test to run on a sample: its counts, expected background and the background's relative uncertainty. */
interface PlannedTest {
  test: AlarmTest;
  detector: string;
  windowIndex: number;
  n: number;
  mu0: number;
  biasSigma: number;
  /** Spectral test: window counts, background rates and their relative variances summed over the detectors, live time. */
  spectral?: { counts: number[]; rates: number[]; live_s: number; varRel: number[] };
}

interface Plan {
  tests: PlannedTest[];
  /** Tests the budget is split over on this sample. */
  m: number;
  /** ARL of each count test, and of the spectral test, in samples. */
  targetArl: number;
  targetArlSpectral: number;
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
  const useDisp = opts.overDispersion ?? true;
  const specWin = opts.spectralWindow_s ?? 1;
  if (!(specWin > 0) || !Number.isFinite(specWin)) throw new InputError(`spectralWindow_s: expected a duration > 0 s, got ${specWin}`);
  const specMemory = opts.spectralMemory_s ?? SPECTRAL_MEMORY_S;
  if (!(specMemory > 0) || !Number.isFinite(specMemory)) throw new InputError(`spectralMemory_s: expected a duration > 0 s, got ${specMemory}`);
  // α of one Wald cycle is tiny next to 1 here, so B = β/(1 − α) ≈ β.
  const lnB = Math.log(beta);
  const nW = windows.length;
  const useSpectral = (opts.spectral ?? true) && nW >= 2 && summed;
  const gate = useSpectral && (opts.shapeGate ?? true);
  const gateLevel = nW >= 2 ? chiSquareUpper(nW - 1, GATE_P) : 0;

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
      s = { test: p.test, detector: p.detector, window: p.windowIndex >= 0 && p.test !== 'spectral' ? windows[p.windowIndex]!.name : undefined, windowIndex: p.windowIndex, lambda: 0, alarm: false, lnA: NaN, disp: newDispersion(), lastN: 0, lastMu: 0 };
      if (p.test === 'spectral') s.spec = newSpectral(nW, { memory_s: specMemory, tailScale: opts.spectralTailScale ?? true });
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
    if (summed && rows.length > 0) m += 1 + (withWindows.length > 0 ? nW + (useSpectral ? 1 : 0) : 0);
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
      if (useSpectral && withWindows.length > 0) {
        const counts = new Array<number>(nW).fill(0);
        const mus = new Array<number>(nW).fill(0);
        const vars = new Array<number>(nW).fill(0);
        let live = 0;
        for (const r of withWindows) {
          live += r.d.liveTime_s;
          for (let i = 0; i < nW; i++) {
            counts[i]! += r.d.windows![i]!;
            mus[i]! += r.muW[i]!;
            vars[i]! += r.varRelW[i]! * r.muW[i]! * r.muW[i]!;
          }
        }
        live /= withWindows.length;
        if (mus.every((x) => x > 0)) {
          out.push({ test: 'spectral', detector: 'sum', windowIndex: nW, n: 0, mu0: 0, biasSigma: 0, spectral: { counts, rates: mus.map((x) => x / live), live_s: live, varRel: useBias ? mus.map((x, i) => vars[i]! / (x * x)) : mus.map(() => 0) } });
        }
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
    // With the shape gate the count tests' false alarms only count when the spectrum also departs from the background
    // (rarely, on a steady background), so the spectral test gets SPECTRAL_SHARE of the budget and the count tests
    // split the rest; without the spectral test every test gets an equal share.
    const hasSpec = out.some((x) => x.test === 'spectral');
    const share = hasSpec && gate ? SPECTRAL_SHARE : hasSpec ? 1 / m : 0;
    const mCount = m - (hasSpec ? 1 : 0);
    const arl = (f: number): number => (3600 / (far * f * sample.realTime_s));
    return {
      tests: out,
      m,
      targetArl: m > 0 && mCount > 0 ? arl((1 - share) / mCount) : 0,
      // The spectral statistic is a sliding sum over specWin, so its crossings come in runs: one onset per
      // ~(specWin/dt)^0.4 crossing samples, measured (at 10 Hz, 1 s: per-sample calibration gave 0.29 of the rate,
      // per-window 1.9×; test/validation/radiation-background-alarm.test.ts checks the result). It was √(specWin/dt)
      // while Σ had a 60 s memory: that Σ was noisier, and its diagonal clamp at Poisson made it conservative; with
      // the 900 s memory √ gave 37.5/h at a configured 30/h on the steady 10 Hz bench, 0.4 gives 26/h (300/h: 205/h).
      targetArlSpectral: hasSpec ? arl(share) / Math.pow(Math.max(1, specWin / sample.realTime_s), 0.4) : 0,
      ...(windowSum ? { windowSum } : {}),
    };
  };

  /** The quasi-Poisson form of an SPRT: φ, the scaled mean and bias, and the design shift for that bias. */
  const scaled = (p: PlannedTest): { phi: number; mu: number; bias: number; shift: number } => {
    const list = tests.get(p.detector);
    const st = list?.[p.windowIndex + 1];
    const phi = useDisp && st ? dispersionOf(st.disp) : 1;
    const mu = p.mu0 / phi;
    const bias = p.biasSigma * Math.sqrt(phi);
    // Per-sample bias in standard deviations of the scaled counts: the design shift keeps SHIFT_PER_BIAS times it.
    const need = Math.max(shift, SHIFT_PER_BIAS * bias * Math.sqrt(mu));
    const sh = need <= shift ? shift : (SHIFTS.find((x) => x >= need) ?? SHIFTS[SHIFTS.length - 1]!);
    return { phi, mu, bias, shift: sh };
  };

  const keyOf = (p: PlannedTest, targetArl: number): ThresholdKey => {
    const q = scaled(p);
    return thresholdKey(q.shift, lnB, q.mu, targetArl, q.bias);
  };

  const stepSpectral = (p: PlannedTest, targetArl: number, dt_s: number): TestResult => {
    const s = stateOf(p);
    const x = p.spectral!;
    const d2 = spectralStatistic(s.spec!, x.counts, x.rates, x.live_s, dt_s, specWin, x.varRel);
    // The χ² point, times the scale of D² learnt from the drive (1 on a Poisson background).
    const thr = chiSquareUpper(nW - 1, 1 / targetArl) * spectralScale(s.spec!);
    s.lnA = thr;
    s.lambda = Number.isFinite(d2) ? d2 : 0;
    s.alarm = s.lambda >= thr;
    return { test: s.test, detector: s.detector, statistic: s.lambda, threshold: thr, alarm: s.alarm, dispersion: spectralScale(s.spec!) };
  };

  const step = (p: PlannedTest, targetArl: number): TestResult => {
    const s = stateOf(p);
    const q = scaled(p);
    const key = thresholdKey(q.shift, lnB, q.mu, targetArl, q.bias);
    const id = keyString(key);
    if (s.key !== id) {
      const shiftChanged = s.key !== undefined && !s.key.startsWith(`${q.shift}|`);
      s.key = id;
      const before = s.lnA;
      s.lnA = table.solve(key);
      // A lower threshold (the background became better known) must not turn evidence gathered against the old
      // one into an alarm at once: Λ keeps its share of the way to the threshold. A new design shift asks another
      // question of the same data: Λ keeps its share either way.
      if (!s.alarm && s.lambda > 0 && Number.isFinite(before) && before > 0 && Number.isFinite(s.lnA) && (s.lnA < before || shiftChanged)) s.lambda *= s.lnA / before;
    }
    const lnA = s.lnA;
    s.lastN = p.n;
    s.lastMu = p.mu0;
    s.lambda += sprtIncrement(p.n / q.phi, q.mu, q.mu + q.shift * Math.sqrt(q.mu));
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
    return { test: s.test, detector: s.detector, window: s.window, statistic: s.lambda, threshold: lnA, alarm: s.alarm, shift_sigma: q.shift, dispersion: q.phi };
  };

  const update = (sample: MonitorSample, known?: Readonly<Record<string, KnownBackground>>): AlarmDecision => {
    const p = plan(sample, known);
    if (p.m > 0) nTests = p.m;
    const results = p.tests.map((x) => (x.test === 'spectral' ? stepSpectral(x, p.targetArlSpectral, sample.realTime_s) : step(x, p.targetArl)));
    // Shape gate: a count test in alarm while the summed spectrum keeps the background's shape (D² below the 1 %
    // point of its χ²) is a change of the background's level, not a source: no alarm, and the background follows it.
    const spec = results.find((r) => r.test === 'spectral');
    const shapeDeparts = !gate || !spec || !Number.isFinite(spec.statistic) || spec.statistic >= gateLevel * (spec.dispersion ?? 1);
    const counted = (r: TestResult): boolean => r.alarm && (r.test === 'spectral' || shapeDeparts);
    const alarm = results.some(counted);
    const levelChange = !alarm && results.some((r) => r.alarm);
    if (levelChange) {
      // Those count tests start again: latched at ln A + holdMargin they would turn the next chance excursion of D²
      // into an alarm; from 0 they must gather their evidence again against the background that now follows.
      for (const list of tests.values()) {
        for (const st of list) {
          if (st && st.test !== 'spectral' && st.alarm) {
            st.alarm = false;
            st.lambda = 0;
          }
        }
      }
    }
    // What the tests learn from this sample, only when it is background (no test in alarm): φ and the SCR covariance.
    if (!alarm) {
      for (const x of p.tests) {
        const st = tests.get(x.detector)?.[x.windowIndex + 1];
        if (!st) continue;
        if (x.spectral) learnSpectral(st.spec!, x.spectral.rates, sample.realTime_s);
        else if (useDisp) updateDispersion(st.disp, x.n, x.mu0, sample.realTime_s);
      }
    }
    // Then fold the sample into the background, kept out while any test alarms.
    for (const d of sample.detectors) {
      if (known?.[d.id] || !(d.liveTime_s > 0)) continue;
      estimatorOf(d.id).update({ time_s: sample.time_s, liveTime_s: d.liveTime_s, gross: d.gross, windows: nW > 0 ? (d.windows ?? new Array<number>(nW).fill(0)) : undefined, exclude: alarm, accept: levelChange });
    }
    const onset = alarm && !lastAlarm;
    lastAlarm = alarm;
    // The test reported: the one furthest over its threshold among those that count, else the nearest to it.
    let best: TestResult | undefined;
    for (const r of results) {
      if (alarm && !counted(r)) continue;
      if (!best || r.statistic / r.threshold > best.statistic / best.threshold) best = r;
    }
    return {
      alarm,
      onset,
      levelChange,
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
      if (x.test === 'spectral') continue;
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
    perTestRate_per_h: nTests > 1 && gate ? (far * (1 - SPECTRAL_SHARE)) / (nTests - 1) : nTests > 0 ? far / nTests : far,
    spectralRate_per_h: gate ? far * SPECTRAL_SHARE : useSpectral && nTests > 0 ? far / nTests : 0,
    beta,
    lnB,
    shift_sigma: shift,
    windows,
    overDispersion: useDisp,
    spectral: useSpectral,
    shapeGate: gate,
    learning: `no test until the background has ${opts.background?.warmup_s ?? 10} s of live time; then each SPRT's design shift is at least ${SHIFT_PER_BIAS}x its background's per-sample bias (about ${(SHIFT_PER_BIAS * Math.sqrt(1 / (opts.background?.warmup_s ?? 10))).toFixed(1)} sigma for 1 s samples right after the warm-up), falling to ${shift} sigma as the background settles`,
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
