// Joint fit of a close pair of one source's lines (Co-60 1173/1332 keV on a small NaI) as one pattern, with the upper line's Compton continuum in the background.
//
// On a 1x1 inch NaI the Co-60 lines are about 2 FWHM apart and the 1332 keV line's Compton edge (1118 keV) with its
// fall-off sits under the 1173 keV peak; a free multiplet on a quadratic background puts 1173 keV 4-6 keV too high
// even on noise-free spectra. Here the widths follow FWHM ∝ √E (one free scale), the area ratio is the known
// intensity × efficiency ratio within a tolerance (a prior), each peak carries a step proportional to its area, and
// both lines' Compton continua (Klein–Nishina, smeared by the resolution) share one free amplitude.
import { erf } from '../peaks.js';
import { invertSmall } from '../calibration.js';
import { lmCurvature, poissonLm } from '../lm.js';
import type { MultipletPeak } from './multiplet.js';

const FWHM_PER_SIGMA = 2 * Math.sqrt(2 * Math.LN2);
const ELECTRON_MASS_keV = 510.999;

export interface PairLine {
  energy_keV: number;
  /** Starting centroid (channels). */
  centroid_ch: number;
}

export interface PairFitOptions {
  lower: PairLine;
  upper: PairLine;
  /** Starting FWHM of the upper line (channels). */
  fwhmUpper_ch: number;
  /** Channels per keV near the pair (from the current calibration). */
  chPerKeV: number;
  /** Expected area(lower)/area(upper): photons per decay × full-energy efficiency. */
  areaRatio: number;
  /** Relative tolerance of that ratio (one sigma of the prior, default 0.15). */
  ratioTolerance?: number;
}

export interface PairFit {
  lower: MultipletPeak;
  upper: MultipletPeak;
  chi2: number;
  ndf: number;
  window: [number, number];
}

/**
 * Klein–Nishina distribution of the energy a single Compton scatter leaves (0 up to the edge), smeared by a Gaussian
 * of `sigma_keV`, on a 1 keV grid from 0 to `maxE`; 1000 in all.
 */
function comptonContinuum(E: number, sigma_keV: number, maxE: number): Float64Array {
  const eps = E / ELECTRON_MASS_keV;
  const edge = (2 * eps * E) / (1 + 2 * eps);
  const raw = new Float64Array(Math.ceil(maxE) + 1);
  for (let T = 0; T < raw.length; T++) {
    if (T >= edge) break;
    const s = T / E;
    raw[T] = 2 + (s * s) / (eps * eps * (1 - s) * (1 - s)) + (s / (1 - s)) * (s - 2 / eps);
  }
  const out = new Float64Array(raw.length);
  const reach = Math.ceil(4 * sigma_keV);
  for (let x = 0; x < out.length; x++) {
    let sum = 0;
    let w = 0;
    for (let d = -reach; d <= reach; d++) {
      const g = Math.exp(-0.5 * (d / sigma_keV) ** 2);
      const i = x - d;
      w += g;
      if (i >= 0 && i < raw.length) sum += g * raw[i]!;
    }
    out[x] = sum / w;
  }
  // The same integral for every line: the lines' Compton-to-peak ratios are close, so one amplitude scales both.
  const area = raw.reduce((a, b) => a + b, 0) || 1;
  for (let x = 0; x < out.length; x++) out[x] *= 1000 / area;
  return out;
}

function interp(a: Float64Array, x: number): number {
  if (!(x >= 0)) return a[0]!;
  const i = Math.floor(x);
  if (i >= a.length - 1) return a[a.length - 1]!;
  const f = x - i;
  return a[i]! * (1 - f) + a[i + 1]! * f;
}

/**
 * Fits the pair over [lower − 2.5 FWHM, upper + 2 FWHM]. Parameters: upper area A, area-ratio scale ρ (prior 1 ±
 * tolerance), both centroids, one width scale, a step fraction, the Compton amplitude and a linear background.
 * Undefined when the fit does not converge to two peaks in order inside the window.
 */
export function fitPair(counts: ArrayLike<number>, o: PairFitOptions): PairFit | undefined {
  const n = counts.length;
  const E1 = o.lower.energy_keV;
  const E2 = o.upper.energy_keV;
  const F2 = o.fwhmUpper_ch;
  const F1 = F2 * Math.sqrt(E1 / E2);
  const lo = Math.max(0, Math.floor(o.lower.centroid_ch - 2.5 * F1));
  const hi = Math.min(n - 1, Math.ceil(o.upper.centroid_ch + 2 * F2));
  const m = hi - lo + 1;
  const P = 9;
  if (m < P + 6 || !(o.chPerKeV > 0)) return undefined;
  const sigma2_keV = F2 / FWHM_PER_SIGMA / o.chPerKeV;
  const maxE = E2 + 10 * sigma2_keV;
  // Smeared with the resolution at each edge (FWHM ∝ √E).
  const edgeOf = (E: number): number => (2 * E * E) / (ELECTRON_MASS_keV + 2 * E);
  const edge1 = edgeOf(E1);
  const edge2 = edgeOf(E2);
  let cont2 = comptonContinuum(E2, sigma2_keV * Math.sqrt(edge2 / E2), maxE);
  let cont1 = comptonContinuum(E1, sigma2_keV * Math.sqrt(edge1 / E2), maxE);
  const R0 = o.areaRatio;
  const tol = o.ratioTolerance ?? 0.15;
  const mid = (lo + hi + 1) / 2;
  const half = m / 2;
  // Start: background from the window's upper end, areas from the heights above it.
  const right = counts[hi]!;
  const s2 = F2 / FWHM_PER_SIGMA;
  const c2 = Math.min(hi, Math.max(lo, Math.round(o.upper.centroid_ch - 0.5)));
  const A0 = Math.max(1, (counts[c2]! - right) * s2 * Math.sqrt(2 * Math.PI) * 0.8);
  // p: A, rho, mu1, mu2, sigma2, stepFraction, compton, b0, b1
  const p: number[] = [A0, 1, o.lower.centroid_ch, o.upper.centroid_ch, s2, 0.002, right * 0.3, right * 0.5, 0];
  const model = (q: number[], out: Float64Array): void => {
    const A2 = q[0]!;
    const A1 = q[1]! * R0 * A2;
    const mu1 = q[2]!;
    const mu2 = q[3]!;
    const sg2 = Math.abs(q[4]!) + 1e-6;
    const sg1 = sg2 * Math.sqrt(E1 / E2);
    const st = q[5]!;
    const C = q[6]!;
    // Channel → energy near the pair through the fitted centroids (their distance is the local gain).
    const kpc = (E2 - E1) / Math.max(mu2 - mu1, 1e-6);
    const i1 = 1 / (Math.SQRT2 * sg1);
    const i2 = 1 / (Math.SQRT2 * sg2);
    // Multiple scatters fill the space between each line's Compton edge and its peak: a plateau, smeared.
    const sk2 = sg2 * kpc;
    const ie1 = 1 / (Math.SQRT2 * sk2 * Math.sqrt(edge1 / E2));
    const ie2 = 1 / (Math.SQRT2 * sk2 * Math.sqrt(edge2 / E2));
    let prev1 = erf((lo - mu1) * i1);
    let prev2 = erf((lo - mu2) * i2);
    for (let i = 0; i < m; i++) {
      const x = lo + i + 0.5;
      const u = (x - mid) / half;
      const next1 = erf((lo + i + 1 - mu1) * i1);
      const next2 = erf((lo + i + 1 - mu2) * i2);
      const E = E2 + (x - mu2) * kpc;
      out[i] =
        q[7]! + q[8]! * u +
        0.5 * A1 * (next1 - prev1) + 0.5 * A2 * (next2 - prev2) +
        st * (A1 * 0.5 * (erf((E - edge1) * ie1) - 0.5 * (next1 + prev1)) + A2 * 0.5 * (erf((E - edge2) * ie2) - 0.5 * (next2 + prev2))) +
        C * (interp(cont2, E) + (A1 / Math.max(A2, 1e-9)) * interp(cont1, E));
      prev1 = next1;
      prev2 = next2;
    }
  };
  const prior = { index: 1, mean: 1, sigma: tol };
  let fit = descend({ counts, lo, m, start: p, model, prior });
  // The continua are smeared with the starting width, then again with the fitted one (a search's width can be 10 %
  // off, which moves the smeared edge under the lower peak by a few keV).
  for (let pass = 1; pass < 3 && fit; pass++) {
    const q = fit.p;
    const s2keV = (Math.abs(q[4]!) * (E2 - E1)) / Math.max(q[3]! - q[2]!, 1e-6);
    if (!(s2keV > 0) || !Number.isFinite(s2keV) || s2keV > 10 * sigma2_keV) return undefined;
    cont2 = comptonContinuum(E2, s2keV * Math.sqrt(edge2 / E2), maxE);
    cont1 = comptonContinuum(E1, s2keV * Math.sqrt(edge1 / E2), maxE);
    fit = descend({ counts, lo, m, start: q, model, prior });
  }
  if (!fit) return undefined;
  const { p: q, chi2, cov } = fit;
  const ndf = m - P;
  const inflate = ndf > 0 ? Math.max(1, chi2 / ndf) : 1;
  const sd = (a: number): number => Math.sqrt(Math.max(0, cov[a]![a]! * inflate));
  const A2 = q[0]!;
  const A1 = q[1]! * R0 * A2;
  const sg2 = Math.abs(q[4]!);
  if (!(A2 > 0) || !(A1 > 0) || !(q[2]! > lo && q[2]! < q[3]! && q[3]! < hi + 1) || !Number.isFinite(sg2)) return undefined;
  const sg1 = sg2 * Math.sqrt(E1 / E2);
  const fw = (s: number): number => s * FWHM_PER_SIGMA;
  return {
    lower: { area: A1, areaSigma: A1 * Math.hypot(sd(0) / A2, sd(1) / Math.max(q[1]!, 1e-9)), centroid_ch: q[2]!, centroidSigma_ch: sd(2), fwhm_ch: fw(sg1), fwhmSigma_ch: fw(sd(4)) * Math.sqrt(E1 / E2) },
    upper: { area: A2, areaSigma: sd(0), centroid_ch: q[3]!, centroidSigma_ch: sd(3), fwhm_ch: fw(sg2), fwhmSigma_ch: fw(sd(4)) },
    chi2,
    ndf,
    window: [lo, hi],
  };
}

/**
 * The shared Levenberg–Marquardt (lm.ts) with the Gaussian prior on one parameter, and the parameters' covariance
 * from its curvature. Undefined when a normal matrix cannot be inverted.
 */
function descend(o: {
  counts: ArrayLike<number>;
  lo: number;
  m: number;
  start: readonly number[];
  model: (q: number[], out: Float64Array) => void;
  prior: { index: number; mean: number; sigma: number };
}): { p: number[]; chi2: number; cov: number[][] } | undefined {
  const fit = poissonLm({ ...o, step: (a, q) => Math.max(1e-5, Math.abs(q[a]!) * 1e-5), maxIterations: 80, maxTries: 12, tolerance: 1e-7 });
  if (!fit) return undefined;
  const { p, chi2 } = fit;
  const cov = invertSmall(lmCurvature(fit, o.prior));
  return cov ? { p, chi2, cov } : undefined;
}
