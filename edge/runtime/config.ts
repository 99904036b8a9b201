// The edge box configuration: one JSON schema (TypeBox) that is both the validator and the TS type.
import { Type, type Static } from '@sinclair/typebox';
import { loadConfigFile, validateConfig } from '../../common/config.js';
import { ID_PATTERN } from '../../protocol/index.js';
import { ConfigError } from '../../common/errors.js';

const ComponentSpec = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }),
    type: Type.String({ minLength: 1 }),
    options: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);

export const EdgeConfigSchema = Type.Object(
  {
    node: Type.String({ pattern: ID_PATTERN, description: 'node id, used as MQTT client id and topic level' }),
    site: Type.String({ pattern: ID_PATTERN }),
    role: Type.Union([Type.Literal('vehicle'), Type.Literal('handheld'), Type.Literal('xray'), Type.Literal('camera')]),
    broker: Type.Object(
      {
        url: Type.String({ pattern: '^(mqtt|mqtts|tcp|tls|ssl)://', description: 'mqtt://host:1883 or mqtts://host:8883' }),
        ca: Type.Optional(Type.String({ description: 'PEM file of the CA that signed the broker certificate' })),
        cert: Type.Optional(Type.String({ description: 'PEM file of this node client certificate' })),
        key: Type.Optional(Type.String({ description: 'PEM file of this node private key' })),
        keepalive_s: Type.Integer({ minimum: 5, maximum: 3600, default: 30 }),
        reconnect_ms: Type.Integer({ minimum: 100, maximum: 600000, default: 1000 }),
      },
      { additionalProperties: false },
    ),
    outbox: Type.Object(
      {
        dir: Type.String({ minLength: 1 }),
        maxBytes: Type.Integer({ minimum: 65536, default: 256 * 1024 * 1024 }),
        segmentBytes: Type.Integer({ minimum: 4096, default: 4 * 1024 * 1024 }),
        fsync: Type.Union([Type.Literal('always'), Type.Literal('interval'), Type.Literal('never')], {
          default: 'always',
          description: 'always: group commit, fsync before publish; interval: every fsyncInterval_ms; never: OS decides',
        }),
        fsyncInterval_ms: Type.Integer({ minimum: 1, default: 1000 }),
        inflight: Type.Integer({ minimum: 1, maximum: 65535, default: 256 }),
        backlogRate_per_s: Type.Number({ exclusiveMinimum: 0, default: 500, description: 'drain rate of the backlog after an outage' }),
      },
      { additionalProperties: false },
    ),
    clock: Type.Object(
      {
        trust: Type.Union([Type.Literal('ntp'), Type.Literal('gps'), Type.Literal('assume'), Type.Literal('never')], {
          default: 'ntp',
          description: 'what makes the wall clock trusted: NTP sync (systemd-timesyncd), a GPS fix, assumed, or never',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    health: Type.Object(
      {
        heartbeat_s: Type.Number({ minimum: 0.1, default: 10 }),
        diskPath: Type.Optional(Type.String()),
      },
      { additionalProperties: false, default: {} },
    ),
    devices: Type.Array(ComponentSpec, { default: [] }),
    pipelines: Type.Array(ComponentSpec, { default: [] }),
  },
  { additionalProperties: false },
);

export type EdgeConfig = Static<typeof EdgeConfigSchema>;

export function loadEdgeConfig(file: string): EdgeConfig {
  const cfg = loadConfigFile(file, EdgeConfigSchema);
  checkNames(file, cfg);
  return cfg;
}

export function parseEdgeConfig(file: string, value: unknown): EdgeConfig {
  const cfg = validateConfig(file, EdgeConfigSchema, value);
  checkNames(file, cfg);
  return cfg;
}

function checkNames(file: string, cfg: EdgeConfig): void {
  const seen = new Map<string, string>();
  const problems: string[] = [];
  for (const [list, items] of [['devices', cfg.devices], ['pipelines', cfg.pipelines]] as const) {
    items.forEach((c, i) => {
      const where = `/${list}/${i}/name`;
      const prev = seen.get(c.name);
      if (prev) problems.push(`${where}: name "${c.name}" already used at ${prev}`);
      else seen.set(c.name, where);
    });
  }
  if (!!cfg.broker.cert !== !!cfg.broker.key) problems.push('/broker: cert and key must be given together');
  if (problems.length) throw new ConfigError(file, problems);
}
