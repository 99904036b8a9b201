// A vehicle driving through a radiation scene: trajectories, the measurements its detectors take step by step, and those written as N42 files.

import type { Measurement, MeasurementClass, Spectrum } from '../spectrum.js';
import { type Pose, type Scene, type SimDetector, localToGeo, mulberry32, simulateStep } from './scene.js';

/** Where the vehicle is at time t (s from the start of the drive). */
export interface Trajectory {
  duration_s: number;
  at(t_s: number): Pose;
}

export interface TimedPose extends Pose {
  t_s: number;
}

export interface StraightPassOptions {
  /** Vehicle speed (m/s; 5 m/s = 18 km/h, a typical slow pass). */
  speed_m_s: number;
  /**
   * Lateral position of the lane: the vehicle drives along y = offset_m (heading east, direction +x), or
   * x = offset_m (heading north) with `axis: 'y'`. A source at the origin is then passed at that distance.
   */
  offset_m: number;
  /** Start and end of the pass along the lane, metres (default −50 to +50). */
  from_m?: number;
  to_m?: number;
  axis?: 'x' | 'y';
  /** Height of the vehicle reference point (default 0). */
  z_m?: number;
}

/** A straight pass at constant speed: from `from_m` to `to_m` along the axis, at a lateral offset. */
export function straightPass(opts: StraightPassOptions): Trajectory {
  const from = opts.from_m ?? -50;
  const to = opts.to_m ?? 50;
  if (!(opts.speed_m_s > 0) || !Number.isFinite(opts.speed_m_s)) throw new RangeError(`speed_m_s must be a finite speed > 0, got ${opts.speed_m_s}`);
  if (!Number.isFinite(opts.offset_m)) throw new RangeError(`offset_m must be finite, got ${opts.offset_m}`);
  if (!(Number.isFinite(from) && Number.isFinite(to) && from !== to)) throw new RangeError(`from_m and to_m must be finite and different, got ${from} and ${to}`);
  const dir = Math.sign(to - from);
  const alongY = opts.axis === 'y';
  // Heading counterclockwise from east: +x is 0, −x is π, +y is π/2, −y is −π/2.
  const heading = alongY ? (dir > 0 ? Math.PI / 2 : -Math.PI / 2) : dir > 0 ? 0 : Math.PI;
  const duration_s = Math.abs(to - from) / opts.speed_m_s;
  const z = opts.z_m ?? 0;
  return {
    duration_s,
    at(t_s: number): Pose {
      const s = from + dir * opts.speed_m_s * Math.min(Math.max(t_s, 0), duration_s);
      return alongY ? { x_m: opts.offset_m, y_m: s, z_m: z, heading_rad: heading } : { x_m: s, y_m: opts.offset_m, z_m: z, heading_rad: heading };
    },
  };
}

export interface LoopOptions {
  center: { x_m: number; y_m: number };
  radius_m: number;
  speed_m_s: number;
  /** Number of laps (default 1). */
  laps?: number;
  /** Angle of the start point, counterclockwise from east (default 0). */
  startAngle_rad?: number;
  /** Drive clockwise (default counterclockwise). */
  clockwise?: boolean;
  z_m?: number;
}

/** A circular loop at constant speed around a centre. */
export function loop(opts: LoopOptions): Trajectory {
  if (!(opts.radius_m > 0) || !Number.isFinite(opts.radius_m)) throw new RangeError(`radius_m must be a finite radius > 0, got ${opts.radius_m}`);
  if (!(opts.speed_m_s > 0) || !Number.isFinite(opts.speed_m_s)) throw new RangeError(`speed_m_s must be a finite speed > 0, got ${opts.speed_m_s}`);
  const laps = opts.laps ?? 1;
  if (!(laps > 0) || !Number.isFinite(laps)) throw new RangeError(`laps must be a finite number > 0, got ${laps}`);
  const sense = opts.clockwise === true ? -1 : 1;
  const omega = (sense * opts.speed_m_s) / opts.radius_m;
  const start = opts.startAngle_rad ?? 0;
  const duration_s = (laps * 2 * Math.PI * opts.radius_m) / opts.speed_m_s;
  const z = opts.z_m ?? 0;
  return {
    duration_s,
    at(t_s: number): Pose {
      const a = start + omega * Math.min(Math.max(t_s, 0), duration_s);
      return {
        x_m: opts.center.x_m + opts.radius_m * Math.cos(a),
        y_m: opts.center.y_m + opts.radius_m * Math.sin(a),
        z_m: z,
        heading_rad: a + (sense * Math.PI) / 2,
      };
    },
  };
}

/** Poses at the middle of each step of `dt_s` (the position a measurement of that step is tagged with). */
export function trajectoryPoses(trajectory: Trajectory, dt_s: number): TimedPose[] {
  if (!(dt_s > 0) || !Number.isFinite(dt_s)) throw new RangeError(`dt_s must be a finite time > 0, got ${dt_s}`);
  const n = Math.max(1, Math.floor(trajectory.duration_s / dt_s + 1e-9));
  const out: TimedPose[] = [];
  for (let i = 0; i < n; i++) {
    const t = (i + 0.5) * dt_s;
    out.push({ ...trajectory.at(t), t_s: t });
  }
  return out;
}

export interface DriveOptions {
  /** Acquisition time of each spectrum (0.1-1 s for 1-10 Hz). */
  dt_s: number;
  seed: number;
  /** Detector temperature over the drive, °C (default 20: no gain drift). */
  temperature_C?: (t_s: number) => number;
  /** Start of the drive (ISO 8601; default 2024-06-01T08:00:00Z). Times come in as data, never from the clock. */
  startTime?: string;
  /** Measurement ids are `${idPrefix}${step, 6 digits}` (default 'm'), so their order sorts as text. */
  idPrefix?: string;
  /** Step number of the first measurement (default 1), to continue a drive. */
  firstStep?: number;
  measurementClass?: MeasurementClass;
}

export const DEFAULT_START_TIME = '2024-06-01T08:00:00Z';

/** ISO 8601 of `base` + t seconds, millisecond resolution, UTC. */
export function isoAt(base: string, t_s: number): string {
  const ms = Date.parse(base);
  if (!Number.isFinite(ms)) throw new RangeError(`startTime "${base}" is not an ISO 8601 date-time`);
  return new Date(ms + Math.round(t_s * 1000)).toISOString();
}

/** Measurement id of a step, zero-padded so ids sort in time order. */
export function stepId(prefix: string, step: number): string {
  return `${prefix}${String(step).padStart(6, '0')}`;
}

/**
 * Drives the trajectory and returns one measurement per step: every detector's spectrum (nominal calibration
 * E = keVPerChannel·ch, whatever the drift), its position, the vehicle position. Pure and seeded: the same
 * inputs give the same counts.
 */
export function simulateDrive(scene: Scene, detectors: readonly SimDetector[], trajectory: Trajectory, opts: DriveOptions): Measurement[] {
  const rng = mulberry32(opts.seed);
  const start = opts.startTime ?? DEFAULT_START_TIME;
  const prefix = opts.idPrefix ?? 'm';
  const first = opts.firstStep ?? 1;
  const ids = new Set<string>();
  for (const d of detectors) {
    if (ids.has(d.id)) throw new RangeError(`detector id "${d.id}" is used twice`);
    ids.add(d.id);
  }
  return trajectoryPoses(trajectory, opts.dt_s).map((pose, i) =>
    measurementOf(scene, detectors, pose, opts, rng, { id: stepId(prefix, first + i), startTime: isoAt(start, pose.t_s - opts.dt_s / 2) }),
  );
}

/** One step as a Measurement (used by simulateDrive and by the live N42 simulator). */
export function measurementOf(
  scene: Scene,
  detectors: readonly SimDetector[],
  pose: TimedPose,
  opts: Pick<DriveOptions, 'dt_s' | 'temperature_C' | 'measurementClass'>,
  rng: () => number,
  naming: { id: string; startTime: string },
): Measurement {
  const temperature = opts.temperature_C?.(pose.t_s);
  const steps = simulateStep(scene, detectors, pose, opts.dt_s, rng, temperature);
  const spectra: Spectrum[] = steps.map((s, k) => ({
    detector: s.detector,
    counts: s.counts,
    liveTime_s: s.liveTime_s,
    realTime_s: s.realTime_s,
    calibration: { coefficients: [0, detectors[k].keVPerChannel] },
    position: s.position,
  }));
  return {
    id: naming.id,
    startTime: naming.startTime,
    realTime_s: opts.dt_s,
    class: opts.measurementClass ?? 'Foreground',
    spectra,
    grossCounts: [],
    position: localToGeo(scene.origin, { x_m: pose.x_m, y_m: pose.y_m, z_m: pose.z_m ?? 0 }),
  };
}
