import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import { OnnxDetector } from '../../edge/inference/detector.js';
import { checkDetectorCard, type DetectorCard, ModelCardError } from '../../edge/inference/model-card.js';
import { decodeYolo, iou, letterboxTransform, nms, prepareInput, unletterbox, type Detection } from '../../analysis/detect/yolo.js';
import { ROOT } from '../helpers/paths.js';

const fixtures = join(ROOT, 'test', 'fixtures', 'detect');

function card(over: Partial<DetectorCard> = {}): DetectorCard {
  return {
    name: 'tiny',
    version: 1,
    task: 'detect',
    model: 'tiny-v8.onnx',
    input: { name: 'images', shape: [1, 3, 32, 32], dtype: 'float32', layout: 'NCHW', normalise: { scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] }, letterbox: true, channels: ['r', 'g', 'b'] },
    output: { name: 'output0', format: 'yolov8' },
    classes: ['person', 'bag'],
    thresholds: { score: 0.25, iou: 0.5 },
    ...over,
  };
}

function det(x1: number, y1: number, x2: number, y2: number, score: number, classId = 0): Detection {
  return { x1, y1, x2, y2, score, classId, class: String(classId) };
}

t.test('iou and nms', async (t) => {
  t.equal(iou(det(0, 0, 2, 2, 1), det(1, 1, 3, 3, 1)), 1 / 7);
  t.equal(iou(det(0, 0, 1, 1, 1), det(2, 2, 3, 3, 1)), 0);
  const kept = nms([det(0, 0, 10, 10, 0.8), det(1, 0, 11, 10, 0.9), det(1, 0, 11, 10, 0.7, 1), det(50, 50, 60, 60, 0.5)], 0.5);
  t.same(kept.map((d) => [d.score, d.classId]), [[0.9, 0], [0.7, 1], [0.5, 0]], 'the lower duplicate of a class goes, other classes stay');
  t.equal(nms([det(0, 0, 10, 10, 0.8), det(1, 0, 11, 10, 0.7, 1)], 0.5, { perClass: false }).length, 1);
  t.equal(nms([det(0, 0, 1, 1, 0.8), det(5, 5, 6, 6, 0.7)], 0.5, { maxDetections: 1 }).length, 1);
});

t.test('yolov8 and yolov5 layouts decode to the same boxes', async (t) => {
  const N = 3;
  const nc = 2;
  const boxes = [[10, 8, 8, 6, 0, 0.9], [24, 20, 6, 10, 1, 0.7], [5, 5, 2, 2, 0, 0.1]];
  const v8 = new Float32Array((4 + nc) * N);
  const v5 = new Float32Array(N * (5 + nc));
  boxes.forEach(([cx, cy, w, h, c, s], j) => {
    [cx, cy, w, h].forEach((v, f) => (v8[f * N + j] = v!));
    v8[(4 + c!) * N + j] = s!;
    [cx, cy, w, h, 1].forEach((v, f) => (v5[j * (5 + nc) + f] = v!));
    v5[j * (5 + nc) + 5 + c!] = s!;
  });
  const a = decodeYolo(v8, [1, 4 + nc, N], card());
  const b = decodeYolo(v5, [1, N, 5 + nc], card({ output: { name: 'output0', format: 'yolov5' } }));
  t.same(a, b);
  t.equal(a.length, 2, 'the box under the score threshold is dropped');
  t.match(a[0], { x1: 6, y1: 5, x2: 14, y2: 11, class: 'person' });
  const norm = decodeYolo(v8.map((v, i) => (i < 4 * N ? v / 32 : v)), [1, 6, N], card({ output: { name: 'output0', format: 'yolov8', coordinates: 'normalised' } }));
  t.match(norm[0], { x1: 6, x2: 14 });
  t.throws(() => decodeYolo(new Float32Array(7 * N), [1, 7, N], card()), /expects 6 values per box on axis 1, got 7/);
  t.throws(() => decodeYolo(new Float32Array(6 * N), [2, 6, N], card()), /expected batch 1/);
});

t.test('letterbox geometry round-trips and the input is resized and normalised', async (t) => {
  const tr = letterboxTransform(64, 32, 32, 32);
  t.same(tr, { scale: 0.5, padX: 0, padY: 8 });
  t.same(unletterbox(det(4, 8, 12, 16, 1), tr), { ...det(8, 0, 24, 16, 1) });
  // A 64×32 image, left half black, right half white: letterboxed into 32×32 with grey-free black padding.
  const img = { width: 64, height: 32, channels: 3, data: new Uint8Array(64 * 32 * 3) };
  for (let y = 0; y < 32; y++) for (let x = 32; x < 64; x++) for (let c = 0; c < 3; c++) img.data[(y * 64 + x) * 3 + c] = 255;
  const { tensor, toSource } = prepareInput(img, card());
  t.equal(tensor.length, 3 * 32 * 32);
  t.equal(tensor[0 * 32 + 2], 0, 'padding row');
  t.equal(tensor[16 * 32 + 2], 0, 'black half');
  t.equal(tensor[16 * 32 + 30], 1, 'white half, normalised to 1');
  t.same(toSource({ x1: 0, y1: 8, x2: 32, y2: 24 }), { x1: 0, y1: 0, x2: 64, y2: 32 });
  t.throws(() => prepareInput({ ...img, channels: 1, data: new Uint8Array(64 * 32) }, card()), /1 channels, the model takes 3/);
});

t.test('cards are checked field by field', async (t) => {
  t.throws(() => checkDetectorCard({ ...card(), classes: ['a', 'a'] }, 'c.json'), /classes\[1\]: "a" is listed twice/);
  t.throws(() => checkDetectorCard({ ...card(), input: { ...card().input, channels: ['gray'] } }, 'c.json'), /input.channels: 1 names for 3 channels/);
  t.throws(() => checkDetectorCard({ ...card(), output: { name: 'o', format: 'ssd' } }, 'c.json'), ModelCardError);
  t.throws(() => checkDetectorCard({ ...card(), thresholds: { score: 0.3, iou: 0.5, perClass: { knife: 0.5 } } }, 'c.json'), /perClass.knife: not one of the classes/);
});

t.test('an ONNX model runs end to end, and a model that disagrees with its card is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'detect-'));
  const write = (name: string, c: DetectorCard) => {
    const p = join(dir, name);
    writeFileSync(p, JSON.stringify({ ...c, model: join(fixtures, c.model) }));
    return p;
  };
  const d = await OnnxDetector.load(write('ok.json', card()));
  t.teardown(() => d.close());
  const dets = await d.run(new Float32Array(3 * 32 * 32));
  t.same(dets.map((x) => [x.class, Math.round(x.score * 10) / 10]), [['person', 0.9], ['bag', 0.7]], 'duplicate suppressed, low scores dropped');
  // 64×64 source image: boxes scale by 2 back to the source.
  const src = await d.detect({ width: 64, height: 64, channels: 3, data: new Uint8Array(64 * 64 * 3) });
  t.match(src[0], { x1: 12, y1: 10, x2: 28, y2: 22 });
  await t.rejects(OnnxDetector.load(write('wrong.json', card({ model: 'tiny-wrong.onnx' }))), /output.shape: the card says \[1,6,16\], the model's "output0" is \[1,7,16\]/);
  await t.rejects(OnnxDetector.load(write('name.json', card({ output: { name: 'boxes', format: 'yolov8' } }))), /output.name: the card names "boxes"/);
  await t.rejects(OnnxDetector.load(write('in.json', card({ input: { ...card().input, shape: [1, 1, 32, 32], channels: ['g'], normalise: { scale: 1, mean: [0], std: [1] } } }))), /input.shape/);
  await t.rejects(OnnxDetector.load(join(dir, 'missing.json')), /cannot read the card \(ENOENT\)/);
});
