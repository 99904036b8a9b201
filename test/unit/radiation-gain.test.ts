// Gain stabilisation on K-40/Tl-208: follows the simulator's temperature drift (−0.3 %/°C over a 20 °C swing) to < 0.5 %.
import t from 'tap';
import { channelOf, linearCalibration } from '../../analysis/radiation/calibration.js';
import { DETECTORS, fwhm_keV } from '../../analysis/radiation/dose.js';
import { createGainStabilizer } from '../../analysis/radiation/gain.js';
import { fitPeak } from '../../analysis/radiation/peaks.js';
import { gainAt, mulberry32, simulateStep, type Scene, type SimDetector } from '../../analysis/radiation/sim/scene.js';

const det: SimDetector = {
  id: 'L1',
  model: DETECTORS['NaI-2x4x16'],
  offset: { x_m: 0, y_m: 0, z_m: 1 },
  nChannels: 1024,
  keVPerChannel: 3,
  gainDriftPerDegC: -0.003,
};
const scene: Scene = { sources: [], background: {}, origin: { lat: 51.95, lon: 4.05 } };
const cal = linearCalibration(3);
const resolution = (E: number): number => fwhm_keV(det.model, E);
const at = { x_m: 0, y_m: 0 };

/** A 1 h background at 20 °C (nominal gain): the stabiliser's reference, as a technician would take it. */
function reference(rng: () => number): Float64Array {
  return simulateStep(scene, [det], at, 3600, rng, 20)[0].counts;
}

t.test('follows a 20 °C swing (10 → 30 → 10 °C over 4 h) to < 0.5 % once converged', async (t) => {
  const rng = mulberry32(2024);
  const st = createGainStabilizer({ cal, referenceSpectrum: reference(rng), fwhm_keV: resolution });
  const period = 4 * 3600;
  const temperature = (s: number): number => 20 - 10 * Math.cos((2 * Math.PI * s) / period);
  let worst = 0;
  let sq = 0;
  let n = 0;
  let firstConverged: number | undefined;
  let fits = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (let s = 0; s < period; s++) {
    const T = temperature(s + 0.5);
    const truth = gainAt(det, T);
    lo = Math.min(lo, truth);
    hi = Math.max(hi, truth);
    const r = simulateStep(scene, [det], at, 1, rng, T)[0];
    const u = st.update(r.counts, r.liveTime_s);
    if (u.fitted) fits++;
    if (u.converged && firstConverged === undefined) firstConverged = s;
    if (firstConverged !== undefined && s > firstConverged + 600) {
      const err = u.gain / truth - 1;
      worst = Math.max(worst, Math.abs(err));
      sq += err * err;
      n++;
    }
  }
  t.ok(hi / lo - 1 > 0.058, `the true gain swings by ${((hi / lo - 1) * 100).toFixed(1)} %`);
  t.ok(firstConverged !== undefined && firstConverged < 600, `converged after ${firstConverged} s`);
  t.ok(fits > 100, `${fits} fits in 4 h`);
  t.ok(worst < 0.005, `worst residual gain error ${(worst * 100).toFixed(3)} %`);
  t.ok(Math.sqrt(sq / n) < 0.002, `rms residual ${(Math.sqrt(sq / n) * 100).toFixed(3)} %`);
  t.ok(st.state().converged, 'converged at the end');
});

t.test('correct(): the K-40 peak of a drifted spectrum lands back at 1461 keV', async (t) => {
  const rng = mulberry32(7);
  const st = createGainStabilizer({ cal, referenceSpectrum: reference(rng), fwhm_keV: resolution });
  const T = 32; // gain 0.964
  for (let s = 0; s < 900; s++) st.update(simulateStep(scene, [det], at, 1, rng, T)[0].counts, 1);
  t.ok(Math.abs(st.state().gain / gainAt(det, T) - 1) < 0.005, `gain ${st.state().gain.toFixed(4)} vs ${gainAt(det, T).toFixed(4)}`);
  const raw = simulateStep(scene, [det], at, 1800, rng, T)[0].counts;
  const ref = st.state().referenceChannels[0];
  const fitRaw = fitPeak(raw, { centroid_ch: ref * gainAt(det, T), fwhm_ch: 26 });
  const fitCorrected = fitPeak(st.correct(raw), { centroid_ch: ref, fwhm_ch: 26 });
  if (!fitRaw || !fitCorrected) throw new Error('K-40 fits expected');
  t.ok(Math.abs(fitRaw.centroid_ch / ref - 1) > 0.03, `raw K-40 ${((fitRaw.centroid_ch / ref - 1) * 100).toFixed(2)} % off`);
  t.ok(Math.abs(fitCorrected.centroid_ch / ref - 1) < 0.003, `corrected K-40 ${((fitCorrected.centroid_ch / ref - 1) * 100).toFixed(3)} % off`);
  const total = (a: Float64Array): number => a.reduce((x, y) => x + y, 0);
  t.ok(Math.abs(total(st.correct(raw)) / total(raw) - 1) < 0.01, 'correction keeps the counts (but the few pushed past the last channel)');
});

t.test('captures an initial error of 8 %, stays at 1 without drift, ignores excluded spectra', async (t) => {
  const rng = mulberry32(99);
  const ref = reference(rng);
  const cold = 20 - 0.08 / 0.003; // gain 1.08
  const st = createGainStabilizer({ cal, referenceSpectrum: ref, fwhm_keV: resolution });
  let first: number | undefined;
  for (let s = 0; s < 600; s++) {
    const u = st.update(simulateStep(scene, [det], at, 1, rng, cold)[0].counts, 1);
    if (u.fitted && first === undefined) first = u.gain;
  }
  t.ok(first !== undefined && Math.abs(first / 1.08 - 1) < 0.01, `first fit jumps to ${first?.toFixed(4)}`);
  t.ok(Math.abs(st.state().gain / 1.08 - 1) < 0.003, `after 10 min ${st.state().gain.toFixed(4)}`);

  const steady = createGainStabilizer({ cal, referenceSpectrum: ref, fwhm_keV: resolution });
  let worst = 0;
  for (let s = 0; s < 1800; s++) worst = Math.max(worst, Math.abs(steady.update(simulateStep(scene, [det], at, 1, rng, 20)[0].counts, 1).gain - 1));
  t.ok(worst < 0.003, `no drift: gain within ${(worst * 100).toFixed(3)} % of 1`);

  // Excluded spectra (a strong Co-60 source next to K-40, flagged by the alarm) leave the estimate alone.
  const hot: Scene = { ...scene, sources: [{ nuclide: 'Co60', activity_Bq: 5e7, position: { x_m: 2, y_m: 0, z_m: 1 } }] };
  const before = steady.state();
  for (let s = 0; s < 300; s++) steady.update(simulateStep(hot, [det], at, 1, rng, 20)[0].counts, 1, { exclude: true });
  t.equal(steady.state().fits, before.fits, 'no fit on excluded spectra');
  t.equal(steady.state().accumulatedLive_s, before.accumulatedLive_s, 'nothing accumulated');
});

t.test('bad input is refused with the field named', async (t) => {
  t.throws(() => createGainStabilizer({ cal, smoothing: 1 }), /smoothing/);
  t.throws(() => createGainStabilizer({ cal, refPeaks_keV: [] }), /refPeaks_keV/);
  const st = createGainStabilizer({ cal });
  t.throws(() => st.update(new Float64Array(1024), 0), /liveTime_s/);
  st.update(new Float64Array(1024), 1);
  t.throws(() => st.update(new Float64Array(512), 1), /expected 1024 channels/);
  t.throws(() => createGainStabilizer({ cal, refPeaks_keV: [5000] }).update(new Float64Array(1024), 1), /outside the 1024 channels/);
  t.ok(channelOf(cal, 1460.822) > 0, 'sanity');
});
