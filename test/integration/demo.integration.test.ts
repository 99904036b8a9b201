// The main job (`npm start`): the demo runs on embedded defaults, the vehicle and X-ray boxes through their real
// chains, and ends with nothing lost and nothing doubled.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tempDir } from '../harness/services.js';
import { ROOT } from '../helpers/paths.js';

t.test('demo: four simulated boxes, a link outage, every summary in the line-protocol file once, a Cs-137 alarm, a source estimate, X-ray decisions', async (t) => {
  const cwd = tempDir('demo');
  // tsx is resolved from the project, since the demo runs in a scratch directory (it writes out/ there).
  const tsx = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs')).href;
  const r = spawnSync(process.execPath, ['--import', tsx, join(ROOT, 'demo', 'demo.ts')], {
    cwd,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, DEMO_SECONDS: '10', INFLUX_URL: '', MQTT_URL: '' },
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
  // What the real chains found (printed from what the demo's MQTT observer received).
  t.match(r.stdout, /^\s+veh-01 alarm \S+: Cs137 \(industrial/m, 'the vehicle alarmed and the fit identified Cs-137');
  t.match(r.stdout, /^\s+veh-01 alarm .*classifier Cs137/m, 'the ONNX classifier agrees');
  const src = /^\s+veh-01 source Cs137 at (-?[\d.]+), (-?[\d.]+), (-?[\d.]+) m; ci95 ([\d.]+) m/m.exec(r.stdout);
  t.ok(src, 'the vehicle sent a source estimate with a 95 % region');
  if (src) {
    // The simulated source is 1 m up at the scene origin (51.95 N, 4.05 E); a metre is about 1e-5 degrees.
    t.ok(Math.abs(Number(src[1]) - 51.95) < 1e-4 && Math.abs(Number(src[2]) - 4.05) < 1.5e-4, `estimate ${src[1]}, ${src[2]} within ~10 m of the source`);
    t.ok(Number(src[4]) < 10, `95 % region ${src[4]} m`);
  }
  const decisions = [...r.stdout.matchAll(/^\s+xr-01 scan (\S+) (clear|review|inspect): /gm)].map((m) => m[2]);
  t.ok(decisions.length >= 1, `xr-01 decided ${decisions.length} scans: ${decisions.join(', ')}`);
  t.ok(decisions.includes('inspect') && decisions.includes('clear'), 'planted threats sent to inspection, clean bags cleared');
  // The camera runs its real pipeline only where the optional GStreamer bindings load; the header says which.
  const cam = /^\s+cam-01\s+(.*)$/m.exec(r.stdout)?.[1] ?? '';
  if (/-> camera pipeline$/.test(cam)) {
    const events = [...r.stdout.matchAll(/^\s+cam-01 hall-1 (abandoned_bag|bag_switch|companions|dwell)\b/gm)].map((m) => m[1]);
    t.ok(events.length >= 1, `cam-01 events from the hall video: ${events.join(', ')}`);
  } else {
    t.match(cam, /^synthetic events \(.+\)$/, `cam-01 on synthetic events, with the reason: ${cam}`);
  }
});
