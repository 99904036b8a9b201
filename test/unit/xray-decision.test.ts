// Staged decision rules: detector scores, materials and declaration → clear / review / inspect with reasons; the decision log.
import t from 'tap';
import { decide, DEFAULT_DECISION, type DecisionInput } from '../../analysis/xray/decision.js';
import { DecisionLog } from '../../edge/xray/decision-log.js';
import type { MaterialsSummary } from '../../analysis/xray/materials.js';
import { summaryOf } from '../../edge/pipelines/xray.js';
import { validate } from '../../protocol/index.js';
import { tempDir } from '../harness/services.js';

function mats(p: Partial<MaterialsSummary> & { dense_cm2?: number } = {}): MaterialsSummary {
  return {
    organic: p.organic ?? 0.7,
    inorganic: p.inorganic ?? 0.25,
    metal: p.metal ?? 0.05,
    opaque: p.opaque ?? 0,
    objectFraction: 0.6,
    denseOrganic: { pixels: 100, meanAttenuation: 1.2, area_cm2: p.dense_cm2 ?? 10 },
  };
}

const textiles = { hsCode: '6109.10', goods: 'cotton t-shirts', weight_kg: 4, origin: 'TR' };
const laptop = { hsCode: '8471.30', goods: 'laptop computer', weight_kg: 3, origin: 'CN' };

const review03 = { ...DEFAULT_DECISION, reviewScore: 0.3 };

t.test('nothing found, materials fit: clear, saying why', async (t) => {
  const r = decide({ detections: [], materials: mats(), declaration: textiles }, review03);
  t.equal(r.decision, 'clear');
  t.match(r.reasons.join('\n'), /no detection over review 0.3/);
  t.match(r.reasons.join('\n'), /materials consistent with declared "cotton t-shirts"/);
  t.equal(decide({ detections: [{ class: 'blade', score: 0.41 }], materials: mats(), declaration: textiles }).decision, 'review', 'by default every detection the model reports goes to review');
  const low = decide({ detections: [{ class: 'knife', score: 0.2 }], materials: mats(), declaration: textiles }, review03);
  t.equal(low.decision, 'clear', 'a weak detection under the review score clears');
  t.match(low.reasons[0], /top detection knife 0.20 < review 0.3/);
});

t.test('detector scores: review band and per-class inspect thresholds', async (t) => {
  const r1 = decide({ detections: [{ class: 'knife', score: 0.5, stage: 'threats' }], materials: mats(), declaration: textiles }, review03);
  t.equal(r1.decision, 'review');
  t.match(r1.reasons[0], /knife 0.50 >= review 0.3 \(stage threats\)/);
  const r2 = decide({ detections: [{ class: 'gun', score: 0.61 }], materials: mats(), declaration: textiles });
  t.equal(r2.decision, 'inspect', 'gun over its inspect score');
  t.match(r2.reasons[0], /gun 0.61 >= 0.6/);
  const r3 = decide({ detections: [{ class: 'knife', score: 0.61 }], materials: mats(), declaration: textiles });
  t.equal(r3.decision, 'review', 'the same score is only review for a knife (inspect at 0.75)');
  const r4 = decide({ detections: [{ class: 'knife', score: 0.4 }, { class: 'ied', score: 0.9 }] });
  t.equal(r4.decision, 'inspect', 'the strongest outcome wins');
  t.equal(r4.reasons.length, 2, 'and every rule that fired is a reason');
  t.match(r4.reasons[0], /^ied/, 'highest score first');
  const custom = decide({ detections: [{ class: 'knife', score: 0.61 }] }, { ...DEFAULT_DECISION, inspectScore: { knife: 0.6 } });
  t.equal(custom.decision, 'inspect', 'thresholds come from config');
});

t.test('materials against the declaration', async (t) => {
  const dense = decide({ detections: [], materials: mats({ dense_cm2: 150 }), declaration: laptop });
  t.equal(dense.decision, 'review', 'dense organic mass in a declared laptop');
  t.match(dense.reasons[0], /dense organic mass 150 cm2 .* but declared "laptop computer" \(HS 8471.30\)/);
  t.equal(decide({ detections: [], materials: mats({ dense_cm2: 150 }), declaration: textiles }).decision, 'clear', 'expected in textiles (organic goods)');
  t.equal(decide({ detections: [], materials: mats({ dense_cm2: 150 }), declaration: { goods: 'chocolate', hsCode: '1806.32' } }).decision, 'clear', 'expected in food');
  const none = decide({ detections: [], materials: mats({ dense_cm2: 150 }) });
  t.equal(none.decision, 'review');
  t.match(none.reasons[0], /but no declaration/);
  t.equal(decide({ detections: [], materials: mats({ dense_cm2: 40 }), declaration: laptop }).decision, 'clear', 'a small mass under the area threshold');
  const metal = decide({ detections: [], materials: mats({ metal: 0.3 }), declaration: textiles });
  t.equal(metal.decision, 'review');
  t.match(metal.reasons[0], /metal 30 % of contents for declared "cotton t-shirts"/);
  t.equal(decide({ detections: [], materials: mats({ metal: 0.3 }), declaration: laptop }).decision, 'clear', 'metal is expected in a laptop');
  const opaque = decide({ detections: [], materials: mats({ opaque: 0.05 }), declaration: laptop });
  t.equal(opaque.decision, 'review');
  t.match(opaque.reasons[0], /impenetrable 5.0 % of contents/);
});

t.test('mass seen by the beam against the declared weight', async (t) => {
  const heavy = decide({ detections: [], materials: { ...mats(), mass_kg: 14 }, declaration: { ...laptop, weight_kg: 3 } });
  t.equal(heavy.decision, 'review');
  t.match(heavy.reasons[0], /about 14.0 kg seen by the beam, declared 3 kg/);
  const light = decide({ detections: [], materials: { ...mats(), mass_kg: 2 }, declaration: { ...laptop, weight_kg: 12 } });
  t.match(light.reasons[0], /only about 2.0 kg seen by the beam, declared 12 kg/);
  t.equal(decide({ detections: [], materials: { ...mats(), mass_kg: 4 }, declaration: { ...laptop, weight_kg: 3 } }).decision, 'clear', 'within the factor');
  t.equal(decide({ detections: [], materials: { ...mats(), mass_kg: 14 }, declaration: { ...laptop, weight_kg: 3 } }, { ...DEFAULT_DECISION, massFactor: 0 }).decision, 'clear', '0 turns it off');
});

t.test('problems force review; they never clear and never hide a stronger outcome', async (t) => {
  const r = decide({ detections: [], problems: ['missing low-energy image scan-7_low.* after 30 s'] });
  t.equal(r.decision, 'review');
  t.match(r.reasons[0], /not analysed automatically: missing low-energy image/);
  const r2 = decide({ detections: [{ class: 'gun', score: 0.9 }], problems: ['ATR stage batteries unavailable: ...'] });
  t.equal(r2.decision, 'inspect');
});

t.test('decisions are pure and bounded for the schema', async (t) => {
  const input: DecisionInput = { detections: Array.from({ length: 50 }, (_, i) => ({ class: 'knife', score: 0.3 + i / 100 })), materials: mats(), declaration: textiles };
  t.same(decide(input), decide(input));
  t.ok(decide(input).reasons.length <= 32, 'at most 32 reasons');
  const body = summaryOf(
    {
      scanId: 's1',
      decision: 'review',
      reasons: ['x'],
      detections: [{ class: 'knife', score: 0.5, stage: 'threats', box: [1, 2, 3, 4] }],
      materials: mats({ dense_cm2: 12.4 }),
      problems: [],
      latency_ms: 12.34,
      timings_ms: {},
    },
    'scanner-1',
    { threats: 'xray-atr@1' },
  );
  const env = { v: 1, node: 'xr-01', site: 'port-a', boot: 'abcdef12', seq: 0, ts: Date.now(), tsTrusted: true, mono_ms: 1 };
  const v = validate('xray', { ...env, ...body });
  t.ok(v.ok, `summary valid: ${v.ok ? '' : v.errors.join('; ')}`);
  t.notOk(JSON.stringify(body).includes('box'), 'no boxes (and no image) leave the box');
});

t.test('decision log: decisions and later verdicts, joined for model updates; a torn line is skipped', async (t) => {
  const dir = tempDir('xray-log');
  const log = new DecisionLog(dir);
  await log.init();
  const base = { reasons: [], detections: [], problems: [], latency_ms: 1, timings_ms: {}, ts: 1 };
  await log.appendDecision({ ...base, scanId: 'a', decision: 'clear' });
  await log.appendDecision({ ...base, scanId: 'b', decision: 'review' });
  await log.appendVerdict({ scanId: 'b', verdict: 'threat', found: [{ class: 'knife' }], ts: 2 });
  const { appendFile } = await import('node:fs/promises');
  await appendFile(`${dir}/decisions.jsonl`, '{"scanId":"c","deci');
  const joined = await log.labelled();
  t.same(joined.map((j) => [j.decision.scanId, j.verdict?.verdict]), [['a', undefined], ['b', 'threat']]);
  await t.rejects(log.appendVerdict({ scanId: 'a', verdict: 'maybe' as never, ts: 3 }), /expected one of clear, threat/);
});
