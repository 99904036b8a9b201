import t from 'tap';
import { canonicalJson, generateSigningKey, loadTrustedKeys, signPayload, SignatureError, verifyEnvelope } from '../../protocol/signing.js';

const a = generateSigningKey();
const b = generateSigningKey();
const trusted = { tech1: a.publicKeyPem };
const record = { detector: 'det-1', version: 3, coefficients: [0.5, 3.01, 1e-6], when: '2026-11-21T08:00:00Z' };

t.test('canonical form sorts keys at every level and rejects values JSON cannot carry', async (t) => {
  t.equal(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: null } }), '{"a":{"c":null,"d":[2,{"y":2,"z":1}]},"b":1}');
  t.throws(() => canonicalJson({ x: Number.NaN }), /\$\.x: NaN cannot be signed/);
});

t.test('a signed payload verifies, also after re-serialisation with other key order', async (t) => {
  const env = signPayload(record, a.privateKeyPem, 'tech1');
  const reordered = JSON.parse(JSON.stringify({ sig: env.sig, payload: { when: record.when, coefficients: record.coefficients, version: 3, detector: 'det-1' } }));
  t.same(verifyEnvelope(reordered, trusted), record);
});

t.test('tampered, untrusted, unsigned and malformed envelopes are refused with the reason', async (t) => {
  const env = signPayload(record, a.privateKeyPem, 'tech1');
  const tampered = { ...env, payload: { ...record, coefficients: [0.5, 3.02, 1e-6] } };
  t.throws(() => verifyEnvelope(tampered, trusted), { name: 'SignatureError', message: /does not match the payload/ });
  const other = signPayload(record, b.privateKeyPem, 'tech2');
  t.throws(() => verifyEnvelope(other, trusted), /key "tech2", which this node does not trust \(trusted: tech1\)/);
  // Signed by an untrusted key that claims a trusted key id.
  const impostor = signPayload(record, b.privateKeyPem, 'tech1');
  t.throws(() => verifyEnvelope(impostor, trusted), /does not match/);
  t.throws(() => verifyEnvelope({ payload: record }, trusted), /not signed/);
  t.throws(() => verifyEnvelope('x', trusted), /expected an object/);
  t.throws(() => verifyEnvelope({ payload: 1, sig: { alg: 'RS256', keyId: 'tech1', value: 'AA==' } }, trusted), /alg: expected "Ed25519"/);
  t.ok(new SignatureError('x') instanceof Error);
});

t.test('trusted keys from config: PEM or file; unreadable files and wrong key types are named', async (t) => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const { generateKeyPairSync } = await import('node:crypto');
  const dir = mkdtempSync(join(tmpdir(), 'keys-'));
  writeFileSync(join(dir, 'b.pub'), b.publicKeyPem);
  t.same(loadTrustedKeys({ a: a.publicKeyPem, b: join(dir, 'b.pub') }, 'options/trustedKeys'), { a: a.publicKeyPem, b: b.publicKeyPem });
  t.throws(() => loadTrustedKeys({ c: join(dir, 'none.pub') }, 'options/trustedKeys'), /options\/trustedKeys\/c: cannot read public key file .*none\.pub \(ENOENT\)/);
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  t.throws(() => loadTrustedKeys({ r: rsa }, 'options/trustedKeys'), /options\/trustedKeys\/r: a rsa key, expected ed25519/);
  t.throws(() => loadTrustedKeys({ x: '-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n' }, 'k'), /k\/x: not a PEM public key/);
});
