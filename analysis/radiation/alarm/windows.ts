// Energy windows of the alarm tests and the window-shape check that tells man-made sources from NORM.
import { energyOf } from '../calibration.js';
import type { EnergyCalibration } from '../spectrum.js';


export interface EnergyWindow {
  name: string;
  lo_keV: number;
  hi_keV: number;
}

/**
 * Default windows: 'low' holds the Compton continua and the low lines (Am-241, Ba-133, I-131, Tc-99m, HEU 186 keV),
 * 'mid' the Cs-137 662 keV peak and most medical/industrial lines, 'high' K-40, Co-60 and Th/U high lines. NORM
 * raises all three in the background's proportions; a man-made source raises one far more than the others.
 */
export const DEFAULT_WINDOWS: readonly EnergyWindow[] = [
  { name: 'low', lo_keV: 30, hi_keV: 400 },
  { name: 'mid', lo_keV: 400, hi_keV: 1200 },
  { name: 'high', lo_keV: 1200, hi_keV: 3000 },
];

/** Channel index ranges [first, last] of each window: channels whose centre energy lies in [lo, hi). */
export function windowChannels(cal: EnergyCalibration, nChannels: number, windows: readonly EnergyWindow[]): [number, number][] {
  const centre = new Float64Array(nChannels);
  for (let i = 0; i < nChannels; i++) centre[i] = energyOf(cal, i + 0.5);
  return windows.map((w) => {
    let first = nChannels;
    let last = -1;
    for (let i = 0; i < nChannels; i++) {
      if (centre[i] >= w.lo_keV && centre[i] < w.hi_keV) {
        if (i < first) first = i;
        last = i;
      }
    }
    return [first, last] as [number, number];
  });
}

/** Counts in each window (0 for a window outside the spectrum). */
export function windowCounts(counts: ArrayLike<number>, ranges: readonly [number, number][]): number[] {
  return ranges.map(([a, b]) => {
    let s = 0;
    for (let i = a; i <= b; i++) s += counts[i];
    return s;
  });
}

export interface WindowShape {
  /**
   * Excess below the last (highest) window against the excess in it, compared with the background's ratio of the
   * two, in standard deviations: z = (x_lo·b_hi − x_hi·b_lo) / √(n_lo·b_hi² + n_hi·b_lo²), x the net and n the gross
   * counts, b the background, "lo" all windows but the last together. NORM (K, U, Th in cargo) raises the windows
   * roughly in the background's proportions, potassium mostly the high one: z ≤ ~3. A man-made source with lines
   * below ~1.2 MeV (Cs-137, Ba-133, Am-241, I-131, Tc-99m, HEU) adds almost nothing above: z ≫ 3. Co-60 looks
   * NORM-like on this ratio; telling it apart is for nuclide identification.
   */
  ratio_nsigma: number;
  /** ratio_nsigma > 3. */
  manMadeLike: boolean;
  net: number[];
}

/** Shape check of summed window counts against their background (see WindowShape). */
export function windowShape(counts: readonly number[], background: readonly number[]): WindowShape {
  const k = counts.length - 1;
  const net = counts.map((c, i) => c - background[i]);
  if (k < 1) return { ratio_nsigma: 0, manMadeLike: false, net };
  let nLo = 0;
  let bLo = 0;
  for (let i = 0; i < k; i++) {
    nLo += counts[i];
    bLo += background[i];
  }
  const bHi = background[k];
  const v = nLo * bHi * bHi + counts[k] * bLo * bLo;
  const z = v > 0 ? ((nLo - bLo) * bHi - net[k] * bLo) / Math.sqrt(v) : 0;
  return { ratio_nsigma: z, manMadeLike: z > 3, net };
}
