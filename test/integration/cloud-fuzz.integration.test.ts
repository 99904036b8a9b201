// Fuzzing a running aggregator: random, truncated, bit-flipped, oversized payloads and wrong topics.
import t from 'tap';
import { rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import { connectAsync } from 'mqtt';
import { pino } from 'pino';
import { Aggregator } from '../../cloud/aggregator.js';
import { parseAggregatorConfig } from '../../cloud/config.js';
import { decode, type Kind, type RejectReason } from '../../protocol/index.js';
import { influxScalar, startInflux, startMosquitto, tempDir } from '../harness/services.js';
import { DATA_KINDS, makeMessage, wire } from '../helpers/messages.js';
import { until } from '../helpers/wait.js';

/** Small seeded PRNG (mulberry32) so a failing case can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

t.test('fuzz: bad payloads are counted, dead-lettered, and the aggregator keeps working', async (t) => {
  const mosq = await startMosquitto();
  t.teardown(() => mosq.close());
  const influx = await startInflux();
  t.teardown(() => influx.close());
  const dir = tempDir('agg-fuzz');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const DB = 'fuzz';

  const logLines: string[] = [];
  const log = pino(
    { level: 'warn' },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        logLines.push(...chunk.toString().split('\n').filter(Boolean));
        cb();
      },
    }),
  );
  const agg = new Aggregator({
    log,
    config: parseAggregatorConfig('test', {
      id: 'agg-fuzz',
      mqtt: { url: `mqtt://127.0.0.1:${mosq.port}` },
      influx: { url: influx.url, database: DB, batchSize: 1000, flushInterval_ms: 50 },
      spool: { dir },
    }),
  });
  await agg.start();
  t.teardown(() => agg.stop());

  const dlq = await connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { protocolVersion: 5, clientId: 'fuzz-dlq' });
  t.teardown(() => dlq.endAsync());
  const dead: Record<string, number> = {};
  let sample: { topic?: unknown; error?: unknown; size: number; reason: string } | undefined;
  let oversizedMax = 0;
  dlq.on('message', (topic, payload, packet) => {
    const reason = topic.split('/').pop()!;
    dead[reason] = (dead[reason] ?? 0) + 1;
    const up = packet.properties?.userProperties ?? {};
    if (reason === 'schema' && !sample) sample = { topic: up.topic, error: up.error, size: payload.length, reason };
    if (reason === 'oversized') oversizedMax = Math.max(oversizedMax, payload.length);
  });
  await dlq.subscribeAsync('customs-dlq/v1/agg-fuzz/#', { qos: 1 });

  const pub = await connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { protocolVersion: 5, clientId: 'fuzz-pub' });
  t.teardown(() => pub.endAsync());

  const rand = rng(20240611);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const cases: { topic: string; payload: Buffer }[] = [];
  let seq = 0;
  const valid = () => {
    const kind = pick(DATA_KINDS);
    return wire(kind, makeMessage(kind, { node: 'fz', seq: seq++ }));
  };
  for (let i = 0; i < 3000; i++) {
    const v = valid();
    const k = i % 10;
    if (k === 0) {
      const n = Math.floor(rand() * 400);
      cases.push({ topic: v.topic, payload: Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256))) });
    } else if (k === 1 || k === 2) {
      cases.push({ topic: v.topic, payload: v.payload.subarray(0, Math.floor(rand() * v.payload.length)) });
    } else if (k === 3 || k === 4 || k === 5) {
      const p = Buffer.from(v.payload);
      for (let f = 1 + Math.floor(rand() * 3); f > 0; f--) {
        const at = Math.floor(rand() * p.length);
        p[at]! ^= 1 << Math.floor(rand() * 8);
      }
      cases.push({ topic: v.topic, payload: p });
    } else if (k === 6) {
      // JSON that parses but breaks the schema in one field.
      const m = JSON.parse(v.payload.toString()) as Record<string, unknown>;
      const field = pick(['seq', 'ts', 'boot', 'v', 'extra', 'tsTrusted']);
      m[field] = field === 'extra' ? 1 : pick([-1, 'x', null, 1.5, {}]);
      cases.push({ topic: v.topic, payload: Buffer.from(JSON.stringify(m)) });
    } else if (k === 7) {
      const big = Buffer.alloc(65 * 1024 + Math.floor(rand() * 200 * 1024), 0x20);
      v.payload.copy(big);
      cases.push({ topic: v.topic, payload: big });
    } else if (k === 8) {
      const parts = v.topic.split('/');
      const bad = pick([
        () => [...parts.slice(0, 4), 'nonsense'].join('/'),
        () => [parts[0], parts[1], 'Bad Site', parts[3], parts[4]].join('/'),
        () => [parts[0], parts[1], parts[2], 'other-node', parts[4]].join('/'),
        () => [parts[0], 'v9', parts[2], parts[3], parts[4]].join('/'),
      ])();
      cases.push({ topic: bad, payload: v.payload });
    } else {
      cases.push({ topic: v.topic, payload: Buffer.from(`${'['.repeat(20_000)}${']'.repeat(20_000)}`) });
    }
  }
  // The oracle: what decode() says of each case, plus the payload limit the aggregator applies first.
  const expected: Record<RejectReason | 'valid', number> = { oversized: 0, not_json: 0, schema: 0, unknown_topic: 0, mismatch: 0, cardinality: 0, valid: 0 };
  let reaching = 0;
  for (const c of cases) {
    // Topics the subscription does not match (v9) never reach the aggregator.
    if (!c.topic.startsWith('customs/v1/')) continue;
    reaching++;
    const d = decode(c.topic, c.payload);
    expected[d.ok ? 'valid' : d.reason]++;
  }
  for (const reason of ['oversized', 'not_json', 'schema', 'unknown_topic', 'mismatch'] as const) {
    t.ok(expected[reason] > 50, `the corpus has ${expected[reason]} cases of ${reason}`);
  }

  for (let i = 0; i < cases.length; i += 200) {
    await Promise.all(cases.slice(i, i + 200).map((c) => pub.publishAsync(c.topic, c.payload, { qos: 1 })));
  }
  await until('every case handled', () => {
    const s = agg.stats();
    return s.received >= reaching;
  });
  const st = agg.stats();
  t.equal(st.received, reaching, 'every message on a data topic received');
  t.same(
    st.rejected,
    { oversized: expected.oversized, not_json: expected.not_json, schema: expected.schema, unknown_topic: expected.unknown_topic, mismatch: expected.mismatch, cardinality: 0 },
    'rejections counted by reason',
  );
  t.equal(st.accepted + st.duplicates, expected.valid, 'bit flips that stayed valid were accepted (or were duplicates)');
  await until('dead letters arrive', () => Object.values(dead).reduce((a, b) => a + b, 0) >= reaching - expected.valid);
  for (const reason of ['oversized', 'not_json', 'schema', 'unknown_topic', 'mismatch'] as const) {
    t.equal(dead[reason] ?? 0, expected[reason], `${reason}: every one dead-lettered`);
  }
  await until('dead letters acknowledged', () => agg.stats().deadLettered === reaching - expected.valid);
  t.equal(agg.stats().deadLettered, reaching - expected.valid, 'the broker acknowledged every dead letter');
  t.ok(sample && typeof sample.topic === 'string' && String(sample.topic).startsWith('customs/v1/'), 'dead letter names the original topic');
  t.ok(sample && typeof sample.error === 'string' && /: /.test(String(sample.error)), `dead letter names the error: ${String(sample?.error)}`);
  t.equal(oversizedMax, 64 * 1024, 'oversized payloads are dead-lettered truncated to 64 KiB');
  const rejectLogs = logLines.filter((l) => l.includes('message rejected')).length;
  t.ok(rejectLogs > 0 && rejectLogs <= 10, `reject logging is rate-limited (${rejectLogs} lines for ${reaching - expected.valid} rejects)`);

  // Valid messages sent afterwards still land, including one whose string field holds a NUL.
  const after: { kind: Kind; seq: number }[] = [];
  for (let i = 0; i < 300; i++) {
    const kind = DATA_KINDS[i % DATA_KINDS.length]!;
    const s = 100_000 + i;
    const w = wire(kind, makeMessage(kind, { node: 'ok1', seq: s }));
    await pub.publishAsync(w.topic, w.payload, { qos: 1 });
    after.push({ kind, seq: s });
  }
  const nul = wire('ack', makeMessage('ack', { node: 'ok2', seq: 1 }, { reason: 'bad\u0000byte' }));
  await pub.publishAsync(nul.topic, nul.payload, { qos: 1 });
  await until('valid ones accepted', () => agg.stats().received >= reaching + 301);
  await agg.flush();
  let landed = 0;
  for (const m of ['rad', 'alarm', 'source', 'xray', 'camera_event', 'cmd_ack']) {
    landed += await influxScalar(influx.url, DB, `SELECT count(seq) FROM ${m} WHERE node='ok1'`);
  }
  t.equal(landed, 300, 'all 300 valid messages after the fuzzing are in InfluxDB');
  t.equal(await influxScalar(influx.url, DB, `SELECT count(seq) FROM cmd_ack WHERE node='ok2'`), 1, 'a NUL in a string field is stored, not mistaken for a torn spool line');
  t.ok(agg.stats().mqttConnected, 'still connected');
});
