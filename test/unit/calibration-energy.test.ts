// Energy calibration from check sources: known true calibrations recovered within 0.5 % over 50-3000 keV; real files
// give a sensible calibration or a clear refusal; bad input gives an error naming what was expected.
import t from 'tap';
import { channelOf, energyOf } from '../../analysis/radiation/calibration.js';
import { readRadFile } from '../../devices/radiation/files.js';
import type { EnergyCalibration } from '../../analysis/radiation/spectrum.js';
import { calibrateEnergy, CalibrationRefused, energyCalibrationOf, expectedLines } from '../../analysis/radiation/calibrate/energy.js';
import { simulateCheckSource } from '../../analysis/radiation/calibrate/simulate.js';
import { UnknownNuclideError } from '../../analysis/radiation/nuclides.js';
import { refData } from '../helpers/paths.js';

const DATA = refData() + '/';
const SOURCES = ['Am241', 'Cs137', 'Co60'];

/** Largest |E_fit − E_true| / E_true over 50-3000 keV, at the channels where the true calibration puts each energy. */
function worstError(truth: EnergyCalibration, fit: EnergyCalibration): { worst: number; at: number } {
  let worst = 0;
  let at = 0;
  for (let E = 50; E <= 3000; E += 5) {
    const e = Math.abs(energyOf(fit, channelOf(truth, E)) - E) / E;
    if (e > worst) {
      worst = e;
      at = E;
    }
  }
  return { worst, at };
}

const cases: { name: string; truth: EnergyCalibration; deviationPairs?: boolean }[] = [
  { name: 'linear', truth: { coefficients: [5, 3.1] } },
  { name: 'quadratic', truth: { coefficients: [-8, 2.6, 1.5e-4] } },
  // A scintillator's light yield: +5 keV at 60 keV, 0 at 662 keV, -5 keV at 2.6 MeV (N42 deviation-pair convention,
  // linear between the pairs).
  {
    name: 'nonlinear (deviation pairs)',
    truth: { coefficients: [0, 3.0], deviationPairs: [[59.5409, 5], [661.657, 0], [1173.2, -3], [1332.5, -3.5], [2614.5, -5]] },
    deviationPairs: true,
  },
];

for (const c of cases) {
  t.test(`simulated Am-241 + Cs-137 + Co-60, ${c.name} detector: energies within 0.5 % over 50-3000 keV`, async (t) => {
    for (const seed of [3, 7]) {
      // The file's own calibration is not passed at all: the search works in channels.
      const { counts } = simulateCheckSource({ sources: SOURCES.map((n) => ({ nuclide: n, activity_Bq: 3.7e5 })), calibration: c.truth, nChannels: 1024, liveTime_s: 3600, seed });
      const r = calibrateEnergy(counts, { sources: SOURCES, natural: true, deviationPairs: !!c.deviationPairs });
      const { worst, at } = worstError(c.truth, energyCalibrationOf(r));
      t.ok(worst < 0.005, `seed ${seed}: worst ${(worst * 100).toFixed(3)} % at ${at} keV (coefficients ${r.coefficients.map((x) => x.toPrecision(4)).join(', ')})`);
      t.same(
        r.peaks.filter((p) => p.nuclide !== 'K40' && p.nuclide !== 'Th232').map((p) => Math.round(p.energy_keV)),
        [60, 662, 1173, 1332],
        'every check-source line found and matched',
      );
      t.ok(r.peaks.every((p) => Number.isFinite(p.residual_keV) && p.channelSigma > 0), 'residual and uncertainty per peak');
      if (c.deviationPairs) t.ok((r.deviationPairs?.length ?? 0) >= 3, 'deviation pairs fitted');
    }
  });
}

t.test('three lines (Cs-137 + Co-60): a straight line, since three points always fit a parabola', async (t) => {
  const truth = { coefficients: [2, 1.5] };
  const { counts } = simulateCheckSource({ sources: ['Cs137', 'Co60'].map((n) => ({ nuclide: n, activity_Bq: 3.7e5 })), calibration: truth, nChannels: 2048, liveTime_s: 1800, seed: 9 });
  const r = calibrateEnergy(counts, { sources: ['Cs137', 'Co60'] });
  t.ok(worstError(truth, energyCalibrationOf(r)).worst < 0.01, '2048 channels at 1.5 keV: within 1 % (three lines, linear)');
  t.equal(r.degree, 1);
});

t.test('real files: a sensible calibration or a clear refusal', async (t) => {
  // InterSpec's Ba-133 source spectrum (HPGe, 16384 channels): our calibration agrees with the file's at its lines.
  const ba = await readRadFile(`${DATA}n42/interspec-ba133_source_640s.n42`);
  const sp = ba.measurements.flatMap((m) => m.spectra)[0]!;
  const r = calibrateEnergy(sp.counts, { sources: ['Ba133'] });
  t.ok(r.peaks.length >= 4, `${r.peaks.length} Ba-133 lines matched`);
  for (const p of r.peaks) t.ok(Math.abs(energyOf(sp.calibration!, p.channel) - p.energy_keV) < 1.5, `Ba-133 ${p.energy_keV.toFixed(1)} keV: the file's calibration says ${energyOf(sp.calibration!, p.channel).toFixed(2)}`);
  // Its background: K-40 and Tl-208.
  const bg = await readRadFile(`${DATA}n42/interspec-background.n42`);
  const bsp = bg.measurements.flatMap((m) => m.spectra)[0]!;
  const rb = calibrateEnergy(bsp.counts, { sources: ['K40'], natural: true });
  t.same(rb.peaks.map((p) => Math.round(p.energy_keV)), [1461, 2615], 'background: K-40 and Tl-208');
  t.ok(Math.abs(energyOf(energyCalibrationOf(rb), 4000) - energyOf(bsp.calibration!, 4000)) < 2, 'agrees with the file at channel 4000');
  // Refusals, each saying why.
  const csi = await readRadFile(`${DATA}spe/becquerel-SGM102432-csi-ba133-cs137.spe`);
  t.throws(() => calibrateEnergy(csi.measurements[0]!.spectra[0]!.counts, { sources: ['Ba133', 'Cs137'] }), { name: 'CalibrationRefused', message: /356\.0 keV line was not found.*peaks found at channels/ }, 'Kromek CsI: the Ba-133 pattern is not there');
  const am = await readRadFile(`${DATA}n42/radiacode-am241.n42`);
  t.throws(() => calibrateEnergy(am.measurements.flatMap((m) => m.spectra)[0]!.counts, { sources: ['Am241'] }), { message: /only one line matched \(Am241 59\.5 keV/ }, 'RadiaCode Am-241: one line cannot confirm the identification');
  const mn = await readRadFile(`${DATA}n42/specutils-Mn56_DetX_Shielded.n42`);
  t.throws(() => calibrateEnergy(mn.measurements.flatMap((m) => m.spectra)[0]!.counts, { sources: ['Co60'] }), CalibrationRefused, 'Mn-56 spectrum named as Co-60: refused');
});

t.test('bad input: clear errors', async (t) => {
  const truth = { coefficients: [0, 3] };
  const cs = simulateCheckSource({ sources: [{ nuclide: 'Cs137', activity_Bq: 3.7e5 }], calibration: truth, nChannels: 1024, liveTime_s: 600, seed: 2 }).counts;
  t.throws(() => calibrateEnergy(cs, { sources: ['Co60', 'Am241'] }), { name: 'CalibrationRefused', message: /(Co-60|Am-241): (its [\d.]+ keV line (was not found|should be at channel \d+ with this calibration, but no peak is there)|most of its lines are missing)/ }, 'named sources whose peaks are not in the spectrum');
  t.throws(() => calibrateEnergy(cs, { sources: ['Cs999'] }), UnknownNuclideError, 'unknown source name');
  t.throws(() => calibrateEnergy(cs, { sources: ['Cs999'] }), { message: /unknown nuclide 'Cs999': expected one of .*Cs137/ });
  t.throws(() => calibrateEnergy(cs, { sources: [] }), { message: /--source: expected at least one check source/ });
  t.throws(() => calibrateEnergy(new Float64Array(1024), { sources: ['Cs137'] }), { message: /only 0 counts/ }, 'empty spectrum');
  t.throws(() => calibrateEnergy(new Float64Array(16), { sources: ['Cs137'] }), { message: /at least 64 channels/ });
  t.throws(() => calibrateEnergy(Float64Array.from({ length: 100 }, () => -1), { sources: ['Cs137'] }), { message: /counts >= 0/ });
  const mix = simulateCheckSource({ sources: ['Am241', 'Cs137', 'Co60'].map((n) => ({ nuclide: n, activity_Bq: 3.7e5 })), calibration: truth, nChannels: 1024, liveTime_s: 1800, seed: 6 }).counts;
  t.throws(() => calibrateEnergy(mix, { sources: ['Co60', 'Eu152'] }), { message: /Eu-152: most of its lines are missing/ }, 'Eu-152 named but absent');
  t.throws(() => calibrateEnergy(mix, { sources: ['Cs137', 'Ba133'] }), CalibrationRefused, 'Ba-133 named but absent (its 302/356 keV ratio equals Co-60\'s pair)');
  t.ok(expectedLines(['Co60']).every((l) => l.nuclide === 'Co60'), 'expected lines come from the named source');
});
