// The handheld pipeline: verified vehicle estimate (signed cmd/estimate) → guidance from GPS → refinement with own
// spectra → confirmation measurement at the spot → refined `source` and confirming `alarm` summaries.
//
// States: idle (no estimate) → guiding → confirming (arrived, accumulating) → confirmed. Walking away from the spot
// during the confirmation restarts it. The display reads a small JSON status file rewritten atomically on each change.
import { renameSync, writeFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { parseDeviceOptions } from '../../contract/options.js';
import { loadTrustedKeys, SignatureError, validate, verifyEnvelope, type BodyOf, type SourceMsg } from '../../protocol/index.js';
import type { EstimateCommand } from '../../protocol/estimate.js';
import { energyOf, linearCalibration } from '../../analysis/radiation/calibration.js';
import { buildGFunction, type DetectorModel, type GFunction } from '../../analysis/radiation/dose.js';
import { createDoseField, timeToLimit_s, type DoseField } from '../../analysis/radiation/dosefield.js';
import { ConfirmationMeasurement, guide, horizontalRadius95_m, refineWithHandheld, type GuidanceState, type RefineResult } from '../../analysis/radiation/guidance.js';
import { NuclideIdentifier } from '../../analysis/radiation/identify.js';
import { toGeo, toLocal } from '../../analysis/radiation/localize/geo.js';
import { mainLine, roiWindow } from '../../analysis/radiation/localize/model.js';
import type { LocalOrigin, LocMeasurement, SourceEstimate } from '../../analysis/radiation/localize/types.js';
import type { EnergyCalibration } from '../../analysis/radiation/spectrum.js';
import type { Component, ComponentContext, ComponentSpec, Readings } from '../../contract/component.js';
import { DETECTOR_MODEL_DESCRIPTION, detectorModelOption } from './detector-option.js';

export const HandheldOptionsSchema = Type.Object(
  {
    trustedKeys: Type.Record(Type.String({ minLength: 1 }), Type.String({ minLength: 1 }), {
      description: 'keyId -> Ed25519 public key (PEM text, or the path of a PEM file) whose estimates this handheld accepts',
    }),
    detector: Type.Object(
      {
        id: Type.Optional(Type.String({ minLength: 1, description: 'use spectra of this detector id only (default: any)' })),
        model: Type.String({ minLength: 1, description: DETECTOR_MODEL_DESCRIPTION }),
      },
      { additionalProperties: false },
    ),
    keVPerChannel: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'calibration for spectra that carry none' })),
    confirm_s: Type.Number({ exclusiveMinimum: 0, default: 60, description: 'live time of the confirmation measurement at the spot' }),
    minArrivalRadius_m: Type.Number({ exclusiveMinimum: 0, default: 1.5 }),
    maxArrivalRadius_m: Type.Number({ exclusiveMinimum: 0, default: 3 }),
    /** A spectrum is placed at the last GPS fix only if that fix is at most this old. */
    maxFixAge_s: Type.Number({ exclusiveMinimum: 0, default: 5 }),
    doseLimit_uSv: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'officer dose limit for the time-to-limit on the display' })),
    statusFile: Type.Optional(Type.String({ minLength: 1, description: 'JSON guidance state for the display, rewritten on each change' })),
    maxMeasurements: Type.Integer({ minimum: 10, default: 600, description: 'own measurements kept for the refinement (newest)' }),
    maxEstimateAge_s: Type.Number({
      exclusiveMinimum: 0,
      default: 3600,
      description: 'refuse an estimate older than this (the command is retained: yesterday\'s would come back on every reconnect)',
    }),
  },
  { additionalProperties: false },
);
export type HandheldOptions = Static<typeof HandheldOptionsSchema>;

type SpectrumReading = Readings['spectrum'][0];
export type HandheldPhase = 'idle' | 'guiding' | 'confirming' | 'confirmed';

export interface HandheldStatus {
  phase: HandheldPhase;
  node: string;
  estimateId?: string;
  from?: string;
  guidance?: GuidanceState;
  radius95_m?: number;
  refined?: { measurements: number; handheld_cps_at_1m: number; background_cps: number };
  doseRateHere_uSv_h?: number;
  timeToLimit_s?: number | null;
  confirmation?: { liveTime_s: number; duration_s: number };
  result?: { nuclides: { nuclide: string; confidence: number; category: string }[]; doseRate_uSv_h?: number; liveTime_s: number };
  time_ms: number;
}

const CHI2_3DOF_95 = 7.814727903251178;

export class HandheldPipeline implements Component {
  readonly kind = 'pipeline' as const;
  readonly name: string;
  private readonly opts: HandheldOptions;
  private readonly model: DetectorModel;
  private ctx: ComponentContext | undefined;
  private trusted: Record<string, string> = {};
  private identifier: NuclideIdentifier | undefined;
  private g: GFunction | undefined;
  private listeners: { [K in keyof Readings]?: (...a: Readings[K]) => void } = {};
  private onEstimate: ((payload: Buffer, topic: string) => void) | undefined;
  private chain: Promise<void> = Promise.resolve();

  private phase: HandheldPhase = 'idle';
  private cmdId: string | undefined;
  private vehicle: SourceMsg | undefined;
  private prior: SourceEstimate | undefined;
  private current: SourceEstimate | undefined;
  private origin: LocalOrigin | undefined;
  private refined: RefineResult | undefined;
  private field: DoseField | undefined;
  private fix: { lat: number; lon: number; height_m?: number; time_ms: number } | undefined;
  private measurements: LocMeasurement[] = [];
  private confirmation: ConfirmationMeasurement | undefined;
  private result: HandheldStatus['result'];
  private lastGuidance: GuidanceState | undefined;
  private counters = { accepted: 0, refused: 0, spectra: 0, confirmations: 0 };

  constructor(spec: ComponentSpec) {
    this.name = spec.name;
    this.opts = parseDeviceOptions(HandheldOptionsSchema, spec, 'pipelines');
    this.model = detectorModelOption(spec, 'detector/model', this.opts.detector.model);
  }

  versions(): { models: Record<string, string> } {
    // Which response the templates and the dose are computed through, as the radiation pipeline reports it.
    return { models: { 'nuclide-id': 'template-fit-1', 'detector-response': (this.model.drf ? `drf:${this.model.name}` : this.model.name).slice(0, 128) } };
  }

  stats() {
    return { ...this.counters, phase: this.phase };
  }

  async start(ctx: ComponentContext): Promise<void> {
    if (!ctx.bus) throw new Error(`pipeline ${this.name}: the runtime gave no reading bus`);
    if (!ctx.commands) throw new Error(`pipeline ${this.name}: the runtime gave no command bus`);
    this.trusted = loadTrustedKeys(this.opts.trustedKeys, `pipelines/${this.name}/options/trustedKeys`);
    // Built once: the templates take a second or two, far too long to build at the spot.
    this.identifier = new NuclideIdentifier({ detector: this.model });
    this.g = buildGFunction({ detector: this.model });
    this.ctx = ctx;
    this.listeners = {
      gps: (r) => this.onGps(r),
      spectrum: (r) => this.onSpectrum(r),
    };
    for (const [k, fn] of Object.entries(this.listeners)) ctx.bus.on(k as keyof Readings, fn as never);
    this.onEstimate = (payload) => this.handleEstimate(payload);
    ctx.commands.on('estimate', this.onEstimate);
    this.writeStatus();
  }

  async stop(): Promise<void> {
    const ctx = this.ctx;
    if (ctx?.bus) for (const [k, fn] of Object.entries(this.listeners)) ctx.bus.off(k as keyof Readings, fn as never);
    if (ctx?.commands && this.onEstimate) ctx.commands.off('estimate', this.onEstimate);
    this.listeners = {};
    this.onEstimate = undefined;
    await this.chain;
    this.ctx = undefined;
  }

  /** Resolves once every summary so far has been handed to the outbox. */
  settled(): Promise<void> {
    return this.chain;
  }

  status(): HandheldStatus {
    const s: HandheldStatus = { phase: this.phase, node: this.ctx?.node ?? '', time_ms: this.fix?.time_ms ?? 0 };
    if (this.vehicle) {
      s.estimateId = this.vehicle.estimateId;
      s.from = this.vehicle.node;
    }
    if (this.lastGuidance) s.guidance = this.lastGuidance;
    if (this.current) s.radius95_m = horizontalRadius95_m(this.current);
    if (this.refined) s.refined = { measurements: this.measurements.length, handheld_cps_at_1m: this.refined.handheld_cps_at_1m, background_cps: this.refined.background_cps };
    if (this.field && this.fix && this.origin) {
      const here = toLocal(this.origin, { lat: this.fix.lat, lon: this.fix.lon, height_m: 0 });
      const rate = this.field.rate({ ...here, z_m: 1 });
      s.doseRateHere_uSv_h = rate;
      if (this.opts.doseLimit_uSv !== undefined) {
        const t = timeToLimit_s(rate, this.opts.doseLimit_uSv);
        s.timeToLimit_s = Number.isFinite(t) ? t : null;
      }
    }
    if (this.confirmation) s.confirmation = { liveTime_s: this.confirmation.liveTime_s, duration_s: this.opts.confirm_s };
    if (this.result) s.result = this.result;
    return s;
  }

  private enqueue(work: () => Promise<void>): void {
    this.chain = this.chain.then(work).catch((e: unknown) => this.ctx?.fail(e as Error));
  }

  private ack(cmdId: string, ok: boolean, reason?: string): void {
    const ctx = this.ctx;
    if (!ctx) return;
    this.enqueue(() => ctx.emit('ack', { cmd: 'estimate', cmdId: cmdId.slice(0, 128) || 'unknown', ok, ...(reason ? { reason: reason.slice(0, 1024) } : {}) }));
  }

  /** Verify, check it is meant for this node, take it; refusals are acked with the reason and change nothing. */
  private handleEstimate(payload: Buffer): void {
    const ctx = this.ctx;
    if (!ctx) return;
    let raw: unknown;
    try {
      raw = JSON.parse(payload.toString('utf8'));
    } catch (e) {
      this.refuse('unknown', `estimate: not JSON (${(e as Error).message})`);
      return;
    }
    // The claimed id only labels the ack; nothing else of an unverified payload is used.
    const claimed = (raw as { payload?: { cmdId?: unknown } } | null)?.payload?.cmdId;
    const claimedId = typeof claimed === 'string' && claimed.length > 0 ? claimed : 'unknown';
    let cmd: EstimateCommand;
    try {
      cmd = verifyEnvelope<EstimateCommand>(raw, this.trusted);
    } catch (e) {
      this.refuse(claimedId, e instanceof SignatureError ? e.message : `estimate: ${(e as Error).message}`);
      return;
    }
    if (cmd?.cmd !== 'estimate' || typeof cmd.cmdId !== 'string') return this.refuse(claimedId, 'estimate.payload: expected { cmd: "estimate", cmdId, site, handheld, source }');
    if (cmd.handheld !== ctx.node) return this.refuse(cmd.cmdId, `estimate.payload.handheld: addressed to "${cmd.handheld}", this node is "${ctx.node}"`);
    if (cmd.site !== ctx.site) return this.refuse(cmd.cmdId, `estimate.payload.site: for site "${cmd.site}", this node is at "${ctx.site}"`);
    const v = validate('source', cmd.source);
    if (!v.ok) return this.refuse(cmd.cmdId, `estimate.payload.source: ${v.errors.join('; ')}`);
    // Retained: the same command comes again on every reconnect; it was answered the first time.
    if (cmd.cmdId === this.cmdId) return;
    const now = ctx.clock.now();
    const age_s = (now.ts - v.msg.ts) / 1000;
    // Only a synchronised clock can call an estimate stale; an unsynchronised one would refuse everything.
    if (now.tsTrusted && v.msg.tsTrusted && age_s > this.opts.maxEstimateAge_s) {
      return this.refuse(cmd.cmdId, `estimate.payload.source.ts: ${Math.round(age_s)} s old, more than maxEstimateAge_s ${this.opts.maxEstimateAge_s} s`);
    }
    const src = pickSource(v.msg);
    this.counters.accepted++;
    this.cmdId = cmd.cmdId;
    this.vehicle = v.msg;
    this.measurements = [];
    this.refined = undefined;
    this.confirmation = undefined;
    this.result = undefined;
    this.lastGuidance = undefined;
    if (!src) {
      this.phase = 'idle';
      this.prior = this.current = undefined;
      this.field = undefined;
      ctx.log.info({ cmdId: cmd.cmdId }, 'estimate without a source: nothing to go to');
    } else {
      this.origin = { lat: src.lat, lon: src.lon };
      this.prior = estimateFromMsg(src, this.origin);
      this.current = this.prior;
      this.field = fieldFor(src, this.prior);
      this.phase = 'guiding';
      ctx.log.info({ cmdId: cmd.cmdId, lat: src.lat, lon: src.lon, height_m: src.height_m, nuclide: src.nuclide }, 'estimate accepted: guiding to the source');
      if (this.fix) this.updateGuidance();
    }
    this.ack(cmd.cmdId, true);
    this.writeStatus();
  }

  private refuse(cmdId: string, reason: string): void {
    this.counters.refused++;
    this.ctx?.log.warn({ cmdId, reason }, 'estimate refused');
    this.ack(cmdId, false, reason);
  }

  private onGps(r: Readings['gps'][0]): void {
    if (!(r.fix > 0)) return;
    this.fix = { lat: r.lat, lon: r.lon, ...(r.height_m !== undefined ? { height_m: r.height_m } : {}), time_ms: r.time_ms };
    this.ctx?.setPosition?.({ lat: r.lat, lon: r.lon, ...(r.height_m !== undefined ? { height_m: r.height_m } : {}) });
    if (this.current) this.updateGuidance();
  }

  private updateGuidance(): void {
    if (!this.current || !this.fix) return;
    const g = guide(this.fix, this.current, { minRadius_m: this.opts.minArrivalRadius_m, maxRadius_m: this.opts.maxArrivalRadius_m });
    const was = this.lastGuidance;
    this.lastGuidance = g;
    if (this.phase === 'guiding' && g.arrived) {
      this.phase = 'confirming';
      this.confirmation = new ConfirmationMeasurement({ duration_s: this.opts.confirm_s, identifier: this.identifier!, ...(this.g ? { g: this.g } : {}) });
      this.ctx?.log.info({ distance_m: g.distance_m, radius_m: g.arrivalRadius_m }, 'arrived at the source: confirmation measurement started');
      this.emitSource();
    } else if (this.phase === 'confirming' && g.distance_m > 2 * g.arrivalRadius_m) {
      // Walked off: a confirmation must come from one spot.
      this.phase = 'guiding';
      this.confirmation = undefined;
      this.ctx?.log.info({ distance_m: g.distance_m }, 'left the spot: confirmation restarted on return');
    }
    if (!was || was.arrived !== g.arrived || Math.abs(was.distance_m - g.distance_m) > 0.5 || Math.abs(was.bearing_deg - g.bearing_deg) > 5) {
      this.ctx?.log.debug({ bearing_deg: g.bearing_deg, distance_m: g.distance_m, arrived: g.arrived }, 'guidance');
    }
    this.writeStatus();
  }

  private onSpectrum(r: SpectrumReading): void {
    if (this.opts.detector.id !== undefined && r.detector !== this.opts.detector.id) return;
    if (!this.current || !this.origin || this.phase === 'idle') return;
    this.counters.spectra++;
    const cal: EnergyCalibration | undefined = r.calibration ?? (this.opts.keVPerChannel ? linearCalibration(this.opts.keVPerChannel) : undefined);
    const pos = r.position ?? (this.fix && r.time_ms - this.fix.time_ms <= this.opts.maxFixAge_s * 1000 ? this.fix : undefined);
    if (pos && r.liveTime_s > 0) {
      const local = toLocal(this.origin, { lat: pos.lat, lon: pos.lon, height_m: 0 });
      this.measurements.push({ t_s: r.time_ms / 1000, detector: r.detector, x_m: local.x_m, y_m: local.y_m, z_m: 1, liveTime_s: r.liveTime_s, counts: this.windowCounts(r.counts, cal) });
      if (this.measurements.length > this.opts.maxMeasurements) this.measurements.splice(0, this.measurements.length - this.opts.maxMeasurements);
      if (this.measurements.length >= 5 && this.prior) {
        try {
          this.refined = refineWithHandheld(this.prior, this.measurements, { origin: this.origin, buildup: this.window(cal) ? 'none' : 'linear' });
          this.current = this.refined.estimate;
          if (this.vehicle) {
            const vs = pickSource(this.vehicle);
            if (vs) this.field = fieldFor(vs, this.current);
          }
          if (this.phase === 'guiding' || this.phase === 'confirming') this.updateGuidance();
        } catch (e) {
          this.ctx?.log.warn({ err: (e as Error).message }, 'refinement failed; keeping the previous estimate');
        }
      }
    }
    if (this.phase === 'confirming' && this.confirmation && cal) {
      const done = this.confirmation.add({ counts: r.counts, liveTime_s: r.liveTime_s, calibration: cal });
      if (done) this.finishConfirmation();
      else this.writeStatus();
    }
  }

  /** ROI of the nuclide's main line when the vehicle named one and spectra are calibrated, else the whole spectrum. */
  private window(cal: EnergyCalibration | undefined): [number, number] | undefined {
    const nuclide = this.vehicle?.sources[0]?.nuclide;
    if (!cal || !nuclide) return undefined;
    try {
      return roiWindow(mainLine(nuclide, this.model).energy_keV, this.model);
    } catch {
      return undefined;
    }
  }

  private windowCounts(counts: Float64Array, cal: EnergyCalibration | undefined): number {
    const w = this.window(cal);
    let sum = 0;
    for (let ch = 0; ch < counts.length; ch++) {
      if (w && cal) {
        const e = energyOf(cal, ch + 0.5);
        if (e < w[0] || e > w[1]) continue;
      }
      sum += counts[ch]!;
    }
    return sum;
  }

  private finishConfirmation(): void {
    const conf = this.confirmation;
    const ctx = this.ctx;
    if (!conf || !ctx) return;
    const res = conf.result();
    this.counters.confirmations++;
    this.phase = 'confirmed';
    const id = res.identification;
    const nuclides = id.nuclides.map((n) => ({ nuclide: n.nuclide, confidence: Math.min(1, Math.max(0, n.confidence)), category: n.category }));
    this.result = { nuclides, liveTime_s: res.liveTime_s, ...(res.doseRate_uSv_h !== undefined ? { doseRate_uSv_h: res.doseRate_uSv_h } : {}) };
    ctx.log.info({ nuclides: nuclides.map((n) => n.nuclide), doseRate_uSv_h: res.doseRate_uSv_h, live_s: res.liveTime_s }, 'confirmation measurement done');
    const top = id.nuclides[0];
    const body: BodyOf<'alarm'> = {
      alarmId: `confirm-${(this.cmdId ?? 'x').replace(/[^A-Za-z0-9_.-]/g, '-')}`.slice(0, 64),
      test: 'confirmation',
      detector: (this.opts.detector.id ?? this.model.name).slice(0, 64),
      // Significance (σ) of the strongest identified nuclide against the identifier's 5.5 σ reporting cut.
      statistic: top?.significance ?? 0,
      threshold: Math.sqrt(30),
      gross_cps: res.grossCounts / res.liveTime_s,
      ...(res.doseRate_uSv_h !== undefined ? { doseRate_uSv_h: Math.max(0, res.doseRate_uSv_h) } : {}),
      nuclides,
      ...(this.fix ? { position: { lat: this.fix.lat, lon: this.fix.lon, ...(this.fix.height_m !== undefined ? { height_m: this.fix.height_m } : {}) } } : {}),
    };
    this.enqueue(() => ctx.emit('alarm', body));
    this.emitSource(res.doseRate_uSv_h, nuclides[0]?.nuclide);
    this.writeStatus();
  }

  /** The refined estimate as a `source` summary (same estimateId with a suffix, so the dashboard shows both). */
  private emitSource(doseHere_uSv_h?: number, nuclide?: string): void {
    const ctx = this.ctx;
    const est = this.current;
    const v = this.vehicle;
    if (!ctx || !est || !v) return;
    const vs = pickSource(v);
    const extra: Record<string, unknown> = {
      refinedBy: ctx.node,
      measurements: this.measurements.length,
      ...(doseHere_uSv_h !== undefined ? { confirmedDoseRate_uSv_h: Math.max(0, doseHere_uSv_h) } : {}),
    };
    const body: BodyOf<'source'> = {
      estimateId: `${v.estimateId}-${ctx.node}${this.phase === 'confirmed' ? '-c' : ''}`.slice(0, 64),
      sources: [
        {
          lat: est.lat,
          lon: est.lon,
          height_m: est.height_m,
          ...((nuclide ?? est.nuclide) ? { nuclide: (nuclide ?? est.nuclide)!.slice(0, 32) } : {}),
          cps_at_1m: this.refined?.handheld_cps_at_1m ?? vs?.cps_at_1m ?? 0,
          ...(vs?.activity_Bq !== undefined ? { activity_Bq: vs.activity_Bq } : {}),
          ...(vs?.doseRate_uSv_h_at_1m !== undefined ? { doseRate_uSv_h_at_1m: vs.doseRate_uSv_h_at_1m } : {}),
          ci95_m: horizontalRadius95_m(est),
          ambiguous: est.ambiguous,
          // Extra fields the source schema lets through: who refined it and from how many of its own measurements.
          ...extra,
        },
      ],
    };
    this.enqueue(() => ctx.emit('source', body));
  }

  private writeStatus(): void {
    const file = this.opts.statusFile;
    if (!file) return;
    try {
      writeFileSync(`${file}.tmp`, JSON.stringify(this.status()));
      renameSync(`${file}.tmp`, file);
    } catch (e) {
      this.ctx?.log.warn({ err: (e as Error).message, file }, 'cannot write the guidance status file');
    }
  }
}

type MsgSource = SourceMsg['sources'][number];

/** The strongest source of a vehicle estimate (the one to go to first). */
function pickSource(m: SourceMsg): MsgSource | undefined {
  let best: MsgSource | undefined;
  for (const s of m.sources) if (!best || s.cps_at_1m > best.cps_at_1m) best = s;
  return best;
}

/**
 * A SourceEstimate from the summary: the full covariance when the vehicle sent it (an extra field the schema lets
 * through), else an isotropic one from the 95 % radius (default 5 m when the vehicle gave none).
 */
function estimateFromMsg(s: MsgSource, origin: LocalOrigin): SourceEstimate {
  const local = toLocal(origin, { lat: s.lat, lon: s.lon, height_m: s.height_m });
  const extra = s as MsgSource & { covariance_m2?: unknown; energy_keV?: unknown; ci95_semiAxes_m?: unknown; ci95_axes?: unknown; mirror?: unknown };
  const semiAxes = numberMatrix([extra.ci95_semiAxes_m], 1, 3)?.[0];
  const axes = numberMatrix(extra.ci95_axes, 3, 3);
  let cov: number[][];
  const full = numberMatrix(extra.covariance_m2, 3, 3);
  if (full) {
    cov = full;
  } else if (semiAxes && axes) {
    // The localize pipeline sends the 95 % ellipsoid: C = Σ (s²/χ²₃,₉₅) a aᵀ, plus the strength variance unknown.
    cov = [0, 1, 2, 3].map((i) => [0, 1, 2, 3].map((j) => (i === 3 || j === 3 ? (i === j ? s.cps_at_1m ** 2 : 0) : 0)));
    for (let k = 0; k < 3; k++) {
      const a = axes[k]!;
      const w = semiAxes[k]! ** 2 / CHI2_3DOF_95;
      for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) cov[i]![j]! += w * a[i]! * a[j]!;
    }
  } else {
    const sigma2 = ((s.ci95_m ?? 5) ** 2) / CHI2_3DOF_95;
    cov = [0, 1, 2, 3].map((i) => [0, 1, 2, 3].map((j) => (i === j ? (i < 3 ? sigma2 : s.cps_at_1m ** 2) : 0)));
  }
  const semi = Math.sqrt(CHI2_3DOF_95 * Math.max(cov[0]![0]!, cov[1]![1]!, cov[2]![2]!));
  const g = toGeo(origin, local);
  const m = extra.mirror as { lat?: unknown; lon?: unknown; height_m?: unknown } | undefined;
  const mirror = m && typeof m.lat === 'number' && typeof m.lon === 'number' ? { lat: m.lat, lon: m.lon, height_m: typeof m.height_m === 'number' ? m.height_m : s.height_m } : undefined;
  return {
    ...(mirror ? { mirror } : {}),
    x_m: local.x_m,
    y_m: local.y_m,
    z_m: Math.max(0, local.z_m),
    lat: g.lat,
    lon: g.lon,
    height_m: s.height_m,
    ...(s.nuclide ? { nuclide: s.nuclide } : {}),
    ...(typeof extra.energy_keV === 'number' ? { energy_keV: extra.energy_keV } : {}),
    cps_at_1m: s.cps_at_1m,
    ...(s.activity_Bq !== undefined ? { activity_Bq: s.activity_Bq } : {}),
    covariance_m2: cov,
    ci95: { semiAxes_m: [semi, semi, semi], axes: [[1, 0, 0], [0, 1, 0], [0, 0, 1]], method: 'fisher' },
    ambiguous: s.ambiguous,
  };
}

/** A rows × cols matrix of finite numbers (at least), from an untyped field; undefined otherwise. */
function numberMatrix(v: unknown, rows: number, cols: number): number[][] | undefined {
  if (!Array.isArray(v) || v.length < rows) return undefined;
  const out: number[][] = [];
  for (let i = 0; i < rows; i++) {
    const r: unknown = v[i];
    if (!Array.isArray(r) || r.length < cols || !r.every((x) => typeof x === 'number' && Number.isFinite(x))) return undefined;
    out.push((r as number[]).slice(0, Math.max(cols, r.length)));
  }
  return out;
}

/** The dose field of the vehicle's source, when it says how strong it is in dose terms. */
function fieldFor(s: MsgSource, est: SourceEstimate): DoseField | undefined {
  const pos = { x_m: est.x_m, y_m: est.y_m, z_m: est.z_m };
  try {
    if (s.doseRate_uSv_h_at_1m !== undefined) return createDoseField([{ ...pos, ...(s.nuclide ? { nuclide: s.nuclide } : {}), doseRateAt1m_uSv_h: s.doseRate_uSv_h_at_1m }]);
    if (s.activity_Bq !== undefined && s.nuclide) return createDoseField([{ ...pos, nuclide: s.nuclide, activity_Bq: s.activity_Bq }]);
  } catch {
    /* an unknown nuclide name from the vehicle: no dose display, guidance still works */
  }
  return undefined;
}

export function createHandheld(spec: ComponentSpec): HandheldPipeline {
  return new HandheldPipeline(spec);
}
