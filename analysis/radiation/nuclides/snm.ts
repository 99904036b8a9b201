// Uranium and special nuclear material of the library (natural and depleted uranium are NORM, see U-238).

import { BI212_TO_TL208, th228Chain } from './chains.js';
import { type NuclideData, YEAR_s, lines, sorted } from './model.js';
import { PU239_ROWS, REACTOR_GRADE, plutoniumMixture } from './plutonium.js';

// U-232 in U-233: an assumed 5 ppm by mass (U-233 bred from Th-232 carries a few to a few hundred ppm), aged
// 10 years since the last purification, so Th-228 has regrown to transient equilibrium with U-232.
const U233_U232_PPM = 5;
const U233_AGE_a = 10;
const U232_HALF_LIFE_a = 70.6; // DDEP (NPL 2008); ENSDF 68.9 a
const U233_HALF_LIFE_a = 1.592e5;
const TH228_HALF_LIFE_a = 1.9126;
/** Th-228 decays per U-233 decay under the U-232 assumption above. */
export function u232DaughtersPerU233Decay(ppm = U233_U232_PPM, age_a = U233_AGE_a): number {
  // Activity ratio U-232/U-233 per unit mass ratio, times Th-228 ingrowth (two-member Bateman, Th-228 removed at t = 0).
  const specific = (U233_HALF_LIFE_a / U232_HALF_LIFE_a) * (233 / 232);
  const lU = Math.LN2 / U232_HALF_LIFE_a;
  const lTh = Math.LN2 / TH228_HALF_LIFE_a;
  const ingrowth = (lTh / (lTh - lU)) * (1 - Math.exp(-(lTh - lU) * age_a));
  return ppm * 1e-6 * specific * Math.exp(-lU * age_a) * ingrowth;
}

const RG = plutoniumMixture(REACTOR_GRADE);

export const NUCLEAR: NuclideData[] = [
  {
    name: 'U235',
    label: 'U-235',
    category: 'SNM',
    halfLife_s: 7.04e8 * YEAR_s,
    lines: sorted([
      lines([
        // U-235 (Th K x-rays and gammas of Th-231 levels)
        [89.954, 3.56], // Th Kα2
        [93.351, 5.75], // Th Kα1
        [105.554, 2.05], // Th Kβ1'
        [108.9687, 0.69], // Th Kβ2'
        [109.19, 1.66],
        [143.767, 10.94],
        [163.356, 5.08],
        [185.72, 57.0],
        [194.94, 0.63],
        [202.12, 1.08],
        [205.316, 5.02],
      ]),
      lines([
        // Th-231 (25.5 h) in equilibrium
        [25.64, 13.9],
        [81.228, 0.905],
        [84.214, 6.7],
        [89.95, 1.01],
        [95.869, 0.59], // Pa Kα1
      ], 1, 'Th-231'),
    ]),
    notes:
      'SNM only as enriched uranium: natural uranium shows U-235 at 0.046 of the U-238 activity, and the identifier reports a U-235 call as SNM only when its 185.7 keV line is significant and beyond what the U-238 chain seen in the same spectrum explains (identify/uranium.ts). U-235 with Th-231 (25.5 h) in equilibrium, reached a few days after chemical separation. Exception: Th-231 25.64 keV (13.9 %) kept (25-30 keV, >= 1 %). ENSDF gives 57.2 % for 185.72 keV. Daughters beyond Pa-231 (32760 a) are not in equilibrium in man-made uranium.',
    source: 'LNHB/DDEP recommended data (U-235 CNDC 2014; Th-231 CNDC 2008 evaluations)',
  },
  {
    name: 'U238',
    label: 'U-238',
    // Natural and depleted uranium (ore, uranium glass and glazes, DU shielding) are NORM in the ANSI N42.34 /
    // IEC 62327 categories; only enriched uranium (seen through U-235 beyond the natural ratio), U-233, Np-237
    // and plutonium are special nuclear material. Calling a glazed tile SNM stops a lane for nothing.
    category: 'NORM',
    halfLife_s: 4.468e9 * YEAR_s,
    lines: sorted([
      lines([
        // Th-234 (24.1 d)
        [63.3, 3.75],
        [92.38, 2.18],
        [92.8, 2.15],
      ], 1, 'Th-234'),
      lines([[1001.026, 0.847]], 1, 'Pa-234m'), // Pa-234m (1.16 min)
    ]),
    notes:
      'U-238 with Th-234 and Pa-234m in equilibrium (about 6 months after separation, e.g. depleted uranium). Th-234 intensities differ between evaluations: ENSDF 4.8 / 2.81 / 2.77 % for 63.3 / 92.4 / 92.8 keV, about 28 % above DDEP. Pa-234m 766.4 keV (0.32 %) and U-238 49.55 keV (0.07 %) left out.',
    source: 'LNHB/DDEP recommended data (U-238 CEA/LNE-LNHB 2006; Th-234 IFIN-HH 2009; Pa-234m CNDC 2010 evaluations)',
  },
  {
    name: 'Pu239',
    label: 'Pu-239',
    category: 'SNM',
    halfLife_s: 24100 * YEAR_s,
    lines: lines(PU239_ROWS),
    notes:
      'Exception: no Pu-239 line reaches 0.5 %; the strongest lines are kept so that weapons-grade plutonium can be identified. Real plutonium also shows Pu-241/Am-241 (59.5 keV) and Pu-240 lines, which are not part of this entry (see PuRG, reactor-grade plutonium).',
    source: 'LNHB/DDEP recommended data (KRI 2007 evaluation)',
  },
  {
    name: 'U233',
    label: 'U-233',
    category: 'SNM',
    halfLife_s: U233_HALF_LIFE_a * YEAR_s,
    lines: lines([
      [42.44, 0.0863],
      [54.7, 0.0187],
      [97.134, 0.0203],
      [291.35, 0.0054],
      [317.16, 0.0077],
    ]),
    companionLines: th228Chain(u232DaughtersPerU233Decay()),
    notes:
      `Exception: no U-233 line reaches 0.5 %; its strongest lines are kept. In practice U-233 is seen through the daughters of its U-232 impurity (Th-228 chain: 2614.5 keV of Tl-208 with the ${(BI212_TO_TL208 * 100).toFixed(2)} % branch, 583.2 and 238.6 keV), which under the assumptions give about ${(100 * u232DaughtersPerU233Decay() * BI212_TO_TL208).toFixed(2)} % per U-233 decay at 2614.5 keV: four times U-233's strongest line, and at an energy that penetrates shielding. They are given as companionLines, not lines, because they depend on the material's history, and a Th-228 source would otherwise match a U-233 template. Th-229 daughters (7340 a) are negligible in separated U-233. U-233 line intensities are ENSDF values, not checked against DDEP here.`,
    source: 'ENSDF A=229 (U-233 alpha decay, NNDC NuDat 3.0), 1.592E5 a; U-232 daughters: see Th-228 (LNHB/DDEP, Surrey Univ. 2010-2011), U-232 70.6 a LNHB/DDEP (NPL 2008)',
    assumptions: `companionLines: ${U233_U232_PPM} ppm U-232 by mass, ${U233_AGE_a} years since purification (Th-228 chain in transient equilibrium with U-232, Th-228 ingrowth from zero).`,
  },
  {
    name: 'Np237',
    label: 'Np-237',
    category: 'SNM',
    halfLife_s: 2.144e6 * YEAR_s,
    lines: sorted([
      lines([
        // Np-237 (Pa K x-rays and gammas of Pa-233 levels)
        [29.374, 14.3],
        [86.477, 12.26],
        [92.288, 1.813], // Pa Kα2
        [94.64, 0.66],
        [95.869, 2.906], // Pa Kα1
        [108.363, 1.06], // Pa Kβ1'
      ]),
      lines(
        [
          // Pa-233 (26.98 d), per Pa-233 decay
          [75.269, 1.3],
          [86.595, 1.99],
          [94.666, 9.1], // U Kα2
          [98.44, 14.6], // U Kα1
          [103.86, 0.853],
          [111.2277, 5.25], // U Kβ1'
          [114.932, 1.8], // U Kβ2'
          [300.129, 6.6],
          [311.904, 38.3],
          [340.476, 4.47],
          [375.404, 0.684],
          [398.492, 1.408],
          [415.764, 1.747],
        ],
        1,
        'Pa-233',
      ),
    ]),
    notes:
      'Np-237 with Pa-233 (26.98 d) in secular equilibrium, reached about 8 months after separation; Pa-233 gives the lines seen (311.9 keV, U K x-rays). Exception: Np-237 29.37 keV (14.3 %) kept (25-30 keV, >= 1 %); 27.7 keV (0.84 %) left out. Pa-233 271.6 keV (0.32 %) and Np-237 143.2 keV (0.42 %) left out.',
    source: 'LNHB/DDEP recommended data (Np-237 KRI 2009; Pa-233 KRI 2009 evaluations)',
    assumptions: 'Pa-233 in secular equilibrium with Np-237 (more than about 8 months since chemical separation).',
  },
  {
    name: 'PuRG',
    label: 'Pu-RG',
    category: 'SNM',
    halfLife_s: 24100 * YEAR_s,
    lines: RG.lines,
    composition: RG.composition,
    notes:
      'Reactor-grade plutonium as one entry. Exception: most Pu lines are far below 0.5 %; the lines of each isotope are kept down to 5E-6 per Pu-239 decay, and the Am-241/U-237 26.34 keV line is kept (25-30 keV, >= 1 %). Intensities are per decay of the Pu-239 in the mixture (the activity of this entry is its Pu-239 activity); the total activity is about 200 times higher, almost all of it Pu-241 beta decay. The half-life is that of Pu-239, so decayFactor() does not follow the Am-241 ingrowth: the 59.5 keV line grows by about 17 % between years 5 and 6 and peaks about 73 years after separation (plutoniumMixture() gives the lines at any age). Its signature against an Am-241 source is in the weak Pu lines and the U/Np K x-rays (98.4, 101.1 keV; 129.3, 148.6 (Pu-241), 152.7 (Pu-238), 160.3 (Pu-240), 164.6 and 208.0 (U-237), 375.1, 413.7 keV). The Pu-239 lines are those of the Pu-239 entry.',
    source:
      'LNHB/DDEP recommended data (Pu-238, Pu-240, Pu-242, Am-241, U-237 KRI 2009; Pu-239 KRI 2007; Pu-241 KRI 2006 evaluations)',
    assumptions: `Mass fractions at separation Pu-238 ${(REACTOR_GRADE.massFractions.Pu238 * 100).toFixed(1)} %, Pu-239 ${(REACTOR_GRADE.massFractions.Pu239 * 100).toFixed(1)} %, Pu-240 ${(REACTOR_GRADE.massFractions.Pu240 * 100).toFixed(1)} %, Pu-241 ${(REACTOR_GRADE.massFractions.Pu241 * 100).toFixed(1)} %, Pu-242 ${(REACTOR_GRADE.massFractions.Pu242 * 100).toFixed(1)} % (typical of LWR fuel at about 33 GWd/t), ${REACTOR_GRADE.age_a} years after separation (Am-241 grown in from Pu-241, U-237 in equilibrium with Pu-241 through its 2.44E-3 % alpha branch); see composition.`,
  },
];
