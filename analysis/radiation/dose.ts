// Dose rates: fluence-to-dose coefficients, point sources behind air and shields, spectrum-to-dose (G(E)) and GM counters.
//
// Everything here is a pure function of its arguments (no I/O, no clock). Units: keV, Bq, metres for
// distances, cm for shield thickness, µSv/h for dose rates, photons/cm²/s for fluence rates.

import {
  DENSITY_g_cm3,
  MAX_ENERGY_keV,
  type Material,
  buildupLinear,
  comptonEdge_keV,
  comptonMuRho_cm2_g,
  interpolateLogLog,
  kleinNishinaDsigmaDT,
  muEnRho_cm2_g,
  muRho_cm2_g,
  mu_cm,
} from './attenuation.js';
import { type DrfResponse, type EfficiencyTable, gadrasFwhm_keV, interpolateEfficiency } from './drf-response.js';
import { type GammaLine, getNuclide } from './nuclides.js';

// ------------------------------------------------------------------------------------------------
// Fluence-to-dose coefficients

/**
 * ICRP Publication 74 (1996), Annex A photon tables: ambient dose equivalent H*(10) per fluence (pSv·cm²)
 * and per air kerma (Sv/Gy) at the tabulated energies 10 keV-10 MeV (ICRU sphere, expanded and aligned
 * field, kerma approximation). Interpolated log-log. The two columns are cross-checked in the tests
 * through the NIST air μen/ρ (H/Φ = H/Ka · Ka/Φ, within 2.5 %).
 */
const ICRP74_E_keV = [
  10, 15, 20, 30, 40, 50, 60, 80, 100, 150, 200, 300, 400, 500, 600, 800, 1000, 1500, 2000, 3000, 4000, 5000, 6000,
  8000, 10000,
];
const ICRP74_H10_PER_FLUENCE_pSv_cm2 = [
  0.061, 0.83, 1.05, 0.81, 0.64, 0.55, 0.51, 0.53, 0.61, 0.89, 1.2, 1.8, 2.38, 2.93, 3.44, 4.38, 5.2, 6.9, 8.6, 11.1, 13.4,
  15.5, 17.6, 21.6, 25.6,
];
const ICRP74_H10_PER_KERMA_Sv_Gy = [
  0.008, 0.26, 0.61, 1.1, 1.47, 1.67, 1.74, 1.72, 1.65, 1.49, 1.4, 1.31, 1.26, 1.23, 1.21, 1.19, 1.17, 1.15, 1.14, 1.13,
  1.12, 1.11, 1.11, 1.11, 1.1,
];

/**
 * ANSI/ANS-6.1.1-1977, Table 3: photon flux-to-dose-rate conversion factors in (rem/h)/(photons/cm²/s),
 * "maximum dose equivalent" in a 30 cm slab phantom. Log-log interpolation as the standard recommends.
 */
const ANSI1977_E_keV = [
  10, 30, 50, 70, 100, 150, 200, 250, 300, 350, 400, 450, 500, 550, 600, 650, 700, 800, 1000, 1400, 1800, 2200, 2600,
  2800, 3250, 3750, 4250, 4750, 5000, 5250, 5750, 6250, 6750, 7500, 9000, 11000, 13000,
];
const ANSI1977_rem_h_per_flux = [
  3.96e-6, 5.82e-7, 2.9e-7, 2.58e-7, 2.83e-7, 3.79e-7, 5.01e-7, 6.31e-7, 7.59e-7, 8.78e-7, 9.85e-7, 1.08e-6, 1.17e-6,
  1.27e-6, 1.36e-6, 1.44e-6, 1.52e-6, 1.68e-6, 1.98e-6, 2.51e-6, 2.99e-6, 3.42e-6, 3.82e-6, 4.01e-6, 4.41e-6, 4.83e-6,
  5.23e-6, 5.6e-6, 5.8e-6, 6.01e-6, 6.37e-6, 6.74e-6, 7.11e-6, 7.66e-6, 8.77e-6, 1.03e-5, 1.18e-5,
];
// (rem/h)/(cm⁻² s⁻¹) -> pSv·cm²: 1 rem = 0.01 Sv, 1 h = 3600 s.
const REM_H_PER_FLUX_TO_pSv_cm2 = (0.01 / 3600) * 1e12;
const ANSI1977_pSv_cm2 = ANSI1977_rem_h_per_flux.map((v) => v * REM_H_PER_FLUX_TO_pSv_cm2);

/**
 * ANSI/ANS-6.1.1-1991, Table 3, anterior-posterior (AP) irradiation: effective dose equivalent H_E per
 * fluence (pSv·cm²). This is the set InterSpec's dose tool uses (its "most conservative case"), which is
 * where the published check "100 µCi Cs-137 at 100 cm: 29.70 µrem/h" comes from.
 */
const ANSI1991AP_E_keV = [
  10, 15, 20, 30, 40, 50, 60, 80, 100, 150, 200, 300, 400, 500, 600, 800, 1000, 1500, 2000, 3000, 4000, 5000, 6000, 8000,
  10000, 12000,
];
const ANSI1991AP_pSv_cm2 = [
  0.062, 0.157, 0.238, 0.329, 0.365, 0.384, 0.4, 0.451, 0.533, 0.777, 1.03, 1.56, 2.06, 2.54, 2.99, 3.83, 4.6, 6.24, 7.66,
  10.2, 12.5, 14.7, 16.7, 20.8, 24.7, 28.9,
];

export type CoefficientSet = 'ICRP74' | 'ANSI-6.1.1-1977' | 'ANSI-6.1.1-1991-AP';
export const COEFFICIENT_SETS: readonly CoefficientSet[] = ['ICRP74', 'ANSI-6.1.1-1977', 'ANSI-6.1.1-1991-AP'];

/** ICRP 74 H*(10) per photon fluence (pSv·cm²), 10 keV-10 MeV; RangeError outside. */
export function hStar10PerFluence_pSv_cm2(E_keV: number): number {
  return interpolateLogLog(ICRP74_E_keV, ICRP74_H10_PER_FLUENCE_pSv_cm2, E_keV);
}

/** ICRP 74 H*(10) per air kerma (Sv/Gy), 10 keV-10 MeV; RangeError outside. */
export function hStar10PerAirKerma_Sv_Gy(E_keV: number): number {
  return interpolateLogLog(ICRP74_E_keV, ICRP74_H10_PER_KERMA_Sv_Gy, E_keV);
}

/**
 * Air kerma per photon fluence (pGy·cm²) computed from the NIST air μen/ρ: K/Φ = E·μen/ρ (kerma ≈ collision
 * kerma below 3 MeV, radiative losses in air < 1 %). 1 MeV/g = 160.2177 pGy.
 */
export function airKermaPerFluence_pGy_cm2(E_keV: number): number {
  return 160.2176634 * (E_keV / 1000) * muEnRho_cm2_g('air', E_keV);
}

/** Fluence-to-dose coefficient (pSv·cm²) of the chosen set. */
export function fluenceToDose_pSv_cm2(E_keV: number, coefficients: CoefficientSet = 'ICRP74'): number {
  switch (coefficients) {
    case 'ICRP74':
      return hStar10PerFluence_pSv_cm2(E_keV);
    case 'ANSI-6.1.1-1977':
      return interpolateLogLog(ANSI1977_E_keV, ANSI1977_pSv_cm2, E_keV);
    case 'ANSI-6.1.1-1991-AP':
      return interpolateLogLog(ANSI1991AP_E_keV, ANSI1991AP_pSv_cm2, E_keV);
    default: {
      const never: never = coefficients;
      throw new RangeError(`unknown coefficient set '${String(never)}': expected one of ${COEFFICIENT_SETS.join(', ')}`);
    }
  }
}

// pSv·cm² × (photons/cm²/s) -> µSv/h
const pSv_s_TO_uSv_h = 1e-6 * 3600;

// ------------------------------------------------------------------------------------------------
// Point source

export interface Shield {
  material: Material;
  thickness_cm: number;
}

export interface PointSourceOptions {
  /** A nuclide id ('Cs137') or an explicit line list (photons per decay). */
  nuclide: string | { lines: readonly GammaLine[] };
  activity_Bq: number;
  distance_m: number;
  /** Attenuate each line over the whole source-detector distance in dry air (default true). */
  airAttenuation?: boolean;
  /** Slabs between source and detector, crossed at normal incidence. */
  shielding?: readonly Shield[];
  /** Multiply by the linear buildup 1 + μx over air and shields (default false; see buildupLinear). */
  buildup?: boolean;
  coefficients?: CoefficientSet;
}

export interface LineDose {
  energy_keV: number;
  /** Uncollided fluence rate at the detector (photons/cm²/s), attenuation included. */
  fluenceRate_cm2_s: number;
  /** Total mean free paths crossed (air + shields). */
  mfp: number;
  doseRate_uSv_h: number;
}

/** Lines below this energy are dropped: H*(10) there is < 0.06 pSv·cm² and they do not cross a metre of air. */
export const POINT_SOURCE_MIN_ENERGY_keV = 10;

/** Per-line dose rates of a bare or shielded point source (inverse square, exponential attenuation, optional buildup). */
export function pointSourceLineDoseRates(opts: PointSourceOptions): LineDose[] {
  const { activity_Bq, distance_m } = opts;
  if (!(activity_Bq >= 0) || !Number.isFinite(activity_Bq)) {
    throw new RangeError(`activity_Bq must be a finite activity >= 0, got ${activity_Bq}`);
  }
  if (!(distance_m > 0) || !Number.isFinite(distance_m)) {
    throw new RangeError(`distance_m must be a finite distance > 0, got ${distance_m}`);
  }
  const shields = opts.shielding ?? [];
  for (const [i, s] of shields.entries()) {
    if (!(s.thickness_cm >= 0) || !Number.isFinite(s.thickness_cm)) {
      throw new RangeError(`shielding[${i}].thickness_cm must be a finite length >= 0, got ${s.thickness_cm}`);
    }
    if (DENSITY_g_cm3[s.material] === undefined) {
      throw new RangeError(`shielding[${i}].material '${String(s.material)}' is not a known material`);
    }
  }
  const lines = typeof opts.nuclide === 'string' ? getNuclide(opts.nuclide).lines : opts.nuclide.lines;
  const coefficients = opts.coefficients ?? 'ICRP74';
  const air = opts.airAttenuation ?? true;
  const r_cm = distance_m * 100;
  const geometry = activity_Bq / (4 * Math.PI * r_cm * r_cm);
  const out: LineDose[] = [];
  for (const line of lines) {
    if (line.energy_keV < POINT_SOURCE_MIN_ENERGY_keV) continue;
    // The air path is taken as the full distance; the shields' own thickness is not subtracted from it
    // (at most a few cm of air, well below 1 % at the energies of interest).
    let mfp = air ? mu_cm('air', line.energy_keV) * r_cm : 0;
    for (const s of shields) mfp += mu_cm(s.material, line.energy_keV) * s.thickness_cm;
    const build = opts.buildup ? buildupLinear(mfp) : 1;
    const fluenceRate = line.intensity * geometry * Math.exp(-mfp);
    out.push({
      energy_keV: line.energy_keV,
      fluenceRate_cm2_s: fluenceRate,
      mfp,
      doseRate_uSv_h: fluenceRate * build * fluenceToDose_pSv_cm2(line.energy_keV, coefficients) * pSv_s_TO_uSv_h,
    });
  }
  return out;
}

/**
 * Dose rate (µSv/h) of a point source: Σ over lines of yield·A/(4πr²)·e^(-μx)·B·coefficient. Only the
 * lines in the nuclide table count, so x-rays below its energy cut (nuclides.ts) are not included: right
 * for encapsulated sources and at a distance, an underestimate for a few bare sources at close range
 * (Am-241, In-111, Tc-99m; see their notes).
 */
export function pointSourceDoseRate_uSv_h(opts: PointSourceOptions): number {
  return pointSourceLineDoseRates(opts).reduce((sum, l) => sum + l.doseRate_uSv_h, 0);
}

// ------------------------------------------------------------------------------------------------
// Detector model and response

export type DetectorShape =
  | { kind: 'cylinder'; diameter_cm: number; length_cm: number }
  /** Photons enter through the width × height face and cross `depth_cm`. */
  | { kind: 'box'; width_cm: number; height_cm: number; depth_cm: number };

export interface DetectorModel {
  name: string;
  crystal: 'NaI' | 'CsI';
  /** A cylinder is seen end-on (beam along its axis). */
  shape: DetectorShape;
  /** Relative resolution FWHM/E at 661.657 keV; FWHM scales as sqrt(E) (or by `drf`'s law when there is one). */
  fwhmAt662: number;
  /**
   * A real detector's description (drf.ts, detectorModelFromDrf). When present it replaces the built-in physics:
   * FWHM(E) follows its GADRAS resolution law (scaled so that it is fwhmAt662 at 661.657 keV, which it is as built)
   * and the intrinsic peak, total and escape-peak efficiencies come from its Efficiency.csv table. The shape then
   * only gives the face area (the counts per photon incident on the face scale with it).
   */
  drf?: DrfResponse;
}

const INCH_cm = 2.54;

/** Typical detectors of the fleet. Resolutions are typical catalogue values, not measured here. */
export const DETECTORS: Readonly<Record<string, DetectorModel>> = {
  'NaI-2x2': {
    name: 'NaI-2x2',
    crystal: 'NaI',
    shape: { kind: 'cylinder', diameter_cm: 2 * INCH_cm, length_cm: 2 * INCH_cm },
    fwhmAt662: 0.07,
  },
  'NaI-3x3': {
    name: 'NaI-3x3',
    crystal: 'NaI',
    shape: { kind: 'cylinder', diameter_cm: 3 * INCH_cm, length_cm: 3 * INCH_cm },
    fwhmAt662: 0.07,
  },
  // Portal / vehicle "log": 2 x 4 x 16 inch, the 4 x 16 inch face towards the lane.
  'NaI-2x4x16': {
    name: 'NaI-2x4x16',
    crystal: 'NaI',
    shape: { kind: 'box', width_cm: 16 * INCH_cm, height_cm: 4 * INCH_cm, depth_cm: 2 * INCH_cm },
    fwhmAt662: 0.08,
  },
  // Handheld / pocket spectrometer crystal, 1 cm³.
  'CsI-1cm3': {
    name: 'CsI-1cm3',
    crystal: 'CsI',
    shape: { kind: 'box', width_cm: 1, height_cm: 1, depth_cm: 1 },
    fwhmAt662: 0.085,
  },
};

function checkDetector(det: DetectorModel): void {
  const s = det.shape;
  const dims = s.kind === 'cylinder' ? [s.diameter_cm, s.length_cm] : [s.width_cm, s.height_cm, s.depth_cm];
  if (!dims.every((d) => d > 0 && Number.isFinite(d))) {
    throw new RangeError(`detector ${det.name}: shape dimensions must be finite and > 0, got ${dims.join(', ')}`);
  }
  if (!(det.fwhmAt662 > 0 && det.fwhmAt662 < 1)) {
    throw new RangeError(`detector ${det.name}: fwhmAt662 must be a fraction in (0, 1), got ${det.fwhmAt662}`);
  }
}

/** Area (cm²) the detector presents to a beam along its viewing direction. */
export function detectorFaceArea_cm2(det: DetectorModel): number {
  const s = det.shape;
  return s.kind === 'cylinder' ? (Math.PI * s.diameter_cm * s.diameter_cm) / 4 : s.width_cm * s.height_cm;
}

/** Crystal thickness (cm) along the viewing direction. */
export function detectorDepth_cm(det: DetectorModel): number {
  const s = det.shape;
  return s.kind === 'cylinder' ? s.length_cm : s.depth_cm;
}

/** Mean chord length 4V/S (Cauchy): the typical path a photon born inside has to cross to escape. */
export function meanChord_cm(det: DetectorModel): number {
  const s = det.shape;
  if (s.kind === 'cylinder') {
    const r = s.diameter_cm / 2;
    const V = Math.PI * r * r * s.length_cm;
    const S = 2 * Math.PI * r * r + 2 * Math.PI * r * s.length_cm;
    return (4 * V) / S;
  }
  const { width_cm: a, height_cm: b, depth_cm: c } = s;
  return (4 * a * b * c) / (2 * (a * b + a * c + b * c));
}

const CS137_keV = 661.657;

/**
 * FWHM (keV) at E_keV: fwhmAt662 scaled as √E, or with a description the GADRAS law of drf-response.ts, multiplied by
 * fwhmAt662 over the law's own value at 661.657 keV. That factor is 1 for a model as detectorModelFromDrf builds it;
 * it keeps fwhmAt662 the one knob to widen or sharpen a detector (bench/identify.ts does) with or without a description.
 */
export function fwhm_keV(det: DetectorModel, E_keV: number): number {
  if (det.drf) {
    const law = det.drf.resolution;
    return (gadrasFwhm_keV(law, E_keV) * det.fwhmAt662 * CS137_keV) / gadrasFwhm_keV(law, CS137_keV);
  }
  return det.fwhmAt662 * Math.sqrt(CS137_keV * E_keV);
}

// A description's table spans 10 keV-100 MeV; below or above it the end value is held (a response there is never
// asked for by more than a few keV: the lowest channels and the discriminator).
function drfColumn(table: EfficiencyTable, column: readonly number[], E_keV: number): number {
  const xs = table.energy_keV;
  const e = Math.min(Math.max(E_keV, xs[0]!), xs[xs.length - 1]!);
  return interpolateEfficiency(table, column, e);
}

/**
 * Intrinsic total efficiency: probability that a photon hitting the face at normal incidence interacts. With a
 * description it is the table's PTOT (all counts per photon on the face), which exceeds 1 at low energies where the
 * description counts photons scattered in from its surroundings (drf-response.ts EfficiencyTable.total).
 */
export function totalEfficiency(det: DetectorModel, E_keV: number): number {
  if (det.drf) return drfColumn(det.drf.efficiency, det.drf.efficiency.total, E_keV);
  return 1 - Math.exp(-mu_cm(det.crystal, E_keV) * detectorDepth_cm(det));
}

/** Single and double escape efficiencies (per photon on the face) of a description; 0 without one. */
export function escapeEfficiencies(det: DetectorModel, E_keV: number): { single: number; double: number } {
  if (!det.drf || E_keV <= 1022) return { single: 0, double: 0 };
  const t = det.drf.efficiency;
  return { single: drfColumn(t, t.singleEscape, E_keV), double: drfColumn(t, t.doubleEscape, E_keV) };
}

// Photoelectric (plus coherent) share of μ/ρ: what the free-electron Klein–Nishina share leaves. Above 1 MeV the
// difference is too small to read from a 4-digit table and pair production creeps in, so the photoelectric
// part is carried on as E^-1.5 from its 1 MeV value instead.
function photoMuRho(crystal: 'NaI' | 'CsI', E_keV: number): number {
  const Eref = Math.min(E_keV, 1000);
  const tau = Math.max(0, muRho_cm2_g(crystal, Eref) - comptonMuRho_cm2_g(crystal, Eref));
  return E_keV <= 1000 ? tau : tau * Math.pow(1000 / E_keV, 1.5);
}

/** Mean fraction of the photon energy given to the electron in one Compton scatter (Klein–Nishina). */
function meanComptonTransferFraction(E_keV: number): number {
  const edge = comptonEdge_keV(E_keV);
  const n = 200;
  let s = 0;
  let st = 0;
  for (let i = 0; i < n; i++) {
    const T = ((i + 0.5) / n) * edge;
    const d = kleinNishinaDsigmaDT(E_keV, T);
    s += d;
    st += d * T;
  }
  return st / s / E_keV;
}

// Path the scattered photon has to cross to escape, in units of the mean chord. Chosen so that the model gives
// the usual peak-to-total at 662 keV of a 3x3 inch NaI (about 0.5; model 0.54) and a 2x2 inch (about 0.4;
// model 0.41).
const ESCAPE_PATH_FRACTION = 0.45;

function fullEnergyFractionAt(det: DetectorModel, E_keV: number, level: number): number {
  const mu = muRho_cm2_g(det.crystal, E_keV);
  const pPhoto = Math.min(1, photoMuRho(det.crystal, E_keV) / mu);
  if (level === 0 || E_keV < 20) return pPhoto;
  const Es = E_keV * (1 - meanComptonTransferFraction(E_keV));
  const path_cm = ESCAPE_PATH_FRACTION * meanChord_cm(det);
  const absorbed = 1 - Math.exp(-mu_cm(det.crystal, Es) * path_cm);
  return pPhoto + (1 - pPhoto) * absorbed * fullEnergyFractionAt(det, Es, level - 1);
}

/**
 * Peak-to-total ratio: the share of interacting photons that deposit their full energy. Model: first
 * interaction photoelectric (share τ/μ), or Compton followed by full absorption of the scattered photon,
 * which is taken to have the mean Klein–Nishina scattered energy and to cross ESCAPE_PATH_FRACTION of the
 * mean chord, three scatters deep. Pair production is counted with Compton. An approximation good to
 * perhaps ±20 %, enough to shape G(E) and simulated spectra; not an efficiency calibration.
 */
export function peakToTotal(det: DetectorModel, E_keV: number): number {
  if (det.drf) {
    const total = totalEfficiency(det, E_keV);
    return total > 0 ? photopeakEfficiency(det, E_keV) / total : 0;
  }
  return fullEnergyFractionAt(det, E_keV, 3);
}

/** Intrinsic full-energy-peak efficiency for normal incidence on the face (a description's "Peak" when it has one). */
export function photopeakEfficiency(det: DetectorModel, E_keV: number): number {
  if (det.drf) return drfColumn(det.drf.efficiency, det.drf.efficiency.peak, E_keV);
  return totalEfficiency(det, E_keV) * peakToTotal(det, E_keV);
}

// Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), enough for integrating Gaussians over channels.
function erf(x: number): number {
  const sign = x < 0 ? -1 : 1;
  const ax = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * ax);
  const y =
    1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-ax * ax);
  return sign * y;
}

/** Add `amount` spread as a Gaussian (mean, sigma in keV) to channels [i·k, (i+1)·k). */
function addGaussian(out: Float64Array, keVPerChannel: number, mean: number, sigma: number, amount: number): void {
  if (amount === 0) return;
  const n = out.length;
  if (!(sigma > 1e-9)) {
    const ch = Math.floor(mean / keVPerChannel);
    if (ch >= 0 && ch < n) out[ch] += amount;
    return;
  }
  const lo = Math.max(0, Math.floor((mean - 5 * sigma) / keVPerChannel));
  const hi = Math.min(n - 1, Math.floor((mean + 5 * sigma) / keVPerChannel));
  const k = 1 / (Math.SQRT2 * sigma);
  let prev = erf((lo * keVPerChannel - mean) * k);
  for (let ch = lo; ch <= hi; ch++) {
    const next = erf(((ch + 1) * keVPerChannel - mean) * k);
    out[ch] += (amount * (next - prev)) / 2;
    prev = next;
  }
}

// Of the counts outside the peak, this share follows the single-scatter Klein–Nishina electron spectrum
// (0 to the Compton edge); the rest is spread evenly between the edge and the peak (multiple scatters
// that escape), which fills the valley as seen in real NaI spectra.
const SINGLE_SCATTER_SHARE = 0.75;

export interface ResponseOptions {
  /** Counts per incident photon added as a backscatter peak at E/(1+2α) (scatter off the surroundings). Default 0. */
  backscatterFraction?: number;
  /** The continuum smear precomputed for this detector and grid (resolutionSmear); the same result, no erf calls. */
  smear?: ResolutionSmear;
}

/** responseSpectrum's continuum smear for one detector and channel grid: the unit Gaussian of every channel centre. */
export interface ResolutionSmear {
  detector: DetectorModel;
  nChannels: number;
  keVPerChannel: number;
  /** Row ch covers channels lo[ch] … lo[ch] + (offsets[ch+1] − offsets[ch]) − 1; its values at values[offsets[ch] …]. */
  lo: Int32Array;
  offsets: Int32Array;
  values: Float64Array;
}

/**
 * Precompute the smear once when many responses share a grid (identify/templates.ts folds hundreds): erf was 80 % of
 * their cost. A row holds (erf(b) − erf(a))/2, so amount × row is bit for bit what addGaussian adds.
 */
export function resolutionSmear(det: DetectorModel, nChannels: number, keVPerChannel: number): ResolutionSmear {
  const lo = new Int32Array(nChannels);
  const offsets = new Int32Array(nChannels + 1);
  const rows: Float64Array[] = [];
  const scratch = new Float64Array(nChannels);
  for (let ch = 0; ch < nChannels; ch++) {
    const e = (ch + 0.5) * keVPerChannel;
    const sigma = fwhm_keV(det, Math.max(e, 1)) / (2 * Math.sqrt(2 * Math.LN2));
    addGaussian(scratch, keVPerChannel, e, sigma, 1);
    const a = sigma > 1e-9 ? Math.max(0, Math.floor((e - 5 * sigma) / keVPerChannel)) : ch;
    const b = sigma > 1e-9 ? Math.min(nChannels - 1, Math.floor((e + 5 * sigma) / keVPerChannel)) : ch;
    rows.push(scratch.slice(a, b + 1));
    scratch.fill(0, a, b + 1);
    lo[ch] = a;
    offsets[ch + 1] = offsets[ch] + (b + 1 - a);
  }
  const values = new Float64Array(offsets[nChannels]);
  for (let ch = 0; ch < nChannels; ch++) values.set(rows[ch], offsets[ch]);
  return { detector: det, nChannels, keVPerChannel, lo, offsets, values };
}

/**
 * Expected counts per channel per photon incident on the detector face (normal incidence), for a
 * monoenergetic photon of E_keV. Channel i spans [i·k, (i+1)·k) keV. The sum is the intrinsic total
 * efficiency (less what falls beyond the last channel): a Gaussian full-energy peak (photopeak efficiency,
 * FWHM from fwhm_keV), a Compton continuum (Klein–Nishina shape up to the Compton edge plus a
 * flat multiple-scatter part up to the peak) smeared with the same resolution, and an optional backscatter
 * peak; with a description (`drf`) the peak, total and pair escape peaks take its tabulated efficiencies.
 * Not modelled: iodine/caesium K x-ray escape peaks below ~150 keV, dead layers; pair escape peaks only with `drf`.
 */
export function responseSpectrum(
  det: DetectorModel,
  E_keV: number,
  nChannels: number,
  keVPerChannel: number,
  opts: ResponseOptions = {},
): Float64Array {
  checkDetector(det);
  if (!Number.isInteger(nChannels) || nChannels <= 0) throw new RangeError(`nChannels must be a positive integer, got ${nChannels}`);
  if (!(keVPerChannel > 0) || !Number.isFinite(keVPerChannel)) {
    throw new RangeError(`keVPerChannel must be a finite number > 0, got ${keVPerChannel}`);
  }
  const out = new Float64Array(nChannels);
  const total = totalEfficiency(det, E_keV);
  const peak = det.drf ? photopeakEfficiency(det, E_keV) : total * peakToTotal(det, E_keV);
  // A description's pair escape peaks (above 1022 keV) come out of its continuum, which is what PTOT leaves.
  const escape = escapeEfficiencies(det, E_keV);
  const continuum = Math.max(0, total - peak - escape.single - escape.double);
  const sigmaAt = (e: number): number => fwhm_keV(det, Math.max(e, 1)) / (2 * Math.sqrt(2 * Math.LN2));

  addGaussian(out, keVPerChannel, E_keV, sigmaAt(E_keV), peak);
  addGaussian(out, keVPerChannel, E_keV - 511, sigmaAt(E_keV - 511), escape.single);
  addGaussian(out, keVPerChannel, E_keV - 1022, sigmaAt(E_keV - 1022), escape.double);

  // Continuum before resolution, on the channel grid, then smeared channel by channel.
  const raw = new Float64Array(nChannels);
  const edge = comptonEdge_keV(E_keV);
  let wSingle = 0;
  let wMulti = 0;
  const single = new Float64Array(nChannels);
  const multi = new Float64Array(nChannels);
  for (let ch = 0; ch < nChannels; ch++) {
    const e = (ch + 0.5) * keVPerChannel;
    if (e < edge) {
      single[ch] = kleinNishinaDsigmaDT(E_keV, e);
      wSingle += single[ch];
    } else if (e < E_keV) {
      multi[ch] = 1;
      wMulti += 1;
    }
  }
  let singleAmount = continuum * SINGLE_SCATTER_SHARE;
  let multiAmount = continuum - singleAmount;
  // Degenerate grids (edge or peak inside the first channels): keep the counts anyway.
  if (wMulti === 0) {
    singleAmount += multiAmount;
    multiAmount = 0;
  }
  if (wSingle === 0) {
    const ch = Math.min(nChannels - 1, Math.floor(edge / keVPerChannel));
    raw[ch] += singleAmount;
  }
  for (let ch = 0; ch < nChannels; ch++) {
    if (wSingle > 0) raw[ch] += (singleAmount * single[ch]) / wSingle;
    if (wMulti > 0) raw[ch] += (multiAmount * multi[ch]) / wMulti;
  }
  const sm = opts.smear;
  if (sm !== undefined && sm.detector === det && sm.nChannels === nChannels && sm.keVPerChannel === keVPerChannel) {
    const { offsets, lo, values } = sm;
    for (let ch = 0; ch < nChannels; ch++) {
      const a = raw[ch];
      if (a === 0) continue;
      const end = offsets[ch + 1];
      for (let j = offsets[ch], i = lo[ch]; j < end; j++, i++) out[i] += a * values[j];
    }
  } else {
    for (let ch = 0; ch < nChannels; ch++) {
      if (raw[ch] === 0) continue;
      const e = (ch + 0.5) * keVPerChannel;
      addGaussian(out, keVPerChannel, e, sigmaAt(e), raw[ch]);
    }
  }

  const bs = opts.backscatterFraction ?? 0;
  if (bs > 0) {
    const eBs = E_keV - edge; // energy of a photon scattered through 180°
    addGaussian(out, keVPerChannel, eBs, sigmaAt(eBs), bs);
  }
  return out;
}

export interface FieldLine {
  energy_keV: number;
  /** Photon fluence rate at the detector (photons/cm²/s), arriving along its viewing direction. */
  fluenceRate_cm2_s: number;
}

/** Expected count rate per channel (counts/s) of a detector in a field of lines (sum of responses × face area). */
export function fieldResponseSpectrum(opts: {
  detector: DetectorModel;
  lines: readonly FieldLine[];
  nChannels: number;
  keVPerChannel: number;
  response?: ResponseOptions;
}): Float64Array {
  const area = detectorFaceArea_cm2(opts.detector);
  const out = new Float64Array(opts.nChannels);
  for (const l of opts.lines) {
    if (l.fluenceRate_cm2_s === 0) continue;
    const r = responseSpectrum(opts.detector, l.energy_keV, opts.nChannels, opts.keVPerChannel, opts.response);
    const scale = l.fluenceRate_cm2_s * area;
    for (let ch = 0; ch < out.length; ch++) out[ch] += r[ch] * scale;
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// Spectrum to dose: the G(E) method

/**
 * A spectrum-to-dose conversion function: G(E) in (µSv/h) per (count/s) in a channel at energy E, so that
 * Ḣ*(10) = Σ_ch (counts_ch / live time) · G(E_ch). Zero below `lld_keV`, constant above the fitted grid.
 */
export interface GFunction {
  detector: DetectorModel;
  evaluate(E_keV: number): number;
  /** Energies of the monoenergetic fields the fit was made on. */
  fitRange_keV: [number, number];
  lld_keV: number;
  /** Chebyshev coefficients in x = 2·ln(E/lld)/ln(top/lld) − 1. */
  coefficients: number[];
  /** Relative error of the reconstructed H*(10) for each calibration field. */
  calibration: { energy_keV: number; relError: number }[];
}

export interface BuildGOptions {
  detector: DetectorModel;
  /**
   * Monoenergetic calibration fields, log-spaced over this range. Default 30-3000 keV rather than starting
   * at 50 keV: with no field below 50 keV the polynomial is free between the discriminator and 50 keV, and
   * the K x-rays of Ba-133 (31-36 keV) or the 26 keV line of Am-241 then get a G that is off by 10-100 %.
   */
  minEnergy_keV?: number;
  maxEnergy_keV?: number;
  nCalibration?: number;
  /** Channel grid on which the responses are computed (default 1024 × 3.5 keV, up to 3584 keV). */
  nChannels?: number;
  keVPerChannel?: number;
  /** Lower level discriminator: channels below it carry no dose (default 25 keV). */
  lld_keV?: number;
  /** Polynomial degree in ln E (default 10; 8 is about as good, 12 starts to oscillate below the fit range). */
  degree?: number;
}

function chebyshev(x: number, degree: number, out: Float64Array): void {
  out[0] = 1;
  if (degree >= 1) out[1] = x;
  for (let k = 2; k <= degree; k++) out[k] = 2 * x * out[k - 1] - out[k - 2];
}

function solveLinear(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
    [M[c], M[p]] = [M[p], M[c]];
    if (M[c][c] === 0) throw new RangeError('G(E) fit: singular normal equations (too few calibration energies for the degree)');
    for (let r = c + 1; r < n; r++) {
      const f = M[r][c] / M[c][c];
      for (let k = c; k <= n; k++) M[r][k] -= f * M[c][k];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = M[r][n];
    for (let k = r + 1; k < n; k++) s -= M[r][k] * x[k];
    x[r] = s / M[r][r];
  }
  return x;
}

/**
 * Derive G(E) for a detector: for monoenergetic fields at log-spaced energies, simulate the detector's
 * count-rate spectrum per unit fluence rate (responseSpectrum × face area) and fit G(E) = Σ a_k T_k(x), a
 * Chebyshev polynomial in ln E, by weighted least squares so that Σ_ch R(E_j, ch)·G(E_ch) reproduces the
 * ICRP 74 H*(10) rate h(E_j) of each field with minimum relative error. The G(E) is only as good as the
 * detector model it was fitted on; for a real instrument fit it on measured or Monte Carlo responses.
 */
export function buildGFunction(opts: BuildGOptions): GFunction {
  const det = opts.detector;
  checkDetector(det);
  const minE = opts.minEnergy_keV ?? 30;
  const maxE = opts.maxEnergy_keV ?? 3000;
  const nCal = opts.nCalibration ?? 48;
  const nChannels = opts.nChannels ?? 1024;
  const kpc = opts.keVPerChannel ?? 3.5;
  const lld = opts.lld_keV ?? 25;
  const degree = opts.degree ?? 10;
  const top = nChannels * kpc;
  if (!(minE >= 10 && maxE > minE && maxE <= Math.min(top, MAX_ENERGY_keV))) {
    throw new RangeError(`G(E) fit range ${minE}-${maxE} keV must lie within 10 keV and the channel grid top ${top} keV`);
  }
  if (!(lld > 0 && lld < minE)) throw new RangeError(`lld_keV must be > 0 and below minEnergy_keV, got ${lld}`);
  if (nCal <= degree) throw new RangeError(`nCalibration (${nCal}) must exceed the polynomial degree (${degree})`);

  const lnLo = Math.log(lld);
  const lnSpan = Math.log(top) - lnLo;
  const xOf = (E: number): number => Math.min(1, (2 * (Math.log(E) - lnLo)) / lnSpan - 1);

  // Basis values at each channel centre (zero below the discriminator).
  const K = degree + 1;
  const basis: Float64Array[] = [];
  const tmp = new Float64Array(K);
  for (let ch = 0; ch < nChannels; ch++) {
    const e = (ch + 0.5) * kpc;
    const row = new Float64Array(K);
    if (e >= lld) {
      chebyshev(xOf(e), degree, tmp);
      row.set(tmp);
    }
    basis.push(row);
  }

  const area = detectorFaceArea_cm2(det);
  const energies: number[] = [];
  const rows: number[][] = [];
  const targets: number[] = [];
  for (let j = 0; j < nCal; j++) {
    const E = minE * Math.pow(maxE / minE, j / (nCal - 1));
    const R = responseSpectrum(det, E, nChannels, kpc);
    const row = new Array<number>(K).fill(0);
    for (let ch = 0; ch < nChannels; ch++) {
      const r = R[ch] * area;
      if (r === 0) continue;
      const b = basis[ch];
      for (let k = 0; k < K; k++) row[k] += r * b[k];
    }
    energies.push(E);
    rows.push(row);
    targets.push(hStar10PerFluence_pSv_cm2(E) * pSv_s_TO_uSv_h);
  }

  // Relative weighting: each row divided by its target, so every field counts the same in per cent.
  const AtA = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  const Atb = new Array<number>(K).fill(0);
  for (let j = 0; j < nCal; j++) {
    const w = 1 / targets[j];
    for (let a = 0; a < K; a++) {
      Atb[a] += rows[j][a] * w * targets[j] * w;
      for (let b = 0; b < K; b++) AtA[a][b] += rows[j][a] * w * rows[j][b] * w;
    }
  }
  // A whisper of ridge keeps the high orders from fighting each other where the data do not constrain them.
  const ridge = 1e-10 * Math.max(...AtA.map((r, i) => r[i]));
  for (let k = 0; k < K; k++) AtA[k][k] += ridge;
  const coefficients = solveLinear(AtA, Atb);

  const values = new Float64Array(K);
  const evaluate = (E_keV: number): number => {
    if (!(E_keV >= lld)) return 0;
    chebyshev(xOf(E_keV), degree, values);
    let g = 0;
    for (let k = 0; k < K; k++) g += coefficients[k] * values[k];
    return g;
  };
  const calibration = energies.map((E, j) => {
    let h = 0;
    for (let k = 0; k < K; k++) h += rows[j][k] * coefficients[k];
    return { energy_keV: E, relError: h / targets[j] - 1 };
  });
  return { detector: det, evaluate, fitRange_keV: [minE, maxE], lld_keV: lld, coefficients, calibration };
}

export interface SpectrumDoseInput {
  counts: Float64Array;
  liveTime_s: number;
  /** Energy (keV) of the centre of channel `ch`. */
  energyOf(ch: number): number;
  /** The detector's G(E), (µSv/h) per (count/s). */
  g: GFunction | ((E_keV: number) => number);
}

/** H*(10) rate (µSv/h) from a measured spectrum: Σ_ch counts/live · G(E_ch). */
export function doseRateFromSpectrum_uSv_h(input: SpectrumDoseInput): number {
  const { counts, liveTime_s, energyOf } = input;
  if (!(liveTime_s > 0) || !Number.isFinite(liveTime_s)) throw new RangeError(`liveTime_s must be a finite time > 0, got ${liveTime_s}`);
  const g = typeof input.g === 'function' ? input.g : input.g.evaluate;
  let sum = 0;
  for (let ch = 0; ch < counts.length; ch++) {
    const c = counts[ch];
    if (c === 0) continue;
    sum += c * g(energyOf(ch));
  }
  return sum / liveTime_s;
}

// ------------------------------------------------------------------------------------------------
// GM counters

export interface GmTube {
  /** Count rate per unit H*(10) rate for the calibration nuclide. */
  sensitivity_cps_per_uSv_h: number;
  deadTime_s: number;
  note: string;
}

/**
 * SBM-20 (the common Soviet-made tube in hobby and low-cost survey meters): the conversion factor used
 * by most such meters is 0.0057 µSv/h per CPM (Cs-137), i.e. 175 CPM or 2.92 cps per µSv/h. The
 * manufacturer's data (22 cps per mR/h for Co-60, 29 cps per mR/h for Ra-226) give about 2.2 and 2.9 cps
 * per µSv/h, so take ±30 % for anything but Cs-137; GM tubes over-respond strongly below ~100 keV.
 * Dead time: about 190 µs as usually quoted (not verified here).
 */
export const SBM20: GmTube = {
  sensitivity_cps_per_uSv_h: 1 / (0.0057 * 60),
  deadTime_s: 190e-6,
  note: 'SBM-20, Cs-137 calibration convention 0.0057 µSv/h per CPM',
};

/** Non-paralysable dead-time correction: true rate n = m / (1 − m·τ). */
export function deadTimeCorrect(cps: number, tau_s: number): number {
  if (!(cps >= 0) || !Number.isFinite(cps)) throw new RangeError(`cps must be a finite count rate >= 0, got ${cps}`);
  if (!(tau_s >= 0) || !Number.isFinite(tau_s)) throw new RangeError(`tau_s must be a finite dead time >= 0, got ${tau_s}`);
  const loss = cps * tau_s;
  if (loss >= 1) {
    throw new RangeError(`count rate ${cps} cps with dead time ${tau_s} s saturates the counter (m·τ = ${loss.toFixed(3)} >= 1)`);
  }
  return cps / (1 - loss);
}

/** H*(10) rate (µSv/h) from a GM count rate; dead time corrected first when `deadTime_s` is given. */
export function gmDoseRate_uSv_h(cps: number, tube: { sensitivity_cps_per_uSv_h: number; deadTime_s?: number }): number {
  if (!(tube.sensitivity_cps_per_uSv_h > 0) || !Number.isFinite(tube.sensitivity_cps_per_uSv_h)) {
    throw new RangeError(`sensitivity_cps_per_uSv_h must be a finite number > 0, got ${tube.sensitivity_cps_per_uSv_h}`);
  }
  const n = deadTimeCorrect(cps, tube.deadTime_s ?? 0);
  return n / tube.sensitivity_cps_per_uSv_h;
}
