// Pseudo-colour palettes: exports decompose back into attenuation and material class (also through JPEG), a palette
// is fitted from a step-wedge image by `customs-calib xray palette` and signed as a calibration record.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { runCli } from '../../calibration/cli.js';
import { MAT, renderColour } from '../../analysis/xray/materials.js';
import {
  builtinPalette,
  compilePalette,
  decomposePseudoColour,
  fitPalette,
  lookupColour,
  MATERIAL_ZEFF,
  renderWithPalette,
  rgbToLab,
  virtualLowChannel,
  zeffClass,
  type Palette,
} from '../../analysis/xray/palette.js';
import { MATERIALS } from '../../analysis/xray/physics.js';
import { loadPalette } from '../../edge/xray/palette-io.js';
import { parseRecord } from '../../protocol/calibration-record.js';
import { tempDir } from '../harness/services.js';

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

/** Deterministic noise for the tests. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x ^= x + Math.imul(x ^ (x >>> 7), 61 | x);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

t.test('CIELAB of white, black and a saturated orange', async (t) => {
  const w = rgbToLab(255, 255, 255);
  t.ok(Math.abs(w[0] - 100) < 0.01 && Math.abs(w[1]) < 0.01 && Math.abs(w[2]) < 0.01, `white ${w.map((v) => v.toFixed(3)).join(', ')}`);
  t.ok(Math.abs(rgbToLab(0, 0, 0)[0]) < 1e-9, 'black L 0');
  const o = rgbToLab(255, 150, 30);
  t.ok(o[1] > 20 && o[2] > 60, `orange has +a and strong +b: ${o.map((v) => v.toFixed(1)).join(', ')}`);
});

t.test("the node's own rendering decomposes back, also after JPEG at quality 80", async (t) => {
  // Bands of organic, inorganic and metal, attenuation rising left to right from 0.1 to 4.
  const W = 240;
  const H = 90;
  const a = new Float32Array(W * H);
  const classes = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      a[y * W + x] = 0.1 + (3.9 * x) / (W - 1);
      classes[y * W + x] = y < 30 ? MAT.organic : y < 60 ? MAT.inorganic : MAT.metal;
    }
  }
  const rgb = renderColour(a, classes, W, H);
  const compiled = compilePalette(builtinPalette('customs-render'));
  const jpeg = await sharp(rgb, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 80 }).toBuffer();
  const back = new Uint8Array(await sharp(jpeg).raw().toBuffer());
  for (const [what, img] of [['lossless', rgb], ['JPEG q80', back]] as const) {
    const d = decomposePseudoColour(img, W, H, compiled);
    let classOk = 0;
    let n = 0;
    const errs: number[] = [];
    for (let y = 2; y < H - 2; y++) {
      if (y % 30 < 2 || y % 30 > 27) continue; // band edges: JPEG mixes the two colours
      for (let x = 0; x < W; x++) {
        const i = y * W + x;
        n++;
        const want = classes[i] === MAT.organic ? 'organic' : classes[i] === MAT.inorganic ? 'inorganic' : 'metal';
        // Below A 0.15 every class is near white: the class is not readable from the colour there.
        if (a[i]! < 0.15 || zeffClass(d.zeff[i]!) === want) classOk++;
        if (a[i]! < 3) errs.push(Math.abs(d.attenuation[i]! - a[i]!));
      }
    }
    errs.sort((x, y) => x - y);
    const median = errs[Math.floor(errs.length / 2)]!;
    const p90 = errs[Math.floor(errs.length * 0.9)]!;
    t.ok(classOk / n >= 0.97, `${what}: class right on ${((100 * classOk) / n).toFixed(1)} % of pixels`);
    t.ok(median < 0.05 && p90 < 0.25, `${what}: attenuation error median ${median.toFixed(3)}, p90 ${p90.toFixed(3)} (A < 3)`);
  }
  // The rebuilt low channel carries the class as the dual-energy ratio: organic below 1.45, metal above 2.5.
  const d = decomposePseudoColour(rgb, W, H, compiled);
  const low = virtualLowChannel(d);
  const at = (x: number, y: number): number => low[y * W + x]! / d.attenuation[y * W + x]!;
  t.ok(at(120, 15) < 1.45 && at(120, 45) > 1.45 && at(120, 45) < 2.5 && at(120, 75) > 2.5, `ratios ${[15, 45, 75].map((y) => at(120, y).toFixed(2)).join(', ')}`);
  t.same(lookupColour(compiled, 255, 255, 255).attenuation < 0.05, true, 'white is air');
  t.ok(lookupColour(compiled, 0, 0, 0).attenuation >= 6, 'black is opaque');
});

/** A step wedge image: columns of steps, each a material and thickness, rendered with `p` plus noise. */
function wedgeImage(p: Palette, steps: { material: keyof typeof MATERIALS; thickness_cm: number }[], noise: number): { rgb: Uint8Array; width: number; height: number; boxes: [number, number, number, number][] } {
  const S = 40;
  const width = S * steps.length;
  const height = S;
  const a = new Float32Array(width * height);
  const z = new Float32Array(width * height);
  steps.forEach((s, k) => {
    const m = MATERIALS[s.material];
    for (let y = 0; y < S; y++) {
      for (let x = k * S; x < (k + 1) * S; x++) {
        a[y * width + x] = m.muRho_high * m.density_g_cm3 * s.thickness_cm;
        z[y * width + x] = MATERIAL_ZEFF[s.material];
      }
    }
  });
  const rgb = renderWithPalette(a, z, p);
  const r = rng(3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = Math.max(0, Math.min(255, Math.round(rgb[i]! + (r() - 0.5) * 2 * noise)));
  return { rgb, width, height, boxes: steps.map((_, k) => [k * S, 0, S, S]) };
}

const STEPS: { material: keyof typeof MATERIALS; thickness_cm: number }[] = [
  ...[1, 3, 6, 12, 20].map((t) => ({ material: 'water' as const, thickness_cm: t })),
  ...[0.5, 1.5, 4, 8].map((t) => ({ material: 'aluminium' as const, thickness_cm: t })),
  ...[0.1, 0.3, 0.6, 1].map((t) => ({ material: 'steel' as const, thickness_cm: t })),
];

t.test('fitPalette: a wedge of water, aluminium and steel gives a palette that reads the steps back', async (t) => {
  const truth = builtinPalette('generic');
  const img = wedgeImage(truth, STEPS, 6);
  const fit = fitPalette(img.rgb, img.width, img.height, { name: 'vendor-x', steps: STEPS.map((s, k) => ({ ...s, box: img.boxes[k]! })), addAir: true });
  t.equal(fit.palette.anchors.length, STEPS.length + 1, 'one anchor per step plus air');
  // Left out, a step is predicted from its neighbours; only the darkest steps (A > 3, every hue near black) may
  // fall into another class.
  const wrong = fit.steps.filter((s) => zeffClass(s.predicted.zeff) !== zeffClass(s.zeff));
  t.equal(fit.looClassErrors, wrong.length);
  t.ok(wrong.every((s) => s.attenuation > 3), `steps left out in another class: ${wrong.map((s) => s.label).join(', ') || 'none'}`);
  t.ok(fit.looRmsAttenuation < 1, `leave-one-out attenuation RMS ${fit.looRmsAttenuation}`);
  t.ok(fit.steps.every((s) => s.noise_dE > 0.5), 'the noise of each step is measured');
  const c = compilePalette(fit.palette);
  const steel = lookupColour(c, ...fit.steps[STEPS.length - 2]!.rgb);
  t.ok(Math.abs(steel.attenuation - fit.steps[STEPS.length - 2]!.attenuation) < 0.2 && zeffClass(steel.zeff) === 'metal', `at an anchor the table reads it (A ${steel.attenuation.toFixed(2)})`);
  t.throws(() => fitPalette(img.rgb, img.width, img.height, { name: 'x', steps: [{ box: [0, 0, 40, 40], material: 'unobtainium', thickness_cm: 1 }, { box: [40, 0, 40, 40], attenuation: 1, zeff: 7 }] }), /steps\[0\]\.material "unobtainium": expected one of air, water/);
  t.throws(() => fitPalette(img.rgb, img.width, img.height, { name: 'x', steps: [{ box: [5000, 0, 40, 40], attenuation: 1, zeff: 7 }, { box: [40, 0, 40, 40], attenuation: 1, zeff: 7 }] }), /steps\[0\]\.box \[5000, 0, 40, 40\]: outside the 520 x 40 image/);
});

t.test('customs-calib xray palette: JPEG of a wedge → palette.json and a result that signs into a valid record', async (t) => {
  const dir = tempDir('xray-palette');
  const img = wedgeImage(builtinPalette('generic'), STEPS, 4);
  const jpg = join(dir, 'wedge.jpg');
  await sharp(img.rgb, { raw: { width: img.width, height: img.height, channels: 3 } }).jpeg({ quality: 88 }).toFile(jpg);
  const spec = join(dir, 'wedge.json');
  writeFileSync(spec, JSON.stringify({ name: 'vendor-x-6040', vendor: 'Vendor X', addAir: true, steps: STEPS.map((s, k) => ({ ...s, box: img.boxes[k] })) }));
  const r = await cli(['xray', 'palette', jpg, '--wedge', spec, '--detector', 'xray-export', '--out', join(dir, 'out'), '--json']);
  t.equal(r.code, 0, r.err);
  const res = JSON.parse(r.out) as { kind: string; results: { xrayPalette: { file: string; anchors: number; looClassErrors: number } } };
  t.match(res, { kind: 'xray-palette', detector: 'xray-export', results: { xrayPalette: { file: 'palette.json', name: 'vendor-x-6040', anchors: STEPS.length + 1 } } });
  t.ok(res.results.xrayPalette.looClassErrors <= 2, `${res.results.xrayPalette.looClassErrors} dark steps left out in another class`);
  const compiled = await loadPalette(join(dir, 'out', 'palette.json'));
  t.equal(compiled.name, 'vendor-x-6040', 'the node loads the written palette');
  const human = await cli(['xray', 'palette', jpg, '--wedge', spec, '--detector', 'xray-export', '--out', join(dir, 'out')]);
  t.match(human.out, /palette "vendor-x-6040" with 14 anchors from 13 steps[\s\S]*leave-one-out RMS/);

  const k = await cli(['keygen', '--technician', 'Pat', '--out', join(dir, 'keys')]);
  t.equal(k.code, 0, k.err);
  const s = await cli(['sign', join(dir, 'out', 'xray-palette.json'), '--key', join(dir, 'keys', 'pat.key'), '--record-version', '1', '--out', join(dir, 'rec.json')]);
  t.equal(s.code, 0, s.err);
  const env = JSON.parse(readFileSync(join(dir, 'rec.json'), 'utf8')) as { payload: unknown };
  const rec = parseRecord(env.payload);
  t.same(rec.method, ['xray-palette']);
  t.equal(rec.results.xrayPalette?.sha256.length, 64, 'the record pins the palette file by hash');

  writeFileSync(join(dir, 'bad-spec.json'), JSON.stringify({ name: 'x', steps: [{ box: [0, 0, 10], material: 'water' }] }));
  const bad = await cli(['xray', 'palette', jpg, '--wedge', join(dir, 'bad-spec.json'), '--detector', 'd', '--out', join(dir, 'o2')]);
  t.equal(bad.code, 1);
  t.match(bad.err, /bad-spec\.json: not a wedge spec[\s\S]*steps/, bad.err.split('\n')[0]);
  const greyJpg = join(dir, 'grey.jpg');
  await sharp(Buffer.alloc(64 * 64, 120), { raw: { width: 64, height: 64, channels: 1 } }).jpeg().toFile(greyJpg);
  const grey = await cli(['xray', 'palette', greyJpg, '--wedge', spec, '--detector', 'd', '--out', join(dir, 'o3')]);
  t.match(grey.err, /grey\.jpg: a grey image; expected the scanner's pseudo-colour export/);
});

t.test('palette files: errors name the file and the field', async (t) => {
  const dir = tempDir('xray-palette-file');
  const f = join(dir, 'p.json');
  writeFileSync(f, JSON.stringify({ format: 'customs-xray-palette/1', name: 'p', anchors: [{ rgb: [1, 2], attenuation: 1, zeff: 7 }] }));
  await t.rejects(loadPalette(f), /p\.json: not a palette[\s\S]*anchors/);
  await t.rejects(loadPalette(join(dir, 'none.json')), /none\.json: cannot read \(ENOENT\); expected a built-in name \(customs-render, generic\)/);
  writeFileSync(f, JSON.stringify({ format: 'customs-xray-palette/1', name: 'p', anchors: [{ rgb: [1, 2, 3], attenuation: 1, zeff: 7 }, { rgb: [1, 2, 3], attenuation: 2, zeff: 7 }] }));
  await t.rejects(loadPalette(f), /p\.json: p\.anchors\[1\]: colour 1,2,3 is also anchors\[0\] with other values/);
});
