// The vehicle's 3D localization pipeline: positioned spectra on the bus -> streaming source localization while counts are elevated -> `source` summaries.
//
// Readings are grouped by their own time (all detectors of one acquisition share time_ms), counted in the ROI of the
// configured nuclide, placed in local metres, and kept in a sliding window. When a group's counts stand out from the
// window's background, a StreamingLocalizer starts on the window and follows every group; a `source` summary goes
// out when the estimate first becomes significant and again when it changes materially; after `quiet_s` without
// elevated counts a final multi-source estimate is made and the localizer is dropped. Time is the data's, not the clock's.
import { Type, type Static } from '@sinclair/typebox';
import { parseDeviceOptions } from '../../contract/options.js';
import { energyOf } from '../../analysis/radiation/calibration.js';
import type { DetectorModel } from '../../analysis/radiation/dose.js';
import { getNuclide } from '../../analysis/radiation/nuclides.js';
import { toLocal } from '../../analysis/radiation/localize/geo.js';
import { StreamingLocalizer } from '../../analysis/radiation/localize/localize.js';
import { type ForwardModel, mainLine, makeModel, roiWindow, windowEfficiency_cm2 } from '../../analysis/radiation/localize/model.js';
import type { LocMeasurement, LocalOrigin, LocalizeResult, SourceEstimate } from '../../analysis/radiation/localize/types.js';
import type { Component, ComponentContext, ComponentSpec, Readings } from '../../contract/component.js';
import type { BodyOf } from '../../protocol/index.js';
import { DETECTOR_MODEL_DESCRIPTION, detectorModelOption } from './detector-option.js';

export const LocalizeOptionsSchema = Type.Object(
  {
    detectors: Type.Array(
      Type.Object(
        {
          id: Type.String({ minLength: 1, description: 'detector id as the spectrometer driver names it' }),
          model: Type.String({ minLength: 1, description: DETECTOR_MODEL_DESCRIPTION }),
          height_m: Type.Optional(Type.Number({ minimum: 0, description: 'height above ground, used with the GPS fix when a spectrum carries no position' })),
        },
        { additionalProperties: false },
      ),
      { minItems: 1 },
    ),
    nuclide: Type.String({ minLength: 1, default: 'Cs137', description: 'nuclide whose main-line ROI is counted' }),
    origin: Type.Optional(Type.Object({ lat: Type.Number({ minimum: -90, maximum: 90 }), lon: Type.Number({ minimum: -180, maximum: 180 }) }, { additionalProperties: false })),
    area_m: Type.Tuple([Type.Number({ exclusiveMinimum: 0 }), Type.Number({ exclusiveMinimum: 0 }), Type.Number({ exclusiveMinimum: 0 })], { default: [200, 200, 10], description: 'searched area east x north x up, centred where the counts rose' }),
    window_s: Type.Number({ exclusiveMinimum: 0, default: 300, description: 'sliding window of data kept for an estimate' }),
    elevatedSigma: Type.Number({ exclusiveMinimum: 0, default: 4, description: 'ROI counts this many sigma over background start the localizer' }),
    quiet_s: Type.Number({ exclusiveMinimum: 0, default: 20, description: 'the localizer stops after this long without elevated counts' }),
    minBackground_s: Type.Number({ minimum: 1, default: 10, description: 'data needed before counts can be called elevated' }),
    minEmit_s: Type.Number({ minimum: 0, default: 5, description: 'least data time between two updates of one estimate' }),
    maxSpeed_m_s: Type.Number({ exclusiveMinimum: 0, default: 30, description: 'positions implying more are GPS jumps and skipped' }),
    maxSources: Type.Integer({ minimum: 1, maximum: 16, default: 3 }),
  },
  { additionalProperties: false },
);
export type LocalizePipelineOptions = Static<typeof LocalizeOptionsSchema>;

type SpectrumReading = Readings['spectrum'][0];

interface Roi {
  key: string;
  lo: number;
  hi: number;
}

export interface LocalizeStats {
  groups: number;
  skippedNoPosition: number;
  skippedJump: number;
  episodes: number;
  emitted: number;
}

export class LocalizePipeline implements Component {
  readonly kind = 'pipeline' as const;
  readonly name: string;
  private readonly opts: LocalizePipelineOptions;
  private readonly models = new Map<string, DetectorModel>();
  private readonly model: ForwardModel;
  private readonly refEff_cm2: number;
  private readonly energy_keV: number;
  private ctx: ComponentContext | undefined;
  private listeners: { [K in keyof Readings]?: (...a: Readings[K]) => void } = {};
  private chain: Promise<void> = Promise.resolve();
  private origin: LocalOrigin | undefined;
  private t0_ms: number | undefined;
  private gps: { lat: number; lon: number } | undefined;
  private rois = new Map<string, Roi>();
  private lastPos = new Map<string, { x: number; y: number; t: number }>();
  private group: { time_ms: number; ms: LocMeasurement[] } | undefined;
  private window: LocMeasurement[][] = [];
  private active: { loc: StreamingLocalizer; start_ms: number; id: string; lastElevated_ms: number; lastEmit?: { t_ms: number; sources: SourceEstimate[] } } | undefined;
  private warned = new Set<string>();
  private counters: LocalizeStats = { groups: 0, skippedNoPosition: 0, skippedJump: 0, episodes: 0, emitted: 0 };

  constructor(spec: ComponentSpec) {
    this.name = spec.name;
    this.opts = parseDeviceOptions(LocalizeOptionsSchema, spec, 'pipelines');
    getNuclide(this.opts.nuclide);
    // Resolved once per model option: a description folder is read once however many detectors name it.
    const byValue = new Map<string, DetectorModel>();
    this.opts.detectors.forEach((d, i) => {
      let m = byValue.get(d.model);
      if (!m) byValue.set(d.model, (m = detectorModelOption(spec, `detectors/${i}/model`, d.model)));
      this.models.set(d.id, m);
    });
    const ref = this.models.get(this.opts.detectors[0].id)!;
    this.energy_keV = mainLine(this.opts.nuclide, ref).energy_keV;
    const eff = (m: DetectorModel): number => {
      const [lo, hi] = roiWindow(this.energy_keV, m);
      return windowEfficiency_cm2(m, this.opts.nuclide, lo, hi);
    };
    this.refEff_cm2 = eff(ref);
    const relEff: Record<string, number> = {};
    for (const [id, m] of this.models) relEff[id] = eff(m) / this.refEff_cm2;
    this.model = makeModel({ energy_keV: this.energy_keV, relEff });
  }

  /** The response each detector's efficiency is computed through, as the radiation pipeline reports it. */
  versions(): { models: Record<string, string> } {
    const models: Record<string, string> = {};
    for (const [id, m] of this.models) models[`detector-response:${id}`] = (m.drf ? `drf:${m.name}` : m.name).slice(0, 128);
    return { models };
  }

  /** Efficiency of each detector in the ROI relative to the first detector's (what the forward model weighs by). */
  relativeEfficiency(): Record<string, number> {
    return { ...this.model.relEff };
  }

  stats(): LocalizeStats {
    return { ...this.counters };
  }

  async start(ctx: ComponentContext): Promise<void> {
    this.ctx = ctx;
    if (!ctx.bus) throw new Error(`pipeline ${this.name}: the runtime gave no reading bus`);
    this.listeners = {
      spectrum: (r) => this.onSpectrum(r),
      gps: (r) => {
        if (r.fix > 0) this.gps = { lat: r.lat, lon: r.lon };
      },
    };
    for (const [k, fn] of Object.entries(this.listeners)) ctx.bus.on(k as keyof Readings, fn as never);
  }

  async stop(): Promise<void> {
    const bus = this.ctx?.bus;
    if (bus) for (const [k, fn] of Object.entries(this.listeners)) bus.off(k as keyof Readings, fn as never);
    this.listeners = {};
    await this.chain;
    this.ctx = undefined;
  }

  /** Resolves once every summary so far has been handed to the outbox. */
  settled(): Promise<void> {
    return this.chain;
  }

  private warnOnce(key: string, msg: string, extra: Record<string, unknown>): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.ctx?.log.warn(extra, msg);
  }

  private roiOf(r: SpectrumReading): Roi | undefined {
    if (r.calibration === undefined) return undefined;
    const key = `${r.counts.length}|${JSON.stringify(r.calibration)}`;
    const hit = this.rois.get(r.detector);
    if (hit?.key === key) return hit;
    const [wlo, whi] = roiWindow(this.energy_keV, this.models.get(r.detector));
    let lo = -1;
    let hi = -1;
    for (let ch = 0; ch < r.counts.length; ch++) {
      const e = energyOf(r.calibration, ch + 0.5);
      if (e >= wlo && e <= whi) {
        if (lo < 0) lo = ch;
        hi = ch;
      }
    }
    if (lo < 0) return undefined;
    const roi = { key, lo, hi };
    this.rois.set(r.detector, roi);
    return roi;
  }

  private onSpectrum(r: SpectrumReading): void {
    if (!this.models.has(r.detector)) {
      this.warnOnce(`det:${r.detector}`, 'spectrum from a detector not in the localize options; ignored', { detector: r.detector });
      return;
    }
    if (this.group !== undefined && r.time_ms !== this.group.time_ms) this.closeGroup();
    const roi = this.roiOf(r);
    if (roi === undefined) {
      this.warnOnce(`cal:${r.detector}`, 'spectrum without an energy calibration covering the ROI; ignored', { detector: r.detector, nuclide: this.opts.nuclide });
      return;
    }
    const fallbackHeight = this.opts.detectors.find((d) => d.id === r.detector)?.height_m;
    const pos = r.position ?? (this.gps !== undefined && fallbackHeight !== undefined ? { ...this.gps, height_m: fallbackHeight } : undefined);
    if (pos === undefined) {
      this.counters.skippedNoPosition++;
      this.warnOnce('nopos', 'spectra without a position (and no GPS fix with a configured detector height) are skipped', { detector: r.detector });
      return;
    }
    this.origin ??= this.opts.origin ?? { lat: pos.lat, lon: pos.lon };
    this.t0_ms ??= r.time_ms;
    const p = toLocal(this.origin, { lat: pos.lat, lon: pos.lon, height_m: pos.height_m ?? fallbackHeight ?? 1 });
    const t_s = (r.time_ms - this.t0_ms) / 1000;
    const last = this.lastPos.get(r.detector);
    if (last !== undefined && Math.hypot(p.x_m - last.x, p.y_m - last.y) > this.opts.maxSpeed_m_s * Math.abs(t_s - last.t) + 5) {
      this.counters.skippedJump++;
      this.warnOnce('jump', 'GPS jump: positions implying an impossible speed are skipped', { detector: r.detector, maxSpeed_m_s: this.opts.maxSpeed_m_s });
      return;
    }
    this.lastPos.set(r.detector, { x: p.x_m, y: p.y_m, t: t_s });
    let counts = 0;
    for (let ch = roi.lo; ch <= roi.hi; ch++) counts += r.counts[ch];
    this.group ??= { time_ms: r.time_ms, ms: [] };
    this.group.ms.push({ t_s, detector: r.detector, x_m: p.x_m, y_m: p.y_m, z_m: p.z_m, liveTime_s: r.liveTime_s, counts });
  }

  /** Per-detector background of the window: the rate of its lower part (a source in view lifts the rest). */
  private windowBackground(): Map<string, { rate: number; live: number }> {
    const per = new Map<string, { rates: number[]; live: number }>();
    for (const g of this.window) for (const m of g) {
      const e = per.get(m.detector) ?? { rates: [], live: 0 };
      if (m.liveTime_s > 0) e.rates.push(m.counts / m.liveTime_s);
      e.live += m.liveTime_s;
      per.set(m.detector, e);
    }
    const out = new Map<string, { rate: number; live: number }>();
    for (const [id, e] of per) {
      e.rates.sort((a, b) => a - b);
      const lower = e.rates.slice(0, Math.max(1, Math.ceil(e.rates.length * 0.4)));
      out.set(id, { rate: lower.reduce((a, b) => a + b, 0) / lower.length, live: e.live });
    }
    return out;
  }

  private closeGroup(): void {
    const g = this.group;
    this.group = undefined;
    if (g === undefined || g.ms.length === 0) return;
    this.counters.groups++;
    try {
      this.step(g.time_ms, g.ms);
    } catch (e) {
      this.ctx?.fail(e as Error);
    }
  }

  private step(time_ms: number, ms: LocMeasurement[]): void {
    const bg = this.windowBackground();
    const enough = this.window.length > 0 && [...bg.values()].every((b) => b.live >= this.opts.minBackground_s);
    let elevated = false;
    if (enough) {
      let excess = 0;
      let variance = 0;
      for (const m of ms) {
        const b = bg.get(m.detector);
        if (b === undefined) continue;
        excess += m.counts - b.rate * m.liveTime_s;
        variance += b.rate * m.liveTime_s;
      }
      elevated = variance > 0 && excess / Math.sqrt(variance) > this.opts.elevatedSigma;
    }
    this.window.push(ms);
    const tNow = ms[0].t_s;
    while (this.window.length > 0 && tNow - this.window[0][0].t_s > this.opts.window_s) this.window.shift();

    if (this.active === undefined) {
      if (!elevated) return;
      this.startEpisode(time_ms);
      return;
    }
    const a = this.active;
    if (elevated) a.lastElevated_ms = time_ms;
    if (time_ms - a.start_ms > this.opts.window_s * 1000) {
      // The window slid past the start: begin again on what the window holds now.
      this.startEpisode(time_ms);
      return;
    }
    const r = a.loc.push(ms);
    if (time_ms - a.lastElevated_ms > this.opts.quiet_s * 1000) {
      this.maybeEmit(a.loc.result({ multi: true }), time_ms, true);
      this.active = undefined;
      return;
    }
    this.maybeEmit(r, time_ms, false);
  }

  private startEpisode(time_ms: number): void {
    const last = this.window[this.window.length - 1][0];
    const loc = new StreamingLocalizer({
      origin: this.origin!,
      model: this.model,
      nuclide: this.opts.nuclide,
      refEff_cm2: this.refEff_cm2,
      maxSources: this.opts.maxSources,
      area: { center: { x_m: last.x_m, y_m: last.y_m }, size_m: this.opts.area_m as [number, number, number] },
    });
    this.counters.episodes++;
    const previous = this.active;
    this.active = { loc, start_ms: time_ms, id: previous?.id ?? `${this.ctx?.node ?? 'node'}-loc-${time_ms}`, lastElevated_ms: time_ms, ...(previous?.lastEmit ? { lastEmit: previous.lastEmit } : {}) };
    const r = loc.push(this.window.flat());
    this.maybeEmit(r, time_ms, false);
  }

  /** Sends the estimate when it is significant and new, or has moved, grown or changed its ambiguity since the last one. */
  private maybeEmit(r: LocalizeResult, time_ms: number, final: boolean): void {
    const a = this.active;
    if (a === undefined || r.noSource || r.sources.length === 0) return;
    const prev = a.lastEmit;
    if (prev !== undefined && !final && time_ms - prev.t_ms < this.opts.minEmit_s * 1000) return;
    if (prev !== undefined && !changed(prev.sources, r.sources)) return;
    a.lastEmit = { t_ms: time_ms, sources: r.sources };
    this.counters.emitted++;
    const body: BodyOf<'source'> = {
      estimateId: a.id,
      sources: r.sources.slice(0, 16).map((s) => ({
        lat: s.lat,
        lon: s.lon,
        height_m: s.height_m,
        nuclide: this.opts.nuclide,
        cps_at_1m: s.cps_at_1m,
        ...(s.activity_Bq !== undefined && Number.isFinite(s.activity_Bq) ? { activity_Bq: s.activity_Bq } : {}),
        ...(Number.isFinite(s.ci95.semiAxes_m[0]) ? { ci95_m: s.ci95.semiAxes_m[0] } : {}),
        ambiguous: s.ambiguous,
        ci95_semiAxes_m: s.ci95.semiAxes_m,
        ci95_axes: s.ci95.axes,
        ...(s.mirror !== undefined ? { mirror: s.mirror } : {}),
      })),
    };
    const ctx = this.ctx;
    if (ctx === undefined) return;
    this.chain = this.chain.then(() => ctx.emit('source', body)).catch((e: unknown) => ctx.fail(e as Error));
  }
}

/**
 * A material change: another number of sources, a move beyond max(1 m, half the 95 % region), strength by 25 %,
 * the 95 % region shrunk or grown by a third (the handheld is sent with a tighter search area), ambiguity.
 */
function changed(a: readonly SourceEstimate[], b: readonly SourceEstimate[]): boolean {
  if (a.length !== b.length) return true;
  return b.some((s, i) => {
    const p = a[i];
    const moved = Math.hypot(s.x_m - p.x_m, s.y_m - p.y_m, s.z_m - p.z_m);
    const region = s.ci95.semiAxes_m[0] / p.ci95.semiAxes_m[0];
    return moved > Math.max(1, 0.5 * p.ci95.semiAxes_m[0]) || Math.abs(s.cps_at_1m / p.cps_at_1m - 1) > 0.25 || !(region > 2 / 3 && region < 1.5) || s.ambiguous !== p.ambiguous;
  });
}

/** Factory for the component registry (`pipelines[].type: localize`). */
export function createLocalize(spec: ComponentSpec): LocalizePipeline {
  return new LocalizePipeline(spec);
}
