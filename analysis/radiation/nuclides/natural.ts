// Naturally occurring radioactive material of the library: K-40, the Ra-226 chain and the Th-232 chain.

import { th228Chain } from './chains.js';
import { type NuclideData, YEAR_s, lines, sorted } from './model.js';

export const NATURAL: NuclideData[] = [
  {
    name: 'K40',
    label: 'K-40',
    category: 'NORM',
    halfLife_s: 1.2522e9 * YEAR_s,
    lines: lines([[1460.822, 10.34]]),
    notes:
      'DDEP 2025 gives 10.34 % for 1460.822 keV; ENSDF (and most older NORM literature) 10.66 %, 3 % higher. ENSDF half-life 1.248E9 a.',
    source: 'LNHB/DDEP recommended data (CEA-LNHB 2025 evaluation)',
  },
  {
    name: 'Ra226',
    label: 'Ra-226',
    category: 'NORM',
    halfLife_s: 1600 * YEAR_s,
    lines: sorted([
      lines([[186.211, 3.555]], 1, 'Ra-226'),
      lines(
        [
          // Pb-214
          [53.2275, 1.06],
          [74.8157, 6.26], // Bi Kα2
          [77.1088, 10.47], // Bi Kα1
          [87.347, 3.59], // Bi Kβ1'
          [90.0757, 1.1], // Bi Kβ2'
          [241.997, 7.268],
          [258.87, 0.5318],
          [295.224, 18.414],
          [351.932, 35.6],
          [785.96, 1.064],
          [839.04, 0.587],
        ],
        1,
        'Pb-214',
      ),
      lines(
        [
          // Bi-214
          [79.293, 0.71], // Po Kα1
          [609.312, 45.49],
          [665.453, 1.53],
          [768.356, 4.892],
          [806.174, 1.262],
          [934.061, 3.1],
          [1120.287, 14.91],
          [1155.19, 1.635],
          [1238.111, 5.831],
          [1280.96, 1.435],
          [1377.669, 3.968],
          [1385.31, 0.795],
          [1401.5, 1.33],
          [1407.98, 2.389],
          [1509.228, 2.128],
          [1583.22, 0.707],
          [1661.28, 1.048],
          [1729.595, 2.844],
          [1764.494, 15.31],
          [1847.42, 2.025],
          [2118.55, 1.158],
          [2204.21, 4.913],
          [2447.86, 1.548],
        ],
        1,
        'Bi-214',
      ),
    ]),
    notes:
      'Ra-226 with Rn-222, Po-218, Pb-214, Bi-214 and Po-214 in secular equilibrium (sealed source or ore, radon retained; about 3 weeks after sealing). Pb-210 (22.2 a, 46.5 keV 4.25 %) is left out because it is in equilibrium only in sources older than about a century. Rn-222, Po-218 and Po-214 add no line above 0.5 %.',
    source:
      'LNHB/DDEP recommended data (Ra-226 CEA/LNE-LNHB 2006; Pb-214 and Bi-214 CEA/LNE-LNHB 2007 evaluations)',
    assumptions: 'Rn-222 retained: Pb-214 and Bi-214 in secular equilibrium with Ra-226; Pb-210 not.',
  },
  {
    name: 'Th232',
    label: 'Th-232',
    category: 'NORM',
    halfLife_s: 1.402e10 * YEAR_s,
    lines: sorted([
      lines(
        [
          // Ac-228
          [89.954, 2.5], // Th Kα2
          [93.351, 4.1], // Th Kα1
          [99.505, 1.26],
          [105.554, 1.5], // Th Kβ1'
          [129.065, 2.5],
          [153.967, 0.754],
          [209.248, 3.97],
          [270.245, 3.55],
          [328.004, 3.04],
          [338.32, 11.4],
          [409.46, 2.02],
          [463.002, 4.45],
          [508.955, 0.51],
          [562.496, 0.89],
          [726.88, 0.68],
          [755.313, 1.03],
          [772.291, 1.52],
          [782.14, 0.5],
          [794.942, 4.31],
          [830.481, 0.61],
          [835.704, 1.7],
          [840.372, 0.97],
          [904.2, 0.78],
          [911.196, 26.2],
          [964.786, 4.99],
          [968.96, 15.9],
          [1247.1, 0.524],
          [1459.131, 0.87],
          [1495.904, 0.92],
          [1501.59, 0.513],
          [1580.531, 0.62],
          [1588.2, 3.06],
          [1630.618, 1.52],
        ],
        1,
        'Ac-228',
      ),
      th228Chain(),
    ]),
    notes:
      'Th-232 with Ra-228, Ac-228, Th-228, Ra-224, Rn-220, Po-216, Pb-212, Bi-212, Tl-208 (35.94 % branch) and Po-212 in secular equilibrium, as in thorium ore, monazite and old thoriated items (equilibrium needs decades because of Ra-228, 5.75 a, and Th-228, 1.91 a). Th-232 63.8 keV (0.26 %) left out. The Ac-228 Th K x-ray intensities are uncertain by about 30 % (DDEP: 4.1 +- 1.1 %).',
    source:
      'LNHB/DDEP recommended data (Th-232, Ac-228 NPL 2009; Th-228, Ra-224, Pb-212, Bi-212, Tl-208 Surrey Univ. 2010-2011 evaluations); Bi-212 -> Tl-208 branch 35.94 % from ENSDF',
    assumptions: 'Whole chain in secular equilibrium (decades since the thorium was last separated from radium).',
  },

];
