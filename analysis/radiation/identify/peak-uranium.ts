// Uranium enrichment on a high-resolution spectrum: U-235 185.7 keV against U-238's Pa-234m 1001 keV (Th-234 63.3 keV as a check), as decays seen.
//
// On HPGe both lines stand as peaks of their own, so the enrichment is measured, not only "natural or enriched":
// the activity ratio r = U-235/U-238 from the two full-energy areas, each divided by its intensity and the
// detector's relative full-energy efficiency (the geometry cancels), against natural uranium's 0.046. The atom
// ratio is r·T½(U-235)/T½(U-238), hence the weight per cent. Self-absorption in a thick piece lowers 186 keV more
// than 1001 keV (HPGe codes such as FRAM/MGAU correct it with more lines; this does not), so a thick piece of natural
// uranium reads slightly depleted here, never enriched: the error is in the safe direction for SNM.

import { type DetectorModel, photopeakEfficiency } from '../dose.js';
import { type UraniumAssessment, NATURAL_U235_ACTIVITY_RATIO } from './uranium.js';

const U235_HALF_LIFE_a = 7.04e8;
const U238_HALF_LIFE_a = 4.468e9;
const I_186 = 0.57;
const I_1001 = 0.00847;
const I_63 = 0.0375;
/** Relative systematic error of the efficiency ratio 186/1001 keV (detector model, geometry). */
const EFFICIENCY_RATIO_SYSTEMATIC = 0.15;
/** Enriched above 1.3× natural (≈ 0.95 % U-235), depleted below 0.7× (≈ 0.5 %), each at 2σ. */
const ENRICHED_FACTOR = 1.3;
const DEPLETED_FACTOR = 0.7;
const MIN_186_SIGNIFICANCE = 4;

export type EnrichmentVerdict = 'enriched' | 'natural' | 'depleted' | 'not-confirmed';

export interface LineArea {
  area: number;
  sigma: number;
}

export interface EnrichmentResult {
  verdict: EnrichmentVerdict;
  /** U-235 / U-238 activity ratio and its 1σ error; undefined when 1001 keV is not measured (upper bound only). */
  activityRatio?: { value: number; sigma: number };
  /** Lower bound (2σ) of the activity ratio when 1001 keV is not seen. */
  activityRatioLower?: number;
  /** U-235 weight per cent from the activity ratio. */
  enrichment_wtPct?: number;
  assessment: UraniumAssessment;
}

function wtPct(activityRatio: number): number {
  const atom = activityRatio * (U235_HALF_LIFE_a / U238_HALF_LIFE_a);
  return (100 * 235 * atom) / (235 * atom + 238);
}

const r1 = (v: number): number => Math.round(v * 10) / 10;
const r4 = (v: number): number => Math.round(v * 1e4) / 1e4;

/** Enrichment verdict from the net full-energy areas at 185.7, 1001.0 and 63.3 keV. */
export function uraniumEnrichment(det: DetectorModel, a186: LineArea, a1001: LineArea, a63: LineArea): EnrichmentResult {
  const z186 = a186.area / a186.sigma;
  const d5 = a186.area / (I_186 * photopeakEfficiency(det, 185.72));
  const d5s = a186.sigma / (I_186 * photopeakEfficiency(det, 185.72));
  if (!(a186.sigma > 0)) throw new RangeError(`a186.sigma: expected > 0, got ${a186.sigma}`);
  const k1001 = 1 / (I_1001 * photopeakEfficiency(det, 1001.026));
  const k63 = 1 / (I_63 * photopeakEfficiency(det, 63.3));
  const natural = NATURAL_U235_ACTIVITY_RATIO;
  // U-238 decays from each line; the larger 2σ upper bound counts (63 keV is absorbed in thick pieces, 1001 keV is weak).
  const d8 = Math.max(0, a1001.area) * k1001;
  const d8s = a1001.sigma * k1001;
  const d8Upper = Math.max(Math.max(0, a1001.area + 2 * a1001.sigma) * k1001, Math.max(0, a63.area + 2 * a63.sigma) * k63);
  const e186 = I_186 * photopeakEfficiency(det, 185.72);
  const natural186 = { netCounts: r1(Math.max(d8, Math.max(0, a63.area) * k63) * natural * e186), upper: r1(d8Upper * natural * e186) };
  const base = {
    line186: { energy_keV: 185.72, netCounts: r1(a186.area), sigma: r1(a186.sigma), significance: r1(z186) },
    naturalExpected186: natural186,
    u238Lines: [
      { energy_keV: 63.3, netCounts: r1(a63.area), sigma: r1(a63.sigma) },
      { energy_keV: 1001.026, netCounts: r1(a1001.area), sigma: r1(a1001.sigma) },
    ],
    enrichmentMeasurable: true,
  };
  if (!(z186 >= MIN_186_SIGNIFICANCE)) {
    const reason = `185.7 keV line at ${r1(z186)} σ (< ${MIN_186_SIGNIFICANCE} σ): U-235 not confirmed, enrichment not measured`;
    return { verdict: 'not-confirmed', assessment: { verdict: 'not-confirmed', ...base, reason } };
  }
  if (a1001.area >= 3 * a1001.sigma) {
    const r = d5 / d8;
    const sigma = r * Math.sqrt((d5s / d5) ** 2 + (d8s / d8) ** 2 + EFFICIENCY_RATIO_SYSTEMATIC ** 2);
    const pct = wtPct(r);
    const shown = `U-235/U-238 activity ratio ${r4(r)} ± ${r4(sigma)} (natural ${natural}), about ${Math.round(pct * 100) / 100} wt% U-235`;
    if (r - 2 * sigma > ENRICHED_FACTOR * natural) {
      return { verdict: 'enriched', activityRatio: { value: r, sigma }, enrichment_wtPct: pct, assessment: { verdict: 'enriched', ...base, reason: `${shown}: enriched uranium` } };
    }
    const verdict = r + 2 * sigma < DEPLETED_FACTOR * natural ? 'depleted' : 'natural';
    return {
      verdict,
      activityRatio: { value: r, sigma },
      enrichment_wtPct: pct,
      assessment: { verdict: 'natural-or-depleted', ...base, reason: `${shown}: ${verdict} uranium, NORM` },
    };
  }
  // 1001 keV not seen: only a lower bound on the ratio.
  const lower = d8Upper > 0 ? Math.max(0, d5 - 2 * d5s) / d8Upper : Infinity;
  if (lower > ENRICHED_FACTOR * natural) {
    const shown = Number.isFinite(lower) ? `U-235/U-238 activity ratio at least ${r4(lower)} (natural ${natural})` : 'no U-238 seen at all';
    return { verdict: 'enriched', activityRatioLower: lower, assessment: { verdict: 'enriched', ...base, reason: `185.7 keV ${r1(a186.area)} ± ${r1(a186.sigma)} counts, 1001 keV not seen; ${shown}: enriched uranium` } };
  }
  return {
    verdict: 'not-confirmed',
    activityRatioLower: lower,
    assessment: { verdict: 'not-confirmed', ...base, reason: `1001 keV (Pa-234m) not seen and 185.7 keV too weak to exclude natural uranium: enrichment not determined, not reported as SNM` },
  };
}
