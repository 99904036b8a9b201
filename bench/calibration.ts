// Calibration figures: energy-fit accuracy on simulated check sources (also through real detectors' descriptions), fit time, signing and verification time.
import { performance } from 'node:perf_hooks';
import { DETECTORS, type DetectorModel } from '../analysis/radiation/dose.js';
import { drfNames, resolveDetector } from '../devices/radiation/detector-response.js';
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

/** Relative error of a fitted calibration at E (keV) against the truth. */
function errorAt(truth: EnergyCalibration, fit: EnergyCalibration, E: number): number {
  return Math.abs(energyOf(fit, channelOf(truth, E)) - E) / E;
}

export interface GainRow {
  detector: string;
  /** Per gain error (0.07, 0.10): worst relative error at 662 and 1332 keV over both signs and all seeds; refusals. */
  byGain: { gainError: number; worst662: number; worst1332: number; refused: number }[];
}

/**
 * The check-source calibration a technician runs (Cs-137 and Co-60, 10 µCi each at 25 cm, 600 s, 1024 channels, a
 * nominal 3 keV/channel) on a detector whose gain is off by ±gainError from that nominal, simulated through the
 * detector's response; worst errors of the fitted calibration at 662 and 1332 keV.
 */
export function checkSourceGainTable(o: { detectors: { name: string; model: DetectorModel }[]; gainErrors: number[]; seeds: number[] }): GainRow[] {
  const sources = ['Cs137', 'Co60'];
  return o.detectors.map(({ name, model }) => ({
    detector: name,
    byGain: o.gainErrors.map((gainError) => {
      let worst662 = 0;
      let worst1332 = 0;
      let refused = 0;
      for (const sign of [1, -1]) {
        for (const seed of o.seeds) {
          const truth: EnergyCalibration = { coefficients: [0, 3 * (1 + sign * gainError)] };
          const { counts } = simulateCheckSource({ model, sources: sources.map((n) => ({ nuclide: n, activity_Bq: 3.7e5 })), calibration: truth, nChannels: 1024, liveTime_s: 600, seed });
          try {
            const fit = energyCalibrationOf(calibrateEnergy(counts, { sources }));
            worst662 = Math.max(worst662, errorAt(truth, fit, 661.657));
            worst1332 = Math.max(worst1332, errorAt(truth, fit, 1332.492));
          } catch {
            refused++;
          }
        }
      }
      return { gainError, worst662, worst1332, refused };
    }),
  }));
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
  // Detector × gain error table: every NaI and LaBr3 description on the search path, and the project's own NaI models.
  const own = Object.keys(DETECTORS).filter((n) => n.startsWith('NaI'));
  const described = drfNames().filter((n) => /^(NaI|LaBr)/i.test(n));
  const table = checkSourceGainTable({
    detectors: [...described, ...own].map((name) => ({ name, model: resolveDetector(name) })),
    gainErrors: [0.07, 0.1],
    seeds: opts.quick ? [1] : [1, 2, 3],
  });
  const pct = (x: number): string => (x * 100).toFixed(2);
  for (const r of table) {
    report(
      `energy Cs-137 + Co-60, ${r.detector}: worst error at 662 / 1332 keV, gain 7 % | 10 % off (%)`,
      r.byGain.map((g) => `${pct(g.worst662)} / ${pct(g.worst1332)}${g.refused ? ` (${g.refused} refused)` : ''}`).join(' | '),
    );
  }
  const all = table.flatMap((r) => r.byGain);
  report('energy Cs-137 + Co-60, all detectors: worst error at 662 / 1332 keV (%)', `${pct(Math.max(...all.map((g) => g.worst662)))} / ${pct(Math.max(...all.map((g) => g.worst1332)))}`);
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
