// Reading YOLO-style detector outputs (v8 anchor-free and v5 with objectness), non-maximum suppression, and the
// letterbox geometry between an image and the model input. Pure functions over typed arrays.
import { InputError } from '../../common/errors.js';
import type { DetectorCard } from './card.js';

export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export interface Detection extends Box {
  score: number;
  classId: number;
  class: string;
}

export function iou(a: Box, b: Box): number {
  const w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Greedy non-maximum suppression: highest score first, dropping boxes that overlap a kept one by more than
 * `iouThreshold` (only within the same class unless `perClass` is false). Returns at most `maxDetections`.
 */
export function nms<T extends Detection>(dets: readonly T[], iouThreshold: number, opts: { perClass?: boolean; maxDetections?: number } = {}): T[] {
  const perClass = opts.perClass ?? true;
  const max = opts.maxDetections ?? Number.POSITIVE_INFINITY;
  const sorted = [...dets].sort((a, b) => b.score - a.score);
  const kept: T[] = [];
  for (const d of sorted) {
    if (kept.length >= max) break;
    let suppressed = false;
    for (const k of kept) {
      if ((!perClass || k.classId === d.classId) && iou(k, d) > iouThreshold) {
        suppressed = true;
        break;
      }
    }
    if (!suppressed) kept.push(d);
  }
  return kept;
}

/**
 * Candidate boxes of one image above the score threshold (before NMS), in model-input pixels. `dims` is the
 * output tensor's shape: [1, 4+nc, N] for yolov8, [1, N, 5+nc] for yolov5 (the batch axis may be absent).
 * Throws InputError when the shape does not fit the card (a model whose outputs do not match its card).
 */
export function decodeYolo(data: ArrayLike<number>, dims: readonly number[], card: DetectorCard, opts: { scoreThreshold?: number } = {}): Detection[] {
  const nc = card.classes.length;
  const d = dims.length === 3 ? dims.slice(1) : [...dims];
  if (dims.length === 3 && dims[0] !== 1) throw new InputError(`output ${JSON.stringify(dims)}: expected batch 1`);
  if (d.length !== 2) throw new InputError(`output ${JSON.stringify(dims)}: expected rank 3 [1, ${card.output.format === 'yolov8' ? '4+classes, anchors' : 'anchors, 5+classes'}]`);
  const v8 = card.output.format === 'yolov8';
  const features = v8 ? d[0]! : d[1]!;
  const anchors = v8 ? d[1]! : d[0]!;
  const want = v8 ? 4 + nc : 5 + nc;
  if (features !== want) {
    throw new InputError(
      `output ${JSON.stringify(dims)}: the card (${card.output.format}, ${nc} classes) expects ${want} values per box on axis ${v8 ? 1 : 2}, got ${features}`,
    );
  }
  if (data.length !== features * anchors) throw new InputError(`output: ${data.length} values for shape ${JSON.stringify(dims)}`);
  const thr = opts.scoreThreshold ?? card.thresholds.score;
  const perClass = card.thresholds.perClass ?? {};
  const classThr = card.classes.map((c) => Math.max(thr, perClass[c] ?? thr));
  const minThr = Math.min(...classThr);
  const sx = card.output.coordinates === 'normalised' ? card.input.shape[3] : 1;
  const sy = card.output.coordinates === 'normalised' ? card.input.shape[2] : 1;
  // v8 is channel-major (feature f of anchor j at f·N + j); v5 is anchor-major (j·F + f).
  const at = v8 ? (j: number, f: number) => data[f * anchors + j]! : (j: number, f: number) => data[j * features + f]!;
  const out: Detection[] = [];
  for (let j = 0; j < anchors; j++) {
    const obj = v8 ? 1 : at(j, 4);
    if (!v8 && !(obj >= minThr)) continue;
    const first = v8 ? 4 : 5;
    let best = -1;
    let bestScore = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < nc; c++) {
      const s = at(j, first + c);
      if (s > bestScore) {
        bestScore = s;
        best = c;
      }
    }
    const score = obj * bestScore;
    if (!(score >= classThr[best]!)) continue;
    const cx = at(j, 0) * sx;
    const cy = at(j, 1) * sy;
    const w = at(j, 2) * sx;
    const h = at(j, 3) * sy;
    if (!(w > 0 && h > 0) || !Number.isFinite(cx + cy)) continue;
    out.push({ x1: cx - w / 2, y1: cy - h / 2, x2: cx + w / 2, y2: cy + h / 2, score: Math.min(1, score), classId: best, class: card.classes[best]! });
  }
  return out;
}

export interface LetterboxTransform {
  scale: number;
  padX: number;
  padY: number;
}

/** Fit a srcW × srcH image into dstW × dstH keeping its aspect ratio, centred. */
export function letterboxTransform(srcW: number, srcH: number, dstW: number, dstH: number): LetterboxTransform {
  const scale = Math.min(dstW / srcW, dstH / srcH);
  return { scale, padX: (dstW - srcW * scale) / 2, padY: (dstH - srcH * scale) / 2 };
}

/** A box from model-input pixels back to source-image pixels. */
export function unletterbox<T extends Box>(det: T, t: LetterboxTransform): T {
  return { ...det, x1: (det.x1 - t.padX) / t.scale, y1: (det.y1 - t.padY) / t.scale, x2: (det.x2 - t.padX) / t.scale, y2: (det.y2 - t.padY) / t.scale };
}

/** Clip a box to an image; undefined when nothing of it is left. */
export function clipBox<T extends Box>(det: T, width: number, height: number): T | undefined {
  const x1 = Math.max(0, Math.min(width, det.x1));
  const x2 = Math.max(0, Math.min(width, det.x2));
  const y1 = Math.max(0, Math.min(height, det.y1));
  const y2 = Math.max(0, Math.min(height, det.y2));
  return x2 > x1 && y2 > y1 ? { ...det, x1, y1, x2, y2 } : undefined;
}

/** An image as interleaved pixels (HWC), any numeric type. */
export interface RawImage {
  data: ArrayLike<number>;
  width: number;
  height: number;
  channels: number;
}

/**
 * The model input of one image: resized (bilinear; letterboxed or stretched as the card says) to the input size,
 * normalised per channel, NCHW float32; plus the transform that maps detections back. Stretching is expressed as
 * separate x/y scales in `sx`/`sy`.
 */
export function prepareInput(img: RawImage, card: DetectorCard): { tensor: Float32Array; toSource: (b: Box) => Box } {
  const [, C, H, W] = card.input.shape;
  if (img.channels !== C) throw new InputError(`image has ${img.channels} channels, the model takes ${C} (${card.input.channels.join(', ')})`);
  if (img.data.length !== img.width * img.height * C) throw new InputError(`image: ${img.data.length} values for ${img.width}×${img.height}×${C}`);
  const t = card.input.letterbox ? letterboxTransform(img.width, img.height, W, H) : undefined;
  const sx = t ? t.scale : W / img.width;
  const sy = t ? t.scale : H / img.height;
  const padX = t?.padX ?? 0;
  const padY = t?.padY ?? 0;
  const { scale, mean, std } = card.input.normalise;
  const pad = card.input.padValue ?? 0;
  const out = new Float32Array(C * H * W);
  const src = img.data;
  const sw = img.width;
  const sh = img.height;
  for (let y = 0; y < H; y++) {
    // Pixel centres map to pixel centres.
    const fy = (y + 0.5 - padY) / sy - 0.5;
    const inY = fy > -0.5 && fy < sh - 0.5;
    const y0 = Math.max(0, Math.min(sh - 1, Math.floor(fy)));
    const y1 = Math.min(sh - 1, y0 + 1);
    const wy = Math.max(0, Math.min(1, fy - y0));
    for (let x = 0; x < W; x++) {
      const fx = (x + 0.5 - padX) / sx - 0.5;
      const inside = inY && fx > -0.5 && fx < sw - 0.5;
      const x0 = Math.max(0, Math.min(sw - 1, Math.floor(fx)));
      const x1 = Math.min(sw - 1, x0 + 1);
      const wx = Math.max(0, Math.min(1, fx - x0));
      for (let c = 0; c < C; c++) {
        let v = pad;
        if (inside) {
          const a = src[(y0 * sw + x0) * C + c]!;
          const b = src[(y0 * sw + x1) * C + c]!;
          const d = src[(y1 * sw + x0) * C + c]!;
          const e = src[(y1 * sw + x1) * C + c]!;
          v = (a * (1 - wx) + b * wx) * (1 - wy) + (d * (1 - wx) + e * wx) * wy;
        }
        out[c * H * W + y * W + x] = (v * scale - mean[c]!) / std[c]!;
      }
    }
  }
  const toSource = (b: Box): Box => ({ x1: (b.x1 - padX) / sx, y1: (b.y1 - padY) / sy, x2: (b.x2 - padX) / sx, y2: (b.y2 - padY) / sy });
  return { tensor: out, toSource };
}
