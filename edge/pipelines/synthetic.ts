// A stand-in summary producer for the demo and the runtime tests: plausible, schema-valid bodies from a seeded PRNG.
import { randomBytes } from 'node:crypto';
import { mulberry32 } from '../../common/random.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { Type, type Static, type TUnsafe } from '@sinclair/typebox';
import { Ajv, type ErrorObject } from 'ajv';
import { ConfigError } from '../../common/errors.js';
import { formatErrors, type BodyOf, type Position } from '../../protocol/index.js';
import type { Component, ComponentContext, ComponentSpec, SummaryKind } from '../../contract/component.js';

/** An `enum` rather than a union of literals, so a wrong value reads "expected one of [...]" on one line. */
function stringEnum<T extends string>(values: readonly T[]): TUnsafe<T> {
  return Type.Unsafe<T>({ type: 'string', enum: [...values] });
}

const SYNTHETIC_KINDS = ['rad', 'alarm', 'source', 'xray', 'event'] as const satisfies readonly SummaryKind[];
type SyntheticKind = (typeof SYNTHETIC_KINDS)[number];

export const SyntheticOptionsSchema = Type.Object(
  {
    rate_hz: Type.Number({ exclusiveMinimum: 0, maximum: 1000, default: 1, description: 'summaries per second' }),
    detectors: Type.Integer({ minimum: 1, maximum: 64, default: 4, description: 'gamma detectors in a rad summary' }),
    alarmEvery: Type.Integer({ minimum: 0, default: 0, description: 'every Nth summary is an alarm; 0 = never' }),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 0xffffffff, description: 'PRNG seed; random when absent' })),
    origin: Type.Object(
      {
        lat: Type.Number({ minimum: -90, maximum: 90 }),
        lon: Type.Number({ minimum: -180, maximum: 180 }),
      },
      { additionalProperties: false, default: { lat: 51.95, lon: 4.05 }, description: 'centre of the loop the vehicle drives' },
    ),
    count: Type.Optional(Type.Integer({ minimum: 0, description: 'stop emitting after this many summaries' })),
    kinds: Type.Array(stringEnum(SYNTHETIC_KINDS), { minItems: 1, uniqueItems: true, default: ['rad'] }),
  },
  { additionalProperties: false },
);
export type SyntheticOptions = Static<typeof SyntheticOptionsSchema>;

const ajv = new Ajv({ allErrors: true, strict: true, useDefaults: true });
const validateOptions = ajv.compile(SyntheticOptionsSchema);

function optionProblems(root: string, errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) =>
    // Name the offending field itself, not the object that holds it.
    e.keyword === 'additionalProperties'
      ? `${root}${e.instancePath}/${(e.params as { additionalProperty: string }).additionalProperty}: unexpected property`
      : (formatErrors([e], root)[0] ?? `${root}: invalid`),
  );
}

/** Validates `spec.options`, filling defaults; throws ConfigError naming `pipelines/<name>/options/<field>`. */
export function parseSyntheticOptions(spec: ComponentSpec): SyntheticOptions {
  const value: unknown = structuredClone(spec.options ?? {});
  if (!validateOptions(value)) {
    throw new ConfigError(`component "${spec.name}" (${spec.type})`, optionProblems(`pipelines/${spec.name}/options`, validateOptions.errors));
  }
  return value as SyntheticOptions;
}


const M_PER_DEG_LAT = 111_320;
/** Loop the vehicle drives around the origin, and its speed (an 18 km/h patrol through a port area). */
const LOOP_RADIUS_M = 250;
const SPEED_M_S = 5;
/** Background of a 2x4x16 inch NaI(Tl) log at 1 m above ground, and the matching ambient dose rate. */
const BACKGROUND_CPS = 200;
const BACKGROUND_USV_H = 0.08;
const GM_BACKGROUND_CPS = 0.4;
/** A Cs-137 source parked 4 m off the loop, so the rates rise once a lap as a real pass-by would. */
const HOTSPOT_ANGLE = Math.PI / 2;
const HOTSPOT_OFFSET_M = 4;
const HOTSPOT_CPS_M2 = 3000;
const HOTSPOT_ACTIVITY_BQ = 1.2e8;
/** Cs-137 ambient dose-rate constant, µSv/h per MBq at 1 m. */
const CS137_USV_H_PER_MBQ = 0.092;

const XRAY_CLASSES = ['knife', 'gun', 'battery', 'liquid', 'cigarettes', 'currency'] as const;
const EVENT_TYPES = ['abandoned_bag', 'bag_switch', 'companions', 'dwell'] as const;

type Summary = { [K in SummaryKind]: { kind: K; body: BodyOf<K>; position?: Position } }[SummaryKind];

export interface SyntheticComponent extends Component {
  /** Summaries whose emit() has resolved so far (across restarts). */
  emitted(): number;
}

class SyntheticPipeline implements SyntheticComponent {
  readonly kind = 'pipeline' as const;
  private readonly random: () => number;
  private sent = 0;
  private tick = 0;
  private cycle = 0;
  private stopper: AbortController | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    readonly name: string,
    private readonly opts: SyntheticOptions,
  ) {
    this.random = mulberry32(opts.seed ?? randomBytes(4).readUInt32LE(0));
  }

  emitted(): number {
    return this.sent;
  }

  async start(ctx: ComponentContext): Promise<void> {
    if (this.loop) await this.stop();
    const stopper = new AbortController();
    this.stopper = stopper;
    const signal = AbortSignal.any([ctx.signal, stopper.signal]);
    this.loop = this.run(ctx, signal).catch((err: unknown) => {
      // An emit refused because the runtime is shutting down is not a crash.
      if (!signal.aborted) ctx.fail(err instanceof Error ? err : new Error(String(err)));
    });
  }

  async stop(): Promise<void> {
    this.stopper?.abort();
    await this.loop;
    this.loop = undefined;
    this.stopper = undefined;
  }

  private async run(ctx: ComponentContext, signal: AbortSignal): Promise<void> {
    const period_ms = 1000 / this.opts.rate_hz;
    let due = performance.now();
    while (!signal.aborted && (this.opts.count === undefined || this.sent < this.opts.count)) {
      const next = this.next();
      if (next.position) ctx.setPosition?.(next.position);
      // Awaited one at a time: the outbox's backpressure slows this loop down rather than piling up promises.
      await ctx.emit(next.kind, next.body);
      this.sent++;
      due += period_ms;
      const now = performance.now();
      // After a stall (a slow disk) carry on at the nominal rate instead of bursting to catch up.
      if (due < now - period_ms) due = now;
      if (due > now) {
        try {
          await sleep(due - now, undefined, { signal });
        } catch (err) {
          if (signal.aborted) return;
          throw err;
        }
      }
    }
  }

  /** The next summary: every `alarmEvery`th is an alarm, the others cycle through `kinds`. */
  private next(): Summary {
    this.tick++;
    const { alarmEvery, kinds } = this.opts;
    const kind: SyntheticKind =
      alarmEvery > 0 && this.tick % alarmEvery === 0 ? 'alarm' : (kinds[this.cycle++ % kinds.length] ?? 'rad');
    const position = this.position();
    switch (kind) {
      case 'rad':
        return { kind, body: this.rad(position), position };
      case 'alarm':
        return { kind, body: this.alarm(position), position };
      case 'source':
        return { kind, body: this.source() };
      case 'xray':
        return { kind, body: this.xray() };
      case 'event':
        return { kind, body: this.event() };
      default: {
        const never: never = kind;
        throw new Error(`synthetic: unknown kind ${String(never)}`);
      }
    }
  }

  private gauss(): number {
    const u = 1 - this.random();
    const v = this.random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Poisson counts: exact (Knuth) for small means, the normal approximation above 30 where it is close enough. */
  private poisson(mean: number): number {
    if (mean <= 0) return 0;
    if (mean < 30) {
      const limit = Math.exp(-mean);
      let k = 0;
      let p = this.random();
      while (p > limit) {
        k++;
        p *= this.random();
      }
      return k;
    }
    return Math.max(0, Math.round(mean + Math.sqrt(mean) * this.gauss()));
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)] as T;
  }

  private round(x: number, digits: number): number {
    const f = 10 ** digits;
    return Math.round(x * f) / f;
  }

  private get live_s(): number {
    return 1 / this.opts.rate_hz;
  }

  /** Where the vehicle is on its loop at this tick (time comes from the tick count, not the clock). */
  private angle(): number {
    return ((this.tick * this.live_s * SPEED_M_S) / LOOP_RADIUS_M) % (2 * Math.PI);
  }

  private offset(north_m: number, east_m: number): { lat: number; lon: number } {
    const { lat, lon } = this.opts.origin;
    return {
      lat: this.round(lat + north_m / M_PER_DEG_LAT, 7),
      lon: this.round(lon + east_m / (M_PER_DEG_LAT * Math.cos((lat * Math.PI) / 180)), 7),
    };
  }

  private position(): Position {
    const a = this.angle();
    const noise_m = 1.5;
    return {
      ...this.offset(LOOP_RADIUS_M * Math.cos(a) + noise_m * this.gauss(), LOOP_RADIUS_M * Math.sin(a) + noise_m * this.gauss()),
      height_m: this.round(2.1 + 0.3 * this.gauss(), 2),
      fix: 1,
      hdop: this.round(0.9 + 0.2 * this.random(), 2),
    };
  }

  /** Extra counts from the parked source: inverse square with distance along the loop, plus the side offset. */
  private hotspotCps(): number {
    let d_angle = Math.abs(this.angle() - HOTSPOT_ANGLE);
    d_angle = Math.min(d_angle, 2 * Math.PI - d_angle);
    const along_m = d_angle * LOOP_RADIUS_M;
    return HOTSPOT_CPS_M2 / (along_m * along_m + HOTSPOT_OFFSET_M * HOTSPOT_OFFSET_M);
  }

  private rad(position: Position): BodyOf<'rad'> {
    const n = this.opts.detectors;
    const live_s = this.live_s;
    const source = this.hotspotCps();
    const detectors = Array.from({ length: n }, (_, i) => {
      const height_m = n === 1 ? 1 : this.round(0.5 + (1.5 * i) / (n - 1), 2);
      // Terrestrial background falls off a little with height above the road.
      const mean_cps = BACKGROUND_CPS * (1.1 - 0.1 * height_m) + source;
      const cps = this.round(this.poisson(mean_cps * live_s) / live_s, 2);
      return { id: `nai-${i + 1}`, cps, doseRate_uSv_h: this.round((BACKGROUND_USV_H * cps) / BACKGROUND_CPS, 4), height_m };
    });
    const gross_cps = this.round(detectors.reduce((s, d) => s + d.cps, 0), 2);
    return {
      live_s,
      gross_cps,
      doseRate_uSv_h: this.round(Math.max(0, (BACKGROUND_USV_H * gross_cps) / (BACKGROUND_CPS * n) * (1 + 0.03 * this.gauss())), 4),
      gm_cps: this.round(this.poisson(GM_BACKGROUND_CPS * live_s) / live_s, 2),
      detectors,
      position,
    };
  }

  private alarm(position: Position): BodyOf<'alarm'> {
    const threshold = 5;
    const nuclides: BodyOf<'alarm'>['nuclides'] = [
      { nuclide: 'Cs137', confidence: this.round(0.8 + 0.19 * this.random(), 3), category: 'industrial' },
    ];
    if (this.random() < 0.3) nuclides.push({ nuclide: 'K40', confidence: this.round(0.2 + 0.3 * this.random(), 3), category: 'NORM' });
    return {
      alarmId: `${this.name}-a${this.tick}`,
      test: 'gross_count_ksigma',
      detector: `nai-${1 + Math.floor(this.random() * this.opts.detectors)}`,
      statistic: this.round(threshold + 1 + 4 * this.random(), 3),
      threshold,
      gross_cps: this.round(BACKGROUND_CPS * this.opts.detectors * (1.4 + 0.5 * this.random()), 2),
      doseRate_uSv_h: this.round(BACKGROUND_USV_H * (1.5 + this.random()), 4),
      nuclides,
      position,
    };
  }

  private source(): BodyOf<'source'> {
    const at = this.offset(
      (LOOP_RADIUS_M + HOTSPOT_OFFSET_M) * Math.cos(HOTSPOT_ANGLE) + this.gauss(),
      (LOOP_RADIUS_M + HOTSPOT_OFFSET_M) * Math.sin(HOTSPOT_ANGLE) + this.gauss(),
    );
    const activity_Bq = this.round(HOTSPOT_ACTIVITY_BQ * (1 + 0.15 * this.gauss()), 0);
    return {
      estimateId: `${this.name}-s${this.tick}`,
      sources: [
        {
          ...at,
          height_m: this.round(1 + 0.2 * this.gauss(), 2),
          nuclide: 'Cs137',
          cps_at_1m: this.round(HOTSPOT_CPS_M2 * (1 + 0.1 * this.gauss()), 1),
          activity_Bq: Math.max(0, activity_Bq),
          doseRate_uSv_h_at_1m: this.round((Math.max(0, activity_Bq) / 1e6) * CS137_USV_H_PER_MBQ, 3),
          ci95_m: this.round(1.5 + 2 * this.random(), 2),
          ambiguous: this.random() < 0.1,
        },
      ],
    };
  }

  private xray(): BodyOf<'xray'> {
    const r = this.random();
    const decision = r < 0.8 ? 'clear' : r < 0.95 ? 'review' : 'inspect';
    const detections: BodyOf<'xray'>['detections'] = [];
    const reasons: string[] = [];
    if (decision !== 'clear') {
      const cls = this.pick(XRAY_CLASSES);
      const score = this.round(decision === 'inspect' ? 0.85 + 0.15 * this.random() : 0.5 + 0.35 * this.random(), 3);
      detections.push({ class: cls, score });
      reasons.push(`${cls} score ${score} at or above the ${decision} threshold ${decision === 'inspect' ? 0.85 : 0.5}`);
    }
    return {
      scanId: `${this.name}-x${this.tick}`,
      decision,
      reasons,
      detections,
      latency_ms: this.round(40 + 80 * this.random(), 1),
    };
  }

  private event(): BodyOf<'event'> {
    const w = this.round(40 + 160 * this.random(), 1);
    const h = this.round(60 + 240 * this.random(), 1);
    const first = Math.floor(this.random() * 10_000);
    const tracks = 1 + Math.floor(this.random() * 3);
    return {
      eventId: `${this.name}-e${this.tick}`,
      camera: `cam-${1 + Math.floor(this.random() * 4)}`,
      type: this.pick(EVENT_TYPES),
      trackIds: Array.from({ length: tracks }, (_, i) => first + i),
      bbox: [this.round((1920 - w) * this.random(), 1), this.round((1080 - h) * this.random(), 1), w, h],
      confidence: this.round(0.6 + 0.4 * this.random(), 3),
    };
  }
}

export function createSynthetic(spec: ComponentSpec): SyntheticComponent {
  return new SyntheticPipeline(spec.name, parseSyntheticOptions(spec));
}
