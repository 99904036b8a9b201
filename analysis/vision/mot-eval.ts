// MOTChallenge evaluation of tracker output: file parsing, CLEAR-MOT, IDF1 and HOTA with the benchmark's conventions.
import { CustomsError } from '../../common/errors.js';
import { assign } from './assign.js';

/** A MOTChallenge line that is not what the format says; the message names the file, line and field. */
export class MotFormatError extends CustomsError {
  constructor(
    readonly file: string,
    readonly line: number,
    message: string,
  ) {
    super('E_MOT_FORMAT', `${file}:${line}: ${message}`);
  }
}

/** One box of a gt.txt, det.txt or tracker result file. `box` is x, y, w, h in pixels (top-left origin). */
export interface MotRow {
  frame: number;
  id: number;
  box: [x: number, y: number, w: number, h: number];
  /** gt: 0 marks a box to ignore, 1 to score; results and detections: the confidence. */
  conf: number;
  /** gt: the MOTChallenge class (1 pedestrian ...; -1 where the file has none: MOT15 puts world coordinates there); others: -1. */
  cls: number;
  /** gt: visibility 0..1 (1 where the file has none). */
  vis: number;
  /** 1-based line in the file, for messages. */
  line: number;
}

/** MOT16/17 class numbers. */
export const MOT_CLASS = {
  pedestrian: 1,
  personOnVehicle: 2,
  car: 3,
  bicycle: 4,
  motorbike: 5,
  nonMotorVehicle: 6,
  staticPerson: 7,
  distractor: 8,
  occluder: 9,
  occluderOnGround: 10,
  occluderFull: 11,
  reflection: 12,
} as const;

/** Classes whose boxes are ignore regions: a prediction on one of them is neither a hit nor a false positive. */
export const DISTRACTOR_CLASSES: readonly number[] = [MOT_CLASS.personOnVehicle, MOT_CLASS.staticPerson, MOT_CLASS.distractor, MOT_CLASS.reflection];

const FIELDS = ['frame', 'id', 'x', 'y', 'w', 'h', 'conf', 'class', 'visibility'] as const;

/**
 * Parses a MOTChallenge text file: `frame,id,x,y,w,h,conf,class,vis` (gt) or `frame,id,x,y,w,h,conf,-1,-1,-1`
 * (results; the last three are world coordinates there and are not read). Blank lines are skipped; separators may be
 * commas or whitespace, as older sequences use both. Detection files (`det`, id -1 on every line) may repeat an id in
 * a frame; gt and results may not.
 */
export function parseMot(text: string, opts: { file: string; kind: 'gt' | 'det' | 'pred' }): MotRow[] {
  const rows: MotRow[] = [];
  const seen = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const line = i + 1;
    const parts = raw.split(/\s*,\s*|\s+/);
    if (parts.length < 6) throw new MotFormatError(opts.file, line, `expected at least 6 comma-separated fields (frame,id,x,y,w,h), got ${parts.length}`);
    const num = (k: number): number => {
      const v = Number(parts[k]);
      if (parts[k] === '' || !Number.isFinite(v)) throw new MotFormatError(opts.file, line, `field ${k + 1} (${FIELDS[k]}): expected a number, got "${parts[k]}"`);
      return v;
    };
    const frame = num(0);
    if (!Number.isInteger(frame) || frame < 1) throw new MotFormatError(opts.file, line, `field 1 (frame): expected an integer ≥ 1, got "${parts[0]}"`);
    const id = num(1);
    if (!Number.isInteger(id)) throw new MotFormatError(opts.file, line, `field 2 (id): expected an integer, got "${parts[1]}"`);
    const x = num(2);
    const y = num(3);
    const w = num(4);
    const h = num(5);
    if (w < 0 || h < 0) throw new MotFormatError(opts.file, line, `fields 5-6 (w, h): expected non-negative sizes, got ${w} x ${h}`);
    const conf = parts.length > 6 ? num(6) : 1;
    const cls = opts.kind === 'gt' && parts.length > 7 ? num(7) : -1;
    const vis = opts.kind === 'gt' && parts.length > 8 ? num(8) : 1;
    if (opts.kind === 'gt' && conf !== 0 && conf !== 1 && parts.length > 7) {
      // MOT16/17 gt uses 0/1 here; anything else means a results file was passed as gt, or columns are shifted.
      throw new MotFormatError(opts.file, line, `field 7 (conf): ground truth marks boxes 0 (ignore) or 1 (score), got "${parts[6]}"`);
    }
    const key = `${frame}:${id}`;
    const prev = seen.get(key);
    if (prev !== undefined && opts.kind !== 'det') throw new MotFormatError(opts.file, line, `id ${id} appears twice in frame ${frame} (also line ${prev}); an id is one object`);
    seen.set(key, line);
    rows.push({ frame, id, box: [x, y, w, h], conf, cls, vis, line });
  }
  // MOT15 gt has world coordinates (x, y, z) where MOT16+ has class and visibility. One non-integer class or a
  // visibility outside 0..1 anywhere marks the file as that layout: its boxes are all pedestrians, fully visible.
  if (opts.kind === 'gt' && rows.some((r) => !Number.isInteger(r.cls) || r.vis < 0 || r.vis > 1)) {
    for (const r of rows) {
      r.cls = -1;
      r.vis = 1;
    }
  }
  return rows;
}

/** Writes rows as MOTChallenge result lines `frame,id,x,y,w,h,conf,-1,-1,-1`. */
export function formatMotResults(rows: readonly Pick<MotRow, 'frame' | 'id' | 'box' | 'conf'>[]): string {
  const f = (v: number): string => (Number.isInteger(v) ? String(v) : v.toFixed(2));
  return rows.map((r) => `${r.frame},${r.id},${f(r.box[0])},${f(r.box[1])},${f(r.box[2])},${f(r.box[3])},${r.conf.toFixed(3)},-1,-1,-1\n`).join('');
}

/** IoU of two x, y, w, h boxes (right edge x + w, as MOTChallenge's tools compute it). */
export function iouXywh(a: readonly number[], b: readonly number[]): number {
  const ix = Math.min(a[0]! + a[2]!, b[0]! + b[2]!) - Math.max(a[0]!, b[0]!);
  const iy = Math.min(a[1]! + a[3]!, b[1]! + b[3]!) - Math.max(a[1]!, b[1]!);
  if (ix <= 0 || iy <= 0) return 0;
  const inter = ix * iy;
  const union = a[2]! * a[3]! + b[2]! * b[3]! - inter;
  return union > 0 ? inter / union : 0;
}

const EPS = 1e-9;

/**
 * Pairs rows and columns so the summed score is largest; pairs scoring 0 are left out. A shift to costs `max - score`
 * over every pair (none forbidden) makes the min-cost assignment of assign.ts a max-weight matching: leaving a row
 * unmatched must cost the same as a zero-score pair, not more, or it would buy a second weak pair with a strong one.
 */
export function maxScoreMatching(score: readonly (readonly number[])[]): [number, number][] {
  if (score.length === 0 || score[0]!.length === 0) return [];
  let max = 0;
  for (const row of score) for (const v of row) if (v > max) max = v;
  if (max <= 0) return [];
  const cost = score.map((row) => row.map((v) => max - Math.max(0, v)));
  return assign(cost, Infinity).filter(([r, c]) => score[r]![c]! > EPS);
}

function iouMatrix(gt: readonly MotRow[], pred: readonly MotRow[]): number[][] {
  return gt.map((g) => pred.map((p) => iouXywh(g.box, p.box)));
}

/** One frame after the MOTChallenge preprocessing: the gt boxes scored and the predictions that count. */
export interface MotFrame {
  frame: number;
  gt: MotRow[];
  pred: MotRow[];
  /** Predictions dropped because they matched an ignore region (distractor class). */
  ignored: number;
}

export interface PreprocessOptions {
  /** Least IoU for a prediction to be taken by a distractor box (0.5). */
  iou?: number;
  /** Classes scored (pedestrian). A gt class ≤ 0 (sequences without classes, MOT15) is scored as pedestrian. */
  classes?: readonly number[];
  distractors?: readonly number[];
  /** Frames to evaluate (1..n); default the last frame either file mentions. */
  frames?: number;
}

/**
 * The benchmark's preprocessing, frame by frame: predictions are matched (Hungarian, IoU ≥ 0.5) against every gt box;
 * those taken by a distractor box (person on vehicle, static person, distractor, reflection) are removed; then only
 * gt boxes of the scored class marked 1 are kept. A prediction on a conf-0 pedestrian stays and counts as a false
 * positive, as in the official kit.
 */
export function preprocess(gt: readonly MotRow[], pred: readonly MotRow[], o: PreprocessOptions = {}): MotFrame[] {
  const thr = (o.iou ?? 0.5) - EPS;
  const scored = new Set(o.classes ?? [MOT_CLASS.pedestrian]);
  const distractors = new Set(o.distractors ?? DISTRACTOR_CLASSES);
  const byFrame = (rows: readonly MotRow[]): Map<number, MotRow[]> => {
    const m = new Map<number, MotRow[]>();
    for (const r of rows) {
      const a = m.get(r.frame);
      if (a) a.push(r);
      else m.set(r.frame, [r]);
    }
    return m;
  };
  const g = byFrame(gt);
  const p = byFrame(pred);
  let last = o.frames ?? 0;
  if (o.frames === undefined) for (const r of [...gt, ...pred]) last = Math.max(last, r.frame);
  const out: MotFrame[] = [];
  for (let f = 1; f <= last; f++) {
    const gAll = g.get(f) ?? [];
    let pf = p.get(f) ?? [];
    let ignored = 0;
    if (gAll.length > 0 && pf.length > 0) {
      const sim = iouMatrix(gAll, pf).map((row) => row.map((v) => (v >= thr ? v : 0)));
      const drop = new Set<number>();
      for (const [r, c] of maxScoreMatching(sim)) if (distractors.has(gAll[r]!.cls)) drop.add(c);
      ignored = drop.size;
      if (drop.size > 0) pf = pf.filter((_, i) => !drop.has(i));
    }
    const gf = gAll.filter((r) => r.conf !== 0 && (r.cls <= 0 || scored.has(r.cls)));
    out.push({ frame: f, gt: gf, pred: pf, ignored });
  }
  return out;
}

export interface ClearMot {
  mota: number;
  /** Mean IoU of the matched pairs (TrackEval's MOTP). */
  motp: number;
  tp: number;
  fp: number;
  fn: number;
  idsw: number;
  frag: number;
  /** Ground-truth identities tracked for more than 80 % / less than 20 % of their frames. */
  mt: number;
  pt: number;
  ml: number;
  gtIds: number;
  predIds: number;
  gtBoxes: number;
  predBoxes: number;
  /** Distinct predicted ids matched to each gt identity, averaged over the identities matched at least once (1 = one id each). */
  idsPerGt: number;
}

/**
 * CLEAR-MOT with the continuation rule: in each frame a pair that was matched in the previous frame keeps priority
 * (score 1000 + IoU), the rest are matched by IoU (≥ 0.5) with the Hungarian method. An id switch is a gt matched to
 * a different predicted id than the last it had; a fragment is a restart of tracking after a gap.
 */
export function clearMot(frames: readonly MotFrame[], o: { iou?: number } = {}): ClearMot {
  const thr = (o.iou ?? 0.5) - EPS;
  const prevTs = new Map<number, number>(); // gt id → predicted id matched in the previous frame
  const prevAny = new Map<number, number>(); // gt id → last predicted id ever matched
  const present = new Map<number, number>();
  const matched = new Map<number, number>();
  const segments = new Map<number, number>();
  const idsOf = new Map<number, Set<number>>();
  const predIds = new Set<number>();
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let idsw = 0;
  let iouSum = 0;
  let gtBoxes = 0;
  let predBoxes = 0;
  for (const fr of frames) {
    for (const r of fr.gt) present.set(r.id, (present.get(r.id) ?? 0) + 1);
    for (const r of fr.pred) predIds.add(r.id);
    gtBoxes += fr.gt.length;
    predBoxes += fr.pred.length;
    const sim = iouMatrix(fr.gt, fr.pred);
    const score = sim.map((row, i) => row.map((v, j) => (v >= thr ? v + (prevTs.get(fr.gt[i]!.id) === fr.pred[j]!.id ? 1000 : 0) : 0)));
    const pairs = maxScoreMatching(score);
    const now = new Map<number, number>();
    for (const [r, c] of pairs) {
      const gid = fr.gt[r]!.id;
      const pid = fr.pred[c]!.id;
      const last = prevAny.get(gid);
      if (last !== undefined && last !== pid) idsw++;
      prevAny.set(gid, pid);
      if (!prevTs.has(gid)) segments.set(gid, (segments.get(gid) ?? 0) + 1);
      now.set(gid, pid);
      matched.set(gid, (matched.get(gid) ?? 0) + 1);
      let s = idsOf.get(gid);
      if (!s) idsOf.set(gid, (s = new Set()));
      s.add(pid);
      iouSum += sim[r]![c]!;
    }
    tp += pairs.length;
    fn += fr.gt.length - pairs.length;
    fp += fr.pred.length - pairs.length;
    prevTs.clear();
    for (const [k, v] of now) prevTs.set(k, v);
  }
  let mt = 0;
  let ml = 0;
  for (const [id, n] of present) {
    const ratio = (matched.get(id) ?? 0) / n;
    if (ratio > 0.8) mt++;
    else if (ratio < 0.2) ml++;
  }
  let frag = 0;
  for (const n of segments.values()) frag += Math.max(0, n - 1);
  let idsSum = 0;
  for (const s of idsOf.values()) idsSum += s.size;
  return {
    mota: (tp - fp - idsw) / Math.max(1, tp + fn),
    motp: tp > 0 ? iouSum / tp : 0,
    tp,
    fp,
    fn,
    idsw,
    frag,
    mt,
    pt: present.size - mt - ml,
    ml,
    gtIds: present.size,
    predIds: predIds.size,
    gtBoxes,
    predBoxes,
    idsPerGt: idsOf.size > 0 ? idsSum / idsOf.size : 0,
  };
}

export interface IdentityScores {
  idf1: number;
  idp: number;
  idr: number;
  idtp: number;
  idfp: number;
  idfn: number;
}

/** Frames in which each gt id and predicted id overlap with IoU ≥ `thr`, and each id's number of boxes. */
function pairCounts(frames: readonly MotFrame[], weight: (fr: MotFrame, sim: number[][]) => number[][]) {
  const gIdx = new Map<number, number>();
  const pIdx = new Map<number, number>();
  for (const fr of frames) {
    for (const r of fr.gt) if (!gIdx.has(r.id)) gIdx.set(r.id, gIdx.size);
    for (const r of fr.pred) if (!pIdx.has(r.id)) pIdx.set(r.id, pIdx.size);
  }
  const counts = Array.from({ length: gIdx.size }, () => new Float64Array(pIdx.size));
  const gCount = new Float64Array(gIdx.size);
  const pCount = new Float64Array(pIdx.size);
  for (const fr of frames) {
    for (const r of fr.gt) gCount[gIdx.get(r.id)!]! += 1;
    for (const r of fr.pred) pCount[pIdx.get(r.id)!]! += 1;
    if (fr.gt.length === 0 || fr.pred.length === 0) continue;
    const w = weight(fr, iouMatrix(fr.gt, fr.pred));
    for (let i = 0; i < fr.gt.length; i++) {
      const row = counts[gIdx.get(fr.gt[i]!.id)!]!;
      for (let j = 0; j < fr.pred.length; j++) {
        const v = w[i]![j]!;
        if (v > 0) row[pIdx.get(fr.pred[j]!.id)!]! += v;
      }
    }
  }
  return { gIdx, pIdx, counts, gCount, pCount };
}

/**
 * IDF1: one global one-to-one pairing of gt identities with predicted identities that maximises the frames in which
 * paired ids overlap (IoU ≥ 0.5); every other box is an identity false positive or negative.
 */
export function identityScores(frames: readonly MotFrame[], o: { iou?: number } = {}): IdentityScores {
  const thr = (o.iou ?? 0.5) - EPS;
  const { counts, gCount, pCount } = pairCounts(frames, (_fr, sim) => sim.map((row) => row.map((v) => (v >= thr ? 1 : 0))));
  const idtp = maxScoreMatching(counts.map((r) => [...r])).reduce((s, [r, c]) => s + counts[r]![c]!, 0);
  const nGt = gCount.reduce((a, b) => a + b, 0);
  const nPred = pCount.reduce((a, b) => a + b, 0);
  const idfn = nGt - idtp;
  const idfp = nPred - idtp;
  return {
    idf1: idtp / Math.max(1, idtp + 0.5 * idfp + 0.5 * idfn),
    idp: idtp / Math.max(1, idtp + idfp),
    idr: idtp / Math.max(1, idtp + idfn),
    idtp,
    idfp,
    idfn,
  };
}

export interface HotaScores {
  /** Means over the localisation thresholds alpha = 0.05, 0.10 ... 0.95. */
  hota: number;
  detA: number;
  assA: number;
  locA: number;
  /** HOTA at alpha = 0.5, for comparison with the IoU-0.5 metrics. */
  hota50: number;
  alphas: number[];
  hotaPerAlpha: number[];
}

export const HOTA_ALPHAS: readonly number[] = Array.from({ length: 19 }, (_, i) => Math.round((0.05 + 0.05 * i) * 100) / 100);

/**
 * HOTA (Luiten et al. 2021): per frame, boxes are matched by a score that weighs IoU with how well the two ids align
 * over the whole sequence; for each alpha, matched pairs with IoU ≥ alpha are detection true positives and feed the
 * association accuracy of their id pair. HOTA(alpha) = sqrt(DetA · AssA), averaged over the alphas.
 */
export function hotaScores(frames: readonly MotFrame[]): HotaScores {
  // First pass: a soft count of how much each gt/pred id pair overlaps, for the global alignment score.
  const soft = pairCounts(frames, (_fr, sim) => {
    const rowSum = sim.map((r) => r.reduce((a, b) => a + b, 0));
    const colSum = sim[0]!.map((_, j) => sim.reduce((a, r) => a + r[j]!, 0));
    return sim.map((r, i) => r.map((v, j) => {
      const denom = rowSum[i]! + colSum[j]! - v;
      return denom > EPS ? v / denom : 0;
    }));
  });
  const { gIdx, pIdx, gCount, pCount } = soft;
  const align = soft.counts.map((row, i) => Array.from(row, (v, j) => v / (gCount[i]! + pCount[j]! - v)));
  const A = HOTA_ALPHAS.length;
  const tp = new Float64Array(A);
  const fn = new Float64Array(A);
  const fp = new Float64Array(A);
  const loc = new Float64Array(A);
  const matches = Array.from({ length: A }, () => new Map<number, number>()); // key gi * P + pj → frames
  const P = Math.max(1, pIdx.size);
  for (const fr of frames) {
    if (fr.gt.length === 0 || fr.pred.length === 0) {
      for (let a = 0; a < A; a++) {
        fn[a]! += fr.gt.length;
        fp[a]! += fr.pred.length;
      }
      continue;
    }
    const sim = iouMatrix(fr.gt, fr.pred);
    const gi = fr.gt.map((r) => gIdx.get(r.id)!);
    const pj = fr.pred.map((r) => pIdx.get(r.id)!);
    const pairs = maxScoreMatching(sim.map((row, i) => row.map((v, j) => v * align[gi[i]!]![pj[j]!]!)));
    for (let a = 0; a < A; a++) {
      let n = 0;
      for (const [r, c] of pairs) {
        const s = sim[r]![c]!;
        if (s < HOTA_ALPHAS[a]! - EPS) continue;
        n++;
        loc[a]! += s;
        const key = gi[r]! * P + pj[c]!;
        matches[a]!.set(key, (matches[a]!.get(key) ?? 0) + 1);
      }
      tp[a]! += n;
      fn[a]! += fr.gt.length - n;
      fp[a]! += fr.pred.length - n;
    }
  }
  const hotaA: number[] = [];
  let detSum = 0;
  let assSum = 0;
  let locSum = 0;
  for (let a = 0; a < A; a++) {
    let ass = 0;
    for (const [key, m] of matches[a]!) {
      const g = Math.floor(key / P);
      const p = key % P;
      ass += (m * m) / Math.max(1, gCount[g]! + pCount[p]! - m);
    }
    const assA = ass / Math.max(1, tp[a]!);
    const detA = tp[a]! / Math.max(1, tp[a]! + fn[a]! + fp[a]!);
    const locA = Math.max(1e-10, loc[a]!) / Math.max(1e-10, tp[a]!);
    hotaA.push(Math.sqrt(detA * assA));
    detSum += detA;
    assSum += assA;
    locSum += locA;
  }
  return {
    hota: hotaA.reduce((x, y) => x + y, 0) / A,
    detA: detSum / A,
    assA: assSum / A,
    locA: locSum / A,
    hota50: hotaA[HOTA_ALPHAS.indexOf(0.5)]!,
    alphas: [...HOTA_ALPHAS],
    hotaPerAlpha: hotaA,
  };
}

export interface MotEvaluation {
  clear: ClearMot;
  identity: IdentityScores;
  hota: HotaScores;
  frames: number;
  /** Predictions dropped on ignore regions (distractor classes). */
  ignoredPredictions: number;
}

/** Every score of one sequence, after the benchmark's preprocessing. */
export function evaluateMot(gt: readonly MotRow[], pred: readonly MotRow[], o: PreprocessOptions = {}): MotEvaluation {
  const frames = preprocess(gt, pred, o);
  const iou = o.iou !== undefined ? { iou: o.iou } : {};
  return {
    clear: clearMot(frames, iou),
    identity: identityScores(frames, iou),
    hota: hotaScores(frames),
    frames: frames.length,
    ignoredPredictions: frames.reduce((s, f) => s + f.ignored, 0),
  };
}
