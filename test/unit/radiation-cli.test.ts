// `customs-edge rad ...` on real and simulated files: convert, dose, identify, alarm, and clear errors.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeN42 } from '../../analysis/radiation/formats/index.js';
import { DETECTORS } from '../../analysis/radiation/dose.js';
import { simulateDrive, straightPass } from '../../analysis/radiation/sim/drive.js';
import type { Scene, SimDetector } from '../../analysis/radiation/sim/scene.js';
import type { Measurement } from '../../analysis/radiation/spectrum.js';
import { tempDir } from '../harness/services.js';
import { EDGE_CLI, refData } from '../helpers/paths.js';

const DATA = refData();
const rad = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', EDGE_CLI, 'rad', ...args], { encoding: 'utf8', timeout: 120_000 });
const json = <T>(r: ReturnType<typeof rad>): T => {
  if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
};

const dir = tempDir('rad-cli');
const det: SimDetector = { id: 'log', model: DETECTORS['NaI-2x4x16']!, offset: { x_m: 0, y_m: 1, z_m: 0.9 }, nChannels: 1024, keVPerChannel: 3 };
function driveFile(name: string, sources: Scene['sources'], seed: number): string {
  const scene: Scene = { sources, background: {}, origin: { lat: 51.95, lon: 4.05 } };
  const ms: Measurement[] = simulateDrive(scene, [det], straightPass({ speed_m_s: 2.8, offset_m: 3, from_m: -120, to_m: 60 }), { dt_s: 1, seed });
  const file = join(dir, name);
  writeFileSync(file, writeN42({ source: file, format: 'N42-2012', detectors: [{ id: 'log' }], measurements: ms }));
  return file;
}
const withSource = driveFile('cs137-drive.n42', [{ nuclide: 'Cs137', activity_Bq: 3.7e7, position: { x_m: 0, y_m: 0, z_m: 1 } }], 11);
const backgroundOnly = driveFile('background-drive.n42', [], 12);

t.test('convert writes N42-2012 that validates against the schema', async (t) => {
  const outFile = join(dir, 'am241.n42');
  const r = json<{ format: string; spectra: number }>(rad('convert', join(DATA, 'n42', 'radiacode-am241.n42'), outFile, '--json'));
  t.equal(r.format, 'N42-2012');
  t.equal(r.spectra, 1);
  const x = spawnSync('xmllint', ['--noout', '--schema', join(DATA, 'n42', 'n42-2012.xsd'), outFile], { encoding: 'utf8' });
  t.equal(x.status, 0, x.stderr);
});

t.test('identify: Am-241 in the RadiaCode file, nothing in a background drive, Cs-137 in the drive past a source', async (t) => {
  const am = json<{ nuclides: { nuclide: string; category: string; confidence: number }[] }>(rad('identify', join(DATA, 'n42', 'radiacode-am241.n42'), '--detector', 'CsI-1cm3', '--json'));
  t.equal(am.nuclides[0]?.nuclide, 'Am241');
  t.equal(am.nuclides[0]?.category, 'industrial');
  t.ok(am.nuclides[0]!.confidence > 0.8, 'the top of the calibrated confidence (identify/confidence.ts)');
  const bg = json<{ nuclides: unknown[] }>(rad('identify', backgroundOnly, '--detector', 'NaI-2x4x16', '--json'));
  t.same(bg.nuclides, [], 'empty for natural background only');
  const cs = json<{ nuclides: { nuclide: string }[] }>(rad('identify', withSource, '--detector', 'NaI-2x4x16', '--background', backgroundOnly, '--json'));
  t.equal(cs.nuclides[0]?.nuclide, 'Cs137');
});

t.test('alarm: in file order, alarms only near the source, none on background', async (t) => {
  const r = json<{ measurements: { index: number; alarm: boolean; statistic: number; threshold: number }[] }>(rad('alarm', withSource, '--json'));
  const n = r.measurements.length;
  t.ok(n >= 64 && n <= 65, `one row per measurement (${n} for 180 m at 2.8 m/s, 1 s each)`);
  t.same(r.measurements.map((m) => m.index), Array.from({ length: n }, (_, i) => i), 'file order');
  const alarmed = r.measurements.filter((m) => m.alarm).map((m) => m.index);
  t.ok(alarmed.length > 0, `alarms at ${alarmed.join(',')}`);
  // Closest approach at 120 m / 2.8 m/s = 43 s.
  t.ok(alarmed.every((i) => i > 25 && i < 64), 'only around the pass');
  const b = json<{ measurements: { alarm: boolean }[] }>(rad('alarm', backgroundOnly, '--json'));
  t.equal(b.measurements.filter((m) => m.alarm).length, 0, 'no alarm on background');
});

t.test('dose: a positive H*(10) per measurement; bad files and options give clear errors', async (t) => {
  const d = json<{ measurements: { doseRate_uSv_h: number }[] }>(rad('dose', backgroundOnly, '--detector', 'NaI-2x4x16', '--json'));
  const mean = d.measurements.reduce((a, m) => a + m.doseRate_uSv_h, 0) / d.measurements.length;
  t.ok(mean > 0.03 && mean < 0.2, `natural background ${mean.toFixed(3)} µSv/h`);
  const bad = rad('identify', join(DATA, 'n42', 'radiacode-invalid.n42'));
  t.equal(bad.status, 1);
  t.match(bad.stderr, /radiacode-invalid\.n42: .*RealTimeDuration/);
  const model = rad('dose', backgroundOnly, '--detector', 'HPGe');
  t.match(model.stderr, /unknown detector model "HPGe", expected one of NaI-2x2/);
  const nocal = rad('dose', join(DATA, 'spe', 'becquerel-nai-background.spe'));
  t.match(nocal.stderr, /no energy calibration; give --kev-per-channel/);
});
