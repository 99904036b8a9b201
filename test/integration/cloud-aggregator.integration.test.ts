// The aggregator against real Mosquitto and InfluxDB: mixed kinds from two nodes, duplicates, a gap, status, HTTP.
import t from 'tap';
import { connectAsync } from 'mqtt';
import { Aggregator, type GapInfo } from '../../cloud/aggregator.js';
import { parseAggregatorConfig } from '../../cloud/config.js';
import { generateSigningKey } from '../../protocol/index.js';
import { influxQuery, influxScalar, startInflux, startMosquitto, tempDir } from '../harness/services.js';
import { DATA_KINDS, MEASUREMENT, makeMessage, wire } from '../helpers/messages.js';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { until } from '../helpers/wait.js';

const DB = 'customs_it';

t.test('aggregator: mixed kinds, duplicates, a gap, status and HTTP', async (t) => {
  const mosq = await startMosquitto();
  t.teardown(() => mosq.close());
  const influx = await startInflux();
  t.teardown(() => influx.close());
  const dir = tempDir('agg-it');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  const agg = new Aggregator({
    config: parseAggregatorConfig('test', {
      id: 'agg-it',
      mqtt: { url: `mqtt://127.0.0.1:${mosq.port}` },
      influx: { url: influx.url, database: DB, batchSize: 200, flushInterval_ms: 50 },
      spool: { dir },
      http: { port: 0 },
      gapGrace_ms: 300,
    }),
  });
  const gaps: GapInfo[] = [];
  agg.on('gap', (g) => gaps.push(g));
  const states: { node: string; online: boolean }[] = [];
  agg.on('nodeState', (s) => states.push(s));
  await agg.start();
  t.teardown(() => agg.stop());

  const pub = await connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { protocolVersion: 5, clientId: 'it-pub' });
  t.teardown(() => pub.endAsync());

  // Two nodes, 300 data messages each cycling through every data kind; n1 skips seq 50 (the gap).
  const PER_NODE = 300;
  const sent: { kind: (typeof DATA_KINDS)[number]; node: string; seq: number }[] = [];
  for (const node of ['n1', 'n2']) {
    const s = makeMessage('status', { node, seq: 0 });
    const w = wire('status', s);
    await pub.publishAsync(w.topic, w.payload, { qos: 1, retain: true });
    for (let seq = 0; seq < PER_NODE; seq++) {
      if (node === 'n1' && seq === 50) continue;
      const kind = DATA_KINDS[seq % DATA_KINDS.length]!;
      const w = wire(kind, makeMessage(kind, { node, seq }));
      await pub.publishAsync(w.topic, w.payload, { qos: 1 });
      sent.push({ kind, node, seq });
    }
  }
  // 25 duplicates of messages already sent, as a node resends after losing a PUBACK.
  for (let i = 0; i < 25; i++) {
    const s = sent[i * 7]!;
    const w = wire(s.kind, makeMessage(s.kind, { node: s.node, seq: s.seq }));
    await pub.publishAsync(w.topic, w.payload, { qos: 1 });
  }

  await until('all messages handled', () => agg.stats().accepted + agg.stats().duplicates >= sent.length + 2 + 25);
  await agg.flush();
  const st = agg.stats();
  t.equal(st.duplicates, 25, 'every duplicate counted');
  t.equal(st.accepted, sent.length + 2, 'data plus two status messages accepted');
  t.equal(st.gaps, 1, 'one seq missing');

  let total = 0;
  for (const kind of DATA_KINDS) {
    const n = await influxScalar(influx.url, DB, `SELECT count(seq) FROM ${MEASUREMENT[kind]}`);
    t.equal(n, sent.filter((s) => s.kind === kind).length, `${MEASUREMENT[kind]}: one point per distinct message`);
    total += n;
  }
  t.equal(total, sent.length, `exactly ${sent.length} data points in InfluxDB`);
  t.equal(await influxScalar(influx.url, DB, 'SELECT count(uptime_s) FROM node_status'), 2, 'status written as points');
  const ts = await influxQuery(influx.url, DB, `SELECT ts_src, seq FROM rad WHERE node='n2' AND seq=6`);
  t.same(ts.results[0]?.series?.[0]?.values?.[0]?.slice(1), ['edge', 6], 'trusted time kept with ts_src=edge');

  await until('gap reported after the grace period', () => gaps.length > 0, 5000);
  t.match(gaps[0], { node: 'n1', boot: 'b007b007', from: 50, to: 50, missing: 1 }, 'the gap names node, boot and the missing seq');
  // The late arrival fills the gap and un-counts it.
  const late = wire('rad', makeMessage('rad', { node: 'n1', seq: 50, hist: true }));
  await pub.publishAsync(late.topic, late.payload, { qos: 1 });
  await until('late message accepted', () => agg.stats().gaps === 0);
  t.equal(agg.stats().gaps, 0, 'filled gap no longer counted');

  const nodes = agg.nodes().sort((a, b) => a.node.localeCompare(b.node));
  t.same(
    nodes.map((n) => [n.node, n.site, n.online]),
    [
      ['n1', 'site-a', true],
      ['n2', 'site-a', true],
    ],
    'both nodes online',
  );
  const lwt = wire('status', makeMessage('status', { node: 'n2', seq: 1 }, { online: false }));
  await pub.publishAsync(lwt.topic, lwt.payload, { qos: 1, retain: true });
  await until('n2 offline', () => agg.nodes().some((n) => n.node === 'n2' && !n.online));
  t.ok(states.some((s) => s.node === 'n2' && !s.online), 'nodeState event for n2 going offline');

  await agg.flush();
  const health = await fetch(`http://127.0.0.1:${agg.httpPort}/healthz`);
  t.equal(health.status, 200, '/healthz answers 200 while connected');
  t.match(await health.json(), { ok: true, mqtt: true, influx: true, spoolBytes: Number });
  const metrics = await (await fetch(`http://127.0.0.1:${agg.httpPort}/metrics`)).text();
  t.match(metrics, /customs_agg_duplicates_total 25\b/, '/metrics counts duplicates');
  t.match(metrics, new RegExp(`customs_agg_points_written_total ${sent.length + 4}\\b`), '/metrics counts written points');
  t.match(metrics, /customs_agg_batch_write_seconds_count \d+/, 'batch latency histogram present');
  t.match(metrics, /customs_agg_nodes_online 1\b/, 'one node online after the Last Will');
  t.match(metrics, /customs_agg_rejected_total\{reason="schema"\} 0/, 'rejections by reason');
  t.equal((await fetch(`http://127.0.0.1:${agg.httpPort}/nope`)).status, 404);

  // A second aggregator started afterwards gets the retained status of both nodes through its direct subscription.
  const dir2 = tempDir('agg-it2');
  t.teardown(() => rmSync(dir2, { recursive: true, force: true }));
  const agg2 = new Aggregator({
    config: parseAggregatorConfig('test', {
      id: 'agg-it2',
      mqtt: { url: `mqtt://127.0.0.1:${mosq.port}` },
      influx: { url: influx.url, database: DB },
      spool: { dir: dir2 },
    }),
  });
  await agg2.start();
  t.teardown(() => agg2.stop());
  await until('retained status seen', () => agg2.nodes().length === 2);
  t.same(
    agg2.nodes().sort((a, b) => a.node.localeCompare(b.node)).map((n) => n.online),
    [true, false],
    'retained states: n1 online, n2 offline',
  );
  t.equal(agg2.stats().received, 2, 'only the two retained status messages, each once');
});

t.test('two aggregators in one group: each gets a share, peers fill each other\'s gaps, no false gap reports', async (t) => {
  const mosq = await startMosquitto();
  t.teardown(() => mosq.close());
  const influx = await startInflux();
  t.teardown(() => influx.close());
  const aggs: Aggregator[] = [];
  const gaps: GapInfo[] = [];
  // Peer announcements are signed; each member trusts the group's public keys (cloud/aggregator/peers.ts).
  const keys = { 'peer-a': generateSigningKey(), 'peer-b': generateSigningKey() };
  const trustedKeys = { 'peer-a': keys['peer-a'].publicKeyPem, 'peer-b': keys['peer-b'].publicKeyPem };
  for (const id of ['peer-a', 'peer-b'] as const) {
    const dir = tempDir(id);
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'peer.key'), keys[id].privateKeyPem, { mode: 0o600 });
    const a = new Aggregator({
      config: parseAggregatorConfig('test', {
        id,
        mqtt: { url: `mqtt://127.0.0.1:${mosq.port}`, group: 'peers' },
        influx: { url: influx.url, database: 'peers', batchSize: 100, flushInterval_ms: 20 },
        spool: { dir: join(dir, 'spool') },
        gapGrace_ms: 2000,
        peers: { privateKey: join(dir, 'peer.key'), trustedKeys },
      }),
    });
    a.on('gap', (g) => gaps.push(g));
    await a.start();
    t.teardown(() => a.stop());
    aggs.push(a);
  }
  const pub = await connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { protocolVersion: 5, clientId: 'peers-pub' });
  t.teardown(() => pub.endAsync());
  // Mosquitto deals round-robin; this order splits each node's seqs over both members (so each sees holes).
  const N = 400;
  for (let seq = 0; seq < N; seq += 2) {
    for (const node of ['p1', 'p2']) {
      for (const s of [seq, seq + 1]) {
        const w = wire('rad', makeMessage('rad', { node, seq: s }));
        await pub.publishAsync(w.topic, w.payload, { qos: 1 });
      }
    }
  }
  await until('all accepted', () => aggs[0]!.stats().accepted + aggs[1]!.stats().accepted === 2 * N);
  const [a, b] = aggs.map((x) => x.stats());
  t.ok(a!.accepted > N / 2 && b!.accepted > N / 2, `both took a share (${a!.accepted} + ${b!.accepted})`);
  await until('peers announced their seqs', () => aggs.every((x) => x.stats().peerSeqs + x.stats().accepted === 2 * N), 5000);
  for (const x of aggs) {
    const s = x.stats();
    t.equal(s.gaps, 0, 'no seq missing once the peers announced theirs');
    t.equal(s.peerSeqs, 2 * N - s.accepted, "every seq of the peer's share learnt");
  }
  await new Promise((r) => setTimeout(r, 2500));
  t.same(gaps, [], 'no gap reported after the grace period');
  await Promise.all(aggs.map((x) => x.flush()));
  t.equal(await influxScalar(influx.url, 'peers', 'SELECT count(seq) FROM rad'), 2 * N, 'all records written once');

  // A duplicate that reaches the other member than the original is dropped too, thanks to the announcements.
  const before = aggs[0]!.stats().duplicates + aggs[1]!.stats().duplicates;
  for (let seq = 0; seq < 20; seq++) {
    const w = wire('rad', makeMessage('rad', { node: 'p1', seq }));
    await pub.publishAsync(w.topic, w.payload, { qos: 1 });
  }
  await until('duplicates seen', () => aggs[0]!.stats().duplicates + aggs[1]!.stats().duplicates === before + 20);
  t.pass('all 20 resent messages dropped as duplicates, whichever member got them');
});

t.test('duplicates that survive a restart overwrite the same points (deterministic timestamps)', async (t) => {
  const mosq = await startMosquitto();
  t.teardown(() => mosq.close());
  const influx = await startInflux();
  t.teardown(() => influx.close());
  const dir = tempDir('agg-restart');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = parseAggregatorConfig('test', {
    id: 'agg-restart',
    mqtt: { url: `mqtt://127.0.0.1:${mosq.port}` },
    influx: { url: influx.url, database: 'restart', flushInterval_ms: 20 },
    spool: { dir },
  });
  const pub = await connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { protocolVersion: 5, clientId: 'restart-pub' });
  t.teardown(() => pub.endAsync());
  // n1 has a trusted clock; n2 does not, so its points are placed by receive time, pinned per boot.
  const sendAll = async () => {
    for (let seq = 0; seq < 100; seq++) {
      for (const node of ['n1', 'n2']) {
        const w = wire('rad', makeMessage('rad', { node, seq, tsTrusted: node === 'n1' }));
        await pub.publishAsync(w.topic, w.payload, { qos: 1 });
      }
    }
  };
  const count = () => influxScalar(influx.url, 'restart', 'SELECT count(seq) FROM rad');
  const first = new Aggregator({ config: structuredClone(config) });
  await first.start();
  await sendAll();
  await until('first pass accepted', () => first.stats().accepted === 200);
  await first.flush();
  await first.stop();
  t.equal(await count(), 200, '200 points after the first pass');
  const src = await influxQuery(influx.url, 'restart', `SELECT ts_src FROM rad WHERE node='n2' AND seq=5`);
  t.equal(src.results[0]?.series?.[0]?.values?.[0]?.[1], 'received', 'untrusted clock: placed at receive time');

  await new Promise((r) => setTimeout(r, 50)); // the receive time of the second pass is later
  const second = new Aggregator({ config: structuredClone(config) });
  await second.start();
  t.teardown(() => second.stop());
  await sendAll();
  await until('second pass accepted', () => second.stats().accepted === 200);
  await second.flush();
  t.equal(second.stats().duplicates, 0, 'the restarted aggregator did not know them (dedup state is in memory)');
  t.equal(await count(), 200, 'yet InfluxDB still holds 200 points: each duplicate overwrote its original');
});

t.test('without InfluxDB: a line file that `influx -import` loads', async (t) => {
  const mosq = await startMosquitto();
  t.teardown(() => mosq.close());
  const dir = tempDir('agg-linefile');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const lineFile = join(dir, 'points.lp');
  const agg = new Aggregator({
    config: parseAggregatorConfig('test', { id: 'agg-lf', mqtt: { url: `mqtt://127.0.0.1:${mosq.port}` }, lineFile, spool: { dir: join(dir, 'spool') } }),
  });
  await agg.start();
  t.teardown(() => agg.stop());
  const pub = await connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { protocolVersion: 5, clientId: 'lf-pub' });
  t.teardown(() => pub.endAsync());
  for (let seq = 0; seq < 60; seq++) {
    const kind = DATA_KINDS[seq % DATA_KINDS.length]!;
    const w = wire(kind, makeMessage(kind, { node: 'lf', seq }));
    await pub.publishAsync(w.topic, w.payload, { qos: 1 });
  }
  await until('accepted', () => agg.stats().accepted === 60);
  await agg.flush();
  t.match(readFileSync(lineFile, 'utf8'), /^# DDL\nCREATE DATABASE customs\n\n# DML\n# CONTEXT-DATABASE: customs\n/, 'import header');

  const influx = await startInflux();
  t.teardown(() => influx.close());
  const out = execFileSync('influx', ['-host', '127.0.0.1', '-port', String(influx.port), '-import', `-path=${lineFile}`, '-precision=ns'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.match(out, /Processed 60 inserts/);
  let total = 0;
  for (const kind of DATA_KINDS) total += await influxScalar(influx.url, 'customs', `SELECT count(seq) FROM ${MEASUREMENT[kind]}`);
  t.equal(total, 60, 'every point imported');
});
