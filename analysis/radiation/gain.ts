// Automatic gain stabilisation on natural background peaks (K-40, Tl-208): follows a PMT/crystal gain drift with temperature.
//
// How it works. `gain` is the factor by which pulse heights are currently stretched against the nominal calibration: a
// line the calibration puts at channel x shows up at gain·x (scaleGain in calibration.ts). Every spectrum handed to
// update() is first corrected with the current gain estimate (rebinned onto the nominal calibration) and added to an
// accumulator. Once the first reference peak holds `minPeakCounts` net counts, the reference peaks are fitted
// (Gaussian + line, peaks.ts) in the accumulated *corrected* spectrum; the ratio of each fitted centroid to its
// reference channel is the residual gain error, which is 1 when the loop is locked. Accumulating corrected spectra
// rather than raw ones keeps the peak sharp while the gain moves, and the accumulator is restarted after each fit.
//
// The residual drives an alpha-beta (position + rate) filter on ln(gain), clocked by accumulated live time (time
// comes in as data, there is no clock here): the rate term lets the estimate keep up with a steady temperature ramp
// instead of lagging by a fit interval or two. The measurement refers to the middle of the accumulation (in live
// time), which is where the filter places it.
//
// Reference channels: by default where the nominal calibration puts the reference energies. A NaI photopeak on
// a falling continuum next to other lines (K-40 next to Bi-214 1377/1408/1509 keV) fits a few keV low; give a
// `referenceSpectrum` (a background taken at nominal gain, e.g. at calibration time) and the reference channels are
// the fitted centroids there, so such biases cancel in the ratio.

import { InputError } from '../../common/errors.js';
import { channelOf, energyOf, rebin, rebinEdges, rebinEdgesOf, scaleGain } from './calibration.js';
import { createPeakSearch, fitPeak, fwhmInChannels, type PeakFit, type PeakSearcher } from './peaks.js';
import type { EnergyCalibration } from './spectrum.js';

/** K-40 and Tl-208 (Th-232 series) lines of natural background, keV (DDEP). */
export const NATURAL_REFERENCE_PEAKS_keV: readonly number[] = [1460.822, 2614.511];

export interface GainStabilizerOptions {
  /** Nominal energy calibration (at gain 1). */
  cal: EnergyCalibration;
  /** Reference lines, the first one being the one whose counts gate a fit. Default K-40 1460.8 and Tl-208 2614.5 keV. */
  refPeaks_keV?: readonly number[];
  /** Background at nominal gain: the reference channels become the fitted centroids there (see the module comment). */
  referenceSpectrum?: ArrayLike<number>;
  /**
   * Channels of the spectra to come. Given, the reference peaks (and the reference spectrum) are checked here and an
   * unusable setup throws from createGainStabilizer; otherwise the first update() sets up and would throw there.
   */
  nChannels?: number;
  /** Net counts in the first reference peak before its fit is used (default 2000: centroid to ~0.05 % for a NaI). */
  minPeakCounts?: number;
  /**
   * How much of each measured correction is held back, 0 (apply it fully) to < 1 (default 0.6). The position gain of
   * the filter is 1 − smoothing, its rate gain (1 − smoothing)² / (1 + smoothing) (Benedict–Bordner). 0.6 is the
   * best of 0.3-0.7 for a 2x4x16 log following a 20 °C swing over 1-2 h (residual rms 0.065 %, worst 0.2 %).
   */
  smoothing?: number;
  /** Detector resolution FWHM(E) in keV (default 7.5 % at 662 keV scaling with √E, a typical NaI). */
  fwhm_keV?: (E_keV: number) => number;
  /** Largest relative gain error that can still be captured (default 0.12: peaks are searched within ±12 %). */
  captureRange?: number;
  initialGain?: number;
  /** Residual below which the loop counts as converged (default 0.005). */
  convergedTolerance?: number;
  /** Start the accumulation again when it has not reached enough counts in this much live time (default 3600 s). */
  maxAccumulation_s?: number;
  /** Do not extrapolate the drift rate further than this past the last fit (default 900 s). */
  maxPrediction_s?: number;
  /** A secondary reference peak is used when its net area is at least this share of minPeakCounts (default 0.25). */
  secondaryMinShare?: number;
}

export interface GainUpdate {
  /** Current gain estimate (pulse heights relative to nominal). */
  gain: number;
  /** Energy (nominal calibration) where the first reference peak was found in the corrected accumulation, on a fit. */
  peak_keV?: number;
  /** True once a fit has been made and the last residual was within convergedTolerance. */
  converged: boolean;
  /** True when this update completed a fit. */
  fitted: boolean;
  /** On a fit: measured residual gain error (ratio − 1) and its one-sigma uncertainty. */
  residual?: number;
  residualSigma?: number;
}

export interface GainStabilizerState {
  gain: number;
  /** Drift rate of ln(gain) per second of live time. */
  rate_per_s: number;
  fits: number;
  converged: boolean;
  accumulatedLive_s: number;
  /** Reference channels the peaks are compared against. */
  referenceChannels: number[];
}

export interface GainStabilizer {
  /** Add a spectrum (raw counts at the detector's present gain). `exclude` skips it (e.g. while an alarm is on). */
  update(counts: ArrayLike<number>, liveTime_s: number, opts?: { exclude?: boolean }): GainUpdate;
  /** The spectrum rebinned from the current gain onto the nominal calibration (counts kept within the range). */
  correct(counts: ArrayLike<number>): Float64Array;
  state(): GainStabilizerState;
}

function defaultFwhm(E_keV: number): number {
  return 0.075 * Math.sqrt(661.657 * E_keV);
}

export function createGainStabilizer(opts: GainStabilizerOptions): GainStabilizer {
  const cal = opts.cal;
  const refs = [...(opts.refPeaks_keV ?? NATURAL_REFERENCE_PEAKS_keV)];
  if (refs.length === 0 || !refs.every((e) => e > 0 && Number.isFinite(e))) {
    throw new InputError(`refPeaks_keV: expected one or more energies > 0 keV, got ${refs.join(', ')}`);
  }
  const minPeakCounts = opts.minPeakCounts ?? 2000;
  const smoothing = opts.smoothing ?? 0.6;
  if (!(smoothing >= 0 && smoothing < 1)) throw new InputError(`smoothing: expected a number in [0, 1), got ${smoothing}`);
  if (!(minPeakCounts > 0)) throw new InputError(`minPeakCounts: expected a count > 0, got ${minPeakCounts}`);
  const capture = opts.captureRange ?? 0.12;
  if (!(capture > 0 && capture < 0.5)) throw new InputError(`captureRange: expected a fraction in (0, 0.5), got ${capture}`);
  const tolerance = opts.convergedTolerance ?? 0.005;
  const maxAcc = opts.maxAccumulation_s ?? 3600;
  const maxPredict = opts.maxPrediction_s ?? 900;
  const secondaryShare = opts.secondaryMinShare ?? 0.25;
  const fwhmKeV = opts.fwhm_keV ?? defaultFwhm;
  const fwhmCh = fwhmInChannels(cal, fwhmKeV);
  const alpha = 1 - smoothing;
  const betaGain = (alpha * alpha) / (2 - alpha);
  const gain0 = opts.initialGain ?? 1;
  if (!(gain0 > 0) || !Number.isFinite(gain0)) throw new InputError(`initialGain: expected a factor > 0, got ${gain0}`);

  let n = 0;
  let acc: Float64Array | undefined;
  let searcher: PeakSearcher | undefined;
  let refCh: number[] = [];
  // Every correction rebins n channels onto the nominal calibration: its edges are computed once, and those at the
  // present gain again only when the gain moved (never before the first fit, nor while the drift rate is 0).
  let nominalEdges: Float64Array | undefined;
  let gainEdges: { gain: number; edges: Float64Array } | undefined;
  // Filter state: ln(gain) = x + v·(T − tFit), T the live-time clock.
  let x = Math.log(gain0);
  let v = 0;
  let tFit = 0;
  let T = 0;
  let fits = 0;
  let converged = false;
  let accLive = 0;
  let accStart = 0;
  // Live-time-weighted mean of the ln(gain) applied to what is in the accumulator.
  let appliedSum = 0;
  let nextAttempt = 0;

  const lnGainAt = (t: number): number => x + v * Math.max(-maxPredict, Math.min(maxPredict, t - tFit));
  const gainNow = (): number => Math.exp(lnGainAt(T));

  const setup = (nChannels: number): void => {
    n = nChannels;
    acc = new Float64Array(n);
    searcher = createPeakSearch({ nChannels: n, fwhm_ch: fwhmCh, threshold: 3, fit: false });
    nominalEdges = undefined;
    gainEdges = undefined;
    refCh = refs.map((E) => channelOf(cal, E));
    for (const [i, c] of refCh.entries()) {
      if (!(c > 2 && c < n - 2)) throw new InputError(`refPeaks_keV[${i}] = ${refs[i]} keV lies outside the ${n} channels of the calibration`);
    }
    if (opts.referenceSpectrum) {
      const r = opts.referenceSpectrum;
      if (r.length !== n) throw new InputError(`referenceSpectrum: expected ${n} channels like the spectra, got ${r.length}`);
      refCh = refCh.map((c, i) => {
        const f = locate(r, c, 0.03);
        if (!f) throw new InputError(`referenceSpectrum: no peak found near ${refs[i]} keV (channel ${c.toFixed(1)})`);
        return f.centroid_ch;
      });
    }
  };

  /** Find and fit the peak nearest to `expected` within ±range (relative) in `spec`. */
  const locate = (spec: ArrayLike<number>, expected: number, range: number): PeakFit | undefined => {
    if (!searcher) return undefined;
    const { response } = searcher.filter(spec);
    const lo = Math.max(1, Math.floor(expected * (1 - range)));
    const hi = Math.min(n - 2, Math.ceil(expected * (1 + range)));
    let best = -1;
    for (let ch = lo; ch <= hi; ch++) if (best < 0 || response[ch] > response[best]) best = ch;
    if (best < 0 || !(response[best] > 0)) return undefined;
    const w = fwhmCh(best + 0.5);
    const f = fitPeak(spec, { centroid_ch: best + 0.5, fwhm_ch: w });
    if (!f || !(f.area > 0) || Math.abs(f.centroid_ch - (best + 0.5)) > w) return undefined;
    return f;
  };

  const resetAccumulator = (): void => {
    acc?.fill(0);
    accLive = 0;
    appliedSum = 0;
    accStart = T;
    nextAttempt = 0;
  };

  /** `counts` at `gain` rebinned onto the nominal calibration. */
  const toNominal = (counts: ArrayLike<number>, gain: number): Float64Array => {
    if (n === 0 || counts.length !== n) return rebin(counts, scaleGain(cal, gain), cal, { nChannels: counts.length });
    // The source edges first, as rebin() checks them first.
    const from = gain === 1 ? undefined : gainEdges?.gain === gain ? gainEdges.edges : (gainEdges = { gain, edges: rebinEdgesOf(scaleGain(cal, gain), n, 'source') }).edges;
    nominalEdges ??= rebinEdgesOf(cal, n, gain === 1 ? 'source' : 'target');
    return rebinEdges(counts, from ?? nominalEdges, nominalEdges);
  };

  const correct = (counts: ArrayLike<number>): Float64Array => toNominal(counts, gainNow());

  // After `locate`, which a reference spectrum needs.
  if (opts.nChannels !== undefined) {
    if (!Number.isInteger(opts.nChannels) || opts.nChannels < 1) throw new InputError(`nChannels: expected a whole number of channels >= 1, got ${opts.nChannels}`);
    setup(opts.nChannels);
  }

  const update = (counts: ArrayLike<number>, liveTime_s: number, uopts: { exclude?: boolean } = {}): GainUpdate => {
    if (!(liveTime_s > 0) || !Number.isFinite(liveTime_s)) throw new InputError(`liveTime_s: expected a time > 0 s, got ${liveTime_s}`);
    if (n === 0) setup(counts.length);
    if (counts.length !== n) throw new InputError(`counts: expected ${n} channels as before, got ${counts.length}`);
    const lnApplied = lnGainAt(T + liveTime_s / 2);
    T += liveTime_s;
    const out: GainUpdate = { gain: gainNow(), converged, fitted: false };
    if (uopts.exclude) return out;
    const corrected = toNominal(counts, Math.exp(lnApplied));
    const a = acc as Float64Array;
    for (let i = 0; i < n; i++) a[i] += corrected[i];
    accLive += liveTime_s;
    appliedSum += lnApplied * liveTime_s;

    // Cheap gate: the gross counts within ±1 FWHM of the first reference must exceed what the net area needs.
    const c0 = refCh[0];
    const w0 = fwhmCh(c0);
    let gross = 0;
    for (let i = Math.max(0, Math.floor(c0 - w0)); i <= Math.min(n - 1, Math.ceil(c0 + w0)); i++) gross += a[i];
    if (gross < minPeakCounts || gross < nextAttempt) {
      if (T - accStart > maxAcc) resetAccumulator();
      return out;
    }
    const main = locate(a, c0, capture);
    if (!main || main.area < minPeakCounts) {
      // Not enough yet (the continuum under the peak counted in the gate): try again after 20 % more counts.
      nextAttempt = gross * 1.2;
      if (T - accStart > maxAcc) resetAccumulator();
      return out;
    }
    // Weighted mean of the ratios of the peaks that qualify.
    let sw = 0;
    let swr = 0;
    const ratioMain = main.centroid_ch / c0;
    const sigMain = main.centroidSigma_ch / c0;
    sw += 1 / (sigMain * sigMain);
    swr += ratioMain / (sigMain * sigMain);
    for (let k = 1; k < refCh.length; k++) {
      // Look for the secondary where the main peak says it should be (the gain error is common to both).
      const f = locate(a, refCh[k] * ratioMain, 0.03);
      if (!f || f.area < minPeakCounts * secondaryShare) continue;
      const r = f.centroid_ch / refCh[k];
      const s = f.centroidSigma_ch / refCh[k];
      // A secondary that disagrees with the main peak by > 4 σ is a different line (or a source): leave it out.
      if (!(s > 0) || Math.abs(r - ratioMain) > 4 * Math.hypot(s, sigMain)) continue;
      sw += 1 / (s * s);
      swr += r / (s * s);
    }
    const ratio = swr / sw;
    const ratioSigma = 1 / Math.sqrt(sw);
    const tMid = accStart + (T - accStart) / 2;
    const measured = appliedSum / accLive + Math.log(ratio);
    const lnPredMid = lnGainAt(tMid);
    const innovation = measured - lnPredMid;
    if (fits === 0) {
      // First lock: take the measurement as it is (the initial gain was a guess), no rate yet.
      x = measured;
      v = 0;
    } else {
      const dt = tMid - tFit;
      x = lnPredMid + alpha * innovation;
      v = dt > 0 ? v + (betaGain * innovation) / dt : v;
    }
    tFit = tMid;
    fits++;
    converged = Math.abs(ratio - 1) < tolerance;
    const peak_keV = energyOf(cal, main.centroid_ch);
    resetAccumulator();
    return { gain: gainNow(), peak_keV, converged, fitted: true, residual: ratio - 1, residualSigma: ratioSigma };
  };

  const state = (): GainStabilizerState => ({
    gain: gainNow(),
    rate_per_s: v,
    fits,
    converged,
    accumulatedLive_s: accLive,
    referenceChannels: [...refCh],
  });

  return { update, correct, state };
}
