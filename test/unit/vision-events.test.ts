// Customs event rules on scripted tracks, and the synthetic hall that scripts them.
import t from 'tap';
import { EventDetector } from '../../analysis/vision/events.js';
import { scoreEvents, truthTracks } from '../../analysis/vision/metrics.js';
import { frameCount, hallScenario, renderFloor, renderFrame, truthAt } from '../../analysis/vision/scene.js';
import type { Track } from '../../analysis/vision/tracker.js';

const P_H = 100;
const person = (id: number, fx: number, fy: number): Track => ({ id, cls: 'person', box: [fx - 19, fy - P_H, fx + 19, fy], score: 0.9, hits: 5, lost_s: 0, born_s: 0 });
const bag = (id: number, cx: number, by: number): Track => ({ id, cls: 'bag', box: [cx - 15, by - 40, cx + 15, by], score: 0.9, hits: 5, lost_s: 0, born_s: 0 });

/** Runs frames at 10 fps from `frames(t)` and collects the events. */
function run(ed: EventDetector, seconds: number, frames: (t: number) => Track[]) {
  const out = [];
  for (let f = 0; f <= seconds * 10; f++) out.push(...ed.update(frames(f / 10), f / 10));
  return out;
}

t.test('the scripted hall: the rules on perfect tracks find exactly its four events', async (t) => {
  const s = hallScenario();
  const zones = s.zones.map((z) => ({ id: z.id, polygon: z.polygon.map(([x, y]) => [x * s.width, y * s.height] as [number, number]) }));
  const ed = new EventDetector('hall-1', zones, { ...s.thresholds, flagZones: ['desk'] });
  const truth = [];
  const events = [];
  for (let f = 0; f < frameCount(s); f++) {
    const fr = truthAt(s, f);
    truth.push(fr);
    events.push(...ed.update(truthTracks(fr), fr.t_s));
  }
  t.same(events.map((e) => [e.type, e.trackIds]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)), [
    ['abandoned_bag', [101, 1]],
    ['bag_switch', [102, 3, 2]],
    ['companions', [4, 5, 6]],
    ['dwell', [7]],
  ], 'abandoned by 1, 102 taken by 3 from 2, 5 and 6 with flagged 4, 7 dwelling');
  const score = scoreEvents(events, s.events, truth, s.fps);
  t.equal(score.precision, 1);
  t.equal(score.recall, 1);
  t.ok(events.every((e) => e.camera === 'hall-1' && e.bbox.length === 4));
  t.equal(events.find((e) => e.type === 'dwell')?.zone, 'exit-door', 'dwell names its zone');
});

t.test('abandoned bag: not while the owner stands by it, exactly abandon_s after he walks away', async (t) => {
  const ed = new EventDetector('c', [], { abandon_s: 5 });
  // Owner 1 rolls bag 10 in (0-2 s), stands by it until 6 s, then walks off to the left, out of view at 9 s.
  const evs = run(ed, 20, (tt) => {
    const px = tt < 2 ? 100 + 100 * tt : tt < 6 ? 300 : 300 - 120 * (tt - 6);
    const bx = tt < 2 ? 140 + 100 * tt : 340;
    const tracks = [bag(10, bx, 300)];
    if (px > 0) tracks.push(person(1, px, 300));
    return tracks;
  });
  t.equal(evs.length, 1, 'one event');
  const e = evs[0]!;
  t.equal(e.type, 'abandoned_bag');
  t.same(e.trackIds, [10, 1], 'bag then its owner');
  // Owner centre beyond 1.5 heights (150 px) of the bag centre from t = 6 + 107/120 ≈ 6.9 s.
  t.ok(e.t_s >= 11.7 && e.t_s <= 12.2, `fired at ${e.t_s} s, about 5 s after the owner left`);
  t.equal(e.duration_s, 5);

  const ed2 = new EventDetector('c', [], { abandon_s: 5 });
  const none = run(ed2, 20, (tt) => [bag(10, tt < 2 ? 140 + 100 * tt : 340, 300), person(1, tt < 2 ? 100 + 100 * tt : 300, 300)]);
  t.same(none, [], 'an attended bag raises nothing');
});

t.test('bag switch: another person walks off with a bag that stood still; its owner does not count', async (t) => {
  const ed = new EventDetector('c', []);
  const evs = run(ed, 12, (tt) => {
    const tracks = [person(1, tt < 2 ? 100 + 100 * tt : 300, 300)];
    // Owner 1 brings bag 10 and stays; at 5 s person 2 arrives beside the bag, at 7 s leaves with it.
    let bx = tt < 2 ? 140 + 100 * tt : 340;
    if (tt >= 5) tracks.push(person(2, tt < 7 ? 305 : 305 + 80 * (tt - 7), 305));
    if (tt >= 7) bx = 345 + 80 * (tt - 7);
    tracks.push(bag(10, bx, 300));
    return tracks;
  });
  const sw = evs.filter((e) => e.type === 'bag_switch');
  t.equal(sw.length, 1, 'one switch');
  t.same(sw[0]?.trackIds, [10, 2, 1], 'bag, taker, owner');
  t.ok(sw[0]!.t_s >= 7.5 && sw[0]!.t_s <= 9, `reported at ${sw[0]?.t_s} s, once it had moved with the taker`);
});

t.test('dwell only for someone who stays; flagging by zone or by id; companions once per group', async (t) => {
  const zone = { id: 'door', polygon: [[400, 0], [600, 0], [600, 200], [400, 200]] as [number, number][] };
  const ed = new EventDetector('c', [zone], { dwell_s: 4, companion_s: 3 });
  ed.flag(7);
  const evs = run(ed, 15, (tt) => [
    person(5, 500, 150), // stands in the door zone all along
    person(6, 350 + 80 * tt, 150), // walks through it in 2.5 s
    person(7, 100 + 10 * tt, 400), // flagged
    person(8, 130 + 10 * tt, 405), // walks beside 7
    person(9, 700, 450), // far away
  ]);
  const dwell = evs.filter((e) => e.type === 'dwell');
  t.same(dwell.map((e) => e.trackIds), [[5]], 'the stayer dwells, the passer-by does not');
  t.equal(dwell[0]!.duration_s, 4);
  const comp = evs.filter((e) => e.type === 'companions');
  t.same(comp.map((e) => e.trackIds), [[7, 8]], 'the one beside the flagged person, once');
  t.same(ed.flaggedIds(), [7]);
  ed.reset();
  t.same(ed.flaggedIds(), [], 'reset forgets flags (ids restart after a resolution change)');
});

t.test('the scene renders what its truth says, deterministically', async (t) => {
  const s = hallScenario({ width: 320, height: 240 });
  const floor = renderFloor(s.width, s.height, s.seed);
  const a = renderFrame(s, 280, floor);
  const b = renderFrame(hallScenario({ width: 320, height: 240 }), 280, floor);
  t.same(Buffer.from(a).equals(Buffer.from(b)), true, 'same seed, same pixels');
  const fr = truthAt(s, 280);
  t.ok(fr.objects.some((o) => o.cls === 'bag') && fr.objects.some((o) => o.cls === 'person'), 'people and bags in view');
  for (const o of fr.objects.filter((x) => x.visibility === 1)) {
    // Inside a visible object's box the pixels differ from the bare floor.
    const cx = Math.round((o.box[0] + o.box[2]) / 2);
    const cy = Math.round(o.box[1] + 0.4 * (o.box[3] - o.box[1]));
    const i = (cy * s.width + cx) * 3;
    t.ok(Math.abs(a[i]! - floor[i]!) + Math.abs(a[i + 1]! - floor[i + 1]!) + Math.abs(a[i + 2]! - floor[i + 2]!) > 20, `object ${o.id} drawn`);
  }
  const occluded = Array.from({ length: frameCount(s) }, (_, f) => truthAt(s, f)).flatMap((f) => f.objects).filter((o) => o.visibility < 0.7);
  t.ok(occluded.length > 10, 'the script has occlusions');
});
