// ByteTrack-style multi-object tracker: constant-velocity Kalman filter per track, two-stage IoU association.
import { assign, boxIou } from './assign.js';

export interface TrackInput {
  box: [number, number, number, number];
  score: number;
  cls: string;
}

export interface Track {
  id: number;
  cls: string;
  /** Filtered box (x1, y1, x2, y2) in frame pixels. */
  box: [number, number, number, number];
  score: number;
  /** Frames this track has been matched to a detection. */
  hits: number;
  /** Seconds since the last matched detection (0 for tracks matched this frame). */
  lost_s: number;
  /** Time of the first detection (s). */
  born_s: number;
}

export interface TrackerOptions {
  /** Detections at or above this score take part in the first association stage. */
  highScore?: number;
  /** Detections between lowScore and highScore only extend existing tracks (second stage). */
  lowScore?: number;
  /** A new track starts from an unmatched detection at or above this score. */
  newTrackScore?: number;
  /** Least IoU between a predicted track and a detection in stage 1, stage 2 and for unconfirmed tracks. */
  iouHigh?: number;
  iouLow?: number;
  iouNew?: number;
  /** A lost track is kept (and can be re-found) this long before it is removed. */
  hold_s?: number;
  /** Hits before a new track is reported. */
  confirmHits?: number;
}

/**
 * One dimension of the box state (position and velocity) under a constant-velocity model. The full 8-state
 * filter of SORT/ByteTrack with diagonal noise never couples different dimensions, so four 2-state filters are the
 * same filter, with 2x2 algebra.
 */
class Axis {
  x: number;
  v = 0;
  // Covariance [[p00, p01], [p01, p11]].
  p00: number;
  p01 = 0;
  p11: number;
  constructor(x: number, posStd: number, velStd: number) {
    this.x = x;
    this.p00 = posStd * posStd;
    this.p11 = velStd * velStd;
  }
  predict(dt: number, qPos: number, qVel: number): void {
    this.x += this.v * dt;
    // P = F P Fᵀ + Q with F = [[1, dt], [0, 1]].
    const p00 = this.p00 + 2 * dt * this.p01 + dt * dt * this.p11 + qPos;
    const p01 = this.p01 + dt * this.p11;
    const p11 = this.p11 + qVel;
    this.p00 = p00;
    this.p01 = p01;
    this.p11 = p11;
  }
  update(z: number, r: number): void {
    const s = this.p00 + r;
    const k0 = this.p00 / s;
    const k1 = this.p01 / s;
    const y = z - this.x;
    this.x += k0 * y;
    this.v += k1 * y;
    const p00 = (1 - k0) * this.p00;
    const p01 = (1 - k0) * this.p01;
    const p11 = this.p11 - k1 * this.p01;
    this.p00 = p00;
    this.p01 = p01;
    this.p11 = p11;
  }
}

/** Noise weights relative to the box height, as in DeepSORT (per second here, not per frame). */
const W_POS = 1 / 20;
const W_VEL = 1 / 160;
const FRAME_S = 0.1;

class KalmanBox {
  // centre x, centre y, aspect w/h, height
  private readonly axes: [Axis, Axis, Axis, Axis];
  constructor(box: readonly number[]) {
    const [cx, cy, a, h] = toXyah(box);
    const ps = 2 * W_POS * h;
    const vs = (10 * W_VEL * h) / FRAME_S;
    this.axes = [new Axis(cx, ps, vs), new Axis(cy, ps, vs), new Axis(a, 1e-2, 1e-5 / FRAME_S), new Axis(h, ps, vs)];
  }
  predict(dt: number): void {
    if (dt <= 0) return;
    const h = Math.max(1, this.axes[3].x);
    const f = dt / FRAME_S;
    const qp = (W_POS * h) ** 2 * f;
    const qv = ((W_VEL * h) / FRAME_S) ** 2 * f;
    this.axes[0].predict(dt, qp, qv);
    this.axes[1].predict(dt, qp, qv);
    this.axes[2].predict(dt, 1e-4 * f, 1e-10 * f);
    this.axes[3].predict(dt, qp, qv);
  }
  update(box: readonly number[]): void {
    const z = toXyah(box);
    const h = Math.max(1, this.axes[3].x);
    const r = (W_POS * h) ** 2;
    this.axes[0].update(z[0], r);
    this.axes[1].update(z[1], r);
    this.axes[2].update(z[2], 1e-2);
    this.axes[3].update(z[3], r);
  }
  /** Stops a lost track's box from drifting away while it is not seen (a stopped bag behind a person). */
  damp(): void {
    for (const ax of this.axes) ax.v *= 0.85;
  }
  box(): [number, number, number, number] {
    const cx = this.axes[0].x;
    const cy = this.axes[1].x;
    const a = Math.max(0.05, this.axes[2].x);
    const h = Math.max(1, this.axes[3].x);
    const w = a * h;
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
  }
}

function toXyah(b: readonly number[]): [number, number, number, number] {
  const w = Math.max(1e-3, b[2]! - b[0]!);
  const h = Math.max(1e-3, b[3]! - b[1]!);
  return [(b[0]! + b[2]!) / 2, (b[1]! + b[3]!) / 2, w / h, h];
}

interface TrackState {
  id: number;
  cls: string;
  kf: KalmanBox;
  score: number;
  hits: number;
  lastSeen_s: number;
  born_s: number;
  confirmed: boolean;
}

/**
 * Feed it one frame of detections at a time with the frame's time; it answers the confirmed tracks matched in
 * that frame. Pure: time is data, no clock.
 */
export class ByteTracker {
  private tracks: TrackState[] = [];
  private nextId = 1;
  private last_s: number | undefined;
  private readonly o: Required<TrackerOptions>;

  constructor(opts: TrackerOptions = {}) {
    this.o = {
      highScore: opts.highScore ?? 0.5,
      lowScore: opts.lowScore ?? 0.1,
      newTrackScore: opts.newTrackScore ?? 0.6,
      iouHigh: opts.iouHigh ?? 0.2,
      iouLow: opts.iouLow ?? 0.4,
      iouNew: opts.iouNew ?? 0.3,
      hold_s: opts.hold_s ?? 3,
      confirmHits: opts.confirmHits ?? 2,
    };
  }

  /** Forgets every track (a camera whose resolution changed: old boxes mean nothing in the new frame). */
  reset(): void {
    this.tracks = [];
    this.last_s = undefined;
  }

  /**
   * `observed`, when given, says whether the detector looked at a (predicted) box this frame (motion gating): a track
   * it did not look at that was matched when last looked at is carried on its prediction, reported and not aged.
   */
  update(dets: readonly TrackInput[], t_s: number, opts: { observed?: (box: [number, number, number, number]) => boolean } = {}): Track[] {
    const o = this.o;
    const prev_s = this.last_s;
    const dt = prev_s === undefined ? 0 : Math.max(0, t_s - prev_s);
    this.last_s = t_s;
    for (const tr of this.tracks) {
      // Damped only once it has missed a frame: a bag that stopped behind someone should not glide on.
      if (prev_s !== undefined && tr.lastSeen_s < prev_s - 1e-9) tr.kf.damp();
      tr.kf.predict(dt);
    }
    const high = dets.filter((d) => d.score >= o.highScore);
    const low = dets.filter((d) => d.score >= o.lowScore && d.score < o.highScore);
    const matched = new Set<TrackState>();

    const match = (tracks: TrackState[], ds: readonly TrackInput[], minIou: number): { tracks: TrackState[]; dets: TrackInput[] } => {
      const boxes = tracks.map((t) => t.kf.box());
      const cost = tracks.map((t, i) => ds.map((d) => (d.cls === t.cls ? 1 - boxIou(boxes[i]!, d.box) : Infinity)));
      const pairs = assign(cost, 1 - minIou);
      const usedT = new Set<number>();
      const usedD = new Set<number>();
      for (const [ti, di] of pairs) {
        const tr = tracks[ti]!;
        const d = ds[di]!;
        tr.kf.update(d.box);
        tr.score = d.score;
        tr.hits++;
        tr.lastSeen_s = t_s;
        if (tr.hits >= o.confirmHits) tr.confirmed = true;
        matched.add(tr);
        usedT.add(ti);
        usedD.add(di);
      }
      return { tracks: tracks.filter((_, i) => !usedT.has(i)), dets: ds.filter((_, i) => !usedD.has(i)) };
    };

    // Stage 1: confirmed tracks, including recently lost ones, against confident detections.
    const confirmed = this.tracks.filter((t) => t.confirmed);
    const s1 = match(confirmed, high, o.iouHigh);
    // Stage 2: tracks still unmatched that were seen last frame against the weak detections (partly hidden objects).
    const recent = s1.tracks.filter((t) => t_s - t.lastSeen_s <= dt + 1e-9);
    match(recent, low, o.iouLow);
    // Tentative tracks get one chance against what is left of the confident detections.
    const tentative = this.tracks.filter((t) => !t.confirmed);
    const s3 = match(tentative, s1.dets, o.iouNew);
    if (opts.observed && prev_s !== undefined) {
      for (const tr of this.tracks) {
        if (matched.has(tr) || tr.lastSeen_s < prev_s - 1e-9 || opts.observed(tr.kf.box())) continue;
        tr.lastSeen_s = t_s;
        matched.add(tr);
      }
    }
    // A tentative track not matched at once was noise.
    this.tracks = this.tracks.filter((t) => t.confirmed || matched.has(t));
    for (const d of s3.dets) {
      if (d.score < o.newTrackScore) continue;
      const tr: TrackState = { id: this.nextId++, cls: d.cls, kf: new KalmanBox(d.box), score: d.score, hits: 1, lastSeen_s: t_s, born_s: t_s, confirmed: o.confirmHits <= 1 };
      this.tracks.push(tr);
      matched.add(tr);
    }
    this.tracks = this.tracks.filter((t) => t_s - t.lastSeen_s <= o.hold_s);
    return this.tracks
      .filter((t) => t.confirmed && matched.has(t))
      .map((t) => ({ id: t.id, cls: t.cls, box: t.kf.box(), score: t.score, hits: t.hits, lost_s: 0, born_s: t.born_s }));
  }

  /** Every live track, lost ones included (with how long they have been lost). */
  all(t_s: number): Track[] {
    return this.tracks
      .filter((t) => t.confirmed)
      .map((t) => ({ id: t.id, cls: t.cls, box: t.kf.box(), score: t.score, hits: t.hits, lost_s: Math.max(0, t_s - t.lastSeen_s), born_s: t.born_s }));
  }
}
