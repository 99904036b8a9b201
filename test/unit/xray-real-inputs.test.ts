// Inputs real scanners give: pseudo-colour JPEG/PNG/BMP exports, 8- and 16-bit grey single-energy images, pairs and
// DICOS each get a decision with reasons; a model that cannot read the input is named and density/shape rules
// decide; bad files name the file and what was expected; the drop folder keeps going; the sidecar stays optional.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { silentLogger } from '../../common/log.js';
import { MAT, renderColour } from '../../analysis/xray/materials.js';
import { XrayFolderDriver } from '../../devices/xray/folder.js';
import type { ComponentContext, ReadingBus } from '../../contract/component.js';
import { OnnxDetector } from '../../edge/inference/detector.js';
import { XrayPipeline } from '../../edge/pipelines/xray.js';
import { defaultXrayCard, type AtrStage } from '../../edge/xray/atr.js';
import { encodeBmp } from '../../edge/xray/bmp.js';
import { encodeDicos } from '../../edge/xray/dicos-write.js';
import { encodePng16 } from '../../edge/xray/image-io.js';
import { inspectScan, type InspectResult } from '../../edge/xray/inspect.js';
import { findSidecar, sidecarPath } from '../../edge/cli/xray.js';
import { tempDir } from '../harness/services.js';
import { until } from '../helpers/wait.js';
import { EDGE_CLI, ROOT } from '../helpers/paths.js';

const W = 400;
const H = 300;
/** 0.2 cm pixels: the scene is 80 x 60 cm. */
const PITCH = 0.2;

interface Scene {
  a: Float32Array;
  classes: Uint8Array;
}

/** A bag of clothes (A 0.3-0.6, uneven) with, as asked, a steel object, a trolley bar or a uniform organic slab. */
function scene(opts: { steel?: boolean; bar?: boolean; slab?: boolean } = {}): Scene {
  const a = new Float32Array(W * H);
  const classes = new Uint8Array(W * H);
  const rect = (x0: number, y0: number, w: number, h: number, f: (x: number, y: number) => number, c: number, add = true): void => {
    for (let y = y0; y < y0 + h; y++) {
      for (let x = x0; x < x0 + w; x++) {
        const i = y * W + x;
        a[i] = (add ? a[i]! : 0) + f(x, y);
        classes[i] = c;
      }
    }
  };
  rect(30, 30, 340, 240, () => 0.15, MAT.organic);
  // Folds of cloth: smooth ripples, never dense.
  rect(50, 50, 300, 200, (x, y) => 0.2 + 0.15 * (1 + Math.sin(x / 9) * Math.cos(y / 13)), MAT.organic);
  if (opts.steel) rect(120, 120, 30, 15, () => 2.5, MAT.metal, false);
  if (opts.bar) rect(20, 280, 310, 8, () => 2.5, MAT.metal, false);
  if (opts.slab) rect(230, 140, 60, 50, () => 1.0, MAT.organic, false);
  return { a, classes };
}

const grey8 = (s: Scene): Buffer => Buffer.from(Uint8Array.from(s.a, (v) => Math.round(255 * Math.exp(-v))));
const grey16 = (s: Scene): Uint16Array => Uint16Array.from(s.a, (v) => Math.round(65535 * Math.exp(-v)));

const dir = tempDir('xray-real-inputs');
let stages: AtrStage[] = [];
let det: OnnxDetector | undefined;

/** Writes one scene in every format a scanner exports; returns the files by kind. */
async function writeAll(name: string, s: Scene): Promise<Record<string, string>> {
  const rgb = renderColour(s.a, s.classes, W, H);
  const f = (ext: string) => join(dir, `${name}.${ext}`);
  await sharp(rgb, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 85 }).toFile(f('colour.jpg'));
  await sharp(rgb, { raw: { width: W, height: H, channels: 3 } }).png().toFile(f('colour.png'));
  writeFileSync(f('colour.bmp'), encodeBmp(rgb, W, H));
  await sharp(grey8(s), { raw: { width: W, height: H, channels: 1 } }).png().toFile(f('grey8.png'));
  await sharp(grey8(s), { raw: { width: W, height: H, channels: 1 } }).jpeg({ quality: 90 }).toFile(f('grey8.jpg'));
  writeFileSync(f('grey16.png'), await encodePng16({ width: W, height: H, data: grey16(s) }));
  writeFileSync(f('single.dcs'), encodeDicos({ frames: [{ width: W, height: H, data: grey16(s) }], scanId: name, energies_kV: [160], pitch_cm: PITCH }));
  return {
    'pseudo-colour JPEG': f('colour.jpg'),
    'pseudo-colour PNG': f('colour.png'),
    'pseudo-colour BMP': f('colour.bmp'),
    '8-bit grey PNG': f('grey8.png'),
    '8-bit grey JPEG': f('grey8.jpg'),
    '16-bit grey PNG': f('grey16.png'),
    'single-frame DICOS': f('single.dcs'),
  };
}

async function inspect(file: string, low?: string): Promise<InspectResult> {
  const { result } = await inspectScan({ scanId: file, high: file, ...(low !== undefined ? { low } : {}) }, { stages, pitch_cm: PITCH, palette: 'customs-render' });
  return result;
}

t.before(async () => {
  det = await OnnxDetector.load(defaultXrayCard());
  stages = [{ name: 'threats', detector: det }];
});
t.teardown(async () => {
  await det?.close();
});

t.test('sidecar: <base>.json beside any image, optional; an image is never read as its own sidecar', async (t) => {
  t.equal(sidecarPath('/s/scan.jpg'), '/s/scan.json');
  t.equal(sidecarPath('/s/scan.JPEG'), '/s/scan.json');
  t.equal(sidecarPath('/s/scan_high.png'), '/s/scan.json');
  t.equal(sidecarPath('/s/scan-LOW.bmp'), '/s/scan.json');
  t.equal(sidecarPath('/s/a.b.c.tiff'), '/s/a.b.c.json');
  t.equal(sidecarPath('/s/scan.dcm'), '/s/scan.json');
  t.equal(sidecarPath('/s/noext'), undefined);
  const jpg = join(dir, 'alone.jpg');
  await sharp(renderColour(scene().a, scene().classes, W, H), { raw: { width: W, height: H, channels: 3 } }).jpeg().toFile(jpg);
  t.equal(findSidecar(jpg, undefined), undefined, 'no sidecar: none, no error');
  writeFileSync(join(dir, 'alone.json'), JSON.stringify({ scanId: 'S-77', declaration: { goods: 'clothes', hsCode: '6109' } }));
  t.equal(findSidecar(jpg, undefined)?.scanId, 'S-77', 'the sidecar beside a JPEG is found');
  t.throws(() => findSidecar(jpg, join(dir, 'missing.json')), /missing\.json: sidecar does not exist/);
});

t.test('customs-edge xray inspect on a JPEG export exits with its decision, not an error', async (t) => {
  const jpg = join(dir, 'cli.jpg');
  const s = scene();
  await sharp(renderColour(s.a, s.classes, W, H), { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 85 }).toFile(jpg);
  const r = spawnSync(process.execPath, ['--import', 'tsx', EDGE_CLI, 'xray', 'inspect', jpg, '--palette', 'customs-render', '--pitch', String(PITCH), '--json'], { encoding: 'utf8', timeout: 180_000, cwd: ROOT });
  t.equal(r.status, 0, `exit 0 (clear); stderr: ${r.stderr.slice(0, 300)}`);
  const res = JSON.parse(r.stdout) as InspectResult;
  t.match(res, { decision: 'clear', input: { kind: 'pseudo-colour', format: 'jpeg', bits: 8, palette: 'customs-render' } });
  t.match(res.reasons.join(' | '), /threat stage not run: stage threats \(model xray-atr@\d+\) was trained on measured dual-energy images, not on pseudo-colour exports/);
});

t.test('every export format of a clean bag is cleared, saying the threat stage did not run and why', async (t) => {
  const files = await writeAll('clean', scene());
  for (const [what, file] of Object.entries(files)) {
    const r = await inspect(file);
    t.equal(r.decision, 'clear', `${what}: clear (${r.reasons.join(' | ')})`);
    t.equal(r.problems.length, 0, `${what}: no problem`);
    t.match(r.reasons.join(' | '), /threat stage not run: .*(pseudo-colour|single-energy)/, `${what}: says why the model did not run`);
    t.match(r.reasons.join(' | '), /nothing (metal|dense) or block-like/, `${what}: and what the density rules saw`);
    t.equal(r.input?.kind, what.startsWith('pseudo') ? 'pseudo-colour' : 'single-energy', `${what}: read as ${r.input?.kind}`);
  }
});

t.test('a steel object or a uniform organic slab sends every format to review; a trolley bar alone does not', async (t) => {
  const steel = await writeAll('steel', scene({ steel: true }));
  for (const [what, file] of Object.entries(steel)) {
    const r = await inspect(file);
    t.equal(r.decision, 'review', `${what}: review`);
    t.match(r.reasons.join(' | '), /(metal|dense) object (\d+) cm2.*could be a weapon/, `${what}: ${r.reasons.find((x) => /object/.test(x))}`);
    const box = r.density?.dense[0]?.box;
    t.ok(box !== undefined && Math.abs(box.x - 120) <= 3 && Math.abs(box.y - 120) <= 3, `${what}: box at the object in image pixels (${JSON.stringify(box)})`);
  }
  const bar = await writeAll('bar', scene({ bar: true }));
  for (const [what, file] of Object.entries(bar)) {
    const r = await inspect(file);
    t.equal(r.decision, 'clear', `${what}: a 62 cm bar is structure (${r.reasons.slice(-1)[0]})`);
    t.match(r.reasons.join(' | '), /1 long thin structure such as trolley bars not counted/);
  }
  const slab = await writeAll('slab', scene({ slab: true }));
  for (const what of ['16-bit grey PNG', '8-bit grey JPEG', 'pseudo-colour JPEG']) {
    const r = await inspect(slab[what]!);
    t.equal(r.decision, 'review', `${what}: slab to review`);
    t.match(r.reasons.join(' | '), /organic-block-like slab 120 cm2/, `${what}: ${r.reasons.find((x) => /slab/.test(x)) ?? r.reasons.join(' | ')}`);
  }
});

t.test('a measured dual-energy pair still goes through the threat model', async (t) => {
  const s = scene({ steel: true });
  const hi = join(dir, 'pair_high.png');
  const lo = join(dir, 'pair_low.png');
  writeFileSync(hi, await encodePng16({ width: W, height: H, data: grey16(s) }));
  // Low channel: R 1.24 for organic, 3.3 for steel, as physics.ts has them.
  const aLow = Float32Array.from(s.a, (v, i) => v * (s.classes[i] === MAT.metal ? 3.3 : 1.24));
  writeFileSync(lo, await encodePng16({ width: W, height: H, data: Uint16Array.from(aLow, (v) => Math.round(65535 * Math.exp(-v))) }));
  const r = await inspect(hi, lo);
  t.equal(r.input?.kind, 'dual-energy');
  t.notMatch(r.reasons.join(' | '), /threat stage not run/, 'the model ran');
  t.equal(r.density, undefined, 'no density fallback needed');
  t.ok(r.timings_ms.atr !== undefined && r.materials!.metal > 0.004, `metal ${r.materials!.metal.toFixed(3)} from the measured ratio`);
  const mixed = await inspect(join(dir, 'clean.colour.jpg'), lo);
  t.equal(mixed.decision, 'review');
  t.match(mixed.reasons.join(' | '), /clean\.colour\.jpg: a pseudo-colour image with a low-energy image .*expected a colour export alone or a grey pair/);
});

t.test('bad files: a reason naming the file and what was expected, never an exception', async (t) => {
  const good = readFileSync(join(dir, 'clean.colour.jpg'));
  const cases: [string, string, Buffer, RegExp][] = [
    ['0-byte JPEG', 'empty.jpg', Buffer.alloc(0), /empty\.jpg: empty file \(0 bytes\); expected a 16-bit grey PNG\/TIFF, an 8-bit grey or pseudo-colour JPEG\/PNG\/BMP, or DICOS/],
    ['truncated JPEG', 'cut.jpg', good.subarray(0, Math.floor(good.length / 2)), /cut\.jpg: corrupt image data .*expected a complete JPEG file/],
    ['text named .jpg', 'text.jpg', Buffer.from('not an image, a note from the scanner'), /text\.jpg: not a readable image/],
    ['truncated BMP', 'cut.bmp', encodeBmp(new Uint8Array(64 * 64 * 3), 64, 64).subarray(0, 3000), /cut\.bmp: 3000 bytes, truncated: pixel data needs 12342; expected an uncompressed 8-, 24- or 32-bit BMP/],
  ];
  for (const [what, name, data, re] of cases) {
    const f = join(dir, name);
    writeFileSync(f, data);
    const r = await inspect(f);
    t.equal(r.decision, 'review', `${what}: review`);
    t.match(r.reasons.join(' | '), re, `${what}: ${r.reasons[0]}`);
  }
  const tiny = join(dir, 'tiny.png');
  await sharp(Buffer.alloc(8 * 8 * 3, 128), { raw: { width: 8, height: 8, channels: 3 } }).png().toFile(tiny);
  const r = await inspect(tiny);
  t.match(r.reasons.join(' | '), /tiny\.png: 8 x 8 pixels; expected a scan of at least 16 x 16/, 'wrong size: a thumbnail');
  const badPalette = await inspectScan({ scanId: 'p', high: join(dir, 'clean.colour.png') }, { stages, pitch_cm: PITCH, palette: join(dir, 'no-palette.json') });
  t.equal(badPalette.result.decision, 'review');
  t.match(badPalette.result.reasons.join(' | '), /palette .*no-palette\.json: cannot read \(ENOENT\)/, 'a missing palette file is named');
});

t.test('drop folder: exports with and without sidecars and broken files all get decisions; the driver keeps running', async (t) => {
  const drop = tempDir('xray-real-drop');
  const files = await writeAll('d', scene({ steel: true }));
  const { copyFileSync } = await import('node:fs');
  copyFileSync(files['pseudo-colour JPEG']!, join(drop, 'scan-1.jpg'));
  writeFileSync(join(drop, 'scan-1.json'), JSON.stringify({ scanId: 'S-1', pitch_cm: PITCH }));
  copyFileSync(files['8-bit grey PNG']!, join(drop, 'scan-2.png'));
  writeFileSync(join(drop, 'scan-2.json'), JSON.stringify({ scanId: 'S-2', pitch_cm: PITCH }));
  writeFileSync(join(drop, 'scan-3.jpg'), Buffer.alloc(0));
  writeFileSync(join(drop, 'scan-4.bmp'), Buffer.from('BM garbage'));
  copyFileSync(files['pseudo-colour BMP']!, join(drop, 'scan-5.bmp'));
  const bus: ReadingBus = new EventEmitter();
  const emitted: { scanId: string; decision: string; reasons: string[] }[] = [];
  const ctx: ComponentContext = {
    node: 'xr-9',
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
  const pipeline = new XrayPipeline({ name: 'xray', type: 'xray', options: { pitch_cm: PITCH, palette: 'customs-render', logDir: join(drop, 'log') } });
  await pipeline.start(ctx);
  const driver = new XrayFolderDriver('scanner', { dir: drop, after: 'move', pairTimeout_ms: 300, minAge_ms: 0, rescan_ms: 100, doneTimeout_ms: 60_000 });
  await driver.start(ctx);
  await until('five scans decided', () => emitted.length >= 5, 120_000);
  const by = (id: string) => emitted.find((e) => e.scanId === id);
  t.equal(by('S-1')?.decision, 'review', 'pseudo-colour JPEG with its sidecar: the steel object');
  t.match(by('S-1')?.reasons.join(' | '), /metal object/);
  t.match(by('S-2')?.reasons.join(' | '), /dense object/, '8-bit grey PNG: the steel object');
  t.match(by('scan-3')?.reasons.join(' | '), /scan-3\.jpg: empty file \(0 bytes\)/, '0-byte file named');
  t.match(by('scan-4')?.reasons.join(' | '), /scan-4\.bmp: .*expected an uncompressed 8-, 24- or 32-bit BMP/, 'broken BMP named');
  t.match(by('scan-5')?.reasons.join(' | '), /metal object/, 'a BMP without sidecar decided on its pixels');
  // Still running: a scan dropped after the broken ones is picked up too.
  copyFileSync(files['16-bit grey PNG']!, join(drop, 'scan-6.png'));
  writeFileSync(join(drop, 'scan-6.json'), JSON.stringify({ scanId: 'S-6', pitch_cm: PITCH }));
  await until('the scan dropped afterwards decided', () => by('S-6') !== undefined, 60_000);
  t.equal(by('S-6')?.decision, 'review');
  await driver.stop();
  await pipeline.stop();
  t.ok(existsSync(join(drop, 'done', 'scan-3.jpg')) && existsSync(join(drop, 'done', 'scan-6.png')), 'broken and good files alike moved to done/');
});
