// ByteTrack-style tracker and the assignment it rests on: constant motion, crossing paths, short occlusions.
import t from 'tap';
import { assign, boxIou } from '../../analysis/vision/assign.js';
import { ByteTracker, type TrackInput } from '../../analysis/vision/tracker.js';

const box = (cx: number, cy: number, w = 20, h = 50): [number, number, number, number] => [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
const person = (cx: number, cy: number, score = 0.9): TrackInput => ({ box: box(cx, cy), score, cls: 'person' });

t.test('assignment finds the least total cost, respects the limit and works on rectangles', async (t) => {
  // Greedy would take (0,0)=1 then (1,1)=10; the optimum is (0,1)+(1,0)=2+2.
  t.same(assign([[1, 2], [2, 10]], 100), [[0, 1], [1, 0]]);
  t.same(assign([[0.9, 0.1]], 0.5), [[0, 1]], 'over-limit pairs dropped');
  t.same(assign([[Infinity], [0.2], [0.3]], 1), [[1, 0]], 'more rows than columns; Infinity is forbidden');
  t.same(assign([], 1), []);
  t.equal(boxIou([0, 0, 10, 10], [5, 0, 15, 10]), 1 / 3);
});

t.test('constant motion: one id, the filter predicts the velocity', async (t) => {
  const tr = new ByteTracker();
  const ids = new Set<number>();
  let last: [number, number, number, number] | undefined;
  for (let f = 0; f < 40; f++) {
    const out = tr.update([person(50 + 5 * f, 100)], f / 10);
    if (f >= 1) t.equal(out.length, 1, `frame ${f}: one track`);
    for (const o of out) {
      ids.add(o.id);
      last = o.box;
    }
  }
  t.equal(ids.size, 1, 'one id for the whole walk');
  t.ok(last && Math.abs((last[0] + last[2]) / 2 - (50 + 5 * 39)) < 3, 'filtered box follows the detections');
  // Predict through 3 missing frames then re-detect where constant velocity puts it: same id.
  for (let f = 40; f < 43; f++) t.same(tr.update([], f / 10), [], 'nothing reported while unseen');
  const back = tr.update([person(50 + 5 * 43, 100)], 4.3);
  t.same(back.map((o) => o.id), [...ids], 'found again with its id after a gap it predicted through');
});

t.test('two people crossing keep their ids', async (t) => {
  const tr = new ByteTracker();
  const idOfLeft = new Set<number>();
  const idOfRight = new Set<number>();
  for (let f = 0; f < 60; f++) {
    const a = person(20 + 4 * f, 100);
    const b = person(260 - 4 * f, 108);
    // Near the crossing the one behind is partly hidden: a weak detection (second stage) or none.
    const behind = Math.abs(a.box[0] - b.box[0]) < 12;
    const dets = behind ? [a, { ...b, score: f % 2 ? 0.3 : 0.05 }] : [a, b];
    for (const o of tr.update(dets, f / 10)) {
      // The walkers are on different rows (y 100 and 108): the row says which truth a track is.
      const cy = (o.box[1] + o.box[3]) / 2;
      if (cy < 104) idOfLeft.add(o.id);
      else idOfRight.add(o.id);
    }
  }
  t.equal(idOfLeft.size, 1, 'walker from the left: one id');
  t.equal(idOfRight.size, 1, 'walker from the right: one id');
  t.not([...idOfLeft][0], [...idOfRight][0], 'and they differ');
});

t.test('a standing bag hidden for 2 s by a passer-by keeps its id; after the hold it is a new track', async (t) => {
  const tr = new ByteTracker({ hold_s: 3 });
  const bag: TrackInput = { box: [200, 200, 230, 235], score: 0.8, cls: 'bag' };
  let id: number | undefined;
  for (let f = 0; f < 10; f++) for (const o of tr.update([bag], f / 10)) id = o.id;
  t.ok(id !== undefined, 'bag tracked');
  for (let f = 10; f < 30; f++) tr.update([person(150 + 5 * f, 200)], f / 10);
  const again = tr.update([bag], 3.0);
  t.same(again.filter((o) => o.cls === 'bag').map((o) => o.id), [id], 'same id after the occlusion');
  for (let f = 31; f < 80; f++) tr.update([], f / 10);
  tr.update([bag], 8.0);
  const fresh = tr.update([bag], 8.1);
  t.ok(fresh.length === 1 && fresh[0]!.id !== id, 'a bag unseen for longer than the hold comes back as a new track');
});

t.test('classes never swap ids, low scores alone never start a track, reset forgets', async (t) => {
  const tr = new ByteTracker();
  for (let f = 0; f < 5; f++) t.same(tr.update([{ box: box(100, 100), score: 0.3, cls: 'person' }], f / 10), [], 'weak detections do not start tracks');
  tr.update([person(100, 100), { box: box(100, 100), score: 0.9, cls: 'bag' }], 1);
  const out = tr.update([person(100, 100), { box: box(100, 100), score: 0.9, cls: 'bag' }], 1.1);
  t.equal(out.length, 2, 'a bag and a person on the same spot are two tracks');
  t.not(out[0]!.id, out[1]!.id);
  tr.reset();
  t.same(tr.all(1.2), [], 'reset drops every track');
});

t.test('a person-sized or torso-level "bag" on a person is dropped, a suitcase beside the feet is kept', async (t) => {
  const { crossClassSuppress } = await import('../../edge/vision/analyzer.js');
  const det = (cls: 'person' | 'bag', x1: number, y1: number, x2: number, y2: number, score: number) => ({ x1, y1, x2, y2, score, classId: cls === 'person' ? 0 : 1, class: cls });
  const person = det('person', 100, 100, 140, 200, 0.8);
  const out = crossClassSuppress(
    [person, det('bag', 98, 102, 142, 198, 0.9), det('bag', 110, 120, 130, 140, 0.7), det('bag', 142, 160, 172, 200, 0.8), det('bag', 120, 165, 150, 200, 0.6)],
    0.45,
  );
  t.same(out.map((d) => [d.class, d.x1]), [['person', 100], ['bag', 142], ['bag', 120]], 'person kept (even when the bag scored higher), suitcases at the feet kept');
});

t.test('the analyzer restarts tracks when the frame size changes (a camera reconnected at another resolution)', async (t) => {
  const { CameraAnalyzer } = await import('../../edge/vision/analyzer.js');
  // A stand-in detector: one person in the middle of whatever frame it is given.
  const detector = {
    detect: async (img: { width: number; height: number }) => [
      { x1: img.width / 2 - 10, y1: img.height / 2 - 25, x2: img.width / 2 + 10, y2: img.height / 2 + 25, score: 0.9, classId: 0, class: 'person' },
    ],
  };
  const an = new CameraAnalyzer({ camera: 'c', detector });
  const frame = (w: number, h: number, t_s: number) => ({ data: new Uint8Array(w * h * 3), width: w, height: h, t_s });
  const ids = new Set<number>();
  for (let f = 0; f < 5; f++) for (const tr of (await an.process(frame(320, 240, f / 10))).tracks) ids.add(tr.id);
  t.same([...ids], [1], 'one track at 320x240');
  const after = await an.process(frame(640, 480, 0.5));
  t.same(after.tracks, [], 'old tracks dropped: the new size starts from scratch');
  const again = await an.process(frame(640, 480, 0.6));
  t.ok(again.tracks.length === 1 && again.tracks[0]!.id !== 1, 'a new track in the new geometry');
});
