// Acceptance of a fitted nuclide: its lines seen as peaks (stricter for SNM), natural-chain nuclides kept apart from background, and the "unknown" verdict.
//
// The template fit (identify.ts) proposes; this decides what is reported. A nuclide is reported when the peak
// test of identify/lines.ts finds its strongest line in the residual after the other components, and its other
// strong lines are not contradicted (a template that predicts a big peak the data lack is filling something
// else). SNM must show every characteristic line (SNM_LINES): a false SNM call stops a truck and calls in an
// expert team, so "a better likelihood" is not enough. Natural-chain nuclides whose counts stay within what the
// background's own chain component holds are background (soils differ in K:U:Th by factors of 2-3).

import { getNuclide } from '../nuclides.js';
import { type LineCheck, type LineWindowInput, SNM_LINES, checkLine, groupLines } from './lines.js';

/** Peak significance (σ) a secondary line must reach in the residual to count as seen. */
export const LINE_SEEN_Z = 3;
/**
 * One of the main lines must reach this. 5 σ, not 3: on real backgrounds the template fit found 4-4.6 σ
 * residual bumps at 120-140 keV and 511 keV (scatter shapes, annihilation) that a single-line nuclide (Tc-99m,
 * Eu-154's 123 keV, Na-22's 511 keV) then claimed; a source worth an identification puts its main line far above
 * that (2,000 net counts over a 50,000-count background: ~40 σ). Eu-154 at 4.6 σ is caught by the rule on its
 * predicted 723/1274 keV lines instead.
 */
export const MAIN_LINE_Z = 5;
/**
 * The characteristic lines of an SNM nuclide together must reach this (5 σ), beyond the main-line rule of the
 * others: a real NaI background, whose peaks are broader than the model's, left 4 σ bumps at 312 keV and 5.8 σ at
 * 86 keV (lead x-rays) that Np-237 claimed.
 */
export const SNM_LINE_Z = 5;
/**
 * Each characteristic SNM line must reach this (4 σ): a RadiaCode CsI Am-241 spectrum of 190,000 counts showed
 * 3.8 σ at 129 keV and 6.3 σ near 394 keV, in the ratio of reactor plutonium's lines; at 3 σ it was called SNM.
 */
const SNM_EACH_Z = 4;
/** An SNM line may show at most this multiple of the template's prediction (plus 3 σ). */
const SNM_MAX_RATIO = 4;
/** A line the template predicts at this significance or more must show at least LINE_MIN_RATIO of it. */
const LINE_PREDICTED_Z = 3;
const LINE_MIN_RATIO = 0.25;
/** A dropped nuclide with a line seen this strongly leaves a real peak unexplained: the answer is "unknown". */
export const UNKNOWN_LINE_Z = 5;
/** Main lines of a non-SNM nuclide checked: up to this many, of at least this share of its peak counts. */
const MAX_LINES = 5;
const MIN_LINE_SHARE = 0.05;

/** Background chain a natural nuclide belongs to. */
export const NATURAL_CHAIN: Readonly<Record<string, 'K40' | 'U238' | 'Th232'>> = {
  K40: 'K40',
  Ra226: 'U238',
  // Not U-238: uranium (glass, ore, depleted metal) is judged by identify/uranium.ts, natural or enriched.
  Th232: 'Th232',
  Th228: 'Th232',
};
/**
 * A natural nuclide is reported as a source only when its net counts exceed this multiple of its chain's counts in
 * the fitted background: below, the spectrum's chain content is within twice the background's, which a change of
 * soil or of the ground seen under a vehicle gives without any source.
 */
export const NATURAL_EXCESS = 1;

export interface LineVerdict {
  accepted: boolean;
  /** Why not, for the report. */
  reason?: string;
  checks: LineCheck[];
  /** Largest residual peak significance among the checked lines. */
  maxSeenZ: number;
  /**
   * The data contradict the nuclide (its lines are seen in proportions it cannot give), rather than merely being too
   * weak to confirm it: a rejected SNM nuclide that is contradicted raises no "possible SNM".
   */
  contradicted?: boolean;
}

/**
 * χ² (one degree of freedom per line beyond the first) above which the characteristic lines of an SNM nuclide are
 * out of proportion with each other: 3 σ for two line groups. A RadiaCode CsI Am-241 spectrum showed 3.8-4.2 σ
 * at 129 keV and 6.3 σ near 394 keV; plutonium in a 1 cm³ CsI puts several times more counts at 129 keV than into the
 * 375/414 keV blend, so those two bumps are not plutonium whatever their significance.
 */
const SNM_RATIO_CHI2 = 9;

/** χ² of the lines' observed/predicted ratios about their weighted mean (0 with fewer than two usable lines). */
function ratioChi2(checks: readonly LineCheck[]): { chi2: number; mean: number } {
  const usable = checks.filter((c) => c.predicted > 0 && c.sigma > 0);
  if (usable.length < 2) return { chi2: 0, mean: usable[0] ? usable[0].observed / usable[0].predicted : 0 };
  let sw = 0;
  let swr = 0;
  for (const c of usable) {
    const w = (c.predicted / c.sigma) ** 2;
    sw += w;
    swr += w * (c.observed / c.predicted);
  }
  const mean = swr / sw;
  let chi2 = 0;
  for (const c of usable) chi2 += ((c.observed / c.predicted - mean) * c.predicted / c.sigma) ** 2;
  return { chi2, mean };
}

export interface VerifyInput extends LineWindowInput {
  nuclide: string;
  /** Main lines of the nuclide's fitted template (energy and share of its peak counts), strongest first. */
  mainLines: readonly { energy_keV: number; share: number }[];
}

/** Peak tests on a nuclide's characteristic lines (SNM) or main lines (others). */
export function verifyLines(input: VerifyInput): LineVerdict {
  const nd = getNuclide(input.nuclide);
  // Uranium-238's lines in a scintillator (63 and 92.6 keV of Th-234, 1001 keV of Pa-234m) are weak or buried in
  // the low-energy continuum; identify/uranium.ts judges uranium (natural or enriched) instead.
  if (nd.name === 'U238') return { accepted: true, checks: [], maxSeenZ: 0 };
  const snm = nd.category === 'SNM';
  const listed = SNM_LINES[nd.name];
  const energies =
    snm && listed !== undefined
      ? listed.slice()
      : input.mainLines
          .filter((l, i) => i === 0 || l.share >= MIN_LINE_SHARE)
          .slice(0, MAX_LINES)
          .map((l) => l.energy_keV);
  // Lines within 1.5 FWHM are one peak here: two fits over overlapping windows would split its counts at random.
  const groups = groupLines(energies, (E) => 1.5 * input.fwhm(E));
  const checks: LineCheck[] = [];
  for (const grp of groups) {
    const c = checkLine(input, grp);
    if (c !== undefined) checks.push(c);
  }
  const z = (c: LineCheck): number => (c.sigma > 0 ? c.observed / c.sigma : 0);
  const maxSeenZ = checks.reduce((m, c) => Math.max(m, z(c)), 0);
  if (checks.length === 0) return { accepted: !snm, ...(snm ? { reason: 'characteristic lines outside the fitted range' } : {}), checks, maxSeenZ };
  if (snm && groups.some((g) => g.length > 1)) {
    // Plutonium is read by 375.0 and 413.7 keV as two peaks; a scintillator (NaI, CsI: 25-55 keV FWHM there) sees one
    // bump, which Am-241 sum peaks, radon daughters and scatter shapes also give. A RadiaCode CsI Am-241 source
    // passed every other test as reactor plutonium. So at this resolution plutonium is never confirmed: it is
    // "possible SNM" (the answer's `unknown`), for a high-resolution detector to settle.
    return {
      accepted: false,
      reason: `characteristic lines ${groups.filter((g) => g.length > 1).map((g) => g.map((e) => e.toFixed(1)).join(' and ')).join('; ')} keV not resolved at this detector's resolution`,
      checks,
      maxSeenZ,
    };
  }
  if (snm) {
    // Every characteristic line seen (≥ 3 σ, and a quarter of what the template predicts there), and the lines
    // together at SNM_LINE_Z. Only-if-predicted-visible let reactor Pu through on an Am-241 source and Pu-239 on a
    // real background; the cost is real Pu-239 at a few thousand counts in a NaI (129.3 keV at ~2 σ), reported
    // then as unknown rather than as plutonium.
    // A peak far above what the template predicts is something else's (reactor Pu's 129 keV on an Am-241 source).
    const outOfProportion = (c: LineCheck): boolean =>
      (c.predicted > 0 && c.predicted / c.sigma >= LINE_PREDICTED_Z && c.observed < LINE_MIN_RATIO * c.predicted) || c.observed > SNM_MAX_RATIO * Math.max(0, c.predicted) + 3 * c.sigma;
    const ratios = ratioChi2(checks);
    if (ratios.chi2 > SNM_RATIO_CHI2) {
      return {
        accepted: false,
        reason: `characteristic lines ${checks.map((c) => `${c.energy_keV.toFixed(1)} keV (${z(c).toFixed(1)} σ, ${c.predicted > 0 ? (c.observed / c.predicted).toFixed(2) : '–'}× predicted)`).join(', ')} out of proportion with each other (χ² ${ratios.chi2.toFixed(1)})`,
        checks,
        maxSeenZ,
        contradicted: true,
      };
    }
    const missing = checks.filter((c) => !(z(c) >= SNM_EACH_Z) || (c.predicted > 0 && c.observed < LINE_MIN_RATIO * c.predicted) || outOfProportion(c));
    // Independent windows: the lines' significances add in quadrature (a line below zero adds nothing).
    const combined = Math.sqrt(checks.reduce((t, c) => t + Math.max(0, z(c)) ** 2, 0));
    if (missing.length === 0 && !(combined >= SNM_LINE_Z)) missing.push(...checks);
    if (missing.length > 0) {
      return {
        accepted: false,
        reason: `characteristic line${missing.length > 1 ? 's' : ''} ${missing.map((c) => `${c.energy_keV.toFixed(1)} keV (${z(c).toFixed(1)} σ)`).join(', ')} not seen after the other nuclides`,
        checks,
        maxSeenZ,
        contradicted: missing.some(outOfProportion),
      };
    }
    return { accepted: true, checks, maxSeenZ };
  }
  // The main lines together must be seen clearly (z in quadrature: a shielded Eu-152 spreads its counts over many
  // lines, none at 5 σ alone), and no line the template predicts visibly may be missing.
  const combined = Math.sqrt(checks.reduce((t, c) => t + Math.max(0, z(c)) ** 2, 0));
  if (!(combined >= MAIN_LINE_Z)) {
    let main = checks[0];
    for (const c of checks) if (c.predicted > main.predicted) main = c;
    return { accepted: false, reason: `main line ${main.energy_keV.toFixed(1)} keV not seen as a peak (${z(main).toFixed(1)} σ)`, checks, maxSeenZ };
  }
  const contradicted = checks.find((c) => c.sigma > 0 && c.predicted / c.sigma >= LINE_PREDICTED_Z && c.observed < LINE_MIN_RATIO * c.predicted);
  if (contradicted !== undefined) {
    return {
      accepted: false,
      reason: `line ${contradicted.energy_keV.toFixed(1)} keV predicted with ${Math.round(contradicted.predicted)} counts, ${Math.round(contradicted.observed)} seen`,
      checks,
      maxSeenZ,
    };
  }
  return { accepted: true, checks, maxSeenZ };
}

/**
 * Annihilation radiation (cosmic-ray showers, pair production in the surroundings) puts a 511 keV peak into every
 * real background, which the soil model lacks. A nuclide seen only through 511 keV (F-18, Ga-68, Na-22 without
 * its 1274.5 keV) is background while that peak holds under this fraction of the background's counts (0.4 % was
 * seen on a portal's background).
 */
export const ANNIHILATION_FRACTION = 0.01;

/** True when the only line of the nuclide seen is the 511 keV one, with fewer counts than background gives. */
export function onlyAnnihilation(checks: readonly LineCheck[], backgroundCounts: number): boolean {
  const seen = checks.filter((c) => c.sigma > 0 && c.observed / c.sigma >= LINE_SEEN_Z);
  return seen.length === 1 && Math.abs(seen[0].energy_keV - 511) < 3 && seen[0].observed <= ANNIHILATION_FRACTION * backgroundCounts;
}
