// The main job (`npm start`): the demo runs on embedded defaults and ends with nothing lost and nothing doubled.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tempDir } from './harness/services.js';

t.test('demo: four simulated boxes, a link outage, every summary in the line-protocol file once', async (t) => {
  const cwd = tempDir('demo');
  // tsx is resolved from the project, since the demo runs in a scratch directory (it writes out/ there).
  const tsx = pathToFileURL(join(import.meta.dirname, '..', 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs')).href;
  const r = spawnSync(process.execPath, ['--import', tsx, join(import.meta.dirname, '..', 'demo', 'demo.ts')], {
    cwd,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, DEMO_SECONDS: '8', INFLUX_URL: '', MQTT_URL: '' },
  });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /LINK DOWN/, 'the outage is shown');
  const rows = [...r.stdout.matchAll(/^\s+(veh-01|hh-01|xr-01|cam-01)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$/gm)];
  t.equal(rows.length, 4, 'one summary row per node');
  for (const [, node, emitted, stored, lost, doubled] of rows) {
    t.ok(Number(emitted) > 0, `${node} emitted ${emitted}`);
    t.equal(stored, emitted, `${node}: all in the file`);
    t.equal(lost, '0', `${node}: none lost`);
    t.equal(doubled, '0', `${node}: none doubled`);
  }
  t.ok(existsSync(join(cwd, 'out', 'demo.lp')), 'line protocol file written');
});
