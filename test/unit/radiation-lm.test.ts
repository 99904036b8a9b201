// The three Levenberg–Marquardt fits (calibrate/multiplet.ts, calibrate/pair.ts, identify/peak-fit.ts) on the shared
// solver (analysis/radiation/lm.ts): their outputs are pinned to what each gave with its own loop before the move, to
// the last bit, on Poisson spectra of a Cs-137 + Co-60 check source through the NaI_1x1 description. A change of a
// fit's model shows here too: regenerate the pin then, on purpose.
import t from 'tap';
import { channelOf } from '../../analysis/radiation/calibration.js';
import { fitPair } from '../../analysis/radiation/calibrate/pair.js';
import { fitMultiplet } from '../../analysis/radiation/calibrate/multiplet.js';
import { analysePeaks } from '../../analysis/radiation/identify/peak-fit.js';
import { simulateCheckSource } from '../../analysis/radiation/calibrate/simulate.js';
import { fwhm_keV } from '../../analysis/radiation/dose.js';
import { lmCurvature, poissonLm } from '../../analysis/radiation/lm.js';
import { resolveDetector } from '../../devices/radiation/detector-response.js';

const model = resolveDetector('NaI_1x1');
const truth = { coefficients: [0, 3] };
const E1 = 1173.228;
const E2 = 1332.492;

/** What the fits gave with their own loops (generated before the solver was shared). */
const PINNED: Record<string, unknown> = {"pair1": {"lower": {"area": 4484.839550174289, "areaSigma": 370.56593436225444, "centroid_ch": 391.176775102812, "centroidSigma_ch": 0.5125942288823219, "fwhm_ch": 28.145973814702316, "fwhmSigma_ch": 0.8263456959888072}, "upper": {"area": 3845.7070407342594, "areaSigma": 287.886948109828, "centroid_ch": 443.6142885347324, "centroidSigma_ch": 0.6855874279030403, "fwhm_ch": 29.995587658260416, "fwhmSigma_ch": 0.8806490378780535}, "chi2": 157.7206856427194, "ndf": 183, "window": [317, 508]}, "multiplet1": {"peaks": [{"area": 3906.401114096835, "areaSigma": 2089.4170298479917, "centroid_ch": 393.6877067817368, "centroidSigma_ch": 3.02885747838431, "fwhm_ch": 30.042195748276974, "fwhmSigma_ch": 5.073909762226162}, {"area": 4227.607598149667, "areaSigma": 1309.097458828966, "centroid_ch": 443.1468198128169, "centroidSigma_ch": 2.123188735164424, "fwhm_ch": 29.88820712893609, "fwhmSigma_ch": 2.7888384899953427}], "chi2": 107.35167242475431, "ndf": 124, "window": [351, 485]}, "single1": {"peaks": [{"area": 8077.3212481330165, "areaSigma": 1192.0960274721922, "centroid_ch": 219.4327001504997, "centroidSigma_ch": 0.6339193729011117, "fwhm_ch": 18.419996231655816, "fwhmSigma_ch": 1.2666671170151327}], "chi2": 54.163667926547966, "ndf": 45, "window": [195, 246]}, "peaks1": {"peaks": [{"energy_keV": 454.7930470889875, "energySigma_keV": 4.261588955815989, "area": 1460.0879177677518, "areaSigma": 210.99989528065382, "fwhm_keV": 44.712760283260025, "continuum": -1080.4242273828725, "searchSignificance": 7.796471921729119}, {"energy_keV": 660.4874401821528, "energySigma_keV": 1.4665754333641428, "area": 6517.392131527576, "areaSigma": 243.60626481788256, "fwhm_keV": 59.45476783670938, "continuum": -1115.3351937300333, "searchSignificance": 39.51722876739935}, {"energy_keV": 992.7540135367204, "energySigma_keV": 24.110948584874286, "area": 402.07164245607856, "areaSigma": 209.48323721763674, "fwhm_keV": 74.40396410115649, "continuum": -746.2450998173699, "searchSignificance": 4.87779452787263}, {"energy_keV": 1167.6966140282632, "energySigma_keV": 1.5608676356853624, "area": 7842.2466340584215, "areaSigma": 233.13651427479687, "fwhm_keV": 81.3513337749091, "continuum": -442.0076171438471, "searchSignificance": 18.63239364404265}, {"energy_keV": 1325.1061939206243, "energySigma_keV": 1.4324074009079268, "area": 5813.999635159451, "areaSigma": 165.07423521985714, "fwhm_keV": 87.2109550334513, "continuum": -113.16876459153632, "searchSignificance": 22.895086974369057}], "widthScale": 1, "chi2": 2230.24302235846, "ndf": 410, "channels": 423}, "pair2": {"lower": {"area": 4289.60022589394, "areaSigma": 397.7854420802044, "centroid_ch": 390.8613622626635, "centroidSigma_ch": 0.5337917224892431, "fwhm_ch": 27.15266875007836, "fwhmSigma_ch": 0.9345211649636543}, "upper": {"area": 3630.476788860595, "areaSigma": 308.847881412545, "centroid_ch": 444.19205898119503, "centroidSigma_ch": 0.7695715829305821, "fwhm_ch": 28.937007509871364, "fwhmSigma_ch": 0.995933262309951}, "chi2": 213.347021434978, "ndf": 183, "window": [317, 508]}, "multiplet2": {"peaks": [{"area": 4086.924688536043, "areaSigma": 1138.700041171642, "centroid_ch": 391.13113573176844, "centroidSigma_ch": 2.1543259755521604, "fwhm_ch": 27.580467373169647, "fwhmSigma_ch": 2.867071276270202}, {"area": 3250.5121839351077, "areaSigma": 648.232927879404, "centroid_ch": 444.2818904681692, "centroidSigma_ch": 1.4123426682774785, "fwhm_ch": 26.937420921268902, "fwhmSigma_ch": 2.0754276548866586}], "chi2": 136.38311838494567, "ndf": 124, "window": [351, 485]}, "single2": {"peaks": [{"area": 7107.439324732266, "areaSigma": 1067.6661374171692, "centroid_ch": 221.4726246669789, "centroidSigma_ch": 0.5924343976387032, "fwhm_ch": 18.017817495152016, "fwhmSigma_ch": 1.2204856303850358}], "chi2": 46.151134772037224, "ndf": 45, "window": [195, 246]}, "peaks2": {"peaks": [{"energy_keV": 452.76298819671047, "energySigma_keV": 3.0428317900265274, "area": 2338.223905722672, "areaSigma": 233.9372634536799, "fwhm_keV": 52.21120279501754, "continuum": 357.8446831400169, "searchSignificance": 8.102941635734336}, {"energy_keV": 657.0551935094032, "energySigma_keV": 1.409053905695072, "area": 8059.794276450001, "areaSigma": 295.655789094851, "fwhm_keV": 69.3864502315732, "continuum": 411.9161537347635, "searchSignificance": 38.935741500139976}, {"energy_keV": 988.4512497459366, "energySigma_keV": 4.986764620442395, "area": 2310.0995787424367, "areaSigma": 284.93665576711965, "fwhm_keV": 86.97101326190709, "continuum": 386.9020761882585, "searchSignificance": 5.312077792587716}, {"energy_keV": 1157.3152831043203, "energySigma_keV": 1.4686726709169264, "area": 10429.185990679669, "areaSigma": 329.95962444462765, "fwhm_keV": 94.8522349286146, "continuum": 350.0482561986524, "searchSignificance": 20.390704897979365}, {"energy_keV": 1317.0367070183327, "energySigma_keV": 1.6216688822532206, "area": 6749.713851120986, "areaSigma": 188.77745491525823, "fwhm_keV": 101.84224712152128, "continuum": 302.81099932206155, "searchSignificance": 22.886706737291647}], "widthScale": 1.171698768628126, "chi2": 1992.3257972147346, "ndf": 435, "channels": 448}};

function outputs(seed: number): Record<string, unknown> {
  const counts = simulateCheckSource({ model, sources: ['Cs137', 'Co60'].map((n) => ({ nuclide: n, activity_Bq: 3.7e5 })), calibration: truth, nChannels: 1024, liveTime_s: 600, seed }).counts;
  const c0 = channelOf(truth, 661.657);
  const c1 = channelOf(truth, E1);
  const c2 = channelOf(truth, E2);
  const a = analysePeaks(counts, { calibration: truth, fwhm_keV: (E) => fwhm_keV(model, E), range_keV: [50, 2900] });
  return {
    [`pair${seed}`]: fitPair(counts, { lower: { energy_keV: E1, centroid_ch: c1 + 1.5 }, upper: { energy_keV: E2, centroid_ch: c2 - 1 }, fwhmUpper_ch: (1.1 * fwhm_keV(model, E2)) / 3, chPerKeV: 1 / 3, areaRatio: 1.1 }),
    [`multiplet${seed}`]: fitMultiplet(counts, [{ centroid_ch: c1 + 1, fwhm_ch: fwhm_keV(model, E1) / 3 }, { centroid_ch: c2 - 1, fwhm_ch: fwhm_keV(model, E2) / 3 }], [c1 - 40, c2 + 40]),
    [`single${seed}`]: fitMultiplet(counts, [{ centroid_ch: c0 + 0.7, fwhm_ch: (1.1 * fwhm_keV(model, 661.657)) / 3 }], [c0 - 25, c0 + 25]),
    [`peaks${seed}`]: { peaks: a.peaks, widthScale: a.widthScale, chi2: a.chi2, ndf: a.ndf, channels: a.channels },
  };
}

t.test('pair, multiplet and peak fits give exactly what their own loops gave', async (t) => {
  for (const seed of [1, 2]) {
    const got = JSON.parse(JSON.stringify(outputs(seed))) as Record<string, unknown>;
    for (const [k, v] of Object.entries(got)) t.strictSame(v, PINNED[k], `${k}`);
  }
});

t.test('the solver recovers a Gaussian on a flat continuum, with the prior pulling its parameter', async (t) => {
  const m = 60;
  const f = (q: number[], out: Float64Array): void => {
    for (let i = 0; i < m; i++) out[i] = q[2]! + (q[0]! / (q[3]! * Math.sqrt(2 * Math.PI))) * Math.exp(-0.5 * ((i + 0.5 - q[1]!) / q[3]!) ** 2);
  };
  const truthQ = [5000, 31.3, 20, 4.2];
  const counts = new Float64Array(m);
  f(truthQ, counts);
  const base = { counts, lo: 0, m, model: f, step: (a: number, q: readonly number[]) => Math.max(1e-5, Math.abs(q[a]!) * 1e-6), maxIterations: 100, maxTries: 12, tolerance: 1e-12 };
  const r = poissonLm({ ...base, start: [3000, 28, 10, 6] });
  if (!r) throw new Error('no fit');
  r.p.forEach((v, i) => t.ok(Math.abs(v - truthQ[i]!) < 1e-4 * Math.abs(truthQ[i]!), `parameter ${i}: ${v} (truth ${truthQ[i]})`));
  t.ok(r.chi2 < 1e-8, `χ² ${r.chi2} on noise-free counts`);
  const cov = lmCurvature(r);
  t.equal(cov.length, 4);
  t.ok(cov.every((row, a) => row.every((v, b) => v === cov[b]![a])), 'curvature is symmetric');
  // A prior 0.01 channels wide at 30 holds the centroid there against the data.
  const held = poissonLm({ ...base, start: [3000, 28, 10, 6], prior: { index: 1, mean: 30, sigma: 0.01 } });
  t.ok(held && Math.abs(held.p[1]! - 30) < 0.05, `centroid with the prior ${held?.p[1]}`);
  // A parameter the model does not depend on: the damping keeps the step finite and leaves it where it started.
  const idle = poissonLm({ ...base, model: (q, out) => f([q[0]!, q[1]!, q[2]!, 4.2], out), start: [3000, 28, 10, 7] });
  t.ok(idle && idle.p[3] === 7 && Math.abs(idle.p[1]! - 31.3) < 1e-3, `idle parameter ${idle?.p[3]}, centroid ${idle?.p[1]}`);
});
