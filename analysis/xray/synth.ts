// Synthetic dual-energy X-ray content: bags with clutter of several materials and threat objects, as log-attenuation maps.
//
// Everything is drawn in attenuation space (A = Σ μ·t per channel), so overlapping items add as Beer-Lambert says.
// Shapes carry a thickness profile (a bottle is thicker in its middle than at its rim) and soft one-pixel edges.
// Pure and seeded: the same seed draws the same bag.
import { linearMu, type MaterialName } from './physics.js';

/** A two-channel log-attenuation map (A = -ln T), row-major, width × height. */
export interface AttenuationMap {
  width: number;
  height: number;
  high: Float32Array;
  low: Float32Array;
}

export const THREAT_CLASSES = ['gun', 'knife', 'blade', 'ied', 'organic_block'] as const;
export type ThreatClass = (typeof THREAT_CLASSES)[number];

/** A threat drawn alone on its own canvas: its transmission image is exp(-A) per channel. */
export interface ThreatObject extends AttenuationMap {
  class: ThreatClass;
}

export function emptyMap(width: number, height: number): AttenuationMap {
  return { width, height, high: new Float32Array(width * height), low: new Float32Array(width * height) };
}

type Profile = 'flat' | 'round';

/** Shapes in pixel coordinates; angle in radians. `round` thickness falls off like a cylinder or an ellipsoid. */
export type Shape =
  | { kind: 'rect'; cx: number; cy: number; w: number; h: number; angle: number; profile?: Profile }
  | { kind: 'ellipse'; cx: number; cy: number; rx: number; ry: number; angle: number; profile?: Profile }
  | { kind: 'ring'; cx: number; cy: number; r: number; width: number }
  | { kind: 'polygon'; points: [number, number][] };

function shapeBounds(s: Shape): [number, number, number, number] {
  switch (s.kind) {
    case 'rect': {
      const r = Math.hypot(s.w, s.h) / 2 + 1;
      return [s.cx - r, s.cy - r, s.cx + r, s.cy + r];
    }
    case 'ellipse': {
      const r = Math.max(s.rx, s.ry) + 1;
      return [s.cx - r, s.cy - r, s.cx + r, s.cy + r];
    }
    case 'ring': {
      const r = s.r + s.width / 2 + 1;
      return [s.cx - r, s.cy - r, s.cx + r, s.cy + r];
    }
    case 'polygon': {
      const xs = s.points.map((p) => p[0]);
      const ys = s.points.map((p) => p[1]);
      return [Math.min(...xs) - 1, Math.min(...ys) - 1, Math.max(...xs) + 1, Math.max(...ys) + 1];
    }
    default: {
      const never: never = s;
      throw new Error(`unknown shape ${JSON.stringify(never)}`);
    }
  }
}

/** Coverage (0..1, a one-pixel soft edge) times the thickness profile at pixel centre (x, y). */
function weightAt(s: Shape, x: number, y: number, edges?: { nx: number; ny: number; c: number }[]): number {
  switch (s.kind) {
    case 'rect': {
      const dx = x - s.cx;
      const dy = y - s.cy;
      const c = Math.cos(s.angle);
      const sn = Math.sin(s.angle);
      const u = dx * c + dy * sn;
      const v = -dx * sn + dy * c;
      const d = Math.max(Math.abs(u) - s.w / 2, Math.abs(v) - s.h / 2);
      const cov = Math.min(1, Math.max(0, 0.5 - d));
      if (cov === 0) return 0;
      if (s.profile !== 'round') return cov;
      // A cylinder lying along the rectangle's long side.
      const across = s.w >= s.h ? v / (s.h / 2) : u / (s.w / 2);
      return cov * Math.sqrt(Math.max(0.05, 1 - across * across));
    }
    case 'ellipse': {
      const dx = x - s.cx;
      const dy = y - s.cy;
      const c = Math.cos(s.angle);
      const sn = Math.sin(s.angle);
      const u = (dx * c + dy * sn) / s.rx;
      const v = (-dx * sn + dy * c) / s.ry;
      const rho = Math.hypot(u, v);
      const cov = Math.min(1, Math.max(0, 0.5 - (rho - 1) * Math.min(s.rx, s.ry)));
      if (cov === 0) return 0;
      return s.profile === 'round' ? cov * Math.sqrt(Math.max(0.05, 1 - Math.min(1, rho * rho))) : cov;
    }
    case 'ring': {
      const d = Math.abs(Math.hypot(x - s.cx, y - s.cy) - s.r) - s.width / 2;
      return Math.min(1, Math.max(0, 0.5 - d));
    }
    case 'polygon': {
      let d = -Infinity;
      for (const e of edges ?? []) d = Math.max(d, e.nx * x + e.ny * y - e.c);
      return Math.min(1, Math.max(0, 0.5 - d));
    }
    default: {
      const never: never = s;
      throw new Error(`unknown shape ${JSON.stringify(never)}`);
    }
  }
}

/** Outward edge normals of a convex polygon (either winding), for its signed distance. */
function polygonEdges(points: [number, number][]): { nx: number; ny: number; c: number }[] {
  let area = 0;
  for (let i = 0; i < points.length; i++) {
    const [x1, y1] = points[i]!;
    const [x2, y2] = points[(i + 1) % points.length]!;
    area += x1 * y2 - x2 * y1;
  }
  const sign = area > 0 ? 1 : -1;
  return points.map(([x1, y1], i) => {
    const [x2, y2] = points[(i + 1) % points.length]!;
    const len = Math.hypot(x2 - x1, y2 - y1) || 1;
    const nx = (sign * (y2 - y1)) / len;
    const ny = (sign * -(x2 - x1)) / len;
    return { nx, ny, c: nx * x1 + ny * y1 };
  });
}

/** Adds `thickness_cm` of a material over a shape, optionally only inside `clip` (x0, y0, x1, y1). */
export function paint(map: AttenuationMap, shape: Shape, material: MaterialName, thickness_cm: number, clip?: [number, number, number, number]): void {
  const mu = linearMu(material);
  let [x0, y0, x1, y1] = shapeBounds(shape);
  if (clip !== undefined) {
    x0 = Math.max(x0, clip[0]);
    y0 = Math.max(y0, clip[1]);
    x1 = Math.min(x1, clip[2]);
    y1 = Math.min(y1, clip[3]);
  }
  const edges = shape.kind === 'polygon' ? polygonEdges(shape.points) : undefined;
  const xa = Math.max(0, Math.floor(x0));
  const xb = Math.min(map.width - 1, Math.ceil(x1));
  const ya = Math.max(0, Math.floor(y0));
  const yb = Math.min(map.height - 1, Math.ceil(y1));
  const aH = mu.high * thickness_cm;
  const aL = mu.low * thickness_cm;
  for (let y = ya; y <= yb; y++) {
    const row = y * map.width;
    for (let x = xa; x <= xb; x++) {
      const w = weightAt(shape, x + 0.5, y + 0.5, edges);
      if (w === 0) continue;
      map.high[row + x]! += aH * w;
      map.low[row + x]! += aL * w;
    }
  }
}

type Rng = () => number;
const between = (rng: Rng, a: number, b: number): number => a + (b - a) * rng();
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;

export interface BagOptions {
  width: number;
  height: number;
  /** Size of one pixel at the belt, cm. */
  pitch_cm: number;
  /** Number of clutter items inside the bag. */
  clutter: number;
}

/** A suitcase: plastic shell, aluminium handle tubes, wheels, and `clutter` items of several materials. */
export function synthBag(rng: Rng, opts: BagOptions): AttenuationMap {
  const { width: W, height: H, pitch_cm: p } = opts;
  const map = emptyMap(W, H);
  const bw = W * between(rng, 0.75, 0.95);
  const bh = H * between(rng, 0.7, 0.92);
  const cx = W / 2 + between(rng, -0.03, 0.03) * W;
  const cy = H / 2 + between(rng, -0.03, 0.03) * H;
  // Shell: two walls of polyethylene in the beam's path.
  paint(map, { kind: 'rect', cx, cy, w: bw, h: bh, angle: 0 }, 'polyethylene', 0.8);
  const tube = 1.6 / p;
  for (const side of [-1, 1]) {
    paint(map, { kind: 'rect', cx: cx + side * bw * 0.3, cy, w: tube, h: bh * 0.96, angle: 0, profile: 'round' }, 'aluminium', 1.4);
  }
  for (const sx of [-1, 1]) {
    paint(map, { kind: 'ellipse', cx: cx + sx * bw * 0.45, cy: cy + bh * 0.46, rx: 2.5 / p, ry: 2.5 / p, angle: 0, profile: 'round' }, 'polyethylene', 4);
    paint(map, { kind: 'ellipse', cx: cx + sx * bw * 0.45, cy: cy + bh * 0.46, rx: 0.5 / p, ry: 0.5 / p, angle: 0 }, 'steel', 1);
  }
  // Contents stay inside the shell.
  const box: [number, number, number, number] = [cx - bw / 2 + 1, cy - bh / 2 + 1, cx + bw / 2 - 2, cy + bh / 2 - 2];
  const put = (shape: Shape, material: MaterialName, t: number): void => paint(map, shape, material, t, box);
  const inside = (): [number, number] => [cx + between(rng, -0.42, 0.42) * bw, cy + between(rng, -0.42, 0.42) * bh];
  for (let i = 0; i < opts.clutter; i++) {
    const [x, y] = inside();
    const angle = between(rng, 0, Math.PI);
    switch (pick(rng, ['cloth', 'cloth', 'cloth', 'bottle', 'book', 'laptop', 'shoe', 'keys', 'cable', 'jar', 'can', 'food', 'charger'] as const)) {
      case 'cloth':
        put({ kind: 'ellipse', cx: x, cy: y, rx: between(rng, 8, 22) / p, ry: between(rng, 6, 15) / p, angle, profile: 'round' }, 'cloth', between(rng, 4, 14));
        break;
      case 'bottle':
        put({ kind: 'rect', cx: x, cy: y, w: between(rng, 15, 25) / p, h: between(rng, 5, 8) / p, angle, profile: 'round' }, 'water', between(rng, 5, 8));
        break;
      case 'book':
        put({ kind: 'rect', cx: x, cy: y, w: between(rng, 14, 24) / p, h: between(rng, 10, 17) / p, angle }, 'paper', between(rng, 1.5, 4));
        break;
      case 'laptop': {
        const w = between(rng, 25, 34) / p;
        const h = between(rng, 18, 23) / p;
        put({ kind: 'rect', cx: x, cy: y, w, h, angle }, 'aluminium', 0.25);
        put({ kind: 'rect', cx: x, cy: y, w: w * 0.6, h: h * 0.35, angle }, 'circuit', 0.4);
        put({ kind: 'rect', cx: x + Math.cos(angle) * w * 0.2, cy: y + Math.sin(angle) * w * 0.2, w: w * 0.45, h: h * 0.2, angle }, 'battery', 0.6);
        break;
      }
      case 'shoe':
        put({ kind: 'ellipse', cx: x, cy: y, rx: between(rng, 12, 15) / p, ry: between(rng, 4, 5) / p, angle, profile: 'round' }, 'polyethylene', between(rng, 3, 6));
        break;
      case 'keys':
        for (let k = 0; k < 3; k++) {
          put({ kind: 'rect', cx: x + k * 0.8 / p, cy: y + k * 0.5 / p, w: 5 / p, h: 1.5 / p, angle: angle + k * 0.4 }, 'steel', 0.2);
        }
        put({ kind: 'ring', cx: x, cy: y, r: 1.5 / p, width: 0.25 / p }, 'steel', 0.25);
        break;
      case 'cable':
        put({ kind: 'rect', cx: x, cy: y, w: between(rng, 10, 30) / p, h: 0.5 / p, angle }, 'copper', 0.15);
        put({ kind: 'rect', cx: x, cy: y, w: between(rng, 10, 30) / p, h: 0.5 / p, angle: angle + 0.3 }, 'polyethylene', 0.5);
        break;
      case 'jar':
        put({ kind: 'ring', cx: x, cy: y, r: between(rng, 3, 5) / p, width: 0.6 / p }, 'glass', 1.2);
        put({ kind: 'ellipse', cx: x, cy: y, rx: 3 / p, ry: 3 / p, angle: 0, profile: 'round' }, 'water', 7);
        break;
      case 'can':
        put({ kind: 'rect', cx: x, cy: y, w: between(rng, 12, 20) / p, h: between(rng, 4, 6) / p, angle, profile: 'round' }, 'aluminium', 0.3);
        put({ kind: 'rect', cx: x, cy: y, w: between(rng, 11, 19) / p, h: between(rng, 3.5, 5.5) / p, angle, profile: 'round' }, 'water', 4);
        break;
      case 'food':
        put({ kind: 'rect', cx: x, cy: y, w: between(rng, 8, 15) / p, h: between(rng, 6, 10) / p, angle }, 'water', between(rng, 3, 6));
        break;
      case 'charger':
        put({ kind: 'rect', cx: x, cy: y, w: between(rng, 6, 9) / p, h: between(rng, 4, 6) / p, angle }, 'circuit', between(rng, 2, 3));
        put({ kind: 'rect', cx: x, cy: y, w: 2 / p, h: 2 / p, angle }, 'copper', 0.5);
        break;
    }
  }
  return map;
}

/** Draws one threat object alone on a canvas just large enough for it (a few pixels of margin). */
export function synthThreat(cls: ThreatClass, rng: Rng, pitch_cm: number): ThreatObject {
  const p = pitch_cm;
  const draws: { shape: Shape; material: MaterialName; t: number }[] = [];
  const add = (shape: Shape, material: MaterialName, t: number): void => void draws.push({ shape, material, t });
  switch (cls) {
    case 'gun': {
      const L = between(rng, 15, 21) / p;
      const sh = between(rng, 2.8, 3.6) / p;
      const gripH = between(rng, 9, 12) / p;
      const gripW = between(rng, 4.5, 5.5) / p;
      const polymer = rng() < 0.5;
      add({ kind: 'rect', cx: L / 2, cy: sh / 2, w: L, h: sh, angle: 0, profile: 'round' }, 'steel', between(rng, 2.2, 2.8));
      add({ kind: 'rect', cx: L * 0.45, cy: sh * 0.4, w: L * 0.9, h: sh * 0.3, angle: 0, profile: 'round' }, 'steel', 1);
      const gx = L * 0.18 + gripW / 2;
      const gy = sh + gripH / 2 - sh * 0.2;
      add({ kind: 'rect', cx: gx, cy: gy, w: gripW, h: gripH, angle: -0.22 }, polymer ? 'polyethylene' : 'steel', polymer ? 3 : 1.2);
      add({ kind: 'rect', cx: gx, cy: gy, w: gripW * 0.55, h: gripH * 0.9, angle: -0.22 }, 'steel', 0.6);
      add({ kind: 'ring', cx: gx + gripW * 0.9, cy: sh + 1.3 / p, r: 1.3 / p, width: 0.4 / p }, 'steel', 1);
      break;
    }
    case 'knife': {
      const bl = between(rng, 11, 22) / p;
      const bw = between(rng, 2.2, 4) / p;
      const hl = between(rng, 9, 12) / p;
      const hw = bw * 0.8;
      add({ kind: 'polygon', points: [[0, 0], [bl * 0.85, 0], [bl, bw * 0.1], [bl * 0.75, bw], [0, bw]] }, 'steel', between(rng, 0.2, 0.35));
      add({ kind: 'rect', cx: -hl / 2, cy: bw / 2, w: hl, h: hw, angle: 0, profile: 'round' }, rng() < 0.5 ? 'wood' : 'polyethylene', 2);
      add({ kind: 'rect', cx: -hl / 2, cy: bw / 2, w: hl, h: hw * 0.3, angle: 0 }, 'steel', 0.3);
      add({ kind: 'rect', cx: 0, cy: bw / 2, w: 0.8 / p, h: bw * 1.2, angle: 0 }, 'steel', 1);
      break;
    }
    case 'blade': {
      // A utility knife: trapezoid razor blade in a short metal or plastic handle.
      const bl = between(rng, 5, 7) / p;
      const bw = between(rng, 1.6, 2.2) / p;
      add({ kind: 'polygon', points: [[0, 0], [bl, 0], [bl * 0.8, bw], [bl * 0.2, bw]] }, 'steel', between(rng, 0.08, 0.15));
      add({ kind: 'rect', cx: bl / 2, cy: bw * 1.6, w: bl * 2.1, h: bw * 1.4, angle: 0, profile: 'round' }, rng() < 0.5 ? 'aluminium' : 'polyethylene', 1.2);
      break;
    }
    case 'ied': {
      const cells = 2 + Math.floor(rng() * 3);
      const cw = 1.8 / p;
      const cl = 6.5 / p;
      for (let i = 0; i < cells; i++) add({ kind: 'rect', cx: i * cw + cw / 2, cy: cl / 2, w: cw, h: cl, angle: 0, profile: 'round' }, 'battery', 1.8);
      const chargeW = between(rng, 7, 11) / p;
      const chargeH = between(rng, 5, 8) / p;
      const ox = cells * cw + 1.5 / p + chargeW / 2;
      add({ kind: 'rect', cx: ox, cy: chargeH / 2, w: chargeW, h: chargeH, angle: 0 }, 'explosive', between(rng, 3, 5));
      add({ kind: 'rect', cx: ox, cy: chargeH / 2, w: 0.7 / p, h: 3.5 / p, angle: 0, profile: 'round' }, 'copper', 0.7);
      add({ kind: 'rect', cx: (cells * cw + ox) / 2, cy: cl * 0.3, w: ox - cells * cw / 2, h: 0.25 / p, angle: 0.1 }, 'copper', 0.12);
      add({ kind: 'rect', cx: (cells * cw + ox) / 2, cy: cl * 0.6, w: ox - cells * cw / 2, h: 0.25 / p, angle: -0.1 }, 'copper', 0.12);
      add({ kind: 'rect', cx: cells * cw * 0.5, cy: cl + 1.5 / p, w: 4 / p, h: 2.5 / p, angle: 0 }, 'circuit', 0.6);
      break;
    }
    case 'organic_block': {
      const w = between(rng, 9, 18) / p;
      const h = between(rng, 6, 12) / p;
      add({ kind: 'rect', cx: w / 2, cy: h / 2, w, h, angle: 0 }, 'explosive', between(rng, 3, 6));
      break;
    }
    default: {
      const never: never = cls;
      throw new Error(`unknown threat class ${String(never)}`);
    }
  }
  // Fit the canvas around whatever was drawn.
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const d of draws) {
    const b = shapeBounds(d.shape);
    x0 = Math.min(x0, b[0]);
    y0 = Math.min(y0, b[1]);
    x1 = Math.max(x1, b[2]);
    y1 = Math.max(y1, b[3]);
  }
  const margin = 2;
  const ox = Math.floor(x0) - margin;
  const oy = Math.floor(y0) - margin;
  const map = emptyMap(Math.ceil(x1) - ox + margin, Math.ceil(y1) - oy + margin);
  for (const d of draws) paint(map, shift(d.shape, -ox, -oy), d.material, d.t);
  return { ...map, class: cls };
}

function shift(s: Shape, dx: number, dy: number): Shape {
  switch (s.kind) {
    case 'rect':
    case 'ellipse':
    case 'ring':
      return { ...s, cx: s.cx + dx, cy: s.cy + dy };
    case 'polygon':
      return { kind: 'polygon', points: s.points.map(([x, y]) => [x + dx, y + dy] as [number, number]) };
    default: {
      const never: never = s;
      throw new Error(`unknown shape ${JSON.stringify(never)}`);
    }
  }
}
