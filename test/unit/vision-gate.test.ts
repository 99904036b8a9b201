// Motion-gated detection with the synthetic ONNX detector as the fixture: a still scene needs the detector only on
// its periodic full frames, the scripted hall keeps its MOTA and events on about half the calls, a lighting step
// does not start a storm; the tracker carries what the detector did not look at; region answers merge back.
import t from 'tap';
import { OnnxDetector } from '../../edge/inference/detector.js';
import { CameraAnalyzer } from '../../edge/vision/analyzer.js';
import { DetectionGate, mergeRegionDetections } from '../../analysis/vision/gate.js';
import { ByteTracker } from '../../analysis/vision/tracker.js';
import { clearMot, scoreEvents } from '../../analysis/vision/metrics.js';
import { addNoise, frameCount, hallScenario, renderFloor, renderFrame, truthAt, type Scenario } from '../../analysis/vision/scene.js';
import type { Track } from '../../analysis/vision/tracker.js';
import type { CameraEvent } from '../../analysis/vision/events.js';
import type { Detection } from '../../analysis/detect/yolo.js';
import { ROOT } from '../helpers/paths.js';
import { join } from 'node:path';

const CARD = join(ROOT, 'models', 'camera-detector', 'model-card.json');
const W = 640;
const H = 480;

const det = (cls: string, x1: number, y1: number, x2: number, y2: number, score = 0.9): Detection => ({ x1, y1, x2, y2, score, classId: cls === 'person' ? 0 : 1, class: cls });

interface Played {
  tracks: Map<number, Track[]>;
  calls: number[];
  events: CameraEvent[];
}

/** Plays a scenario (or `frames` of it) through analyzers side by side (each frame rendered once); per frame: tracks and detector calls. */
async function playAll(ans: CameraAnalyzer[], s: Scenario, opts: { frames?: number; light?: (f: number) => ((x: number) => number) | undefined } = {}): Promise<Played[]> {
  const floor = renderFloor(s.width, s.height, s.seed);
  const n = opts.frames ?? frameCount(s);
  const out: Played[] = ans.map(() => ({ tracks: new Map(), calls: [], events: [] }));
  for (let f = 0; f < n; f++) {
    const img = renderFrame(s, f, floor);
    const light = opts.light?.(f);
    if (light) {
      for (let y = 0; y < s.height; y++) {
        for (let x = 0; x < s.width; x++) {
          const k = light(x);
          const i = (y * s.width + x) * 3;
          for (let c = 0; c < 3; c++) img[i + c] = Math.min(255, Math.round(img[i + c]! * k));
        }
      }
    }
    addNoise(img, f);
    for (let k = 0; k < ans.length; k++) {
      const r = await ans[k]!.process({ data: img, width: s.width, height: s.height, t_s: f / s.fps });
      out[k]!.tracks.set(f, r.tracks);
      out[k]!.calls.push(r.detectorCalls);
      out[k]!.events.push(...r.events);
    }
  }
  return out;
}

async function play(an: CameraAnalyzer, s: Scenario, opts: Parameters<typeof playAll>[2] = {}): Promise<Played> {
  return (await playAll([an], s, opts))[0]!;
}

/**
 * The fixture with regions: the frame outside the region is painted the letterbox grey before the full-frame model
 * runs, and boxes reaching past the region are dropped. The model keeps the scale it was trained at (it knows one
 * object size), while the gate's geometry (what is looked at, cut boxes, duplicates, carried tracks) is exercised
 * as a cropping detector would.
 */
function withRegions(d: OnnxDetector) {
  return {
    detect: (img: { data: Uint8Array; width: number; height: number; channels: number }) => d.detect(img),
    detectRegion: async (img: { data: Uint8Array; width: number; height: number; channels: number }, roi: { x: number; y: number; w: number; h: number }) => {
      const out = new Uint8Array(img.data.length).fill(114);
      for (let y = roi.y; y < roi.y + roi.h; y++) out.set(img.data.subarray((y * img.width + roi.x) * 3, (y * img.width + roi.x + roi.w) * 3), (y * img.width + roi.x) * 3);
      const dets = await d.detect({ ...img, data: out });
      return dets.filter((q) => q.x1 >= roi.x - 1 && q.y1 >= roi.y - 1 && q.x2 <= roi.x + roi.w + 1 && q.y2 <= roi.y + roi.h + 1);
    },
  };
}

/** Bags standing in an empty hall from the first frame on. */
function bagsOnly(): Scenario {
  const s = hallScenario({ width: W, height: H });
  return {
    ...s,
    people: [],
    events: [],
    bags: [
      { id: 201, spans: [{ from_s: 0, to_s: 1e3, x: 0.3, y: 0.7 }], colour: [150, 30, 30], w: 0.07, h: 0.085 },
      { id: 202, spans: [{ from_s: 0, to_s: 1e3, x: 0.7, y: 0.5 }], colour: [20, 110, 40], w: 0.065, h: 0.08 },
    ],
  };
}

t.test('the tracker carries what the detector did not look at, and ages what it looked at and missed', async (t) => {
  const tr = new ByteTracker();
  const bag = { box: [200, 200, 230, 235] as [number, number, number, number], score: 0.9, cls: 'bag' };
  for (let f = 0; f < 3; f++) tr.update([bag], f / 10);
  const id = tr.all(0.2)[0]!.id;
  // 6 s without a detector call on it (longer than the 3 s hold): still there, reported every frame, not aged.
  for (let f = 3; f < 63; f++) t.same(tr.update([], f / 10, { observed: () => false }).map((o) => o.id), [id], `frame ${f}: carried`);
  t.equal(tr.all(6.2)[0]!.lost_s, 0, 'not lost');
  // Looked at and not found: lost (not reported), then removed after the hold like any missed track.
  t.same(tr.update([], 6.3, { observed: () => true }), [], 'looked at and missed: not reported');
  for (let f = 64; f < 80; f++) tr.update([], f / 10, { observed: () => false });
  t.ok(tr.all(8)[0]!.lost_s > 1.5, 'a lost track goes on ageing while nobody looks');
  tr.update([], 9.7, { observed: () => false });
  t.same(tr.all(9.7), [], 'and is removed after the hold');
});

t.test('region answers: cut boxes at inner crop edges dropped, duplicates across regions merged', async (t) => {
  const a = { x: 100, y: 100, w: 200, h: 150 };
  const b = { x: 250, y: 100, w: 200, h: 150 };
  const out = mergeRegionDetections(
    [
      { roi: a, dets: [det('person', 260, 120, 299, 230, 0.8), det('person', 150, 120, 190, 240), det('bag', 101, 200, 130, 240)] },
      { roi: b, dets: [det('person', 262, 121, 300, 231, 0.9), det('bag', 300, 200, 330, 249)] },
    ],
    W,
    H,
  );
  t.same(
    out.map((d) => [d.class, d.x1, d.score]),
    [['person', 150, 0.9], ['person', 262, 0.9]],
    'the person seen by both regions once (higher score); bags touching an inner crop edge dropped',
  );
  const edge = mergeRegionDetections([{ roi: { x: 0, y: 0, w: 200, h: 150 }, dets: [det('bag', 0, 10, 30, 40)] }], W, H);
  t.equal(edge.length, 1, 'a box at the frame edge is not cut by the crop');

  const gate = new DetectionGate({ aspect: 4 / 3, minRegion_px: [256, 192], pad: 0 });
  const rs = gate.regionsFor([[10, 10, 50, 110], [60, 20, 100, 100], [600, 400, 640, 480]], W, H);
  t.equal(rs.length, 2, 'overlapping regions merge, the far one stays');
  for (const r of rs) {
    t.ok(r.x >= 0 && r.y >= 0 && r.x + r.w <= W && r.y + r.h <= H, `region ${JSON.stringify(r)} inside the frame`);
    t.ok(r.w >= 256 && r.h >= 192 && Math.abs(r.w / r.h - 4 / 3) < 0.02, `region ${r.w}x${r.h}: at least the input size, at its aspect`);
  }
});

t.test('gated detection on the synthetic fixture', async (t) => {
  const detector = await OnnxDetector.load(CARD);
  t.teardown(() => detector.close());

  await t.test('a still scene calls the detector on its periodic full frames only; the bags stay tracked', async (t) => {
    const s = bagsOnly();
    const an = new CameraAnalyzer({ camera: 'c', detector, gate: { fullFrameEvery_s: 3 } });
    const r = await play(an, s, { frames: 100 });
    const called = r.calls.flatMap((c, f) => (c > 0 ? [f] : []));
    // Frame 0 (start), one look 0.2 s later to confirm what it found (a full frame: the fixture has no regions),
    // then every 3 s from that one.
    t.same(called, [0, 2, 32, 62, 92], 'calls on the start, the confirmation and the periodic frames');
    const ids = new Set<number>();
    for (let f = 3; f < 100; f++) {
      const bags = r.tracks.get(f)!.filter((x) => x.cls === 'bag');
      t.equal(bags.length, 2, `frame ${f}: both bags reported`);
      for (const b of bags) ids.add(b.id);
    }
    t.equal(ids.size, 2, 'with the same two ids throughout');
    t.equal(an.gateStats()!.callFraction, 5 / 100);
  });

  await t.test('a lighting step does not start a storm of calls', async (t) => {
    const s = bagsOnly();
    const absorb_s = 4;
    const an = new CameraAnalyzer({ camera: 'c', detector, gate: { fullFrameEvery_s: 3, motion: { absorb_s } } });
    // At 2 s the whole hall dims to 70 %; at 5 s the left 40 % brightens (a bank of lights).
    const r = await play(an, s, {
      frames: 160,
      light: (f) => (f < 20 ? undefined : f < 50 ? () => 0.7 : (x) => (x < 0.4 * W ? 1.3 : 0.7)),
    });
    const called = r.calls.flatMap((c, f) => (c > 0 ? [f] : []));
    t.same(called.filter((f) => f > 2 && f < 50), [32], 'the uniform dimming costs no call: only the periodic one at 3.2 s');
    const settle = 50 + 10 * (absorb_s + 1);
    const during = called.filter((f) => f >= 50 && f < settle);
    t.ok(during.length >= 1 && during.length <= absorb_s + 3, `${during.length} calls (${during}) while the lit area is absorbed: re-probed about once a second, no more`);
    const after = called.filter((f) => f >= settle);
    const gaps = after.map((f, i) => f - (i ? after[i - 1]! : during[during.length - 1]!));
    t.ok(after.length >= 2 && gaps.every((g) => g === 30), `after it, calls every 3 s only (${after})`);
    const bags = r.tracks.get(159)!.filter((x) => x.cls === 'bag');
    t.equal(bags.length, 2, 'both bags still tracked after the lighting changes');
  });

  await t.test('the scripted hall: MOTA and events of ungated tracking on about half the detector calls', async (t) => {
    // Three analyzers on the same frames: ungated, gated with full-frame calls (the fixture has no regions), gated
    // with region calls.
    const s = hallScenario({ width: W, height: H });
    const truth = Array.from({ length: frameCount(s) }, (_, f) => truthAt(s, f));
    const rules = { ...s.thresholds, flagZones: ['desk'] };
    const gatedAn = new CameraAnalyzer({ camera: 'c', detector, zones: s.zones, rules, gate: {} });
    const regionAn = new CameraAnalyzer({ camera: 'c', detector: withRegions(detector), zones: s.zones, rules, gate: {} });
    const [plain, gated, regional] = (await playAll([new CameraAnalyzer({ camera: 'c', detector, zones: s.zones, rules }), gatedAn, regionAn], s)) as [Played, Played, Played];
    const m0 = clearMot(truth, plain.tracks);
    const m1 = clearMot(truth, gated.tracks);
    const stats = gatedAn.gateStats()!;
    t.comment(`ungated MOTA ${m0.mota.toFixed(3)} (${plain.calls.length} calls); gated MOTA ${m1.mota.toFixed(3)}, id switches ${m1.idSwitches}, calls on ${(100 * stats.callFraction).toFixed(0)} % of frames ${JSON.stringify(stats.reasons)}`);
    t.ok(m1.mota >= m0.mota - 0.05, `gated MOTA ${m1.mota.toFixed(3)} within 0.05 of ungated ${m0.mota.toFixed(3)}`);
    t.ok(m1.idSwitches <= m0.idSwitches + 2, 'no more than 2 extra id switches');
    t.ok(stats.callFraction < 0.6, `detector called on ${(100 * stats.callFraction).toFixed(0)} % of frames`);
    t.equal(gated.calls.reduce((a, b) => a + b, 0), stats.calls, 'per-frame counts add up to the stats');
    t.equal(scoreEvents(gated.events, s.events, truth, s.fps).recall, 1, 'every scripted event still found');

    const m2 = clearMot(truth, regional.tracks);
    const rs = regionAn.gateStats()!;
    t.comment(`regions: MOTA ${m2.mota.toFixed(3)}, id switches ${m2.idSwitches}, calls on ${(100 * rs.callFraction).toFixed(0)} % of frames, ${(rs.calls / rs.frames).toFixed(2)} calls per frame ${JSON.stringify(rs.reasons)}`);
    t.ok(rs.calls > rs.framesWithCall, 'some frames needed more than one region');
    t.ok(m2.mota >= m0.mota - 0.1, `region calls: MOTA ${m2.mota.toFixed(3)} within 0.1 of ungated (more tracks carried between looks)`);
    t.ok(rs.callFraction < 0.6, `region calls on ${(100 * rs.callFraction).toFixed(0)} % of frames`);
    t.equal(scoreEvents(regional.events, s.events, truth, s.fps).recall, 1, 'every scripted event found with region calls too');
  });
});
