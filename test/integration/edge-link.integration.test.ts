// The MQTT link against a real Mosquitto: drains the outbox, survives a broker restart, live first, bounded backlog.
import t from 'tap';
import mqtt from 'mqtt';
import { Outbox } from '../../edge/runtime/outbox.js';
import { MqttLink, markHistorical } from '../../edge/runtime/link.js';
import { startMosquitto, tempDir } from '../harness/services.js';
import { until } from '../helpers/wait.js';

const TOPIC = 'customs/v1/site-a/veh-01/rad';
const STATUS = 'customs/v1/site-a/veh-01/status';

interface Seen {
  seq: number;
  hist: boolean;
  at: number;
}

async function subscriber(port: number, id: string) {
  const seen: Seen[] = [];
  const statuses: { online: boolean; retain: boolean }[] = [];
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    clientId: id,
    protocolVersion: 5,
    clean: false,
    properties: { sessionExpiryInterval: 3600 },
    reconnectPeriod: 200,
  });
  await c.subscribeAsync(['customs/v1/+/+/+'], { qos: 1 });
  c.on('message', (topic, payload, packet) => {
    const m = JSON.parse(payload.toString()) as { seq: number; hist?: boolean; online?: boolean };
    if (topic === STATUS) statuses.push({ online: !!m.online, retain: packet.retain });
    else seen.push({ seq: m.seq, hist: m.hist === true, at: performance.now() });
  });
  return { c, seen, statuses };
}

function link(port: number, outbox: Outbox, extra: Partial<ConstructorParameters<typeof MqttLink>[0]> = {}) {
  return new MqttLink({
    url: `mqtt://127.0.0.1:${port}`,
    clientId: 'veh-01',
    keepalive_s: 5,
    reconnect_ms: 100,
    reconnectMax_ms: 500,
    statusTopic: STATUS,
    inflight: 64,
    backlogRate_per_s: 2000,
    outbox,
    makeStatus: (online) => Buffer.from(JSON.stringify({ online })),
    ...extra,
  });
}

t.test('markHistorical adds the flag without re-serialising', async (t) => {
  t.equal(markHistorical(Buffer.from('{"v":1,"seq":3}')).toString(), '{"hist":true,"v":1,"seq":3}');
  t.equal(markHistorical(Buffer.from('{"hist":true,"v":1}')).toString(), '{"hist":true,"v":1}');
  t.same(JSON.parse(markHistorical(Buffer.from('{"a":1}')).toString()), { hist: true, a: 1 });
});

t.test('broker stopped mid-stream and restarted: every message arrives, the outbox empties', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.close());
  const sub = await subscriber(broker.port, 'sub-1');
  t.teardown(() => sub.c.end(true));
  const outbox = await Outbox.open({ dir: tempDir('link'), maxBytes: 1 << 26, segmentBytes: 1 << 16, fsync: 'always' });
  const l = link(broker.port, outbox);
  l.start();
  const N = 3000;
  let seq = 0;
  const produce = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const s = seq++;
      const e = await outbox.append(TOPIC, 'routine', Buffer.from(JSON.stringify({ seq: s })));
      l.enqueue(e!);
      if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
  };
  await produce(1000);
  await broker.stop();
  await produce(1000); // produced while the broker is down
  await new Promise((r) => setTimeout(r, 300));
  await broker.start();
  await produce(1000);
  await until('all messages', () => new Set(sub.seen.map((s) => s.seq)).size === N, 30_000);
  await until('outbox to drain', () => outbox.stats().depth === 0, 10_000);
  const distinct = new Set(sub.seen.map((s) => s.seq));
  t.equal(distinct.size, N, 'every message arrived');
  t.ok(sub.seen.some((s) => s.hist), 'messages sent after the outage are flagged historical');
  t.ok(l.stats().connects >= 2, 'reconnected');
  t.equal(outbox.stats().depth, 0, 'outbox empty after acknowledgements');
  await l.stop();
  await outbox.close();
  await until('offline status', () => sub.statuses.some((s) => !s.online), 5000);
  t.ok(sub.statuses.some((s) => s.online), 'online status published');
});

t.test('after an outage live data goes first and the backlog drains at the configured rate', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.close());
  // The subscriber's persistent session outlives the broker restart, so nothing depends on who reconnects first.
  const sub = await subscriber(broker.port, 'sub-2');
  t.teardown(() => sub.c.end(true));
  await broker.stop();
  const outbox = await Outbox.open({ dir: tempDir('link'), maxBytes: 1 << 26, segmentBytes: 1 << 20, fsync: 'never' });
  const rate = 400;
  const l = link(broker.port, outbox, { backlogRate_per_s: rate });
  t.teardown(async () => {
    await l.stop();
    await outbox.close();
  });
  l.start();
  for (let s = 0; s < 800; s++) l.enqueue((await outbox.append(TOPIC, 'routine', Buffer.from(JSON.stringify({ seq: s }))))!);
  await broker.start();
  await until('link to connect', () => l.stats().connected, 10_000);
  const t0 = performance.now();
  // Live messages while the backlog drains.
  for (let s = 10_000; s < 10_050; s++) {
    l.enqueue((await outbox.append(TOPIC, 'routine', Buffer.from(JSON.stringify({ seq: s }))))!);
    await new Promise((r) => setTimeout(r, 10));
  }
  await until('backlog to drain', () => sub.seen.filter((x) => x.seq < 10_000).length >= 800, 20_000);
  const backlog = sub.seen.filter((x) => x.seq < 10_000);
  const live = sub.seen.filter((x) => x.seq >= 10_000);
  const drain_s = (Math.max(...backlog.map((x) => x.at)) - t0) / 1000;
  t.ok(drain_s >= (800 / rate) * 0.8, `backlog took ${drain_s.toFixed(2)} s at ${rate}/s (>= ${(800 / rate) * 0.8} s)`);
  t.ok(backlog.every((x) => x.hist), 'backlog flagged historical');
  t.ok(live.every((x) => !x.hist), 'live not flagged');
  t.equal(live.length, 50, 'all live arrived');
  const lastLive = Math.max(...live.map((x) => x.at));
  t.ok(lastLive < Math.max(...backlog.map((x) => x.at)), 'live data did not wait for the backlog');
  t.same(backlog.map((x) => x.seq), [...backlog.map((x) => x.seq)].sort((a, b) => a - b), 'backlog in journal order');
});

t.test('Last Will marks the node offline when the link dies without a goodbye', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.close());
  const sub = await subscriber(broker.port, 'sub-3');
  t.teardown(() => sub.c.end(true));
  const outbox = await Outbox.open({ dir: tempDir('link'), maxBytes: 1 << 20, segmentBytes: 1 << 16, fsync: 'never' });
  const l = link(broker.port, outbox, { keepalive_s: 5 });
  l.start();
  await until('online', () => sub.statuses.some((s) => s.online), 5000);
  // Kill the socket under the client: the broker sees a dead connection and publishes the will.
  const client = (l as unknown as { client: { stream: { destroy(): void } } }).client;
  client.stream.destroy();
  await until('will', () => sub.statuses.some((s) => !s.online), 10_000);
  t.pass('offline status from the Last Will');
  await until('back online after reconnect', () => sub.statuses.filter((s) => s.online).length >= 2, 10_000);
  t.pass('online again after reconnect');
  await l.stop();
  await outbox.close();
});

t.test('with cloud confirmation on, a summary the cloud never confirmed is sent again; confirmed ones are forgotten', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.close());
  const ACK = 'customs-ack/v1/site-a/veh-01';
  // A stand-in aggregator that confirms only even seqs at first, then everything it receives.
  const agg = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 5, clientId: 'fake-agg' });
  t.teardown(() => agg.end(true));
  await agg.subscribeAsync(TOPIC, { qos: 1 });
  let confirmAll = false;
  const received: { seq: number; hist: boolean }[] = [];
  agg.on('message', (_topic, payload) => {
    const m = JSON.parse(payload.toString()) as { seq: number; hist?: boolean };
    received.push({ seq: m.seq, hist: m.hist === true });
    if (confirmAll || m.seq % 2 === 0) agg.publish(ACK, JSON.stringify({ v: 1, boot: '0123abcd', r: [[m.seq, m.seq]] }), { qos: 0 });
  });
  const outbox = await Outbox.open({ dir: tempDir('link'), maxBytes: 1 << 24, segmentBytes: 1 << 16, fsync: 'never' });
  const l = link(broker.port, outbox, { cloudAck: { topic: ACK, timeout_ms: 600 } });
  t.teardown(async () => {
    await l.stop();
    await outbox.close();
  });
  l.start();
  await until('connect', () => l.stats().connected, 5000);
  await new Promise((r) => setTimeout(r, 200)); // the ack subscription
  for (let s = 0; s < 40; s++) {
    l.enqueue((await outbox.append(TOPIC, 'routine', Buffer.from(JSON.stringify({ seq: s })), `0123abcd:${s}`))!);
  }
  await until('even seqs confirmed', () => l.stats().cloudAcked >= 20, 5000);
  t.equal(outbox.stats().depth, 20, 'the 20 unconfirmed summaries stay in the journal although the broker has them');
  t.equal(l.stats().unconfirmed, 20);
  confirmAll = true;
  await until('all confirmed after the resend', () => outbox.stats().depth === 0, 10_000);
  const resent = received.filter((r) => r.hist).map((r) => r.seq);
  t.same([...new Set(resent)].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => 2 * i + 1), 'exactly the odd seqs were sent again, flagged historical');
  t.ok(l.stats().unconfirmedResent >= 20);
  // A malformed confirmation is ignored, the link keeps working.
  agg.publish(ACK, '{"v":1,"boot":"zz","r":"nope"}', { qos: 0 });
  l.enqueue((await outbox.append(TOPIC, 'routine', Buffer.from(JSON.stringify({ seq: 100 })), '0123abcd:100'))!);
  await until('next summary confirmed', () => outbox.stats().depth === 0, 5000);
  t.pass('still confirmed after a malformed acknowledgement');
});
