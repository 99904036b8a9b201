// The aggregator configuration: one TypeBox schema that is both the validator (with defaults) and the TS type.
import { readFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { loadConfigFile, parseConfigText, validateConfig } from '../common/config.js';
import { ConfigError } from '../common/errors.js';
import { ID_PATTERN, MAX_PAYLOAD_BYTES } from '../protocol/index.js';
import { PeersConfigSchema } from './aggregator/peers.js';
import { RelayConfigSchema } from './relay.js';

export const AggregatorConfigSchema = Type.Object(
  {
    id: Type.String({
      pattern: ID_PATTERN,
      default: 'agg-1',
      description: 'aggregator id: names the dead-letter topics and the default MQTT client id',
    }),
    mqtt: Type.Object(
      {
        url: Type.String({ pattern: '^(mqtt|mqtts|tcp|tls|ssl)://', description: 'mqtt://host:1883 or mqtts://host:8883' }),
        group: Type.String({
          pattern: ID_PATTERN,
          default: 'customs',
          description: 'shared-subscription group; aggregators in one group split the traffic',
        }),
        clientId: Type.Optional(
          Type.String({
            minLength: 1,
            maxLength: 128,
            description: 'MQTT client id (default customs-agg-<id>); keep it stable so the persistent session survives restarts',
          }),
        ),
        ca: Type.Optional(Type.String({ minLength: 1, description: 'PEM file of the CA that signed the broker certificate' })),
        cert: Type.Optional(Type.String({ minLength: 1, description: 'PEM file of the aggregator client certificate' })),
        key: Type.Optional(Type.String({ minLength: 1, description: 'PEM file of the aggregator private key' })),
        protocolVersion: Type.Union([Type.Literal(5), Type.Literal(4)], {
          default: 5,
          description: '5 (shared subscription, session expiry, dead-letter user properties); 4 only for brokers without MQTT v5',
        }),
        shared: Type.Boolean({
          default: true,
          description: 'subscribe through $share/<group>/... so several aggregators split the traffic; false for brokers without it',
        }),
        sessionExpiry_s: Type.Integer({
          minimum: 0,
          maximum: 0xffffffff,
          default: 3600,
          description:
            'how long the broker keeps the session (and queues messages) while the aggregator is away; Mosquitto keeps dealing ' +
            'shared-subscription messages to an absent member until then, so a retired aggregator must have its session removed',
        }),
      },
      { additionalProperties: false },
    ),
    influx: Type.Optional(
      Type.Object(
        {
          url: Type.String({ pattern: '^https?://', description: 'InfluxDB 1.x base URL, e.g. http://127.0.0.1:8086' }),
          database: Type.String({ minLength: 1, maxLength: 255, default: 'customs' }),
          batchSize: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 5000, description: 'points per write' }),
          flushInterval_ms: Type.Integer({ minimum: 1, maximum: 600_000, default: 100, description: 'longest a point waits for a batch to fill' }),
          timeout_ms: Type.Integer({ minimum: 100, maximum: 600_000, default: 10_000, description: 'per write request' }),
        },
        { additionalProperties: false },
      ),
    ),
    lineFile: Type.Optional(
      Type.String({ minLength: 1, description: 'without influx: append line protocol here, in the format `influx -import` reads' }),
    ),
    spool: Type.Object(
      {
        dir: Type.String({ minLength: 1, description: 'write-ahead spool of accepted points not yet in InfluxDB' }),
        maxBytes: Type.Integer({
          minimum: 65536,
          default: 1024 * 1024 * 1024,
          description: 'when full, the aggregator stops acknowledging and the broker queues messages',
        }),
        fsync: Type.Union([Type.Literal('always'), Type.Literal('interval'), Type.Literal('never')], {
          default: 'interval',
          description: 'always: fdatasync before each PUBACK; interval: every fsyncInterval_ms; never: OS decides (all survive a process kill)',
        }),
        fsyncInterval_ms: Type.Integer({ minimum: 1, maximum: 60_000, default: 200 }),
      },
      { additionalProperties: false },
    ),
    http: Type.Optional(
      Type.Object(
        {
          host: Type.String({ minLength: 1, default: '127.0.0.1' }),
          port: Type.Integer({ minimum: 0, maximum: 65535, description: '0 picks a free port (see Aggregator.httpPort)' }),
        },
        { additionalProperties: false },
      ),
    ),
    maxPayloadBytes: Type.Integer({ minimum: 64, maximum: 256 * 1024 * 1024, default: MAX_PAYLOAD_BYTES }),
    tagValuesPerNode: Type.Integer({
      minimum: 1,
      maximum: 100_000,
      default: 64,
      description: 'distinct values per free-text tag (detector, camera, nuclide, cmd) one node may create; more are dead-lettered as cardinality',
    }),
    quarantineFile: Type.Optional(
      Type.String({ minLength: 1, description: 'points InfluxDB refused, with the reason (default <spool.dir>/quarantine.lp)' }),
    ),
    cloudAck_ms: Type.Integer({
      minimum: 0,
      maximum: 60_000,
      default: 250,
      description: 'how often to confirm spooled summaries to their nodes (customs-ack/v1/<site>/<node>); 0 = never',
    }),
    /** Optional: relay vehicle source estimates to handhelds as signed commands (cloud/relay.ts). */
    relay: Type.Optional(RelayConfigSchema),
    /**
     * Optional: the signed seen-seq exchange with the other members of the group (cloud/aggregator/peers.ts). Without
     * it nothing is exchanged and each member counts gaps from its own share only.
     */
    peers: Type.Optional(PeersConfigSchema),
    gapGrace_ms: Type.Integer({
      minimum: 0,
      default: 30_000,
      description: 'a missing seq range is reported as a gap only after it stayed open this long (backlog arrives late)',
    }),
  },
  { additionalProperties: false },
);

export type AggregatorConfig = Static<typeof AggregatorConfigSchema>;

/** Cross-field rules the schema cannot say, checked on the raw value so they are listed with the schema problems. */
function crossProblems(value: unknown): string[] {
  if (typeof value !== 'object' || value === null) return [];
  const v = value as { influx?: unknown; lineFile?: unknown; mqtt?: { cert?: unknown; key?: unknown } };
  const problems: string[] = [];
  if (v.influx === undefined && v.lineFile === undefined) problems.push('/: expected "influx" or "lineFile" (where accepted points go)');
  if (v.influx !== undefined && v.lineFile !== undefined) problems.push('/lineFile: expected only one of "influx" and "lineFile"');
  const m = typeof v.mqtt === 'object' && v.mqtt !== null ? v.mqtt : {};
  if ((m.cert === undefined) !== (m.key === undefined)) problems.push('/mqtt: expected "cert" and "key" together');
  return problems;
}

function finish(file: string, cfg: AggregatorConfig): AggregatorConfig {
  const problems = crossProblems(cfg);
  if (problems.length) throw new ConfigError(file, problems);
  cfg.mqtt.clientId ??= `customs-agg-${cfg.id}`;
  return cfg;
}

/** Re-throws a schema failure with the cross-field problems added, so one run shows everything to fix. */
function withCross(e: unknown, file: string, raw: () => unknown): never {
  if (e instanceof ConfigError && e.file === file) {
    let extra: string[] = [];
    try {
      extra = crossProblems(raw());
    } catch {
      /* the file itself is unreadable or not YAML: the original error already says so */
    }
    if (extra.length) throw new ConfigError(file, [...e.problems, ...extra]);
  }
  throw e;
}

export function loadAggregatorConfig(file: string): AggregatorConfig {
  let cfg: AggregatorConfig;
  try {
    cfg = loadConfigFile(file, AggregatorConfigSchema);
  } catch (e) {
    withCross(e, file, () => parseConfigText(file, readFileSync(file, 'utf8')));
  }
  return finish(file, cfg);
}

export function parseAggregatorConfig(file: string, value: unknown): AggregatorConfig {
  const copy: unknown = structuredClone(value);
  let cfg: AggregatorConfig;
  try {
    // A copy, because Ajv fills defaults in place and the caller's object should stay as given.
    cfg = validateConfig(file, AggregatorConfigSchema, copy);
  } catch (e) {
    withCross(e, file, () => value);
  }
  return finish(file, cfg);
}
