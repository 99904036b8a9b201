// Signed command envelopes: Ed25519 over a canonical JSON form, verified against the keys a node trusts.
//
// Commands under `.../cmd/#` (calibration records, relayed source estimates, config) travel as
// `{ payload, sig: { alg: 'Ed25519', keyId, value } }`. The signature covers the canonical JSON of `payload`
// (object keys sorted, no whitespace), so a re-serialisation by a broker or a tool does not break it, while any
// change of a value does. `keyId` only selects the key; trust comes from the verifier's own key table.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CustomsError } from '../common/errors.js';

export class SignatureError extends CustomsError {
  constructor(message: string) {
    super('SIGNATURE', message);
    this.name = 'SignatureError';
  }
}

export interface SignedEnvelope<T = unknown> {
  payload: T;
  sig: { alg: 'Ed25519'; keyId: string; value: string };
}

/** JSON with object keys sorted at every level; rejects values JSON cannot carry exactly. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value, '$'));
}

function sortKeys(v: unknown, path: string): unknown {
  if (typeof v === 'number' && !Number.isFinite(v)) throw new SignatureError(`${path}: ${v} cannot be signed (not finite)`);
  if (v === undefined || typeof v === 'function' || typeof v === 'bigint' || typeof v === 'symbol') {
    throw new SignatureError(`${path}: a ${typeof v} cannot be signed`);
  }
  if (Array.isArray(v)) return v.map((x, i) => sortKeys(x, `${path}[${i}]`));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = sortKeys(x, `${path}.${k}`);
    }
    return out;
  }
  return v;
}

function asPrivateKey(key: string | KeyObject): KeyObject {
  return typeof key === 'string' ? createPrivateKey(key) : key;
}

function asPublicKey(key: string | KeyObject): KeyObject {
  return typeof key === 'string' ? createPublicKey(key) : key;
}

/** A fresh Ed25519 key pair as PEM (PKCS#8 private, SPKI public). */
export function generateSigningKey(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

export function signPayload<T>(payload: T, privateKey: string | KeyObject, keyId: string): SignedEnvelope<T> {
  const k = asPrivateKey(privateKey);
  if (k.asymmetricKeyType !== 'ed25519') throw new SignatureError(`key "${keyId}" is ${k.asymmetricKeyType ?? 'not asymmetric'}, expected ed25519`);
  const value = sign(null, Buffer.from(canonicalJson(payload)), k).toString('base64');
  return { payload, sig: { alg: 'Ed25519', keyId, value } };
}

/**
 * Checks the envelope's shape and signature against `trusted` (keyId → public key PEM) and returns the payload.
 * Throws SignatureError saying which part failed: shape, unknown key, or a signature that does not match.
 */
export function verifyEnvelope<T = unknown>(envelope: unknown, trusted: Record<string, string | KeyObject>): T {
  if (envelope === null || typeof envelope !== 'object') throw new SignatureError('envelope: expected an object { payload, sig }');
  const e = envelope as Partial<SignedEnvelope>;
  if (!('payload' in e)) throw new SignatureError('envelope.payload: missing');
  const s = e.sig as Partial<SignedEnvelope['sig']> | undefined;
  if (!s || typeof s !== 'object') throw new SignatureError('envelope.sig: missing, the command is not signed');
  if (s.alg !== 'Ed25519') throw new SignatureError(`envelope.sig.alg: expected "Ed25519", got ${JSON.stringify(s.alg)}`);
  if (typeof s.keyId !== 'string' || s.keyId === '') throw new SignatureError('envelope.sig.keyId: expected a non-empty string');
  if (typeof s.value !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(s.value)) throw new SignatureError('envelope.sig.value: expected base64');
  const key = trusted[s.keyId];
  if (key === undefined) {
    const known = Object.keys(trusted);
    throw new SignatureError(`signed by key "${s.keyId}", which this node does not trust (trusted: ${known.length ? known.join(', ') : 'none'})`);
  }
  const ok = verify(null, Buffer.from(canonicalJson(e.payload)), asPublicKey(key), Buffer.from(s.value, 'base64'));
  if (!ok) throw new SignatureError(`signature by key "${s.keyId}" does not match the payload (tampered or signed with another key)`);
  return e.payload as T;
}

/**
 * A verifier's key table from configuration: each value is a PEM public key or the path of a file holding one.
 * Throws SignatureError naming `where`/keyId when a file cannot be read or a key is not an Ed25519 public key.
 */
export function loadTrustedKeys(keys: Record<string, string>, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [keyId, v] of Object.entries(keys)) {
    let pem = v;
    if (!v.includes('-----BEGIN')) {
      try {
        pem = readFileSync(v, 'utf8');
      } catch (e) {
        throw new SignatureError(`${where}/${keyId}: cannot read public key file ${v} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
    }
    let type: string | undefined;
    try {
      type = createPublicKey(pem).asymmetricKeyType;
    } catch (e) {
      throw new SignatureError(`${where}/${keyId}: not a PEM public key (${(e as Error).message})`);
    }
    if (type !== 'ed25519') throw new SignatureError(`${where}/${keyId}: a ${type} key, expected ed25519`);
    out[keyId] = pem;
  }
  return out;
}
