// A DetectorModel carrying a real detector's description follows it everywhere: FWHM law, tabulated efficiencies,
// response spectra, G(E) and the simulator; the project's own detectors are unchanged.
import t from 'tap';
import { join } from 'node:path';
import {
  DETECTORS,
  buildGFunction,
  detectorFaceArea_cm2,
  escapeEfficiencies,
  fwhm_keV,
  peakToTotal,
  photopeakEfficiency,
  responseSpectrum,
  totalEfficiency,
} from '../../analysis/radiation/dose.js';
import { drfPeakEfficiency, gadrasFwhm_keV, interpolateEfficiency, type DrfDetectorModel } from '../../analysis/radiation/drf.js';
import { createPeakSearch } from '../../analysis/radiation/peaks.js';
import { mulberry32, simulateStep, type Scene, type SimDetector } from '../../analysis/radiation/sim/scene.js';
import { loadDrf } from '../../devices/radiation/detector-response.js';
import { refData } from '../helpers/paths.js';

const load = (name: string): DrfDetectorModel => loadDrf(join(refData('drf'), name));
const NAI = load('NaI_3x3');
const LABR = load('LaBr_10p');
const HPGE = load('HPGe_40p');

t.test('FWHM at 122, 662 and 1332 keV is the description\'s GADRAS law, not √E', async (t) => {
  for (const det of [NAI, LABR, HPGE]) {
    for (const E of [121.78, 661.657, 1332.49]) {
      const law = gadrasFwhm_keV(det.drf.resolution, E);
      t.ok(Math.abs(fwhm_keV(det, E) / law - 1) < 1e-9, `${det.name} ${E} keV: ${fwhm_keV(det, E).toFixed(3)} keV = law ${law.toFixed(3)} keV`);
    }
  }
  // The √E scaling would give a different width away from 662 keV: the law is what is used.
  const sqrtE = HPGE.fwhmAt662 * Math.sqrt(661.657 * 121.78);
  t.ok(Math.abs(fwhm_keV(HPGE, 121.78) - sqrtE) > 0.1, `HPGe 40 % at 122 keV: law ${fwhm_keV(HPGE, 121.78).toFixed(3)} keV, √E would say ${sqrtE.toFixed(3)} keV`);
  t.ok(fwhm_keV(HPGE, 1332.49) < 2.5 && fwhm_keV(HPGE, 661.657) < 2, `HPGe 40 %: ${fwhm_keV(HPGE, 661.657).toFixed(2)} keV at 662, ${fwhm_keV(HPGE, 1332.49).toFixed(2)} keV at 1332`);
  const wider = { ...LABR, fwhmAt662: LABR.fwhmAt662 * 1.1 };
  t.ok(Math.abs(fwhm_keV(wider, 1332.49) / fwhm_keV(LABR, 1332.49) - 1.1) < 1e-9, 'fwhmAt662 still scales a described detector\'s width');
});

t.test('peak, total and escape efficiencies come from Efficiency.csv', async (t) => {
  for (const det of [NAI, LABR, HPGE]) {
    const tab = det.drf.efficiency;
    for (const E of [121.78, 661.657, 1332.49]) {
      t.ok(Math.abs(photopeakEfficiency(det, E) - drfPeakEfficiency(det.drf, E)) < 1e-12, `${det.name} ${E} keV: peak ${(photopeakEfficiency(det, E) * 100).toFixed(3)} %`);
      t.equal(totalEfficiency(det, E), interpolateEfficiency(tab, tab.total, E), `${det.name} ${E} keV: total is PTOT`);
      t.ok(Math.abs(peakToTotal(det, E) * totalEfficiency(det, E) - photopeakEfficiency(det, E)) < 1e-12);
    }
    // A tabulated energy gives the table's own value.
    const i = tab.energy_keV.indexOf(1000);
    t.ok(i >= 0 && photopeakEfficiency(det, 1000) === tab.peak[i], `${det.name}: Peak at 1000 keV is the table's ${tab.peak[i]}`);
    t.ok(escapeEfficiencies(det, 2614.5).single > 0 && escapeEfficiencies(det, 900).single === 0, `${det.name}: escape peaks above 1022 keV only`);
    t.ok(Number.isFinite(photopeakEfficiency(det, 5)) && Number.isFinite(photopeakEfficiency(det, 2e5)), 'outside the table the end value is held');
  }
  // The built-in physics is still what the project's own detectors use.
  const own = DETECTORS['NaI-3x3']!;
  t.equal(own.drf, undefined);
  t.ok(Math.abs(photopeakEfficiency(own, 661.657) - totalEfficiency(own, 661.657) * peakToTotal(own, 661.657)) < 1e-12);
  t.ok(Math.abs(photopeakEfficiency(own, 661.657) - photopeakEfficiency(NAI, 661.657)) > 0.01 || Math.abs(photopeakEfficiency(own, 1332.49) - photopeakEfficiency(NAI, 1332.49)) > 0.005, 'built-in NaI 3x3 and the description differ');
});

t.test('response spectrum: the peak holds the table\'s peak efficiency, the sum its PTOT, escape peaks where they belong', async (t) => {
  const kpc = 0.25;
  const n = 12000;
  const r = responseSpectrum(HPGE, 2614.511, n, kpc);
  const sum = (lo: number, hi: number): number => {
    let s = 0;
    for (let ch = Math.floor(lo / kpc); ch < Math.ceil(hi / kpc); ch++) s += r[ch]!;
    return s;
  };
  const total = sum(0, n * kpc);
  const tab = HPGE.drf.efficiency;
  t.ok(Math.abs(total / interpolateEfficiency(tab, tab.total, 2614.511) - 1) < 0.01, `sum ${total.toFixed(4)} = PTOT`);
  const w = 4;
  const peak = sum(2614.511 - w, 2614.511 + w);
  t.ok(Math.abs(peak / photopeakEfficiency(HPGE, 2614.511) - 1) < 0.05, `full-energy peak ${peak.toExponential(3)} ≈ table ${photopeakEfficiency(HPGE, 2614.511).toExponential(3)} (continuum under it included)`);
  const se = sum(2103.5 - w, 2103.5 + w) - sum(2103.5 - 3 * w, 2103.5 - w);
  t.ok(se > 0.5 * escapeEfficiencies(HPGE, 2614.511).single, `single escape peak at 2103.5 keV (${se.toExponential(2)})`);
});

t.test('a Cs-137 spectrum simulated with the HPGe 40 % description has a 662 keV peak narrower than 2 keV', async (t) => {
  const kpc = 0.25;
  const det: SimDetector = { id: 'ge', model: HPGE, offset: { x_m: 0, y_m: 0, z_m: 1 }, nChannels: 12000, keVPerChannel: kpc };
  const scene: Scene = { sources: [{ nuclide: 'Cs137', activity_Bq: 3.7e5, position: { x_m: 0.3, y_m: 0, z_m: 1 } }], background: {}, origin: { lat: 50, lon: 14 } };
  const [step] = simulateStep(scene, [det], { x_m: 0, y_m: 0 }, 600, mulberry32(7));
  const peaks = createPeakSearch({ nChannels: det.nChannels, fwhm_ch: (ch) => fwhm_keV(HPGE, Math.max(ch * kpc, 20)) / kpc, threshold: 5 }).search(step!.counts);
  const cs = peaks.find((p) => p.fit && Math.abs(p.fit.centroid_ch * kpc - 661.657) < 1);
  t.ok(cs, `a peak at 662 keV among ${peaks.length}`);
  const fw = cs!.fit!.fwhm_ch * kpc;
  t.ok(fw < 2 && fw > 0.8 * fwhm_keV(HPGE, 661.657), `FWHM ${fw.toFixed(2)} keV (law ${fwhm_keV(HPGE, 661.657).toFixed(2)} keV)`);
  // The same scene through the project's NaI 3x3 gives a scintillator's peak.
  const [nai] = simulateStep(scene, [{ ...det, model: DETECTORS['NaI-3x3']!, nChannels: 1400, keVPerChannel: 2 }], { x_m: 0, y_m: 0 }, 600, mulberry32(7));
  const np = createPeakSearch({ nChannels: 1400, fwhm_ch: (ch) => fwhm_keV(DETECTORS['NaI-3x3']!, Math.max(ch * 2, 20)) / 2, threshold: 5 }).search(nai!.counts).find((p) => p.fit && Math.abs(p.fit.centroid_ch * 2 - 661.657) < 5);
  t.ok(np && np.fit!.fwhm_ch * 2 > 30, `NaI 3x3: ${(np!.fit!.fwhm_ch * 2).toFixed(1)} keV`);
});

t.test('G(E) is fitted on the description\'s response and reproduces H*(10) for its detector', async (t) => {
  const g = buildGFunction({ detector: LABR, nCalibration: 24, degree: 8 });
  const worst = Math.max(...g.calibration.map((c) => Math.abs(c.relError)));
  t.ok(worst < 0.15, `worst calibration-field error ${(worst * 100).toFixed(1)} %`);
  const own = buildGFunction({ detector: DETECTORS['NaI-3x3']!, nCalibration: 24, degree: 8 });
  // Per count a smaller crystal face (LaBr 10 %) needs a larger G: fewer counts for the same dose.
  t.not(g.evaluate(662).toFixed(6), own.evaluate(662).toFixed(6), 'a different detector, a different G(E)');
  t.ok(detectorFaceArea_cm2(LABR) < detectorFaceArea_cm2(DETECTORS['NaI-3x3']!) && g.evaluate(662) > own.evaluate(662), `G(662) LaBr ${g.evaluate(662).toExponential(2)} > NaI 3x3 ${own.evaluate(662).toExponential(2)}`);
});
