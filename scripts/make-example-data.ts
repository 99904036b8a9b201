// Writes the small files of examples/data/ that the README's "First hour" commands use, with the project's own simulators and writers.
//
// Run from the repository root: npx tsx scripts/make-example-data.ts. Every file is seeded, so a rerun writes the same
// bytes (the README shows what the commands print on them); examples/data/README.md says what each one is.
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeN42 } from '../analysis/radiation/formats/index.js';
import { DETECTORS } from '../analysis/radiation/dose.js';
import { simulateCheckSource } from '../analysis/radiation/calibrate/simulate.js';
import { simulateDrive, straightPass } from '../analysis/radiation/sim/drive.js';
import type { Scene, SimDetector } from '../analysis/radiation/sim/scene.js';
import type { Measurement, RadFile } from '../analysis/radiation/spectrum.js';
import { writeTipDataset } from '../edge/xray/tip-dataset.js';

const OUT = resolve(import.meta.dirname, '..', 'examples', 'data');
const START = '2024-06-01T08:00:00Z';
/** The whole folder stays small enough to ship in the repository. */
const MAX_TOTAL_BYTES = 200_000;

function n42(file: string, measurements: Measurement[], detectors: { id: string; kind?: string; description?: string }[], model: string): string {
  const rf: RadFile = { source: file, format: 'N42-2012', instrument: { manufacturer: 'customs-edge', model, id: 'example' }, detectors, measurements };
  return writeN42(rf, { creator: 'customs-edge scripts/make-example-data.ts' });
}

/** A handheld's 60 s look at a parcel holding 370 kBq of Cs-137 at 50 cm, with the 300 s background taken before. */
async function handheldSpectrum(): Promise<void> {
  const cal = { coefficients: [0, 3] };
  const common = { model: 'NaI-2x2', calibration: cal, nChannels: 1024, maxEnergy_keV: 3050 };
  const fg = simulateCheckSource({ ...common, sources: [{ nuclide: 'Cs137', activity_Bq: 3.7e5, distance_m: 0.5 }], liveTime_s: 60, seed: 21 });
  const bg = simulateCheckSource({ ...common, sources: [], liveTime_s: 300, seed: 22 });
  const spectrum = (counts: Float64Array, live: number) => ({ detector: 'nai', counts, liveTime_s: live, realTime_s: live, calibration: cal });
  const file = join(OUT, 'handheld-cs137.n42');
  const ms: Measurement[] = [
    { id: 'background', startTime: START, realTime_s: 300, class: 'Background', spectra: [spectrum(bg.counts, 300)], grossCounts: [] },
    { id: 'parcel', startTime: '2024-06-01T08:06:00Z', realTime_s: 60, class: 'Foreground', spectra: [spectrum(fg.counts, 60)], grossCounts: [] },
  ];
  await writeFile(file, n42(file, ms, [{ id: 'nai', kind: 'NaI', description: `${DETECTORS['NaI-2x2']!.name} (simulated)` }], 'handheld (simulated)'));
}

/** A vehicle's 60 m pass at 5 m/s, 4 m beside 100 MBq of Cs-137 one metre up; three detectors at different heights and sides. */
async function vehicleDrive(): Promise<void> {
  // Left and right of the vehicle and on the roof, as the demo's vehicle: the sides tell which side of the lane it is on.
  const detectors: SimDetector[] = [
    { id: 'left-low', model: DETECTORS['NaI-2x4x16']!, offset: { x_m: 0, y_m: 1, z_m: 0.5 }, nChannels: 512, keVPerChannel: 6 },
    { id: 'right-mid', model: DETECTORS['NaI-2x4x16']!, offset: { x_m: 0, y_m: -1, z_m: 1.5 }, nChannels: 512, keVPerChannel: 6 },
    { id: 'roof', model: DETECTORS['NaI-2x2']!, offset: { x_m: 0, y_m: 0, z_m: 2.8 }, nChannels: 512, keVPerChannel: 6 },
  ];
  const scene: Scene = { sources: [{ nuclide: 'Cs137', activity_Bq: 1e8, position: { x_m: 0, y_m: 0, z_m: 1 } }], background: {}, origin: { lat: 51.95, lon: 4.05 } };
  const ms = simulateDrive(scene, detectors, straightPass({ speed_m_s: 5, offset_m: 4, from_m: -30, to_m: 30 }), { dt_s: 1, seed: 31, startTime: START });
  const file = join(OUT, 'vehicle-drive-cs137.n42');
  await writeFile(file, n42(file, ms, detectors.map((d) => ({ id: d.id, kind: d.model.crystal, description: `${d.model.name} (simulated)` })), 'vehicle (simulated)'));
}

/** A technician's check-source spectrum: Am-241, Cs-137 and Co-60 on a 3x3" NaI whose gain is off from the file's calibration. */
async function checkSource(): Promise<void> {
  // The detector's true response: slightly quadratic and 4 % above the nominal 3 keV/channel the file claims.
  const truth = { coefficients: [-4, 3.12, 2.0e-5] };
  const nominal = { coefficients: [0, 3] };
  const r = simulateCheckSource({
    model: 'NaI-3x3',
    sources: [
      { nuclide: 'Am241', activity_Bq: 3.7e4, distance_m: 0.1 },
      { nuclide: 'Cs137', activity_Bq: 3.7e4, distance_m: 0.1 },
      { nuclide: 'Co60', activity_Bq: 3.7e4, distance_m: 0.1 },
    ],
    calibration: truth,
    nChannels: 1024,
    liveTime_s: 300,
    seed: 41,
  });
  const file = join(OUT, 'check-source-nai3x3.n42');
  const ms: Measurement[] = [
    { id: 'check', startTime: START, realTime_s: 300, class: 'Calibration', spectra: [{ detector: 'det-a', counts: r.counts, liveTime_s: 300, realTime_s: 300, calibration: nominal }], grossCounts: [] },
  ];
  await writeFile(file, n42(file, ms, [{ id: 'det-a', kind: 'NaI', description: `${r.model.name} (simulated)` }], 'spectrometer (simulated)'));
}

/** One synthetic dual-energy TIP scan with a planted threat: the high/low 16-bit PNG pair and its sidecar. */
async function xrayScan(): Promise<void> {
  const tmp = await mkdtemp(join(tmpdir(), 'customs-example-tip-'));
  try {
    // 0.25 cm per pixel as the shipped ATR model was trained; 160 px (a 40 cm parcel) keeps the pair under 100 kB.
    await writeTipDataset({ out: tmp, count: 3, size: 160, pitch_cm: 0.25, seed: 7, difficulty: 'easy', compressionLevel: 9 });
    const images = join(tmp, 'images');
    // The third scan of seed 7 carries a knife the shipped model finds well above its inspect threshold.
    const chosen = 'tip-7-000002';
    const side = JSON.parse(await readFile(join(images, `${chosen}.json`), 'utf8')) as { tip?: { boxes?: { class: string }[] } };
    const planted = (side.tip?.boxes ?? []).map((b) => b.class);
    if (planted.join() !== 'knife') throw new Error(`${chosen}: expected a planted knife, found [${planted.join(', ')}] (did the TIP generator change?)`);
    for (const suffix of ['_high.png', '_low.png', '.json']) await copyFile(join(images, `${chosen}${suffix}`), join(OUT, `scan${suffix}`));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  await mkdir(OUT, { recursive: true });
  await handheldSpectrum();
  await vehicleDrive();
  await checkSource();
  await xrayScan();
  let total = 0;
  for (const f of (await readdir(OUT)).sort()) {
    const s = await stat(join(OUT, f));
    total += s.size;
    process.stdout.write(`${f.padEnd(28)} ${String(s.size).padStart(7)} bytes\n`);
  }
  process.stdout.write(`total ${total} bytes\n`);
  if (total > MAX_TOTAL_BYTES) throw new Error(`examples/data is ${total} bytes, over the ${MAX_TOTAL_BYTES} the repository takes`);
}

main().catch((e: unknown) => {
  process.stderr.write(`make-example-data: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
