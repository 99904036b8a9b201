// Threat image projection (TIP): puts threat objects into bag images the physically correct way, in transmission space.
//
// A threat scanned on its own gives its transmission T_threat = exp(-A_threat) per energy channel. Put in a bag, the
// beam crosses both, so T = T_bag · T_threat (log attenuations add). Alpha blending, (1-α)·T_bag + α·T_threat,
// makes a threat over a dense region lighter than the region itself, which no real object can do; the test shows
// the difference. The blend factor β of a difficulty level scales the threat's attenuation (T_threat^β): the
// same object, thinner, which is what "harder to see" means physically. Pure functions over typed arrays.
import { mulberry32 } from '../../common/random.js';
import { emptyMap, synthBag, synthThreat, THREAT_CLASSES, type AttenuationMap, type ThreatClass, type ThreatObject } from './synth.js';

/** Per-channel transmission T in [0, 1], row-major. A single-energy image has no `low`. */
export interface TransmissionImage {
  width: number;
  height: number;
  high: Float32Array;
  low?: Float32Array;
}

export function toTransmission(map: AttenuationMap): Required<TransmissionImage> {
  const high = new Float32Array(map.high.length);
  const low = new Float32Array(map.low.length);
  for (let i = 0; i < high.length; i++) {
    high[i] = Math.exp(-map.high[i]!);
    low[i] = Math.exp(-map.low[i]!);
  }
  return { width: map.width, height: map.height, high, low };
}

/**
 * Multiplies `threat` (its own transmission image) into `bag` at (x, y) (top-left, may be partly outside):
 * T = T_bag · T_threat^blend per channel. Mutates `bag`.
 */
export function projectThreat(bag: TransmissionImage, threat: TransmissionImage, x: number, y: number, blend = 1): void {
  for (const ch of ['high', 'low'] as const) {
    const b = bag[ch];
    const t = threat[ch];
    if (b === undefined || t === undefined) continue;
    for (let ty = 0; ty < threat.height; ty++) {
      const by = y + ty;
      if (by < 0 || by >= bag.height) continue;
      for (let tx = 0; tx < threat.width; tx++) {
        const bx = x + tx;
        if (bx < 0 || bx >= bag.width) continue;
        const tv = t[ty * threat.width + tx]!;
        b[by * bag.width + bx]! *= blend === 1 ? tv : Math.pow(tv, blend);
      }
    }
  }
}

/** The naive compositing many image tools would do; here only to show that it breaks Beer-Lambert. */
export function alphaBlendThreat(bag: TransmissionImage, threat: TransmissionImage, x: number, y: number, alpha: number): void {
  for (const ch of ['high', 'low'] as const) {
    const b = bag[ch];
    const t = threat[ch];
    if (b === undefined || t === undefined) continue;
    for (let ty = 0; ty < threat.height; ty++) {
      for (let tx = 0; tx < threat.width; tx++) {
        const bx = x + tx;
        const by = y + ty;
        if (bx < 0 || by < 0 || bx >= bag.width || by >= bag.height) continue;
        const i = by * bag.width + bx;
        b[i] = (1 - alpha) * b[i]! + alpha * t[ty * threat.width + tx]!;
      }
    }
  }
}

/**
 * Rotates (radians, about the centre) and scales a threat's attenuation map by bilinear resampling. Resampling the
 * attenuation (thickness along the ray), not the transmission, keeps a partly covered pixel's value physical.
 */
export function transformThreat(obj: ThreatObject, angle: number, scale: number): ThreatObject {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const w = obj.width * scale;
  const h = obj.height * scale;
  const W = Math.ceil(Math.abs(w * c) + Math.abs(h * s)) + 2;
  const H = Math.ceil(Math.abs(w * s) + Math.abs(h * c)) + 2;
  const out = emptyMap(W, H);
  const cxo = obj.width / 2;
  const cyo = obj.height / 2;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      // Inverse map: output pixel centre → source coordinates.
      const dx = x + 0.5 - W / 2;
      const dy = y + 0.5 - H / 2;
      const sx = (dx * c + dy * s) / scale + cxo - 0.5;
      const sy = (-dx * s + dy * c) / scale + cyo - 0.5;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      if (x0 < -1 || y0 < -1 || x0 >= obj.width || y0 >= obj.height) continue;
      const fx = sx - x0;
      const fy = sy - y0;
      let vh = 0;
      let vl = 0;
      for (const [ox, oy, wgt] of [
        [0, 0, (1 - fx) * (1 - fy)],
        [1, 0, fx * (1 - fy)],
        [0, 1, (1 - fx) * fy],
        [1, 1, fx * fy],
      ] as const) {
        const xx = x0 + ox;
        const yy = y0 + oy;
        if (xx < 0 || yy < 0 || xx >= obj.width || yy >= obj.height || wgt === 0) continue;
        vh += wgt * obj.high[yy * obj.width + xx]!;
        vl += wgt * obj.low[yy * obj.width + xx]!;
      }
      out.high[y * W + x] = vh;
      out.low[y * W + x] = vl;
    }
  }
  return { ...out, class: obj.class };
}

/** Bounding box (pixels, x/y/w/h) of where an object attenuates noticeably (A_high > minA). */
export function objectBox(map: AttenuationMap, minA = 0.02): { x: number; y: number; w: number; h: number } | undefined {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (let y = 0; y < map.height; y++) {
    for (let x = 0; x < map.width; x++) {
      if (map.high[y * map.width + x]! > minA) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  return x1 < x0 ? undefined : { x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1 };
}

export const DIFFICULTIES = ['easy', 'medium', 'hard'] as const;
export type Difficulty = (typeof DIFFICULTIES)[number];

/** What a difficulty level means: how thin the threat (blend), how full the bag, how often over dense regions. */
export const DIFFICULTY: Record<Difficulty, { blend: [number, number]; clutter: [number, number]; denseOverlap: number; scale: [number, number] }> = {
  easy: { blend: [0.9, 1], clutter: [3, 8], denseOverlap: 0, scale: [0.95, 1.15] },
  medium: { blend: [0.7, 1], clutter: [8, 16], denseOverlap: 0.35, scale: [0.85, 1.15] },
  hard: { blend: [0.45, 0.85], clutter: [14, 26], denseOverlap: 0.7, scale: [0.75, 1.1] },
};

export interface TipBox {
  class: ThreatClass;
  /** Top-left and size in image pixels. */
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface TipSceneOptions {
  width: number;
  height: number;
  /** Pixel size at the belt, cm (0.25 cm: a 256-pixel image is a 64 cm bag). */
  pitch_cm?: number;
  difficulty: Difficulty;
  /** Threats to project; default: 0 to 2 drawn at random (a third of images stay clean, for false-alarm rates). */
  threats?: ThreatClass[];
  /**
   * Threat objects scanned (or drawn) alone, as attenuation maps at this scene's pixel size: when a class has
   * entries here one of them is projected instead of a freshly drawn synthetic object.
   */
  library?: readonly ThreatObject[];
  /** Photons per pixel through air, per channel: sets the quantum noise. 0: no noise. */
  photons?: { high: number; low: number };
}

export interface TipScene {
  image: Required<TransmissionImage>;
  boxes: TipBox[];
  meta: { difficulty: Difficulty; clutter: number; blends: number[] };
}

function gaussian(rng: () => number): number {
  const u = Math.max(rng(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

/** Adds photon-counting noise to a transmission image (Gaussian approximation of Poisson counts). */
export function addQuantumNoise(img: TransmissionImage, photons: { high: number; low: number }, rng: () => number): void {
  for (const ch of ['high', 'low'] as const) {
    const a = img[ch];
    const n0 = photons[ch];
    if (a === undefined || n0 <= 0) continue;
    for (let i = 0; i < a.length; i++) {
      const n = n0 * a[i]!;
      a[i] = Math.min(1, Math.max(0.5 / n0, (n + Math.sqrt(n + 4) * gaussian(rng)) / n0));
    }
  }
}

/** One synthetic scan: a bag, 0..n threats projected with the difficulty's blend, overlap and scale. Seeded. */
export function tipScene(seed: number, opts: TipSceneOptions): TipScene {
  const rng = mulberry32(seed);
  const pitch = opts.pitch_cm ?? 0.25;
  const d = DIFFICULTY[opts.difficulty];
  const clutter = Math.round(d.clutter[0] + rng() * (d.clutter[1] - d.clutter[0]));
  const bagMap = synthBag(rng, { width: opts.width, height: opts.height, pitch_cm: pitch, clutter });
  const image = toTransmission(bagMap);
  let classes = opts.threats;
  if (classes === undefined) {
    const r = rng();
    const n = r < 0.3 ? 0 : r < 0.8 ? 1 : 2;
    classes = Array.from({ length: n }, () => THREAT_CLASSES[Math.floor(rng() * THREAT_CLASSES.length)]!);
  }
  const boxes: TipBox[] = [];
  const blends: number[] = [];
  for (const cls of classes) {
    const own = opts.library?.filter((o) => o.class === cls) ?? [];
    const base = own.length > 0 ? own[Math.floor(rng() * own.length)]! : synthThreat(cls, rng, pitch);
    const obj = transformThreat(base, rng() * 2 * Math.PI, d.scale[0] + rng() * (d.scale[1] - d.scale[0]));
    const local = objectBox(obj);
    if (local === undefined || obj.width >= opts.width || obj.height >= opts.height) continue;
    const blend = d.blend[0] + rng() * (d.blend[1] - d.blend[0]);
    const at = placeThreat(bagMap, obj, boxes, rng, rng() < d.denseOverlap);
    if (at === undefined) continue;
    projectThreat(image, toTransmission(obj), at.x, at.y, blend);
    boxes.push({ class: cls, x: at.x + local.x, y: at.y + local.y, w: local.w, h: local.h });
    blends.push(blend);
  }
  if (opts.photons === undefined || opts.photons.high > 0) addQuantumNoise(image, opts.photons ?? { high: 40000, low: 15000 }, rng);
  return { image, boxes, meta: { difficulty: opts.difficulty, clutter, blends } };
}

/** Picks a spot inside the bag area: the densest of a few candidates when asked to hide it, else a random one. */
function placeThreat(bag: AttenuationMap, obj: ThreatObject, placed: TipBox[], rng: () => number, dense: boolean): { x: number; y: number } | undefined {
  const cands: { x: number; y: number; a: number }[] = [];
  const mx = bag.width - obj.width;
  const my = bag.height - obj.height;
  for (let k = 0; k < 24 && cands.length < 10; k++) {
    const x = Math.floor(mx * (0.08 + 0.84 * rng()));
    const y = Math.floor(my * (0.08 + 0.84 * rng()));
    const clash = placed.some((b) => overlap(b, { x, y, w: obj.width, h: obj.height }) > 0.3);
    if (clash) continue;
    let sum = 0;
    for (let yy = y; yy < y + obj.height; yy += 3) for (let xx = x; xx < x + obj.width; xx += 3) sum += bag.high[yy * bag.width + xx]!;
    cands.push({ x, y, a: sum });
  }
  if (cands.length === 0) return undefined;
  if (!dense) return cands[0];
  return cands.reduce((a, b) => (b.a > a.a ? b : a));
}

function overlap(a: { x: number; y: number; w: number; h: number }, b: { x: number; y: number; w: number; h: number }): number {
  const iw = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x));
  const ih = Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
  return (iw * ih) / Math.min(a.w * a.h, b.w * b.h);
}
