// Calibration figures: energy-fit accuracy on simulated check sources, fit time, signing and verification time.
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { channelOf, energyOf } from '../analysis/radiation/calibration.js';
import { readRadFile } from '../devices/radiation/files.js';
import type { EnergyCalibration } from '../analysis/radiation/spectrum.js';
import { generateSigningKey } from '../protocol/index.js';
import { calibrateEnergy, energyCalibrationOf } from '../analysis/radiation/calibrate/energy.js';
import { simulateCheckSource } from '../analysis/radiation/calibrate/simulate.js';
import { newRecord, signRecord, verifyRecord } from '../protocol/calibration-record.js';

const TRUTHS: { name: string; cal: EnergyCalibration; deviationPairs?: boolean }[] = [
  { name: 'linear', cal: { coefficients: [5, 3.1] } },
  { name: 'quadratic', cal: { coefficients: [-8, 2.6, 1.5e-4] } },
  { name: 'nonlinear', cal: { coefficients: [0, 3.0], deviationPairs: [[59.5409, 5], [661.657, 0], [1173.2, -3], [1332.5, -3.5], [2614.5, -5]] }, deviationPairs: true },
];

function worst(truth: EnergyCalibration, fit: EnergyCalibration): number {
  let w = 0;
  for (let E = 50; E <= 3000; E += 5) w = Math.max(w, Math.abs(energyOf(fit, channelOf(truth, E)) - E) / E);
  return w;
}

export async function benchCalibration(opts: { quick: boolean }, report: (name: string, value: string) => void): Promise<void> {
  const seeds = opts.quick ? [1, 2] : [1, 2, 3, 4, 5, 6, 7, 8];
  const sources = ['Am241', 'Cs137', 'Co60'];
  for (const t of TRUTHS) {
    let w = 0;
    let refused = 0;
    const times: number[] = [];
    for (const seed of seeds) {
      const { counts } = simulateCheckSource({ sources: sources.map((n) => ({ nuclide: n, activity_Bq: 3.7e5 })), calibration: t.cal, nChannels: 1024, liveTime_s: 3600, seed });
      const t0 = performance.now();
      try {
        const r = calibrateEnergy(counts, { sources, natural: true, deviationPairs: !!t.deviationPairs });
        times.push(performance.now() - t0);
        w = Math.max(w, worst(t.cal, energyCalibrationOf(r)));
      } catch {
        refused++;
      }
    }
    times.sort((a, b) => a - b);
    report(`energy ${t.name}: worst error 50-3000 keV over ${seeds.length} seeds (%)`, (w * 100).toFixed(3));
    report(`energy ${t.name}: refused (of ${seeds.length})`, String(refused));
    report(`energy ${t.name}: fit time, median, 1024 ch (ms)`, (times[Math.floor(times.length / 2)] ?? NaN).toFixed(0));
  }
  const data = fileURLToPath(new URL('../../shared/data/n42/interspec-ba133_source_640s.n42', import.meta.url));
  const ba = (await readRadFile(data)).measurements.flatMap((m) => m.spectra)[0]!;
  const t0 = performance.now();
  calibrateEnergy(ba.counts, { sources: ['Ba133'] });
  report('energy Ba-133 HPGe file, 16384 ch: fit time (ms)', (performance.now() - t0).toFixed(0));
  const k = generateSigningKey();
  const rec = newRecord({ detector: 'det-a', version: 1, method: ['energy'], inputs: [], results: { energy: { coefficients: [0, 3, 1e-5] }, resolution: { a: 1, b: 3, c: 0 } }, technician: 'bench', now_ms: Date.now() });
  const n = opts.quick ? 200 : 2000;
  let s0 = performance.now();
  let env = signRecord(rec, k.privateKeyPem, 'b');
  for (let i = 1; i < n; i++) env = signRecord(rec, k.privateKeyPem, 'b');
  report('record sign (µs per record)', (((performance.now() - s0) / n) * 1000).toFixed(0));
  s0 = performance.now();
  for (let i = 0; i < n; i++) verifyRecord(env, { b: k.publicKeyPem });
  report('record verify incl. schema (µs per record)', (((performance.now() - s0) / n) * 1000).toFixed(0));
}
