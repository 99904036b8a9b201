// MOTChallenge evaluation (CLEAR-MOT, IDF1, HOTA) against small cases worked out by hand in the comments.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { evaluateMot, formatMotResults, maxScoreMatching, MotFormatError, parseMot, type MotRow } from '../../analysis/vision/mot-eval.js';

/** A 10x10 box whose left edge is at x: boxes 20 px apart never overlap, the same x gives IoU 1. */
const at = (x: number, y = 0, w = 10, h = 10): [number, number, number, number] => [x, y, w, h];
let line = 0;
const g = (frame: number, id: number, box: [number, number, number, number], cls = 1, conf = 1): MotRow => ({ frame, id, box, conf, cls, vis: 1, line: ++line });
const p = (frame: number, id: number, box: [number, number, number, number]): MotRow => ({ frame, id, box, conf: 0.9, cls: -1, vis: 1, line: ++line });
const close = (t: { ok: (v: boolean, m: string) => unknown }, got: number, want: number, msg: string) => t.ok(Math.abs(got - want) < 1e-9, `${msg}: ${got} ≈ ${want}`);

t.test('perfect tracks: every score is 1', async (t) => {
  // Two people for 3 frames, predicted exactly under other ids (7, 8): 6 TP, nothing else; every id pair aligns fully.
  const gt = [1, 2, 3].flatMap((f) => [g(f, 1, at(0)), g(f, 2, at(40))]);
  const pred = [1, 2, 3].flatMap((f) => [p(f, 7, at(0)), p(f, 8, at(40))]);
  const r = evaluateMot(gt, pred);
  t.equal(r.clear.tp, 6);
  t.equal(r.clear.fp + r.clear.fn + r.clear.idsw + r.clear.frag, 0);
  t.equal(r.clear.mota, 1);
  t.equal(r.clear.motp, 1);
  t.equal(r.clear.mt, 2);
  t.equal(r.clear.idsPerGt, 1);
  t.equal(r.identity.idf1, 1);
  close(t, r.hota.hota, 1, 'HOTA');
  close(t, r.hota.detA, 1, 'DetA');
  close(t, r.hota.assA, 1, 'AssA');
  close(t, r.hota.locA, 1, 'LocA');
});

t.test('a swap: two id switches, IDF1 and AssA halved or worse', async (t) => {
  // gt 1 at x=0 and gt 2 at x=40 for 4 frames. Pred 10 is on gt 1 in frames 1-2 and on gt 2 in frames 3-4; pred 20
  // the other way round. CLEAR: 8 TP, in frame 3 both gt ids change predicted id → IDSW 2; MOTA = (8-0-2)/8 = 0.75.
  // IDF1: every gt/pred pair overlaps 2 frames; the best one-to-one pairing (1-10, 2-20) keeps 4 of 8 boxes:
  // IDTP 4, IDFP 4, IDFN 4 → IDF1 = 4 / (4 + 2 + 2) = 0.5.
  // HOTA: all 8 boxes are matched at every alpha → DetA 1. Each pair has 2 matches, gt 4 boxes, pred 4 boxes:
  // A = 2 / (4 + 4 - 2) = 1/3 for every match → AssA = 1/3, HOTA = sqrt(1/3) = 0.5774.
  const gt = [1, 2, 3, 4].flatMap((f) => [g(f, 1, at(0)), g(f, 2, at(40))]);
  const pred = [1, 2, 3, 4].flatMap((f) => (f <= 2 ? [p(f, 10, at(0)), p(f, 20, at(40))] : [p(f, 10, at(40)), p(f, 20, at(0))]));
  const r = evaluateMot(gt, pred);
  t.equal(r.clear.tp, 8);
  t.equal(r.clear.idsw, 2);
  t.equal(r.clear.mota, 0.75);
  t.equal(r.clear.idsPerGt, 2, 'each true identity saw two predicted ids');
  t.equal(r.identity.idtp, 4);
  t.equal(r.identity.idf1, 0.5);
  close(t, r.hota.detA, 1, 'DetA');
  close(t, r.hota.assA, 1 / 3, 'AssA');
  close(t, r.hota.hota, Math.sqrt(1 / 3), 'HOTA');
});

t.test('a miss: one frame lost, same id after it', async (t) => {
  // gt 1 for 4 frames; pred 5 in frames 1, 2, 4. CLEAR: TP 3, FN 1, no switch (frame 4 finds id 5 again), one
  // fragment (two tracked runs); MOTA = 3/4. Tracked 3/4 of its life: partly tracked (MT needs > 80 %).
  // IDF1: IDTP 3, IDFN 1, IDFP 0 → 3 / (3 + 0.5) = 6/7; IDR 0.75, IDP 1.
  // HOTA: DetA = 3 / (3 + 1 + 0) = 0.75; the one pair has 3 matches, gt 4 boxes, pred 3: A = 3 / (4 + 3 - 3) = 0.75
  // → AssA 0.75, HOTA = sqrt(0.75 · 0.75) = 0.75.
  const gt = [1, 2, 3, 4].map((f) => g(f, 1, at(0)));
  const pred = [1, 2, 4].map((f) => p(f, 5, at(0)));
  const r = evaluateMot(gt, pred);
  t.same([r.clear.tp, r.clear.fn, r.clear.fp, r.clear.idsw, r.clear.frag], [3, 1, 0, 0, 1]);
  t.equal(r.clear.mota, 0.75);
  t.same([r.clear.mt, r.clear.pt, r.clear.ml], [0, 1, 0]);
  close(t, r.identity.idf1, 6 / 7, 'IDF1');
  t.equal(r.identity.idr, 0.75);
  t.equal(r.identity.idp, 1);
  close(t, r.hota.detA, 0.75, 'DetA');
  close(t, r.hota.assA, 0.75, 'AssA');
  close(t, r.hota.hota, 0.75, 'HOTA');
});

t.test('a false positive track', async (t) => {
  // gt 1 for 4 frames, pred 5 on it every frame, and pred 9 on empty floor in frames 1-2.
  // CLEAR: TP 4, FP 2 → MOTA = (4 - 2) / 4 = 0.5. IDF1: IDTP 4, IDFP 2 → 4 / (4 + 1) = 0.8, IDP 4/6.
  // HOTA: DetA = 4 / (4 + 0 + 2) = 2/3, AssA 1 (4 matches, 4 gt boxes, 4 pred boxes) → HOTA = sqrt(2/3) = 0.8165.
  const gt = [1, 2, 3, 4].map((f) => g(f, 1, at(0)));
  const pred = [...[1, 2, 3, 4].map((f) => p(f, 5, at(0))), p(1, 9, at(100)), p(2, 9, at(100))];
  const r = evaluateMot(gt, pred);
  t.same([r.clear.tp, r.clear.fp, r.clear.fn], [4, 2, 0]);
  t.equal(r.clear.mota, 0.5);
  t.equal(r.identity.idf1, 0.8);
  close(t, r.identity.idp, 4 / 6, 'IDP');
  close(t, r.hota.detA, 2 / 3, 'DetA');
  close(t, r.hota.assA, 1, 'AssA');
  close(t, r.hota.hota, Math.sqrt(2 / 3), 'HOTA');
});

t.test('an ignore region: a prediction on a static person is dropped, one on a car or beside the person is not', async (t) => {
  // Frame 1: pedestrian gt 1 at x=0 (pred 5 on it); static person gt 2 (class 7, conf 0) at x=100 with pred 9 exactly
  // on it and pred 11 shifted 5 px (IoU 50/150 = 1/3 < 0.5); a car gt 4 (class 3, conf 0) at x=200 with pred 12 on it.
  // Frame 2: gt 1 + pred 5, gt 2 + pred 9. Preprocessing matches every pred to every gt box: pred 9 goes (twice, it
  // is on a distractor), pred 12 stays (cars are not ignore regions), pred 11 stays (too little overlap).
  // Scored: gt 1 twice. CLEAR: TP 2, FP 2 (11 and 12) → MOTA = (2 - 2) / 2 = 0 (without the ignore region FP 4, -1).
  // IDF1: IDTP 2, IDFP 2 → 2 / (2 + 1) = 2/3. HOTA: DetA = 2 / (2 + 2) = 0.5, AssA 1 → sqrt(0.5).
  const gt = [g(1, 1, at(0)), g(1, 2, at(100), 7, 0), g(1, 4, at(200), 3, 0), g(2, 1, at(0)), g(2, 2, at(100), 7, 0)];
  const pred = [p(1, 5, at(0)), p(1, 9, at(100)), p(1, 11, at(105)), p(1, 12, at(200)), p(2, 5, at(0)), p(2, 9, at(100))];
  const r = evaluateMot(gt, pred);
  t.equal(r.ignoredPredictions, 2);
  t.same([r.clear.tp, r.clear.fp, r.clear.fn], [2, 2, 0]);
  t.equal(r.clear.mota, 0);
  t.equal(r.clear.gtIds, 1, 'the static person and the car are not scored');
  close(t, r.identity.idf1, 2 / 3, 'IDF1');
  close(t, r.hota.detA, 0.5, 'DetA');
  close(t, r.hota.hota, Math.sqrt(0.5), 'HOTA');
  // The same without class 7 as an ignore region: pred 9 becomes two more false positives.
  const strict = evaluateMot(gt, pred, { distractors: [] });
  t.equal(strict.clear.fp, 4);
  t.equal(strict.clear.mota, -1);
});

t.test('a fragmented track: lost for a frame, found again under a new id', async (t) => {
  // gt 1 for 6 frames; pred 5 in frames 1-2, nothing in 3, pred 6 in frames 4-6.
  // CLEAR: TP 5, FN 1, IDSW 1 (frame 4: last id 5, now 6), Frag 1 → MOTA = (5 - 0 - 1) / 6 = 2/3.
  // IDF1: overlaps 1-5: 2 frames, 1-6: 3 frames; best pairing 1-6 → IDTP 3, IDFN 6 - 3 = 3, IDFP 5 - 3 = 2:
  // IDF1 = 3 / (3 + 1.5 + 1) = 6/11, IDP 0.6, IDR 0.5.
  // HOTA: DetA = 5 / 6. A(1-5) = 2 / (6 + 2 - 2) = 1/3 for 2 matches, A(1-6) = 3 / (6 + 3 - 3) = 1/2 for 3 matches:
  // AssA = (2/3 + 3/2) / 5 = 13/30, HOTA = sqrt(5/6 · 13/30) = sqrt(13/36).
  const gt = [1, 2, 3, 4, 5, 6].map((f) => g(f, 1, at(0)));
  const pred = [p(1, 5, at(0)), p(2, 5, at(0)), p(4, 6, at(0)), p(5, 6, at(0)), p(6, 6, at(0))];
  const r = evaluateMot(gt, pred);
  t.same([r.clear.tp, r.clear.fn, r.clear.idsw, r.clear.frag], [5, 1, 1, 1]);
  close(t, r.clear.mota, 2 / 3, 'MOTA');
  close(t, r.identity.idf1, 6 / 11, 'IDF1');
  close(t, r.identity.idp, 0.6, 'IDP');
  close(t, r.identity.idr, 0.5, 'IDR');
  close(t, r.hota.detA, 5 / 6, 'DetA');
  close(t, r.hota.assA, 13 / 30, 'AssA');
  close(t, r.hota.hota, Math.sqrt(13 / 36), 'HOTA');
});

t.test('the previous-frame rule keeps a match that still overlaps 0.5, even against a better box', async (t) => {
  // gt 1 at x=0 in frames 1-2. Frame 1: pred 5 exact. Frame 2: pred 5 shifted 2 px (IoU 80/120 = 2/3) and pred 6
  // exact. IoU alone would take 6 (an id switch); the continuation rule keeps 5: TP 2, FP 1, IDSW 0 → MOTA 0.5,
  // MOTP = (1 + 2/3) / 2 = 5/6.
  const gt = [g(1, 1, at(0)), g(2, 1, at(0))];
  const pred = [p(1, 5, at(0)), p(2, 5, at(2)), p(2, 6, at(0))];
  const r = evaluateMot(gt, pred);
  t.same([r.clear.tp, r.clear.fp, r.clear.idsw], [2, 1, 0]);
  t.equal(r.clear.mota, 0.5);
  close(t, r.clear.motp, 5 / 6, 'MOTP');
});

t.test('HOTA averages over alpha: a box at IoU 0.6 is a hit up to alpha 0.6 only', async (t) => {
  // One frame, gt [0,0,10,10], pred [0,0,10,6] (IoU 0.6). Alphas 0.05..0.60 (12 of 19): DetA = AssA = 1, HOTA 1;
  // alphas 0.65..0.95 (7): TP 0, FN 1, FP 1, HOTA 0. HOTA = 12/19; DetA = 12/19; LocA = (12 · 0.6 + 7 · 1) / 19
  // (TrackEval counts LocA as 1 where nothing matched). CLEAR at IoU 0.5: one TP, MOTA 1, MOTP 0.6.
  const r = evaluateMot([g(1, 1, at(0))], [p(1, 3, [0, 0, 10, 6])]);
  close(t, r.hota.hota, 12 / 19, 'HOTA');
  close(t, r.hota.detA, 12 / 19, 'DetA');
  close(t, r.hota.locA, (12 * 0.6 + 7) / 19, 'LocA');
  t.equal(r.hota.hota50, 1);
  t.equal(r.clear.mota, 1);
  close(t, r.clear.motp, 0.6, 'MOTP');
});

t.test('max-score matching leaves a row out rather than trade a strong pair for two weak ones', async (t) => {
  t.same(maxScoreMatching([[1001, 0.6], [0.6, 0]]), [[0, 0]]);
  t.same(maxScoreMatching([[0.9, 0.8], [0.85, 0]]), [[0, 1], [1, 0]], '0.8 + 0.85 beats 0.9');
  t.same(maxScoreMatching([[0, 0]]), []);
});

t.test('parsing gt and results, and errors naming file, line and field', async (t) => {
  const gt = parseMot('1,1,10,20,30,40,1,1,0.75\n\n2,1,11,20,30,40,0,7,1\n', { file: 'gt.txt', kind: 'gt' });
  t.same(gt.map((r) => [r.frame, r.id, r.box, r.conf, r.cls, r.vis, r.line]), [
    [1, 1, [10, 20, 30, 40], 1, 1, 0.75, 1],
    [2, 1, [11, 20, 30, 40], 0, 7, 1, 3],
  ]);
  const pred = parseMot('1,3,10.5,20,30,40,0.91,-1,-1,-1\n', { file: 'mot.txt', kind: 'pred' });
  t.same([pred[0]!.box, pred[0]!.conf, pred[0]!.cls], [[10.5, 20, 30, 40], 0.91, -1]);
  t.equal(formatMotResults(pred), '1,3,10.50,20,30,40,0.910,-1,-1,-1\n', 'written back in the result format');
  const fail = (text: string, kind: 'gt' | 'pred', re: RegExp) => {
    let err: unknown;
    try {
      parseMot(text, { file: 'x.txt', kind });
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof MotFormatError && err.code === 'E_MOT_FORMAT' && re.test(err.message), `${String(re)}: ${String(err)}`);
  };
  fail('1,1,10,20,30\n', 'pred', /^x\.txt:1: expected at least 6/);
  fail('1,1,10,20,30,40\n1,1,a,20,30,40\n', 'pred', /^x\.txt:2: field 3 \(x\): expected a number, got "a"/);
  fail('0,1,10,20,30,40\n', 'pred', /^x\.txt:1: field 1 \(frame\)/);
  fail('1,1,10,20,30,40\n1,1,10,20,30,40\n', 'pred', /^x\.txt:2: id 1 appears twice in frame 1 \(also line 1\)/);
  fail('1,1,10,20,30,40,0.8,1,1\n', 'gt', /^x\.txt:1: field 7 \(conf\): ground truth marks boxes 0 \(ignore\) or 1/);
  fail('1,1,10,20,-3,40\n', 'pred', /fields 5-6 \(w, h\)/);
  t.equal(parseMot('1,-1,1,2,3,4,0.9\n1,-1,5,6,7,8,0.8\n', { file: 'det.txt', kind: 'det' }).length, 2, 'detections may repeat id -1');
  // MOT15 gt: world coordinates where MOT16+ has class and visibility; one non-integer marks the whole file.
  const mot15 = parseMot('1,1,88,99,61,218,1,4,5,0\n1,2,181,95,75,227,1,4.4091,4.4283,0\n', { file: 'gt.txt', kind: 'gt' });
  t.same(mot15.map((r) => [r.cls, r.vis]), [[-1, 1], [-1, 1]], 'both rows scored as pedestrians');
});

// py-motmetrics (MIT) scores a tracker result on two MOT15 sequences in its own tests (motmetrics/tests/test_metrics.py,
// test_motchallenge_files): IDF1, IDP, IDR, MT, PT, ML, FP, FN, IDSW, Frag, MOTA and MOTP (as 1 - IoU). An independent
// implementation must agree. The files are public data we do not commit: scripts/fetch-mot.sh puts them in MOT_DIR.
const MOT_DIR = process.env.MOT_DIR ?? '/tmp/mot';
const PY_MOTMETRICS: Record<string, { idf1: number; idp: number; idr: number; mt: number; pt: number; ml: number; fp: number; fn: number; idsw: number; frag: number; mota: number; motp: number }> = {
  'TUD-Campus': { idf1: 0.557659, idp: 0.72973, idr: 0.451253, mt: 1, pt: 6, ml: 1, fp: 13, fn: 150, idsw: 7, frag: 7, mota: 0.526462, motp: 1 - 0.277201 },
  'TUD-Stadtmitte': { idf1: 0.644619, idp: 0.81976, idr: 0.531142, mt: 5, pt: 4, ml: 1, fp: 45, fn: 452, idsw: 7, frag: 6, mota: 0.564014, motp: 1 - 0.345904 },
};
for (const [seq, want] of Object.entries(PY_MOTMETRICS)) {
  const gtFile = join(MOT_DIR, seq, 'gt', 'gt.txt');
  const predFile = join(MOT_DIR, seq, 'ref', 'py-motmetrics-test.txt');
  const have = existsSync(gtFile) && existsSync(predFile);
  t.test(`${seq}: the same scores as py-motmetrics`, { skip: have ? false : `run scripts/fetch-mot.sh first (${gtFile} not found)` }, async (t) => {
    const r = evaluateMot(parseMot(readFileSync(gtFile, 'utf8'), { file: gtFile, kind: 'gt' }), parseMot(readFileSync(predFile, 'utf8'), { file: predFile, kind: 'pred' }));
    const c = r.clear;
    t.same([c.mt, c.pt, c.ml, c.fp, c.fn, c.idsw, c.frag], [want.mt, want.pt, want.ml, want.fp, want.fn, want.idsw, want.frag], 'MT PT ML FP FN IDSW Frag');
    for (const [k, got] of [['mota', c.mota], ['motp', c.motp], ['idf1', r.identity.idf1], ['idp', r.identity.idp], ['idr', r.identity.idr]] as const) {
      t.ok(Math.abs(got - want[k]) < 1e-3, `${k} ${got.toFixed(6)} vs ${want[k]}`);
    }
  });
}
