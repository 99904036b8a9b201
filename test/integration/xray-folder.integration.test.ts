// The X-ray node end to end: scanner drop folder → xray-folder driver → xray pipeline → MQTT, killed mid-folder and
// restarted (every scan decided, none lost, at most the one in flight repeated), plus bad scans that end in review.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import sharp from 'sharp';
import { decode } from '../../protocol/index.js';
import { writeTipDataset } from '../../edge/xray/tip-dataset.js';
import { startMosquitto, tempDir } from '../harness/services.js';
import { until } from '../helpers/wait.js';
import { EDGE_CLI } from '../helpers/paths.js';

const CLI = EDGE_CLI;
const N_GOOD = 40;

t.test('drop folder → decisions over MQTT exactly once across a SIGKILL; bad scans go to review', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.close());
  const dir = tempDir('xray-node');
  const gen = join(dir, 'gen');
  await writeTipDataset({ out: gen, count: N_GOOD, size: 128, pitch_cm: 0.5, seed: 5, difficulty: 'mixed', compressionLevel: 1 });
  const drop = join(gen, 'images');
  // Bad scans beside the good ones:
  // a corrupt image (random bytes under a .png name),
  writeFileSync(join(drop, 'bad-corrupt_high.png'), Buffer.alloc(5000, 7));
  copyFileSync(join(drop, 'tip-5-000000_low.png'), join(drop, 'bad-corrupt_low.png'));
  writeFileSync(join(drop, 'bad-corrupt.json'), JSON.stringify({ scanId: 'bad-corrupt', energies_kV: [140, 80] }));
  // an 8-bit pair,
  for (const ch of ['high', 'low']) {
    await sharp(Buffer.alloc(128 * 128, 200), { raw: { width: 128, height: 128, channels: 1 } }).toColourspace('b-w').png().toFile(join(drop, `bad-8bit_${ch}.png`));
  }
  writeFileSync(join(drop, 'bad-8bit.json'), JSON.stringify({ scanId: 'bad-8bit', energies_kV: [140, 80] }));
  // half a pair whose low-energy image never comes,
  copyFileSync(join(drop, 'tip-5-000001_high.png'), join(drop, 'bad-half_high.png'));
  writeFileSync(join(drop, 'bad-half.json'), JSON.stringify({ scanId: 'bad-half', energies_kV: [140, 80], declaration: { hsCode: '6109.10', goods: 'shirts' } }));
  // and a sidecar that is not JSON.
  copyFileSync(join(drop, 'tip-5-000002_high.png'), join(drop, 'bad-sidecar_high.png'));
  copyFileSync(join(drop, 'tip-5-000002_low.png'), join(drop, 'bad-sidecar_low.png'));
  writeFileSync(join(drop, 'bad-sidecar.json'), '{"scanId": "bad-sidecar", ');
  const bad = ['bad-corrupt', 'bad-8bit', 'bad-half', 'bad-sidecar'];
  const expected = new Set([...Array.from({ length: N_GOOD }, (_, i) => `tip-5-${String(i).padStart(6, '0')}`), ...bad]);

  const logDir = join(dir, 'decisions');
  const cfg = join(dir, 'node.json');
  writeFileSync(
    cfg,
    JSON.stringify({
      node: 'xr-01',
      site: 'port-a',
      role: 'xray',
      broker: { url: `mqtt://127.0.0.1:${broker.port}` },
      outbox: { dir: join(dir, 'outbox'), cloudAck: false },
      clock: { trust: 'assume' },
      devices: [{ name: 'scanner', type: 'xray-folder', options: { dir: drop, pairTimeout_ms: 1500, rescan_ms: 200 } }],
      pipelines: [{ name: 'xray', type: 'xray', options: { pitch_cm: 0.5, logDir } }],
    }),
  );

  // A persistent observer: it sees everything the broker accepted, across the node's restarts.
  const seen = new Map<string, { scanId: string; decision: string; reasons: string[] }>();
  const invalid: string[] = [];
  const obs = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 5, clientId: 'xray-observer', clean: false, properties: { sessionExpiryInterval: 600 } });
  t.teardown(() => obs.end(true));
  await obs.subscribeAsync('customs/v1/port-a/xr-01/xray', { qos: 1 });
  obs.on('message', (topic, payload) => {
    const d = decode(topic, payload);
    if (!d.ok) return void invalid.push(d.detail);
    const m = d.msg as { boot: string; seq: number; scanId: string; decision: string; reasons: string[] };
    // (boot, seq) is a message's identity: a broker redelivery is not a second decision.
    seen.set(`${m.boot}/${m.seq}`, { scanId: m.scanId, decision: m.decision, reasons: m.reasons });
  });
  const start = (): ChildProcess =>
    spawn(process.execPath, ['--import', 'tsx', CLI, 'run', '--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LOG_LEVEL: 'warn' } });
  const exited = (p: ChildProcess) => new Promise<void>((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', () => r())));
  let stderr = '';

  const first = start();
  first.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  t.teardown(() => void first.kill('SIGKILL'));
  await until('some scans decided', () => seen.size >= 10, 45_000).catch((e: Error) => {
    throw new Error(`${e.message}; stderr: ${stderr.slice(-2000)}`);
  });
  first.kill('SIGKILL');
  await exited(first);
  const beforeRestart = seen.size;
  t.ok(beforeRestart < expected.size, `killed mid-folder after ${beforeRestart} of ${expected.size} decisions`);

  const second = start();
  second.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  t.teardown(() => void second.kill('SIGKILL'));
  const scanIds = () => new Set([...seen.values()].map((v) => v.scanId));
  await until('every scan decided', () => [...expected].every((id) => scanIds().has(id)), 60_000).catch((e: Error) => {
    const missing = [...expected].filter((id) => !scanIds().has(id));
    throw new Error(`${e.message}; missing ${missing.join(', ')}; stderr: ${stderr.slice(-2000)}`);
  });
  await new Promise((r) => setTimeout(r, 800));
  second.kill('SIGTERM');
  await exited(second);

  t.same(invalid, [], 'every summary valid against the schema');
  const count = new Map<string, number>();
  for (const v of seen.values()) count.set(v.scanId, (count.get(v.scanId) ?? 0) + 1);
  t.same([...count.keys()].filter((k) => !expected.has(k)), [], 'no unknown scans');
  const repeated = [...count].filter(([, n]) => n > 1);
  t.ok(repeated.length <= 1 && repeated.every(([, n]) => n === 2), `at most the scan in flight at the kill repeated: ${JSON.stringify(repeated)}`);
  t.equal(count.size, expected.size, `all ${expected.size} scans decided (none lost)`);
  t.comment(`${seen.size} messages for ${expected.size} scans; repeated: ${repeated.length}`);

  const byId = new Map([...seen.values()].map((v) => [v.scanId, v]));
  const reason = (id: string) => byId.get(id)!.reasons.join(' | ');
  // An 8-bit pair is what some scanners export: analysed like any pair (issue 15), no longer a bad scan.
  for (const id of bad.filter((b) => b !== 'bad-8bit')) t.equal(byId.get(id)?.decision, 'review', `${id}: review (${reason(id)})`);
  t.match(reason('bad-corrupt'), /bad-corrupt_high\.png: .*expected a 16-bit grey PNG\/TIFF/, 'corrupt image named');
  t.notMatch(reason('bad-8bit'), /not analysed automatically/, `8-bit pair decided on its pixels (${byId.get('bad-8bit')?.decision})`);
  t.match(reason('bad-half'), /missing low-energy image bad-half_low\.\* after \d+ s/, 'missing half named');
  t.match(reason('bad-sidecar'), /sidecar .*bad-sidecar\.json/, 'bad sidecar named');

  // Every scan left the folder for done/, and the decision log has every scan.
  const left = readdirSync(drop).filter((n) => !n.startsWith('.') && n !== 'done');
  t.same(left, [], 'the drop folder is drained');
  t.ok(existsSync(join(drop, 'done', 'tip-5-000000_high.png')), 'processed files in done/');
  const logged = new Set(
    readFileSync(join(logDir, 'decisions.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { scanId: string }).scanId),
  );
  t.equal(logged.size, expected.size, 'decision log holds every scan');
});
