// TensorFlow.js on its wasm backend for the COCO detectors: one runtime per process, models read from local files.
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import { CustomsError } from '../../common/errors.js';

export { tf };
export type { GraphModel };

/** A model's files are missing or unreadable, or its runtime would not start; the message names the file. */
export class CocoModelError extends CustomsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_COCO_MODEL', message, options);
  }
}

const require = createRequire(import.meta.url);

/**
 * A file inside an installed npm package, looked up along Node's module paths. Resolving the package's entry point
 * would not do: the model packages export no entry for their data files, and one of them has no entry at all.
 */
export function packageFile(pkg: string, rel: string): string {
  for (const dir of require.resolve.paths(pkg) ?? []) {
    const p = join(dir, pkg, rel);
    if (existsSync(p)) return p;
  }
  throw new CocoModelError(`${pkg}/${rel}: not found; install the package (npm i ${pkg}) or name another model`);
}

let ready: Promise<void> | undefined;

/**
 * Starts the wasm backend once per process. Threads: Node offers the wasm backend no SharedArrayBuffer workers, so it
 * runs one thread per process whatever is asked; it is set to 1 explicitly so a future build does not grab every core
 * of a box whose cores the cameras share.
 */
export function startWasm(): Promise<void> {
  ready ??= (async () => {
    // The backend reads its .wasm files from disk in Node: point it at the package's dist folder, never a CDN.
    const dist = dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
    setWasmPaths(`${dist}/`);
    setThreadsCount(1);
    try {
      if (!(await tf.setBackend('wasm'))) throw new Error('setBackend returned false');
      await tf.ready();
    } catch (e) {
      ready = undefined;
      throw new CocoModelError(`tfjs wasm backend (${dist}): would not start: ${(e as Error).message}`, { cause: e });
    }
  })();
  return ready;
}

/** Reads a TFJS graph model (model.json plus its weight shards) from disk: no fetch, no network. */
function fileHandler(json: string): tf.io.IOHandler {
  return {
    load: async () => {
      let manifest: {
        modelTopology?: unknown;
        weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
        format?: string;
        generatedBy?: string;
        convertedBy?: string;
        signature?: unknown;
      };
      try {
        manifest = JSON.parse(await readFile(json, 'utf8')) as typeof manifest;
      } catch (e) {
        throw new CocoModelError(`${json}: not a readable TFJS model.json: ${(e as Error).message}`, { cause: e });
      }
      if (!manifest.modelTopology || !Array.isArray(manifest.weightsManifest)) throw new CocoModelError(`${json}: expected "modelTopology" and "weightsManifest"`);
      const specs: tf.io.WeightsManifestEntry[] = [];
      const shards: Buffer[] = [];
      for (const group of manifest.weightsManifest) {
        specs.push(...group.weights);
        for (const p of group.paths) shards.push(await readFile(join(dirname(json), p)));
      }
      const all = Buffer.concat(shards);
      const expected = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1) * bytesPer(s), 0);
      if (all.byteLength < expected) throw new CocoModelError(`${json}: weight shards hold ${all.byteLength} bytes, the manifest needs ${expected}`);
      return {
        modelTopology: manifest.modelTopology as tf.io.ModelArtifacts['modelTopology'],
        weightSpecs: specs,
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
        ...(manifest.format !== undefined ? { format: manifest.format } : {}),
        ...(manifest.generatedBy !== undefined ? { generatedBy: manifest.generatedBy } : {}),
        ...(manifest.convertedBy !== undefined ? { convertedBy: manifest.convertedBy } : {}),
        ...(manifest.signature !== undefined ? { signature: manifest.signature as object } : {}),
      };
    },
  };
}

function bytesPer(s: tf.io.WeightsManifestEntry): number {
  // Quantised weights are stored in fewer bytes than their dtype.
  if (s.quantization) return s.quantization.dtype === 'float16' || s.quantization.dtype === 'uint16' ? 2 : 1;
  return 4;
}

/** Loads a graph model from a local model.json on the wasm backend. */
export async function loadLocalGraphModel(json: string): Promise<GraphModel> {
  await startWasm();
  try {
    return await loadGraphModel(fileHandler(json));
  } catch (e) {
    if (e instanceof CocoModelError) throw e;
    throw new CocoModelError(`${json}: TFJS would not load the graph: ${(e as Error).message}`, { cause: e });
  }
}
