// Staged decision for one scan: detector scores, materials and declaration → clear / review (screener) / inspect (physical), with reasons.
//
// Rules, first match of the strongest outcome wins, every rule that fires adds its reason:
// - anything that kept the scan from being analysed (corrupt image, missing half of a pair, a model that does
//   not match its card) → review: a person looks, nothing is cleared unseen;
// - a detection at or over its class's inspect score → inspect;
// - a detection at or over the review score → review;
// - a dense organic mass larger than the threshold where the declaration names goods that are not organic (or there
//   is no declaration) → review;
// - metal over a share of the contents where the declared goods should hold little (textiles, paper) → review;
// - an impenetrable region larger than the threshold (could hide anything) → review;
// - a mass seen by the beam far from the declared weight → review;
// - when the threat stage could not read this kind of input (a single-energy image for a model that needs the
//   low-energy channel, a pseudo-colour export for a model trained on measured pairs), the reasons say so and the
//   density and shape rules stand in for it: a dense compact object or an organic-block-like slab → review;
// - otherwise clear, saying why.
import { Type, type Static } from '@sinclair/typebox';
import { DEFAULT_DENSITY, type DensitySummary } from './density.js';
import type { MaterialsSummary } from './materials.js';

export const DensityConfigSchema = Type.Object(
  {
    denseAttenuation: Type.Number({ exclusiveMinimum: 0, default: DEFAULT_DENSITY.denseAttenuation, description: 'single energy: A_high at or above this is dense (about 3 mm of steel)' }),
    denseArea_cm2: Type.Number({ minimum: 0, default: DEFAULT_DENSITY.denseArea_cm2, description: 'a dense region at least this large → review' }),
    densePermille: Type.Number({ minimum: 0, default: DEFAULT_DENSITY.densePermille, description: 'the same in ‰ of the object pixels when the pixel size is unknown' }),
    structuralLength_cm: Type.Number({ minimum: 0, default: DEFAULT_DENSITY.structuralLength_cm, description: 'dense regions longer than this and thin are structure (trolley bars)' }),
    structuralWidth_cm: Type.Number({ minimum: 0, default: DEFAULT_DENSITY.structuralWidth_cm }),
    blockMinAttenuation: Type.Number({ minimum: 0, default: DEFAULT_DENSITY.blockMinAttenuation }),
    blockArea_cm2: Type.Number({ minimum: 0, default: DEFAULT_DENSITY.blockArea_cm2, description: 'a uniform block-like slab at least this large → review' }),
    blockFill: Type.Number({ minimum: 0, maximum: 1, default: DEFAULT_DENSITY.blockFill }),
    blockMinSide_cm: Type.Number({ minimum: 0, default: DEFAULT_DENSITY.blockMinSide_cm }),
    blockUniformity: Type.Number({ minimum: 0, default: DEFAULT_DENSITY.blockUniformity }),
  },
  { additionalProperties: false, description: 'density and shape rules used where the threat stage cannot read the input' },
);

export const DecisionConfigSchema = Type.Object(
  {
    reviewScore: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0,
      description: "a detection at or over this score → screener review (detections already passed their model card's per-class threshold; 0: every one)",
    }),
    inspectScore: Type.Record(Type.String(), Type.Number({ minimum: 0, maximum: 1 }), {
      default: { gun: 0.6, ied: 0.5, knife: 0.75, blade: 0.8, organic_block: 0.7 },
      description: 'per class: a detection at or over this score → physical inspection',
    }),
    denseOrganicArea_cm2: Type.Number({ minimum: 0, default: 60, description: 'a connected dense organic region at least this large is reported' }),
    organicHsChapters: Type.Array(Type.String({ pattern: '^[0-9]{2}$' }), {
      default: ['01', '02', '03', '04', '05', '06', '07', '08', '09', '10', '11', '12', '13', '14', '15', '16', '17', '18', '19', '20', '21', '22', '23', '24', '33', '34', '38', '39', '40', '41', '42', '43', '44', '45', '46', '47', '48', '49', '50', '51', '52', '53', '54', '55', '56', '57', '58', '59', '60', '61', '62', '63', '64', '65', '95'],
      description: 'HS chapters whose goods are organic (food, plastics, wood, paper, textiles, footwear, toys): a dense organic mass is expected there',
    }),
    lowMetalHsChapters: Type.Array(Type.String({ pattern: '^[0-9]{2}$' }), {
      default: ['48', '49', '50', '51', '52', '53', '54', '55', '56', '57', '58', '59', '60', '61', '62', '63'],
      description: 'HS chapters whose goods hold little metal (paper, textiles)',
    }),
    metalShare: Type.Number({ minimum: 0, maximum: 1, default: 0.15, description: 'metal share of the contents that is unexpected for low-metal goods' }),
    opaqueShare: Type.Number({ minimum: 0, maximum: 1, default: 0.02, description: 'impenetrable share of the contents that needs a screener' }),
    massFactor: Type.Number({
      minimum: 0,
      default: 2,
      description: 'mass seen by the beam more than this many times the declared weight (+1 kg), or less than 1/this (-1 kg) → review; 0: off',
    }),
    density: Type.Optional(DensityConfigSchema),
  },
  { additionalProperties: false },
);
export type DecisionConfig = Static<typeof DecisionConfigSchema>;

export const DEFAULT_DECISION: DecisionConfig = {
  reviewScore: 0,
  inspectScore: { gun: 0.6, ied: 0.5, knife: 0.75, blade: 0.8, organic_block: 0.7 },
  denseOrganicArea_cm2: 60,
  organicHsChapters: DecisionConfigSchema.properties.organicHsChapters.default as string[],
  lowMetalHsChapters: DecisionConfigSchema.properties.lowMetalHsChapters.default as string[],
  metalShare: 0.15,
  opaqueShare: 0.02,
  massFactor: 2,
};

export type Decision = 'clear' | 'review' | 'inspect';

export interface Declaration {
  hsCode?: string;
  goods?: string;
  weight_kg?: number;
  origin?: string;
}

export interface DecisionInput {
  detections: readonly { class: string; score: number; stage?: string }[];
  materials?: MaterialsSummary;
  declaration?: Declaration;
  /** Why the scan could not be (fully) analysed; any entry forces at least review. */
  problems?: readonly string[];
  /**
   * Threat stages that did not run because the input cannot feed them (not a failure), each with why. When
   * present, `density` carries the rules that stand in for them.
   */
  threatStageNotRun?: readonly string[];
  density?: DensitySummary;
}

export interface DecisionResult {
  decision: Decision;
  reasons: string[];
}

const RANK: Record<Decision, number> = { clear: 0, review: 1, inspect: 2 };

function hsChapter(hs: string | undefined): string | undefined {
  const m = /^\s*([0-9]{2})/.exec(hs ?? '');
  return m?.[1];
}

function declared(d: Declaration | undefined): string {
  if (d === undefined) return 'no declaration';
  return `declared ${d.goods !== undefined ? `"${d.goods}"` : 'goods'}${d.hsCode !== undefined ? ` (HS ${d.hsCode})` : ''}`;
}

/** Pure: the same input and config always give the same decision and reasons. */
export function decide(input: DecisionInput, cfg: DecisionConfig = DEFAULT_DECISION): DecisionResult {
  let decision: Decision = 'clear';
  const reasons: string[] = [];
  const raise = (d: Decision, reason: string): void => {
    if (RANK[d] > RANK[decision]) decision = d;
    reasons.push(reason);
  };
  for (const p of input.problems ?? []) raise('review', `not analysed automatically: ${p}`);
  const sorted = [...input.detections].sort((a, b) => b.score - a.score);
  for (const d of sorted) {
    const inspectAt = cfg.inspectScore[d.class];
    const where = d.stage !== undefined ? ` (stage ${d.stage})` : '';
    if (inspectAt !== undefined && d.score >= inspectAt) raise('inspect', `${d.class} ${d.score.toFixed(2)} >= ${inspectAt}${where}`);
    else if (d.score >= cfg.reviewScore) raise('review', `${d.class} ${d.score.toFixed(2)} >= review ${cfg.reviewScore}${where}`);
  }
  const notRun = input.threatStageNotRun ?? [];
  const dens = input.density;
  for (const why of notRun) reasons.push(`threat stage not run: ${why}; decided on materials, density and shape`);
  if (dens !== undefined) {
    const size = (r: DensitySummary['dense'][number]): string =>
      r.area_cm2 !== undefined ? `${r.area_cm2.toFixed(0)} cm2, ${r.length.toFixed(0)} x ${r.width.toFixed(1)} cm` : `${r.pixels} px`;
    const what = dens.basis === 'metal-class' ? 'metal' : 'dense';
    for (const r of dens.dense.slice(0, 3)) raise('review', `${what} object ${size(r)} at ${r.box.x},${r.box.y} (mean attenuation ${r.meanAttenuation.toFixed(2)}): could be a weapon, no threat model for this input`);
    if (dens.dense.length > 3) raise('review', `${dens.dense.length - 3} more ${what} objects`);
    for (const r of dens.blocks.slice(0, 2)) raise('review', `organic-block-like slab ${size(r)} at ${r.box.x},${r.box.y} (uniform, mean attenuation ${r.meanAttenuation.toFixed(2)})`);
  }
  const m = input.materials;
  const chapter = hsChapter(input.declaration?.hsCode);
  if (m !== undefined) {
    const area = m.denseOrganic.area_cm2;
    if (area !== undefined && area >= cfg.denseOrganicArea_cm2) {
      const expected = chapter !== undefined && cfg.organicHsChapters.includes(chapter);
      if (!expected) raise('review', `dense organic mass ${area.toFixed(0)} cm2 (mean attenuation ${m.denseOrganic.meanAttenuation.toFixed(2)}) but ${declared(input.declaration)}`);
    }
    if (chapter !== undefined && cfg.lowMetalHsChapters.includes(chapter) && m.metal >= cfg.metalShare) {
      raise('review', `metal ${(m.metal * 100).toFixed(0)} % of contents for ${declared(input.declaration)}`);
    }
    if (m.opaque >= cfg.opaqueShare) raise('review', `impenetrable ${(m.opaque * 100).toFixed(1)} % of contents (could hide items)`);
    const declaredKg = input.declaration?.weight_kg;
    if (cfg.massFactor > 0 && m.mass_kg !== undefined && declaredKg !== undefined && declaredKg > 0) {
      if (m.mass_kg > declaredKg * cfg.massFactor + 1) raise('review', `about ${m.mass_kg.toFixed(1)} kg seen by the beam, declared ${declaredKg} kg`);
      else if (m.mass_kg < declaredKg / cfg.massFactor - 1) raise('review', `only about ${m.mass_kg.toFixed(1)} kg seen by the beam, declared ${declaredKg} kg`);
    }
  }
  if (decision === 'clear') {
    const top = sorted[0];
    // With no threat stage run, "no detection" would claim a look that did not happen.
    if (top !== undefined || notRun.length === 0) {
      reasons.push(top === undefined ? `no detection over review ${cfg.reviewScore}` : `top detection ${top.class} ${top.score.toFixed(2)} < review ${cfg.reviewScore}`);
    }
    if (m !== undefined) reasons.push(`materials consistent with ${declared(input.declaration)}`);
    if (dens !== undefined) {
      reasons.push(`nothing ${dens.basis === 'metal-class' ? 'metal' : 'dense'} or block-like${dens.structural > 0 ? ` (${dens.structural} long thin structure${dens.structural > 1 ? 's' : ''} such as trolley bars not counted)` : ''}`);
    }
  }
  return { decision, reasons: reasons.slice(0, 32).map((r) => (r.length > 256 ? `${r.slice(0, 253)}...` : r)) };
}
