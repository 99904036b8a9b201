// Natural gamma background at a height above flat ground (K-40, U-238 and Th-232 series plus scattered photons), as fluence, air kerma and detector count rates.
//
// Model, and where the numbers come from:
// - Soil: an infinite, uniform half-space. Concentrations in %K, ppm U, ppm Th converted to activity with the
//   IAEA factors (IAEA-TECDOC-1363, 2003, "Guidelines for radioelement mapping using gamma ray spectrometry
//   data", table 1): 1 %K = 313 Bq/kg K-40, 1 ppm U = 12.35 Bq/kg U-238, 1 ppm Th = 4.06 Bq/kg Th-232.
// - Uncollided line fluence at height h (Beck, DeCampo and Gogolak 1972, HASL-258; the same half-space
//   integral ICRU Report 53 uses): Φ = S_m·y / (2·(μ/ρ)_soil) · E₂(μ_air·h), S_m the activity per gram, y the
//   photons per decay, E₂ the exponential integral of order 2. The soil density cancels. (μ/ρ)_soil is taken
//   from the NIST "ordinary concrete" table: Beck's soil (SiO₂ 67.5 %, Al₂O₃ 13.5 %, Fe₂O₃ 4.5 %, CO₂ 4.5 %,
//   H₂O 10 %) and concrete agree within ~2 % above 100 keV, where nearly all the counts come from.
//   Line data: the nuclide table (DDEP) — K40; U-238 series = U238 (Th-234, Pa-234m) + Ra226 (Pb-214, Bi-214)
//   + U-235 at the natural activity ratio 0.046; Th-232 series = Th232 (Ac-228, Pb-212, Bi-212, Tl-208).
//   Radon is assumed retained in the soil (secular equilibrium), as the concentrations are "equivalent" ones.
// - Scattered photons (soil scatter and skyshine): per primary line a continuum below its energy,
//   s(E) ∝ (1 − exp(−(E/60 keV)³)) · exp(−E/(E₀/4)), so an exponential-like low-energy continuum cut off below
//   ~50 keV where photoabsorption in soil removes the scattered photons. Its amplitude per series is fixed so that
//   the total air kerma rate at 1 m equals the UNSCEAR 2000 (Annex B, table 5) conversion coefficients:
//   0.0417, 0.462 and 0.604 nGy/h per Bq/kg of K-40, U-238 series and Th-232 series. At other heights the
//   scatter follows the uncollided fluence of its line. The slope E₀/4 (rather than a flatter E₀/3) was chosen
//   so the count rates land mid-range of what fielded detectors show (2x2 NaI ~210 cps, 3x3 ~510 cps, 2x4x16
//   log ~2360 cps); it makes the scattered photons 3.7-4.7 times the uncollided ones in number.
// - With the defaults (2 %K, 2.5 ppm U, 9 ppm Th) this gives 0.062 µGy/h (K 26, U 14, Th 22 nGy/h), within the
//   textbook 0.04-0.1 µGy/h; the uncollided part is about half of it, as in Beck's tables.
// - Cosmic rays are not modelled (they add ~30 nGy/h but few counts in a NaI below 3 MeV).
//
// Detector counts: every line and every scatter bin goes through dose.ts responseSpectrum (normal-incidence
// response) times the detector's mean projected area S/4 (Cauchy: the average over all directions for a convex
// body), because the background arrives from the whole lower half-space and the sky, not along one axis.

import { muEnRho_cm2_g, muRho_cm2_g } from '../attenuation.js';
import { type DetectorModel, type FieldLine, resolutionSmear, responseSpectrum } from '../dose.js';
import { getNuclide } from '../nuclides.js';

export interface SoilConcentrations {
  /** Potassium mass fraction in per cent (default 2). */
  K_pct?: number;
  /** Equivalent uranium in ppm (default 2.5). */
  U_ppm?: number;
  /** Equivalent thorium in ppm (default 9). */
  Th_ppm?: number;
  /** Height of the point of interest above the ground (default 1 m). */
  height_m?: number;
}

export interface NaturalOptions extends SoilConcentrations {
  nChannels: number;
  keVPerChannel: number;
}

export type Series = 'K40' | 'U238' | 'Th232';
export const SERIES: readonly Series[] = ['K40', 'U238', 'Th232'];

export const DEFAULT_SOIL = { K_pct: 2, U_ppm: 2.5, Th_ppm: 9 } as const;

/** Bq/kg of the series head per unit concentration (IAEA-TECDOC-1363, 2003). */
export const BQ_KG_PER_UNIT: Readonly<Record<Series, number>> = { K40: 313, U238: 12.35, Th232: 4.06 };

/** Air kerma rate at 1 m, nGy/h per Bq/kg (UNSCEAR 2000, Annex B, table 5). */
export const UNSCEAR_nGy_h_PER_Bq_kg: Readonly<Record<Series, number>> = { K40: 0.0417, U238: 0.462, Th232: 0.604 };

/** U-235 / U-238 activity ratio of natural uranium (0.7204 atom % U-235). */
const U235_ACTIVITY_RATIO = 0.046;

const SCATTER_CUTOFF_keV = 60;
const SCATTER_MIN_keV = 20;
/** Log-spaced bins the scattered continuum is carried in; a bin is ~3 % wide, well under the NaI resolution. */
const SCATTER_BINS = 150;
const SCATTER_TOP_keV = 2700;

function seriesLines(series: Series): { energy_keV: number; intensity: number }[] {
  switch (series) {
    case 'K40':
      return [...getNuclide('K40').lines];
    case 'U238':
      return [
        ...getNuclide('U238').lines,
        ...getNuclide('Ra226').lines,
        ...getNuclide('U235').lines.map((l) => ({ energy_keV: l.energy_keV, intensity: l.intensity * U235_ACTIVITY_RATIO })),
      ];
    case 'Th232':
      return [...getNuclide('Th232').lines];
    default: {
      const never: never = series;
      throw new RangeError(`unknown series ${String(never)}`);
    }
  }
}

/** Exponential integral E₁(x), x > 0: power series below 1, continued fraction (modified Lentz) above. */
export function expint1(x: number): number {
  if (!(x > 0)) throw new RangeError(`expint1 needs x > 0, got ${x}`);
  if (x <= 1) {
    let sum = 0;
    let term = 1;
    for (let k = 1; k < 60; k++) {
      term *= -x / k;
      const add = term / k;
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return -0.5772156649015329 - Math.log(x) - sum;
  }
  // E1(x) = e^-x · 1/(x+1-1/(x+3-4/(x+5-…)))
  const tiny = 1e-300;
  let b = x + 1;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 200; i++) {
    const a = -i * i;
    b += 2;
    d = 1 / (a * d + b);
    c = b + a / c;
    const del = c * d;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return h * Math.exp(-x);
}

/** Exponential integral E₂(x) = e^-x − x·E₁(x); E₂(0) = 1. */
export function expint2(x: number): number {
  if (x === 0) return 1;
  return Math.exp(-x) - x * expint1(x);
}

/** Uncollided fluence rate (photons/cm²/s) of one line at height h above soil holding `Bq_per_kg` of its emitter. */
export function halfSpaceFluence(E_keV: number, photonsPerDecay: number, Bq_per_kg: number, height_m: number): number {
  const muSoil = muRho_cm2_g('concrete', E_keV);
  const muAir = muRho_cm2_g('air', E_keV) * 1.205e-3;
  return ((Bq_per_kg / 1000) * photonsPerDecay * expint2(muAir * height_m * 100)) / (2 * muSoil);
}

/** Shape of the scattered continuum of a primary line E0, per keV, not normalised. */
function scatterShape(E: number, E0: number): number {
  if (E >= E0 || E < SCATTER_MIN_keV) return 0;
  const r = E / SCATTER_CUTOFF_keV;
  return (1 - Math.exp(-r * r * r)) * Math.exp(-E / (E0 / 4));
}

interface Bins {
  lo: Float64Array;
  hi: Float64Array;
  mid: Float64Array;
}

const BINS: Bins = (() => {
  const lo = new Float64Array(SCATTER_BINS);
  const hi = new Float64Array(SCATTER_BINS);
  const mid = new Float64Array(SCATTER_BINS);
  const ratio = Math.pow(SCATTER_TOP_keV / SCATTER_MIN_keV, 1 / SCATTER_BINS);
  for (let i = 0; i < SCATTER_BINS; i++) {
    lo[i] = SCATTER_MIN_keV * Math.pow(ratio, i);
    hi[i] = lo[i] * ratio;
    mid[i] = Math.sqrt(lo[i] * hi[i]);
  }
  return { lo, hi, mid };
})();

/** Scatter fluence per bin for a primary line, normalised to a total of 1 (integrated over each bin with a few points). */
function scatterBinsFor(E0: number): Float64Array {
  const out = new Float64Array(SCATTER_BINS);
  let total = 0;
  for (let i = 0; i < SCATTER_BINS; i++) {
    const a = BINS.lo[i];
    const b = Math.min(BINS.hi[i], E0);
    if (b <= a) break;
    const n = 4;
    let s = 0;
    for (let k = 0; k < n; k++) s += scatterShape(a + ((k + 0.5) * (b - a)) / n, E0);
    out[i] = (s / n) * (b - a);
    total += out[i];
  }
  if (total > 0) for (let i = 0; i < SCATTER_BINS; i++) out[i] /= total;
  return out;
}

/** Air kerma per fluence (pGy·cm²), from the NIST air μen/ρ. */
function kermaPerFluence_pGy_cm2(E_keV: number): number {
  return 160.2176634 * (E_keV / 1000) * muEnRho_cm2_g('air', E_keV);
}

interface SeriesUnitField {
  /** Uncollided lines per Bq/kg at the requested height. */
  lines: FieldLine[];
  /** Scattered fluence per bin per Bq/kg. */
  scatter: Float64Array;
}

/** Scatter-to-uncollided fluence ratio per series, fixed at 1 m against the UNSCEAR kerma coefficients. */
const SCATTER_RATIO: Readonly<Record<Series, number>> = (() => {
  const out = {} as Record<Series, number>;
  for (const s of SERIES) {
    const u = unitField(s, 1, 1);
    let kUnc = 0;
    for (const l of u.lines) kUnc += l.fluenceRate_cm2_s * kermaPerFluence_pGy_cm2(l.energy_keV);
    let kSc = 0;
    for (let i = 0; i < SCATTER_BINS; i++) kSc += u.scatter[i] * kermaPerFluence_pGy_cm2(BINS.mid[i]);
    const target = (UNSCEAR_nGy_h_PER_Bq_kg[s] * 1000) / 3600; // pGy/s per Bq/kg
    if (!(target > kUnc)) throw new Error(`natural background: uncollided kerma of ${s} exceeds the UNSCEAR total`);
    out[s] = (target - kUnc) / kSc;
  }
  return out;
})();

function unitField(series: Series, height_m: number, scatterRatio: number): SeriesUnitField {
  const lines: FieldLine[] = [];
  const scatter = new Float64Array(SCATTER_BINS);
  for (const l of seriesLines(series)) {
    const phi = halfSpaceFluence(l.energy_keV, l.intensity, 1, height_m);
    lines.push({ energy_keV: l.energy_keV, fluenceRate_cm2_s: phi });
    const b = scatterBinsFor(l.energy_keV);
    for (let i = 0; i < SCATTER_BINS; i++) scatter[i] += b[i] * phi * scatterRatio;
  }
  return { lines, scatter };
}

function concentrations(opts: SoilConcentrations): Record<Series, number> & { height_m: number } {
  const K = opts.K_pct ?? DEFAULT_SOIL.K_pct;
  const U = opts.U_ppm ?? DEFAULT_SOIL.U_ppm;
  const Th = opts.Th_ppm ?? DEFAULT_SOIL.Th_ppm;
  const h = opts.height_m ?? 1;
  for (const [name, v] of [['K_pct', K], ['U_ppm', U], ['Th_ppm', Th]] as const) {
    if (!(v >= 0) || !Number.isFinite(v)) throw new RangeError(`${name} must be a finite concentration >= 0, got ${v}`);
  }
  if (!(h >= 0) || !Number.isFinite(h) || h > 1000) throw new RangeError(`height_m must be between 0 and 1000 m, got ${h}`);
  return { K40: K * BQ_KG_PER_UNIT.K40, U238: U * BQ_KG_PER_UNIT.U238, Th232: Th * BQ_KG_PER_UNIT.Th232, height_m: h };
}

export interface NaturalField {
  /** Uncollided lines (photons/cm²/s), all series together. */
  lines: FieldLine[];
  /** Scattered continuum as narrow bins, each a "line" at the bin's geometric centre. */
  scattered: FieldLine[];
  /** Per series, for reports and tests. */
  bySeries: Record<Series, { uncollided_cm2_s: number; scattered_cm2_s: number; kerma_nGy_h: number }>;
}

/** Photon fluence rates at a height above soil of the given composition. */
export function naturalField(opts: SoilConcentrations = {}): NaturalField {
  const c = concentrations(opts);
  const lines: FieldLine[] = [];
  const scatter = new Float64Array(SCATTER_BINS);
  const bySeries = {} as NaturalField['bySeries'];
  for (const s of SERIES) {
    const u = unitField(s, c.height_m, SCATTER_RATIO[s]);
    let unc = 0;
    let kerma = 0;
    for (const l of u.lines) {
      const phi = l.fluenceRate_cm2_s * c[s];
      unc += phi;
      kerma += phi * kermaPerFluence_pGy_cm2(l.energy_keV);
      if (phi > 0) lines.push({ energy_keV: l.energy_keV, fluenceRate_cm2_s: phi });
    }
    let sc = 0;
    for (let i = 0; i < SCATTER_BINS; i++) {
      const phi = u.scatter[i] * c[s];
      scatter[i] += phi;
      sc += phi;
      kerma += phi * kermaPerFluence_pGy_cm2(BINS.mid[i]);
    }
    bySeries[s] = { uncollided_cm2_s: unc, scattered_cm2_s: sc, kerma_nGy_h: (kerma * 3600) / 1000 };
  }
  const scattered: FieldLine[] = [];
  for (let i = 0; i < SCATTER_BINS; i++) if (scatter[i] > 0) scattered.push({ energy_keV: BINS.mid[i], fluenceRate_cm2_s: scatter[i] });
  return { lines, scattered, bySeries };
}

/** Air kerma rate (µGy/h) of a set of fluence lines. */
export function airKermaRate_uGy_h(lines: readonly FieldLine[]): number {
  let k = 0;
  for (const l of lines) k += l.fluenceRate_cm2_s * kermaPerFluence_pGy_cm2(l.energy_keV);
  return (k * 3600) / 1e6;
}

/** Air kerma rate (µGy/h) of the natural background at the given height and composition. */
export function naturalAirKermaRate_uGy_h(opts: SoilConcentrations = {}): number {
  const f = naturalField(opts);
  return airKermaRate_uGy_h(f.lines) + airKermaRate_uGy_h(f.scattered);
}

/** Mean projected area S/4 (cm²) of the crystal: its effective area in a field that comes from all sides. */
export function meanProjectedArea_cm2(det: DetectorModel): number {
  const s = det.shape;
  if (s.kind === 'cylinder') {
    const r = s.diameter_cm / 2;
    return (2 * Math.PI * r * r + 2 * Math.PI * r * s.length_cm) / 4;
  }
  return (2 * (s.width_cm * s.height_cm + s.width_cm * s.depth_cm + s.height_cm * s.depth_cm)) / 4;
}

// Computing ~300 responses takes 0.1-1 s, and a drive asks for the same detector, grid and height every step:
// the per-series spectra for unit concentration are kept (small, bounded) and combined linearly.
const CACHE_MAX = 64;
const unitSpectra = new Map<string, Record<Series, Float64Array>>();

function detectorKey(det: DetectorModel): string {
  return JSON.stringify([det.name, det.crystal, det.shape, det.fwhmAt662, det.drf?.name, det.drf?.resolution]);
}

function unitSeriesSpectra(det: DetectorModel, nChannels: number, keVPerChannel: number, height_m: number): Record<Series, Float64Array> {
  const key = `${detectorKey(det)}|${nChannels}|${keVPerChannel}|${height_m}`;
  const hit = unitSpectra.get(key);
  if (hit !== undefined) {
    unitSpectra.delete(key);
    unitSpectra.set(key, hit);
    return hit;
  }
  const area = meanProjectedArea_cm2(det);
  const out = {} as Record<Series, Float64Array>;
  const scatterResponse = new Map<number, Float64Array>();
  const smear = resolutionSmear(det, nChannels, keVPerChannel);
  const responseAt = (E: number): Float64Array => {
    let r = scatterResponse.get(E);
    if (r === undefined) {
      r = responseSpectrum(det, E, nChannels, keVPerChannel, { smear });
      scatterResponse.set(E, r);
    }
    return r;
  };
  for (const s of SERIES) {
    const u = unitField(s, height_m, SCATTER_RATIO[s]);
    const spec = new Float64Array(nChannels);
    for (const l of u.lines) {
      const r = responseSpectrum(det, l.energy_keV, nChannels, keVPerChannel, { smear });
      const w = l.fluenceRate_cm2_s * area;
      for (let ch = 0; ch < nChannels; ch++) spec[ch] += r[ch] * w;
    }
    for (let i = 0; i < SCATTER_BINS; i++) {
      if (u.scatter[i] === 0) continue;
      const r = responseAt(BINS.mid[i]);
      const w = u.scatter[i] * area;
      for (let ch = 0; ch < nChannels; ch++) spec[ch] += r[ch] * w;
    }
    out[s] = spec;
  }
  unitSpectra.set(key, out);
  if (unitSpectra.size > CACHE_MAX) {
    const oldest = unitSpectra.keys().next().value;
    if (oldest !== undefined) unitSpectra.delete(oldest);
  }
  return out;
}

/**
 * Expected counts per second per channel of natural background for a detector (channel i spans
 * [i·keVPerChannel, (i+1)·keVPerChannel) keV). Typical totals at 1 m over 2 %K, 2.5 ppm U, 9 ppm Th: ~150-300 cps
 * for a 2x2 inch NaI, ~2000-4000 cps for a 2x4x16 inch log (see the test for the exact figures).
 */
export function naturalBackgroundRate(det: DetectorModel, opts: NaturalOptions): Float64Array {
  const c = concentrations(opts);
  if (!Number.isInteger(opts.nChannels) || opts.nChannels <= 0) throw new RangeError(`nChannels must be a positive integer, got ${opts.nChannels}`);
  if (!(opts.keVPerChannel > 0) || !Number.isFinite(opts.keVPerChannel)) {
    throw new RangeError(`keVPerChannel must be a finite number > 0, got ${opts.keVPerChannel}`);
  }
  const unit = unitSeriesSpectra(det, opts.nChannels, opts.keVPerChannel, c.height_m);
  const out = new Float64Array(opts.nChannels);
  for (const s of SERIES) {
    const w = c[s];
    if (w === 0) continue;
    const u = unit[s];
    for (let ch = 0; ch < out.length; ch++) out[ch] += u[ch] * w;
  }
  return out;
}
