// Joint fit of neighbouring peaks (Gaussians on a quadratic background) so that a calibration centroid is not pulled
// by the tail of a line next to it, by a curved continuum (a Compton edge under a Co-60 line) or by the step that
// small-angle scatters leave under every full-energy peak (higher on the low side).
import { erf } from '../peaks.js';
import { invertSmall } from '../calibration.js';
import { poissonLm } from '../lm.js';

const FWHM_PER_SIGMA = 2 * Math.sqrt(2 * Math.LN2);

export interface MultipletPeak {
  centroid_ch: number;
  centroidSigma_ch: number;
  fwhm_ch: number;
  fwhmSigma_ch: number;
  area: number;
  areaSigma: number;
}

export interface MultipletFit {
  peaks: MultipletPeak[];
  chi2: number;
  ndf: number;
  window: [number, number];
}

/**
 * Fits k Gaussians (area, centroid, width each; bin-integrated), each with a smoothed step of its own height
 * S·erfc((x − μ)/(√2σ))/2, plus b0 + b1·u + b2·u² over channels [lo, hi]
 * by Levenberg–Marquardt with a numerical Jacobian and Poisson (model) weights. Starting centroids and FWHMs come
 * from the search. Undefined when the fit does not converge to peaks inside the window.
 */
export function fitMultiplet(counts: ArrayLike<number>, start: { centroid_ch: number; fwhm_ch: number }[], window: [number, number]): MultipletFit | undefined {
  const n = counts.length;
  const lo = Math.max(0, Math.floor(window[0]));
  const hi = Math.min(n - 1, Math.ceil(window[1]));
  const m = hi - lo + 1;
  const k = start.length;
  const P = 4 * k + 3;
  if (m < P + 3) return undefined;
  const mid = (lo + hi + 1) / 2;
  const half = m / 2;
  // Start: line through the window's ends, areas from the counts above it at each centroid.
  const e = Math.max(1, Math.min(3, Math.floor(m / 8)));
  let left = 0;
  let right = 0;
  for (let i = 0; i < e; i++) {
    left += counts[lo + i]!;
    right += counts[hi - i]!;
  }
  left /= e;
  right /= e;
  const p: number[] = [];
  for (const s of start) {
    const c = Math.min(hi, Math.max(lo, Math.round(s.centroid_ch - 0.5)));
    const u = (c + 0.5 - mid) / half;
    const base = (left + right) / 2 + ((right - left) / 2) * u;
    const sigma = s.fwhm_ch / FWHM_PER_SIGMA;
    p.push(Math.max(1, (counts[c]! - base) * sigma * Math.sqrt(2 * Math.PI)), s.centroid_ch, sigma, 0);
  }
  p.push(right, (right - left) / 2, 0);
  const model = (q: number[], out: Float64Array): void => {
    for (let i = 0; i < m; i++) {
      const u = (lo + i + 0.5 - mid) / half;
      out[i] = q[4 * k]! + q[4 * k + 1]! * u + q[4 * k + 2]! * u * u;
    }
    for (let j = 0; j < k; j++) {
      const A = q[4 * j]!;
      const mu = q[4 * j + 1]!;
      const s = Math.abs(q[4 * j + 2]!) + 1e-6;
      const S = q[4 * j + 3]!;
      const inv = 1 / (Math.SQRT2 * s);
      let prev = erf((lo - mu) * inv);
      for (let i = 0; i < m; i++) {
        const next = erf((lo + i + 1 - mu) * inv);
        out[i] += 0.5 * A * (next - prev) + S * 0.5 * (1 - 0.5 * (next + prev));
        prev = next;
      }
    }
  };
  const fit = poissonLm({ counts, lo, m, start: p, model, step: (a, q) => Math.max(1e-4, Math.abs(q[a]!) * 1e-5), maxIterations: 60, maxTries: 12, tolerance: 1e-7 });
  if (!fit) return undefined;
  const { chi2, J } = fit;
  p.splice(0, P, ...fit.p);
  // Every element computed, not mirrored: the uncertainties stay what they were before the solver was shared.
  const alpha = Array.from({ length: P }, () => new Array<number>(P).fill(0));
  for (let i = 0; i < m; i++) {
    const w = 1 / Math.max(fit.y[i]!, 1);
    for (let a = 0; a < P; a++) for (let b = 0; b < P; b++) alpha[a]![b] += J[a]![i]! * w * J[b]![i]!;
  }
  const cov = invertSmall(alpha);
  if (!cov) return undefined;
  const ndf = m - P;
  const inflate = ndf > 0 ? Math.max(1, chi2 / ndf) : 1;
  const peaks: MultipletPeak[] = [];
  for (let j = 0; j < k; j++) {
    const A = p[4 * j]!;
    const mu = p[4 * j + 1]!;
    const s = Math.abs(p[4 * j + 2]!);
    if (!(A > 0) || !(mu > lo && mu < hi + 1) || !Number.isFinite(s)) return undefined;
    const sd = (a: number): number => Math.sqrt(Math.max(0, cov[a]![a]! * inflate));
    peaks.push({ area: A, areaSigma: sd(4 * j), centroid_ch: mu, centroidSigma_ch: sd(4 * j + 1), fwhm_ch: s * FWHM_PER_SIGMA, fwhmSigma_ch: sd(4 * j + 2) * FWHM_PER_SIGMA });
  }
  return { peaks, chi2, ndf, window: [lo, hi] };
}
