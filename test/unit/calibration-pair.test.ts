// The Co-60 pair fitted as one pattern (calibrate/pair.ts) on the smallest NaI description, where the two lines are
// 2 FWHM apart and the 1332 keV line's Compton edge sits under the 1173 keV peak.
import t from 'tap';
import { channelOf } from '../../analysis/radiation/calibration.js';
import { fitPair } from '../../analysis/radiation/calibrate/pair.js';
import { simulateCheckSource } from '../../analysis/radiation/calibrate/simulate.js';
import { fwhm_keV } from '../../analysis/radiation/dose.js';
import { resolveDetector } from '../../devices/radiation/detector-response.js';
import type { EnergyCalibration } from '../../analysis/radiation/spectrum.js';

const model = resolveDetector('NaI_1x1');
const truth: EnergyCalibration = { coefficients: [0, 3] };
const E1 = 1173.228;
const E2 = 1332.492;
const sim = (seed: number): { expected: Float64Array; counts: Float64Array } =>
  simulateCheckSource({ model, sources: ['Cs137', 'Co60'].map((n) => ({ nuclide: n, activity_Bq: 3.7e5 })), calibration: truth, nChannels: 1024, liveTime_s: 600, seed });
// Starts as the search would give them: centroids a channel or two off, the width 10 % too wide.
const start = (counts: Float64Array): ReturnType<typeof fitPair> =>
  fitPair(counts, {
    lower: { energy_keV: E1, centroid_ch: channelOf(truth, E1) + 1.5 },
    upper: { energy_keV: E2, centroid_ch: channelOf(truth, E2) - 1 },
    fwhmUpper_ch: (1.1 * fwhm_keV(model, E2)) / 3,
    chPerKeV: 1 / 3,
    areaRatio: 1.1,
  });

t.test('noise-free: both centroids within 2 keV (a free multiplet put 1173 keV 4-6 keV high) and the widths within 5 % of the description', async (t) => {
  const r = start(sim(1).expected);
  if (!r) throw new Error('pair fit failed on a noise-free spectrum');
  for (const [name, q, E] of [['1173', r.lower, E1], ['1332', r.upper, E2]] as const) {
    const dE = (q.centroid_ch - channelOf(truth, E)) * 3;
    t.ok(Math.abs(dE) < 2, `${name} keV centroid off by ${dE.toFixed(2)} keV`);
    const w = (q.fwhm_ch * 3) / fwhm_keV(model, E);
    t.ok(Math.abs(w - 1) < 0.05, `${name} keV FWHM ${(w * 100).toFixed(1)} % of the description's`);
  }
  t.ok(r.ndf > 0 && r.chi2 / r.ndf < 1, `χ²/ndf ${(r.chi2 / r.ndf).toFixed(3)} on expected counts`);
});

t.test('Poisson spectra: centroid pulls within 3.5 σ, uncertainties a few keV at most', async (t) => {
  for (const seed of [1, 2, 3, 4]) {
    const r = start(sim(seed).counts);
    if (!r) throw new Error(`pair fit failed, seed ${seed}`);
    for (const [name, q, E] of [['1173', r.lower, E1], ['1332', r.upper, E2]] as const) {
      const pull = (q.centroid_ch - channelOf(truth, E)) / q.centroidSigma_ch;
      t.ok(Math.abs(pull) < 3.5 && q.centroidSigma_ch * 3 < 5, `seed ${seed}, ${name} keV: pull ${pull.toFixed(2)}, σ ${(q.centroidSigma_ch * 3).toFixed(2)} keV`);
    }
  }
});

t.test('undefined when the window cannot hold the model', async (t) => {
  t.equal(fitPair(new Float64Array(1024).fill(5), { lower: { energy_keV: E1, centroid_ch: 391 }, upper: { energy_keV: E2, centroid_ch: 392 }, fwhmUpper_ch: 1, chPerKeV: 1 / 3, areaRatio: 1 }), undefined);
  t.equal(fitPair(new Float64Array(1024).fill(5), { lower: { energy_keV: E1, centroid_ch: 391 }, upper: { energy_keV: E2, centroid_ch: 444 }, fwhmUpper_ch: 29, chPerKeV: 0, areaRatio: 1 }), undefined);
});
