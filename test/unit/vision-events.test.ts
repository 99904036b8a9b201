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

// Owner association on hand-built tracks: what a real detector on real footage produces around static things.

t.test('a background "bag" that never moved raises nothing, however long people stand by it or pass', async (t) => {
  const ed = new EventDetector('c', [], { abandon_s: 5 });
  // A bin at (400, 300) the detector calls a bag, boxes jittering by a few pixels; person 1 walks up to it, stands
  // beside it for 6 s and walks off; person 2 passes right by it; person 3 walks along the bin's row.
  const evs = run(ed, 40, (tt) => {
    const j = 3 * Math.sin(tt * 7);
    const tracks = [bag(10, 400 + j, 300 - j / 2)];
    const p1 = tt < 4 ? 200 + 45 * tt : tt < 10 ? 380 : 380 - 100 * (tt - 10);
    if (p1 > 0) tracks.push(person(1, p1, 300));
    if (tt > 15 && tt < 25) tracks.push(person(2, 250 + 30 * (tt - 15), 305));
    if (tt > 28) tracks.push(person(3, 300 + 20 * (tt - 28), 300));
    return tracks;
  });
  t.same(evs, [], 'no abandoned bag, no switch');
  t.same(ed.owners(), [], 'nobody owns it: it never moved with anyone');
});

t.test('a bag placed by a person who walks away is abandoned, with its owner confident', async (t) => {
  const ed = new EventDetector('c', [], { abandon_s: 5 });
  const evs = run(ed, 25, (tt) => {
    // Person 1 carries bag 10 from x=60 to 360 (0-3 s), puts it down, steps away at 4 s, gone at 8 s.
    const px = tt < 3 ? 20 + 100 * tt : tt < 4 ? 320 : 320 - 80 * (tt - 4);
    const tracks = [bag(10, tt < 3 ? 60 + 100 * tt : 360, 300)];
    if (px > 0) tracks.push(person(1, px, 300));
    return tracks;
  });
  t.same(evs.map((e) => [e.type, e.trackIds]), [['abandoned_bag', [10, 1]]]);
  const own = ed.owners();
  t.equal(own.length, 1);
  t.equal(own[0]!.owner, 1);
  t.ok(own[0]!.confidence >= 0.9, `confidence ${own[0]!.confidence}`);
});

t.test('an owner the tracker lost and re-found mid-carry keeps the carrying time of both ids', async (t) => {
  const ed = new EventDetector('c', [], { abandon_s: 5 });
  // Person 1 carries bag 10 for 1.4 s, is missed for 0.3 s and comes back as track 7, which carries it 1.3 s more:
  // neither id alone reaches owner_s (2 s); together they do.
  const evs = run(ed, 25, (tt) => {
    const px = tt < 3 ? 20 + 100 * tt : tt < 4 ? 320 : 320 - 80 * (tt - 4);
    const tracks = [bag(10, tt < 3 ? 60 + 100 * tt : 360, 300)];
    const id = tt < 1.4 ? 1 : 7;
    if (px > 0 && !(tt >= 1.4 && tt < 1.7)) tracks.push(person(id, px, 300));
    return tracks;
  });
  t.same(evs.map((e) => [e.type, e.trackIds]), [['abandoned_bag', [10, 1]]], 'abandoned, owner named by its first id');
});

t.test('a bag never near anyone is not abandoned, even one that slid into place', async (t) => {
  const ed = new EventDetector('c', [], { abandon_s: 5 });
  // Bag 10 moves 200 px on its own (a trolley pushed from out of view, or a detector drifting), then rests 30 s;
  // person 1 walks the far side of the hall the whole time.
  const evs = run(ed, 35, (tt) => [bag(10, tt < 3 ? 100 + 70 * tt : 310, 300), person(1, 50 + 15 * tt, 120)]);
  t.same(evs, [], 'no owner, no event');
  t.same(ed.owners(), []);
});

t.test('a person beside a static object is no switch; nor is picking up a bag nobody was seen to own', async (t) => {
  const ed = new EventDetector('c', [], { switch_s: 1 });
  // A suitcase-shaped sign at (300, 300), static: person 1 stands beside it 10 s, person 2 walks right past it,
  // in the direction person 1 then leaves. While person 2 half hides it (11-12.5 s) the detector redraws its box
  // sliding along with him, as a real detector does with a half-hidden object.
  const evs = run(ed, 25, (tt) => {
    const drift = tt >= 11 && tt < 12.5 ? 40 * (tt - 11) : 0;
    const tracks = [bag(10, 300 + drift + (tt % 1 < 0.5 ? 2 : -2), 300)];
    tracks.push(person(1, tt < 12 ? 262 : 262 + 60 * (tt - 12), 300));
    if (tt > 8 && tt < 20) tracks.push(person(2, 150 + 40 * (tt - 8), 300));
    return tracks;
  });
  t.same(evs, [], 'no switch');

  const ed2 = new EventDetector('c', [], { switch_s: 1 });
  // Bag 20 stands from the start (there before the camera looked); person 5 walks up, takes it and walks off.
  const taken = run(ed2, 15, (tt) => {
    const px = tt < 4 ? 100 + 50 * tt : tt < 5 ? 300 : 300 + 80 * (tt - 5);
    return [person(5, px, 300), bag(20, tt < 5 ? 340 : 340 + 80 * (tt - 5), 300)];
  });
  t.same(taken, [], 'no known owner to switch from');
  t.same(ed2.owners().map((o) => [o.bag, o.owner]), [[20, 5]], 'the one who carried it off owns it now');
});

t.test('two people walking together with one bag: ownership too unclear to claim an abandonment', async (t) => {
  const ed = new EventDetector('c', [], { abandon_s: 5 });
  const evs = run(ed, 25, (tt) => {
    const px = tt < 3 ? 20 + 100 * tt : tt < 4 ? 320 : 320 - 80 * (tt - 4);
    const tracks = [bag(10, tt < 3 ? 60 + 100 * tt : 360, 300)];
    if (px > 0) tracks.push(person(1, px, 300), person(2, px + 70, 300));
    return tracks;
  });
  t.same(ed.owners(), [], 'both moved with it: no owner');
  t.same(evs, []);
});

t.test('the pixel motion hook: a box that drifts where no pixel changed is not a bag on the move', async (t) => {
  // The same carried-and-left bag as above, but the caller's motion history says nothing moved in the bag's box:
  // the detector was redrawing something static (a half-hidden bin) beside a person walking past.
  const frames = (tt: number) => {
    const px = tt < 3 ? 20 + 100 * tt : tt < 4 ? 320 : 320 - 80 * (tt - 4);
    const tracks = [bag(10, tt < 3 ? 60 + 100 * tt : 360, 300)];
    if (px > 0) tracks.push(person(1, px, 300));
    return tracks;
  };
  const asked: number[] = [];
  const still = { movedWithin: (_box: readonly number[], since: number) => (asked.push(since), false) };
  const ed = new EventDetector('c', [], { abandon_s: 5 });
  const evs = [];
  for (let f = 0; f <= 250; f++) evs.push(...ed.update(frames(f / 10), f / 10, { motion: still }));
  t.same(evs, [], 'no abandoned bag without pixel motion');
  t.ok(asked.length > 0, 'the hook was asked');
  t.ok(asked.every((s) => s >= -1), 'about the last second');

  const moving = { movedWithin: () => true };
  const ed2 = new EventDetector('c', [], { abandon_s: 5 });
  const evs2 = [];
  for (let f = 0; f <= 250; f++) evs2.push(...ed2.update(frames(f / 10), f / 10, { motion: moving }));
  t.same(evs2.map((e) => e.type), ['abandoned_bag'], 'with pixel motion it is the abandoned bag again');
});

t.test('the scripted hall amid clutter a real detector calls bags: still its four events, and nothing else', async (t) => {
  const s = hallScenario();
  const zones = s.zones.map((z) => ({ id: z.id, polygon: z.polygon.map(([x, y]) => [x * s.width, y * s.height] as [number, number]) }));
  // 40 static things on the floor (bins, bench legs, bollards), seen in 4 frames of 5, boxes jittering by a few
  // pixels, pulled towards a person who overlaps them (the detector merging the two), and a new track id after
  // every drop-out: what issue 14 saw on real footage, where the old rules raised an abandoned bag a minute.
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const rest = [[0.3 * s.width, 0.62 * s.height], [0.7 * s.width, 0.8 * s.height]];
  const clutter: { x: number; y: number; w: number; h: number; id: number }[] = [];
  let nextId = 1000;
  while (clutter.length < 40) {
    const x = 20 + rnd() * (s.width - 40);
    const y = 0.3 * s.height + rnd() * 0.65 * s.height;
    // Away from where the script's bags rest, so the scripted events are judged on their own bags.
    if (rest.some(([rx, ry]) => Math.hypot(x - rx!, y - ry!) < 80)) continue;
    clutter.push({ x, y, w: 18 + rnd() * 25, h: 15 + rnd() * 25, id: nextId++ });
  }
  const ed = new EventDetector('hall-1', zones, { ...s.thresholds, flagZones: ['desk'] });
  const events = [];
  let clutterBoxes = 0;
  for (let f = 0; f < frameCount(s); f++) {
    const fr = truthAt(s, f);
    const tracks = truthTracks(fr);
    const people = tracks.filter((x) => x.cls === 'person');
    for (const c of clutter) {
      if (rnd() < 0.2) {
        c.id = nextId++;
        continue;
      }
      let cx = c.x + (rnd() - 0.5) * 4;
      let by = c.y + (rnd() - 0.5) * 4;
      const over = people.find((p) => p.box[0] < cx + c.w / 2 && p.box[2] > cx - c.w / 2 && p.box[1] < by && p.box[3] > by - c.h);
      if (over) {
        cx += 0.3 * ((over.box[0] + over.box[2]) / 2 - cx);
        by += 0.3 * (over.box[3] - by);
      }
      tracks.push({ id: c.id, cls: 'bag', box: [cx - c.w / 2, by - c.h, cx + c.w / 2, by], score: 0.5, hits: 5, lost_s: 0, born_s: 0 });
      clutterBoxes++;
    }
    events.push(...ed.update(tracks, fr.t_s));
  }
  t.ok(clutterBoxes > 15000 && nextId > 5000, `${clutterBoxes} clutter boxes under ${nextId - 1000} track ids`);
  t.same(events.map((e) => [e.type, e.trackIds]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)), [
    ['abandoned_bag', [101, 1]],
    ['bag_switch', [102, 3, 2]],
    ['companions', [4, 5, 6]],
    ['dwell', [7]],
  ], 'the script\'s events only');
  t.ok(ed.owners().every((o) => o.bag < 1000), 'no clutter object got an owner');
});
