// A COCO-trained detector (people and luggage), offline, on onnxruntime or TensorFlow.js-wasm, behind CameraDetector.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { clipBox, nms, type Detection } from '../../analysis/detect/yolo.js';
import { InputError } from '../../common/errors.js';
import { decodeCenternet, decodeGfl, type GflLevel } from './coco-decode.js';
import { COCO_MODEL_NAMES, COCO_MODELS, type CocoModelName, type CocoModelSpec } from './coco-models.js';
import { CocoModelError, loadLocalGraphModel, packageFile, tf, type GraphModel } from './coco-tfjs.js';
import type { CocoOnnxEngine } from './coco-onnx.js';

/**
 * Which runtime runs the network: 'onnx' is onnxruntime on the graph converted at build time (about 6x less CPU per
 * call here), 'tfjs' the TFJS graph as shipped on the wasm backend; 'auto' takes onnx when the converted file exists.
 */
export type CocoRuntime = 'auto' | 'tfjs' | 'onnx';

export interface CocoDetectorOptions {
  /** 'nanodet' (default, Apache-2.0 weights) or 'centernet'. */
  model?: string;
  /** Score threshold; the model's default otherwise. */
  score?: number;
  /** At most this many boxes per call (default 100). */
  maxDetections?: number;
  /** Default 'auto'. */
  runtime?: CocoRuntime;
  /** The converted ONNX file (default node_modules/.cache/camera-coco/<model>.onnx beside the weights' package). */
  onnxModel?: string;
}

/** Where the build puts the converted graph: node_modules/.cache/camera-coco/, beside the package it came from. */
export function convertedOnnxPath(spec: CocoModelSpec): string | undefined {
  if (!spec.onnx) return undefined;
  // <node_modules>/@scope/pkg/models/x.json → <node_modules>/.cache/camera-coco/
  return join(packageFile(spec.pkg, spec.file), '..', '..', '..', '..', '.cache', 'camera-coco', spec.onnx);
}

/** One image as interleaved 8-bit pixels (HWC), as the camera children deliver frames (re-exported by edge/vision/detectors.ts). */
export interface CameraImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/** A rectangle in full-image pixels. */
export interface Roi {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** The input tensor of one image region and how its model-input pixels map back to full-image pixels. */
interface Prepared {
  input: tf.Tensor4D;
  toImage: (d: Detection) => Detection;
}

/** Satisfies edge/vision/detectors.ts CameraDetector (structurally: that module loads this one lazily). */
export class CocoDetector {
  readonly name: string;
  readonly version: string;
  private closed = false;

  private constructor(
    readonly spec: CocoModelSpec,
    private readonly model: GraphModel | undefined,
    private readonly onnx: CocoOnnxEngine | undefined,
    private readonly score: number,
    private readonly maxDetections: number,
  ) {
    this.name = `coco-${spec.name}`;
    // The runtime is part of the version the node reports: the same weights, but not bit-identical scores.
    this.version = `${spec.version}+${onnx ? 'onnx' : 'tfjs'}`;
  }

  /** The runtime that was picked. */
  get runtime(): 'tfjs' | 'onnx' {
    return this.onnx ? 'onnx' : 'tfjs';
  }

  static async load(o: CocoDetectorOptions = {}): Promise<CocoDetector> {
    const name = o.model ?? 'nanodet';
    if (!(COCO_MODEL_NAMES as readonly string[]).includes(name)) throw new CocoModelError(`detector.model: unknown COCO model "${name}"; expected one of ${COCO_MODEL_NAMES.join(', ')}`);
    const spec = COCO_MODELS[name as CocoModelName];
    const runtime = o.runtime ?? 'auto';
    const score = o.score ?? spec.score;
    const max = o.maxDetections ?? 100;
    if (runtime !== 'tfjs') {
      const file = o.onnxModel ?? convertedOnnxPath(spec);
      if (file && existsSync(file)) {
        const { CocoOnnxEngine } = await import('./coco-onnx.js');
        return new CocoDetector(spec, undefined, await CocoOnnxEngine.open(spec, file), score, max);
      }
      if (runtime === 'onnx') {
        throw new CocoModelError(
          file
            ? `${file}: not found; convert it first: /usr/bin/python3 models/camera-coco/tfjs_to_onnx.py ${packageFile(spec.pkg, spec.file)} ${file}`
            : `${spec.name}: no onnxruntime route for this model (its graph is not converted); use runtime 'tfjs'`,
        );
      }
    }
    return new CocoDetector(spec, await loadLocalGraphModel(packageFile(spec.pkg, spec.file)), undefined, score, max);
  }

  /** Square model input side in pixels. */
  get inputSize(): number {
    return this.spec.inputSize;
  }

  detect(img: CameraImage): Promise<Detection[]> {
    return this.run(img, undefined);
  }

  /** Only the region `roi` is fed to the network (at its full input size); boxes come back in full-image pixels. */
  detectRegion(img: CameraImage, roi: Roi): Promise<Detection[]> {
    return this.run(img, roi);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.model?.dispose();
    await this.onnx?.close();
  }

  private async run(img: CameraImage, roi: Roi | undefined): Promise<Detection[]> {
    if (this.closed) throw new CocoModelError(`${this.name}: detector is closed`);
    checkImage(img);
    const r = roi ? clampRoi(roi, img.width, img.height) : { x: 0, y: 0, w: img.width, h: img.height };
    const { raw, toImage } = this.onnx ? await this.onnx.infer(img, r, this.score) : await this.runTfjs(this.model!, img, r);
    const out: Detection[] = [];
    for (const d of nms(raw, this.spec.iou, { maxDetections: this.maxDetections })) {
      // Clipped to the region fed in: the network cannot see beyond it, so anything past its edge is extrapolation.
      const b = toImage(d);
      const c = clipBox({ ...b, x1: b.x1 - r.x, x2: b.x2 - r.x, y1: b.y1 - r.y, y2: b.y2 - r.y }, r.w, r.h);
      if (c) out.push({ ...c, x1: c.x1 + r.x, x2: c.x2 + r.x, y1: c.y1 + r.y, y2: c.y2 + r.y });
    }
    return out;
  }

  private async runTfjs(model: GraphModel, img: CameraImage, r: Roi): Promise<{ raw: Detection[]; toImage: (d: Detection) => Detection }> {
    const prep = this.prepare(img, r);
    try {
      return { raw: await this.infer(model, prep.input), toImage: prep.toImage };
    } finally {
      prep.input.dispose();
    }
  }

  private prepare(img: CameraImage, r: Roi): Prepared {
    const s = this.spec;
    const S = s.inputSize;
    const scale = s.letterbox ? Math.min(S / r.w, S / r.h) : 0;
    const rw = s.letterbox ? Math.max(1, Math.round(r.w * scale)) : S;
    const rh = s.letterbox ? Math.max(1, Math.round(r.h * scale)) : S;
    const padX = Math.floor((S - rw) / 2);
    const padY = Math.floor((S - rh) / 2);
    const input = tf.tidy(() => {
      const full = tf.tensor3d(img.data, [img.height, img.width, img.channels], 'int32');
      let x: tf.Tensor3D = tf.slice(full, [r.y, r.x, 0], [r.h, r.w, img.channels]);
      if (img.channels === 1) x = tf.tile(x, [1, 1, 3]);
      else if (img.channels === 4) x = tf.slice(x, [0, 0, 0], [r.h, r.w, 3]);
      let f: tf.Tensor3D = tf.image.resizeBilinear(tf.cast(x, 'float32'), [rh, rw], false, true);
      // Bars are black pixels, as in training, so they are padded before the normalisation.
      if (rw !== S || rh !== S) f = tf.pad(f, [[padY, S - rh - padY], [padX, S - rw - padX], [0, 0]]);
      if (s.channels === 'bgr') f = tf.reverse(f, 2);
      if (s.mean.some((m) => m !== 0) || s.std.some((v) => v !== 1)) f = tf.div(tf.sub(f, tf.tensor1d(s.mean)), tf.tensor1d(s.std));
      const b = tf.expandDims(f, 0) as tf.Tensor4D;
      return s.layout === 'NCHW' ? tf.transpose(b, [0, 3, 1, 2]) : b;
    });
    const sx = s.letterbox ? scale : S / r.w;
    const sy = s.letterbox ? scale : S / r.h;
    const ox = s.letterbox ? padX : 0;
    const oy = s.letterbox ? padY : 0;
    const toImage = (d: Detection): Detection => ({
      ...d,
      x1: (d.x1 - ox) / sx + r.x,
      y1: (d.y1 - oy) / sy + r.y,
      x2: (d.x2 - ox) / sx + r.x,
      y2: (d.y2 - oy) / sy + r.y,
    });
    return { input, toImage };
  }

  private async infer(model: GraphModel, input: tf.Tensor4D): Promise<Detection[]> {
    const d = this.spec.decode;
    switch (d.kind) {
      case 'centernet': {
        const t = model.execute(input, d.output) as tf.Tensor;
        try {
          return decodeCenternet(await t.data(), t.shape, { scoreThreshold: this.score });
        } finally {
          t.dispose();
        }
      }
      case 'gfl': {
        const outs = model.execute(input) as tf.Tensor[];
        try {
          const levels: GflLevel[] = [];
          for (const grid of d.grids) {
            // The graph's output names carry no meaning (Identity_N): the level and the kind come from the shape.
            const cells = grid * grid;
            const scores = outs.find((t) => t.shape[1] === cells && t.shape[2] === 80);
            const boxes = outs.find((t) => t.shape[1] === cells && t.shape[2] === 4 * d.bins);
            if (!scores || !boxes) throw new CocoModelError(`${this.name}: no ${grid}×${grid} level among outputs ${JSON.stringify(outs.map((t) => t.shape))}`);
            levels.push({ grid, scores: await scores.data(), boxes: await boxes.data() });
          }
          return decodeGfl(levels, { inputSize: this.spec.inputSize, bins: d.bins, scoreThreshold: this.score });
        } finally {
          for (const t of outs) t.dispose();
        }
      }
      default: {
        const never: never = d;
        throw new CocoModelError(`unknown decoder ${JSON.stringify(never)}`);
      }
    }
  }
}

/** A frame must be whole: a short buffer means a torn read, and would otherwise show as boxes in garbage. */
function checkImage(img: CameraImage): void {
  const { width, height, channels } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) throw new InputError(`frame: expected positive integer width and height, got ${width}×${height}`);
  if (channels !== 1 && channels !== 3 && channels !== 4) throw new InputError(`frame: expected 1, 3 or 4 channels, got ${channels}`);
  if (!(img.data instanceof Uint8Array)) throw new InputError('frame: expected 8-bit pixels (Uint8Array)');
  if (img.data.length !== width * height * channels) {
    throw new InputError(`frame: ${img.data.length} bytes for ${width}×${height}×${channels} (expected ${width * height * channels}): torn or mis-sized frame`);
  }
}

/** The part of `roi` inside the image, in whole pixels; a region outside it is a caller's error. */
function clampRoi(roi: Roi, width: number, height: number): Roi {
  if (![roi.x, roi.y, roi.w, roi.h].every(Number.isFinite)) throw new InputError(`roi: expected finite x, y, w, h, got ${JSON.stringify(roi)}`);
  const x1 = Math.max(0, Math.floor(roi.x));
  const y1 = Math.max(0, Math.floor(roi.y));
  const x2 = Math.min(width, Math.ceil(roi.x + roi.w));
  const y2 = Math.min(height, Math.ceil(roi.y + roi.h));
  if (x2 - x1 < 1 || y2 - y1 < 1) throw new InputError(`roi ${JSON.stringify(roi)}: no pixel of it inside the ${width}×${height} frame`);
  return { x: x1, y: y1, w: x2 - x1, h: y2 - y1 };
}
