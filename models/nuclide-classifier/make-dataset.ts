// CLI: writes the classifier's training set (and its fixed evaluation set) of simulated, labelled spectra to binary files train.py reads.
//
//   npx tsx models/nuclide-classifier/make-dataset.ts [--n 60000] [--seed 1] [--eval-seed 2] [--out models/nuclide-classifier/data]
//
// File layout (little-endian), shared with train.py's read_dataset():
//   bytes 0-7   ASCII "NUCDS001"
//   bytes 8-11  uint32 length H of the JSON header
//   12 … 12+H   JSON header, space-padded so the first section starts on a 4-byte boundary: classes, grid,
//               detectors, the generator's parameters and `sections` [{ name, dtype, shape, offset }]
//   sections    counts float32 [n, 1024] (raw channel counts), labels uint8 [n, classes] (1 = that nuclide's
//               source is in the spectrum), liveTime_s / netCounts / signalToBackground float32 [n], detector uint8 [n]
//               (index into header.detectors)

import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { nuclideIds } from '../../analysis/radiation/nuclides.js';
import { GRID, type LabelledSpectrum, TRAINING_DETECTORS, TRAINING_DISTRIBUTION, evaluationSet, trainingSpectra } from './simulate.js';

export const DATASET_MAGIC = 'NUCDS001';

interface Section {
  name: string;
  dtype: 'float32' | 'uint8';
  shape: number[];
  offset: number;
}

/** Writes `n` spectra drawn from `next` to `file`; returns its size in bytes. */
export function writeDataset(file: string, n: number, next: (i: number) => LabelledSpectrum, extra: Record<string, unknown>): number {
  const classes = nuclideIds();
  const classIndex = new Map(classes.map((c, i) => [c, i]));
  const detectors: string[] = [...TRAINING_DETECTORS];
  const nCh = GRID.nChannels;
  const layout: [string, Section['dtype'], number[], number][] = [
    ['counts', 'float32', [n, nCh], 4],
    ['labels', 'uint8', [n, classes.length], 1],
    ['liveTime_s', 'float32', [n], 4],
    ['netCounts', 'float32', [n], 4],
    ['signalToBackground', 'float32', [n], 4],
    ['detector', 'uint8', [n], 1],
  ];
  // The header's length depends on the offsets it lists: lay it out with a generous fixed budget for the header.
  const headerBudget = 16384;
  let offset = 12 + headerBudget;
  const sections: Section[] = layout.map(([name, dtype, shape, size]) => {
    offset = Math.ceil(offset / 4) * 4;
    const s = { name, dtype, shape, offset };
    offset += shape.reduce((a, b) => a * b, 1) * size;
    return s;
  });
  const fileSize = offset;
  const header = JSON.stringify({ classes, grid: GRID, detectors, n, sections, ...extra });
  const headerBytes = Buffer.from(header, 'utf8');
  if (headerBytes.length > headerBudget) throw new RangeError(`dataset header is ${headerBytes.length} bytes, over the ${headerBudget} budget`);
  const head = Buffer.alloc(12 + headerBudget, 0x20);
  head.write(DATASET_MAGIC, 0, 'ascii');
  head.writeUInt32LE(headerBudget, 8);
  headerBytes.copy(head, 12);

  const labels = new Uint8Array(n * classes.length);
  const live = new Float32Array(n);
  const net = new Float32Array(n);
  const sb = new Float32Array(n);
  const det = new Uint8Array(n);
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, head, 0, head.length, 0);
    const countsAt = sections[0].offset;
    const row = new Float32Array(nCh);
    const rowBytes = Buffer.from(row.buffer);
    for (let i = 0; i < n; i++) {
      const s = next(i);
      row.set(s.counts);
      writeSync(fd, rowBytes, 0, rowBytes.length, countsAt + i * rowBytes.length);
      for (const id of s.nuclides) {
        const k = classIndex.get(id);
        if (k === undefined) throw new RangeError(`spectrum ${i}: nuclide '${id}' is not a class`);
        labels[i * classes.length + k] = 1;
      }
      live[i] = s.liveTime_s;
      net[i] = s.netCounts;
      sb[i] = s.signalToBackground;
      const d = detectors.indexOf(s.detector);
      if (d < 0) throw new RangeError(`spectrum ${i}: detector '${s.detector}' is not one of ${detectors.join(', ')}`);
      det[i] = d;
    }
    const arrays: ArrayBufferView[] = [labels, live, net, sb, det];
    arrays.forEach((a, j) => {
      writeSync(fd, new Uint8Array(a.buffer, a.byteOffset, a.byteLength), 0, a.byteLength, sections[j + 1].offset);
    });
  } finally {
    closeSync(fd);
  }
  return fileSize;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      n: { type: 'string', default: '60000' },
      seed: { type: 'string', default: '1' },
      'eval-seed': { type: 'string', default: '2' },
      out: { type: 'string', default: join('models', 'nuclide-classifier', 'data') },
    },
  });
  const n = Number(values.n);
  const seed = Number(values.seed);
  const evalSeed = Number(values['eval-seed']);
  if (!Number.isInteger(n) || n <= 0) throw new RangeError(`--n: expected a positive integer, got ${values.n}`);
  mkdirSync(values.out, { recursive: true });
  const t0 = performance.now();
  const next = trainingSpectra(seed);
  const trainFile = join(values.out, 'train.bin');
  const trainSize = writeDataset(
    trainFile,
    n,
    (i) => {
      if (i % 5000 === 0) process.stdout.write(`train ${i}/${n}\n`);
      return next();
    },
    { kind: 'train', seed, distribution: TRAINING_DISTRIBUTION },
  );
  process.stdout.write(`${trainFile}: ${n} spectra, ${(trainSize / 2 ** 20).toFixed(1)} MiB, ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);

  const t1 = performance.now();
  const ev = evaluationSet({ seed: evalSeed, trials: 4, backgroundSpectra: 500 });
  const all = [...ev.sources, ...ev.background];
  const evalFile = join(values.out, 'eval.bin');
  const evalSize = writeDataset(evalFile, all.length, (i) => all[i], {
    kind: 'eval',
    seed: evalSeed,
    protocol: 'bench/identify.ts cells at 5,000 net counts (1 µSv/h at 1 m bare; none/steel-2cm/steel-5cm/lead-1cm; 1, 3, 5 m; S/B >= 1 %), 4 spectra per cell; 500 background-only spectra per detector',
    outOfReach: ev.outOfReach.length,
  });
  process.stdout.write(
    `${evalFile}: ${ev.sources.length} source + ${ev.background.length} background spectra, ${(evalSize / 2 ** 20).toFixed(1)} MiB, ${((performance.now() - t1) / 1000).toFixed(1)} s\n`,
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`make-dataset: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
