// The drainer's retry rate during an InfluxDB outage under a steady message load: bounded by its backoff, not by the
// message rate; everything lands exactly once after the recovery.
import t from 'tap';
import { rmSync } from 'node:fs';
import { connectAsync } from 'mqtt';
import { Aggregator } from '../../cloud/aggregator.js';
import { parseAggregatorConfig } from '../../cloud/config.js';
import { influxQuery, startInflux, startMosquitto, tempDir } from '../harness/services.js';
import { makeMessage, wire } from '../helpers/messages.js';
import { until } from '../helpers/wait.js';

const DB = 'outage_rate';
const OUTAGE_MS = 10_000;
const RATE = 300; // messages per second

t.test('a 10 s InfluxDB outage at 300 msg/s: a handful of write attempts, then every record once', async (t) => {
  const mosq = await startMosquitto();
  t.teardown(() => mosq.close());
  const influx = await startInflux();
  t.teardown(() => influx.close());
  const dir = tempDir('agg-rate');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const agg = new Aggregator({
    config: parseAggregatorConfig('test', {
      id: 'agg-rate',
      mqtt: { url: `mqtt://127.0.0.1:${mosq.port}`, group: 'rate' },
      influx: { url: influx.url, database: DB, batchSize: 500, flushInterval_ms: 50, timeout_ms: 2000 },
      spool: { dir },
    }),
  });
  await agg.start();
  t.teardown(() => agg.stop());
  const pub = await connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { protocolVersion: 5, clientId: 'rate-pub' });
  t.teardown(() => pub.endAsync());

  let seq = 0;
  const sendSome = async (n: number) => {
    const ps: Promise<unknown>[] = [];
    for (let i = 0; i < n; i++, seq++) {
      for (const node of ['r1', 'r2']) {
        if ((seq + (node === 'r1' ? 0 : 1)) % 2) continue; // the two nodes share the rate
        const w = wire('rad', makeMessage('rad', { node, seq }));
        ps.push(pub.publishAsync(w.topic, w.payload, { qos: 1 }));
      }
    }
    await Promise.all(ps);
  };
  await sendSome(200);
  await until('warm-up written', () => agg.stats().pointsWritten >= 200);

  await influx.stop();
  const errorsAtStop = agg.stats().writeErrors;
  const samples: { at: number; errors: number }[] = [];
  const t0 = Date.now();
  let sent = 0;
  while (Date.now() - t0 < OUTAGE_MS) {
    const due = Math.floor(((Date.now() - t0) / 1000) * RATE);
    if (due > sent) {
      await sendSome(due - sent);
      sent = due;
    }
    samples.push({ at: Date.now() - t0, errors: agg.stats().writeErrors - errorsAtStop });
    await new Promise((r) => setTimeout(r, 20));
  }
  const elapsed = (Date.now() - t0) / 1000;
  const attempts = agg.stats().writeErrors - errorsAtStop;
  const lateAttempts = attempts - (samples.find((s) => s.at >= OUTAGE_MS / 2)?.errors ?? 0);
  t.ok(sent / elapsed > RATE * 0.8, `load held: ${sent} messages in ${elapsed.toFixed(1)} s (${(sent / elapsed).toFixed(0)}/s)`);
  t.notOk(agg.stats().influxUp, 'the outage was noticed');
  // Backoff 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, then every 5 s: 8 attempts in 10 s at most, whatever the message rate.
  t.ok(attempts >= 3 && attempts <= 9, `${attempts} write attempts in ${elapsed.toFixed(1)} s (${(attempts / elapsed).toFixed(2)}/s)`);
  t.ok(lateAttempts <= 2, `${lateAttempts} in the second half: at most one per 5 s backoff`);

  await influx.start();
  await agg.flush();
  const res = await influxQuery(influx.url, DB, 'SELECT count(seq), count(distinct(seq)) FROM rad GROUP BY node');
  let count = 0;
  let distinct = 0;
  for (const s of res.results[0]?.series ?? []) {
    count += s.values[0]![1] as number;
    distinct += s.values[0]![2] as number;
  }
  t.equal(count, 200 + sent, 'every message written after the recovery');
  t.equal(distinct, count, 'none twice');
  t.equal(agg.stats().spoolBytes, 0, 'spool drained');
});
