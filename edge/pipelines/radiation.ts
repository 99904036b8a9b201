// The vehicle/handheld radiation pipeline: spectra on the bus → gain, background, alarms, identification, dose →
// per-interval `rad` summaries and `alarm` events (full spectra stay on the box as N42).
//
// Cadence follows the data's own time (each reading's time_ms), not the wall clock, so recorded or accelerated
// drives give the same result as live ones. An interval closes when a reading of a later interval arrives.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { parseDeviceOptions, stringEnum } from '../../devices/options.js';
import { createAlarmMonitor, DEFAULT_WINDOWS, windowChannels, windowCounts, type AlarmDecision, type AlarmMonitor } from '../radiation/alarm.js';
import { energyOf, linearCalibration } from '../radiation/calibration.js';
import { buildGFunction, DETECTORS, type DetectorModel, type GFunction } from '../radiation/dose.js';
import { writeN42 } from '../radiation/formats/index.js';
import { createGainStabilizer, type GainStabilizer } from '../radiation/gain.js';
import { NuclideClassifier, type Classification } from '../radiation/classifier.js';
import { NuclideIdentifier, type Identification } from '../radiation/identify.js';
import type { EnergyCalibration, Measurement } from '../radiation/spectrum.js';
import type { ActiveCalibration, Component, ComponentContext, ComponentSpec, Readings } from '../runtime/component.js';

export const RadiationOptionsSchema = Type.Object(
  {
    detectors: Type.Array(
      Type.Object(
        {
          id: Type.String({ minLength: 1, description: 'detector id as the spectrometer driver names it' }),
          model: Type.String({ minLength: 1, description: `detector model: ${Object.keys(DETECTORS).join(', ')}` }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1 },
    ),
    interval_s: Type.Number({ exclusiveMinimum: 0, default: 1, description: 'summary and alarm-test interval (data time)' }),
    falseAlarmRate_per_h: Type.Number({ exclusiveMinimum: 0, default: 1, description: 'alarms per hour of driving on background' }),
    gainStabilisation: Type.Boolean({ default: true, description: 'follow K-40/Tl-208 to correct temperature gain drift' }),
    identify: Type.Boolean({ default: true, description: 'identify nuclides when an alarm ends' }),
    identifyMethod: stringEnum(['template', 'classifier', 'both'] as const, {
      default: 'template',
      description: 'template: full-spectrum Poisson fit; classifier: the shipped ONNX model; both: the fit reports, the classifier result rides along',
    }),
    classifierDir: Type.Optional(Type.String({ minLength: 1, description: 'folder with model-card.json (default: the shipped nuclide classifier)' })),
    maxAlarm_s: Type.Number({ exclusiveMinimum: 0, default: 30, description: 'identify and report an alarm after this long even if it goes on' }),
    alarmEndHold_s: Type.Number({ minimum: 0, default: 3, description: 'an alarm ends after this long without any test in alarm (one pass, one alarm)' }),
    keVPerChannel: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'calibration for spectra that carry none' })),
    archiveDir: Type.Optional(Type.String({ minLength: 1, description: 'N42 files of alarm measurements are written here' })),
  },
  { additionalProperties: false },
);
export type RadiationOptions = Static<typeof RadiationOptionsSchema>;

type SpectrumReading = Readings['spectrum'][0];
type AlarmNow = { gross_cps: number; doseRate: number; position?: { lat: number; lon: number; height_m?: number } };

interface DetectorState {
  id: string;
  model: DetectorModel;
  cal?: EnergyCalibration;
  /** A signed calibration record in force: its energy calibration replaces the one the spectra carry. */
  record?: ActiveCalibration;
  nChannels: number;
  ranges?: [number, number][];
  gain?: GainStabilizer;
  /** G(E) at each channel centre for this calibration: the dose rate is a dot product with the spectrum. */
  gVec?: Float64Array;
  /** The current interval's spectrum (raw until the interval closes, then gain-corrected) and times. */
  counts?: Float64Array;
  live_s: number;
  real_s: number;
  /** Background spectrum accumulated outside alarms (for identification), and its live time. */
  bg?: Float64Array;
  bgLive_s: number;
  /** Foreground spectrum accumulated during the current alarm. */
  fg?: Float64Array;
  fgLive_s: number;
  position?: SpectrumReading['position'];
}

/** Background spectra older than this many seconds of live time are down-weighted (exponential memory). */
const BG_MEMORY_S = 600;

export class RadiationPipeline implements Component {
  readonly kind = 'pipeline' as const;
  readonly name: string;
  private readonly opts: RadiationOptions;
  private ctx: ComponentContext | undefined;
  private dets = new Map<string, DetectorState>();
  private gFunctions = new Map<string, GFunction>();
  private identifiers = new Map<string, NuclideIdentifier>();
  private monitor: AlarmMonitor;
  private intervalStart_ms: number | undefined;
  private gmCounts = { cps: 0, n: 0 };
  private position: { lat: number; lon: number; height_m?: number } | undefined;
  private alarm:
    | {
        id: string;
        start_ms: number;
        decision: AlarmDecision;
        peak: AlarmDecision;
        measurements: Measurement[];
        quietSince_ms?: number;
        /** Reported at maxAlarm_s while still going on: the rest of the event is followed but not reported again. */
        reported?: boolean;
        /** Rates and position of the latest interval, for a report outside the interval flow. */
        now?: AlarmNow;
      }
    | undefined;
  private warnedUnknown = new Set<string>();
  private classifier: NuclideClassifier | undefined;
  private counters = { intervals: 0, alarms: 0, rejected: 0 };
  private lastWarned = new Map<string, number>();
  private listeners: { [K in keyof Readings]?: (...a: Readings[K]) => void } = {};
  /** Serialises emits so summaries leave in order and back-pressure reaches the bus handler. */
  private chain: Promise<void> = Promise.resolve();

  constructor(spec: ComponentSpec) {
    this.name = spec.name;
    this.opts = parseDeviceOptions(RadiationOptionsSchema, spec, 'pipelines');
    for (const d of this.opts.detectors) {
      const model = DETECTORS[d.model];
      if (!model) throw new Error(`pipelines/${spec.name}/options/detectors: unknown model "${d.model}", expected one of ${Object.keys(DETECTORS).join(', ')}`);
      this.dets.set(d.id, { id: d.id, model, nChannels: 0, live_s: 0, real_s: 0, bgLive_s: 0, fgLive_s: 0 });
    }
    // Deferred solves: a live node must not stall on a threshold solve (see AlarmOptions.deferSolves).
    this.monitor = createAlarmMonitor({ falseAlarmRate_per_h: this.opts.falseAlarmRate_per_h, windows: DEFAULT_WINDOWS, deferSolves: true });
  }

  versions(): { calibration?: Record<string, string>; models: Record<string, string> } {
    const calibration: Record<string, string> = {};
    for (const d of this.dets.values()) if (d.record) calibration[d.id] = d.record.version;
    const models: Record<string, string> = {};
    if (this.opts.identifyMethod !== 'classifier') models['nuclide-id'] = 'template-fit-1';
    if (this.classifier) models['nuclide-classifier'] = `${this.classifier.card.name}-${this.classifier.card.version}`;
    return { ...(Object.keys(calibration).length ? { calibration } : {}), models };
  }

  stats() {
    return { ...this.counters };
  }

  async start(ctx: ComponentContext): Promise<void> {
    this.ctx = ctx;
    if (!ctx.bus) throw new Error(`pipeline ${this.name}: the runtime gave no reading bus`);
    if (this.opts.archiveDir) mkdirSync(this.opts.archiveDir, { recursive: true });
    if (this.opts.identify && this.opts.identifyMethod !== 'template' && !this.classifier) {
      this.classifier = await NuclideClassifier.load(this.opts.classifierDir ? { dir: this.opts.classifierDir } : {});
    }
    this.listeners = {
      calibration: (c) => this.guard(() => this.applyCalibration(c)),
      spectrum: (r) => this.guard(() => this.onSpectrum(r)),
      gm: (r) => {
        this.gmCounts.cps += r.cps;
        this.gmCounts.n++;
      },
      gps: (r) => {
        if (r.fix > 0) this.position = { lat: r.lat, lon: r.lon, ...(r.height_m !== undefined ? { height_m: r.height_m } : {}) };
      },
    };
    for (const [k, fn] of Object.entries(this.listeners)) ctx.bus.on(k as keyof Readings, fn as never);
  }

  async stop(): Promise<void> {
    const bus = this.ctx?.bus;
    if (bus) for (const [k, fn] of Object.entries(this.listeners)) bus.off(k as keyof Readings, fn as never);
    this.listeners = {};
    await this.chain;
    await this.classifier?.close();
    this.classifier = undefined;
    this.ctx = undefined;
  }

  /**
   * Bus listeners run inside the emitting driver's call: an exception must neither reach the driver nor leave the
   * pipeline half-updated and silent. It goes to the supervisor, which restarts the pipeline with fresh state.
   */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.ctx?.fail(e instanceof Error ? e : new Error(String(e)));
    }
  }

  /** Resolves once every summary so far has been handed to the outbox (tests, orderly shutdown). */
  settled(): Promise<void> {
    return this.chain;
  }

  /** Why a bus reading cannot be used, or undefined. Drivers validate too; this guards the analysis state. */
  private readingProblem(r: SpectrumReading): string | undefined {
    if (!(r.counts.length > 0)) return 'no channels';
    for (let i = 0; i < r.counts.length; i++) {
      const c = r.counts[i]!;
      if (!(c >= 0) || !Number.isFinite(c)) return `channel ${i}: count ${c}, expected a finite number >= 0`;
    }
    if (!(r.liveTime_s > 0) || !Number.isFinite(r.liveTime_s)) return `liveTime_s ${r.liveTime_s}, expected a duration > 0`;
    if (!(r.realTime_s >= 0) || !Number.isFinite(r.realTime_s)) return `realTime_s ${r.realTime_s}, expected a duration >= 0`;
    if (!Number.isFinite(r.time_ms)) return `time_ms ${r.time_ms}, expected a time`;
    return undefined;
  }

  /** At most one warning per detector and kind of problem a minute: a broken device must not flood the log. */
  private warnReading(detector: string, problem: string): void {
    const key = `${detector}:${problem.replace(/[\d.:-]+/g, '#')}`;
    const now = this.ctx?.clock.now().mono_ms ?? 0;
    const last = this.lastWarned.get(key);
    this.counters.rejected++;
    if (last !== undefined && now - last < 60_000) return;
    this.lastWarned.set(key, now);
    this.ctx?.log.warn({ detector, rejected: this.counters.rejected }, problem);
  }

  private onSpectrum(r: SpectrumReading): void {
    const problem = this.readingProblem(r);
    if (problem) return this.warnReading(r.detector, `spectrum rejected: ${problem}`);
    const d = this.dets.get(r.detector);
    if (!d) {
      if (!this.warnedUnknown.has(r.detector)) {
        this.warnedUnknown.add(r.detector);
        this.ctx?.log.warn({ detector: r.detector }, 'spectrum from a detector not in the pipeline options; ignored');
      }
      return;
    }
    const interval_ms = this.opts.interval_s * 1000;
    // Data time, not the node clock, drives the intervals (recorded and accelerated drives run ahead of it). When
    // it goes back by more than an interval, the clock stepped or a reading before this one was stamped wrong (one
    // an hour ahead would otherwise hold every later reading in its interval): the open interval is dropped and
    // the timeline restarts here.
    if (this.intervalStart_ms !== undefined && r.time_ms < this.intervalStart_ms - interval_ms) {
      this.warnReading(r.detector, `data time went back ${((this.intervalStart_ms - r.time_ms) / 1000).toFixed(0)} s; the open interval is dropped and intervals restart`);
      for (const x of this.dets.values()) {
        x.counts = undefined;
        x.live_s = 0;
        x.real_s = 0;
      }
      this.intervalStart_ms = undefined;
    }
    if (this.intervalStart_ms === undefined) this.intervalStart_ms = Math.floor(r.time_ms / interval_ms) * interval_ms;
    if (r.time_ms >= this.intervalStart_ms + interval_ms) {
      this.closeInterval();
      this.intervalStart_ms = Math.floor(r.time_ms / interval_ms) * interval_ms;
    }
    if (!d.cal || d.nChannels !== r.counts.length) {
      const cal = d.record?.energy ?? r.calibration ?? (this.opts.keVPerChannel ? linearCalibration(this.opts.keVPerChannel) : undefined);
      if (!cal) {
        this.ctx?.fail(new Error(`pipeline ${this.name}: detector ${d.id} sends spectra without calibration; set options.keVPerChannel`));
        return;
      }
      this.setupDetector(d, cal, r.counts.length);
    }
    const counts = r.counts;
    // The stabiliser learns from every spectrum; the correction (a rebinning) is applied once per interval.
    d.gain?.update(counts, r.liveTime_s, { exclude: this.alarm !== undefined });
    if (!d.counts) d.counts = new Float64Array(d.nChannels);
    for (let i = 0; i < d.nChannels; i++) d.counts[i]! += counts[i]!;
    d.live_s += r.liveTime_s;
    d.real_s += r.realTime_s;
    if (r.position) d.position = r.position;
  }

  /** (Re)derives everything that depends on the detector's calibration; the accumulations start again. */
  private setupDetector(d: DetectorState, cal: EnergyCalibration, nChannels: number): void {
    d.cal = cal;
    d.nChannels = nChannels;
    d.ranges = windowChannels(cal, nChannels, DEFAULT_WINDOWS);
    d.gain = undefined;
    if (this.opts.gainStabilisation) {
      const ref = d.record?.referenceSpectrum?.counts;
      try {
        d.gain = createGainStabilizer({ cal, ...(ref && ref.length === nChannels ? { referenceSpectrum: ref } : {}) });
      } catch (e) {
        // A reference without usable K-40/Tl-208 peaks: stabilise on the nominal calibration instead.
        this.ctx?.log.warn({ detector: d.id, err: (e as Error).message }, 'gain reference spectrum unusable; stabilising on the calibration alone');
        d.gain = createGainStabilizer({ cal });
      }
    }
    const g = this.gFunction(d.model);
    const factor = d.record?.doseFactor ?? 1;
    d.gVec = Float64Array.from({ length: nChannels }, (_, ch) => factor * g.evaluate(energyOf(cal, ch + 0.5)));
    d.counts = undefined;
    d.live_s = 0;
    d.real_s = 0;
    d.bg = undefined;
    d.bgLive_s = 0;
    d.fg = undefined;
    d.fgLive_s = 0;
  }

  /** A verified record became active (the calibration component checked the signature): use it from now on. */
  private applyCalibration(c: ActiveCalibration): void {
    const d = this.dets.get(c.detector);
    if (!d) {
      this.ctx?.log.warn({ detector: c.detector, version: c.version }, 'calibration for a detector not in the pipeline options; ignored');
      return;
    }
    // Retained commands come again on every reconnect: the same version changes nothing.
    if (d.record?.version === c.version) return;
    // An alarm in progress is reported with the calibration it was measured under; the detector's background and
    // tests start again, because its energy windows now cover other channels.
    this.finishAlarm();
    this.monitor.forget(d.id);
    d.record = c;
    const cal = c.energy ?? d.cal;
    if (cal && d.nChannels > 0) this.setupDetector(d, cal, d.nChannels);
    else d.cal = undefined;
    this.ctx?.log.info({ detector: d.id, version: c.version }, 'calibration applied');
  }

  /** One interval is complete: test it, summarise it, follow the alarm. */
  private closeInterval(): void {
    const t_ms = this.intervalStart_ms ?? 0;
    const active = [...this.dets.values()].filter((d) => d.counts && d.live_s > 0);
    if (!active.length) return;
    for (const d of active) if (d.gain) d.counts = d.gain.correct(d.counts!);
    this.counters.intervals++;
    const decision = this.monitor.update({
      time_s: t_ms / 1000,
      realTime_s: this.opts.interval_s,
      detectors: active.map((d) => {
        let gross = 0;
        for (let i = 0; i < d.nChannels; i++) gross += d.counts![i]!;
        return { id: d.id, liveTime_s: d.live_s, gross, windows: windowCounts(d.counts!, d.ranges!) };
      }),
    });
    const detectors = active.map((d) => {
      let gross = 0;
      for (let i = 0; i < d.nChannels; i++) gross += d.counts![i]!;
      // Σ counts·G(E_ch) / live: the G(E) method of doseRateFromSpectrum_uSv_h, with G precomputed per channel.
      let dose = 0;
      for (let i = 0; i < d.nChannels; i++) dose += d.counts![i]! * d.gVec![i]!;
      return { id: d.id, cps: gross / d.live_s, doseRate_uSv_h: dose / d.live_s };
    });
    const position = this.position ?? (active[0]!.position ? { lat: active[0]!.position.lat, lon: active[0]!.position.lon, ...(active[0]!.position.height_m !== undefined ? { height_m: active[0]!.position.height_m } : {}) } : undefined);
    const gross_cps = detectors.reduce((a, d) => a + d.cps, 0);
    const doseRate = Math.max(...detectors.map((d) => d.doseRate_uSv_h));
    const gm = this.gmCounts.n ? this.gmCounts.cps / this.gmCounts.n : undefined;
    this.gmCounts = { cps: 0, n: 0 };
    this.send('rad', {
      live_s: active.reduce((a, d) => a + d.live_s, 0) / active.length,
      gross_cps,
      doseRate_uSv_h: doseRate,
      ...(gm !== undefined ? { gm_cps: gm } : {}),
      detectors,
      ...(position ? { position } : {}),
    });
    this.followAlarm(t_ms, decision, active, { gross_cps, doseRate, position });
    for (const d of active) {
      if (!this.alarm) this.addBackground(d);
      d.counts = undefined;
      d.live_s = 0;
      d.real_s = 0;
    }
  }

  private followAlarm(t_ms: number, decision: AlarmDecision, active: DetectorState[], now: AlarmNow): void {
    if (decision.alarm && !this.alarm) {
      this.counters.alarms++;
      this.alarm = { id: `${this.ctx?.node ?? 'node'}-${t_ms}`, start_ms: t_ms, decision, peak: decision, measurements: [] };
    }
    const a = this.alarm;
    if (!a) return;
    a.now = now;
    if (decision.statistic - decision.threshold > a.peak.statistic - a.peak.threshold) a.peak = decision;
    for (const d of active) {
      if (!d.fg) d.fg = new Float64Array(d.nChannels);
      for (let i = 0; i < d.nChannels; i++) d.fg[i]! += d.counts![i]!;
      d.fgLive_s += d.live_s;
    }
    if (this.opts.archiveDir) {
      a.measurements.push({
        id: `m${a.measurements.length + 1}`,
        startTime: new Date(t_ms).toISOString(),
        realTime_s: this.opts.interval_s,
        class: 'Foreground',
        spectra: active.map((d) => ({ detector: d.id, counts: Float64Array.from(d.counts!), liveTime_s: d.live_s, realTime_s: d.real_s, calibration: d.cal!, ...(d.position ? { position: { lat: d.position.lat, lon: d.position.lon, ...(d.position.height_m !== undefined ? { elevation_m: d.position.height_m } : {}) } } : {}) })),
        grossCounts: [],
      });
    }
    // Tests on different detectors and windows cross their thresholds at slightly different times during one pass:
    // the event ends only after a quiet spell, so one pass gives one alarm.
    if (decision.alarm) a.quietSince_ms = undefined;
    else a.quietSince_ms ??= t_ms;
    const over = !a.reported && t_ms - a.start_ms >= this.opts.maxAlarm_s * 1000;
    const quiet = a.quietSince_ms !== undefined && t_ms + this.opts.interval_s * 1000 - a.quietSince_ms >= this.opts.alarmEndHold_s * 1000;
    if (quiet) this.alarm = undefined;
    if (!over && (!quiet || a.reported)) {
      if (quiet) this.clearForeground();
      return;
    }
    // Report now: the event ended, or it has lasted maxAlarm_s (a source in view for long) and goes on unreported.
    this.reportAlarm(a, now, quiet);
  }

  /**
   * Ends an alarm in progress at once (a new calibration is about to change what its spectra mean): reported
   * with what it has if it was not yet, then forgotten.
   */
  private finishAlarm(): void {
    const a = this.alarm;
    if (!a) return;
    this.alarm = undefined;
    if (!a.reported && a.now) this.reportAlarm(a, a.now, true);
    else this.clearForeground();
  }

  private reportAlarm(a: NonNullable<RadiationPipeline['alarm']>, now: AlarmNow, quiet: boolean): void {
    a.reported = true;
    const method = this.opts.identifyMethod;
    const best = this.opts.identify ? this.alarmDetector() : undefined;
    const ident = best && method !== 'classifier' ? this.identifyAlarm(best) : undefined;
    // The classifier runs asynchronously in the emit chain: take copies before the foreground is cleared.
    const forModel = best && this.classifier ? { counts: Float64Array.from(best.fg!), calibration: best.cal! } : undefined;
    if (quiet) this.clearForeground();
    const p = a.peak;
    const measurements = a.measurements;
    this.sendLater('alarm', async () => {
      const cls = forModel ? await this.classify(forModel) : undefined;
      const fromFit = (ident?.nuclides ?? []).map((n) => ({ nuclide: n.nuclide, confidence: n.confidence, category: n.category }));
      const fromModel = (cls?.nuclides ?? []).map((n) => ({ nuclide: n.nuclide, confidence: n.confidence, category: n.category }));
      if (this.opts.archiveDir && measurements.length) {
        this.archive(a.id, measurements, p, method === 'classifier' ? (cls?.nuclides ?? []) : (ident?.nuclides ?? []));
      }
      return {
        alarmId: a.id,
        test: p.test,
        ...(p.detector ? { detector: p.detector } : {}),
        statistic: p.statistic,
        threshold: p.threshold,
        gross_cps: now.gross_cps,
        doseRate_uSv_h: now.doseRate,
        nuclides: method === 'classifier' ? fromModel : fromFit,
        ...(method === 'both' && cls ? { classifier: fromModel } : {}),
        ...(now.position ? { position: now.position } : {}),
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

  private clearForeground(): void {
    for (const d of this.dets.values()) {
      d.fg = undefined;
      d.fgLive_s = 0;
    }
  }

  /** The detector with the most net counts during the alarm (identification runs on it). */
  private alarmDetector(): DetectorState | undefined {
    let best: { d: DetectorState; net: number } | undefined;
    for (const d of this.dets.values()) {
      if (!d.fg || d.fgLive_s <= 0) continue;
      let fg = 0;
      let bg = 0;
      for (let i = 0; i < d.nChannels; i++) {
        fg += d.fg[i]!;
        bg += d.bg?.[i] ?? 0;
      }
      const net = fg - (d.bgLive_s > 0 ? (bg * d.fgLive_s) / d.bgLive_s : 0);
      if (!best || net > best.net) best = { d, net };
    }
    return best?.d;
  }

  /** Identification by the template fit against the detector's own background. */
  private identifyAlarm(d: DetectorState): Identification | undefined {
    try {
      return this.identifier(d.model).identify(
        { counts: d.fg!, liveTime_s: d.fgLive_s, calibration: d.cal! },
        d.bg && d.bgLive_s > 0 ? { background: { counts: d.bg, liveTime_s: d.bgLive_s } } : {},
      );
    } catch (e) {
      this.ctx?.log.warn({ err: (e as Error).message, detector: d.id }, 'identification failed; alarm reported without nuclides');
      return undefined;
    }
  }

  private addBackground(d: DetectorState): void {
    if (!d.bg) d.bg = new Float64Array(d.nChannels);
    // Exponential memory so the background follows the area the vehicle drives through.
    const keep = d.bgLive_s > BG_MEMORY_S ? BG_MEMORY_S / d.bgLive_s : 1;
    for (let i = 0; i < d.nChannels; i++) d.bg[i] = d.bg[i]! * keep + d.counts![i]!;
    d.bgLive_s = d.bgLive_s * keep + d.live_s;
  }

  private archive(id: string, measurements: Measurement[], p: AlarmDecision, nuclides: { label: string; confidence: number; category: string }[]): void {
    try {
      const xml = writeN42({
        source: `${this.name}:${id}`,
        format: 'N42-2012',
        detectors: [...this.dets.values()].map((d) => ({ id: d.id, kind: d.model.crystal, description: d.model.name })),
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
      const file = join(this.opts.archiveDir!, `${id}.n42`);
      writeFileSync(`${file}.tmp`, xml);
      renameSync(`${file}.tmp`, file);
    } catch (e) {
      this.ctx?.log.warn({ err: (e as Error).message }, 'cannot archive alarm spectra');
    }
  }

  private gFunction(model: DetectorModel): GFunction {
    let g = this.gFunctions.get(model.name);
    if (!g) this.gFunctions.set(model.name, (g = buildGFunction({ detector: model })));
    return g;
  }

  private identifier(model: DetectorModel): NuclideIdentifier {
    let id = this.identifiers.get(model.name);
    if (!id) this.identifiers.set(model.name, (id = new NuclideIdentifier({ detector: model })));
    return id;
  }

  private send(kind: 'rad' | 'alarm', body: never | object): void {
    this.sendLater(kind, () => body);
  }

  /** Queues a summary whose body may need asynchronous work; summaries still leave in order. */
  private sendLater(kind: 'rad' | 'alarm', body: () => object | Promise<object>): void {
    const ctx = this.ctx;
    if (!ctx) return;
    this.chain = this.chain
      .then(async () => ctx.emit(kind, (await body()) as never))
      .catch((e: unknown) => ctx.fail(e as Error));
  }
}

export function createRadiation(spec: ComponentSpec): Component {
  return new RadiationPipeline(spec);
}
