// Customs events from one camera's tracks: abandoned bag, bag switch, companions of a flagged person, zone dwell.
// Pure: tracks and their time in, events out; no clock, no I/O.
import { boxCentre, boxIou } from './assign.js';
import { pointInPolygon } from './polygon.js';
import type { Track } from './tracker.js';

export { pointInPolygon };

export type CameraEventType = 'abandoned_bag' | 'bag_switch' | 'companions' | 'dwell';

export interface CameraEvent {
  type: CameraEventType;
  camera: string;
  t_s: number;
  /** Main track first (bag, flagged or dwelling person), then the others involved (owner, taker, companions). */
  trackIds: number[];
  /** Box of the main track, frame pixels. */
  bbox: [number, number, number, number];
  zone?: string;
  duration_s?: number;
}

export interface ZoneDef {
  id: string;
  /** Polygon in frame pixels. */
  polygon: [number, number][];
}

export interface EventRules {
  /** Seconds a stopped bag stays without its owner before it is reported abandoned. */
  abandon_s: number;
  /** Owner farther than this many of its own heights from the bag (or out of view) counts as away. */
  attendHeights: number;
  /** Seconds a person stays in a zone before a dwell is reported. */
  dwell_s: number;
  /** Seconds a person stays near a flagged one before counting as a companion. */
  companion_s: number;
  /** Near means centres within this many person heights. */
  companionHeights: number;
  /** A person within this many heights of a moving bag can be carrying it. */
  carryHeights: number;
  /** Seconds a bag that stood still must move with someone other than its owner before a switch is reported. */
  switch_s: number;
  /** Seconds a bag must move along with one person before that person is its owner. */
  owner_s: number;
  /** Carrying time another person may have, as a share of the owner's, before ownership is too unclear to claim. */
  ownerRivalShare: number;
  /** A bag whose centre never got this many of its own sizes from where it was first seen never moved: background. */
  moveSizes: number;
  /** Zones whose entry flags a person (the red-channel desk, a referral point). */
  flagZones: string[];
}

export const DEFAULT_RULES: EventRules = {
  abandon_s: 8,
  attendHeights: 1.5,
  dwell_s: 10,
  companion_s: 4,
  companionHeights: 1.2,
  carryHeights: 1.0,
  switch_s: 1,
  owner_s: 2,
  ownerRivalShare: 0.5,
  moveSizes: 2,
  flagZones: [],
};

/**
 * Pixel motion history of the camera (background subtraction), when the caller keeps one: a track box that shifts
 * where no pixel changed is the detector redrawing a static thing, not the thing moving.
 */
export interface MotionHistory {
  /** True when pixels inside `box` (x1, y1, x2, y2, frame pixels) changed at some time since `since_s`. */
  movedWithin(box: [number, number, number, number], since_s: number): boolean;
}

/** What one update needs besides the tracks; all optional. */
export interface EventInput {
  motion?: MotionHistory;
}

/** Who a bag belongs to, and how sure the rules are of it. */
export interface BagOwner {
  bag: number;
  owner: number;
  /** 0..1: carrying time against owner_s, times the owner's lead over the next person who moved with it. */
  confidence: number;
}

interface BagState {
  /** Centre where the bag was first seen, and the farthest it has been from there, in its own sizes. */
  origin: [number, number];
  travelled: number;
  owner: number | undefined;
  ownerConfidence: number;
  history: { t: number; c: [number, number] }[];
  stoppedSince: number | undefined;
  wasStopped: boolean;
  awaySince: number | undefined;
  abandoned: boolean;
  /** Seconds each person moved along with the bag since it last came to rest (one carry). */
  carry: Map<number, number>;
  switched: boolean;
  lastT: number;
  lastBox: readonly number[];
}

interface PersonState {
  /** Centres over the last second: the person's own velocity, to compare with a bag's. */
  hist: { t: number; c: [number, number] }[];
  zoneSince: Map<string, number>;
  zoneLastSeen: Map<string, number>;
  dwelt: Set<string>;
  lastT: number;
}

interface FlagState {
  near: Map<number, number>;
  reported: Set<number>;
  pendingSince: number | undefined;
  lastT: number;
}

function height(b: readonly number[]): number {
  return Math.max(1, b[3]! - b[1]!);
}

/** A bag's size: the larger side, so a flat suitcase and a tall backpack both count by their extent. */
function size(b: readonly number[]): number {
  return Math.max(1, b[2]! - b[0]!, b[3]! - b[1]!);
}

function dist(a: readonly number[], b: readonly number[]): number {
  const [ax, ay] = boxCentre(a);
  const [bx, by] = boxCentre(b);
  return Math.hypot(ax - bx, ay - by);
}

/** Gap a presence may have (a missed detection, a short occlusion) without restarting its timer. */
const GAP_S = 1.5;
/** How long a lost bag can be found again at the same place. */
const REFIND_S = 20;

export class EventDetector {
  private readonly rules: EventRules;
  private readonly bags = new Map<number, BagState>();
  private readonly people = new Map<number, PersonState>();
  private readonly flags = new Map<number, FlagState>();
  private readonly flagged = new Set<number>();
  /** New ids the tracker gave a flagged person after losing them: flagged too, never their own companion. */
  private readonly aliasOf = new Map<number, number>();
  private readonly lastPersonBox = new Map<number, { box: readonly number[]; t: number }>();

  constructor(
    readonly camera: string,
    private zones: ZoneDef[] = [],
    rules: Partial<EventRules> = {},
  ) {
    this.rules = { ...DEFAULT_RULES, ...rules };
  }

  /** Marks a person track as flagged (by an officer, a referral list, or a flag zone). */
  flag(trackId: number): void {
    this.flagged.add(trackId);
  }

  flaggedIds(): number[] {
    return [...this.flagged];
  }

  /** Zones in this camera's pixels (set once the frame size is known). */
  setZones(zones: ZoneDef[]): void {
    this.zones = zones;
  }

  /** Forgets all state (the camera restarted with a new resolution: track ids start over). */
  reset(zones?: ZoneDef[]): void {
    this.bags.clear();
    this.people.clear();
    this.flags.clear();
    this.flagged.clear();
    this.aliasOf.clear();
    this.lastPersonBox.clear();
    if (zones) this.zones = zones;
  }

  /** `tracks`: the tracks matched in this frame. Returns the events that became true at t_s. */
  update(tracks: readonly Track[], t_s: number, input: EventInput = {}): CameraEvent[] {
    const r = this.rules;
    const out: CameraEvent[] = [];
    const persons = tracks.filter((t) => t.cls === 'person');
    const bagTracks = tracks.filter((t) => t.cls === 'bag');
    const byId = new Map(tracks.map((t) => [t.id, t]));

    // People: zones, dwell, flagging.
    for (const p of persons) {
      let st = this.people.get(p.id);
      if (!st) this.inheritFlag(p, byId, t_s);
      this.lastPersonBox.set(p.id, { box: p.box, t: t_s });
      if (!st) {
        st = { hist: [], zoneSince: new Map(), zoneLastSeen: new Map(), dwelt: new Set(), lastT: t_s };
        this.people.set(p.id, st);
      }
      if (t_s - st.lastT > GAP_S) st.hist = [];
      st.lastT = t_s;
      st.hist.push({ t: t_s, c: boxCentre(p.box) });
      while (st.hist.length > 2 && st.hist[0]!.t < t_s - 1) st.hist.shift();
      // Feet, not centre: the zone is drawn on the floor.
      const fx = (p.box[0] + p.box[2]) / 2;
      const fy = p.box[3];
      for (const z of this.zones) {
        if (!pointInPolygon(fx, fy, z.polygon)) continue;
        const last = st.zoneLastSeen.get(z.id);
        if (last === undefined || t_s - last > GAP_S) st.zoneSince.set(z.id, t_s);
        st.zoneLastSeen.set(z.id, t_s);
        if (r.flagZones.includes(z.id)) this.flagged.add(p.id);
        const since = st.zoneSince.get(z.id)!;
        if (!st.dwelt.has(z.id) && t_s - since >= r.dwell_s) {
          st.dwelt.add(z.id);
          out.push({ type: 'dwell', camera: this.camera, t_s, trackIds: [p.id], bbox: p.box, zone: z.id, duration_s: round(t_s - since) });
        }
      }
    }

    // Bags: who carried it (co-motion), whether it ever moved, at rest, owner away, taken by someone else.
    for (const b of bagTracks) this.updateBag(b, { bagTracks, persons, t_s, input, out });

    // Companions: people who stay near a flagged person.
    for (const fid of this.flagged) {
      const f = byId.get(fid);
      if (!f) continue;
      let fs = this.flags.get(fid);
      if (!fs) {
        fs = { near: new Map(), reported: new Set(), pendingSince: undefined, lastT: t_s };
        this.flags.set(fid, fs);
      }
      const dt = Math.max(0, Math.min(GAP_S, t_s - fs.lastT));
      fs.lastT = t_s;
      for (const p of persons) {
        if (p.id === fid || this.rootOf(p.id) === this.rootOf(fid)) continue;
        // A box mostly inside the flagged person's is that person detected twice (half hidden), not a companion.
        if (containment(p.box, f.box) > 0.6) continue;
        const close = dist(p.box, f.box) <= r.companionHeights * Math.max(height(p.box), height(f.box));
        const acc = fs.near.get(p.id) ?? 0;
        // Time together accumulates; walking apart for a while wears it down again.
        fs.near.set(p.id, close ? acc + dt : Math.max(0, acc - dt / 2));
      }
      const qualified = [...fs.near.entries()].filter(([id, s]) => s >= r.companion_s && !fs.reported.has(this.rootOf(id))).map(([id]) => id);
      if (qualified.length && fs.pendingSince === undefined) fs.pendingSince = t_s;
      // Wait a moment so a group that arrived together is one event, not one per member.
      if (fs.pendingSince !== undefined && t_s - fs.pendingSince >= 1.5) {
        const members = [...fs.near.entries()].filter(([id, s]) => s >= r.companion_s - 1.5 && !fs.reported.has(this.rootOf(id))).map(([id]) => id).sort((a, c) => a - c);
        fs.pendingSince = undefined;
        if (members.length) {
          for (const id of members) fs.reported.add(this.rootOf(id));
          out.push({ type: 'companions', camera: this.camera, t_s, trackIds: [fid, ...members], bbox: f.box });
        }
      }
    }

    // Forget tracks not seen for a while.
    for (const [id, st] of this.bags) if (t_s - st.lastT > 60) this.bags.delete(id);
    for (const [id, st] of this.people) if (t_s - st.lastT > 60) this.people.delete(id);
    for (const [id, v] of this.lastPersonBox) if (t_s - v.t > 60) this.lastPersonBox.delete(id);
    return out;
  }

  /** One bag's frame: its motion, who carries it, its owner, and the abandoned and switch rules. */
  private updateBag(b: Track, f: { bagTracks: readonly Track[]; persons: readonly Track[]; t_s: number; input: EventInput; out: CameraEvent[] }): void {
    const { bagTracks, persons, t_s, input, out } = f;
    const r = this.rules;
    let st = this.bags.get(b.id) ?? this.refound(b, bagTracks, t_s);
    if (!st) {
      st = {
        origin: boxCentre(b.box),
        travelled: 0,
        owner: undefined,
        ownerConfidence: 0,
        history: [],
        stoppedSince: undefined,
        wasStopped: false,
        awaySince: undefined,
        abandoned: false,
        carry: new Map(),
        switched: false,
        lastT: t_s,
        lastBox: b.box,
      };
      this.bags.set(b.id, st);
    }
    const gap = t_s - st.lastT;
    const dt = Math.max(0, Math.min(GAP_S, gap));
    // Rest and motion are judged on what was seen: after a long gap the bag's story starts over.
    if (gap > GAP_S) {
      st.stoppedSince = undefined;
      st.history = [];
    }
    st.lastT = t_s;
    st.lastBox = b.box;
    const c = boxCentre(b.box);
    st.history.push({ t: t_s, c });
    while (st.history.length > 2 && st.history[0]!.t < t_s - 1) st.history.shift();
    const first = st.history[0]!;
    const span = t_s - first.t;
    const vb: [number, number] = span > 0.3 ? [(c[0] - first.c[0]) / span, (c[1] - first.c[1]) / span] : [0, 0];
    // The box moving is not enough where a pixel motion history says nothing moved there: that is the detector
    // redrawing a static thing (a bin half hidden by a passer-by), not a bag on the move.
    const moving = Math.hypot(vb[0], vb[1]) > 0.5 * height(b.box) && (input.motion?.movedWithin(b.box, t_s - 1) ?? true);
    if (moving) st.travelled = Math.max(st.travelled, Math.hypot(c[0] - st.origin[0], c[1] - st.origin[1]) / size(b.box));
    if (!moving) {
      const wasStopped = st.wasStopped;
      st.stoppedSince ??= t_s;
      // Two seconds at rest make it a bag that was put down (not a detector flicker inside a walking group); the
      // next carry is counted afresh, so whoever picks it up has to earn it on their own.
      if (t_s - st.stoppedSince >= 2) st.wasStopped = true;
      if (st.wasStopped && !wasStopped) st.carry.clear();
    } else st.stoppedSince = undefined;

    // Co-motion: a person beside the bag whose centre moves with the same velocity is carrying it.
    if (moving) {
      for (const p of persons) {
        if (dist(p.box, b.box) > r.carryHeights * height(p.box)) continue;
        const vp = this.velocity(p.id);
        const diff = Math.hypot(vb[0] - vp[0], vb[1] - vp[1]);
        if (diff <= 0.5 * Math.max(Math.hypot(vb[0], vb[1]), Math.hypot(vp[0], vp[1]))) {
          // Keyed by the first id of the person: a carrier the tracker lost and re-found keeps their carrying time.
          const who = this.rootOf(p.id);
          st.carry.set(who, (st.carry.get(who) ?? 0) + dt);
        }
      }
    }
    if (st.owner === undefined) {
      // First confident carrier: the owner. A bag that came to rest before anyone carried it long enough is
      // owned by whoever then carries it for owner_s, with no switch (there was no known owner to switch from).
      const own = leadCarrier(st.carry, r.owner_s, r.ownerRivalShare);
      if (own?.confident) {
        st.owner = own.id;
        st.ownerConfidence = own.confidence;
      }
    } else if (st.wasStopped && !st.switched) {
      const taker = leadCarrier(st.carry, r.switch_s, r.ownerRivalShare);
      if (taker?.confident && this.rootOf(taker.id) === this.rootOf(st.owner)) {
        // The owner picked it up again: a later switch needs it put down again first.
        st.wasStopped = false;
        st.carry.clear();
      } else if (taker?.confident) {
        // Switch: a bag its confident owner had put down is carried off by another confident carrier.
        st.switched = true;
        out.push({ type: 'bag_switch', camera: this.camera, t_s, trackIds: [b.id, taker.id, st.owner], bbox: b.box });
        // The taker holds it now: if they leave it, they are the one who left it.
        st.owner = taker.id;
        st.ownerConfidence = taker.confidence;
        st.wasStopped = false;
        st.awaySince = undefined;
        st.carry.clear();
      }
    }

    // Abandoned: a bag that moved with a confident owner, now at rest with the owner out of view or out of reach,
    // for abandon_s. Without an owner (a bin, a bench, a bag that was there before the camera) there is no one
    // who left it.
    const ownerId = st.owner;
    const owner = ownerId === undefined ? undefined : persons.find((p) => p.id === ownerId || this.rootOf(p.id) === this.rootOf(ownerId));
    const attended = owner !== undefined && dist(owner.box, b.box) <= r.attendHeights * height(owner.box);
    if (ownerId !== undefined && st.travelled >= r.moveSizes && st.stoppedSince !== undefined && !attended) {
      st.awaySince ??= t_s;
      if (!st.abandoned && t_s - st.awaySince >= r.abandon_s) {
        st.abandoned = true;
        out.push({ type: 'abandoned_bag', camera: this.camera, t_s, trackIds: [b.id, ownerId], bbox: b.box, duration_s: round(t_s - st.awaySince) });
      }
    } else if (attended || st.stoppedSince === undefined) st.awaySince = undefined;
  }

  private rootOf(id: number): number {
    let r = id;
    for (let n = 0; n < 16 && this.aliasOf.has(r); n++) r = this.aliasOf.get(r)!;
    return r;
  }

  /**
   * A new person track where a person was lost moments ago is taken as that person (an occlusion the tracker did
   * not bridge): a flag carries over, and a companion already reported is not reported again.
   */
  private inheritFlag(p: Track, current: ReadonlyMap<number, Track>, t_s: number): void {
    let best: number | undefined;
    let bestIou = 0.2;
    for (const [id, last] of this.lastPersonBox) {
      if (current.has(id) || t_s - last.t > 3 || this.aliasOf.get(id) === p.id) continue;
      // Where the lost person would be now at their last velocity: someone walking is found again a few steps on.
      const [vx, vy] = this.velocity(id);
      const dt = t_s - last.t;
      const v = boxIou([last.box[0]! + vx * dt, last.box[1]! + vy * dt, last.box[2]! + vx * dt, last.box[3]! + vy * dt], p.box);
      if (v > bestIou) {
        bestIou = v;
        best = id;
      }
    }
    if (best === undefined) return;
    this.aliasOf.set(p.id, best);
    if (this.flagged.has(this.rootOf(best))) this.flagged.add(p.id);
  }

  /**
   * A new bag track where a bag was lost moments ago is that bag again (a passer-by hid it long enough for the
   * tracker to let go): it keeps its owner and history instead of being adopted by whoever hid it.
   */
  private refound(b: Track, current: readonly Track[], t_s: number): BagState | undefined {
    let best: [number, BagState] | undefined;
    let bestIou = 0.3;
    for (const [id, st] of this.bags) {
      if (t_s - st.lastT > REFIND_S || current.some((c) => c.id === id)) continue;
      const v = boxIou(st.lastBox, b.box);
      if (v > bestIou) {
        bestIou = v;
        best = [id, st];
      }
    }
    if (!best) return undefined;
    this.bags.delete(best[0]);
    this.bags.set(b.id, best[1]);
    return best[1];
  }

  /** Owners the rules are sure of, per bag (for logs, the CLI and tests). */
  owners(): BagOwner[] {
    return [...this.bags.entries()].filter(([, st]) => st.owner !== undefined).map(([bag, st]) => ({ bag, owner: st.owner!, confidence: round2(st.ownerConfidence) }));
  }

  /** A person's centre velocity (pixels/s) over the last second; zero until a third of a second is seen. */
  private velocity(id: number): [number, number] {
    const h = this.people.get(id)?.hist;
    const a = h?.[0];
    const b = h?.[h.length - 1];
    if (!a || !b || b.t - a.t <= 0.3) return [0, 0];
    return [(b.c[0] - a.c[0]) / (b.t - a.t), (b.c[1] - a.c[1]) / (b.t - a.t)];
  }
}

/** Share of the smaller box that lies inside the other. */
function containment(a: readonly number[], b: readonly number[]): number {
  const ix = Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!);
  const iy = Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!);
  if (ix <= 0 || iy <= 0) return 0;
  const small = Math.min((a[2]! - a[0]!) * (a[3]! - a[1]!), (b[2]! - b[0]!) * (b[3]! - b[1]!));
  return small > 0 ? (ix * iy) / small : 0;
}

/**
 * The person who carried the bag longest in `carry`, and whether that is enough: at least `min_s`, with nobody
 * else near a `rivalShare` of that time (two people walking side by side with one bag own it together, i.e. unclear).
 */
function leadCarrier(carry: ReadonlyMap<number, number>, min_s: number, rivalShare: number): { id: number; confidence: number; confident: boolean } | undefined {
  let best: [number, number] | undefined;
  let second = 0;
  for (const [id, s] of carry) {
    if (!best || s > best[1]) {
      if (best) second = best[1];
      best = [id, s];
    } else second = Math.max(second, s);
  }
  if (!best || best[1] <= 0) return undefined;
  const share = second / best[1];
  return { id: best[0], confidence: Math.min(1, best[1] / min_s) * (1 - share), confident: best[1] >= min_s && share <= rivalShare };
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
