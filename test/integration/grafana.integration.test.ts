// The Grafana dashboards against real data: every panel and variable query runs on InfluxDB filled through the aggregator.
import t from 'tap';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { parse as parseYaml } from 'yaml';
import { Aggregator } from '../../cloud/aggregator.js';
import { parseAggregatorConfig } from '../../cloud/config.js';
import { toLines } from '../../cloud/points.js';
import { dataTopic, type Kind, type MessageOf } from '../../protocol/index.js';
import { influxQuery, startInflux, startMosquitto, tempDir, type InfluxResult } from '../harness/services.js';
import {
  checkAgainstLayout,
  collectQueries,
  datasourceUid,
  formatInterval,
  formatRegex,
  interpolate,
  intervalFor,
  leftoverVariables,
  loadDashboards,
  parseInfluxQL,
  parseLine,
  parsePointLayout,
  queryKey,
  regexEscape,
  variablesOf,
  walkPanels,
  type GrafanaQuery,
  type InterpolationContext,
  type Panel,
  type Statement,
  type VariableSelection,
} from '../helpers/grafana-queries.js';
import { ROOT } from '../helpers/paths.js';

const GRAFANA = join(ROOT, 'cloud', 'grafana');
const DS_UID = 'customs-influx';
const DB = 'customs';

// ------------------------------------------------------------------------------------------------ fixture fleet

type Role = MessageOf['status']['role'];
interface NodeDef {
  node: string;
  site: string;
  role: Role;
  lat: number;
  lon: number;
}

const NODES: NodeDef[] = [
  { node: 'veh-1', site: 'harbour', role: 'vehicle', lat: 53.5401, lon: 9.9701 },
  { node: 'hh-1', site: 'harbour', role: 'handheld', lat: 53.5412, lon: 9.9733 },
  { node: 'veh-2', site: 'airport', role: 'vehicle', lat: 53.6301, lon: 9.9881 },
  { node: 'xr-1', site: 'harbour', role: 'xray', lat: 53.5431, lon: 9.9651 },
  { node: 'xr-2', site: 'harbour', role: 'xray', lat: 53.5432, lon: 9.9652 },
  { node: 'xr-3', site: 'airport', role: 'xray', lat: 53.6311, lon: 9.9891 },
  { node: 'cam-1', site: 'airport', role: 'camera', lat: 53.6321, lon: 9.9901 },
  { node: 'cam-2', site: 'airport', role: 'camera', lat: 53.6322, lon: 9.9902 },
  { node: 'cam-3', site: 'harbour', role: 'camera', lat: 53.5441, lon: 9.9661 },
];
/** The node whose last status is its Last Will. */
const OFFLINE = 'cam-3';
const SPAN_MS = 30 * 60_000;
/** The node process started this long before the first message, so mono_ms is plausible. */
const BOOT_LEAD_MS = 5_000;

interface AlarmDef {
  node: string;
  nuclides: { nuclide: string; category: MessageOf['alarm']['nuclides'][number]['category']; confidence: number }[];
  positioned: boolean;
}
const ALARMS: AlarmDef[] = [
  { node: 'veh-1', nuclides: [{ nuclide: 'Cs-137', category: 'industrial', confidence: 0.93 }, { nuclide: 'Ba-133', category: 'industrial', confidence: 0.2 }], positioned: true },
  { node: 'veh-1', nuclides: [{ nuclide: 'K-40', category: 'NORM', confidence: 0.88 }], positioned: true },
  { node: 'veh-1', nuclides: [{ nuclide: 'U-235', category: 'SNM', confidence: 0.71 }], positioned: true },
  { node: 'veh-1', nuclides: [{ nuclide: 'Tc-99m', category: 'medical', confidence: 0.8 }], positioned: true },
  { node: 'veh-2', nuclides: [{ nuclide: 'Cs-137', category: 'industrial', confidence: 0.9 }], positioned: true },
  { node: 'veh-2', nuclides: [{ nuclide: 'I-131', category: 'medical', confidence: 0.75 }], positioned: true },
  // Fired on the gross count alone: no identification and no GPS fix.
  { node: 'veh-2', nuclides: [], positioned: false },
  { node: 'hh-1', nuclides: [{ nuclide: 'Cs-137', category: 'industrial', confidence: 0.97 }], positioned: true },
  { node: 'hh-1', nuclides: [{ nuclide: 'Co-60', category: 'industrial', confidence: 0.6 }], positioned: true },
];

const SOURCES: { node: string; estimateId: string; sources: { nuclide?: string; lat: number; lon: number }[] }[] = [
  { node: 'veh-1', estimateId: 'est-1', sources: [{ nuclide: 'Cs-137', lat: 53.5405, lon: 9.9712 }, { lat: 53.5407, lon: 9.9715 }] },
  { node: 'veh-1', estimateId: 'est-2', sources: [{ nuclide: 'U-235', lat: 53.5409, lon: 9.972 }] },
  { node: 'veh-2', estimateId: 'est-3', sources: [{ nuclide: 'Cs-137', lat: 53.6305, lon: 9.9885 }] },
];

const EVENT_TYPES: MessageOf['event']['type'][] = ['dwell', 'abandoned_bag', 'companions', 'bag_switch', 'dwell', 'companions'];
const DETECTORS: Record<string, string[]> = { vehicle: ['left-low', 'left-high', 'right-low'], handheld: ['nai-1'] };

type Body<K extends Kind> = Omit<MessageOf[K], 'v' | 'node' | 'site' | 'boot' | 'seq' | 'ts' | 'tsTrusted' | 'mono_ms'>;
interface Planned {
  kind: Kind;
  def: NodeDef;
  offset_ms: number;
  body: Body<Kind>;
}
interface Sent {
  kind: Kind;
  topic: string;
  msg: MessageOf[Kind];
  retain: boolean;
}

function decisionOf(i: number): MessageOf['xray']['decision'] {
  const r = i % 10;
  return r === 9 ? 'inspect' : r >= 7 ? 'review' : 'clear';
}

/** A deterministic half hour of a 2-site, 9-node fleet, ending now; seq counts from 0 per node in time order. */
function buildFleet(now: number): Sent[] {
  const t0 = now - SPAN_MS;
  const plan: Planned[] = [];
  const path = (def: NodeDef, f: number) => ({ lat: def.lat + 0.004 * f, lon: def.lon + 0.006 * Math.sin(f * Math.PI), height_m: 1.5 });
  NODES.forEach((def, ni) => {
    for (let i = 0; i < 30; i++) {
      const offset_ms = i * 60_000 + ni * 1_000;
      const last = i === 29;
      const moving = def.role === 'vehicle' || def.role === 'handheld';
      const body: Body<'status'> = {
        role: def.role,
        online: !(last && def.node === OFFLINE),
        version: def.node === 'veh-2' ? '1.4.1' : '1.4.2',
        uptime_s: (offset_ms + BOOT_LEAD_MS) / 1000,
        cpu_pct: 10 + ((i * 7 + ni * 3) % 50),
        mem_rss_bytes: 80_000_000 + i * 100_000 + ni * 1_000_000,
        disk_free_bytes: 20_000_000_000 - i * 1_000_000,
        outbox: { depth: (i % 5) + ni, bytes: ((i % 5) + ni) * 512, droppedRoutine: def.node === 'xr-3' ? i : 0, full: false },
        position: moving ? path(def, i / 30) : { lat: def.lat, lon: def.lon },
      };
      plan.push({ kind: 'status', def, offset_ms, body });
    }
    if (def.role === 'vehicle' || def.role === 'handheld') {
      for (let i = 0; i < 90; i++) {
        const offset_ms = i * 20_000 + 500 + ni * 1_000;
        const gross = 180 + 60 * Math.sin(i / 7) + ni * 10;
        const body: Body<'rad'> = {
          live_s: 1,
          gross_cps: gross,
          doseRate_uSv_h: 0.08 + gross / 10_000,
          gm_cps: gross / 40,
          detectors: (DETECTORS[def.role] as string[]).map((id, k) => ({ id, cps: gross / 3 + k * 5, doseRate_uSv_h: 0.05 + k * 0.01 })),
          position: path(def, i / 90),
        };
        plan.push({ kind: 'rad', def, offset_ms, body });
      }
    }
    if (def.role === 'xray') {
      for (let i = 0; i < 30; i++) {
        const decision = decisionOf(i);
        const body: Body<'xray'> = {
          scanId: `${def.node}-scan-${i}`,
          decision,
          reasons: decision === 'inspect' ? ['ATR: firearm 0.91', 'density anomaly in lower left'] : decision === 'review' ? ['low-confidence knife'] : [],
          detections: decision === 'clear' ? [] : [{ class: decision === 'inspect' ? 'firearm' : 'knife', score: decision === 'inspect' ? 0.91 : 0.44 }],
          latency_ms: 120 + ((i * 37) % 200),
        };
        plan.push({ kind: 'xray', def, offset_ms: i * 60_000 + 30_000 + ni * 1_000, body });
      }
    }
    if (def.role === 'camera') {
      for (let i = 0; i < 12; i++) {
        const body: Body<'event'> = {
          eventId: `${def.node}-ev-${i}`,
          camera: `${def.node}-hall-${i % 2 === 0 ? 'a' : 'b'}`,
          type: EVENT_TYPES[i % EVENT_TYPES.length] as MessageOf['event']['type'],
          trackIds: [i, i + 100],
          bbox: [0.1 * (i % 5), 0.2, 0.1, 0.3],
          confidence: 0.5 + (i % 5) / 10,
        };
        plan.push({ kind: 'event', def, offset_ms: i * 150_000 + 45_000 + ni * 1_000, body });
      }
    }
  });
  ALARMS.forEach((a, k) => {
    const def = NODES.find((n) => n.node === a.node) as NodeDef;
    const offset_ms = 100_000 + k * 170_000;
    const pos = path(def, offset_ms / SPAN_MS);
    const body: Body<'alarm'> = {
      alarmId: `alarm-${k + 1}`,
      test: 'sprt-gross',
      statistic: 5 + k,
      threshold: 4.5,
      gross_cps: 400 + k * 20,
      doseRate_uSv_h: 0.2 + k / 100,
      nuclides: a.nuclides,
      ...(a.positioned ? { position: pos } : {}),
    };
    plan.push({ kind: 'alarm', def, offset_ms, body });
  });
  SOURCES.forEach((s, k) => {
    const def = NODES.find((n) => n.node === s.node) as NodeDef;
    const body: Body<'source'> = {
      estimateId: s.estimateId,
      sources: s.sources.map((src, j) => ({
        ...(src.nuclide ? { nuclide: src.nuclide } : {}),
        lat: src.lat,
        lon: src.lon,
        height_m: 0.8 + j,
        cps_at_1m: 900 + j * 50,
        activity_Bq: 3.7e6,
        doseRate_uSv_h_at_1m: 1.2,
        ci95_m: 2.5,
        ambiguous: j > 0,
      })),
    };
    plan.push({ kind: 'source', def, offset_ms: 200_000 + k * 400_000, body });
  });

  const out: { sent: Sent; ts: number }[] = [];
  for (const def of NODES) {
    const boot = createHash('sha256').update(def.node).digest('hex').slice(0, 16);
    const mine = plan.filter((p) => p.def === def).sort((a, b) => a.offset_ms - b.offset_ms);
    mine.forEach((p, seq) => {
      const ts = t0 + p.offset_ms;
      const msg = { v: 1, node: def.node, site: def.site, boot, seq, ts, tsTrusted: true, mono_ms: p.offset_ms + BOOT_LEAD_MS, ...p.body } as MessageOf[Kind];
      out.push({ sent: { kind: p.kind, topic: dataTopic(def.site, def.node, p.kind), msg, retain: p.kind === 'status' }, ts });
    });
  }
  return out.sort((a, b) => a.ts - b.ts).map((x) => x.sent);
}

const of = <K extends Kind>(sent: Sent[], kind: K): MessageOf[K][] => sent.filter((s) => s.kind === kind).map((s) => s.msg as MessageOf[K]);

function countBy<T>(xs: T[], key: (x: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[key(x)] = (out[key(x)] ?? 0) + 1;
  return out;
}

function lastStatusPerNode(sent: Sent[]): Map<string, MessageOf['status']> {
  const m = new Map<string, MessageOf['status']>();
  for (const s of of(sent, 'status')) m.set(s.node, s); // sent is in time order
  return m;
}

// ------------------------------------------------------------------------------------------------ result helpers

type Row = Record<string, unknown>;

/** Flattens an InfluxDB answer into rows carrying their series' tags as columns. */
function rowsOf(res: InfluxResult): Row[] {
  const rows: Row[] = [];
  for (const s of res.results[0]?.series ?? []) {
    for (const v of s.values) {
      const r: Row = { ...(s.tags ?? {}) };
      s.columns.forEach((c, i) => (r[c] = v[i]));
      rows.push(r);
    }
  }
  return rows;
}

/** Sum of one column per tag value (for the count-per-group panels). */
function sumByTag(res: InfluxResult, tag: string, column: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of res.results[0]?.series ?? []) {
    const k = s.tags?.[tag] ?? '';
    const i = s.columns.indexOf(column);
    for (const v of s.values) out[k] = (out[k] ?? 0) + ((v[i] as number | null) ?? 0);
  }
  return out;
}

const sorted = (xs: Iterable<string>) => [...xs].sort();

const dashboards = loadDashboards();
const queries = collectQueries(dashboards);
const layout = parsePointLayout();

/** The datasource's minimum interval (`timeInterval`), a floor for `$__interval` on every panel. */
const DS_MIN_INTERVAL =
  (
    parseYaml(readFileSync(join(GRAFANA, 'provisioning', 'datasources', 'influxdb.yaml'), 'utf8')) as {
      datasources: { jsonData?: { timeInterval?: string } }[];
    }
  ).datasources[0]?.jsonData?.timeInterval ?? '1ms';

function contextFor(q: GrafanaQuery, base: Omit<InterpolationContext, 'intervalMs' | 'variables'>, rangeMs: number, maxDataPoints: number): InterpolationContext {
  return {
    ...base,
    variables: variablesOf(dashboards, q.dashboardUid),
    intervalMs: intervalFor({ rangeMs, maxDataPoints, minInterval: q.minInterval, datasourceMinInterval: DS_MIN_INTERVAL }),
  };
}

// ------------------------------------------------------------------------------------------------ structure

t.test('dashboards: parse, unique uids, every panel on the customs datasource with a target', async (t) => {
  const uids = dashboards.map((d) => d.dashboard.uid);
  t.same(sorted(uids.map(String)), ['customs-cameras', 'customs-fleet', 'customs-radiation', 'customs-xray'], 'the four dashboards, by stable uid');
  t.equal(new Set(uids).size, uids.length, 'uids are unique');
  for (const { file, dashboard: d } of dashboards) {
    t.ok((d.schemaVersion ?? 0) >= 36, `${file}: schemaVersion ${d.schemaVersion} is a Grafana 10/11 model`);
    t.equal(d.refresh, '10s', `${file}: refreshes every 10 s`);
    const vars = d.templating?.list ?? [];
    const site = vars.find((v) => v.name === 'site');
    const node = vars.find((v) => v.name === 'node');
    t.equal(site?.query, 'SHOW TAG VALUES FROM "node_status" WITH KEY = "site"', `${file}: $site lists the sites`);
    // Grafana stores a variable query either as the string or as { query }; undefined fails the match.
    t.match(typeof node?.query === 'object' ? node.query.query : node?.query, /^SHOW TAG VALUES FROM "node_status" WITH KEY = "node" WHERE "site" =~ \/\^\$site\$\//, `${file}: $node is filtered by $site`);
    for (const v of [site, node]) t.equal(datasourceUid(v?.datasource), DS_UID, `${file}: $${v?.name} on ${DS_UID}`);
    const panels = walkPanels(d.panels);
    const ids = panels.map((p) => p.id);
    t.equal(new Set(ids).size, ids.length, `${file}: panel ids are unique`);
    for (const p of panels) {
      if (p.type === 'row') continue;
      const where = `${file}: panel "${p.title}"`;
      t.equal(datasourceUid(p.datasource), DS_UID, `${where} uses ${DS_UID}`);
      t.ok((p.targets ?? []).length >= 1, `${where} has a target`);
      for (const tg of p.targets ?? []) {
        if (tg.datasource !== undefined) t.equal(datasourceUid(tg.datasource), DS_UID, `${where} ${tg.refId} uses ${DS_UID}`);
        t.equal(tg.rawQuery, true, `${where} ${tg.refId} is a raw InfluxQL query`);
      }
    }
  }
  const nested = dashboards.flatMap((d) => (d.dashboard.panels ?? []).filter((p) => p.type === 'row').flatMap((r) => r.panels ?? []));
  t.ok(nested.length > 0, 'a collapsed row holds panels');
  for (const p of nested) t.ok(queries.some((q) => q.panelTitle === p.title), `nested panel "${p.title}" is collected`);
});

t.test('every query names only measurements, fields and tags the aggregator writes', async (t) => {
  t.ok(queries.length >= 30, `${queries.length} queries collected`);
  for (const q of queries) {
    const key = queryKey(q);
    let st: Statement | undefined;
    try {
      st = parseInfluxQL(q.query);
    } catch (e) {
      t.fail(`${key}: ${(e as Error).message}`);
      continue;
    }
    t.same(checkAgainstLayout(st, layout), [], `${key}: names exist in the cloud/points.ts layout`);
    if (q.kind === 'panel') {
      t.match(q.query, /\$timeFilter/, `${key}: bounded by $timeFilter`);
      t.match(q.query, /"site" =~ \/\^\$site\$\//, `${key}: follows $site`);
      t.match(q.query, /"node" =~ \/\^\$node\$\//, `${key}: follows $node`);
      if (q.query.includes('$__interval_ms')) t.match(q.query, /GROUP BY time\(\$__interval\)/, `${key}: $__interval_ms scales the $__interval buckets`);
      t.notOk(st.columns.some((c) => c === '' || /^(count|mean|max|min|sum|last|percentile)$/.test(c)), `${key}: every computed column has an alias`);
    }
  }
  // A misspelt name must be caught, or the check above proves nothing.
  t.not(checkAgainstLayout(parseInfluxQL('SELECT mean("gross_cpss") FROM "rad" WHERE $timeFilter'), layout).length, 0, 'unknown field is reported');
  t.not(checkAgainstLayout(parseInfluxQL('SELECT mean("cps") FROM "rad_detectors"'), layout).length, 0, 'unknown measurement is reported');
  t.not(checkAgainstLayout(parseInfluxQL('SELECT mean("gross_cps") FROM "rad" GROUP BY "gross_cps"'), layout).length, 0, 'grouping by a field is reported');
  t.not(checkAgainstLayout(parseInfluxQL('SELECT count("nodes") FROM (SELECT last("online") AS "online" FROM "node_status")'), layout).length, 0, 'outer query using a column the subquery lacks is reported');
});

t.test('the documented layout covers every line the aggregator writes for the fixture fleet', async (t) => {
  const sent = buildFleet(Date.now());
  const undocumented = new Set<string>();
  const written = new Map<string, Set<string>>();
  for (const s of sent) {
    for (const l of toLines({ kind: s.kind, msg: s.msg, time_ms: s.msg.ts, tsSrc: 'edge' })) {
      const p = parseLine(l);
      const ml = layout.get(p.measurement);
      if (!ml) undocumented.add(`measurement ${p.measurement}`);
      for (const tag of p.tags) if (!ml?.tags.has(tag)) undocumented.add(`${p.measurement} tag ${tag}`);
      for (const f of p.fields) if (!ml?.fields.has(f)) undocumented.add(`${p.measurement} field ${f}`);
      const names = written.get(p.measurement) ?? new Set<string>();
      for (const n of [...p.tags, ...p.fields]) names.add(n);
      written.set(p.measurement, names);
    }
  }
  t.same([...undocumented], [], 'everything toLines writes is in the layout comment the queries are checked against');
  // Every name a dashboard uses also shows up in what the fixture makes the aggregator write, so the live test below
  // exercises all of them.
  const unexercised: string[] = [];
  for (const q of queries) {
    const st = parseInfluxQL(q.query);
    const inner = st.subquery ?? st;
    const names = written.get(inner.measurement ?? '');
    for (const r of inner.refs) if (!names?.has(r.name)) unexercised.push(`${queryKey(q)}: ${inner.measurement}.${r.name}`);
  }
  t.same(unexercised, [], 'the fixture writes every measurement, field and tag the dashboards read');
});

t.test('panel wiring: geomap layers, table columns and provisioning files', async (t) => {
  for (const { file, dashboard: d } of dashboards) {
    for (const p of walkPanels(d.panels)) {
      const cols = new Map<string, string[]>();
      for (const tg of p.targets ?? []) {
        const st = parseInfluxQL(tg.query ?? '');
        cols.set(tg.refId ?? '', [...st.columns, ...st.groupByTags, 'Time']);
      }
      const opts = (p as Panel & { options?: { layers?: { name: string; filterData?: { options?: string }; location?: { latitude?: string; longitude?: string } }[] } }).options;
      if (p.type === 'geomap') {
        t.ok((opts?.layers ?? []).length > 0, `${file}: "${p.title}" has layers`);
        for (const layer of opts?.layers ?? []) {
          const ref = layer.filterData?.options ?? '';
          const c = cols.get(ref);
          t.ok(c, `${file}: "${p.title}" layer ${layer.name} reads query ${ref}`);
          t.ok(c?.includes(layer.location?.latitude ?? '?') && c?.includes(layer.location?.longitude ?? '?'), `${file}: "${p.title}" layer ${layer.name} has lat/lon columns`);
        }
      }
      const tx = (p as Panel & { transformations?: { id: string; options: { renameByName?: Record<string, string>; indexByName?: Record<string, number> } }[] }).transformations ?? [];
      for (const x of tx.filter((x) => x.id === 'organize')) {
        const all = [...cols.values()].flat();
        for (const name of [...Object.keys(x.options.renameByName ?? {}), ...Object.keys(x.options.indexByName ?? {})]) {
          t.ok(all.includes(name), `${file}: "${p.title}" organizes column ${name}, which its query returns`);
        }
      }
    }
  }

  const ds = parseYaml(readFileSync(join(GRAFANA, 'provisioning', 'datasources', 'influxdb.yaml'), 'utf8')) as {
    datasources: { uid: string; type: string; access: string; url: string; jsonData: { dbName: string; version: string } }[];
  };
  const d0 = ds.datasources[0];
  t.match(d0, { uid: DS_UID, type: 'influxdb', access: 'proxy', url: '${INFLUX_URL}', jsonData: { version: 'InfluxQL' } }, 'datasource: InfluxQL via the Grafana proxy, url from $INFLUX_URL');
  const env = Object.fromEntries(
    readFileSync(join(GRAFANA, 'grafana.env'), 'utf8')
      .split('\n')
      .filter((l) => /^\w+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  ) as Record<string, string>;
  const yamlText = readFileSync(join(GRAFANA, 'provisioning', 'datasources', 'influxdb.yaml'), 'utf8');
  const settings = yamlText
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n');
  const used = [...settings.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1] as string);
  t.ok(used.includes('INFLUX_URL'), 'the datasource reads ${INFLUX_URL}');
  for (const name of used) t.ok(name in env, `grafana.env gives ${name} a default`);
  t.equal(env.INFLUX_DB, DB, 'the default database is customs');
  t.equal(d0?.jsonData.dbName, '${INFLUX_DB}', 'database from $INFLUX_DB');
  t.match(env.INFLUX_URL, /^https?:\/\//, 'the default URL is a URL');
  const prov = parseYaml(readFileSync(join(GRAFANA, 'provisioning', 'dashboards', 'customs.yaml'), 'utf8')) as { providers: { type: string; options: { path: string } }[] };
  t.equal(prov.providers[0]?.type, 'file', 'dashboards come from files');
  t.match(readFileSync(join(GRAFANA, 'README.md'), 'utf8'), prov.providers[0]?.options.path ?? '?', 'the README mounts the JSON where the provider looks');
});

t.test('macro and variable substitution follows Grafana', async (t) => {
  const vars = variablesOf(dashboards, 'customs-fleet');
  const q = 'SELECT mean("cpu_pct") FROM "node_status" WHERE $timeFilter AND "site" =~ /^$site$/ AND "node" =~ /^${node}$/ GROUP BY time($__interval) LIMIT $__interval_ms';
  const rel = interpolate(q, { range: { relative: 'now-1h' }, intervalMs: 10_000, variables: vars, selection: {} });
  t.equal(rel, 'SELECT mean("cpu_pct") FROM "node_status" WHERE time >= now() - 1h AND "site" =~ /^.*$/ AND "node" =~ /^.*$/ GROUP BY time(10s) LIMIT 10000', 'All → the custom all value .*');
  const abs = interpolate(q, {
    range: { fromMs: 1_700_000_000_000, toMs: 1_700_000_600_000 },
    intervalMs: 120_000,
    variables: vars,
    selection: { site: { values: ['harbour'] }, node: { values: ['veh-1', 'a.b/c'] } },
  });
  t.equal(
    abs,
    'SELECT mean("cpu_pct") FROM "node_status" WHERE time >= 1700000000000ms and time <= 1700000600000ms AND "site" =~ /^harbour$/ AND "node" =~ /^(veh-1|a\\.b\\/c)$/ GROUP BY time(2m) LIMIT 120000',
    'several values → (a|b), regex-escaped including the / delimiter',
  );
  t.equal(formatRegex(['x']), 'x', 'one value has no parentheses');
  t.equal(regexEscape('a+b(c)'), 'a\\+b\\(c\\)');
  t.equal(formatInterval(90_000), '1m', 'intervals are truncated to the largest unit like the backend');
  t.equal(intervalFor({ rangeMs: 3_600_000, maxDataPoints: 1000, minInterval: '1m' }), 60_000, 'a panel minimum interval raises $__interval');
  t.same(leftoverVariables(rel), [], 'nothing left to substitute');
  t.same(leftoverVariables('WHERE "x" =~ /^$nope$/'), ['nope'], 'an unknown variable is noticed');
});

// ------------------------------------------------------------------------------------------------ live

t.test('every panel and variable query returns the published data, through the aggregator', async (t) => {
  const influx = await startInflux();
  t.teardown(() => influx.close());
  const broker = await startMosquitto();
  t.teardown(() => broker.close());
  const spoolDir = tempDir('grafana-spool');
  t.teardown(() => rmSync(spoolDir, { recursive: true, force: true }));
  const config = parseAggregatorConfig('<test>', {
    id: 'agg-1',
    mqtt: { url: `mqtt://127.0.0.1:${broker.port}` },
    influx: { url: influx.url },
    spool: { dir: spoolDir },
  });
  const agg = new Aggregator({ config });
  await agg.start();
  t.teardown(() => agg.stop());

  const now = Date.now();
  const sent = buildFleet(now);
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: 'grafana-fixture', protocolVersion: 5, reconnectPeriod: 0 });
  t.teardown(() => pub.endAsync());
  await Promise.all(sent.map((s) => pub.publishAsync(s.topic, JSON.stringify(s.msg), { qos: 1, retain: s.retain })));

  // Expected points per measurement: what toLines makes of the fixture, counted before anything runs.
  const expected: Record<string, number> = {};
  for (const s of sent) for (const l of toLines({ kind: s.kind, msg: s.msg, time_ms: s.msg.ts, tsSrc: 'edge' })) expected[parseLine(l).measurement] = (expected[parseLine(l).measurement] ?? 0) + 1;
  const counts = async () => {
    const got: Record<string, number> = {};
    for (const m of Object.keys(expected)) {
      const r = await influxQuery(influx.url, DB, `SELECT count("seq") FROM "${m}"`);
      got[m] = (r.results[0]?.series?.[0]?.values?.[0]?.[1] as number | undefined) ?? 0;
    }
    return got;
  };
  let got: Record<string, number> = {};
  const deadline = Date.now() + 30_000;
  for (;;) {
    await agg.flush();
    got = await counts();
    if (Object.keys(expected).every((m) => got[m] === expected[m]) || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  t.same(got, expected, 'every published message landed exactly once, in each measurement');

  // The aggregator's own view of what it wrote: every name a query uses exists in the database.
  for (const m of Object.keys(expected)) {
    const fk = rowsOf(await influxQuery(influx.url, DB, `SHOW FIELD KEYS FROM "${m}"`)).map((r) => r.fieldKey as string);
    const tk = rowsOf(await influxQuery(influx.url, DB, `SHOW TAG KEYS FROM "${m}"`)).map((r) => r.tagKey as string);
    for (const q of queries) {
      const st = parseInfluxQL(q.query);
      const inner = st.subquery ?? st;
      if (inner.measurement !== m) continue;
      for (const r of inner.refs) {
        const ok = r.role === 'tag' ? tk.includes(r.name) : r.role === 'field' ? fk.includes(r.name) : tk.includes(r.name) || fk.includes(r.name);
        if (!ok) t.fail(`${queryKey(q)}: ${m} in InfluxDB has no ${r.role === 'any' ? 'field or tag' : r.role} "${r.name}"`);
      }
    }
  }

  const run = async (q: GrafanaQuery, ctx: InterpolationContext) => {
    const text = interpolate(q.query, ctx);
    const res = await influxQuery(influx.url, DB, text);
    return { text, res };
  };

  /** Generic shape problems: an error, no data, other columns than the SELECT names, other tag groups than GROUP BY. */
  const shapeProblems = (q: GrafanaQuery, text: string, res: InfluxResult): string[] => {
    const problems: string[] = [];
    const left = leftoverVariables(text);
    if (left.length) problems.push(`not interpolated: ${left.join(', ')}`);
    const r0 = res.results[0];
    if (r0?.error) problems.push(`InfluxDB error: ${r0.error}`);
    const series = r0?.series ?? [];
    if (!series.some((s) => s.values.length > 0)) problems.push('no data');
    const st = parseInfluxQL(q.query);
    const wantCols = st.kind === 'show tag values' ? st.columns : ['time', ...st.columns];
    const wantTags = sorted(st.groupByTags).join(',');
    for (const s of series) {
      if (s.columns.join(',') !== wantCols.join(',')) problems.push(`columns ${s.columns.join(',')}, expected ${wantCols.join(',')}`);
      const tags = sorted(Object.keys(s.tags ?? {})).join(',');
      if (tags !== wantTags) problems.push(`series tagged by [${tags}], expected [${wantTags}]`);
    }
    return problems;
  };

  // Pass 1: the default view, `now-1h` with every variable on All, as the browser-side code writes the time filter.
  const RANGE_ALL = 3_600_000;
  const results = new Map<string, InfluxResult>();
  const intervals = new Map<string, number>();
  for (const q of queries) {
    const ctx = contextFor(q, { range: { relative: 'now-1h' }, selection: {} }, RANGE_ALL, 1000);
    const { text, res } = await run(q, ctx);
    t.same(shapeProblems(q, text, res), [], `[All] ${queryKey(q)}: runs, returns data with the expected columns and tag groups`);
    results.set(queryKey(q), res);
    intervals.set(queryKey(q), ctx.intervalMs);
  }
  const res = (key: string): InfluxResult => {
    const r = results.get(key);
    if (!r) throw new Error(`no panel query "${key}" (renamed?); collected: ${[...results.keys()].join('; ')}`);
    return r;
  };

  const lastStatus = lastStatusPerNode(sent);
  const allNodes = sorted(NODES.map((n) => n.node));
  const radNodes = sorted(NODES.filter((n) => n.role === 'vehicle' || n.role === 'handheld').map((n) => n.node));

  t.test('variables', async (t) => {
    for (const uid of ['customs-fleet', 'customs-radiation', 'customs-xray', 'customs-cameras']) {
      t.same(sorted(rowsOf(res(`${uid} / $site / site`)).map((r) => r.value as string)), ['airport', 'harbour'], `${uid}: $site lists both sites`);
    }
    t.same(sorted(rowsOf(res('customs-fleet / $node / node')).map((r) => r.value as string)), allNodes, 'fleet: $node lists all nine nodes');
    t.same(sorted(rowsOf(res('customs-radiation / $node / node')).map((r) => r.value as string)), radNodes, 'radiation: $node lists the vehicles and the handheld');
    t.same(sorted(rowsOf(res('customs-xray / $node / node')).map((r) => r.value as string)), ['xr-1', 'xr-2', 'xr-3'], 'xray: $node lists the scanners');
    t.same(sorted(rowsOf(res('customs-cameras / $node / node')).map((r) => r.value as string)), ['cam-1', 'cam-2', 'cam-3'], 'cameras: $node lists the camera nodes');
  });

  t.test('fleet overview', async (t) => {
    const table = rowsOf(res('customs-fleet / Nodes / A'));
    t.equal(table.length, NODES.length, 'one row per node');
    t.same(sorted(table.map((r) => `${r.site}/${r.node}`)), sorted(NODES.map((n) => `${n.site}/${n.node}`)), 'every (site, node)');
    for (const r of table) {
      const st = lastStatus.get(r.node as string) as MessageOf['status'];
      t.match(
        r,
        { time: st.ts, online: st.online, version: st.version, role: st.role, uptime_s: st.uptime_s, outbox_depth: st.outbox?.depth, outbox_dropped: st.outbox?.droppedRoutine },
        `${r.node}: last seen at its last status, with that status's values`,
      );
    }
    const online = [...lastStatus.values()].filter((s) => s.online).length;
    t.equal(rowsOf(res('customs-fleet / Nodes online / A'))[0]?.nodes, online, `${online} nodes online`);
    t.equal(rowsOf(res('customs-fleet / Nodes offline / A'))[0]?.nodes, NODES.length - online, `${OFFLINE} offline`);
    const depth = [...lastStatus.values()].reduce((a, s) => a + (s.outbox?.depth ?? 0), 0);
    t.equal(rowsOf(res('customs-fleet / Outbox backlog / A'))[0]?.outbox_depth, depth, 'backlog = sum of the latest outbox depths');
    const dropped = [...lastStatus.values()].reduce((a, s) => a + (s.outbox?.droppedRoutine ?? 0), 0);
    t.equal(rowsOf(res('customs-fleet / Dropped routine messages / A'))[0]?.outbox_dropped, dropped, 'dropped = sum of the latest counters');
    const pos = rowsOf(res('customs-fleet / Node positions / A'));
    t.equal(pos.length, NODES.length, 'a position per node');
    for (const r of pos) {
      const st = lastStatus.get(r.node as string) as MessageOf['status'];
      t.same([r.lat, r.lon], [st.position?.lat, st.position?.lon], `${r.node}: at its latest position`);
    }
    for (const title of ['Outbox depth', 'CPU', 'Memory (RSS)', 'Disk free', 'Outbox size on disk']) {
      const series = res(`customs-fleet / ${title} / A`).results[0]?.series ?? [];
      t.same(sorted(series.map((s) => s.tags?.node ?? '')), allNodes, `${title}: a series per node`);
    }
  });

  t.test('radiation', async (t) => {
    const alarms = of(sent, 'alarm');
    for (const title of ['Gross count rate', 'Dose rate']) {
      const series = res(`customs-radiation / ${title} / A`).results[0]?.series ?? [];
      t.same(sorted(series.map((s) => s.tags?.node ?? '')), radNodes, `${title}: a series per radiation node`);
    }
    const det = res('customs-radiation / Count rate per detector / A').results[0]?.series ?? [];
    const wantDet = NODES.filter((n) => DETECTORS[n.role]).flatMap((n) => (DETECTORS[n.role] as string[]).map((d) => `${n.node}/${d}`));
    t.same(sorted(det.map((s) => `${s.tags?.node}/${s.tags?.detector}`)), sorted(wantDet), 'a series per detector');

    const table = rowsOf(res('customs-radiation / Alarms / A'));
    t.equal(table.length, alarms.length, 'every alarm listed');
    for (const a of alarms) {
      const r = table.find((x) => x.alarm_id === a.alarmId);
      t.match(
        r,
        { time: a.ts, node: a.node, nuclide: a.nuclides[0]?.nuclide ?? 'none', category: a.nuclides[0]?.category ?? 'none', statistic: a.statistic, threshold: a.threshold },
        `${a.alarmId}: node, top nuclide, category, statistic/threshold`,
      );
    }
    t.same(
      sumByTag(res('customs-radiation / Alarms by category / A'), 'category', 'alarms'),
      countBy(alarms, (a) => a.nuclides[0]?.category ?? 'none'),
      'alarm count by category equals what was sent',
    );
    t.same(
      sumByTag(res('customs-radiation / Identified nuclides / A'), 'nuclide', 'alarms'),
      countBy(
        alarms.filter((a) => a.nuclides.length > 0),
        (a) => a.nuclides[0]?.nuclide as string,
      ),
      'count by identified nuclide, unidentified alarms left out',
    );
    const path = rowsOf(res('customs-radiation / Vehicle path and source estimates / A'));
    t.ok(path.length > 0 && path.every((r) => typeof r.lat === 'number' && typeof r.lon === 'number'), 'path points all have lat and lon');
    t.same(sorted(new Set(path.map((r) => r.node as string))), radNodes, 'a path for every radiation node');
    const src = rowsOf(res('customs-radiation / Vehicle path and source estimates / B'));
    const wantSrc = of(sent, 'source').flatMap((m) => m.sources.map((s) => `${m.node}/${s.nuclide ?? 'unknown'}/${s.lat}/${s.lon}`));
    t.same(sorted(src.map((r) => `${r.node}/${r.nuclide}/${r.lat}/${r.lon}`)), sorted(wantSrc), 'every estimated source at its position');
    const alarmPos = rowsOf(res('customs-radiation / Vehicle path and source estimates / C'));
    const at = (node: unknown, nuclide: unknown, lat: unknown, lon: unknown) => `${String(node)}/${String(nuclide)}/${String(lat)}/${String(lon)}`;
    t.same(
      sorted(alarmPos.map((r) => at(r.node, r.nuclide, r.lat, r.lon))),
      sorted(alarms.filter((a) => a.position).map((a) => at(a.node, a.nuclides[0]?.nuclide ?? 'none', a.position?.lat, a.position?.lon))),
      'alarms with a position on the map, and none without',
    );
  });

  t.test('x-ray', async (t) => {
    const scans = of(sent, 'xray');
    const byDecision = countBy(scans, (s) => s.decision);
    t.same(sumByTag(res('customs-xray / Decisions in range / A'), 'decision', 'scans'), byDecision, 'decision totals equal what was sent');
    t.same(sumByTag(res('customs-xray / Decisions / A'), 'decision', 'scans'), byDecision, 'decisions over time add up to the same');
    const thr = res('customs-xray / Throughput / A');
    const perMin = sumByTag(thr, 'node', 'scans_per_min');
    const intervalMs = intervals.get('customs-xray / Throughput / A') as number;
    t.equal(intervalMs, 60_000, 'throughput buckets honour the panel minimum interval of 1m');
    for (const node of ['xr-1', 'xr-2', 'xr-3']) {
      t.equal(Math.round((perMin[node] ?? 0) * (intervalMs / 60_000)), scans.filter((s) => s.node === node).length, `${node}: scans per minute integrate to the scans sent`);
    }
    const lat = rowsOf(res('customs-xray / Latency percentiles / A')).filter((r) => r.p50 !== null);
    const maxLatency = Math.max(...scans.map((s) => s.latency_ms));
    t.ok(lat.length > 0 && lat.every((r) => (r.p50 as number) <= (r.p95 as number) && (r.p95 as number) <= (r.p99 as number) && (r.p99 as number) <= maxLatency), 'p50 ≤ p95 ≤ p99 ≤ the slowest scan');
    const inspect = rowsOf(res('customs-xray / Recent inspect decisions / A'));
    const wantInspect = scans.filter((s) => s.decision === 'inspect');
    t.same(sorted(inspect.map((r) => r.scan_id as string)), sorted(wantInspect.map((s) => s.scanId)), 'every inspect decision, and only those');
    t.ok(inspect.every((r) => r.reasons === 'ATR: firearm 0.91; density anomaly in lower left' && r.top_class === 'firearm'), 'with their reasons and top class');
    t.ok(inspect.every((r, i) => i === 0 || (inspect[i - 1]?.time as number) >= (r.time as number)), 'newest first');
  });

  t.test('cameras', async (t) => {
    const events = of(sent, 'event');
    const byType = countBy(events, (e) => e.type);
    t.same(sumByTag(res('customs-cameras / Events by type / A'), 'type', 'events'), byType, 'events by type add up to what was sent');
    t.same(
      sumByTag(res('customs-cameras / Dwell and abandoned bags / A'), 'type', 'events'),
      { dwell: byType.dwell, abandoned_bag: byType.abandoned_bag },
      'dwell and abandoned counts',
    );
    const table = rowsOf(res('customs-cameras / Recent events / A'));
    t.equal(table.length, events.length, 'every event listed');
    for (const e of events) {
      t.match(table.find((r) => r.event_id === e.eventId), { node: e.node, camera: e.camera, type: e.type, track_ids: e.trackIds.join(','), confidence: e.confidence }, `${e.eventId}: camera, type, track ids, confidence`);
    }
    t.same(
      Object.fromEntries((res('customs-cameras / Events per camera / A').results[0]?.series ?? []).map((s) => [s.tags?.camera ?? '', s.values[0]?.[1]])),
      countBy(events, (e) => e.camera),
      'events per camera',
    );
  });

  // Pass 2: one site and some of its nodes picked from the $node list, over an absolute range as the backend writes it.
  t.test('with a site and several nodes selected, over an absolute range', async (t) => {
    const range = { fromMs: now - SPAN_MS - 60_000, toMs: now + 60_000 };
    for (const uid of ['customs-fleet', 'customs-radiation', 'customs-xray', 'customs-cameras']) {
      const vars = variablesOf(dashboards, uid);
      const base = { range, selection: { site: { values: ['harbour'] } } as Record<string, VariableSelection> };
      const nodeQ = queries.find((q) => q.dashboardUid === uid && q.refId === 'node') as GrafanaQuery;
      const { res: nodeRes } = await run(nodeQ, { ...base, variables: vars, intervalMs: 10_000 });
      const options = sorted(rowsOf(nodeRes).map((r) => r.value as string));
      const harbour = NODES.filter((n) => n.site === 'harbour').map((n) => n.node);
      t.ok(options.length > 0 && options.every((n) => harbour.includes(n)), `${uid}: $node offers only harbour nodes (${options.join(', ')})`);
      const picked = options.slice(0, 2);
      base.selection.node = { values: picked };
      for (const q of queries.filter((x) => x.dashboardUid === uid && x.kind === 'panel')) {
        const ctx = contextFor(q, base, range.toMs - range.fromMs, 300);
        const { text, res: r } = await run(q, ctx);
        if (picked.length > 1) t.match(text, `"node" =~ /^(${picked.join('|')})$/`, `${queryKey(q)}: several nodes as (a|b)`);
        t.same(shapeProblems(q, text, r), [], `[harbour] ${queryKey(q)}: runs, returns data with the expected columns and tag groups`);
        const nodes = rowsOf(r)
          .map((row) => row.node)
          .filter((n): n is string => typeof n === 'string');
        t.ok(nodes.every((n) => picked.includes(n)), `${queryKey(q)}: only the picked nodes`);
      }
    }
  });
});
