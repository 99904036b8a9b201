// Bad input to the X-ray chain: corrupt, truncated, 8-bit, mismatched or missing images and a model that does not
// match its card all end as 'review' with a reason naming the problem; nothing is dropped and the pipeline keeps going.
import t from 'tap';
import { EventEmitter } from 'node:events';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { silentLogger } from '../../common/log.js';
import { OnnxDetector } from '../../edge/inference/detector.js';
import { ModelCardError } from '../../edge/inference/model-card.js';
import { XrayPipeline } from '../../edge/pipelines/xray.js';
import type { ComponentContext, ReadingBus } from '../../contract/component.js';
import { defaultXrayCard } from '../../edge/xray/atr.js';
import { readImage16, XrayImageError } from '../../edge/xray/image-io.js';
import { inspectScan } from '../../edge/xray/inspect.js';
import { writeTipDataset } from '../../edge/xray/tip-dataset.js';
import { tempDir } from '../harness/services.js';

const dir = tempDir('xray-bad');
const gen = join(dir, 'gen');
const good = { high: join(gen, 'images', 'tip-9-000000_high.png'), low: join(gen, 'images', 'tip-9-000000_low.png') };

t.before(async () => {
  await writeTipDataset({ out: gen, count: 2, size: 128, pitch_cm: 0.5, seed: 9, difficulty: 'easy' });
});

t.test('image errors name the file and what was expected', async (t) => {
  const corrupt = join(dir, 'corrupt.png');
  writeFileSync(corrupt, Buffer.from('this is not an image at all'));
  await t.rejects(readImage16(corrupt), { code: 'E_XRAY_DECODE', message: /corrupt\.png: not a readable image .*expected a 16-bit grey PNG or TIFF/ });
  const truncated = join(dir, 'truncated.png');
  writeFileSync(truncated, readFileSync(good.high).subarray(0, 2000));
  await t.rejects(readImage16(truncated), { code: 'E_XRAY_DECODE', message: /truncated\.png: corrupt image data/ });
  const eight = join(dir, 'eight.png');
  await sharp(Buffer.alloc(64 * 64, 90), { raw: { width: 64, height: 64, channels: 1 } }).png().toFile(eight);
  await t.rejects(readImage16(eight), { code: 'E_XRAY_BITDEPTH', message: /eight\.png: 8-bit image; expected 16-bit grey/ });
  const rgb = join(dir, 'rgb16.png');
  await sharp(new Uint16Array(32 * 32 * 3).fill(1000), { raw: { width: 32, height: 32, channels: 3 } }).toColourspace('rgb16').png().toFile(rgb);
  await t.rejects(readImage16(rgb), { code: 'E_XRAY_CHANNELS', message: /rgb16\.png: 3 channels/ });
  await t.rejects(readImage16(join(dir, 'nope.png')), XrayImageError);
  await t.rejects(readImage16(join(dir, 'nope.png')), /nope\.png: cannot read \(ENOENT\)/);
  const tiff = join(dir, 'ok.tiff');
  await sharp(new Uint16Array(40 * 30).fill(30000), { raw: { width: 40, height: 30, channels: 1 } }).toColourspace('grey16').tiff({ compression: 'lzw' }).toFile(tiff);
  const img = await readImage16(tiff);
  t.same([img.width, img.height, img.data[0]], [40, 30, 30000], '16-bit TIFF reads');
});

t.test('inspectScan turns every bad input into review with the reason', async (t) => {
  const corrupt = join(dir, 'c2_high.png');
  writeFileSync(corrupt, Buffer.alloc(3000, 1));
  const eight = join(dir, 'e2.png');
  await sharp(Buffer.alloc(64 * 64, 90), { raw: { width: 64, height: 64, channels: 1 } }).png().toFile(eight);
  const small = join(dir, 'small_low.png');
  await sharp(new Uint16Array(64 * 64).fill(40000), { raw: { width: 64, height: 64, channels: 1 } }).toColourspace('grey16').png().toFile(small);
  const cases: [string, Parameters<typeof inspectScan>[0], RegExp][] = [
    ['corrupt high image', { scanId: 'a', high: corrupt, low: good.low }, /c2_high\.png: not a readable image/],
    ['pair of different sizes', { scanId: 'c', high: good.high, low: small }, /small_low\.png: 64 x 64 after scaling, its high-energy image 128 x 128; expected the same size/],
    ['missing image file', { scanId: 'd', high: join(dir, 'gone.png') }, /gone\.png: cannot read \(ENOENT\)/],
    ['half a pair (from the watcher)', { scanId: 'e', high: good.high, problems: ['missing low-energy image e_low.* after 30 s'] }, /missing low-energy image/],
    ['references that do not exist', { scanId: 'f', high: good.high, low: good.low }, /dark\.png|ENOENT/],
  ];
  for (const [what, scan, re] of cases) {
    const { result } = await inspectScan(scan, { stages: [], pitch_cm: 0.5, ...(scan.scanId === 'f' ? { referencesDir: join(dir, 'no-refs') } : {}) });
    t.equal(result.decision, 'review', `${what}: review`);
    t.match(result.reasons.join(' | '), re, `${what}: ${result.reasons[0]}`);
    t.equal(result.scanId, scan.scanId, 'the scan keeps its id');
  }
  // An 8-bit grey export is a single-energy scan like any other now (real scanners export them): decided, no problem.
  const eightBit = await inspectScan({ scanId: 'b', high: eight }, { stages: [], pitch_cm: 0.5 });
  t.same(eightBit.result.problems, [], '8-bit single image: analysed');
  t.match(eightBit.result.input, { kind: 'single-energy', bits: 8, format: 'png' });
  const ok = await inspectScan({ scanId: 'g', high: good.high, low: good.low }, { stages: [], pitch_cm: 0.5 });
  t.equal(ok.result.problems.length, 0, 'a good pair has no problems');
  t.ok(ok.result.materials !== undefined && ok.result.materials.objectFraction > 0.3, 'and gets materials');
});

t.test('a model whose outputs do not match its card: load names the mismatch; the pipeline sends scans to review', async (t) => {
  const cardPath = defaultXrayCard();
  const card = JSON.parse(readFileSync(cardPath, 'utf8')) as { classes: string[]; model: string; output: { name: string } };
  const wrongDir = tempDir('xray-wrong-card');
  copyFileSync(join(cardPath, '..', card.model), join(wrongDir, 'model.onnx'));
  const wrongCard = join(wrongDir, 'model-card.json');
  writeFileSync(wrongCard, JSON.stringify({ ...card, classes: ['gun', 'knife', 'blade'], thresholds: { score: 0.3, iou: 0.45 }, metrics: undefined }));
  const err = await OnnxDetector.load(wrongCard).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof ModelCardError, 'ModelCardError');
  t.match((err as Error).message, /output/, `names the output: ${(err as Error).message.split('\n').join(' / ')}`);
  const good2 = await OnnxDetector.load(cardPath);
  t.equal(good2.card.classes.length, card.classes.length, 'the shipped card and model agree');
  await good2.close();

  const bus: ReadingBus = new EventEmitter();
  const emitted: { scanId: string; decision: string; reasons: string[] }[] = [];
  const ctx: ComponentContext = {
    node: 'xr-02',
    site: 'port-a',
    log: silentLogger,
    clock: { now: () => ({ ts: Date.now(), tsTrusted: true, mono_ms: performance.now() }), markTrusted: () => undefined, trusted: true },
    signal: new AbortController().signal,
    emit: async (_kind, body) => void emitted.push(body as never),
    fail: (e) => {
      throw e;
    },
    bus,
  };
  const p = new XrayPipeline({ name: 'xray', type: 'xray', options: { stages: [{ name: 'threats', card: wrongCard }], pitch_cm: 0.5, logDir: join(wrongDir, 'log') } });
  await p.start(ctx);
  t.match(p.stats().modelProblems[0], /ATR stage threats unavailable/, 'the pipeline started and knows why ATR is off');
  const done: string[] = [];
  for (const id of ['tip-9-000000', 'tip-9-000001']) {
    bus.emit('xrayScan', { scanId: id, high: join(gen, 'images', `${id}_high.png`), low: join(gen, 'images', `${id}_low.png`), time_ms: Date.now(), done: (e) => void done.push(e ? `error ${e.message}` : id) });
  }
  await p.settled();
  await p.stop();
  t.same(done, ['tip-9-000000', 'tip-9-000001'], 'every scan finished (nothing lost)');
  t.same(emitted.map((e) => e.decision), ['review', 'review'], 'both to review');
  t.match(emitted[0]!.reasons[0], /not analysed automatically: ATR stage threats unavailable: .*cannot use this detection model/, emitted[0]!.reasons[0]);
  t.equal(bus.listenerCount('xrayScan'), 0, 'listener removed on stop');
});

t.test('dark/open-beam references: a raw detector image normalises to the same scan as an ideal one', async (t) => {
  const refs = join(dir, 'refs');
  const { mkdirSync } = await import('node:fs');
  const ideal = await readImage16(good.high);
  const idealLow = await readImage16(good.low);
  const w = ideal.width;
  const rawDir = join(dir, 'raw');
  mkdirSync(rawDir, { recursive: true });
  // A detector line with its own offset and gain per pixel: raw = dark + T (open - dark).
  const files: Record<string, string> = {};
  for (const [ch, img] of [['high', ideal], ['low', idealLow]] as const) {
    mkdirSync(join(refs, ch), { recursive: true });
    const dark = new Uint16Array(w).map((_, x) => 800 + ((x * 13) % 200));
    const open = new Uint16Array(w).map((_, x) => 40000 + ((x * 977) % 15000));
    const raw = new Uint16Array(img.data.length);
    for (let i = 0; i < raw.length; i++) {
      const x = i % w;
      raw[i] = Math.round(dark[x]! + (img.data[i]! / 65535) * (open[x]! - dark[x]!));
    }
    const { encodePng16 } = await import('../../edge/xray/image-io.js');
    writeFileSync(join(refs, ch, 'dark.png'), await encodePng16({ width: w, height: 1, data: dark }));
    writeFileSync(join(refs, ch, 'open.png'), await encodePng16({ width: w, height: 1, data: open }));
    files[ch] = join(rawDir, `s_${ch}.png`);
    writeFileSync(files[ch]!, await encodePng16({ width: w, height: img.height, data: raw }));
  }
  const withRefs = await inspectScan({ scanId: 'r', high: files.high!, low: files.low! }, { stages: [], pitch_cm: 0.5, referencesDir: refs });
  const plain = await inspectScan({ scanId: 'p', high: good.high, low: good.low }, { stages: [], pitch_cm: 0.5 });
  const without = await inspectScan({ scanId: 'n', high: files.high!, low: files.low! }, { stages: [], pitch_cm: 0.5 });
  t.same(withRefs.result.problems, [], 'references found and used');
  const a = withRefs.result.materials!;
  const b = plain.result.materials!;
  t.ok(Math.abs(a.organic - b.organic) < 0.01 && Math.abs(a.metal - b.metal) < 0.01, `same materials as the ideal scan (organic ${a.organic.toFixed(3)} vs ${b.organic.toFixed(3)})`);
  t.ok(Math.abs(a.mass_kg! - b.mass_kg!) < 0.05 * b.mass_kg!, `same mass ${a.mass_kg!.toFixed(2)} vs ${b.mass_kg!.toFixed(2)} kg`);
  t.ok(Math.abs(without.result.materials!.mass_kg! - b.mass_kg!) > 0.1 * b.mass_kg!, 'without references the raw image reads wrong');
});
