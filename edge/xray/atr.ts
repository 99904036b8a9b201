// Automatic threat recognition: runs each stage's ONNX detector over a scan, tiled at the pixel size the model was trained at.
//
// A detector learns objects at one pixel size (its card's training.pixel_pitch_cm). A parcel image is brought to
// that size by area-averaging transmission, then cut into overlapping tiles of the model's input size; a small
// image is padded with air. Detections from all tiles are merged by NMS in image coordinates. Each tile's input is
// the log attenuation per channel (the card's `channels`, high/low), normalised as the card says.
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DetectorCard } from '../inference/model-card.js';
import { nms, type Detection } from '../../analysis/detect/yolo.js';
import { PreprocessError, resampleArea, tiles, type Rect } from '../../analysis/xray/preprocess.js';

/** What ATR needs from a detector: the card and one inference on a prepared NCHW input (detections in input pixels). */
export interface StageDetector {
  readonly card: DetectorCard;
  run(input: Float32Array): Promise<Detection[]>;
}

export interface AtrStage {
  /** Stage name, reported with its detections (e.g. "threats", "batteries"). */
  name: string;
  detector: StageDetector;
}

export interface AtrDetection extends Detection {
  stage: string;
}

export interface AtrImage {
  width: number;
  height: number;
  /** Transmission per channel, [T_MIN, 1]. */
  high: Float32Array;
  low?: Float32Array;
  /** Pixel size of this image at the belt, cm (undefined: unknown, the whole image goes into one input). */
  pitch_cm?: number;
}

export interface AtrOptions {
  /** Tile overlap, 0..0.5: an object cut by one tile edge is whole in the next tile. */
  overlap?: number;
  /** Upper bound on tiles per stage, so a mis-set pitch cannot run hundreds of inferences. */
  maxTiles?: number;
}

/**
 * The repository (or image) root: where models/ lives, whether this module runs from the sources (edge/xray/) or
 * compiled (dist/edge/xray/, the image's /app/dist beside /app/models).
 */
export function packageRoot(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const candidates = [resolve(here, '../..'), resolve(here, '../../..')];
  return candidates.find((d) => existsSync(resolve(d, 'models'))) ?? candidates[0]!;
}

/** The shipped threat detector's card. */
export function defaultXrayCard(): string {
  return resolve(packageRoot(), 'models/xray-atr/model-card.json');
}

/** A card path from a config or the command line: absolute, else relative to the working folder, else to the package root. */
export function resolveCardPath(p: string): string {
  if (isAbsolute(p) || existsSync(p)) return resolve(p);
  return resolve(packageRoot(), p);
}

/** The pixel size a card's model was trained at, when its training block says. */
export function cardPitch(card: DetectorCard): number | undefined {
  const t = card.training as { pixel_pitch_cm?: unknown } | undefined;
  return typeof t?.pixel_pitch_cm === 'number' && t.pixel_pitch_cm > 0 ? t.pixel_pitch_cm : undefined;
}

/** The clip of the model's input attenuation, when its training block names one (training.attenuation_max). */
export function cardAttenuationMax(card: DetectorCard): number {
  const t = card.training as { attenuation_max?: unknown } | undefined;
  return typeof t?.attenuation_max === 'number' && t.attenuation_max > 0 ? t.attenuation_max : Number.POSITIVE_INFINITY;
}

/** Runs every stage over the image; detections in the image's pixels, merged per stage by the card's NMS. */
export async function runAtr(stages: readonly AtrStage[], img: AtrImage, opts: AtrOptions = {}): Promise<AtrDetection[]> {
  const out: AtrDetection[] = [];
  for (const st of stages) out.push(...(await runStage(st, img, opts)));
  return out;
}

async function runStage(stage: AtrStage, img: AtrImage, opts: AtrOptions): Promise<AtrDetection[]> {
  const card = stage.detector.card;
  const [, C, H, W] = card.input.shape;
  const planes = card.input.channels.map((name) => {
    const p = name === 'high' ? img.high : name === 'low' ? img.low : undefined;
    if (p === undefined) {
      throw new PreprocessError(
        name === 'low'
          ? `stage ${stage.name}: model ${card.name} needs the low-energy channel; this scan is single-energy`
          : `stage ${stage.name}: model ${card.name} input channel "${name}" is not an X-ray channel (expected high or low)`,
      );
    }
    return p;
  });
  // Bring the image to the model's pixel size (factor f: image pixels per model pixel).
  const modelPitch = cardPitch(card);
  const f = modelPitch !== undefined && img.pitch_cm !== undefined ? modelPitch / img.pitch_cm : Math.max(img.width / W, img.height / H);
  const rw = Math.max(1, Math.round(img.width / f));
  const rh = Math.max(1, Math.round(img.height / f));
  const resampled = planes.map((p) => (rw === img.width && rh === img.height ? p : resampleArea(p, img.width, img.height, rw, rh)));
  const sx = img.width / rw;
  const sy = img.height / rh;
  const rects = tiles(rw, rh, Math.min(W, H), opts.overlap ?? 0.25);
  const maxTiles = opts.maxTiles ?? 400;
  if (rects.length > maxTiles) {
    throw new PreprocessError(`stage ${stage.name}: ${rects.length} tiles of ${W} x ${H} for a ${rw} x ${rh} image (limit ${maxTiles}); check the scanner pitch_cm`);
  }
  const dets: AtrDetection[] = [];
  const input = new Float32Array(C * H * W);
  for (const r of rects) {
    fillInput(input, resampled, rw, r, card);
    for (const d of await stage.detector.run(input)) {
      // Tile pixels → resampled image → analysed image; drop boxes that fall in the air padding.
      const x1 = Math.max(0, Math.min(r.w, d.x1));
      const x2 = Math.max(0, Math.min(r.w, d.x2));
      const y1 = Math.max(0, Math.min(r.h, d.y1));
      const y2 = Math.max(0, Math.min(r.h, d.y2));
      if (x2 - x1 < 1 || y2 - y1 < 1) continue;
      dets.push({ ...d, x1: (r.x + x1) * sx, y1: (r.y + y1) * sy, x2: (r.x + x2) * sx, y2: (r.y + y2) * sy, stage: stage.name });
    }
  }
  return rects.length === 1 ? dets : nms(dets, card.thresholds.iou, { maxDetections: card.maxDetections ?? 300 });
}

/** One tile into the NCHW input: -ln T per channel, normalised; outside the tile, air (A = 0 unless padValue says). */
function fillInput(input: Float32Array, planes: Float32Array[], width: number, r: Rect, card: DetectorCard): void {
  const [, C, H, W] = card.input.shape;
  const { scale, mean, std } = card.input.normalise;
  const pad = card.input.padValue ?? 0;
  const aMax = cardAttenuationMax(card);
  for (let c = 0; c < C; c++) {
    const p = planes[c]!;
    const m = mean[c]!;
    const s = std[c]!;
    const padV = (pad * scale - m) / s;
    const base = c * H * W;
    for (let y = 0; y < H; y++) {
      const row = base + y * W;
      if (y >= r.h) {
        input.fill(padV, row, row + W);
        continue;
      }
      const src = (r.y + y) * width + r.x;
      for (let x = 0; x < r.w; x++) input[row + x] = (Math.min(aMax, -Math.log(p[src + x]!)) * scale - m) / s;
      if (r.w < W) input.fill(padV, row + r.w, row + W);
    }
  }
}
