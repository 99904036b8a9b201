// Calibration analyses beyond energy: resolution model, full-energy-peak efficiency, dose factor, daily source check.
import { InputError } from '../../../common/errors.js';
import { channelOf, energyOf, keVPerChannelAt, invertSmall } from '../calibration.js';
import { buildGFunction, DETECTORS, doseRateFromSpectrum_uSv_h } from '../dose.js';
import { decayFactor, getNuclide } from '../nuclides.js';
import { fitPeak } from '../peaks.js';
import type { EnergyCalibration } from '../spectrum.js';
import { CalibrationRefused, typicalFwhm_keV } from './energy.js';
import { fitMultiplet, type MultipletPeak } from './multiplet.js';
import type { CalibrationResults } from '../../../protocol/calibration-record.js';

// ------------------------------------------------------------------------------------------------ resolution

export interface ResolutionPoint {
  energy_keV: number;
  fwhm_keV: number;
  fwhmSigma_keV: number;
}

export interface ResolutionResult {
  /** FWHM(E) = sqrt(a + b·E + c·E²) keV. */
  a: number;
  b: number;
  c: number;
  sigma: { a: number; b: number; c: number };
  /** Relative resolution FWHM/E at 661.657 keV. */
  relativeAt662: number;
  points: (ResolutionPoint & { model_keV: number; residual_keV: number })[];
}

/**
 * Weighted least squares of FWHM² = a + b·E + c·E² (as many terms as the points allow: b alone with one point,
 * a and b with two). Refuses a model that is not positive over 30-3000 keV or a resolution no scintillator or
 * semiconductor has.
 */
export function fitResolution(points: readonly ResolutionPoint[]): ResolutionResult {
  const pts = points.filter((p) => p.fwhm_keV > 0 && Number.isFinite(p.fwhm_keV));
  if (pts.length === 0) throw new CalibrationRefused('resolution: no fitted peak widths to model');
  const terms = pts.length === 1 ? [1] : pts.length === 2 ? [0, 1] : [0, 1, 2];
  const m = terms.length;
  const ata = Array.from({ length: m }, () => new Array<number>(m).fill(0));
  const atb = new Array<number>(m).fill(0);
  for (const p of pts) {
    const y = p.fwhm_keV ** 2;
    const sy = Math.max(2 * p.fwhm_keV * Math.max(p.fwhmSigma_keV, 0.005 * p.fwhm_keV), 1e-9);
    const w = 1 / (sy * sy);
    const row = terms.map((k) => p.energy_keV ** k);
    for (let i = 0; i < m; i++) {
      atb[i] += w * row[i]! * y;
      for (let j = 0; j < m; j++) ata[i]![j] += w * row[i]! * row[j]!;
    }
  }
  const inv = invertSmall(ata);
  if (!inv) throw new CalibrationRefused('resolution: the peak energies do not determine the model (two peaks at the same energy?)');
  const sol = inv.map((r) => r.reduce((s, v, k) => s + v * atb[k]!, 0));
  const coef = [0, 0, 0];
  const sig = [0, 0, 0];
  terms.forEach((k, i) => {
    coef[k] = sol[i]!;
    sig[k] = Math.sqrt(Math.max(0, inv[i]![i]!));
  });
  const [a, b, c] = coef as [number, number, number];
  const model = (E: number): number => a + b * E + c * E * E;
  for (const E of [30, 100, 300, 1000, 3000]) {
    if (!(model(E) > 0)) throw new CalibrationRefused(`resolution: FWHM² = ${a.toPrecision(3)} + ${b.toPrecision(3)}·E + ${c.toPrecision(3)}·E² is not positive at ${E} keV; the peak widths are inconsistent`);
  }
  const rel = Math.sqrt(model(661.657)) / 661.657;
  if (!(rel > 0.001 && rel < 0.3)) throw new CalibrationRefused(`resolution: ${(rel * 100).toFixed(2)} % FWHM at 662 keV is implausible (expected 0.1-30 %)`);
  return {
    a,
    b,
    c,
    sigma: { a: sig[0]!, b: sig[1]!, c: sig[2]! },
    relativeAt662: rel,
    points: pts.map((p) => {
      const mk = Math.sqrt(model(p.energy_keV));
      return { ...p, model_keV: mk, residual_keV: p.fwhm_keV - mk };
    }),
  };
}

export function fwhmModel_keV(r: { a: number; b: number; c: number }, E_keV: number): number {
  return Math.sqrt(Math.max(1e-6, r.a + r.b * E_keV + r.c * E_keV * E_keV));
}

// ------------------------------------------------------------------------------------------------ peak areas at known energies

export interface LineFit {
  nuclide: string;
  energy_keV: number;
  intensity: number;
  centroid_keV: number;
  fwhm_keV: number;
  area: number;
  areaSigma: number;
}

/**
 * Fits each listed line where a calibration puts it (Gaussian with a step on a quadratic background, ±1 FWHM,
 * together with the source's other lines within 3 FWHM). Lines whose fit fails or lands more than half a FWHM away
 * are left out.
 */
export function fitLinesAt(
  counts: Float64Array,
  cal: EnergyCalibration,
  lines: readonly { nuclide: string; energy_keV: number; intensity: number }[],
  fwhmAt: (E_keV: number) => number,
): LineFit[] {
  const out: LineFit[] = [];
  const n = counts.length;
  const chs = lines.map((l) => channelOf(cal, l.energy_keV));
  lines.forEach((l, i) => {
    const ch = chs[i]!;
    if (!(ch > 2 && ch < n - 3)) return;
    const kpc = keVPerChannelAt(cal, ch);
    const F = fwhmAt(l.energy_keV) / kpc;
    const members = [{ centroid_ch: ch, fwhm_ch: F }];
    lines.forEach((o, j) => {
      if (j !== i && Math.abs(chs[j]! - ch) < 3 * F) members.push({ centroid_ch: chs[j]!, fwhm_ch: fwhmAt(o.energy_keV) / keVPerChannelAt(cal, chs[j]!) });
    });
    members.splice(4);
    // Alone, a Gaussian on a line over ±1.5 FWHM gives unbiased areas; with neighbours, the joint fit.
    let p: MultipletPeak | undefined;
    if (members.length > 1) {
      const lo = Math.min(...members.map((mb) => mb.centroid_ch - mb.fwhm_ch));
      const hi = Math.max(...members.map((mb) => mb.centroid_ch + mb.fwhm_ch));
      p = fitMultiplet(counts, members, [lo, hi])?.peaks[0];
    }
    if (!p || Math.abs(p.centroid_ch - ch) > 0.5 * F) {
      const f = fitPeak(counts, { centroid_ch: ch, fwhm_ch: F, window_fwhm: 1.5 });
      p = f ? { centroid_ch: f.centroid_ch, centroidSigma_ch: f.centroidSigma_ch, fwhm_ch: f.fwhm_ch, fwhmSigma_ch: f.fwhmSigma_ch, area: f.area, areaSigma: f.areaSigma } : undefined;
    }
    // A peak, not noise: significant area and a width near the expected one.
    if (!p || Math.abs(p.centroid_ch - ch) > 0.5 * F || !(p.area > 4 * p.areaSigma) || !(p.fwhm_ch > 0.5 * F && p.fwhm_ch < 2 * F)) return;
    out.push({ nuclide: l.nuclide, energy_keV: l.energy_keV, intensity: l.intensity, centroid_keV: energyOf(cal, p.centroid_ch), fwhm_keV: p.fwhm_ch * kpc, area: p.area, areaSigma: p.areaSigma });
  });
  return out;
}

/** Lines of a source worth fitting: >= 40 keV and >= 5 % photons per decay. */
export function mainLines(source: string): { nuclide: string; energy_keV: number; intensity: number }[] {
  const n = getNuclide(source);
  return n.lines.filter((l) => l.energy_keV >= 40 && l.intensity >= 0.05).map((l) => ({ nuclide: n.name, energy_keV: l.energy_keV, intensity: l.intensity }));
}

// ------------------------------------------------------------------------------------------------ efficiency

export interface EfficiencyOptions {
  counts: Float64Array;
  liveTime_s: number;
  calibration: EnergyCalibration;
  source: string;
  activity_Bq: number;
  /** Reference date of the activity and date of the measurement (ISO 8601). */
  referenceDate: string;
  measurementDate: string;
  distance_m: number;
  /** Resolution model; a typical scintillator's otherwise. */
  resolution?: { a: number; b: number; c: number };
  /** Net counts of a background spectrum (same live time units) to subtract, per channel. */
  background?: { counts: Float64Array; liveTime_s: number };
}

export interface EfficiencyResult {
  source: string;
  activityAtMeasurement_Bq: number;
  decayFactor: number;
  elapsed_d: number;
  distance_m: number;
  lines: { energy_keV: number; intensity: number; netCounts: number; netSigma: number; efficiency: number; efficiencySigma: number }[];
}

function dateMs(s: string, what: string): number {
  const t = Date.parse(s);
  if (!Number.isFinite(t)) throw new InputError(`${what}: expected an ISO 8601 date (e.g. 2020-01-15 or 2020-01-15T10:00:00Z), got "${s}"`);
  return t;
}

/**
 * Full-energy-peak efficiency per line: net peak counts / (live time · activity at the measurement date ·
 * photons per decay). The activity is decayed from the certificate's reference date.
 */
export function efficiency(o: EfficiencyOptions): EfficiencyResult {
  if (!(o.activity_Bq > 0)) throw new InputError(`--activity-Bq: expected a positive activity, got ${o.activity_Bq}`);
  if (!(o.distance_m > 0)) throw new InputError(`--distance-m: expected a positive distance, got ${o.distance_m}`);
  if (!(o.liveTime_s > 0)) throw new InputError(`spectrum: live time must be > 0, got ${o.liveTime_s}`);
  const t0 = dateMs(o.referenceDate, '--reference-date');
  const t1 = dateMs(o.measurementDate, 'measurement date');
  if (t1 < t0 - 86_400_000) throw new InputError(`measurement date ${o.measurementDate} is before the source's reference date ${o.referenceDate}`);
  const elapsed_s = (t1 - t0) / 1000;
  const df = decayFactor(o.source, elapsed_s);
  const A = o.activity_Bq * df;
  let counts = o.counts;
  if (o.background) {
    const s = o.liveTime_s / o.background.liveTime_s;
    counts = Float64Array.from(o.counts, (c, i) => Math.max(0, c - s * (o.background!.counts[i] ?? 0)));
  }
  const fwhmAt = (E: number): number => (o.resolution ? fwhmModel_keV(o.resolution, E) : typicalFwhm_keV(E));
  const fits = fitLinesAt(counts, o.calibration, mainLines(o.source), fwhmAt);
  if (fits.length === 0) {
    throw new CalibrationRefused(`${getNuclide(o.source).label}: none of its lines (${mainLines(o.source).map((l) => l.energy_keV.toFixed(1)).join(', ')} keV) could be fitted where the calibration puts them`);
  }
  return {
    source: getNuclide(o.source).name,
    activityAtMeasurement_Bq: A,
    decayFactor: df,
    elapsed_d: elapsed_s / 86400,
    distance_m: o.distance_m,
    lines: fits.map((f) => {
      const eff = f.area / (o.liveTime_s * A * f.intensity);
      return { energy_keV: f.energy_keV, intensity: f.intensity, netCounts: f.area, netSigma: f.areaSigma, efficiency: eff, efficiencySigma: eff * (f.areaSigma / f.area) };
    }),
  };
}

/** Log-log interpolation of an efficiency curve (flat beyond its ends). */
export function efficiencyAt(curve: { energies_keV: number[]; values: number[] }, E_keV: number): number {
  const pts = curve.energies_keV.map((e, i) => [e, curve.values[i]!] as const).sort((a, b) => a[0] - b[0]);
  if (pts.length === 1 || E_keV <= pts[0]![0]) return pts[0]![1];
  if (E_keV >= pts[pts.length - 1]![0]) return pts[pts.length - 1]![1];
  for (let i = 1; i < pts.length; i++) {
    const [e0, v0] = pts[i - 1]!;
    const [e1, v1] = pts[i]!;
    if (E_keV <= e1) return Math.exp(Math.log(v0) + ((Math.log(v1) - Math.log(v0)) * Math.log(E_keV / e0)) / Math.log(e1 / e0));
  }
  return pts[pts.length - 1]![1];
}

// ------------------------------------------------------------------------------------------------ dose factor

export interface DoseFactorOptions {
  counts: Float64Array;
  liveTime_s: number;
  calibration: EnergyCalibration;
  /** Detector model of the G(E) function (dose.ts DETECTORS). */
  model: string;
  /** H*(10) rate of the reference field at the detector (µSv/h), from the reference instrument or certificate. */
  reference_uSv_h: number;
  background?: { counts: Float64Array; liveTime_s: number; reference_uSv_h?: number };
}

export interface DoseFactorResult {
  factor: number;
  factorSigma: number;
  measured_uSv_h: number;
  reference_uSv_h: number;
  model: string;
}

/** The factor that scales the G(E) dose rate of this detector to the reference field's (net of background). */
export function doseFactor(o: DoseFactorOptions): DoseFactorResult {
  const det = DETECTORS[o.model];
  if (!det) throw new InputError(`--model: unknown detector model "${o.model}", expected one of ${Object.keys(DETECTORS).join(', ')}`);
  if (!(o.reference_uSv_h > 0)) throw new InputError(`--reference-uSv-h: expected a positive dose rate, got ${o.reference_uSv_h}`);
  const g = buildGFunction({ detector: det });
  const eOf = (ch: number): number => energyOf(o.calibration, ch + 0.5);
  const rate = (counts: Float64Array, live: number): { dose: number; var: number } => {
    let v = 0;
    for (let ch = 0; ch < counts.length; ch++) v += counts[ch]! * g.evaluate(eOf(ch)) ** 2;
    return { dose: doseRateFromSpectrum_uSv_h({ counts, liveTime_s: live, energyOf: eOf, g }), var: v / (live * live) };
  };
  const fg = rate(o.counts, o.liveTime_s);
  let measured = fg.dose;
  let variance = fg.var;
  let reference = o.reference_uSv_h;
  if (o.background) {
    const bg = rate(o.background.counts, o.background.liveTime_s);
    measured -= bg.dose;
    variance += bg.var;
    reference -= o.background.reference_uSv_h ?? 0;
  }
  if (!(measured > 0)) throw new CalibrationRefused(`dose-factor: the spectrum gives ${measured.toFixed(4)} µSv/h net of background; expected a field above background`);
  if (!(reference > 0)) throw new CalibrationRefused(`dose-factor: the reference is not above its background (${reference} µSv/h net)`);
  const factor = reference / measured;
  if (!(factor > 0.2 && factor < 5)) {
    throw new CalibrationRefused(`dose-factor: ${factor.toFixed(3)} is implausible (expected 0.2-5): wrong detector model, calibration or reference value?`);
  }
  return { factor, factorSigma: factor * (Math.sqrt(variance) / measured), measured_uSv_h: measured, reference_uSv_h: reference, model: o.model };
}

// ------------------------------------------------------------------------------------------------ daily check

export interface CheckTolerances {
  /** Largest peak drift, as a fraction of the line energy (default 0.01). */
  drift?: number;
  /** Largest FWHM relative to the stored model (default 1.25). */
  fwhmRatio?: number;
  /** Largest relative efficiency deviation (default 0.1). */
  efficiency?: number;
}

export interface CheckOptions {
  counts: Float64Array;
  liveTime_s: number;
  stored: CalibrationResults;
  sources: string[];
  tolerances?: CheckTolerances;
  /** For the efficiency check: the source's activity and dates. */
  activity?: { source: string; activity_Bq: number; referenceDate: string; measurementDate: string };
}

export interface CheckLine {
  nuclide: string;
  energy_keV: number;
  measured_keV: number;
  drift_pct: number;
  fwhm_keV: number;
  fwhmModel_keV?: number;
  fwhmRatio?: number;
  efficiency?: number;
  efficiencyStored?: number;
  efficiencyDeviation_pct?: number;
  ok: boolean;
  problems: string[];
}

export interface CheckResult {
  pass: boolean;
  lines: CheckLine[];
  tolerances: Required<CheckTolerances>;
  problems: string[];
}

/** The daily source check against the stored calibration: every number with its tolerance, pass only if all hold. */
export function sourceCheck(o: CheckOptions): CheckResult {
  const tol = { drift: o.tolerances?.drift ?? 0.01, fwhmRatio: o.tolerances?.fwhmRatio ?? 1.25, efficiency: o.tolerances?.efficiency ?? 0.1 };
  const cal = o.stored.energy;
  if (!cal) throw new InputError('stored calibration: has no energy calibration (results.energy) to check against');
  const res = o.stored.resolution;
  const fwhmAt = (E: number): number => (res ? fwhmModel_keV(res, E) : typicalFwhm_keV(E));
  const lines = o.sources.flatMap((s) => mainLines(s));
  // Search a little wider than the fit window: the point of the check is to see a drift.
  const fits = fitLinesAt(o.counts, cal, lines, (E) => fwhmAt(E) * 1.3);
  const problems: string[] = [];
  const out: CheckLine[] = [];
  let A: number | undefined;
  if (o.activity) {
    const el = (dateMs(o.activity.measurementDate, 'measurement date') - dateMs(o.activity.referenceDate, '--reference-date')) / 1000;
    A = o.activity.activity_Bq * decayFactor(o.activity.source, el);
  }
  for (const l of lines) {
    const f = fits.find((x) => x.energy_keV === l.energy_keV && x.nuclide === l.nuclide);
    if (!f) {
      problems.push(`${getNuclide(l.nuclide).label} ${l.energy_keV.toFixed(1)} keV: no peak where the stored calibration puts it`);
      continue;
    }
    const lp: string[] = [];
    const drift = (f.centroid_keV - l.energy_keV) / l.energy_keV;
    if (Math.abs(drift) > tol.drift) lp.push(`drift ${(drift * 100).toFixed(2)} % exceeds ±${(tol.drift * 100).toFixed(2)} %`);
    const line: CheckLine = { nuclide: l.nuclide, energy_keV: l.energy_keV, measured_keV: f.centroid_keV, drift_pct: drift * 100, fwhm_keV: f.fwhm_keV, ok: true, problems: lp };
    if (res) {
      line.fwhmModel_keV = fwhmModel_keV(res, l.energy_keV);
      line.fwhmRatio = f.fwhm_keV / line.fwhmModel_keV;
      if (line.fwhmRatio > tol.fwhmRatio) lp.push(`FWHM ${f.fwhm_keV.toFixed(1)} keV is ${line.fwhmRatio.toFixed(2)} x the stored ${line.fwhmModel_keV.toFixed(1)} keV (limit ${tol.fwhmRatio})`);
    }
    if (A !== undefined && o.activity && getNuclide(o.activity.source).name === l.nuclide && o.stored.efficiency) {
      line.efficiency = f.area / (o.liveTime_s * A * l.intensity);
      line.efficiencyStored = efficiencyAt(o.stored.efficiency, l.energy_keV);
      line.efficiencyDeviation_pct = (line.efficiency / line.efficiencyStored - 1) * 100;
      if (Math.abs(line.efficiencyDeviation_pct) > tol.efficiency * 100) lp.push(`efficiency ${line.efficiencyDeviation_pct.toFixed(1)} % off the stored value (limit ±${(tol.efficiency * 100).toFixed(0)} %)`);
    }
    line.ok = lp.length === 0;
    out.push(line);
    problems.push(...lp.map((p) => `${getNuclide(l.nuclide).label} ${l.energy_keV.toFixed(1)} keV: ${p}`));
  }
  return { pass: problems.length === 0 && out.length > 0, lines: out, tolerances: tol, problems };
}
