// Device identity against a real Mosquitto TLS listener: certificates from cloud/provision.ts, CN as username, per-node ACLs.
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { chmodSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { aggregatorAclTopics, dlqTopic, peerSeenTopic } from '../../protocol/index.js';
import { ProvisionError, aclEntryFor, initCa, issueServerCert, provisionNode, provisionService } from '../../cloud/provision.js';
import { ID_PATTERN, cmdTopic, dataFilter, dataTopic } from '../../protocol/topics.js';
import { startMosquitto, tempDir } from '../harness/services.js';
import { makeTestPki } from '../helpers/pki.js';

const SITE = 'port-1';
const AGG = 'agg-1';

type Attempt = { ok: true; client: MqttClient } | { ok: false; error: string };

/** Connects once (no retries); a refused TLS handshake or a closed socket before CONNACK is a failed attempt. */
function tryConnect(port: number, clientId: string, tls: Partial<Pick<IClientOptions, 'ca' | 'cert' | 'key'>>): Promise<Attempt> {
  return new Promise((resolve) => {
    const client = mqtt.connect(`mqtts://127.0.0.1:${port}`, { ...tls, clientId, protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000 });
    let lastError = '';
    const done = (a: Attempt) => {
      client.removeAllListeners('connect');
      client.removeAllListeners('error');
      client.removeAllListeners('close');
      if (!a.ok) {
        // The socket may still report its teardown; nobody is listening for that any more.
        client.on('error', () => undefined);
        client.end(true);
      }
      resolve(a);
    };
    client.once('connect', () => done({ ok: true, client }));
    client.on('error', (e) => {
      lastError = e.message;
    });
    // In TLS 1.3 the client finishes its side of the handshake before the server checks the client certificate, so
    // the refusal can arrive as an alert (error) or as a plain close; either way there was no CONNACK.
    client.once('close', () => done({ ok: false, error: lastError || 'closed before CONNACK' }));
  });
}

async function connectOk(t: { teardown(fn: () => unknown): void }, port: number, clientId: string, tls: Partial<Pick<IClientOptions, 'ca' | 'cert' | 'key'>>): Promise<MqttClient> {
  const a = await tryConnect(port, clientId, tls);
  if (!a.ok) throw new Error(`${clientId} could not connect: ${a.error}`);
  // Not awaited: a connection the broker closed because a later one took its client id (its CN) never reports
  // the end of an end().
  t.teardown(() => void a.client.end(true));
  return a.client;
}

/** Collects every message a client receives, and resolves when one arrives on `marker`. */
function recorder(c: MqttClient) {
  const got: { topic: string; payload: string }[] = [];
  const waiters = new Map<string, () => void>();
  c.on('message', (topic, payload) => {
    got.push({ topic, payload: payload.toString() });
    waiters.get(topic)?.();
  });
  return {
    got,
    until(topic: string, ms = 5000): Promise<void> {
      if (got.some((m) => m.topic === topic)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(topic);
          reject(new Error(`no message on ${topic} within ${ms} ms (got ${got.map((m) => m.topic).join(', ') || 'nothing'})`));
        }, ms);
        waiters.set(topic, () => {
          clearTimeout(timer);
          waiters.delete(topic);
          resolve();
        });
      });
    },
  };
}

t.test('a TLS broker with provisioned identities', async (t) => {
  const pki = await makeTestPki({
    site: SITE,
    nodes: ['node-a', 'node-b'],
    services: [{ name: AGG, ...aggregatorAclTopics('agg-1', 'customs') }],
  });
  t.teardown(() => pki.close());
  const broker = await startMosquitto({ listenerConfig: pki.listenerConfig });
  t.teardown(() => broker.close());
  const port = broker.port;

  const agg = await connectOk(t, port, 'customs-agg-1', pki.tls(AGG));
  const aggSeen = recorder(agg);
  // The aggregator uses a shared subscription while its ACL names only customs/v1/#: this must be enough.
  const aggSub = await agg.subscribeAsync(dataFilter('customs'), { qos: 1 });
  t.equal(aggSub[0]?.qos, 1, 'aggregator shared subscription granted at QoS 1');
  const nodeA = await connectOk(t, port, 'node-a', pki.tls('node-a'));
  const nodeB = await connectOk(t, port, 'node-b', pki.tls('node-b'));

  await t.test('(1) a node publishes under its own topic and the aggregator receives it', async (t) => {
    const topic = dataTopic(SITE, 'node-a', 'status');
    await nodeA.publishAsync(topic, '{"online":true}', { qos: 1 });
    await aggSeen.until(topic);
    t.same(aggSeen.got.filter((m) => m.topic === topic), [{ topic, payload: '{"online":true}' }], 'exactly the published message arrived');
  });

  await t.test('the aggregator identity may dead-letter and announce to its peers, but not speak for a node', async (t) => {
    for (const topic of [dlqTopic('agg-1', 'schema'), peerSeenTopic('customs', 'agg-1')]) {
      await t.resolves(agg.publishAsync(topic, 'x', { qos: 1 }), `allowed: ${topic}`);
    }
    const err = await agg.publishAsync(dataTopic(SITE, 'node-a', 'rad'), 'x', { qos: 1 }).then(
      () => undefined,
      (e: unknown) => e as { code?: number },
    );
    t.equal(err?.code, 0x87, 'PUBACK 0x87 for a node data topic');
  });

  await t.test('(2) a node cannot publish under another node, nor forge its own commands', async (t) => {
    for (const topic of [dataTopic(SITE, 'node-b', 'rad'), cmdTopic(SITE, 'node-a', 'config'), `customs/v1/${SITE}/node-a/cmd`]) {
      // Mosquitto 2.0.11 drops it and, for an MQTT v5 client, answers PUBACK 0x87 (not authorized).
      const err = await nodeA.publishAsync(topic, 'forged', { qos: 1 }).then(
        () => undefined,
        (e: unknown) => e as { code?: number; message?: string },
      );
      t.equal(err?.code, 0x87, `PUBACK 0x87 for ${topic}`);
    }
    // A marker on node A's own topic: the broker handles node A's packets in order, so anything forged above would
    // have reached the aggregator before it.
    const marker = dataTopic(SITE, 'node-a', 'event');
    await nodeA.publishAsync(marker, 'marker', { qos: 1 });
    await aggSeen.until(marker);
    t.same(aggSeen.got.filter((m) => m.payload === 'forged'), [], 'nothing forged was delivered');
  });

  await t.test('(3) a client without a certificate cannot connect', async (t) => {
    const a = await tryConnect(port, 'anon', { ca: readFileSync(pki.caFile) });
    t.notOk(a.ok, 'no CONNACK without a client certificate');
    // TLS 1.3 says "certificate required", TLS 1.2 "handshake failure": either way the handshake, not MQTT, refused it.
    t.match(a.ok ? '' : a.error, /alert (certificate required|handshake failure)/, 'refused by a TLS alert');
  });

  await t.test('(4) a certificate from another CA cannot connect, even with a valid node id as CN', async (t) => {
    const rogue = tempDir('rogue');
    t.teardown(() => rmSync(rogue, { recursive: true, force: true }));
    await initCa({ caDir: join(rogue, 'ca'), site: SITE });
    const f = await provisionNode({ node: 'node-a', site: SITE, caDir: join(rogue, 'ca'), outDir: join(rogue, 'node-a'), aclFile: join(rogue, 'acl') });
    const a = await tryConnect(port, 'node-a-rogue', { ca: readFileSync(pki.caFile), cert: readFileSync(f.certFile), key: readFileSync(f.keyFile) });
    t.notOk(a.ok, 'no CONNACK for a certificate the broker CA did not sign');
    t.match(a.ok ? '' : a.error, /alert (unknown ca|bad certificate|certificate unknown)/, 'refused by a TLS alert');
    t.ok(nodeA.connected, 'the genuine node-a session is untouched');
  });

  await t.test("(5) a node cannot read another node's commands", async (t) => {
    const seenA = recorder(nodeA);
    const seenB = recorder(nodeB);
    const subA = await nodeA.subscribeAsync([cmdTopic(SITE, 'node-b', '#'), cmdTopic(SITE, 'node-a', '#')], { qos: 1 });
    await nodeB.subscribeAsync(cmdTopic(SITE, 'node-b', '#'), { qos: 1 });
    // Mosquitto 2.0.11's acl_file does not refuse SUBSCRIBE (SUBACK grants any filter); it applies the read ACL to each
    // message at delivery. The subscription is granted but must stay empty. A broker that refuses it (>= 0x80) is fine too.
    t.ok(subA[0] && (subA[0].qos === 1 || subA[0].qos >= 0x80), `SUBACK for node-b's commands: ${subA[0]?.qos}`);
    await agg.publishAsync(cmdTopic(SITE, 'node-b', 'config'), 'for-b', { qos: 1 });
    // The aggregator's next command goes to node A; once A has it, anything for B would already have reached A.
    await agg.publishAsync(cmdTopic(SITE, 'node-a', 'config'), 'for-a', { qos: 1 });
    await Promise.all([seenB.until(cmdTopic(SITE, 'node-b', 'config')), seenA.until(cmdTopic(SITE, 'node-a', 'config'))]);
    t.same(seenA.got.filter((m) => m.payload === 'for-b'), [], "node A received none of node B's commands");
    t.same(seenB.got.map((m) => m.payload), ['for-b'], 'node B received its command once');
  });

  await t.test('(6) re-provisioning a node rotates its certificate and keeps one ACL block', async (t) => {
    const before = readFileSync(pki.nodes['node-a']!.certFile, 'utf8');
    await provisionNode({ node: 'node-a', site: SITE, caDir: join(pki.dir, 'ca'), outDir: join(pki.dir, 'nodes', 'node-a'), aclFile: pki.aclFile });
    const after = readFileSync(pki.nodes['node-a']!.certFile, 'utf8');
    t.not(after, before, 'a new certificate was issued');
    const acl = readFileSync(pki.aclFile, 'utf8');
    t.equal(acl.split('\n').filter((l) => l === 'user node-a').length, 1, 'one user block for node-a');
    t.equal(acl.split('\n').filter((l) => l.startsWith('user ')).length, 3, 'node-a, node-b and the aggregator');
    const again = await tryConnect(port, 'node-a-rotated', pki.tls('node-a'));
    t.ok(again.ok, 'the rotated certificate connects');
    // use_username_as_clientid: whatever id it asked for, it is node-a (its CN) and replaced the node-a connection.
    if (again.ok) await again.client.endAsync();
  });
});

t.test('certificates have the promised shape', async (t) => {
  const dir = tempDir('certs');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const caDir = join(dir, 'ca');
  const ca = await initCa({ caDir, site: SITE });
  const ca2 = await initCa({ caDir, site: SITE });
  t.same(ca2, ca, 'initCa returns the same files');
  const caPem = readFileSync(ca.caCert, 'utf8');
  const caX = new X509Certificate(caPem);
  t.ok(caX.ca, 'the CA certificate is a CA');
  t.equal(statSync(ca.caKey).mode & 0o777, 0o600, 'CA key is private');
  t.equal(statSync(caDir).mode & 0o777, 0o700, 'CA directory is private');

  const node = await provisionNode({ node: 'veh-01', site: SITE, caDir, outDir: join(dir, 'veh-01'), aclFile: join(dir, 'acl') });
  const x = new X509Certificate(readFileSync(node.certFile));
  t.match(x.subject, /CN=veh-01/, 'CN is the node id');
  t.notOk(x.ca, 'a node certificate is not a CA');
  t.same(x.keyUsage, ['1.3.6.1.5.5.7.3.2'], 'extended key usage is clientAuth only');
  t.ok(x.checkIssued(caX) && x.verify(caX.publicKey), 'signed by the site CA');
  t.equal(x.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1', 'EC P-256 key');
  t.equal(statSync(node.keyFile).mode & 0o777, 0o600, 'node key is private');
  t.equal(readFileSync(node.caFile, 'utf8'), caPem, 'the bundle carries the CA certificate');
  t.equal(readFileSync(join(dir, 'acl'), 'utf8'), node.aclEntry, 'the ACL file holds the node block');
  t.equal(node.aclEntry, aclEntryFor(SITE, 'veh-01'), 'aclEntryFor gives the same block');
  t.match(node.aclEntry, /^user veh-01$/m);
  t.match(node.aclEntry, /^topic write customs\/v1\/port-1\/veh-01\/\+$/m);
  t.match(node.aclEntry, /^topic read customs\/v1\/port-1\/veh-01\/cmd\/#$/m);

  const srv = await issueServerCert({ caDir, outDir: join(dir, 'broker'), hosts: ['127.0.0.1', 'localhost'] });
  const sx = new X509Certificate(readFileSync(srv.certFile));
  t.match(sx.subjectAltName ?? '', /IP Address:127\.0\.0\.1/, 'SAN has the loopback IP');
  t.match(sx.subjectAltName ?? '', /DNS:localhost/, 'SAN has localhost');
  t.same(sx.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'extended key usage is serverAuth only');

  const svc = await provisionService({ name: AGG, caDir, outDir: join(dir, AGG), aclFile: join(dir, 'acl'), readTopics: ['customs/v1/#'], writeTopics: ['customs/v1/+/+/cmd/#'] });
  t.match(svc.aclEntry, /^topic read customs\/v1\/#$/m);
  t.match(svc.aclEntry, /^topic write customs\/v1\/\+\/\+\/cmd\/#$/m);
  const acl = readFileSync(join(dir, 'acl'), 'utf8');
  t.ok(acl.includes(node.aclEntry.trimEnd()) && acl.includes(svc.aclEntry.trimEnd()), 'both blocks are in the file');
});

t.test('concurrent provisioning of many nodes into one ACL file loses none', async (t) => {
  const dir = tempDir('many');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const caDir = join(dir, 'ca');
  const aclFile = join(dir, 'acl');
  await initCa({ caDir, site: SITE });
  const nodes = Array.from({ length: 8 }, (_, i) => `box-${i}`);
  await Promise.all(nodes.map((node) => provisionNode({ node, site: SITE, caDir, outDir: join(dir, node), aclFile })));
  // And once more, so every block is replaced concurrently too.
  await Promise.all(nodes.map((node) => provisionNode({ node, site: SITE, caDir, outDir: join(dir, node), aclFile })));
  const users = readFileSync(aclFile, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('user '))
    .map((l) => l.slice(5))
    .sort();
  t.same(users, [...nodes].sort(), 'one block per node, none lost or doubled');
});

t.test('bad input gives errors that say what and where', async (t) => {
  const dir = tempDir('bad');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const caDir = join(dir, 'ca');
  const acl = join(dir, 'acl');

  t.throws(() => aclEntryFor(SITE, 'Node/A'), { name: 'ProvisionError', code: 'E_PROVISION', message: new RegExp(`node "Node/A".*${ID_PATTERN.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}`) });
  t.throws(() => aclEntryFor('#', 'n1'), ProvisionError, 'a wildcard site is refused');

  await t.rejects(
    provisionNode({ node: 'n1', site: SITE, caDir, outDir: join(dir, 'n1'), aclFile: acl }),
    { code: 'E_PROVISION', message: new RegExp(`no CA in ${caDir}.*ca\\.crt is missing`) },
    'provisioning without a CA names the missing file',
  );

  await initCa({ caDir, site: SITE });
  await t.rejects(initCa({ caDir, site: 'other-site' }), { message: /not the CA of site "other-site"/ }, 'a CA of another site is not reused');
  await t.rejects(
    provisionNode({ node: 'n1', site: 'other-site', caDir, outDir: join(dir, 'n1'), aclFile: acl }),
    { message: /not the CA of site "other-site"/ },
    "a node is not signed by another site's CA",
  );
  await t.rejects(issueServerCert({ caDir, outDir: join(dir, 'b'), hosts: ['bad host'] }), { message: /"bad host" is neither an IP address nor a DNS name/ });

  // A corrupt CA key: the openssl error text comes through, with the file.
  const other = join(dir, 'ca2');
  await initCa({ caDir: other, site: SITE });
  chmodSync(join(other, 'ca.key'), 0o600);
  writeFileSync(join(other, 'ca.key'), '-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n');
  await t.rejects(
    provisionNode({ node: 'n1', site: SITE, caDir: other, outDir: join(dir, 'n1'), aclFile: acl }),
    { code: 'E_PROVISION', message: new RegExp(`reading the CA key ${join(other, 'ca.key')}: openssl pkey failed`) },
    'openssl failures name the step, the file and carry openssl stderr',
  );

  // One id, two sites: the CN is the broker username, so the second must be refused.
  const siteB = join(dir, 'ca-b');
  await initCa({ caDir: siteB, site: 'port-2' });
  await provisionNode({ node: 'n1', site: SITE, caDir, outDir: join(dir, 'n1'), aclFile: acl });
  await t.rejects(
    provisionNode({ node: 'n1', site: 'port-2', caDir: siteB, outDir: join(dir, 'n1b'), aclFile: acl }),
    { message: new RegExp(`${acl}:\\d+: node id "n1" is already provisioned for site ${SITE}`) },
  );
  await t.rejects(
    provisionService({ name: 'n1', caDir, outDir: join(dir, 's'), aclFile: acl, readTopics: ['customs/v1/#'], writeTopics: [] }),
    { message: /already provisioned as a node/ },
    'a service cannot take a node username',
  );
  await t.rejects(
    provisionService({ name: 's1', caDir, outDir: join(dir, 's'), aclFile: acl, readTopics: ['$share/g/customs/v1/#'], writeTopics: [] }),
    { message: /\$share/ },
    'ACL topics carry no $share prefix',
  );

  // A hand-written entry for a provisioned user would merge with ours in Mosquitto: refused with its line number.
  writeFileSync(acl, `${readFileSync(acl, 'utf8')}\nuser n2\ntopic readwrite #\n`);
  await t.rejects(provisionNode({ node: 'n2', site: SITE, caDir, outDir: join(dir, 'n2'), aclFile: acl }), {
    message: new RegExp(`${acl}:\\d+: unmanaged "user n2" entry`),
  });
});
