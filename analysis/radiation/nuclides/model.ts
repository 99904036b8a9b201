// Shapes, units and row helpers of the nuclide library (analysis/radiation/nuclides.ts assembles the tables).

export type NuclideCategory = 'industrial' | 'medical' | 'NORM' | 'SNM';

export interface GammaLine {
  energy_keV: number;
  /** Photons per decay of the (head) nuclide, daughters in equilibrium included. */
  intensity: number;
  /**
   * The nuclide that emits the photon, where it is not the head of the entry (a daughter of a chain, a
   * component of a mixture), e.g. 'Tl-208' in the Th-232 chain. Absent: the head itself.
   */
  emitter?: string;
}

/** One isotope of a mixture entry (reactor-grade plutonium), as assumed when its lines were computed. */
export interface MixtureComponent {
  /** Label, e.g. 'Pu-241'. */
  nuclide: string;
  /** Mass fraction of the mixture's heavy metal at separation (Am-241 ingrowth: 0 at separation). */
  massFraction: number;
  /** Activity per decay of the entry's head nuclide at the assumed age. */
  activityPerHeadDecay: number;
}

export interface NuclideData {
  /** Identifier without dash, e.g. 'Cs137'. */
  name: string;
  /** Human label, e.g. 'Cs-137'. */
  label: string;
  category: NuclideCategory;
  /** Half-life of the head of the chain; in secular equilibrium the whole chain decays with it. */
  halfLife_s: number;
  lines: GammaLine[];
  notes?: string;
  /** Evaluations the numbers come from (DDEP "Recommended Data" or ENSDF/NuDat, with the evaluation). */
  source: string;
  /**
   * What the lines assume beyond the nuclide itself: equilibrium of a chain, an isotopic composition and
   * age, an impurity. Absent for a single nuclide measured as it is.
   */
  assumptions?: string;
  /** Mixture entries only: the assumed composition behind `lines`. */
  composition?: readonly MixtureComponent[];
  /**
   * Lines that usually come with the nuclide but depend on its history (an impurity's daughters), per
   * decay of the head under `assumptions`; not part of `lines`, so templates and dose leave them out.
   */
  companionLines?: GammaLine[];
}

// The tropical year, as DDEP converts years to seconds (Co-60: 5.2711 a = 166.340E6 s).
export const YEAR_s = 365.2422 * 86400;
export const DAY_s = 86400;
export const HOUR_s = 3600;
export const MINUTE_s = 60;

export type Row = [energy_keV: number, intensityPercent: number];

/** Rows in percent per decay of their emitter -> lines per decay of the head (factor = emitter decays per head decay). */
export function lines(rows: Row[], factor = 1, emitter?: string): GammaLine[] {
  return rows.map(([energy_keV, percent]) =>
    emitter === undefined ? { energy_keV, intensity: (percent / 100) * factor } : { energy_keV, intensity: (percent / 100) * factor, emitter },
  );
}

export function sorted(parts: GammaLine[][]): GammaLine[] {
  return parts.flat().sort((a, b) => a.energy_keV - b.energy_keV);
}

/** Annihilation photons: two per positron, assuming every positron stops and annihilates near the source. */
export const ANNIHILATION_keV = 511;
