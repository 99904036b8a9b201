// Pseudo-colour X-ray exports decomposed back into attenuation and material (Zeff) with a per-vendor palette model, and the palette fit from a step wedge.
//
// What a customs node usually gets from a scanner bought abroad is the vendor's 8-bit screener rendering: hue
// from the effective atomic number (orange organic, green inorganic/mixed, blue metal), brightness from the
// transmission (thicker is darker, black is opaque). A palette is a set of anchor points (RGB → high-energy
// attenuation A, Zeff) measured on that vendor's output; any other colour is interpolated between its nearest
// anchors in CIELAB, where equal distances are roughly equal perceived differences, so JPEG's chroma noise moves
// the result by about as much as it moves the colour. The result is a lookup table over 6-bit RGB (the 2 low bits
// are below JPEG noise), compiled once per palette: a scan then costs one table read per pixel.
import { Type, type Static } from '@sinclair/typebox';
import { CustomsError } from '../../common/errors.js';
import { MATERIALS, type MaterialName } from './physics.js';

export class PaletteError extends CustomsError {
  constructor(message: string) {
    super('E_XRAY_PALETTE', message);
  }
}

export const PaletteAnchorSchema = Type.Object(
  {
    rgb: Type.Tuple([Type.Integer({ minimum: 0, maximum: 255 }), Type.Integer({ minimum: 0, maximum: 255 }), Type.Integer({ minimum: 0, maximum: 255 })]),
    attenuation: Type.Number({ minimum: 0, maximum: 20, description: 'high-energy log attenuation A = -ln T this colour stands for' }),
    zeff: Type.Number({ minimum: 1, maximum: 100, description: 'effective atomic number this colour stands for' }),
    label: Type.Optional(Type.String({ maxLength: 128, description: 'where the anchor came from (wedge step, material and thickness)' })),
  },
  { additionalProperties: false },
);
export type PaletteAnchor = Static<typeof PaletteAnchorSchema>;

export const PaletteSchema = Type.Object(
  {
    format: Type.Literal('customs-xray-palette/1'),
    name: Type.String({ minLength: 1, maxLength: 64 }),
    vendor: Type.Optional(Type.String({ maxLength: 128 })),
    description: Type.Optional(Type.String({ maxLength: 1024 })),
    /** Nearest anchors that share a colour's interpolation. */
    neighbours: Type.Optional(Type.Integer({ minimum: 1, maximum: 16 })),
    anchors: Type.Array(PaletteAnchorSchema, { minItems: 2, maxItems: 4096 }),
  },
  { additionalProperties: false },
);
export type Palette = Static<typeof PaletteSchema>;

/**
 * Zeff class boundaries of the usual screener colour coding: below 10 organic (orange), 10 to 20 inorganic or
 * mixed (green), 20 and above metal (blue).
 */
export const ZEFF_ORGANIC_MAX = 10;
export const ZEFF_METAL_MIN = 20;

/** Effective atomic numbers of the materials of physics.ts (photoelectric Zeff, rounded; mixtures as used here). */
export const MATERIAL_ZEFF: Record<MaterialName, number> = {
  air: 7.6,
  water: 7.4,
  polyethylene: 5.4,
  cloth: 6.9,
  paper: 6.9,
  wood: 6.9,
  explosive: 7.1,
  glass: 12.3,
  aluminium: 13,
  circuit: 14.5,
  steel: 25.8,
  copper: 29,
  lead: 82,
  battery: 21,
};

/**
 * The dual-energy ratio R = A_low / A_high a material of this Zeff shows in the world of physics.ts, so a
 * decomposed export can be handed to the dual-energy materials stage: water 1.24, aluminium 1.82, steel 3.29,
 * with the class boundaries (Zeff 10, 20) falling on the default materials curves (R 1.45, 2.5).
 */
const ZEFF_TO_RATIO: readonly (readonly [number, number])[] = [
  [5, 1.14],
  [7.4, 1.24],
  [ZEFF_ORGANIC_MAX, 1.45],
  [13, 1.82],
  [ZEFF_METAL_MIN, 2.5],
  [26, 3.29],
  [30, 3.45],
];

export function ratioForZeff(z: number): number {
  const p = ZEFF_TO_RATIO;
  if (z <= p[0]![0]) return p[0]![1];
  for (let i = 1; i < p.length; i++) {
    const [x1, y1] = p[i]!;
    const [x0, y0] = p[i - 1]!;
    if (z <= x1) return y0 + ((y1 - y0) * (z - x0)) / (x1 - x0);
  }
  return p[p.length - 1]![1];
}

/** sRGB level (0..255) → linear light, a 256-entry table (a constant, filled on first use). */
let LIN: Float64Array | undefined;
function linTable(): Float64Array {
  if (LIN === undefined) {
    LIN = new Float64Array(256);
    for (let c = 0; c < 256; c++) {
      const v = c / 255;
      LIN[c] = v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    }
  }
  return LIN;
}

function labF(t: number): number {
  return t > 216 / 24389 ? Math.cbrt(t) : (t * 24389) / 27 / 116 + 16 / 116;
}

/** sRGB (0..255 integers) → CIELAB (D65). */
export function rgbToLab(r: number, g: number, b: number): [number, number, number] {
  const L = linTable();
  const R = L[r & 255]!;
  const G = L[g & 255]!;
  const B = L[b & 255]!;
  const fx = labF((0.4124564 * R + 0.3575761 * G + 0.1804375 * B) / 0.95047);
  const fy = labF(0.2126729 * R + 0.7151522 * G + 0.072175 * B);
  const fz = labF((0.0193339 * R + 0.119192 * G + 0.9503041 * B) / 1.08883);
  return [116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)];
}

/** A palette ready for per-pixel use: attenuation and Zeff for every 6-bit RGB cell. */
export interface CompiledPalette {
  name: string;
  attenuation: Float32Array;
  zeff: Float32Array;
}

const BITS = 6;
const LEVELS = 1 << BITS;
const SHIFT = 8 - BITS;

/** Checks what the schema cannot: finite values and distinct colours. */
export function checkPalette(p: Palette, where = 'palette'): void {
  const seen = new Map<string, number>();
  p.anchors.forEach((a, i) => {
    if (!Number.isFinite(a.attenuation) || !Number.isFinite(a.zeff)) throw new PaletteError(`${where}.anchors[${i}]: expected finite attenuation and zeff`);
    const key = a.rgb.join(',');
    const j = seen.get(key);
    if (j !== undefined && (p.anchors[j]!.attenuation !== a.attenuation || p.anchors[j]!.zeff !== a.zeff)) {
      throw new PaletteError(`${where}.anchors[${i}]: colour ${key} is also anchors[${j}] with other values; expected one meaning per colour`);
    }
    seen.set(key, i);
  });
}

/**
 * Interpolates a palette over the RGB cube (Shepard's inverse-distance weighting over the k nearest anchors in
 * CIELAB, exact at an anchor). About 262 k cells × anchors distance evaluations: tens of milliseconds, once.
 */
export function compilePalette(p: Palette): CompiledPalette {
  checkPalette(p, p.name);
  const k = Math.min(p.neighbours ?? 4, p.anchors.length);
  const labs = p.anchors.map((a) => rgbToLab(a.rgb[0], a.rgb[1], a.rgb[2]));
  const n = labs.length;
  const aL = new Float64Array(n);
  const aA = new Float64Array(n);
  const aB = new Float64Array(n);
  labs.forEach((l, i) => {
    aL[i] = l[0];
    aA[i] = l[1];
    aB[i] = l[2];
  });
  const att = Float64Array.from(p.anchors, (a) => a.attenuation);
  const zef = Float64Array.from(p.anchors, (a) => a.zeff);
  const size = LEVELS * LEVELS * LEVELS;
  const outA = new Float32Array(size);
  const outZ = new Float32Array(size);
  const bestD = new Float64Array(k);
  const bestI = new Int32Array(k);
  const centre = (q: number): number => (q << SHIFT) + (1 << (SHIFT - 1));
  for (let r = 0; r < LEVELS; r++) {
    for (let g = 0; g < LEVELS; g++) {
      for (let b = 0; b < LEVELS; b++) {
        const [L, A, B] = rgbToLab(centre(r), centre(g), centre(b));
        bestD.fill(Infinity);
        for (let i = 0; i < n; i++) {
          const dl = L - aL[i]!;
          const da = A - aA[i]!;
          const db = B - aB[i]!;
          const d = dl * dl + da * da + db * db;
          if (d >= bestD[k - 1]!) continue;
          // Insertion into the short sorted list of the k nearest.
          let j = k - 1;
          while (j > 0 && bestD[j - 1]! > d) {
            bestD[j] = bestD[j - 1]!;
            bestI[j] = bestI[j - 1]!;
            j--;
          }
          bestD[j] = d;
          bestI[j] = i;
        }
        const cell = (r << (2 * BITS)) | (g << BITS) | b;
        if (bestD[0]! < 1e-9) {
          outA[cell] = att[bestI[0]!]!;
          outZ[cell] = zef[bestI[0]!]!;
          continue;
        }
        let sw = 0;
        let sa = 0;
        let sz = 0;
        for (let j = 0; j < k; j++) {
          const w = 1 / bestD[j]!;
          sw += w;
          sa += w * att[bestI[j]!]!;
          sz += w * zef[bestI[j]!]!;
        }
        outA[cell] = sa / sw;
        outZ[cell] = sz / sw;
      }
    }
  }
  return { name: p.name, attenuation: outA, zeff: outZ };
}

/** Attenuation and Zeff of one colour through a compiled palette. */
export function lookupColour(c: CompiledPalette, r: number, g: number, b: number): { attenuation: number; zeff: number } {
  const cell = ((r >> SHIFT) << (2 * BITS)) | ((g >> SHIFT) << BITS) | (b >> SHIFT);
  return { attenuation: c.attenuation[cell]!, zeff: c.zeff[cell]! };
}

export interface Decomposed {
  width: number;
  height: number;
  /** High-energy log attenuation per pixel. */
  attenuation: Float32Array;
  zeff: Float32Array;
}

/** Interleaved 8-bit RGB (3 bytes a pixel) → attenuation and Zeff planes. */
export function decomposePseudoColour(rgb: Uint8Array, width: number, height: number, c: CompiledPalette): Decomposed {
  const n = width * height;
  if (rgb.length !== n * 3) throw new PaletteError(`pseudo-colour image: ${rgb.length} bytes for ${width} x ${height}; expected ${n * 3} (RGB, 8 bits a channel)`);
  const attenuation = new Float32Array(n);
  const zeff = new Float32Array(n);
  const A = c.attenuation;
  const Z = c.zeff;
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    const cell = ((rgb[j]! >> SHIFT) << (2 * BITS)) | ((rgb[j + 1]! >> SHIFT) << BITS) | (rgb[j + 2]! >> SHIFT);
    attenuation[i] = A[cell]!;
    zeff[i] = Z[cell]!;
  }
  return { width, height, attenuation, zeff };
}

/**
 * The low-energy attenuation a dual-energy scanner would have measured for these pixels (A_low = R(Zeff) · A_high),
 * so the dual-energy materials stage classifies a decomposed export with the same code as a measured pair.
 */
export function virtualLowChannel(d: Decomposed): Float32Array {
  const out = new Float32Array(d.attenuation.length);
  // Zeff varies over a small range: a table over 0.1 steps avoids the piecewise search per pixel.
  const table = new Float32Array(1001);
  for (let i = 0; i <= 1000; i++) table[i] = ratioForZeff(i / 10);
  for (let i = 0; i < out.length; i++) {
    const z = d.zeff[i]!;
    const k = z <= 0 ? 0 : z >= 100 ? 1000 : Math.round(z * 10);
    out[i] = d.attenuation[i]! * table[k]!;
  }
  return out;
}

// ---- Built-in palettes ----------------------------------------------------------------------------------------

/** Attenuations at which the built-in palettes are sampled (0 is the white belt, 8 is opaque black). */
const GRID = [0, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1, 1.3, 1.6, 2, 2.5, 3, 3.5, 4, 5];

function rendered(
  name: string,
  description: string,
  hues: Record<'organic' | 'inorganic' | 'metal', [number, number, number]>,
  brightness: (a: number) => number,
  saturation: (a: number) => number,
): Palette {
  const anchors: PaletteAnchor[] = [];
  const zOf = { organic: MATERIAL_ZEFF.water, inorganic: MATERIAL_ZEFF.aluminium, metal: MATERIAL_ZEFF.steel };
  anchors.push({ rgb: [255, 255, 255], attenuation: 0, zeff: MATERIAL_ZEFF.air, label: 'belt, air' });
  for (const cls of ['organic', 'inorganic', 'metal'] as const) {
    for (const a of GRID) {
      if (a === 0) continue;
      const v = brightness(a);
      const s = saturation(a);
      const rgb = hues[cls].map((c) => Math.round(v * (255 * (1 - s) + c * s))) as [number, number, number];
      anchors.push({ rgb, attenuation: a, zeff: zOf[cls], label: `${cls} A=${a}` });
    }
  }
  anchors.push({ rgb: [0, 0, 0], attenuation: 8, zeff: MATERIAL_ZEFF.steel, label: 'opaque' });
  // Where two classes render to the same 8-bit colour (very dark), keep the first: one meaning per colour.
  const seen = new Set<string>();
  const unique = anchors.filter((a) => {
    const key = a.rgb.join(',');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return { format: 'customs-xray-palette/1', name, description, neighbours: 4, anchors: unique };
}

/**
 * Built-in palettes. `customs-render` is exactly the node's own screener rendering (materials.ts renderColour), so
 * renderings and TIP images this project writes decompose back; `generic` is the common look of vendor exports
 * (saturated orange, green, blue darkening to black), a starting point until `customs-calib xray palette` fits the
 * scanner's own.
 */
export const BUILTIN_PALETTES: Record<string, () => Palette> = {
  'customs-render': () =>
    rendered(
      'customs-render',
      "this project's screener rendering: v = exp(-0.6 A), saturation min(1, A / 0.6)",
      { organic: [255, 150, 30], inorganic: [60, 190, 60], metal: [40, 90, 255] },
      (a) => Math.exp(-0.6 * a),
      (a) => Math.min(1, a / 0.6),
    ),
  generic: () =>
    rendered(
      'generic',
      'typical vendor export: orange organic, green inorganic, blue metal, darker with thickness, black opaque; calibrate per scanner',
      { organic: [240, 150, 40], inorganic: [70, 170, 60], metal: [50, 90, 230] },
      (a) => Math.exp(-0.5 * a),
      (a) => Math.min(1, a / 0.4),
    ),
};

export function builtinPalette(name: string): Palette {
  const f = BUILTIN_PALETTES[name];
  if (f === undefined) throw new PaletteError(`palette "${name}": not a built-in palette; expected one of ${Object.keys(BUILTIN_PALETTES).join(', ')} or a palette file`);
  return f();
}

// ---- Fitting from a step wedge ----------------------------------------------------------------------------------

export const WedgeStepSchema = Type.Object(
  {
    box: Type.Tuple([Type.Integer({ minimum: 0 }), Type.Integer({ minimum: 0 }), Type.Integer({ minimum: 1 }), Type.Integer({ minimum: 1 })], {
      description: '[x, y, width, height] of the step in image pixels',
    }),
    material: Type.Optional(Type.String({ description: `one of ${Object.keys(MATERIALS).join(', ')}` })),
    thickness_cm: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    /** For a test piece of known values instead of a material and thickness. */
    attenuation: Type.Optional(Type.Number({ minimum: 0, maximum: 20 })),
    zeff: Type.Optional(Type.Number({ minimum: 1, maximum: 100 })),
    label: Type.Optional(Type.String({ maxLength: 128 })),
  },
  { additionalProperties: false },
);
export type WedgeStep = Static<typeof WedgeStepSchema>;

export const WedgeSpecSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64, description: 'palette name (vendor and model)' }),
    vendor: Type.Optional(Type.String({ maxLength: 128 })),
    steps: Type.Array(WedgeStepSchema, { minItems: 2, maxItems: 1024 }),
    /** Add the white belt (A = 0) as an anchor when the wedge image shows no empty belt region. */
    addAir: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type WedgeSpec = Static<typeof WedgeSpecSchema>;

export interface StepFit {
  label: string;
  rgb: [number, number, number];
  /** Colour spread inside the step (mean CIELAB distance from its median colour): the export's noise. */
  noise_dE: number;
  attenuation: number;
  zeff: number;
  /** Leave-one-out: the step predicted by a palette of all the other steps. */
  predicted: { attenuation: number; zeff: number };
}

export interface PaletteFit {
  palette: Palette;
  steps: StepFit[];
  /** Leave-one-out RMS of the attenuation and Zeff, and how many steps fall in another class than they are. */
  looRmsAttenuation: number;
  looRmsZeff: number;
  looClassErrors: number;
}

export function zeffClass(z: number): 'organic' | 'inorganic' | 'metal' {
  return z < ZEFF_ORGANIC_MAX ? 'organic' : z < ZEFF_METAL_MIN ? 'inorganic' : 'metal';
}

function stepTruth(s: WedgeStep, i: number): { attenuation: number; zeff: number; label: string } {
  const where = `steps[${i}]`;
  if (s.attenuation !== undefined && s.zeff !== undefined) return { attenuation: s.attenuation, zeff: s.zeff, label: s.label ?? `${where} A=${s.attenuation} Zeff=${s.zeff}` };
  if (s.material === undefined || s.thickness_cm === undefined) throw new PaletteError(`${where}: expected material and thickness_cm, or attenuation and zeff`);
  if (!(s.material in MATERIALS)) throw new PaletteError(`${where}.material "${s.material}": expected one of ${Object.keys(MATERIALS).join(', ')}`);
  const m = MATERIALS[s.material as MaterialName];
  return {
    attenuation: m.muRho_high * m.density_g_cm3 * s.thickness_cm,
    zeff: s.zeff ?? MATERIAL_ZEFF[s.material as MaterialName],
    label: s.label ?? `${s.material} ${s.thickness_cm} cm`,
  };
}

/** Median colour of a box and the mean CIELAB distance of its pixels from it (JPEG blocks and noise average out). */
function boxColour(rgb: Uint8Array, width: number, height: number, box: readonly [number, number, number, number], where: string): { rgb: [number, number, number]; noise: number } {
  const [x0, y0, w, h] = box;
  if (x0 + w > width || y0 + h > height) throw new PaletteError(`${where}.box [${box.join(', ')}]: outside the ${width} x ${height} image`);
  // A margin of a quarter of the box keeps the step's edges (blur, JPEG ringing) out.
  const mx = Math.floor(w / 4);
  const my = Math.floor(h / 4);
  const hist = [new Uint32Array(256), new Uint32Array(256), new Uint32Array(256)];
  let n = 0;
  for (let y = y0 + my; y < y0 + h - my; y++) {
    for (let x = x0 + mx; x < x0 + w - mx; x++) {
      const j = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) hist[c]![rgb[j + c]!]!++;
      n++;
    }
  }
  if (n === 0) throw new PaletteError(`${where}.box [${box.join(', ')}]: too small; expected at least 2 x 2 pixels`);
  const median = hist.map((hc) => {
    let acc = 0;
    for (let v = 0; v < 256; v++) {
      acc += hc[v]!;
      if (acc * 2 >= n) return v;
    }
    return 255;
  }) as [number, number, number];
  const ml = rgbToLab(...median);
  let sum = 0;
  for (let y = y0 + my; y < y0 + h - my; y++) {
    for (let x = x0 + mx; x < x0 + w - mx; x++) {
      const j = (y * width + x) * 3;
      const l = rgbToLab(rgb[j]!, rgb[j + 1]!, rgb[j + 2]!);
      sum += Math.hypot(l[0] - ml[0], l[1] - ml[1], l[2] - ml[2]);
    }
  }
  return { rgb: median, noise: sum / n };
}

/** Inverse-distance prediction of one colour from a list of anchors (the same rule as compilePalette, without the table). */
function predict(anchors: readonly PaletteAnchor[], rgb: readonly [number, number, number], k: number): { attenuation: number; zeff: number } {
  const l = rgbToLab(rgb[0], rgb[1], rgb[2]);
  const d = anchors
    .map((a) => {
      const m = rgbToLab(a.rgb[0], a.rgb[1], a.rgb[2]);
      return { a, d: (l[0] - m[0]) ** 2 + (l[1] - m[1]) ** 2 + (l[2] - m[2]) ** 2 };
    })
    .sort((x, y) => x.d - y.d)
    .slice(0, k);
  if (d[0]!.d < 1e-9) return { attenuation: d[0]!.a.attenuation, zeff: d[0]!.a.zeff };
  let sw = 0;
  let sa = 0;
  let sz = 0;
  for (const { a, d: dd } of d) {
    sw += 1 / dd;
    sa += a.attenuation / dd;
    sz += a.zeff / dd;
  }
  return { attenuation: sa / sw, zeff: sz / sw };
}

/** Fits a palette to an image of a step wedge or test piece whose steps (material and thickness) are known. */
export function fitPalette(rgb: Uint8Array, width: number, height: number, spec: WedgeSpec): PaletteFit {
  if (rgb.length !== width * height * 3) throw new PaletteError(`wedge image: ${rgb.length} bytes for ${width} x ${height}; expected RGB`);
  const measured = spec.steps.map((s, i) => {
    const truth = stepTruth(s, i);
    const c = boxColour(rgb, width, height, s.box, `steps[${i}]`);
    return { ...truth, rgb: c.rgb, noise: c.noise };
  });
  const anchors: PaletteAnchor[] = [];
  // Two steps of one colour (a wedge seen through saturation) keep their mean: one meaning per colour.
  const byColour = new Map<string, { rgb: [number, number, number]; a: number[]; z: number[]; labels: string[] }>();
  for (const m of measured) {
    const key = m.rgb.join(',');
    const e = byColour.get(key) ?? { rgb: m.rgb, a: [], z: [], labels: [] };
    e.a.push(m.attenuation);
    e.z.push(m.zeff);
    e.labels.push(m.label);
    byColour.set(key, e);
  }
  for (const e of byColour.values()) {
    const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
    anchors.push({ rgb: e.rgb, attenuation: round4(mean(e.a)), zeff: round4(mean(e.z)), label: e.labels.join(' + ').slice(0, 128) });
  }
  if (spec.addAir && !byColour.has('255,255,255')) anchors.push({ rgb: [255, 255, 255], attenuation: 0, zeff: MATERIAL_ZEFF.air, label: 'belt, air (added)' });
  const k = 4;
  const steps: StepFit[] = measured.map((m) => {
    const others = anchors.filter((a) => a.rgb.join(',') !== m.rgb.join(','));
    return {
      label: m.label,
      rgb: m.rgb,
      noise_dE: round4(m.noise),
      attenuation: round4(m.attenuation),
      zeff: m.zeff,
      predicted: others.length > 0 ? mapRound(predict(others, m.rgb, k)) : { attenuation: NaN, zeff: NaN },
    };
  });
  const rms = (f: (s: StepFit) => number): number => Math.sqrt(steps.reduce((s, x) => s + f(x) ** 2, 0) / steps.length);
  const palette: Palette = {
    format: 'customs-xray-palette/1',
    name: spec.name,
    ...(spec.vendor !== undefined ? { vendor: spec.vendor } : {}),
    description: `fitted from ${spec.steps.length} wedge steps`,
    neighbours: k,
    anchors,
  };
  checkPalette(palette, spec.name);
  return {
    palette,
    steps,
    looRmsAttenuation: round4(rms((s) => s.predicted.attenuation - s.attenuation)),
    looRmsZeff: round4(rms((s) => s.predicted.zeff - s.zeff)),
    looClassErrors: steps.filter((s) => zeffClass(s.predicted.zeff) !== zeffClass(s.zeff)).length,
  };
}

function round4(v: number): number {
  return Math.round(v * 1e4) / 1e4;
}

function mapRound(p: { attenuation: number; zeff: number }): { attenuation: number; zeff: number } {
  return { attenuation: round4(p.attenuation), zeff: round4(p.zeff) };
}

/**
 * Renders attenuation and Zeff planes with a palette's anchors (nearest anchor of the same class by attenuation):
 * what a scanner with this palette would export. For tests and benches that need a pseudo-colour image of a known
 * scene.
 */
export function renderWithPalette(attenuation: Float32Array, zeff: Float32Array, p: Palette): Uint8Array {
  const byClass = new Map<string, PaletteAnchor[]>();
  for (const a of p.anchors) {
    const c = zeffClass(a.zeff);
    const list = byClass.get(c) ?? [];
    list.push(a);
    byClass.set(c, list);
  }
  for (const list of byClass.values()) list.sort((x, y) => x.attenuation - y.attenuation);
  const out = new Uint8Array(attenuation.length * 3);
  for (let i = 0; i < attenuation.length; i++) {
    const list = byClass.get(zeffClass(zeff[i]!)) ?? p.anchors;
    const a = attenuation[i]!;
    // Linear between the two anchors of the class that bracket A (flat beyond the ends).
    let lo = list[0]!;
    let hi = list[list.length - 1]!;
    for (const x of list) {
      if (x.attenuation <= a) lo = x;
      if (x.attenuation >= a) {
        hi = x;
        break;
      }
    }
    const f = hi.attenuation > lo.attenuation ? Math.min(1, Math.max(0, (a - lo.attenuation) / (hi.attenuation - lo.attenuation))) : 0;
    for (let c = 0; c < 3; c++) out[i * 3 + c] = Math.round(lo.rgb[c]! + f * (hi.rgb[c]! - lo.rgb[c]!));
  }
  return out;
}
