// Values InfluxDB would refuse after the node was confirmed: refused at validation instead (dead letter with the
// field), tags with backslashes round-tripping through a real InfluxDB, ts 0 not stored as trusted, a sane gap gauge.
import t from 'tap';
import { rmSync } from 'node:fs';
import { connectAsync } from 'mqtt';
import { Aggregator } from '../../cloud/aggregator.js';
import { parseAggregatorConfig } from '../../cloud/config.js';
import { ACK_ROOT, DLQ_ROOT, MAX_INT, MAX_TS_MS, type CloudAck } from '../../protocol/index.js';
import { influxQuery, startInflux, startMosquitto, tempDir } from '../harness/services.js';
import { makeMessage, wire } from '../helpers/messages.js';
import { until } from '../helpers/wait.js';

const DB = 'bounds';

t.test('out-of-range values are refused at validation; awkward tags round-trip', async (t) => {
  const mosq = await startMosquitto();
  t.teardown(() => mosq.close());
  const influx = await startInflux();
  t.teardown(() => influx.close());
  const dir = tempDir('agg-bounds');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const agg = new Aggregator({
    config: parseAggregatorConfig('test', {
      id: 'agg-bounds',
      mqtt: { url: `mqtt://127.0.0.1:${mosq.port}`, group: 'bounds' },
      influx: { url: influx.url, database: DB, batchSize: 100, flushInterval_ms: 50 },
      spool: { dir },
      http: { port: 0 },
      cloudAck_ms: 50,
    }),
  });
  await agg.start();
  t.teardown(() => agg.stop());

  const obs = await connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { protocolVersion: 5, clientId: 'bounds-observer' });
  t.teardown(() => obs.endAsync());
  const confirmed = new Set<number>();
  const dead: { reason: string; error: string }[] = [];
  obs.on('message', (topic, payload, packet) => {
    if (topic.startsWith(ACK_ROOT)) {
      for (const [a, b] of (JSON.parse(payload.toString()) as CloudAck).r) for (let q = a; q <= b; q++) confirmed.add(q);
    } else {
      const up = (packet.properties?.userProperties ?? {}) as Record<string, string>;
      dead.push({ reason: topic.split('/').pop()!, error: String(up.error) });
    }
  });
  await obs.subscribeAsync([`${ACK_ROOT}/site-a/edge-1`, `${DLQ_ROOT}/agg-bounds/#`], { qos: 1 });
  const pub = await connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { protocolVersion: 5, clientId: 'bounds-pub' });
  t.teardown(() => pub.endAsync());

  // Bad ones: each a valid message with one field out of range, written as raw JSON so 2^63 and 1e999 stay as sent.
  const node = 'edge-1';
  const bad: [string, string, string][] = [
    ['seq', '9223372036854775808', '/seq'],
    ['seq', '1e300', '/seq'],
    ['ts', String(MAX_TS_MS + 1), '/ts'],
    ['gross_cps', '1e999', '/gross_cps'],
    ['detectors', JSON.stringify([{ id: 'left\nright', cps: 1 }]), '/detectors/0/id'],
    ['detectors', JSON.stringify([{ id: 'left\\', cps: 1 }]), '/detectors/0/id'],
  ];
  for (const [i, [field, raw]] of bad.entries()) {
    const m = makeMessage('rad', { node, seq: 100 + i }) as unknown as Record<string, unknown>;
    m[field] = '__RAW__';
    const w = wire('rad', makeMessage('rad', { node, seq: 100 + i }));
    await pub.publishAsync(w.topic, Buffer.from(JSON.stringify(m).replace('"__RAW__"', raw)), { qos: 1 });
  }
  const badEvent = wire('event', makeMessage('event', { node, seq: 200 }));
  await pub.publishAsync(badEvent.topic, Buffer.from(badEvent.payload.toString().replace('"cam-1"', JSON.stringify('hall\n1'))), { qos: 1 });

  // Good ones: tags holding backslashes, commas, equals signs and spaces; a string field ending in a backslash.
  const cameras = ['hall\\ 1,a=b\\c', 'x\\,y', 'p\\\\q r', 'back\\slash'];
  for (const [i, camera] of cameras.entries()) {
    const w = wire('event', makeMessage('event', { node, seq: i }, { camera }));
    await pub.publishAsync(w.topic, w.payload, { qos: 1 });
  }
  const reason = 'sig "bad" \\ at C:\\keys\\';
  const ack = wire('ack', makeMessage('ack', { node, seq: 10 }, { ok: false, reason }));
  await pub.publishAsync(ack.topic, ack.payload, { qos: 1 });
  // A clock never set (ts 0) that claims to be trusted.
  const before = Date.now();
  const zero = wire('rad', makeMessage('rad', { node: 'edge-2', seq: 0, ts: 0, tsTrusted: true }));
  await pub.publishAsync(zero.topic, zero.payload, { qos: 1 });
  // A seq jump of 2^53 within one boot.
  for (const seq of [0, 1, 2, MAX_INT]) {
    const w = wire('rad', makeMessage('rad', { node: 'edge-3', seq, ts: 1_700_000_000_000 + (seq % 1000), mono_ms: 1000 }));
    await pub.publishAsync(w.topic, w.payload, { qos: 1 });
  }

  await until('all handled', () => agg.stats().received >= bad.length + 1 + cameras.length + 1 + 1 + 4);
  await agg.flush();
  await until('dead letters', () => dead.length >= bad.length + 1);
  for (const [i, [field, raw, path]] of bad.entries()) {
    const d = dead[i];
    t.ok(d?.reason === 'schema' && d.error.includes(path), `${field} = ${raw.slice(0, 24)}: dead-lettered naming ${path} (${d?.error.slice(0, 80)})`);
  }
  t.ok(dead[bad.length]?.reason === 'schema' && dead[bad.length]!.error.includes('/camera'), 'a camera tag with a newline: dead-lettered');
  await until('good ones confirmed', () => confirmed.size >= cameras.length + 1);
  t.same([...confirmed].sort((a, b) => a - b), [0, 1, 2, 3, 10], 'only the good messages are confirmed');
  t.equal(agg.stats().rejectedPoints, 0, 'InfluxDB refused nothing');

  const tagRes = await influxQuery(influx.url, DB, 'SHOW TAG VALUES FROM camera_event WITH KEY = camera');
  const stored = (tagRes.results[0]?.series?.[0]?.values ?? []).map((v) => v[1] as string);
  t.same(stored.sort(), [...cameras].sort(), 'tag values with backslashes, commas, equals signs and spaces round-trip');
  const r = await influxQuery(influx.url, DB, 'SELECT reason FROM cmd_ack');
  t.equal(r.results[0]?.series?.[0]?.values[0]?.[1], reason, 'a string field with quotes and a trailing backslash round-trips');

  const z = await influxQuery(influx.url, DB, `SELECT ts_src, seq FROM rad WHERE node = 'edge-2'`);
  const [time, tsSrc] = z.results[0]?.series?.[0]?.values[0] ?? [];
  t.equal(tsSrc, 'received', 'ts 0 marked trusted is stored as received, not edge');
  t.ok((time as number) >= before - 1000, `and placed at receive time, not 1970 (${new Date(time as number).toISOString()})`);

  // edge-1 really misses seqs 4..9 (the bad ones had seqs of their own); edge-3's jump of 2^53 counts for nothing.
  t.equal(agg.stats().gaps, 6, 'a seq jump of 2^53 is not counted as missing');
  const metrics = await (await fetch(`http://127.0.0.1:${agg.httpPort}/metrics`)).text();
  t.match(metrics, /\ncustoms_agg_gap_missing 6\n/, 'the gap gauge shows the real gap only');
});
