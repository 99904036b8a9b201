// Input checks shared by both identification methods (template fit, identify.ts; peaks, identify/peak-id.ts): counts
// finite and non-negative, an energy calibration present, and the rounding of reported figures.

import { InputError } from '../../../common/errors.js';
import type { EnergyCalibration } from '../spectrum.js';
import type { SpectrumInput } from './types.js';

/** Rounded to `digits` decimals for reports. */
export function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** The counts as a Float64Array, each checked finite and >= 0 (the error names the index). */
export function checkCounts(counts: ArrayLike<number>, what: string): Float64Array {
  const out = counts instanceof Float64Array ? counts : Float64Array.from(counts);
  for (let i = 0; i < out.length; i++) {
    const v = out[i];
    if (!(v >= 0) || !Number.isFinite(v)) throw new InputError(`${what}[${i}]: expected a finite count >= 0, got ${v}`);
  }
  return out;
}

/** The spectrum's calibration, or a linear one from keVPerChannel; an InputError when it has neither. */
export function calibrationOf(s: SpectrumInput): EnergyCalibration {
  if (s.calibration !== undefined) return s.calibration;
  if (s.keVPerChannel !== undefined) {
    if (!(s.keVPerChannel > 0) || !Number.isFinite(s.keVPerChannel)) {
      throw new InputError(`keVPerChannel: expected a finite gain > 0 keV per channel, got ${s.keVPerChannel}`);
    }
    return { coefficients: [0, s.keVPerChannel] };
  }
  throw new InputError('calibration: the spectrum has no energy calibration and no keVPerChannel; identification needs energies');
}
