// A simulated vehicle spectrometer that drives a radiation scene in (accelerated) real time and writes N42 files into a folder, as an instrument does.
//
// Each step of `dt_s` becomes one N42-2012 file holding one measurement with a spectrum per detector, written
// atomically (hidden temporary name, then rename) and named `<idPrefix><step, 6 digits>.n42`, so the names sort
// in time order. Steps are paced on a monotonic schedule (step k due at k·dt_s/speedup after start), so a slow
// write delays one file, not all that follow. The seeded generator and the step counter survive stop()/start():
// a restarted simulator continues the same drive.

import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { Type, type Static } from '@sinclair/typebox';
import type { Logger } from '../../common/log.js';
import { MATERIALS } from '../../analysis/radiation/attenuation.js';
import { DETECTORS } from '../../analysis/radiation/dose.js';
import { nuclideIds } from '../../analysis/radiation/nuclides.js';
import { type DriveOptions, type Trajectory, isoAt, loop, measurementOf, stepId, straightPass } from '../../analysis/radiation/sim/drive.js';
import { writeMeasurementN42 } from './files.js';
import { type Scene, type SimDetector, mulberry32 } from '../../analysis/radiation/sim/scene.js';
import type { Measurement } from '../../analysis/radiation/spectrum.js';
import type { Component, ComponentContext, ComponentSpec } from '../../contract/component.js';
import { optionError, parseDeviceOptions, stringEnum } from '../../contract/options.js';

export interface N42SimulatorOptions {
  /** Folder the files are written into (created if missing). */
  dir: string;
  scene: Scene;
  detectors: SimDetector[];
  trajectory: Trajectory;
  /** Acquisition time per file (s). */
  dt_s: number;
  seed: number;
  /** Simulated seconds per wall-clock second (default 1: real time). */
  speedup?: number;
  /** Drive the trajectory again when it ends (default false: stop writing). */
  repeat?: boolean;
  /** Stop after this many files (default: the trajectory once, or forever with `repeat`). */
  count?: number;
  /** Start time of the first measurement (default: the wall clock when first started). */
  startTime?: string;
  temperature_C?: DriveOptions['temperature_C'];
  idPrefix?: string;
}

export interface N42SimulatorEvents {
  written: [{ path: string; measurement: Measurement }];
  /** The drive (or `count`) is done; no more files will come. */
  finished: [];
}

export class N42Simulator extends EventEmitter<N42SimulatorEvents> implements Component {
  readonly kind = 'device' as const;
  private readonly rng: () => number;
  private step = 0;
  private startTime: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private busy: Promise<void> | undefined;
  private running = false;
  private ctx: ComponentContext | undefined;
  private readonly steps: number;
  private readonly limit: number;

  constructor(
    readonly name: string,
    readonly options: N42SimulatorOptions,
  ) {
    super();
    if (!(options.dt_s > 0) || !Number.isFinite(options.dt_s)) throw new RangeError(`dt_s must be a finite time > 0, got ${options.dt_s}`);
    const speedup = options.speedup ?? 1;
    if (!(speedup > 0) || !Number.isFinite(speedup)) throw new RangeError(`speedup must be a finite number > 0, got ${speedup}`);
    this.rng = mulberry32(options.seed);
    this.steps = Math.max(1, Math.floor(options.trajectory.duration_s / options.dt_s + 1e-9));
    this.limit = options.count ?? (options.repeat === true ? Infinity : this.steps);
    this.startTime = options.startTime;
  }

  /** Files written so far (across restarts). */
  written(): number {
    return this.step;
  }

  /** Files this simulator will write in all (Infinity when it repeats without a count). */
  total(): number {
    return this.limit;
  }

  private get log(): Logger | undefined {
    return this.ctx?.log;
  }

  async start(ctx?: ComponentContext): Promise<void> {
    if (this.running) await this.stop();
    this.ctx = ctx;
    await mkdir(this.options.dir, { recursive: true });
    this.startTime ??= new Date().toISOString();
    this.running = true;
    const t0 = performance.now();
    const first = this.step;
    const period_ms = (this.options.dt_s * 1000) / (this.options.speedup ?? 1);
    const next = (): void => {
      if (!this.running) return;
      if (this.step >= this.limit) {
        this.running = false;
        this.emit('finished');
        return;
      }
      const due = t0 + (this.step - first + 1) * period_ms;
      this.timer = setTimeout(() => {
        this.busy = this.writeStep()
          .then(next)
          .catch((err: unknown) => this.failWith(err))
          .finally(() => {
            this.busy = undefined;
          });
      }, Math.max(0, due - performance.now()));
    };
    next();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.busy;
  }

  /** Resolves once every file has been written (never, for a repeating simulator without a count). */
  finished(): Promise<void> {
    if (this.step >= this.limit) return Promise.resolve();
    return new Promise((resolve) => this.once('finished', resolve));
  }

  private failWith(err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err));
    this.running = false;
    this.log?.error({ err: e.message, dir: this.options.dir }, 'N42 simulator: cannot write');
    if (this.ctx && !this.ctx.signal.aborted) this.ctx.fail(e);
  }

  private async writeStep(): Promise<void> {
    const o = this.options;
    const k = this.step; // 0-based step of the whole drive
    const T = k * o.dt_s;
    const tInLap = (k % this.steps) * o.dt_s;
    const pose = { ...o.trajectory.at(tInLap + o.dt_s / 2), t_s: T + o.dt_s / 2 };
    const measurement = measurementOf(o.scene, o.detectors, pose, { dt_s: o.dt_s, temperature_C: o.temperature_C }, this.rng, {
      id: stepId(o.idPrefix ?? 'm', k + 1),
      startTime: isoAt(this.startTime ?? new Date(0).toISOString(), T),
    });
    const path = await writeMeasurementN42(o.dir, measurement, { detectors: o.detectors });
    this.step = k + 1;
    this.emit('written', { path, measurement });
  }
}

// ───────────────────────────── as a configured component ─────────────────────────────

const Vec3Schema = Type.Object(
  { x_m: Type.Number(), y_m: Type.Number(), z_m: Type.Number({ default: 0 }) },
  { additionalProperties: false },
);

export const N42SimulatorOptionsSchema = Type.Object(
  {
    dir: Type.String({ minLength: 1, description: 'folder to write the N42 files into (the n42-folder driver watches it)' }),
    dt_s: Type.Number({ minimum: 0.05, maximum: 60, default: 0.5, description: 'acquisition time per file: 0.1-1 s for 1-10 Hz' }),
    speedup: Type.Number({ minimum: 0.01, maximum: 1000, default: 1, description: 'simulated seconds per wall-clock second' }),
    seed: Type.Integer({ minimum: 0, maximum: 0xffffffff, default: 1 }),
    repeat: Type.Boolean({ default: true, description: 'drive the trajectory again and again' }),
    count: Type.Optional(Type.Integer({ minimum: 1, description: 'stop after this many files' })),
    origin: Type.Object(
      { lat: Type.Number({ minimum: -90, maximum: 90 }), lon: Type.Number({ minimum: -180, maximum: 180 }) },
      { additionalProperties: false, default: { lat: 51.95, lon: 4.05 } },
    ),
    background: Type.Object(
      {
        K_pct: Type.Number({ minimum: 0, maximum: 20, default: 2 }),
        U_ppm: Type.Number({ minimum: 0, maximum: 1000, default: 2.5 }),
        Th_ppm: Type.Number({ minimum: 0, maximum: 1000, default: 9 }),
      },
      { additionalProperties: false, default: {} },
    ),
    sources: Type.Array(
      Type.Object(
        {
          nuclide: stringEnum(nuclideIds()),
          activity_Bq: Type.Number({ minimum: 0 }),
          position: Vec3Schema,
          shielding: Type.Array(
            Type.Object({ material: stringEnum(MATERIALS), thickness_cm: Type.Number({ minimum: 0, maximum: 1000 }) }, { additionalProperties: false }),
            { default: [] },
          ),
        },
        { additionalProperties: false },
      ),
      { default: [{ nuclide: 'Cs137', activity_Bq: 3.7e8, position: { x_m: 0, y_m: 0, z_m: 1 }, shielding: [] }] },
    ),
    detectors: Type.Array(
      Type.Object(
        {
          id: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9._-]{0,63}$' }),
          model: stringEnum(Object.keys(DETECTORS)),
          offset: Vec3Schema,
          nChannels: Type.Integer({ minimum: 64, maximum: 16384, default: 1024 }),
          keVPerChannel: Type.Number({ exclusiveMinimum: 0, maximum: 100, default: 3 }),
          deadTime_s: Type.Number({ minimum: 0, maximum: 0.001, default: 5e-6 }),
          gainDriftPerDegC: Type.Number({ minimum: -0.05, maximum: 0.05, default: 0 }),
        },
        { additionalProperties: false },
      ),
      {
        minItems: 1,
        maxItems: 16,
        // A vehicle with a 2x4x16 log on each side (0.9 m up, facing out) and a 3x3 on the roof.
        default: [
          { id: 'left', model: 'NaI-2x4x16', offset: { x_m: 0, y_m: 1, z_m: 0.9 } },
          { id: 'right', model: 'NaI-2x4x16', offset: { x_m: 0, y_m: -1, z_m: 0.9 } },
          { id: 'roof', model: 'NaI-3x3', offset: { x_m: -1, y_m: 0, z_m: 2.6 } },
        ],
      },
    ),
    trajectory: Type.Object(
      {
        kind: stringEnum(['straight', 'loop'] as const),
        speed_m_s: Type.Number({ exclusiveMinimum: 0, maximum: 50 }),
        offset_m: Type.Optional(Type.Number({ description: 'straight: lateral position of the lane' })),
        from_m: Type.Optional(Type.Number()),
        to_m: Type.Optional(Type.Number()),
        axis: Type.Optional(stringEnum(['x', 'y'] as const)),
        center: Type.Optional(Type.Object({ x_m: Type.Number(), y_m: Type.Number() }, { additionalProperties: false })),
        radius_m: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
      },
      { additionalProperties: false, default: { kind: 'straight', speed_m_s: 5, offset_m: -4 } },
    ),
    temperature: Type.Optional(
      Type.Object(
        {
          mean_C: Type.Number({ minimum: -60, maximum: 80 }),
          amplitude_C: Type.Number({ minimum: 0, maximum: 60, default: 0 }),
          period_s: Type.Number({ exclusiveMinimum: 0, default: 3600 }),
        },
        { additionalProperties: false, description: 'detector temperature: mean + amplitude·sin(2πt/period)' },
      ),
    ),
  },
  { additionalProperties: false },
);
export type N42SimulatorConfig = Static<typeof N42SimulatorOptionsSchema>;

/** The trajectory a simulator's options describe (shared by the N42 and DP5 simulators); errors name the field. */
export function trajectoryOption(spec: ComponentSpec, t: N42SimulatorConfig['trajectory']): Trajectory {
  if (t.kind === 'straight') {
    if (t.offset_m === undefined) throw optionError(spec, 'trajectory/offset_m', 'required for a straight trajectory');
    return straightPass({ speed_m_s: t.speed_m_s, offset_m: t.offset_m, from_m: t.from_m, to_m: t.to_m, axis: t.axis });
  }
  if (t.center === undefined) throw optionError(spec, 'trajectory/center', 'required for a loop trajectory');
  if (t.radius_m === undefined) throw optionError(spec, 'trajectory/radius_m', 'required for a loop trajectory');
  return loop({ center: t.center, radius_m: t.radius_m, speed_m_s: t.speed_m_s });
}

/** Factory for the component registry: a `devices[]` entry of type n42-simulator. */
export function createN42Simulator(spec: ComponentSpec): N42Simulator {
  const o = parseDeviceOptions(N42SimulatorOptionsSchema, spec);
  const trajectory = trajectoryOption(spec, o.trajectory);
  const ids = new Set<string>();
  o.detectors.forEach((d, i) => {
    if (ids.has(d.id)) throw optionError(spec, `detectors/${i}/id`, `"${d.id}" is used by another detector`);
    ids.add(d.id);
  });
  const temp = o.temperature;
  return new N42Simulator(spec.name, {
    dir: o.dir,
    dt_s: o.dt_s,
    speedup: o.speedup,
    seed: o.seed,
    repeat: o.repeat,
    ...(o.count !== undefined ? { count: o.count } : {}),
    scene: { origin: o.origin, background: o.background, sources: o.sources },
    detectors: o.detectors.map((d) => ({ ...d, model: DETECTORS[d.model] })),
    trajectory,
    ...(temp !== undefined ? { temperature_C: (t_s: number) => temp.mean_C + temp.amplitude_C * Math.sin((2 * Math.PI * t_s) / temp.period_s) } : {}),
  });
}
