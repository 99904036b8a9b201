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

import { InputError } from '../../common/errors.js';
import { type DetectorModel, fwhm_keV } from './dose.js';
import { type Peak, type PeakSearcher, createPeakSearch } from './peaks.js';
import { type NuclideCategory, getNuclide, nuclideIds } from './nuclides.js';
import type { SoilConcentrations } from './sim/natural.js';
import type { EnergyCalibration } from './spectrum.js';
import { type UraniumAssessment, assessUranium } from './identify/uranium.js';
import { type FitResult, amplitudeCovariance, dataTerm, poissonNnls, scoreStatistic } from './identify/fit.js';
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

export interface IdentifierOptions {
  detector: DetectorModel;
  /** Nuclide ids to look for (default: the whole library, nuclides.ts). */
  nuclides?: readonly string[];
  /** Shield variants per nuclide (default DEFAULT_SHIELD_VARIANTS). */
  shielding?: readonly ShieldVariant[];
  /** Soil composition of the modelled natural background (default sim/natural.ts defaults). */
  soil?: SoilConcentrations;
  /** Lowest channel energy fitted (default 30 keV: below, the response model lacks x-ray escape and the LLD cuts). */
  minEnergy_keV?: number;
  /** Highest energy fitted (default 2900 keV: the natural background model stops above Tl-208's 2614 keV). */
  maxEnergy_keV?: number;
  /**
   * Deviance drop a nuclide must bring, after division by the fit's dispersion, to be reported: the likelihood-
   * ratio statistic of "amplitude > 0". Default 30 (5.5 σ): with 21 nuclides × 10 shield variants tried on every
   * spectrum, a 4 σ cut flagged 1.3 % of 1,200 simulated background-only spectra, 5 σ 0.25 %, 5.5 σ none.
   */
  threshold?: number;
  /**
   * A further nuclide must also bring this fraction of the strongest nuclide's deviance drop (default 0.01):
   * template errors grow with the signal, and at 10⁵ counts a 1 % misfit of a strong peak is "significant".
   */
  relativeThreshold?: number;
  /** At most this many nuclides in one spectrum (default 4). */
  maxNuclides?: number;
  /** Half-range of the gain factors tried (default 0.03; 0 uses the calibration as given). */
  gainSearch?: number;
  /** Air between source and detector assumed by the templates (default 2 m). */
  airPath_m?: number;
  /** Fine template grid (default 1 keV). */
  fineWidth_keV?: number;
}

export interface SpectrumInput {
  counts: ArrayLike<number>;
  liveTime_s: number;
  /** Energy calibration; required unless keVPerChannel is given. */
  calibration?: EnergyCalibration;
  /** Shorthand for a linear calibration from 0 keV. */
  keVPerChannel?: number;
}

export interface BackgroundSpectrum {
  counts: ArrayLike<number>;
  liveTime_s: number;
}

export interface IdentifiedNuclide {
  nuclide: string;
  label: string;
  category: NuclideCategory;
  /** Probability-like score in [0, 1]: detection × share against the alternatives. */
  confidence: number;
  /** √(deviance drop / dispersion) of removing this nuclide from the final model. */
  significance: number;
  /** Net counts attributed (lines and downscatter), whole spectrum. */
  netCounts: number;
  netCountsSigma: number;
  netCountRate_cps: number;
  /**
   * Shield variant of the template carrying most of its counts ('none', 'steel-2cm', …). A hint, not a
   * measurement: for a nuclide with one line (Cs-137, K-40, Tc-99m) only the downscatter tells variants apart.
   */
  shielding: string;
  /** Energies (keV) of the peaks found in the spectrum that this nuclide's main lines account for. */
  peaks_keV: number[];
  /** Other nuclides that explain the same counts almost as well, with their normalised likelihood weights. */
  alternatives: { nuclide: string; weight: number }[];
}

export interface UnexplainedPeak {
  energy_keV: number;
  netCounts: number;
  significance: number;
  /** Library nuclides with a line within half a FWHM (not fitted: their other lines did not fit). */
  candidates: string[];
}

export interface Identification {
  /** Most confident first; empty when the spectrum is background only. */
  nuclides: IdentifiedNuclide[];
  /** Peaks the final model leaves unexplained (residual significance ≥ 5). */
  unexplainedPeaks: UnexplainedPeak[];
  /** Most severe category present (SNM > industrial > medical > NORM). */
  category?: NuclideCategory;
  /** What the officer should know beside the list (uranium: natural or enriched, enrichment measurable or not). */
  notes?: IdentificationNote[];
  /** Natural or enriched, when uranium (U-235 or U-238) is reported; see identify/uranium.ts. */
  uranium?: UraniumAssessment;
  background: { source: 'measured' | 'model'; counts: number; scale?: number };
  /** Gain factor applied to the calibration (1 = as given). */
  gain: number;
  fit: { deviance: number; channels: number; dispersion: number; grossCounts: number };
}

export interface IdentificationNote {
  code: 'uranium-enrichment-not-measurable' | 'uranium-natural-or-depleted' | 'uranium-235-not-confirmed' | 'uranium-enriched';
  /** Nuclide ids the note is about. */
  nuclides: string[];
  message: string;
}

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
  byGain: Map<number, { cands: Candidate[]; bg: Column }>;
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
  private readonly bgCum: Float64Array;
  private readonly grids = new Map<string, Grid>();
  private readonly nuclideIds: readonly string[];
  private readonly mainLines = new Map<string, { energy_keV: number }[]>();
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
    this.bgCum = cumulative(this.fine.background);
    for (const t of this.fine.templates) this.mainLines.set(`${t.nuclide}|${t.variant}`, t.mainLines);
  }

  /** Identify the nuclides in a spectrum; `background` is a measured background of the same detector. */
  identify(spectrum: SpectrumInput, opts: { background?: BackgroundSpectrum } = {}): Identification {
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
        return new Problem(y, yTerm, measured ?? only.bg, only.cands);
      }
      const g = this.columnsAt(grid, gain);
      return new Problem(y, yTerm, measured ?? g.bg, g.cands);
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
    return this.report(problem, model, grid, counts, peaks, spectrum.liveTime_s, gain, measured !== undefined);
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

  private columnsAt(grid: Grid, gain: number): { cands: Candidate[]; bg: Column } {
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
    const bg = makeColumn(rebin(this.bgCum, w, grid.edges, grid.first, grid.last, gain));
    const out = { cands, bg };
    if (grid.byGain.size >= GAIN_CACHE) grid.byGain.delete(grid.byGain.keys().next().value as number);
    grid.byGain.set(key, out);
    return out;
  }

  private rebinParts(grid: Grid, gain: number, parts: Candidate[]): { cands: Candidate[]; bg: Column } {
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
    return { cands, bg: makeColumn(rebin(this.bgCum, w, grid.edges, grid.first, grid.last, gain)) };
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
    const present = new Set(model.parts.map((q) => q.nuclide));
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
      });
    }
    nuclides.sort((a, b) => b.confidence - a.confidence || b.significance - a.significance);
    const { uranium, notes } = this.uraniumCheck(p, model, grid, gain, dispersion, nuclides);
    const category = SEVERITY.find((s) => nuclides.some((n) => n.category === s));
    const bgIdx = 0;
    const bgCounts = model.fit.x[bgIdx] * sumOf(model.columns[bgIdx].values);
    return {
      nuclides,
      unexplainedPeaks: this.unexplained(grid, counts, peaks, model, dispersion),
      ...(category === undefined ? {} : { category }),
      ...(notes.length > 0 ? { notes } : {}),
      ...(uranium === undefined ? {} : { uranium }),
      background: measured
        ? { source: 'measured', counts: round(bgCounts, 1), scale: round(model.fit.x[bgIdx], 4) }
        : { source: 'model', counts: round(bgCounts, 1) },
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

/** A fit problem at one gain: data over the fit channels, background column and candidate columns. */
class Problem {
  constructor(
    readonly y: Float64Array,
    /** dataTerm(y), shared by the problems of one spectrum. */
    private readonly dataTerm: number,
    readonly bg: Column,
    readonly cands: Candidate[],
  ) {}

  /** Fit background + the given candidates (lines and downscatter), warm-started from a related fit. */
  fit(parts: Candidate[], warm?: ModelFit): ModelFit {
    const columns: Column[] = [this.bg];
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

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function checkCounts(counts: ArrayLike<number>, what: string): Float64Array {
  const out = counts instanceof Float64Array ? counts : Float64Array.from(counts);
  for (let i = 0; i < out.length; i++) {
    const v = out[i];
    if (!(v >= 0) || !Number.isFinite(v)) throw new InputError(`${what}[${i}]: expected a finite count >= 0, got ${v}`);
  }
  return out;
}

function calibrationOf(s: SpectrumInput): EnergyCalibration {
  if (s.calibration !== undefined) return s.calibration;
  if (s.keVPerChannel !== undefined) {
    if (!(s.keVPerChannel > 0) || !Number.isFinite(s.keVPerChannel)) {
      throw new InputError(`keVPerChannel: expected a finite gain > 0 keV per channel, got ${s.keVPerChannel}`);
    }
    return { coefficients: [0, s.keVPerChannel] };
  }
  throw new InputError('calibration: the spectrum has no energy calibration and no keVPerChannel; identification needs energies');
}

/** One-shot convenience: builds the templates every call, so keep a NuclideIdentifier for repeated use. */
export function identifyNuclides(spectrum: SpectrumInput, opts: IdentifierOptions & { background?: BackgroundSpectrum }): Identification {
  const { background, ...rest } = opts;
  return new NuclideIdentifier(rest).identify(spectrum, background === undefined ? {} : { background });
}
