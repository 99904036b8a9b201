// Energy calibration from a spectrum's own peaks (calibrate/from-peaks.ts): simulated spectra of known calibration, a featureless one refused, and the real Kromek D3S file that carries none.
import t from 'tap';
import { join } from 'node:path';
import { calibrateFromPeaks } from '../../analysis/radiation/calibrate/from-peaks.js';
import { simulateCheckSource } from '../../analysis/radiation/calibrate/simulate.js';
import { energyOf } from '../../analysis/radiation/calibration.js';
import { readRadFile } from '../../devices/radiation/files.js';
import { refData } from '../helpers/paths.js';

const DATA = refData();

t.test('simulated spectra: the true linear calibration comes back', async (t) => {
  const cases = [
    { model: 'CsI-1cm3', sources: ['Ba133', 'Cs137'], cal: [-15, 0.62], nChannels: 4096 },
    { model: 'NaI-3x3', sources: ['Co60', 'Cs137'], cal: [4, 2.9], nChannels: 1024 },
    { model: 'NaI-2x2', sources: ['Cs137'], cal: [0, 1.5], nChannels: 2048 },
  ];
  for (const c of cases) {
    const { counts, model } = simulateCheckSource({ model: c.model, sources: c.sources.map((nuclide) => ({ nuclide, activity_Bq: 3.7e5 })), calibration: { coefficients: c.cal }, nChannels: c.nChannels, liveTime_s: 1800, seed: 7 });
    const r = calibrateFromPeaks(counts, { fwhmAt662: model.fwhmAt662 });
    t.ok(r, `${c.model} ${c.sources.join('+')}: calibrated`);
    if (!r) continue;
    for (const E of [356, 662, 1332]) {
      const ch = (E - c.cal[0]!) / c.cal[1]!;
      if (ch >= c.nChannels) continue;
      const got = energyOf(r.calibration, ch);
      t.ok(Math.abs(got - E) < 0.02 * E, `${c.model} ${c.sources.join('+')}: ${E} keV read as ${got.toFixed(1)} keV (${r.reason})`);
    }
    t.ok(r.matched.some((m) => m.energy_keV === 661.7), 'the Cs-137 line is among those matched');
  }
});

t.test('nothing but continuum: no calibration is made up', async (t) => {
  const counts = new Float64Array(1024).map((_, i) => Math.round(2000 * Math.exp(-i / 150)) + 5);
  t.equal(calibrateFromPeaks(counts, { fwhmAt662: 0.07 }), undefined);
  t.throws(() => calibrateFromPeaks(counts, { fwhmAt662: 7 }), /fwhmAt662: expected a fraction in \(0, 1\), got 7/);
});

t.test('the Kromek D3S SPE (no calibration in the file): 356 and 662 keV where they are', async (t) => {
  const plain = await readRadFile(join(DATA, 'spe', 'becquerel-SGM102432-csi-ba133-cs137.spe'));
  t.equal(plain.measurements[0]!.spectra[0]!.calibration, undefined, 'reading alone invents nothing');
  const f = await readRadFile(join(DATA, 'spe', 'becquerel-SGM102432-csi-ba133-cs137.spe'), { calibrateFromPeaks: true });
  const cal = f.measurements[0]!.spectra[0]!.calibration;
  t.ok(cal, 'calibrated from the peaks');
  // Ba-133 356 keV and Cs-137 662 keV peak at channels 599 and 1093 (E ≈ -15 + 0.619·ch).
  t.ok(Math.abs(energyOf(cal!, 599) - 356) < 10, `356 keV line read as ${energyOf(cal!, 599).toFixed(1)} keV`);
  t.ok(Math.abs(energyOf(cal!, 1093) - 661.7) < 15, `662 keV line read as ${energyOf(cal!, 1093).toFixed(1)} keV`);
  const w = f.warnings.find((x) => x.field === 'calibration');
  t.match(w?.message, /becquerel-SGM102432-csi-ba133-cs137\.spe: detector "detector": no usable energy calibration in the file; calibrated from the spectrum's peaks: .*661\.7 keV \(Cs137\)/);
});
