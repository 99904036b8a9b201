// Density and shape rules for scans the threat model cannot read (single energy, pseudo-colour exports): dense compact objects and organic-block-like slabs.
//
// Without a threat stage the node still decides: a scan with nothing dense (no metal-class region, or in single
// energy no region attenuating like a few millimetres of steel) and nothing block-like can be cleared, anything
// else goes to a screener. Long thin dense structures (trolley handles and frame bars, longer than any handheld
// threat) are reported as structural and do not on their own send a bag to review.
import { components } from './components.js';
import { MAT } from './materials.js';

export interface DensityConfig {
  /** A_high at or above this is dense when there is no material class (about 3 mm of steel, or 8 cm of water); opaque always is. */
  denseAttenuation: number;
  /** A dense region at least this large (cm², or ‰ of the object pixels when the pitch is unknown) is reported. */
  denseArea_cm2: number;
  densePermille: number;
  /** A dense region longer than this and thinner than `structuralWidth_cm` is structure (trolley bar, handle). */
  structuralLength_cm: number;
  structuralWidth_cm: number;
  /** Block-like: a region of A_high in [blockMinAttenuation, denseAttenuation) at least this large and filling its box this much. */
  blockMinAttenuation: number;
  blockArea_cm2: number;
  blockFill: number;
  /** ... and at least this wide on its shorter side. */
  blockMinSide_cm: number;
  /** The largest |A - mean| share of a block's pixels allowed: slabs are uniform, clothes and books are not. */
  blockUniformity: number;
}

export const DEFAULT_DENSITY: DensityConfig = {
  denseAttenuation: 1.5,
  denseArea_cm2: 4,
  densePermille: 2,
  structuralLength_cm: 45,
  structuralWidth_cm: 4,
  blockMinAttenuation: 0.8,
  blockArea_cm2: 60,
  blockFill: 0.75,
  blockMinSide_cm: 5,
  blockUniformity: 0.25,
};

export interface Region {
  pixels: number;
  area_cm2?: number;
  box: { x: number; y: number; w: number; h: number };
  meanAttenuation: number;
  /** Longest side of the box and mean width (pixels / length), cm when the pitch is known, else pixels. */
  length: number;
  width: number;
}

export interface DensitySummary {
  /** Dense regions over the size threshold that are not structural, largest first (at most 8). */
  dense: Region[];
  /** Long thin dense regions taken as structure. */
  structural: number;
  /** Organic-block-like regions (uniform slabs), largest first (at most 4). */
  blocks: Region[];
  /** What "dense" meant: the metal class (colour or dual energy) or the attenuation threshold (single energy). */
  basis: 'metal-class' | 'attenuation';
}

/**
 * Dense and block-like regions of one scan at the materials resolution. `classes` (materials.ts codes) decides what
 * is dense where the scan has material classes; without them (single energy) the attenuation threshold does.
 * `pitch_cm` is the pixel size of these planes.
 */
export function densityRegions(
  aHigh: Float32Array,
  classes: Uint8Array | undefined,
  width: number,
  height: number,
  cfg: DensityConfig = DEFAULT_DENSITY,
  pitch_cm?: number,
): DensitySummary {
  const n = width * height;
  const hasClasses = classes !== undefined && classes.some((c) => c === MAT.organic || c === MAT.inorganic || c === MAT.metal);
  const dense = new Uint8Array(n);
  const block = new Uint8Array(n);
  let objects = 0;
  for (let i = 0; i < n; i++) {
    const a = aHigh[i]!;
    if (a >= 0.1) objects++;
    const c = classes?.[i] ?? MAT.none;
    // Opaque counts as dense: what the beam does not cross (black in an export) may be a steel object.
    if (hasClasses) {
      if (c === MAT.metal || c === MAT.opaque) dense[i] = 1;
      // Only organic counts for a block when classes exist.
      else if (c === MAT.organic && a >= cfg.blockMinAttenuation) block[i] = 1;
    } else if (a >= cfg.denseAttenuation || c === MAT.opaque) dense[i] = 1;
    else if (a >= cfg.blockMinAttenuation) block[i] = 1;
  }
  const px2 = pitch_cm !== undefined ? pitch_cm * pitch_cm : undefined;
  const minDense = px2 !== undefined ? Math.max(1, Math.ceil(cfg.denseArea_cm2 / px2)) : Math.max(1, Math.ceil((cfg.densePermille / 1000) * objects));
  const scale = pitch_cm ?? 1;
  const toRegion = (c: ReturnType<typeof components>[number]): Region => {
    const w = c.x1 - c.x0 + 1;
    const h = c.y1 - c.y0 + 1;
    const length = Math.max(w, h) * scale;
    return {
      pixels: c.pixels,
      ...(px2 !== undefined ? { area_cm2: c.pixels * px2 } : {}),
      box: { x: c.x0, y: c.y0, w, h },
      meanAttenuation: c.sumA / c.pixels,
      length,
      width: (c.pixels * scale * scale) / length,
    };
  };
  const denseOut: Region[] = [];
  let structural = 0;
  for (const c of components(dense, aHigh, width, height, minDense)) {
    const r = toRegion(c);
    if (pitch_cm !== undefined && r.length >= cfg.structuralLength_cm && r.width <= cfg.structuralWidth_cm) structural++;
    else denseOut.push(r);
  }
  const blocks: Region[] = [];
  if (px2 !== undefined) {
    const minBlock = Math.max(1, Math.ceil(cfg.blockArea_cm2 / px2));
    for (const c of components(block, aHigh, width, height, minBlock)) {
      const r = toRegion(c);
      const fill = c.pixels / (r.box.w * r.box.h);
      const mean = c.sumA / c.pixels;
      // Coefficient of variation of A inside the region: a slab of one material and thickness is near uniform.
      const cv = Math.sqrt(Math.max(0, c.sumA2 / c.pixels - mean * mean)) / mean;
      // A slab is wide as well as filled: a thin line (a bag's edge, a tube) fills its own box too.
      const minSide = Math.min(r.box.w, r.box.h) * scale;
      if (fill >= cfg.blockFill && cv <= cfg.blockUniformity && minSide >= cfg.blockMinSide_cm) blocks.push(r);
    }
  }
  denseOut.sort((x, y) => y.pixels - x.pixels);
  blocks.sort((x, y) => y.pixels - x.pixels);
  return { dense: denseOut.slice(0, 8), structural, blocks: blocks.slice(0, 4), basis: hasClasses ? 'metal-class' : 'attenuation' };
}
