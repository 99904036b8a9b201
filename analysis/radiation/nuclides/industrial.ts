// Industrial sources and check sources of the nuclide library: radiography, gauges, calibration and check sources.

import { BI212_TO_TL208, TH228_CHAIN_SOURCE, th228Chain } from './chains.js';
import { ANNIHILATION_keV, DAY_s, type NuclideData, YEAR_s, lines, sorted } from './model.js';

// Cs-137 decays to Ba-137m in 94.70 % of decays (DDEP); the 661.657 keV line and the Ba K x-rays come from
// Ba-137m (LNHB 2023: 89.90 % per Ba-137m decay -> 85.14 % per Cs-137 decay; ENSDF gives 85.10 %).
const CS137_TO_BA137M = 0.947;

export const INDUSTRIAL: NuclideData[] = [
  {
    name: 'Cs137',
    label: 'Cs-137',
    category: 'industrial',
    halfLife_s: 30.05 * YEAR_s,
    lines: sorted([
      lines(
        [
          [31.8174, 2.1], // Ba Kα2
          [32.1939, 3.87], // Ba Kα1
          [36.4457, 1.139], // Ba Kβ1'
        ],
        CS137_TO_BA137M,
      ),
      lines([[661.657, 85.1]]),
    ]),
    notes:
      'Met with Ba-137m (2.55 min) in equilibrium. Ba Kβ2\' 37.33 keV (0.27 %) left out. Half-life 30.05 a (the earlier DDEP value; DDEP 2023 gives 30.018 a, ENSDF 30.08 a), kept because test/unit/calibration-records.test.ts computes decay with 30.05 a.',
    source:
      'LNHB/DDEP recommended data (Cs-137; Ba-137m CEA/LNE-LNHB 2023) x 94.70 % branching; 661.657 keV 85.10 % as ENSDF (NNDC NuDat 3.0, 2024)',
  },
  {
    name: 'Co60',
    label: 'Co-60',
    category: 'industrial',
    halfLife_s: 5.2711 * YEAR_s,
    lines: lines([
      [1173.228, 99.85],
      [1332.492, 99.9826],
    ]),
    source: 'LNHB/DDEP recommended data (INEEL 2006 evaluation)',
  },
  {
    name: 'Ir192',
    label: 'Ir-192',
    category: 'industrial',
    halfLife_s: 73.827 * DAY_s,
    lines: lines([
      [61.4873, 1.211], // Os Kα2 (EC branch)
      [63.0011, 2.09], // Os Kα1
      [65.123, 2.66], // Pt Kα2 (beta- branch, conversion)
      [66.833, 4.55], // Pt Kα1
      [71.449, 0.71], // Os Kβ1'
      [75.784, 1.58], // Pt Kβ1'
      [205.7943, 3.34],
      [295.9565, 28.72],
      [308.45507, 29.68],
      [316.50618, 82.75],
      [374.4852, 0.726],
      [416.4688, 0.669],
      [468.0688, 47.81],
      [484.5751, 3.189],
      [588.581, 4.517],
      [604.41105, 8.2],
      [612.4621, 5.34],
    ]),
    notes: 'Branching 95.13 % beta- to Pt-192, 4.87 % EC to Os-192. Lines below 0.5 % (201.3, 489.1, 884.5 keV) left out.',
    source: 'LNHB/DDEP recommended data (LBNL 2003 evaluation)',
  },
  {
    name: 'Se75',
    label: 'Se-75',
    category: 'industrial',
    halfLife_s: 119.781 * DAY_s,
    lines: lines([
      [66.0518, 1.085],
      [96.734, 3.35],
      [121.1155, 16.86],
      [136.0001, 57.7],
      [198.606, 1.46],
      [264.6576, 58.75],
      [279.5422, 24.89],
      [303.9236, 1.308],
      [400.6572, 11.388],
    ]),
    notes: 'As K x-rays (10.5-11.9 keV, 56 %) are below the energy cut.',
    source: 'LNHB/DDEP recommended data (CEA/LNE-LNHB 2013 evaluation)',
  },
  {
    name: 'Am241',
    label: 'Am-241',
    category: 'industrial',
    halfLife_s: 432.6 * YEAR_s,
    lines: lines([
      [26.3446, 2.31],
      [59.5409, 35.92],
    ]),
    notes:
      'Exception: 26.34 keV (2.31 %) kept although below 30 keV. Np L x-rays (13.9-21.2 keV, about 37 % together) left out: a sealed source\'s capsule absorbs them, but for a bare source they would more than double H*(10) at 1 m. 33.20 keV (0.12 %) left out.',
    source: 'LNHB/DDEP recommended data (KRI 2009 evaluation); ENSDF 59.5409 keV 35.9 %',
  },
  {
    name: 'Ba133',
    label: 'Ba-133',
    category: 'industrial',
    halfLife_s: 10.539 * YEAR_s,
    lines: lines([
      [30.6254, 33.8], // Cs Kα2
      [30.9731, 62.4], // Cs Kα1
      [35.053, 18.24], // Cs Kβ1'
      [35.9003, 4.45], // Cs Kβ2'
      [53.1622, 2.14],
      [79.6142, 2.63],
      [80.9979, 33.31],
      [160.6121, 0.638],
      [276.3989, 7.13],
      [302.8508, 18.31],
      [356.0129, 62.05],
      [383.8485, 8.94],
    ]),
    notes: 'The Cs K x-rays (about 119 % together) dominate the photon output; 223.2 keV (0.45 %) left out. ENSDF half-life 10.551 a.',
    source: 'LNHB/DDEP recommended data (KRI 2015 evaluation)',
  },
  {
    name: 'Eu152',
    label: 'Eu-152',
    category: 'industrial',
    halfLife_s: 13.522 * YEAR_s,
    lines: lines([
      [39.5229, 20.8], // Sm Kα2
      [40.1186, 37.7], // Sm Kα1
      [45.4777, 11.78], // Sm Kβ1'
      [46.6977, 3.04], // Sm Kβ2'
      [121.7817, 28.41],
      [244.6974, 7.55],
      [344.2785, 26.59],
      [367.7891, 0.862],
      [411.1165, 2.238],
      [443.965, 3.12],
      [688.67, 0.841],
      [778.9045, 12.97],
      [867.38, 4.243],
      [964.079, 14.5],
      [1005.272, 0.665],
      [1085.837, 10.13],
      [1089.737, 1.73],
      [1112.076, 13.41],
      [1212.948, 1.416],
      [1299.142, 1.633],
      [1408.013, 20.85],
    ]),
    notes:
      'Branching 72.1 % EC/beta+ to Sm-152, 27.9 % beta- to Gd-152. Seven lines between 0.41 and 0.50 % (e.g. 1457.6, 586.3, 564.0 keV) left out.',
    source: 'LNHB/DDEP recommended data (USP, LBNL 2004 evaluation)',
  },

  // ------------------------------------------------ check and calibration sources (ANSI N42.34 / IEC 62327 lists)
  {
    name: 'Na22',
    label: 'Na-22',
    category: 'industrial',
    halfLife_s: 2.6029 * YEAR_s,
    lines: lines([
      [ANNIHILATION_keV, 180.7], // 2 x beta+ branch 90.35 %
      [1274.537, 99.94],
    ]),
    notes:
      'Annihilation photons from the beta+ branch (2 per positron, all positrons assumed to annihilate in or near the capsule). Ne K x-rays (0.85 keV) irrelevant. ENSDF half-life 2.6018 a.',
    source: 'LNHB/DDEP recommended data (CIEMAT 2009 evaluation)',
  },
  {
    name: 'Co57',
    label: 'Co-57',
    category: 'industrial',
    halfLife_s: 271.81 * DAY_s,
    lines: lines([
      [122.06065, 85.49],
      [136.47356, 10.71],
    ]),
    notes:
      '14.41 keV (9.2 %) and Fe K x-rays (6.4-7.1 keV) are below the energy cut; 692.0 keV (0.15 %) left out. ENSDF gives 85.60 % / 10.68 % and 271.74 d.',
    source: 'LNHB/DDEP recommended data (KRI 2014 evaluation)',
  },
  {
    name: 'Mn54',
    label: 'Mn-54',
    category: 'industrial',
    halfLife_s: 312.19 * DAY_s,
    lines: lines([[834.848, 99.9752]]),
    notes: 'Cr K x-rays (5.4-6.0 keV) below the energy cut. ENSDF gives 99.9760 % and 312.20 d.',
    source: 'LNHB/DDEP recommended data (KRI 2014 evaluation)',
  },
  {
    name: 'Y88',
    label: 'Y-88',
    category: 'industrial',
    halfLife_s: 106.63 * DAY_s,
    lines: lines([
      [898.042, 93.7],
      [1836.07, 99.346],
      [2734.092, 0.608],
    ]),
    notes: 'Sr K x-rays (14.1-15.8 keV) below the energy cut; annihilation from the 0.2 % beta+ branch (511 keV 0.46 %) left out. ENSDF half-life 106.626 d.',
    source: 'LNHB/DDEP recommended data (KRI 2015 evaluation)',
  },
  {
    name: 'Cd109',
    label: 'Cd-109',
    category: 'industrial',
    halfLife_s: 461.9 * DAY_s,
    lines: sorted([
      lines([
        [25.0002, 15.25], // Ag Kβ1'
        [25.4843, 2.65], // Ag Kβ2'
      ]),
      lines([[88.0336, 3.66]], 1, 'Ag-109m'),
    ]),
    notes:
      'Exception: Ag Kβ x-rays at 25.0/25.5 keV kept (25-30 keV, >= 1 %). The 88.03 keV line is emitted by Ag-109m (39.6 s), in equilibrium. Most of the photon output is Ag Kα x-rays (21.99/22.16 keV, about 83 % together): below 25 keV and left out by the selection rule, although they are what a thin detector mostly sees of a Cd-109 source (XRF analysers) and they dominate H*(10) of a bare source. ENSDF gives 3.644 % and 461.4 d.',
    source: 'LNHB/DDEP recommended data (LNE-LNHB, PTB 2014 evaluation)',
  },
  {
    name: 'Eu154',
    label: 'Eu-154',
    category: 'industrial',
    halfLife_s: 8.601 * YEAR_s,
    lines: lines([
      [42.3093, 7.2], // Gd Kα2
      [42.9967, 13.0], // Gd Kα1
      [48.7687, 4.1], // Gd Kβ1'
      [50.093, 1.08], // Gd Kβ2'
      [123.0706, 40.4],
      [247.9288, 6.89],
      [444.4924, 0.56],
      [582.01, 0.886],
      [591.755, 4.95],
      [692.4205, 1.79],
      [723.3014, 20.05],
      [756.802, 4.53],
      [815.53, 0.512],
      [845.416, 0.586],
      [873.1834, 12.17],
      [892.775, 0.514],
      [904.064, 0.89],
      [996.25, 10.5],
      [1004.718, 17.86],
      [1246.121, 0.862],
      [1274.429, 34.9],
      [1494.048, 0.698],
      [1596.4804, 1.783],
    ]),
    notes:
      'Often met as an impurity of Eu-152 sources and in activated concrete. Branching 99.982 % beta- to Gd-154, 0.018 % EC. ENSDF half-life 8.593 a.',
    source: 'LNHB/DDEP recommended data (KRI 2005 evaluation)',
  },
  {
    name: 'Cs134',
    label: 'Cs-134',
    category: 'industrial',
    halfLife_s: 2.0644 * YEAR_s,
    lines: lines([
      [475.365, 1.479],
      [563.246, 8.342],
      [569.33, 15.368],
      [604.72, 97.63],
      [795.86, 85.47],
      [801.95, 8.694],
      [1038.605, 0.9909],
      [1167.967, 1.791],
      [1365.194, 3.019],
    ]),
    notes: 'Reactor and fallout nuclide (with Cs-137), also a check source. Ba Kα1 32.19 keV (0.44 %) left out. ENSDF half-life 2.0652 a.',
    source: 'LNHB/DDEP recommended data (CEA/LNE-LNHB 2012 evaluation)',
  },
  {
    name: 'Th228',
    label: 'Th-228',
    category: 'industrial',
    halfLife_s: 1.9126 * YEAR_s,
    lines: th228Chain(),
    notes: `Th-228 check and calibration sources, and the signature of U-232 (70.6 a): U-232 adds no line above 0.5 % (57.8 keV 0.2 %), so a U-232 source older than a few years (Th-228 regrown) shows exactly these lines. Tl-208 lines carry the ${(BI212_TO_TL208 * 100).toFixed(2)} % Bi-212 alpha branch. Unlike Th-232 ore it shows no Ac-228 (911, 969, 338 keV): freshly made thoriated items (Ra-228 removed) look like this too for some years. ENSDF half-life 1.9116 a.`,
    source: TH228_CHAIN_SOURCE,
    assumptions:
      'Ra-224, Rn-220, Po-216, Pb-212, Bi-212, Po-212 and Tl-208 in secular equilibrium with Th-228 (reached about a month after separation: Ra-224 3.63 d, Pb-212 10.6 h).',
  },
];
