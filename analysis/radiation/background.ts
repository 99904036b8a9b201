// Per-detector background estimate (gross counts and energy windows) that a source driving past does not pull up.
//
// Estimate: exponentially weighted counts over exponentially weighted live time, with a time constant in seconds of
// measurement time (time comes in with each sample; there is no clock here), kept separately for the gross counts
// and each energy window.
//
// Robustness to a passing source, three layers:
// 1. A sample is an outlier when its gross counts or any window's counts exceed the estimate's prediction by more
//    than k standard deviations (Poisson plus the estimate's own uncertainty), or when the caller flags it
//    (`exclude`, e.g. the alarm is on). Only excesses count: a source never lowers the counts, and a real drop in
//    background (a bridge, water) must be followed.
// 2. Samples wait `guard_s` before they enter the estimate. An outlier throws away every sample still waiting from
//    the last guard_s and the ones that follow within guard_s: the rising and falling flanks of a pass, which are
//    below the threshold but above background, never get in.
// 3. Start and restart from a robust estimate: the first `warmup_s` of samples are grouped in blocks, blocks whose
//    gross rate is more than k block-sigmas above the median block are dropped, the rest pooled. If the outliers
//    go on for longer than `maxExclusion_s` the background itself has stepped up (NORM-rich ground, a building): the
//    estimate restarts from the same robust pooling over that stretch instead of locking out for good. This holds
//    for flagged samples too, so a source that stays in view longer than that (the vehicle parked next to it)
//    becomes background and its alarm ends: the design case is a source passing by, not a portal occupancy.

import { InputError } from '../../common/errors.js';

export interface BackgroundOptions {
  /** Number of energy windows each sample carries (default 0). */
  nWindows?: number;
  /** Time constant of the exponential weighting, seconds of measurement (default 60). */
  timeConstant_s?: number;
  /**
   * Outlier threshold, standard deviations above the prediction (default 4). Lower thresholds cut into the upper
   * Poisson tail of plain background and bias the estimate low (k = 3 gives −0.05 % on a 2,400 cps log at 10 Hz,
   * enough to raise the false alarm rate of the summed test by half); a passing source that matters is kept out
   * by the alarm flag anyway.
   */
  k?: number;
  /** Hold-back before a sample enters the estimate, and the stretch around an outlier that is dropped (default 5 s). */
  guard_s?: number;
  /** Live time gathered before the first estimate (default 10 s). */
  warmup_s?: number;
  /** Continuous exclusion after which the background is taken to have changed (default 120 s). */
  maxExclusion_s?: number;
  /** An accepted step in level (BackgroundSample.accept) restarts the estimate after this long (default 4 s). */
  levelFollow_s?: number;
}

export interface BackgroundSample {
  /** Start of the sample, seconds on any monotonic scale the caller keeps (file time, step index × dt). */
  time_s: number;
  liveTime_s: number;
  gross: number;
  windows?: ArrayLike<number>;
  /** Keep this sample out (e.g. an alarm is on). */
  exclude?: boolean;
  /**
   * Take this sample in even when it is above the prediction: the caller knows it is background (its spectrum has the
   * background's shape and only the level changed), so the estimate should follow it rather than lock it out.
   */
  accept?: boolean;
}

export interface BackgroundEstimate {
  gross_cps: number;
  /** One-sigma uncertainty of gross_cps from the counts in the estimate. */
  grossSigma_cps: number;
  windows_cps: number[];
  windowsSigma_cps: number[];
  /** Effective live time (s) behind the estimate: the relative uncertainty of a rate b is 1/√(b·effectiveLive_s). */
  effectiveLive_s: number;
  /** Time of the newest sample folded in. */
  updated_s: number;
}

export interface BackgroundUpdate {
  /** The sample was judged an outlier (above the prediction, or flagged). */
  outlier: boolean;
  /** Largest excess over the prediction in sigmas (gross or a window), when there was an estimate. */
  z?: number;
  /** The estimate restarted because the outliers lasted longer than maxExclusion_s. */
  rebaselined: boolean;
  ready: boolean;
}

export interface BackgroundEstimator {
  update(sample: BackgroundSample): BackgroundUpdate;
  /** Current estimate, undefined until the warm-up is done. */
  estimate(): BackgroundEstimate | undefined;
  /** Start from a known background instead of warming up (e.g. from a previous run or a Background measurement). */
  seed(rates: { gross_cps: number; windows_cps?: readonly number[]; effectiveLive_s?: number; time_s?: number }): void;
  /** Expected gross and window counts for a sample of `liveTime_s` with its variance (Poisson + estimate), or undefined. */
  predict(liveTime_s: number): { gross: number; grossVar: number; windows: number[]; windowsVar: number[] } | undefined;
}

/** What the robust pooling needs of a sample. */
export interface RateSample {
  liveTime_s: number;
  gross: number;
  windows?: ArrayLike<number>;
}

interface Held {
  time_s: number;
  liveTime_s: number;
  gross: number;
  windows: Float64Array;
}

/**
 * Robust pooled rate of a stretch of samples: blocks of ~blockLive_s, drop those whose gross rate is more than k
 * sigmas above the median block, pool the rest (gross and windows from the same blocks, so they stay consistent).
 */
export function robustPooledRates(samples: readonly RateSample[], nWindows: number, k: number, blockLive_s: number): { gross_cps: number; windows_cps: number[]; live_s: number } | undefined {
  const blocks: { live: number; gross: number; windows: Float64Array }[] = [];
  let cur = { live: 0, gross: 0, windows: new Float64Array(nWindows) };
  for (const s of samples) {
    cur.live += s.liveTime_s;
    cur.gross += s.gross;
    const w = s.windows;
    if (w) for (let i = 0; i < nWindows; i++) cur.windows[i] += w[i] ?? 0;
    if (cur.live >= blockLive_s) {
      blocks.push(cur);
      cur = { live: 0, gross: 0, windows: new Float64Array(nWindows) };
    }
  }
  if (cur.live > 0 && (blocks.length === 0 || cur.live >= blockLive_s / 2)) blocks.push(cur);
  if (blocks.length === 0) return undefined;
  const rates = blocks.map((b) => b.gross / b.live).sort((a, b) => a - b);
  const median = rates[Math.floor((rates.length - 1) / 2)];
  let live = 0;
  let gross = 0;
  const windows = new Float64Array(nWindows);
  for (const b of blocks) {
    const sigma = Math.sqrt(Math.max(median, 1 / b.live) / b.live);
    if (b.gross / b.live > median + k * sigma) continue;
    live += b.live;
    gross += b.gross;
    for (let i = 0; i < nWindows; i++) windows[i] += b.windows[i];
  }
  if (!(live > 0)) return undefined;
  return { gross_cps: gross / live, windows_cps: Array.from(windows, (w) => w / live), live_s: live };
}

export function createBackgroundEstimator(opts: BackgroundOptions = {}): BackgroundEstimator {
  const nW = opts.nWindows ?? 0;
  const tau = opts.timeConstant_s ?? 60;
  const k = opts.k ?? 4;
  const guard = opts.guard_s ?? 5;
  const warmup = opts.warmup_s ?? 10;
  const maxExcl = opts.maxExclusion_s ?? 120;
  const levelFollow = opts.levelFollow_s ?? 4;
  if (!Number.isInteger(nW) || nW < 0) throw new InputError(`nWindows: expected an integer >= 0, got ${nW}`);
  for (const [name, v] of [['timeConstant_s', tau], ['k', k], ['warmup_s', warmup], ['maxExclusion_s', maxExcl], ['levelFollow_s', levelFollow]] as const) {
    if (!(v > 0) || !Number.isFinite(v)) throw new InputError(`${name}: expected a finite number > 0, got ${v}`);
  }
  if (!(guard >= 0) || !Number.isFinite(guard)) throw new InputError(`guard_s: expected a finite time >= 0, got ${guard}`);

  // Exponentially weighted sums, decayed to `tEst`.
  let ready = false;
  let sLive = 0;
  let sGross = 0;
  let sLive2 = 0; // Σ w² · live, for the effective live time
  const sWin = new Float64Array(nW);
  let tEst = 0;
  let updated = 0;
  // Samples waiting out the guard time, oldest first, with their running sums.
  let pending: Held[] = [];
  let pendingLive = 0;
  let pendingGross = 0;
  const pushPending = (h: Held): void => {
    pending.push(h);
    pendingLive += h.liveTime_s;
    pendingGross += h.gross;
  };
  const clearPending = (): void => {
    pending = [];
    pendingLive = 0;
    pendingGross = 0;
  };
  const warm: Held[] = [];
  // Samples since the current run of outliers began (for a restart when it lasts), oldest first.
  let outlierRun: Held[] = [];
  // Accepted samples above the prediction in a row (a level change the caller vouched for), oldest first.
  let levelRun: Held[] = [];
  let outlierSince: number | undefined;
  let dropUntil = -Infinity;
  let lastTime = -Infinity;

  const fold = (h: Held): void => {
    // Decay the sums to the sample's time, then add it with weight 1.
    const dt = h.time_s - tEst;
    if (dt > 0) {
      const f = Math.exp(-dt / tau);
      sLive *= f;
      sGross *= f;
      sLive2 *= f * f;
      for (let i = 0; i < nW; i++) sWin[i] *= f;
      tEst = h.time_s;
    }
    sLive += h.liveTime_s;
    sLive2 += h.liveTime_s;
    sGross += h.gross;
    for (let i = 0; i < nW; i++) sWin[i] += h.windows[i];
    updated = h.time_s;
  };

  const startFrom = (rates: { gross_cps: number; windows_cps: readonly number[]; live_s: number }, time_s: number): void => {
    // Stand the pooled stretch in for a block of live time at `time_s`, capped at one time constant's worth so
    // the estimate then moves as fast as configured.
    const live = Math.min(rates.live_s, tau);
    sLive = live;
    sLive2 = live;
    sGross = rates.gross_cps * live;
    for (let i = 0; i < nW; i++) sWin[i] = (rates.windows_cps[i] ?? 0) * live;
    tEst = time_s;
    updated = time_s;
    ready = true;
  };

  const effectiveLive = (): number => (sLive2 > 0 ? (sLive * sLive) / sLive2 : 0);

  const estimate = (): BackgroundEstimate | undefined => {
    if (!ready || !(sLive > 0)) return undefined;
    const g = sGross / sLive;
    const eff = effectiveLive();
    return {
      gross_cps: g,
      grossSigma_cps: Math.sqrt(Math.max(g, 1e-12) / eff),
      windows_cps: Array.from(sWin, (w) => w / sLive),
      windowsSigma_cps: Array.from(sWin, (w) => Math.sqrt(Math.max(w / sLive, 1e-12) / eff)),
      effectiveLive_s: eff,
      updated_s: updated,
    };
  };

  const predict = (liveTime_s: number): ReturnType<BackgroundEstimator['predict']> => {
    const e = estimate();
    if (!e) return undefined;
    const t = liveTime_s;
    const g = e.gross_cps * t;
    return {
      gross: g,
      grossVar: g + (e.grossSigma_cps * t) ** 2,
      windows: e.windows_cps.map((w) => w * t),
      windowsVar: e.windows_cps.map((w, i) => w * t + (e.windowsSigma_cps[i] * t) ** 2),
    };
  };

  const update = (s: BackgroundSample): BackgroundUpdate => {
    if (!Number.isFinite(s.time_s)) throw new InputError(`time_s: expected a finite time, got ${s.time_s}`);
    if (!(s.liveTime_s > 0) || !Number.isFinite(s.liveTime_s)) throw new InputError(`liveTime_s: expected a time > 0 s, got ${s.liveTime_s}`);
    if (!(s.gross >= 0) || !Number.isFinite(s.gross)) throw new InputError(`gross: expected counts >= 0, got ${s.gross}`);
    if (s.time_s < lastTime) throw new InputError(`time_s: samples must come in time order, got ${s.time_s} after ${lastTime}`);
    if (nW > 0 && (!s.windows || s.windows.length < nW)) throw new InputError(`windows: expected ${nW} window counts, got ${s.windows?.length ?? 0}`);
    lastTime = s.time_s;
    const h: Held = { time_s: s.time_s, liveTime_s: s.liveTime_s, gross: s.gross, windows: Float64Array.from({ length: nW }, (_, i) => s.windows?.[i] ?? 0) };

    if (!ready) {
      warm.push(h);
      const live = warm.reduce((a, w) => a + w.liveTime_s, 0);
      if (live >= warmup) {
        const r = robustPooledRates(warm, nW, k, Math.max(warmup / 10, 0.5));
        // A long separate background measurement (a file's Background, `rad alarm --background`) starts the estimate
        // but weighs no more than two warm-ups: the data before each test take over within seconds, and the tests'
        // learning period (monitor.ts) applies, instead of testing a portal's data against another time and place.
        if (r) startFrom({ ...r, live_s: Math.min(r.live_s, 2 * warmup) }, s.time_s);
        warm.length = 0;
      }
      return { outlier: false, rebaselined: false, ready };
    }

    // Outlier test against the prediction (Poisson variance plus the estimate's own).
    const rate = sGross / sLive;
    const eff = effectiveLive();
    const t = s.liveTime_s;
    const mean = rate * t;
    let z = (s.gross - mean) / Math.sqrt(Math.max(mean + (rate / eff) * t * t, 1));
    for (let i = 0; i < nW; i++) {
      const m = (sWin[i] / sLive) * t;
      z = Math.max(z, (h.windows[i] - m) / Math.sqrt(Math.max(m + (sWin[i] / sLive / eff) * t * t, 1)));
    }
    // The same test on everything still waiting plus this sample: a flank a few per cent above background for several
    // seconds is not k sigmas in any 0.1 s sample but is in their sum.
    if (pending.length > 0) {
      const live = t + pendingLive;
      const m = rate * live;
      z = Math.max(z, (s.gross + pendingGross - m) / Math.sqrt(Math.max(m + (rate / eff) * live * live, 1)));
    }
    const outlier = s.exclude === true || (z > k && s.accept !== true);
    let rebaselined = false;
    if (!outlier && s.accept === true && z > k) {
      levelRun.push(h);
      // The background stepped (the caller says so from the spectrum's shape): once the new level has lasted
      // levelFollow_s, start again from it rather than creeping towards it at the time constant.
      if (s.time_s - levelRun[0]!.time_s >= levelFollow) {
        const r = robustPooledRates(levelRun, nW, k, Math.max(levelFollow / 8, 0.25));
        levelRun = [];
        if (r) {
          startFrom(r, s.time_s);
          clearPending();
          return { outlier, z, rebaselined: true, ready };
        }
      }
    } else levelRun = [];
    if (outlier) {
      // Drop what is waiting from the last guard_s: the rising flank.
      while (pending.length > 0 && pending[pending.length - 1].time_s >= s.time_s - guard) {
        const q = pending.pop() as Held;
        pendingLive -= q.liveTime_s;
        pendingGross -= q.gross;
      }
      dropUntil = s.time_s + guard;
      if (outlierSince === undefined) outlierSince = s.time_s;
      outlierRun.push(h);
      if (s.time_s - outlierSince >= maxExcl) {
        // The "source" has been there for longer than any pass: take it as the new background, flagged or not (else
        // a step up in natural background would hold the alarm on, and this list would grow, for ever).
        const r = robustPooledRates(outlierRun, nW, k, Math.max(maxExcl / 20, 0.5));
        if (r) {
          startFrom(r, s.time_s);
          rebaselined = true;
        }
        outlierRun = [];
        outlierSince = undefined;
        clearPending();
        dropUntil = -Infinity;
      }
    } else {
      if (s.time_s > dropUntil) {
        outlierSince = undefined;
        outlierRun = [];
      } else if (outlierSince !== undefined) {
        outlierRun.push(h);
      }
      if (s.time_s > dropUntil) pushPending(h);
    }
    // Fold in what has waited long enough.
    let done = 0;
    while (done < pending.length && pending[done].time_s <= s.time_s - guard) {
      const q = pending[done++];
      pendingLive -= q.liveTime_s;
      pendingGross -= q.gross;
      fold(q);
    }
    if (done > 0) pending = pending.slice(done);
    if (pending.length === 0) {
      // Keep the running sums from drifting by round-off.
      pendingLive = 0;
      pendingGross = 0;
    }
    return { outlier, z, rebaselined, ready };
  };

  const seed = (r: { gross_cps: number; windows_cps?: readonly number[]; effectiveLive_s?: number; time_s?: number }): void => {
    if (!(r.gross_cps >= 0) || !Number.isFinite(r.gross_cps)) throw new InputError(`gross_cps: expected a rate >= 0, got ${r.gross_cps}`);
    const w = r.windows_cps ?? [];
    if (nW > 0 && w.length < nW) throw new InputError(`windows_cps: expected ${nW} window rates, got ${w.length}`);
    startFrom({ gross_cps: r.gross_cps, windows_cps: w, live_s: r.effectiveLive_s ?? tau }, r.time_s ?? 0);
    warm.length = 0;
  };

  return { update, estimate, seed, predict };
}
