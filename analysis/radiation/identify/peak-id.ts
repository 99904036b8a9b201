// Nuclide identification for high-resolution (HPGe) spectra: peaks searched and fitted, matched to library lines, each nuclide scored from its lines, chosen greedily.
//
// The full-spectrum template fit of identify.ts is built for scintillators, where lines blur into each other and the
// shape of the whole spectrum is the evidence. On HPGe (≈0.2 % FWHM at 662 keV) every line is a peak of its own and
// the evidence is the list of peaks (the approach of InterSpec's and of most germanium software's peak-based ID):
// 1. Peaks (identify/peak-fit.ts): searched at the detector's resolution, fitted as Gaussians on a local line with a
//    step, jointly where they overlap: energy, net area, σ. A measured background is searched and fitted the same
//    way and its peaks, scaled by live time, are subtracted from the foreground's peaks at the same energy.
// 2. Match: a library line (lines closer than half a FWHM merged into one group) matches a peak within
//    tolerance(E) = calibration uncertainty + ¼ FWHM. Pass 1 uses a loose calibration uncertainty (0.5 keV + 0.1 %);
//    the strong matches of pass 1 then fit a linear energy correction and pass 2 matches with a tight one.
// 3. Score: a nuclide's scale a (activity × geometry) is the weighted least-squares fit of the matched areas to
//    intensity × relative full-energy efficiency (dose.ts photopeakEfficiency), with a 20 % systematic error per
//    line (50 % below 120 keV) for the efficiency model and attenuation. Its score is Σ z² of the peak counts it explains, less Σ z²
//    of the deficits of lines it predicts at ≥ 3σ that are absent or far too weak (measured with a fixed-energy fit
//    where no peak was found). One strongly missing line (deficit ≥ 5σ) rejects it: so Ba-133's 81/276/303/356/384
//    keV are not also Eu-152 (121.8, 344.3, 1408 keV missing) or U-235 (185.7 keV missing).
// 4. Greedy: the best-scoring nuclide above the threshold is taken, the counts it explains are removed from its
//    peaks, and the rest is scored again, until nothing passes. Escape peaks of its lines above 1022 keV go with it.
// 5. SNM is strict: U-235 needs 185.7 keV at ≥ 4σ (143.8/163.3/205.3 keV not missing); plutonium needs 413.7 and
//    375.0 keV at ≥ 3σ each (129.3 keV not missing); other SNM two lines above 120 keV (snmGates). Uranium's
//    enrichment comes from 185.7 against 1001 keV (identify/peak-uranium.ts); natural or depleted uranium is NORM.
// 6. Annihilation: 511 keV is in every background (pair production by cosmic rays and high-energy gammas). A nuclide
//    seen at 511 keV only (F-18) is reported only when its peak exceeds what annihilation could give: the measured
//    background's 511 keV peak (scaled) and ANNIHILATION_RATIO times the strongest natural line;
//    otherwise 511 keV is annihilation, neither a nuclide nor unexplained. Lines below 40 keV (K x-rays, shared by every
//    nuclide decaying to the same element) are explained with a nuclide but never score for it.

import { InputError } from '../../../common/errors.js';
import { type DetectorModel, fwhm_keV, photopeakEfficiency } from '../dose.js';
import { type NuclideCategory, getNuclide, nuclideIds } from '../nuclides.js';
import type { EnergyCalibration } from '../spectrum.js';
import type {
  BackgroundSpectrum,
  Identification,
  IdentificationNote,
  IdentifiedNuclide,
  IdentifierOptions,
  RejectedNuclide,
  SpectrumInput,
  UnexplainedPeak,
} from './types.js';
import { type FittedPeak, type PeakAnalysis, analysePeaks, areaAt } from './peak-fit.js';
import { type EnrichmentResult, uraniumEnrichment } from './peak-uranium.js';
import { calibrationOf, checkCounts, round } from './input.js';
import { byEvidence } from './order.js';
import { EXCESS_FACTOR, type NaturalChain, assessNaturalChains } from './peak-background.js';

/** Relative systematic error of an expected line area (efficiency model, attenuation, summing). */
const LINE_SYSTEMATIC = 0.2;
const LOW_ENERGY_SYSTEMATIC = 0.5;
/** Below this energy a line is used when it matches but never counted as missing (shielding and self-absorption remove it). */
const PENALTY_MIN_keV = 120;
/** Expected significance from which an absent line counts against a nuclide. */
const EXPECTED_MIN_Z = 3;
const DEFICIT_MIN_Z = 3;
/** A deficit this large rejects the nuclide outright. */
const DEFICIT_REJECT_Z = 5;
/** A peak's remaining counts must stand at this significance to be matched. */
const MATCH_MIN_Z = 2;
/** Unexplained peaks reported from this significance. */
const UNEXPLAINED_MIN_Z = 5;
/** Lines weaker than this fraction of the nuclide's strongest (intensity × efficiency) are not used. */
const MIN_RELATIVE_LINE = 2e-3;
const ANNIHILATION_keV = 510.999;
const XRAY_MAX_keV = 40;
const ANNIHILATION_RATIO = 3;
/** Natural-background lines the annihilation rule compares 511 keV with. */
const NATURAL_LINES_keV = [1460.82, 2614.51, 583.19, 609.31, 351.93, 238.63];
const DETECTION_Z0 = 4.5;
const DETECTION_SLOPE = 2.6;
const SEVERITY: readonly NuclideCategory[] = ['SNM', 'industrial', 'medical', 'NORM'];

/** A peak of the spectrum as the identification used it. */
export interface PeakReport extends FittedPeak {
  /** Net area after a measured background's peak at the same energy, scaled by live time, was subtracted. */
  netArea: number;
  netSigma: number;
  /** Nuclides (labels) the peak's counts were given to, 'background' or 'annihilation'. */
  explainedBy: string[];
}

export interface PeakIdentification extends Identification {
  method: 'peaks';
  peaks: PeakReport[];
  /** Fitted FWHM over the detector model's law. */
  widthScale: number;
  /** Uranium enrichment from 185.7 / 1001 keV when uranium is reported. */
  enrichment?: Omit<EnrichmentResult, 'assessment'>;
}

export type PeakIdOptions = IdentifierOptions & {
  background?: BackgroundSpectrum;
  /** Threshold on √score (default √(threshold ?? 25) = 5 σ). */
  minSignificance?: number;
};

interface Evidence {
  peak: PeakReport;
  energy: number;
  area: number;
  sigma: number;
  remaining: number;
  /**
   * Variance of the counts earlier nuclides took from this peak (their expected area is only known to
   * LINE_SYSTEMATIC): what is left is no more certain than that, so a second nuclide cannot live on the misfit of the
   * first (Xe-133's 81.0 keV under Ba-133's 81.0 keV; Th-228 under Th-232).
   */
  sysVar: number;
}

/** σ of a peak's remaining counts: counting error and the uncertainty of what was already explained. */
const sig = (e: Evidence): number => Math.sqrt(e.sigma * e.sigma + e.sysVar);
/** Relative systematic error of a line's expected area: larger below PENALTY_MIN_keV (absorbers, dead layers). */
const lineSystematic = (E: number): number => (E < PENALTY_MIN_keV ? LOW_ENERGY_SYSTEMATIC : LINE_SYSTEMATIC);

interface LineGroup {
  energy: number;
  /** Σ intensity × relative full-energy efficiency. */
  w: number;
}

interface Match {
  group: LineGroup;
  ev: Evidence;
}

interface Evaluation {
  id: string;
  a: number;
  aSigma: number;
  matched: Match[];
  explained: number[];
  score: number;
  penalty: number;
  maxDeficit: number;
  net: number;
}

/** Relative FWHM at 661.657 keV below which a detector is identified by its peaks (HPGe ≈ 0.2 %, LaBr3 ≈ 3 %). */
export const HIGH_RESOLUTION_MAX_FWHM = 0.015;

/** Whether `det` resolves lines well enough for peak-based identification (identifyByPeaks) rather than templates. */
export function isHighResolution(det: DetectorModel): boolean {
  return fwhm_keV(det, 661.657) / 661.657 < HIGH_RESOLUTION_MAX_FWHM;
}

/** Identify the nuclides of a high-resolution spectrum by its peaks; same input and result as NuclideIdentifier. */
export function identifyByPeaks(spectrum: SpectrumInput, opts: PeakIdOptions): PeakIdentification {
  const det = opts.detector;
  const counts = checkCounts(spectrum.counts, 'counts');
  if (!(spectrum.liveTime_s > 0) || !Number.isFinite(spectrum.liveTime_s)) throw new InputError(`liveTime_s: expected a finite time > 0 s, got ${spectrum.liveTime_s}`);
  const cal = calibrationOf(spectrum);
  const minE = opts.minEnergy_keV ?? 30;
  const maxE = opts.maxEnergy_keV ?? 2900;
  const zMin = opts.minSignificance ?? Math.sqrt(opts.threshold ?? 25);
  const maxNuclides = opts.maxNuclides ?? 8;
  const ids = (opts.nuclides ?? nuclideIds()).map((id) => getNuclide(id).name);
  const law = (E: number): number => fwhm_keV(det, E);
  const fg = analysePeaks(counts, { calibration: cal, fwhm_keV: law, range_keV: [minE, maxE] });
  const fwhm = (E: number): number => fg.widthScale * law(Math.max(E, 1));

  let bg: { a: PeakAnalysis; counts: Float64Array; scale: number } | undefined;
  if (opts.background !== undefined) {
    const b = checkCounts(opts.background.counts, 'background.counts');
    if (b.length !== counts.length) throw new InputError(`background.counts: expected ${counts.length} channels like the spectrum, got ${b.length}`);
    if (!(opts.background.liveTime_s > 0) || !Number.isFinite(opts.background.liveTime_s)) {
      throw new InputError(`background.liveTime_s: expected a finite time > 0 s, got ${opts.background.liveTime_s}`);
    }
    bg = { a: analysePeaks(b, { calibration: cal, fwhm_keV: law, range_keV: [minE, maxE], widthScale: fg.widthScale }), counts: b, scale: spectrum.liveTime_s / opts.background.liveTime_s };
  }

  // Peaks less the background's peak at the same energy.
  let backgroundPeakCounts = 0;
  const reports: PeakReport[] = fg.peaks.map((p) => {
    let net = p.area;
    let v = p.areaSigma ** 2;
    if (bg !== undefined) {
      const near = nearest(bg.a.peaks, p.energy_keV, 0.5 * p.fwhm_keV);
      if (near !== undefined) {
        net -= bg.scale * near.area;
        v += (bg.scale * near.areaSigma) ** 2;
        backgroundPeakCounts += Math.min(p.area, bg.scale * near.area);
      }
    }
    return { ...p, netArea: net, netSigma: Math.sqrt(v), explainedBy: [] };
  });
  for (const r of reports) if (bg !== undefined && !(r.netArea >= 3 * r.netSigma) && r.area >= 3 * r.areaSigma) r.explainedBy.push('background');

  // Fixed-energy measurement where no peak was found (background subtracted the same way), memoised per energy.
  const measured = new Map<number, { area: number; sigma: number }>();
  const measure = (E: number): { area: number; sigma: number } => {
    let m = measured.get(E);
    if (m === undefined) {
      // With a background both spectra are measured as they are (a foreground peak the background explained is
      // not in the residual's evidence, but its counts are in the spectrum); without one, on the residual, so that
      // fitted neighbours do not leak in.
      const f = areaAt(bg !== undefined ? counts : fg.residual, cal, E, fwhm(E));
      if (bg !== undefined) {
        const b = areaAt(bg.counts, cal, E, fwhm(E));
        m = { area: f.area - bg.scale * b.area, sigma: Math.hypot(f.sigma, bg.scale * b.sigma) };
      } else m = f;
      measured.set(E, m);
    }
    return m;
  };

  // Upper bound (2σ) of a background line's area where the background's search found no peak.
  const measureBackground = (E: number): number => {
    if (bg === undefined) return 0;
    const b = areaAt(bg.counts, cal, E, fwhm(E));
    return Math.max(0, b.area + 2 * b.sigma);
  };

  const groupsOf = new Map<string, LineGroup[]>(ids.map((id) => [id, lineGroups(det, id, minE, maxE, fwhm)]));

  // Pass 1 with a loose calibration tolerance, then an energy correction from its strong matches and pass 2.
  const loose = (E: number): number => 0.5 + 1e-3 * E + 0.25 * fwhm(E);
  let run = greedy(reports, loose);
  const corr = energyCorrection(run.accepted);
  let gain = 1;
  if (corr !== undefined) {
    gain = corr.b;
    const tight = (E: number): number => 0.15 + 3e-4 * E + 0.25 * fwhm(E);
    const shifted = reports.map((r) => ({ ...r, energy_keV: corr.a + corr.b * r.energy_keV, explainedBy: r.explainedBy.filter((x) => x === 'background') }));
    run = greedy(shifted, tight);
  }

  function greedy(peaks: PeakReport[], tol: (E: number) => number): { accepted: { ev: Evaluation; alts: { id: string; net: number }[] }[]; evidence: Evidence[]; peaks: PeakReport[] } {
    const evidence: Evidence[] = peaks
      .filter((p) => p.explainedBy.length === 0 && p.netArea >= MATCH_MIN_Z * p.netSigma)
      .map((p) => ({ peak: p, energy: p.energy_keV, area: p.netArea, sigma: p.netSigma, remaining: p.netArea, sysVar: 0 }));
    const accepted: { ev: Evaluation; alts: { id: string; net: number }[] }[] = [];
    // What annihilation alone could give at 511 keV: with a measured background, its own 511 keV peak (scaled; the
    // rate changes with the surroundings, so a net excess must at least double it), else ANNIHILATION_RATIO times the
    // strongest natural line.
    const bg511 = bg === undefined ? undefined : nearest(bg.a.peaks, ANNIHILATION_keV, tol(ANNIHILATION_keV));
    const naturalGross = Math.max(0, ...NATURAL_LINES_keV.map((E) => nearest(peaks, E, tol(E))?.area ?? 0));
    const annihilationRef = Math.max(
      ANNIHILATION_RATIO * naturalGross,
      bg === undefined ? 0 : bg.scale * Math.max(bg511?.area ?? 0, measureBackground(ANNIHILATION_keV)),
    );
    while (accepted.length < maxNuclides) {
      const cands: Evaluation[] = [];
      for (const id of ids) {
        if (accepted.some((a) => a.ev.id === id)) continue;
        const e = evaluate(id, groupsOf.get(id)!, evidence, tol);
        if (e === undefined || !(e.net >= zMin * zMin) || !snmGates(e)) continue;
        const only511 = e.matched.every((m) => Math.abs(m.group.energy - ANNIHILATION_keV) < 1);
        const claimed = e.explained.reduce((x, y) => x + y, 0);
        if (only511 && claimed < annihilationRef) continue;
        // Every peak it matches was already given to a nuclide: it must claim more of them than that nuclide did
        // (else it lives on the first one's misfit: Xe-133 in Ba-133's 31 and 81 keV, Ra-226 in U-235's 186 keV).
        const earlier = e.matched.reduce((x, m) => x + (m.ev.area - m.ev.remaining), 0);
        if (e.matched.every((m) => m.ev.peak.explainedBy.length > 0) && claimed < earlier) continue;
        cands.push(e);
      }
      if (cands.length === 0) break;
      cands.sort((x, y) => y.net - x.net);
      const best = cands[0];
      const shared = cands.slice(1).filter((c) => c.matched.some((m) => best.matched.some((b) => b.ev === m.ev)));
      accepted.push({ ev: best, alts: shared.map((c) => ({ id: c.id, net: c.net })) });
      const label = getNuclide(best.id).label;
      for (const [i, m] of best.matched.entries()) {
        m.ev.remaining -= best.explained[i];
        m.ev.sysVar += (lineSystematic(m.group.energy) * best.explained[i]) ** 2;
        m.ev.peak.explainedBy.push(label);
        // Single and double escape peaks of the line go with it.
        if (m.group.energy > 1100) {
          for (const E of [m.group.energy - 511, m.group.energy - 1022]) {
            const esc = nearestEv(evidence, E, tol(E));
            if (esc && esc.remaining < best.explained[i]) {
              esc.remaining = 0;
              esc.peak.explainedBy.push(`${label} escape`);
            }
          }
        }
      }
    }
    // A chain member (Th-228 in Th-232, every line of one among the other's) found beside its parent is the parent's
    // unless it outscores it (a Th-228 source over a thorium background does; the background's own Th-228 does not).
    for (const x of [...accepted]) {
      const gx = groupsOf.get(x.ev.id)!.filter((g) => g.energy >= PENALTY_MIN_keV);
      const parent = accepted.find(
        (y) => y !== x && y.ev.net > x.ev.net && gx.length > 0 && gx.every((g) => groupsOf.get(y.ev.id)!.some((h) => Math.abs(h.energy - g.energy) < 0.5)),
      );
      if (parent === undefined) continue;
      accepted.splice(accepted.indexOf(x), 1);
      const from = getNuclide(x.ev.id).label;
      const to = getNuclide(parent.ev.id).label;
      for (const m of x.ev.matched) m.ev.peak.explainedBy = [...new Set(m.ev.peak.explainedBy.map((l) => (l === from ? to : l)))];
    }
    const ann = nearestEv(evidence, ANNIHILATION_keV, tol(ANNIHILATION_keV));
    if (ann && ann.remaining >= MATCH_MIN_Z * ann.sigma) {
      ann.peak.explainedBy.push('annihilation');
      ann.remaining = 0;
    }
    return { accepted, evidence, peaks };
  }

  function evaluate(id: string, groups: LineGroup[], evidence: Evidence[], tol: (E: number) => number): Evaluation | undefined {
    const matched: Match[] = [];
    const taken = new Set<Evidence>();
    for (const g of groups) {
      const ev = nearestEv(evidence, g.energy, tol(g.energy), (x) => !taken.has(x) && x.remaining >= MATCH_MIN_Z * sig(x));
      if (ev !== undefined) {
        matched.push({ group: g, ev });
        taken.add(ev);
      }
    }
    if (matched.length === 0) return undefined;
    // Scale: least squares over the matched lines; the lines above PENALTY_MIN_keV when they carry it, and without
    // lines far above the fit (a peak shared with another nuclide).
    let use = matched.filter((m) => m.group.energy >= PENALTY_MIN_keV);
    if (Math.hypot(...use.map((m) => m.ev.remaining / sig(m.ev))) < 3) use = matched;
    let a = 0;
    let aVar = Infinity;
    for (let pass = 0; pass < 3; pass++) {
      let sw = 0;
      let swy = 0;
      for (const m of use) {
        const v = sig(m.ev) ** 2 + (lineSystematic(m.group.energy) * m.ev.remaining) ** 2;
        sw += (m.group.w * m.group.w) / v;
        swy += (m.group.w * m.ev.remaining) / v;
      }
      a = swy / sw;
      aVar = 1 / sw;
      const keep = use.filter((m) => !(m.ev.remaining - a * m.group.w > 3 * Math.sqrt(sig(m.ev) ** 2 + (lineSystematic(m.group.energy) * a * m.group.w) ** 2)));
      if (keep.length === use.length || keep.length === 0) break;
      use = keep;
    }
    if (!(a > 0)) return undefined;
    const explained = matched.map((m) => Math.max(0, Math.min(m.ev.remaining, a * m.group.w * (1 + lineSystematic(m.group.energy)))));
    let score = 0;
    // K x-rays (below XRAY_MAX_keV) are shared by every nuclide decaying to the same element (Cs x-rays of Ba-133,
    // Xe-133 and Cs-137) and the efficiency model is poorest there: they are explained, but do not score.
    for (const [i, m] of matched.entries()) if (m.group.energy >= XRAY_MAX_keV) score += (explained[i] / sig(m.ev)) ** 2;
    let penalty = 0;
    let maxDeficit = 0;
    const anyHighMatched = matched.some((m) => m.group.energy >= PENALTY_MIN_keV);
    for (const g of groups) {
      if (g.energy < PENALTY_MIN_keV) continue;
      // A line is missing only when the spectrum lacks it: a peak there that an earlier nuclide explained counts
      // with its whole area (Ra-226's 186.2 keV under natural uranium's 185.7 keV is there, only shared).
      const m = matched.find((x) => x.group === g) ?? nearestEv(evidence, g.energy, tol(g.energy));
      const meas = m !== undefined ? { area: 'ev' in m ? m.ev.area : m.area, sigma: 'ev' in m ? m.ev.sigma : m.sigma } : measure(g.energy);
      const expected = a * g.w;
      if (!(expected >= EXPECTED_MIN_Z * meas.sigma)) continue;
      // Seen only below PENALTY_MIN_keV, where its scale is poorly known, yet a line above is expected at 5σ and
      // none is there: the low peaks are something else's.
      if (!anyHighMatched && m === undefined && expected >= 5 * meas.sigma && meas.area < 0.5 * expected) return undefined;
      const sc = Math.sqrt(meas.sigma ** 2 + (LINE_SYSTEMATIC * expected) ** 2 + g.w * g.w * aVar);
      // A negative area (a fit on a Compton edge) says no more than "nothing here".
      const deficit = (expected - Math.max(0, meas.area)) / sc;
      if (deficit >= DEFICIT_MIN_Z) {
        penalty += deficit * deficit;
        maxDeficit = Math.max(maxDeficit, deficit);
      }
    }
    const net = maxDeficit >= DEFICIT_REJECT_Z ? -Infinity : score - penalty;
    return { id, a, aSigma: Math.sqrt(aVar), matched, explained, score, penalty, maxDeficit, net };
  }

  // ---------------------------------------------------------------------------------------------- result
  const nuclides: IdentifiedNuclide[] = run.accepted.map(({ ev, alts }) => {
    const nd = getNuclide(ev.id);
    const z = Math.sqrt(Math.max(0, ev.net));
    const weights = alts.map((x) => ({ nuclide: x.id, w: Math.exp(-0.5 * Math.max(0, ev.net - x.net)) }));
    const sumW = 1 + weights.reduce((s, x) => s + x.w, 0);
    const detect = 1 / (1 + Math.exp(-(z - DETECTION_Z0) * DETECTION_SLOPE));
    const net = ev.explained.reduce((s, x) => s + x, 0);
    const variance = ev.matched.reduce((s, m, i) => s + (ev.explained[i] > 0 ? m.ev.sigma ** 2 : 0), 0);
    return {
      nuclide: nd.name,
      label: nd.label,
      category: nd.category,
      confidence: round(detect / sumW, 4),
      significance: round(z, 2),
      netCounts: round(net, 1),
      netCountsSigma: round(Math.sqrt(variance), 1),
      netCountRate_cps: round(net / spectrum.liveTime_s, 3),
      shielding: 'not estimated',
      peaks_keV: ev.matched.filter((_, i) => ev.explained[i] > 0).map((m) => round(m.ev.energy, 1)),
      alternatives: weights.filter((x) => x.w / sumW >= 0.01).map((x) => ({ nuclide: x.nuclide, weight: round(x.w / sumW, 3) })),
    };
  });
  nuclides.sort(byEvidence);

  // Uranium: enrichment from 185.7 / 1001 keV.
  const notes: IdentificationNote[] = [];
  let enrichment: EnrichmentResult | undefined;
  const uIds = nuclides.filter((n) => n.nuclide === 'U235' || n.nuclide === 'U238').map((n) => n.nuclide);
  if (uIds.length > 0) {
    const tolU = (E: number): number => 0.15 + 3e-4 * E + 0.25 * fwhm(E);
    const lineArea = (E: number, id: string): { area: number; sigma: number } => {
      const acc = run.accepted.find((x) => x.ev.id === id);
      const i = acc?.ev.matched.findIndex((m) => Math.abs(m.group.energy - E) < 0.5) ?? -1;
      if (acc !== undefined && i >= 0) return { area: acc.ev.explained[i], sigma: acc.ev.matched[i].ev.sigma };
      const ev = nearestEv(run.evidence, E, tolU(E));
      if (ev !== undefined) return { area: ev.remaining, sigma: ev.sigma };
      return measure(E);
    };
    enrichment = uraniumEnrichment(det, lineArea(185.72, 'U235'), lineArea(1001.026, 'U238'), lineArea(63.3, 'U238'));
    notes.push(...uraniumNotes(nuclides, uIds, enrichment));
  }

  // Without a measured background: K-40, Ra-226 and Th-232 in natural proportions are the background, not NORM
  // (identify/peak-background.ts); a chain far above the others stays NORM (fertiliser, thorium, radium).
  const rejected: RejectedNuclide[] = [];
  if (bg === undefined && nuclides.some((n) => isNaturalChain(n.nuclide))) {
    const tolN = (E: number): number => 0.15 + 3e-4 * E + 0.25 * fwhm(E);
    const natural = assessNaturalChains(det, (E) => {
      const ev = nearestEv(run.evidence, E, tolN(E));
      return ev !== undefined ? { area: ev.area, sigma: ev.sigma } : measure(E);
    });
    const level = natural.level;
    for (const n of [...nuclides]) {
      if (!isNaturalChain(n.nuclide) || natural.excess.has(n.nuclide)) continue;
      const r = natural.rates.find((x) => x.chain === n.nuclide)!;
      nuclides.splice(nuclides.indexOf(n), 1);
      rejected.push({
        nuclide: n.nuclide,
        significance: n.significance,
        netCounts: n.netCounts,
        kind: 'natural-background',
        reason:
          `${n.label} in natural proportion to K-40 / Ra-226 / Th-232 (${round(level > 0 ? r.normalised / level : 0, 2)}× the median chain over ` +
          `soil medians 400 / 35 / 30 Bq/kg, a source from ${EXCESS_FACTOR}×): background, no measured background given`,
      });
    }
  }

  const unexplainedPeaks: UnexplainedPeak[] = [];
  for (const ev of run.evidence) {
    if (!(ev.remaining >= UNEXPLAINED_MIN_Z * sig(ev)) || ev.peak.explainedBy.includes('annihilation')) continue;
    const half = 0.5 * fwhm(ev.energy);
    const candidates = ids.filter((id) => getNuclide(id).lines.some((l) => Math.abs(l.energy_keV - ev.energy) <= half + 0.5 && l.intensity >= 0.001));
    unexplainedPeaks.push({ energy_keV: round(ev.energy, 2), netCounts: round(ev.remaining, 1), significance: round(ev.remaining / sig(ev), 2), candidates });
  }

  const category = SEVERITY.find((s) => nuclides.some((n) => n.category === s));
  let gross = 0;
  for (const v of counts) gross += v;
  let peakSum = 0;
  for (const p of fg.peaks) peakSum += p.area;
  const { assessment, ...enrichmentRest } = enrichment ?? { assessment: undefined };
  return {
    method: 'peaks',
    nuclides,
    unexplainedPeaks,
    ...(category === undefined ? {} : { category }),
    ...(notes.length > 0 ? { notes } : {}),
    ...(rejected.length > 0 ? { rejected } : {}),
    ...(assessment === undefined ? {} : { uranium: assessment, enrichment: enrichmentRest as Omit<EnrichmentResult, 'assessment'> }),
    background:
      bg !== undefined
        ? { source: 'measured', counts: round(backgroundPeakCounts, 1), scale: round(bg.scale, 4) }
        : { source: 'model', counts: round(gross - peakSum, 1) },
    gain: round(gain, 5),
    fit: { deviance: round(fg.chi2, 2), channels: fg.channels, dispersion: round(Math.max(1, fg.chi2 / Math.max(1, fg.ndf)), 3), grossCounts: gross },
    peaks: run.peaks,
    widthScale: round(fg.widthScale, 3),
  };
}

/**
 * SNM needs its key lines, not only a score: U-235 185.7 keV at ≥ 4σ; plutonium (Pu-239, reactor-grade) 413.7 and
 * 375.0 keV at ≥ 3σ each (reactor-grade plutonium's strongest line is Am-241's 59.5 keV, which alone is Am-241);
 * any other SNM (U-233, Np-237) two of its lines above 120 keV at ≥ 3σ.
 */
function snmGates(e: Evaluation): boolean {
  const zOf = (i: number): number => e.explained[i] / sig(e.matched[i].ev);
  const zAt = (E: number): number => {
    const i = e.matched.findIndex((x) => Math.abs(x.group.energy - E) < 0.5);
    return i < 0 ? 0 : zOf(i);
  };
  if (e.id === 'U235') return zAt(185.72) >= 4;
  if (e.id.startsWith('Pu')) return zAt(413.713) >= 3 && zAt(375.054) >= 3;
  if (getNuclide(e.id).category !== 'SNM') return true;
  return e.matched.filter((m, i) => m.group.energy >= PENALTY_MIN_keV && zOf(i) >= 3).length >= 2;
}

/** The enrichment verdict as notes; U-235 stays SNM only when enriched (re-categorised NORM in place otherwise). */
function uraniumNotes(nuclides: IdentifiedNuclide[], uIds: string[], enrichment: EnrichmentResult): IdentificationNote[] {
  const u235 = nuclides.find((n) => n.nuclide === 'U235');
  const reason = enrichment.assessment.reason;
  switch (enrichment.verdict) {
    case 'enriched':
      if (u235 !== undefined) u235.category = 'SNM';
      return [{ code: 'uranium-enriched', nuclides: uIds, message: `uranium, enriched: ${reason}` }];
    case 'natural':
    case 'depleted':
      if (u235 !== undefined) u235.category = 'NORM';
      return [{ code: 'uranium-natural-or-depleted', nuclides: uIds, message: `uranium, ${enrichment.verdict}: ${reason}` }];
    case 'not-confirmed':
      if (u235 === undefined) return [];
      u235.category = 'NORM';
      return [{ code: 'uranium-235-not-confirmed', nuclides: ['U235'], message: `U-235 reported as NORM, not SNM: ${reason}` }];
  }
}

const isNaturalChain = (id: string): id is NaturalChain => id === 'K40' || id === 'Ra226' || id === 'Th232';

/** Linear correction E_true = a + b·E from the strong single-line matches of pass 1 (at least two, ≥ 10σ). */
function energyCorrection(accepted: { ev: Evaluation }[]): { a: number; b: number } | undefined {
  const pts: { x: number; y: number; w: number }[] = [];
  for (const { ev } of accepted) {
    for (const m of ev.matched) {
      if (m.ev.area < 10 * m.ev.sigma || m.ev.peak.explainedBy.length > 1) continue;
      const s = Math.max(m.ev.peak.energySigma_keV, 0.02);
      pts.push({ x: m.ev.energy, y: m.group.energy, w: 1 / (s * s) });
    }
  }
  if (pts.length === 0) return undefined;
  if (pts.length === 1 || Math.max(...pts.map((p) => p.x)) - Math.min(...pts.map((p) => p.x)) < 100) {
    // One anchor (or anchors close together): a gain through the origin.
    const b = pts.reduce((s, p) => s + p.w * p.x * p.y, 0) / pts.reduce((s, p) => s + p.w * p.x * p.x, 0);
    return Math.abs(b - 1) < 0.01 ? { a: 0, b } : undefined;
  }
  let sw = 0;
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let sxy = 0;
  for (const p of pts) {
    sw += p.w;
    sx += p.w * p.x;
    sy += p.w * p.y;
    sxx += p.w * p.x * p.x;
    sxy += p.w * p.x * p.y;
  }
  const b = (sw * sxy - sx * sy) / (sw * sxx - sx * sx);
  const a = (sy - b * sx) / sw;
  return Math.abs(b - 1) < 0.01 && Math.abs(a) < 3 ? { a, b } : undefined;
}

/** Line groups of a nuclide: lines closer than half a FWHM merged, weighted by intensity × full-energy efficiency. */
function lineGroups(det: DetectorModel, id: string, minE: number, maxE: number, fwhm: (E: number) => number): LineGroup[] {
  const lines = getNuclide(id)
    .lines.filter((l) => l.energy_keV >= minE && l.energy_keV <= maxE)
    .map((l) => ({ energy: l.energy_keV, w: l.intensity * photopeakEfficiency(det, l.energy_keV) }))
    .sort((a, b) => a.energy - b.energy);
  const wMax = Math.max(0, ...lines.map((l) => l.w));
  const groups: LineGroup[] = [];
  for (const l of lines) {
    if (!(l.w >= MIN_RELATIVE_LINE * wMax)) continue;
    const last = groups[groups.length - 1];
    if (last !== undefined && l.energy - last.energy < 0.5 * fwhm(l.energy)) {
      last.energy = (last.energy * last.w + l.energy * l.w) / (last.w + l.w);
      last.w += l.w;
    } else groups.push({ ...l });
  }
  return groups;
}

function nearest(peaks: readonly FittedPeak[], E: number, tol: number): FittedPeak | undefined {
  let best: FittedPeak | undefined;
  for (const p of peaks) if (Math.abs(p.energy_keV - E) <= tol && (best === undefined || Math.abs(p.energy_keV - E) < Math.abs(best.energy_keV - E))) best = p;
  return best;
}

function nearestEv(evidence: readonly Evidence[], E: number, tol: number, ok: (e: Evidence) => boolean = () => true): Evidence | undefined {
  let best: Evidence | undefined;
  for (const e of evidence) if (Math.abs(e.energy - E) <= tol && ok(e) && (best === undefined || Math.abs(e.energy - E) < Math.abs(best.energy - E))) best = e;
  return best;
}

