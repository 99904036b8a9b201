// Natural background without a measured background spectrum: whether the K-40, Ra-226-chain and Th-232-chain lines of an HPGe spectrum are in the proportions of soil and building materials (background) or one chain stands far above the others (a NORM load).
//
// Without a background spectrum every portal or room spectrum shows K-40 (1460.8 keV), the Ra-226 chain (Pb-214
// 351.9, Bi-214 609.3 / 1764.5 keV) and the Th-232 chain (Pb-212 238.6, Ac-228 911.2, Tl-208 583.2 / 2614.5 keV).
// Reporting them as NORM on every scan says nothing; what distinguishes potassium fertiliser, thorium welding rods or
// gas mantles, or a radium dial from the ground is that one chain is far out of the natural proportions. Each chain's
// activity is estimated from its lines as net area / (uncollided fluence per Bq/kg of soil 1 m below × full-energy
// efficiency) (library intensities, sim/natural.ts halfSpaceFluence, dose.ts photopeakEfficiency): the fluence per
// Bq/kg goes as 1/μ(E) of the ground, so a 1461 keV photon reaches the detector from deeper than a 352 keV one, which
// without the correction puts K-40 about 2× high against Ra-226. It is divided by the chain's typical soil activity
// (UNSCEAR 2000 world medians: 40K 400, 238U 35, 232Th 30 Bq/kg). Real sites differ from the medians by about ×3
// either way (and walls, radon and the detector's own shielding move the proportions), so a chain counts as a source
// only when it stands more than EXCESS_FACTOR above the median of the three; a chain below the others is never one.
// A chain without a line at ≥ 3σ enters with its upper limit (area + 2σ), so a lone K-40 peak in a long count with
// no U/Th lines is a source, while in a short count where U/Th lines could hide it is not.

import { type DetectorModel, photopeakEfficiency } from '../dose.js';
import { getNuclide } from '../nuclides.js';
import { halfSpaceFluence } from '../sim/natural.js';

/** Natural chains and the lines their rate is measured from (keV). */
export const NATURAL_CHAINS: Readonly<Record<NaturalChain, readonly number[]>> = {
  K40: [1460.822],
  Ra226: [351.932, 609.312, 1764.494],
  Th232: [238.632, 911.196, 583.187, 2614.511],
};

export type NaturalChain = 'K40' | 'Ra226' | 'Th232';

/** UNSCEAR 2000 world median soil activities, Bq/kg (40K; 238U, in equilibrium with Ra-226; 232Th). */
export const SOIL_MEDIAN_Bq_kg: Readonly<Record<NaturalChain, number>> = { K40: 400, Ra226: 35, Th232: 30 };

/** A chain more than this far above the median of the three (each over its soil median) is a NORM source. */
export const EXCESS_FACTOR = 4;

/** Relative systematic error of one line's efficiency-corrected rate (efficiency model, summing, attenuation). */
const LINE_SYSTEMATIC = 0.2;

export interface LineMeasurement {
  area: number;
  sigma: number;
}

export interface ChainRate {
  chain: NaturalChain;
  /** Soil-equivalent activity (Bq/kg × detector geometry, arbitrary unit), or its upper limit when not seen. */
  rate: number;
  /** A line of the chain stands at ≥ 3σ; otherwise `rate` is an upper limit. */
  seen: boolean;
  /** rate over the chain's soil median (SOIL_MEDIAN_Bq_kg). */
  normalised: number;
}

export interface NaturalAssessment {
  rates: ChainRate[];
  /** Median of the normalised rates: the natural level. */
  level: number;
  /** Chains far above the natural level (NORM sources), with how far (normalised / level). */
  excess: Map<NaturalChain, number>;
}

/**
 * Rates of the three natural chains from their lines. `lineArea(E)` gives the net full-energy area of the line at E
 * (a fitted peak's, or a fixed-energy measurement where none was found).
 */
export function assessNaturalChains(det: DetectorModel, lineArea: (E_keV: number) => LineMeasurement): NaturalAssessment {
  const rates: ChainRate[] = (Object.keys(NATURAL_CHAINS) as NaturalChain[]).map((chain) => {
    const lines = getNuclide(chain).lines;
    let sw = 0;
    let swr = 0;
    let upper = Infinity;
    for (const E of NATURAL_CHAINS[chain]) {
      const intensity = lines.filter((l) => Math.abs(l.energy_keV - E) < 0.5).reduce((s, l) => s + l.intensity, 0);
      const w = halfSpaceFluence(E, intensity, 1, 1) * photopeakEfficiency(det, E);
      if (!(w > 0)) continue;
      const m = lineArea(E);
      if (m.area >= 3 * m.sigma && m.sigma > 0) {
        const r = m.area / w;
        const v = (m.sigma / w) ** 2 + (LINE_SYSTEMATIC * r) ** 2;
        sw += 1 / v;
        swr += r / v;
      } else upper = Math.min(upper, (Math.max(0, m.area) + 2 * m.sigma) / w);
    }
    const seen = sw > 0;
    const rate = seen ? swr / sw : Number.isFinite(upper) ? upper : 0;
    return { chain, rate, seen, normalised: rate / SOIL_MEDIAN_Bq_kg[chain] };
  });
  const sorted = rates.map((r) => r.normalised).sort((a, b) => a - b);
  const level = sorted[1];
  const excess = new Map<NaturalChain, number>();
  for (const r of rates) if (r.seen && r.normalised > EXCESS_FACTOR * level) excess.set(r.chain, level > 0 ? r.normalised / level : Infinity);
  return { rates, level, excess };
}
