// Nuclide identification by the small ONNX classifier of models/nuclide-classifier: the model is checked against its card at load, spectra are preprocessed exactly as train.py did, probabilities become a sorted nuclide list.
//
// Beside the template fit (identify.ts) rather than instead of it: the fit gives net counts, significances and the
// shield, and explains what it finds; the network only names nuclides, in a fraction of the time, and is a second
// opinion that fails differently. Both are scored on the same simulated spectra by bench/classifier.ts.
//
// The card (model-card.json beside model.onnx) is the contract: input and output names, dtypes and shapes, the
// classes in output order, the preprocessing and the decision threshold. A model that does not match its card is
// refused at load with every difference listed, because a silently shifted class order would name the wrong nuclide.

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Static, Type } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import * as ort from 'onnxruntime-node';
import { CustomsError, InputError } from '../../common/errors.js';
import { logger } from '../../common/log.js';
import { openSession, readCardJson, tensorProblems } from './onnx-check.js';
import { formatErrors } from '../../protocol/codec.js';
import { rebin } from '../../analysis/radiation/calibration.js';
import { type NuclideCategory, getNuclide } from '../../analysis/radiation/nuclides.js';
import type { EnergyCalibration } from '../../analysis/radiation/spectrum.js';

/** The only preprocessing this module implements; a card naming another is refused. */
export const PREPROCESSING_KIND = 'sqrt-share-v1';

const Dim = Type.Union([Type.Integer({ minimum: 1 }), Type.String({ minLength: 1 })]);
const TensorSpec = Type.Object({
  name: Type.String({ minLength: 1 }),
  dtype: Type.Literal('float32'),
  shape: Type.Array(Dim, { minItems: 2, maxItems: 2 }),
});

export const ModelCardSchema = Type.Object({
  name: Type.String(),
  version: Type.Integer(),
  /** Model file, relative to the card. */
  model: Type.String({ minLength: 1 }),
  opset: Type.Integer({ minimum: 1 }),
  input: TensorSpec,
  output: Type.Intersect([TensorSpec, Type.Object({ activation: Type.Literal('sigmoid') })]),
  classes: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
  preprocessing: Type.Object({
    kind: Type.String(),
    nChannels: Type.Integer({ minimum: 1 }),
    keVPerChannel: Type.Number({ exclusiveMinimum: 0 }),
    binChannels: Type.Integer({ minimum: 1 }),
    bins: Type.Integer({ minimum: 1 }),
    zeroBelowBin: Type.Integer({ minimum: 0 }),
    levelDivisor: Type.Number({ exclusiveMinimum: 0 }),
    description: Type.Optional(Type.String()),
  }),
  threshold: Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1 }),
  training: Type.Optional(Type.Unknown()),
});
export type ModelCard = Static<typeof ModelCardSchema>;
export type Preprocessing = ModelCard['preprocessing'];

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const validateCard = ajv.compile(ModelCardSchema);

/** A model file or card that cannot be used; `problems` lists every `where: what was expected` found. */
export class ModelCardError extends CustomsError {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super('E_MODEL_CARD', `${file}: cannot use this classifier model\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }
}

export interface ClassifierSpectrum {
  counts: ArrayLike<number>;
  /** Energy calibration; without it (and without keVPerChannel) the spectrum must be on the model's own grid. */
  calibration?: EnergyCalibration;
  /** Shorthand for a linear calibration from 0 keV. */
  keVPerChannel?: number;
}

export interface ClassifiedNuclide {
  nuclide: string;
  label: string;
  category: NuclideCategory;
  /** The network's sigmoid output for this nuclide (not a calibrated probability). */
  confidence: number;
}

export interface Classification {
  /** Nuclides at or above the threshold, most confident first; empty means background only. */
  nuclides: ClassifiedNuclide[];
  /** Most severe category present (SNM > industrial > medical > NORM). */
  category?: NuclideCategory;
  /** Every class's output, card order. */
  probabilities: Record<string, number>;
  /** Counts the model saw (after rebinning and the low-energy cut). */
  counts: number;
}

const SEVERITY: readonly NuclideCategory[] = ['SNM', 'industrial', 'medical', 'NORM'];

function sameGrid(s: ClassifierSpectrum, p: Preprocessing): boolean {
  if (s.counts.length !== p.nChannels) return false;
  if (s.calibration !== undefined) {
    const c = s.calibration.coefficients;
    const extra = c.slice(2).some((v) => v !== 0);
    return (c[0] ?? 0) === 0 && c[1] === p.keVPerChannel && !extra && (s.calibration.deviationPairs ?? []).every(([, d]) => d === 0);
  }
  return s.keVPerChannel === undefined || s.keVPerChannel === p.keVPerChannel;
}

/**
 * The model input of one spectrum (train.py's features(), same arithmetic in float64, then float32): rebin onto
 * the model grid (count-preserving, unless the spectrum is on it already), sum groups of `binChannels`, zero the
 * bins below `zeroBelowBin`, then sqrt(bins · g / T) per bin and log10(max(T, 1)) / levelDivisor last.
 */
export function preprocessSpectrum(spectrum: ClassifierSpectrum, p: Preprocessing, out = new Float32Array(p.bins + 1)): Float32Array {
  fillFeatures(spectrum, p, out);
  return out;
}

/** preprocessSpectrum into `out`; returns the total T the features were normalised by. */
function fillFeatures(spectrum: ClassifierSpectrum, p: Preprocessing, out: Float32Array): number {
  const counts = spectrum.counts;
  if (counts.length === 0) throw new InputError('counts: expected a spectrum with at least one channel, got none');
  for (let i = 0; i < counts.length; i++) {
    const v = counts[i];
    if (!(v >= 0) || !Number.isFinite(v)) throw new InputError(`counts[${i}]: expected a finite count >= 0, got ${v}`);
  }
  let grid: ArrayLike<number> = counts;
  if (!sameGrid(spectrum, p)) {
    const from: EnergyCalibration | undefined =
      spectrum.calibration ?? (spectrum.keVPerChannel !== undefined ? { coefficients: [0, spectrum.keVPerChannel] } : undefined);
    if (from === undefined) {
      throw new InputError(
        `calibration: the spectrum has ${counts.length} channels and no energy calibration; the classifier needs one unless the spectrum is on its own grid (${p.nChannels} channels of ${p.keVPerChannel} keV)`,
      );
    }
    grid = rebin(counts, from, { coefficients: [0, p.keVPerChannel] }, { nChannels: p.nChannels });
  }
  const g = new Float64Array(p.bins);
  for (let b = p.zeroBelowBin; b < p.bins; b++) {
    let s = 0;
    const base = b * p.binChannels;
    for (let k = 0; k < p.binChannels; k++) s += grid[base + k];
    g[b] = s;
  }
  let total = 0;
  for (let b = 0; b < p.bins; b++) total += g[b];
  const safe = total > 0 ? total : 1;
  for (let b = 0; b < p.bins; b++) out[b] = Math.sqrt((p.bins * g[b]) / safe);
  out[p.bins] = Math.log10(Math.max(total, 1)) / p.levelDivisor;
  return total;
}

/** Probabilities (card order) to the sorted list of nuclides at or above `threshold`. */
export function interpretProbabilities(probabilities: ArrayLike<number>, classes: readonly string[], threshold: number, counts: number): Classification {
  const byClass: Record<string, number> = {};
  const found: ClassifiedNuclide[] = [];
  classes.forEach((id, k) => {
    const p = probabilities[k];
    byClass[id] = p;
    if (p >= threshold) {
      const n = getNuclide(id);
      found.push({ nuclide: n.name, label: n.label, category: n.category, confidence: Number(p.toFixed(4)) });
    }
  });
  found.sort((a, b) => b.confidence - a.confidence);
  const category = SEVERITY.find((c) => found.some((n) => n.category === c));
  return category === undefined ? { nuclides: found, probabilities: byClass, counts } : { nuclides: found, category, probabilities: byClass, counts };
}

/** Every way the card contradicts itself or the nuclide library (no model needed). */
export function cardProblems(card: ModelCard): string[] {
  const problems: string[] = [];
  const p = card.preprocessing;
  if (p.kind !== PREPROCESSING_KIND) problems.push(`preprocessing.kind: expected "${PREPROCESSING_KIND}" (the one this code implements), got "${p.kind}"`);
  if (p.bins * p.binChannels !== p.nChannels) {
    problems.push(`preprocessing: bins × binChannels must be nChannels, got ${p.bins} × ${p.binChannels} ≠ ${p.nChannels}`);
  }
  if (p.zeroBelowBin >= p.bins) problems.push(`preprocessing.zeroBelowBin: expected fewer than ${p.bins} bins, got ${p.zeroBelowBin}`);
  const inWidth = card.input.shape[1];
  if (inWidth !== p.bins + 1) problems.push(`input.shape[1]: the preprocessing makes ${p.bins + 1} features (bins + count level), the card says ${inWidth}`);
  const outWidth = card.output.shape[1];
  if (outWidth !== card.classes.length) problems.push(`output.shape[1]: ${card.classes.length} classes are listed, the card says ${outWidth} outputs`);
  const seen = new Set<string>();
  card.classes.forEach((c, i) => {
    try {
      getNuclide(c);
    } catch {
      problems.push(`classes[${i}]: "${c}" is not a nuclide of analysis/radiation/nuclides.ts`);
    }
    if (seen.has(c)) problems.push(`classes[${i}]: "${c}" is listed twice`);
    seen.add(c);
  });
  return problems;
}

/** Every way the loaded session differs from the card's input and output. */
export function sessionProblems(card: ModelCard, session: Pick<ort.InferenceSession, 'inputNames' | 'outputNames' | 'inputMetadata' | 'outputMetadata'>): string[] {
  return [
    ...tensorProblems('input', card.input, session.inputNames, session.inputMetadata),
    ...tensorProblems('output', card.output, session.outputNames, session.outputMetadata),
  ];
}

/** Reads and validates a card file; throws ModelCardError naming every problem. */
export async function readModelCard(file: string): Promise<ModelCard> {
  const r = await readCardJson(file);
  if ('problem' in r) throw new ModelCardError(file, [r.problem]);
  const value = r.value;
  if (!validateCard(value)) throw new ModelCardError(file, formatErrors(validateCard.errors));
  const card = value as ModelCard;
  const problems = cardProblems(card);
  if (problems.length > 0) throw new ModelCardError(file, problems);
  return card;
}

/**
 * Where the shipped model is: models/nuclide-classifier at the repository root, whether this module runs from
 * the sources (edge/radiation/) or compiled (dist/edge/radiation/, the image's /app/dist beside /app/models).
 */
export function defaultModelDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const candidates = [resolve(here, '../../models/nuclide-classifier'), resolve(here, '../../../models/nuclide-classifier')];
  return candidates.find((d) => existsSync(join(d, 'model-card.json'))) ?? candidates[0];
}

export interface ClassifierOptions {
  /** Folder holding model-card.json and the model it names (default: the shipped model). */
  dir?: string;
  /** Decision threshold (default: the card's, chosen on validation). */
  threshold?: number;
  /** Threads per inference (default 1: one spectrum is a few hundred kFLOP, threads cost more than they save). */
  intraOpNumThreads?: number;
}

/** The classifier: one ONNX session and its card. Keep one per process; close() releases the native session. */
export class NuclideClassifier {
  private readonly log = logger('radiation.classifier');

  private constructor(
    readonly card: ModelCard,
    readonly threshold: number,
    readonly modelPath: string,
    private readonly session: ort.InferenceSession,
  ) {}

  static async load(opts: ClassifierOptions = {}): Promise<NuclideClassifier> {
    const dir = opts.dir ?? defaultModelDir();
    const cardPath = join(dir, 'model-card.json');
    const card = await readModelCard(cardPath);
    const threshold = opts.threshold ?? card.threshold;
    if (!(threshold > 0 && threshold < 1)) throw new RangeError(`threshold must be in (0, 1), got ${threshold}`);
    const modelPath = join(dir, card.model);
    const opened = await openSession(modelPath, opts.intraOpNumThreads ?? 1);
    if ('problem' in opened) throw new ModelCardError(modelPath, [opened.problem]);
    const session = opened.session;
    const problems = sessionProblems(card, session);
    if (problems.length > 0) {
      await session.release();
      throw new ModelCardError(modelPath, problems);
    }
    const c = new NuclideClassifier(card, threshold, modelPath, session);
    c.log.debug({ model: modelPath, classes: card.classes.length, threshold }, 'nuclide classifier loaded');
    return c;
  }

  /** The model input of one spectrum (exposed for the parity test and for callers that batch themselves). */
  preprocess(spectrum: ClassifierSpectrum): Float32Array {
    return preprocessSpectrum(spectrum, this.card.preprocessing);
  }

  async classify(spectrum: ClassifierSpectrum): Promise<Classification> {
    const [r] = await this.classifyBatch([spectrum]);
    return r;
  }

  /** One inference for many spectra (the batch dimension of the model). */
  async classifyBatch(spectra: readonly ClassifierSpectrum[]): Promise<Classification[]> {
    if (spectra.length === 0) return [];
    const probs = await this.probabilities(spectra);
    const width = this.card.classes.length;
    return spectra.map((_, i) =>
      interpretProbabilities(probs.values.subarray(i * width, (i + 1) * width), this.card.classes, this.threshold, probs.counts[i]),
    );
  }

  /** Raw model outputs [spectra × classes] in card order, and the counts T each spectrum was normalised by. */
  async probabilities(spectra: readonly ClassifierSpectrum[]): Promise<{ values: Float32Array; counts: number[] }> {
    const width = this.card.preprocessing.bins + 1;
    const features = new Float32Array(spectra.length * width);
    const counts = spectra.map((s, i) => {
      try {
        return fillFeatures(s, this.card.preprocessing, features.subarray(i * width, (i + 1) * width));
      } catch (e) {
        if (e instanceof InputError && spectra.length > 1) throw new InputError(`spectra[${i}].${e.message}`, { cause: e });
        throw e;
      }
    });
    const input = new ort.Tensor('float32', features, [spectra.length, width]);
    const out = await this.session.run({ [this.card.input.name]: input });
    const t = out[this.card.output.name];
    if (t === undefined || t.type !== 'float32' || t.data.length !== spectra.length * this.card.classes.length) {
      throw new ModelCardError(this.modelPath, [
        `output "${this.card.output.name}": expected float32 [${spectra.length}, ${this.card.classes.length}], got ${t === undefined ? 'nothing' : `${t.type} ${JSON.stringify(t.dims)}`}`,
      ]);
    }
    return { values: t.data as Float32Array, counts };
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
