// The X-ray node pipeline: scans from the bus → preprocess → materials → ATR (one model per stage) → staged decision → `xray` summaries.
//
// Scans are handled one at a time in arrival order. A scan is finished (the driver's done()) only once its summary
// is in the outbox and its decision record on disk, so a crash repeats it rather than losing it. A model that cannot
// be loaded, or does not match its card, does not stop the node: every scan is then decided on materials and
// declaration alone and sent to review with the model's problem as the reason. Images never leave the box.
import { Type, type Static } from '@sinclair/typebox';
import { parseDeviceOptions } from '../../contract/options.js';
import type { BodyOf } from '../../protocol/index.js';
import { OnnxDetector } from '../inference/detector.js';
import type { Component, ComponentContext, ComponentSpec, Readings } from '../../contract/component.js';
import { resolveCardPath, type AtrStage } from '../xray/atr.js';
import { DecisionConfigSchema, DEFAULT_DECISION } from '../../analysis/xray/decision.js';
import { DecisionLog } from '../xray/decision-log.js';
import { inspectScan, reasonOf, type InspectResult, type Sidecar } from '../xray/inspect.js';
import { DEFAULT_MATERIALS, MaterialsConfigSchema } from '../../analysis/xray/materials.js';

export const XrayOptionsSchema = Type.Object(
  {
    stages: Type.Array(
      Type.Object(
        {
          name: Type.String({ minLength: 1, maxLength: 64, description: 'stage name reported with its detections' }),
          card: Type.String({ minLength: 1, description: 'model card (JSON) of the stage ONNX detector' }),
        },
        { additionalProperties: false },
      ),
      { default: [{ name: 'threats', card: 'models/xray-atr/model-card.json' }], maxItems: 8 },
    ),
    maxSide: Type.Integer({ minimum: 64, maximum: 16384, default: 1024, description: 'analysis resolution: longer side in pixels' }),
    materialsMaxSide: Type.Integer({ minimum: 64, maximum: 16384, default: 512, description: 'materials resolution: longer side in pixels' }),
    pitch_cm: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'scanner pixel size at the belt, when sidecars do not say' })),
    referencesDir: Type.Optional(Type.String({ minLength: 1, description: 'dark/open-beam references: <dir>/<high|low>/dark.png, open.png' })),
    palette: Type.Optional(Type.String({ minLength: 1, description: 'pseudo-colour exports: built-in palette name (generic, customs-render) or palette file from customs-calib xray palette' })),
    logDir: Type.Optional(Type.String({ minLength: 1, description: 'decisions.jsonl and verdicts.jsonl are kept here' })),
    materials: Type.Optional(MaterialsConfigSchema),
    decision: Type.Optional(DecisionConfigSchema),
  },
  { additionalProperties: false },
);
export type XrayOptions = Static<typeof XrayOptionsSchema>;

type ScanReading = Readings['xrayScan'][0];

export class XrayPipeline implements Component {
  readonly kind = 'pipeline' as const;
  readonly name: string;
  readonly opts: XrayOptions;
  private ctx: ComponentContext | undefined;
  private stages: AtrStage[] = [];
  private detectors: OnnxDetector[] = [];
  private modelProblems: string[] = [];
  private models: Record<string, string> = {};
  private log: DecisionLog | undefined;
  private listener: ((s: ScanReading) => void) | undefined;
  private chain: Promise<void> = Promise.resolve();
  private readonly counters = { scans: 0, clear: 0, review: 0, inspect: 0 };

  constructor(spec: ComponentSpec) {
    this.name = spec.name;
    this.opts = parseDeviceOptions(XrayOptionsSchema, spec, 'pipelines');
  }

  versions(): { models: Record<string, string> } {
    return { models: { ...this.models } };
  }

  stats() {
    return { ...this.counters, modelProblems: [...this.modelProblems] };
  }

  async start(ctx: ComponentContext): Promise<void> {
    this.ctx = ctx;
    if (!ctx.bus) throw new Error(`pipeline ${this.name}: the runtime gave no reading bus`);
    this.stages = [];
    this.detectors = [];
    this.modelProblems = [];
    this.models = {};
    for (const st of this.opts.stages) {
      try {
        const det = await OnnxDetector.load(resolveCardPath(st.card));
        this.detectors.push(det);
        this.stages.push({ name: st.name, detector: det });
        this.models[st.name] = `${det.card.name}@${det.card.version}`;
      } catch (e) {
        // The node keeps deciding on materials and declarations; every scan goes to review naming this.
        const problem = `ATR stage ${st.name} unavailable: ${reasonOf(e)}`;
        this.modelProblems.push(problem);
        ctx.log.error({ stage: st.name, card: st.card, err: (e as Error).message }, 'xray: model not usable, scans go to review');
      }
    }
    if (this.opts.logDir !== undefined) {
      this.log = new DecisionLog(this.opts.logDir);
      await this.log.init();
    }
    this.listener = (s) => {
      this.chain = this.chain.then(() => this.process(s));
    };
    ctx.bus.on('xrayScan', this.listener);
  }

  async stop(): Promise<void> {
    if (this.listener !== undefined) this.ctx?.bus?.off('xrayScan', this.listener);
    this.listener = undefined;
    await this.chain;
    for (const d of this.detectors) await d.close().catch(() => undefined);
    this.detectors = [];
    this.stages = [];
    this.ctx = undefined;
  }

  /** Resolves once every scan handed over so far is finished (tests). */
  settled(): Promise<void> {
    return this.chain;
  }

  private async process(scan: ScanReading): Promise<void> {
    const ctx = this.ctx;
    if (ctx === undefined) return;
    try {
      const sidecar = scan.sidecar as Sidecar | undefined;
      const { result } = await inspectScan(
        {
          scanId: scan.scanId,
          ...(scan.high !== undefined ? { high: scan.high } : {}),
          ...(scan.low !== undefined ? { low: scan.low } : {}),
          ...(sidecar !== undefined ? { sidecar } : {}),
          problems: [...(scan.problems ?? []), ...this.modelProblems],
        },
        {
          stages: this.stages,
          materials: this.opts.materials ?? DEFAULT_MATERIALS,
          decision: this.opts.decision ?? DEFAULT_DECISION,
          maxSide: this.opts.maxSide,
          materialsMaxSide: this.opts.materialsMaxSide,
          ...(this.opts.pitch_cm !== undefined ? { pitch_cm: this.opts.pitch_cm } : {}),
          ...(this.opts.referencesDir !== undefined ? { referencesDir: this.opts.referencesDir } : {}),
          ...(this.opts.palette !== undefined ? { palette: this.opts.palette } : {}),
        },
      );
      // The decision record first: a crash after it repeats the scan (readers keep the last line per scanId)
      // rather than leaving a published decision without its record.
      if (this.log !== undefined) {
        await this.log.appendDecision({
          ...result,
          ts: ctx.clock.now().ts,
          node: ctx.node,
          files: { ...(scan.high !== undefined ? { high: scan.high } : {}), ...(scan.low !== undefined ? { low: scan.low } : {}) },
          models: this.models,
        });
      }
      await ctx.emit('xray', summaryOf(result, sidecar?.scanner, this.models));
      this.counters.scans++;
      this.counters[result.decision]++;
      // At once, so the driver's journal line follows the outbox write as closely as it can.
      scan.done();
      ctx.log.info({ scanId: result.scanId, decision: result.decision, latency_ms: Math.round(result.latency_ms) }, 'xray: scan decided');
    } catch (e) {
      // Not in the outbox (or not logged): the driver keeps the scan pending and hands it over again.
      ctx.log.error({ scanId: scan.scanId, err: (e as Error).message }, 'xray: could not record the decision');
      scan.done(e as Error);
    }
  }
}

/** The MQTT summary of a decision: no image, no boxes; at most what the schema allows. */
export function summaryOf(r: InspectResult, scanner: string | undefined, models: Record<string, string>): BodyOf<'xray'> {
  const m = r.materials;
  return {
    scanId: r.scanId.slice(0, 128),
    decision: r.decision,
    reasons: r.reasons.slice(0, 32),
    detections: r.detections.slice(0, 256).map((d) => ({ class: d.class.slice(0, 64), score: Math.min(1, Math.max(0, d.score)), stage: d.stage })),
    latency_ms: Math.max(0, Math.round(r.latency_ms * 10) / 10),
    ...(m !== undefined
      ? {
          materials: {
            organic: round3(m.organic),
            inorganic: round3(m.inorganic),
            metal: round3(m.metal),
            opaque: round3(m.opaque),
            ...(m.denseOrganic.area_cm2 !== undefined ? { denseOrganic_cm2: Math.round(m.denseOrganic.area_cm2) } : {}),
            ...(m.mass_kg !== undefined ? { mass_kg: Math.round(m.mass_kg * 10) / 10 } : {}),
          },
        }
      : {}),
    ...(scanner !== undefined ? { scanner: scanner.slice(0, 128) } : {}),
    ...(Object.keys(models).length > 0 ? { models } : {}),
  };
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}

export function createXray(spec: ComponentSpec): XrayPipeline {
  return new XrayPipeline(spec);
}
