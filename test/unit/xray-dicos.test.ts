// DICOS at the X-ray node: our writer's bytes read back by the dicom-parser reader unchanged, a two-frame dual-energy file
// decided like its PNG pair by `xray inspect`, broken files refused naming the tag, and a bad file in the drop folder
// ends as a reviewed scan (nothing lost).
import t from 'tap';
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../../common/log.js';
import { XrayFolderDriver } from '../../devices/xray/folder.js';
import { XrayPipeline } from '../../edge/pipelines/xray.js';
import type { ComponentContext, ReadingBus } from '../../contract/component.js';
import { defaultXrayCard } from '../../edge/xray/atr.js';
import { decodeDicos, decodeDicosHeader, DICOS_SOP, DicosError, readDicosMeta, sidecarFromDicos, TRANSFER_SYNTAX } from '../../devices/xray/dicos.js';
import { encodeDicos } from '../../edge/xray/dicos-write.js';
import { readImage16, readImageFrames16 } from '../../edge/xray/image-io.js';
import { type Image16 } from '../../analysis/xray/image.js';
import { inspectScan, type InspectResult } from '../../edge/xray/inspect.js';
import { writeTipDataset } from '../../edge/xray/tip-dataset.js';
import { tempDir } from '../harness/services.js';
import { until } from '../helpers/wait.js';
import { EDGE_CLI } from '../helpers/paths.js';

const CLI = EDGE_CLI;
const dir = tempDir('xray-dicos');
const pngSet = join(dir, 'png');
const dcsSet = join(dir, 'dcs');
const ID = 'tip-5-000002';
let high: Image16;
let low: Image16;

t.before(async () => {
  // The same seed gives the same scenes in both formats: the PNG pair and the DICOS file hold the same scan.
  await writeTipDataset({ out: pngSet, count: 3, size: 256, pitch_cm: 0.25, seed: 5, difficulty: 'easy' });
  await writeTipDataset({ out: dcsSet, count: 3, size: 256, pitch_cm: 0.25, seed: 5, difficulty: 'easy', format: 'dicos' });
  high = await readImage16(join(pngSet, 'images', `${ID}_high.png`));
  low = await readImage16(join(pngSet, 'images', `${ID}_low.png`));
});

function same(a: Uint16Array, b: Uint16Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

t.test('round trip: synthetic image -> DICOS bytes -> reader gives the same pixels and metadata', async (t) => {
  for (const vr of ['explicit', 'implicit'] as const) {
    const file = join(dir, `rt-${vr}.dcs`);
    writeFileSync(file, encodeDicos({ frames: [high, low], scanId: 'BAG-0042', vr, manufacturer: 'Acme', modelName: 'DV-6040', stationName: 'belt-3', energies_kV: [160, 80], pitch_cm: 0.5 }));
    const bytes = readFileSync(file);
    t.equal(bytes.toString('latin1', 128, 132), 'DICM', `${vr}: DICM magic after the 128-byte preamble`);
    t.equal(bytes.toString('latin1', 136, 138), 'UL', `${vr}: file meta group in explicit VR, group length first`);
    const frames = await readImageFrames16(file);
    t.equal(frames.length, 2, `${vr}: two frames`);
    t.ok(same(frames[0]!.data, high.data) && same(frames[1]!.data, low.data), `${vr}: frame 0 = high, frame 1 = low, every pixel identical`);
    const { meta } = decodeDicos(bytes, file);
    t.equal(meta.transferSyntaxUid, vr === 'explicit' ? TRANSFER_SYNTAX.explicitLittle : TRANSFER_SYNTAX.implicitLittle, `${vr}: transfer syntax`);
    t.equal(meta.sopClassUid, DICOS_SOP.dxProcessing, 'DICOS DX for processing');
    t.same([meta.rows, meta.columns, meta.frames, meta.bitsStored, meta.signed], [256, 256, 2, 16, false]);
    t.same(sidecarFromDicos(meta, 'fallback'), { scanId: 'BAG-0042', scanner: 'Acme DV-6040 belt-3', energies_kV: [160, 80], pitch_cm: 0.5 }, `${vr}: sidecar fields from the file`);
  }
  // Single energy; rescale applied; a long id falls back to the Scan Instance UID (Scan ID is 16 characters).
  const stored = new Uint16Array(64 * 64).map((_, i) => i % 30000);
  const single = encodeDicos({ frames: [{ width: 64, height: 64, data: stored }], scanId: 'a-scan-id-longer-than-sixteen', rescale: { slope: 2, intercept: 100 } });
  const d = decodeDicos(single, 'single.dcs');
  t.equal(d.frames.length, 1);
  t.ok(d.frames[0]!.data.every((v, i) => v === 2 * stored[i]! + 100), 'counts = stored x RescaleSlope + RescaleIntercept');
  t.match(sidecarFromDicos(d.meta, 'x').scanId, /^2\.25\.\d+$/, 'scanId from the Scan Instance UID');
  // 12 bits stored: bits above are masked off (old files keep overlays there); signed samples with an intercept.
  const twelve = decodeDicos(encodeDicos({ frames: [{ width: 4, height: 1, data: Uint16Array.of(0xf123, 0x0fff, 0x1000, 5) }], scanId: 'B12', bitsStored: 12 }), 'b12.dcs');
  t.same([...twelve.frames[0]!.data], [0x123, 0xfff, 0, 5], 'BitsStored 12: high bits masked');
  const signed = decodeDicos(encodeDicos({ frames: [{ width: 3, height: 1, data: Uint16Array.of(0xffff, 0x8000, 0x7fff) }], scanId: 'S16', signed: true, rescale: { slope: 1, intercept: 32768 } }), 's16.dcs');
  t.same([...signed.frames[0]!.data], [32767, 0, 65535], 'PixelRepresentation 1: -1, -32768, 32767 + 32768');
  t.throws(() => decodeDicos(encodeDicos({ frames: [{ width: 2, height: 1, data: Uint16Array.of(0xffff, 1) }], scanId: 'NEG', signed: true }), 'neg.dcs'), { code: 'E_DICOS_UNSUPPORTED', message: /frame 0 spans -1\.\.1 after .*\(signed samples\); expected detector counts 0\.\.65535/ }, 'negative counts refused');
  t.same(decodeDicosHeader(single.subarray(0, 1024), 'head.dcs').rows, 64, 'the header alone (first KiB) is enough for the metadata');
  // The PNG pair and the DICOS file of the TIP generator hold the same counts.
  const gen = await readImageFrames16(join(dcsSet, 'images', `${ID}.dcs`));
  t.ok(same(gen[0]!.data, high.data) && same(gen[1]!.data, low.data), 'tip --format dicos writes the PNG pair\'s scan');
  // Downsampled reads agree with the PNG path (integer factor and a general resize).
  for (const maxSide of [64, 100]) {
    const a = (await readImageFrames16(join(dcsSet, 'images', `${ID}.dcs`), { maxSide }))[0]!;
    const b = await readImage16(join(pngSet, 'images', `${ID}_high.png`), { maxSide });
    let maxDiff = 0;
    for (let i = 0; i < a.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a.data[i]! - b.data[i]!));
    t.ok(a.width === b.width && maxDiff <= 1, `maxSide ${maxSide}: ${a.width} x ${a.height}, counts within ${maxDiff} of the PNG's`);
  }
});

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'warn' } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

t.test('xray inspect --json: a two-frame DICOS file is decided like the PNG pair of the same scan', async (t) => {
  const img = (f: string) => join(pngSet, 'images', f);
  const [png, dcs] = await Promise.all([
    runCli(['xray', 'inspect', img(`${ID}_high.png`), img(`${ID}_low.png`), '--pitch', '0.25', '--json']),
    runCli(['xray', 'inspect', join(dcsSet, 'images', `${ID}.dcs`), '--pitch', '0.25', '--json']),
  ]);
  const a = JSON.parse(png.stdout) as InspectResult;
  const b = JSON.parse(dcs.stdout) as InspectResult;
  t.equal(b.scanId, ID, 'scan id (from the sidecar beside the file)');
  t.equal(b.decision, a.decision, `same decision: ${a.decision}`);
  t.equal(dcs.code, png.code, `same exit status ${png.code}`);
  t.same(b.reasons, a.reasons, 'same reasons');
  t.same(b.detections, a.detections, `same detections (${a.detections.map((d) => `${d.class} ${d.score}`).join(', ')})`);
  t.ok(a.detections.length > 0, 'the scan has something to detect');
  t.same(b.materials, a.materials, 'same materials');
  t.same(b.declaration, a.declaration, 'the JSON sidecar adds the declaration');
  t.same(b.problems, [], 'no problems');
  // Without a sidecar the file names the scan.
  const alone = join(dir, 'alone');
  mkdirSync(alone, { recursive: true });
  copyFileSync(join(dcsSet, 'images', `${ID}.dcs`), join(alone, 'scan.dcs'));
  const c = await runCli(['xray', 'inspect', join(alone, 'scan.dcs'), '--json']);
  const r = JSON.parse(c.stdout) as InspectResult;
  t.equal(r.scanId, ID, 'scanId from the DICOS Scan ID');
  t.equal(r.size?.width, 256, 'analysed');
  t.same(r.detections, a.detections, 'pixel size from ImagerPixelSpacing: same detections without --pitch');
});

t.test('broken DICOS files: a clear error naming the tag, and review in the chain', async (t) => {
  const good = encodeDicos({ frames: [high, low], scanId: 'BAD-1' });
  const noMagic = Buffer.from(good);
  noMagic.write('NOPE', 128, 'latin1');
  const cases: { name: string; bytes: Buffer; code: string; tag?: string; re: RegExp }[] = [
    { name: 'truncated', bytes: good.subarray(0, good.length - 5000), code: 'E_DICOS_FORMAT', tag: '(7FE0,0010) PixelData', re: /\(7FE0,0010\) PixelData holds \d+ bytes .*expected 262144 \(2 frame\(s\) of 256 x 256 x 2 bytes\): truncated/ },
    { name: 'cut in the header', bytes: good.subarray(0, 400), code: 'E_DICOS_FORMAT', re: /corrupt or truncated DICOM data set before \(7FE0,0010\) PixelData/ },
    { name: 'no-magic', bytes: noMagic, code: 'E_DICOS_FORMAT', re: /no DICM magic at byte 128 \(found "NOPE"\); expected a DICOM Part 10 file/ },
    { name: 'not-dicom', bytes: Buffer.from('a PNG renamed to .dcs'), code: 'E_DICOS_FORMAT', re: /21 bytes; expected a DICOM Part 10 file/ },
    {
      name: 'jpeg2000',
      bytes: encodeDicos({ frames: [high], scanId: 'J2K', fault: { transferSyntax: TRANSFER_SYNTAX.jpeg2000 } }),
      code: 'E_DICOS_UNSUPPORTED',
      tag: '(0002,0010) TransferSyntaxUID',
      re: /not supported: transfer syntax 1\.2\.840\.10008\.1\.2\.4\.91 \(JPEG 2000\)/,
    },
    { name: 'eight-bit', bytes: encodeDicos({ frames: [high], scanId: 'E8', fault: { eightBit: true } }), code: 'E_XRAY_BITDEPTH', tag: '(0028,0100) BitsAllocated', re: /wrong bit depth: \(0028,0100\) BitsAllocated 8; expected 16/ },
    { name: 'no-rows', bytes: encodeDicos({ frames: [high], scanId: 'NR', fault: { omit: ['x00280010'] } }), code: 'E_DICOS_FORMAT', tag: '(0028,0010) Rows', re: /\(0028,0010\) Rows missing; expected it in an image/ },
    { name: 'ct-volume', bytes: encodeDicos({ frames: [high], scanId: 'CT', sopClassUid: DICOS_SOP.ct }), code: 'E_DICOS_UNSUPPORTED', tag: '(0008,0016) SOPClassUID', re: /not supported: .*DICOS CT Image Storage/ },
    { name: 'tdr', bytes: encodeDicos({ frames: [high], scanId: 'TDR', sopClassUid: DICOS_SOP.tdr }), code: 'E_DICOS_UNSUPPORTED', tag: '(0008,0016) SOPClassUID', re: /Threat Detection Report/ },
  ];
  for (const c of cases) {
    const file = join(dir, `${c.name}.dcs`);
    writeFileSync(file, c.bytes);
    const err = await readImageFrames16(file).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(err instanceof DicosError, `${c.name}: a DicosError`);
    const e = err as DicosError;
    t.equal(e.code, c.code, `${c.name}: ${e.code}`);
    if (c.tag !== undefined) t.equal(e.tag, c.tag, `${c.name}: names ${c.tag}`);
    t.match(e.message, new RegExp(`${c.name}\\.dcs: `), `${c.name}: names the file`);
    t.match(e.message, c.re, `${c.name}: ${e.message}`);
    const { result } = await inspectScan({ scanId: c.name, high: file }, { stages: [], pitch_cm: 0.5 });
    t.equal(result.decision, 'review', `${c.name}: the scan goes to review`);
    t.match(result.reasons.join(' | '), c.re, `${c.name}: with the reason`);
  }
  await t.rejects(readDicosMeta(join(dir, 'gone.dcs')), { code: 'E_DICOS_READ', message: /gone\.dcs: cannot read \(ENOENT\)/ });
  const two = join(dir, 'two.dcs');
  writeFileSync(two, good);
  await t.rejects(readImage16(two), { code: 'E_DICOS_UNSUPPORTED', message: /2 frames \(dual energy\); expected one image here/ }, 'a dual-energy file is not a reference image');
  const pair = await inspectScan({ scanId: 'x', high: two, low: join(pngSet, 'images', `${ID}_low.png`) }, { stages: [], pitch_cm: 0.5 });
  t.match(pair.result.reasons.join(' | '), /2 frames \(a dual-energy DICOS file\) and a separate low-energy image/, 'two frames plus a low image: review');
});

t.test('drop folder: DICOS files without sidecars, a pair, and a bad file that ends in review; nothing lost', async (t) => {
  const drop = tempDir('xray-dicos-drop');
  const [h1, l1] = await readImageFrames16(join(dcsSet, 'images', 'tip-5-000000.dcs'));
  writeFileSync(join(drop, 'scan-a.dcs'), encodeDicos({ frames: [h1!, l1!], scanId: 'A-1', energies_kV: [160, 80], pitch_cm: 0.25, manufacturer: 'Acme' }));
  writeFileSync(join(drop, 'scan-b_high.dcm'), encodeDicos({ frames: [high], scanId: 'B-2', energies_kV: [160], pitch_cm: 0.25 }));
  writeFileSync(join(drop, 'scan-b_low.dcm'), encodeDicos({ frames: [low], scanId: 'B-2', energies_kV: [80], pitch_cm: 0.25 }));
  writeFileSync(join(drop, 'scan-c.dcs'), encodeDicos({ frames: [high, low], scanId: 'C-3' }).subarray(0, 20_000));
  writeFileSync(join(drop, 'scan-d.dcs'), encodeDicos({ frames: [high], scanId: 'D-4', fault: { transferSyntax: TRANSFER_SYNTAX.jpegLs } }));
  copyFileSync(join(pngSet, 'images', `${ID}_high.png`), join(drop, 'scan-e_high.png'));
  copyFileSync(join(pngSet, 'images', `${ID}_low.png`), join(drop, 'scan-e_low.png'));
  copyFileSync(join(pngSet, 'images', `${ID}.json`), join(drop, 'scan-e.json'));

  const bus: ReadingBus = new EventEmitter();
  const emitted: { scanId: string; decision: string; reasons: string[]; scanner?: string; detections: { class: string; score: number }[] }[] = [];
  const ctx: ComponentContext = {
    node: 'xr-04',
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
  const logDir = tempDir('xray-dicos-log');
  const pipeline = new XrayPipeline({ name: 'xray', type: 'xray', options: { stages: [{ name: 'threats', card: defaultXrayCard() }], pitch_cm: 0.25, logDir } });
  const driver = new XrayFolderDriver('scanner', { dir: drop, after: 'move', pairTimeout_ms: 60_000, minAge_ms: 0, rescan_ms: 100, doneTimeout_ms: 10_000 });
  const finished: { scanId: string; problems: string[] }[] = [];
  driver.on('scan', (s) => finished.push(s));
  await pipeline.start(ctx);
  await driver.start(ctx);
  await until('five scans finished', () => finished.length >= 5, 20_000);
  await driver.stop();
  await pipeline.stop();
  t.same(finished.map((s) => s.scanId).sort(), ['A-1', 'B-2', 'C-3', 'scan-d', ID].sort(), 'every scan once, ids from the files (a file whose header cannot be read: by file name)');
  const by = new Map(emitted.map((e) => [e.scanId, e]));
  t.equal(emitted.length, 5, 'five summaries');
  t.equal(by.get('A-1')?.scanner, 'Acme tip-synth', 'scanner from Manufacturer + ManufacturerModelName');
  for (const id of ['A-1', 'B-2', ID]) t.notMatch((by.get(id)?.reasons ?? []).join(' | '), /DICOS|PixelData|missing|not analysed/, `${id}: read without problems (${by.get(id)?.decision}: ${by.get(id)?.reasons.join('; ')})`);
  t.equal(by.get('B-2')?.decision, by.get(ID)?.decision, 'the DICOS pair is decided like the PNG pair of the same scan');
  t.same(by.get('B-2')?.detections, by.get(ID)?.detections, 'with the same detections');
  t.equal(by.get(ID)?.decision, 'inspect', 'which has a gun');
  t.same(by.get('A-1')?.detections, [], 'the two-frame file of a bag without threats: no detections');
  t.match(by.get('A-1')?.reasons.join(' | '), /but no declaration/, 'a DICOS file alone has no declaration: its dense organic mass is reviewed');
  t.equal(by.get('C-3')?.decision, 'review', 'the truncated file: review');
  t.match(by.get('C-3')?.reasons.join(' | '), /scan-c\.dcs: \(7FE0,0010\) PixelData holds \d+ bytes/, 'naming the pixel data');
  t.equal(by.get('scan-d')?.decision, 'review', 'the JPEG-LS file: review');
  t.match(by.get('scan-d')?.reasons.join(' | '), /not supported: transfer syntax 1\.2\.840\.10008\.1\.2\.4\.80 \(JPEG-LS Lossless\)/, 'naming the transfer syntax');
  for (const f of ['scan-a.dcs', 'scan-b_high.dcm', 'scan-b_low.dcm', 'scan-c.dcs', 'scan-d.dcs', 'scan-e.json']) t.ok(existsSync(join(drop, 'done', f)), `${f} moved to done/ (kept for the screener)`);
  const decisions = readFileSync(join(logDir, 'decisions.jsonl'), 'utf8').trim().split('\n');
  t.equal(decisions.length, 5, 'five decision records');
});
