// Fault tests of the aggregator: InfluxDB outage, aggregator SIGKILL, and one of two shared subscribers killed.
import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { Aggregator } from '../../cloud/aggregator.js';
import { parseAggregatorConfig } from '../../cloud/config.js';
import { influxQuery, startInflux, startMosquitto, tempDir, type InfluxService, type Service } from '../harness/services.js';
import { makeMessage, wire } from '../helpers/messages.js';
import { until } from '../helpers/wait.js';
import { ROOT } from '../helpers/paths.js';


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** count(seq), sum(seq) and count(distinct seq) of rad points per node. */
async function radCounts(influx: InfluxService, db: string): Promise<Record<string, { count: number; sum: number; distinct: number }>> {
  const res = await influxQuery(influx.url, db, 'SELECT count(seq), sum(seq), count(distinct(seq)) FROM rad GROUP BY node');
  const out: Record<string, { count: number; sum: number; distinct: number }> = {};
  for (const s of res.results[0]?.series ?? []) {
    const v = s.values[0]!;
    out[s.tags!.node!] = { count: v[1] as number, sum: v[2] as number, distinct: v[3] as number };
  }
  return out;
}

async function total(influx: InfluxService, db: string): Promise<number> {
  return Object.values(await radCounts(influx, db)).reduce((a, c) => a + c.count, 0).valueOf();
}

/**
 * Publishes `perNode` rad messages for n1 (trusted clock) and n2 (untrusted: placed at receive time, pinned per
 * boot, so a redelivery must land on the same timestamp), paced in bursts; `at(i)` runs after the i-th burst.
 */
async function publishAll(pub: MqttClient, perNode: number, at: (sent: number) => Promise<void> | void): Promise<void> {
  const BURST = 100;
  for (let seq = 0; seq < perNode; seq += BURST / 2) {
    const ps: Promise<unknown>[] = [];
    for (let s = seq; s < Math.min(perNode, seq + BURST / 2); s++) {
      for (const node of ['n1', 'n2']) {
        const w = wire('rad', makeMessage('rad', { node, seq: s, tsTrusted: node === 'n1' }));
        ps.push(pub.publishAsync(w.topic, w.payload, { qos: 1 }));
      }
    }
    await Promise.all(ps);
    await at(Math.min(perNode, seq + BURST / 2) * 2);
    await sleep(15);
  }
}

function expectExactlyOnce(t: Test, counts: Record<string, { count: number; sum: number; distinct: number }>, perNode: number): void {
  const sum = (perNode * (perNode - 1)) / 2;
  for (const node of ['n1', 'n2']) {
    t.same(counts[node], { count: perNode, sum, distinct: perNode }, `${node}: every one of ${perNode} records exactly once`);
  }
}

interface Child {
  proc: ChildProcess;
  stderr(): string;
}

/** Runs the aggregator through its CLI as a separate process, so it can be SIGKILLed like a crash. */
async function startChild(configFile: string): Promise<Child> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'cloud/cli.ts'), 'run', '--config', configFile], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes('customs-cloud: running')) {
        proc.stdout!.off('data', onData);
        resolve();
      }
    };
    proc.stdout!.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`aggregator exited with ${code} before running: ${err}`)));
  });
  proc.removeAllListeners('exit');
  return { proc, stderr: () => err };
}

async function killChild(c: Child, signal: NodeJS.Signals): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    c.proc.once('exit', () => resolve());
    c.proc.kill(signal);
  });
}

/**
 * Each scenario uses its own shared-subscription group: Mosquitto keeps dealing a group's messages to members
 * that are gone but whose persistent session has not expired, so an aggregator stopped in one scenario would
 * otherwise keep taking (and queueing) a share of the next one's messages.
 */
function writeConfig(dir: string, name: string, group: string, mosq: Service, influx: InfluxService, db: string): string {
  const file = join(dir, `${name}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      id: name,
      mqtt: { url: `mqtt://127.0.0.1:${mosq.port}`, group },
      influx: { url: influx.url, database: db, batchSize: 500, flushInterval_ms: 50, timeout_ms: 2000 },
      spool: { dir: join(dir, `spool-${name}`) },
    }),
  );
  return file;
}

t.test('faults', async (t) => {
  const mosq = await startMosquitto();
  t.teardown(() => mosq.close());
  const influx = await startInflux();
  t.teardown(() => influx.close());
  const dir = tempDir('agg-faults');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let pubN = 0;
  const publisher = async () => {
    const pub = await connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { protocolVersion: 5, clientId: `faults-pub-${pubN++}` });
    t.teardown(() => pub.endAsync());
    return pub;
  };

  t.test('InfluxDB stopped mid-stream and restarted: every record exactly once', async (t) => {
    const db = 'faults_a';
    const agg = new Aggregator({
      config: parseAggregatorConfig('test', {
        id: 'agg-a',
        mqtt: { url: `mqtt://127.0.0.1:${mosq.port}`, group: 'faults-a' },
        influx: { url: influx.url, database: db, batchSize: 500, flushInterval_ms: 50, timeout_ms: 2000 },
        spool: { dir: join(dir, 'spool-inproc') },
      }),
    });
    await agg.start();
    t.teardown(() => agg.stop());
    const pub = await publisher();
    const PER_NODE = 2000;
    let spoolAtOutage = 0;
    await publishAll(pub, PER_NODE, async (sent) => {
      if (sent === 1000) await influx.stop();
      if (sent === 3000) {
        spoolAtOutage = agg.stats().spoolBytes;
        t.notOk(agg.stats().influxUp, 'the aggregator noticed InfluxDB is down');
        await influx.start();
      }
    });
    t.ok(spoolAtOutage > 0, `the spool held ${spoolAtOutage} bytes during the outage`);
    await until('all accepted', () => agg.stats().accepted === 2 * PER_NODE);
    await agg.flush();
    const st = agg.stats();
    t.ok(st.writeErrors > 0, `write errors while down (${st.writeErrors})`);
    t.ok(st.influxUp, 'InfluxDB up again');
    t.equal(st.spoolBytes, 0, 'spool drained');
    expectExactlyOnce(t, await radCounts(influx, db), PER_NODE);
  });

  t.test('aggregator SIGKILLed mid-stream and restarted: every record exactly once', async (t) => {
    const db = 'faults_b';
    const cfg = writeConfig(dir, 'agg-b', 'faults-b', mosq, influx, db);
    let child = await startChild(cfg);
    t.teardown(() => killChild(child, 'SIGKILL'));
    const pub = await publisher();
    const PER_NODE = 2000;
    let killedAt = 0;
    await publishAll(pub, PER_NODE, async (sent) => {
      if (sent === 1200) {
        await killChild(child, 'SIGKILL');
        killedAt = await total(influx, db);
      }
    });
    // The broker queued the rest in the aggregator's persistent session; a restart with the same client id drains it.
    child = await startChild(cfg);
    await until('all records in InfluxDB', async () => (await total(influx, db)) >= 2 * PER_NODE);
    await sleep(500); // anything doubled would show up now
    t.ok(killedAt < 2 * PER_NODE, `killed with ${killedAt} of ${2 * PER_NODE} records written`);
    expectExactlyOnce(t, await radCounts(influx, db), PER_NODE);
    await killChild(child, 'SIGTERM');
    t.equal(child.proc.exitCode, 0, 'SIGTERM stops it cleanly');
  });

  t.test('two aggregators on one shared subscription, one SIGKILLed then restarted: every record exactly once', async (t) => {
    /*
     * What Mosquitto 2.0.11 does, checked empirically: it deals shared-subscription messages round-robin over all
     * members, offline ones with a persistent session included. So while one aggregator is dead, the other one
     * gets only its own share, and the dead one's share (plus whatever it had in flight, unacknowledged) waits in
     * its session; nothing moves to the survivor. The records are complete only once the killed one is back with
     * the same client id. Brokers that redistribute (EMQX, HiveMQ) would let the survivor take it all.
     */
    const db = 'faults_c';
    const cfgX = writeConfig(dir, 'agg-x', 'faults-c', mosq, influx, db);
    const cfgY = writeConfig(dir, 'agg-y', 'faults-c', mosq, influx, db);
    let x = await startChild(cfgX);
    t.teardown(() => killChild(x, 'SIGKILL'));
    const y = await startChild(cfgY);
    t.teardown(() => killChild(y, 'SIGKILL'));
    const pub = await publisher();
    const PER_NODE = 2000;
    let atKill = 0;
    await publishAll(pub, PER_NODE, async (sent) => {
      if (sent === 1200) {
        await killChild(x, 'SIGKILL');
        atKill = await total(influx, db);
      }
    });
    await sleep(1000);
    const whileDown = await total(influx, db);
    t.ok(whileDown > atKill + 500, `the survivor went on writing (${atKill} -> ${whileDown})`);
    t.ok(whileDown < 2 * PER_NODE, `the dead one's share waits in its session (${whileDown} of ${2 * PER_NODE})`);
    x = await startChild(cfgX);
    await until('all records in InfluxDB', async () => (await total(influx, db)) >= 2 * PER_NODE).catch(async (e: unknown) => {
      t.comment(JSON.stringify(await radCounts(influx, db)), x.stderr().slice(0, 2000), y.stderr().slice(0, 2000));
      throw e;
    });
    await sleep(500);
    expectExactlyOnce(t, await radCounts(influx, db), PER_NODE);
    t.notMatch(y.stderr(), /"level":(50|60)/, 'no errors logged by the survivor');
  });

  t.test('spool full while InfluxDB is down: acknowledgements are held, the broker keeps the rest, nothing lost', async (t) => {
    const db = 'faults_d';
    const agg = new Aggregator({
      config: parseAggregatorConfig('test', {
        id: 'agg-d',
        mqtt: { url: `mqtt://127.0.0.1:${mosq.port}`, group: 'faults-d' },
        influx: { url: influx.url, database: db, batchSize: 500, flushInterval_ms: 50, timeout_ms: 2000 },
        spool: { dir: join(dir, 'spool-full'), maxBytes: 65536 },
      }),
    });
    await agg.start();
    t.teardown(() => agg.stop());
    await influx.stop();
    const pub = await publisher();
    const PER_NODE = 1000;
    // QoS 1 publishes complete once the broker has them, whether or not the aggregator took them.
    await publishAll(pub, PER_NODE, () => undefined);
    await sleep(1000);
    const st = agg.stats();
    t.ok(st.accepted < 2 * PER_NODE / 2, `the aggregator stopped taking messages with a full spool (${st.accepted} of ${2 * PER_NODE})`);
    t.ok(st.spoolBytes >= 65536 && st.spoolBytes < 65536 + 64 * 1024, `spool at its limit (${st.spoolBytes} bytes)`);
    t.ok(st.mqttConnected, 'still connected meanwhile');
    await influx.start();
    await until('all accepted', () => agg.stats().accepted === 2 * PER_NODE);
    await agg.flush();
    expectExactlyOnce(t, await radCounts(influx, db), PER_NODE);
  });
});
