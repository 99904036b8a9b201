// Natural or enriched uranium: the U-235 185.7 keV line weighed against the U-238 chain seen in the same spectrum.
//
// ANSI N42.34 / IEC 62327 put natural and depleted uranium (ore, uranium glass and glazes, DU) under NORM; only
// enriched uranium is SNM. A template fit alone cannot tell them apart: natural uranium shows U-235 too (activity
// ratio 0.046), and every piece of uranium glass then "contains U-235". So a U-235 call stays SNM only when
//  1. its 185.7 keV line is there with significance (net counts in ±½ FWHM over the fit of everything but
//     uranium), and
//  2. those counts are more than the U-238 chain of the same spectrum explains at the natural ratio: U-238 is
//     measured through Th-234 63.3 keV and Pa-234m 1001.0 keV, each converted to decays seen through the
//     detector's full-energy efficiency, and the largest 2σ upper bound of the two is taken (63 keV is absorbed in
//     thick ore or glass, 1001 keV is weak on a small crystal: either can under-read, so the larger one counts).
// Th-234's 92.4/92.8 keV lines are not used: U-235's own Th K x-rays (89.9-93.4 keV) sit on them.
// On a scintillator this only separates "natural or depleted" from "clearly enriched"; the enrichment itself (a
// percentage) needs the resolution of HPGe, so the result says "not measurable" rather than giving a number.

import { type DetectorModel, fwhm_keV, photopeakEfficiency } from '../dose.js';
import { getNuclide } from '../nuclides.js';

/** U-235 / U-238 activity ratio of natural uranium (0.7204 atom % U-235). */
export const NATURAL_U235_ACTIVITY_RATIO = 0.046;
/** Significance the 185.7 keV line needs before U-235 can be SNM. */
export const LINE_186_MIN_SIGNIFICANCE = 4;
const U235_LINE_keV = 185.72;
const U238_LINES_keV = [63.3, 1001.026];

export type UraniumVerdict = 'enriched' | 'natural-or-depleted' | 'not-confirmed';

export interface LineCounts {
  energy_keV: number;
  /** Net counts in ±½ FWHM (76 % of a Gaussian peak) over the fit without uranium. */
  netCounts: number;
  sigma: number;
}

export interface UraniumAssessment {
  verdict: UraniumVerdict;
  line186: LineCounts & { significance: number };
  /** 185.7 keV counts that natural uranium would give with the U-238 chain seen: central and 2σ upper bound. */
  naturalExpected186: { netCounts: number; upper: number };
  u238Lines: LineCounts[];
  /** False on scintillators: natural and depleted (or slightly enriched) cannot be told apart. */
  enrichmentMeasurable: boolean;
  reason: string;
}

export interface UraniumInput {
  detector: DetectorModel;
  /** Counts of the fit channels. */
  y: ArrayLike<number>;
  /** Fitted model without the uranium nuclides, same channels. */
  mu: ArrayLike<number>;
  /** Centre energy (keV) of each fit channel, gain applied. */
  energies: ArrayLike<number>;
  /** Fit dispersion (≥ 1): Poisson errors are inflated by its square root. */
  dispersion: number;
}

function lineCounts(o: UraniumInput, e0: number): LineCounts {
  const half = 0.5 * fwhm_keV(o.detector, e0);
  let net = 0;
  let variance = 0;
  for (let i = 0; i < o.energies.length; i++) {
    if (Math.abs(o.energies[i] - e0) > half) continue;
    net += o.y[i] - o.mu[i];
    variance += Math.max(o.y[i], o.mu[i]);
  }
  return { energy_keV: e0, netCounts: net, sigma: Math.sqrt(Math.max(variance, 1) * Math.max(1, o.dispersion)) };
}

/**
 * Full-energy counts per decay of `id` that fall in the ±½ FWHM window at e0: every line of the nuclide, each by
 * the share of its Gaussian peak inside the window (on NaI U-235's 163, 202 and 205 keV lines reach the 186 keV
 * window; leaving them out would make natural uranium look ~20 % enriched at high counts).
 */
function windowYield(det: DetectorModel, id: string, e0: number): number {
  const half = 0.5 * fwhm_keV(det, e0);
  let sum = 0;
  for (const l of getNuclide(id).lines) {
    const sigma = fwhm_keV(det, l.energy_keV) / 2.3548;
    const share = normalCdf((e0 + half - l.energy_keV) / sigma) - normalCdf((e0 - half - l.energy_keV) / sigma);
    if (share > 1e-4) sum += l.intensity * photopeakEfficiency(det, l.energy_keV) * share;
  }
  return sum;
}

// Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): plenty for window shares.
function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const k = 1 / (1 + 0.3275911 * x);
  const erf = 1 - ((((1.061405429 * k - 1.453152027) * k + 1.421413741) * k - 0.284496736) * k + 0.254829592) * k * Math.exp(-x * x);
  return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/** Whether the uranium in a spectrum is enriched (SNM), natural or depleted (NORM), or U-235 is not confirmed. */
export function assessUranium(o: UraniumInput): UraniumAssessment {
  const l186 = lineCounts(o, U235_LINE_keV);
  const z186 = l186.netCounts / l186.sigma;
  const perDecay186 = NATURAL_U235_ACTIVITY_RATIO * windowYield(o.detector, 'U235', U235_LINE_keV);
  const u238Lines = U238_LINES_keV.map((e) => lineCounts(o, e));
  let central = 0;
  let upper = 0;
  for (const l of u238Lines) {
    // U-238 decays seen (times the geometry, which cancels) from this line alone.
    const k = 1 / windowYield(o.detector, 'U238', l.energy_keV);
    central = Math.max(central, Math.max(0, l.netCounts) * k);
    upper = Math.max(upper, Math.max(0, l.netCounts + 2 * l.sigma) * k);
  }
  const naturalExpected186 = { netCounts: central * perDecay186, upper: upper * perDecay186 };
  const enrichmentMeasurable = false; // every response model here is a scintillator (NaI, CsI)
  const round = (v: number): number => Math.round(v * 10) / 10;
  const shown = { energy_keV: l186.energy_keV, netCounts: round(l186.netCounts), sigma: round(l186.sigma), significance: round(z186) };
  const base = { line186: shown, naturalExpected186: { netCounts: round(naturalExpected186.netCounts), upper: round(naturalExpected186.upper) }, u238Lines: u238Lines.map((l) => ({ ...l, netCounts: round(l.netCounts), sigma: round(l.sigma) })), enrichmentMeasurable };
  if (!(z186 >= LINE_186_MIN_SIGNIFICANCE)) {
    return { verdict: 'not-confirmed', ...base, reason: `185.7 keV line at ${shown.significance} σ (< ${LINE_186_MIN_SIGNIFICANCE} σ): U-235 not confirmed, not reported as SNM` };
  }
  if (l186.netCounts - 2 * l186.sigma > naturalExpected186.upper) {
    return {
      verdict: 'enriched',
      ...base,
      reason: `185.7 keV: ${shown.netCounts} ± ${shown.sigma} net counts, more than natural uranium gives with the U-238 chain seen (at most ${base.naturalExpected186.upper}): enriched uranium`,
    };
  }
  return {
    verdict: 'natural-or-depleted',
    ...base,
    reason: `185.7 keV: ${shown.netCounts} ± ${shown.sigma} net counts, within what natural uranium gives with the U-238 chain seen (up to ${base.naturalExpected186.upper}): natural or depleted uranium, NORM`,
  };
}
