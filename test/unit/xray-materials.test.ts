// Materials from the dual-energy ratio on known synthetic materials, colour rendering, and preprocessing with dark/open references.
import t from 'tap';
import { mulberry32 } from '../../common/random.js';
import { MATERIALS, linearMu, type MaterialName } from '../../analysis/xray/physics.js';
import { classifyMaterials, curveAt, DEFAULT_MATERIALS, MAT, renderColour } from '../../analysis/xray/materials.js';
import { attenuation, crop, PreprocessError, resampleArea, tiles, toTransmission, transmissionAndAttenuation } from '../../analysis/xray/preprocess.js';
import { emptyMap, paint } from '../../analysis/xray/synth.js';
import { addQuantumNoise, toTransmission as mapToT } from '../../analysis/xray/tip.js';

const W = 64;
const H = 64;

/** A uniform slab of one material, through the same noisy detector as the synthetic scans. */
function slab(material: MaterialName, thickness_cm: number, seed: number) {
  const m = emptyMap(W, H);
  paint(m, { kind: 'rect', cx: W / 2, cy: H / 2, w: W + 4, h: H + 4, angle: 0 }, material, thickness_cm);
  const img = mapToT(m);
  addQuantumNoise(img, { high: 40000, low: 15000 }, mulberry32(seed));
  return { aHigh: attenuation(img.high), aLow: attenuation(img.low) };
}

t.test('known materials land in their class across thicknesses (with quantum noise)', async (t) => {
  let seed = 1;
  for (const [name, mat] of Object.entries(MATERIALS) as [MaterialName, (typeof MATERIALS)[MaterialName]][]) {
    if (name === 'air') continue;
    const mu = linearMu(name).high;
    // Thicknesses that give A_high from 0.4 to 4: thin enough to see through, thick enough to read.
    for (const a of [0.4, 1.5, 2.5]) {
      const { aHigh, aLow } = slab(name, a / mu, seed++);
      const { classes } = classifyMaterials(aHigh, aLow, W, H, DEFAULT_MATERIALS);
      const want = MAT[mat.class];
      const hits = classes.reduce((s, c) => s + (c === want ? 1 : 0), 0) / classes.length;
      t.ok(hits >= 0.95, `${name} at A_high ${a}: ${(hits * 100).toFixed(1)} % ${mat.class}`);
    }
    if (mat.class === 'metal') {
      // So thick that the low channel is starved of photons: metal or no reading (black), never organic/inorganic.
      const { aHigh, aLow } = slab(name, 4 / mu, seed++);
      const { classes } = classifyMaterials(aHigh, aLow, W, H, DEFAULT_MATERIALS);
      const ok = classes.reduce((s, c) => s + (c === MAT.metal || c === MAT.opaque ? 1 : 0), 0) / classes.length;
      t.ok(ok >= 0.99, `${name} at A_high 4 (low channel starved): ${(ok * 100).toFixed(1)} % metal or opaque`);
    }
  }
});

t.test('a mixture along the ray reads between its parts (steel under clothes is not pure metal)', async (t) => {
  const m = emptyMap(W, H);
  paint(m, { kind: 'rect', cx: 32, cy: 32, w: 70, h: 70, angle: 0 }, 'cloth', 20);
  paint(m, { kind: 'rect', cx: 32, cy: 32, w: 70, h: 70, angle: 0 }, 'steel', 0.05);
  const r = m.low[100]! / m.high[100]!;
  t.ok(r > 1.3 && r < 2.5, `ratio of the stack ${r.toFixed(2)} lies between cloth and steel`);
});

t.test('dense organic: the largest connected region and its area in cm2', async (t) => {
  const pitch = 0.25;
  const m = emptyMap(256, 256);
  paint(m, { kind: 'rect', cx: 128, cy: 128, w: 240, h: 240, angle: 0 }, 'cloth', 4);
  // A 10 x 8 cm block of explosive 5 cm thick, and a small one elsewhere.
  paint(m, { kind: 'rect', cx: 80, cy: 90, w: 10 / pitch, h: 8 / pitch, angle: 0 }, 'explosive', 5);
  paint(m, { kind: 'rect', cx: 190, cy: 190, w: 3 / pitch, h: 3 / pitch, angle: 0 }, 'explosive', 5);
  paint(m, { kind: 'rect', cx: 180, cy: 60, w: 6 / pitch, h: 4 / pitch, angle: 0 }, 'steel', 0.3);
  const img = mapToT(m);
  addQuantumNoise(img, { high: 40000, low: 15000 }, mulberry32(9));
  const r = classifyMaterials(attenuation(img.high), attenuation(img.low), 256, 256, DEFAULT_MATERIALS, pitch);
  const area = r.summary.denseOrganic.area_cm2!;
  t.ok(area > 70 && area < 95, `largest dense organic ${area.toFixed(0)} cm2 for a 80 cm2 block`);
  const b = r.summary.denseOrganic.box!;
  t.ok(Math.abs(b.x + b.w / 2 - 80) < 4 && Math.abs(b.y + b.h / 2 - 90) < 4, 'found where it is');
  t.ok(r.summary.metal > 0.005 && r.summary.metal < 0.05, `metal share ${r.summary.metal.toFixed(3)} (the steel plate)`);
  t.ok(r.summary.organic > 0.9, 'the rest is organic');
  const rgb = renderColour(attenuation(img.high), r.classes, 256, 256);
  const px = (x: number, y: number) => Array.from(rgb.slice((y * 256 + x) * 3, (y * 256 + x) * 3 + 3));
  const [or, og, ob] = px(80, 90);
  t.ok(or! > ob! && og! > ob!, `organic renders orange ${px(80, 90)}`);
  const [mr, , mb] = px(180, 60);
  t.ok(mb! > mr!, `metal renders blue ${px(180, 60)}`);
  t.ok(px(80, 90)[0]! < px(20, 20)[0]!, 'thicker is darker');
});

t.test('mass seen by the beam: 1 kg of water and 1.57 kg of steel', async (t) => {
  const m = emptyMap(200, 200);
  paint(m, { kind: 'rect', cx: 60, cy: 100, w: 40, h: 40, angle: 0 }, 'water', 10);
  paint(m, { kind: 'rect', cx: 150, cy: 100, w: 80, h: 40, angle: 0 }, 'steel', 1);
  const img = mapToT(m);
  const r = classifyMaterials(attenuation(img.high), attenuation(img.low), 200, 200, DEFAULT_MATERIALS, 0.25);
  t.ok(Math.abs(r.summary.mass_kg! - 2.574) < 0.1, `${r.summary.mass_kg!.toFixed(3)} kg for 2.574 kg`);
  t.equal(classifyMaterials(attenuation(img.high), attenuation(img.low), 200, 200).summary.mass_kg, undefined, 'no pitch, no mass');
});

t.test('single-energy scans get objects and opacity but no material classes', async (t) => {
  const { aHigh } = slab('steel', 0.5, 3);
  const r = classifyMaterials(aHigh, undefined, W, H);
  t.equal(r.summary.metal, 0);
  t.equal(r.classes[100], MAT.none);
  t.ok(r.summary.objectFraction > 0.99);
});

t.test('calibrated curves: piecewise linear, flat beyond their ends', async (t) => {
  const c: [number, number][] = [
    [0, 1.3],
    [2, 1.5],
    [6, 1.6],
  ];
  t.equal(curveAt(c, -1), 1.3);
  t.equal(curveAt(c, 1), 1.4);
  t.equal(curveAt(c, 4), 1.55);
  t.equal(curveAt(c, 10), 1.6);
  // The boundary moves with thickness (beam hardening on a real scanner): under a curve that rises with A_high,
  // the same aluminium reads inorganic when thin and organic when thick.
  const curve: [number, number][] = [[0, 1.45], [2, 1.9], [6, 1.9]];
  const thick = slab('aluminium', 3 / linearMu('aluminium').high, 4);
  const thin = slab('aluminium', 0.4 / linearMu('aluminium').high, 5);
  const cfg = { ...DEFAULT_MATERIALS, organicMax: curve };
  t.ok(classifyMaterials(thick.aHigh, thick.aLow, W, H, cfg).summary.organic > 0.9, `thick aluminium under boundary ${curveAt(curve, 3).toFixed(2)}: organic`);
  t.ok(classifyMaterials(thin.aHigh, thin.aLow, W, H, cfg).summary.inorganic > 0.9, `thin aluminium under boundary ${curveAt(curve, 0.4).toFixed(2)}: inorganic`);
});

t.test('preprocessing: dark/open-beam references give back the transmission', async (t) => {
  const w = 32;
  const h = 8;
  const trueT = new Float32Array(w * h).map((_, i) => 0.05 + 0.9 * ((i * 37) % 100) / 100);
  const dark = { width: w, height: 1, data: new Uint16Array(w).map((_, x) => 900 + x * 3) };
  const open = { width: w, height: 1, data: new Uint16Array(w).map((_, x) => 50000 + x * 200) };
  const raw = { width: w, height: h, data: new Uint16Array(w * h) };
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) raw.data[y * w + x] = Math.round(dark.data[x]! + trueT[y * w + x]! * (open.data[x]! - dark.data[x]!));
  const tr = toTransmission(raw, { dark, open });
  let worst = 0;
  for (let i = 0; i < w * h; i++) worst = Math.max(worst, Math.abs(tr[i]! - trueT[i]!));
  t.ok(worst < 1e-4, `line references: worst error ${worst.toExponential(1)}`);
  const naive = toTransmission(raw);
  t.ok(Math.abs(naive[5]! - trueT[5]!) > 0.01, 'without references the gain profile stays in the image');
  t.throws(() => toTransmission(raw, { dark: { width: 7, height: 3, data: new Uint16Array(21) }, open }), PreprocessError, 'a reference of the wrong size is refused');
  t.throws(() => toTransmission(raw, { dark: { width: 7, height: 3, data: new Uint16Array(21) }, open }), /7 x 3; expected 32 x 8, 32 x 1 or 1 x 8/);
  // The lookup-table fast path gives the same transmission and attenuation.
  for (const refs of [undefined, { dark, open }]) {
    const fast = transmissionAndAttenuation(raw, refs);
    const slowT = toTransmission(raw, refs);
    const slowA = attenuation(slowT);
    let dT = 0;
    let dA = 0;
    for (let i = 0; i < w * h; i++) {
      dT = Math.max(dT, Math.abs(fast.t[i]! - slowT[i]!));
      dA = Math.max(dA, Math.abs(fast.a[i]! - slowA[i]!));
    }
    t.ok(dT < 1e-6 && dA < 1e-4, `fast path ${refs ? 'with' : 'without'} references: |dT| ${dT.toExponential(1)}, |dA| ${dA.toExponential(1)}`);
  }
  const a = attenuation(new Float32Array([1, Math.exp(-2)]));
  t.ok(Math.abs(a[1]! - 2) < 1e-6 && a[0] === 0, 'A = -ln T');
});

t.test('resampling averages transmission; tiles cover the image with overlap', async (t) => {
  const src = new Float32Array(12 * 9).map((_, i) => (i % 7) / 7);
  const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
  t.ok(Math.abs(mean(resampleArea(src, 12, 9, 4, 3)) - mean(src)) < 1e-6, 'integer factor keeps the mean');
  t.ok(Math.abs(mean(resampleArea(src, 12, 9, 5, 4)) - mean(src)) < 0.02, 'fractional factor about keeps it');
  const ts = tiles(1000, 300, 128, 0.25);
  const covered = new Uint8Array(1000 * 300);
  for (const r of ts) {
    t.ok(r.x >= 0 && r.y >= 0 && r.x + r.w <= 1000 && r.y + r.h <= 300, 'tile inside');
    for (let y = r.y; y < r.y + r.h; y++) covered.fill(1, y * 1000 + r.x, y * 1000 + r.x + r.w);
  }
  t.ok(covered.every((v) => v === 1), `${ts.length} tiles cover every pixel`);
  t.same(tiles(100, 80, 128), [{ x: 0, y: 0, w: 100, h: 80 }], 'a small image is one tile');
  const c = crop(new Float32Array([0, 1, 2, 3, 4, 5, 6, 7, 8]), 3, { x: 1, y: 1, w: 2, h: 2 });
  t.same(Array.from(c), [4, 5, 7, 8]);
});
