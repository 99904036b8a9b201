// Tag-cardinality abuse against a real InfluxDB started with a small max-values-per-tag: one node's abuse is contained
// by the per-node cap, what the store still refuses is quarantined, other nodes' data stays intact, nothing
// confirmed is lost.
import t from 'tap';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import { Aggregator } from '../../cloud/aggregator.js';
import { parseAggregatorConfig } from '../../cloud/config.js';
import { ACK_ROOT, DLQ_ROOT, type CloudAck } from '../../protocol/index.js';
import { influxQuery, startInflux, startMosquitto, tempDir } from '../harness/services.js';
import { makeMessage, wire } from '../helpers/messages.js';
import { until } from '../helpers/wait.js';

const DB = 'cardinality';
const GOOD = ['good-1', 'good-2'];
const MANY = ['many-1', 'many-2', 'many-3', 'many-4'];

t.test('cardinality abuse is contained and nothing confirmed is lost', async (t) => {
  const mosq = await startMosquitto();
  t.teardown(() => mosq.close());
  // 12 detector values in all: the good nodes' 3 plus the abuser's allowance of 4 fit, the MANY nodes' 16 do not.
  const influx = await startInflux({ maxValuesPerTag: 12 });
  t.teardown(() => influx.close());
  const dir = tempDir('agg-card');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const agg = new Aggregator({
    config: parseAggregatorConfig('test', {
      id: 'agg-card',
      mqtt: { url: `mqtt://127.0.0.1:${mosq.port}`, group: 'card' },
      influx: { url: influx.url, database: DB, batchSize: 200, flushInterval_ms: 50, timeout_ms: 5000 },
      spool: { dir },
      http: { port: 0 },
      tagValuesPerNode: 4,
      cloudAck_ms: 50,
    }),
  });
  await agg.start();
  t.teardown(() => agg.stop());

  // What the nodes are told: confirmed seqs per node, and the dead letters with their reason.
  const obs = await connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { protocolVersion: 5, clientId: 'card-observer' });
  t.teardown(() => obs.endAsync());
  const confirmed = new Map<string, Set<number>>();
  const dead: { reason: string; error: string }[] = [];
  obs.on('message', (topic, payload, packet) => {
    if (topic.startsWith(ACK_ROOT)) {
      const node = topic.split('/').pop()!;
      const ack = JSON.parse(payload.toString()) as CloudAck;
      let s = confirmed.get(node);
      if (!s) confirmed.set(node, (s = new Set()));
      for (const [a, b] of ack.r) for (let q = a; q <= b; q++) s.add(q);
    } else {
      const up = (packet.properties?.userProperties ?? {}) as Record<string, string>;
      dead.push({ reason: topic.split('/').pop()!, error: String(up.error) });
    }
  });
  await obs.subscribeAsync([`${ACK_ROOT}/#`, `${DLQ_ROOT}/agg-card/#`], { qos: 1 });

  const pub = await connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { protocolVersion: 5, clientId: 'card-pub' });
  t.teardown(() => pub.endAsync());
  const send = async (node: string, seq: number, ids: string[]) => {
    const w = wire('rad', makeMessage('rad', { node, seq }, { detectors: ids.map((id) => ({ id, cps: 10 + seq })) }));
    await pub.publishAsync(w.topic, w.payload, { qos: 1 });
  };
  const nConfirmed = (node: string) => confirmed.get(node)?.size ?? 0;

  const count = async (q: string): Promise<Record<string, number>> => {
    const res = await influxQuery(influx.url, DB, q);
    const out: Record<string, number> = {};
    for (const s of res.results[0]?.series ?? []) out[s.tags!.node!] = s.values[0]![1] as number;
    return out;
  };

  // Phase 1: an abuser invents 4 new detector ids per message while two good nodes send their usual three.
  const ABUSE = 40;
  const PER_GOOD = 30;
  for (let seq = 0; seq < ABUSE; seq++) {
    await send('abuser', seq, [0, 1, 2, 3].map((k) => `x${seq}-${k}`));
    if (seq < PER_GOOD) for (const node of GOOD) await send(node, seq, ['left', 'right', 'roof']);
  }
  await until('phase 1 handled', () => agg.stats().received >= ABUSE + GOOD.length * PER_GOOD);
  await agg.flush();
  await until('good nodes confirmed', () => GOOD.every((n) => nConfirmed(n) === PER_GOOD));
  await until('dead letters arrive', () => dead.length >= ABUSE - 1);
  t.equal(agg.stats().rejected.cardinality, ABUSE - 1, 'every abusive message after the first refused at validation');
  t.ok(dead.every((d) => d.reason === 'cardinality' && /tagValuesPerNode/.test(d.error)), 'dead-lettered with reason cardinality, naming the limit');
  t.same([...(confirmed.get('abuser') ?? [])], [0], 'the abuser is confirmed only what was stored');
  const det1 = await count('SELECT count(cps) FROM rad_detector GROUP BY node');
  t.same(det1, { abuser: 4, 'good-1': PER_GOOD * 3, 'good-2': PER_GOOD * 3 }, 'good nodes intact; the abuser got its allowance only');
  t.equal(agg.stats().rejectedPoints, 0, 'InfluxDB refused nothing so far');

  // Phase 2: four nodes each within their allowance, together past InfluxDB's limit: the store refuses some points.
  const PER_MANY = 10;
  // InfluxDB checks its limit per write request against the values it already holds, so a batch that brings many
  // new values at once can pass it: one node at a time, each written before the next, crosses it deterministically.
  for (const [i, node] of MANY.entries()) {
    for (let seq = 0; seq < PER_MANY; seq++) await send(node, seq, [0, 1, 2, 3].map((k) => `m${i}-${k}`));
    await until(`${node} confirmed`, () => nConfirmed(node) === PER_MANY);
    await agg.flush();
  }
  const det2 = await count('SELECT count(cps) FROM rad_detector GROUP BY node');
  const rad2 = await count('SELECT count(gross_cps) FROM rad GROUP BY node');
  const quarantine = readFileSync(join(dir, 'quarantine.lp'), 'utf8').split('\n').filter(Boolean);
  const qLines = quarantine.filter((l) => !l.startsWith('#'));
  t.ok(qLines.length > 0, `InfluxDB refused ${qLines.length} points at its limit`);
  t.ok(quarantine.filter((l) => l.startsWith('#')).every((l) => /max-values-per-tag/.test(l)), 'quarantined with InfluxDB\'s reason');
  for (const node of MANY) {
    const inQ = qLines.filter((l) => l.includes(`,node=${node},`)).length;
    t.equal((det2[node] ?? 0) + inQ, PER_MANY * 4, `${node}: every confirmed detector point is in InfluxDB (${det2[node] ?? 0}) or quarantined (${inQ})`);
    t.equal(rad2[node], PER_MANY, `${node}: the good lines of the refused batches were written`);
  }
  t.ok(qLines.every((l) => l.startsWith('rad_detector,detector=m')), 'only the new series were refused');
  t.equal(agg.stats().rejectedPoints, qLines.length, 'points_refused counts the refused lines, not their batches');
  const metrics = await (await fetch(`http://127.0.0.1:${agg.httpPort}/metrics`)).text();
  t.match(metrics, new RegExp(`customs_agg_points_refused_total ${qLines.length}\\b`), 'and so does the metric');

  // The good nodes go on with their known detectors: still stored.
  for (let seq = PER_GOOD; seq < PER_GOOD + 10; seq++) for (const node of GOOD) await send(node, seq, ['left', 'right', 'roof']);
  await until('good nodes confirmed again', () => GOOD.every((n) => nConfirmed(n) === PER_GOOD + 10));
  await agg.flush();
  const det3 = await count('SELECT count(cps) FROM rad_detector GROUP BY node');
  for (const node of GOOD) t.equal(det3[node], (PER_GOOD + 10) * 3, `${node}: all its points stored`);
  t.equal(agg.stats().spoolBytes, 0, 'the spool is empty: everything went to InfluxDB or the quarantine');
});
