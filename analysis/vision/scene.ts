// Synthetic arrival-hall scenes: scripted people and bags rendered to RGB frames with per-frame ground truth.
import { mulberry32 } from '../../common/random.js';

export type ObjectClass = 'person' | 'bag';
export type Box = [x1: number, y1: number, x2: number, y2: number];

/** A point of a path: feet position in normalised hall coordinates (0..1 of width and height) at time t_s. */
export interface Waypoint {
  t_s: number;
  x: number;
  y: number;
}

export interface PersonScript {
  id: number;
  /** Visible from the first waypoint's time to the last one's; linear in between. */
  path: Waypoint[];
  shirt: [number, number, number];
  trousers: [number, number, number];
  skin: [number, number, number];
  /** Height as a fraction of the frame height. */
  size: number;
}

/** Who holds a bag over a time span; `carrier` undefined means it rests at (x, y). */
export interface BagSpan {
  from_s: number;
  to_s: number;
  carrier?: number;
  x?: number;
  y?: number;
}

export interface BagScript {
  id: number;
  spans: BagSpan[];
  colour: [number, number, number];
  /** Width and height as fractions of the frame height. */
  w: number;
  h: number;
}

export interface TruthEvent {
  type: 'abandoned_bag' | 'bag_switch' | 'companions' | 'dwell';
  /** When a detector with the scenario's thresholds should fire (seconds from the start). */
  time_s: number;
  /** Ground-truth ids: the main object first (bag, flagged person, dwelling person), then the others involved. */
  ids: number[];
}

export interface Zone {
  id: string;
  /** Polygon in normalised coordinates. */
  polygon: [number, number][];
}

export interface Scenario {
  width: number;
  height: number;
  fps: number;
  duration_s: number;
  seed: number;
  people: PersonScript[];
  bags: BagScript[];
  zones: Zone[];
  events: TruthEvent[];
  /** Thresholds the truth events assume. */
  thresholds: { abandon_s: number; dwell_s: number; companion_s: number };
}

export interface TruthObject {
  id: number;
  cls: ObjectClass;
  box: Box;
  /** Fraction of the object's box not hidden by objects drawn in front of it. */
  visibility: number;
}

export interface FrameTruth {
  frame: number;
  t_s: number;
  objects: TruthObject[];
}

const SHIRTS: [number, number, number][] = [
  [200, 40, 40], [40, 90, 200], [40, 160, 60], [230, 200, 40], [150, 60, 170], [240, 130, 30], [30, 170, 170], [240, 240, 240],
];
const TROUSERS: [number, number, number][] = [[40, 40, 50], [60, 50, 40], [30, 40, 90], [90, 90, 90]];
const SKINS: [number, number, number][] = [[240, 200, 170], [200, 150, 110], [140, 95, 60], [90, 60, 40]];
const BAG_COLOURS: [number, number, number][] = [[20, 20, 20], [150, 30, 30], [30, 40, 120], [20, 110, 40], [120, 80, 30], [200, 170, 20]];

function lerp(a: number, b: number, f: number): number {
  return a + (b - a) * f;
}

/** Feet position of a person at t, or undefined when it is not in the scene. */
export function personAt(p: PersonScript, t: number): { x: number; y: number } | undefined {
  const path = p.path;
  const first = path[0];
  const last = path[path.length - 1];
  if (!first || !last || t < first.t_s || t > last.t_s) return undefined;
  for (let i = 1; i < path.length; i++) {
    const a = path[i - 1]!;
    const b = path[i]!;
    if (t <= b.t_s) {
      const f = b.t_s > a.t_s ? (t - a.t_s) / (b.t_s - a.t_s) : 1;
      return { x: lerp(a.x, b.x, f), y: lerp(a.y, b.y, f) };
    }
  }
  return { x: last.x, y: last.y };
}

function personBox(p: PersonScript, pos: { x: number; y: number }, W: number, H: number): Box {
  const h = p.size * H;
  const w = h * 0.38;
  const fx = pos.x * W;
  const fy = pos.y * H;
  return [fx - w / 2, fy - h, fx + w / 2, fy];
}

/** Bag box at t: beside its carrier's feet, or where it rests; undefined when nobody has it in view. */
export function bagAt(s: Scenario, b: BagScript, t: number): Box | undefined {
  const span = b.spans.find((sp) => t >= sp.from_s && t < sp.to_s);
  if (!span) return undefined;
  const W = s.width;
  const H = s.height;
  const bw = b.w * H;
  const bh = b.h * H;
  if (span.carrier !== undefined) {
    const p = s.people.find((q) => q.id === span.carrier);
    const pos = p && personAt(p, t);
    if (!p || !pos) return undefined;
    const pb = personBox(p, pos, W, H);
    // Rolled on the carrier's right, bottom level with the feet.
    const x1 = pb[2] + 0.1 * bw;
    return [x1, pb[3] - bh, x1 + bw, pb[3]];
  }
  if (span.x === undefined || span.y === undefined) {
    // Set down where it was carried: no jump between the carried and the resting box.
    const prev = b.spans.filter((sp) => sp.to_s <= span.from_s && sp.carrier !== undefined).pop();
    const at = prev ? bagAt(s, { ...b, spans: [{ ...prev, to_s: prev.to_s + 1 }] }, prev.to_s - 1e-6) : undefined;
    if (at) return at;
  }
  const cx = (span.x ?? 0.5) * W;
  const by = (span.y ?? 0.5) * H;
  return [cx - bw / 2, by - bh, cx + bw / 2, by];
}

/** Horizontal distance (normalised) from a carrier's feet to the centre of the bag it rolls. */
export function carryOffset(s: Scenario, p: PersonScript, b: BagScript): number {
  const h = p.size * s.height;
  return (h * 0.38 * 0.5 + 0.1 * b.w * s.height + (b.w * s.height) / 2) / s.width;
}

/** Objects in view at t, back to front (larger feet y drawn later, in front). */
function objectsAt(s: Scenario, t: number): { id: number; cls: ObjectClass; box: Box; person?: PersonScript; bag?: BagScript }[] {
  const out: { id: number; cls: ObjectClass; box: Box; person?: PersonScript; bag?: BagScript }[] = [];
  for (const p of s.people) {
    const pos = personAt(p, t);
    if (pos) out.push({ id: p.id, cls: 'person', box: personBox(p, pos, s.width, s.height), person: p });
  }
  for (const b of s.bags) {
    const box = bagAt(s, b, t);
    if (box) out.push({ id: b.id, cls: 'bag', box, bag: b });
  }
  out.sort((a, b) => a.box[3] - b.box[3] || a.id - b.id);
  return out;
}

function clipBox(b: Box, W: number, H: number): Box {
  return [Math.max(0, b[0]), Math.max(0, b[1]), Math.min(W, b[2]), Math.min(H, b[3])];
}

function area(b: Box): number {
  return Math.max(0, b[2] - b[0]) * Math.max(0, b[3] - b[1]);
}

/** Ground truth of one frame: boxes clipped to the frame, visibility from the boxes drawn in front. */
export function truthAt(s: Scenario, frame: number): FrameTruth {
  const t = frame / s.fps;
  const objs = objectsAt(s, t);
  const W = s.width;
  const H = s.height;
  const objects: TruthObject[] = [];
  for (let i = 0; i < objs.length; i++) {
    const o = objs[i]!;
    const box = clipBox(o.box, W, H);
    const a = area(box);
    if (a < 4) continue;
    // Visibility on a coarse grid over the box: a sample is hidden when a later (nearer) object covers it.
    let seen = 0;
    const n = 8;
    for (let gy = 0; gy < n; gy++) {
      for (let gx = 0; gx < n; gx++) {
        const px = box[0] + ((gx + 0.5) / n) * (box[2] - box[0]);
        const py = box[1] + ((gy + 0.5) / n) * (box[3] - box[1]);
        let hidden = false;
        for (let j = i + 1; j < objs.length && !hidden; j++) {
          const f = objs[j]!.box;
          hidden = px >= f[0] && px <= f[2] && py >= f[1] && py <= f[3];
        }
        if (!hidden) seen++;
      }
    }
    objects.push({ id: o.id, cls: o.cls, box, visibility: seen / (n * n) });
  }
  return { frame, t_s: t, objects };
}

/** A tiled floor with grout lines and a little texture, made once per scenario and copied into every frame. */
export function renderFloor(W: number, H: number, seed: number): Uint8Array {
  const rnd = mulberry32(seed ^ 0x5eed);
  const out = new Uint8Array(W * H * 3);
  const tile = Math.max(8, Math.round(H / 8));
  const tileShade: number[] = [];
  for (let i = 0; i < 4096; i++) tileShade.push(150 + Math.floor(rnd() * 40));
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const tx = Math.floor(x / tile);
      const ty = Math.floor(y / tile);
      const grout = x % tile === 0 || y % tile === 0;
      const base = grout ? 110 : tileShade[(tx * 31 + ty * 17) & 4095]!;
      const noise = Math.floor(rnd() * 12) - 6;
      const v = Math.max(0, Math.min(255, base + noise));
      const i = (y * W + x) * 3;
      out[i] = v;
      out[i + 1] = v - 4 < 0 ? 0 : v - 4;
      out[i + 2] = v - 10 < 0 ? 0 : v - 10;
    }
  }
  return out;
}

function fillRect(img: Uint8Array, W: number, H: number, x1: number, y1: number, x2: number, y2: number, c: readonly number[]): void {
  const a = Math.max(0, Math.round(x1));
  const b = Math.min(W, Math.round(x2));
  const top = Math.max(0, Math.round(y1));
  const bot = Math.min(H, Math.round(y2));
  for (let y = top; y < bot; y++) {
    for (let x = a; x < b; x++) {
      const i = (y * W + x) * 3;
      img[i] = c[0]!;
      img[i + 1] = c[1]!;
      img[i + 2] = c[2]!;
    }
  }
}

function fillEllipse(img: Uint8Array, W: number, H: number, cx: number, cy: number, rx: number, ry: number, c: readonly number[]): void {
  const top = Math.max(0, Math.floor(cy - ry));
  const bot = Math.min(H - 1, Math.ceil(cy + ry));
  for (let y = top; y <= bot; y++) {
    const dy = (y + 0.5 - cy) / ry;
    if (Math.abs(dy) > 1) continue;
    const half = rx * Math.sqrt(1 - dy * dy);
    fillRect(img, W, H, cx - half, y, cx + half, y + 1, c);
  }
}

/** Renders frame `frame` into `out` (RGB, width*height*3) from a floor made by renderFloor. */
export function renderFrame(s: Scenario, frame: number, floor: Uint8Array, out: Uint8Array = new Uint8Array(floor.length)): Uint8Array {
  const W = s.width;
  const H = s.height;
  out.set(floor);
  const t = frame / s.fps;
  for (const o of objectsAt(s, t)) {
    const [x1, y1, x2, y2] = o.box;
    const w = x2 - x1;
    const h = y2 - y1;
    if (o.person) {
      const p = o.person;
      // Walking legs: two trouser bars that swing with the frame count so a moving person is not a rigid block.
      const swing = Math.sin(t * 6 + p.id) * 0.08 * w;
      fillRect(out, W, H, x1 + 0.12 * w + swing, y1 + 0.55 * h, x1 + 0.46 * w + swing, y2, p.trousers);
      fillRect(out, W, H, x1 + 0.54 * w - swing, y1 + 0.55 * h, x1 + 0.88 * w - swing, y2, p.trousers);
      fillRect(out, W, H, x1, y1 + 0.2 * h, x2, y1 + 0.58 * h, p.shirt);
      fillEllipse(out, W, H, x1 + w / 2, y1 + 0.1 * h, 0.3 * w, 0.1 * h, p.skin);
    } else if (o.bag) {
      const c = o.bag.colour;
      fillRect(out, W, H, x1, y1 + 0.18 * h, x2, y2, c);
      // Handle and a lighter stripe: what tells a suitcase from a square of shirt.
      fillRect(out, W, H, x1 + 0.35 * w, y1, x1 + 0.65 * w, y1 + 0.18 * h, [60, 60, 60]);
      fillRect(out, W, H, x1, y1 + 0.55 * h, x2, y1 + 0.65 * h, [Math.min(255, c[0] + 90), Math.min(255, c[1] + 90), Math.min(255, c[2] + 90)]);
    }
  }
  return out;
}

/** Adds per-pixel sensor noise (seeded by frame) so consecutive frames are not identical. */
export function addNoise(img: Uint8Array, seed: number, amplitude = 6): void {
  const rnd = mulberry32(seed);
  for (let i = 0; i < img.length; i++) {
    const v = img[i]! + Math.floor(rnd() * (2 * amplitude + 1)) - amplitude;
    img[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
}

function pick<T>(rnd: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rnd() * xs.length)]!;
}

function makePerson(rnd: () => number, id: number, path: Waypoint[], shirt?: [number, number, number]): PersonScript {
  return {
    id,
    path,
    shirt: shirt ?? pick(rnd, SHIRTS),
    trousers: pick(rnd, TROUSERS),
    skin: pick(rnd, SKINS),
    size: 0.2 + rnd() * 0.04,
  };
}

function makeBag(rnd: () => number, id: number, spans: BagSpan[], colour?: [number, number, number]): BagScript {
  return { id, spans, colour: colour ?? pick(rnd, BAG_COLOURS), w: 0.06 + rnd() * 0.015, h: 0.075 + rnd() * 0.015 };
}

export interface HallOptions {
  width?: number;
  height?: number;
  fps?: number;
  seed?: number;
  abandon_s?: number;
  dwell_s?: number;
  companion_s?: number;
}

/**
 * The scripted arrival hall (60 s): a traveller leaves a bag and walks away (abandoned bag), a bag set down by one
 * traveller is taken by another (bag switch), a flagged traveller passes the red-channel desk and is joined by two
 * who waited for him (companions), one lingers by the exit door (dwell), and others cross, some with their bags,
 * occluding each other.
 */
export function hallScenario(opts: HallOptions = {}): Scenario {
  const seed = opts.seed ?? 7;
  const rnd = mulberry32(seed);
  const thresholds = { abandon_s: opts.abandon_s ?? 8, dwell_s: opts.dwell_s ?? 10, companion_s: opts.companion_s ?? 4 };
  const people: PersonScript[] = [];
  const bags: BagScript[] = [];
  const events: TruthEvent[] = [];
  const D = 60;

  // 1: walks in with bag 101, leaves it at (0.3, 0.62) at t=8 and walks out of view by t=16.
  people.push(makePerson(rnd, 1, [{ t_s: 2, x: -0.05, y: 0.6 }, { t_s: 8, x: 0.26, y: 0.62 }, { t_s: 9, x: 0.26, y: 0.62 }, { t_s: 16, x: -0.06, y: 0.9 }], [200, 40, 40]));
  bags.push(makeBag(rnd, 101, [{ from_s: 2, to_s: 8.5, carrier: 1 }, { from_s: 8.5, to_s: D + 1 }], [20, 20, 20]));
  // Owner more than a person height and a half away from about t=12.5; abandoned once that has lasted abandon_s.
  events.push({ type: 'abandoned_bag', time_s: 12.5 + thresholds.abandon_s, ids: [101, 1] });

  // 2: brings bag 102 in, sets it down at t=22.5 and steps aside, staying near it; 3 takes it at t=27 and walks off with it.
  people.push(makePerson(rnd, 2, [{ t_s: 14, x: 1.05, y: 0.78 }, { t_s: 22, x: 0.7, y: 0.8 }, { t_s: 23, x: 0.7, y: 0.8 }, { t_s: 24.5, x: 0.6, y: 0.79 }, { t_s: 40, x: 0.6, y: 0.79 }, { t_s: 46, x: 1.06, y: 0.86 }], [40, 90, 200]));
  const p3 = makePerson(rnd, 3, [], [40, 160, 60]);
  people.push(p3);
  const b102 = makeBag(rnd, 102, [{ from_s: 14, to_s: 22.5, carrier: 2 }, { from_s: 22.5, to_s: 27.5 }, { from_s: 27.5, to_s: 34, carrier: 3 }], [150, 30, 30]);
  bags.push(b102);
  events.push({ type: 'bag_switch', time_s: 27.5, ids: [102, 3, 2] });

  // 4 is flagged at the red-channel desk (zone "desk", top left) then meets 5 and 6 who waited, and the three walk out.
  people.push(makePerson(rnd, 4, [{ t_s: 30, x: 0.05, y: 0.35 }, { t_s: 34, x: 0.15, y: 0.36 }, { t_s: 36, x: 0.15, y: 0.36 }, { t_s: 40, x: 0.45, y: 0.43 }, { t_s: 52, x: 1.06, y: 0.43 }], [230, 200, 40]));
  people.push(makePerson(rnd, 5, [{ t_s: 28, x: 0.5, y: 0.2 }, { t_s: 33, x: 0.5, y: 0.3 }, { t_s: 40, x: 0.5, y: 0.3 }, { t_s: 52, x: 1.11, y: 0.3 }], [150, 60, 170]));
  people.push(makePerson(rnd, 6, [{ t_s: 29, x: 0.58, y: 0.15 }, { t_s: 34, x: 0.55, y: 0.56 }, { t_s: 40.5, x: 0.5, y: 0.56 }, { t_s: 52, x: 1.05, y: 0.56 }], [240, 130, 30]));
  events.push({ type: 'companions', time_s: 40 + thresholds.companion_s, ids: [4, 5, 6] });

  // 7 walks to the exit door zone (right, upper) and waits there.
  people.push(makePerson(rnd, 7, [{ t_s: 6, x: 0.6, y: 0.2 }, { t_s: 11, x: 0.88, y: 0.27 }, { t_s: 26, x: 0.88, y: 0.27 }, { t_s: 30, x: 1.06, y: 0.3 }], [30, 170, 170]));
  events.push({ type: 'dwell', time_s: 11 + thresholds.dwell_s, ids: [7] });

  // Passers-by: crossing paths (occlusions), two keep their own bags throughout.
  people.push(makePerson(rnd, 8, [{ t_s: 3, x: 1.06, y: 0.55 }, { t_s: 18, x: -0.06, y: 0.5 }], [240, 240, 240]));
  people.push(makePerson(rnd, 9, [{ t_s: 5, x: -0.06, y: 0.5 }, { t_s: 19, x: 1.06, y: 0.58 }]));
  bags.push(makeBag(rnd, 103, [{ from_s: 5, to_s: 19, carrier: 9 }], [30, 40, 120]));
  people.push(makePerson(rnd, 10, [{ t_s: 36, x: 0.3, y: 1.22 }, { t_s: 50, x: 0.35, y: 0.2 }]));
  people.push(makePerson(rnd, 11, [{ t_s: 44, x: -0.06, y: 0.7 }, { t_s: 58, x: 1.06, y: 0.75 }]));
  bags.push(makeBag(rnd, 104, [{ from_s: 44, to_s: 58, carrier: 11 }], [20, 110, 40]));
  // Passes through the door zone without stopping: must not raise a dwell.
  people.push(makePerson(rnd, 12, [{ t_s: 53, x: 0.6, y: 0.1 }, { t_s: 58, x: 1.06, y: 0.35 }]));

  const scenario: Scenario = {
    width: opts.width ?? 640,
    height: opts.height ?? 480,
    fps: opts.fps ?? 10,
    duration_s: D,
    seed,
    people,
    bags,
    zones: [
      { id: 'desk', polygon: [[0.08, 0.2], [0.24, 0.2], [0.24, 0.45], [0.08, 0.45]] },
      { id: 'exit-door', polygon: [[0.78, 0.12], [0.98, 0.12], [0.98, 0.34], [0.78, 0.34]] },
    ],
    events,
    thresholds,
  };
  // 3 stops exactly where the resting bag would sit beside him, so the pick-up is one continuous motion.
  const rest = bagAt(scenario, b102, 25)!;
  const fx = ((rest[0] + rest[2]) / 2) / scenario.width - carryOffset(scenario, p3, b102);
  const fy = rest[3] / scenario.height;
  p3.path = [{ t_s: 20, x: 0.55, y: 1.2 }, { t_s: 26.5, x: fx, y: fy }, { t_s: 27.5, x: fx, y: fy }, { t_s: 34, x: 1.06, y: 0.6 }];
  return scenario;
}

/**
 * A random crowd for detector training: people crossing in random directions, about half with bags, some bags
 * left standing. No truth events.
 */
export function randomScenario(opts: { width?: number; height?: number; fps?: number; seed: number; duration_s?: number; people?: number }): Scenario {
  const rnd = mulberry32(opts.seed);
  const D = opts.duration_s ?? 30;
  const n = opts.people ?? 10;
  const people: PersonScript[] = [];
  const bags: BagScript[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = rnd() * D * 0.7 - 5;
    const t1 = t0 + 6 + rnd() * 14;
    const y0 = 0.2 + rnd() * 0.8;
    const y1 = 0.2 + rnd() * 0.8;
    const ltr = rnd() < 0.5;
    const stopAt = rnd();
    const mid = { t_s: (t0 + t1) / 2, x: 0.2 + rnd() * 0.6, y: (y0 + y1) / 2 };
    const path: Waypoint[] = [{ t_s: t0, x: ltr ? -0.06 : 1.06, y: y0 }, mid];
    if (stopAt < 0.3) path.push({ t_s: mid.t_s + 3, x: mid.x, y: mid.y });
    path.push({ t_s: t1 + (stopAt < 0.3 ? 3 : 0), x: ltr ? 1.06 : -0.06, y: y1 });
    people.push(makePerson(rnd, i + 1, path, [Math.floor(rnd() * 256), Math.floor(rnd() * 256), Math.floor(rnd() * 256)]));
    if (rnd() < 0.6) {
      const end = path[path.length - 1]!.t_s;
      if (rnd() < 0.3) {
        bags.push(makeBag(rnd, 100 + i + 1, [{ from_s: t0, to_s: mid.t_s, carrier: i + 1 }, { from_s: mid.t_s, to_s: D + 1, x: mid.x + 0.06, y: mid.y }]));
      } else {
        bags.push(makeBag(rnd, 100 + i + 1, [{ from_s: t0, to_s: end, carrier: i + 1 }], [Math.floor(rnd() * 256), Math.floor(rnd() * 256), Math.floor(rnd() * 256)]));
      }
    }
  }
  return {
    width: opts.width ?? 640,
    height: opts.height ?? 480,
    fps: opts.fps ?? 10,
    duration_s: D,
    seed: opts.seed,
    people,
    bags,
    zones: [],
    events: [],
    thresholds: { abandon_s: 8, dwell_s: 10, companion_s: 4 },
  };
}

export function frameCount(s: Scenario): number {
  return Math.round(s.duration_s * s.fps);
}
