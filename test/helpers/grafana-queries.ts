// Reads the provisioned Grafana dashboards and turns every panel and variable query into InfluxQL the way Grafana would send it.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CustomsError } from '../../common/errors.js';

import { ROOT } from './paths.js';
export const DASHBOARD_DIR = join(ROOT, 'cloud', 'grafana', 'dashboards');
export const POINTS_FILE = join(ROOT, 'cloud', 'points.ts');

// ------------------------------------------------------------------------------------------------ dashboard model

export interface DatasourceRef {
  type?: string;
  uid?: string;
}

export interface Target {
  refId?: string;
  datasource?: DatasourceRef | string | null;
  rawQuery?: boolean;
  query?: string;
  resultFormat?: string;
  alias?: string;
  hide?: boolean;
}

export interface Panel {
  id?: number;
  type?: string;
  title?: string;
  datasource?: DatasourceRef | string | null;
  interval?: string;
  targets?: Target[];
  panels?: Panel[];
  collapsed?: boolean;
}

export interface TemplateVariable {
  name: string;
  type: string;
  query?: string | { query?: string };
  datasource?: DatasourceRef | string | null;
  includeAll?: boolean;
  multi?: boolean;
  allValue?: string | null;
}

export interface Dashboard {
  uid?: string;
  title?: string;
  schemaVersion?: number;
  refresh?: string;
  panels?: Panel[];
  templating?: { list?: TemplateVariable[] };
}

export interface LoadedDashboard {
  file: string;
  dashboard: Dashboard;
}

export class DashboardFileError extends CustomsError {
  constructor(
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('E_DASHBOARD', `${file}: ${message}`, options);
  }
}

/** Every `*.json` under the dashboards folder, parsed; a file that is not JSON fails with its name. */
export function loadDashboards(dir: string = DASHBOARD_DIR): LoadedDashboard[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const file = join(dir, f);
      let dashboard: Dashboard;
      try {
        dashboard = JSON.parse(readFileSync(file, 'utf8')) as Dashboard;
      } catch (err) {
        throw new DashboardFileError(file, `not valid JSON: ${(err as Error).message}`, { cause: err });
      }
      return { file, dashboard };
    });
}

/** All panels depth first, including those nested in rows (collapsed rows keep their children in `panels`). */
export function walkPanels(panels: Panel[] | undefined): Panel[] {
  const out: Panel[] = [];
  for (const p of panels ?? []) {
    out.push(p);
    if (p.panels?.length) out.push(...walkPanels(p.panels));
  }
  return out;
}

export function datasourceUid(ds: DatasourceRef | string | null | undefined): string | undefined {
  if (!ds) return undefined;
  return typeof ds === 'string' ? ds : ds.uid;
}

export interface GrafanaQuery {
  dashboardUid: string;
  dashboardTitle: string;
  file: string;
  kind: 'panel' | 'variable';
  /** Panel title, or `$name` for a template variable. */
  panelTitle: string;
  panelType: string;
  panelId?: number;
  refId: string;
  /** The query text exactly as stored in the dashboard, macros and variables unexpanded. */
  query: string;
  resultFormat: string;
  alias?: string;
  /** The panel's minimum interval (`interval`), which raises `$__interval` as Grafana does. */
  minInterval?: string;
  datasourceUid?: string;
  /** Whether the target is a raw InfluxQL query (the only kind these dashboards use). */
  raw: boolean;
}

/** Stable key for expectations: `<dashboard uid> / <panel title> / <refId>`. */
export function queryKey(q: Pick<GrafanaQuery, 'dashboardUid' | 'panelTitle' | 'refId'>): string {
  return `${q.dashboardUid} / ${q.panelTitle} / ${q.refId}`;
}

/** Every target of every panel (rows included) plus the query of every query-type template variable. */
export function collectQueries(dashboards: LoadedDashboard[] = loadDashboards()): GrafanaQuery[] {
  const out: GrafanaQuery[] = [];
  for (const { file, dashboard: d } of dashboards) {
    const dashboardUid = d.uid ?? '';
    const dashboardTitle = d.title ?? '';
    for (const v of d.templating?.list ?? []) {
      if (v.type !== 'query') continue;
      const query = typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
      out.push({
        dashboardUid,
        dashboardTitle,
        file,
        kind: 'variable',
        panelTitle: `$${v.name}`,
        panelType: 'variable',
        refId: v.name,
        query,
        resultFormat: 'table',
        datasourceUid: datasourceUid(v.datasource),
        raw: true,
      });
    }
    for (const p of walkPanels(d.panels)) {
      if (p.type === 'row') continue;
      for (const t of p.targets ?? []) {
        if (t.hide) continue;
        const q: GrafanaQuery = {
          dashboardUid,
          dashboardTitle,
          file,
          kind: 'panel',
          panelTitle: p.title ?? '',
          panelType: p.type ?? '',
          refId: t.refId ?? '',
          query: t.query ?? '',
          resultFormat: t.resultFormat ?? 'time_series',
          datasourceUid: datasourceUid(t.datasource) ?? datasourceUid(p.datasource),
          raw: t.rawQuery === true,
        };
        if (p.id !== undefined) q.panelId = p.id;
        if (t.alias) q.alias = t.alias;
        if (p.interval) q.minInterval = p.interval;
        out.push(q);
      }
    }
  }
  return out;
}

/** The template variables of the dashboard a query belongs to. */
export function variablesOf(dashboards: LoadedDashboard[], uid: string): TemplateVariable[] {
  return dashboards.find((d) => d.dashboard.uid === uid)?.dashboard.templating?.list ?? [];
}

// ------------------------------------------------------------------------------------------------ macros

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };

/** Milliseconds of a Grafana duration such as `10s`, `1m` or `>30s` (the `>` of a minimum interval is ignored). */
export function parseDuration(text: string): number {
  const m = /^>?\s*(\d+)(ms|s|m|h|d|w|y)$/.exec(text.trim());
  if (!m) throw new InterpolationError(`duration "${text}": expected <number><ms|s|m|h|d|w|y>`);
  return Number(m[1]) * (UNIT_MS[m[2] as string] as number);
}

/** Interval text as Grafana's backend writes it into `$__interval`: the largest unit, truncated. */
export function formatInterval(ms: number): string {
  for (const unit of ['y', 'd', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit] as number;
    if (ms >= size) return `${Math.floor(ms / size)}${unit}`;
  }
  return ms >= 1 ? `${Math.floor(ms)}ms` : '1ms';
}

// The steps Grafana snaps a computed interval to, so that buckets line up with clock units.
const NICE_MS = [
  10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 20_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_200_000,
  1_800_000, 3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000, 604_800_000,
];

/**
 * `$__interval` for a panel: range / max data points snapped to a clock-friendly step (nearest on a log scale), never
 * below the panel's and the datasource's minimum interval. Grafana's own table differs slightly at the edges; any
 * value it can produce is one of these steps.
 */
export function intervalFor(opts: { rangeMs: number; maxDataPoints?: number; minInterval?: string; datasourceMinInterval?: string }): number {
  const raw = opts.rangeMs / (opts.maxDataPoints ?? 1000);
  let best = NICE_MS[0] as number;
  for (const n of NICE_MS) if (Math.abs(Math.log(n / raw)) < Math.abs(Math.log(best / raw))) best = n;
  const floors = [opts.minInterval, opts.datasourceMinInterval].filter((x): x is string => !!x).map(parseDuration);
  return Math.max(best, ...floors);
}

/** Grafana's regex escaping of a variable value (kbn.regexEscape): regex metacharacters and the `/` delimiter. */
export function regexEscape(value: string): string {
  return value.replace(/[\\^$*+?.()|[\]{}/]/g, (c) => `\\${c}`);
}

export type TimeRange = { relative: string } | { fromMs: number; toMs: number };

/**
 * `$timeFilter`. A relative range is written the way Grafana's browser-side InfluxQL code writes it
 * (`time >= now() - 1h`); an absolute one the way the backend does (`time >= <ms>ms and time <= <ms>ms`), which is
 * what Grafana 10/11 send by default.
 */
export function timeFilter(range: TimeRange): string {
  if ('relative' in range) {
    const m = /^(?:now-)?(\d+[smhdw])$/.exec(range.relative);
    if (!m) throw new InterpolationError(`relative range "${range.relative}": expected e.g. now-1h`);
    return `time >= now() - ${m[1]}`;
  }
  return `time >= ${Math.trunc(range.fromMs)}ms and time <= ${Math.trunc(range.toMs)}ms`;
}

/** A variable's selection: everything (`All`) or the chosen values. */
export type VariableSelection = { all: true; options?: string[] } | { values: string[] };

export interface InterpolationContext {
  range: TimeRange;
  intervalMs: number;
  variables: TemplateVariable[];
  selection: Record<string, VariableSelection>;
}

export class InterpolationError extends CustomsError {
  constructor(message: string) {
    super('E_INTERPOLATE', message);
  }
}

function formatVariable(v: TemplateVariable, sel: VariableSelection): string {
  if ('all' in sel) {
    // Grafana inserts a custom all value verbatim, unformatted; without one it expands every option.
    if (v.allValue) return v.allValue;
    const options = sel.options ?? [];
    if (options.length === 0) throw new InterpolationError(`variable $${v.name}: All without allValue needs its options`);
    return formatRegex(options);
  }
  return formatRegex(sel.values);
}

/** Grafana's `regex` format, the one it applies to raw InfluxQL: one value escaped, several as `(a|b)`. */
export function formatRegex(values: string[]): string {
  const escaped = values.map(regexEscape);
  return escaped.length === 1 ? (escaped[0] as string) : `(${escaped.join('|')})`;
}

// `$name`, `${name}`, `${name:format}` and `[[name]]`, as Grafana's template service recognises them.
const VARIABLE_RE = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?::([^}]+))?\}/g;

/**
 * The query text Grafana sends to InfluxDB: built-in macros first (the backend expands them after the template
 * service ran, with `$interval` before `$__interval_ms` before `$__interval`), then the dashboard variables.
 */
export function interpolate(query: string, ctx: InterpolationContext): string {
  const intervalText = formatInterval(ctx.intervalMs);
  let text = query
    .replaceAll('$timeFilter', timeFilter(ctx.range))
    .replaceAll('$interval', intervalText)
    .replaceAll('$__interval_ms', String(Math.trunc(ctx.intervalMs)))
    .replaceAll('$__interval', intervalText);
  text = text.replace(VARIABLE_RE, (whole, a?: string, b?: string, bFmt?: string, c?: string, cFmt?: string) => {
    const name = (a ?? b ?? c) as string;
    const fmt = bFmt ?? cFmt;
    const v = ctx.variables.find((x) => x.name === name);
    if (!v) return whole; // Grafana leaves unknown names alone; the caller checks nothing is left over.
    if (fmt && fmt !== 'regex') throw new InterpolationError(`variable $${name}: format "${fmt}" is not the regex format InfluxQL needs`);
    const sel = ctx.selection[name] ?? { all: true };
    return formatVariable(v, sel);
  });
  return text;
}

/** Names that still look like `$variables` after interpolation (regex anchors such as `$/` and `$)` do not count). */
export function leftoverVariables(text: string): string[] {
  return [...text.matchAll(/\$\{?(\w+)/g)].map((m) => m[1] as string);
}

// ------------------------------------------------------------------------------------------------ InfluxQL analysis

type Token =
  | { t: 'qid'; v: string }
  | { t: 'str'; v: string }
  | { t: 'regex'; v: string }
  | { t: 'num'; v: string }
  | { t: 'word'; v: string }
  | { t: 'op'; v: string };

export class InfluxQLSyntaxError extends CustomsError {
  constructor(message: string) {
    super('E_INFLUXQL', message);
  }
}

/** The layout comment of cloud/points.ts is missing or no longer in the shape this reader expects. */
export class PointLayoutError extends CustomsError {
  constructor(message: string) {
    super('E_LAYOUT', `${POINTS_FILE}: ${message}`);
  }
}

export function tokenize(q: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const readQuoted = (quote: string): string => {
    let v = '';
    i++;
    while (i < q.length && q[i] !== quote) {
      if (q[i] === '\\' && i + 1 < q.length) i++;
      v += q[i];
      i++;
    }
    if (i >= q.length) throw new InfluxQLSyntaxError(`unterminated ${quote} starting before offset ${i} in: ${q}`);
    i++;
    return v;
  };
  while (i < q.length) {
    const c = q[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"') {
      out.push({ t: 'qid', v: readQuoted('"') });
    } else if (c === "'") {
      out.push({ t: 'str', v: readQuoted("'") });
    } else if (c === '/' && out.length && out[out.length - 1]?.t === 'op' && ['=~', '!~'].includes(out[out.length - 1]?.v ?? '')) {
      out.push({ t: 'regex', v: readQuoted('/') });
    } else if (/\d/.test(c)) {
      const m = /^\d+(?:\.\d+)?(?:ms|µs|u|ns|s|m|h|d|w)?/.exec(q.slice(i)) as RegExpExecArray;
      out.push({ t: 'num', v: m[0] });
      i += m[0].length;
    } else if (/[A-Za-z_$]/.test(c)) {
      const m = /^[A-Za-z_$][\w$]*/.exec(q.slice(i)) as RegExpExecArray;
      out.push({ t: 'word', v: m[0] });
      i += m[0].length;
    } else {
      const two = q.slice(i, i + 2);
      if (['=~', '!~', '!=', '<>', '>=', '<='].includes(two)) {
        out.push({ t: 'op', v: two });
        i += 2;
      } else {
        out.push({ t: 'op', v: c });
        i++;
      }
    }
  }
  return out;
}

export interface IdentRef {
  name: string;
  /** `field`: argument of a function; `tag`: GROUP BY or SHOW TAG VALUES key/condition; `any`: either. */
  role: 'field' | 'tag' | 'any';
  clause: 'select' | 'where' | 'group by' | 'key';
}

export interface Statement {
  kind: 'select' | 'show tag values';
  measurement?: string;
  subquery?: Statement;
  /** Output column names after `time`, in order: the alias, the bare identifier, or the function name. */
  columns: string[];
  refs: IdentRef[];
  groupByTags: string[];
  groupByTime: boolean;
}

const isWord = (tok: Token | undefined, w: string): boolean => tok?.t === 'word' && tok.v.toUpperCase() === w;

/** Parses the subset of InfluxQL the dashboards use: SELECT (with one level of subqueries or more) and SHOW TAG VALUES. */
export function parseInfluxQL(query: string): Statement {
  const toks = tokenize(query);
  const [stmt, next] = parseStatement(toks, 0, query);
  if (next < toks.length) {
    const rest = toks.slice(next).map((t) => t.v).join(' ');
    throw new InfluxQLSyntaxError(`unexpected "${rest}" after the statement in: ${query}`);
  }
  return stmt;
}

function parseStatement(toks: Token[], start: number, query: string): [Statement, number] {
  let i = start;
  if (isWord(toks[i], 'SHOW') && isWord(toks[i + 1], 'TAG') && isWord(toks[i + 2], 'VALUES')) {
    i += 3;
    const st: Statement = { kind: 'show tag values', columns: ['key', 'value'], refs: [], groupByTags: [], groupByTime: false };
    if (isWord(toks[i], 'FROM')) {
      const m = toks[i + 1];
      if (m?.t !== 'qid' && m?.t !== 'word') throw new InfluxQLSyntaxError(`SHOW TAG VALUES FROM needs a measurement in: ${query}`);
      st.measurement = m.v;
      i += 2;
    }
    if (!isWord(toks[i], 'WITH') || !isWord(toks[i + 1], 'KEY') || toks[i + 2]?.v !== '=' || toks[i + 3]?.t !== 'qid') {
      throw new InfluxQLSyntaxError(`SHOW TAG VALUES needs WITH KEY = "<tag>" in: ${query}`);
    }
    st.refs.push({ name: (toks[i + 3] as Token).v, role: 'tag', clause: 'key' });
    i += 4;
    if (isWord(toks[i], 'WHERE')) {
      i++;
      while (i < toks.length && toks[i]?.v !== ')') {
        const tok = toks[i] as Token;
        // SHOW TAG VALUES can only filter on tags.
        if (tok.t === 'qid') st.refs.push({ name: tok.v, role: 'tag', clause: 'where' });
        i++;
      }
    }
    return [st, i];
  }
  if (!isWord(toks[i], 'SELECT')) throw new InfluxQLSyntaxError(`expected SELECT or SHOW TAG VALUES at "${toks[i]?.v ?? 'end'}" in: ${query}`);
  i++;
  const st: Statement = { kind: 'select', columns: [], refs: [], groupByTags: [], groupByTime: false };

  // Select list: items separated by commas outside parentheses, up to FROM.
  let item: Token[] = [];
  const items: Token[][] = [];
  let depth = 0;
  for (; i < toks.length; i++) {
    const tok = toks[i] as Token;
    if (depth === 0 && isWord(tok, 'FROM')) break;
    if (tok.v === '(' && tok.t === 'op') depth++;
    if (tok.v === ')' && tok.t === 'op') depth--;
    if (depth === 0 && tok.t === 'op' && tok.v === ',') {
      items.push(item);
      item = [];
    } else {
      item.push(tok);
    }
  }
  items.push(item);
  if (!isWord(toks[i], 'FROM')) throw new InfluxQLSyntaxError(`SELECT without FROM in: ${query}`);
  for (const it of items) {
    if (it.length === 0) throw new InfluxQLSyntaxError(`empty item in the select list of: ${query}`);
    let alias: string | undefined;
    const asAt = it.findIndex((x) => isWord(x, 'AS'));
    const body = asAt >= 0 ? it.slice(0, asAt) : it;
    if (asAt >= 0) {
      const a = it[asAt + 1];
      if (!a || (a.t !== 'qid' && a.t !== 'word')) throw new InfluxQLSyntaxError(`AS without a name in: ${query}`);
      alias = a.v;
    }
    body.forEach((tok, k) => {
      if (tok.t !== 'qid') return;
      const inCall = body[k - 1]?.v === '(' && body[k - 2]?.t === 'word';
      st.refs.push({ name: tok.v, role: inCall ? 'field' : 'any', clause: 'select' });
    });
    const first = body[0] as Token;
    const name = alias ?? (body.length === 1 && (first.t === 'qid' || first.t === 'word') ? first.v : first.t === 'word' ? first.v.toLowerCase() : '');
    st.columns.push(name);
  }
  i++; // FROM
  const src = toks[i];
  if (src?.t === 'op' && src.v === '(') {
    const [sub, next] = parseStatement(toks, i + 1, query);
    if (toks[next]?.v !== ')') throw new InfluxQLSyntaxError(`subquery not closed in: ${query}`);
    st.subquery = sub;
    i = next + 1;
  } else if (src?.t === 'qid' || src?.t === 'word') {
    st.measurement = src.v;
    i++;
  } else {
    throw new InfluxQLSyntaxError(`FROM needs a measurement or a subquery in: ${query}`);
  }

  let clause: 'where' | 'group by' | 'other' = 'other';
  depth = 0;
  for (; i < toks.length; i++) {
    const tok = toks[i] as Token;
    if (tok.t === 'op' && tok.v === '(') depth++;
    if (tok.t === 'op' && tok.v === ')') {
      if (depth === 0) break; // end of the enclosing subquery
      depth--;
    }
    if (depth === 0 && isWord(tok, 'WHERE')) clause = 'where';
    else if (depth === 0 && isWord(tok, 'GROUP') && isWord(toks[i + 1], 'BY')) {
      clause = 'group by';
      i++;
    } else if (depth === 0 && (isWord(tok, 'ORDER') || isWord(tok, 'LIMIT') || isWord(tok, 'SLIMIT') || isWord(tok, 'OFFSET') || isWord(tok, 'TZ'))) clause = 'other';
    else if (clause === 'group by' && depth === 0 && isWord(tok, 'TIME') && toks[i + 1]?.v === '(') st.groupByTime = true;
    else if (clause === 'group by' && depth === 0 && tok.t === 'qid') {
      st.groupByTags.push(tok.v);
      st.refs.push({ name: tok.v, role: 'tag', clause: 'group by' });
    } else if (clause === 'where' && tok.t === 'qid') st.refs.push({ name: tok.v, role: 'any', clause: 'where' });
  }
  return [st, i];
}

// ------------------------------------------------------------------------------------------------ point layout

export interface MeasurementLayout {
  tags: Set<string>;
  fields: Set<string>;
}
export type PointLayout = Map<string, MeasurementLayout>;

/**
 * The series layout documented at the top of cloud/points.ts: the common tags and fields of every point, then one
 * `<measurement> [tags a, b] fields x, y,` entry per measurement whose field list may continue on following lines.
 */
export function parsePointLayout(source: string = readFileSync(POINTS_FILE, 'utf8')): PointLayout {
  const start = source.indexOf('Series layout');
  const end = source.indexOf('*/', start);
  if (start < 0 || end < 0) throw new PointLayoutError('no "Series layout" comment');
  const block = source.slice(start, end);
  const common = /carries the tags (.+?) and the fields (.+?)\.\s/s.exec(block);
  if (!common) throw new PointLayoutError('the layout comment does not name the tags and fields every point carries');
  const names = (s: string) => [...s.matchAll(/`(\w+)`/g)].map((m) => m[1] as string);
  const commonTags = names(common[1] as string);
  const commonFields = names(common[2] as string);
  const layout: PointLayout = new Map();
  let current: MeasurementLayout | undefined;
  for (const raw of block.split('\n')) {
    const line = raw.replace(/^\s*\*/, '');
    const head = /^\s{1,4}(\w+)\s+(?:tags\s+([\w, ]+?)\s+)?fields\s+([\w, ]+)$/.exec(line);
    if (head) {
      const tags = (head[2] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
      const fields = (head[3] as string).split(',').map((s) => s.trim()).filter(Boolean);
      current = { tags: new Set([...commonTags, ...tags]), fields: new Set([...commonFields, ...fields]) };
      layout.set(head[1] as string, current);
      continue;
    }
    const more = /^\s{10,}([\w, ]+)$/.exec(line);
    if (more && current) {
      for (const f of (more[1] as string).split(',').map((s) => s.trim()).filter(Boolean)) current.fields.add(f);
      continue;
    }
    current = undefined;
  }
  if (layout.size === 0) throw new PointLayoutError('no measurements found in the layout comment');
  return layout;
}

/** Measurement, tags and fields of one line-protocol line (enough of the syntax for what cloud/points.ts writes). */
export function parseLine(line: string): { measurement: string; tags: string[]; fields: string[] } {
  // Split on unescaped spaces outside double-quoted field strings: measurement+tags, fields, timestamp.
  const parts: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === '\\' && i + 1 < line.length) {
      cur += c + line[++i];
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === ' ' && !quoted) {
      parts.push(cur);
      cur = '';
      continue;
    }
    cur += c;
  }
  parts.push(cur);
  const splitUnescaped = (s: string, sep: string): string[] => {
    const out: string[] = [];
    let acc = '';
    let q = false;
    for (let i = 0; i < s.length; i++) {
      const c = s[i] as string;
      if (c === '\\' && i + 1 < s.length) {
        acc += s[++i];
        continue;
      }
      if (c === '"') q = !q;
      if (c === sep && !q) {
        out.push(acc);
        acc = '';
        continue;
      }
      acc += c;
    }
    out.push(acc);
    return out;
  };
  const [series = '', fieldText = ''] = parts;
  const [measurement = '', ...tagPairs] = splitUnescaped(series, ',');
  return {
    measurement,
    tags: tagPairs.map((p) => p.split('=')[0] as string),
    fields: splitUnescaped(fieldText, ',').map((p) => p.split('=')[0] as string),
  };
}

/** Problems with the names a query uses: unknown measurements, fields or tags, tags used as fields and the reverse. */
export function checkAgainstLayout(st: Statement, layout: PointLayout): string[] {
  const problems: string[] = [];
  if (st.subquery) {
    problems.push(...checkAgainstLayout(st.subquery, layout));
    // The outer query sees the columns and group-by tags of the inner one.
    const cols = new Set(st.subquery.columns);
    const tags = new Set(st.subquery.groupByTags);
    for (const r of st.refs) {
      if (r.role === 'tag' ? !tags.has(r.name) : !cols.has(r.name) && !tags.has(r.name)) {
        problems.push(`${r.clause} "${r.name}": the subquery does not return it`);
      }
    }
    return problems;
  }
  const m = st.measurement ?? '';
  const ml = layout.get(m);
  if (!ml) {
    problems.push(`FROM "${m}": the aggregator writes no such measurement (known: ${[...layout.keys()].join(', ')})`);
    return problems;
  }
  for (const r of st.refs) {
    const isTag = ml.tags.has(r.name);
    const isField = ml.fields.has(r.name);
    if (!isTag && !isField) problems.push(`${r.clause} "${r.name}": ${m} has no such field or tag`);
    else if (r.role === 'tag' && !isTag) problems.push(`${r.clause} "${r.name}": is a field of ${m}, expected a tag`);
    else if (r.role === 'field' && !isField) problems.push(`${r.clause} "${r.name}": is a tag of ${m}, expected a field`);
  }
  return problems;
}
