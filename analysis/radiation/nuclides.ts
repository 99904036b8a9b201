// Gamma/X-ray emission data and half-lives of the nuclides the radiation chain identifies and converts to dose.
//
// Numbers are nuclear data, not code: unless a nuclide says otherwise they are the LNHB/DDEP recommended
// values (Decay Data Evaluation Project, "Nucléide-Lara" tables, evaluation lab and year given per nuclide),
// cross-checked against ENSDF as shown by NNDC NuDat 3.0 (values as of 2024); where the two evaluations differ
// by more than about 1 % the `notes` say so. Intensities are photons per decay of the parent (0.851 = 85.1 %).
// The tables live in nuclides/ by category; docs/nuclide-library.md lists them with their assumptions.
//
// Selection rule (so every list is cut the same way):
// - gamma lines and K x-rays with intensity >= 0.5 % and energy >= 30 keV;
// - exception: lines between 25 and 30 keV with intensity >= 1 % are kept, because NaI/CsI spectrometers
//   with a ~25 keV threshold see them (listed in that nuclide's notes); identification fits from 30 keV;
// - exception: nuclides with no line reaching 0.5 % (Pu-239, U-233, reactor-grade Pu) keep their strongest
//   lines (see their notes);
// - L x-rays (all below 25 keV here) are left out; an entry whose K x-rays were not evaluated here says so.
// Chains are given "as the source is met": daughters in secular equilibrium are folded in, with their
// intensities per decay of the head of the chain and the branching written out where it is not 100 %; a
// line's `emitter` names the daughter or mixture component that emits it.

import { CustomsError } from '../../common/errors.js';
import { type GammaLine, type NuclideData } from './nuclides/model.js';
import { INDUSTRIAL } from './nuclides/industrial.js';
import { MEDICAL } from './nuclides/medical.js';
import { NATURAL } from './nuclides/natural.js';
import { NUCLEAR } from './nuclides/snm.js';

export type { GammaLine, MixtureComponent, NuclideCategory, NuclideData } from './nuclides/model.js';

/** Requested nuclide id is not in the table; the message lists the valid ids. */
export class UnknownNuclideError extends CustomsError {
  constructor(
    readonly id: string,
    readonly validIds: readonly string[],
  ) {
    super('E_UNKNOWN_NUCLIDE', `unknown nuclide '${id}': expected one of ${validIds.join(', ')}`);
  }
}

// The 21 nuclides of the first library keep their places at the head of nuclideIds(): the shipped ONNX
// classifier (models/nuclide-classifier/model-card.json) lists its outputs in this order. Newer entries follow
// in category order.
const FIRST_LIBRARY = [
  'Cs137', 'Co60', 'Ir192', 'Se75', 'Am241', 'Ba133', 'Eu152',
  'Tc99m', 'I131', 'I123', 'F18', 'Ga67', 'Tl201', 'In111', 'Lu177',
  'K40', 'Ra226', 'Th232', 'U235', 'U238', 'Pu239',
];

function ordered(all: NuclideData[]): NuclideData[] {
  const rank = (n: NuclideData): number => {
    const i = FIRST_LIBRARY.indexOf(n.name);
    return i < 0 ? FIRST_LIBRARY.length : i;
  };
  // Array.prototype.sort is stable, so the newer entries keep their category order.
  return [...all].sort((a, b) => rank(a) - rank(b));
}

const TABLE: NuclideData[] = ordered([...INDUSTRIAL, ...MEDICAL, ...NATURAL, ...NUCLEAR]);

export const NUCLIDES: Readonly<Record<string, NuclideData>> = Object.freeze(
  Object.fromEntries(
    TABLE.map((n) => [
      n.name,
      Object.freeze({
        ...n,
        lines: Object.freeze(n.lines) as GammaLine[],
        ...(n.companionLines === undefined ? {} : { companionLines: Object.freeze(n.companionLines) as GammaLine[] }),
        ...(n.composition === undefined ? {} : { composition: Object.freeze(n.composition.map((c) => Object.freeze(c))) }),
      }),
    ]),
  ),
);

const IDS = Object.freeze(Object.keys(NUCLIDES));

export function nuclideIds(): readonly string[] {
  return IDS;
}

/** Look a nuclide up by its id ('Cs137'); the label form ('Cs-137') is accepted too. */
export function getNuclide(id: string): NuclideData {
  const found = NUCLIDES[id] ?? NUCLIDES[id.replace('-', '')];
  if (found === undefined) throw new UnknownNuclideError(id, IDS);
  return found;
}

/** Fraction of the activity left after `elapsed_s` (1 at t = 0, 0.5 after one half-life). */
export function decayFactor(id: string, elapsed_s: number): number {
  if (!Number.isFinite(elapsed_s)) throw new RangeError(`elapsed_s must be a finite number of seconds, got ${elapsed_s}`);
  return Math.exp((-Math.LN2 * elapsed_s) / getNuclide(id).halfLife_s);
}

export function activityAt(A0_Bq: number, id: string, elapsed_s: number): number {
  if (!(A0_Bq >= 0) || !Number.isFinite(A0_Bq)) throw new RangeError(`A0_Bq must be a finite activity >= 0, got ${A0_Bq}`);
  return A0_Bq * decayFactor(id, elapsed_s);
}
