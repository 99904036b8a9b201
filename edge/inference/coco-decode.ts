// Decoders of the pretrained COCO detectors' raw outputs into person/bag boxes: pure functions over typed arrays.
import { InputError } from '../../common/errors.js';
import type { Detection } from '../../analysis/detect/yolo.js';

/**
 * COCO-80 class indices (0-based, the order every COCO-80 head uses) that the camera node cares about, and what
 * they become. Backpacks and handbags count as bags: in a hall they are what is set down and left, as are suitcases.
 */
export const COCO_TO_CAMERA: ReadonlyMap<number, { classId: number; class: 'person' | 'bag' }> = new Map([
  [0, { classId: 0, class: 'person' }],
  [24, { classId: 1, class: 'bag' }], // backpack
  [26, { classId: 1, class: 'bag' }], // handbag
  [28, { classId: 1, class: 'bag' }], // suitcase
]);

export const COCO_CLASSES = 80;

export interface GflLevel {
  /** Grid side (cells per row and per column; the input is square). */
  grid: number;
  /** Class scores after the sigmoid, [grid², 80] row-major. */
  scores: ArrayLike<number>;
  /** Box distributions, [grid², 4 × bins] row-major: per side (left, top, right, bottom) `bins` logits. */
  boxes: ArrayLike<number>;
}

/**
 * NanoDet's generalised-focal-loss head (v0.x, "legacy"): each cell of a level predicts, per side, a discrete
 * distribution over 0..bins-1 strides; the distance is its expectation (softmax-weighted), measured from the cell
 * centre ((i + 0.5) × stride). Boxes come out in model-input pixels, before NMS.
 */
export function decodeGfl(levels: readonly GflLevel[], opts: { inputSize: number; bins: number; scoreThreshold: number }): Detection[] {
  const { inputSize, bins, scoreThreshold } = opts;
  const out: Detection[] = [];
  const logits = new Float64Array(bins);
  for (const lv of levels) {
    const cells = lv.grid * lv.grid;
    if (lv.scores.length !== cells * COCO_CLASSES) throw new InputError(`nanodet level ${lv.grid}×${lv.grid}: expected ${cells}×${COCO_CLASSES} scores, got ${lv.scores.length}`);
    if (lv.boxes.length !== cells * 4 * bins) throw new InputError(`nanodet level ${lv.grid}×${lv.grid}: expected ${cells}×${4 * bins} box values, got ${lv.boxes.length}`);
    const stride = inputSize / lv.grid;
    for (let i = 0; i < cells; i++) {
      for (const [coco, cam] of COCO_TO_CAMERA) {
        const score = lv.scores[i * COCO_CLASSES + coco]!;
        if (!(score >= scoreThreshold)) continue;
        const cx = ((i % lv.grid) + 0.5) * stride;
        const cy = (Math.floor(i / lv.grid) + 0.5) * stride;
        const d = [0, 0, 0, 0];
        for (let side = 0; side < 4; side++) {
          const base = i * 4 * bins + side * bins;
          let max = Number.NEGATIVE_INFINITY;
          for (let b = 0; b < bins; b++) {
            logits[b] = lv.boxes[base + b]!;
            if (logits[b]! > max) max = logits[b]!;
          }
          let z = 0;
          let e = 0;
          for (let b = 0; b < bins; b++) {
            const w = Math.exp(logits[b]! - max);
            z += w;
            e += w * b;
          }
          d[side] = (e / z) * stride;
        }
        out.push({ x1: cx - d[0]!, y1: cy - d[1]!, x2: cx + d[2]!, y2: cy + d[3]!, score, classId: cam.classId, class: cam.class });
      }
    }
  }
  return out;
}

/**
 * CenterNet-MobileNetV3's in-graph decoded output: [1, K, 6] rows of x1, y1, x2, y2 (model-input pixels), score
 * and the COCO-80 class index (0-based). Rows of other classes, below the threshold or not finite are dropped.
 */
export function decodeCenternet(rows: ArrayLike<number>, dims: readonly number[], opts: { scoreThreshold: number }): Detection[] {
  if (dims.length !== 3 || dims[0] !== 1 || dims[2] !== 6) throw new InputError(`centernet output ${JSON.stringify(dims)}: expected [1, K, 6]`);
  const k = dims[1]!;
  if (rows.length !== k * 6) throw new InputError(`centernet output: expected ${k * 6} values, got ${rows.length}`);
  const out: Detection[] = [];
  for (let j = 0; j < k; j++) {
    const r = j * 6;
    const score = rows[r + 4]!;
    if (!(score >= opts.scoreThreshold)) continue;
    const cam = COCO_TO_CAMERA.get(Math.round(rows[r + 5]!));
    if (!cam) continue;
    const [x1, y1, x2, y2] = [rows[r]!, rows[r + 1]!, rows[r + 2]!, rows[r + 3]!];
    if (![x1, y1, x2, y2].every(Number.isFinite) || x2 <= x1 || y2 <= y1) continue;
    out.push({ x1, y1, x2, y2, score, classId: cam.classId, class: cam.class });
  }
  return out;
}
