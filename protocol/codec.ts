// Decoding and validation of wire payloads against the protocol schemas; one result type for every failure.
import { Ajv, type ValidateFunction } from 'ajv';
import { formatErrors } from '../common/validation.js';

export { formatErrors };
import { CloudAck, MAX_PAYLOAD_BYTES, SCHEMAS, type AnyMessage, type MessageOf } from './schemas.js';
import { KINDS, parseDataTopic, type Kind } from './topics.js';

/** `cardinality`: the aggregator's per-node cap on distinct tag values (detector ids, ...) refused it. */
export type RejectReason = 'oversized' | 'not_json' | 'schema' | 'unknown_topic' | 'mismatch' | 'cardinality';

export type Decoded =
  | { ok: true; kind: Kind; site: string; node: string; msg: AnyMessage }
  | { ok: false; reason: RejectReason; detail: string };

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const validators = Object.fromEntries(KINDS.map((k) => [k, ajv.compile(SCHEMAS[k])])) as {
  [K in Kind]: ValidateFunction<MessageOf[K]>;
};

export function validate<K extends Kind>(kind: K, value: unknown): { ok: true; msg: MessageOf[K] } | { ok: false; errors: string[] } {
  const v = validators[kind];
  if (v(value)) return { ok: true, msg: value as MessageOf[K] };
  return { ok: false, errors: formatErrors(v.errors) };
}

/** Parses and validates one MQTT message; never throws. */
export function decode(topic: string, payload: Buffer | Uint8Array | string): Decoded {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
  if (size > MAX_PAYLOAD_BYTES) return { ok: false, reason: 'oversized', detail: `${size} bytes > ${MAX_PAYLOAD_BYTES}` };
  const t = parseDataTopic(topic);
  if (!t.ok) return { ok: false, reason: 'unknown_topic', detail: t.reason };
  let value: unknown;
  try {
    value = JSON.parse(typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8'));
  } catch (e) {
    return { ok: false, reason: 'not_json', detail: (e as Error).message };
  }
  const r = validate(t.kind, value);
  if (!r.ok) return { ok: false, reason: 'schema', detail: r.errors.slice(0, 10).join('; ') };
  if (r.msg.node !== t.node || r.msg.site !== t.site) {
    return { ok: false, reason: 'mismatch', detail: `payload node/site ${r.msg.site}/${r.msg.node} != topic ${t.site}/${t.node}` };
  }
  return { ok: true, kind: t.kind, site: t.site, node: t.node, msg: r.msg };
}

const validateAck = ajv.compile(CloudAck);

/** Parses a cloud acknowledgement; undefined (never a throw) when it is not one. */
export function decodeCloudAck(payload: Buffer | string): CloudAck | undefined {
  try {
    const v: unknown = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
    return validateAck(v) ? (v as CloudAck) : undefined;
  } catch {
    return undefined;
  }
}
