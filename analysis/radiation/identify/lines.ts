// Line verification: is a fitted nuclide's characteristic line really a peak in what the other components leave, or did its template only fill a continuum or shape misfit?
//
// Why: a template fit reports a nuclide when its whole template lowers the deviance, and on a spectrum the
// templates do not describe exactly (another detector's resolution or Compton shape, a real background's scatter
// humps) any template can lower it by filling a broad misfit: real backgrounds came back with Tc-99m and Lu-177,
// and an HPGe Ba-133 portal spectrum with U-235. A peak test is much harder to fool: in the residual y − μ₋ₙ
// (data minus the model without the nuclide), a Gaussian of the detector's resolution at the line energy is fitted
// together with a local straight line over ±2 FWHM, weighted by the Poisson variance. A continuum or slope misfit
// goes into the straight line; only a peak of the right width at the right place gives the Gaussian counts. The
// same fit on the nuclide's own contribution μ − μ₋ₙ says how many counts the template predicts in that peak, so a
// line that the template needs but the data do not show counts against the nuclide too.

export interface LineWindowInput {
  /** Data over the fit channels. */
  y: Float64Array;
  /** Model without the nuclide. */
  muWithout: Float64Array;
  /** Full model (variance of the data). */
  mu: Float64Array;
  /** Channel lower edges (keV, gain applied), length y.length + 1. */
  edges: Float64Array;
  /** Detector FWHM (keV) at an energy. */
  fwhm: (E_keV: number) => number;
  /** Global dispersion of the fit (≥ 1). */
  dispersion: number;
}

export interface LineCheck {
  energy_keV: number;
  /** Net peak counts in the residual and their standard error (local dispersion included). */
  observed: number;
  sigma: number;
  /** Peak counts the fitted template puts there. */
  predicted: number;
}

// Window half-width in FWHM, and the least number of channels for a peak-plus-line fit to mean anything.
const WINDOW_FWHM = 2;
const MIN_CHANNELS = 6;

/** Peak counts at `energies` (merged into one peak when closer than a FWHM) in the residual and in the template. */
export function checkLine(input: LineWindowInput, energies: readonly number[]): LineCheck | undefined {
  const { y, muWithout, mu, edges } = input;
  const E0 = energies.reduce((a, b) => a + b, 0) / energies.length;
  const spread = Math.max(...energies) - Math.min(...energies);
  const f = input.fwhm(E0);
  const lo = E0 - spread / 2 - WINDOW_FWHM * f;
  const hi = E0 + spread / 2 + WINDOW_FWHM * f;
  let a = 0;
  while (a < y.length && edges[a + 1] <= lo) a++;
  let b = a;
  while (b < y.length && edges[b] < hi) b++;
  if (b - a < MIN_CHANNELS) return undefined;
  const n = b - a;
  // Design: Gaussian (sum over the merged lines, equal weights), constant, slope.
  const g = new Float64Array(n);
  for (const E of energies) {
    const s = input.fwhm(E) / 2.3548;
    for (let i = 0; i < n; i++) g[i] += (normCdf((edges[a + i + 1] - E) / s) - normCdf((edges[a + i] - E) / s)) / energies.length;
  }
  const G = new Float64Array(9);
  const hr = new Float64Array(3);
  const hc = new Float64Array(3);
  const mid = 0.5 * (lo + hi);
  const half = 0.5 * (hi - lo);
  const row = new Float64Array(3);
  for (let i = 0; i < n; i++) {
    const k = a + i;
    const w = 1 / Math.max(mu[k], 1);
    row[0] = g[i];
    row[1] = 1;
    row[2] = (0.5 * (edges[k] + edges[k + 1]) - mid) / half;
    const r = y[k] - muWithout[k];
    const c = mu[k] - muWithout[k];
    for (let p = 0; p < 3; p++) {
      hr[p] += w * row[p] * r;
      hc[p] += w * row[p] * c;
      for (let q = 0; q < 3; q++) G[p * 3 + q] += w * row[p] * row[q];
    }
  }
  const inv = invert3(G);
  if (inv === undefined) return undefined;
  const solve = (h: Float64Array): number[] => [0, 1, 2].map((p) => inv[p * 3] * h[0] + inv[p * 3 + 1] * h[1] + inv[p * 3 + 2] * h[2]);
  const xr = solve(hr);
  const xc = solve(hc);
  // Local dispersion: the window's own χ²/dof after the peak-plus-line fit (a shape misfit there shows as > 1).
  let chi2 = 0;
  for (let i = 0; i < n; i++) {
    const k = a + i;
    const t = (0.5 * (edges[k] + edges[k + 1]) - mid) / half;
    const r = y[k] - muWithout[k] - (xr[0] * g[i] + xr[1] + xr[2] * t);
    chi2 += (r * r) / Math.max(mu[k], 1);
  }
  const local = Math.max(1, input.dispersion, chi2 / Math.max(1, n - 3));
  return { energy_keV: E0, observed: xr[0], sigma: Math.sqrt(Math.max(0, inv[0]) * local), predicted: xc[0] };
}

function invert3(m: Float64Array): Float64Array | undefined {
  const [a, b, c, d, e, f, g, h, i] = m;
  const A = e * i - f * h;
  const B = -(d * i - f * g);
  const C = d * h - e * g;
  const det = a * A + b * B + c * C;
  if (!(Math.abs(det) > 1e-300)) return undefined;
  const out = Float64Array.from([A, -(b * i - c * h), b * f - c * e, B, a * i - c * g, -(a * f - c * d), C, -(a * h - b * g), a * e - b * d]);
  for (let k = 0; k < 9; k++) out[k] /= det;
  return out;
}

/** Standard normal CDF (Abramowitz–Stegun 7.1.26 erf, |error| < 1.5e-7). */
export function normCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/** Lines closer than `minSep(E)` merged into groups (they are one peak at this resolution). */
export function groupLines(energies: readonly number[], minSep: (E: number) => number): number[][] {
  const sorted = [...energies].sort((p, q) => p - q);
  const groups: number[][] = [];
  for (const E of sorted) {
    const last = groups[groups.length - 1];
    if (last !== undefined && E - last[last.length - 1] < minSep(E)) last.push(E);
    else groups.push([E]);
  }
  return groups;
}

/**
 * Characteristic lines of special nuclear material: an SNM nuclide is reported only when each of these (merged
 * where the resolution cannot separate them) is a significant peak after the other nuclides. These are the lines
 * safeguards practice reads the material by (U-235 185.7 keV; Pu-239 129.3, 375.0, 413.7 keV; U-233 317.2 keV with
 * its Th-229 daughters' 193.5/210.9 keV; Np-237 86.5 keV and its daughter Pa-233's 311.9 keV).
 */
export const SNM_LINES: Readonly<Record<string, readonly number[]>> = {
  U235: [185.7],
  Pu239: [129.3, 375.0, 413.7],
  // Reactor-grade plutonium: Am-241's 59.5 keV dominates it, which an americium source has alone, so only the
  // plutonium lines count.
  PuRG: [129.3, 375.0, 413.7],
  U233: [317.2],
  Np237: [86.5, 311.9],
};
