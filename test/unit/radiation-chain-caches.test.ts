// What the chain and the gain stabiliser keep between spectra (edges, searchers, G(E) per model) gives what recomputing would.
import t from 'tap';
import { linearCalibration, rebin, rebinEdges, rebinEdgesOf, scaleGain } from '../../analysis/radiation/calibration.js';
import { CHAIN_DEFAULTS, RadiationChain } from '../../analysis/radiation/chain.js';
import { DETECTORS, fwhm_keV } from '../../analysis/radiation/dose.js';
import { createGainStabilizer } from '../../analysis/radiation/gain.js';
import { gainAt, mulberry32, simulateStep, type Scene, type SimDetector } from '../../analysis/radiation/sim/scene.js';

const cal = { coefficients: [2, 2.9, 1e-5], deviationPairs: [[100, 1], [1000, -2], [2600, 3]] as [number, number][] };

function spectrum(n: number, seed: number): Float64Array {
  const rng = mulberry32(seed);
  return Float64Array.from({ length: n }, (_, i) => (i % 17 === 0 ? 0 : Math.floor(rng() * 50)));
}

t.test('rebinEdges between precomputed edges is rebin() to the last bit, also on one edge list', async (t) => {
  const counts = spectrum(1024, 1);
  const nominal = rebinEdgesOf(cal, 1024, 'target');
  for (const gain of [0.93, 1.0004, 1.07]) {
    const from = scaleGain(cal, gain);
    t.same([...rebinEdges(counts, rebinEdgesOf(from, 1024, 'source'), nominal)], [...rebin(counts, from, cal)], `gain ${gain}`);
  }
  t.same([...rebinEdges(counts, nominal, nominal)], [...rebin(counts, cal, cal)], 'one list on both sides');
  t.same([...rebinEdges(counts, nominal, nominal, { outside: 'edge' })], [...rebin(counts, cal, cal, { outside: 'edge' })], 'outside: edge');
  t.throws(() => rebinEdges(counts, nominal.subarray(1), nominal), /1025 source edges/);
  t.throws(() => rebinEdgesOf({ coefficients: [0, 3, -0.01] }, 1024, 'source'), /source calibration must increase/);
});

t.test('a drifting stabiliser corrects exactly as a rebinning at its present gain', async (t) => {
  const det: SimDetector = { id: 'd', model: DETECTORS['NaI-2x4x16']!, offset: { x_m: 0, y_m: 0, z_m: 1 }, nChannels: 1024, keVPerChannel: 3, gainDriftPerDegC: -0.003 };
  const scene: Scene = { sources: [], background: {}, origin: { lat: 51.95, lon: 4.05 } };
  const lin = linearCalibration(3);
  const rng = mulberry32(7);
  const st = createGainStabilizer({ cal: lin, nChannels: 1024, fwhm_keV: (E) => fwhm_keV(det.model, E) });
  let fits = 0;
  let checked = 0;
  // 15 °C over 40 min: the gain moves by several %, so the filter has a rate and the edges change at every update.
  for (let s = 0; s < 2400; s += 2) {
    const r = simulateStep(scene, [det], { x_m: 0, y_m: 0 }, 2, rng, 15 + s / 160)[0]!;
    if (s % 200 === 100) {
      const g = st.state().gain;
      t.same([...st.correct(r.counts)], [...rebin(r.counts, scaleGain(lin, g), lin)], `correct() at ${s} s, gain ${g.toFixed(4)}`);
      // Twice at one gain: the kept edges give the same again.
      t.same([...st.correct(r.counts)], [...rebin(r.counts, scaleGain(lin, g), lin)], `correct() again at ${s} s`);
      checked++;
    }
    if (st.update(r.counts, r.liveTime_s).fitted) fits++;
  }
  t.ok(fits >= 5, `${fits} fits`);
  t.ok(st.state().rate_per_s !== 0, 'the filter has a drift rate');
  t.ok(Math.abs(st.state().gain / gainAt(det, 15 + 2400 / 160) - 1) < 0.01, `gain ${st.state().gain.toFixed(4)} follows the truth ${gainAt(det, 15 + 2400 / 160).toFixed(4)}`);
  t.equal(checked, 12);
});

t.test('two detector models of one name (two DRF folders) get their own G(E)', async (t) => {
  const base = DETECTORS['NaI-2x4x16']!;
  const chain = new RadiationChain({
    ...CHAIN_DEFAULTS,
    gainStabilisation: false,
    identify: false,
    keVPerChannel: 3,
    alarmIdPrefix: 't',
    detectors: [
      { id: 'a', model: base },
      { id: 'b', model: { ...base, fwhmAt662: 0.1 } },
      { id: 'c', model: { ...base } },
    ],
  });
  const counts = spectrum(1024, 2);
  for (const detector of ['a', 'b', 'c']) chain.spectrum({ detector, counts, liveTime_s: 1, realTime_s: 1, time_ms: 0 });
  const rad = chain.flush().find((o) => o.kind === 'rad');
  if (rad?.kind !== 'rad') throw new Error('no rad body');
  const dose = Object.fromEntries(rad.body.detectors.map((d) => [d.id, d.doseRate_uSv_h]));
  t.not(dose.a, dose.b, `resolution 8 % → ${dose.a}, 10 % → ${dose.b} µSv/h`);
  t.equal(dose.a, dose.c, 'an equal model (another object) shares the G(E)');
});
