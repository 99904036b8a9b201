// Handheld guidance to an estimated source: bearing/distance, arrival, refinement with close measurements, confirmation.
//
// Pure: positions and measurements come in as data (local metres via localize/geo.ts), no I/O and no clock.

import { CustomsError } from '../../common/errors.js';
import { doseRateFromSpectrum_uSv_h, type GFunction } from './dose.js';
import { energyOf } from './calibration.js';
import type { Identification, NuclideIdentifier } from './identify.js';
import { toGeo, toLocal } from './localize/geo.js';
import { eigenSym3, invertSpd } from './localize/linalg.js';
import { kernel, mainLine, makeModel, type ForwardModel } from './localize/model.js';
import type { ConfidenceRegion, LocalOrigin, LocMeasurement, SourceEstimate } from './localize/types.js';
import type { EnergyCalibration } from './spectrum.js';

export class GuidanceError extends CustomsError {
  constructor(message: string) {
    super('E_GUIDANCE', message);
  }
}

const CHI2_2DOF_95 = 5.991464547107979;
const CHI2_3DOF_95 = 7.814727903251178;
const DEG = 180 / Math.PI;

export interface GeoFix {
  lat: number;
  lon: number;
  height_m?: number;
}

export interface BearingDistance {
  /** Degrees clockwise from true north, [0, 360). */
  bearing_deg: number;
  /** Horizontal distance (m) in the local tangent plane of `from`. */
  distance_m: number;
  /** Target height minus own height (m), when both are known. */
  dz_m?: number;
}

/**
 * Bearing and distance in the tangent plane of the handheld's position. Over the few hundred metres of a yard this
 * differs from the geodesic by far less than GPS noise (tangent-plane error ~ d³/R², sub-millimetre at 1 km).
 */
export function bearingDistance(from: GeoFix, to: GeoFix): BearingDistance {
  const q = toLocal({ lat: from.lat, lon: from.lon, height_m: from.height_m ?? 0 }, { lat: to.lat, lon: to.lon, height_m: to.height_m ?? from.height_m ?? 0 });
  const distance_m = Math.hypot(q.x_m, q.y_m);
  let bearing = Math.atan2(q.x_m, q.y_m) * DEG;
  if (bearing < 0) bearing += 360;
  if (bearing >= 360) bearing -= 360;
  const out: BearingDistance = { bearing_deg: bearing, distance_m };
  if (from.height_m !== undefined && to.height_m !== undefined) out.dz_m = to.height_m - from.height_m;
  return out;
}

/** Eight-point compass name of a bearing (for a display that has no arrow). */
export function compassPoint(bearing_deg: number): string {
  const names = ['N', 'NE', 'E', 'SE', 'S', 'SW', 'W', 'NW'];
  return names[Math.round((((bearing_deg % 360) + 360) % 360) / 45) % 8]!;
}

/** Radius (m) of the 95 % horizontal confidence circle that holds the xy ellipse of an estimate. */
export function horizontalRadius95_m(est: Pick<SourceEstimate, 'covariance_m2' | 'ci95'>): number {
  const c = est.covariance_m2;
  if (c?.[0]?.[0] !== undefined && c[1]?.[1] !== undefined) {
    const a = c[0][0];
    const b = c[0][1] ?? 0;
    const d = c[1][1];
    const l1 = (a + d) / 2 + Math.sqrt(((a - d) / 2) ** 2 + b * b);
    if (Number.isFinite(l1) && l1 >= 0) return Math.sqrt(CHI2_2DOF_95 * l1);
  }
  // No usable covariance: the largest semi-axis of the 3D region is an upper bound.
  return Math.max(...est.ci95.semiAxes_m);
}

export interface ArrivalOptions {
  /** Never closer than this (m, default 1.5): GPS noise on a handheld is about that. */
  minRadius_m?: number;
  /** Never wider than this (m, default 3): beyond it the officer should walk on and let refinement narrow it. */
  maxRadius_m?: number;
  /** Multiplier on the 95 % horizontal radius (default 1). */
  scale?: number;
}

export interface GuidanceState extends BearingDistance {
  target: { lat: number; lon: number; height_m: number };
  arrivalRadius_m: number;
  arrived: boolean;
  compass: string;
}

export function arrivalRadius_m(est: Pick<SourceEstimate, 'covariance_m2' | 'ci95'>, opts: ArrivalOptions = {}): number {
  const lo = opts.minRadius_m ?? 1.5;
  const hi = Math.max(lo, opts.maxRadius_m ?? 3);
  return Math.min(hi, Math.max(lo, (opts.scale ?? 1) * horizontalRadius95_m(est)));
}

/** Where to go from `pos`, and whether the handheld is there. */
export function guide(pos: GeoFix, est: SourceEstimate, opts: ArrivalOptions = {}): GuidanceState {
  const bd = bearingDistance(pos, { lat: est.lat, lon: est.lon, height_m: est.height_m });
  const r = arrivalRadius_m(est, opts);
  return {
    ...bd,
    target: { lat: est.lat, lon: est.lon, height_m: est.height_m },
    arrivalRadius_m: r,
    arrived: bd.distance_m <= r,
    compass: compassPoint(bd.bearing_deg),
  };
}

// ------------------------------------------------------------------------------------------------
// Refinement with the handheld's own measurements

export interface RefineOptions {
  origin: LocalOrigin;
  /** Line counted by the handheld (default the estimate's energy, else the nuclide's main line, else Cs-137). */
  energy_keV?: number;
  /** Gross counts include scattered photons (buildup 'linear', default); a photopeak ROI does not ('none'). */
  buildup?: 'none' | 'linear';
  /** Known background of the handheld in the counted window (cps); fitted when absent. */
  background_cps?: number;
  /** Smallest prior standard deviation per axis (m, default 0.3): a vehicle estimate is never better than that. */
  priorFloor_m?: number;
  maxIter?: number;
}

export interface RefineResult {
  estimate: SourceEstimate;
  /** The handheld's own count rate at 1 m from the source (its detector, its window). */
  handheld_cps_at_1m: number;
  background_cps: number;
  iterations: number;
  converged: boolean;
  /** Largest horizontal 95 % radius before and after (m). */
  radius95Before_m: number;
  radius95After_m: number;
  /** Poisson deviance per measurement at the optimum (about 1 for a model that fits). */
  deviancePerPoint: number;
}

function energyFor(est: SourceEstimate, opts: RefineOptions): number {
  if (opts.energy_keV !== undefined) return opts.energy_keV;
  if (est.energy_keV !== undefined) return est.energy_keV;
  if (est.nuclide) {
    try {
      return mainLine(est.nuclide).energy_keV;
    } catch {
      /* unknown nuclide id from the field: fall through to the default line */
    }
  }
  return 661.657;
}

/**
 * Poisson maximum likelihood on the handheld's measurements with the vehicle estimate as a Gaussian prior on the
 * position: minimises Σ(μᵢ − nᵢ ln μᵢ) + ½ (p − p₀)ᵀ Σ₀⁻¹ (p − p₀), μᵢ = tᵢ (b + s·g(rᵢ)), by Fisher scoring with a
 * step-halving line search. The handheld's strength s (and background b unless given) are free: its detector is not
 * the vehicle's reference detector, so the vehicle's cps_at_1m does not carry over. The covariance is the inverse
 * of the Fisher information plus the prior precision, so it can only shrink where the measurements say something.
 */
export function refineWithHandheld(prior: SourceEstimate, ms: readonly LocMeasurement[], opts: RefineOptions): RefineResult {
  ms.forEach((m, i) => {
    for (const k of ['x_m', 'y_m', 'z_m', 'liveTime_s', 'counts'] as const) {
      if (!Number.isFinite(m[k])) throw new GuidanceError(`measurements[${i}].${k}: expected a finite number, got ${m[k]}`);
    }
    if (!(m.liveTime_s > 0)) throw new GuidanceError(`measurements[${i}].liveTime_s: expected > 0 s, got ${m.liveTime_s}`);
    if (m.counts < 0) throw new GuidanceError(`measurements[${i}].counts: expected >= 0, got ${m.counts}`);
  });
  const model: ForwardModel = makeModel({ energy_keV: energyFor(prior, opts), buildup: opts.buildup ?? 'linear', minDistance_m: 0.3 });
  const floor2 = (opts.priorFloor_m ?? 0.3) ** 2;
  const c = prior.covariance_m2;
  const cov0 = [0, 1, 2].map((i) => [0, 1, 2].map((j) => (c?.[i]?.[j] ?? (i === j ? 100 : 0)) + (i === j ? floor2 : 0)));
  const P = invertSpd(cov0);
  if (!P) throw new GuidanceError('estimate.covariance_m2: the position block cannot be inverted');
  const p0 = [prior.x_m, prior.y_m, prior.z_m];
  const radiusBefore = horizontalRadius95_m({ covariance_m2: cov0, ci95: prior.ci95 });
  const fitB = opts.background_cps === undefined;

  // Starting strength and background from the data: the farthest measurements say background, the nearest signal.
  let bStart = opts.background_cps ?? 0;
  if (fitB) {
    const rates = ms.map((m) => m.counts / m.liveTime_s).sort((a, b) => a - b);
    bStart = Math.max(0.1, rates[0] ?? 1);
  }
  let sStart = 1;
  for (const m of ms) {
    const g = kernel(model, Math.hypot(m.x_m - p0[0]!, m.y_m - p0[1]!, m.z_m - p0[2]!)).g;
    sStart = Math.max(sStart, (m.counts / m.liveTime_s - bStart) / g);
  }
  // parameters: x, y, z, ln s, (ln b)
  let p = [...p0, Math.log(sStart), ...(fitB ? [Math.log(bStart)] : [])];
  const start = [...p];
  const n = p.length;
  // A very weak prior on ln s and ln b (σ = 100 in log) keeps the Fisher matrix invertible when the walk saw no source
  // at all; with any signal its pull is nil.
  const WEAK = 1e-4;
  const mu = (q: readonly number[], m: LocMeasurement): number => {
    const r = Math.hypot(m.x_m - q[0]!, m.y_m - q[1]!, m.z_m - q[2]!);
    const b = fitB ? Math.exp(q[4]!) : opts.background_cps!;
    return m.liveTime_s * (b + Math.exp(q[3]!) * kernel(model, r).g);
  };
  const objective = (q: readonly number[]): number => {
    let f = 0;
    for (const m of ms) {
      const u = Math.max(mu(q, m), 1e-12);
      f += u - m.counts * Math.log(u);
    }
    const d = [q[0]! - p0[0]!, q[1]! - p0[1]!, q[2]! - p0[2]!];
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) f += 0.5 * d[i]! * P[i]![j]! * d[j]!;
    for (let k = 3; k < n; k++) f += 0.5 * WEAK * (q[k]! - start[k]!) ** 2;
    return f;
  };
  const gradFisher = (q: readonly number[]): { g: number[]; I: number[][] } => {
    const g = new Array<number>(n).fill(0);
    const I = Array.from({ length: n }, () => new Array<number>(n).fill(0));
    const h = [1e-4, 1e-4, 1e-4, 1e-6, 1e-6];
    for (const m of ms) {
      const u = Math.max(mu(q, m), 1e-12);
      const du = new Array<number>(n);
      for (let k = 0; k < n; k++) {
        const a = [...q];
        const b = [...q];
        a[k]! += h[k]!;
        b[k]! -= h[k]!;
        du[k] = (mu(a, m) - mu(b, m)) / (2 * h[k]!);
      }
      const w = 1 - m.counts / u;
      for (let k = 0; k < n; k++) {
        g[k]! += w * du[k]!;
        for (let l = 0; l < n; l++) I[k]![l]! += (du[k]! * du[l]!) / u;
      }
    }
    const d = [q[0]! - p0[0]!, q[1]! - p0[1]!, q[2]! - p0[2]!];
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        g[i]! += P[i]![j]! * d[j]!;
        I[i]![j]! += P[i]![j]!;
      }
    }
    for (let k = 3; k < n; k++) {
      g[k]! += WEAK * (q[k]! - start[k]!);
      I[k]![k]! += WEAK;
    }
    return { g, I };
  };

  let f = objective(p);
  let iterations = 0;
  let converged = false;
  const maxIter = opts.maxIter ?? 50;
  for (; iterations < maxIter; iterations++) {
    const { g, I } = gradFisher(p);
    const inv = invertSpd(I);
    if (!inv) break;
    const step = inv.map((row) => -row.reduce((s, v, j) => s + v * g[j]!, 0));
    let t = 1;
    let accepted = false;
    for (let k = 0; k < 30; k++, t /= 2) {
      const q = p.map((v, i) => v + t * step[i]!);
      if (q[2]! < 0) q[2] = 0; // sources are not below ground
      const fq = objective(q);
      if (fq <= f) {
        const moved = Math.hypot(q[0]! - p[0]!, q[1]! - p[1]!, q[2]! - p[2]!);
        const df = f - fq;
        p = q;
        f = fq;
        accepted = true;
        if (moved < 1e-4 && df < 1e-6) converged = true;
        break;
      }
    }
    if (!accepted) {
      converged = true; // no descent direction left: at the optimum to numerical precision
      break;
    }
    if (converged) break;
  }
  const { I } = gradFisher(p);
  const cov = invertSpd(I);
  if (!cov) throw new GuidanceError('refinement: Fisher information singular (measurements carry no information)');
  const cov3 = [0, 1, 2].map((i) => [0, 1, 2].map((j) => cov[i]![j]!));
  const region = ellipsoid95(cov3);
  const geo = toGeo(opts.origin, { x_m: p[0]!, y_m: p[1]!, z_m: p[2]! });
  const pc = prior.covariance_m2;
  const covariance_m2 = [0, 1, 2, 3].map((i) => [0, 1, 2, 3].map((j) => (i < 3 && j < 3 ? cov3[i]![j]! : i === 3 && j === 3 ? (pc?.[3]?.[3] ?? 0) : 0)));
  let ambiguous = prior.ambiguous;
  let mirror = prior.mirror;
  if (prior.mirror) {
    const m = toLocal(opts.origin, prior.mirror);
    // The handheld's close data settle a mirror ambiguity once the mirror image lies outside the new region.
    if (!insideEllipsoid({ x_m: p[0]!, y_m: p[1]!, z_m: p[2]! }, cov3, m)) {
      ambiguous = false;
      mirror = undefined;
    }
  }
  let dev = 0;
  for (const m of ms) {
    const u = Math.max(mu(p, m), 1e-12);
    dev += 2 * (u - m.counts + (m.counts > 0 ? m.counts * Math.log(m.counts / u) : 0));
  }
  const estimate: SourceEstimate = {
    ...prior,
    x_m: p[0]!,
    y_m: p[1]!,
    z_m: p[2]!,
    lat: geo.lat,
    lon: geo.lon,
    height_m: geo.height_m,
    energy_keV: model.energy_keV,
    covariance_m2,
    ci95: region,
    ambiguous,
  };
  if (mirror) estimate.mirror = mirror;
  else delete estimate.mirror;
  return {
    estimate,
    handheld_cps_at_1m: Math.exp(p[3]!),
    background_cps: fitB ? Math.exp(p[4]!) : opts.background_cps!,
    iterations,
    converged,
    radius95Before_m: radiusBefore,
    radius95After_m: horizontalRadius95_m({ covariance_m2: cov3, ci95: region }),
    deviancePerPoint: ms.length ? dev / ms.length : 0,
  };
}

function ellipsoid95(cov3: number[][]): ConfidenceRegion {
  const { values, vectors } = eigenSym3(cov3);
  return { semiAxes_m: values.map((v) => Math.sqrt(CHI2_3DOF_95 * Math.max(0, v))) as [number, number, number], axes: vectors, method: 'fisher' };
}

function insideEllipsoid(c: { x_m: number; y_m: number; z_m: number }, cov3: number[][], p: { x_m: number; y_m: number; z_m: number }): boolean {
  const inv = invertSpd(cov3);
  if (!inv) return true;
  const d = [p.x_m - c.x_m, p.y_m - c.y_m, p.z_m - c.z_m];
  let q = 0;
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) q += d[i]! * inv[i]![j]! * d[j]!;
  return q <= CHI2_3DOF_95;
}

// ------------------------------------------------------------------------------------------------
// Confirmation measurement

export interface ConfirmationSpectrum {
  counts: ArrayLike<number>;
  liveTime_s: number;
  calibration: EnergyCalibration;
}

export interface ConfirmationResult {
  liveTime_s: number;
  grossCounts: number;
  identification: Identification;
  /** H*(10) rate from the summed spectrum through G(E), when a G function was given (µSv/h). */
  doseRate_uSv_h?: number;
}

/**
 * Accumulates spectra at the spot until `duration_s` of live time, then identifies the sum. Spectra with another
 * channel count than the first are refused (a detector swap mid-measurement would mix two instruments).
 */
export class ConfirmationMeasurement {
  private sum: Float64Array | undefined;
  private live = 0;
  private calibration: EnergyCalibration | undefined;

  constructor(private readonly opts: { duration_s: number; identifier: NuclideIdentifier; g?: GFunction; background?: { counts: ArrayLike<number>; liveTime_s: number } }) {
    if (!(opts.duration_s > 0)) throw new GuidanceError(`duration_s: expected > 0 s, got ${opts.duration_s}`);
  }

  get liveTime_s(): number {
    return this.live;
  }

  get done(): boolean {
    return this.live >= this.opts.duration_s;
  }

  /** Adds one spectrum; returns true once enough live time is in. */
  add(s: ConfirmationSpectrum): boolean {
    if (!(s.liveTime_s > 0) || !Number.isFinite(s.liveTime_s)) throw new GuidanceError(`spectrum.liveTime_s: expected a finite time > 0 s, got ${s.liveTime_s}`);
    if (!this.sum) this.sum = new Float64Array(s.counts.length);
    if (s.counts.length !== this.sum.length) throw new GuidanceError(`spectrum.counts: expected ${this.sum.length} channels like the first spectrum, got ${s.counts.length}`);
    for (let i = 0; i < s.counts.length; i++) this.sum[i]! += s.counts[i]!;
    this.live += s.liveTime_s;
    this.calibration = s.calibration;
    return this.done;
  }

  result(): ConfirmationResult {
    if (!this.sum || !this.calibration) throw new GuidanceError('confirmation: no spectrum added yet');
    const cal = this.calibration;
    const identification = this.opts.identifier.identify(
      { counts: this.sum, liveTime_s: this.live, calibration: cal },
      this.opts.background ? { background: this.opts.background } : {},
    );
    let gross = 0;
    for (const v of this.sum) gross += v;
    const out: ConfirmationResult = { liveTime_s: this.live, grossCounts: gross, identification };
    if (this.opts.g) {
      out.doseRate_uSv_h = doseRateFromSpectrum_uSv_h({ counts: this.sum, liveTime_s: this.live, energyOf: (ch) => energyOf(cal, ch + 0.5), g: this.opts.g });
    }
    return out;
  }
}
