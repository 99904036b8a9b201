// The edge box configuration: one JSON schema (TypeBox) that is both the validator and the TS type.
import { readFileSync } from 'node:fs';
import { Type, type Static, type TUnsafe } from '@sinclair/typebox';
import { parseConfigText, validateConfig } from '../../common/config.js';
import { ID_PATTERN } from '../../protocol/index.js';
import { ConfigError } from '../../common/errors.js';
import { checkComponent, type ComponentCheck } from '../../contract/registry.js';
import { registerDevices } from '../../devices/index.js';
import { registerPipelines } from '../pipelines/index.js';

/** An `enum` rather than a union of literals, so a wrong value reads `expected one of [...]` on one line. */
function stringEnum<T extends string>(values: readonly T[], opts: object = {}): TUnsafe<T> {
  return Type.Unsafe<T>({ ...opts, type: 'string', enum: [...values] });
}

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
    role: stringEnum(['vehicle', 'handheld', 'xray', 'camera'] as const),
    broker: Type.Object(
      {
        url: Type.String({ pattern: '^(mqtt|mqtts|tcp|tls|ssl)://', description: 'mqtt://host:1883 or mqtts://host:8883' }),
        ca: Type.Optional(Type.String({ description: 'PEM file of the CA that signed the broker certificate' })),
        cert: Type.Optional(Type.String({ description: 'PEM file of this node client certificate' })),
        key: Type.Optional(Type.String({ description: 'PEM file of this node private key' })),
        keepalive_s: Type.Integer({ minimum: 5, maximum: 3600, default: 30 }),
        protocolVersion: Type.Union([Type.Literal(5), Type.Literal(4)], {
          default: 5,
          description: 'MQTT 5 (default); 4 = MQTT 3.1.1 for brokers without v5, such as the demo broker',
        }),
        reconnect_ms: Type.Integer({ minimum: 100, maximum: 600000, default: 1000 }),
      },
      { additionalProperties: false },
    ),
    outbox: Type.Object(
      {
        dir: Type.String({ minLength: 1 }),
        maxBytes: Type.Integer({ minimum: 65536, default: 256 * 1024 * 1024 }),
        segmentBytes: Type.Integer({ minimum: 4096, default: 4 * 1024 * 1024 }),
        fsync: stringEnum(['always', 'interval', 'never'] as const, {
          default: 'always',
          description: 'always: group commit, fsync before publish; interval: every fsyncInterval_ms; never: OS decides',
        }),
        fsyncInterval_ms: Type.Integer({ minimum: 1, default: 1000 }),
        inflight: Type.Integer({ minimum: 1, maximum: 65535, default: 256 }),
        backlogRate_per_s: Type.Number({ exclusiveMinimum: 0, default: 500, description: 'drain rate of the backlog after an outage' }),
        cloudAck: Type.Boolean({
          default: true,
          description: 'keep a summary until the cloud aggregator confirms it (not only the broker), resend if it does not',
        }),
        cloudAckTimeout_s: Type.Number({ minimum: 0.1, default: 30, description: 'resend a summary the cloud has not confirmed after this long (doubling per retry)' }),
      },
      { additionalProperties: false },
    ),
    clock: Type.Object(
      {
        trust: stringEnum(['ntp', 'gps', 'assume', 'never'] as const, {
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

function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, [`/: cannot read file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`]);
  }
  return parseConfigText(file, text);
}

/** The node's own sections only (what `health` needs); components are checked by checkEdgeConfig. */
export function loadEdgeConfig(file: string): EdgeConfig {
  return parseEdgeConfig(file, readConfigFile(file));
}

/**
 * The whole check that `check-config` prints and `run` passes before starting anything: the node schema and its
 * cross-field rules, every component's options against the schema its module declares (importing only the types the
 * file names), and the detectors the pipelines read against those the devices provide. Throws one ConfigError with
 * every problem.
 */
export async function checkEdgeConfig(file: string): Promise<EdgeConfig> {
  return checkEdgeConfigValue(file, readConfigFile(file));
}

/** checkEdgeConfig on an already parsed value (`file` only names it in the error). */
export async function checkEdgeConfigValue(file: string, value: unknown): Promise<EdgeConfig> {
  let cfg: EdgeConfig | undefined;
  const problems: string[] = [];
  try {
    cfg = parseEdgeConfig(file, value);
  } catch (e) {
    if (!(e instanceof ConfigError) || e.file !== file) throw e;
    problems.push(...e.problems);
  }
  problems.push(...(await componentProblems(value)));
  if (problems.length || !cfg) throw new ConfigError(file, problems);
  return cfg;
}

/** Validates against the schema and the cross-field rules together, so one run reports every problem. */
export function parseEdgeConfig(file: string, value: unknown): EdgeConfig {
  let cfg: EdgeConfig | undefined;
  const problems: string[] = [];
  try {
    cfg = validateConfig(file, EdgeConfigSchema, value);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    problems.push(...e.problems);
  }
  problems.push(...crossFieldProblems(value));
  if (problems.length || !cfg) throw new ConfigError(file, problems);
  return cfg;
}

/** Rules a JSON schema cannot say; written against the raw value because they also run when the schema failed. */
function crossFieldProblems(value: unknown): string[] {
  const problems: string[] = [];
  if (!isRecord(value)) return problems;
  const seen = new Map<string, string>();
  for (const list of ['devices', 'pipelines'] as const) {
    const items = value[list];
    if (!Array.isArray(items)) continue;
    items.forEach((c: unknown, i) => {
      if (!isRecord(c) || typeof c.name !== 'string') return;
      const where = `/${list}/${i}/name`;
      const prev = seen.get(c.name);
      if (prev) problems.push(`${where}: name "${c.name}" already used at ${prev}`);
      else seen.set(c.name, where);
    });
  }
  const broker = value.broker;
  if (isRecord(broker) && !!broker.cert !== !!broker.key) {
    problems.push('/broker: cert and key must be given together');
  }
  return problems;
}

/**
 * Each component entry checked through the registry, then the detector ids. Written against the raw value, like
 * crossFieldProblems, so the components are checked even when the node's own sections are wrong.
 */
async function componentProblems(value: unknown): Promise<string[]> {
  if (!isRecord(value)) return [];
  registerDevices();
  registerPipelines();
  const entries: { list: 'devices' | 'pipelines'; name: string; type: string; options: Record<string, unknown> | undefined }[] = [];
  for (const list of ['devices', 'pipelines'] as const) {
    const items = value[list];
    if (!Array.isArray(items)) continue;
    items.forEach((c: unknown, i) => {
      // A missing or malformed type or options is already a schema problem; an unnamed entry goes by its index.
      if (!isRecord(c) || typeof c.type !== 'string' || c.type === '') return;
      if (c.options !== undefined && !isRecord(c.options)) return;
      entries.push({ list, name: typeof c.name === 'string' && c.name !== '' ? c.name : String(i), type: c.type, options: c.options });
    });
  }
  // In parallel: the modules of different types load independently, and the problems keep the file's order.
  const checks = await Promise.all(
    entries.map((e) => checkComponent({ name: e.name, type: e.type, ...(e.options ? { options: e.options } : {}) }, e.list)),
  );
  return [...checks.flatMap((c) => c.problems), ...detectorProblems(entries, checks)];
}

/**
 * A pipeline that reads a detector no device publishes would wait for spectra forever. Only said when every device
 * passed its own check and says its detectors (an N42 folder's ids are in its files).
 */
function detectorProblems(entries: { list: 'devices' | 'pipelines'; name: string }[], checks: ComponentCheck[]): string[] {
  if (entries.some((e, i) => e.list === 'devices' && !checks[i]?.module)) return [];
  const provided = new Set<string>();
  for (const [i, e] of entries.entries()) {
    const c = checks[i]!;
    if (e.list !== 'devices' || !c.module?.providesDetectors) continue;
    const ids = c.module.providesDetectors(c.options);
    if (ids === 'unknown') return [];
    for (const id of ids) provided.add(id);
  }
  const known = provided.size ? [...provided].sort().map((id) => `"${id}"`).join(', ') : 'none';
  const problems: string[] = [];
  for (const [i, e] of entries.entries()) {
    const c = checks[i]!;
    if (e.list !== 'pipelines' || !c.module?.readsDetectors) continue;
    for (const ref of c.module.readsDetectors(c.options)) {
      if (!provided.has(ref.id)) problems.push(`pipelines/${e.name}/options/${ref.field}: detector "${ref.id}" is not provided by any device (devices provide: ${known})`);
    }
  }
  return problems;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
