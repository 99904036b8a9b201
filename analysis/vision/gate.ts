// Motion-gated detection: which parts of a frame the detector must look at, and how its region answers are merged.
// Pure: motion, tracks and time in, a plan out; the caller runs the detector.
import type { Detection } from '../detect/yolo.js';
import type { MotionResult } from './motion.js';

/** A rectangle in frame pixels, as detectors take regions. */
export interface Roi {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface GateOptions {
  /** A full-frame call at least this often (s), whatever the motion: static objects are re-confirmed (default 3). */
  fullFrameEvery_s?: number;
  /** A moving track gets a fresh detection at least this often (s); the tracker predicts in between (default 0.2). */
  refresh_s?: number;
  /** A track with motion on it that is not moving (a person standing, shifting) is re-detected this often (default 1). */
  refreshStill_s?: number;
  /** Motion the detector looked at and found nothing in (a ghost, a flicker) is not looked at again sooner (default 1). */
  recheck_s?: number;
  /** A track is moving above this speed in its own heights per second (default 0.15). */
  movingHeights_s?: number;
  /** A motion blob this much covered by live tracks' boxes (padded by `pad` of their larger side) is explained (default 0.6). */
  explained?: number;
  /** Regions grow by this share of their width and height on each side (default 0.25). */
  pad?: number;
  /** Least region size in pixels (a detector's input size keeps crops from being blown up; default 0 x 0). */
  minRegion_px?: [number, number];
  /** Width / height of the detector input: regions are widened or heightened to it (default: the frame's). */
  aspect?: number;
  /** More regions than this, or more of the frame than maxArea, and one full-frame call is cheaper (default 3). */
  maxRegions?: number;
  maxArea?: number;
  /** A detection within this many pixels of a region edge inside the frame was cut by the crop (default 5). */
  borderPx?: number;
}

export type GateReason = 'start' | 'periodic' | 'global' | 'crowded' | 'motion' | 'tracks' | 'confirm' | 'idle';

export interface GatePlan {
  t_s: number;
  /** 'full': one call on the whole frame; 'regions': one call per region; 'none': the tracker carries every box. */
  call: 'none' | 'regions' | 'full';
  reason: GateReason;
  regions: Roi[];
  /** Motion blobs the plan looks at because no track explains them (for the negative cache in `after`). */
  probes: MotionBlob[];
}

type BoxT = [number, number, number, number];
interface MotionBlob {
  box: BoxT;
}

/** What the gate needs of a track (tracker.all() gives it). */
export interface GateTrack {
  id: number;
  box: readonly number[];
  hits: number;
}

interface TrackMemo {
  box: BoxT;
  t_s: number;
  hits: number;
  fresh_s: number;
  /** Last time the detector looked at it, found or not: a lost track is not asked for again every frame. */
  looked_s: number;
  vx: number;
  vy: number;
}

const DEFAULTS: Required<Omit<GateOptions, 'aspect'>> & { aspect: number | undefined } = {
  fullFrameEvery_s: 3,
  refresh_s: 0.2,
  refreshStill_s: 1,
  recheck_s: 1,
  movingHeights_s: 0.15,
  explained: 0.6,
  pad: 0.25,
  minRegion_px: [0, 0],
  aspect: undefined,
  maxRegions: 3,
  maxArea: 0.5,
  borderPx: 5,
};

/**
 * Decides per frame what the detector looks at: the whole frame at start, after a global change and every
 * fullFrameEvery_s; otherwise regions around motion no track explains and around tracks due for a fresh box; often
 * nothing. Feed it the tracks after each frame (`after`) so it knows which got a fresh detection and how they move.
 */
export class DetectionGate {
  readonly o: typeof DEFAULTS;
  private size: [number, number] | undefined;
  private lastFull_s = Number.NEGATIVE_INFINITY;
  private memo = new Map<number, TrackMemo>();
  /** Motion already probed: found something (tracking takes over) or nothing (a ghost, a flicker). */
  private checked: { box: BoxT; t_s: number; found: boolean }[] = [];
  /** Detections no confirmed track explains: a new track needs a second look to be confirmed, after refresh_s. */
  private pending: { box: BoxT; t_s: number }[] = [];

  constructor(opts: GateOptions = {}) {
    this.o = { ...DEFAULTS, ...opts };
  }

  reset(): void {
    this.size = undefined;
    this.lastFull_s = Number.NEGATIVE_INFINITY;
    this.memo.clear();
    this.checked = [];
    this.pending = [];
  }

  plan(input: { width: number; height: number; t_s: number; motion: MotionResult }): GatePlan {
    const { width: W, height: H, t_s: t, motion } = input;
    const o = this.o;
    const full = (reason: GateReason): GatePlan => {
      this.lastFull_s = t;
      return { t_s: t, call: 'full', reason, regions: [{ x: 0, y: 0, w: W, h: H }], probes: [] };
    };
    if (!this.size || this.size[0] !== W || this.size[1] !== H) {
      if (this.size) this.reset();
      this.size = [W, H];
      return full('start');
    }
    // A global change relearns the background at once, so one look suffices; flicker must not make it a storm.
    if (motion.global && t - this.lastFull_s >= o.recheck_s) return full('global');
    if (t - this.lastFull_s >= o.fullFrameEvery_s - 1e-9) return full('periodic');
    this.checked = this.checked.filter((e) => t - e.t_s < (e.found ? o.refresh_s : o.recheck_s) - 1e-9);

    const predicted = [...this.memo.entries()].map(([id, m]) => ({ id, m, box: shift(m.box, m.vx * (t - m.t_s), m.vy * (t - m.t_s)) }));
    // Padded by the larger side: a person entering at the frame edge has a narrow box that lags the blob.
    const padded = predicted.map((p) => padBox(p.box, o.pad, true));
    const probes = motion.blobs.filter((b) => coverage(b.box, padded) < o.explained && !this.checked.some((e) => boxIou(e.box, b.box) > 0.3));
    const due = (lag: number): typeof predicted =>
      predicted.filter((p) => {
        const h = Math.max(1, p.box[3] - p.box[1]);
        const age = t - Math.max(p.m.fresh_s, p.m.looked_s);
        if (Math.hypot(p.m.vx, p.m.vy) >= o.movingHeights_s * h) return age >= lag * o.refresh_s - 1e-9;
        return age >= lag * o.refreshStill_s - 1e-9 && motion.blobs.some((b) => overlap(b.box, p.box) > 0);
      });
    const needed = due(1);
    const confirm = this.pending.filter((e) => t - e.t_s >= o.refresh_s - 1e-9);
    this.pending = this.pending.filter((e) => t - e.t_s < o.refresh_s - 1e-9);
    if (!probes.length && !needed.length && !confirm.length) return { t_s: t, call: 'none', reason: 'idle', regions: [], probes: [] };
    // A call is made anyway: tracks half way to due come along, so their refreshes fall on the same frames.
    const boxes: BoxT[] = [...probes.map((b) => b.box), ...confirm.map((e) => e.box), ...due(0.5).map((p) => p.box)];
    const regions = this.regionsFor(boxes, W, H);
    const area = regions.reduce((a, r) => a + r.w * r.h, 0);
    if (regions.length > o.maxRegions || area > o.maxArea * W * H) return { ...full('crowded'), probes };
    return { t_s: t, call: 'regions', reason: probes.length ? 'motion' : needed.length ? 'tracks' : 'confirm', regions, probes };
  }

  /** The caller looked at the whole frame anyway (a detector without regions): the periodic full frame restarts. */
  fullDone(t_s: number): void {
    this.lastFull_s = t_s;
  }

  /**
   * Whether the detector looked at `box` under `plan` (the tracker's "observed"): its part inside the frame lies in
   * one region, away from cut edges. A box wholly outside the frame counts as looked at, so tracks that left age out.
   */
  observed(plan: GatePlan, box: readonly number[]): boolean {
    if (plan.call === 'full') return true;
    if (plan.call === 'none' || !this.size) return false;
    const [W, H] = this.size;
    const b: BoxT = [Math.max(0, box[0]!), Math.max(0, box[1]!), Math.min(W, box[2]!), Math.min(H, box[3]!)];
    if (b[2] <= b[0] || b[3] <= b[1]) return true;
    const m = this.o.borderPx;
    return plan.regions.some((r) => {
      const x1 = r.x > 0 ? r.x + m : 0;
      const y1 = r.y > 0 ? r.y + m : 0;
      const x2 = r.x + r.w < W ? r.x + r.w - m : W;
      const y2 = r.y + r.h < H ? r.y + r.h - m : H;
      return b[0] >= x1 && b[1] >= y1 && b[2] <= x2 && b[3] <= y2;
    });
  }

  /**
   * After the tracker ran: which tracks got a fresh detection (hits went up) and their velocity; which probed motion
   * held no detection (not probed again for recheck_s).
   */
  after(plan: GatePlan, tracks: readonly GateTrack[], detections: readonly Detection[]): void {
    const t = plan.t_s;
    const live = new Set<number>();
    for (const tr of tracks) {
      live.add(tr.id);
      const box: BoxT = [tr.box[0]!, tr.box[1]!, tr.box[2]!, tr.box[3]!];
      const m = this.memo.get(tr.id);
      if (!m) {
        this.memo.set(tr.id, { box, t_s: t, hits: tr.hits, fresh_s: t, looked_s: t, vx: 0, vy: 0 });
        continue;
      }
      if (this.observed(plan, tr.box)) m.looked_s = t;
      const dt = t - m.t_s;
      if (tr.hits > m.hits && dt > 0) {
        // Velocity of the box centre between fresh detections, smoothed: the gate's own prediction between calls.
        const vx = ((box[0] + box[2]) / 2 - (m.box[0] + m.box[2]) / 2) / dt;
        const vy = ((box[1] + box[3]) / 2 - (m.box[1] + m.box[3]) / 2) / dt;
        m.vx = 0.5 * m.vx + 0.5 * vx;
        m.vy = 0.5 * m.vy + 0.5 * vy;
        m.box = box;
        m.t_s = t;
        m.fresh_s = t;
        m.hits = tr.hits;
      }
    }
    for (const id of [...this.memo.keys()]) if (!live.has(id)) this.memo.delete(id);
    if (plan.call === 'none') return;
    for (const d of detections) {
      const b: BoxT = [d.x1, d.y1, d.x2, d.y2];
      if (!tracks.some((tr) => boxIou(tr.box, b) > 0.3)) this.pending.push({ box: b, t_s: t });
    }
    // Found means the detections explain the blob; a blob only partly explained (a lit floor around a bag) is empty.
    const seen = detections.map((d) => padBox([d.x1, d.y1, d.x2, d.y2], this.o.pad, true));
    for (const p of plan.probes) this.checked.push({ box: p.box, t_s: t, found: coverage(p.box, seen) >= this.o.explained });
  }

  /** Pads, fits to the detector's aspect and least size, merges overlapping regions, keeps them in the frame. */
  regionsFor(boxes: readonly BoxT[], W: number, H: number): Roi[] {
    const o = this.o;
    const aspect = o.aspect ?? W / H;
    const fit = (b: BoxT): BoxT => {
      let w = Math.max(b[2] - b[0], o.minRegion_px[0]);
      let h = Math.max(b[3] - b[1], o.minRegion_px[1]);
      if (w / h < aspect) w = h * aspect;
      else h = w / aspect;
      w = Math.min(w, W);
      h = Math.min(h, H);
      const cx = Math.min(Math.max((b[0] + b[2]) / 2, w / 2), W - w / 2);
      const cy = Math.min(Math.max((b[1] + b[3]) / 2, h / 2), H - h / 2);
      return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
    };
    let rs = boxes.map((b) => fit(padBox(b, o.pad)));
    let merged = true;
    while (merged) {
      merged = false;
      outer: for (let i = 0; i < rs.length; i++) {
        for (let j = i + 1; j < rs.length; j++) {
          if (overlap(rs[i]!, rs[j]!) <= 0) continue;
          const a = rs[i]!;
          const b = rs[j]!;
          rs[i] = fit([Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[2], b[2]), Math.max(a[3], b[3])]);
          rs = rs.filter((_, k) => k !== j);
          merged = true;
          break outer;
        }
      }
    }
    return rs.map((b) => {
      const x = Math.max(0, Math.floor(b[0]));
      const y = Math.max(0, Math.floor(b[1]));
      return { x, y, w: Math.min(W, Math.ceil(b[2])) - x, h: Math.min(H, Math.ceil(b[3])) - y };
    });
  }
}

/**
 * Region answers as one frame's detections: a box touching a region edge that lies inside the frame was cut by the
 * crop and is dropped (the object's own region, padded around it, sees it whole); then duplicates from overlapping
 * regions (same class, IoU above `iou` or one mostly inside the other) keep the higher score.
 */
export function mergeRegionDetections(parts: readonly { roi: Roi; dets: readonly Detection[] }[], W: number, H: number, opts: { borderPx?: number; iou?: number } = {}): Detection[] {
  const m = opts.borderPx ?? 5;
  const thr = opts.iou ?? 0.5;
  const whole: Detection[] = [];
  for (const { roi, dets } of parts) {
    for (const d of dets) {
      const cut = (roi.x > 0 && d.x1 <= roi.x + m) || (roi.y > 0 && d.y1 <= roi.y + m) || (roi.x + roi.w < W && d.x2 >= roi.x + roi.w - m) || (roi.y + roi.h < H && d.y2 >= roi.y + roi.h - m);
      if (!cut) whole.push(d);
    }
  }
  if (parts.length < 2) return whole;
  const sorted = [...whole].sort((a, b) => b.score - a.score);
  const kept: Detection[] = [];
  for (const d of sorted) {
    const db: BoxT = [d.x1, d.y1, d.x2, d.y2];
    const dup = kept.some((k) => {
      if (k.class !== d.class) return false;
      const kb: BoxT = [k.x1, k.y1, k.x2, k.y2];
      return boxIou(kb, db) > thr || overlap(kb, db) > 0.8 * Math.min(area(kb), area(db));
    });
    if (!dup) kept.push(d);
  }
  return kept;
}

function area(b: readonly number[]): number {
  return Math.max(0, b[2]! - b[0]!) * Math.max(0, b[3]! - b[1]!);
}

function overlap(a: readonly number[], b: readonly number[]): number {
  const w = Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!);
  const h = Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!);
  return w > 0 && h > 0 ? w * h : 0;
}

function boxIou(a: readonly number[], b: readonly number[]): number {
  const i = overlap(a, b);
  return i > 0 ? i / (area(a) + area(b) - i) : 0;
}

function shift(b: BoxT, dx: number, dy: number): BoxT {
  return [b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy];
}

function padBox(b: readonly number[], pad: number, bySide = false): BoxT {
  const side = Math.max(b[2]! - b[0]!, b[3]! - b[1]!);
  const px = Math.max(4, pad * (bySide ? side : b[2]! - b[0]!));
  const py = Math.max(4, pad * (bySide ? side : b[3]! - b[1]!));
  return [b[0]! - px, b[1]! - py, b[2]! + px, b[3]! + py];
}

/** Share of `box` inside the union of `cover`, on a 6x6 grid of sample points (boxes are few, exactness is not needed). */
function coverage(box: BoxT, cover: readonly BoxT[]): number {
  if (!cover.length) return 0;
  let inside = 0;
  const n = 6;
  for (let gy = 0; gy < n; gy++) {
    const y = box[1] + ((gy + 0.5) / n) * (box[3] - box[1]);
    for (let gx = 0; gx < n; gx++) {
      const x = box[0] + ((gx + 0.5) / n) * (box[2] - box[0]);
      if (cover.some((c) => x >= c[0] && x <= c[2] && y >= c[1] && y <= c[3])) inside++;
    }
  }
  return inside / (n * n);
}
