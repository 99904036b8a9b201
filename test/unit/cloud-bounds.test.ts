// Bounds that keep accepted messages storable: schema limits, tag budget, sane gaps and times, refused-line split, backoff.
import t from 'tap';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BootClocks, DedupTracker, MAX_COUNTED_GAP } from '../../cloud/dedup.js';
import { pointTime } from '../../cloud/points.js';
import { Quarantine, SinkError, type Sink } from '../../cloud/aggregator/sinks.js';
import { TagBudget } from '../../cloud/aggregator/tag-budget.js';
import { SpoolDrainer } from '../../cloud/aggregator/writer.js';
import { Spool } from '../../cloud/spool.js';
import { decode, MAX_INT, MAX_TS_MS } from '../../protocol/index.js';
import { tempDir } from '../harness/services.js';
import { makeMessage, wire } from '../helpers/messages.js';
import { until } from '../helpers/wait.js';

/** The wire bytes of a valid message with one field replaced by raw JSON text (so 2^63 and 1e999 stay as written). */
function withRaw(kind: 'rad' | 'status' | 'event' | 'alarm' | 'ack' | 'spectrum', path: string, raw: string): { topic: string; payload: Buffer } {
  const base = makeMessage(kind as 'rad', { node: 'n1', seq: 3 }, kind === 'rad' ? { detectors: [{ id: 'left', cps: 1 }] } : {});
  const w = wire(kind as 'rad', base);
  const obj = JSON.parse(w.payload.toString()) as Record<string, unknown>;
  const keys = path.split('.');
  let o = obj as Record<string, unknown>;
  for (const k of keys.slice(0, -1)) o = o[k] as Record<string, unknown>;
  o[keys.at(-1)!] = '__RAW__';
  return { topic: w.topic, payload: Buffer.from(JSON.stringify(obj).replace('"__RAW__"', raw)) };
}

t.test('out-of-range values and untaggable strings are refused at validation, naming the field', async (t) => {
  const cases: [Parameters<typeof withRaw>[0], string, string, string][] = [
    ['rad', 'seq', '9223372036854775808', '/seq'],
    ['rad', 'seq', '1e300', '/seq'],
    ['rad', 'ts', String(MAX_TS_MS + 1), '/ts'],
    ['rad', 'ts', '1e300', '/ts'],
    ['rad', 'mono_ms', '1e300', '/mono_ms'],
    ['rad', 'gross_cps', '1e999', '/gross_cps'],
    ['rad', 'detectors.0.id', JSON.stringify('left\nright'), '/detectors/0/id'],
    ['rad', 'detectors.0.id', JSON.stringify('left\\'), '/detectors/0/id'],
    ['rad', 'detectors.0.id', JSON.stringify('a b'), '/detectors/0/id'],
    ['rad', 'detectors.0.id', JSON.stringify('x'.repeat(33)), '/detectors/0/id'],
    ['status', 'outbox.depth', '1e300', '/outbox/depth'],
    ['event', 'camera', JSON.stringify('hall\\'), '/camera'],
    ['event', 'camera', JSON.stringify('hall\n1'), '/camera'],
    ['event', 'trackIds', '[1e300]', '/trackIds/0'],
    ['alarm', 'nuclides.0.nuclide', JSON.stringify('Cs\r137'), '/nuclides/0/nuclide'],
    ['ack', 'cmd', JSON.stringify('config\\'), '/cmd'],
    ['spectrum', 'detector', JSON.stringify('det a'), '/detector'],
  ];
  for (const [kind, path, raw, field] of cases) {
    const w = withRaw(kind, path, raw);
    const d = decode(w.topic, w.payload);
    t.match(d, { ok: false, reason: 'schema' }, `${kind} ${path} = ${raw.slice(0, 30)}: refused`);
    if (!d.ok) t.ok(d.detail.includes(field), `the detail names ${field}: ${d.detail.slice(0, 120)}`);
  }
  // The limits themselves are accepted.
  for (const [kind, path, raw] of [
    ['rad', 'seq', String(MAX_INT)],
    ['rad', 'ts', String(MAX_TS_MS)],
    ['rad', 'detectors.0.id', JSON.stringify('Det_1.a:b-' + 'x'.repeat(22))],
    ['event', 'camera', JSON.stringify('hall\\ 1,a=b\\c')],
  ] as const) {
    const w = withRaw(kind, path, raw);
    t.equal(decode(w.topic, w.payload).ok, true, `${kind} ${path} = ${raw.slice(0, 30)}: accepted`);
  }
});

t.test('the gap gauge never shows a bogus seq jump as lost messages', async (t) => {
  const d = new DedupTracker();
  for (let s = 0; s < 5; s++) d.observe('n1', 'a', 'b1', s, 0);
  d.observe('n1', 'a', 'b1', MAX_INT, 0);
  t.equal(d.missing, 0, `a jump of 2^53 is not counted as ${MAX_INT - 5} missing`);
  t.same(d.dueGaps(1e9, 0), [], 'nor reported as a gap');
  t.equal(d.observe('n1', 'a', 'b1', MAX_INT, 0), 'duplicate', 'the seq is still held for dedup');
  d.observe('n1', 'a', 'b1', 1000, 0);
  t.equal(d.missing, 0, 'a seq inside the uncounted hole does not drive the count negative');
  t.equal(d.observe('n1', 'a', 'b1', 1000 + MAX_COUNTED_GAP, 0), 'new');
  t.equal(d.missing, 0, 'the halves of a split uncounted hole stay uncounted');
  d.observe('n1', 'a', 'b2', 0, 0);
  d.observe('n1', 'a', 'b2', MAX_COUNTED_GAP + 1, 0);
  t.equal(d.missing, MAX_COUNTED_GAP, 'a gap up to the limit is still counted');
  d.observe('n1', 'a', 'b3', 0, 0);
  d.observe('n1', 'a', 'b3', MAX_COUNTED_GAP + 2, 0);
  t.equal(d.missing, MAX_COUNTED_GAP, 'one past it is not');
});

t.test('boot clocks: an implausible trusted ts is not stored as edge time', async (t) => {
  const now = 1_800_000_000_000;
  const c = new BootClocks();
  const r0 = c.resolve({ node: 'n1', boot: 'b1', ts: 0, tsTrusted: true, mono_ms: 100 }, now);
  t.same(r0, { time_ms: now, tsSrc: 'received', changed: true }, 'ts 0 marked trusted: placed at receive time, not at 1970 as edge time');
  t.equal(c.resolve({ node: 'n1', boot: 'b1', ts: 5, tsTrusted: false, mono_ms: 200 }, now).tsSrc, 'received', 'and it set no boot offset');
  t.equal(c.resolve({ node: 'n2', boot: 'b1', ts: 900_000_000_000, tsTrusted: true, mono_ms: 1 }, now).tsSrc, 'received', '1998: before 2000');
  t.equal(c.resolve({ node: 'n3', boot: 'b1', ts: now + 2 * 86_400_000, tsTrusted: true, mono_ms: 1 }, now).tsSrc, 'received', 'two days ahead');
  t.same(c.resolve({ node: 'n4', boot: 'b1', ts: now - 1000, tsTrusted: true, mono_ms: 1 }, now), { time_ms: now - 1000, tsSrc: 'edge', changed: true });
  const huge = c.resolve({ node: 'n4', boot: 'b1', ts: 1, tsTrusted: false, mono_ms: MAX_TS_MS }, now);
  t.equal(huge.time_ms, MAX_TS_MS, 'a corrected time past what InfluxDB stores is clamped');
  t.equal(pointTime(1e300, 7), `${MAX_TS_MS}000007`, 'pointTime clamps too');
  t.equal(pointTime(-5, 7), '0000007');
});

t.test('tag budget: per node, all or nothing, survives a restart', async (t) => {
  const b = new TagBudget(3);
  t.same(b.admit('n1', [['detector', 'a'], ['detector', 'b']]), { ok: true, changed: true });
  t.same(b.admit('n1', [['detector', 'a']]), { ok: true, changed: false }, 'a known value changes nothing');
  const r = b.admit('n1', [['detector', 'c'], ['detector', 'd']]);
  t.equal(r.ok, false, 'two new values past a cap of 3');
  if (!r.ok) t.match(r.detail, /detector "c".*n1.*limit is 3 \(config tagValuesPerNode\)/);
  t.equal(b.count('n1', 'detector'), 2, 'nothing of the refused message was recorded');
  t.same(b.admit('n1', [['detector', 'c'], ['camera', 'x']]), { ok: true, changed: true }, 'keys have their own caps');
  t.same(b.admit('n2', [['detector', 'd'], ['detector', 'e'], ['detector', 'f']]), { ok: true, changed: true }, 'other nodes unaffected');
  const again = new TagBudget(3);
  again.load(JSON.parse(JSON.stringify(b)));
  t.equal(again.admit('n1', [['detector', 'z']]).ok, false, 'a restart gives no fresh allowance');
  t.equal(again.count('n2', 'detector'), 3);
});

function line(i: number, bad = false): string {
  return `rad,node=n1,site=a seq=${i}i${bad ? ',x="bad"' : ''} ${1_700_000_000_000 + i}000000\n`;
}

t.test('drainer: refused lines are found, quarantined and counted; the good lines of their batch are written', async (t) => {
  const dir = tempDir('refused');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const spool = new Spool({ dir: join(dir, 'spool'), maxBytes: 1 << 20, fsync: 'never', fsyncInterval_ms: 10 });
  spool.open();
  const stored = new Set<string>();
  let requests = 0;
  // Like InfluxDB's partial write: takes the good lines of a request and answers 400 when any line is bad.
  const sink: Sink = {
    describe: 'partial',
    start: async () => undefined,
    close: async () => undefined,
    write: async (b) => {
      requests++;
      const ls = b.toString().split('\n').filter(Boolean);
      for (const l of ls) if (!l.includes('bad')) stored.add(l);
      if (ls.some((l) => l.includes('bad'))) throw new SinkError('partial write: field type conflict dropped=1', true);
    },
  };
  const quarantine = new Quarantine({ file: join(dir, 'q.lp'), sync: false });
  const d = new SpoolDrainer({ spool, sink, batchSize: 500, flushInterval_ms: 10, quarantine });
  d.start();
  const bad = new Set([3, 77, 78, 250, 499]);
  for (let i = 0; i < 500; i++) spool.append(line(i, bad.has(i)), 1);
  d.notify();
  await d.flush();
  t.equal(stored.size, 495, 'every good line written');
  const q = readFileSync(join(dir, 'q.lp'), 'utf8').split('\n').filter(Boolean);
  t.same(
    q.filter((l) => !l.startsWith('#')),
    [...bad].map((i) => line(i, true).trimEnd()),
    'exactly the refused lines are in the quarantine, in order',
  );
  t.ok(q.filter((l) => l.startsWith('#')).every((l) => l.includes('field type conflict')), 'each with the reason');
  t.match(d.stats(), { writtenPoints: 495, rejectedPoints: 5 }, 'points_refused counts the refused lines only');
  t.ok(requests < 120, `found with ${requests} requests, not one per line`);
  t.equal(spool.pendingBytes, 0, 'the batch left the spool');
  await d.stop(1000);
  quarantine.close();
  spool.close();
});

t.test('drainer: messages arriving during an outage do not wake the retry', async (t) => {
  const dir = tempDir('backoff');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const spool = new Spool({ dir: join(dir, 'spool'), maxBytes: 64 << 20, fsync: 'never', fsyncInterval_ms: 10 });
  spool.open();
  let down = true;
  let attempts = 0;
  let lines = 0;
  const sink: Sink = {
    describe: 'outage',
    start: async () => undefined,
    close: async () => undefined,
    write: async (b) => {
      attempts++;
      if (down) throw new SinkError('connect ECONNREFUSED', false);
      lines += b.toString().split('\n').length - 1;
    },
  };
  const d = new SpoolDrainer({ spool, sink, batchSize: 50, flushInterval_ms: 10 });
  d.start();
  const t0 = Date.now();
  let i = 0;
  // 3 s at about 500 messages a second, each notifying the drainer.
  while (Date.now() - t0 < 3000) {
    for (let k = 0; k < 5; k++) {
      spool.append(line(i++), 1);
      d.notify();
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const during = attempts;
  // Backoff 100, 200, 400, 800, 1600 ms: at most 6 attempts in 3 s, whatever the message rate.
  t.ok(during <= 7, `${during} write attempts in a 3 s outage with ${i} messages`);
  t.ok(during >= 3, 'it did keep retrying');
  down = false;
  await until('the backlog is written', () => lines === i, 15_000);
  t.equal(lines, i, 'everything written once after the outage');
  await d.stop(1000);
  spool.close();
});
