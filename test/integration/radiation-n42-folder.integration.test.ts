// Simulator → N42 files in a folder → the real folder driver: exactly once, in order, across restarts; bad files rejected with a reason.
import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import t from 'tap';
import { registerRadiationDevices } from '../../devices/radiation/index.js';
import { N42FolderDriver, createN42Folder, type N42Reading } from '../../devices/radiation/n42-folder.js';
import { N42Simulator, createN42Simulator } from '../../devices/radiation/n42-simulator.js';
import { DETECTORS } from '../../analysis/radiation/dose.js';
import { straightPass } from '../../analysis/radiation/sim/drive.js';
import type { Scene, SimDetector } from '../../analysis/radiation/sim/scene.js';
import type { Measurement } from '../../analysis/radiation/spectrum.js';
import { type Readings } from '../../contract/component.js';
import { createComponent } from '../../contract/registry.js';
import { tempDir } from '../harness/services.js';
import { deviceContext } from '../helpers/device-context.js';
import { refData } from '../helpers/paths.js';

const run = promisify(execFile);
const XSD = refData('n42', 'n42-2012.xsd');

const scene: Scene = {
  sources: [{ nuclide: 'Cs137', activity_Bq: 3.7e8, position: { x_m: 0, y_m: 0, z_m: 1 } }],
  background: {},
  origin: { lat: 51.95, lon: 4.05 },
};
const detectors: SimDetector[] = [
  { id: 'left', model: DETECTORS['NaI-2x4x16'], offset: { x_m: 0, y_m: 1, z_m: 0.9 }, nChannels: 1024, keVPerChannel: 3, deadTime_s: 5e-6 },
  { id: 'right', model: DETECTORS['NaI-2x4x16'], offset: { x_m: 0, y_m: -1, z_m: 0.9 }, nChannels: 1024, keVPerChannel: 2.9, deadTime_s: 5e-6 },
  { id: 'roof', model: DETECTORS['NaI-3x3'], offset: { x_m: -1, y_m: 0, z_m: 2.6 }, nChannels: 2048, keVPerChannel: 1.5, gainDriftPerDegC: -0.003 },
];

function simulator(dir: string, count: number, speedup = 20): N42Simulator {
  return new N42Simulator('sim', {
    dir,
    scene,
    detectors,
    trajectory: straightPass({ speed_m_s: 5, offset_m: -4, from_m: -30, to_m: 30 }),
    dt_s: 0.2,
    seed: 11,
    speedup,
    repeat: true,
    count,
    startTime: '2024-06-01T08:00:00Z',
    temperature_C: (t_s) => 20 + t_s,
  });
}

function driver(dir: string, options: Record<string, unknown> = {}): N42FolderDriver {
  return createN42Folder({ name: 'rad', type: 'n42-folder', options: { dir, rescan_ms: 150, ...options } });
}

async function until(what: string, cond: () => boolean, timeout_ms = 20_000): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `m${String(i + 1).padStart(6, '0')}`);

t.test('every measurement arrives exactly once and in order, across a stop and a restart (after: move)', async (t) => {
  const dir = tempDir('n42-move');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const N = 60;
  const sim = simulator(dir, N);
  const written = new Map<string, Measurement>();
  sim.on('written', ({ measurement }) => written.set(measurement.id, measurement));
  const got: N42Reading[] = [];
  const bus = new EventEmitter<Readings>();
  const spectra: Readings['spectrum'][0][] = [];
  bus.on('spectrum', (s) => spectra.push(s));
  const dc = deviceContext();
  const ctx = { ...dc.ctx, bus };

  let d = driver(dir);
  d.on('reading', (r) => got.push(r));
  await sim.start();
  t.teardown(() => sim.stop());
  await d.start(ctx);
  await until('20 readings', () => got.length >= 20);
  await d.stop();
  const atStop = got.length;
  // The instrument keeps writing while the driver is down; a new driver (a restarted process) takes over.
  await until('10 more files', () => sim.written() >= atStop + 10);
  t.equal(got.length, atStop, 'nothing is emitted while stopped');
  d = driver(dir);
  d.on('reading', (r) => got.push(r));
  await d.start(ctx);
  await sim.finished();
  await until('all readings', () => got.length >= N);
  await d.settle();
  await d.stop();

  t.same(got.map((r) => r.measurement.id), ids(N), `all ${N} measurements exactly once, in order (stopped after ${atStop})`);
  t.same(readdirSync(join(dir, 'done')).sort(), ids(N).map((i) => `${i}.n42`), 'every file moved to done/');
  t.same(readdirSync(dir).filter((n) => n.endsWith('.n42')), [], 'nothing left in the drop folder');
  t.equal(dc.failures.length, 0, 'no failure reported');

  // What arrived is what was written: counts, live times, calibration per detector, positions.
  const r = got[33].measurement;
  const w = written.get(r.id)!;
  t.equal(r.spectra.length, 3);
  for (let k = 0; k < 3; k++) {
    t.same(Array.from(r.spectra[k].counts), Array.from(w.spectra[k].counts), `${w.spectra[k].detector}: counts identical`);
    t.ok(Math.abs(r.spectra[k].liveTime_s - w.spectra[k].liveTime_s) < 1e-6, `${w.spectra[k].detector}: live time`);
  }
  t.same(r.spectra.map((s) => s.calibration?.coefficients.slice(0, 2)), [[0, 3], [0, 2.9], [0, 1.5]], 'each detector its own calibration');
  t.same(r.spectra.map((s) => s.counts.length), [1024, 1024, 2048]);
  t.ok(Math.abs(r.spectra[0].position!.lat - w.spectra[0].position!.lat) < 1e-9, 'detector position read back');
  t.equal(r.startTime?.replace(/\.000Z$/, 'Z').replace(/Z$/, ''), w.startTime?.replace(/\.000Z$/, 'Z').replace(/Z$/, ''), 'start time read back');
  t.equal(got[33].file, join(dir, `${r.id}.n42`), 'reading names the file');
  t.same(d.versions().calibration, { left: '0 3 0', right: '0 2.9 0', roof: '0 1.5 0' }, 'calibrations reported for status');

  // The reading bus got every spectrum with its time and position.
  t.equal(spectra.length, N * 3, 'one bus reading per spectrum');
  t.equal(spectra[3].time_ms, Date.parse('2024-06-01T08:00:00.200Z'), 'bus time from the N42 start time');
  t.ok(spectra[3].position?.height_m === 0.9, 'bus position carries the detector height');

  // A sample of the written files validates against the N42.42-2012 schema.
  const sample = ['m000001.n42', 'm000030.n42', 'm000060.n42'].map((n) => join(dir, 'done', n));
  const { stderr } = await run('xmllint', ['--noout', '--schema', XSD, ...sample]);
  t.equal(stderr.split('\n').filter((l) => / validates$/.test(l)).length, 3, `xmllint: ${stderr.trim().replace(/\n/g, '; ')}`);
});

t.test('after: keep leaves the files and remembers them in a journal across restarts', async (t) => {
  const dir = tempDir('n42-keep');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const N = 40;
  const sim = simulator(dir, N);
  const got: string[] = [];
  const dc = deviceContext();
  let d = driver(dir, { after: 'keep' });
  d.on('reading', (r) => got.push(r.measurement.id));
  await sim.start();
  t.teardown(() => sim.stop());
  await d.start(dc.ctx);
  await until('15 readings', () => got.length >= 15);
  await d.stop();
  await until('5 more files', () => sim.written() >= got.length + 5);
  d = driver(dir, { after: 'keep' });
  d.on('reading', (r) => got.push(r.measurement.id));
  await d.start(dc.ctx);
  await sim.finished();
  await until('all readings', () => got.length >= N);
  await d.settle();
  await d.stop();
  t.same(got, ids(N), 'exactly once, in order');
  t.equal(readdirSync(dir).filter((n) => n.endsWith('.n42')).length, N, 'files left in place');
  // A third start over the complete folder emits nothing: the journal covers every file.
  const d3 = driver(dir, { after: 'keep' });
  let again = 0;
  d3.on('reading', () => again++);
  await d3.start(dc.ctx);
  await d3.settle();
  await d3.stop();
  t.equal(again, 0, 'a restart over processed files emits nothing');
  const journal = readFileSync(join(dir, '.n42-folder-state'), 'utf8').trim().split('\n');
  t.equal(journal.length, N, 'journal compacted to one line per file');
  // An instrument that rewrites a file in place under the same name: that is new data.
  const first = join(dir, 'm000001.n42');
  writeFileSync(first, readFileSync(join(dir, 'm000002.n42')));
  const d4 = driver(dir, { after: 'keep' });
  const rewritten: string[] = [];
  d4.on('reading', (r) => rewritten.push(r.file));
  await d4.start(dc.ctx);
  await d4.settle();
  await d4.stop();
  t.same(rewritten, [first], 'a rewritten file is read again');
});

t.test('a corrupt file goes to rejected/ with a reason and the driver keeps going', async (t) => {
  const dir = tempDir('n42-bad');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const N = 30;
  const sim = simulator(dir, N, 15);
  const got: string[] = [];
  const rejected: { file: string; reason: string }[] = [];
  const dc = deviceContext();
  const d = driver(dir);
  d.on('reading', (r) => got.push(r.measurement.id));
  d.on('rejected', (r) => rejected.push(r));
  // A listener that throws must not stop the driver either.
  d.on('reading', (r) => {
    if (r.measurement.id === 'm000005') throw new Error('listener bug');
  });
  await d.start(dc.ctx);
  await sim.start();
  t.teardown(() => sim.stop());
  await until('10 files', () => sim.written() >= 10);
  // A truncated document and a binary blob, each appearing atomically the way the simulator's files do.
  const good = readFileSync(join(dir, 'done', 'm000002.n42'), 'utf8');
  writeFileSync(join(dir, '.tmp1'), good.slice(0, Math.floor(good.length / 2)));
  renameSync(join(dir, '.tmp1'), join(dir, 'm000010a-truncated.n42'));
  writeFileSync(join(dir, '.tmp2'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 13]));
  renameSync(join(dir, '.tmp2'), join(dir, 'm000010b-binary.N42'));
  writeFileSync(join(dir, '.tmp3'), '$SPEC_ID:\nnot an n42\n$DATA:\n0 1\n5\n6\n');
  renameSync(join(dir, '.tmp3'), join(dir, 'm000010c-spe.n42'));
  await sim.finished();
  await until('all readings', () => got.length >= N);
  await d.settle();
  await d.stop();

  t.same(got, ids(N), 'every good measurement exactly once, in order');
  t.equal(rejected.length, 3, 'three files rejected');
  const rej = readdirSync(join(dir, 'rejected')).sort();
  t.same(rej, [
    'm000010a-truncated.n42',
    'm000010a-truncated.n42.why',
    'm000010b-binary.N42',
    'm000010b-binary.N42.why',
    'm000010c-spe.n42',
    'm000010c-spe.n42.why',
  ]);
  const why = (n: string): string => readFileSync(join(dir, 'rejected', `${n}.why`), 'utf8');
  t.match(why('m000010a-truncated.n42'), /m000010a-truncated\.n42: .*(not well-formed|truncated|unclosed|expected)/i, `truncated: ${why('m000010a-truncated.n42').trim()}`);
  t.match(why('m000010b-binary.N42'), /m000010b-binary\.N42: .*binary data/, `binary: ${why('m000010b-binary.N42').trim()}`);
  t.match(why('m000010c-spe.n42'), /expected an N42 document, got SPE/, `SPE: ${why('m000010c-spe.n42').trim()}`);
  t.equal(dc.failures.length, 0, 'bad files are not a driver failure');
  t.equal(d.stats().rejected, 3);
  t.equal(d.stats().measurements, N);
});

t.test('options are validated with field paths; a missing folder fails start with a clear error; registry', async (t) => {
  let problems: string[] = [];
  try {
    createN42Folder({ name: 'rad', type: 'n42-folder', options: { dir: '/x', after: 'delete', rescan: 5 } });
  } catch (e) {
    t.equal((e as { code?: string }).code, 'E_CONFIG');
    problems = (e as { problems: string[] }).problems;
  }
  t.same(problems.sort(), ['devices/rad/options/after: expected one of ["move","keep"]', 'devices/rad/options/rescan: unexpected property'], 'every bad option named');
  t.throws(() => createN42Folder({ name: 'rad', type: 'n42-folder', options: {} }), { message: /devices\/rad\/options\/dir: required/ });
  const missing = join(tempDir('n42-missing'), 'not-there');
  const d = driver(missing);
  await t.rejects(d.start(deviceContext().ctx), { code: 'E_DEVICE_OPEN', message: new RegExp(`N42 folder ${missing}: cannot open \\(it does not exist\\)`) });
  // A folder that goes away while watched (share unmounted): reported to the supervisor, which restarts with backoff.
  const gone = tempDir('n42-gone');
  const dc = deviceContext();
  const g = driver(gone);
  await g.start(dc.ctx);
  rmSync(gone, { recursive: true, force: true });
  await until('a failure', () => dc.failures.length > 0, 5000);
  await g.stop();
  t.match(dc.failures[0], { code: 'E_DEVICE_UNPLUGGED', message: new RegExp(`N42 folder ${gone}: cannot list \\(ENOENT\\)`) });

  t.throws(
    () => createN42Simulator({ name: 'sim', type: 'n42-simulator', options: { dir: '/tmp/x', sources: [{ nuclide: 'Cs-999', activity_Bq: 1, position: { x_m: 0, y_m: 0 } }] } }),
    { message: /devices\/sim\/options\/sources\/0\/nuclide: .*Cs137/ },
  );
  t.throws(() => createN42Simulator({ name: 'sim', type: 'n42-simulator', options: { dir: '/tmp/x', trajectory: { kind: 'loop', speed_m_s: 3 } } }), {
    message: /devices\/sim\/options\/trajectory\/center: required for a loop trajectory/,
  });

  registerRadiationDevices();
  const c = await createComponent({ name: 'rad', type: 'n42-folder', options: { dir: '/tmp' } });
  t.ok(c instanceof N42FolderDriver, 'n42-folder comes from the registry');
  t.equal(c.kind, 'device');
  const s = await createComponent({ name: 'sim', type: 'n42-simulator', options: { dir: '/tmp/nowhere', count: 3 } });
  t.ok(s instanceof N42Simulator, 'n42-simulator comes from the registry, with a default vehicle and scene');
  t.equal((s as N42Simulator).options.detectors.length, 3);
  t.equal((s as N42Simulator).options.detectors[0].deadTime_s, 5e-6, 'defaults filled inside the default detectors');
});

t.test('the configured simulator in real time drives the folder driver', async (t) => {
  const dir = tempDir('n42-config');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sim = createN42Simulator({ name: 'sim', type: 'n42-simulator', options: { dir, dt_s: 0.1, count: 8, speedup: 1 } });
  const d = driver(dir);
  const got: Measurement[] = [];
  d.on('reading', (r) => got.push(r.measurement));
  const dc = deviceContext();
  await d.start(dc.ctx);
  const t0 = performance.now();
  await sim.start(dc.ctx);
  await sim.finished();
  const elapsed = performance.now() - t0;
  await until('8 readings', () => got.length >= 8, 5000);
  await d.stop();
  await sim.stop();
  t.ok(elapsed > 700 && elapsed < 3000, `8 files at 10 Hz took ${elapsed.toFixed(0)} ms`);
  t.equal(got.length, 8);
  t.ok(existsSync(join(dir, 'done', 'm000008.n42')));
  const gap = Date.parse(got[7].startTime!) - Date.parse(got[0].startTime!);
  t.equal(gap, 700, 'start times 0.1 s apart');
});
