// The onnxruntime route of the COCO detectors: the TFJS graph converted to ONNX at build time, run on one thread.
import * as ort from 'onnxruntime-node';
import type { Detection } from '../../analysis/detect/yolo.js';
import { decodeGfl, type GflLevel } from './coco-decode.js';
import type { CocoModelSpec } from './coco-models.js';
import { regionInput } from './coco-prep.js';
import { CocoModelError } from './coco-tfjs.js';
import { openSession } from './onnx-check.js';

export class CocoOnnxEngine {
  readonly runtime = 'onnx' as const;

  private constructor(
    private readonly spec: CocoModelSpec,
    private readonly session: ort.InferenceSession,
    readonly modelPath: string,
  ) {}

  static async open(spec: CocoModelSpec, modelPath: string): Promise<CocoOnnxEngine> {
    if (spec.decode.kind !== 'gfl') throw new CocoModelError(`${spec.name}: no onnxruntime route for this model (its graph is not converted)`);
    // One thread, as every detector of the node: the cameras share the box's cores.
    const opened = await openSession(modelPath, 1);
    if ('problem' in opened) throw new CocoModelError(`${modelPath}${opened.problem.slice(1)}`);
    const input = opened.session.inputMetadata[0];
    const S = spec.inputSize;
    if (!input?.isTensor || JSON.stringify(input.shape) !== JSON.stringify([1, 3, S, S])) {
      await opened.session.release();
      throw new CocoModelError(`${modelPath}: expected one input [1,3,${S},${S}], got ${JSON.stringify(input?.isTensor ? input.shape : input)}`);
    }
    return new CocoOnnxEngine(spec, opened.session, modelPath);
  }

  async infer(img: { data: Uint8Array; width: number; height: number; channels: number }, r: { x: number; y: number; w: number; h: number }, scoreThreshold: number): Promise<{ raw: Detection[]; toImage: (d: Detection) => Detection }> {
    const d = this.spec.decode;
    if (d.kind !== 'gfl') throw new CocoModelError(`${this.spec.name}: no onnxruntime decoder`);
    const S = this.spec.inputSize;
    const { tensor, toImage } = regionInput(img, r, this.spec);
    const out = await this.session.run({ [this.session.inputNames[0]!]: new ort.Tensor('float32', tensor, [1, 3, S, S]) });
    const outs = Object.values(out);
    const levels: GflLevel[] = d.grids.map((grid) => {
      const cells = grid * grid;
      const scores = outs.find((t) => t.dims[1] === cells && t.dims[2] === 80);
      const boxes = outs.find((t) => t.dims[1] === cells && t.dims[2] === 4 * d.bins);
      if (!scores || !boxes) throw new CocoModelError(`${this.modelPath}: no ${grid}×${grid} level among outputs ${JSON.stringify(outs.map((t) => t.dims))}`);
      return { grid, scores: scores.data as Float32Array, boxes: boxes.data as Float32Array };
    });
    return { raw: decodeGfl(levels, { inputSize: S, bins: d.bins, scoreThreshold }), toImage };
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
