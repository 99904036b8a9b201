// `customs-edge check-config` and `run` as a user meets them: the real CLI on a config whose node sections are fine but
// whose components are not; every problem on one run, non-zero exit, and run stopping before it touches anything.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EDGE_CLI } from '../helpers/paths.js';
import { tempDir } from '../harness/services.js';
import { checkEdgeConfigValue } from '../../edge/runtime/config.js';
import { ConfigError } from '../../common/errors.js';

const dir = tempDir('check-config');
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', EDGE_CLI, ...args], { encoding: 'utf8', timeout: 120_000 });

const outbox = join(dir, 'outbox');
const node = ['node: veh-01', 'site: port-a', 'role: vehicle', 'broker: { url: "mqtt://127.0.0.1:1" }', `outbox: { dir: ${JSON.stringify(outbox)} }`];

// Three mistakes the node schema alone does not see: an unknown component type, a misspelt driver option and a
// negative false-alarm rate.
const BAD = [
  ...node,
  'devices:',
  '  - { name: gamma, type: n42-foldr, options: { dir: /var/lib/customs/spectra } }',
  '  - { name: gps, type: nmea-gps, options: { path: /dev/ttyACM0, baudrat: 9600 } }',
  'pipelines:',
  '  - name: rad',
  '    type: radiation',
  '    options: { detectors: [{ id: roof, model: NaI-3x3 }], falseAlarmRate_per_h: -1 }',
  '',
].join('\n');

const EXPECTED = [
  /^ {2}devices\/gamma\/type: unknown type "n42-foldr", expected one of .*\bn42-folder\b/m,
  /^ {2}devices\/gps\/options\/baudrat: unexpected property$/m,
  /^ {2}pipelines\/rad\/options\/falseAlarmRate_per_h: .*> 0$/m,
];

t.test('check-config reports every component problem at once and exits non-zero', async (t) => {
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, BAD);
  const r = cli('check-config', file);
  t.not(r.status, 0, 'non-zero exit');
  t.equal(r.status, 2, 'exit 2, as for any config problem');
  t.equal(r.stdout, '', 'no "ok"');
  t.ok(r.stderr.startsWith(`${file}: invalid configuration\n`), r.stderr);
  for (const re of EXPECTED) t.match(r.stderr, re);
  t.equal(r.stderr.trimEnd().split('\n').length, 1 + EXPECTED.length, 'one line per problem, nothing else');
});

t.test('run stops on the very same problems before starting anything', async (t) => {
  const file = join(dir, 'bad-run.yaml');
  writeFileSync(file, BAD);
  const r = cli('run', '--config', file);
  t.equal(r.status, 2);
  for (const re of EXPECTED) t.match(r.stderr, re);
  t.notOk(existsSync(outbox), 'the outbox was never opened');
});

t.test('the config without those mistakes is ok', async (t) => {
  const file = join(dir, 'good.yaml');
  writeFileSync(file, BAD.replace('n42-foldr', 'n42-folder').replace('baudrat', 'baudRate').replace('falseAlarmRate_per_h: -1', 'falseAlarmRate_per_h: 1'));
  const r = cli('check-config', file);
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout, `${file}: ok (node veh-01, site port-a, role vehicle, 2 devices, 1 pipelines)\n`);
});

t.test('cross-field checks: names, kinds and the detectors pipelines read', async (t) => {
  const base = { node: 'hh-01', site: 'port-a', role: 'handheld', broker: { url: 'mqtt://127.0.0.1:1' }, outbox: { dir: outbox } };
  const problems = async (value: object): Promise<string[]> => {
    try {
      await checkEdgeConfigValue('inline', value);
      return [];
    } catch (e) {
      if (e instanceof ConfigError) return e.problems;
      throw e;
    }
  };
  const mca = { name: 'mca', type: 'dp5', options: { path: '/dev/ttyUSB0', detector: 'gamma' } };
  const rad = (id: string) => ({ name: 'rad', type: 'radiation', options: { detectors: [{ id, model: 'NaI-3x3' }] } });
  t.same(await problems({ ...base, devices: [mca], pipelines: [rad('gamma')] }), [], 'the dp5 publishes what the pipeline reads');
  t.same(await problems({ ...base, devices: [mca], pipelines: [rad('roof')] }), [
    'pipelines/rad/options/detectors/0/id: detector "roof" is not provided by any device (devices provide: "gamma")',
  ]);
  t.same(await problems({ ...base, pipelines: [rad('roof')] }), ['pipelines/rad/options/detectors/0/id: detector "roof" is not provided by any device (devices provide: none)']);
  // An N42 folder's detectors are in its files: nothing to say then.
  t.same(await problems({ ...base, devices: [{ name: 'n42', type: 'n42-folder', options: { dir: '/x' } }], pipelines: [rad('roof')] }), []);
  t.same(await problems({ ...base, devices: [mca], pipelines: [{ name: 'mca', type: 'nmea-gps', options: { path: '/dev/ttyACM0' } }] }), [
    '/pipelines/0/name: name "mca" already used at /devices/0/name',
    'pipelines/mca/type: "nmea-gps" is a device, expected a pipeline type: one of calibration, camera, handheld, localize, radiation, synthetic, xray',
  ]);
  // A rule a factory checks beyond its schema (two Firmata parts on one pin) is reported the same way.
  t.same(await problems({ ...base, devices: [{ name: 'io', type: 'firmata-board', options: { path: '/dev/ttyACM0', led: { pin: 2 } } }] }), [
    'devices/io/options/led/pin: pin 2 is already used by gm',
  ]);
});
