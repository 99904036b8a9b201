// Writes a synthetic TIP data set: 16-bit dual-energy PNG pairs with scanner sidecars, COCO and YOLO labels.
//
// Layout under `out/` (the images folder is also a valid scanner drop folder for the xray-folder driver):
//   images/<id>_high.png, images/<id>_low.png   16-bit transmission of an ideal detector (dark 0, open 65535)
//   images/<id>.json                            sidecar: scanId, scanner, energies_kV, declaration
//   (format 'dicos': images/<id>.dcs, one DICOS file with two frames, high then low, instead of the PNG pair)
//   labels/<id>.txt                             YOLO: "<classId> <cx> <cy> <w> <h>" normalised to the image
//   annotations.json                            COCO: images (the high-energy file), annotations (bbox x,y,w,h), categories
//   classes.txt, meta.json                      class names in id order; generator options
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mulberry32 } from '../../common/random.js';
import { InputError } from '../../common/errors.js';
import { encodeDicos } from './dicos-write.js';
import { encodePng16, readImage16, transmissionTo16 } from './image-io.js';
import { transmissionAndAttenuation } from '../../analysis/xray/preprocess.js';
import { synthThreat, THREAT_CLASSES, type ThreatClass, type ThreatObject } from '../../analysis/xray/synth.js';
import { DIFFICULTIES, objectBox, tipScene, transformThreat, type Difficulty, type TipBox } from '../../analysis/xray/tip.js';

export interface TipDatasetOptions {
  out: string;
  count: number;
  /** Image side in pixels (square). */
  size?: number;
  difficulty?: Difficulty | 'mixed';
  seed?: number;
  pitch_cm?: number;
  /** PNG zlib level (1 fast … 9 small). */
  compressionLevel?: number;
  /** 'png' (default): a 16-bit PNG pair per scan; 'dicos': one two-frame DICOS file (edge/xray/dicos-write.ts). */
  format?: 'png' | 'dicos';
  /** Folder of threat objects scanned alone (see readThreatLibrary); classes without one are drawn synthetically. */
  threatsDir?: string;
  /** Called after each image with (done, total). */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface TipDatasetSummary {
  images: number;
  objects: Record<string, number>;
  clean: number;
  dir: string;
}

const GOODS: { hsCode: string; goods: string }[] = [
  { hsCode: '6109.10', goods: 'cotton t-shirts' },
  { hsCode: '8471.30', goods: 'laptop computer' },
  { hsCode: '6403.99', goods: 'leather shoes' },
  { hsCode: '4901.99', goods: 'printed books' },
  { hsCode: '3304.99', goods: 'cosmetics' },
  { hsCode: '9503.00', goods: 'toys' },
];

export async function writeTipDataset(opts: TipDatasetOptions): Promise<TipDatasetSummary> {
  const size = opts.size ?? 256;
  const seed = opts.seed ?? 1;
  const rng = mulberry32(seed ^ 0x5bd1e995);
  const imagesDir = join(opts.out, 'images');
  const labelsDir = join(opts.out, 'labels');
  await mkdir(imagesDir, { recursive: true });
  await mkdir(labelsDir, { recursive: true });
  const coco = {
    info: { description: 'customs-edge synthetic TIP data set', version: '1', seed },
    images: [] as { id: number; file_name: string; low_file_name: string; width: number; height: number; difficulty: Difficulty }[],
    annotations: [] as { id: number; image_id: number; category_id: number; bbox: [number, number, number, number]; area: number; iscrowd: 0 }[],
    categories: THREAT_CLASSES.map((name, id) => ({ id, name, supercategory: 'threat' })),
  };
  const objects: Record<string, number> = Object.fromEntries(THREAT_CLASSES.map((c) => [c, 0]));
  const library = opts.threatsDir !== undefined ? await readThreatLibrary(opts.threatsDir, opts.pitch_cm ?? 0.25) : undefined;
  let clean = 0;
  for (let i = 0; i < opts.count; i++) {
    if (opts.signal?.aborted) break;
    const difficulty: Difficulty = opts.difficulty === undefined || opts.difficulty === 'mixed' ? DIFFICULTIES[Math.floor(rng() * 3)]! : opts.difficulty;
    const scene = tipScene((seed * 1_000_003 + i) >>> 0, {
      width: size,
      height: size,
      difficulty,
      ...(opts.pitch_cm !== undefined ? { pitch_cm: opts.pitch_cm } : {}),
      ...(library !== undefined ? { library } : {}),
    });
    const id = `tip-${seed}-${String(i).padStart(6, '0')}`;
    const level = opts.compressionLevel ?? 6;
    const dicos = opts.format === 'dicos';
    if (dicos) {
      const frames = [transmissionTo16(scene.image.high, size, size), transmissionTo16(scene.image.low, size, size)];
      await writeFile(join(imagesDir, `${id}.dcs`), encodeDicos({ frames, scanId: id, energies_kV: [140, 80], pitch_cm: opts.pitch_cm ?? 0.25 }));
    } else {
      await writeFile(join(imagesDir, `${id}_high.png`), await encodePng16(transmissionTo16(scene.image.high, size, size), level));
      await writeFile(join(imagesDir, `${id}_low.png`), await encodePng16(transmissionTo16(scene.image.low, size, size), level));
    }
    const g = GOODS[Math.floor(rng() * GOODS.length)]!;
    const sidecar = {
      scanId: id,
      scanner: 'tip-synth',
      energies_kV: [140, 80],
      declaration: { ...g, weight_kg: Math.round(beamMass_kg(scene.image.high, opts.pitch_cm ?? 0.25) * (0.8 + 0.4 * rng()) * 10) / 10, origin: ['CN', 'TR', 'US', 'DE', 'IN'][Math.floor(rng() * 5)] },
      tip: { difficulty, boxes: scene.boxes },
    };
    // The sidecar goes last and atomically: a watcher sees a scan only once its images are complete.
    await writeFile(join(imagesDir, `.${id}.json.tmp`), JSON.stringify(sidecar));
    await rename(join(imagesDir, `.${id}.json.tmp`), join(imagesDir, `${id}.json`));
    await writeFile(join(labelsDir, `${id}.txt`), yoloLines(scene.boxes, size, size));
    coco.images.push({ id: i, file_name: dicos ? `images/${id}.dcs` : `images/${id}_high.png`, low_file_name: dicos ? `images/${id}.dcs` : `images/${id}_low.png`, width: size, height: size, difficulty });
    for (const b of scene.boxes) {
      coco.annotations.push({
        id: coco.annotations.length,
        image_id: i,
        category_id: THREAT_CLASSES.indexOf(b.class),
        bbox: [b.x, b.y, b.w, b.h],
        area: b.w * b.h,
        iscrowd: 0,
      });
      objects[b.class] = (objects[b.class] ?? 0) + 1;
    }
    if (scene.boxes.length === 0) clean++;
    opts.onProgress?.(i + 1, opts.count);
  }
  await writeFile(join(opts.out, 'annotations.json'), JSON.stringify(coco));
  await writeFile(join(opts.out, 'classes.txt'), `${THREAT_CLASSES.join('\n')}\n`);
  await writeFile(
    join(opts.out, 'meta.json'),
    JSON.stringify({ generator: 'customs-edge xray tip', size, seed, difficulty: opts.difficulty ?? 'mixed', pitch_cm: opts.pitch_cm ?? 0.25, count: coco.images.length, classes: THREAT_CLASSES }, null, 2),
  );
  return { images: coco.images.length, objects, clean, dir: opts.out };
}

/** Rough mass the beam sees (kg) for a plausible declared weight: Σ A_high over an average μ/ρ of 0.2 cm²/g. */
function beamMass_kg(tHigh: Float32Array, pitch_cm: number): number {
  let s = 0;
  for (let i = 0; i < tHigh.length; i++) s += -Math.log(Math.max(1e-5, tHigh[i]!));
  return Math.max(0.5, (s * pitch_cm * pitch_cm) / 0.2 / 1000);
}

export function yoloLines(boxes: TipBox[], width: number, height: number): string {
  return boxes
    .map((b) => {
      const f = (v: number): string => v.toFixed(6);
      return `${THREAT_CLASSES.indexOf(b.class)} ${f((b.x + b.w / 2) / width)} ${f((b.y + b.h / 2) / height)} ${f(b.w / width)} ${f(b.h / height)}`;
    })
    .join('\n') + (boxes.length > 0 ? '\n' : '');
}

/**
 * A threat library: for each object `<name>_high.png` and `<name>_low.png` (16-bit transmission of the object
 * scanned alone on an empty belt, open beam 65535) and `<name>.json` {"class": one of the threat classes,
 * "pitch_cm": pixel size}. Objects are cropped to where they attenuate and rescaled to the scene's pixel size.
 */
export async function readThreatLibrary(dir: string, pitch_cm: number): Promise<ThreatObject[]> {
  const out: ThreatObject[] = [];
  const names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  for (const n of names) {
    const file = join(dir, n);
    let meta: { class?: unknown; pitch_cm?: unknown };
    try {
      meta = JSON.parse(await readFile(file, 'utf8')) as typeof meta;
    } catch (e) {
      throw new InputError(`${file}: not JSON (${(e as Error).message})`);
    }
    if (typeof meta.class !== 'string' || !(THREAT_CLASSES as readonly string[]).includes(meta.class)) {
      throw new InputError(`${file}: class ${JSON.stringify(meta.class)}; expected one of ${THREAT_CLASSES.join(', ')}`);
    }
    const p = typeof meta.pitch_cm === 'number' && meta.pitch_cm > 0 ? meta.pitch_cm : pitch_cm;
    const stem = join(dir, n.slice(0, -5));
    const hi = await readImage16(`${stem}_high.png`);
    const lo = await readImage16(`${stem}_low.png`);
    if (hi.width !== lo.width || hi.height !== lo.height) throw new InputError(`${stem}_low.png: ${lo.width} x ${lo.height}, its high-energy image ${hi.width} x ${hi.height}`);
    const obj: ThreatObject = { class: meta.class as ThreatClass, width: hi.width, height: hi.height, high: transmissionAndAttenuation(hi).a, low: transmissionAndAttenuation(lo).a };
    out.push(p === pitch_cm ? obj : transformThreat(obj, 0, p / pitch_cm));
  }
  return out;
}

/** Writes the synthetic threat objects as a threat library (each alone, as its own transmission image pair). */
export async function writeThreatLibrary(dir: string, opts: { perClass: number; seed: number; pitch_cm: number }): Promise<number> {
  await mkdir(dir, { recursive: true });
  const rng = mulberry32(opts.seed);
  let n = 0;
  for (const cls of THREAT_CLASSES) {
    for (let k = 0; k < opts.perClass; k++) {
      const o = synthThreat(cls, rng, opts.pitch_cm);
      const box = objectBox(o);
      if (box === undefined) continue;
      const t = (a: Float32Array) => Float32Array.from(a, (v) => Math.exp(-v));
      const name = `${cls}-${k}`;
      await writeFile(join(dir, `${name}_high.png`), await encodePng16(transmissionTo16(t(o.high), o.width, o.height)));
      await writeFile(join(dir, `${name}_low.png`), await encodePng16(transmissionTo16(t(o.low), o.width, o.height)));
      await writeFile(join(dir, `${name}.json`), JSON.stringify({ class: cls, pitch_cm: opts.pitch_cm }));
      n++;
    }
  }
  return n;
}
