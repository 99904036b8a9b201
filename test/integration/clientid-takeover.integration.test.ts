// Client-id takeover on the provisioned TLS listener (issue 12 item 4): a node's own valid certificate must not let it
// take another node's or an aggregator's client id; the edge link and an aggregator group still work on that listener.
import t from 'tap';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { Aggregator } from '../../cloud/aggregator.js';
import { parseAggregatorConfig } from '../../cloud/config.js';
import { MqttLink } from '../../edge/runtime/link.js';
import { Outbox } from '../../edge/runtime/outbox.js';
import { aggregatorAclTopics, cloudAckTopic, dataFilter, dataTopic } from '../../protocol/index.js';
import { startMosquitto, tempDir, type Service } from '../harness/services.js';
import { makeMessage, wire } from '../helpers/messages.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { until } from '../helpers/wait.js';

const SITE = 'port-9';
const GROUP = 'customs';
/** Service names as `customs-cloud provision-aggregator <id>` makes them: also each aggregator's default client id. */
const AGG1 = 'customs-agg-agg-1';
const AGG2 = 'customs-agg-agg-2';
const B_STATUS = dataTopic(SITE, 'node-b', 'status');
const OFFLINE = '{"online":false}';

type Tls = Pick<IClientOptions, 'ca' | 'cert' | 'key'>;

interface Conn {
  client: MqttClient;
  sessionPresent: boolean;
  closed: () => boolean;
  got: { topic: string; payload: string }[];
}

/** One connection attempt without reconnects; records what it receives and whether the broker closed it. */
async function connect(port: number, clientId: string, tls: Tls, extra: IClientOptions = {}): Promise<Conn> {
  const client = mqtt.connect(`mqtts://127.0.0.1:${port}`, { ...tls, clientId, protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, ...extra });
  let closed = false;
  const got: { topic: string; payload: string }[] = [];
  client.on('close', () => (closed = true));
  client.on('error', () => undefined);
  client.on('message', (topic, payload) => got.push({ topic, payload: payload.toString() }));
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('close', () => reject(new Error(`${clientId}: closed before CONNACK`)));
  });
  return { client, sessionPresent: connack.sessionPresent, closed: () => closed, got };
}

/** Publishes at QoS 1 and says whether the broker acknowledged it or closed the connection first. */
function publishOrClose(c: Conn, topic: string, payload: string): Promise<'acked' | 'closed'> {
  if (c.closed()) return Promise.resolve('closed');
  return new Promise((resolve) => {
    c.client.once('close', () => resolve('closed'));
    c.client.publish(topic, payload, { qos: 1 }, (err) => {
      if (!err) resolve('acked');
    });
  });
}

interface Probe {
  /** Node B's connection was closed by the impostor's CONNECT. */
  bKicked: boolean;
  /** B's Last Will ("offline") reached an observer. */
  willPublished: boolean;
  /** The genuine node-a connection was closed (the impostor's client id became node-a). */
  aKicked: boolean;
  /** CONNACK session-present of node A's certificate connecting with the aggregator's client id. */
  impostorSessionPresent: boolean;
  /** Messages queued for the offline aggregator that the impostor received. */
  impostorGot: number;
  /** Of those queued messages, how many the genuine aggregator received when it came back. */
  aggGot: number;
  aggSessionPresent: boolean;
}

const QUEUED = 5;

/**
 * The attack of issue 12 item 4 against a broker started with `listener`: node A, with its own valid certificate,
 * connects as client id node-b and then as the aggregator's client id, while the aggregator is away with messages
 * queued in its persistent $share session.
 */
async function probe(t: { teardown(fn: () => unknown): void }, pki: TestPki, listener: string): Promise<Probe> {
  const broker: Service = await startMosquitto({ listenerConfig: listener });
  t.teardown(() => broker.close());
  const port = broker.port;
  const closeLater = (c: Conn) => t.teardown(() => c.client.end(true));

  const observer = await connect(port, AGG2, pki.tls(AGG2));
  closeLater(observer);
  await observer.client.subscribeAsync(B_STATUS, { qos: 1 });

  // The aggregator's persistent shared session, then away (a normal DISCONNECT keeps the session).
  const agg = await connect(port, AGG1, pki.tls(AGG1), { clean: false, properties: { sessionExpiryInterval: 3600 } });
  await agg.client.subscribeAsync(dataFilter(GROUP), { qos: 1 });
  await agg.client.endAsync();

  const nodeA = await connect(port, 'node-a', pki.tls('node-a'));
  closeLater(nodeA);
  const nodeB = await connect(port, 'node-b', pki.tls('node-b'), { will: { topic: B_STATUS, payload: Buffer.from(OFFLINE), qos: 1, retain: false } });
  closeLater(nodeB);
  for (let seq = 0; seq < QUEUED; seq++) {
    const w = wire('rad', makeMessage('rad', { node: 'node-b', site: SITE, seq }));
    await nodeB.client.publishAsync(w.topic, w.payload, { qos: 1 });
  }

  // Node A's certificate, node B's client id.
  const asB = await connect(port, 'node-b', pki.tls('node-a'));
  closeLater(asB);
  // The broker settles a takeover before it sends the CONNACK, so B's next publish shows whether B is still there.
  const bResult = await publishOrClose(nodeB, B_STATUS, '{"online":true,"marker":true}');
  if (bResult === 'acked') await until('the marker reached the observer', () => observer.got.some((m) => m.payload.includes('marker')), 5000);
  else await until("B's Last Will reached the observer", () => observer.got.some((m) => m.payload === OFFLINE), 5000);

  // Node A's certificate, the aggregator's client id, asking to resume its session.
  const asAgg = await connect(port, AGG1, pki.tls('node-a'), { clean: false, properties: { sessionExpiryInterval: 3600 } });
  // A round trip: the broker works through a resumed session's queue before it reads the next packet. (Node A's
  // read ACL does not cover node B's topics, so Mosquitto drops those messages at delivery instead of sending them:
  // either way they leave the aggregator's queue.)
  await asAgg.client.publishAsync(dataTopic(SITE, 'node-a', 'event'), 'barrier', { qos: 1 });
  const impostorGot = asAgg.got.filter((m) => m.topic.endsWith('/rad')).length;
  await asAgg.client.endAsync();

  // The genuine aggregator comes back with its own certificate.
  const back = await connect(port, AGG1, pki.tls(AGG1), { clean: false, properties: { sessionExpiryInterval: 3600 } });
  closeLater(back);
  if (back.sessionPresent) {
    // Its session's subscription delivers what is left; a marker published after tells when that is all.
    const marker = wire('rad', makeMessage('rad', { node: 'node-a', site: SITE, seq: 999 }));
    const a2 = await connect(port, 'node-a', pki.tls('node-a'));
    closeLater(a2);
    await a2.client.publishAsync(marker.topic, marker.payload, { qos: 1 });
    await until('the marker reached the aggregator', () => back.got.some((m) => m.topic === marker.topic), 5000);
  }
  const aggGot = back.got.filter((m) => m.topic === dataTopic(SITE, 'node-b', 'rad')).length;
  return {
    bKicked: bResult === 'closed',
    willPublished: observer.got.some((m) => m.payload === OFFLINE),
    aKicked: nodeA.closed(),
    impostorSessionPresent: asAgg.sessionPresent,
    impostorGot,
    aggGot,
    aggSessionPresent: back.sessionPresent,
  };
}

t.test('client ids on the provisioned TLS listener', async (t) => {
  const pki = await makeTestPki({
    site: SITE,
    nodes: ['node-a', 'node-b'],
    services: [
      { name: AGG1, ...aggregatorAclTopics('agg-1', GROUP) },
      { name: AGG2, ...aggregatorAclTopics('agg-2', GROUP) },
    ],
  });
  t.teardown(() => pki.close());
  t.match(pki.listenerConfig, /^use_username_as_clientid true$/m, 'the provisioned listener binds the client id to the certificate');

  await t.test('the fault: without use_username_as_clientid a node takes any client id', async (t) => {
    const old = pki.listenerConfig.replace(/^use_username_as_clientid true\n/m, '');
    t.notMatch(old, /use_username_as_clientid/);
    const p = await probe(t, pki, old);
    t.ok(p.bKicked, 'node A as "node-b" disconnected node B');
    t.ok(p.willPublished, "and B's Last Will (offline) was published");
    t.ok(p.impostorSessionPresent, "node A resumed the aggregator's persistent session (sessionPresent)");
    t.ok(p.aggSessionPresent, 'the aggregator comes back to a session ...');
    t.equal(p.aggGot, 0, `... from which the impostor took all ${QUEUED} queued messages: they never reach the aggregator`);
  });

  await t.test('the provisioned listener: the client id is the certificate CN', async (t) => {
    const p = await probe(t, pki, pki.listenerConfig);
    t.notOk(p.bKicked, 'node B stays connected (its publish after the impostor CONNACK was acknowledged)');
    t.notOk(p.willPublished, 'no Last Will "offline" for node B');
    t.ok(p.aKicked, 'the impostor connection got client id node-a (its own CN): it replaced only its own session');
    t.notOk(p.impostorSessionPresent, "no aggregator session for node A's certificate");
    t.equal(p.impostorGot, 0, 'the impostor received none of the queued messages');
    t.ok(p.aggSessionPresent, 'the aggregator resumes its own persistent session');
    t.equal(p.aggGot, QUEUED, 'and gets every message queued there');
  });

  await t.test('the edge link and two aggregators of one group work on the provisioned listener', async (t) => {
    const broker = await startMosquitto({ listenerConfig: pki.listenerConfig });
    t.teardown(() => broker.close());
    const dir = tempDir('clientid-e2e');
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const files = (name: string) => pki.services[name] ?? pki.nodes[name]!;
    const logs: string[] = [];
    const log = pino({ level: 'info' }, new Writable({
        write(chunk: Buffer, _e, cb) {
          logs.push(chunk.toString());
          cb();
        },
      }));
    const aggConfig = (id: string, name: string, clientId?: string) =>
      parseAggregatorConfig('test', {
        id,
        mqtt: { url: `mqtts://127.0.0.1:${broker.port}`, group: GROUP, ca: files(name).caFile, cert: files(name).certFile, key: files(name).keyFile, ...(clientId ? { clientId } : {}) },
        lineFile: join(dir, `${id}.lp`),
        spool: { dir: join(dir, `spool-${id}`) },
        cloudAck_ms: 50,
      });

    // A member whose client id is not its certificate's CN (e.g. two members sharing one certificate) is refused.
    const shared = new Aggregator({ config: aggConfig('agg-3', AGG1), log });
    await t.rejects(shared.start(), { code: 'E_CONFIG', message: /mqtt\.clientId "customs-agg-agg-3" is not the CN "customs-agg-agg-1"/ });

    const aggs = [new Aggregator({ config: aggConfig('agg-1', AGG1), log }), new Aggregator({ config: aggConfig('agg-2', AGG2), log })];
    for (const a of aggs) {
      await a.start();
      t.teardown(() => a.stop());
    }

    const outbox = await Outbox.open({ dir: join(dir, 'outbox'), maxBytes: 1 << 24, segmentBytes: 1 << 16, fsync: 'never' });
    const nb = files('node-b');
    const link = new MqttLink({
      url: `mqtts://127.0.0.1:${broker.port}`,
      clientId: 'node-b',
      ca: nb.caFile,
      cert: nb.certFile,
      key: nb.keyFile,
      keepalive_s: 5,
      reconnect_ms: 100,
      reconnectMax_ms: 500,
      statusTopic: B_STATUS,
      inflight: 16,
      backlogRate_per_s: 1000,
      // Long: a summary must arrive through the sessions, not through a resend.
      cloudAck: { topic: cloudAckTopic(SITE, 'node-b'), timeout_ms: 120_000 },
      outbox,
      makeStatus: (online) => Buffer.from(JSON.stringify(makeMessage('status', { node: 'node-b', site: SITE, seq: 0 }, { online }))),
    });
    t.teardown(async () => {
      await link.stop();
      await outbox.close();
    });
    link.start();
    await until('the link connected', () => link.stats().connected, 10_000);
    let seq = 1;
    const send = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const m = makeMessage('rad', { node: 'node-b', site: SITE, seq: seq++ });
        link.enqueue((await outbox.append(dataTopic(SITE, 'node-b', 'rad'), 'routine', Buffer.from(JSON.stringify(m)), `${m.boot}:${m.seq}`))!);
      }
    };
    await send(20);
    await until('every summary confirmed by the cloud', () => outbox.stats().depth === 0, 15_000);
    const shares = aggs.map((a) => a.stats().accepted);
    t.ok(shares.every((n) => n > 0), `both members took a share (${shares.join(' + ')}) and stayed connected`);
    t.ok(aggs.every((a) => a.stats().mqttConnected), 'neither member displaced the other');

    // agg-1 goes away; its share queues in its session and is delivered when it comes back with its own identity.
    await aggs[0]!.stop();
    await send(20);
    await until('the broker took all 20, agg-2 confirmed its share', () => outbox.stats().depth === link.stats().unconfirmed && link.stats().unconfirmed < 20, 10_000);
    t.ok(outbox.stats().depth > 0, `agg-1's share (${outbox.stats().depth}) waits in its session, unconfirmed`);
    const again = new Aggregator({ config: aggConfig('agg-1', AGG1), log });
    await again.start();
    t.teardown(() => again.stop());
    await until('every summary confirmed after agg-1 came back', () => outbox.stats().depth === 0, 15_000);
    t.equal(link.stats().unconfirmedResent, 0, 'nothing had to be sent again: the queued share came through the resumed session');
    const connects = logs.filter((l) => l.includes('connected to broker')).map((l) => (JSON.parse(l) as { sessionPresent: boolean }).sessionPresent);
    t.same(connects, [false, false, true], 'first connects start sessions, the restarted member resumes its own');
    await Promise.all([aggs[1]!.flush(), again.flush()]);
    const lines = ['agg-1', 'agg-2']
      .flatMap((id) => readFileSync(join(dir, `${id}.lp`), 'utf8').split('\n'))
      .filter((l) => l.startsWith('rad,'));
    // A restarted aggregator replays its last spool segment (spool.ts); the line file then holds those lines twice,
    // byte for byte, which InfluxDB would keep as one point each.
    const seqs = new Set(lines.map((l) => /\bseq=(\d+)i/.exec(l)?.[1]));
    t.same([...seqs].map(Number).sort((a, b) => a - b), Array.from({ length: 40 }, (_, i) => i + 1), 'all 40 summaries written');
  });
});
