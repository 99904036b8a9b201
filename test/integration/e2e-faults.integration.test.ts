// End to end, edge -> Mosquitto -> aggregator -> InfluxDB, with faults: every record lands exactly once.
import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { Aggregator } from '../../cloud/aggregator.js';
import { parseAggregatorConfig } from '../../cloud/config.js';
import { parseEdgeConfig } from '../../edge/runtime/config.js';
import { EdgeRuntime } from '../../edge/runtime/runtime.js';
import { Outbox } from '../../edge/runtime/outbox.js';
import { influxQuery, startInflux, startMosquitto, tempDir } from '../harness/services.js';
import { until } from '../helpers/wait.js';
import { EDGE_CLI } from '../helpers/paths.js';

const CLI = EDGE_CLI;

/** Seqs of every point of a node in a measurement, grouped by boot. */
async function seqsByBoot(url: string, measurement: string, node: string): Promise<Map<string, number[]>> {
  const res = await influxQuery(url, 'customs', `SELECT seq, boot FROM "${measurement}" WHERE "node" = '${node}'`);
  const out = new Map<string, number[]>();
  for (const row of res.results[0]?.series?.[0]?.values ?? []) {
    const [, seq, boot] = row as [number, number, string];
    let l = out.get(boot);
    if (!l) out.set(boot, (l = []));
    l.push(seq);
  }
  for (const l of out.values()) l.sort((a, b) => a - b);
  return out;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

async function cloud(t: Test) {
  const broker = await startMosquitto();
  const influx = await startInflux();
  const agg = new Aggregator({
    config: parseAggregatorConfig('test', {
      id: 'agg-e2e',
      // A plain persistent subscription, which Mosquitto restores when it restarts; Mosquitto 2.0.11 forgets shared
      // ones, and the last test shows the cloud confirmation covering that case.
      mqtt: { url: `mqtt://127.0.0.1:${broker.port}`, shared: false },
      influx: { url: influx.url, flushInterval_ms: 50 },
      spool: { dir: tempDir('e2e-spool') },
    }),
  });
  await agg.start();
  t.teardown(async () => {
    await agg.stop();
    await broker.close();
    await influx.close();
  });
  return { broker, influx, agg };
}

t.test('broker stopped for a while mid-stream, then restarted: every summary in InfluxDB exactly once', async (t) => {
  const { broker, influx, agg } = await cloud(t);
  const N = 1500;
  const rt = new EdgeRuntime({
    config: parseEdgeConfig('test', {
      node: 'veh-01',
      site: 'port-a',
      role: 'vehicle',
      broker: { url: `mqtt://127.0.0.1:${broker.port}`, reconnect_ms: 200 },
      outbox: { dir: tempDir('e2e-outbox'), backlogRate_per_s: 2000 },
      clock: { trust: 'assume' },
      pipelines: [{ name: 'sim', type: 'synthetic', options: { rate_hz: 150, count: N, detectors: 2, seed: 1 } }],
    }),
  });
  await rt.start();
  await until('400 summaries', () => rt.stats().seq >= 400, 20_000);
  await broker.stop();
  const atStop = rt.stats().seq;
  await new Promise((r) => setTimeout(r, 3000));
  const queued = rt.stats().outbox.depth;
  await broker.start();
  await until('all summaries sent', () => rt.stats().seq >= N && rt.stats().outbox.depth === 0, 60_000);
  await agg.flush();
  await until('points in InfluxDB', async () => ((await seqsByBoot(influx.url, 'rad', 'veh-01')).values().next().value?.length ?? 0) >= N, 20_000);
  const byBoot = await seqsByBoot(influx.url, 'rad', 'veh-01');
  t.equal(byBoot.size, 1, 'one boot');
  t.same([...byBoot.values()][0], range(N), `all ${N} summaries, none doubled (${queued} queued during the outage from seq ${atStop})`);
  const det = await influxQuery(influx.url, 'customs', `SELECT count(cps) FROM rad_detector WHERE "node" = 'veh-01'`);
  t.equal(det.results[0]?.series?.[0]?.values?.[0]?.[1], 2 * N, 'per-detector rows too');
  t.ok(queued > 100, `the outbox held ${queued} summaries while the broker was down`);
  await rt.stop();
});

t.test('edge killed with SIGKILL mid-stream, then restarted: nothing lost, nothing doubled', async (t) => {
  const { broker, influx, agg } = await cloud(t);
  const dir = tempDir('e2e-kill');
  const cfg = join(dir, 'edge.yaml');
  writeFileSync(
    cfg,
    JSON.stringify({
      node: 'veh-09',
      site: 'port-a',
      role: 'vehicle',
      broker: { url: `mqtt://127.0.0.1:${broker.port}`, reconnect_ms: 200 },
      outbox: { dir: join(dir, 'outbox'), backlogRate_per_s: 5000 },
      clock: { trust: 'assume' },
      health: { heartbeat_s: 0.5 },
      pipelines: [{ name: 'sim', type: 'synthetic', options: { rate_hz: 300, detectors: 1, kinds: ['rad', 'alarm'] } }],
    }),
  );
  // An independent observer with a persistent session sees everything the broker accepted.
  const seenByBroker = new Map<string, number>();
  let lastStatusSeq = -1;
  const obs = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 5, clientId: 'observer', clean: false, properties: { sessionExpiryInterval: 600 } });
  t.teardown(() => obs.end(true));
  await obs.subscribeAsync('customs/v1/port-a/veh-09/+', { qos: 1 });
  obs.on('message', (topic, payload) => {
    const m = JSON.parse(payload.toString()) as { boot: string; seq: number; online?: boolean };
    if (topic.endsWith('/status')) {
      if (m.online === false) lastStatusSeq = m.seq;
      return;
    }
    seenByBroker.set(m.boot, Math.max(seenByBroker.get(m.boot) ?? -1, m.seq));
  });

  const start = (): ChildProcess => spawn(process.execPath, ['--import', 'tsx', CLI, 'run', '--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LOG_LEVEL: 'warn' } });
  const exited = (p: ChildProcess) => new Promise<void>((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', () => r())));

  const first = start();
  await until('first run to publish', () => agg.stats().accepted >= 300, 40_000);
  // Take the broker away first so that the killed process leaves unacknowledged summaries in its journal.
  await broker.stop();
  await new Promise((r) => setTimeout(r, 1000));
  first.kill('SIGKILL');
  await exited(first);
  const boot1 = [...seenByBroker.keys()][0]!;

  // What the killed process had journalled but not yet had acknowledged.
  const ob = await Outbox.open({ dir: join(dir, 'outbox'), maxBytes: 1 << 28, segmentBytes: 1 << 22, fsync: 'never' });
  const pending = ob.takeRecovered().map((e) => JSON.parse(ob.payloadOf(e).toString()) as { boot: string; seq: number });
  await ob.close();
  const pendingMax = Math.max(-1, ...pending.filter((p) => p.boot === boot1).map((p) => p.seq));
  const m1 = Math.max(pendingMax, seenByBroker.get(boot1)!);
  t.ok(pending.length > 100, `${pending.length} summaries were journalled but unacknowledged at the kill`);

  await broker.start();
  const second = start();
  await until('second run to publish', () => seenByBroker.size >= 2 && [...seenByBroker.values()][1]! > 300, 40_000);
  second.kill('SIGTERM');
  await exited(second);
  t.equal(second.exitCode, 0, 'clean stop on SIGTERM');
  await until('offline status of the second run', () => lastStatusSeq >= 0, 10_000);

  const expectTotal = m1 + 1 + lastStatusSeq + 1;
  const count = async () => {
    const all = await Promise.all(['rad', 'alarm'].map((m) => seqsByBoot(influx.url, m, 'veh-09')));
    return all;
  };
  await until(`${expectTotal} points in InfluxDB`, async () => {
    await agg.flush();
    const [rad, alarm] = await count();
    const n = [...rad!.values(), ...alarm!.values()].reduce((a, l) => a + l.length, 0);
    return n >= expectTotal;
  }, 30_000).catch(() => undefined);
  const [rad, alarm] = await count();
  const merged = new Map<string, number[]>();
  for (const m of [rad!, alarm!]) for (const [b, l] of m) merged.set(b, [...(merged.get(b) ?? []), ...l].sort((a, c) => a - c));
  t.equal(merged.size, 2, 'two boots');
  t.same(merged.get(boot1), range(m1 + 1), `first run: seq 0..${m1} all present once (${pending.length} were replayed from the journal)`);
  const boot2 = [...merged.keys()].find((b) => b !== boot1)!;
  t.same(merged.get(boot2), range(lastStatusSeq + 1), `second run: seq 0..${lastStatusSeq} all present once`);
});

t.test('a broker restart loses the shared subscription: the cloud confirmation still brings every summary in', async (t) => {
  const broker = await startMosquitto();
  const influx = await startInflux();
  const spool = tempDir('e2e-shared-spool');
  const aggConfig = parseAggregatorConfig('test', {
    id: 'agg-shared',
    mqtt: { url: `mqtt://127.0.0.1:${broker.port}`, group: 'restart' },
    influx: { url: influx.url, flushInterval_ms: 50 },
    spool: { dir: spool },
  });
  let agg = new Aggregator({ config: aggConfig });
  await agg.start();
  t.teardown(async () => {
    await agg.stop();
    await broker.close();
    await influx.close();
  });
  const N = 1200;
  const rt = new EdgeRuntime({
    config: parseEdgeConfig('test', {
      node: 'veh-03',
      site: 'port-a',
      role: 'vehicle',
      broker: { url: `mqtt://127.0.0.1:${broker.port}`, reconnect_ms: 100 },
      outbox: { dir: tempDir('e2e-shared-outbox'), backlogRate_per_s: 2000, cloudAckTimeout_s: 2 },
      clock: { trust: 'assume' },
      pipelines: [{ name: 'sim', type: 'synthetic', options: { rate_hz: 150, count: N, detectors: 1, seed: 3 } }],
    }),
  });
  await rt.start();
  await until('300 summaries', () => rt.stats().seq >= 300, 20_000);
  // The aggregator goes away and the broker restarts: Mosquitto 2.0.11 forgets the shared subscription, so what the
  // edge publishes now is acknowledged by the broker (PUBACK) and dropped for want of a subscriber.
  await agg.stop();
  await broker.stop();
  await broker.start();
  await until('edge back on the broker', () => rt.stats().link.connected, 10_000);
  const before = rt.stats().seq;
  await until('200 summaries with no subscriber', () => rt.stats().seq >= before + 200, 20_000);
  agg = new Aggregator({ config: aggConfig });
  await agg.start();
  await until('every summary confirmed by the cloud', () => rt.stats().seq >= N && rt.stats().outbox.depth === 0, 60_000);
  await agg.flush();
  const byBoot = await seqsByBoot(influx.url, 'rad', 'veh-03');
  t.same([...byBoot.values()][0], range(N), `all ${N} summaries in InfluxDB once`);
  t.ok(rt.stats().link.unconfirmedResent >= 150, `${rt.stats().link.unconfirmedResent} summaries the broker had dropped were sent again`);
  await rt.stop();
});
