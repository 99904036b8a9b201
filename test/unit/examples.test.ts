// The example configurations in examples/: every one passes the check its program runs (customs-edge check-config's
// checkEdgeConfig for the nodes, the aggregator's config loader for the cloud), and there is one per node role.
import t from 'tap';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkEdgeConfig } from '../../edge/runtime/config.js';
import { loadAggregatorConfig } from '../../cloud/config.js';
import { ConfigError } from '../../common/errors.js';
import { ROOT } from '../helpers/paths.js';
import { tempDir } from '../harness/services.js';

const DIR = join(ROOT, 'examples');
const files = readdirSync(DIR)
  .filter((f) => /\.(ya?ml|json)$/.test(f))
  .sort();
const isAggregator = (f: string) => f.startsWith('aggregator');

async function problemsOf(fn: () => Promise<unknown>): Promise<string[]> {
  try {
    await fn();
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
}

t.test('there is an example per node role and one for the aggregator', async (t) => {
  t.ok(files.some(isAggregator), `aggregator example among ${files.join(', ')}`);
  const roles: string[] = [];
  for (const f of files.filter((f) => !isAggregator(f))) {
    roles.push((await checkEdgeConfig(join(DIR, f))).role);
  }
  t.same(roles.sort(), ['camera', 'handheld', 'vehicle', 'xray']);
});

for (const f of files) {
  t.test(`examples/${f} passes its check`, async (t) => {
    const file = join(DIR, f);
    const text = readFileSync(file, 'utf8');
    t.ok(text.split('\n').filter((l) => /^\s*#|\s#\s/.test(l)).length >= 10, 'commented for a technician');
    if (isAggregator(f)) {
      t.same(await problemsOf(async () => loadAggregatorConfig(file)), []);
    } else {
      t.same(await problemsOf(() => checkEdgeConfig(file)), []);
    }
  });
}

t.test('the same check fails an example once an option in it is wrong', async (t) => {
  // Guards the test above against a check that passes everything: one edit per layer the check covers.
  const dir = tempDir('examples');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const text = readFileSync(join(DIR, 'vehicle.yaml'), 'utf8');
  const edits: [RegExp, string][] = [
    [/falseAlarmRate_per_h: 1\b/, 'falseAlarmRate_per_h: 0'],
    [/baudRate: 9600/, 'baudrate: 9600'],
    [/type: n42-folder/, 'type: n42-folders'],
    [/role: vehicle/, 'role: truck'],
  ];
  const bad = edits.reduce((s, [re, to]) => {
    t.match(s, re, `vehicle.yaml has ${re.source}`);
    return s.replace(re, to);
  }, text);
  const file = join(dir, 'vehicle-bad.yaml');
  writeFileSync(file, bad);
  const problems = await problemsOf(() => checkEdgeConfig(file));
  t.same(
    problems.map((p) => p.split(':')[0]).sort(),
    ['/role', 'devices/gps/options/baudrate', 'devices/spectrometers/type', 'pipelines/rad/options/falseAlarmRate_per_h'],
    problems.join('\n'),
  );
});
