// An ONNX object detector described by its card: checked against the model at load, then image → detections.
import { dirname, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { InputError } from '../../common/errors.js';
import { openSession, tensorProblems } from './onnx-check.js';
import { type DetectorCard, expectedOutputShape, loadDetectorCard, ModelCardError } from './model-card.js';
import { type Detection, clipBox, decodeYolo, nms, prepareInput, type RawImage } from '../../analysis/detect/yolo.js';

export interface DetectorOptions {
  /** Threads per inference (default 1: nodes run one detector per camera or stage, and cores are few). */
  intraOpNumThreads?: number;
  /** Overrides of the card's score threshold (e.g. a stage run at a lower operating point). */
  scoreThreshold?: number;
}

export class OnnxDetector {
  private constructor(
    readonly card: DetectorCard,
    readonly modelPath: string,
    private readonly session: ort.InferenceSession,
    private readonly opts: DetectorOptions,
  ) {}

  /** Loads the card and its model; throws ModelCardError naming every way they disagree. */
  static async load(cardPath: string, opts: DetectorOptions = {}): Promise<OnnxDetector> {
    const card = await loadDetectorCard(cardPath);
    const modelPath = resolve(dirname(cardPath), card.model);
    const opened = await openSession(modelPath, opts.intraOpNumThreads ?? 1);
    if ('problem' in opened) throw new ModelCardError(modelPath, [opened.problem]);
    const session = opened.session;
    const problems = [
      ...tensorProblems('input', { name: card.input.name, dtype: card.input.dtype, shape: card.input.shape }, session.inputNames, session.inputMetadata),
      ...outputProblems(card, session),
    ];
    if (problems.length) {
      await session.release();
      throw new ModelCardError(cardPath, problems);
    }
    return new OnnxDetector(card, modelPath, session, opts);
  }

  /** Input size the model takes: [C, H, W]. */
  get inputSize(): { channels: number; height: number; width: number } {
    const [, channels, height, width] = this.card.input.shape;
    return { channels, height, width };
  }

  /** Detections for one prepared NCHW input, in model-input pixels, after NMS. */
  async run(input: Float32Array): Promise<Detection[]> {
    const { channels, height, width } = this.inputSize;
    if (input.length !== channels * height * width) throw new InputError(`input: expected ${channels}×${height}×${width} = ${channels * height * width} values, got ${input.length}`);
    const out = await this.session.run({ [this.card.input.name]: new ort.Tensor('float32', input, [1, channels, height, width]) });
    const t = out[this.card.output.name];
    if (t === undefined || t.type !== 'float32') {
      throw new ModelCardError(this.modelPath, [`output "${this.card.output.name}": expected float32, got ${t === undefined ? 'nothing' : t.type}`]);
    }
    let candidates: Detection[];
    try {
      candidates = decodeYolo(t.data as Float32Array, t.dims, this.card, { scoreThreshold: this.opts.scoreThreshold ?? this.card.thresholds.score });
    } catch (e) {
      throw new ModelCardError(this.modelPath, [(e as Error).message]);
    }
    return nms(candidates, this.card.thresholds.iou, { maxDetections: this.card.maxDetections ?? 300 });
  }

  /** Detections in source-image pixels (resized and normalised as the card says, clipped to the image). */
  async detect(img: RawImage): Promise<Detection[]> {
    const { tensor, toSource } = prepareInput(img, this.card);
    const dets = await this.run(tensor);
    const out: Detection[] = [];
    for (const d of dets) {
      const c = clipBox({ ...d, ...toSource(d) }, img.width, img.height);
      if (c) out.push(c);
    }
    return out;
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

/** The output must be one float32 rank-3 tensor whose box axis fits the card's format and classes. */
function outputProblems(card: DetectorCard, session: ort.InferenceSession): string[] {
  const meta = session.outputMetadata.find((m) => m.name === card.output.name);
  const shape = meta?.isTensor ? meta.shape : undefined;
  // The anchor count is the model's business; everything else is fixed by the card.
  const anchors = shape?.[card.output.format === 'yolov8' ? 2 : 1] ?? 'anchors';
  return tensorProblems('output', { name: card.output.name, dtype: 'float32', shape: expectedOutputShape(card, anchors) }, session.outputNames, session.outputMetadata);
}
