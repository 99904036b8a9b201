// Model cards and ONNX sessions: reading a card file, opening a model, and comparing what a card says about a
// tensor with what onnxruntime reports for the loaded model. Each problem is a `where: what was expected` line.
import { readFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import type { InferenceSession } from 'onnxruntime-node';

/** The parsed JSON of a card file, or the problem that stopped reading it. */
export async function readCardJson(file: string): Promise<{ value: unknown } | { problem: string }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    return { problem: `/: cannot read the card (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` };
  }
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (e) {
    return { problem: `/: not JSON (${(e as Error).message})` };
  }
}

/**
 * An onnxruntime session for one model on the edge box's few cores (single inter-op thread, full graph
 * optimisation), or the problem that stopped loading it.
 */
export async function openSession(modelPath: string, intraOpNumThreads: number): Promise<{ session: ort.InferenceSession } | { problem: string }> {
  try {
    return { session: await ort.InferenceSession.create(modelPath, { intraOpNumThreads, interOpNumThreads: 1, graphOptimizationLevel: 'all' }) };
  } catch (e) {
    return { problem: `/: onnxruntime cannot load the model (${(e as Error).message})` };
  }
}

export interface TensorSpec {
  name: string;
  dtype: string;
  /** Integers are fixed sizes; a string is a symbolic (batch) dimension. */
  shape: readonly (number | string)[];
}

/** A symbolic dimension on the card matches a symbolic or dynamic (-1) one in the model, and only that. */
export function dimsMatch(card: readonly (number | string)[], model: readonly (number | string)[]): boolean {
  if (card.length !== model.length) return false;
  return card.every((d, i) => {
    const m = model[i];
    if (typeof d === 'string') return typeof m === 'string' || (typeof m === 'number' && m < 0);
    return m === d;
  });
}

/** Every way the session's `what` tensor differs from `spec`, as `where: what was expected` lines. */
export function tensorProblems(
  what: 'input' | 'output',
  spec: TensorSpec,
  names: readonly string[],
  meta: readonly InferenceSession.ValueMetadata[],
): string[] {
  const problems: string[] = [];
  if (!names.includes(spec.name)) return [`${what}.name: the card names "${spec.name}", the model's ${what}s are ${JSON.stringify(names)}`];
  if (names.length !== 1) problems.push(`${what}s: the model has ${names.length} ${what}s ${JSON.stringify(names)}, the card describes one`);
  const m = meta.find((v) => v.name === spec.name);
  if (m === undefined || !m.isTensor) return [...problems, `${what} "${spec.name}": the model does not describe it as a tensor`];
  if (m.type !== spec.dtype) problems.push(`${what}.dtype: the card says ${spec.dtype}, the model's "${spec.name}" is ${m.type}`);
  if (!dimsMatch(spec.shape, m.shape)) problems.push(`${what}.shape: the card says ${JSON.stringify(spec.shape)}, the model's "${spec.name}" is ${JSON.stringify(m.shape)}`);
  return problems;
}
