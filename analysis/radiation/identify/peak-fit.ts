// Peak search and fit for high-resolution (HPGe) spectra: every peak found, fitted as a Gaussian on a local linear continuum with a step, jointly with its neighbours.
//
// 1. Search: the matched second-difference filter of peaks.ts at the detector's resolution.
// 2. Width: the detector model's FWHM(E) is a catalogue law; a real crystal (and its electronics) is often 5-20 %
//    wider. The strongest isolated peaks are fitted with a free width and the median ratio to the law scales it
//    (clamped to 0.6-2), so that the joint fits below can hold the width fixed: a free width per weak peak makes
//    its area wander with every fluctuation.
// 3. Fit: peaks closer than REGION_MERGE_FWHM are fitted together (a multiplet) over their window, each with area
//    and centroid free, the widths fixed at the scaled law, on b0 + b1·u plus a step under each peak proportional
//    to its area (scattered photons that lost a little energy: the continuum is higher below a peak than above).
//    Levenberg–Marquardt with model (Poisson) weights, so low-count channels are not weighted as if exact.
// 4. Lines not found can still be measured: areaAt() fits a Gaussian at a fixed energy on a straight line over
//    the spectrum less the fitted peaks, giving an area (possibly negative) and its error. The identifier uses it
//    to tell "line absent" from "line below the detection limit".

import { invertSmall, channelOf, energyOf, keVPerChannelAt } from '../calibration.js';
import { lmCurvature, poissonLm } from '../lm.js';
import { createPeakSearch, erf, fitPeak } from '../peaks.js';
import type { EnergyCalibration } from '../spectrum.js';

const FWHM_PER_SIGMA = 2 * Math.sqrt(2 * Math.LN2);
/** Peaks whose centroids are closer than this many FWHM are fitted together. */
const REGION_MERGE_FWHM = 4;
/** Continuum channels on each side of a region, in FWHM. */
const REGION_MARGIN_FWHM = 3;
/** At most this many peaks in one joint fit (a denser run is split; the fit cost grows as k³). */
const MAX_PEAKS_PER_REGION = 8;
/** Search significance of the peaks used to measure the width scale. */
const WIDTH_PEAK_MIN_SIGNIFICANCE = 20;
/** Step height per channel per count of peak area: 0 to this. */
const MAX_STEP_FRACTION = 0.02;

export interface FittedPeak {
  energy_keV: number;
  energySigma_keV: number;
  /** Net counts in the Gaussian. */
  area: number;
  areaSigma: number;
  fwhm_keV: number;
  /** Continuum counts under ±1 FWHM of the peak (from the fitted line). */
  continuum: number;
  /** Significance of the search filter at the peak. */
  searchSignificance: number;
}

export interface PeakAnalysis {
  peaks: FittedPeak[];
  /** Fitted FWHM over the model's law (1 when too few strong peaks to tell). */
  widthScale: number;
  /** Counts less the fitted Gaussians (continuum and whatever was not found). */
  residual: Float64Array;
  /** Σ Pearson χ² and degrees of freedom of the region fits. */
  chi2: number;
  ndf: number;
  channels: number;
}

export interface PeakAnalysisOptions {
  calibration: EnergyCalibration;
  /** FWHM law of the detector model (keV). */
  fwhm_keV: (E_keV: number) => number;
  /** Energy range searched (keV). */
  range_keV: [number, number];
  /** Search threshold in sigmas of the filter response (default 3.5). */
  threshold?: number;
  /** Width scale to use instead of measuring one (a background spectrum uses the foreground's). */
  widthScale?: number;
}

/** Search, width scale, joint fits; peaks sorted by energy, only those with area > 0. */
export function analysePeaks(counts: Float64Array, o: PeakAnalysisOptions): PeakAnalysis {
  const n = counts.length;
  const cal = o.calibration;
  const lawCh = (ch: number): number => {
    const x = Math.max(ch, 0.5);
    return o.fwhm_keV(Math.max(energyOf(cal, x), 1)) / keVPerChannelAt(cal, x);
  };
  const lo = Math.max(0, Math.floor(channelOf(cal, o.range_keV[0])));
  const hi = Math.min(n - 1, Math.ceil(channelOf(cal, o.range_keV[1])));
  const searcher = createPeakSearch({ nChannels: n, fwhm_ch: lawCh, threshold: o.threshold ?? 3.5, range: [Math.max(lo, Math.ceil(3 * lawCh(lo))), hi], fit: false });
  const found = searcher.search(counts);

  let widthScale = o.widthScale ?? 1;
  if (o.widthScale === undefined) {
    const ratios: number[] = [];
    for (const p of found) {
      if (p.significance < WIDTH_PEAK_MIN_SIGNIFICANCE) continue;
      const f = fitPeak(counts, { centroid_ch: p.searchCentroid_ch, fwhm_ch: p.fwhmExpected_ch, window_fwhm: 2 });
      if (f && f.fwhmSigma_ch < 0.1 * f.fwhm_ch && f.area > 0) ratios.push(f.fwhm_ch / lawCh(f.centroid_ch));
    }
    if (ratios.length >= 2) {
      ratios.sort((a, b) => a - b);
      widthScale = Math.min(2, Math.max(0.6, ratios[Math.floor(ratios.length / 2)]));
    }
  }
  const fwhmCh = (ch: number): number => widthScale * lawCh(ch);

  // Regions: runs of peaks closer than REGION_MERGE_FWHM.
  const starts = found.map((p) => p.searchCentroid_ch).sort((a, b) => a - b);
  const regions: number[][] = [];
  for (const c of starts) {
    const last = regions[regions.length - 1];
    if (last && c - last[last.length - 1] < REGION_MERGE_FWHM * fwhmCh(c) && last.length < MAX_PEAKS_PER_REGION) last.push(c);
    else regions.push([c]);
  }
  const residual = Float64Array.from(counts);
  const peaks: FittedPeak[] = [];
  let chi2 = 0;
  let ndf = 0;
  let channels = 0;
  const significance = new Map(found.map((p) => [p.searchCentroid_ch, p.significance]));
  for (const r of regions) {
    const wLo = Math.max(0, Math.floor(r[0] - REGION_MARGIN_FWHM * fwhmCh(r[0])));
    const wHi = Math.min(n - 1, Math.ceil(r[r.length - 1] + REGION_MARGIN_FWHM * fwhmCh(r[r.length - 1])));
    let fit = fitRegion(counts, r, fwhmCh, [wLo, wHi]);
    // Peaks the joint fit finds insignificant (a search fluctuation on a neighbour's flank) are dropped and the
    // rest refitted, so they do not take counts from the real ones.
    if (fit && fit.peaks.some((p) => !(p.area > p.areaSigma))) {
      const keep = r.filter((_, j) => fit!.peaks[j].area > fit!.peaks[j].areaSigma);
      fit = keep.length > 0 ? fitRegion(counts, keep, fwhmCh, [wLo, wHi]) : undefined;
    }
    if (!fit) continue;
    chi2 += fit.chi2;
    ndf += fit.ndf;
    channels += wHi - wLo + 1;
    for (const [j, p] of fit.peaks.entries()) {
      if (!(p.area > 0)) continue;
      const sigma = fwhmCh(p.centroid) / FWHM_PER_SIGMA;
      subtractGaussian(residual, p.centroid, sigma, p.area);
      const kev = keVPerChannelAt(cal, p.centroid);
      peaks.push({
        energy_keV: energyOf(cal, p.centroid),
        energySigma_keV: p.centroidSigma * kev,
        area: p.area,
        areaSigma: p.areaSigma,
        fwhm_keV: sigma * FWHM_PER_SIGMA * kev,
        continuum: 2 * sigma * FWHM_PER_SIGMA * fit.continuumAt(p.centroid),
        searchSignificance: significance.get(fit.starts[j]) ?? 0,
      });
    }
  }
  peaks.sort((a, b) => a.energy_keV - b.energy_keV);
  return { peaks, widthScale, residual, chi2, ndf, channels };
}

/**
 * Area of a Gaussian at a fixed energy (width from the scaled law) on a straight line, fitted over ±3 FWHM of
 * `counts` (usually PeakAnalysis.residual): weighted linear least squares, weights from a first unweighted pass.
 */
export function areaAt(counts: Float64Array, cal: EnergyCalibration, E_keV: number, fwhm_keV: number): { area: number; sigma: number } {
  const n = counts.length;
  const c0 = channelOf(cal, E_keV);
  const fwhmCh = fwhm_keV / keVPerChannelAt(cal, c0);
  const sigma = fwhmCh / FWHM_PER_SIGMA;
  const lo = Math.max(0, Math.floor(c0 - 3 * fwhmCh));
  const hi = Math.min(n - 1, Math.ceil(c0 + 3 * fwhmCh));
  const m = hi - lo + 1;
  if (m < 6 || !Number.isFinite(c0)) return { area: 0, sigma: Infinity };
  const mid = (lo + hi + 1) / 2;
  const g = new Float64Array(m);
  const inv = 1 / (Math.SQRT2 * sigma);
  for (let i = 0; i < m; i++) g[i] = 0.5 * (erf((lo + i + 1 - c0) * inv) - erf((lo + i - c0) * inv));
  let w = new Float64Array(m).fill(1);
  let result = { area: 0, sigma: Infinity };
  for (let pass = 0; pass < 2; pass++) {
    const A = [
      [0, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
    ];
    const b = [0, 0, 0];
    for (let i = 0; i < m; i++) {
      const row = [g[i], 1, lo + i + 0.5 - mid];
      for (let a = 0; a < 3; a++) {
        b[a] += w[i] * row[a] * counts[lo + i];
        for (let c = 0; c < 3; c++) A[a][c] += w[i] * row[a] * row[c];
      }
    }
    const invA = invertSmall(A);
    if (!invA) return result;
    const x = invA.map((r) => r[0] * b[0] + r[1] * b[1] + r[2] * b[2]);
    if (pass === 0) {
      // Weights: 1/model, the model at least 1 count.
      w = Float64Array.from({ length: m }, (_, i) => 1 / Math.max(1, x[0] * g[i] + x[1] + x[2] * (lo + i + 0.5 - mid)));
      continue;
    }
    // With weights 1/variance the covariance is (AᵀWA)⁻¹, inflated by √(χ²/ndf) where a straight line does not
    // describe the continuum (a Compton edge, an unfitted neighbour): the area is then less certain than Poisson says.
    let chi2 = 0;
    for (let i = 0; i < m; i++) {
      const d = counts[lo + i] - (x[0] * g[i] + x[1] + x[2] * (lo + i + 0.5 - mid));
      chi2 += d * d * w[i];
    }
    result = { area: x[0], sigma: Math.sqrt(Math.max(invA[0][0], 0) * Math.max(1, chi2 / (m - 3))) };
  }
  return result;
}

function subtractGaussian(out: Float64Array, mu: number, sigma: number, area: number): void {
  const lo = Math.max(0, Math.floor(mu - 5 * sigma));
  const hi = Math.min(out.length - 1, Math.ceil(mu + 5 * sigma));
  const inv = 1 / (Math.SQRT2 * sigma);
  let prev = erf((lo - mu) * inv);
  for (let i = lo; i <= hi; i++) {
    const next = erf((i + 1 - mu) * inv);
    out[i] -= 0.5 * area * (next - prev);
    prev = next;
  }
}

interface RegionPeak {
  centroid: number;
  centroidSigma: number;
  area: number;
  areaSigma: number;
}

interface RegionFit {
  starts: number[];
  peaks: RegionPeak[];
  chi2: number;
  ndf: number;
  continuumAt: (ch: number) => number;
}

/**
 * Joint fit over [lo, hi] of k Gaussians (area, centroid; width fixed) with a step each of f·area per channel below
 * the centroid, on b0 + b1·u. Parameters [A_0, μ_0, …, A_k-1, μ_k-1, b0, b1, f]; centroids held within ±0.75 FWHM of
 * where the search put them.
 */
function fitRegion(counts: Float64Array, starts: number[], fwhmCh: (ch: number) => number, window: [number, number]): RegionFit | undefined {
  const [lo, hi] = window;
  const m = hi - lo + 1;
  const k = starts.length;
  const P = 2 * k + 3;
  if (m < P + 2) return undefined;
  const mid = (lo + hi + 1) / 2;
  const half = m / 2;
  const sig = starts.map((c) => fwhmCh(c) / FWHM_PER_SIGMA);
  const e = Math.max(1, Math.min(3, Math.floor(m / 8)));
  let left = 0;
  let right = 0;
  for (let i = 0; i < e; i++) {
    left += counts[lo + i];
    right += counts[hi - i];
  }
  left /= e;
  right /= e;
  const p: number[] = [];
  for (const [j, c] of starts.entries()) {
    const ch = Math.min(hi, Math.max(lo, Math.floor(c)));
    const base = (left + right) / 2 + ((right - left) / 2) * ((ch + 0.5 - mid) / half);
    p.push(Math.max(1, (counts[ch] - base) * sig[j] * Math.sqrt(2 * Math.PI)), c);
  }
  p.push((left + right) / 2, (right - left) / 2, 0);
  const model = (q: number[], out: Float64Array): void => {
    const f = q[2 * k + 2];
    for (let i = 0; i < m; i++) out[i] = q[2 * k] + q[2 * k + 1] * ((lo + i + 0.5 - mid) / half);
    for (let j = 0; j < k; j++) {
      const A = q[2 * j];
      const mu = q[2 * j + 1];
      const inv = 1 / (Math.SQRT2 * sig[j]);
      let prev = erf((lo - mu) * inv);
      for (let i = 0; i < m; i++) {
        const next = erf((lo + i + 1 - mu) * inv);
        out[i] += 0.5 * A * (next - prev) + f * A * 0.5 * (1 - 0.5 * (next + prev));
        prev = next;
      }
    }
  };
  const clamp = (q: number[]): void => {
    for (let j = 0; j < k; j++) {
      const reach = 0.75 * fwhmCh(starts[j]);
      q[2 * j + 1] = Math.min(starts[j] + reach, Math.max(starts[j] - reach, q[2 * j + 1]));
    }
    q[2 * k + 2] = Math.min(MAX_STEP_FRACTION, Math.max(0, q[2 * k + 2]));
  };
  const fit = poissonLm({ counts, lo, m, start: p, model, clamp, step: (a, q) => (a === 2 * k + 2 ? 1e-5 : Math.max(1e-4, Math.abs(q[a]) * 1e-6)), maxIterations: 40, maxTries: 10, tolerance: 1e-6 });
  if (!fit) return undefined;
  const { chi2 } = fit;
  p.splice(0, P, ...fit.p);
  // The step fraction sits at a bound more often than not; its column would make the curvature singular there.
  const alpha = lmCurvature(fit);
  if (p[2 * k + 2] <= 0 || p[2 * k + 2] >= MAX_STEP_FRACTION) {
    for (let a = 0; a < P; a++) alpha[a][2 * k + 2] = alpha[2 * k + 2][a] = a === 2 * k + 2 ? 1 : 0;
  }
  const cov = invertSmall(alpha);
  if (!cov) return undefined;
  const ndf = Math.max(1, m - P);
  const inflate = Math.max(1, chi2 / ndf);
  const sd = (a: number): number => Math.sqrt(Math.max(0, cov[a][a] * inflate));
  const peaks: RegionPeak[] = [];
  for (let j = 0; j < k; j++) peaks.push({ area: p[2 * j], areaSigma: sd(2 * j), centroid: p[2 * j + 1], centroidSigma: sd(2 * j + 1) });
  const b0 = p[2 * k];
  const b1 = p[2 * k + 1];
  return { starts, peaks, chi2, ndf, continuumAt: (ch: number) => b0 + b1 * ((ch - mid) / half) };
}
