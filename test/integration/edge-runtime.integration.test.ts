// The assembled edge runtime against a real Mosquitto: summaries, retained status, Last Will, CLI config errors.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { decode } from '../../protocol/index.js';
import { parseEdgeConfig } from '../../edge/runtime/config.js';
import { EdgeRuntime } from '../../edge/runtime/runtime.js';
import type { Component } from '../../contract/component.js';
import { startMosquitto, tempDir } from '../harness/services.js';
import { EDGE_CLI } from '../helpers/paths.js';

const CLI = EDGE_CLI;
const runCli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8', timeout: 60_000 });

t.test('runtime publishes valid summaries and a retained status with components and outbox', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.close());
  const crashing: Component = {
    name: 'flaky-driver',
    kind: 'device',
    start: async () => {
      throw new Error('serial port /dev/ttyUSB0 not found');
    },
    stop: async () => {},
  };
  const rt = new EdgeRuntime({
    config: parseEdgeConfig('test', {
      node: 'veh-07',
      site: 'port-a',
      role: 'vehicle',
      broker: { url: `mqtt://127.0.0.1:${broker.port}` },
      outbox: { dir: tempDir('rt') },
      clock: { trust: 'assume' },
      health: { heartbeat_s: 0.3 },
      pipelines: [{ name: 'sim', type: 'synthetic', options: { rate_hz: 50, kinds: ['rad', 'alarm'], count: 60, seed: 7 } }],
    }),
    components: [crashing],
  });
  const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 5 });
  t.teardown(() => sub.end(true));
  await sub.subscribeAsync('customs/v1/#', { qos: 1 });
  const got: { kind: string; seq: number; online?: boolean; comps?: Record<string, { state: string; restarts: number; lastError?: string }>; outbox?: unknown }[] = [];
  const bad: string[] = [];
  sub.on('message', (topic, payload) => {
    const d = decode(topic, payload);
    if (!d.ok) return void bad.push(`${topic}: ${d.detail}`);
    const m = d.msg as { seq: number; online?: boolean; components?: Record<string, { state: string; restarts: number }>; outbox?: unknown };
    got.push({ kind: d.kind, seq: m.seq, online: m.online, comps: m.components, outbox: m.outbox });
  });
  await rt.start();
  const deadline = Date.now() + 15_000;
  while (got.filter((g) => g.kind !== 'status').length < 60 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 1200));
  const data = got.filter((g) => g.kind !== 'status');
  t.same(bad, [], 'every message validates against protocol/');
  t.same(data.map((g) => g.seq), Array.from({ length: 60 }, (_, i) => i), 'seq 0..59 in order, none missing');
  t.ok(data.some((g) => g.kind === 'alarm') && data.some((g) => g.kind === 'rad'), 'rad summaries and alarms');
  const statuses = got.filter((g) => g.kind === 'status');
  t.ok(statuses.length >= 2, 'status re-sent on every heartbeat');
  const last = statuses[statuses.length - 1]!;
  t.equal(last.online, true);
  t.ok(last.outbox, 'status carries outbox depth');
  t.equal(last.comps?.sim?.state, 'running', 'pipeline state reported');
  t.ok((last.comps?.['flaky-driver']?.restarts ?? 0) >= 1, 'crashing driver restarted with backoff and reported');
  t.match(last.comps?.['flaky-driver']?.lastError ?? '', /ttyUSB0/, 'its error is in status');
  await rt.stop();
  await new Promise((r) => setTimeout(r, 300));
  t.equal(got.filter((g) => g.kind === 'status').at(-1)?.online, false, 'clean stop publishes offline');
});

t.test('a bad config stops the CLI with every problem as path: expectation', async (t) => {
  const dir = tempDir('cfg');
  const file = join(dir, 'bad.yaml');
  writeFileSync(
    file,
    ['node: Veh 01', 'site: port-a', 'role: submarine', 'broker: { url: "http://x" }', 'outbox: {}', 'colour: red', ''].join('\n'),
  );
  const r = runCli(['run', '--config', file]);
  t.equal(r.status, 2, 'exit code 2');
  t.match(r.stderr, file, 'names the file');
  t.match(r.stderr, /\/node: must match pattern/);
  t.match(r.stderr, /\/role: /);
  t.match(r.stderr, /\/broker\/url: must match pattern/);
  t.match(r.stderr, /\/outbox: must have required property 'dir'/);
  t.match(r.stderr, /unexpected property "colour"/);
  const ok = join(dir, 'ok.yaml');
  writeFileSync(ok, 'node: veh-01\nsite: port-a\nrole: vehicle\nbroker: { url: "mqtt://127.0.0.1:1" }\noutbox: { dir: ' + JSON.stringify(join(dir, 'ob')) + ' }\n');
  const c = runCli(['check-config', ok]);
  t.equal(c.status, 0, c.stderr);
  t.match(c.stdout, /ok \(node veh-01/);
  const h = runCli(['health', '--config', ok]);
  t.equal(h.status, 1, 'unhealthy before the runtime ever ran');
  t.match(h.stderr, /status\.json does not exist/);
  const help = runCli(['--help']);
  t.match(help.stdout, /durable/);
  t.match(help.stdout, /run \[options\]/);
});
