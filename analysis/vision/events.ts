// Customs events from one camera's tracks: abandoned bag, bag switch, companions of a flagged person, zone dwell.
// Pure: tracks and their time in, events out; no clock, no I/O.
import { boxCentre, boxIou } from './assign.js';
import type { Track } from './tracker.js';

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
  /** A person within this many heights of a bag is a candidate owner (at the bag's birth) or carrier. */
  carryHeights: number;
  /** Seconds a bag must move with someone other than its owner before a switch is reported. */
  switch_s: number;
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
  flagZones: [],
};

interface BagState {
  born_s: number;
  votes: Map<number, number>;
  owner: number | undefined;
  history: { t: number; c: [number, number] }[];
  stoppedSince: number | undefined;
  wasStopped: boolean;
  awaySince: number | undefined;
  abandoned: boolean;
  carrierTime: Map<number, number>;
  switched: boolean;
  lastT: number;
  lastBox: readonly number[];
}

interface PersonState {
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

export function pointInPolygon(x: number, y: number, poly: readonly (readonly [number, number])[]): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i]!;
    const [xj, yj] = poly[j]!;
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function height(b: readonly number[]): number {
  return Math.max(1, b[3]! - b[1]!);
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
  update(tracks: readonly Track[], t_s: number): CameraEvent[] {
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
        st = { zoneSince: new Map(), zoneLastSeen: new Map(), dwelt: new Set(), lastT: t_s };
        this.people.set(p.id, st);
      }
      st.lastT = t_s;
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

    // Bags: ownership at birth, stopped/moving, owner away, carrier.
    for (const b of bagTracks) {
      let st = this.bags.get(b.id) ?? this.refound(b, bagTracks, t_s);
      if (!st) {
        st = { lastBox: b.box, born_s: t_s, votes: new Map(), owner: undefined, history: [], stoppedSince: undefined, wasStopped: false, awaySince: undefined, abandoned: false, carrierTime: new Map(), switched: false, lastT: t_s };
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
      const nearest = this.nearestPerson(b.box, persons);
      // Whoever is nearest during the bag's first seconds brought it.
      if (t_s - st.born_s <= 3 && nearest) st.votes.set(nearest.id, (st.votes.get(nearest.id) ?? 0) + 1);
      if (st.owner === undefined && st.votes.size > 0 && (t_s - st.born_s > 3 || !st.stoppedSince)) {
        st.owner = [...st.votes.entries()].sort((a, c) => c[1] - a[1])[0]![0];
      }
      const c = boxCentre(b.box);
      st.history.push({ t: t_s, c });
      while (st.history.length > 2 && st.history[0]!.t < t_s - 1) st.history.shift();
      const first = st.history[0]!;
      const span = t_s - first.t;
      const speed = span > 0.3 ? Math.hypot(c[0] - first.c[0], c[1] - first.c[1]) / span : 0;
      const moving = speed > 0.5 * height(b.box);
      if (!moving) {
        st.stoppedSince ??= t_s;
        // Two seconds at rest make it a bag that was put down (not a detector flicker inside a walking group).
        if (t_s - st.stoppedSince >= 2) st.wasStopped = true;
      } else st.stoppedSince = undefined;

      // Switch: a bag that stood still is moving along with someone who is not its owner.
      if (moving && st.wasStopped && !st.switched && nearest && st.owner !== undefined && nearest.id !== st.owner) {
        const acc = (st.carrierTime.get(nearest.id) ?? 0) + dt;
        st.carrierTime.set(nearest.id, acc);
        if (acc >= r.switch_s) {
          st.switched = true;
          out.push({ type: 'bag_switch', camera: this.camera, t_s, trackIds: [b.id, nearest.id, st.owner], bbox: b.box });
          // The taker holds it now: if they leave it, they are the one who left it.
          st.owner = nearest.id;
          st.wasStopped = false;
          st.awaySince = undefined;
        }
      }

      // Abandoned: stopped, and the owner out of view or out of reach, for abandon_s.
      const owner = st.owner !== undefined ? byId.get(st.owner) : undefined;
      const attended = owner !== undefined && dist(owner.box, b.box) <= r.attendHeights * height(owner.box);
      if (st.stoppedSince !== undefined && !attended && (st.owner !== undefined || t_s - st.born_s > 3)) {
        st.awaySince ??= t_s;
        if (!st.abandoned && t_s - st.awaySince >= r.abandon_s) {
          st.abandoned = true;
          out.push({
            type: 'abandoned_bag',
            camera: this.camera,
            t_s,
            trackIds: st.owner !== undefined ? [b.id, st.owner] : [b.id],
            bbox: b.box,
            duration_s: round(t_s - st.awaySince),
          });
        }
      } else if (attended || st.stoppedSince === undefined) st.awaySince = undefined;
    }

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
      const v = boxIou(last.box, p.box);
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

  private nearestPerson(box: readonly number[], persons: readonly Track[]): Track | undefined {
    let best: Track | undefined;
    let bestD = Infinity;
    for (const p of persons) {
      const d = dist(p.box, box);
      if (d <= this.rules.carryHeights * height(p.box) && d < bestD) {
        best = p;
        bestD = d;
      }
    }
    return best;
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

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
