// Energy calibration from check-source spectra: peaks found in channel space, matched to known lines, fitted.
//
// The file's own calibration is never used: it may be far off (a replaced PMT, a changed gain). Peaks are searched
// with several width hypotheses (FWHM ∝ √channel, from sharp CsI/LaBr to a poor NaI), then every pair of found peaks
// is paired with every pair of expected lines; each pairing proposes a linear calibration, which votes by how much
// of the expected line pattern (weighted by intensity × a typical full-energy efficiency) it finds at the predicted
// channels. The best proposal is refined by least squares with tightening tolerances, then a linear or quadratic
// polynomial (plus deviation pairs for a nonlinear detector) is fitted to the matched centroids.
import { InputError } from '../../../common/errors.js';
import { energyOf, fitCalibration, keVPerChannelAt, polynomialEnergy, type CalibrationPoint } from '../calibration.js';
import { DETECTORS, photopeakEfficiency } from '../dose.js';
import { getNuclide } from '../nuclides.js';
import { createPeakSearch, type Peak } from '../peaks.js';
import type { EnergyCalibration } from '../spectrum.js';
import { CustomsError } from '../../../common/errors.js';
import { fitMultiplet, type MultipletPeak } from './multiplet.js';
import { fitPair } from './pair.js';

/** The spectrum does not support a calibration; the message says what was expected and what was found. */
export class CalibrationRefused extends CustomsError {
  constructor(message: string) {
    super('E_CALIBRATION_REFUSED', message);
  }
}

export interface ExpectedLine {
  nuclide: string;
  energy_keV: number;
  /** Photons per decay (lines merged when a scintillator cannot resolve them). */
  intensity: number;
  /** Relative prominence used for voting: intensity × typical full-energy efficiency, normalised per source. */
  weight: number;
  /** Another line within 1.5 FWHM pulls the centroid: used to vote, not in the final fit. */
  blended: boolean;
  /** Natural background line: used when found, never required. */
  optional?: boolean;
  /** K x-rays below `fitMinEnergy_keV`: they help tell the pattern apart but their centroids are not fitted. */
  voteOnly?: boolean;
}

/** Lines every spectrum shows from the ground: K-40 and Tl-208 (Th-232 series), for `natural: true`. */
export const NATURAL_LINES: readonly { nuclide: string; energy_keV: number }[] = [
  { nuclide: 'K40', energy_keV: 1460.822 },
  { nuclide: 'Th232', energy_keV: 2614.511 },
];

export interface EnergyOptions {
  sources: string[];
  /** 1, 2 or 'auto' (default: quadratic with three lines or more, linear otherwise). */
  degree?: 1 | 2 | 'auto';
  /** Add deviation pairs so the calibration passes through every matched line (nonlinear scintillators). */
  deviationPairs?: boolean;
  /** Lowest line energy that votes in the pattern search (default 25 keV). */
  minEnergy_keV?: number;
  /** Lowest line energy in the fit (default 40 keV: below that escape peaks and thresholds spoil centroids). */
  fitMinEnergy_keV?: number;
  /** Largest polynomial residual accepted, as a fraction of the line energy (default 0.02). */
  maxResidualFraction?: number;
  /** Peak significance threshold in sigmas (default 5). */
  threshold?: number;
  /** Also use the natural background lines K-40 1461 keV and Tl-208 2615 keV when they show (long counts). */
  natural?: boolean;
  /**
   * Accept a calibration from a single line, through the origin (offset 0). Off by default: one line cannot show
   * that the right peak was picked.
   */
  singleLine?: boolean;
}

export interface MatchedPeak {
  nuclide: string;
  energy_keV: number;
  channel: number;
  channelSigma: number;
  fwhm_ch: number;
  fwhm_keV: number;
  fwhmSigma_keV: number;
  area: number;
  areaSigma: number;
  significance: number;
  /** Energy the final calibration gives at the centroid, and the line energy minus it (before deviation pairs). */
  fitted_keV: number;
  residual_keV: number;
}

export interface EnergyResult {
  coefficients: [number, number, number];
  deviationPairs?: [number, number][];
  degree: number;
  peaks: MatchedPeak[];
  /** Expected lines that no peak matched (weaker lines may legitimately be missing). */
  missing: { nuclide: string; energy_keV: number }[];
  rms_keV: number;
  maxAbsResidual_keV: number;
  /** One-sigma uncertainties of c0, c1, c2 from the fit covariance. */
  coefficientSigma: [number, number, number];
  nChannels: number;
}

const TYPICAL = DETECTORS['NaI-3x3']!;

/** Typical scintillator FWHM (keV) at E: 7 % at 662 keV, scaling as √E (a NaI; CsI is close). */
export function typicalFwhm_keV(E_keV: number): number {
  return 0.07 * Math.sqrt(661.657 * Math.max(E_keV, 1));
}

/**
 * Lines of the named sources above `minE`, as a scintillator sees them: lines (of all the sources together) closer
 * than half a typical FWHM are merged into one intensity-weighted peak; peaks below 5 % of their source's most
 * prominent one (intensity × typical full-energy efficiency) are dropped since they rarely show. A peak with another
 * sizeable one within 1.5 FWHM is marked `blended`: it votes in the search but is left out of the final fit, since
 * its centroid is pulled by the neighbour.
 */
export function expectedLines(sources: readonly string[], minE = 40): ExpectedLine[] {
  if (sources.length === 0) throw new InputError('--source: expected at least one check source (e.g. --source Cs137)');
  const ids = sources.map((s) => getNuclide(s).name);
  if (new Set(ids).size !== ids.length) throw new InputError(`--source: a source is named twice (${sources.join(', ')})`);
  const all = ids
    .flatMap((id) => getNuclide(id).lines.filter((l) => l.energy_keV >= minE).map((l) => ({ nuclide: id, energy_keV: l.energy_keV, p: l.intensity * photopeakEfficiency(TYPICAL, l.energy_keV), intensity: l.intensity })))
    .sort((a, b) => a.energy_keV - b.energy_keV);
  const groups: { nuclide: string; energy_keV: number; p: number; intensity: number; top: number }[] = [];
  for (const l of all) {
    const g = groups[groups.length - 1];
    if (g && l.energy_keV - g.energy_keV < 0.5 * typicalFwhm_keV(l.energy_keV)) {
      const P = g.p + l.p;
      g.energy_keV = (g.energy_keV * g.p + l.energy_keV * l.p) / P;
      if (l.p > g.top) {
        g.top = l.p;
        g.nuclide = l.nuclide;
      }
      g.p = P;
      g.intensity += l.intensity;
    } else groups.push({ ...l, top: l.p });
  }
  const best = new Map<string, number>();
  for (const g of groups) best.set(g.nuclide, Math.max(best.get(g.nuclide) ?? 0, g.p));
  const out: ExpectedLine[] = [];
  groups.forEach((g, i) => {
    const top = best.get(g.nuclide) ?? 0;
    if (!(g.p >= 0.05 * top)) return;
    const f = typicalFwhm_keV(g.energy_keV);
    // Within a source the intensity ratio is known; between sources it depends on the activities, so only a
    // neighbour within one FWHM counts there.
    const blended = groups.some(
      (o, j) => j !== i && o.p > 0.1 * g.p && Math.abs(o.energy_keV - g.energy_keV) < (o.nuclide === g.nuclide ? 1.5 : 1) * f,
    );
    out.push({ nuclide: g.nuclide, energy_keV: g.energy_keV, intensity: g.intensity, weight: g.p / top, blended });
  });
  for (const id of ids) {
    if (!out.some((l) => l.nuclide === id)) throw new InputError(`--source ${id}: ${getNuclide(id).label} has no gamma line above ${minE} keV to calibrate with`);
  }
  return out;
}

interface Candidate {
  ch: number;
  sig: number;
  peak: Peak;
}

/** Peaks found under one FWHM hypothesis: fwhm_ch(ch) = k·√ch. */
function searchPeaks(counts: Float64Array, k: number, threshold: number): Candidate[] {
  return searchWithWidth(counts, (ch) => Math.max(1.2, k * Math.sqrt(Math.max(ch, 1))), threshold);
}

/** Linear calibration through a hypothesis' matched pairs (through the origin with one pair). */
function fitTo0(h: { cands: Candidate[]; m: Map<number, number> }, lines: readonly ExpectedLine[]): number[] {
  const pts = [...h.m].map(([li, j]) => ({ channel: h.cands[j]!.ch, energy_keV: lines[li]!.energy_keV }));
  if (pts.length === 1) return [0, pts[0]!.energy_keV / pts[0]!.channel];
  return fitCalibration(pts, { degree: 1 }).coefficients;
}

function searchWithWidth(counts: Float64Array, widthAt: (ch: number) => number, threshold: number): Candidate[] {
  return createPeakSearch({ nChannels: counts.length, fwhm_ch: widthAt, threshold, fit: true })
    .search(counts)
    .filter((p) => p.fit && p.fit.area > 0 && Math.abs(p.fit.centroid_ch - p.searchCentroid_ch) < p.fwhmExpected_ch)
    .map((p) => ({ ch: p.fit!.centroid_ch, sig: p.significance, peak: p }))
    .sort((a, b) => a.ch - b.ch);
}

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Index of the candidate nearest to `ch` (sorted by ch). */
function nearest(c: readonly Candidate[], ch: number): number {
  let lo = 0;
  let hi = c.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (c[mid]!.ch <= ch) lo = mid;
    else hi = mid;
  }
  return Math.abs(c[lo]!.ch - ch) <= Math.abs(c[hi]!.ch - ch) ? lo : hi;
}

type Cal = (ch: number) => number;
type Inv = (E: number) => number;

/** Lines matched to peaks under a calibration: each line to its nearest peak within tolerance, one peak per line. */
function match(lines: readonly ExpectedLine[], cands: readonly Candidate[], inv: Inv, tolFrac: number): Map<number, number> {
  const m = new Map<number, number>();
  if (cands.length === 0) return m;
  const used = new Map<number, number>();
  lines.forEach((l, li) => {
    const ch = inv(l.energy_keV);
    if (!Number.isFinite(ch) || ch < 0) return;
    const j = nearest(cands, ch);
    const c = cands[j]!;
    const slope = (inv(l.energy_keV * 1.001) - ch) / (l.energy_keV * 0.001);
    // Half a FWHM at least: a scintillator's nonlinearity moves low-energy lines by several keV.
    const tolCh = Math.abs(slope) * Math.max(l.energy_keV * tolFrac + 1.5, 0.5 * typicalFwhm_keV(l.energy_keV));
    if (Math.abs(c.ch - ch) > tolCh) return;
    const prev = used.get(j);
    if (prev !== undefined) {
      // Two lines on one peak: keep the line nearer to it.
      if (Math.abs(inv(lines[prev]!.energy_keV) - c.ch) <= Math.abs(ch - c.ch)) return;
      m.delete(prev);
    }
    used.set(j, li);
    m.set(li, j);
  });
  return m;
}

function score(lines: readonly ExpectedLine[], cands: readonly Candidate[], m: Map<number, number>): number {
  let s = 0;
  lines.forEach((l, li) => {
    const j = m.get(li);
    s += j === undefined ? (l.optional ? 0 : -0.5 * l.weight) : l.weight * Math.min(1, Math.log10(1 + cands[j]!.sig) / 1.5);
  });
  return s;
}

interface Hypothesis {
  k: number;
  cands: Candidate[];
  m: Map<number, number>;
  score: number;
}

/** All-pairs voting over one peak list: the linear calibration that explains most of the expected pattern. */
function vote(lines: readonly ExpectedLine[], cands: Candidate[], nChannels: number, k: number): Hypothesis[] {
  // The best few distinct pairings: a linear proposal can prefer a wrong low-energy match on a curved detector,
  // which only the quadratic refinement shows up.
  const top = new Map<string, Hypothesis>();
  const consider = (g: number, c0: number): void => {
    if (!(g > 0) || !Number.isFinite(g)) return;
    // An offset beyond ±60 keV or a range that cannot hold the lines is not a spectrometer's calibration.
    if (Math.abs(c0) > 60 + 0.02 * g * nChannels) return;
    const inv: Inv = (E) => (E - c0) / g;
    const m = match(lines, cands, inv, 0.04);
    if (m.size === 0) return;
    const s = score(lines, cands, m);
    const key = [...m].map(([a, b]) => `${a}:${b}`).join(',');
    const prev = top.get(key);
    if (!prev || s > prev.score) top.set(key, { k, cands, m, score: s });
    if (top.size > 64) {
      const keep = [...top].sort((x, y) => y[1].score - x[1].score).slice(0, 8);
      top.clear();
      for (const [kk, v] of keep) top.set(kk, v);
    }
  };
  for (let i = 0; i < cands.length; i++) {
    for (let a = 0; a < lines.length; a++) {
      // Through the origin (one line is enough; a single-line source such as Cs-137 needs this).
      consider(lines[a]!.energy_keV / cands[i]!.ch, 0);
      for (let j = i + 1; j < cands.length; j++) {
        for (let b = a + 1; b < lines.length; b++) {
          const g = (lines[b]!.energy_keV - lines[a]!.energy_keV) / (cands[j]!.ch - cands[i]!.ch);
          consider(g, lines[a]!.energy_keV - g * cands[i]!.ch);
        }
      }
    }
  }
  return [...top.values()].sort((x, y) => y.score - x.score).slice(0, 8);
}

function polyInverse(coef: readonly number[]): Inv {
  const cal: EnergyCalibration = { coefficients: [...coef] };
  return (E) => {
    // Newton from the linear guess; the polynomial is monotonic over the channels in use.
    let x = (E - coef[0]!) / coef[1]!;
    for (let i = 0; i < 30; i++) {
      const f = energyOf(cal, x) - E;
      const d = keVPerChannelAt(cal, x);
      if (!(d > 0)) break;
      const nx = x - f / d;
      if (Math.abs(nx - x) < 1e-9) return nx;
      x = nx;
    }
    return x;
  };
}

/**
 * Channel-to-energy calibration of `counts` from the lines of `opts.sources`. Throws CalibrationRefused (with the
 * lines expected and the peaks found) when the pattern is not there or the fit is implausible; InputError for
 * unknown sources and unusable spectra.
 */
export function calibrateEnergy(counts: Float64Array, opts: EnergyOptions): EnergyResult {
  const n = counts.length;
  if (n < 64) throw new InputError(`spectrum: expected at least 64 channels, got ${n}`);
  let total = 0;
  for (const c of counts) {
    if (!(c >= 0) || !Number.isFinite(c)) throw new InputError(`spectrum: expected counts >= 0 in every channel, got ${c}`);
    total += c;
  }
  if (total < 100) throw new CalibrationRefused(`spectrum has only ${total} counts: too few to find calibration peaks`);
  const fitMin = opts.fitMinEnergy_keV ?? 40;
  const lines = expectedLines(opts.sources, opts.minEnergy_keV ?? 25).map((l) => (l.energy_keV < fitMin ? { ...l, voteOnly: true } : l));
  if (opts.natural) {
    for (const l of NATURAL_LINES) {
      const fw = typicalFwhm_keV(l.energy_keV);
      if (lines.some((x) => Math.abs(x.energy_keV - l.energy_keV) < fw)) continue;
      lines.push({ ...l, intensity: 1, weight: 0.3, blended: false, optional: true });
    }
    lines.sort((a, b) => a.energy_keV - b.energy_keV);
  }
  const threshold = opts.threshold ?? 5;
  // FWHM at channel ch = k·√ch; k·√(n/2) spans from ~0.4 % to ~25 % of half the range.
  const all: Hypothesis[] = [];
  const kGrid: number[] = [];
  for (let k = 0.08; k < 4.5; k *= 1.45) kGrid.push(k);
  for (const k of kGrid) {
    const cands = searchPeaks(counts, k, threshold);
    if (cands.length === 0) continue;
    all.push(...vote(lines, cands.slice(-40), n, k));
  }
  const describe = (): string =>
    `expected lines of ${opts.sources.join(', ')} at ${lines.map((l) => `${l.energy_keV.toFixed(1)}`).join(', ')} keV`;
  all.sort((x, y) => y.score - x.score);
  if (all.length === 0) throw new CalibrationRefused(`no peaks found that match the ${describe()}`);
  // Develop the best proposals to a quadratic and keep the one that explains the pattern best at a tight
  // tolerance, with a mild preference for a small offset and little curvature (what spectrometers have).
  let chosen: (Developed & { final: number }) | undefined;
  for (const h of all.slice(0, 6)) {
    const d = develop(counts, h, lines, threshold);
    const mt = match(lines, d.cands, polyInverse(d.coef), 0.012);
    const c2 = d.coef[2] ?? 0;
    const final = score(lines, d.cands, mt) - Math.abs(d.coef[0]!) / 50 - Math.abs(c2 * n * n) / Math.max(1e-9, d.coef[1]! * n);
    if (!chosen || final > chosen.final) chosen = { ...d, final };
  }
  const { cands, coef } = chosen!;
  let m = chosen!.m;

  // Every named source must show its most prominent line.
  const matchedLines = new Set(m.keys());
  for (const s of opts.sources) {
    const id = getNuclide(s).name;
    const own = lines.map((l, i) => ({ l, i })).filter((x) => x.l.nuclide === id && !x.l.optional && !x.l.voteOnly);
    const top = own.reduce((a, b) => (b.l.weight > a.l.weight ? b : a));
    if (!matchedLines.has(top.i)) {
      throw new CalibrationRefused(
        `${getNuclide(s).label}: its ${top.l.energy_keV.toFixed(1)} keV line was not found in the spectrum (${describe()}; ` +
          `${cands.length} peaks found at channels ${cands.map((c) => c.ch.toFixed(0)).join(', ') || 'none'}); is it the right source?`,
      );
    }
    // Lines about as prominent as the strongest (Co-60's pair) must all show where the calibration puts them inside
    // the spectrum, and the lines found must carry most of the source's expected prominence: a pattern half there is
    // a coincidence (one Eu-152 x-ray group on another source's peak), not the source.
    const inv = polyInverse(coef);
    const inRange = own.filter((x) => {
      const ch = inv(x.l.energy_keV);
      return ch > 0.02 * n && ch < 0.98 * n;
    });
    const total = inRange.reduce((a, x) => a + x.l.weight, 0);
    const found = inRange.filter((x) => matchedLines.has(x.i)).reduce((a, x) => a + x.l.weight, 0);
    if (total > 0 && found < 0.6 * total) {
      const miss = inRange.filter((x) => !matchedLines.has(x.i)).map((x) => x.l.energy_keV.toFixed(1));
      throw new CalibrationRefused(
        `${getNuclide(s).label}: most of its lines are missing (${miss.join(', ')} keV not found where the fit puts them; ${describe()}); is it the right source?`,
      );
    }
    for (const x of own) {
      if (x.l.weight < 0.5 || matchedLines.has(x.i)) continue;
      const ch = inv(x.l.energy_keV);
      if (ch > 0.02 * n && ch < 0.98 * n) {
        throw new CalibrationRefused(
          `${getNuclide(s).label}: its ${x.l.energy_keV.toFixed(1)} keV line should be at channel ${ch.toFixed(0)} with this calibration, but no peak is there ` +
            `(${describe()}; peaks found at channels ${cands.map((c) => c.ch.toFixed(0)).join(', ') || 'none'}); is it the right source?`,
        );
      }
    }
  }
  const inv0 = polyInverse(coef);
  // Blended lines stay: refine() fits them together with their neighbours.
  let used = [...m].filter(([li]) => !lines[li]!.voteOnly).map(([li, j]) => ({ ...refine(counts, cands, j, lines, inv0, li), optional: !!lines[li]!.optional })).sort((x, y) => x.channel - y.channel);
  for (let i = 1; i < used.length; i++) {
    if (!(used[i]!.energy_keV > used[i - 1]!.energy_keV)) throw new CalibrationRefused(`peak order does not follow line order at ${used[i]!.energy_keV.toFixed(1)} keV: implausible identification`);
  }
  const sigmaOf = (p: { channelSigma: number; energy_keV: number }): number => Math.hypot(p.channelSigma * coef[1]!, 0.01 * typicalFwhm_keV(p.energy_keV));
  const autoDegree = (pts: readonly { channel: number; energy_keV: number; channelSigma: number }[]): number => {
    if (opts.degree === 1 || opts.degree === 2) return opts.degree;
    if (pts.length < 3) return 1;
    const w = pts.map((p) => ({ channel: p.channel, energy_keV: p.energy_keV, sigma_keV: sigmaOf(p) }));
    return fitCalibration(w, { degree: 1 }).chi2 - fitCalibration(w, { degree: 2 }).chi2 > 9 ? 2 : 1;
  };
  // Natural lines are checked against the sources' own lines: a weak K-40 or Tl-208 peak fitted on a neighbour's
  // flank would otherwise bend the curve (and make a parabola look needed) instead of standing out as an outlier.
  const core = used.filter((p) => !p.optional);
  if (core.length >= 2 && core.length < used.length) {
    const f = fitCalibration(core.map((p) => ({ channel: p.channel, energy_keV: p.energy_keV, sigma_keV: sigmaOf(p) })), { degree: Math.min(autoDegree(core), core.length - 1) });
    used = used.filter((p) => !p.optional || Math.abs(p.energy_keV - polynomialEnergy(f.coefficients, p.channel)) < 2.5 * sigmaOf(p));
  }
  // Auto degree: a straight line unless a parabola fits the lines significantly better (χ² lower by more than 9, a
  // 3 σ improvement with the systematic term in the weights): three points always fit a parabola exactly, and a
  // needless curvature extrapolates badly beyond the last line.
  let degree = autoDegree(used);
  if (used.length === 1 && !opts.singleLine) {
    throw new CalibrationRefused(
      `only one line matched (${used[0]!.nuclide} ${used[0]!.energy_keV.toFixed(1)} keV at channel ${used[0]!.channel.toFixed(1)}): one line cannot confirm ` +
        `which peak is which; add a source with more lines (e.g. --source Co60), or accept a line through the origin with --single-line`,
    );
  }
  if (used.length < degree + 1) {
    if (used.length === 1) degree = 1;
    else throw new CalibrationRefused(`a degree-${degree} fit needs ${degree + 1} matched lines, found ${used.length} (${describe()})`);
  }
  // Only well-measured centroids go into the fit (a deviation pair through a poorly fitted weak line would bend the
  // calibration there): centroid uncertainty below 4 % of the peak's FWHM, when enough such points remain.
  const good = used.filter((p) => p.channelSigma < 0.04 * p.fwhm_ch);
  if (good.length >= Math.min(used.length, degree + 1 + (opts.deviationPairs ? 1 : 0))) used = good;
  // Outliers (a weak natural line fitted on a neighbour's flank, a peak pulled by an unmodelled feature): drop the
  // point furthest beyond 4 σ, natural lines first, while enough points remain; the fit is then redone without it.
  for (let pass = 0; pass < 3 && used.length > degree + 2; pass++) {
    const f = fitCalibration(used.map((p) => ({ channel: p.channel, energy_keV: p.energy_keV, sigma_keV: sigmaOf(p) })), { degree });
    const pulls = used.map((p, i) => Math.abs(f.residuals_keV[i]!) / sigmaOf(p));
    let worst = -1;
    used.forEach((p, i) => {
      // A natural line is a guest: it goes at 2.5 σ, the sources' own lines at 4 σ.
      if (pulls[i]! > (p.optional ? 2.5 : 4) && (worst < 0 || (p.optional && !used[worst]!.optional) || (p.optional === used[worst]!.optional && pulls[i]! > pulls[worst]!))) worst = i;
    });
    if (worst < 0) break;
    used = used.filter((_, i) => i !== worst);
  }
  // Weights: centroid uncertainty in keV (plus 1 % of a typical FWHM for line-shape systematics: a Compton edge or a neighbour under a peak moves it by about that much) so weak peaks count less.
  const weighted: CalibrationPoint[] = used.map((p) => ({ channel: p.channel, energy_keV: p.energy_keV, sigma_keV: sigmaOf(p) }));
  let coefficients: number[];
  let cov: number[][];
  let residuals: number[];
  let deviationPairs: [number, number][] | undefined;
  if (weighted.length === 1) {
    const w = weighted[0]!;
    coefficients = [0, w.energy_keV / w.channel];
    cov = [
      [0, 0],
      [0, ((w.sigma_keV! / w.energy_keV) * coefficients[1]!) ** 2],
    ];
    residuals = [0];
  } else {
    const fit = fitCalibration(weighted, { degree, deviationPairs: !!opts.deviationPairs && weighted.length >= 3 });
    coefficients = fit.coefficients;
    cov = fit.covariance;
    residuals = fit.residuals_keV;
    deviationPairs = fit.calibration.deviationPairs;
  }
  const c3: [number, number, number] = [coefficients[0] ?? 0, coefficients[1] ?? 0, coefficients[2] ?? 0];
  const sig3: [number, number, number] = [0, 1, 2].map((i) => Math.sqrt(Math.max(0, cov[i]?.[i] ?? 0))) as [number, number, number];

  // Plausibility of the result.
  const slopeEnd = c3[1] + 2 * c3[2] * n;
  if (!(c3[1] > 0 && slopeEnd > 0)) {
    throw new CalibrationRefused(`fitted calibration is not increasing over the ${n} channels (c1 ${c3[1].toPrecision(4)}, slope at the end ${slopeEnd.toPrecision(4)} keV/channel)`);
  }
  if (Math.abs(c3[0]) > 100) throw new CalibrationRefused(`fitted offset ${c3[0].toFixed(1)} keV is implausible (expected within ±100 keV)`);
  // A spectrometer's curvature is a correction, not the main term: over the whole range the quadratic part stays
  // well below the linear one. A coincidental match (Ba-133 302/356 keV on Co-60's pair) needs much more.
  if (Math.abs(c3[2]) * n * n > 0.3 * c3[1] * n) {
    throw new CalibrationRefused(
      `fitted curvature is implausible: the quadratic term reaches ${(Math.abs(c3[2]) * n * n).toFixed(0)} keV against ${(c3[1] * n).toFixed(0)} keV for the linear one over ${n} channels; wrong source?`,
    );
  }
  // With deviation pairs the polynomial only carries the trend; the pairs take up a scintillator's nonlinearity.
  const maxFrac = opts.maxResidualFraction ?? (deviationPairs ? 0.15 : 0.02);
  const cal: EnergyCalibration = deviationPairs ? { coefficients: c3, deviationPairs } : { coefficients: c3 };
  const peaks: MatchedPeak[] = used.map((p, i) => {
    const kpc = keVPerChannelAt(cal, p.channel);
    const fittedPoly = c3[0] + c3[1] * p.channel + c3[2] * p.channel * p.channel;
    return {
      nuclide: p.nuclide,
      energy_keV: p.energy_keV,
      channel: p.channel,
      channelSigma: p.channelSigma,
      fwhm_ch: p.fwhm_ch,
      fwhm_keV: p.fwhm_ch * kpc,
      fwhmSigma_keV: p.fwhmSigma_ch * kpc,
      area: p.area,
      areaSigma: p.areaSigma,
      significance: p.significance,
      fitted_keV: fittedPoly,
      residual_keV: residuals[i] ?? p.energy_keV - fittedPoly,
    };
  });
  // Widths must tell one story: FWHM/√E of a scintillator (or a semiconductor's nearly constant FWHM) varies by far
  // less than a factor 2.5 between lines; peaks matched to the wrong lines break that.
  const rel = peaks.map((p) => p.fwhm_keV / Math.sqrt(p.energy_keV)).filter((x) => x > 0);
  if (rel.length >= 2 && Math.max(...rel) > 2.5 * Math.min(...rel)) {
    throw new CalibrationRefused(
      `peak widths are inconsistent with one detector: FWHM ${peaks.map((p) => `${f1(p.fwhm_keV)} keV at ${f1(p.energy_keV)}`).join(', ')}; the peaks are probably matched to the wrong lines (wrong source?)`,
    );
  }
  const bad = peaks.filter((p) => Math.abs(p.residual_keV) > maxFrac * p.energy_keV + 1);
  if (bad.length) {
    throw new CalibrationRefused(
      `residuals too large for a degree-${degree} fit: ${bad.map((p) => `${getNuclide(p.nuclide).label} ${p.energy_keV.toFixed(1)} keV off by ${p.residual_keV.toFixed(2)} keV`).join(', ')} ` +
        `(accepted: ${(maxFrac * 100).toFixed(1)} % + 1 keV); wrong source, or try --deviation-pairs for a nonlinear detector`,
    );
  }
  const rms = Math.sqrt(peaks.reduce((s, p) => s + p.residual_keV ** 2, 0) / peaks.length);
  const maxAbs = Math.max(...peaks.map((p) => Math.abs(p.residual_keV)));
  const missing = lines.filter((l, i) => !matchedLines.has(i) && !l.optional && !l.voteOnly).map((l) => ({ nuclide: l.nuclide, energy_keV: l.energy_keV }));
  return {
    coefficients: c3,
    ...(deviationPairs ? { deviationPairs } : {}),
    degree,
    peaks,
    missing,
    rms_keV: rms,
    maxAbsResidual_keV: maxAbs,
    coefficientSigma: sig3,
    nChannels: n,
  };
}

interface Developed {
  cands: Candidate[];
  m: Map<number, number>;
  coef: number[];
}

/**
 * A voted proposal carried through: search again with the widths the proposal implies, then least squares with a
 * tightening tolerance up to a quadratic.
 */
function develop(counts: Float64Array, first: Hypothesis, lines: readonly ExpectedLine[], threshold: number): Developed {
  // FWHM ∝ √E, not √channel, which differs at low channels when the offset is not zero; scaled to the widths the
  // matched peaks showed.
  const g1 = fitTo0(first, lines);
  const ratio =
    median([...first.m].map(([li, j]) => (first.cands[j]!.peak.fit!.fwhm_ch * g1[1]!) / typicalFwhm_keV(lines[li]!.energy_keV)).filter((x) => x > 0.2 && x < 5)) || 1;
  const widthAt = (ch: number): number => Math.max(1.2, (ratio * typicalFwhm_keV(Math.max(5, g1[0]! + g1[1]! * ch))) / g1[1]!);
  let cands = searchWithWidth(counts, widthAt, threshold);
  let m = match(lines, cands, (E) => (E - g1[0]!) / g1[1]!, 0.04);
  // The first search stands when the second finds less of the pattern.
  if (m.size < first.m.size) {
    cands = first.cands;
    m = first.m;
  }
  const fitTo = (mm: Map<number, number>, deg: number): number[] => {
    const pts = [...mm].map(([li, j]) => ({ channel: cands[j]!.ch, energy_keV: lines[li]!.energy_keV }));
    if (pts.length === 1) return [0, pts[0]!.energy_keV / pts[0]!.channel];
    return fitCalibration(pts, { degree: Math.min(deg, pts.length - 1) }).coefficients;
  };
  let coef: number[] = g1;
  for (const [tol, deg] of [
    [0.03, 1],
    [0.02, 2],
    [0.012, 2],
  ] as const) {
    coef = fitTo(m, deg);
    const m2 = match(lines, cands, polyInverse(coef), tol);
    // A tighter tolerance must not lose lines the looser one found (a nonlinear detector's low lines sit off the trend).
    if (m2.size >= m.size) m = m2;
  }
  return { cands, m, coef };
}

interface RefinedPeak {
  nuclide: string;
  energy_keV: number;
  channel: number;
  channelSigma: number;
  fwhm_ch: number;
  fwhmSigma_ch: number;
  area: number;
  areaSigma: number;
  significance: number;
}

/**
 * The matched peak fitted together with its neighbours within 3 FWHM: the other peaks found there and the
 * predicted places of expected lines that no found peak explains (a shoulder the search could not separate).
 * Falls back to the single-peak fit of the search when the joint fit fails. A close pair of one source's lines (Co-60
 * on a small NaI) goes to refinePair first.
 */
function refine(counts: Float64Array, cands: readonly Candidate[], j: number, lines: readonly ExpectedLine[], inv: Inv, li: number): RefinedPeak {
  const c = cands[j]!;
  const f = c.peak.fit!;
  const F = f.fwhm_ch;
  const single: RefinedPeak = {
    nuclide: lines[li]!.nuclide,
    energy_keV: lines[li]!.energy_keV,
    channel: f.centroid_ch,
    channelSigma: f.centroidSigma_ch,
    fwhm_ch: f.fwhm_ch,
    fwhmSigma_ch: f.fwhmSigma_ch,
    area: f.area,
    areaSigma: f.areaSigma,
    significance: c.sig,
  };
  const pair = refinePair(counts, cands, c, lines, inv, li);
  if (pair) return { ...single, channel: pair.centroid_ch, channelSigma: pair.centroidSigma_ch, fwhm_ch: pair.fwhm_ch, fwhmSigma_ch: pair.fwhmSigma_ch, area: pair.area, areaSigma: pair.areaSigma };
  const members: { centroid_ch: number; fwhm_ch: number }[] = [{ centroid_ch: f.centroid_ch, fwhm_ch: F }];
  for (const o of cands) {
    if (o !== c && Math.abs(o.ch - c.ch) < 3 * F) members.push({ centroid_ch: o.ch, fwhm_ch: o.peak.fit?.fwhm_ch ?? F });
  }
  for (const l of lines) {
    const x = inv(l.energy_keV);
    if (Math.abs(x - c.ch) < 3 * F && members.every((mb) => Math.abs(mb.centroid_ch - x) > 0.6 * F)) members.push({ centroid_ch: x, fwhm_ch: F * Math.sqrt(Math.max(x, 1) / Math.max(c.ch, 1)) });
  }
  // Nearest neighbours first; with too many, or when the joint fit fails, the farthest are dropped.
  members.sort((x, y) => Math.abs(x.centroid_ch - c.ch) - Math.abs(y.centroid_ch - c.ch));
  members.splice(4);
  const fitWith = (use: typeof members, half_fwhm: number): MultipletPeak | undefined => {
    const lo = Math.min(...use.map((mb) => mb.centroid_ch - half_fwhm * mb.fwhm_ch));
    const hi = Math.max(...use.map((mb) => mb.centroid_ch + half_fwhm * mb.fwhm_ch));
    const q = fitMultiplet(counts, use, [lo, hi])?.peaks[0];
    return q && Math.abs(q.centroid_ch - f.centroid_ch) <= 0.5 * F && q.fwhm_ch > 0.5 * F && q.fwhm_ch < 2 * F ? q : undefined;
  };
  let p: MultipletPeak | undefined;
  // An isolated source line is fitted over ±2 FWHM: within ±1 FWHM a Gaussian, its step and a quadratic background
  // are nearly interchangeable, and on a small, poor NaI (1x1 inch, 9 %) the 662 keV centroid was uncertain by 4 keV
  // at 9,000 counts (1 keV over ±2 FWHM). Natural lines keep the narrow window (Tl-208 sits near the spectrum's end).
  if (members.length === 1 && !lines[li]!.optional) p = fitWith(members, ISOLATED_WINDOW_FWHM);
  for (let k = members.length; k >= 1 && !p; k--) {
    // ±1 FWHM: wider windows reach the K x-rays and Compton edges of other sources, which the model does not hold.
    p = fitWith(members.slice(0, k), 1);
  }
  if (!p) return single;
  return { ...single, channel: p.centroid_ch, channelSigma: p.centroidSigma_ch, fwhm_ch: p.fwhm_ch, fwhmSigma_ch: p.fwhmSigma_ch, area: p.area, areaSigma: p.areaSigma };
}

/**
 * A source line with exactly one other expected line within 3 FWHM, and that one from the same source (Co-60's pair
 * on a small NaI): both fitted as one pattern by fitPair, since a free multiplet on a quadratic background is pulled
 * by the upper line's Compton edge under the lower one. Undefined when the case does not apply or the fit fails.
 */
function refinePair(counts: Float64Array, cands: readonly Candidate[], c: Candidate, lines: readonly ExpectedLine[], inv: Inv, li: number): MultipletPeak | undefined {
  const F = c.peak.fit!.fwhm_ch;
  const me = lines[li]!;
  if (me.optional || me.voteOnly) return undefined;
  const near = lines.map((l, i) => ({ l, i, x: inv(l.energy_keV) })).filter((o) => o.i !== li && Math.abs(o.x - c.ch) < 3 * F);
  if (near.length !== 1) return undefined;
  const other = near[0]!;
  if (other.l.nuclide !== me.nuclide || other.l.optional || other.l.voteOnly || !Number.isFinite(other.x)) return undefined;
  // The partner's starting centroid: the found peak there, or its predicted place when the search merged the two.
  const k = nearest(cands, other.x);
  const otherCh = cands[k] !== c && Math.abs(cands[k]!.ch - other.x) < 0.6 * F ? cands[k]!.ch : other.x;
  const meIsUpper = me.energy_keV > other.l.energy_keV;
  const [lowL, upL] = meIsUpper ? [other.l, me] : [me, other.l];
  const [lowCh, upCh] = meIsUpper ? [otherCh, c.ch] : [c.ch, otherCh];
  const chPerKeV = (inv(upL.energy_keV) - inv(lowL.energy_keV)) / (upL.energy_keV - lowL.energy_keV);
  const fwhmUpper = meIsUpper ? F : F * Math.sqrt(upL.energy_keV / lowL.energy_keV);
  const areaRatio = (lowL.intensity * photopeakEfficiency(TYPICAL, lowL.energy_keV)) / (upL.intensity * photopeakEfficiency(TYPICAL, upL.energy_keV));
  const r = fitPair(counts, {
    lower: { energy_keV: lowL.energy_keV, centroid_ch: lowCh },
    upper: { energy_keV: upL.energy_keV, centroid_ch: upCh },
    fwhmUpper_ch: fwhmUpper,
    chPerKeV,
    areaRatio,
  });
  const q = r && (meIsUpper ? r.upper : r.lower);
  return q && Math.abs(q.centroid_ch - c.ch) <= 0.5 * F && q.fwhm_ch > 0.5 * F && q.fwhm_ch < 2 * F ? q : undefined;
}

const f1 = (v: number): string => v.toFixed(1);

/** Half-width of refine's fit around a source line with no neighbour within 3 FWHM, in FWHM. */
const ISOLATED_WINDOW_FWHM = 2;

/** The result as an EnergyCalibration (what a record carries). */
export function energyCalibrationOf(r: Pick<EnergyResult, 'coefficients' | 'deviationPairs'>): EnergyCalibration {
  const coefficients = r.coefficients[2] === 0 ? r.coefficients.slice(0, 2) : [...r.coefficients];
  return r.deviationPairs ? { coefficients, deviationPairs: r.deviationPairs } : { coefficients };
}
