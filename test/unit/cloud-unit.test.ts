// Unit tests of the aggregator's parts: dedup window, gap accounting, boot clocks, spool, drainer, config errors.
import t from 'tap';
import { appendFileSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../common/errors.js';
import { loadAggregatorConfig, parseAggregatorConfig } from '../../cloud/config.js';
import { BootClocks, DedupTracker, SeqWindow } from '../../cloud/dedup.js';
import { LineFileSink, SinkError, type Sink } from '../../cloud/aggregator/sinks.js';
import { SpoolDrainer } from '../../cloud/aggregator/writer.js';
import { Spool, SpoolError } from '../../cloud/spool.js';
import { tempDir } from '../harness/services.js';

t.test('dedup window: in order, duplicates, out of order', async (t) => {
  const d = new DedupTracker();
  t.same(Array.from({ length: 100 }, (_, s) => d.observe('n1', 'a', 'b1', s, 0)), Array(100).fill('new'), 'first sight of 0..99 is new');
  t.equal(d.observe('n1', 'a', 'b1', 50, 0), 'duplicate', 'seq seen before is a duplicate');
  t.equal(d.observe('n1', 'a', 'b1', 99, 0), 'duplicate', 'the newest seq too');
  t.equal(d.observe('n1', 'a', 'b2', 50, 0), 'new', 'same seq of another boot is new');
  t.equal(d.observe('n2', 'a', 'b1', 50, 0), 'new', 'same seq of another node is new');
  t.equal(d.missing, 0, 'nothing missing');
  const w = new SeqWindow();
  for (let s = 0; s < 10_000; s++) w.add(s, 0);
  t.equal(w.ranges, 1, 'a contiguous run is one range, however long');
});

t.test('gap accounting: grace period, late arrivals un-count, backlog below live data', async (t) => {
  const d = new DedupTracker();
  for (let s = 0; s < 10; s++) d.observe('n1', 'a', 'b1', s, 1000);
  d.observe('n1', 'a', 'b1', 15, 1000);
  t.equal(d.missing, 5, 'seqs 10..14 missing');
  t.same(d.holes('n1', 'b1'), [[10, 14]]);
  t.same(d.dueGaps(1500, 1000), [], 'not reported within the grace period');
  const due = d.dueGaps(2000, 1000);
  t.same(due, [{ node: 'n1', site: 'a', boot: 'b1', from: 10, to: 14, missing: 5, openFor_ms: 1000 }], 'reported after it');
  t.same(d.dueGaps(9000, 1000), [], 'reported once');
  d.observe('n1', 'a', 'b1', 12, 3000);
  t.equal(d.missing, 4, 'a late arrival un-counts its seq');
  t.same(d.holes('n1', 'b1'), [[10, 11], [13, 14]], 'and splits the hole');
  t.same(d.dueGaps(9000, 1000), [], 'the halves of a reported hole are not reported again');
  for (const s of [10, 11, 13, 14]) d.observe('n1', 'a', 'b1', s, 3000);
  t.equal(d.missing, 0, 'all filled');
  t.same(d.holes('n1', 'b1'), []);

  // Live data first, then the backlog drained after an outage: the hole closes as the backlog arrives.
  d.observe('n2', 'a', 'b9', 1000, 0);
  d.observe('n2', 'a', 'b9', 1001, 0);
  t.equal(d.missing, 0, 'seqs below the first one seen are not counted');
  d.observe('n2', 'a', 'b9', 0, 0);
  t.equal(d.missing, 999, 'once seq 0 arrives, 1..999 are missing');
  t.ok(Array.from({ length: 999 }, (_, i) => d.observe('n2', 'a', 'b9', i + 1, 0)).every((r) => r === 'new'), 'the backlog is new');
  t.equal(d.missing, 0, 'the backlog filled it');
  t.equal(d.observe('n2', 'a', 'b9', 500, 0), 'duplicate');
});

t.test('dedup window stays bounded and never drops data to do so', async (t) => {
  const w = new SeqWindow(4);
  let forgotten = 0;
  for (let i = 0; i < 10; i++) forgotten += w.add(i * 10, 0).forgotten; // 10 ranges, 9 holes of 9
  t.equal(w.ranges, 4, 'at most maxRanges ranges');
  t.equal(forgotten, 6 * 9, 'the holes given up on are reported as forgotten');
  t.equal(w.missing, 3 * 9, 'the remaining holes are still open');
  t.notOk(w.has(0), 'a forgotten seq is accepted again (rewriting the same point), never dropped');

  const d = new DedupTracker({ maxBoots: 2 });
  d.observe('n', 'a', 'boot1', 0, 0);
  d.observe('n', 'a', 'boot1', 5, 0);
  d.observe('n', 'a', 'boot2', 0, 0);
  d.observe('n', 'a', 'boot3', 0, 0);
  t.equal(d.missing, 4, 'the evicted boot keeps its missing seqs counted as lost');
  t.notOk(d.isDuplicate('n', 'boot1', 0), 'the oldest boot was forgotten');
  t.ok(d.isDuplicate('n', 'boot3', 0));
});

t.test('boot clocks: trusted, corrected, received and deterministic across a restart', async (t) => {
  const c = new BootClocks();
  const base = { node: 'n1', boot: 'b1' };
  const T = 1_700_000_000_000; // a trusted ts must be a plausible time (after 2000, not ahead of the receive time)
  const r1 = c.resolve({ ...base, ts: 5_000, tsTrusted: false, mono_ms: 100 }, 1_000_000);
  t.same(r1, { time_ms: 1_000_000, tsSrc: 'received', changed: true }, 'no trusted time yet: receive time');
  const again = c.resolve({ ...base, ts: 5_000, tsTrusted: false, mono_ms: 100 }, 1_234_567);
  t.same(again, { time_ms: 1_000_000, tsSrc: 'received', changed: false }, 'a redelivery later gets the same timestamp');
  t.equal(c.resolve({ ...base, ts: 5_000, tsTrusted: false, mono_ms: 600 }, 1_234_567).time_ms, 1_000_500, 'later ones follow the monotonic clock');
  t.same(c.resolve({ ...base, ts: T + 2_000_000, tsTrusted: true, mono_ms: 1000 }, T), { time_ms: T + 2_000_000, tsSrc: 'edge', changed: true });
  t.same(c.resolve({ ...base, ts: 9, tsTrusted: false, mono_ms: 1500 }, T), { time_ms: T + 2_000_500, tsSrc: 'corrected', changed: false }, 'corrected with the boot offset');
  t.equal(c.resolve({ ...base, ts: T + 3_000_000, tsTrusted: true, mono_ms: 1600 }, T).changed, false, 'the first trusted offset is kept');
  t.equal(c.resolve({ node: 'n1', boot: 'b2', ts: 9, tsTrusted: false, mono_ms: 0 }, 42).tsSrc, 'received', 'offsets are per boot');

  const restarted = new BootClocks();
  t.equal(restarted.load(JSON.parse(JSON.stringify(c))), 2, 'the table round-trips through JSON');
  t.same(restarted.resolve({ ...base, ts: 9, tsTrusted: false, mono_ms: 1500 }, 99), { time_ms: T + 2_000_500, tsSrc: 'corrected', changed: false });
  t.equal(restarted.load({ bad: 'x', worse: null }), 0, 'malformed entries are skipped');
});

function rec(i: number): string {
  return `rad,node=n1,site=a seq=${i}i,hist=false ${1_700_000_000_000 + i}000000\n`;
}

function drain(s: Spool, max = 1000): string {
  let out = '';
  for (;;) {
    const b = s.readBatch(max);
    if (!b) return out;
    out += b.data.toString();
    s.commit(b);
  }
}

t.test('spool: append, read in order, commit deletes segments, replay after reopen', async (t) => {
  const dir = tempDir('spool-unit');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const opts = { dir, maxBytes: 1 << 20, fsync: 'interval' as const, fsyncInterval_ms: 10, segmentBytes: 4096 };
  const s = new Spool(opts);
  s.open();
  t.ok(Array.from({ length: 300 }, (_, i) => s.append(rec(i), 1)).every(Boolean), '300 records appended');
  t.ok(s.segmentCount > 3, `rolled into ${s.segmentCount} segments`);
  t.equal(s.pendingLines, 300);
  t.throws(() => new Spool(opts).open(), SpoolError, 'a second spool on the same directory is refused');
  const other = { ...opts, dir: join(dir, 'other') };
  mkdirSync(other.dir);
  writeFileSync(join(other.dir, 'LOCK'), '1');
  t.throws(() => new Spool(other).open(), /in use by process 1/, 'a LOCK of another live process is respected');
  writeFileSync(join(other.dir, 'LOCK'), String(process.pid));
  const stale = new Spool(other);
  stale.open();
  t.pass('a LOCK with our own pid but not open here (a restarted container, PID 1 again) is taken over');
  stale.close();

  // Take the first 100 lines in batches of at most 25 (a batch ends early at a segment end).
  let got = '';
  let taken = 0;
  while (taken < 100) {
    const b = s.readBatch(Math.min(25, 100 - taken))!;
    t.ok(b.lines > 0 && b.lines <= 25);
    taken += b.lines;
    got += b.data.toString();
    s.commit(b);
  }
  t.equal(got, Array.from({ length: 100 }, (_, i) => rec(i)).join(''), 'lines come back whole and in order');
  const b = s.readBatch(10)!;
  t.throws(() => s.commit({ ...b, start: b.start + 1 }), SpoolError, 'commit out of order refused');
  const before = readdirSync(dir).filter((n) => n.endsWith('.lp')).length;
  s.close();

  const s2 = new Spool(opts);
  s2.open();
  t.ok(s2.replayed > 0, 'uncommitted data is replayed');
  t.ok(readdirSync(dir).filter((n) => n.endsWith('.lp')).length <= before + 1, 'drained segments were deleted');
  const replay = drain(s2);
  const replayed = replay.split('\n').filter(Boolean);
  t.ok(replayed.length >= 200 && replayed.length < 300, `replay holds the 200 uncommitted lines (plus at most one segment already written): ${replayed.length}`);
  t.equal(replay.slice(-rec(299).length), rec(299), 'replay ends with the last record');
  t.same(Array.from({ length: 200 }, (_, i) => rec(i + 100)).filter((r) => !replay.includes(r)), [], 'every uncommitted record is replayed');
  t.equal(s2.pendingBytes, 0);
  s2.close();
  t.same(readdirSync(dir).filter((n) => n.endsWith('.lp')).length, 0, 'nothing left once all is committed');
});

t.test('spool: a torn tail and NUL-filled lines from a power cut are cut off at reopen', async (t) => {
  const dir = tempDir('spool-torn');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const opts = { dir, maxBytes: 1 << 20, fsync: 'always' as const, fsyncInterval_ms: 10 };
  const s = new Spool(opts);
  s.open();
  for (let i = 0; i < 5; i++) s.append(rec(i), 1);
  s.close();
  const seg = join(dir, readdirSync(dir).find((n) => n.endsWith('.lp'))!);
  const good = statSync(seg).size;
  appendFileSync(seg, Buffer.concat([Buffer.from('\0\0\0\0\n'), Buffer.from(rec(5)), Buffer.from('rad,node=n1 seq=6i 17000')]));
  const s2 = new Spool(opts);
  s2.open();
  t.equal(statSync(seg).size, good + 5 + rec(5).length, 'the partial last line was truncated');
  const all = drain(s2);
  t.equal(all, [0, 1, 2, 3, 4, 5].map(rec).join(''), 'whole lines kept, NUL line and torn tail gone');
  s2.close();
});

t.test('spool: full spool refuses appends until commits make room; waitCommitted', async (t) => {
  const dir = tempDir('spool-full');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const s = new Spool({ dir, maxBytes: 65536, fsync: 'never', fsyncInterval_ms: 10 });
  s.open();
  let n = 0;
  while (s.append(rec(n), 1)) n++;
  t.ok(n > 100 && s.full, `full after ${n} records`);
  let spaced = false;
  const space = s.waitForSpace().then(() => (spaced = true));
  const mark = s.mark();
  let committed = false;
  const done = s.waitCommitted(mark).then(() => (committed = true));
  await new Promise((r) => setTimeout(r, 20));
  t.notOk(spaced, 'no room yet');
  const b = s.readBatch(10)!;
  s.commit(b);
  await space;
  t.ok(spaced && s.append(rec(n), 1), 'room again after a commit');
  t.notOk(committed, 'not everything committed yet');
  drain(s);
  await done;
  t.ok(committed, 'waitCommitted resolves once the mark is committed');
  s.close();
  await t.rejects(s.waitCommitted(s.mark() + 1), SpoolError, 'waiting on a closed spool fails instead of hanging');
});

t.test('drainer: batches in order, retries a failing sink, then a line file', async (t) => {
  const dir = tempDir('drainer');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const spool = new Spool({ dir: join(dir, 'spool'), maxBytes: 1 << 20, fsync: 'never', fsyncInterval_ms: 10 });
  spool.open();
  const bodies: string[] = [];
  let failures = 3;
  const flaky: Sink = {
    describe: 'flaky',
    start: async () => undefined,
    close: async () => undefined,
    write: async (b) => {
      if (failures-- > 0) throw new SinkError('down', false);
      bodies.push(b.toString());
    },
  };
  const ups: boolean[] = [];
  const d = new SpoolDrainer({ spool, sink: flaky, batchSize: 40, flushInterval_ms: 20, onSinkState: (u) => ups.push(u) });
  d.start();
  for (let i = 0; i < 100; i++) {
    spool.append(rec(i), 1);
    d.notify();
  }
  await d.flush();
  t.equal(bodies.join(''), Array.from({ length: 100 }, (_, i) => rec(i)).join(''), 'every line once, in order, after the sink came back');
  t.ok(bodies.every((b) => b.split('\n').length - 1 <= 40), 'no batch above batchSize');
  t.match(d.stats(), { writtenPoints: 100, writeErrors: 3, sinkUp: true });
  t.same(ups, [false, true], 'sink state changes reported');
  await d.stop(1000);
  spool.close();

  const file = join(dir, 'points.lp');
  const spool2 = new Spool({ dir: join(dir, 'spool2'), maxBytes: 1 << 20, fsync: 'never', fsyncInterval_ms: 10 });
  spool2.open();
  const sink = new LineFileSink({ file, database: 'customs', sync: true });
  await sink.start();
  const d2 = new SpoolDrainer({ spool: spool2, sink, batchSize: 1000, flushInterval_ms: 5000 });
  d2.start();
  spool2.append(rec(1) + rec(2), 2);
  d2.notify();
  await d2.flush();
  t.equal(readFileSync(file, 'utf8'), `# DDL\nCREATE DATABASE customs\n\n# DML\n# CONTEXT-DATABASE: customs\n# CONTEXT-RETENTION-POLICY: autogen\n${rec(1)}${rec(2)}`, 'influx -import format');
  await d2.stop(1000);
  await sink.close();
  spool2.close();
});

t.test('config: defaults, and every problem listed at once', async (t) => {
  const ok = parseAggregatorConfig('x.yaml', { mqtt: { url: 'mqtt://b:1883' }, influx: { url: 'http://i:8086' }, spool: { dir: '/tmp/s' } });
  t.match(ok, {
    id: 'agg-1',
    mqtt: { group: 'customs', clientId: 'customs-agg-agg-1', sessionExpiry_s: 3600, protocolVersion: 5, shared: true },
    influx: { database: 'customs', batchSize: 5000, flushInterval_ms: 100, timeout_ms: 10000 },
    spool: { maxBytes: 1024 ** 3, fsync: 'interval', fsyncInterval_ms: 200 },
    maxPayloadBytes: 65536,
  });
  const raw = { id: 'Agg 1', mqtt: { url: 'http://b', cert: 'c.pem', extra: 1 }, spool: { fsync: 'sometimes' }, http: { port: 70000 } };
  const err = t.throws(() => parseAggregatorConfig('agg.yaml', raw)) as ConfigError;
  t.ok(err instanceof ConfigError, 'a ConfigError');
  t.equal(err.code, 'E_CONFIG');
  t.match(err.message, /^agg\.yaml: invalid configuration/, 'names the file');
  const expected = [/^\/id: must match pattern/, /^\/mqtt\/url: must match pattern/, /^\/mqtt: unexpected property "extra"/, /^\/spool: must have required property 'dir'/, /^\/spool\/fsync: /, /^\/http\/port: must be <= 65535/, /^\/: expected "influx" or "lineFile"/, /^\/mqtt: expected "cert" and "key" together/];
  for (const re of expected) t.ok(err.problems.some((p) => re.test(p)), `problem listed: ${re.source}`);
  t.same(raw.mqtt, { url: 'http://b', cert: 'c.pem', extra: 1 }, 'the caller object is not changed');

  const dir = tempDir('agg-config');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const f = join(dir, 'agg.yaml');
  writeFileSync(f, 'mqtt:\n  url: mqtt://b\ninflux: { url: "http://i" }\nlineFile: x.lp\nspool: { dir: s, maxBytes: 1 }\n');
  const e2 = t.throws(() => loadAggregatorConfig(f)) as ConfigError;
  t.same(e2.problems, ['/spool/maxBytes: must be >= 65536', '/lineFile: expected only one of "influx" and "lineFile"'], 'schema and cross-field problems from a file');
  writeFileSync(f, 'mqtt: [url\n');
  t.match((t.throws(() => loadAggregatorConfig(f)) as ConfigError).problems[0], /^line \d+, column \d+:/, 'YAML syntax errors name line and column');
});
