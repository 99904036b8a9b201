// TIP physics: projection in transmission space is the Beer-Lambert product; alpha blending is not. Plus the data set writer.
import t from 'tap';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { linearMu, stackTransmission } from '../../analysis/xray/physics.js';
import { emptyMap, paint, synthThreat, THREAT_CLASSES } from '../../analysis/xray/synth.js';
import { alphaBlendThreat, objectBox, projectThreat, tipScene, toTransmission, transformThreat, type TransmissionImage } from '../../analysis/xray/tip.js';
import { readThreatLibrary, writeThreatLibrary, writeTipDataset } from '../../edge/xray/tip-dataset.js';
import { readImage16 } from '../../edge/xray/image-io.js';
import { mulberry32 } from '../../common/random.js';
import { tempDir } from '../harness/services.js';

function uniform(width: number, height: number, tHigh: number, tLow: number): Required<TransmissionImage> {
  return { width, height, high: new Float32Array(width * height).fill(tHigh), low: new Float32Array(width * height).fill(tLow) };
}

t.test('projection multiplies transmissions: T = exp(-(mu1 t1 + mu2 t2)) per channel', async (t) => {
  const cases: [Parameters<typeof linearMu>[0], number, Parameters<typeof linearMu>[0], number][] = [
    ['water', 12, 'steel', 0.6],
    ['cloth', 20, 'explosive', 4],
    ['aluminium', 1.5, 'lead', 0.2],
    ['polyethylene', 3, 'copper', 1],
  ];
  for (const [bagMat, t1, thrMat, t2] of cases) {
    const bagT = stackTransmission([{ material: bagMat, thickness_cm: t1 }]);
    const thrT = stackTransmission([{ material: thrMat, thickness_cm: t2 }]);
    const bag = uniform(16, 16, bagT.high, bagT.low);
    const threat = uniform(8, 8, thrT.high, thrT.low);
    projectThreat(bag, threat, 4, 4, 1);
    const mu1 = linearMu(bagMat);
    const mu2 = linearMu(thrMat);
    const expectHigh = Math.exp(-(mu1.high * t1 + mu2.high * t2));
    const expectLow = Math.exp(-(mu1.low * t1 + mu2.low * t2));
    const i = 8 * 16 + 8;
    t.ok(Math.abs(bag.high[i]! / expectHigh - 1) < 1e-5, `${bagMat} ${t1} cm + ${thrMat} ${t2} cm, high: ${bag.high[i]} vs Beer-Lambert ${expectHigh}`);
    t.ok(Math.abs(bag.low[i]! / expectLow - 1) < 1e-5, `low: ${bag.low[i]} vs ${expectLow}`);
    // Log attenuations add.
    t.ok(Math.abs(-Math.log(bag.high[i]!) - (mu1.high * t1 + mu2.high * t2)) < 1e-4, 'A_high = A_bag + A_threat');
    t.equal(bag.high[0], Math.fround(bagT.high), 'outside the threat the bag is unchanged');
  }
});

t.test('plain alpha blending fails Beer-Lambert', async (t) => {
  const bagT = stackTransmission([{ material: 'water', thickness_cm: 12 }]);
  const thrT = stackTransmission([{ material: 'steel', thickness_cm: 0.6 }]);
  const truth = Math.exp(-(linearMu('water').high * 12 + linearMu('steel').high * 0.6));
  for (const alpha of [0.3, 0.5, 0.8]) {
    const bag = uniform(16, 16, bagT.high, bagT.low);
    alphaBlendThreat(bag, uniform(8, 8, thrT.high, thrT.low), 4, 4, alpha);
    const v = bag.high[8 * 16 + 8]!;
    t.ok(Math.abs(v / truth - 1) > 0.2, `alpha ${alpha}: ${v.toFixed(4)} is off the physical ${truth.toFixed(4)} by ${((v / truth - 1) * 100).toFixed(0)} %`);
  }
  // A light object over a dense region: alpha blending makes the pixel brighter than the region alone, which
  // adding material can never do.
  const dense = stackTransmission([{ material: 'steel', thickness_cm: 1 }]);
  const light = stackTransmission([{ material: 'polyethylene', thickness_cm: 2 }]);
  const a = uniform(8, 8, dense.high, dense.low);
  alphaBlendThreat(a, uniform(4, 4, light.high, light.low), 2, 2, 0.5);
  t.ok(a.high[3 * 8 + 3]! > dense.high, 'alpha blend: transmission rises when an object is added (unphysical)');
  const p = uniform(8, 8, dense.high, dense.low);
  projectThreat(p, uniform(4, 4, light.high, light.low), 2, 2, 1);
  t.ok(p.high[3 * 8 + 3]! < dense.high, 'projection: transmission falls when an object is added');
});

t.test('the blend factor is the same object thinner: T_threat^beta = exp(-mu beta t)', async (t) => {
  const thrT = stackTransmission([{ material: 'steel', thickness_cm: 0.8 }]);
  const bag = uniform(4, 4, 1, 1);
  projectThreat(bag, uniform(4, 4, thrT.high, thrT.low), 0, 0, 0.5);
  const expect = Math.exp(-linearMu('steel').high * 0.4);
  t.ok(Math.abs(bag.high[5]! / expect - 1) < 1e-5, `${bag.high[5]} vs ${expect}`);
});

t.test('rotation and scaling keep the object attenuation (thickness) and scale its area', async (t) => {
  const rng = mulberry32(5);
  for (const cls of THREAT_CLASSES) {
    const obj = synthThreat(cls, rng, 0.25);
    const sum = (a: Float32Array) => a.reduce((s, v) => s + v, 0);
    const rot = transformThreat(obj, 0.7, 1);
    t.ok(Math.abs(sum(rot.high) / sum(obj.high) - 1) < 0.03, `${cls}: rotation keeps total attenuation (${(sum(rot.high) / sum(obj.high)).toFixed(3)})`);
    const big = transformThreat(obj, 0, 1.5);
    t.ok(Math.abs(sum(big.high) / sum(obj.high) / 2.25 - 1) < 0.05, `${cls}: 1.5x scale gives 2.25x area`);
    const maxObj = Math.max(...obj.high);
    t.ok(Math.max(...big.high) <= maxObj * 1.001, `${cls}: scaling does not thicken`);
  }
});

t.test('paint: a thick flat slab has the exact attenuation inside', async (t) => {
  const m = emptyMap(40, 40);
  paint(m, { kind: 'rect', cx: 20, cy: 20, w: 20, h: 10, angle: 0 }, 'aluminium', 2);
  t.ok(Math.abs(m.high[20 * 40 + 20]! - linearMu('aluminium').high * 2) < 1e-5);
  t.equal(m.high[0], 0, 'nothing outside');
  const box = objectBox(m);
  t.same(box, { x: 10, y: 15, w: 20, h: 10 }, 'its box');
});

t.test('a TIP scene is seeded, its boxes inside the image and on the threat', async (t) => {
  const a = tipScene(42, { width: 256, height: 256, difficulty: 'medium', threats: ['gun', 'knife'] });
  const b = tipScene(42, { width: 256, height: 256, difficulty: 'medium', threats: ['gun', 'knife'] });
  t.same(Array.from(a.image.high.slice(0, 5000)), Array.from(b.image.high.slice(0, 5000)), 'same seed, same image');
  t.equal(a.boxes.length, 2, 'both threats placed');
  for (const bx of a.boxes) {
    t.ok(bx.x >= 0 && bx.y >= 0 && bx.x + bx.w <= 256 && bx.y + bx.h <= 256, `${bx.class} box inside`);
    // The threat darkens its box: the same scene without it is brighter there.
    const clean = tipScene(42, { width: 256, height: 256, difficulty: 'medium', threats: [], photons: { high: 0, low: 0 } });
    let withT = 0;
    let without = 0;
    for (let y = bx.y; y < bx.y + bx.h; y++) {
      for (let x = bx.x; x < bx.x + bx.w; x++) {
        withT += -Math.log(a.image.high[y * 256 + x]!);
        without += -Math.log(clean.image.high[y * 256 + x]!);
      }
    }
    t.ok(withT > without * 1.02, `${bx.class}: attenuation in its box ${withT.toFixed(0)} > ${without.toFixed(0)} without it`);
  }
  const hard = tipScene(43, { width: 256, height: 256, difficulty: 'hard' });
  const easy = tipScene(43, { width: 256, height: 256, difficulty: 'easy' });
  t.ok(hard.meta.clutter > easy.meta.clutter, 'hard bags are fuller');
  t.ok(hard.meta.blends.every((v) => v <= 0.85) && easy.meta.blends.every((v) => v >= 0.9), 'hard threats are blended thinner');
});

t.test('data set: 16-bit PNG pairs, sidecars, YOLO and COCO labels that agree', async (t) => {
  const out = tempDir('xray-tip');
  const progress: number[] = [];
  const s = await writeTipDataset({ out, count: 6, size: 128, pitch_cm: 0.5, seed: 3, difficulty: 'easy', onProgress: (d) => progress.push(d) });
  t.equal(s.images, 6);
  t.same(progress, [1, 2, 3, 4, 5, 6], 'progress per image');
  const coco = JSON.parse(readFileSync(join(out, 'annotations.json'), 'utf8')) as {
    images: { id: number; file_name: string; low_file_name: string }[];
    annotations: { image_id: number; category_id: number; bbox: number[] }[];
    categories: { id: number; name: string }[];
  };
  t.same(coco.categories.map((c) => c.name), [...THREAT_CLASSES]);
  t.equal(coco.images.length, 6);
  const labels = readdirSync(join(out, 'labels'));
  let lines = 0;
  for (const f of labels) {
    for (const line of readFileSync(join(out, 'labels', f), 'utf8').split('\n').filter(Boolean)) {
      lines++;
      const [c, ...v] = line.split(' ').map(Number);
      t.ok(Number.isInteger(c) && c! >= 0 && c! < THREAT_CLASSES.length, 'class id');
      t.ok(v.every((x) => x >= 0 && x <= 1), 'normalised YOLO box');
    }
  }
  t.equal(lines, coco.annotations.length, 'YOLO and COCO hold the same objects');
  const img = await readImage16(join(out, coco.images[0]!.file_name));
  t.same([img.width, img.height], [128, 128], '16-bit image of the asked size');
  t.ok(img.data.some((v) => v > 255), 'uses the 16-bit range');
  const side = JSON.parse(readFileSync(join(out, 'images', coco.images[0]!.file_name.replace('images/', '').replace('_high.png', '.json')), 'utf8')) as { scanId: string; energies_kV: number[] };
  t.equal(side.energies_kV.length, 2, 'sidecar says dual energy');
});

t.test('threat library: objects scanned alone as their own transmission images are projected from files', async (t) => {
  const dir = tempDir('xray-lib');
  const n = await writeThreatLibrary(dir, { perClass: 1, seed: 4, pitch_cm: 0.5 });
  t.equal(n, THREAT_CLASSES.length, 'one object per class written');
  // Read back at the pitch they were written (no rescale) and at half the pitch (twice the pixels).
  const lib = await readThreatLibrary(dir, 0.5);
  const ref = synthThreat('gun', mulberry32(4), 0.5);
  const gun = lib.find((o) => o.class === 'gun')!;
  t.same([gun.width, gun.height], [ref.width, ref.height], 'same size as drawn');
  let worst = 0;
  for (let i = 0; i < ref.high.length; i++) if (ref.high[i]! < 6) worst = Math.max(worst, Math.abs(gun.high[i]! - ref.high[i]!));
  t.ok(worst < 0.01, `attenuation (A < 6) survives the 16-bit round trip (worst ${worst.toFixed(4)})`);
  const fine = await readThreatLibrary(dir, 0.25);
  const gunFine = fine.find((o) => o.class === 'gun')!;
  t.ok(Math.abs(gunFine.width / gun.width - 2) < 0.1, 'rescaled to the scene pixel size');
  const scene = tipScene(8, { width: 256, height: 256, difficulty: 'easy', threats: ['gun'], library: fine });
  t.equal(scene.boxes.length, 1, 'the library gun was projected');
  t.ok(Math.abs(scene.boxes[0]!.w * scene.boxes[0]!.h - objectBox(gunFine)!.w * objectBox(gunFine)!.h) < 0.6 * objectBox(gunFine)!.w * objectBox(gunFine)!.h, 'its box has about the object size');
  writeFileSync(join(dir, 'bad.json'), JSON.stringify({ class: 'umbrella' }));
  await t.rejects(readThreatLibrary(dir, 0.5), /bad\.json: class "umbrella"; expected one of gun, knife/);
});
