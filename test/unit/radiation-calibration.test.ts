// Energy calibration: energy ↔ channel with deviation pairs, gain scaling, count-conserving rebinning, least-squares fits.
import t from 'tap';
import { InputError } from '../../common/errors.js';
import {
  channelEdges,
  channelOf,
  deviationOffset,
  energyOf,
  fitCalibration,
  fitPolynomial,
  keVPerChannelAt,
  linearCalibration,
  rebin,
  scaleGain,
} from '../../analysis/radiation/calibration.js';
import { readRadFile } from '../../devices/radiation/files.js';
import { applyGain, mulberry32 } from '../../analysis/radiation/sim/scene.js';
import type { EnergyCalibration } from '../../analysis/radiation/spectrum.js';
import { refData } from '../helpers/paths.js';


t.test('energyOf: polynomial, and deviation pairs interpolated linearly and held flat outside', async (t) => {
  const quad: EnergyCalibration = { coefficients: [5, 3, 1e-4] };
  t.equal(energyOf(quad, 0), 5);
  t.equal(energyOf(quad, 100), 5 + 300 + 1);
  t.ok(Math.abs(energyOf(quad, 100.5) - (5 + 301.5 + 1e-4 * 100.5 ** 2)) < 1e-12, 'fractional channel positions');
  const pairs: [number, number][] = [
    [100, 2],
    [600, -4],
    [1500, 6],
  ];
  t.equal(deviationOffset(pairs, 50), 2, 'below the first pair: its offset');
  t.equal(deviationOffset(pairs, 350), -1, 'half way between 100 (+2) and 600 (−4)');
  t.equal(deviationOffset(pairs, 1050), 1, 'half way between 600 (−4) and 1500 (+6)');
  t.equal(deviationOffset(pairs, 5000), 6, 'above the last pair: its offset');
  t.equal(deviationOffset(undefined, 500), 0);
  const lin: EnergyCalibration = { coefficients: [0, 3], deviationPairs: pairs };
  t.equal(energyOf(lin, 200), 600 - 4, 'E = E_poly + Δ(E_poly)');
  // keVPerChannelAt is the derivative: compare with a central difference away from the kinks.
  const d = (energyOf(lin, 250.001) - energyOf(lin, 249.999)) / 0.002;
  t.ok(Math.abs(keVPerChannelAt(lin, 250) - d) < 1e-6, `dE/dch ${keVPerChannelAt(lin, 250)} vs ${d}`);
});

t.test('channelOf inverts energyOf to 1e-9 channels, deviation-pair kinks included', async (t) => {
  const cals: EnergyCalibration[] = [
    linearCalibration(3),
    { coefficients: [-12.5, 2.93, 4.1e-5, -3e-9] },
    {
      coefficients: [2, 3, 1e-5],
      deviationPairs: [
        [0, 0],
        [122, 3.5],
        [662, -8],
        [1461, 5],
        [2614, 0],
      ],
    },
  ];
  let worst = 0;
  for (const cal of cals) {
    for (let E = 20; E <= 3000; E += 7.3) {
      const ch = channelOf(cal, E);
      worst = Math.max(worst, Math.abs(energyOf(cal, ch) - E));
    }
    for (let ch = 0; ch < 1024; ch += 3.7) worst = Math.max(worst, Math.abs(channelOf(cal, energyOf(cal, ch)) - ch));
  }
  t.ok(worst < 1e-8, `largest round-trip error ${worst}`);
  t.ok(Math.abs(channelOf(linearCalibration(3), -30) - -10) < 1e-12, 'energies below channel 0 extrapolate');
  t.throws(() => channelOf({ coefficients: [0, -3] }, 100), InputError, 'a decreasing calibration is refused');
  t.throws(() => channelOf(linearCalibration(3), Number.NaN), /energy: expected a finite number/);
  t.throws(() => linearCalibration(0), /keVPerChannel/);
});

t.test('real deviation pairs (SpecUtils Mn-56 file): every channel edge round-trips and energies increase', async (t) => {
  const file = await readRadFile(refData('n42/specutils-Mn56_DetX_Shielded.n42'));
  const cal = file.measurements[0].spectra[0].calibration;
  if (!cal) throw new Error('the file has a calibration');
  t.ok((cal.deviationPairs?.length ?? 0) >= 5, 'the file carries deviation pairs');
  const edges = channelEdges(cal, 16384);
  let increasing = true;
  let worst = 0;
  for (let i = 0; i < edges.length; i += 13) {
    if (i > 0 && !(edges[i] > edges[i - 13])) increasing = false;
    worst = Math.max(worst, Math.abs(channelOf(cal, edges[i]) - i));
  }
  t.ok(increasing, 'energies increase');
  t.ok(worst < 1e-6, `round trip ${worst} channels`);
});

t.test('scaleGain: a gain g moves every line from channel x to g·x', async (t) => {
  const cal: EnergyCalibration = { coefficients: [1.5, 2.9, 2e-5], deviationPairs: [[100, 1], [2000, -1]] };
  for (const g of [0.94, 1, 1.037]) {
    const scaled = scaleGain(cal, g);
    for (const E of [59.5, 661.7, 1460.8, 2614.5]) {
      t.ok(Math.abs(channelOf(scaled, E) - g * channelOf(cal, E)) < 1e-8, `g = ${g}, ${E} keV`);
    }
  }
  t.throws(() => scaleGain(cal, 0), /gain: expected/);
});

t.test('rebin keeps counts, matches an exact case and the simulator gain model', async (t) => {
  const rng = mulberry32(3);
  const counts = Float64Array.from({ length: 1024 }, () => Math.floor(rng() * 100));
  const total = counts.reduce((a, b) => a + b, 0);
  const from = linearCalibration(3);

  // 3 keV channels onto 6 keV channels: pairs of channels add up exactly.
  const coarse = rebin(counts, from, linearCalibration(6), { nChannels: 512 });
  for (let i = 0; i < 512; i += 37) t.equal(coarse[i], counts[2 * i] + counts[2 * i + 1], `channel ${i}`);

  // A shift by half a channel splits each channel evenly between two.
  const shifted = rebin(counts, from, { coefficients: [1.5, 3] });
  t.ok(Math.abs(shifted[10] - (counts[10] / 2 + counts[11] / 2)) < 1e-9, 'half-channel shift');

  // Conservation with a nonlinear target and deviation pairs, counts off the ends kept in the edge channels.
  const odd: EnergyCalibration = { coefficients: [-20, 3.4, -1e-4], deviationPairs: [[500, 4], [1500, -6]] };
  const kept = rebin(counts, from, odd, { nChannels: 700, outside: 'edge' });
  t.ok(Math.abs(kept.reduce((a, b) => a + b, 0) - total) < 1e-6 * total, 'total kept with outside: edge');
  const dropped = rebin(counts, from, odd, { nChannels: 700 });
  // What is dropped is exactly what falls outside [E_target(0), E_target(700)).
  const lo = odd.coefficients[0] + (odd.deviationPairs?.[0][1] ?? 0);
  const hi = energyOf(odd, 700);
  let inside = 0;
  for (let i = 0; i < 1024; i++) {
    const a = 3 * i;
    const b = 3 * (i + 1);
    inside += (counts[i] * Math.max(0, Math.min(b, hi) - Math.max(a, lo))) / 3;
  }
  t.ok(Math.abs(dropped.reduce((a, b) => a + b, 0) - inside) < 1e-6 * total, 'drop loses exactly the counts outside the target range');

  // The simulator's applyGain (written independently) is the same operation as rebinning onto scaleGain(cal, g).
  for (const g of [0.97, 1.03]) {
    const mine = rebin(counts, from, scaleGain(from, g));
    const sim = applyGain(counts, g);
    let diff = 0;
    for (let i = 0; i < 1024; i++) diff = Math.max(diff, Math.abs(mine[i] - sim[i]));
    t.ok(diff < 1e-9, `gain ${g}: largest difference ${diff}`);
  }
  t.throws(() => rebin(counts, from, { coefficients: [0, -1] }), /target calibration must increase/);
});

t.test('fitPolynomial: exact on exact points, χ² ≈ ndf with noise, residuals in order', async (t) => {
  const truth = [4.2, 2.95, 3.1e-5];
  const chs = [40, 120, 226, 400, 495, 620, 870, 990];
  const exact = chs.map((channel) => ({ channel, energy_keV: truth[0] + truth[1] * channel + truth[2] * channel * channel }));
  const f = fitPolynomial(exact, 2);
  f.coefficients.forEach((c, k) => t.ok(Math.abs(c - truth[k]) <= 1e-9 * Math.max(1, Math.abs(truth[k])) + 1e-12, `c${k} = ${c}`));
  t.ok(f.maxAbsResidual_keV < 1e-9, 'residuals ~0');
  t.equal(f.ndf, chs.length - 3);

  // Noise of known σ: over many trials the mean χ²/ndf is 1 and the coefficient pulls have unit spread.
  const rng = mulberry32(42);
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  let chi2 = 0;
  let pull2 = 0;
  const trials = 400;
  let residualRows = 0;
  for (let k = 0; k < trials; k++) {
    const pts = exact.map((p) => ({ ...p, energy_keV: p.energy_keV + 0.3 * gauss(), sigma_keV: 0.3 }));
    const r = fitPolynomial(pts, 2);
    chi2 += r.chi2 / r.ndf;
    pull2 += (r.coefficients[1] - truth[1]) ** 2 / r.covariance[1][1];
    if (r.residuals_keV.length === pts.length) residualRows++;
  }
  t.equal(residualRows, trials, 'one residual per point, every time');
  t.ok(Math.abs(chi2 / trials - 1) < 0.12, `mean χ²/ndf ${(chi2 / trials).toFixed(3)}`);
  t.ok(Math.abs(Math.sqrt(pull2 / trials) - 1) < 0.1, `gain pull rms ${Math.sqrt(pull2 / trials).toFixed(3)}`);
  t.throws(() => fitPolynomial(exact.slice(0, 2), 2), /needs at least 3 points/);
  t.throws(() => fitPolynomial([{ channel: 1, energy_keV: Number.NaN }, ...exact], 1), /points\[0\]/);
});

t.test('fitCalibration with deviation pairs goes through every point', async (t) => {
  // A NaI-like nonlinearity: light yield a few per cent low at low energy.
  const lines = [59.5, 122.1, 356.0, 661.7, 1173.2, 1332.5, 1460.8, 2614.5];
  const points = lines.map((E) => ({ energy_keV: E, channel: E / 3 + 4 * Math.exp(-E / 200) }));
  const lin = fitCalibration(points, { degree: 1 });
  t.ok(lin.maxAbsResidual_keV > 1, `a straight line misses by ${lin.maxAbsResidual_keV.toFixed(2)} keV`);
  const dev = fitCalibration(points, { degree: 1, deviationPairs: true });
  for (const p of points) t.ok(Math.abs(energyOf(dev.calibration, p.channel) - p.energy_keV) < 1e-9, `${p.energy_keV} keV exact`);
  t.equal(dev.calibration.deviationPairs?.length, lines.length);
});
