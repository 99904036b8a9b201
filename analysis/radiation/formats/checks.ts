// Plausibility of what a well-formed radiation file says: times and counts no instrument measures, and spectra the
// analysis cannot use. The codecs check syntax; these checks keep nonsense from passing as data.

import type { Measurement } from '../spectrum.js';

/** Fewest channels a spectrum needs for the analysis (peak-search kernels, gain stabilisation, energy windows). */
export const MIN_CHANNELS = 8;

/** Longest live or real time taken as a measurement's (1e6 s, 11.6 days: a week-long background count fits). */
export const MAX_DURATION_S = 1e6;

/** Most counts one channel may hold (1e12: a 1 Mcps detector counting MAX_DURATION_S into one channel). */
export const MAX_CHANNEL_COUNT = 1e12;

/** Why a live or real time is not plausible, or undefined. */
export function durationProblem(seconds: number): string | undefined {
  if (seconds > MAX_DURATION_S) return `expected at most ${MAX_DURATION_S} s (11.6 days), got ${seconds} s`;
  return undefined;
}

/** Why a channel count is not plausible, or undefined. */
export function countProblem(count: number): string | undefined {
  if (count > MAX_CHANNEL_COUNT) return `expected at most ${MAX_CHANNEL_COUNT} counts in a channel, got ${count}`;
  return undefined;
}

/**
 * Live time longer than real time means negative dead time: the times are swapped or wrong, and every rate computed
 * from them is too. Writers round both, so a millisecond or 0.1 % more is let pass. A real time of 0 is "not given".
 */
export function liveRealProblem(live_s: number, real_s: number): string | undefined {
  if (real_s > 0 && live_s > real_s * 1.001 + 1e-3) {
    return `live time ${live_s} s is longer than the real time ${real_s} s: expected live <= real (are they swapped?); rates use the live time as written`;
  }
  return undefined;
}

/**
 * Why a measurement cannot go to the node's analysis, or undefined: a spectrum with fewer than MIN_CHANNELS
 * channels, or one detector with spectra of different lengths in the one measurement (which of them is the
 * detector's?). The message names the detector and the channel counts, for a `.why` beside a rejected file.
 */
export function measurementProblem(m: Measurement): string | undefined {
  const lengths = new Map<string, number>();
  for (const s of m.spectra) {
    const n = s.counts.length;
    if (n < MIN_CHANNELS) return `detector ${s.detector}: ${n} channel${n === 1 ? '' : 's'}, expected at least ${MIN_CHANNELS}`;
    const before = lengths.get(s.detector);
    if (before !== undefined && before !== n) return `two spectra of detector ${s.detector} with ${before} and ${n} channels, expected one channel count per detector`;
    lengths.set(s.detector, n);
  }
  return undefined;
}
