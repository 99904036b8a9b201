// The card that travels with every object-detection model (X-ray ATR, camera people/bags): what the network takes,
// what it returns and how to read it, so a production model drops in by writing its card, not by changing code.
import { type Static, Type } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import { CustomsError } from '../../common/errors.js';
import { readCardJson } from '../../common/onnx-check.js';
import { formatErrors } from '../../protocol/codec.js';

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

/** A card or model that cannot be used; `problems` lists every `where: what was expected`. */
export class ModelCardError extends CustomsError {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super('E_MODEL_CARD', `${file}: cannot use this detection model\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }
}

const validateCard = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(DetectorCardSchema);

/** Consistency rules the schema cannot say. */
export function detectorCardProblems(card: DetectorCard): string[] {
  const problems: string[] = [];
  const c = card.input.shape[1];
  if (card.input.channels.length !== c) problems.push(`input.channels: ${card.input.channels.length} names for ${c} channels (input.shape[1])`);
  if (card.input.normalise.mean.length !== c) problems.push(`input.normalise.mean: expected ${c} values (one per channel), got ${card.input.normalise.mean.length}`);
  if (card.input.normalise.std.length !== c) problems.push(`input.normalise.std: expected ${c} values (one per channel), got ${card.input.normalise.std.length}`);
  const seen = new Set<string>();
  card.classes.forEach((k, i) => {
    if (seen.has(k)) problems.push(`classes[${i}]: "${k}" is listed twice`);
    seen.add(k);
  });
  for (const k of Object.keys(card.thresholds.perClass ?? {})) {
    if (!seen.has(k)) problems.push(`thresholds.perClass.${k}: not one of the classes ${JSON.stringify(card.classes)}`);
  }
  return problems;
}

/** Checks a parsed card; throws ModelCardError naming every problem. */
export function checkDetectorCard(value: unknown, file: string): DetectorCard {
  if (!validateCard(value)) throw new ModelCardError(file, formatErrors(validateCard.errors));
  const card = value as DetectorCard;
  const problems = detectorCardProblems(card);
  if (problems.length) throw new ModelCardError(file, problems);
  return card;
}

export async function loadDetectorCard(file: string): Promise<DetectorCard> {
  const r = await readCardJson(file);
  if ('problem' in r) throw new ModelCardError(file, [r.problem]);
  return checkDetectorCard(r.value, file);
}

/** The model's expected output shape for `anchors` candidate boxes (a symbolic count when unknown). */
export function expectedOutputShape(card: DetectorCard, anchors: number | string = 'anchors'): (number | string)[] {
  const nc = card.classes.length;
  return card.output.format === 'yolov8' ? [card.input.shape[0], 4 + nc, anchors] : [card.input.shape[0], anchors, 5 + nc];
}
