// Energy calibration of a spectrum that carries none (or an unusable one), from its own strongest peaks.
//
// Why: real exports often lack a calibration (Kromek D3S SPE files write none; digiBASE files write zeros), and a
// spectrum read at a made-up 3 keV per channel puts Cs-137 where I-131 would be. Most spectra a customs officer sees
// hold a few lines everyone knows: 662 keV (Cs-137 sources, fallout), 1461 keV (K-40, in every background over a few
// minutes), 2614/583/239 keV (thorium series), 609/352/1764 keV (radium series), 356/81/32 keV (Ba-133), 59.5 keV
// (Am-241), 1173/1332 keV (Co-60). A linear E = a + b·ch is found by trying every assignment of two of the strongest
// peaks to two of these lines and keeping the one under which the most peak weight lands on some line (a pair of
// peaks alone fits any pair of lines; the other peaks decide). Peaks are searched with widths for the detector's
// resolution at each trial gain, since a peak's width in channels depends on the gain we are looking for.
// Pure: counts in, calibration and the evidence out.

import { fitPolynomial } from '../calibration.js';
import { findPeaks, type Peak } from '../peaks.js';
import type { EnergyCalibration } from '../spectrum.js';

/** A well-known line a peak may be matched to; `weight` is how likely it is to be in a spectrum taken in the field. */
export interface ReferenceLine {
  energy_keV: number;
  nuclide: string;
  weight: number;
}

/** The default line list (energies from ENSDF, rounded to 0.1 keV). */
export const COMMON_LINES: readonly ReferenceLine[] = [
  { energy_keV: 32.1, nuclide: 'Ba/Cs K x-rays', weight: 0.7 },
  { energy_keV: 59.5, nuclide: 'Am241', weight: 0.8 },
  { energy_keV: 81.0, nuclide: 'Ba133', weight: 0.7 },
  { energy_keV: 121.8, nuclide: 'Eu152', weight: 0.6 },
  { energy_keV: 186.2, nuclide: 'Ra226/U235', weight: 0.4 },
  { energy_keV: 238.6, nuclide: 'Pb212', weight: 0.7 },
  { energy_keV: 351.9, nuclide: 'Pb214', weight: 0.7 },
  { energy_keV: 356.0, nuclide: 'Ba133', weight: 0.9 },
  { energy_keV: 511.0, nuclide: 'annihilation', weight: 0.5 },
  { energy_keV: 583.2, nuclide: 'Tl208', weight: 0.7 },
  { energy_keV: 609.3, nuclide: 'Bi214', weight: 0.7 },
  { energy_keV: 661.7, nuclide: 'Cs137', weight: 1 },
  { energy_keV: 911.2, nuclide: 'Ac228', weight: 0.5 },
  { energy_keV: 1173.2, nuclide: 'Co60', weight: 0.8 },
  { energy_keV: 1332.5, nuclide: 'Co60', weight: 0.8 },
  { energy_keV: 1460.8, nuclide: 'K40', weight: 1 },
  { energy_keV: 1764.5, nuclide: 'Bi214', weight: 0.7 },
  { energy_keV: 2614.5, nuclide: 'Tl208', weight: 1 },
];

export interface FromPeaksOptions {
  /** Relative FWHM at 662 keV of the detector (0.07 NaI, 0.085 small CsI, 0.003 HPGe); widths scale as √E. */
  fwhmAt662: number;
  lines?: readonly ReferenceLine[];
  /** Trial gains, keV per channel [lowest, highest] (default [0.05, 20]). */
  gainRange_keV?: [number, number];
  /** Largest |offset| at channel 0, keV (default 25: MCAs put 0 keV within a few tens of keV of channel 0). */
  maxOffset_keV?: number;
  /** The strongest peaks used (default 10). */
  maxPeaks?: number;
  /** Energy of the last channel an MCA is usually set up for, keV (default 3000); a weak prior, see rangePrior. */
  typicalTop_keV?: number;
  /** Peak search threshold, sigmas (default 5). */
  threshold?: number;
}

export interface MatchedLine {
  channel: number;
  energy_keV: number;
  nuclide: string;
  significance: number;
}

export interface FromPeaksResult {
  calibration: EnergyCalibration;
  /** Peaks matched to reference lines, by channel. */
  matched: MatchedLine[];
  /** Strong peaks no line explains under this calibration. */
  unmatched: { channel: number; energy_keV: number; significance: number }[];
  /** Matched peak weight minus a share of the unmatched weight; higher is surer. */
  score: number;
  /** One line for an officer: which peaks were taken for which lines. */
  reason: string;
}

interface Hypothesis {
  a: number;
  b: number;
  score: number;
  peaks: readonly Peak[];
}

/**
 * A linear energy calibration from the spectrum's peaks, or undefined when fewer than two distinct reference lines
 * can be matched (a spectrum of one line, or of nothing but continuum, cannot be calibrated this way).
 */
export function calibrateFromPeaks(counts: ArrayLike<number>, options: FromPeaksOptions): FromPeaksResult | undefined {
  const lines = [...(options.lines ?? COMMON_LINES)].sort((x, y) => x.energy_keV - y.energy_keV);
  const [gLo, gHi] = options.gainRange_keV ?? [0.05, 20];
  const maxOffset = options.maxOffset_keV ?? 25;
  const maxPeaks = options.maxPeaks ?? 10;
  const r = options.fwhmAt662;
  if (!(r > 0 && r < 1)) throw new RangeError(`fwhmAt662: expected a fraction in (0, 1), got ${r}`);
  const n = counts.length;
  const tol = (E: number) => Math.max(1.5, 0.6 * r * Math.sqrt(661.7 * Math.max(E, 10)));

  let best: Hypothesis | undefined;
  // One peak search per factor-of-2 band of gain; a hypothesis is only taken from the band whose widths it assumed.
  for (let band = gLo; band < gHi; band *= 2) {
    const bMid = band * Math.SQRT2;
    const fwhm_ch = (ch: number) => Math.max(1.2, (r * Math.sqrt(661.7 * Math.max(bMid * ch, 10))) / bMid);
    let peaks: Peak[];
    try {
      peaks = findPeaks(counts, { fwhm_ch, threshold: options.threshold ?? 5, fit: false });
    } catch {
      continue;
    }
    const top = peaks.sort((p, q) => q.significance - p.significance).slice(0, maxPeaks);
    if (top.length < 2) continue;
    for (let i = 0; i < top.length; i++) {
      for (let j = 0; j < top.length; j++) {
        const ci = top[i]!.searchCentroid_ch;
        const cj = top[j]!.searchCentroid_ch;
        if (!(cj > ci + 2)) continue;
        for (let k = 0; k < lines.length; k++) {
          for (let l = k + 1; l < lines.length; l++) {
            const b = (lines[l]!.energy_keV - lines[k]!.energy_keV) / (cj - ci);
            if (b < band || b >= band * 2) continue;
            const a = lines[k]!.energy_keV - b * ci;
            if (Math.abs(a) > maxOffset) continue;
            const top_keV = a + b * n;
            if (top_keV < 300 || top_keV > 12_000) continue;
            const score = scoreOf(a, b, top, lines, tol) * rangePrior(top_keV, options.typicalTop_keV ?? 3000);
            if (best === undefined || score > best.score + 1e-9 || (Math.abs(score - best.score) <= 1e-9 && Math.abs(a) < Math.abs(best.a))) {
              best = { a, b, score, peaks: top };
            }
          }
        }
      }
    }
  }
  if (best === undefined) return undefined;
  // Refine: least squares of a + b·ch through every matched peak, weighted by significance, so that the strong
  // lines the hypothesis was built on are not pulled off by a weak peak matched at the edge of its tolerance.
  const m = matchAll(best.a, best.b, best.peaks, lines, tol);
  if (new Set(m.matched.map((x) => x.energy_keV)).size < 2) return undefined;
  let [a, b] = [best.a, best.b];
  let [sw, sx, sy, sxx, sxy] = [0, 0, 0, 0, 0];
  for (const x of m.matched) {
    const w = x.significance;
    sw += w;
    sx += w * x.channel;
    sy += w * x.energy_keV;
    sxx += w * x.channel * x.channel;
    sxy += w * x.channel * x.energy_keV;
  }
  const det = sw * sxx - sx * sx;
  // A refit that leaves the plausible offsets means a wrong match pulled it; the hypothesis itself is then kept.
  if (det > 0 && Math.abs((sy - ((sw * sxy - sx * sy) / det) * sx) / sw) <= maxOffset) {
    b = (sw * sxy - sx * sy) / det;
    a = (sy - b * sx) / sw;
  }
  let coefficients = [a, b];
  // Scintillators are not proportional (a CsI D3S puts 662 keV 2 % above the line through 356 and 1461 keV): with
  // three or more distinct lines above 150 keV a quadratic is fitted to them, if it stays monotonic over the
  // spectrum and moves no line by more than its tolerance. Lines below 150 keV (x-rays, 59.5, 81 keV) are left out
  // of it: there the non-proportionality is largest and a quadratic through them bends the whole range.
  const high = matchAll(a, b, best.peaks, lines, tol).matched.filter((x) => x.energy_keV >= 150);
  if (new Set(high.map((x) => x.energy_keV)).size >= 3) {
    const q = fitPolynomial(high.map((x) => ({ channel: x.channel, energy_keV: x.energy_keV, sigma_keV: tol(x.energy_keV) / Math.sqrt(x.significance) })), 2);
    const [q0, q1, q2] = q.coefficients as [number, number, number];
    const monotonic = q1 > 0 && q1 + 2 * q2 * n > 0;
    if (monotonic && Math.abs(q0) <= maxOffset && q.residuals_keV.every((r, i) => Math.abs(r) <= tol(high[i]!.energy_keV))) coefficients = [q0, q1, q2];
  }
  const energyAt = (ch: number) => coefficients.reduce((e, c, k) => e + c * ch ** k, 0);
  const final = matchAll(a, b, best.peaks, lines, tol);
  for (const x of final.unmatched) x.energy_keV = energyAt(x.channel);
  const shown = final.matched
    .slice()
    .sort((x, y) => y.significance - x.significance)
    .slice(0, 4)
    .map((x) => `${x.energy_keV} keV (${x.nuclide}) at channel ${x.channel.toFixed(0)}`);
  const formula = `E = ${coefficients[0]!.toFixed(1)} + ${coefficients[1]!.toFixed(4)}·ch${coefficients.length > 2 ? ` ${coefficients[2]! < 0 ? '-' : '+'} ${Math.abs(coefficients[2]!).toExponential(2)}·ch²` : ''} keV`;
  return {
    calibration: { coefficients },
    matched: final.matched,
    unmatched: final.unmatched,
    score: best.score,
    reason: `calibrated from the spectrum's peaks: ${shown.join(', ')} → ${formula}`,
  };
}

function scoreOf(a: number, b: number, peaks: readonly Peak[], lines: readonly ReferenceLine[], tol: (E: number) => number): number {
  let s = 0;
  for (const p of peaks) {
    const w = p.significance;
    const E = a + b * p.searchCentroid_ch;
    const line = nearest(E, lines);
    if (line !== undefined && Math.abs(line.energy_keV - E) <= tol(line.energy_keV)) s += w * (0.5 + 0.5 * line.weight);
    else s -= 0.7 * w;
  }
  return s;
}

/**
 * How usual a full-scale energy is: MCAs are set up to span about 3 MeV (RadiaCode 1024 channels ≈ 3 MeV, Kromek
 * D3S 4096 ≈ 2.5 MeV, ORTEC HPGe 8192 ≈ 3 MeV), rarely under 1 or over 10 MeV. A factor of two off costs 40 % of
 * the score, which breaks the ties between a true assignment and one that matches as many peaks at half the gain.
 */
function rangePrior(top_keV: number, typical_keV: number): number {
  const octaves = Math.log2(top_keV / typical_keV);
  return Math.exp(-0.5 * octaves * octaves);
}

function matchAll(a: number, b: number, peaks: readonly Peak[], lines: readonly ReferenceLine[], tol: (E: number) => number) {
  const matched: MatchedLine[] = [];
  const unmatched: FromPeaksResult['unmatched'] = [];
  for (const p of peaks) {
    const E = a + b * p.searchCentroid_ch;
    const line = nearest(E, lines);
    if (line !== undefined && Math.abs(line.energy_keV - E) <= tol(line.energy_keV)) {
      matched.push({ channel: p.searchCentroid_ch, energy_keV: line.energy_keV, nuclide: line.nuclide, significance: p.significance });
    } else {
      unmatched.push({ channel: p.searchCentroid_ch, energy_keV: E, significance: p.significance });
    }
  }
  return { matched, unmatched };
}

function nearest(E: number, lines: readonly ReferenceLine[]): ReferenceLine | undefined {
  let best: ReferenceLine | undefined;
  for (const l of lines) if (best === undefined || Math.abs(l.energy_keV - E) < Math.abs(best.energy_keV - E)) best = l;
  return best;
}
