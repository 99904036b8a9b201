// The card that travels with every object-detection model (X-ray ATR, camera people/bags): what the network takes,
// what it returns and how to read it, so a production model drops in by writing its card, not by changing code.
import { Ajv } from 'ajv';
import { CustomsError } from '../../common/errors.js';
import { readCardJson } from './onnx-check.js';
import { DetectorCardSchema, type DetectorCard } from '../../analysis/detect/card.js';
import { formatErrors } from '../../protocol/codec.js';

export { DetectorCardSchema, type DetectorCard };

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
