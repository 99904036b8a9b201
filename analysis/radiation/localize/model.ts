// Forward model of the localizer: expected counts of each detector from point sources (inverse square, air attenuation, buildup) over a per-detector background.

import { buildupLinear, mu_cm } from '../attenuation.js';
import { type DetectorModel, detectorFaceArea_cm2, fwhm_keV, photopeakEfficiency, responseSpectrum, totalEfficiency } from '../dose.js';
import { getNuclide } from '../nuclides.js';

/**
 * What the model needs to turn a source strength into counts: the attenuation of the line in air, whether scattered
 * photons count (buildup: yes for gross counts, no for a photopeak ROI, which scattered photons leave), and each
 * detector's efficiency relative to the reference detector whose counts at 1 m define `cps_at_1m`.
 */
export interface ForwardModel {
  energy_keV: number;
  /** Linear attenuation coefficient of air at energy_keV (1/m). */
  mu_per_m: number;
  buildup: 'none' | 'linear';
  /** Distances below this are taken as this (a point-source formula diverges where a real crystal does not). */
  minDistance_m: number;
  /** Efficiency of each detector (by id) relative to the reference detector; missing ids count as 1. */
  relEff: Record<string, number>;
}

export interface PointSource {
  x_m: number;
  y_m: number;
  z_m: number;
  /** Counts per second of the reference detector at 1 m (same window as the data). */
  cps_at_1m: number;
}

export const DEFAULT_MIN_DISTANCE_m = 0.3;

export function airMu_per_m(E_keV: number): number {
  return mu_cm('air', E_keV) * 100;
}

export function makeModel(opts: { energy_keV: number; buildup?: 'none' | 'linear'; relEff?: Record<string, number>; minDistance_m?: number }): ForwardModel {
  return {
    energy_keV: opts.energy_keV,
    mu_per_m: airMu_per_m(opts.energy_keV),
    buildup: opts.buildup ?? 'none',
    minDistance_m: opts.minDistance_m ?? DEFAULT_MIN_DISTANCE_m,
    relEff: opts.relEff ?? {},
  };
}

/**
 * Geometric kernel g(r) = exp(-mu (r - 1)) B(mu r) / (B(mu) r^2): the count rate at r per count rate at 1 m, and
 * d ln g / dr for the derivatives. Written out for speed (called millions of times by the grid).
 */
export function kernel(model: ForwardModel, r_m: number): { g: number; dlng_dr: number } {
  const clamped = r_m < model.minDistance_m;
  const r = clamped ? model.minDistance_m : r_m;
  const mu = model.mu_per_m;
  let g = Math.exp(-mu * (r - 1)) / (r * r);
  let d = -mu - 2 / r;
  if (model.buildup === 'linear') {
    g *= buildupLinear(mu * r) / buildupLinear(mu);
    d += mu / (1 + mu * r);
  }
  return { g, dlng_dr: clamped ? 0 : d };
}

/** Expected source count rate (cps) of a detector at a point from a set of sources. */
export function sourceRate(model: ForwardModel, detector: string, at: { x_m: number; y_m: number; z_m: number }, sources: readonly PointSource[]): number {
  const eff = model.relEff[detector] ?? 1;
  let s = 0;
  for (const src of sources) {
    const r = Math.hypot(at.x_m - src.x_m, at.y_m - src.y_m, at.z_m - src.z_m);
    s += src.cps_at_1m * kernel(model, r).g;
  }
  return s * eff;
}

/** The line of a nuclide the localizer counts: the one most counts fall into for a NaI detector (>= 50 keV). */
export function mainLine(nuclide: string, det?: DetectorModel): { energy_keV: number; intensity: number } {
  const lines = getNuclide(nuclide).lines.filter((l) => l.energy_keV >= 50);
  if (lines.length === 0) throw new RangeError(`nuclide ${nuclide} has no gamma line at or above 50 keV to localize with`);
  const score = (E: number, y: number): number => y * (det !== undefined ? photopeakEfficiency(det, E) : 1 / Math.sqrt(E));
  let best = lines[0];
  for (const l of lines) if (score(l.energy_keV, l.intensity) > score(best.energy_keV, best.intensity)) best = l;
  return best;
}

/** ROI half-width in FWHM of the line (+-1 FWHM keeps 98 % of a Gaussian peak and tolerates some gain drift). */
export const DEFAULT_ROI_FWHM = 1.0;

/** Energy window of the ROI for a line and detector resolution (keV). */
export function roiWindow(E_keV: number, det: DetectorModel | undefined, halfWidth_fwhm = DEFAULT_ROI_FWHM): [number, number] {
  const fwhm = det !== undefined ? fwhm_keV(det, E_keV) : 0.075 * Math.sqrt(661.657 * E_keV);
  return [E_keV - halfWidth_fwhm * fwhm, E_keV + halfWidth_fwhm * fwhm];
}

const FINE_keV = 0.5;
const effCache = new Map<string, number>();

/**
 * Absolute efficiency of a detector for a nuclide in an energy window: counts per second in [lo, hi] keV per decay
 * per second per cm^2 of (unattenuated) fluence geometry, i.e. sum over lines of intensity x face area x the
 * share of the detector response that lands in the window (photopeak plus the Compton continua of higher lines).
 */
export function windowEfficiency_cm2(det: DetectorModel, nuclide: string, lo_keV: number, hi_keV: number): number {
  const key = JSON.stringify([det.name, det.shape, det.fwhmAt662, nuclide, lo_keV.toFixed(3), hi_keV.toFixed(3)]);
  const hit = effCache.get(key);
  if (hit !== undefined) return hit;
  const area = detectorFaceArea_cm2(det);
  const n = Math.ceil(hi_keV / FINE_keV) + 2;
  let total = 0;
  for (const line of getNuclide(nuclide).lines) {
    // Lines well below the window put nothing in it; weak lines are below the accuracy of the response model anyway.
    if (line.energy_keV < lo_keV - 5 * fwhm_keV(det, lo_keV) || line.intensity < 0.002) continue;
    const resp = responseSpectrum(det, line.energy_keV, n, FINE_keV);
    let inWindow = 0;
    for (let ch = 0; ch < n; ch++) {
      const a = Math.max(ch * FINE_keV, lo_keV);
      const b = Math.min((ch + 1) * FINE_keV, hi_keV);
      if (b > a) inWindow += (resp[ch] * (b - a)) / FINE_keV;
    }
    total += line.intensity * inWindow;
  }
  const eff = total * area;
  effCache.set(key, eff);
  return eff;
}

/** Gross-count efficiency (counts per photon per cm^2 x area) at an energy, used when no ROI is counted. */
export function grossEfficiency_cm2(det: DetectorModel, E_keV: number): number {
  return totalEfficiency(det, E_keV) * detectorFaceArea_cm2(det);
}

/**
 * Activity (Bq) of a source whose window counts at 1 m in the reference detector are cps_at_1m:
 * cps_at_1m = A x eff / (4 pi (100 cm)^2) x exp(-mu x 1 m).
 */
export function activityFromCps(cps_at_1m: number, refEff_cm2: number, model: ForwardModel): number {
  return (cps_at_1m * 4 * Math.PI * 1e4 * Math.exp(model.mu_per_m)) / refEff_cm2;
}
