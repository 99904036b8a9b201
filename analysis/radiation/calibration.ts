// Energy calibration arithmetic: channel ↔ energy with deviation pairs, gain scaling, count-conserving rebinning, fits.
//
// Conventions (those of spectrum.ts): channel coordinates are continuous, channel `i` spans [i, i+1) and its centre is
// i + 0.5; the polynomial gives the energy of a channel position; deviation pairs [E, ΔE] shift a polynomial energy E
// to E + Δ(E) with Δ interpolated linearly between pairs and held at the end values outside them (so a nonlinear
// detector is corrected where it was measured and not extrapolated into nonsense beyond the last calibration line).

import { InputError } from '../../common/errors.js';
import { polynomialEnergy } from './formats/values.js';
import type { EnergyCalibration } from './spectrum.js';

export { polynomialEnergy };

/** A linear calibration E = offset + keVPerChannel · ch. */
export function linearCalibration(keVPerChannel: number, offset_keV = 0): EnergyCalibration {
  if (!(keVPerChannel > 0) || !Number.isFinite(keVPerChannel)) {
    throw new InputError(`keVPerChannel: expected a finite gain > 0, got ${keVPerChannel}`);
  }
  return { coefficients: [offset_keV, keVPerChannel] };
}

/** Deviation Δ(E) (keV) at polynomial energy E: linear between pairs, constant outside, 0 without pairs. */
export function deviationOffset(pairs: readonly (readonly [number, number])[] | undefined, E_keV: number): number {
  if (!pairs || pairs.length === 0) return 0;
  const n = pairs.length;
  if (E_keV <= pairs[0][0]) return pairs[0][1];
  if (E_keV >= pairs[n - 1][0]) return pairs[n - 1][1];
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (pairs[mid][0] <= E_keV) lo = mid;
    else hi = mid;
  }
  const [e0, d0] = pairs[lo];
  const [e1, d1] = pairs[hi];
  return d0 + ((d1 - d0) * (E_keV - e0)) / (e1 - e0);
}

/** dΔ/dE at polynomial energy E (0 outside the pairs and between equal offsets). */
function deviationSlope(pairs: readonly (readonly [number, number])[] | undefined, E_keV: number): number {
  if (!pairs || pairs.length < 2) return 0;
  const n = pairs.length;
  if (E_keV < pairs[0][0] || E_keV >= pairs[n - 1][0]) return 0;
  for (let i = 1; i < n; i++) {
    if (E_keV < pairs[i][0]) return (pairs[i][1] - pairs[i - 1][1]) / (pairs[i][0] - pairs[i - 1][0]);
  }
  return 0;
}

function polynomialSlope(c: readonly number[], ch: number): number {
  let d = 0;
  for (let k = c.length - 1; k >= 1; k--) d = d * ch + k * c[k];
  return d;
}

/** Energy (keV) at channel position `ch` (lower edge of channel i is ch = i, its centre i + 0.5). */
export function energyOf(cal: EnergyCalibration, ch: number): number {
  const e = polynomialEnergy(cal.coefficients, ch);
  return cal.deviationPairs && cal.deviationPairs.length > 0 ? e + deviationOffset(cal.deviationPairs, e) : e;
}

/** dE/dch (keV per channel) at channel position `ch`. */
export function keVPerChannelAt(cal: EnergyCalibration, ch: number): number {
  const p = polynomialSlope(cal.coefficients, ch);
  if (!cal.deviationPairs || cal.deviationPairs.length < 2) return p;
  return p * (1 + deviationSlope(cal.deviationPairs, polynomialEnergy(cal.coefficients, ch)));
}

/**
 * Channel position where the calibration gives `E_keV` (the inverse of energyOf). Newton steps kept inside a bracket
 * that is widened from the linear guess until it holds the root, with bisection whenever Newton would leave it, so a
 * kinked deviation-pair curve or a flat stretch cannot make it diverge. The calibration must increase over the
 * bracket (calibrationProblem in formats/values.ts checks that for a spectrum's channels).
 */
export function channelOf(cal: EnergyCalibration, E_keV: number): number {
  if (!Number.isFinite(E_keV)) throw new InputError(`energy: expected a finite number of keV, got ${E_keV}`);
  const c = cal.coefficients;
  if (c.length < 2 || !(polynomialSlope(c, 0) > 0 || polynomialSlope(c, 1000) > 0)) {
    throw new InputError(`calibration: expected an increasing polynomial (offset and gain > 0), got coefficients ${c.join(' ')}`);
  }
  const f = (x: number): number => energyOf(cal, x) - E_keV;
  const gain = Math.max(polynomialSlope(c, 0), polynomialSlope(c, 1000), 1e-12);
  let x = (E_keV - deviationOffset(cal.deviationPairs, E_keV) - c[0]) / gain;
  let fx = f(x);
  if (fx === 0) return x;
  // Bracket [lo, hi] with f(lo) < 0 < f(hi), widening geometrically from the guess.
  let step = Math.max(1, Math.abs(x) * 0.05);
  let lo: number;
  let hi: number;
  let flo: number;
  let fhi: number;
  if (fx < 0) {
    lo = x;
    flo = fx;
    hi = x + step;
    fhi = f(hi);
    for (let i = 0; fhi < 0; i++) {
      if (i > 80) throw new InputError(`calibration: no channel reaches ${E_keV} keV (coefficients ${c.join(' ')})`);
      lo = hi;
      flo = fhi;
      step *= 2;
      hi += step;
      fhi = f(hi);
    }
  } else {
    hi = x;
    fhi = fx;
    lo = x - step;
    flo = f(lo);
    for (let i = 0; flo > 0; i++) {
      if (i > 80) throw new InputError(`calibration: no channel reaches ${E_keV} keV (coefficients ${c.join(' ')})`);
      hi = lo;
      fhi = flo;
      step *= 2;
      lo -= step;
      flo = f(lo);
    }
  }
  if (flo === 0) return lo;
  if (fhi === 0) return hi;
  x = Math.abs(flo) < Math.abs(fhi) ? lo : hi;
  fx = f(x);
  for (let iter = 0; iter < 200; iter++) {
    const d = keVPerChannelAt(cal, x);
    let next = d > 0 ? x - fx / d : NaN;
    if (!(next > lo && next < hi)) next = (lo + hi) / 2;
    const fn = f(next);
    if (fn < 0) lo = next;
    else hi = next;
    const moved = Math.abs(next - x);
    x = next;
    fx = fn;
    if (fx === 0 || moved <= 1e-10 * Math.max(1, Math.abs(x)) || hi - lo <= 1e-10 * Math.max(1, Math.abs(x))) break;
  }
  return x;
}

/** Energies of the n + 1 channel edges 0, 1, …, n. */
export function channelEdges(cal: EnergyCalibration, nChannels: number): Float64Array {
  const out = new Float64Array(nChannels + 1);
  for (let i = 0; i <= nChannels; i++) out[i] = energyOf(cal, i);
  return out;
}

/**
 * The calibration of a detector whose pulse heights are multiplied by `gain` (a PMT gain drift): a line that the
 * nominal calibration puts at channel x now lands at gain·x, so E'(ch) = E(ch / gain): coefficient k divided by
 * gainᵏ; deviation pairs stay as they are because they act on energy, after the polynomial.
 */
export function scaleGain(cal: EnergyCalibration, gain: number): EnergyCalibration {
  if (!(gain > 0) || !Number.isFinite(gain)) throw new InputError(`gain: expected a finite factor > 0, got ${gain}`);
  const coefficients = cal.coefficients.map((v, k) => v / gain ** k);
  return cal.deviationPairs ? { coefficients, deviationPairs: cal.deviationPairs.map(([e, d]) => [e, d] as [number, number]) } : { coefficients };
}

export interface RebinOptions {
  /** Channels of the result (default: as many as the input). */
  nChannels?: number;
  /**
   * What to do with counts that fall below the first or above the last output channel: 'drop' them (default; the
   * total then shrinks by exactly what left the range) or put them in the 'edge' channels so the total is kept.
   */
  outside?: 'drop' | 'edge';
}

/**
 * Move a spectrum from one calibration to another, keeping counts: each input channel's counts are spread uniformly
 * in energy over [E(i), E(i+1)) and shared among the output channels in proportion to the overlap. One merge pass
 * over both edge lists, O(nIn + nOut).
 */
export function rebin(counts: ArrayLike<number>, fromCal: EnergyCalibration, toCal: EnergyCalibration, opts: RebinOptions = {}): Float64Array {
  const nOut = opts.nChannels ?? counts.length;
  if (!Number.isInteger(nOut) || nOut <= 0) throw new InputError(`nChannels: expected a positive integer, got ${nOut}`);
  const ein = rebinEdgesOf(fromCal, counts.length, 'source');
  return rebinEdges(counts, ein, rebinEdgesOf(toCal, nOut, 'target'), opts);
}

/**
 * The channel edges of `cal` (channelEdges), checked to increase as rebinEdges needs; `side` names the calibration
 * in the error. A caller that rebins many spectra between the same calibrations computes them once.
 */
export function rebinEdgesOf(cal: EnergyCalibration, nChannels: number, side: 'source' | 'target'): Float64Array {
  const e = channelEdges(cal, nChannels);
  for (let i = 1; i <= nChannels; i++) {
    if (!(e[i] > e[i - 1])) {
      throw new InputError(`rebin: ${side} calibration must increase from channel to channel, but E(${i - 1}) = ${e[i - 1]} and E(${i}) = ${e[i]} keV`);
    }
  }
  return e;
}

/** rebin() between precomputed edges (rebinEdgesOf): `ein` has counts.length + 1 energies, `eout` one per output edge. */
export function rebinEdges(counts: ArrayLike<number>, ein: Float64Array, eout: Float64Array, opts: Pick<RebinOptions, 'outside'> = {}): Float64Array {
  const nIn = counts.length;
  const nOut = eout.length - 1;
  if (ein.length !== nIn + 1) throw new InputError(`rebin: expected ${nIn + 1} source edges for ${nIn} channels, got ${ein.length}`);
  if (nOut <= 0) throw new InputError(`rebin: expected at least 2 target edges, got ${eout.length}`);
  const out = new Float64Array(nOut);
  if (ein === eout) {
    // One edge list on both sides (a gain stabiliser at gain 1): every channel onto itself, the same arithmetic as
    // the merge below does there, so the result is the same to the last bit.
    for (let i = 0; i < nIn; i++) {
      const c = counts[i];
      if (c !== 0) out[i] = (c / (ein[i + 1] - ein[i])) * (ein[i + 1] - ein[i]);
    }
    return out;
  }
  const keepOutside = opts.outside === 'edge';
  let j = 0;
  for (let i = 0; i < nIn; i++) {
    const c = counts[i];
    if (c === 0) continue;
    const a = ein[i];
    const b = ein[i + 1];
    const density = c / (b - a);
    if (b <= eout[0]) {
      if (keepOutside) out[0] += c;
      continue;
    }
    if (a >= eout[nOut]) {
      if (keepOutside) out[nOut - 1] += c;
      continue;
    }
    if (keepOutside && a < eout[0]) out[0] += density * (eout[0] - a);
    if (keepOutside && b > eout[nOut]) out[nOut - 1] += density * (b - eout[nOut]);
    // Output channels j with eout[j+1] > a; j only moves forward because both edge lists increase.
    while (j < nOut - 1 && eout[j + 1] <= a) j++;
    let k = j;
    while (k < nOut && eout[k] < b) {
      const lo = Math.max(a, eout[k]);
      const hi = Math.min(b, eout[k + 1]);
      if (hi > lo) out[k] += density * (hi - lo);
      k++;
    }
  }
  return out;
}

export interface CalibrationPoint {
  /** Channel position of the peak centroid (continuous coordinate, see the module comment). */
  channel: number;
  energy_keV: number;
  /** One-sigma uncertainty of the point in keV (weights 1/σ²); equal weights when left out. */
  sigma_keV?: number;
}

export interface PolynomialFit {
  coefficients: number[];
  /** energy_keV − fit at each point, in the order given. */
  residuals_keV: number[];
  rms_keV: number;
  maxAbsResidual_keV: number;
  /** χ² with the given σ (with unit weights: the sum of squared residuals). */
  chi2: number;
  /** Degrees of freedom (points − coefficients). */
  ndf: number;
  /** Covariance of the coefficients (scaled by χ²/ndf when no σ were given). */
  covariance: number[][];
}

/**
 * Invert a small symmetric positive definite matrix (Gauss–Jordan with partial pivoting). Returns undefined when it is
 * singular. Used for normal equations of a handful of parameters (calibration polynomials, peak fits).
 */
export function invertSmall(m: readonly (readonly number[])[]): number[][] | undefined {
  const n = m.length;
  const a = m.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let col = 0; col < n; col++) {
    let piv = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r][col]) > Math.abs(a[piv][col])) piv = r;
    if (!(Math.abs(a[piv][col]) > 1e-300)) return undefined;
    [a[col], a[piv]] = [a[piv], a[col]];
    const p = a[col][col];
    for (let k = 0; k < 2 * n; k++) a[col][k] /= p;
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = a[r][col];
      if (f === 0) continue;
      for (let k = 0; k < 2 * n; k++) a[r][k] -= f * a[col][k];
    }
  }
  return a.map((row) => row.slice(n));
}

/**
 * Weighted least-squares polynomial energy(channel) of `degree`. The channel axis is scaled to [-1, 1] before the
 * normal equations are formed (so a cubic over 8192 channels stays well conditioned) and the coefficients are
 * converted back to powers of the raw channel number.
 */
export function fitPolynomial(points: readonly CalibrationPoint[], degree: number): PolynomialFit {
  if (!Number.isInteger(degree) || degree < 0 || degree > 6) throw new InputError(`degree: expected an integer 0-6, got ${degree}`);
  const m = degree + 1;
  if (points.length < m) throw new InputError(`fitPolynomial: degree ${degree} needs at least ${m} points, got ${points.length}`);
  for (const [i, p] of points.entries()) {
    if (!Number.isFinite(p.channel) || !Number.isFinite(p.energy_keV)) {
      throw new InputError(`points[${i}]: expected finite channel and energy_keV, got ${p.channel}, ${p.energy_keV}`);
    }
    if (p.sigma_keV !== undefined && !(p.sigma_keV > 0)) throw new InputError(`points[${i}].sigma_keV: expected > 0, got ${p.sigma_keV}`);
  }
  const weighted = points.some((p) => p.sigma_keV !== undefined);
  let xmin = Infinity;
  let xmax = -Infinity;
  for (const p of points) {
    xmin = Math.min(xmin, p.channel);
    xmax = Math.max(xmax, p.channel);
  }
  const mid = (xmin + xmax) / 2;
  const half = xmax > xmin ? (xmax - xmin) / 2 : 1;
  const ata = Array.from({ length: m }, () => new Array<number>(m).fill(0));
  const atb = new Array<number>(m).fill(0);
  const row = new Array<number>(m);
  for (const p of points) {
    const u = (p.channel - mid) / half;
    const w = weighted ? 1 / (p.sigma_keV ?? 1) ** 2 : 1;
    row[0] = 1;
    for (let k = 1; k < m; k++) row[k] = row[k - 1] * u;
    for (let r = 0; r < m; r++) {
      atb[r] += w * row[r] * p.energy_keV;
      for (let c = 0; c < m; c++) ata[r][c] += w * row[r] * row[c];
    }
  }
  const inv = invertSmall(ata);
  if (!inv) throw new InputError(`fitPolynomial: the points do not determine a degree-${degree} polynomial (too few distinct channels)`);
  const a = inv.map((r) => r.reduce((s, v, k) => s + v * atb[k], 0));
  // Coefficients in u = (x − mid)/half back to powers of x: Σ a_k ((x − mid)/half)^k expanded by the binomial theorem.
  // T maps scaled to raw (coefficient j of x gets a_k · C(k,j) · (−mid)^(k−j) / half^k), used for the covariance too.
  const T = Array.from({ length: m }, () => new Array<number>(m).fill(0));
  for (let k = 0; k < m; k++) {
    let binom = 1;
    for (let j = 0; j <= k; j++) {
      if (j > 0) binom = (binom * (k - j + 1)) / j;
      T[j][k] = (binom * (-mid) ** (k - j)) / half ** k;
    }
  }
  const coefficients = T.map((r) => r.reduce((s, v, k) => s + v * a[k], 0));
  const residuals_keV = points.map((p) => p.energy_keV - polynomialEnergy(coefficients, p.channel));
  let chi2 = 0;
  let sq = 0;
  let maxAbs = 0;
  points.forEach((p, i) => {
    const r = residuals_keV[i];
    sq += r * r;
    chi2 += (r * r) / (weighted ? (p.sigma_keV ?? 1) ** 2 : 1);
    maxAbs = Math.max(maxAbs, Math.abs(r));
  });
  const ndf = points.length - m;
  const scale = weighted ? 1 : ndf > 0 ? chi2 / ndf : 0;
  const covScaled = inv.map((r) => r.map((v) => v * scale));
  const covariance = T.map((ti) => T.map((tj) => {
    let s = 0;
    for (let p = 0; p < m; p++) for (let q = 0; q < m; q++) s += ti[p] * covScaled[p][q] * tj[q];
    return s;
  }));
  return { coefficients, residuals_keV, rms_keV: Math.sqrt(sq / points.length), maxAbsResidual_keV: maxAbs, chi2, ndf, covariance };
}

export interface CalibrationFit extends PolynomialFit {
  calibration: EnergyCalibration;
}

/**
 * A calibration from peaks of known energy: a polynomial of `degree` (default 1, or 2 with four points or more)
 * and, with `deviationPairs: true`, one pair per point at its polynomial energy with the residual as the offset,
 * so the calibration goes through every point exactly (what a technician does for a NaI whose light yield is
 * not proportional: a linear gain plus the measured nonlinearity).
 */
export function fitCalibration(points: readonly CalibrationPoint[], opts: { degree?: number; deviationPairs?: boolean } = {}): CalibrationFit {
  const degree = opts.degree ?? (points.length >= 4 ? 2 : 1);
  const fit = fitPolynomial(points, degree);
  const calibration: EnergyCalibration = { coefficients: fit.coefficients };
  if (opts.deviationPairs) {
    const pairs = points
      .map((p, i) => [polynomialEnergy(fit.coefficients, p.channel), fit.residuals_keV[i]] as [number, number])
      .sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < pairs.length; i++) {
      if (!(pairs[i][0] > pairs[i - 1][0])) throw new InputError(`fitCalibration: two points at the same channel (${pairs[i][0]} keV); deviation pairs need distinct energies`);
    }
    calibration.deviationPairs = pairs;
  }
  return { ...fit, calibration };
}
