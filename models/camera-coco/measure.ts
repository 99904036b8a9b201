// Detector time per call at 640x480 for each COCO model and runtime (wall and process CPU ms), for the model card: npx tsx models/camera-coco/measure.ts [runs]
import sharp from 'sharp';
import { cpus } from 'node:os';
import { packageFile } from '../../edge/inference/coco-tfjs.js';
import { existsSync } from 'node:fs';
import { CocoDetector, convertedOnnxPath } from '../../edge/inference/coco-detector.js';
import { COCO_MODELS, type CocoModelName } from '../../edge/inference/coco-models.js';

const runs = Number(process.argv[2] ?? 5);
// A real photograph scaled to the camera size (the sample strip's lower half, crowded with people).
const { data } = await sharp(packageFile('@vladmandic/human', 'assets/samples.jpg'))
  .extract({ left: 0, top: 195, width: 1280, height: 963 })
  .resize(640, 480, { fit: 'fill' })
  .removeAlpha()
  .raw()
  .toBuffer({ resolveWithObject: true });
const frame = { data: new Uint8Array(data), width: 640, height: 480, channels: 3 };
const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
const out: Record<string, unknown> = { machine: `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`, node: process.version, frame: '640x480', runs };
const routes: [CocoModelName, 'tfjs' | 'onnx'][] = [['nanodet', 'tfjs'], ['nanodet', 'onnx'], ['centernet', 'tfjs']];
for (const [model, runtime] of routes) {
  const onnx = convertedOnnxPath(COCO_MODELS[model]);
  if (runtime === 'onnx' && !(onnx && existsSync(onnx))) {
    out[`${model}/${runtime}`] = `not converted (${onnx ?? 'no converter for this graph'})`;
    continue;
  }
  const det = await CocoDetector.load({ model, runtime });
  await det.detect(frame); // the first call compiles the kernels
  const wall: number[] = [];
  const cpu: number[] = [];
  let boxes = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    boxes = (await det.detect(frame)).length;
    const c = process.cpuUsage(c0);
    wall.push(performance.now() - t0);
    cpu.push((c.user + c.system) / 1000);
  }
  out[`${model}/${runtime}`] = { wall_ms_median: Math.round(median(wall)), wall_ms_min: Math.round(Math.min(...wall)), cpu_ms_median: Math.round(median(cpu)), cpu_ms_min: Math.round(Math.min(...cpu)), boxes };
  await det.close();
}
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
