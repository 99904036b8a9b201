// The detector class from a spectrum's own peak widths: simulated HPGe, LaBr3 and NaI spectra, a real InterSpec HPGe
// file and a real RadiaCode CsI file, and the mapping of a width to a detector description.
import t from 'tap';
import { join } from 'node:path';
import { responseSpectrum, type DetectorModel } from '../../analysis/radiation/dose.js';
import { linearCalibration } from '../../analysis/radiation/calibration.js';
import { HPGE_MAX_FWHM, modelFromResolution, resolutionFromPeaks } from '../../analysis/radiation/detector-resolution.js';
import { mulberry32, poisson } from '../../analysis/radiation/sim/scene.js';
import { drfNames, loadDrf } from '../../devices/radiation/detector-response.js';
import { readRadFile } from '../../devices/radiation/files.js';
import { refData } from '../helpers/paths.js';

const RESPONSES = drfNames([refData('drf')]);

/** Cs-137 + Co-60 + K-40 (line energies and yields per decay, NNDC), photons on the face per second per line. */
const LINES: readonly [number, number][] = [
  [661.657, 0.851],
  [1173.228, 0.9985],
  [1332.492, 0.9998],
  [1460.82, 0.1066],
];

/** A Poisson spectrum of the source through `det`, on a falling continuum (room background) so peaks sit on a slope. */
function simulate(det: DetectorModel, nChannels: number, kpc: number, photons: number, seed: number): Float64Array {
  const mean = new Float64Array(nChannels);
  for (const [E, y] of LINES) {
    const r = responseSpectrum(det, E, nChannels, kpc);
    for (let i = 0; i < nChannels; i++) mean[i]! += photons * y * r[i]!;
  }
  for (let i = 0; i < nChannels; i++) mean[i]! += 20 * kpc * Math.exp(-(i + 0.5) * kpc / 400);
  const rng = mulberry32(seed);
  return mean.map((m) => poisson(rng, m));
}

t.test('a spectrum simulated through HPGe_40p measures under 1.5 % at 662 keV and maps to an HPGe description', async (t) => {
  const det = loadDrf(refData('drf', 'HPGe_40p'));
  const kpc = 0.4;
  const counts = simulate(det, 8192, kpc, 2e5, 1);
  const res = resolutionFromPeaks(counts, linearCalibration(kpc));
  t.ok(res, 'peaks measured');
  if (!res) return;
  t.ok(res.peaks >= 3, `${res.peaks} peaks at ${res.energies_keV.join(', ')} keV`);
  t.ok(res.fwhmAt662 < HPGE_MAX_FWHM, `${(res.fwhmAt662 * 100).toFixed(2)} % < 1.5 %`);
  // The description's own width at 662 keV, within the √E-scaling and fit error.
  t.ok(Math.abs(res.fwhmAt662 / det.fwhmAt662 - 1) < 0.35, `measured ${(res.fwhmAt662 * 100).toFixed(3)} %, description ${(det.fwhmAt662 * 100).toFixed(3)} %`);
  const choice = modelFromResolution(res, RESPONSES);
  t.equal(choice.crystal, 'HPGe');
  t.equal(choice.model, 'HPGe_40p', 'the largest HPGe description');
  t.match(choice.reason, /^peak widths 0\.\d\d % FWHM at 662 keV \(\d peaks\) → HPGe_40p$/);
});

t.test('a spectrum simulated through NaI_3x3 stays a scintillator', async (t) => {
  const det = loadDrf(refData('drf', 'NaI_3x3'));
  const kpc = 3;
  const counts = simulate(det, 1024, kpc, 2e5, 2);
  const res = resolutionFromPeaks(counts, linearCalibration(kpc));
  t.ok(res, 'peaks measured');
  if (!res) return;
  t.ok(res.fwhmAt662 > 0.05 && res.fwhmAt662 < 0.12, `${(res.fwhmAt662 * 100).toFixed(2)} % at 662 keV (${res.energies_keV.join(', ')} keV)`);
  const choice = modelFromResolution(res, RESPONSES);
  t.equal(choice.crystal, 'scintillator');
  t.equal(choice.model, undefined, 'no description: the caller keeps its default');
});

t.test('a spectrum simulated through LaBr_10p maps to LaBr_10p', async (t) => {
  const det = loadDrf(refData('drf', 'LaBr_10p'));
  const kpc = 1;
  const counts = simulate(det, 3072, kpc, 2e5, 3);
  const res = resolutionFromPeaks(counts, linearCalibration(kpc));
  t.ok(res, 'peaks measured');
  if (!res) return;
  const choice = modelFromResolution(res, RESPONSES);
  t.equal(choice.model, 'LaBr_10p', `${(res.fwhmAt662 * 100).toFixed(2)} % at 662 keV (description ${(det.fwhmAt662 * 100).toFixed(2)} %)`);
});

t.test('the real InterSpec HPGe Ba-133 file is recognised as HPGe', async (t) => {
  const rf = await readRadFile(refData('n42', 'interspec-ba133_source_640s.n42'));
  const m = rf.measurements.find((x) => x.class !== 'Background') ?? rf.measurements[0]!;
  const sp = m.spectra[0]!;
  t.ok(sp.calibration, 'the file is calibrated');
  const res = resolutionFromPeaks(sp.counts, sp.calibration!);
  t.ok(res, 'peaks measured');
  if (!res) return;
  t.ok(res.energies_keV.some((E) => Math.abs(E - 356) < 2), `356 keV among ${res.energies_keV.join(', ')} keV`);
  // Its 356 keV peak is ~0.37 % wide: ~0.27 % when scaled to 662 keV as √E.
  t.ok(res.fwhmAt662 > 0.001 && res.fwhmAt662 < 0.006, `${(res.fwhmAt662 * 100).toFixed(3)} % at 662 keV`);
  t.equal(modelFromResolution(res, RESPONSES).model, 'HPGe_40p');
});

t.test('the real RadiaCode CsI Am-241 file is not called HPGe', async (t) => {
  const rf = await readRadFile(refData('n42', 'radiacode-am241.n42'), { calibrateFromPeaks: true });
  const sp = rf.measurements[0]!.spectra[0]!;
  t.ok(sp.calibration, 'the file is calibrated');
  const res = resolutionFromPeaks(sp.counts, sp.calibration!);
  t.ok(res, 'the Am-241 peak is measured');
  if (!res) return;
  // 1 cm³ CsI(Tl): ~8 % at 662 keV; its 59.5 keV peak scaled as √E lands well above the LaBr3 band.
  t.ok(res.fwhmAt662 > 0.04, `${(res.fwhmAt662 * 100).toFixed(2)} % at 662 keV from ${res.energies_keV.join(', ')} keV`);
  const choice = modelFromResolution(res, RESPONSES);
  t.equal(choice.crystal, 'scintillator');
  t.equal(choice.model, undefined, 'never a germanium (or LaBr) description');
});

t.test('a spectrum without peaks gives no resolution; the mapping follows its bands and the loadable descriptions', async (t) => {
  const rng = mulberry32(4);
  const flat = new Float64Array(2048).map((_, i) => poisson(rng, 200 * Math.exp(-i / 700)));
  t.equal(resolutionFromPeaks(flat, linearCalibration(1)), undefined, 'a smooth continuum: nothing to measure');
  t.equal(resolutionFromPeaks(new Float64Array(8), linearCalibration(1)), undefined, 'too few channels');
  const at = (fwhmAt662: number, responses: readonly string[] = RESPONSES) => modelFromResolution({ fwhmAt662, peaks: 3, energies_keV: [] }, responses);
  t.equal(at(0.003).model, 'HPGe_40p');
  t.equal(at(0.003, ['HPGe_10p', 'HPGe_20p']).model, 'HPGe_20p', 'the largest HPGe loadable');
  t.equal(at(0.003, ['NaI_3x3']).model, undefined, 'HPGe without an HPGe description: default kept');
  t.match(at(0.003, ['NaI_3x3']).reason, /look like HPGe, no HPGe description/);
  t.equal(at(0.02).model, undefined, 'between the bands: default kept');
  t.equal(at(0.03).model, 'LaBr_10p');
  t.equal(at(0.03, ['LaBr_5p']).model, 'LaBr_5p');
  t.equal(at(0.07).model, undefined);
  t.equal(at(0.07).crystal, 'scintillator');
});
