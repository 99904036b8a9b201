// Estimate relay: handhelds learnt from status, one signed retained command per handheld, own estimates not echoed.
import t from 'tap';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { logger } from '../../common/log.js';
import { EstimateRelay, RelayError, type EstimateCommand } from '../../cloud/relay.js';
import { parseAggregatorConfig } from '../../cloud/config.js';
import { generateSigningKey, verifyEnvelope, type StatusMsg } from '../../protocol/index.js';
import { makeMessage } from '../helpers/messages.js';
import { tempDir } from '../harness/services.js';

const keys = generateSigningKey();

function setup(t: { teardown: (fn: () => void) => void }, handhelds?: Record<string, string[]>) {
  const dir = tempDir('relay');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'k.pem'), keys.privateKeyPem);
  const sent: { topic: string; env: unknown }[] = [];
  const relay = new EstimateRelay({
    config: { keyId: 'agg-1', privateKey: join(dir, 'k.pem'), ...(handhelds ? { handhelds } : {}) },
    publish: (topic, payload, done) => {
      sent.push({ topic, env: JSON.parse(payload) });
      done();
    },
    log: logger('relay-test'),
  });
  return { relay, sent, dir };
}

const status = (node: string, site: string, role: StatusMsg['role']) => makeMessage('status', { node, site, seq: 0 }, { role });
const source = (node: string, site: string, seq: number, ts = 1_700_000_000_000 + seq) =>
  makeMessage('source', { node, site, seq, ts }, { estimateId: `e-${seq}` });

t.test('relays each vehicle estimate to every handheld of its site, signed and verifiable', async (t) => {
  const { relay, sent } = setup(t, { 'site-b': ['hh-cfg'] });
  relay.observe('status', status('hh-1', 'site-a', 'handheld'));
  relay.observe('status', status('hh-2', 'site-a', 'handheld'));
  relay.observe('status', status('veh-1', 'site-a', 'vehicle'));
  relay.observe('status', status('hh-9', 'site-b', 'handheld'));
  t.equal(relay.stats().handhelds, 4, 'three learnt from status, one from the config');
  relay.observe('source', source('veh-1', 'site-a', 3));
  t.same(sent.map((s) => s.topic).sort(), ['customs/v1/site-a/hh-1/cmd/estimate', 'customs/v1/site-a/hh-2/cmd/estimate'], 'only the handhelds of site-a');
  for (const s of sent) {
    const cmd = verifyEnvelope<EstimateCommand>(s.env, { 'agg-1': keys.publicKeyPem });
    t.equal(cmd.cmdId, 'veh-1/e-3');
    t.equal(cmd.source.estimateId, 'e-3');
    t.equal(s.topic, `customs/v1/site-a/${cmd.handheld}/cmd/estimate`, 'the payload names the handheld it is for');
  }
  t.equal(relay.stats().relayed, 2);
});

t.test('late handheld gets the latest estimate; own and older estimates are not relayed', async (t) => {
  const { relay, sent } = setup(t);
  relay.observe('source', source('veh-1', 'site-a', 5, 2000));
  t.equal(sent.length, 0, 'no handheld yet');
  relay.observe('status', status('hh-1', 'site-a', 'handheld'));
  t.equal(sent.length, 1, 'a handheld first seen gets the latest estimate at once');
  relay.observe('status', status('hh-1', 'site-a', 'handheld'));
  t.equal(sent.length, 1, 'a heartbeat of a known handheld sends nothing');
  relay.observe('source', source('hh-1', 'site-a', 9, 3000));
  t.equal(sent.length, 1, "the handheld's own refined estimate is not echoed back");
  relay.observe('source', source('veh-1', 'site-a', 4, 1000));
  t.equal(sent.length, 1, 'an older estimate (backlog) does not replace the newer one');
  relay.observe('source', source('veh-1', 'site-a', 6, 4000));
  t.equal(sent.length, 2, 'a newer one does');
});

t.test('config: relay block validated, bad key file named', async (t) => {
  const dir = tempDir('relay-cfg');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = parseAggregatorConfig('agg.yaml', { mqtt: { url: 'mqtt://127.0.0.1:1883' }, lineFile: join(dir, 'x.lp'), spool: { dir }, relay: { keyId: 'k', privateKey: join(dir, 'nope.pem') } });
  t.equal(cfg.relay?.keyId, 'k');
  t.throws(() => parseAggregatorConfig('agg.yaml', { mqtt: { url: 'mqtt://x:1' }, lineFile: 'x', spool: { dir }, relay: { keyId: 'k' } }), /\/relay\/privateKey: required|privateKey/);
  t.throws(() => new EstimateRelay({ config: cfg.relay!, publish: () => undefined, log: logger('x') }), RelayError);
  t.throws(() => new EstimateRelay({ config: cfg.relay!, publish: () => undefined, log: logger('x') }), /relay\.privateKey: cannot read .*nope\.pem \(ENOENT\)/);
  writeFileSync(join(dir, 'pub.pem'), keys.publicKeyPem);
  t.throws(() => new EstimateRelay({ config: { keyId: 'k', privateKey: join(dir, 'pub.pem') }, publish: () => undefined, log: logger('x') }), /not a PEM private key/);
});
