// Peak search (matched second-difference filter with a significance threshold) and Gaussian-plus-linear peak fits.
//
// Search: the spectrum is correlated with a zero-area kernel shaped like the negative second derivative of a Gaussian of
// the local resolution (Mariscotti's smoothed second difference, matched to the peak width). A linear background
// gives zero response; a peak gives a positive one. Its significance is response / √(Σ k² · counts), the
// response divided by its own Poisson standard deviation, so the threshold is in sigmas whatever the count level.
// Fit: Levenberg–Marquardt of a bin-integrated Gaussian on a straight line over a window of ±1.5 FWHM (default),
// weights from the model (Pearson χ², not biased low the way data weights are), uncertainties from the covariance,
// inflated by √(χ²/ndf) when the fit is worse than Poisson.
//
// Channel coordinates as in calibration.ts: channel i spans [i, i+1); centroids are continuous positions that
// energyOf(cal, centroid) turns into keV directly.

import { InputError } from '../../common/errors.js';
import { energyOf, invertSmall, keVPerChannelAt } from './calibration.js';
import type { EnergyCalibration } from './spectrum.js';

const FWHM_PER_SIGMA = 2 * Math.sqrt(2 * Math.LN2);
const SQRT2 = Math.SQRT2;

/** FWHM in channels at a channel position, or one value for the whole spectrum. */
export type FwhmChannels = number | ((ch: number) => number);

/**
 * FWHM in channels from a resolution in energy: `fwhm_keV(E)` (e.g. dose.ts fwhm_keV bound to a detector, or
 * relative resolution r at 662 keV scaling as √E: `(E) => r * Math.sqrt(661.657 * E)`) divided by the local keV per channel.
 */
export function fwhmInChannels(cal: EnergyCalibration, fwhm_keV: (E_keV: number) => number): (ch: number) => number {
  return (ch: number) => {
    const x = Math.max(ch, 0.5);
    return fwhm_keV(Math.max(energyOf(cal, x), 1)) / keVPerChannelAt(cal, x);
  };
}

export interface PeakSearchOptions {
  nChannels: number;
  fwhm_ch: FwhmChannels;
  /** Minimum significance (sigmas of the filter response) for a peak to be reported. Default 5. */
  threshold?: number;
  /** Channel range searched [first, last] (default the whole spectrum less one FWHM at each end). */
  range?: [number, number];
  /** Fit each peak found (default true); without it the peaks carry the search estimates only. */
  fit?: boolean;
  /** Half-width of the fit window in FWHM (default 1.5). */
  fitWindow_fwhm?: number;
  /** Energy calibration, to add energy_keV to each peak. */
  calibration?: EnergyCalibration;
}

export interface PeakFit {
  /** Centroid (continuous channel position) and its one-sigma uncertainty. */
  centroid_ch: number;
  centroidSigma_ch: number;
  fwhm_ch: number;
  fwhmSigma_ch: number;
  /** Net counts in the Gaussian (the whole Gaussian, not only the window). */
  area: number;
  areaSigma: number;
  /** Background counts under the peak within ±FWHM of the centroid, from the fitted line. */
  backgroundUnderPeak: number;
  /** Fitted line: counts per channel at the centroid and slope per channel. */
  background: { level: number; slope: number };
  chi2: number;
  ndf: number;
  /** Channels fitted [first, last]. */
  window: [number, number];
  iterations: number;
}

export interface Peak {
  /** Channel of the filter maximum. */
  channel: number;
  /** Significance of the filter response at the maximum, in sigmas. */
  significance: number;
  /** Search estimate of the centroid (parabola through the filter maximum). */
  searchCentroid_ch: number;
  fwhmExpected_ch: number;
  fit?: PeakFit;
  /** energyOf(calibration, fit centroid or search centroid) when a calibration was given. */
  energy_keV?: number;
}

export interface PeakSearcher {
  /** Filter response and significance per channel (0 outside the searched range). */
  filter(counts: ArrayLike<number>): { response: Float64Array; significance: Float64Array };
  search(counts: ArrayLike<number>): Peak[];
}

interface Kernel {
  half: number;
  w: Float64Array; // length 2·half + 1, zero sum
}

function makeKernel(sigma: number): Kernel {
  const half = Math.max(2, Math.ceil(3 * sigma));
  const w = new Float64Array(2 * half + 1);
  let sum = 0;
  for (let j = -half; j <= half; j++) {
    const u = j / sigma;
    const v = (1 - u * u) * Math.exp(-0.5 * u * u);
    w[j + half] = v;
    sum += v;
  }
  // Zero area over the truncated window, so a flat (and, by symmetry, a sloped) background gives no response.
  const mean = sum / w.length;
  for (let j = 0; j < w.length; j++) w[j] -= mean;
  return { half, w };
}

function fwhmFunction(f: FwhmChannels): (ch: number) => number {
  if (typeof f === 'number') {
    if (!(f > 0) || !Number.isFinite(f)) throw new InputError(`fwhm_ch: expected a finite width > 0 channels, got ${f}`);
    return () => f;
  }
  return f;
}

/**
 * A peak searcher for spectra of `nChannels`: kernels are built once (one per 2 % step of width, shared between
 * channels), so a search of a 1024-channel spectrum is a single correlation pass plus the fits.
 */
export function createPeakSearch(opts: PeakSearchOptions): PeakSearcher {
  const n = opts.nChannels;
  if (!Number.isInteger(n) || n < 8) throw new InputError(`nChannels: expected an integer >= 8, got ${n}`);
  const fwhmAt = fwhmFunction(opts.fwhm_ch);
  const threshold = opts.threshold ?? 5;
  const doFit = opts.fit ?? true;
  const fitWindow = opts.fitWindow_fwhm ?? 1.5;
  const kernelOf: Kernel[] = new Array<Kernel>(n);
  const fwhmCh = new Float64Array(n);
  const byStep = new Map<number, Kernel>();
  for (let ch = 0; ch < n; ch++) {
    const f = fwhmAt(ch + 0.5);
    if (!(f > 0) || !Number.isFinite(f)) throw new InputError(`fwhm_ch(${ch + 0.5}): expected a finite width > 0 channels, got ${f}`);
    fwhmCh[ch] = f;
    const step = Math.round(Math.log(Math.max(f, 1) / FWHM_PER_SIGMA) / Math.log(1.02));
    let k = byStep.get(step);
    if (k === undefined) {
      k = makeKernel(Math.pow(1.02, step));
      byStep.set(step, k);
    }
    kernelOf[ch] = k;
  }
  let first = opts.range?.[0] ?? Math.ceil(fwhmCh[0]);
  let last = opts.range?.[1] ?? n - 1 - Math.ceil(fwhmCh[n - 1]);
  first = Math.max(0, Math.floor(first));
  last = Math.min(n - 1, Math.floor(last));

  const filter = (counts: ArrayLike<number>): { response: Float64Array; significance: Float64Array } => {
    if (counts.length !== n) throw new InputError(`counts: expected ${n} channels, got ${counts.length}`);
    const response = new Float64Array(n);
    const significance = new Float64Array(n);
    for (let ch = first; ch <= last; ch++) {
      const { half, w } = kernelOf[ch];
      if (ch - half < 0 || ch + half >= n) continue;
      let r = 0;
      let v = 0;
      const base = ch - half;
      for (let j = 0; j < w.length; j++) {
        const c = counts[base + j];
        const wj = w[j];
        r += wj * c;
        // A channel with no counts still has a Poisson variance of about 1 at the level that could have shown.
        v += wj * wj * (c > 1 ? c : 1);
      }
      // The kernel is positive at the centre, so a peak gives r > 0.
      response[ch] = r;
      significance[ch] = r / Math.sqrt(v);
    }
    return { response, significance };
  };

  const search = (counts: ArrayLike<number>): Peak[] => {
    const { response, significance } = filter(counts);
    const peaks: Peak[] = [];
    for (let ch = first; ch <= last; ch++) {
      const s = significance[ch];
      if (!(s >= threshold)) continue;
      // Local maximum of the response within ±FWHM/2 (so one peak gives one hit and a close doublet can give two).
      const reach = Math.max(1, Math.round(fwhmCh[ch] / 2));
      let isMax = true;
      for (let j = Math.max(first, ch - reach); j <= Math.min(last, ch + reach); j++) {
        if (j === ch) continue;
        if (response[j] > response[ch] || (response[j] === response[ch] && j < ch)) {
          isMax = false;
          break;
        }
      }
      if (!isMax) continue;
      const y0 = response[ch - 1] ?? response[ch];
      const y2 = response[ch + 1] ?? response[ch];
      const den = y0 - 2 * response[ch] + y2;
      const shift = den < 0 ? Math.max(-0.5, Math.min(0.5, (0.5 * (y0 - y2)) / den)) : 0;
      const peak: Peak = { channel: ch, significance: s, searchCentroid_ch: ch + 0.5 + shift, fwhmExpected_ch: fwhmCh[ch] };
      if (doFit) {
        const f = fitPeak(counts, { centroid_ch: peak.searchCentroid_ch, fwhm_ch: fwhmCh[ch], window_fwhm: fitWindow });
        if (f) peak.fit = f;
      }
      if (opts.calibration) peak.energy_keV = energyOf(opts.calibration, peak.fit?.centroid_ch ?? peak.searchCentroid_ch);
      peaks.push(peak);
    }
    return peaks;
  };
  return { filter, search };
}

/** One-shot search (builds the kernels each call; keep a createPeakSearch for repeated searches). */
export function findPeaks(counts: ArrayLike<number>, opts: Omit<PeakSearchOptions, 'nChannels'>): Peak[] {
  return createPeakSearch({ ...opts, nChannels: counts.length }).search(counts);
}

// ------------------------------------------------------------------------------------------------
// Gaussian + linear background fit

/** erf with |error| < 1.2e-7 (Numerical Recipes erfc Chebyshev fit), enough for bin integrals of counts. */
export function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - r : r - 1;
}

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

export interface FitPeakOptions {
  /** Starting centroid (channel position). */
  centroid_ch: number;
  /** Starting (expected) FWHM in channels. */
  fwhm_ch: number;
  /** Half-width of the window in FWHM (default 1.5), or an explicit window [first, last] channel. */
  window_fwhm?: number;
  window?: [number, number];
  maxIterations?: number;
}

/**
 * Fit counts in a window with area·G(x; μ, σ) integrated over each channel plus b0 + b1·(x − x_mid). Returns undefined
 * when there are too few channels, the fit does not converge to a peak inside the window, or the normal equations
 * are singular. Parameters are [area, μ, σ, b0, b1].
 */
export function fitPeak(counts: ArrayLike<number>, opts: FitPeakOptions): PeakFit | undefined {
  const n = counts.length;
  const halfW = (opts.window_fwhm ?? 1.5) * opts.fwhm_ch;
  let lo = opts.window ? opts.window[0] : Math.floor(opts.centroid_ch - halfW);
  let hi = opts.window ? opts.window[1] : Math.ceil(opts.centroid_ch + halfW) - 1;
  lo = Math.max(0, lo);
  hi = Math.min(n - 1, hi);
  const m = hi - lo + 1;
  if (m < 7 || !(opts.fwhm_ch > 0)) return undefined;
  const xMid = (lo + hi + 1) / 2;
  // Start: line through the means of the three channels at each end, area = what is above it.
  const edge = Math.min(3, Math.floor(m / 4));
  let left = 0;
  let right = 0;
  for (let k = 0; k < edge; k++) {
    left += counts[lo + k];
    right += counts[hi - k];
  }
  left /= edge;
  right /= edge;
  const xl = lo + edge / 2;
  const xr = hi + 1 - edge / 2;
  let b1 = (right - left) / (xr - xl);
  let b0 = left + b1 * (xMid - xl);
  let area = 0;
  for (let i = lo; i <= hi; i++) area += counts[i] - (b0 + b1 * (i + 0.5 - xMid));
  area = Math.max(area, 1);
  let mu = opts.centroid_ch;
  let sigma = opts.fwhm_ch / FWHM_PER_SIGMA;
  const p = [area, mu, sigma, b0, b1];

  const model = new Float64Array(m);
  const J: Float64Array[] = Array.from({ length: 5 }, () => new Float64Array(m));
  // erf and the Gaussian at the m + 1 channel edges, shared by neighbouring channels.
  const E = new Float64Array(m + 1);
  const G = new Float64Array(m + 1);
  const Z = new Float64Array(m + 1);
  const evaluate = (q: number[], withJ: boolean): number => {
    const [A, mq, s, c0, c1] = q;
    const inv = 1 / (SQRT2 * s);
    for (let k = 0; k <= m; k++) {
      const d = lo + k - mq;
      E[k] = erf(d * inv);
      if (withJ) {
        const z = d / s;
        Z[k] = z;
        G[k] = INV_SQRT_2PI * Math.exp(-0.5 * z * z);
      }
    }
    let chi2 = 0;
    for (let k = 0; k < m; k++) {
      const frac = 0.5 * (E[k + 1] - E[k]);
      const xc = lo + k + 0.5 - xMid;
      const y = A * frac + c0 + c1 * xc;
      model[k] = y;
      const d = counts[lo + k] - y;
      chi2 += (d * d) / (y > 1 ? y : 1);
      if (withJ) {
        J[0][k] = frac;
        J[1][k] = (-A * (G[k + 1] - G[k])) / s;
        J[2][k] = (-A * (Z[k + 1] * G[k + 1] - Z[k] * G[k])) / s;
        J[3][k] = 1;
        J[4][k] = xc;
      }
    }
    return chi2;
  };

  let chi2 = evaluate(p, true);
  let lambda = 1e-3;
  let iterations = 0;
  const maxIter = opts.maxIterations ?? 40;
  const alpha: number[][] = Array.from({ length: 5 }, () => new Array<number>(5).fill(0));
  const beta = new Array<number>(5).fill(0);
  const damped = new Float64Array(25);
  const delta = new Float64Array(5);
  const q = new Array<number>(5).fill(0);
  let converged = false;
  while (!converged && iterations < maxIter) {
    iterations++;
    for (let a = 0; a < 5; a++) {
      beta[a] = 0;
      for (let b = 0; b < 5; b++) alpha[a][b] = 0;
    }
    for (let k = 0; k < m; k++) {
      const y = model[k];
      const wgt = 1 / (y > 1 ? y : 1);
      const d = counts[lo + k] - y;
      for (let a = 0; a < 5; a++) {
        const ja = J[a][k] * wgt;
        beta[a] += ja * d;
        for (let b = a; b < 5; b++) alpha[a][b] += ja * J[b][k];
      }
    }
    for (let a = 0; a < 5; a++) for (let b = 0; b < a; b++) alpha[a][b] = alpha[b][a];
    let improved = false;
    for (let tries = 0; tries < 10; tries++) {
      for (let a = 0; a < 5; a++) for (let b = 0; b < 5; b++) damped[a * 5 + b] = a === b ? alpha[a][b] * (1 + lambda) : alpha[a][b];
      if (!cholesky5(damped)) return undefined;
      solve5(damped, beta, delta);
      let stepRel = 0;
      for (let a = 0; a < 5; a++) {
        q[a] = p[a] + delta[a];
        // Converged when every step is small against the parameter's scale of change (its curvature).
        stepRel = Math.max(stepRel, Math.abs(delta[a]) * Math.sqrt(Math.max(alpha[a][a], 1e-300)));
      }
      q[2] = Math.max(Math.abs(q[2]), 0.25);
      const c = evaluate(q, false);
      if (c <= chi2) {
        for (let a = 0; a < 5; a++) p[a] = q[a];
        const rel = (chi2 - c) / Math.max(chi2, 1e-12);
        chi2 = evaluate(p, true);
        lambda = Math.max(lambda / 10, 1e-9);
        improved = true;
        if (stepRel < 1e-2 || rel < 1e-9) converged = true;
        break;
      }
      lambda *= 10;
    }
    if (!improved) converged = true;
  }
  // Covariance from the undamped curvature at the solution.
  for (let a = 0; a < 5; a++) for (let b = 0; b < 5; b++) alpha[a][b] = 0;
  for (let k = 0; k < m; k++) {
    const wgt = 1 / Math.max(model[k], 1);
    for (let a = 0; a < 5; a++) for (let b = 0; b < 5; b++) alpha[a][b] += J[a][k] * wgt * J[b][k];
  }
  const cov = invertSmall(alpha);
  if (!cov) return undefined;
  [area, mu, sigma, b0, b1] = p;
  if (!(mu > lo && mu < hi + 1) || !(sigma > 0) || !Number.isFinite(area)) return undefined;
  const ndf = m - 5;
  const inflate = ndf > 0 && chi2 / ndf > 1 ? Math.sqrt(chi2 / ndf) : 1;
  const sd = (i: number): number => Math.sqrt(Math.max(cov[i][i], 0)) * inflate;
  const fwhm = sigma * FWHM_PER_SIGMA;
  return {
    centroid_ch: mu,
    centroidSigma_ch: sd(1),
    fwhm_ch: fwhm,
    fwhmSigma_ch: sd(2) * FWHM_PER_SIGMA,
    area,
    areaSigma: sd(0),
    backgroundUnderPeak: 2 * fwhm * (b0 + b1 * (mu - xMid)),
    background: { level: b0 + b1 * (mu - xMid), slope: b1 },
    chi2,
    ndf,
    window: [lo, hi],
    iterations,
  };
}

/** In-place Cholesky factor (lower triangle) of a 5×5 row-major matrix; false when not positive definite. */
function cholesky5(a: Float64Array): boolean {
  for (let j = 0; j < 5; j++) {
    let d = a[j * 5 + j];
    for (let k = 0; k < j; k++) d -= a[j * 5 + k] * a[j * 5 + k];
    if (!(d > 0)) return false;
    const l = Math.sqrt(d);
    a[j * 5 + j] = l;
    for (let i = j + 1; i < 5; i++) {
      let v = a[i * 5 + j];
      for (let k = 0; k < j; k++) v -= a[i * 5 + k] * a[j * 5 + k];
      a[i * 5 + j] = v / l;
    }
  }
  return true;
}

function solve5(l: Float64Array, b: ArrayLike<number>, x: Float64Array): void {
  for (let i = 0; i < 5; i++) {
    let v = b[i];
    for (let k = 0; k < i; k++) v -= l[i * 5 + k] * x[k];
    x[i] = v / l[i * 5 + i];
  }
  for (let i = 4; i >= 0; i--) {
    let v = x[i];
    for (let k = i + 1; k < 5; k++) v -= l[k * 5 + i] * x[k];
    x[i] = v / l[i * 5 + i];
  }
}
