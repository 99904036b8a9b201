// Background subtraction on rendered hall frames: regions cover the walkers, a still view stays still, lighting
// steps and shadows are not motion, the history answers "did anything move here since t", and it is fast.
import t from 'tap';
import { MotionDetector, MotionError, mergeRegions, type MotionRegion } from '../../analysis/vision/motion.js';
import { addNoise, hallScenario, personAt, renderFloor, renderFrame, truthAt, type Box } from '../../analysis/vision/scene.js';

// 320x240 keeps the rendering (not the motion model) from dominating the test's time; the speed test is at 640x480.
const W = 320;
const H = 240;
const scenario = hallScenario({ width: W, height: H });
const floor = renderFloor(W, H, scenario.seed);

function frameAt(f: number): Uint8Array {
  const img = renderFrame(scenario, f, floor);
  addNoise(img, f);
  return img;
}

/** The floor alone, with sensor noise and a brightness factor per pixel (lighting). */
function still(f: number, light: (x: number, y: number) => number = () => 1): Uint8Array {
  const img = new Uint8Array(floor);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const k = light(x, y);
      if (k === 1) continue;
      const i = (y * W + x) * 3;
      for (let c = 0; c < 3; c++) img[i + c] = Math.min(255, Math.round(img[i + c]! * k));
    }
  }
  addNoise(img, 1000 + f);
  return img;
}

/** Share of `box` covered by the union of the regions' boxes (pixel-exact on a 2-pixel lattice). */
function covered(box: Box, regions: readonly MotionRegion[]): number {
  let inside = 0;
  let all = 0;
  for (let y = Math.max(0, box[1]); y < Math.min(H, box[3]); y += 2) {
    for (let x = Math.max(0, box[0]); x < Math.min(W, box[2]); x += 2) {
      all++;
      if (regions.some((r) => x >= r.box[0] && x < r.box[2] && y >= r.box[1] && y < r.box[3])) inside++;
    }
  }
  return all ? inside / all : 1;
}

t.test('motion regions cover the walking people of the scripted hall, and little else', async (t) => {
  const md = new MotionDetector();
  let cases = 0;
  let good = 0;
  let regionArea = 0;
  let frames = 0;
  for (let f = 0; f < 200; f++) {
    const r = md.update({ data: frameAt(f), width: W, height: H }, f / scenario.fps);
    if (f === 0) t.ok(r.initialising && r.regions.length === 0, 'the first frame only starts the background');
    for (const o of truthAt(scenario, f).objects) {
      if (o.cls !== 'person' || o.visibility < 0.9 || o.box[0] <= 0 || o.box[2] >= W) continue;
      const p = scenario.people.find((q) => q.id === o.id)!;
      const now = personAt(p, f / scenario.fps)!;
      const before = personAt(p, (f - 1) / scenario.fps);
      // Walking: the feet moved since the last frame (a person standing still only swings the legs).
      if (!before || Math.hypot((now.x - before.x) * W, (now.y - before.y) * H) < 1) continue;
      cases++;
      if (covered(o.box, r.regions) >= 0.8) good++;
    }
    regionArea += r.regions.reduce((a, q) => a + (q.box[2] - q.box[0]) * (q.box[3] - q.box[1]), 0);
    frames++;
  }
  t.ok(cases > 300, `${cases} walking-person frames checked`);
  t.ok(good / cases >= 0.95, `walkers covered ≥ 80 % by a region in ${good} of ${cases} frames`);
  t.ok(regionArea / frames < 0.2 * W * H, `regions take ${((100 * regionArea) / frames / (W * H)).toFixed(1)} % of the frame on average`);
});

t.test('a still view gives no regions; the history says nothing moved there', async (t) => {
  const md = new MotionDetector();
  let regions = 0;
  for (let f = 0; f < 60; f++) regions += md.update({ data: still(f), width: W, height: H }, f / 10).regions.length;
  t.equal(regions, 0, 'sensor noise on a tiled floor is not motion');
  t.equal(md.lastMotion_s([0, 0, W, H]), Number.NEGATIVE_INFINITY, 'no cell ever moved');
  t.notOk(md.movedWithin([100, 100, 200, 200], 0));
});

t.test('the motion history answers what moved where, and when', async (t) => {
  const md = new MotionDetector();
  for (let f = 0; f <= 120; f++) md.update({ data: frameAt(f), width: W, height: H }, f / scenario.fps);
  const t_s = 12;
  const truth = truthAt(scenario, 120);
  // Person 9 walks across the hall at 12 s; bag 101 stands where it was left at 8.5 s (it stopped moving then).
  const walker = truth.objects.find((o) => o.id === 9)!;
  const bag = truth.objects.find((o) => o.id === 101)!;
  // The bag's lower half: the passer-by with bag 103 brushes its top edge at about 11 s.
  const bagLow: Box = [bag.box[0] + 2, (bag.box[1] + bag.box[3]) / 2, bag.box[2] - 2, bag.box[3] - 1];
  t.ok(md.motionSince(walker.box, t_s - 0.2), 'the walker moved within the last 0.2 s');
  t.ok(md.movedWithin(bagLow, 7), 'the bag moved while it was carried and set down');
  t.notOk(md.movedWithin(bagLow, 10), 'nothing moved on the standing bag since 10 s, though it is still foreground');
  t.equal(md.lastMotion_s([0, H - 20, 20, H]), Number.NEGATIVE_INFINITY, 'a corner nobody crossed never moved');
  md.reset();
  t.equal(md.lastMotion_s(walker.box), Number.NEGATIVE_INFINITY, 'reset forgets the history');
});

t.test('a lighting step is absorbed: a uniform one at once, a half-view one within absorb_s', async (t) => {
  const md = new MotionDetector();
  for (let f = 0; f < 30; f++) md.update({ data: still(f), width: W, height: H }, f / 10);
  const dim = md.update({ data: still(30, () => 0.7), width: W, height: H }, 3);
  t.ok(Math.abs(dim.gain - 0.7) < 0.03, `global gain ${dim.gain.toFixed(3)} found`);
  t.equal(dim.regions.length, 0, 'a uniform dimming is no motion, not even on its first frame');
  let after = 0;
  for (let f = 31; f < 60; f++) after += md.update({ data: still(f, () => 0.7), width: W, height: H }, f / 10).regions.length;
  t.equal(after, 0, 'nor after');

  // The left 40 % of the hall brightens (a bank of lights on): too little of the view for the gain, too much to
  // ignore. (Dimming it would be taken for shadow, which is right too.)
  const md2 = new MotionDetector({ absorb_s: 4 });
  for (let f = 0; f < 30; f++) md2.update({ data: still(f), width: W, height: H }, f / 10);
  const half = (x: number) => (x < 0.4 * W ? 1.35 : 1);
  let lastWithRegions = -1;
  for (let f = 30; f < 130; f++) {
    const r = md2.update({ data: still(f, half), width: W, height: H }, f / 10);
    if (r.regions.length || r.global) lastWithRegions = f;
  }
  t.ok(lastWithRegions >= 30, 'the half-view step is seen');
  t.ok(lastWithRegions < 30 + 10 * (4 + 0.5), `and absorbed into the background by ${lastWithRegions / 10} s (step at 3 s, absorb_s 4)`);
});

t.test('a moving shadow is not motion; a moving dark suitcase is', async (t) => {
  const run = (paint: (img: Uint8Array, x0: number) => void): number => {
    const md = new MotionDetector();
    let withRegions = 0;
    for (let f = 0; f < 40; f++) {
      const img = still(f);
      if (f >= 10) paint(img, 50 + 3 * f);
      if (md.update({ data: img, width: W, height: H }, f / 10).regions.length) withRegions++;
    }
    return withRegions;
  };
  const rect = (img: Uint8Array, x0: number, f: (v: number, c: number) => number) => {
    for (let y = 100; y < 140; y++) for (let x = x0; x < x0 + 30; x++) for (let c = 0; c < 3; c++) img[(y * W + x) * 3 + c] = f(img[(y * W + x) * 3 + c]!, c);
  };
  t.equal(run((img, x0) => rect(img, x0, (v) => Math.round(v * 0.65))), 0, 'a floor patch dimmed to 65 % with its colour kept: shadow');
  t.ok(run((img, x0) => rect(img, x0, (_, c) => [40, 40, 90][c]!)) >= 25, 'a navy suitcase of the same size: motion on nearly every frame');
});

t.test('regions merge when close, options and frames are checked', async (t) => {
  const m = mergeRegions(
    [
      { box: [0, 0, 10, 10], area_px: 100 },
      { box: [20, 0, 30, 10], area_px: 100 },
      { box: [100, 100, 110, 110], area_px: 100 },
    ],
    12,
  );
  t.same(m, [{ box: [0, 0, 30, 10], area_px: 200 }, { box: [100, 100, 110, 110], area_px: 100 }], 'a 10-pixel gap merges, a far one does not');
  t.throws(() => new MotionDetector({ cell_px: 0 }), MotionError);
  t.throws(() => new MotionDetector({ cell_px: 3.5 }), /motion\.cell_px: expected an integer 1\.\.32, got 3\.5/);
  const md = new MotionDetector();
  t.throws(() => md.update({ data: new Uint8Array(10), width: W, height: H }, 0), /frame: expected 320x240x3 = 230400 bytes, got 10/);
  // A grey frame works the same (channels 1), and a new size starts over.
  t.ok(md.update({ data: new Uint8Array(160 * 120), width: 160, height: 120, channels: 1 }, 0).initialising);
  t.same(md.grid, { cols: 40, rows: 30, cell_px: 4 });
  t.ok(md.update({ data: new Uint8Array(W * H * 3), width: W, height: H }, 0.1).initialising, 'a new frame size relearns');
});

t.test('speed: a 640x480 frame costs a few ms', async (t) => {
  const md = new MotionDetector();
  const big = hallScenario({ width: 640, height: 480 });
  const bigFloor = renderFloor(640, 480, big.seed);
  const frames = Array.from({ length: 20 }, (_, i) => renderFrame(big, 100 + i, bigFloor));
  for (let i = 0; i < 20; i++) md.update({ data: frames[i]!, width: 640, height: 480 }, i / 10);
  // CPU time, not wall time: on the shared 2-core machine the wall clock mostly measures the other processes.
  const n = 60;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let k = 0; k < n; k++) md.update({ data: frames[k % 20]!, width: 640, height: 480 }, 2 + k / 10);
  const c1 = process.cpuUsage(c0);
  const cpu = (c1.user + c1.system) / 1000 / n;
  t.comment(`motion 640x480: ${cpu.toFixed(2)} ms CPU per frame (${((performance.now() - t0) / n).toFixed(2)} ms wall on this shared machine)`);
  t.ok(cpu < 8, `${cpu.toFixed(2)} ms CPU per frame < 8 ms`);
});
