// Identification results and detector-response templates pinned from before the template build was made fast (issue 13): the same answers, the same templates to float noise.
import t from 'tap';
import { DETECTORS, responseSpectrum, resolutionSmear } from '../../analysis/radiation/dose.js';
import { NuclideIdentifier } from '../../analysis/radiation/identify.js';
import { DEFAULT_SHIELD_VARIANTS, FineTemplateSet } from '../../analysis/radiation/identify/templates.js';
import { nuclideIds } from '../../analysis/radiation/nuclides.js';
import { loadDrf } from '../../devices/radiation/detector-response.js';
import { refData } from '../helpers/paths.js';
import { CASES, caseDetector, caseSpectrum, digest, templateDigest } from './radiation-identify-pinned-cases.js';

// Computed with the template build of commit 021ab0c (every response through responseSpectrum, no precomputed smear).
const PINNED_IDENTIFY: Record<string, unknown> = {"cs137-bare": {"nuclides": [{"nuclide": "Cs137", "significance": 85.05, "netCounts": 5019.1, "netCountsSigma": 99.3, "shielding": "none", "alternatives": [], "share": 1}], "rejected": [], "unknown": false, "gain": 1, "deviance": 730.77, "dispersion": 1}, "ba133-steel": {"nuclides": [{"nuclide": "Ba133", "significance": 92.79, "netCounts": 5005.7, "netCountsSigma": 87.1, "shielding": "steel-5cm", "alternatives": [], "share": 1}], "rejected": [], "unknown": false, "gain": 1, "deviance": 802.27, "dispersion": 1}, "co60-lead-log": {"nuclides": [{"nuclide": "Co60", "significance": 47.63, "netCounts": 3123.3, "netCountsSigma": 114.2, "shielding": "lead-0.5cm", "alternatives": [], "share": 1}], "rejected": [], "unknown": false, "gain": 1, "deviance": 860.34, "dispersion": 1}, "tc99m-over-u235": {"nuclides": [{"nuclide": "Tc99m", "significance": 111.79, "netCounts": 9912.1, "netCountsSigma": 113.1, "shielding": "steel-1cm", "alternatives": [], "share": 0.6607}, {"nuclide": "U235", "significance": 47.98, "netCounts": 5089.7, "netCountsSigma": 115.9, "shielding": "none", "alternatives": [], "share": 0.3393}], "rejected": [], "unknown": false, "gain": 1, "deviance": 481.56, "dispersion": 1}, "i131-gain": {"nuclides": [{"nuclide": "I131", "significance": 122.96, "netCounts": 4908.3, "netCountsSigma": 76.9, "shielding": "none", "alternatives": [], "share": 1}], "rejected": [], "unknown": false, "gain": 0.98, "deviance": 405.45, "dispersion": 1}, "ra226-water": {"nuclides": [{"nuclide": "Ra226", "significance": 68.74, "netCounts": 19400.1, "netCountsSigma": 270.7, "shielding": "steel-2cm", "alternatives": [], "share": 1}], "rejected": [], "unknown": false, "gain": 1, "deviance": 925.88, "dispersion": 1}, "am241-low": {"nuclides": [{"nuclide": "Am241", "significance": 57.19, "netCounts": 1467.3, "netCountsSigma": 39.3, "shielding": "none", "alternatives": [], "share": 1}], "rejected": [], "unknown": false, "gain": 1, "deviance": 97.05, "dispersion": 1}, "background": {"nuclides": [], "rejected": [], "unknown": false, "gain": 1, "deviance": 953.96, "dispersion": 1.006}};

// The same build's templates (radiation-identify-pinned-cases.ts templateDigest), NaI-2x2 catalogue model and NaI_3x3 DRF.
const PINNED_TEMPLATES: Record<string, Record<string, number>> = {
  'NaI-2x2': { templates: 303, downscatter: 267, lines: 594.1920387413743, linesSin: 2.345965866829607, ds: 531.3148180894217, dsSin: 2.4168405911576, yields: 299.8911392111777, mainLines: 1870232.2540984747, background: 26.230011263441188, backgroundSin: 0.24166061488237503 },
  'drf:NaI_3x3': { templates: 305, downscatter: 269, lines: 601.3507947877555, linesSin: 24.469159719653348, ds: 534.6170195335633, dsSin: 16.195560203757058, yields: 298.36516168755213, mainLines: 1968887.5115278608, background: 24.23022828207617, backgroundSin: 1.6502993765160743 },
};

const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));

t.test('responseSpectrum with the precomputed smear is bit for bit the one without', async (t) => {
  for (const det of [DETECTORS['NaI-2x2']!, DETECTORS['NaI-2x4x16']!, loadDrf(refData('drf', 'NaI_3x3')), loadDrf(refData('drf', 'LaBr_10p'))]) {
    const smear = resolutionSmear(det, 1200, 2.5);
    let worst = 0;
    for (const E of [35, 59.54, 122.06, 661.657, 1332.49, 2614.5, 2900]) {
      const a = responseSpectrum(det, E, 1200, 2.5);
      const b = responseSpectrum(det, E, 1200, 2.5, { smear });
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
    }
    t.equal(worst, 0, `${det.name}: largest difference`);
  }
  // A smear of another grid or detector is not used (the slow path gives the right answer).
  const det = DETECTORS['NaI-2x2']!;
  const other = resolutionSmear(DETECTORS['NaI-3x3']!, 1200, 2.5);
  t.same(Array.from(responseSpectrum(det, 661.657, 1200, 2.5, { smear: other })), Array.from(responseSpectrum(det, 661.657, 1200, 2.5)), 'a smear of another detector is ignored');
});

t.test('the template sets equal the pinned ones to float noise', async (t) => {
  const build = (det: Parameters<typeof responseSpectrum>[0]) =>
    new FineTemplateSet({ detector: det, nuclides: nuclideIds(), shielding: DEFAULT_SHIELD_VARIANTS, maxEnergy_keV: 2900 * 1.03 + 100, fineWidth_keV: 1, airPath_m: 2, soil: {}, minRelativeYield: 1e-4 });
  const sets = { 'NaI-2x2': build(DETECTORS['NaI-2x2']!), 'drf:NaI_3x3': build(loadDrf(refData('drf', 'NaI_3x3'))) };
  for (const [name, set] of Object.entries(sets)) {
    const got = templateDigest(set);
    for (const [k, v] of Object.entries(PINNED_TEMPLATES[name])) t.ok(close(got[k], v), `${name} ${k}: ${got[k]}, pinned ${v}`);
  }
});

t.test('identify() gives the pinned answers', async (t) => {
  const ids = new Map<string, NuclideIdentifier>();
  for (const c of CASES) {
    let id = ids.get(c.detector);
    if (id === undefined) ids.set(c.detector, (id = new NuclideIdentifier({ detector: caseDetector(c) })));
    t.same(digest(id.identify(caseSpectrum(c))), PINNED_IDENTIFY[c.id], c.id);
  }
  t.ok(Object.keys(PINNED_IDENTIFY).length === CASES.length, 'every case pinned');
});
