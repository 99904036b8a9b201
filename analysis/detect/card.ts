// The detector model card: what a YOLO-style ONNX detector takes and gives (input, normalisation, output layout,
// classes, thresholds). One TypeBox source for the type and the schema that edge/inference checks cards against.
import { type Static, Type } from '@sinclair/typebox';

export const DetectorCardSchema = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    version: Type.Integer({ minimum: 0 }),
    task: Type.Literal('detect'),
    model: Type.String({ minLength: 1, description: 'ONNX file, relative to the card' }),
    input: Type.Object(
      {
        name: Type.String({ minLength: 1 }),
        shape: Type.Tuple([Type.Union([Type.Literal(1), Type.String({ minLength: 1 })]), Type.Integer({ minimum: 1 }), Type.Integer({ minimum: 1 }), Type.Integer({ minimum: 1 })], {
          description: '[batch, C, H, W]; batch 1 or a symbolic name',
        }),
        dtype: Type.Literal('float32'),
        layout: Type.Literal('NCHW'),
        normalise: Type.Object(
          {
            scale: Type.Number({ description: 'raw pixel value × scale, then (v - mean[c]) / std[c]' }),
            mean: Type.Array(Type.Number()),
            std: Type.Array(Type.Number({ exclusiveMinimum: 0 })),
          },
          { additionalProperties: false },
        ),
        letterbox: Type.Boolean({ description: 'resize keeping the aspect ratio and pad (true) or stretch (false)' }),
        padValue: Type.Optional(Type.Number({ description: 'raw value of the padding (default 0)' })),
        channels: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: "names of the input channels, e.g. ['r','g','b'] or ['high','low']" }),
      },
      { additionalProperties: false },
    ),
    output: Type.Object(
      {
        name: Type.String({ minLength: 1 }),
        format: Type.Union([Type.Literal('yolov8'), Type.Literal('yolov5')], {
          description: 'yolov8: [1, 4+nc, N] cx,cy,w,h then class scores; yolov5: [1, N, 5+nc] cx,cy,w,h,objectness then class scores',
        }),
        coordinates: Type.Optional(Type.Union([Type.Literal('pixels'), Type.Literal('normalised')], { description: 'box units, input pixels (default) or 0-1' })),
      },
      { additionalProperties: false },
    ),
    classes: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    thresholds: Type.Object(
      {
        score: Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1 }),
        iou: Type.Number({ exclusiveMinimum: 0, maximum: 1 }),
        /** Per-class score thresholds where they differ from `score`. */
        perClass: Type.Optional(Type.Record(Type.String(), Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1 }))),
      },
      { additionalProperties: false },
    ),
    maxDetections: Type.Optional(Type.Integer({ minimum: 1, default: 300 })),
    metrics: Type.Optional(Type.Unknown()),
    training: Type.Optional(Type.Unknown()),
    description: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type DetectorCard = Static<typeof DetectorCardSchema>;
