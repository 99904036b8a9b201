// Tracking and event quality against synthetic ground truth: CLEAR MOT (MOTA, identity switches) and event
// precision/recall.
import { assign, boxIou } from './assign.js';
import type { CameraEvent } from './events.js';
import type { FrameTruth, TruthEvent } from './scene.js';
import type { Track } from './tracker.js';

export interface MotResult {
  mota: number;
  motp_iou: number;
  idSwitches: number;
  falsePositives: number;
  misses: number;
  matches: number;
  groundTruth: number;
  /** Ground-truth tracks covered ≥ 80 % of their life (mostly tracked) out of all. */
  mostlyTracked: number;
  gtTracks: number;
}

/**
 * CLEAR MOT over frames. Truth objects less visible than `minVisibility` are ignored (neither a miss nor, when a
 * track covers them, a false positive), as MOT17 does with heavily occluded people.
 */
export function clearMot(truth: readonly FrameTruth[], tracks: ReadonlyMap<number, readonly Track[]>, opts: { iou?: number; minVisibility?: number } = {}): MotResult {
  const thr = opts.iou ?? 0.5;
  const minVis = opts.minVisibility ?? 0.3;
  let fp = 0;
  let fn = 0;
  let idsw = 0;
  let matches = 0;
  let gtCount = 0;
  let iouSum = 0;
  const lastMatch = new Map<number, number>(); // gt id → track id
  const covered = new Map<number, { seen: number; hit: number }>();
  for (const fr of truth) {
    const hyps = tracks.get(fr.frame) ?? [];
    const gts = fr.objects;
    const cost = gts.map((g) => hyps.map((h) => (h.cls === g.cls ? 1 - boxIou(g.box, h.box) : Infinity)));
    // Keep last frame's pairs when they still overlap enough, as CLEAR MOT prescribes, before the global match.
    for (let i = 0; i < gts.length; i++) {
      const prev = lastMatch.get(gts[i]!.id);
      if (prev === undefined) continue;
      for (let j = 0; j < hyps.length; j++) if (hyps[j]!.id === prev && cost[i]![j]! <= 1 - thr) cost[i]![j] = cost[i]![j]! - 10;
    }
    const pairs = assign(cost, 1 - thr);
    const gMatched = new Set<number>();
    const hMatched = new Set<number>();
    for (const [i, j] of pairs) {
      const g = gts[i]!;
      const h = hyps[j]!;
      gMatched.add(i);
      hMatched.add(j);
      const vis = g.visibility >= minVis;
      if (!vis) continue;
      const prev = lastMatch.get(g.id);
      if (prev !== undefined && prev !== h.id) idsw++;
      lastMatch.set(g.id, h.id);
      matches++;
      iouSum += boxIou(g.box, h.box);
    }
    for (let i = 0; i < gts.length; i++) {
      const g = gts[i]!;
      if (g.visibility < minVis) continue;
      gtCount++;
      const c = covered.get(g.id) ?? { seen: 0, hit: 0 };
      c.seen++;
      if (gMatched.has(i)) c.hit++;
      else fn++;
      covered.set(g.id, c);
    }
    for (let j = 0; j < hyps.length; j++) if (!hMatched.has(j)) fp++;
  }
  const mt = [...covered.values()].filter((c) => c.hit >= 0.8 * c.seen).length;
  return {
    mota: gtCount ? 1 - (fn + fp + idsw) / gtCount : 0,
    motp_iou: matches ? iouSum / matches : 0,
    idSwitches: idsw,
    falsePositives: fp,
    misses: fn,
    matches,
    groundTruth: gtCount,
    mostlyTracked: mt,
    gtTracks: covered.size,
  };
}

export interface EventScore {
  precision: number;
  recall: number;
  truePositives: number;
  falsePositives: number;
  falseNegatives: number;
  /** Per truth event: matched or not, and the time error (s). */
  details: { type: string; time_s: number; matched: boolean; dt_s?: number }[];
}

/**
 * An event is right when its type matches a truth event's, its time is within [-early_s, +late_s] of it, and its box
 * overlaps the truth box of the event's main object (IoU ≥ 0.3) at the event's frame. Each truth event counts once.
 */
export function scoreEvents(
  events: readonly CameraEvent[],
  truthEvents: readonly TruthEvent[],
  truth: readonly FrameTruth[],
  fps: number,
  opts: { early_s?: number; late_s?: number } = {},
): EventScore {
  const early = opts.early_s ?? 5;
  const late = opts.late_s ?? 8;
  const used = new Set<number>();
  let tp = 0;
  const details: EventScore['details'] = truthEvents.map((e) => ({ type: e.type, time_s: e.time_s, matched: false }));
  for (const ev of events) {
    let hit = -1;
    for (let k = 0; k < truthEvents.length; k++) {
      const te = truthEvents[k]!;
      if (used.has(k) || te.type !== ev.type) continue;
      if (ev.t_s < te.time_s - early || ev.t_s > te.time_s + late) continue;
      const fr = truth[Math.round(ev.t_s * fps)];
      const obj = fr?.objects.find((o) => o.id === te.ids[0]);
      if (!obj || boxIou(obj.box, ev.bbox) < 0.3) continue;
      hit = k;
      break;
    }
    if (hit >= 0) {
      used.add(hit);
      tp++;
      details[hit]!.matched = true;
      details[hit]!.dt_s = Math.round((ev.t_s - truthEvents[hit]!.time_s) * 10) / 10;
    }
  }
  const fpN = events.length - tp;
  const fnN = truthEvents.length - tp;
  return { precision: events.length ? tp / events.length : 1, recall: truthEvents.length ? tp / truthEvents.length : 1, truePositives: tp, falsePositives: fpN, falseNegatives: fnN, details };
}

/** Truth boxes of a frame as tracks (perfect tracking), to check the event rules on their own. */
export function truthTracks(fr: FrameTruth, minVisibility = 0.3): Track[] {
  return fr.objects
    .filter((o) => o.visibility >= minVisibility)
    .map((o) => ({ id: o.id, cls: o.cls, box: [...o.box] as [number, number, number, number], score: 1, hits: 1, lost_s: 0, born_s: 0 }));
}
