// Joint fit of neighbouring peaks (Gaussians on a quadratic background) so that a calibration centroid is not pulled
// by the tail of a line next to it, by a curved continuum (a Compton edge under a Co-60 line) or by the step that
// small-angle scatters leave under every full-energy peak (higher on the low side).
import { erf } from '../peaks.js';
import { invertSmall } from '../calibration.js';

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
  const y = new Float64Array(m);
  const chi2Of = (q: number[]): number => {
    model(q, y);
    let c = 0;
    for (let i = 0; i < m; i++) {
      const d = counts[lo + i]! - y[i]!;
      c += (d * d) / Math.max(y[i]!, 1);
    }
    return c;
  };
  const J = Array.from({ length: P }, () => new Float64Array(m));
  const y0 = new Float64Array(m);
  const y1 = new Float64Array(m);
  const jacobian = (q: number[]): void => {
    model(q, y0);
    for (let a = 0; a < P; a++) {
      const h = Math.max(1e-4, Math.abs(q[a]!) * 1e-5);
      const qa = q.slice();
      qa[a] = q[a]! + h;
      model(qa, y1);
      for (let i = 0; i < m; i++) J[a]![i] = (y1[i]! - y0[i]!) / h;
    }
  };
  let chi2 = chi2Of(p);
  let lambda = 1e-3;
  let alpha: number[][] = [];
  for (let iter = 0; iter < 60; iter++) {
    jacobian(p);
    alpha = Array.from({ length: P }, () => new Array<number>(P).fill(0));
    const beta = new Array<number>(P).fill(0);
    for (let i = 0; i < m; i++) {
      const w = 1 / Math.max(y0[i]!, 1);
      const d = counts[lo + i]! - y0[i]!;
      for (let a = 0; a < P; a++) {
        const ja = J[a]![i]! * w;
        beta[a] += ja * d;
        for (let b = a; b < P; b++) alpha[a]![b] += ja * J[b]![i]!;
      }
    }
    for (let a = 0; a < P; a++) for (let b = 0; b < a; b++) alpha[a]![b] = alpha[b]![a]!;
    let improved = false;
    for (let tries = 0; tries < 12; tries++) {
      const damped = alpha.map((r, a) => r.map((v, b) => (a === b ? v * (1 + lambda) + 1e-12 : v)));
      const inv = invertSmall(damped);
      if (!inv) return undefined;
      const q = p.map((v, a) => v + inv[a]!.reduce((s, x, b) => s + x * beta[b]!, 0));
      const c = chi2Of(q);
      if (c <= chi2) {
        const rel = (chi2 - c) / Math.max(chi2, 1e-12);
        p.splice(0, P, ...q);
        chi2 = c;
        lambda = Math.max(lambda / 10, 1e-9);
        improved = true;
        if (rel < 1e-7) iter = 1e9;
        break;
      }
      lambda *= 10;
    }
    if (!improved) break;
  }
  jacobian(p);
  alpha = Array.from({ length: P }, () => new Array<number>(P).fill(0));
  for (let i = 0; i < m; i++) {
    const w = 1 / Math.max(y0[i]!, 1);
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
