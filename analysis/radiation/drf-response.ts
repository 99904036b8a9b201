// The response of a real detector as a GADRAS-style description gives it: the FWHM(E) law and the tabulated efficiencies.
//
// Kept apart from drf.ts (the parsers and the mapping onto DetectorModel, which import dose.ts) so that dose.ts can
// name these types later without an import cycle. Pure: no I/O. The conventions are documented in
// docs/detector-responses.md.

/** Crystal of a detector description: from the folder name, else from its resolution (see drf.ts). */
export type DrfMaterial = 'NaI' | 'LaBr3' | 'HPGe';
export const DRF_MATERIALS: readonly DrfMaterial[] = ['NaI', 'LaBr3', 'HPGe'];

/**
 * GADRAS resolution parameters (Detector.dat parameters 6, 7, 8). Units as GADRAS gives them: the offset in keV,
 * the resolution at 661 keV in % FWHM (of 661 keV, not of 661.657).
 */
export interface GadrasResolution {
  /** Parameter 6, "res. @ E=0 (keV)": > 0 an offset added in quadrature; < 0 bends the power law below 661 keV. */
  offset_keV: number;
  /** Parameter 7, "% FWHM @ 661 keV". */
  fwhmAt661_pct: number;
  /** Parameter 8, "resolution power": FWHM ∝ E^power above 661 keV. */
  power: number;
}

/** Efficiency.csv as fractions (the file gives %), per photon incident on the detector face. */
export interface EfficiencyTable {
  /** Strictly increasing. */
  energy_keV: readonly number[];
  /** "Peak": intrinsic full-energy-peak efficiency. */
  peak: readonly number[];
  /**
   * "PTOT": counts in the whole spectrum per photon incident on the face. Not a probability: it exceeds 1 where
   * photons scattered into the crystal by the attenuator and surroundings (the description's "clutter") add
   * counts, e.g. 1.59 at 40 keV for NaI 3x3. Peak / PTOT is the description's peak-to-total ratio.
   */
  total: readonly number[];
  /** "SE" and "DE": single and double escape peaks of pair production (0 below 1022 keV). */
  singleEscape: readonly number[];
  doubleEscape: readonly number[];
}

export interface DrfResponse {
  /** The description's name: its folder's name ("NaI_3x3"). */
  name: string;
  material: DrfMaterial;
  resolution: GadrasResolution;
  /**
   * The front face: parameter 11 "det. width" and width × parameter 12 "height/width". The face is a rectangle of
   * this size: the description's own "solid angle (%)" (parameter 9) is the solid angle of that rectangle on its
   * axis at "distance" + "det setback" (NaI 2x2: 4.5 cm square at 10 cm, 1.5344 %; NaI 3x3: 6.35 cm at 122.3 cm,
   * 0.02144 %), and 4.5 cm is the side of a square with the area of a 2-inch disc.
   */
  face: { width_cm: number; height_cm: number };
  /** Parameter 10 "det. length (cm)"; undefined where the file gives 0 (HPGe 40 %). */
  length_cm: number | undefined;
  /** Parameter 17 "distance (cm)" plus parameter 40 "det setback (cm)": where the efficiencies were computed. */
  distance_cm: number;
  efficiency: EfficiencyTable;
}

/** The energy GADRAS anchors its resolution at (keV); 6.61 in its formulas is 1 % of it. */
export const GADRAS_RESOLUTION_ANCHOR_keV = 661;

// With a negative offset the law below 661 keV is a pure power of E and goes to 0 at 0 keV, which no crystal does;
// below this energy the width is held at its value here (InterSpec does the same for its generic detectors).
const NEGATIVE_OFFSET_FLOOR_keV = 30;

/**
 * FWHM (keV) at E_keV by the GADRAS law, with R = 6.61·fwhmAt661_pct keV the width at 661 keV and x = E/661:
 * - E ≥ 661 keV, or offset 0: R·x^power (so FWHM%(E) = fwhmAt661_pct·x^(power−1));
 * - offset a < 0 (NaI): R·x^p with p = power^(1/ln(1−a)), E held at ≥ 30 keV;
 * - offset a > 0 (HPGe, LaBr3): √(a² + (R² − a²)·x^(2·power)), or a where a > R.
 * Continuous at 661 keV in every branch.
 */
export function gadrasFwhm_keV(r: GadrasResolution, E_keV: number): number {
  const a = r.offset_keV;
  const R = (GADRAS_RESOLUTION_ANCHOR_keV / 100) * r.fwhmAt661_pct;
  if (E_keV >= GADRAS_RESOLUTION_ANCHOR_keV || a === 0) return R * Math.pow(E_keV / GADRAS_RESOLUTION_ANCHOR_keV, r.power);
  if (a < 0) {
    const p = Math.pow(r.power, 1 / Math.log(1 - a));
    return R * Math.pow(Math.max(E_keV, NEGATIVE_OFFSET_FLOOR_keV) / GADRAS_RESOLUTION_ANCHOR_keV, p);
  }
  if (a > R) return a;
  const slope = Math.sqrt(R * R - a * a) * Math.pow(E_keV / GADRAS_RESOLUTION_ANCHOR_keV, r.power);
  return Math.sqrt(a * a + slope * slope);
}

/** Relative resolution FWHM/E at E_keV. */
export function drfRelativeFwhm(drf: DrfResponse, E_keV: number): number {
  return gadrasFwhm_keV(drf.resolution, E_keV) / E_keV;
}

/**
 * A column of the efficiency table at E_keV: linear in ln E between the tabulated energies (the table is dense,
 * 5-100 keV apart below 3 MeV). RangeError outside the table.
 */
export function interpolateEfficiency(table: EfficiencyTable, column: readonly number[], E_keV: number): number {
  const xs = table.energy_keV;
  const n = xs.length;
  if (!(E_keV >= xs[0]! && E_keV <= xs[n - 1]!)) {
    throw new RangeError(`energy ${E_keV} keV is outside the efficiency table ${xs[0]}-${xs[n - 1]} keV`);
  }
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (xs[mid]! <= E_keV) lo = mid;
    else hi = mid;
  }
  if (xs[lo] === E_keV || lo === hi) return column[lo]!;
  const f = Math.log(E_keV / xs[lo]!) / Math.log(xs[hi]! / xs[lo]!);
  return column[lo]! + f * (column[hi]! - column[lo]!);
}

/** Intrinsic full-energy-peak efficiency at E_keV (fraction of the photons incident on the face). */
export function drfPeakEfficiency(drf: DrfResponse, E_keV: number): number {
  return interpolateEfficiency(drf.efficiency, drf.efficiency.peak, E_keV);
}

/** Face area (cm²) of the description. */
export function drfFaceArea_cm2(drf: DrfResponse): number {
  return drf.face.width_cm * drf.face.height_cm;
}

/**
 * Solid angle (sr) of the face seen on its axis from distance_cm (a rectangle a × b at d:
 * 4·asin(a·b / √((a² + 4d²)(b² + 4d²)))). The description's parameter 9 is this over 4π, in %.
 */
export function drfSolidAngle_sr(drf: DrfResponse, distance_cm: number): number {
  const { width_cm: a, height_cm: b } = drf.face;
  const d2 = 4 * distance_cm * distance_cm;
  return 4 * Math.asin((a * b) / Math.sqrt((a * a + d2) * (b * b + d2)));
}
