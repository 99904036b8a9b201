// Dual-energy material classes (organic / inorganic / metal) from R = ln T_low / ln T_high, and the screener's colour rendering.
//
// R = A_low / A_high rises with the effective atomic number: the low-energy channel is dominated by the
// photoelectric effect (∝ Z³-Z⁴), the high-energy one by Compton scattering (∝ electron density). On a real scanner
// the boundaries between classes move with thickness (beam hardening), so they are calibrated curves R(A_high),
// piecewise linear, measured with step wedges of known materials; they live in the node's config.
import { Type, type Static } from '@sinclair/typebox';
import { components, type Component } from './components.js';

export const MaterialsConfigSchema = Type.Object(
  {
    minAttenuation: Type.Number({ minimum: 0, default: 0.1, description: 'A_high below this is background (air, the belt, thin wrapping)' }),
    opaqueAttenuation: Type.Number({ exclusiveMinimum: 0, default: 6, description: 'A_high above this is impenetrable: no material reading' }),
    organicMax: Type.Array(Type.Tuple([Type.Number({ minimum: 0 }), Type.Number({ exclusiveMinimum: 0 })]), {
      minItems: 1,
      default: [[0, 1.45], [8, 1.45]],
      description: 'calibrated curve [A_high, R] points: R below it is organic',
    }),
    metalMin: Type.Array(Type.Tuple([Type.Number({ minimum: 0 }), Type.Number({ exclusiveMinimum: 0 })]), {
      minItems: 1,
      default: [[0, 2.5], [8, 2.5]],
      description: 'calibrated curve [A_high, R] points: R above it is metal',
    }),
    lowSaturation: Type.Number({
      exclusiveMinimum: 0,
      default: 9,
      description: 'A_low above this is photon-starved: the measured ratio is only a lower bound (metal if it already reads metal, else opaque)',
    }),
    smoothRadius: Type.Integer({ minimum: 0, maximum: 8, default: 1, description: 'box filter radius (pixels) before the ratio: quantum noise makes R of one pixel jumpy' }),
    denseOrganicAttenuation: Type.Number({ exclusiveMinimum: 0, default: 0.8, description: 'organic pixels at least this attenuating (A_high) count as dense organic' }),
  },
  { additionalProperties: false },
);
export type MaterialsConfig = Static<typeof MaterialsConfigSchema>;

export const DEFAULT_MATERIALS: MaterialsConfig = {
  minAttenuation: 0.1,
  opaqueAttenuation: 6,
  organicMax: [
    [0, 1.45],
    [8, 1.45],
  ],
  metalMin: [
    [0, 2.5],
    [8, 2.5],
  ],
  lowSaturation: 9,
  smoothRadius: 1,
  denseOrganicAttenuation: 0.8,
};

/** Per-pixel class codes. */
export const MAT = { none: 0, organic: 1, inorganic: 2, metal: 3, opaque: 4 } as const;

export interface MaterialsSummary {
  /** Shares of the object pixels (A_high ≥ minAttenuation), 0..1. */
  organic: number;
  inorganic: number;
  metal: number;
  opaque: number;
  /** Object pixels / all pixels. */
  objectFraction: number;
  /**
   * Mass seen by the beam, kg, when the pixel size is known: Σ A_high / (μ/ρ)_high × pixel area, with the μ/ρ of
   * each pixel's material class (what a mass per area integral through the image gives; rough for mixtures).
   */
  mass_kg?: number;
  /** Largest connected region of dense organic, in pixels of the analysed image and in cm² when the pitch is known. */
  denseOrganic: { pixels: number; area_cm2?: number; meanAttenuation: number; box?: { x: number; y: number; w: number; h: number } };
}

export interface MaterialsResult {
  classes: Uint8Array;
  summary: MaterialsSummary;
}

/** Piecewise-linear interpolation of a calibrated curve, flat beyond its ends. */
export function curveAt(points: readonly (readonly [number, number])[], a: number): number {
  const first = points[0]!;
  if (a <= first[0]) return first[1];
  for (let i = 1; i < points.length; i++) {
    const [x1, y1] = points[i]!;
    const [x0, y0] = points[i - 1]!;
    if (a <= x1) return x1 === x0 ? y1 : y0 + ((y1 - y0) * (a - x0)) / (x1 - x0);
  }
  return points[points.length - 1]![1];
}

/** Separable box mean of radius r (edges use the pixels that exist). */
export function boxBlur(src: Float32Array, width: number, height: number, r: number): Float32Array {
  if (r <= 0) return src;
  const tmp = new Float32Array(src.length);
  const out = new Float32Array(src.length);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    let s = 0;
    let n = 0;
    for (let x = 0; x < Math.min(r, width); x++) {
      s += src[row + x]!;
      n++;
    }
    for (let x = 0; x < width; x++) {
      if (x + r < width) {
        s += src[row + x + r]!;
        n++;
      }
      if (x - r - 1 >= 0) {
        s -= src[row + x - r - 1]!;
        n--;
      }
      tmp[row + x] = s / n;
    }
  }
  // Vertical pass row by row with running column sums: sequential memory access (a column walk misses the cache).
  const sum = new Float32Array(width);
  let n = 0;
  for (let y = 0; y < Math.min(r, height); y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) sum[x]! += tmp[row + x]!;
    n++;
  }
  for (let y = 0; y < height; y++) {
    if (y + r < height) {
      const row = (y + r) * width;
      for (let x = 0; x < width; x++) sum[x]! += tmp[row + x]!;
      n++;
    }
    if (y - r - 1 >= 0) {
      const row = (y - r - 1) * width;
      for (let x = 0; x < width; x++) sum[x]! -= tmp[row + x]!;
      n--;
    }
    const row = y * width;
    const inv = 1 / n;
    for (let x = 0; x < width; x++) out[row + x] = sum[x]! * inv;
  }
  return out;
}

/**
 * Classifies every pixel from the two attenuation planes. `pitch_cm` is the analysed image's pixel size at the
 * belt (for the dense-organic area). A single-energy image (no `low`) gets no material classes, only objects/opaque.
 */
export function classifyMaterials(
  aHigh: Float32Array,
  aLow: Float32Array | undefined,
  width: number,
  height: number,
  cfg: MaterialsConfig = DEFAULT_MATERIALS,
  pitch_cm?: number,
): MaterialsResult {
  const n = width * height;
  const classes = new Uint8Array(n);
  const h = boxBlur(aHigh, width, height, cfg.smoothRadius);
  const l = aLow === undefined ? undefined : boxBlur(aLow, width, height, cfg.smoothRadius);
  // The curves are sampled into a small table over A_high so the per-pixel work is one lookup.
  const STEPS = 256;
  const maxA = cfg.opaqueAttenuation;
  const orgT = new Float32Array(STEPS + 1);
  const metT = new Float32Array(STEPS + 1);
  for (let k = 0; k <= STEPS; k++) {
    orgT[k] = curveAt(cfg.organicMax, (k / STEPS) * maxA);
    metT[k] = curveAt(cfg.metalMin, (k / STEPS) * maxA);
  }
  let objects = 0;
  const counts = [0, 0, 0, 0, 0];
  // μ/ρ at the high effective energy per class (cm²/g): cellulose/water-like, aluminium/glass-like, steel-like;
  // no class (single energy, opaque) is taken as organic, the commonest content.
  const muRho = [0.18, 0.18, 0.2, 0.6, 0.6];
  let massSum = 0;
  for (let i = 0; i < n; i++) {
    const a = h[i]!;
    if (a < cfg.minAttenuation) continue;
    objects++;
    let c: number;
    if (a >= maxA) c = MAT.opaque;
    else if (l === undefined) c = MAT.none;
    else {
      const al = l[i]!;
      const r = al / a;
      const k = Math.round((a / maxA) * STEPS);
      // A starved low channel under-reads A_low: trust the ratio only where it already says metal.
      if (al >= cfg.lowSaturation) c = r >= metT[k]! ? MAT.metal : MAT.opaque;
      else c = r < orgT[k]! ? MAT.organic : r >= metT[k]! ? MAT.metal : MAT.inorganic;
    }
    classes[i] = c;
    counts[c]!++;
    massSum += aHigh[i]! / muRho[c]!;
  }
  const dense = largestDenseOrganic(classes, h, width, height, cfg.denseOrganicAttenuation);
  const share = (k: number): number => (objects === 0 ? 0 : counts[k]! / objects);
  return {
    classes,
    summary: {
      organic: share(MAT.organic),
      inorganic: share(MAT.inorganic),
      metal: share(MAT.metal),
      opaque: share(MAT.opaque),
      objectFraction: objects / n,
      ...(pitch_cm !== undefined ? { mass_kg: (massSum * pitch_cm * pitch_cm) / 1000 } : {}),
      denseOrganic: {
        pixels: dense.pixels,
        meanAttenuation: dense.meanA,
        ...(pitch_cm !== undefined ? { area_cm2: dense.pixels * pitch_cm * pitch_cm } : {}),
        ...(dense.box !== undefined ? { box: dense.box } : {}),
      },
    },
  };
}

/** Largest 4-connected region of organic pixels with A_high ≥ minA. */
function largestDenseOrganic(
  classes: Uint8Array,
  aHigh: Float32Array,
  width: number,
  height: number,
  minA: number,
): { pixels: number; meanA: number; box?: { x: number; y: number; w: number; h: number } } {
  const mask = new Uint8Array(width * height);
  for (let i = 0; i < mask.length; i++) mask[i] = classes[i] === MAT.organic && aHigh[i]! >= minA ? 1 : 0;
  let best: Component | undefined;
  // Strictly larger replaces: the first of equal regions in scan order wins, as the flood fill this replaced did.
  for (const c of components(mask, aHigh, width, height, 1)) if (!best || c.pixels > best.pixels) best = c;
  return best === undefined ? { pixels: 0, meanA: 0 } : { pixels: best.pixels, meanA: best.sumA / best.pixels, box: { x: best.x0, y: best.y0, w: best.x1 - best.x0 + 1, h: best.y1 - best.y0 + 1 } };
}

/** Screener colours: orange organic, green inorganic, blue metal; grey where there is no material reading. */
const PALETTE: Record<number, [number, number, number]> = {
  [MAT.none]: [200, 200, 200],
  [MAT.organic]: [255, 150, 30],
  [MAT.inorganic]: [60, 190, 60],
  [MAT.metal]: [40, 90, 255],
  [MAT.opaque]: [0, 0, 0],
};

/**
 * The usual dual-energy rendering: hue from the material class, brightness from the transmission (thicker is
 * darker), colour saturation growing with attenuation so thin wrapping stays near white. RGB, 8 bits per channel.
 */
export function renderColour(aHigh: Float32Array, classes: Uint8Array, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    const a = aHigh[i]!;
    const v = Math.exp(-0.6 * a);
    const sat = Math.min(1, a / 0.6);
    const c = PALETTE[classes[i]!] ?? PALETTE[MAT.none]!;
    for (let k = 0; k < 3; k++) out[i * 3 + k] = Math.round(v * (255 * (1 - sat) + c[k]! * sat));
  }
  return out;
}
