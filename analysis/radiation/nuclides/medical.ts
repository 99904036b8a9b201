// Medical nuclides of the library: diagnostic and therapeutic radiopharmaceuticals met in patients and shipments.

import { ANNIHILATION_keV, DAY_s, HOUR_s, MINUTE_s, type NuclideData, lines } from './model.js';

export const MEDICAL: NuclideData[] = [
  {
    name: 'Tc99m',
    label: 'Tc-99m',
    category: 'medical',
    halfLife_s: 6.0067 * HOUR_s,
    lines: lines([[140.511, 88.5]]),
    notes:
      'ENSDF gives 89 % for 140.511 keV. Tc K x-rays (18.3-21.0 keV, 7.7 %) are below the energy cut; for a bare source they would add about 10 % to H*(10) at 1 m (vials, syringe shields and tissue absorb most of them).',
    source: 'LNHB/DDEP recommended data (LNHB, KRI 2004 evaluation)',
  },
  {
    name: 'I131',
    label: 'I-131',
    category: 'medical',
    halfLife_s: 8.0233 * DAY_s,
    lines: lines([
      [29.459, 1.52], // Xe Kα2
      [29.779, 2.81], // Xe Kα1
      [33.6893, 0.816], // Xe Kβ1'
      [80.185, 2.607],
      [284.305, 6.14],
      [364.489, 81.2],
      [636.989, 7.12],
      [722.911, 1.786],
    ]),
    notes:
      'Exception: Xe Kα x-rays at 29.5/29.8 keV kept (25-30 keV, >= 1 %). ENSDF gives 81.5 % for 364.49 keV and 8.0252 d.',
    source: 'LNHB/DDEP recommended data (CEA/LNE-LNHB 2014 evaluation)',
  },
  {
    name: 'I123',
    label: 'I-123',
    category: 'medical',
    halfLife_s: 13.2234 * HOUR_s,
    lines: lines([
      [27.202, 24.69], // Te Kα2
      [27.4726, 45.98], // Te Kα1
      [31.1044, 13.16], // Te Kβ1'
      [31.7623, 2.86], // Te Kβ2'
      [158.97, 83.25],
      [528.96, 1.28],
    ]),
    notes:
      'Exception: Te Kα x-rays at 27.2/27.5 keV kept (25-30 keV, >= 1 %; 71 % together). 440.0 keV (0.42 %) and 538.5 keV (0.38 %) left out.',
    source: 'LNHB/DDEP recommended data (CEA/LNE-LNHB 2003 evaluation)',
  },
  {
    name: 'F18',
    label: 'F-18',
    category: 'medical',
    halfLife_s: 1.8289 * HOUR_s,
    lines: lines([[511, 193.72]]),
    notes:
      'Annihilation photons from the 96.86 % beta+ branch (2 per positron, assuming all positrons annihilate near the source). ENSDF gives 193.46 %.',
    source: 'LNHB/DDEP recommended data (LNHB, KRI 2014 evaluation)',
  },
  {
    name: 'Ga67',
    label: 'Ga-67',
    category: 'medical',
    halfLife_s: 3.2613 * DAY_s,
    lines: lines([
      [91.263, 3.09],
      [93.307, 38.1],
      [184.577, 20.96],
      [208.939, 2.37],
      [300.232, 16.6],
      [393.528, 4.59],
    ]),
    notes: 'Zn K x-rays (8.6-9.6 keV) are below the energy cut.',
    source: 'LNHB/DDEP recommended data (LNHB, KRI 2011 evaluation)',
  },
  {
    name: 'Tl201',
    label: 'Tl-201',
    category: 'medical',
    halfLife_s: 3.0421 * DAY_s,
    lines: lines([
      [68.895, 27.3], // Hg Kα2
      [70.82, 46.4], // Hg Kα1
      [80.2797, 15.7], // Hg Kβ1'
      [82.7463, 4.61], // Hg Kβ2'
      [135.312, 2.604],
      [167.45, 10.0],
    ]),
    notes: 'Most of the photon output is Hg K x-rays (94 %), which is what imaging and handheld ID see.',
    source: 'LNHB/DDEP recommended data (PTB 2004 evaluation)',
  },
  {
    name: 'In111',
    label: 'In-111',
    category: 'medical',
    halfLife_s: 2.8049 * DAY_s,
    lines: lines([
      [26.1538, 12.4], // Cd Kβ1'
      [26.6773, 2.26], // Cd Kβ2'
      [171.28, 90.61],
      [245.35, 94.12],
    ]),
    notes:
      'Exception: Cd Kβ x-rays at 26.2/26.7 keV kept (25-30 keV, >= 1 %); the Cd Kα x-rays at 23.0/23.2 keV (68 %) are below 25 keV and left out, although for a bare source they would add about 25 % to H*(10) at 1 m.',
    source: 'LNHB/DDEP recommended data (KRI 2006 evaluation)',
  },
  {
    name: 'Lu177',
    label: 'Lu-177',
    category: 'medical',
    halfLife_s: 6.647 * DAY_s,
    lines: lines([
      [54.612, 1.59], // Hf Kα2
      [55.7909, 2.78], // Hf Kα1
      [63.2937, 0.917], // Hf Kβ1'
      [112.9498, 6.2],
      [208.3662, 10.38],
    ]),
    notes: '71.6, 249.7 and 321.3 keV (0.17-0.22 %) left out.',
    source: 'LNHB/DDEP recommended data (ANL 2003 evaluation)',
  },

  {
    name: 'Xe133',
    label: 'Xe-133',
    category: 'medical',
    halfLife_s: 5.2474 * DAY_s,
    lines: lines([
      [30.6254, 13.54], // Cs Kα2
      [30.9731, 25.0], // Cs Kα1
      [35.053, 7.31], // Cs Kβ1'
      [35.9003, 1.78], // Cs Kβ2'
      [80.9979, 37.0],
    ]),
    notes:
      'Lung ventilation studies; also a fission gas released by reactors. 79.61 keV (0.44 %) left out. ENSDF gives 36.9 % for 80.998 keV and 5.2475 d.',
    source: 'LNHB/DDEP recommended data (CIEMAT 2007 evaluation)',
  },
  {
    name: 'Sm153',
    label: 'Sm-153',
    category: 'medical',
    halfLife_s: 1.92855 * DAY_s,
    lines: lines([
      [40.9024, 16.6], // Eu Kα2
      [41.5427, 30.0], // Eu Kα1
      [47.1051, 9.45], // Eu Kβ1'
      [48.38, 2.44], // Eu Kβ2'
      [69.673, 4.691],
      [97.431, 0.767],
      [103.18012, 29.19],
    ]),
    notes:
      'Bone pain palliation (Sm-153 EDTMP), a few GBq per patient. The Eu K x-rays (about 58 % together) come mostly from the highly converted 103.2 keV transition. ENSDF half-life 46.284 h.',
    source: 'LNHB/DDEP recommended data (LNHB, INEEL 2006 evaluation)',
  },
  {
    name: 'Cr51',
    label: 'Cr-51',
    category: 'medical',
    halfLife_s: 27.704 * DAY_s,
    lines: lines([[320.0835, 9.89]]),
    notes: 'Red-cell labelling and GFR studies; also an activation product of steel. V K x-rays (4.9-5.4 keV) below the energy cut. ENSDF gives 9.910 % and 27.7025 d.',
    source: 'LNHB/DDEP recommended data (KRI 2014 evaluation)',
  },
  {
    name: 'Ga68',
    label: 'Ga-68',
    category: 'medical',
    halfLife_s: 67.83 * MINUTE_s,
    lines: lines([
      [ANNIHILATION_keV, 177.8], // 2 x beta+ branch 88.9 %
      [1077.34, 3.235],
    ]),
    notes:
      'PET (Ga-68 DOTATATE, PSMA), eluted from Ge-68/Ga-68 generators: a generator shows these lines with the half-life of Ge-68 (270.9 d). Annihilation photons: 2 per positron, all assumed to annihilate near the source. 1883.2 keV (0.14 %) left out. ENSDF gives 67.71 min and beta+ 88.91 %.',
    source: 'LNHB/DDEP recommended data (LNHB, PTB 2011 evaluation)',
  },
];
