// Decay-chain segments shared by several library entries: the Th-228 sub-chain (Th-232 ore, Th-228 and U-232 sources, U-233).

import { type GammaLine, type Row, lines, sorted } from './model.js';

// Bi-212 alpha branch to Tl-208: ENSDF 35.94 % (DDEP/Surrey 2010: 35.93 %). The other 64.06 % go through Po-212,
// which emits no line above 0.5 %.
export const BI212_TO_TL208 = 0.3594;

const TH228: Row[] = [[84.373, 1.19]];
const RA224: Row[] = [[240.986, 4.12]];
const PB212: Row[] = [
  [74.8157, 10.07], // Bi Kα2
  [77.1088, 16.9], // Bi Kα1
  [87.347, 5.77], // Bi Kβ1'
  [90.0757, 1.77], // Bi Kβ2'
  [115.183, 0.624],
  [238.632, 43.6],
  [300.089, 3.18],
];
// Bi-212 (its own lines and those of Po-212, per Bi-212 decay).
const BI212: Row[] = [
  [39.858, 1.07],
  [727.33, 6.65],
  [785.37, 1.11],
  [1078.63, 0.55],
  [1620.738, 1.51],
];
// Tl-208, per Tl-208 decay; scaled by the Bi-212 alpha branch when folded into the chain.
const TL208: Row[] = [
  [72.8049, 2.03], // Pb Kα2
  [74.97, 3.42], // Pb Kα1
  [277.37, 6.6],
  [510.74, 22.5],
  [583.187, 85.0],
  [763.45, 1.8],
  [860.53, 12.4],
  [2614.511, 99.755],
];

/**
 * Th-228 with Ra-224, Rn-220, Po-216, Pb-212, Bi-212, Po-212 and Tl-208 in equilibrium, per Th-228 decay times
 * `factor` (Th-228 decays per decay of the entry's head). Rn-220, Po-216 and Po-212 add no line above 0.5 %.
 */
export function th228Chain(factor = 1): GammaLine[] {
  return sorted([
    lines(TH228, factor, 'Th-228'),
    lines(RA224, factor, 'Ra-224'),
    lines(PB212, factor, 'Pb-212'),
    lines(BI212, factor, 'Bi-212'),
    lines(TL208, factor * BI212_TO_TL208, 'Tl-208'),
  ]);
}

export const TH228_CHAIN_SOURCE =
  'LNHB/DDEP recommended data (Th-228, Ra-224 Surrey Univ. 2011; Pb-212, Bi-212, Tl-208 Surrey Univ. 2010 evaluations); Bi-212 -> Tl-208 branch 35.94 % from ENSDF (NNDC NuDat 3.0; DDEP 35.93 %)';
