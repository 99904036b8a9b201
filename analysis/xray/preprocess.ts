// X-ray preprocessing, pure: raw 16-bit counts → transmission (dark/open-beam references) → log attenuation; resampling and tiles.
//
// A line scanner's pixel i sees T = (raw - dark_i) / (open_i - dark_i): the dark frame holds the electronics' offset
// and the open beam (no object) the per-pixel gain and the tube's profile. References may be full frames or one line
// (1 × W or H × 1, broadcast along the belt), as technicians record them. Without references the image is taken as
// already normalised (dark 0, open 65535).
import { CustomsError } from '../../common/errors.js';
import type { Image16 } from './image.js';

/** Transmission floor: below this a 16-bit detector sees only noise, and -ln T must stay finite. */
export const T_MIN = 1e-5;

export class PreprocessError extends CustomsError {
  constructor(message: string) {
    super('E_XRAY_PREPROCESS', message);
  }
}

export interface References {
  dark: Image16;
  open: Image16;
}

/** Index into a reference for image pixel (x, y): full frame, one row (broadcast down) or one column (across). */
function refIndexer(ref: Image16, width: number, height: number, what: string): (x: number, y: number) => number {
  if (ref.width === width && ref.height === height) return (x, y) => y * width + x;
  if (ref.height === 1 && ref.width === width) return (x) => x;
  if (ref.width === 1 && ref.height === height) return (_x, y) => y;
  throw new PreprocessError(`${what} reference is ${ref.width} x ${ref.height}; expected ${width} x ${height}, ${width} x 1 or 1 x ${height} like its image`);
}

/** Raw counts → transmission in [T_MIN, 1]. Pixels where open ≤ dark (dead pixels) read as air. */
export function toTransmission(raw: Image16, refs?: References, channel = 'image'): Float32Array {
  const n = raw.width * raw.height;
  const out = new Float32Array(n);
  const d = raw.data;
  if (refs === undefined) {
    for (let i = 0; i < n; i++) {
      const t = d[i]! / 65535;
      out[i] = t < T_MIN ? T_MIN : t > 1 ? 1 : t;
    }
    return out;
  }
  const di = refIndexer(refs.dark, raw.width, raw.height, `${channel} dark`);
  const oi = refIndexer(refs.open, raw.width, raw.height, `${channel} open-beam`);
  const dark = refs.dark.data;
  const open = refs.open.data;
  for (let y = 0; y < raw.height; y++) {
    for (let x = 0; x < raw.width; x++) {
      const i = y * raw.width + x;
      const dv = dark[di(x, y)]!;
      const span = open[oi(x, y)]! - dv;
      const t = span <= 0 ? 1 : (d[i]! - dv) / span;
      out[i] = t < T_MIN ? T_MIN : t > 1 ? 1 : t;
    }
  }
  return out;
}

/** ln(k) for every 16-bit count k (ln 0 taken as ln 0.5): -ln T of integer counts becomes two lookups. */
let LN16: Float32Array | undefined;
function ln16(): Float32Array {
  if (LN16 === undefined) {
    LN16 = new Float32Array(65536);
    LN16[0] = Math.log(0.5);
    for (let k = 1; k < 65536; k++) LN16[k] = Math.log(k);
  }
  return LN16;
}

/**
 * Transmission and log attenuation in one pass, for the node's hot path: with integer counts,
 * A = ln(open - dark) - ln(raw - dark) is two table lookups instead of a logarithm per pixel. Same clamping as
 * toTransmission (T in [T_MIN, 1]).
 */
export function transmissionAndAttenuation(raw: Image16, refs?: References, channel = 'image'): { t: Float32Array; a: Float32Array } {
  const n = raw.width * raw.height;
  const t = new Float32Array(n);
  const a = new Float32Array(n);
  const d = raw.data;
  const L = ln16();
  const aMax = -Math.log(T_MIN);
  if (refs === undefined) {
    const ln65535 = L[65535]!;
    for (let i = 0; i < n; i++) {
      const v = d[i]!;
      const av = ln65535 - L[v]!;
      if (av > aMax) {
        a[i] = aMax;
        t[i] = T_MIN;
      } else {
        a[i] = av;
        t[i] = v / 65535;
      }
    }
    return { t, a };
  }
  const di = refIndexer(refs.dark, raw.width, raw.height, `${channel} dark`);
  const oi = refIndexer(refs.open, raw.width, raw.height, `${channel} open-beam`);
  const dark = refs.dark.data;
  const open = refs.open.data;
  for (let y = 0; y < raw.height; y++) {
    for (let x = 0; x < raw.width; x++) {
      const i = y * raw.width + x;
      const dv = dark[di(x, y)]!;
      const span = open[oi(x, y)]! - dv;
      if (span <= 0) {
        t[i] = 1;
        a[i] = 0;
        continue;
      }
      const net = d[i]! - dv;
      if (net >= span) {
        t[i] = 1;
        a[i] = 0;
        continue;
      }
      const av = L[span]! - L[net > 0 ? net : 0]!;
      if (av > aMax) {
        a[i] = aMax;
        t[i] = T_MIN;
      } else {
        a[i] = av;
        t[i] = net / span;
      }
    }
  }
  return { t, a };
}

/** Log attenuation A = -ln T (additive over materials along the ray). */
export function attenuation(t: Float32Array): Float32Array {
  const out = new Float32Array(t.length);
  for (let i = 0; i < t.length; i++) out[i] = -Math.log(t[i]!);
  return out;
}

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/**
 * Area-averages `src` (width × height) to outW × outH. Averaging is done on transmission (what a larger detector
 * pixel would count), never on attenuation. Non-integer factors weigh the partly covered source pixels.
 */
export function resampleArea(src: Float32Array, width: number, height: number, outW: number, outH: number): Float32Array {
  const out = new Float32Array(outW * outH);
  const fx = width / outW;
  const fy = height / outH;
  if (Number.isInteger(fx) && Number.isInteger(fy)) {
    const inv = 1 / (fx * fy);
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        let s = 0;
        for (let yy = oy * fy; yy < (oy + 1) * fy; yy++) {
          const row = yy * width;
          for (let xx = ox * fx; xx < (ox + 1) * fx; xx++) s += src[row + xx]!;
        }
        out[oy * outW + ox] = s * inv;
      }
    }
    return out;
  }
  for (let oy = 0; oy < outH; oy++) {
    const y0 = oy * fy;
    const y1 = Math.min(height, y0 + fy);
    for (let ox = 0; ox < outW; ox++) {
      const x0 = ox * fx;
      const x1 = Math.min(width, x0 + fx);
      let s = 0;
      let wsum = 0;
      for (let yy = Math.floor(y0); yy < y1; yy++) {
        const wy = Math.min(y1, yy + 1) - Math.max(y0, yy);
        if (wy <= 0) continue;
        for (let xx = Math.floor(x0); xx < x1; xx++) {
          const wx = Math.min(x1, xx + 1) - Math.max(x0, xx);
          if (wx <= 0) continue;
          s += src[yy * width + xx]! * wx * wy;
          wsum += wx * wy;
        }
      }
      out[oy * outW + ox] = wsum > 0 ? s / wsum : 1;
    }
  }
  return out;
}

/** Overlapping tiles of at most `tile` × `tile` covering width × height (the last ones flush with the edge). */
export function tiles(width: number, height: number, tile: number, overlap = 0.25): Rect[] {
  const starts = (len: number): number[] => {
    if (len <= tile) return [0];
    const step = Math.max(1, Math.floor(tile * (1 - overlap)));
    const s: number[] = [];
    for (let p = 0; p + tile < len; p += step) s.push(p);
    s.push(len - tile);
    return s;
  };
  const out: Rect[] = [];
  for (const y of starts(height)) for (const x of starts(width)) out.push({ x, y, w: Math.min(tile, width), h: Math.min(tile, height) });
  return out;
}

/** Copies a rectangle out of a row-major plane. */
export function crop(src: Float32Array, width: number, r: Rect): Float32Array {
  const out = new Float32Array(r.w * r.h);
  for (let y = 0; y < r.h; y++) out.set(src.subarray((r.y + y) * width + r.x, (r.y + y) * width + r.x + r.w), y * r.w);
  return out;
}
