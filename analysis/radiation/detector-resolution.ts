// The detector class (HPGe, LaBr3, scintillator) of a spectrum from the widths of its own peaks, for files that name no detector.
//
// Many lab HPGe SPE files carry no detector words at all; fitting them with NaI-2x2 templates explains a 0.3 %-wide
// line with a 7 %-wide template and the identification goes wrong. The resolution is the crystal's fingerprint:
// HPGe about 0.2-0.5 % FWHM at 662 keV, LaBr3 about 2.5-3.5 %, CsI/NaI 6-10 %. The peaks are searched at several trial
// widths (a matched filter only finds peaks near its own width), each is fitted, and a fit is kept only where the
// width it converged to agrees with the trial it was found at and the Gaussian describes the data. Widths are scaled
// to 662 keV as √E (exact only for a statistics-limited scintillator; for HPGe the electronic noise makes low-energy
// peaks relatively wider, which only moves HPGe towards the LaBr side, never across the 1.5 % line for a real one).

import { energyOf, keVPerChannelAt } from './calibration.js';
import { createPeakSearch, type PeakFit } from './peaks.js';
import type { EnergyCalibration } from './spectrum.js';

const E662 = 661.657;

/** Trial relative FWHM at 662 keV the peaks are searched at (a factor ~2 apart, from HPGe to a small CsI). */
const TRIAL_RESOLUTIONS = [0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.14] as const;

export interface ResolutionOptions {
  /** Significance (filter sigmas) a peak needs to be measured. Default 10: widths of weak peaks are noise. */
  threshold?: number;
  /** Lowest energy of a peak used, keV (default 40: below it x-ray clusters and the threshold edge). */
  minEnergy_keV?: number;
  /** How many of the strongest peaks are combined (default 5). */
  maxPeaks?: number;
}

export interface PeakResolution {
  /** Median relative FWHM of the peaks, scaled to 662 keV as √E (0.0031 = 0.31 %). */
  fwhmAt662: number;
  /** Number of peaks measured. */
  peaks: number;
  /** Energies of those peaks, keV, strongest first. */
  energies_keV: number[];
}

interface Measured {
  energy_keV: number;
  rel662: number;
  /** Area over its uncertainty: how much the width measurement can be trusted. */
  strength: number;
  fwhm_ch: number;
}

/**
 * Relative FWHM at 662 keV measured on the strongest well-fitted peaks of a spectrum, or undefined when no peak is
 * strong and clean enough (a background-only or nearly empty spectrum says nothing about the crystal).
 */
export function resolutionFromPeaks(counts: ArrayLike<number>, calibration: EnergyCalibration, opts: ResolutionOptions = {}): PeakResolution | undefined {
  const n = counts.length;
  if (n < 16) return undefined;
  const threshold = opts.threshold ?? 10;
  const minE = opts.minEnergy_keV ?? 40;
  const maxPeaks = opts.maxPeaks ?? 5;
  const found: Measured[] = [];
  for (const r of TRIAL_RESOLUTIONS) {
    // The filter needs a few channels to have a shape: widths under 1.5 channels are searched at 1.5.
    const trialCh = (ch: number): number => {
      const x = Math.max(ch, 0.5);
      const E = Math.max(energyOf(calibration, x), 1);
      return Math.max(1.5, (r * Math.sqrt(E662 * E)) / Math.max(keVPerChannelAt(calibration, x), 1e-9));
    };
    let peaks;
    try {
      peaks = createPeakSearch({ nChannels: n, fwhm_ch: trialCh, threshold, calibration }).search(counts);
    } catch {
      // A calibration that is not monotonic over the whole grid (fitted from peaks) gives no usable widths at this trial.
      continue;
    }
    for (const p of peaks) {
      const f = p.fit;
      if (f === undefined || p.energy_keV === undefined || p.energy_keV < minE) continue;
      const trial = p.fwhmExpected_ch;
      if (!acceptable(f, trial)) continue;
      const kpc = keVPerChannelAt(calibration, f.centroid_ch);
      const E = energyOf(calibration, f.centroid_ch);
      if (!(kpc > 0) || !(E > 0)) continue;
      const fwhm_keV = f.fwhm_ch * kpc;
      found.push({ energy_keV: E, rel662: fwhm_keV / Math.sqrt(E662 * E), strength: f.area / f.areaSigma, fwhm_ch: f.fwhm_ch });
    }
  }
  if (found.length === 0) return undefined;
  // One peak found at several trials: keep its strongest (best-determined) fit.
  found.sort((a, b) => b.strength - a.strength);
  const kept: Measured[] = [];
  for (const m of found) {
    const kpc = keVPerChannelAt(calibration, Math.max(0.5, m.fwhm_ch));
    const dup = kept.some((k) => Math.abs(k.energy_keV - m.energy_keV) < Math.max(k.fwhm_ch, m.fwhm_ch, 1) * Math.max(kpc, 1e-9));
    if (!dup) kept.push(m);
    if (kept.length >= maxPeaks) break;
  }
  const rel = kept.map((k) => k.rel662).sort((a, b) => a - b);
  const mid = rel.length >> 1;
  const median = rel.length % 2 ? rel[mid]! : (rel[mid - 1]! + rel[mid]!) / 2;
  return { fwhmAt662: median, peaks: kept.length, energies_keV: kept.map((k) => Number(k.energy_keV.toFixed(1))) };
}

/**
 * A fit whose width stayed near the trial it was found at (else the peak belongs to another trial, or the fit ran
 * off to the continuum), with a clear area and a Gaussian that describes the window: isolated peaks only, since a
 * doublet fitted as one Gaussian reads wide.
 */
function acceptable(f: PeakFit, trial_ch: number): boolean {
  const ratio = f.fwhm_ch / trial_ch;
  // At the 1.5-channel floor a narrower peak cannot be seen to be narrower: allow it.
  const lowOk = trial_ch <= 1.5 ? f.fwhm_ch > 0.3 : ratio > 0.6;
  if (!lowOk || ratio > 1.7) return false;
  if (!(f.area > 0) || !(f.areaSigma > 0) || f.area / f.areaSigma < 8) return false;
  if (!(f.fwhmSigma_ch < 0.25 * f.fwhm_ch)) return false;
  // A Gaussian is never exact at high counts (tails, a scintillator's non-linearity): allow a 5 % shape misfit, whose
  // χ²/ndf grows with the peak height, so the strongest peaks (the best widths) are not the ones thrown away.
  const height = f.area / (1.0645 * f.fwhm_ch);
  return f.ndf > 0 && f.chi2 / f.ndf < 4 + 0.0025 * height;
}

export interface ResolutionChoice {
  /** A name from `responses`, or undefined: keep the scintillator default. */
  model?: string;
  /** "peak widths 0.31 % FWHM at 662 keV (3 peaks) → HPGe_40p". */
  reason: string;
  /** The class the width falls in. */
  crystal: 'HPGe' | 'LaBr3' | 'scintillator';
}

/** Relative FWHM at 662 keV below which a spectrum is a semiconductor's, and the LaBr3 band. */
export const HPGE_MAX_FWHM = 0.015;
export const LABR_FWHM_BAND: readonly [number, number] = [0.025, 0.04];

/**
 * The response to use for a measured resolution: HPGe under 1.5 % (the largest HPGe description, a lab or portal
 * detector more often than not), LaBr3 between 2.5 and 4 % (LaBr_10p when present, else the largest), else none.
 */
export function modelFromResolution(res: PeakResolution, responses: readonly string[]): ResolutionChoice {
  const pct = `${(res.fwhmAt662 * 100).toFixed(2)} % FWHM at 662 keV (${res.peaks} peak${res.peaks === 1 ? '' : 's'})`;
  const largest = (pattern: RegExp, prefer?: string): string | undefined => {
    const opts = responses.flatMap((name) => {
      const m = pattern.exec(name);
      return m ? [{ name, eff: Number(m[1]) }] : [];
    });
    if (prefer !== undefined && opts.some((o) => o.name === prefer)) return prefer;
    return opts.sort((a, b) => b.eff - a.eff)[0]?.name;
  };
  if (res.fwhmAt662 < HPGE_MAX_FWHM) {
    const model = largest(/^HPGe_(\d+)p$/i);
    return model ? { model, crystal: 'HPGe', reason: `peak widths ${pct} → ${model}` } : { crystal: 'HPGe', reason: `peak widths ${pct} look like HPGe, no HPGe description loadable` };
  }
  if (res.fwhmAt662 >= LABR_FWHM_BAND[0] && res.fwhmAt662 <= LABR_FWHM_BAND[1]) {
    const model = largest(/^LaBr_(\d+)p$/i, 'LaBr_10p');
    return model ? { model, crystal: 'LaBr3', reason: `peak widths ${pct} → ${model}` } : { crystal: 'LaBr3', reason: `peak widths ${pct} look like LaBr3, no LaBr description loadable` };
  }
  return { crystal: 'scintillator', reason: `peak widths ${pct}: a scintillator` };
}
