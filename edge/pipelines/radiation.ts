// The vehicle/handheld radiation pipeline: bus readings into the radiation chain (analysis/radiation/chain.ts, the
// same chain `customs-edge rad alarm` runs), its `rad` summaries and `alarm` events out through the outbox; the
// optional ONNX classifier and the N42 archive of alarm spectra are the parts that need I/O and live here.
//
// Readings are handled in arrival order. Before a reading that closes an interval, the alarm thresholds that interval
// needs are solved off the event loop if the node's table lacks them; readings that arrive meanwhile wait in order.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { parseDeviceOptions, stringEnum } from '../../contract/options.js';
import { DETECTOR_ID_PATTERN } from '../../protocol/index.js';
import type { DetectorModel } from '../../analysis/radiation/dose.js';
import { DETECTOR_MODEL_DESCRIPTION, detectorModelOption } from './detector-option.js';
import { writeN42 } from '../../analysis/radiation/formats/index.js';
import { NuclideClassifier, type Classification } from '../inference/nuclide-classifier.js';
import type { EnergyCalibration, Measurement } from '../../analysis/radiation/spectrum.js';
import { CHAIN_DEFAULTS, RadiationChain, type ChainAlarm, type ChainOptions, type ChainOutput } from '../../analysis/radiation/chain.js';
import { nodeThresholds, solveOffLoop } from '../radiation/thresholds.js';
import type { ActiveCalibration, Component, ComponentContext, ComponentSpec, Readings } from '../../contract/component.js';

export const RadiationOptionsSchema = Type.Object(
  {
    detectors: Type.Array(
      Type.Object(
        {
          id: Type.String({ pattern: DETECTOR_ID_PATTERN, description: 'detector id as the spectrometer driver names it (letters, digits, _ . : -, at most 32; it becomes an InfluxDB tag)' }),
          model: Type.String({
            minLength: 1,
            description: DETECTOR_MODEL_DESCRIPTION,
          }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1 },
    ),
    interval_s: Type.Number({ exclusiveMinimum: 0, default: CHAIN_DEFAULTS.interval_s, description: 'summary and alarm-test interval (data time)' }),
    falseAlarmRate_per_h: Type.Number({ exclusiveMinimum: 0, default: CHAIN_DEFAULTS.falseAlarmRate_per_h, description: 'alarms per hour of driving on background' }),
    gainStabilisation: Type.Boolean({ default: CHAIN_DEFAULTS.gainStabilisation, description: 'follow K-40/Tl-208 to correct temperature gain drift' }),
    identify: Type.Boolean({ default: CHAIN_DEFAULTS.identify, description: 'identify nuclides when an alarm ends' }),
    identifyMethod: stringEnum(['template', 'classifier', 'both'] as const, {
      default: 'template',
      description: 'template: full-spectrum Poisson fit; classifier: the shipped ONNX model; both: the fit reports, the classifier result rides along',
    }),
    classifierDir: Type.Optional(Type.String({ minLength: 1, description: 'folder with model-card.json (default: the shipped nuclide classifier)' })),
    maxAlarm_s: Type.Number({ exclusiveMinimum: 0, default: CHAIN_DEFAULTS.maxAlarm_s, description: 'identify and report an alarm after this long even if it goes on' }),
    alarmEndHold_s: Type.Number({ minimum: 0, default: CHAIN_DEFAULTS.alarmEndHold_s, description: 'an alarm ends after this long without any test in alarm (one pass, one alarm)' }),
    keVPerChannel: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'calibration for spectra that carry none' })),
    archiveDir: Type.Optional(Type.String({ minLength: 1, description: 'N42 files of alarm measurements are written here' })),
  },
  { additionalProperties: false },
);
export type RadiationOptions = Static<typeof RadiationOptionsSchema>;

type SpectrumReading = Readings['spectrum'][0];

export class RadiationPipeline implements Component {
  readonly kind = 'pipeline' as const;
  readonly name: string;
  private readonly opts: RadiationOptions;
  private ctx: ComponentContext | undefined;
  private chain: RadiationChain;
  private readonly chainOpts: ChainOptions;
  /** Each detector's response, resolved once from its `model` option. */
  private readonly models: ReadonlyMap<string, DetectorModel>;
  private classifier: NuclideClassifier | undefined;
  private lastWarned = new Map<string, number>();
  private listeners: { [K in keyof Readings]?: (...a: Readings[K]) => void } = {};
  /** Readings waiting while thresholds are solved (in arrival order); undefined when none wait. */
  private backlog: (() => void)[] | undefined;
  /** Serialises emits so summaries leave in order and back-pressure reaches the bus handler. */
  private emits: Promise<void> = Promise.resolve();
  private draining: Promise<void> = Promise.resolve();

  constructor(spec: ComponentSpec) {
    this.name = spec.name;
    this.opts = parseDeviceOptions(RadiationOptionsSchema, spec, 'pipelines');
    const detectors = this.opts.detectors.map((d, i) => ({ id: d.id, model: detectorModelOption(spec, `detectors/${i}/model`, d.model) }));
    this.models = new Map(detectors.map((d) => [d.id, d.model]));
    this.chainOpts = {
      detectors,
      interval_s: this.opts.interval_s,
      falseAlarmRate_per_h: this.opts.falseAlarmRate_per_h,
      gainStabilisation: this.opts.gainStabilisation,
      identify: this.opts.identify && this.opts.identifyMethod !== 'classifier',
      maxAlarm_s: this.opts.maxAlarm_s,
      alarmEndHold_s: this.opts.alarmEndHold_s,
      ...(this.opts.keVPerChannel !== undefined ? { keVPerChannel: this.opts.keVPerChannel } : {}),
      alarmIdPrefix: 'node',
      keepMeasurements: this.opts.archiveDir !== undefined,
      keepForeground: this.opts.identify && this.opts.identifyMethod !== 'template',
      thresholds: nodeThresholds,
    };
    this.chain = new RadiationChain(this.chainOpts);
  }

  versions(): { calibration?: Record<string, string>; models: Record<string, string> } {
    const calibration = this.chain.calibrationVersions();
    const models: Record<string, string> = {};
    if (this.opts.identifyMethod !== 'classifier') models['nuclide-id'] = 'template-fit-1';
    // Which response each detector's templates, dose factors and alarms are computed through (a description by name).
    for (const [id, m] of this.models) models[`detector-response:${id}`] = (m.drf ? `drf:${m.name}` : m.name).slice(0, 128);
    if (this.classifier) models['nuclide-classifier'] = `${this.classifier.card.name}-${this.classifier.card.version}`;
    return { ...(Object.keys(calibration).length ? { calibration } : {}), models };
  }

  stats() {
    return { ...this.chain.counters };
  }

  async start(ctx: ComponentContext): Promise<void> {
    this.ctx = ctx;
    if (!ctx.bus) throw new Error(`pipeline ${this.name}: the runtime gave no reading bus`);
    // Alarm ids carry the node's name; the chain is rebuilt with it (a restart starts from fresh state anyway).
    this.chain = new RadiationChain({ ...this.chainOpts, alarmIdPrefix: ctx.node });
    if (this.opts.archiveDir) mkdirSync(this.opts.archiveDir, { recursive: true });
    if (this.opts.identify && this.opts.identifyMethod !== 'template' && !this.classifier) {
      this.classifier = await NuclideClassifier.load(this.opts.classifierDir ? { dir: this.opts.classifierDir } : {});
    }
    this.listeners = {
      calibration: (c) => this.inOrder(() => this.handle(this.chain.calibrate(c), c)),
      spectrum: (r) => this.onSpectrum(r),
      gm: (r) => this.inOrder(() => this.chain.gm(r.cps)),
      gps: (r) => this.inOrder(() => this.chain.gps(r)),
    };
    for (const [k, fn] of Object.entries(this.listeners)) ctx.bus.on(k as keyof Readings, fn as never);
  }

  async stop(): Promise<void> {
    const bus = this.ctx?.bus;
    if (bus) for (const [k, fn] of Object.entries(this.listeners)) bus.off(k as keyof Readings, fn as never);
    this.listeners = {};
    await this.settled();
    await this.classifier?.close();
    this.classifier = undefined;
    this.ctx = undefined;
  }

  /** Resolves once every reading so far is handled and its summaries are in the outbox (tests, orderly shutdown). */
  async settled(): Promise<void> {
    // A reading handled after a solve may start another solve: wait until nothing waits.
    for (;;) {
      const d = this.draining;
      await d;
      if (d === this.draining && !this.backlog) break;
    }
    await this.emits;
  }

  /**
   * Runs now, or after the readings already waiting. Bus listeners run inside the emitting driver's call: an
   * exception must neither reach the driver nor leave the pipeline half-updated and silent. It goes to the
   * supervisor, which restarts the pipeline with fresh state.
   */
  private inOrder(fn: () => void): void {
    if (this.backlog) {
      this.backlog.push(fn);
      return;
    }
    this.guard(fn);
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.ctx?.fail(e instanceof Error ? e : new Error(String(e)));
    }
  }

  private onSpectrum(r: SpectrumReading): void {
    if (this.backlog) {
      // The driver may reuse its buffer once the emit returns: keep a copy while the reading waits.
      const copy = { ...r, counts: Float64Array.from(r.counts) };
      this.backlog.push(() => this.spectrumNow(copy));
      return;
    }
    this.guard(() => this.spectrumNow(r));
  }

  private spectrumNow(r: SpectrumReading): void {
    const missing = this.chain.missingThresholds(r);
    if (missing.length === 0) {
      this.handle(this.chain.spectrum(r));
      return;
    }
    // Solve off the event loop, then handle this reading and everything that arrived meanwhile, in order.
    const copy = { ...r, counts: Float64Array.from(r.counts) };
    const backlog: (() => void)[] = [() => this.handle(this.chain.spectrum(copy))];
    this.backlog = backlog;
    this.draining = solveOffLoop(nodeThresholds, missing).then(() => {
      this.backlog = undefined;
      for (let i = 0; i < backlog.length; i++) {
        const waiting = this.backlog as (() => void)[] | undefined;
        if (waiting) {
          // A later reading needs solves too: the rest waits behind it.
          waiting.push(...backlog.slice(i));
          return;
        }
        this.guard(backlog[i]!);
      }
    });
  }

  /** At most one warning per detector and kind of problem a minute: a broken device must not flood the log. */
  private warn(key: string, detector: string | undefined, message: string): void {
    const now = this.ctx?.clock.now().mono_ms ?? 0;
    const last = this.lastWarned.get(key);
    if (last !== undefined && now - last < 60_000) return;
    this.lastWarned.set(key, now);
    this.ctx?.log.warn({ ...(detector !== undefined ? { detector } : {}), rejected: this.chain.counters.rejected }, message);
  }

  private handle(outs: ChainOutput[], applied?: ActiveCalibration): void {
    for (const o of outs) {
      switch (o.kind) {
        case 'rad':
          this.sendLater('rad', () => o.body);
          break;
        case 'alarm':
          this.reportAlarm(o.alarm);
          break;
        case 'warning':
          this.warn(o.key, o.detector, o.message);
          break;
        default: {
          const never: never = o;
          throw new Error(`unhandled chain output ${JSON.stringify(never)}`);
        }
      }
    }
    if (applied && this.chain.calibrationVersions()[applied.detector] === applied.version) {
      this.ctx?.log.info({ detector: applied.detector, version: applied.version }, 'calibration applied');
    }
  }

  private reportAlarm(a: ChainAlarm): void {
    if (a.warning) this.ctx?.log.warn({ alarm: a.body.alarmId }, a.warning);
    const method = this.opts.identifyMethod;
    const forModel = this.classifier && a.foreground ? { counts: a.foreground.counts, calibration: a.foreground.calibration } : undefined;
    this.sendLater('alarm', async () => {
      const cls = forModel ? await this.classify(forModel) : undefined;
      const fromModel = (cls?.nuclides ?? []).map((n) => ({ nuclide: n.nuclide, confidence: n.confidence, category: n.category }));
      if (this.opts.archiveDir && a.measurements.length) {
        this.archive(a, method === 'classifier' ? (cls?.nuclides ?? []) : (a.identification?.nuclides ?? []));
      }
      return {
        ...a.body,
        nuclides: method === 'classifier' ? fromModel : a.body.nuclides,
        ...(method === 'both' && cls ? { classifier: fromModel } : {}),
      };
    });
  }

  private async classify(s: { counts: Float64Array; calibration: EnergyCalibration }): Promise<Classification | undefined> {
    try {
      return await this.classifier!.classify(s);
    } catch (e) {
      this.ctx?.log.warn({ err: (e as Error).message }, 'classifier failed; alarm reported without its result');
      return undefined;
    }
  }

  private archive(a: ChainAlarm, nuclides: { label: string; confidence: number; category: string }[]): void {
    const measurements: Measurement[] = a.measurements;
    const p = a.peak;
    try {
      const xml = writeN42({
        source: `${this.name}:${a.body.alarmId}`,
        format: 'N42-2012',
        detectors: [...this.models].map(([id, m]) => ({ id, kind: m.drf?.material ?? m.crystal, description: m.name })),
        measurements,
        alarms: [
          {
            measurementId: measurements[0]!.id,
            category: 'Gamma',
            time: measurements[0]!.startTime,
            description: `${p.test}${p.detector ? ` ${p.detector}` : ''}: statistic ${p.statistic.toFixed(2)} over threshold ${p.threshold.toFixed(2)}`,
          },
        ],
        nuclides: nuclides.map((n) => ({ name: n.label, confidence_pct: Math.round(n.confidence * 100), category: n.category })),
      });
      const file = join(this.opts.archiveDir!, `${a.body.alarmId}.n42`);
      writeFileSync(`${file}.tmp`, xml);
      renameSync(`${file}.tmp`, file);
    } catch (e) {
      this.ctx?.log.warn({ err: (e as Error).message }, 'cannot archive alarm spectra');
    }
  }

  /** Queues a summary whose body may need asynchronous work; summaries still leave in order. */
  private sendLater(kind: 'rad' | 'alarm', body: () => object | Promise<object>): void {
    const ctx = this.ctx;
    if (!ctx) return;
    this.emits = this.emits.then(async () => ctx.emit(kind, (await body()) as never)).catch((e: unknown) => ctx.fail(e as Error));
  }
}

export function createRadiation(spec: ComponentSpec): Component {
  return new RadiationPipeline(spec);
}
