// Turns a recorded or live drive (N42 measurements with per-detector positions) into positioned window counts for the localizer, dropping what cannot be placed.

import { CustomsError } from '../../../common/errors.js';
import { energyOf } from '../calibration.js';
import { DETECTORS, type DetectorModel } from '../dose.js';
import { getNuclide } from '../nuclides.js';
import type { DetectorInfo, EnergyCalibration, GeoPoint, Measurement } from '../spectrum.js';
import { toLocal } from './geo.js';
import { type ForwardModel, DEFAULT_ROI_FWHM, grossEfficiency_cm2, mainLine, makeModel, roiWindow, windowEfficiency_cm2 } from './model.js';
import type { LocMeasurement, LocalOrigin } from './types.js';

/** A drive the localizer cannot use at all (no positions, no counts); the message says what was missing where. */
export class LocalizeInputError extends CustomsError {
  constructor(message: string) {
    super('E_LOCALIZE_INPUT', message);
  }
}

export interface DriveInputOptions {
  /** Nuclide whose main line's ROI is counted (nuclides.ts id); without it gross counts are used. */
  nuclide?: string;
  /** Line to count instead of the nuclide's strongest (keV). */
  energy_keV?: number;
  /** ROI half-width in FWHM of the line (default 1). */
  roiHalfWidth_fwhm?: number;
  /** Detector model per detector id; otherwise guessed from the N42 detector description/kind (a DETECTORS name). */
  detectorModels?: Record<string, DetectorModel>;
  /** RadDetectorInformation of the file(s), for the guess above. */
  detectorInfo?: readonly DetectorInfo[];
  /** Detector whose counts at 1 m define cps_at_1m (default the first one met). */
  referenceDetector?: string;
  /** Faster than this between fixes is a GPS jump (m/s, default 30). */
  maxSpeed_m_s?: number;
  /** Local frame origin (default the first position, on the ground). */
  origin?: LocalOrigin;
  /** Ellipsoidal height of the ground (m, default 0: N42 elevations read as heights above the ground). */
  groundElevation_m?: number;
  /** Name of the input for messages (a file or folder). */
  source?: string;
}

export interface DriveDetector {
  id: string;
  model?: string;
  relEff: number;
  /** ROI (or gross) energy window used (keV). */
  window_keV?: [number, number];
}

export interface DriveInput {
  origin: LocalOrigin;
  measurements: LocMeasurement[];
  model: ForwardModel;
  nuclide?: string;
  /** Window efficiency of the reference detector (cm^2) when its model is known: activity can then be given. */
  refEff_cm2?: number;
  referenceDetector: string;
  detectors: DriveDetector[];
  warnings: string[];
  /** Measurements read, and those kept after dropping readings without or with implausible positions. */
  read: number;
  kept: number;
}

interface Reading {
  measurement: number;
  detector: string;
  position: GeoPoint;
  liveTime_s: number;
  realTime_s: number;
  counts?: Float64Array;
  gross?: number;
  calibration?: EnergyCalibration;
}

/** The DETECTORS model a detector's N42 description, kind or id names (e.g. "NaI-2x4x16 (simulated)"). */
export function guessModel(id: string, info: readonly DetectorInfo[] | undefined): DetectorModel | undefined {
  const d = info?.find((x) => x.id === id);
  const text = `${d?.description ?? ''} ${d?.kind ?? ''} ${id}`;
  // Longest name first so 'NaI-2x4x16' is not read as 'NaI-2x4'.
  for (const name of Object.keys(DETECTORS).sort((a, b) => b.length - a.length)) if (text.includes(name)) return DETECTORS[name];
  return undefined;
}

function timeOf(m: Measurement, fallback_s: number): number | undefined {
  if (m.startTime === undefined) return undefined;
  const ms = Date.parse(m.startTime);
  return Number.isFinite(ms) ? ms / 1000 + m.realTime_s / 2 : fallback_s;
}

/**
 * Readings to localizer input. Readings without a position are skipped (a warning says how many and where);
 * fixes implying a speed above `maxSpeed_m_s` split the track into segments, and only segments that connect
 * plausibly to the longest one are kept (a GPS spike or a stretch of offset fixes is dropped with a warning).
 * A drive with no position at all, or no counts, is an error.
 */
export function driveInput(ms: readonly Measurement[], opts: DriveInputOptions = {}): DriveInput {
  const src = opts.source ?? 'drive';
  const warnings: string[] = [];
  if (ms.length === 0) throw new LocalizeInputError(`${src}: no measurements to localize from`);
  if (opts.nuclide !== undefined) getNuclide(opts.nuclide);

  // ── readings with positions ──
  const readings: Reading[] = [];
  const noPosition: string[] = [];
  let anyCounts = false;
  ms.forEach((m, j) => {
    const perDet = m.spectra.length > 0 ? m.spectra.map((s) => ({ detector: s.detector, position: s.position, liveTime_s: s.liveTime_s, realTime_s: s.realTime_s, counts: s.counts as Float64Array | undefined, gross: undefined as number | undefined, calibration: s.calibration })) : m.grossCounts.map((g) => ({ detector: g.detector, position: g.position, liveTime_s: g.liveTime_s, realTime_s: g.realTime_s, counts: undefined, gross: g.counts, calibration: undefined }));
    if (perDet.length > 0) anyCounts = true;
    let missing = false;
    for (const r of perDet) {
      const position = r.position ?? m.position;
      if (position === undefined || !Number.isFinite(position.lat) || !Number.isFinite(position.lon)) {
        missing = true;
        continue;
      }
      readings.push({ measurement: j, detector: r.detector, position, liveTime_s: r.liveTime_s, realTime_s: r.realTime_s, ...(r.counts ? { counts: r.counts } : {}), ...(r.gross !== undefined ? { gross: r.gross } : {}), ...(r.calibration ? { calibration: r.calibration } : {}) });
    }
    if (missing) noPosition.push(m.id);
  });
  if (!anyCounts) throw new LocalizeInputError(`${src}: none of the ${ms.length} measurements has a spectrum or gross counts`);
  if (readings.length === 0) {
    throw new LocalizeInputError(`${src}: no positions: none of the ${ms.length} measurements has a RadDetectorState or RadInstrumentState GeographicPoint (latitude, longitude); a drive cannot be localized without them`);
  }
  if (noPosition.length > 0) {
    warnings.push(`GPS dropout: ${noPosition.length} of ${ms.length} measurements have readings without a position and those were skipped (first ${noPosition.slice(0, 3).join(', ')})`);
  }

  const ground = opts.groundElevation_m ?? 0;
  const origin: LocalOrigin = opts.origin ?? { lat: readings[0].position.lat, lon: readings[0].position.lon, height_m: ground };
  const local = readings.map((r) => toLocal(origin, { lat: r.position.lat, lon: r.position.lon, height_m: r.position.elevation_m ?? ground }));

  // ── times ──
  const tOf = new Float64Array(ms.length);
  let clock = 0;
  let t0: number | undefined;
  ms.forEach((m, j) => {
    const t = timeOf(m, clock);
    if (t !== undefined && t0 === undefined) t0 = t - clock;
    tOf[j] = t !== undefined && t0 !== undefined ? t - t0 : clock + m.realTime_s / 2;
    clock += m.realTime_s;
  });

  // ── GPS jumps: vehicle track per measurement ──
  const vmax = opts.maxSpeed_m_s ?? 30;
  const track = new Map<number, { x: number; y: number; n: number }>();
  readings.forEach((r, k) => {
    const p = track.get(r.measurement) ?? { x: 0, y: 0, n: 0 };
    p.x += local[k].x_m;
    p.y += local[k].y_m;
    p.n++;
    track.set(r.measurement, p);
  });
  const order = [...track.keys()].sort((a, b) => tOf[a] - tOf[b] || a - b);
  const pos = (j: number): { x: number; y: number } => {
    const p = track.get(j)!;
    return { x: p.x / p.n, y: p.y / p.n };
  };
  // GPS noise of a few metres is allowed on top of the speed limit.
  const plausible = (a: number, b: number): boolean => {
    const pa = pos(a);
    const pb = pos(b);
    return Math.hypot(pa.x - pb.x, pa.y - pb.y) <= vmax * Math.abs(tOf[b] - tOf[a]) + 5;
  };
  const segments: number[][] = [];
  for (const j of order) {
    const cur = segments[segments.length - 1];
    if (cur !== undefined && plausible(cur[cur.length - 1], j)) cur.push(j);
    else segments.push([j]);
  }
  const keep = new Set<number>();
  if (segments.length > 0) {
    let anchor = 0;
    segments.forEach((s, i) => { if (s.length > segments[anchor].length) anchor = i; });
    for (const j of segments[anchor]) keep.add(j);
    let last = segments[anchor][segments[anchor].length - 1];
    for (let i = anchor + 1; i < segments.length; i++) {
      if (plausible(last, segments[i][0])) {
        for (const j of segments[i]) keep.add(j);
        last = segments[i][segments[i].length - 1];
      }
    }
    let first = segments[anchor][0];
    for (let i = anchor - 1; i >= 0; i--) {
      const s = segments[i];
      if (plausible(s[s.length - 1], first)) {
        for (const j of s) keep.add(j);
        first = s[0];
      }
    }
  }
  const jumped = order.filter((j) => !keep.has(j));
  if (jumped.length > 0) {
    warnings.push(`GPS jump: ${jumped.length} measurements dropped whose positions imply a speed above ${vmax} m/s (first ${jumped.slice(0, 3).map((j) => ms[j].id).join(', ')})`);
  }

  // ── detectors, window, model ──
  const detIds: string[] = [];
  for (const r of readings) if (!detIds.includes(r.detector)) detIds.push(r.detector);
  const ref = opts.referenceDetector ?? detIds[0];
  if (!detIds.includes(ref)) throw new LocalizeInputError(`${src}: reference detector "${ref}" is not in the drive, expected one of ${detIds.join(', ')}`);
  const models = new Map<string, DetectorModel | undefined>(detIds.map((id) => [id, opts.detectorModels?.[id] ?? guessModel(id, opts.detectorInfo)]));
  const unknown = detIds.filter((id) => models.get(id) === undefined);
  if (unknown.length > 0) warnings.push(`detector model unknown for ${unknown.join(', ')}: relative efficiency 1 and no activity in Bq`);
  const useRoi = opts.nuclide !== undefined || opts.energy_keV !== undefined;
  const spectraOnly = readings.every((r) => r.counts !== undefined);
  if (useRoi && !spectraOnly) throw new LocalizeInputError(`${src}: an ROI (${opts.nuclide ?? `${opts.energy_keV} keV`}) needs spectra, but some measurements only have gross counts; leave out --nuclide to use gross counts`);
  const refModel = models.get(ref);
  const E = opts.energy_keV ?? (opts.nuclide !== undefined ? mainLine(opts.nuclide, refModel).energy_keV : 662);
  const halfWidth = opts.roiHalfWidth_fwhm ?? DEFAULT_ROI_FWHM;

  // Channel range of the ROI per detector and calibration (the same calibration comes back every second).
  const roiCache = new Map<string, { lo: number; hi: number; edges: [number, number] }>();
  const roiOf = (r: Reading, j: number): { lo: number; hi: number; edges: [number, number] } => {
    if (r.calibration === undefined) {
      throw new LocalizeInputError(`${src}: measurement ${ms[j].id}, detector "${r.detector}": spectrum has no energy calibration, so the ${E.toFixed(1)} keV ROI cannot be placed; leave out --nuclide to use gross counts`);
    }
    const n = r.counts!.length;
    const key = `${r.detector}|${n}|${JSON.stringify(r.calibration)}`;
    let hit = roiCache.get(key);
    if (hit === undefined) {
      const [wlo, whi] = roiWindow(E, models.get(r.detector), halfWidth);
      let lo = -1;
      let hi = -1;
      for (let ch = 0; ch < n; ch++) {
        const e = energyOf(r.calibration, ch + 0.5);
        if (e >= wlo && e <= whi) {
          if (lo < 0) lo = ch;
          hi = ch;
        }
      }
      if (lo < 0) throw new LocalizeInputError(`${src}: measurement ${ms[j].id}, detector "${r.detector}": the ROI ${wlo.toFixed(0)}-${whi.toFixed(0)} keV lies outside the spectrum's ${n} channels`);
      hit = { lo, hi, edges: [energyOf(r.calibration, lo), energyOf(r.calibration, hi + 1)] };
      roiCache.set(key, hit);
    }
    return hit;
  };

  const windows = new Map<string, [number, number]>();
  const out: LocMeasurement[] = [];
  readings.forEach((r, k) => {
    if (!keep.has(r.measurement)) return;
    let counts: number;
    if (useRoi) {
      const roi = roiOf(r, r.measurement);
      if (!windows.has(r.detector)) windows.set(r.detector, roi.edges);
      counts = 0;
      for (let ch = roi.lo; ch <= roi.hi; ch++) counts += r.counts![ch];
    } else if (r.counts !== undefined) {
      counts = 0;
      for (let ch = 0; ch < r.counts.length; ch++) counts += r.counts[ch];
    } else {
      counts = r.gross ?? 0;
    }
    if (!(r.liveTime_s > 0) || !Number.isFinite(counts) || counts < 0) return;
    out.push({ t_s: tOf[r.measurement], detector: r.detector, x_m: local[k].x_m, y_m: local[k].y_m, z_m: local[k].z_m, liveTime_s: r.liveTime_s, counts });
  });

  // Efficiencies relative to the reference detector, from the detector models (1 where a model is unknown).
  const effOf = (id: string): number | undefined => {
    const m = models.get(id);
    if (m === undefined) return undefined;
    if (useRoi && opts.nuclide !== undefined) {
      const w = windows.get(id) ?? roiWindow(E, m, halfWidth);
      return windowEfficiency_cm2(m, opts.nuclide, w[0], w[1]);
    }
    return grossEfficiency_cm2(m, E);
  };
  const refEff = effOf(ref);
  const relEff: Record<string, number> = {};
  for (const id of detIds) {
    const e = effOf(id);
    relEff[id] = e !== undefined && refEff !== undefined && refEff > 0 ? e / refEff : 1;
  }
  const model = makeModel({ energy_keV: E, buildup: useRoi ? 'none' : 'linear', relEff });
  if (!useRoi) warnings.push(`no nuclide given: gross counts with an assumed ${E} keV line and linear buildup (less precise; give --nuclide)`);

  return {
    origin,
    measurements: out,
    model,
    ...(opts.nuclide !== undefined ? { nuclide: opts.nuclide } : {}),
    ...(refEff !== undefined && useRoi && opts.nuclide !== undefined ? { refEff_cm2: refEff } : {}),
    referenceDetector: ref,
    detectors: detIds.map((id) => ({ id, ...(models.get(id) ? { model: models.get(id)!.name } : {}), relEff: relEff[id], ...(windows.has(id) ? { window_keV: windows.get(id)! } : {}) })),
    warnings,
    read: ms.length,
    kept: keep.size,
  };
}
