// H*(10) dose-rate field around estimated point sources: rate anywhere, GeoJSON contours, officer exposure and time to a limit.
//
// Pure: sources and points in local metres (x east, y north, z up, localize/geo.ts), no I/O, no clock. Units:
// µSv/h for rates, µSv for doses, seconds for times.

import { buildupLinear, mu_cm } from './attenuation.js';
import { fluenceToDose_pSv_cm2, POINT_SOURCE_MIN_ENERGY_keV, type CoefficientSet } from './dose.js';
import { getNuclide, type GammaLine } from './nuclides.js';
import { CustomsError } from '../../common/errors.js';
import { toGeo, toLocal } from './localize/geo.js';
import type { LocalOrigin, SourceEstimate } from './localize/types.js';

export class DoseFieldError extends CustomsError {
  constructor(message: string) {
    super('E_DOSEFIELD', message);
  }
}

export interface Point3 {
  x_m: number;
  y_m: number;
  z_m: number;
}

/**
 * One source of the field. Its strength is either an activity (with the nuclide's line table) or a dose rate at
 * 1 m (what a vehicle estimate gives without an efficiency calibration): the line table then only sets how the
 * rate falls off with air attenuation and buildup.
 */
export interface DoseSource extends Point3 {
  /** Nuclide id ('Cs137'); without one, a single line at `energy_keV` (default 661.657 keV). */
  nuclide?: string;
  energy_keV?: number;
  activity_Bq?: number;
  doseRateAt1m_uSv_h?: number;
}

export type BuildupModel = 'none' | 'linear';

export interface DoseFieldOptions {
  /** Air buildup: 'linear' B = 1 + μr (attenuation.ts buildupLinear; default), or 'none' (uncollided only). */
  buildup?: BuildupModel;
  /** Attenuate each line in dry air over the source-point distance (default true). */
  airAttenuation?: boolean;
  coefficients?: CoefficientSet;
  /**
   * Distances are clamped to at least this (m, default 0.1): a point estimate has no meaning closer than its own
   * size, and contour grids that step on the source must not meet an infinity.
   */
  minDistance_m?: number;
}

interface Term {
  /** µSv/h · cm² : yield · A/(4π) · coefficient, so that rate = k/r²·e^(-μr)·B(μr) */
  k: number;
  mu_cm: number;
}

interface Prepared extends Point3 {
  terms: Term[];
}

const pSv_s_TO_uSv_h = 1e-6 * 3600;
const CS137_keV = 661.657;

export interface DoseField {
  readonly sources: readonly DoseSource[];
  /** H*(10) rate at a point (µSv/h), sum over sources. */
  rate(p: Point3): number;
  /** Rate of one source alone. */
  rateOf(index: number, p: Point3): number;
}

function linesOf(s: DoseSource, where: string): readonly GammaLine[] {
  if (s.nuclide !== undefined) {
    try {
      return getNuclide(s.nuclide).lines;
    } catch (e) {
      throw new DoseFieldError(`${where}.nuclide: ${(e as Error).message}`);
    }
  }
  const E = s.energy_keV ?? CS137_keV;
  if (!(E >= POINT_SOURCE_MIN_ENERGY_keV && E <= 10000)) throw new DoseFieldError(`${where}.energy_keV: expected 10-10000 keV, got ${E}`);
  return [{ energy_keV: E, intensity: 1 }];
}

function checkFinite(v: number, where: string): void {
  if (!Number.isFinite(v)) throw new DoseFieldError(`${where}: expected a finite number, got ${v}`);
}

/** Builds the field; throws DoseFieldError naming `sources[i].field` for a source it cannot use. */
export function createDoseField(sources: readonly DoseSource[], opts: DoseFieldOptions = {}): DoseField {
  const buildup = opts.buildup ?? 'linear';
  const air = opts.airAttenuation ?? true;
  const coefficients = opts.coefficients ?? 'ICRP74';
  const rMin_cm = (opts.minDistance_m ?? 0.1) * 100;
  const B = buildup === 'linear' ? buildupLinear : () => 1;
  const rateTerms = (terms: readonly Term[], r_cm: number): number => {
    let sum = 0;
    for (const t of terms) {
      const mfp = t.mu_cm * r_cm;
      sum += (t.k / (r_cm * r_cm)) * Math.exp(-mfp) * B(mfp);
    }
    return sum;
  };
  const prepared: Prepared[] = sources.map((s, i) => {
    const where = `sources[${i}]`;
    checkFinite(s.x_m, `${where}.x_m`);
    checkFinite(s.y_m, `${where}.y_m`);
    checkFinite(s.z_m, `${where}.z_m`);
    const lines = linesOf(s, where);
    const perBq: Term[] = [];
    for (const l of lines) {
      if (l.energy_keV < POINT_SOURCE_MIN_ENERGY_keV) continue;
      perBq.push({
        k: (l.intensity / (4 * Math.PI)) * fluenceToDose_pSv_cm2(l.energy_keV, coefficients) * pSv_s_TO_uSv_h,
        mu_cm: air ? mu_cm('air', l.energy_keV) : 0,
      });
    }
    let scale: number;
    if (s.activity_Bq !== undefined) {
      if (!(s.activity_Bq >= 0) || !Number.isFinite(s.activity_Bq)) throw new DoseFieldError(`${where}.activity_Bq: expected a finite activity >= 0, got ${s.activity_Bq}`);
      scale = s.activity_Bq;
    } else if (s.doseRateAt1m_uSv_h !== undefined) {
      if (!(s.doseRateAt1m_uSv_h >= 0) || !Number.isFinite(s.doseRateAt1m_uSv_h)) {
        throw new DoseFieldError(`${where}.doseRateAt1m_uSv_h: expected a finite rate >= 0, got ${s.doseRateAt1m_uSv_h}`);
      }
      const at1m = rateTerms(perBq, 100);
      scale = at1m > 0 ? s.doseRateAt1m_uSv_h / at1m : 0;
    } else {
      throw new DoseFieldError(`${where}: expected activity_Bq or doseRateAt1m_uSv_h (the source strength)`);
    }
    return { x_m: s.x_m, y_m: s.y_m, z_m: s.z_m, terms: perBq.map((t) => ({ k: t.k * scale, mu_cm: t.mu_cm })) };
  });
  const rateOf = (i: number, p: Point3): number => {
    const s = prepared[i];
    if (!s) throw new RangeError(`source index ${i} out of range 0-${prepared.length - 1}`);
    const r_cm = Math.max(rMin_cm, 100 * Math.hypot(p.x_m - s.x_m, p.y_m - s.y_m, p.z_m - s.z_m));
    return rateTerms(s.terms, r_cm);
  };
  return {
    sources,
    rateOf,
    rate(p: Point3): number {
      let sum = 0;
      for (let i = 0; i < prepared.length; i++) sum += rateOf(i, p);
      return sum;
    },
  };
}

/**
 * Dose sources from localizer estimates: the activity and nuclide when the estimate has them, else the dose rate at
 * 1 m a caller derived (`doseRateAt1m_uSv_h[i]`, e.g. from the SourceMsg field of the same name). An estimate with
 * neither is left out and named in `skipped`.
 */
export function doseSourcesFromEstimates(
  estimates: readonly SourceEstimate[],
  opts: { doseRateAt1m_uSv_h?: readonly (number | undefined)[] } = {},
): { sources: DoseSource[]; skipped: string[] } {
  const sources: DoseSource[] = [];
  const skipped: string[] = [];
  estimates.forEach((e, i) => {
    const base = { x_m: e.x_m, y_m: e.y_m, z_m: e.z_m, ...(e.nuclide ? { nuclide: e.nuclide } : {}), ...(e.energy_keV ? { energy_keV: e.energy_keV } : {}) };
    const d1 = opts.doseRateAt1m_uSv_h?.[i];
    if (e.activity_Bq !== undefined && e.nuclide) sources.push({ ...base, activity_Bq: e.activity_Bq });
    else if (d1 !== undefined) sources.push({ ...base, doseRateAt1m_uSv_h: d1 });
    else skipped.push(`sources[${i}]: no activity (uncalibrated) and no dose rate at 1 m given`);
  });
  return { sources, skipped };
}

// ------------------------------------------------------------------------------------------------
// Contours

export const DEFAULT_CONTOUR_LEVELS_uSv_h: readonly number[] = [100, 20, 1, 0.5];

export interface GridSpec {
  xMin_m: number;
  xMax_m: number;
  yMin_m: number;
  yMax_m: number;
  cell_m: number;
}

export interface ContourOptions {
  levels_uSv_h?: readonly number[];
  /** Height above ground of the evaluated plane (default 1 m, where dose rates are quoted for people). */
  height_m?: number;
  /** Grid in local metres; default: a square around the sources reaching past the lowest level, ≤ 401 × 401 nodes. */
  grid?: GridSpec;
}

/** A ring in local metres, closed (first point repeated at the end). */
export type Ring = [number, number][];

export interface LocalContour {
  level_uSv_h: number;
  /** Polygons: [exterior, ...holes]; exteriors counter-clockwise, holes clockwise (GeoJSON right-hand rule). */
  polygons: Ring[][];
}

export interface GeoJsonPolygonFeature {
  type: 'Feature';
  properties: { level_uSv_h: number };
  geometry: { type: 'MultiPolygon'; coordinates: [number, number][][][] };
}

export interface GeoJsonFeatureCollection {
  type: 'FeatureCollection';
  features: GeoJsonPolygonFeature[];
}

/** A square grid around the sources wide enough that the rate of all of them together drops below `level`. */
export function defaultGrid(field: DoseField, level_uSv_h: number, height_m: number, maxNodes = 401): GridSpec {
  const srcs = field.sources;
  if (srcs.length === 0) return { xMin_m: -10, xMax_m: 10, yMin_m: -10, yMax_m: 10, cell_m: 1 };
  let cx = 0;
  let cy = 0;
  for (const s of srcs) {
    cx += s.x_m / srcs.length;
    cy += s.y_m / srcs.length;
  }
  let spread = 0;
  for (const s of srcs) spread = Math.max(spread, Math.hypot(s.x_m - cx, s.y_m - cy));
  // All sources' rates summed as if each were at the distance r: an upper bound of the field at distance r + spread.
  const total = (r: number): number => {
    let sum = 0;
    for (let i = 0; i < srcs.length; i++) sum += field.rateOf(i, { x_m: srcs[i]!.x_m + r, y_m: srcs[i]!.y_m, z_m: height_m });
    return sum;
  };
  let lo = 0.1;
  let hi = 0.1;
  while (total(hi) > level_uSv_h && hi < 5000) hi *= 2;
  for (let k = 0; k < 40 && hi - lo > 0.01; k++) {
    const mid = (lo + hi) / 2;
    if (total(mid) > level_uSv_h) lo = mid;
    else hi = mid;
  }
  const half = Math.max(5, 1.15 * (hi + spread));
  const cell = Math.max(0.05, (2 * half) / (maxNodes - 1));
  return { xMin_m: cx - half, xMax_m: cx + half, yMin_m: cy - half, yMax_m: cy + half, cell_m: cell };
}

/** Rates on the grid nodes, row-major from (xMin, yMin), nx = columns. */
export function sampleGrid(field: DoseField, grid: GridSpec, height_m: number): { values: Float64Array; nx: number; ny: number } {
  if (!(grid.cell_m > 0) || !(grid.xMax_m > grid.xMin_m) || !(grid.yMax_m > grid.yMin_m)) {
    throw new DoseFieldError(`grid: expected xMax > xMin, yMax > yMin and cell_m > 0, got ${JSON.stringify(grid)}`);
  }
  const nx = Math.floor((grid.xMax_m - grid.xMin_m) / grid.cell_m + 1e-9) + 1;
  const ny = Math.floor((grid.yMax_m - grid.yMin_m) / grid.cell_m + 1e-9) + 1;
  if (nx * ny > 4_000_000) throw new DoseFieldError(`grid: ${nx} × ${ny} nodes is too many (at most 4,000,000); use a larger cell_m`);
  const values = new Float64Array(nx * ny);
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      values[j * nx + i] = field.rate({ x_m: grid.xMin_m + i * grid.cell_m, y_m: grid.yMin_m + j * grid.cell_m, z_m: height_m });
    }
  }
  return { values, nx, ny };
}

/**
 * Marching squares for one level on node values. The grid is padded with one ring of "below" nodes so every
 * contour closes. Each cell segment runs from the crossing where a counter-clockwise walk round the cell leaves the
 * above-level region to the one where it enters it, which keeps the above side on the left: exteriors come out
 * counter-clockwise and holes clockwise without a separate orientation pass. Crossings are interpolated in log rate
 * because the field falls as 1/r², so the contour radius is right to a small fraction of a cell.
 */
export function marchingSquares(values: Float64Array, nx: number, ny: number, level: number): { rings: Ring[] } {
  const NX = nx + 2;
  const NY = ny + 2;
  const floor = level * 1e-6;
  const v = (i: number, j: number): number => {
    // padded coordinates: node (i, j) of the padded grid is (i-1, j-1) of the real one
    if (i <= 0 || j <= 0 || i >= NX - 1 || j >= NY - 1) return floor;
    return Math.max(values[(j - 1) * nx + (i - 1)]!, floor);
  };
  const logL = Math.log(level);
  const cross = (a: number, b: number): number => {
    const la = Math.log(a);
    const lb = Math.log(b);
    return lb === la ? 0.5 : (logL - la) / (lb - la);
  };
  // Segments keyed by the edge they start on; each crossing edge starts exactly one segment and ends one.
  const next = new Map<string, { from: [number, number]; toKey: string }>();
  for (let j = 0; j < NY - 1; j++) {
    for (let i = 0; i < NX - 1; i++) {
      // corners counter-clockwise: bl, br, tr, tl; edge k runs from corner k to corner k+1
      const cx = [i, i + 1, i + 1, i];
      const cy = [j, j, j + 1, j + 1];
      const cv = [v(i, j), v(i + 1, j), v(i + 1, j + 1), v(i, j + 1)];
      const above = cv.map((x) => x >= level);
      if (above.every((a) => a) || above.every((a) => !a)) continue;
      const crossings: { kind: 'enter' | 'leave'; key: string; p: [number, number] }[] = [];
      for (let k = 0; k < 4; k++) {
        const k2 = (k + 1) % 4;
        if (above[k] === above[k2]) continue;
        const t = cross(cv[k]!, cv[k2]!);
        const p: [number, number] = [cx[k]! + t * (cx[k2]! - cx[k]!) - 1, cy[k]! + t * (cy[k2]! - cy[k]!) - 1];
        // Edge key independent of the cell it is seen from: its lower-left node and direction.
        const key = k === 0 || k === 2 ? `h${Math.min(cx[k]!, cx[k2]!)},${cy[k]}` : `v${cx[k]},${Math.min(cy[k]!, cy[k2]!)}`;
        crossings.push({ kind: above[k] ? 'leave' : 'enter', key, p });
      }
      const n = crossings.length; // 2 or 4
      if (n === 2) {
        const leave = crossings.find((c) => c.kind === 'leave')!;
        const enter = crossings.find((c) => c.kind === 'enter')!;
        next.set(leave.key, { from: leave.p, toKey: enter.key });
      } else {
        // Saddle: the cell centre (mean of the corners, in log) decides whether the above corners connect.
        const centreAbove = cv.reduce((s, x) => s + Math.log(x), 0) / 4 >= logL;
        for (let c = 0; c < 4; c++) {
          const cur = crossings[c]!;
          if (cur.kind !== 'leave') continue;
          const partner = centreAbove ? crossings[(c + 1) % 4]! : crossings[(c + 3) % 4]!;
          next.set(cur.key, { from: cur.p, toKey: partner.key });
        }
      }
    }
  }
  const rings: Ring[] = [];
  const used = new Set<string>();
  for (const startKey of next.keys()) {
    if (used.has(startKey)) continue;
    const ring: Ring = [];
    let key = startKey;
    for (let guard = 0; guard <= next.size; guard++) {
      if (used.has(key)) break;
      used.add(key);
      const seg = next.get(key);
      if (!seg) break;
      ring.push(seg.from);
      key = seg.toKey;
    }
    if (ring.length >= 3 && key === startKey) {
      ring.push([ring[0]![0], ring[0]![1]]);
      rings.push(ring);
    }
  }
  return { rings };
}

/** Twice the signed area (positive = counter-clockwise). */
export function signedArea2(ring: readonly [number, number][]): number {
  let a = 0;
  for (let k = 0; k + 1 < ring.length; k++) a += ring[k]![0] * ring[k + 1]![1] - ring[k + 1]![0] * ring[k]![1];
  return a;
}

export function pointInRing(p: readonly [number, number], ring: readonly [number, number][]): boolean {
  let inside = false;
  for (let k = 0, l = ring.length - 1; k < ring.length; l = k++) {
    const [xi, yi] = ring[k]!;
    const [xj, yj] = ring[l]!;
    if (yi > p[1] !== yj > p[1] && p[0] < ((xj - xi) * (p[1] - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Contours of the field at each level, in local metres. */
export function contoursLocal(field: DoseField, opts: ContourOptions = {}): { grid: GridSpec; contours: LocalContour[] } {
  const levels = [...(opts.levels_uSv_h ?? DEFAULT_CONTOUR_LEVELS_uSv_h)];
  levels.forEach((l, i) => {
    if (!(l > 0) || !Number.isFinite(l)) throw new DoseFieldError(`levels_uSv_h[${i}]: expected a finite rate > 0, got ${l}`);
  });
  const h = opts.height_m ?? 1;
  const grid = opts.grid ?? defaultGrid(field, Math.min(...levels), h);
  const { values, nx, ny } = sampleGrid(field, grid, h);
  const contours = levels.map((level) => {
    const { rings } = marchingSquares(values, nx, ny, level);
    const local = rings.map((r) => r.map(([i, j]): [number, number] => [grid.xMin_m + i * grid.cell_m, grid.yMin_m + j * grid.cell_m]));
    const exteriors = local.filter((r) => signedArea2(r) > 0);
    const holes = local.filter((r) => signedArea2(r) < 0);
    const polygons: Ring[][] = exteriors.map((e) => [e]);
    for (const hole of holes) {
      // The smallest exterior containing the hole owns it.
      let best: { poly: Ring[]; area: number } | undefined;
      for (const poly of polygons) {
        const area = signedArea2(poly[0]!);
        if (pointInRing(hole[0]!, poly[0]!) && (!best || area < best.area)) best = { poly, area };
      }
      best?.poly.push(hole);
    }
    return { level_uSv_h: level, polygons };
  });
  return { grid, contours };
}

/** GeoJSON FeatureCollection (RFC 7946: [lon, lat], closed rings, right-hand rule), one MultiPolygon per level that has any area. */
export function contoursGeoJson(field: DoseField, origin: LocalOrigin, opts: ContourOptions = {}): GeoJsonFeatureCollection {
  const { contours } = contoursLocal(field, opts);
  return contoursToGeoJson(contours, origin);
}

export function contoursToGeoJson(contours: readonly LocalContour[], origin: LocalOrigin): GeoJsonFeatureCollection {
  const features: GeoJsonPolygonFeature[] = [];
  for (const c of contours) {
    if (c.polygons.length === 0) continue;
    const coordinates = c.polygons.map((poly) =>
      poly.map((ring) =>
        ring.map(([x, y]): [number, number] => {
          const g = toGeo(origin, { x_m: x, y_m: y, z_m: 0 });
          return [round(g.lon, 8), round(g.lat, 8)];
        }),
      ),
    );
    features.push({ type: 'Feature', properties: { level_uSv_h: c.level_uSv_h }, geometry: { type: 'MultiPolygon', coordinates } });
  }
  return { type: 'FeatureCollection', features };
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

// ------------------------------------------------------------------------------------------------
// Exposure

/** A waypoint; the leg to the next one takes `t_s` differences when every point has a time, else length / speed. */
export interface Waypoint {
  x_m: number;
  y_m: number;
  /** Height of the body point dosed (default 1 m). */
  z_m?: number;
  /** Time at this waypoint (s from the start of the path). */
  t_s?: number;
  /** Walking speed on the leg that starts here (m/s); default the path's speed. */
  speed_m_s?: number;
  /** Time spent standing here before moving on (s). */
  dwell_s?: number;
}

/** A planned path given in WGS84 (what a map or a GPS track gives) as local waypoints; height above ground default 1 m. */
export function waypointsFromGeo(
  origin: LocalOrigin,
  points: readonly { lat: number; lon: number; height_m?: number; t_s?: number; speed_m_s?: number; dwell_s?: number }[],
): Waypoint[] {
  return points.map((p) => {
    const q = toLocal(origin, { lat: p.lat, lon: p.lon, height_m: origin.height_m ?? 0 });
    const w: Waypoint = { x_m: q.x_m, y_m: q.y_m, z_m: p.height_m ?? 1 };
    if (p.t_s !== undefined) w.t_s = p.t_s;
    if (p.speed_m_s !== undefined) w.speed_m_s = p.speed_m_s;
    if (p.dwell_s !== undefined) w.dwell_s = p.dwell_s;
    return w;
  });
}

export interface ExposureOptions {
  /** Default walking speed (m/s, default 1.0). */
  speed_m_s?: number;
  /** Dose limit (µSv) for the time-to-limit answer. */
  limit_uSv?: number;
  /** Dose already received before the path (µSv, default 0). */
  received_uSv?: number;
}

export interface ExposureResult {
  dose_uSv: number;
  duration_s: number;
  maxRate_uSv_h: number;
  /** Cumulative dose at each waypoint (arrival, before its dwell). */
  cumulative_uSv: number[];
  /** Time along the path at which received + path dose reaches the limit; undefined when it is not reached. */
  timeToLimit_s?: number;
  limitReached: boolean;
}

/**
 * Integrated dose along a path. Each leg is integrated with adaptive Simpson in time, because the rate has a sharp
 * peak where the path passes close to a source; tolerance 0.1 % of the leg's dose.
 */
export function pathExposure(field: DoseField, path: readonly Waypoint[], opts: ExposureOptions = {}): ExposureResult {
  if (path.length === 0) throw new DoseFieldError('path: expected at least one waypoint');
  const speed = opts.speed_m_s ?? 1;
  const allTimed = path.every((p) => p.t_s !== undefined);
  const limit = opts.limit_uSv;
  let dose = opts.received_uSv ?? 0;
  const start = dose;
  let t = 0;
  let maxRate = 0;
  let timeToLimit: number | undefined;
  const cumulative: number[] = [];
  const at = (p: Waypoint): Point3 => ({ x_m: p.x_m, y_m: p.y_m, z_m: p.z_m ?? 1 });
  // A constant-rate stretch (a dwell) crosses the limit at a time found in closed form.
  const addConstant = (rate: number, dt: number) => {
    const d = (rate * dt) / 3600;
    if (limit !== undefined && timeToLimit === undefined && dose + d >= limit) timeToLimit = t + (rate > 0 ? ((limit - dose) / rate) * 3600 : 0);
    dose += d;
    t += dt;
    maxRate = Math.max(maxRate, rate);
  };
  path.forEach((p, i) => {
    checkFinite(p.x_m, `path[${i}].x_m`);
    checkFinite(p.y_m, `path[${i}].y_m`);
    if (i === 0 && limit !== undefined && dose >= limit) timeToLimit = 0;
    cumulative.push(dose - start);
    maxRate = Math.max(maxRate, field.rate(at(p)));
    if (p.dwell_s) addConstant(field.rate(at(p)), p.dwell_s);
    const q = path[i + 1];
    if (!q) return;
    const a = at(p);
    const b = at(q);
    const len = Math.hypot(b.x_m - a.x_m, b.y_m - a.y_m, b.z_m - a.z_m);
    let dt: number;
    if (allTimed) {
      dt = q.t_s! - p.t_s! - (p.dwell_s ?? 0);
      if (!(dt >= 0)) throw new DoseFieldError(`path[${i + 1}].t_s: expected a time after path[${i}] (and its dwell), got ${q.t_s}`);
    } else {
      const v = p.speed_m_s ?? speed;
      if (!(v > 0)) throw new DoseFieldError(`path[${i}].speed_m_s: expected a speed > 0, got ${v}`);
      dt = len / v;
    }
    if (dt === 0) return;
    const rateAt = (s: number): number => {
      const f = s / dt;
      const r = field.rate({ x_m: a.x_m + f * (b.x_m - a.x_m), y_m: a.y_m + f * (b.y_m - a.y_m), z_m: a.z_m + f * (b.z_m - a.z_m) });
      if (r > maxRate) maxRate = r;
      return r;
    };
    // Integrate in pieces so the limit crossing is located to a piece, then refined by bisection.
    const pieces = Math.min(2000, Math.max(8, Math.ceil(len / 0.5)));
    const h = dt / pieces;
    for (let k = 0; k < pieces; k++) {
      const s0 = k * h;
      const d = simpson(rateAt, s0, s0 + h) / 3600;
      if (limit !== undefined && timeToLimit === undefined && dose + d >= limit) {
        let lo = s0;
        let hi = s0 + h;
        for (let it = 0; it < 40; it++) {
          const mid = (lo + hi) / 2;
          if (dose + simpson(rateAt, s0, mid) / 3600 >= limit) hi = mid;
          else lo = mid;
        }
        timeToLimit = t + (hi - s0);
      }
      dose += d;
      t += h;
    }
  });
  return {
    dose_uSv: dose - start,
    duration_s: t,
    maxRate_uSv_h: maxRate,
    cumulative_uSv: cumulative,
    ...(timeToLimit !== undefined ? { timeToLimit_s: timeToLimit } : {}),
    limitReached: timeToLimit !== undefined,
  };
}

function simpson(f: (s: number) => number, a: number, b: number): number {
  const fa = f(a);
  const fb = f(b);
  const m = (a + b) / 2;
  const fm = f(m);
  const whole = ((b - a) / 6) * (fa + 4 * fm + fb);
  return adaptive(f, a, b, fa, fm, fb, whole, 12);
}

function adaptive(f: (s: number) => number, a: number, b: number, fa: number, fm: number, fb: number, whole: number, depth: number): number {
  const m = (a + b) / 2;
  const lm = (a + m) / 2;
  const rm = (m + b) / 2;
  const flm = f(lm);
  const frm = f(rm);
  const left = ((m - a) / 6) * (fa + 4 * flm + fm);
  const right = ((b - m) / 6) * (fm + 4 * frm + fb);
  const sum = left + right;
  if (depth <= 0 || Math.abs(sum - whole) <= 1e-3 * Math.abs(sum) * 15) return sum + (sum - whole) / 15;
  return adaptive(f, a, m, fa, flm, fm, left, depth - 1) + adaptive(f, m, b, fm, frm, fb, right, depth - 1);
}

export interface DwellResult {
  rate_uSv_h: number;
  dose_uSv: number;
  /** Time from now until received + dwell dose reaches the limit (s); Infinity for a zero rate. */
  timeToLimit_s?: number;
}

/** Dose for standing `dwell_s` at a point, and how long one may stay there before the limit. */
export function dwellExposure(field: DoseField, at: { x_m: number; y_m: number; z_m?: number }, dwell_s: number, opts: { limit_uSv?: number; received_uSv?: number } = {}): DwellResult {
  if (!(dwell_s >= 0) || !Number.isFinite(dwell_s)) throw new DoseFieldError(`dwell_s: expected a finite time >= 0, got ${dwell_s}`);
  const rate = field.rate({ x_m: at.x_m, y_m: at.y_m, z_m: at.z_m ?? 1 });
  const out: DwellResult = { rate_uSv_h: rate, dose_uSv: (rate * dwell_s) / 3600 };
  if (opts.limit_uSv !== undefined) out.timeToLimit_s = timeToLimit_s(rate, opts.limit_uSv, opts.received_uSv ?? 0);
  return out;
}

/** Seconds at a constant rate until the received dose reaches the limit (0 when already there, Infinity at zero rate). */
export function timeToLimit_s(rate_uSv_h: number, limit_uSv: number, received_uSv = 0): number {
  const left = limit_uSv - received_uSv;
  if (left <= 0) return 0;
  if (!(rate_uSv_h > 0)) return Infinity;
  return (left / rate_uSv_h) * 3600;
}
