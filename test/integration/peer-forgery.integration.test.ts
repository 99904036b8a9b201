// Forged peer announcements (issue 12 item 6): on a plain broker anyone can publish under customs-agg/v1/<group>/seen/+;
// aggregators take only announcements signed by a member of their group, and confirm to a node only what they hold.
import t from 'tap';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { Aggregator } from '../../cloud/aggregator.js';
import { parseAggregatorConfig } from '../../cloud/config.js';
import { cloudAckTopic, decodeCloudAck, generateSigningKey, peerSeenTopic, signPayload } from '../../protocol/index.js';
import { influxQuery, startInflux, startMosquitto, tempDir } from '../harness/services.js';
import { makeMessage, wire } from '../helpers/messages.js';
import { until } from '../helpers/wait.js';

const SITE = 'site-a';
const BOOT = 'b007b007';
const keys = { 'agg-a': generateSigningKey(), 'agg-b': generateSigningKey(), evil: generateSigningKey() };
type Member = 'agg-a' | 'agg-b';

/** An announcement of seqs first..last of one node, in the wire format of cloud/aggregator/peers.ts. */
function announcement(from: string, group: string, node: string, first: number, last: number) {
  return { v: 2 as const, from, group, b: [[node, SITE, BOOT, first, Array.from({ length: last - first }, () => 1)]] };
}

/** Collects the seqs confirmed to a node on customs-ack/v1/<site>/<node>. */
async function confirmations(port: number, node: string): Promise<{ seqs: Set<number>; client: MqttClient }> {
  const client = await connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, clientId: `ack-watch-${node}` });
  const seqs = new Set<number>();
  client.on('message', (_topic, payload) => {
    const a = decodeCloudAck(payload);
    if (a?.boot !== BOOT) return;
    for (const [from, to] of a.r) for (let s = from; s <= to; s++) seqs.add(s);
  });
  await client.subscribeAsync(cloudAckTopic(SITE, node), { qos: 0 });
  return { seqs, client };
}

t.test('forged peer announcements', async (t) => {
  const mosq = await startMosquitto();
  t.teardown(() => mosq.close());
  const influx = await startInflux();
  t.teardown(() => influx.close());
  const dir = tempDir('peer-forgery');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [id, k] of Object.entries(keys)) {
    writeFileSync(join(dir, `${id}.key`), k.privateKeyPem, { mode: 0o600 });
    writeFileSync(join(dir, `${id}.pub`), k.publicKeyPem);
  }
  const startAgg = async (tt: { teardown(fn: () => unknown): void }, id: Member, group: string, db: string): Promise<Aggregator> => {
    const a = new Aggregator({
      config: parseAggregatorConfig('test', {
        id,
        // A client id per group: a persistent session keeps its subscriptions, and the first subtest's would deal
        // this aggregator a copy of the second's messages too.
        mqtt: { url: `mqtt://127.0.0.1:${mosq.port}`, group, clientId: `${id}-${group}` },
        influx: { url: influx.url, database: db, batchSize: 100, flushInterval_ms: 20 },
        spool: { dir: join(dir, `spool-${group}-${id}`) },
        cloudAck_ms: 50,
        gapGrace_ms: 2000,
        // Each member trusts the group's keys (a file path, or PEM text as for agg-a's own entry).
        peers: { privateKey: join(dir, `${id}.key`), trustedKeys: { 'agg-a': keys['agg-a'].publicKeyPem, 'agg-b': join(dir, 'agg-b.pub') } },
      }),
    });
    await a.start();
    // Stopped with its subtest: a member left running would take a copy of the next subtest's messages.
    tt.teardown(() => a.stop());
    return a;
  };
  const attacker = await connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { protocolVersion: 5, clientId: 'attacker' });
  t.teardown(() => attacker.endAsync());
  const pub = await connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { protocolVersion: 5, clientId: 'forgery-pub' });
  t.teardown(() => pub.endAsync());
  const publish = async (node: string, from: number, to: number) => {
    for (let seq = from; seq <= to; seq++) {
      const w = wire('rad', makeMessage('rad', { node, site: SITE, boot: BOOT, seq }));
      await pub.publishAsync(w.topic, w.payload, { qos: 1 });
    }
  };

  await t.test('forged messages are ignored and every real message reaches InfluxDB once', async (t) => {
    const G = 'forge';
    const db = 'forge';
    const aggs = [await startAgg(t, 'agg-a', G, db), await startAgg(t, 'agg-b', G, db)];
    const acks = await confirmations(mosq.port, 'n1');
    t.teardown(() => acks.client.endAsync());
    const onB = peerSeenTopic(G, 'agg-b');
    const claim = announcement('agg-b', G, 'n1', 0, 99);
    // A genuine announcement of agg-b (as if captured off the wire) with its seqs changed afterwards.
    const captured = signPayload(announcement('agg-b', G, 'n1', 1000, 1001), keys['agg-b'].privateKeyPem, 'agg-b');
    const forged: [string, unknown][] = [
      [onB, { v: 1, from: 'agg-b', b: claim.b }], // the unsigned format of before: what the probe sent
      [onB, claim], // no signature at all
      [onB, signPayload(claim, keys.evil.privateKeyPem, 'agg-b')], // agg-b's key id, another key
      [peerSeenTopic(G, 'evil'), signPayload({ ...claim, from: 'evil' }, keys.evil.privateKeyPem, 'evil')], // a key nobody trusts
      [onB, signPayload({ ...claim, from: 'agg-a' }, keys['agg-a'].privateKeyPem, 'agg-a')], // a member's key on another member's topic
      [onB, { ...captured, payload: { ...captured.payload, b: claim.b } }], // tampered
      [onB, signPayload({ ...claim, group: 'other' }, keys['agg-b'].privateKeyPem, 'agg-b')], // another group's announcement
      [onB, 'not json'],
    ];
    for (const [topic, body] of forged) await attacker.publishAsync(topic, typeof body === 'string' ? body : JSON.stringify(body), { qos: 1 });
    // The forged messages reach both members (so the test shows them refused, not lost on the way).
    await until('both members refused every forged message', () => aggs.every((a) => a.stats().peerRejected === forged.length), 5000);
    t.same(aggs.map((a) => a.stats().peerSeqs), [0, 0], 'no seq was taken from them');

    const N = 100;
    await publish('n1', 0, N - 1);
    await publish('n2', 0, N - 1);
    await until('all accepted', () => aggs[0]!.stats().accepted + aggs[1]!.stats().accepted === 2 * N, 10_000);
    t.same(aggs.map((a) => a.stats().duplicates), [0, 0], 'none dropped as a duplicate');
    t.ok(aggs.every((a) => a.stats().accepted > 0), `both took a share (${aggs.map((a) => a.stats().accepted).join(' + ')})`);
    // The genuine exchange still works: each member learns the other's share, and no gap stays open.
    await until('peers announced their seqs', () => aggs.every((a) => a.stats().peerSeqs + a.stats().accepted === 2 * N), 5000);
    t.same(aggs.map((a) => a.stats().gaps), [0, 0], 'no seq missing once the signed announcements came');
    await Promise.all(aggs.map((a) => a.flush()));
    const res = await influxQuery(influx.url, db, 'SELECT count(seq), count(distinct(seq)) FROM rad GROUP BY node');
    const counts = Object.fromEntries((res.results[0]?.series ?? []).map((s) => [s.tags!.node, s.values[0]!.slice(1)]));
    t.same(counts, { n1: [N, N], n2: [N, N] }, 'every message in InfluxDB exactly once');
    await until('every n1 seq confirmed', () => acks.seqs.size === N, 5000);
    t.same([...acks.seqs].sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i), 'and confirmed to the node');
  });

  await t.test('a duplicate dropped because of a peer is not confirmed by this member', async (t) => {
    const G = 'held';
    const agg = await startAgg(t, 'agg-a', G, 'held');
    const acks = await confirmations(mosq.port, 'n3');
    t.teardown(() => acks.client.endAsync());
    // agg-b (its real key; it is not running) says it spooled seqs 0..49 of n3.
    await attacker.publishAsync(peerSeenTopic(G, 'agg-b'), JSON.stringify(signPayload(announcement('agg-b', G, 'n3', 0, 49), keys['agg-b'].privateKeyPem, 'agg-b')), { qos: 1 });
    await until('the signed announcement was taken', () => agg.stats().peerSeqs === 50, 5000);
    await publish('n3', 0, 49);
    await until('dropped as duplicates', () => agg.stats().duplicates === 50, 5000);
    // The node (re)connects: it gets every seq this member holds; then ten new summaries.
    const status = wire('status', makeMessage('status', { node: 'n3', site: SITE, boot: BOOT, seq: 0 }));
    await pub.publishAsync(status.topic, status.payload, { qos: 1 });
    await publish('n3', 50, 59);
    await until('the new summaries confirmed', () => [...Array(10).keys()].every((i) => acks.seqs.has(50 + i)), 5000);
    await agg.flush();
    t.same([...acks.seqs].sort((a, b) => a - b), Array.from({ length: 10 }, (_, i) => 50 + i), 'only what this member spooled was confirmed, none of the 50 agg-b holds');
  });
});
