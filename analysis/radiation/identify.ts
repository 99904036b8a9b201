// Nuclide identification: a Poisson full-spectrum fit against detector-response templates, forward selection of the nuclides present, confidence and category.
//
// How it works (details in identify/templates.ts and identify/fit.ts):
// 1. Templates: for every library nuclide and shield variant (bare; steel 1-10 cm; lead 0.5-2 cm; water 10 and
//    30 cm by default) the detector's response to its lines (dose.ts responseSpectrum; lines attenuated by the
//    shield and 2 m of air), plus for shielded variants a downscatter continuum; and the background: a measured
//    background spectrum scaled by live time, or the natural-background model (sim/natural.ts). Built once per
//    detector on a fine grid, rebinned onto the spectrum's own calibration (and a trial gain factor) per call.
// 2. Fit: the spectrum (channels 30 keV-2.9 MeV by default) as background + Σ nuclide templates, amplitudes ≥ 0,
//    by Poisson maximum likelihood. The background amplitude is free too: vehicles and cargo shadow the ground,
//    so the background under a measurement is rarely exactly the one recorded or modelled.
// 3. Selection: forward. Every remaining template is scored against the current fit (score test, O(n) each), the
//    best few nuclides are refitted, and the one with the largest deviance drop is added if the drop exceeds the
//    threshold (a likelihood-ratio test); then its shield variant is revisited (swapped, or mixed with a second
//    one for a thickness in between) and nuclides that no longer pay their way are removed. A medical nuclide
//    over SNM is the case this is for: once the strong component is in the model, what is left over (U-235's
//    186 keV, Pu-239's 129/414 keV) scores on its own.
// 4. Gain: the calibration is taken as given, then the fit tries gain factors within ±gainSearch around the
//    selected model and reselects if another gain fits clearly better (an upstream stabiliser handles drift; this
//    absorbs what it leaves, a few per cent).
// 5. Confidence: detection probability from the nuclide's own likelihood-ratio significance (dispersion-corrected)
//    times its share against the alternatives that could replace it (normalised likelihood weights), so a Ba-133
//    that I-131 explains nearly as well reports both with split confidence.
// 6. Peaks (peaks.ts) seed candidates whose main line sits on a found peak and name the peaks the final model
//    leaves unexplained, with the library nuclides that have a line there.
// 7. Acceptance (identify/acceptance.ts, lines.ts, norm.ts): the fit proposes, a peak test in the residual decides.
//    A nuclide is reported only when its main lines are seen as peaks after the other components (SNM: every
//    characteristic line); natural chains within background proportions and 511 keV alone are background; what
//    was rejected is listed, the selection is rerun without it, and `unknown` says when something stays
//    unexplained. The background is several separately scaled parts (lead x-rays, continuum slopes, scatter
//    humps; optionally the soil chains apart), see docs/identification.md.

import { InputError } from '../../common/errors.js';
import { type DetectorModel, fwhm_keV } from './dose.js';
import { type Peak, type PeakSearcher, createPeakSearch } from './peaks.js';
import { type NuclideCategory, getNuclide, nuclideIds } from './nuclides.js';
import type { SoilConcentrations } from './sim/natural.js';
import type { EnergyCalibration } from './spectrum.js';
import { type UraniumAssessment, assessUranium } from './identify/uranium.js';
import { identifyByPeaks, isHighResolution } from './identify/peak-id.js';
import { chainExcess } from './identify/norm.js';
import { byEvidence } from './identify/order.js';
import { calibrationOf, checkCounts, round } from './identify/input.js';
import { NATURAL_CHAIN, NATURAL_EXCESS, UNKNOWN_LINE_Z, onlyAnnihilation, verifyLines } from './identify/acceptance.js';
import { type FitResult, amplitudeCovariance, dataTerm, poissonNnls, scoreStatistic } from './identify/fit.js';
import { calibratedConfidence } from './identify/confidence.js';
import {
  type Column,
  DEFAULT_SHIELD_VARIANTS,
  FineTemplateSet,
  type ShieldVariant,
  checkedChannelEdges,
  cumulative,
  makeColumn,
  rebin,
} from './identify/templates.js';

export { DEFAULT_SHIELD_VARIANTS, type ShieldVariant } from './identify/templates.js';
export { CalibrationError } from './identify/templates.js';
export { type UraniumAssessment, type UraniumVerdict, NATURAL_U235_ACTIVITY_RATIO } from './identify/uranium.js';

export type { IdentifierOptions, SpectrumInput, BackgroundSpectrum, IdentifiedNuclide, RejectedNuclide, UnexplainedPeak, Identification, IdentificationNote } from './identify/types.js';
import type { IdentifierOptions, SpectrumInput, BackgroundSpectrum, IdentifiedNuclide, RejectedNuclide, UnexplainedPeak, Identification, IdentificationNote } from './identify/types.js';

/**
 * Significance (σ) above which a rejected SNM nuclide makes the answer "unknown" whatever replaced it: its own fit,
 * and what it explains beyond the answer without it.
 */
const SNM_DOUBT_Z = 10;
const SEVERITY: readonly NuclideCategory[] = ['SNM', 'industrial', 'medical', 'NORM'];

// Detection probability: logistic in the significance, 0.5 at 4.5 σ, 0.98 at 6 σ. Reported nuclides are above the
// threshold (5.5 σ by default), so this mostly separates "just above the cut" from "unmistakable".
const DETECTION_Z0 = 4.5;
const DETECTION_SLOPE = 2.6;
const SHORTLIST = 4;
const ALTERNATIVES = 3;
const SWAPS = 3;
const ALTERNATIVE_WINDOW = 30;
const SCORE_FLOOR = 0.5;
/** Deviance drop a second shield variant of a nuclide must bring to stay (3 σ). */
const MIX_MIN = 9;
/**
 * Deviance improvement a gain factor must bring to replace the calibration as given. On 1,200 simulated spectra
 * with an exact calibration the improvement was below 7 in 99 % and never above 9; a real 2 % gain error gives
 * 100-700 at 5,000 net counts.
 */
const GAIN_MIN_GAIN = 12;
const GAIN_STEP = 5e-4;
// Rebinned candidates take ~3.5 MB per (grid, gain) at 1024 channels: keep a few gains per grid and a few grids.
const GAIN_CACHE = 4;
const GRID_CACHE = 4;

interface Candidate {
  nuclide: string;
  variant: string;
  line: Column;
  ds?: Column;
}

/** Everything that depends only on the spectrum's channel grid. */
interface Grid {
  edges: Float64Array;
  first: number;
  last: number;
  searcher: PeakSearcher;
  /** Candidates and natural background rebinned at a gain. */
  byGain: Map<number, { cands: Candidate[]; bg: BgColumns }>;
}

interface ModelFit {
  parts: Candidate[];
  fit: FitResult;
  columns: Column[];
}

/**
 * A nuclide identifier for one detector model. Building the templates takes 1-3 s (about 220 line and 300
 * background responses on a 1 keV grid, 21 nuclides × 10 shield variants) and ~25 MB; after that, identify() is
 * about 2 ms per 1024-channel spectrum (median; see bench/identify.ts). Keep one per detector.
 */
export class NuclideIdentifier {
  private readonly fine: FineTemplateSet;
  private readonly cums: { nuclide: string; variant: string; line: Float64Array; ds?: Float64Array }[];
  private readonly bgCums: { id: string; cum: Float64Array; natural: boolean }[];
  private readonly chainShare = new Map<string, number>();
  private readonly grids = new Map<string, Grid>();
  private readonly nuclideIds: readonly string[];
  private readonly mainLines = new Map<string, { energy_keV: number; share: number }[]>();
  private readonly threshold: number;
  private readonly relativeThreshold: number;
  private readonly maxNuclides: number;
  private readonly gainSearch: number;
  private readonly minE: number;
  private readonly maxE: number;

  constructor(readonly options: IdentifierOptions) {
    const ids = options.nuclides ?? nuclideIds();
    this.nuclideIds = ids.map((id) => getNuclide(id).name);
    this.threshold = options.threshold ?? 30;
    this.relativeThreshold = options.relativeThreshold ?? 0.01;
    this.maxNuclides = options.maxNuclides ?? 4;
    this.gainSearch = options.gainSearch ?? 0.03;
    this.minE = options.minEnergy_keV ?? 30;
    this.maxE = options.maxEnergy_keV ?? 2900;
    if (!(this.gainSearch >= 0 && this.gainSearch < 0.2)) throw new RangeError(`gainSearch must be in [0, 0.2), got ${this.gainSearch}`);
    if (!(this.maxE > this.minE && this.minE >= 0)) throw new RangeError(`energy range ${this.minE}-${this.maxE} keV is empty`);
    this.fine = new FineTemplateSet({
      detector: options.detector,
      nuclides: ids.map((id) => getNuclide(id).name),
      shielding: options.shielding ?? DEFAULT_SHIELD_VARIANTS,
      maxEnergy_keV: this.maxE * (1 + this.gainSearch) + 100,
      fineWidth_keV: options.fineWidth_keV ?? 1,
      airPath_m: options.airPath_m ?? 2,
      soil: options.soil ?? {},
      minRelativeYield: 1e-4,
    });
    this.cums = this.fine.templates.map((t) => ({
      nuclide: t.nuclide,
      variant: t.variant,
      line: cumulative(t.lines),
      ds: t.downscatter === undefined ? undefined : cumulative(t.downscatter),
    }));
    // The soil chains enter the fit apart (their uncollided lines, and the soil scatter as one more part): with
    // the model's fixed K:U:Th proportions real backgrounds came back with nuclide lists. A NORM source is then
    // "more of one chain" and is reported by the proportion rule of identify/norm.ts.
    const separate = options.backgroundParts === 'separate';
    const FIT_PARTS = new Set([...(separate ? ['K40', 'U238', 'Th232', 'natural-scatter'] : ['natural']), 'lead-xray', 'continuum-60', 'continuum-200', 'continuum-800', 'hump-90', 'hump-150', 'hump-230']);
    this.bgCums = this.fine.backgroundParts
      .filter((b) => FIT_PARTS.has(b.id))
      .map((b) => ({ id: b.id, cum: cumulative(b.values), natural: b.naturalShare > 0 }));
    for (const b of this.fine.backgroundParts) if (b.id === 'K40' || b.id === 'U238' || b.id === 'Th232') this.chainShare.set(b.id, b.naturalShare);
    for (const t of this.fine.templates) this.mainLines.set(`${t.nuclide}|${t.variant}`, t.mainLines);
  }

  /** Identify the nuclides in a spectrum; `background` is a measured background of the same detector. */
  identify(spectrum: SpectrumInput, opts: { background?: BackgroundSpectrum } = {}): Identification {
    // HPGe-class resolution: every line is a peak of its own, so peaks are the evidence (identify/peak-id.ts).
    if (isHighResolution(this.options.detector)) return identifyByPeaks(spectrum, { ...this.options, ...opts });
    // The fit's raw score through the calibrated map (identify/confidence.ts): monotone, so the order stays.
    const r = this.identifyByFit(spectrum, opts);
    if (this.options.rawConfidence !== true) for (const n of r.nuclides) n.confidence = round(calibratedConfidence(n.confidence), 4);
    return r;
  }

  private identifyByFit(spectrum: SpectrumInput, opts: { background?: BackgroundSpectrum }): Identification {
    const counts = checkCounts(spectrum.counts, 'counts');
    if (!(spectrum.liveTime_s > 0) || !Number.isFinite(spectrum.liveTime_s)) {
      throw new InputError(`liveTime_s: expected a finite time > 0 s, got ${spectrum.liveTime_s}`);
    }
    const cal = calibrationOf(spectrum);
    const grid = this.grid(cal, counts.length);
    const { first, last } = grid;
    const y = counts.subarray(first, last);
    let measured: Column | undefined;
    if (opts.background !== undefined) {
      const b = checkCounts(opts.background.counts, 'background.counts');
      if (b.length !== counts.length) {
        throw new InputError(`background.counts: expected ${counts.length} channels like the spectrum, got ${b.length}`);
      }
      if (!(opts.background.liveTime_s > 0) || !Number.isFinite(opts.background.liveTime_s)) {
        throw new InputError(`background.liveTime_s: expected a finite time > 0 s, got ${opts.background.liveTime_s}`);
      }
      const scale = spectrum.liveTime_s / opts.background.liveTime_s;
      const smooth = smoothBackground(b, grid.edges, this.options.detector);
      measured = makeColumn(Float64Array.from(smooth.subarray(first, last), (v) => v * scale));
    }
    let gross = 0;
    for (const v of y) gross += v;
    const empty: Identification = {
      nuclides: [],
      rejected: [],
      unexplainedPeaks: [],
      background: { source: measured ? 'measured' : 'model', counts: gross },
      gain: 1,
      fit: { deviance: 0, channels: y.length, dispersion: 1, grossCounts: gross },
    };
    if (gross === 0) return empty;

    const peaks = grid.searcher.search(counts);
    const seeds = this.seeds(grid, peaks);
    const yTerm = dataTerm(y);
    const problemAt = (gain: number, parts?: Candidate[]): Problem => {
      if (parts !== undefined) {
        // A gain trial needs only the model's own templates.
        const only = this.rebinParts(grid, gain, parts);
        const b = backgroundColumns(only.bg, measured);
        return new Problem(y, yTerm, b.columns, b.ids, only.cands);
      }
      const g = this.columnsAt(grid, gain);
      const b = backgroundColumns(g.bg, measured);
      return new Problem(y, yTerm, b.columns, b.ids, g.cands);
    };
    let gain = 1;
    let problem = problemAt(1);
    let model = this.select(problem, seeds);
    if (this.gainSearch > 0 && model.parts.length > 0) {
      let better = this.refineGain(model, problemAt);
      if (better.gain !== 1) {
        // A gain error can make the wrong nuclide fit best at the calibration as given (F-18's 511 keV read 2 %
        // high looks like I-123 behind lead, whose 529 keV line is all that is left), and the gain refined
        // around that model is then biased towards it. So the gain is also refined around the best substitutes
        // of the strongest nuclide, and the gain of the best of these fits wins before selecting again.
        for (const alt of this.substitutes(problem, model)) {
          const other = this.refineGain(alt, problemAt, better.gain);
          if (other.model.fit.deviance < better.model.fit.deviance) better = other;
        }
        // On a 0.05 % grid (0.3 keV at 662 keV, far below the resolution) so that a detector whose gain is off
        // by the same amount spectrum after spectrum finds its templates rebinned already (byGain cache).
        gain = Math.round(better.gain / GAIN_STEP) * GAIN_STEP;
        problem = problemAt(gain);
        model = this.select(problem, seeds);
      }
    }
    const firstPass = this.report(problem, model, grid, counts, peaks, spectrum.liveTime_s, gain, measured !== undefined);
    // A nuclide whose lines were not seen may have taken the place of the right one in the forward selection (a
    // reactor-plutonium template explains an Am-241 source's 59.5 keV better than Am-241 alone): select once more
    // without the rejected ones, and keep the first answer's rejections for the record.
    const out = new Set((firstPass.rejected ?? []).filter((r) => r.kind !== 'natural-background').map((r) => r.nuclide));
    if (out.size === 0) return firstPass;
    const again = new Problem(problem.y, yTerm, problem.bg, problem.bgIds, problem.cands.filter((c) => !out.has(c.nuclide)));
    const second = this.report(again, this.select(again, seeds), grid, counts, peaks, spectrum.liveTime_s, gain, measured !== undefined);
    const seen = new Set((second.rejected ?? []).map((r) => r.nuclide));
    // An SNM template that fitted strongly but whose lines were not all seen is not cleared by what replaced it
    // (real Pu-239 at 5,000 counts in a NaI shows 129.3 keV at ~2 σ, and Co-57 then takes its place): unknown.
    // Not when its lines contradict it: an Am-241 source always fits a reactor-plutonium template strongly.
    // And only as far as the SNM template explains more than what replaced it: a reactor-plutonium template fits an
    // Am-241 source at 200 σ through its americium, but what only plutonium explains is the difference of the fits.
    const beyond = Math.sqrt(Math.max(0, (second.fit.deviance - firstPass.fit.deviance) / Math.max(1, firstPass.fit.dispersion)));
    const doubtful =
      beyond >= SNM_DOUBT_Z ? (firstPass.rejected ?? []).filter((r) => r.kind === 'snm-not-confirmed' && r.significance >= SNM_DOUBT_Z && r.contradicted !== true) : [];
    const reasons = [
      ...(second.unknown ? [second.unknown.reason] : []),
      ...doubtful.map((r) => `${getNuclide(r.nuclide).label} explains the spectrum better than any answer without it (by ${beyond.toFixed(1)} σ) but ${r.reason}: possible SNM, measure with a high-resolution detector`),
    ];
    return {
      ...second,
      ...(reasons.length > 0 ? { unknown: { reason: reasons.join('; ') } } : {}),
      rejected: [...(second.rejected ?? []), ...(firstPass.rejected ?? []).filter((r) => !seen.has(r.nuclide))],
    };
  }

  // ------------------------------------------------------------------------------------------------

  private grid(cal: EnergyCalibration, n: number): Grid {
    const key = `${n}|${JSON.stringify(cal.coefficients)}|${JSON.stringify(cal.deviationPairs ?? [])}`;
    let g = this.grids.get(key);
    if (g !== undefined) return g;
    const edges = checkedChannelEdges(cal, n);
    const top = Math.min(this.maxE, (this.fine.nFine * this.fine.fineWidth_keV) / (1 + this.gainSearch));
    let first = 0;
    while (first < n && edges[first] < this.minE) first++;
    let last = first;
    while (last < n && edges[last + 1] <= top) last++;
    if (last - first < 32) {
      throw new InputError(
        `calibration: only ${Math.max(0, last - first)} channels fall between ${this.minE} and ${top.toFixed(0)} keV (edges ${edges[0].toFixed(1)}-${edges[n].toFixed(1)} keV); expected a gamma spectrum calibrated in keV`,
      );
    }
    const det = this.options.detector;
    const searcher = createPeakSearch({
      nChannels: n,
      fwhm_ch: (ch: number) => {
        const i = Math.min(n - 1, Math.max(0, Math.floor(ch)));
        const e = Math.max(0.5 * (edges[i] + edges[i + 1]), 10);
        return fwhm_keV(det, e) / (edges[i + 1] - edges[i]);
      },
      threshold: 5,
      range: [first, last - 1],
      fit: false,
    });
    g = { edges, first, last, searcher, byGain: new Map() };
    if (this.grids.size >= GRID_CACHE) this.grids.delete(this.grids.keys().next().value as string);
    this.grids.set(key, g);
    return g;
  }

  private columnsAt(grid: Grid, gain: number): { cands: Candidate[]; bg: BgColumns } {
    const key = Math.round(gain * 1e5);
    const hit = grid.byGain.get(key);
    if (hit !== undefined) return hit;
    const w = this.fine.fineWidth_keV;
    const cands: Candidate[] = this.cums.map((c) => ({
      nuclide: c.nuclide,
      variant: c.variant,
      line: makeColumn(rebin(c.line, w, grid.edges, grid.first, grid.last, gain)),
      ds: c.ds === undefined ? undefined : makeColumn(rebin(c.ds, w, grid.edges, grid.first, grid.last, gain)),
    }));
    const bg = this.bgAt(grid, gain);
    const out = { cands, bg };
    if (grid.byGain.size >= GAIN_CACHE) grid.byGain.delete(grid.byGain.keys().next().value as number);
    grid.byGain.set(key, out);
    return out;
  }

  private bgAt(grid: Grid, gain: number): BgColumns {
    const w = this.fine.fineWidth_keV;
    return this.bgCums.map((b) => ({ id: b.id, natural: b.natural, column: makeColumn(rebin(b.cum, w, grid.edges, grid.first, grid.last, gain)) }));
  }

  private rebinParts(grid: Grid, gain: number, parts: Candidate[]): { cands: Candidate[]; bg: BgColumns } {
    const w = this.fine.fineWidth_keV;
    const cands: Candidate[] = [];
    for (const c of this.cums) {
      if (!parts.some((q) => q.nuclide === c.nuclide && q.variant === c.variant)) continue;
      cands.push({
        nuclide: c.nuclide,
        variant: c.variant,
        line: makeColumn(rebin(c.line, w, grid.edges, grid.first, grid.last, gain)),
        ds: c.ds === undefined ? undefined : makeColumn(rebin(c.ds, w, grid.edges, grid.first, grid.last, gain)),
      });
    }
    return { cands, bg: this.bgAt(grid, gain) };
  }

  /** Nuclides whose strongest line sits on a peak of the raw spectrum. */
  private seeds(grid: Grid, peaks: readonly Peak[]): Set<string> {
    const out = new Set<string>();
    const det = this.options.detector;
    for (const t of this.fine.templates) {
      const main = t.mainLines[0];
      if (main === undefined) continue;
      const tol = 0.5 * fwhm_keV(det, main.energy_keV);
      for (const p of peaks) {
        const e = 0.5 * (grid.edges[p.channel] + grid.edges[p.channel + 1]);
        if (Math.abs(e - main.energy_keV) <= tol) out.add(t.nuclide);
      }
    }
    return out;
  }

  /** Forward selection, shield-variant revision, backward elimination. */
  private select(p: Problem, seeds: Set<string>): ModelFit {
    let model = p.fit([]);
    let firstDrop = 0;
    for (;;) {
      const present = new Set(model.parts.map((c) => c.nuclide));
      if (present.size >= this.maxNuclides) break;
      const scored = new Map<string, { c: Candidate; s: number }[]>();
      for (const c of p.cands) {
        if (present.has(c.nuclide)) continue;
        const s = scoreStatistic(p.y, model.fit.mu, c.line);
        const list = scored.get(c.nuclide);
        if (list === undefined) scored.set(c.nuclide, [{ c, s }]);
        else list.push({ c, s });
      }
      const ranked = [...scored.entries()]
        .map(([nuclide, list]) => ({ nuclide, list: list.sort((x, y) => y.s - x.s) }))
        .filter((r) => r.list[0].s > 0)
        .sort((x, y) => y.list[0].s - x.list[0].s);
      const need = Math.max(this.threshold, this.relativeThreshold * firstDrop);
      // The score statistic approximates the deviance drop of a refit and for an excess of counts overstates it
      // (one channel with y = 4μ: score 9μ, likelihood ratio 5.1μ), so candidates scoring under half the bar are
      // not refitted.
      const shortlist = ranked.slice(0, SHORTLIST).filter((r) => r.list[0].s >= SCORE_FLOOR * need);
      for (const r of ranked.slice(SHORTLIST)) if (seeds.has(r.nuclide) && r.list[0].s >= SCORE_FLOOR * need) shortlist.push(r);
      let best: ModelFit | undefined;
      for (const r of shortlist) {
        // The best-scoring variant, and the runner-up when it scores nearly as well.
        const tries = r.list.filter((v, i) => i === 0 || (i === 1 && v.s >= 0.7 * r.list[0].s));
        for (const { c } of tries) {
          const m = p.fit([...model.parts, c], model);
          if (best === undefined || m.fit.deviance < best.fit.deviance) best = m;
        }
      }
      if (best === undefined) break;
      const drop = model.fit.deviance - best.fit.deviance;
      if (!(drop >= need)) break;
      if (firstDrop === 0) firstDrop = drop;
      const added = best.parts[best.parts.length - 1].nuclide;
      model = this.reviseGroup(p, best, added);
    }
    // Later additions change what fits best for the earlier nuclides (the last one added is up to date).
    const names = [...new Set(model.parts.map((c) => c.nuclide))];
    for (const n of names.slice(0, -1)) model = this.reviseGroup(p, model, n);
    return this.eliminate(p, model, firstDrop);
  }

  /**
   * The shielding of a nuclide is rarely exactly one of the variants: try each other variant in place of the one
   * chosen, then the best-scoring other variant next to it (a non-negative mix of two shield thicknesses follows an
   * intermediate one closely). Without this an off-variant shield leaves line-ratio residuals that forward
   * selection fills with other nuclides (a U-238 behind 1 cm of steel "needs" Ga-67 at 93 keV).
   */
  private reviseGroup(p: Problem, model: ModelFit, nuclide: string): ModelFit {
    let cur = model;
    const members = (): number[] => cur.parts.flatMap((c, i) => (c.nuclide === nuclide ? [i] : []));
    if (members().length === 1) {
      const i = members()[0];
      // Swaps, ranked by their score against the model without this nuclide: only the best few are refitted.
      const rest = p.fit(cur.parts.filter((_, j) => j !== i), cur);
      const own = scoreStatistic(p.y, rest.fit.mu, cur.parts[i].line);
      const swaps = p.cands
        .filter((c) => c.nuclide === nuclide && c.variant !== cur.parts[i].variant)
        .map((c) => ({ c, s: scoreStatistic(p.y, rest.fit.mu, c.line) }))
        .filter((x) => x.s >= 0.8 * own)
        .sort((a, b) => b.s - a.s)
        .slice(0, SWAPS);
      for (const { c } of swaps) {
        const parts = cur.parts.slice();
        parts[i] = c;
        const m = p.fit(parts, cur);
        if (m.fit.deviance < cur.fit.deviance - 1e-6) cur = m;
      }
      const inUse = cur.parts[i].variant;
      let companion: Candidate | undefined;
      let bestScore = 0;
      for (const c of p.cands) {
        if (c.nuclide !== nuclide || c.variant === inUse) continue;
        const s = scoreStatistic(p.y, cur.fit.mu, c.line);
        if (s > bestScore) {
          bestScore = s;
          companion = c;
        }
      }
      if (companion !== undefined && bestScore >= MIX_MIN / 2) {
        const m = p.fit([...cur.parts, companion], cur);
        if (cur.fit.deviance - m.fit.deviance >= MIX_MIN) cur = m;
      }
    }
    return cur;
  }

  /** Remove nuclides whose own deviance drop has fallen below the threshold once the others are in. */
  private eliminate(p: Problem, model: ModelFit, firstDrop: number): ModelFit {
    let cur = model;
    for (;;) {
      const nuclides = [...new Set(cur.parts.map((c) => c.nuclide))];
      if (nuclides.length === 0) return cur;
      let weakestDrop = Infinity;
      let weakestFit: ModelFit | undefined;
      let strongest = 0;
      for (const n of nuclides) {
        const without = p.fit(cur.parts.filter((c) => c.nuclide !== n), cur);
        const drop = without.fit.deviance - cur.fit.deviance;
        strongest = Math.max(strongest, drop);
        if (drop < weakestDrop) {
          weakestDrop = drop;
          weakestFit = without;
        }
      }
      const need = nuclides.length > 1 ? Math.max(this.threshold, this.relativeThreshold * Math.max(firstDrop, strongest)) : this.threshold;
      if (weakestDrop >= need || weakestFit === undefined) return cur;
      cur = weakestFit;
    }
  }

  /** Models with the strongest nuclide replaced by each of its two best-scoring substitutes (best variant each). */
  private substitutes(p: Problem, model: ModelFit): ModelFit[] {
    let strongest = model.parts[0];
    for (const c of model.parts) if (model.fit.x[model.columns.indexOf(c.line)] > model.fit.x[model.columns.indexOf(strongest.line)]) strongest = c;
    const others = model.parts.filter((c) => c.nuclide !== strongest.nuclide);
    const present = new Set(model.parts.map((c) => c.nuclide));
    const rest = p.fit(others, model);
    const best = new Map<string, { c: Candidate; s: number }>();
    for (const c of p.cands) {
      if (present.has(c.nuclide)) continue;
      const s = scoreStatistic(p.y, rest.fit.mu, c.line);
      const cur = best.get(c.nuclide);
      if (s > 0 && (cur === undefined || s > cur.s)) best.set(c.nuclide, { c, s });
    }
    return [...best.values()]
      .sort((a, b) => b.s - a.s)
      .slice(0, 2)
      .map((a) => p.fit([...others, a.c], rest));
  }

  /** The same nuclides and variants refitted in another problem (another gain). */
  private reselect(p: Problem, parts: Candidate[]): ModelFit {
    const mapped: Candidate[] = [];
    for (const c of parts) {
      const d = p.cands.find((q) => q.nuclide === c.nuclide && q.variant === c.variant);
      if (d !== undefined) mapped.push(d);
    }
    return p.fit(mapped);
  }

  /**
   * Deviance of the selected model as a function of a gain factor on the calibration, minimised by successive
   * parabolas from ±1 % (a few fits); the best gain is kept only if it beats the calibration as given by
   * GAIN_MIN_GAIN deviance units, so noise and small template misfits do not move a good calibration.
   */
  private refineGain(
    model: ModelFit,
    problemAt: (g: number, parts?: Candidate[]) => Problem,
    around?: number,
  ): { gain: number; model: ModelFit } {
    const range = this.gainSearch;
    const h = Math.min(0.01, range);
    const evalAt = (g: number): { g: number; m: ModelFit } => ({ g, m: this.reselect(problemAt(g, model.parts), model.parts) });
    // From the calibration as given; or, for a substitute model, from the gain another model found.
    const g0 = around ?? 1;
    const pts: { g: number; m: ModelFit }[] = [around === undefined ? { g: 1, m: model } : evalAt(g0), evalAt(g0 - h), evalAt(g0 + h)];
    for (let iter = 0; iter < (around === undefined ? 4 : 2); iter++) {
      pts.sort((a, b) => a.g - b.g);
      let bi = 0;
      for (let i = 1; i < pts.length; i++) if (pts[i].m.fit.deviance < pts[bi].m.fit.deviance) bi = i;
      const i0 = Math.max(0, Math.min(pts.length - 3, bi - 1));
      const [a, b, c] = [pts[i0], pts[i0 + 1], pts[i0 + 2]];
      const da = a.m.fit.deviance;
      const db = b.m.fit.deviance;
      const dc = c.m.fit.deviance;
      const d1 = (db - da) / (b.g - a.g);
      const d2 = (dc - db) / (c.g - b.g);
      const curv = (d2 - d1) / (c.g - a.g);
      // Vertex of the parabola through three unevenly spaced points; without curvature, a step downhill.
      let g =
        curv > 0
          ? b.g - (0.5 * ((b.g - a.g) ** 2 * (db - dc) - (b.g - c.g) ** 2 * (db - da))) / ((b.g - a.g) * (db - dc) - (b.g - c.g) * (db - da))
          : pts[bi].g + (bi === 0 ? -h : h);
      g = Math.max(1 - range, Math.min(1 + range, g));
      if (!Number.isFinite(g) || pts.some((q) => Math.abs(q.g - g) < 5e-4)) break;
      pts.push(evalAt(g));
    }
    let best = pts[0];
    for (const q of pts) if (q.m.fit.deviance < best.m.fit.deviance) best = q;
    if (around === undefined && (best.g === 1 || model.fit.deviance - best.m.fit.deviance < GAIN_MIN_GAIN)) return { gain: 1, model };
    return { gain: best.g, model: best.m };
  }

  private report(
    p: Problem,
    model: ModelFit,
    grid: Grid,
    counts: Float64Array,
    peaks: readonly Peak[],
    liveTime_s: number,
    gain: number,
    measured: boolean,
  ): Identification {
    const nFit = p.y.length;
    const dispersion = Math.max(1, model.fit.deviance / Math.max(1, nFit - model.columns.length));
    const cov = amplitudeCovariance(model.columns, model.fit.mu, model.fit.x);
    const k = model.columns.length;
    const nuclides: IdentifiedNuclide[] = [];
    const rejected: RejectedNuclide[] = [];
    const present = new Set(model.parts.map((q) => q.nuclide));
    const det = this.options.detector;
    const fitEdges = new Float64Array(nFit + 1);
    for (let i = 0; i <= nFit; i++) fitEdges[i] = gain * grid.edges[grid.first + i];
    const fwhm = (E: number): number => fwhm_keV(det, E);
    const bgComponents: Record<string, number> = {};
    for (let j = 0; j < p.bg.length; j++) bgComponents[p.bgIds[j]] = round(model.fit.x[j] * sumOf(model.columns[j].values), 1);
    const unknownReasons: string[] = [];
    for (const nuclide of present) {
      const group = model.parts.filter((c) => c.nuclide === nuclide);
      const others = model.parts.filter((c) => c.nuclide !== nuclide);
      const without = p.fit(others, model);
      const drop = (without.fit.deviance - model.fit.deviance) / dispersion;
      if (!(drop >= this.threshold)) continue;
      const z = Math.sqrt(drop);
      // Alternatives: the best-scoring other nuclides put in its place.
      const bestPer = new Map<string, { c: Candidate; s: number }>();
      for (const d of p.cands) {
        if (present.has(d.nuclide)) continue;
        const s = scoreStatistic(p.y, without.fit.mu, d.line);
        const cur = bestPer.get(d.nuclide);
        if (cur === undefined || s > cur.s) bestPer.set(d.nuclide, { c: d, s });
      }
      // An alternative whose score is far below this nuclide's own drop would get a weight of e^-10 or less: not
      // worth a fit (the score tends to overstate a refit's drop, so this keeps every alternative that matters).
      const alts = [...bestPer.values()]
        .filter((a) => a.s > 0 && a.s / dispersion >= drop - ALTERNATIVE_WINDOW)
        .sort((a, b) => b.s - a.s)
        .slice(0, ALTERNATIVES);
      const weights: { nuclide: string; w: number }[] = [];
      for (const a of alts) {
        const m = p.fit([...others, a.c], without);
        const dd = (m.fit.deviance - model.fit.deviance) / dispersion;
        weights.push({ nuclide: a.c.nuclide, w: Math.exp(-0.5 * Math.max(0, dd)) });
      }
      const sumW = 1 + weights.reduce((s, a) => s + a.w, 0);
      const share = 1 / sumW;
      const detect = 1 / (1 + Math.exp(-(z - DETECTION_Z0) * DETECTION_SLOPE));
      // Net counts and their error: every column of the group (line templates and downscatter), covariances included.
      const idx: number[] = [];
      for (const c of group) {
        idx.push(model.columns.indexOf(c.line));
        if (c.ds !== undefined) idx.push(model.columns.indexOf(c.ds));
      }
      let net = 0;
      let variance = 0;
      for (const a of idx) {
        net += model.fit.x[a];
        for (const b of idx) if (model.fit.x[a] > 0 && model.fit.x[b] > 0) variance += cov[a * k + b];
      }
      // The variant carrying most of the counts names the shielding.
      let main = group[0];
      for (const c of group) if (model.fit.x[model.columns.indexOf(c.line)] > model.fit.x[model.columns.indexOf(main.line)]) main = c;
      const lines = group.flatMap((c) => this.mainLines.get(`${c.nuclide}|${c.variant}`) ?? []);
      const peaks_keV: number[] = [];
      for (const pk of peaks) {
        const e = gain * 0.5 * (grid.edges[pk.channel] + grid.edges[pk.channel + 1]);
        if (lines.some((l) => Math.abs(l.energy_keV - e) <= 0.5 * fwhm_keV(this.options.detector, l.energy_keV))) peaks_keV.push(round(e, 1));
      }
      const nd = getNuclide(nuclide);
      const verdict = verifyLines({
        y: p.y,
        muWithout: without.fit.mu,
        mu: model.fit.mu,
        edges: fitEdges,
        fwhm,
        dispersion,
        nuclide: nd.name,
        mainLines: this.mainLines.get(`${main.nuclide}|${main.variant}`) ?? [],
      });
      if (!verdict.accepted) {
        const snm = nd.category === 'SNM';
        rejected.push({ nuclide: nd.name, significance: round(z, 2), netCounts: round(net, 1), kind: snm ? 'snm-not-confirmed' : 'lines-not-seen', reason: verdict.reason ?? '', ...(verdict.contradicted ? { contradicted: true } : {}) });
        if (verdict.maxSeenZ >= UNKNOWN_LINE_Z) unknownReasons.push(`${nd.label} fits (${z.toFixed(1)} σ) but ${verdict.reason}`);
        continue;
      }
      let bgTotal = 0;
      for (const v of Object.values(bgComponents)) bgTotal += v;
      if (onlyAnnihilation(verdict.checks, bgTotal)) {
        rejected.push({ nuclide: nd.name, significance: round(z, 2), netCounts: round(net, 1), kind: 'natural-background', reason: 'only a 511 keV peak of the size annihilation radiation gives in a background' });
        continue;
      }
      const chain = NATURAL_CHAIN[nd.name];
      const chainCounts = bgComponents[chain ?? ''] ?? (bgComponents.natural ?? 0) * (this.chainShare.get(chain ?? '') ?? 0);
      if (chain !== undefined && !measured && net <= NATURAL_EXCESS * chainCounts) {
        rejected.push({
          nuclide: nd.name,
          significance: round(z, 2),
          netCounts: round(net, 1),
          kind: 'natural-background',
          reason: `${Math.round(net)} counts, within the ${chain} chain of the background (${Math.round(chainCounts)} counts): natural proportions`,
        });
        continue;
      }
      nuclides.push({
        nuclide: nd.name,
        label: nd.label,
        category: nd.category,
        confidence: round(detect * share, 4),
        significance: round(z, 2),
        netCounts: round(net, 1),
        netCountsSigma: round(Math.sqrt(Math.max(0, variance) * dispersion), 1),
        netCountRate_cps: round(net / liveTime_s, 3),
        shielding: main.variant,
        peaks_keV,
        alternatives: weights
          .filter((a) => a.w / sumW >= 0.01)
          .map((a) => ({ nuclide: a.nuclide, weight: round(a.w / sumW, 3) })),
        share: 0,
      });
    }
    nuclides.sort(byEvidence);
    const netTotal = nuclides.reduce((t, n) => t + Math.max(0, n.netCounts), 0);
    for (const n of nuclides) n.share = netTotal > 0 ? round(Math.max(0, n.netCounts) / netTotal, 4) : 0;
    const { uranium, notes } = this.uraniumCheck(p, model, grid, gain, dispersion, nuclides);
    for (const r of rejected) {
      if (r.kind === 'snm-not-confirmed') notes.push({ code: 'snm-not-confirmed', nuclides: [r.nuclide], message: `${getNuclide(r.nuclide).label} not reported: ${r.reason}` });
    }
    if (!measured) {
      const chains = p.bgIds.flatMap((id, j) => {
        const share = this.chainShare.get(id);
        if (share === undefined) return [];
        const colSum = sumOf(model.columns[j].values);
        return [{ id, share, counts: model.fit.x[j] * colSum, sigma: Math.sqrt(Math.max(0, cov[j * k + j]) * dispersion) * colSum }];
      });
      for (const e of chainExcess(chains)) {
        if (nuclides.some((n) => n.nuclide === e.nuclide)) continue;
        const nd = getNuclide(e.nuclide);
        const detect = 1 / (1 + Math.exp(-(e.significance - DETECTION_Z0) * DETECTION_SLOPE));
        nuclides.push({
          nuclide: nd.name,
          label: nd.label,
          category: nd.category,
          confidence: round(detect, 4),
          significance: round(e.significance, 2),
          netCounts: round(e.netCounts, 1),
          netCountsSigma: round(e.sigma, 1),
          netCountRate_cps: round(e.netCounts / liveTime_s, 3),
          shielding: 'none',
          peaks_keV: [],
          alternatives: [],
          share: 0,
        });
      }
      const netAll = nuclides.reduce((t, n) => t + Math.max(0, n.netCounts), 0);
      for (const n of nuclides) n.share = netAll > 0 ? round(Math.max(0, n.netCounts) / netAll, 4) : 0;
    }
    const unexplainedPeaks = this.unexplained(grid, counts, peaks, model, dispersion);
    if (unexplainedPeaks.length > 0) unknownReasons.push(`peaks at ${unexplainedPeaks.map((u) => `${Math.round(u.energy_keV)} keV`).join(', ')} not explained by the library`);
    const category = SEVERITY.find((s) => nuclides.some((n) => n.category === s));
    const bgIdx = 0;
    let bgCounts = 0;
    for (let j = 0; j < p.bg.length; j++) bgCounts += model.fit.x[j] * sumOf(model.columns[j].values);
    return {
      nuclides,
      ...(unknownReasons.length > 0 ? { unknown: { reason: unknownReasons.join('; ') } } : {}),
      rejected,
      unexplainedPeaks,
      ...(category === undefined ? {} : { category }),
      ...(notes.length > 0 ? { notes } : {}),
      ...(uranium === undefined ? {} : { uranium }),
      background: measured
        ? { source: 'measured', counts: round(bgCounts, 1), scale: round(model.fit.x[bgIdx], 4), components: bgComponents }
        : { source: 'model', counts: round(bgCounts, 1), components: bgComponents },
      gain: round(gain, 5),
      fit: { deviance: round(model.fit.deviance, 2), channels: nFit, dispersion: round(dispersion, 3), grossCounts: sumOf(p.y) },
    };
  }

  /**
   * Uranium is NORM unless shown enriched (identify/uranium.ts): a reported U-235 keeps the category SNM only when
   * its 185.7 keV line is significant and beyond what the U-238 chain explains; otherwise it is re-categorised NORM
   * (in place). On a scintillator the enrichment itself is not measurable, which the notes say.
   */
  private uraniumCheck(
    p: Problem,
    model: ModelFit,
    grid: Grid,
    gain: number,
    dispersion: number,
    nuclides: IdentifiedNuclide[],
  ): { uranium?: UraniumAssessment; notes: IdentificationNote[] } {
    const present = nuclides.filter((n) => n.nuclide === 'U235' || n.nuclide === 'U238').map((n) => n.nuclide);
    if (present.length === 0) return { notes: [] };
    const rest = p.fit(model.parts.filter((c) => c.nuclide !== 'U235' && c.nuclide !== 'U238'), model);
    const energies = new Float64Array(p.y.length);
    for (let i = 0; i < energies.length; i++) energies[i] = gain * 0.5 * (grid.edges[grid.first + i] + grid.edges[grid.first + i + 1]);
    const det = this.options.detector;
    const uranium = assessUranium({ detector: det, y: p.y, mu: rest.fit.mu, energies, dispersion });
    const notes: IdentificationNote[] = [];
    const u235 = nuclides.find((n) => n.nuclide === 'U235');
    if (u235 !== undefined) {
      if (uranium.verdict === 'enriched') {
        notes.push({ code: 'uranium-enriched', nuclides: ['U235'], message: `uranium, enriched: ${uranium.reason}` });
      } else {
        u235.category = 'NORM';
        const code = uranium.verdict === 'natural-or-depleted' ? 'uranium-natural-or-depleted' : 'uranium-235-not-confirmed';
        notes.push({ code, nuclides: ['U235'], message: `U-235 reported as NORM, not SNM: ${uranium.reason}` });
      }
    }
    if (!uranium.enrichmentMeasurable) {
      notes.push({
        code: 'uranium-enrichment-not-measurable',
        nuclides: present,
        message: `uranium, enrichment not measurable at this resolution (${det.crystal}, ${round(100 * det.fwhmAt662, 1)} % FWHM at 662 keV): only natural/depleted and clearly enriched are told apart`,
      });
    }
    return { uranium, notes };
  }

  /** Peaks of the raw spectrum that stand out of the fitted model by ≥ 5 σ (filter response of data minus model). */
  /**
   * Peaks of the spectrum the fitted model does not account for: the residual over ±1 FWHM of the peak (98 % of
   * a Gaussian) against the model's Poisson error, inflated by the dispersion, at 5 σ or more.
   */
  private unexplained(grid: Grid, counts: Float64Array, peaks: readonly Peak[], model: ModelFit, dispersion: number): UnexplainedPeak[] {
    const out: UnexplainedPeak[] = [];
    const det = this.options.detector;
    const mu = model.fit.mu;
    for (const peak of peaks) {
      const ch = peak.channel;
      const e = 0.5 * (grid.edges[ch] + grid.edges[ch + 1]);
      const fwhm = fwhm_keV(det, e);
      let net = 0;
      let variance = 0;
      for (let i = ch; i >= grid.first && 0.5 * (grid.edges[i] + grid.edges[i + 1]) >= e - fwhm; i--) {
        net += counts[i] - mu[i - grid.first];
        variance += mu[i - grid.first];
      }
      for (let i = ch + 1; i < grid.last && 0.5 * (grid.edges[i] + grid.edges[i + 1]) <= e + fwhm; i++) {
        net += counts[i] - mu[i - grid.first];
        variance += mu[i - grid.first];
      }
      const significance = net / Math.sqrt(Math.max(variance, 1) * dispersion);
      if (!(significance >= 5)) continue;
      const candidates = new Set<string>();
      for (const id of this.nuclideIds) {
        for (const l of getNuclide(id).lines) if (Math.abs(l.energy_keV - e) <= fwhm / 2 && l.intensity >= 0.01) candidates.add(id);
      }
      out.push({ energy_keV: round(e, 1), netCounts: round(net / 0.98, 1), significance: round(significance, 2), candidates: [...candidates] });
    }
    return out;
  }
}

type BgColumns = { id: string; natural: boolean; column: Column }[];

/** The background columns of a fit: the natural chains (or the measured background instead) and the extra shapes. */
function backgroundColumns(parts: BgColumns, measured: Column | undefined): { columns: Column[]; ids: string[] } {
  const columns: Column[] = measured === undefined ? [] : [measured];
  const ids: string[] = measured === undefined ? [] : ['measured'];
  for (const p of parts) {
    if (measured !== undefined && p.natural) continue;
    columns.push(p.column);
    ids.push(p.id);
  }
  return { columns, ids };
}

/** A fit problem at one gain: data over the fit channels, background column and candidate columns. */
class Problem {
  constructor(
    readonly y: Float64Array,
    /** dataTerm(y), shared by the problems of one spectrum. */
    private readonly dataTerm: number,
    /** Background columns, each with its own amplitude: the first `nBackground` columns of every fit. */
    readonly bg: readonly Column[],
    readonly bgIds: readonly string[],
    readonly cands: Candidate[],
  ) {}

  /** Fit background + the given candidates (lines and downscatter), warm-started from a related fit. */
  fit(parts: Candidate[], warm?: ModelFit): ModelFit {
    const columns: Column[] = [...this.bg];
    for (const c of parts) {
      columns.push(c.line);
      if (c.ds !== undefined) columns.push(c.ds);
    }
    let start: Float64Array | undefined;
    if (warm !== undefined) {
      start = new Float64Array(columns.length);
      for (let j = 0; j < columns.length; j++) {
        const k = warm.columns.indexOf(columns[j]);
        if (k >= 0) start[j] = warm.fit.x[k];
      }
      // A new column starts at the score-test estimate U/I so the first weights already see it.
      for (let j = 0; j < columns.length; j++) if (warm.columns.indexOf(columns[j]) < 0) start[j] = newtonStart(this.y, warm.fit.mu, columns[j]);
    }
    const fit = poissonNnls(this.y, columns, start === undefined ? { dataTerm: this.dataTerm } : { start, dataTerm: this.dataTerm });
    return { parts, fit, columns };
  }
}

function newtonStart(y: Float64Array, mu: Float64Array, col: Column): number {
  let U = 0;
  let I = 0;
  for (let i = col.lo; i < col.hi; i++) {
    const m = mu[i] > 1e-6 ? mu[i] : 1e-6;
    U += col.values[i] * (y[i] / m - 1);
    I += (col.values[i] * col.values[i]) / m;
  }
  return I > 0 && U > 0 ? U / I : 0;
}

// A measured background is a noisy template: where it holds 0 counts in a channel the foreground may well hold 1,
// and a model of exactly 0 there makes any template that reaches that channel look significant (the Tl-208
// 2614 keV tail of Th-232 was the usual victim). Each channel is therefore averaged over the smallest symmetric
// window holding SMOOTH_MIN_COUNTS counts, at most ±1 FWHM: where counts are plentiful (below ~1.5 MeV) the
// window is one channel and peaks keep their shape, where they are sparse the noise goes down instead.
const SMOOTH_MIN_COUNTS = 25;

function smoothBackground(b: Float64Array, edges: Float64Array, det: DetectorModel): Float64Array {
  const n = b.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const e = Math.max(10, 0.5 * (edges[i] + edges[i + 1]));
    const hMax = Math.max(0, Math.floor(fwhm_keV(det, e) / (edges[i + 1] - edges[i])));
    let total = b[i];
    let h = 0;
    while (total < SMOOTH_MIN_COUNTS && h < hMax && (i - h - 1 >= 0 || i + h + 1 < n)) {
      h++;
      if (i - h >= 0) total += b[i - h];
      if (i + h < n) total += b[i + h];
    }
    const width = Math.min(n - 1, i + h) - Math.max(0, i - h) + 1;
    // Half a count over the window where it saw none: an empty window still means "a little", not "nothing".
    out[i] = (total > 0 ? total : 0.5) / width;
  }
  return out;
}

function sumOf(a: Float64Array): number {
  let s = 0;
  for (const v of a) s += v;
  return s;
}


/** One-shot convenience: builds the templates every call, so keep a NuclideIdentifier for repeated use. */
export function identifyNuclides(spectrum: SpectrumInput, opts: IdentifierOptions & { background?: BackgroundSpectrum }): Identification {
  if (isHighResolution(opts.detector)) return identifyByPeaks(spectrum, opts); // no templates to build for HPGe
  const { background, ...rest } = opts;
  return new NuclideIdentifier(rest).identify(spectrum, background === undefined ? {} : { background });
}
