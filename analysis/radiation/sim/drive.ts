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
  /**
   * Soil under the vehicle at time t (K %, U ppm, Th ppm), for drives whose natural background changes along the way
   * (default: the scene's). See soilProfile for a seeded one.
   */
  backgroundAt?: (t_s: number) => Scene['background'];
}

export interface SoilProfileOptions {
  seed: number;
  duration_s: number;
  /** Relative change of each concentration around the scene's (default 0.3: ±30 %). */
  spread?: number;
  /** Length of a stretch of one soil, s (drawn uniformly between these; default 20-90). */
  segment_s?: [number, number];
  /** Time over which one soil gives way to the next, s (default 5: 25 m at 18 km/h). */
  ramp_s?: number;
  /** The mean soil (default the sim/natural.ts defaults: 2 %K, 2.5 ppm U, 9 ppm Th). */
  base?: { K_pct: number; U_ppm: number; Th_ppm: number };
}

/**
 * A seeded soil profile: stretches of 20-90 s, each with K, U and Th drawn independently within ±spread of the base
 * (so both the overall rate, by up to ±30 %, and the K/U/Th mix change), joined by linear ramps.
 */
export function soilProfile(opts: SoilProfileOptions): (t_s: number) => Scene['background'] {
  const rng = mulberry32(opts.seed);
  const spread = opts.spread ?? 0.3;
  const [segLo, segHi] = opts.segment_s ?? [20, 90];
  const ramp = opts.ramp_s ?? 5;
  const base = opts.base ?? { K_pct: 2, U_ppm: 2.5, Th_ppm: 9 };
  const draw = (): { K_pct: number; U_ppm: number; Th_ppm: number } => ({
    K_pct: base.K_pct * (1 + spread * (2 * rng() - 1)),
    U_ppm: base.U_ppm * (1 + spread * (2 * rng() - 1)),
    Th_ppm: base.Th_ppm * (1 + spread * (2 * rng() - 1)),
  });
  const starts: number[] = [0];
  const soils = [draw()];
  while (starts[starts.length - 1]! < opts.duration_s) {
    starts.push(starts[starts.length - 1]! + segLo + (segHi - segLo) * rng());
    soils.push(draw());
  }
  return (t_s: number) => {
    let i = 0;
    while (i + 1 < starts.length && starts[i + 1]! <= t_s) i++;
    const a = soils[i]!;
    const into = t_s - starts[i]!;
    if (i === 0 || into >= ramp) return a;
    const p = soils[i - 1]!;
    const f = into / ramp;
    return { K_pct: p.K_pct + f * (a.K_pct - p.K_pct), U_ppm: p.U_ppm + f * (a.U_ppm - p.U_ppm), Th_ppm: p.Th_ppm + f * (a.Th_ppm - p.Th_ppm) };
  };
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
  opts: Pick<DriveOptions, 'dt_s' | 'temperature_C' | 'measurementClass' | 'backgroundAt'>,
  rng: () => number,
  naming: { id: string; startTime: string },
): Measurement {
  const temperature = opts.temperature_C?.(pose.t_s);
  const here = opts.backgroundAt ? { ...scene, background: opts.backgroundAt(pose.t_s) } : scene;
  const steps = simulateStep(here, detectors, pose, opts.dt_s, rng, temperature);
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
