// Check-source spectra with a known true calibration (linear, quadratic or nonlinear), for tests, benches and demos.
import { rebin } from '../calibration.js';
import { DETECTORS, fieldResponseSpectrum, type DetectorModel } from '../dose.js';
import { getNuclide } from '../nuclides.js';
import { mulberry32, poisson } from '../sim/scene.js';
import { naturalBackgroundRate } from '../sim/natural.js';
import type { EnergyCalibration } from '../spectrum.js';

export interface CheckSourceOptions {
  /** Detector: a model name of dose.ts DETECTORS, or a model (one built from a description, drf.ts); default NaI-3x3. */
  model?: string | DetectorModel;
  sources: { nuclide: string; activity_Bq: number; distance_m?: number }[];
  /** True channel → energy of the simulated detector (any polynomial, deviation pairs allowed). */
  calibration: EnergyCalibration;
  nChannels: number;
  liveTime_s: number;
  /** Natural background at 1 m above soil (default true). */
  background?: boolean;
  seed?: number;
  /** Highest energy simulated (default 3200 keV). */
  maxEnergy_keV?: number;
}

/** Expected counts per true channel, and a Poisson sample of them. */
export function simulateCheckSource(o: CheckSourceOptions): { expected: Float64Array; counts: Float64Array; model: DetectorModel } {
  const name = typeof o.model === 'object' ? undefined : (o.model ?? 'NaI-3x3');
  const model = name === undefined ? (o.model as DetectorModel) : DETECTORS[name];
  if (!model) throw new RangeError(`model: unknown detector model "${name}", expected one of ${Object.keys(DETECTORS).join(', ')}`);
  const fineKeV = 0.5;
  const fineN = Math.ceil((o.maxEnergy_keV ?? 3200) / fineKeV);
  const lines: { energy_keV: number; fluenceRate_cm2_s: number }[] = [];
  for (const s of o.sources) {
    const n = getNuclide(s.nuclide);
    const r_cm = (s.distance_m ?? 0.25) * 100;
    for (const l of n.lines) lines.push({ energy_keV: l.energy_keV, fluenceRate_cm2_s: (s.activity_Bq * l.intensity) / (4 * Math.PI * r_cm * r_cm) });
  }
  const fine = fieldResponseSpectrum({ detector: model, lines, nChannels: fineN, keVPerChannel: fineKeV });
  if (o.background ?? true) {
    const bg = naturalBackgroundRate(model, { nChannels: fineN, keVPerChannel: fineKeV });
    for (let i = 0; i < fineN; i++) fine[i] += bg[i]!;
  }
  for (let i = 0; i < fineN; i++) fine[i] *= o.liveTime_s;
  const expected = rebin(fine, { coefficients: [0, fineKeV] }, o.calibration, { nChannels: o.nChannels });
  const rng = mulberry32(o.seed ?? 1);
  const counts = Float64Array.from(expected, (m) => poisson(rng, m));
  return { expected, counts, model };
}
