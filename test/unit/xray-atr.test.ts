// The shipped X-ray threat detector through the node's ATR path: parity with PyTorch on held-out images, and tiling of a large scan.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OnnxDetector } from '../../edge/inference/detector.js';
import { iou } from '../../analysis/detect/yolo.js';
import { defaultXrayCard, runAtr } from '../../edge/xray/atr.js';
import { inspectScan } from '../../edge/xray/inspect.js';
import { tipScene } from '../../analysis/xray/tip.js';
import { writeTipDataset } from '../../edge/xray/tip-dataset.js';
import { tempDir } from '../harness/services.js';

interface FixtureDet {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  score: number;
  classId: number;
}

t.test('TS decoding of the ONNX model gives what PyTorch gave on the same held-out images', async (t) => {
  const cardPath = defaultXrayCard();
  const fixture = JSON.parse(readFileSync(join(cardPath, '..', 'fixture.json'), 'utf8')) as { items: { scanId: string; detections: FixtureDet[] }[] };
  t.ok(fixture.items.length > 0, 'fixture has items');
  const det = await OnnxDetector.load(cardPath);
  t.teardown(() => det.close());
  // The validation set is regenerated from its seed (the generator is deterministic).
  const n = Math.max(...fixture.items.map((i) => Number(i.scanId.split('-')[2]))) + 1;
  const out = tempDir('xray-parity');
  await writeTipDataset({ out, count: n, seed: 97, difficulty: 'mixed' });
  for (const item of fixture.items) {
    const { result } = await inspectScan(
      { scanId: item.scanId, high: join(out, 'images', `${item.scanId}_high.png`), low: join(out, 'images', `${item.scanId}_low.png`) },
      { stages: [{ name: 'threats', detector: det }], pitch_cm: 0.25 },
    );
    t.equal(result.problems.length, 0, `${item.scanId}: analysed`);
    for (const p of item.detections) {
      // PyTorch worked in model pixels (128 for the 256 image): x2 to compare in image pixels.
      const want = { x1: p.x1 * 2, y1: p.y1 * 2, x2: p.x2 * 2, y2: p.y2 * 2 };
      const cls = det.card.classes[p.classId]!;
      const got = result.detections.find((d) => d.class === cls && iou({ x1: d.box[0], y1: d.box[1], x2: d.box[2], y2: d.box[3] }, want) > 0.9);
      t.ok(got !== undefined, `${item.scanId}: ${cls} ${p.score.toFixed(3)} found again`);
      if (got) t.ok(Math.abs(got.score - p.score) < 0.01, `score ${got.score} vs PyTorch ${p.score.toFixed(3)}`);
    }
    t.equal(result.detections.length, item.detections.length, `${item.scanId}: as many detections as PyTorch`);
  }
});

t.test('a large scan is tiled at the model pixel size; a gun is found where it was projected', async (t) => {
  const det = await OnnxDetector.load(defaultXrayCard());
  t.teardown(() => det.close());
  let found = 0;
  const seeds = [11, 12, 13];
  for (const seed of seeds) {
    const scene = tipScene(seed, { width: 640, height: 512, difficulty: 'easy', threats: ['gun'] });
    const truth = scene.boxes[0]!;
    const dets = await runAtr([{ name: 'threats', detector: det }], { width: 640, height: 512, high: scene.image.high, low: scene.image.low, pitch_cm: 0.25 });
    const hit = dets.find((d) => d.class === 'gun' && iou(d, { x1: truth.x, y1: truth.y, x2: truth.x + truth.w, y2: truth.y + truth.h }) > 0.3);
    if (hit) found++;
    t.ok(dets.every((d) => d.x1 >= 0 && d.y1 >= 0 && d.x2 <= 640 && d.y2 <= 512), 'boxes inside the image');
  }
  t.ok(found >= 2, `gun found in ${found} of ${seeds.length} 640 x 512 scans (6 tiles each)`);
  await t.rejects(
    runAtr([{ name: 'threats', detector: det }], { width: 64, height: 64, high: new Float32Array(64 * 64).fill(1) }),
    /needs the low-energy channel; this scan is single-energy/,
  );
});

t.test('one model per stage: each detection names its stage; the decision counts both', async (t) => {
  const a = await OnnxDetector.load(defaultXrayCard());
  const b = await OnnxDetector.load(defaultXrayCard(), { scoreThreshold: 0.5 });
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  const scene = tipScene(21, { width: 256, height: 256, difficulty: 'easy', threats: ['gun'] });
  const dets = await runAtr(
    [
      { name: 'threats', detector: a },
      { name: 'strict', detector: b },
    ],
    { width: 256, height: 256, high: scene.image.high, low: scene.image.low, pitch_cm: 0.25 },
  );
  const stages = new Set(dets.filter((d) => d.class === 'gun').map((d) => d.stage));
  t.same([...stages].sort(), ['strict', 'threats'], 'the gun is reported by both stages');
  t.ok(dets.filter((d) => d.stage === 'strict').every((d) => d.score >= 0.5), 'the strict stage keeps only scores >= 0.5');
});
