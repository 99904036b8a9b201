// Detector training data from random synthetic scenes: frames at model input size (after a JPEG round trip, as the
// camera path sees them) and their boxes, written for models/camera-detector/train.py.
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import sharp from 'sharp';
import type { DetectorCard } from '../inference/model-card.js';
import { prepareInput } from '../../analysis/detect/yolo.js';
import { addNoise, randomScenario, renderFloor, renderFrame, truthAt, frameCount } from '../../analysis/vision/scene.js';

export const CAMERA_CLASSES = ['person', 'bag'] as const;

export interface DatasetOptions {
  dir: string;
  frames: number;
  seed: number;
  /** Model input size. */
  width: number;
  height: number;
  /** Boxes less visible than this are left unlabelled (neither object nor background). */
  minVisibility?: number;
}

/** A card that only resizes (scale 1, no mean/std): prepareInput then gives raw pixel values at model size. */
function resizeCard(width: number, height: number): DetectorCard {
  return {
    name: 'resize', version: 0, task: 'detect', model: '-',
    input: { name: 'x', shape: [1, 3, height, width], dtype: 'float32', layout: 'NCHW', normalise: { scale: 1, mean: [0, 0, 0], std: [1, 1, 1] }, letterbox: true, padValue: 114, channels: ['r', 'g', 'b'] },
    output: { name: 'y', format: 'yolov8' },
    classes: [...CAMERA_CLASSES],
    thresholds: { score: 0.5, iou: 0.5 },
  };
}

/**
 * Writes `images.u8` (frames × 3 × H × W, uint8, CHW) and `labels.json` ([[class, x1, y1, x2, y2], ...] per frame,
 * model-input pixels). Source frames are 640x480 or 320x240 renders, every 3rd frame of random scenes.
 */
export async function writeDataset(opts: DatasetOptions): Promise<{ frames: number; boxes: number }> {
  mkdirSync(opts.dir, { recursive: true });
  const card = resizeCard(opts.width, opts.height);
  const out = createWriteStream(join(opts.dir, 'images.u8'));
  const labels: number[][][] = [];
  let boxes = 0;
  let seed = opts.seed;
  while (labels.length < opts.frames) {
    const small = seed % 3 === 0;
    const s = randomScenario({ seed: seed++, width: small ? 320 : 640, height: small ? 240 : 480, people: 6 + (seed % 8), duration_s: 30 });
    const floor = renderFloor(s.width, s.height, s.seed);
    const n = frameCount(s);
    for (let f = 5; f < n && labels.length < opts.frames; f += 3) {
      const rgb = renderFrame(s, f, floor);
      addNoise(rgb, s.seed * 7919 + f, 4);
      const jpeg = await sharp(Buffer.from(rgb), { raw: { width: s.width, height: s.height, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
      const decoded = await sharp(jpeg).raw().toBuffer();
      const { tensor, toSource } = prepareInput({ data: decoded, width: s.width, height: s.height, channels: 3 }, card);
      const u8 = new Uint8Array(tensor.length);
      for (let i = 0; i < tensor.length; i++) u8[i] = Math.max(0, Math.min(255, Math.round(tensor[i]!)));
      // toSource maps model → source; the inverse scale is what we need for labels.
      const unit = toSource({ x1: 0, y1: 0, x2: 1, y2: 1 });
      const sc = 1 / (unit.x2 - unit.x1);
      const px = -unit.x1 * sc;
      const py = -unit.y1 * sc;
      const frameLabels: number[][] = [];
      for (const o of truthAt(s, f).objects) {
        if (o.visibility < (opts.minVisibility ?? 0.3)) continue;
        frameLabels.push([CAMERA_CLASSES.indexOf(o.cls), o.box[0] * sc + px, o.box[1] * sc + py, o.box[2] * sc + px, o.box[3] * sc + py].map((v) => Math.round(v * 10) / 10));
      }
      boxes += frameLabels.length;
      labels.push(frameLabels);
      if (!out.write(u8)) await once(out, 'drain');
    }
  }
  out.end();
  await once(out, 'finish');
  writeFileSync(join(opts.dir, 'labels.json'), JSON.stringify({ width: opts.width, height: opts.height, classes: CAMERA_CLASSES, labels }));
  return { frames: labels.length, boxes };
}
