// Plutonium as it is met: an isotopic mixture whose lines follow from its composition and its age since separation.

import { type GammaLine, type MixtureComponent, type Row, YEAR_s } from './model.js';

interface Isotope {
  label: string;
  /** Molar mass, g/mol (mass number: good to 0.1 % here). */
  A: number;
  halfLife_a: number;
  /** Percent per decay of this isotope. */
  rows: Row[];
}

// Pu-239 lines (LNHB/DDEP, KRI 2007): no line reaches 0.5 %; the strongest are kept.
export const PU239_ROWS: Row[] = [
  [38.661, 0.01047],
  [51.624, 0.02694],
  [94.666, 0.00418], // U Kα2
  [98.44, 0.00661], // U Kα1
  [129.296, 0.00631],
  [203.55, 0.000563],
  [332.845, 0.000488],
  [345.013, 0.000548],
  [375.054, 0.00154],
  [413.713, 0.001464],
];

// LNHB/DDEP recommended data: Pu-238, Pu-240, Pu-242, Am-241, U-237 KRI 2009; Pu-241 KRI 2006. The U K x-rays of
// the Pu-238 and Pu-241 alpha decays are kept, because 200 Pu-241 decays per Pu-239 decay make them as strong as
// Pu-239's own.
const PU238: Isotope = {
  label: 'Pu-238',
  A: 238,
  halfLife_a: 87.74,
  rows: [[43.498, 0.0397], [94.666, 0.000106], [98.44, 0.000169], [99.852, 0.00735], [111.2277, 0.0000609], [152.719, 0.00093]],
};
const PU239: Isotope = { label: 'Pu-239', A: 239, halfLife_a: 24100, rows: PU239_ROWS };
const PU240: Isotope = { label: 'Pu-240', A: 240, halfLife_a: 6561, rows: [[45.244, 0.0462], [104.233, 0.00714], [160.308, 0.0004045]] };
const PU241: Isotope = {
  label: 'Pu-241',
  A: 241,
  halfLife_a: 14.33,
  rows: [[94.666, 0.0003], [98.44, 0.000479], [103.68, 0.000103], [111.2277, 0.000179], [114.932, 0.000059], [148.567, 0.0001863]],
};
const PU242: Isotope = { label: 'Pu-242', A: 242, halfLife_a: 3.73e5, rows: [[44.915, 0.0384], [103.5, 0.00253]] };
const AM241: Isotope = {
  label: 'Am-241',
  A: 241,
  halfLife_a: 432.6,
  rows: [
    [26.3446, 2.31],
    [33.1963, 0.1215],
    [43.42, 0.0669],
    [55.56, 0.0181],
    [59.5409, 35.92],
    [98.97, 0.0203],
    [102.98, 0.0195],
    [125.3, 0.0041],
    [208.005, 0.000786],
    [335.37, 0.000496],
    [368.62, 0.000214],
    [662.4, 0.000367],
    [721.96, 0.000196],
  ],
};
// U-237 (6.75 d) from the Pu-241 alpha branch, in equilibrium with Pu-241 two months after separation.
const U237: Isotope = {
  label: 'U-237',
  A: 237,
  halfLife_a: 6.75 / 365.2422,
  rows: [
    [26.34463, 2.43],
    [51.01, 0.34],
    [59.54091, 34.1],
    [64.83, 1.286],
    [97.069, 14.8], // Np Kα2
    [101.059, 23.5], // Np Kα1
    [114.1497, 8.57], // Np Kβ1'
    [117.927, 2.95], // Np Kβ2'
    [164.61, 1.86],
    [208.0, 21.3],
    [267.556, 0.721],
    [332.376, 1.199],
    [335.38, 0.0958],
    [370.928, 0.109],
  ],
};
/** Pu-241 alpha branch to U-237 (DDEP 2.44E-3 %; ENSDF 2.45E-3 %). */
export const PU241_TO_U237 = 2.44e-5;

export interface PlutoniumOptions {
  /** Mass fractions of Pu-238..Pu-242 at separation (Am-241 removed); they are normalised to 1. */
  massFractions: { Pu238: number; Pu239: number; Pu240: number; Pu241: number; Pu242: number };
  /** Years since the americium was last removed. */
  age_a: number;
  /** Lines weaker than this per Pu-239 decay are dropped. */
  minIntensity?: number;
}

export interface PlutoniumMixture {
  lines: GammaLine[];
  composition: MixtureComponent[];
}

const lambda = (i: Isotope): number => Math.LN2 / (i.halfLife_a * YEAR_s);

/**
 * Lines of a plutonium mixture per decay of its Pu-239, after `age_a` years of Am-241 ingrowth from Pu-241
 * (two-member Bateman solution) and with U-237 in equilibrium with Pu-241. Lines of different emitters at the
 * same energy (59.54 keV of Am-241 and U-237) are merged.
 */
export function plutoniumMixture(o: PlutoniumOptions): PlutoniumMixture {
  const f = o.massFractions;
  const total = f.Pu238 + f.Pu239 + f.Pu240 + f.Pu241 + f.Pu242;
  if (!(total > 0) || !(f.Pu239 > 0)) throw new RangeError(`massFractions: expected non-negative fractions with Pu-239 > 0, got ${JSON.stringify(f)}`);
  if (!(o.age_a >= 0) || !Number.isFinite(o.age_a)) throw new RangeError(`age_a: expected a finite age >= 0 years, got ${o.age_a}`);
  const t = o.age_a * YEAR_s;
  // Atoms per gram of the mixture at separation, then at age t.
  const n0 = (i: Isotope, mass: number): number => mass / total / i.A;
  const atoms = (i: Isotope, mass: number): number => n0(i, mass) * Math.exp(-lambda(i) * t);
  const l241 = lambda(PU241);
  const lAm = lambda(AM241);
  const amAtoms = ((n0(PU241, f.Pu241) * l241 * (1 - PU241_TO_U237)) / (lAm - l241)) * (Math.exp(-l241 * t) - Math.exp(-lAm * t));
  const parts: [Isotope, number, number][] = [
    [PU238, f.Pu238, lambda(PU238) * atoms(PU238, f.Pu238)],
    [PU239, f.Pu239, lambda(PU239) * atoms(PU239, f.Pu239)],
    [PU240, f.Pu240, lambda(PU240) * atoms(PU240, f.Pu240)],
    [PU241, f.Pu241, l241 * atoms(PU241, f.Pu241)],
    [PU242, f.Pu242, lambda(PU242) * atoms(PU242, f.Pu242)],
    [AM241, 0, lAm * amAtoms],
  ];
  const head = parts[1][2];
  parts.push([U237, 0, PU241_TO_U237 * parts[3][2]]);
  const composition: MixtureComponent[] = parts.map(([i, mass, activity]) => ({
    nuclide: i.label,
    massFraction: mass / total,
    activityPerHeadDecay: activity / head,
  }));
  const min = o.minIntensity ?? 5e-6;
  const raw: GammaLine[] = parts.flatMap(([i, , activity]) =>
    i.rows.map(([energy_keV, percent]) => ({ energy_keV, intensity: (percent / 100) * (activity / head), emitter: i.label })),
  );
  raw.sort((a, b) => a.energy_keV - b.energy_keV);
  const merged: GammaLine[] = [];
  for (const l of raw) {
    const last = merged[merged.length - 1];
    if (last !== undefined && Math.abs(last.energy_keV - l.energy_keV) < 0.01) {
      merged[merged.length - 1] = { energy_keV: last.energy_keV, intensity: last.intensity + l.intensity, emitter: `${last.emitter}, ${l.emitter}` };
    } else merged.push(l);
  }
  return { lines: merged.filter((l) => l.intensity >= min), composition };
}

/**
 * The library's reactor-grade plutonium: an assumed composition typical of plutonium from LWR fuel at about
 * 33 GWd/t burn-up (wt % at separation), five years after separation.
 */
export const REACTOR_GRADE = Object.freeze({
  massFractions: Object.freeze({ Pu238: 0.013, Pu239: 0.603, Pu240: 0.243, Pu241: 0.091, Pu242: 0.05 }),
  age_a: 5,
});
