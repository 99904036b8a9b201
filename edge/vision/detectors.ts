// The camera node's detectors behind one interface: a real COCO detector (default) or an ONNX model card.
import { dirname, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CustomsError, InputError } from '../../common/errors.js';
import type { Detection } from '../../analysis/detect/yolo.js';
import type { FrameDetector } from './analyzer.js';
import type { CameraImage, Roi } from '../inference/coco-detector.js';

export type { Detection } from '../../analysis/detect/yolo.js';

export type { CameraImage, Roi };

export interface CameraDetector extends FrameDetector {
  /** Model name and version, as the node reports them in its status. */
  readonly name: string;
  readonly version: string;
  /** Detections inside `roi` only (motion gating), boxes in full-image pixels. */
  detectRegion?(img: CameraImage, roi: Roi): Promise<Detection[]>;
  close(): Promise<void>;
}

export interface CameraDetectorSpec {
  /** 'coco' (default): the pretrained COCO detector; 'onnx': a model card such as the synthetic-scene fixture. */
  kind?: 'coco' | 'onnx';
  /** For 'onnx' the model card path (default models/camera-detector/model-card.json); for 'coco' the model name. */
  model?: string;
  /** Score threshold (the card's or the model's default otherwise). */
  score?: number;
}

export class DetectorSpecError extends CustomsError {
  constructor(message: string) {
    super('E_DETECTOR_SPEC', message);
  }
}

/** A file under the repository's models/ folder, found from source (edge/vision) or from dist (dist/edge/vision). */
export function modelsPath(rel: string): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['../..', '../../..']) {
    const p = resolve(here, up, 'models', rel);
    if (existsSync(p)) return p;
  }
  return resolve('models', rel);
}

/** The ONNX card of the synthetic-scene detector: a test fixture now, no longer the camera default. */
export function syntheticCardPath(): string {
  return modelsPath('camera-detector/model-card.json');
}

/**
 * The detector a node or CLI configuration asks for: `detector` when given; else a bare `model` (the older option,
 * an ONNX card path) means that card; else the COCO default. A separate score threshold applies where the spec has none.
 */
export function detectorSpecFrom(o: { detector?: CameraDetectorSpec | undefined; model?: string | undefined; score?: number | undefined }): CameraDetectorSpec {
  const spec: CameraDetectorSpec = o.detector ? { ...o.detector } : o.model !== undefined ? { kind: 'onnx' } : {};
  if (spec.kind === 'onnx' && spec.model === undefined && o.model !== undefined) spec.model = o.model;
  if (spec.score === undefined && o.score !== undefined) spec.score = o.score;
  return spec;
}

/**
 * Loads the detector a spec names. Each kind's runtime is imported only when asked for (tfjs-wasm for 'coco',
 * onnxruntime for 'onnx'), so a node pays the start-up of one runtime.
 */
export async function loadCameraDetector(spec: CameraDetectorSpec = {}): Promise<CameraDetector> {
  const kind = spec.kind ?? 'coco';
  if (spec.score !== undefined && !(spec.score > 0 && spec.score < 1)) throw new DetectorSpecError(`detector.score: expected a number in (0, 1), got ${spec.score}`);
  switch (kind) {
    case 'coco': {
      const { CocoDetector } = await import('../inference/coco-detector.js');
      return CocoDetector.load({ ...(spec.model !== undefined ? { model: spec.model } : {}), ...(spec.score !== undefined ? { score: spec.score } : {}) });
    }
    case 'onnx': {
      const { OnnxDetector } = await import('../inference/detector.js');
      const d = await OnnxDetector.load(spec.model ?? syntheticCardPath(), spec.score !== undefined ? { scoreThreshold: spec.score } : {});
      return {
        name: d.card.name,
        version: String(d.card.version),
        detect: (img) => d.detect(img),
        detectRegion: async (img, roi) => {
          const c = cropImage(img, roi);
          return (await d.detect(c.img)).map((b) => ({ ...b, x1: b.x1 + c.x, x2: b.x2 + c.x, y1: b.y1 + c.y, y2: b.y2 + c.y }));
        },
        close: () => d.close(),
      };
    }
    default: {
      const never: never = kind;
      throw new DetectorSpecError(`detector.kind: expected 'coco' or 'onnx', got ${JSON.stringify(never)}`);
    }
  }
}

/** The part of `roi` inside the frame as an image of its own (whole pixels), and where it sits in the frame. */
export function cropImage(img: CameraImage, roi: Roi): { img: CameraImage; x: number; y: number } {
  const x = Math.max(0, Math.floor(roi.x));
  const y = Math.max(0, Math.floor(roi.y));
  const w = Math.min(img.width, Math.ceil(roi.x + roi.w)) - x;
  const h = Math.min(img.height, Math.ceil(roi.y + roi.h)) - y;
  if (!(w >= 1 && h >= 1)) throw new InputError(`roi ${JSON.stringify(roi)}: no pixel of it inside the ${img.width}×${img.height} frame`);
  const C = img.channels;
  const data = new Uint8Array(w * h * C);
  for (let r = 0; r < h; r++) data.set(img.data.subarray(((y + r) * img.width + x) * C, ((y + r) * img.width + x + w) * C), r * w * C);
  return { img: { data, width: w, height: h, channels: C }, x, y };
}
