// Simulated drives around container blocks with known truth (positions, window strengths, backgrounds) for the localizer's tests, bench and demos.

import { DETECTORS } from '../dose.js';
import { naturalBackgroundRate } from '../sim/natural.js';
import { type Trajectory, loop, simulateDrive, straightPass } from '../sim/drive.js';
import { type Pose, type Scene, type SimDetector, type SimSource, detectorPosition } from '../sim/scene.js';
import type { Measurement } from '../spectrum.js';
import { transmission, type Material } from '../attenuation.js';
import { type DriveInput, driveInput } from './input.js';
import { type PointSource, windowEfficiency_cm2 } from './model.js';

export const ORIGIN = { lat: 51.95, lon: 4.05 } as const;

/** A vehicle with three detectors on a mast at 0.5, 1.5 and 2.8 m: two 2x2 NaI and a 2x4x16 log. */
export function vehicleDetectors(): SimDetector[] {
  return [
    { id: 'low', model: DETECTORS['NaI-2x2'], offset: { x_m: 0, y_m: 0, z_m: 0.5 }, nChannels: 1024, keVPerChannel: 3 },
    { id: 'mid', model: DETECTORS['NaI-2x4x16'], offset: { x_m: 0, y_m: 0, z_m: 1.5 }, nChannels: 1024, keVPerChannel: 3 },
    { id: 'high', model: DETECTORS['NaI-2x2'], offset: { x_m: 0, y_m: 0, z_m: 2.8 }, nChannels: 1024, keVPerChannel: 3 },
  ];
}

/** Constant-speed drive along a polyline (closed when the last point equals the first), `laps` times. */
export function polyline(points: readonly { x_m: number; y_m: number }[], speed_m_s: number, laps = 1): Trajectory {
  const seg: { a: { x_m: number; y_m: number }; len: number; ux: number; uy: number; s0: number }[] = [];
  let s = 0;
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1];
    const b = points[i];
    const len = Math.hypot(b.x_m - a.x_m, b.y_m - a.y_m);
    if (len === 0) continue;
    seg.push({ a, len, ux: (b.x_m - a.x_m) / len, uy: (b.y_m - a.y_m) / len, s0: s });
    s += len;
  }
  const total = s;
  return {
    duration_s: (total * laps) / speed_m_s,
    at(t_s: number): Pose {
      let d = Math.min(Math.max(t_s, 0) * speed_m_s, total * laps - 1e-9);
      d = d % total;
      let k = seg.length - 1;
      for (let i = 0; i < seg.length; i++) if (d < seg[i].s0 + seg[i].len) { k = i; break; }
      const g = seg[k];
      const u = d - g.s0;
      return { x_m: g.a.x_m + g.ux * u, y_m: g.a.y_m + g.uy * u, z_m: 0, heading_rad: Math.atan2(g.uy, g.ux) };
    },
  };
}

/** A rectangle around a block centred at c (w east-west, h north-south), `gap_m` off its faces. */
export function aroundBlock(c: { x_m: number; y_m: number }, w: number, h: number, gap_m: number, speed_m_s: number, laps = 1): Trajectory {
  const x0 = c.x_m - w / 2 - gap_m, x1 = c.x_m + w / 2 + gap_m;
  const y0 = c.y_m - h / 2 - gap_m, y1 = c.y_m + h / 2 + gap_m;
  return polyline([{ x_m: x0, y_m: y0 }, { x_m: x1, y_m: y0 }, { x_m: x1, y_m: y1 }, { x_m: x0, y_m: y1 }, { x_m: x0, y_m: y0 }], speed_m_s, laps);
}

export interface ScenarioSpec {
  name: string;
  sources: SimSource[];
  trajectory: Trajectory;
  /** Soil activity relative to the default (K 2 %, U 2.5 ppm, Th 9 ppm). */
  backgroundScale?: number;
  dt_s?: number;
  seed: number;
  detectors?: SimDetector[];
  /** Window counted (default the first source's nuclide, or gross counts when there is none). */
  nuclide?: string;
}

export interface Scenario {
  spec: ScenarioSpec;
  scene: Scene;
  detectors: SimDetector[];
  measurements: Measurement[];
  input: DriveInput;
  /** Truth in the localizer's terms: window cps at 1 m of the reference detector, background per detector in the window. */
  truth: { sources: (PointSource & { nuclide: string; activity_Bq: number })[]; background_cps: Record<string, number> };
}

/** Simulates a scenario and converts it as the CLI would (ROI of the nuclide), with the truth alongside. */
export function buildScenario(spec: ScenarioSpec): Scenario {
  const detectors = spec.detectors ?? vehicleDetectors();
  const k = spec.backgroundScale ?? 1;
  const scene: Scene = { sources: spec.sources, background: { K_pct: 2 * k, U_ppm: 2.5 * k, Th_ppm: 9 * k }, origin: { ...ORIGIN } };
  const measurements = simulateDrive(scene, detectors, spec.trajectory, { dt_s: spec.dt_s ?? 1, seed: spec.seed });
  const nuclide = spec.nuclide ?? spec.sources[0]?.nuclide ?? 'Cs137';
  const models = Object.fromEntries(detectors.map((d) => [d.id, d.model]));
  const input = driveInput(measurements, { nuclide, detectorModels: models, origin: { ...ORIGIN }, source: spec.name });
  const ref = detectors.find((d) => d.id === input.referenceDetector)!;
  const refWindow = input.detectors.find((d) => d.id === ref.id)!.window_keV!;
  const refEff = windowEfficiency_cm2(ref.model, nuclide, refWindow[0], refWindow[1]);
  const mu = input.model.mu_per_m;
  const sources = spec.sources.map((s) => {
    let shield = 1;
    for (const sh of s.shielding ?? []) shield *= transmission(sh.material as Material, sh.thickness_cm, input.model.energy_keV);
    const cps = s.nuclide === nuclide ? (s.activity_Bq * refEff * Math.exp(-mu) * shield) / (4 * Math.PI * 1e4) : 0;
    return { ...s.position, cps_at_1m: cps, nuclide: s.nuclide, activity_Bq: s.activity_Bq };
  });
  const background_cps: Record<string, number> = {};
  for (const d of detectors) {
    const w = input.detectors.find((x) => x.id === d.id)?.window_keV;
    if (w === undefined) continue;
    const z = detectorPosition(d, { x_m: 0, y_m: 0, z_m: 0 }).z_m;
    const rates = naturalBackgroundRate(d.model, { nChannels: d.nChannels, keVPerChannel: d.keVPerChannel, K_pct: 2 * k, U_ppm: 2.5 * k, Th_ppm: 9 * k, height_m: Math.round(z * 10) / 10 });
    const lo = Math.round(w[0] / d.keVPerChannel);
    const hi = Math.round(w[1] / d.keVPerChannel);
    let sum = 0;
    for (let ch = lo; ch < hi; ch++) sum += rates[ch];
    background_cps[d.id] = sum;
  }
  return { spec, scene, detectors, measurements, input, truth: { sources: sources.filter((s) => s.cps_at_1m > 0), background_cps } };
}

const BLOCK = { x_m: 0, y_m: 0 };
const STEEL = [{ material: 'steel', thickness_cm: 0.2 }];

/**
 * The evaluation set: 24 drives (rectangles around a 12 m x 30 m block of containers, circles, passes on both
 * sides), one Cs-137 or Co-60 source 0.5-7 m high inside the block behind a container wall, 10-300 MBq,
 * background 0.5-2 times the default soil. Every drive sees the source from more than one side, so a mirror image
 * is ruled out and the Cramer-Rao bound is the right yardstick.
 */
export function evaluationSpecs(): ScenarioSpec[] {
  const specs: ScenarioSpec[] = [];
  const heights = [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.0];
  const acts = [20e6, 50e6, 100e6, 300e6];
  const bgs = [0.5, 1, 1.5, 2];
  for (let i = 0; i < 24; i++) {
    const z = heights[i % heights.length];
    const A = acts[i % acts.length];
    const bg = bgs[Math.floor(i / 3) % bgs.length];
    const nuclide = i % 5 === 4 ? 'Co60' : 'Cs137';
    const pos = { x_m: -4 + ((i * 37) % 9), y_m: -12 + ((i * 53) % 25), z_m: z };
    const kind = i % 3;
    const trajectory =
      kind === 0
        ? aroundBlock(BLOCK, 12, 30, 4, 4, 2)
        : kind === 1
          ? loop({ center: { x_m: 18, y_m: 0 }, radius_m: 10, speed_m_s: 4, laps: 2 })
          : polyline([{ x_m: -10, y_m: -40 }, { x_m: -10, y_m: 40 }, { x_m: 10, y_m: 40 }, { x_m: 10, y_m: -40 }], 4);
    specs.push({
      name: `${['block', 'circle', 'two-sides'][kind]}-${String(i + 1).padStart(2, '0')}`,
      sources: [{ nuclide, activity_Bq: nuclide === 'Co60' ? A / 2 : A, position: pos, shielding: STEEL }],
      trajectory,
      backgroundScale: bg,
      seed: 1000 + i,
    });
  }
  return specs;
}

/** Two Cs-137 sources 10 m apart in one block, driven around twice. */
export function twoSourceSpec(seed = 7): ScenarioSpec {
  return {
    name: 'two-sources',
    sources: [
      { nuclide: 'Cs137', activity_Bq: 100e6, position: { x_m: -2, y_m: -5, z_m: 1.5 }, shielding: STEEL },
      { nuclide: 'Cs137', activity_Bq: 100e6, position: { x_m: 2, y_m: 4.2, z_m: 4 }, shielding: STEEL },
    ],
    trajectory: aroundBlock(BLOCK, 12, 30, 4, 4, 2),
    seed,
  };
}

/** No source at all (background only), around the block. */
export function noSourceSpec(seed = 11): ScenarioSpec {
  return { name: 'no-source', sources: [], nuclide: 'Cs137', trajectory: aroundBlock(BLOCK, 12, 30, 4, 4, 2), seed };
}

/** One straight pass along the block: a source 8 m off the lane has a mirror image on the other side. */
export function straightPassSpec(seed = 13): ScenarioSpec {
  return {
    name: 'straight-pass',
    sources: [{ nuclide: 'Cs137', activity_Bq: 200e6, position: { x_m: 5, y_m: 8, z_m: 2 }, shielding: STEEL }],
    trajectory: straightPass({ speed_m_s: 4, offset_m: 0, from_m: -60, to_m: 60 }),
    seed,
  };
}

/** A 10-minute drive (600 one-second measurements): laps around the block (for the bench). */
export function tenMinuteSpec(seed = 17): ScenarioSpec {
  return {
    name: 'ten-minutes',
    sources: [{ nuclide: 'Cs137', activity_Bq: 50e6, position: { x_m: 3, y_m: -6, z_m: 3 }, shielding: STEEL }],
    trajectory: aroundBlock(BLOCK, 12, 30, 4, 4, 600 / (116 / 4)),
    seed,
  };
}
