// The durable outbox: replay after restart, acks, torn tails, the size bound and kill -9.
import t from 'tap';
import { spawn } from 'node:child_process';
import { appendFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Outbox, type OutboxEntry } from '../../edge/runtime/outbox.js';
import { tempDir } from '../harness/services.js';
import { ROOT } from '../helpers/paths.js';

const T = 'customs/v1/site-a/veh-01/rad';
const msg = (i: number, pad = 0) => Buffer.from(JSON.stringify({ seq: i, pad: 'x'.repeat(pad) }));
const seqOf = (ob: Outbox, e: OutboxEntry) => (JSON.parse(ob.payloadOf(e).toString()) as { seq: number }).seq;

t.test('unacknowledged entries are replayed in order after reopen', async (t) => {
  const dir = tempDir('outbox');
  let ob = await Outbox.open({ dir, maxBytes: 1 << 24, segmentBytes: 4096, fsync: 'always' });
  const entries = await Promise.all(Array.from({ length: 500 }, (_, i) => ob.append(T, 'routine', msg(i))));
  t.equal(ob.stats().depth, 500);
  t.ok(ob.stats().segments > 5, 'rolled over several segments');
  // Acknowledge every even one.
  entries.forEach((e, i) => i % 2 === 0 && ob.ack(e!));
  await ob.close();
  ob = await Outbox.open({ dir, maxBytes: 1 << 24, segmentBytes: 4096, fsync: 'always' });
  const rec = ob.takeRecovered();
  t.same(rec.map((e) => seqOf(ob, e)), Array.from({ length: 250 }, (_, i) => 2 * i + 1), 'odd ones back, in order');
  t.equal(ob.stats().depth, 250);
  t.equal(rec[0]!.topic, T);
  for (const e of rec) ob.ack(e);
  await ob.close();
  ob = await Outbox.open({ dir, maxBytes: 1 << 24, segmentBytes: 4096, fsync: 'always' });
  t.equal(ob.takeRecovered().length, 0, 'nothing left once all acknowledged');
  await ob.close();
  t.same(readdirSync(dir).filter((f) => f.endsWith('.log') && statSync(join(dir, f)).size > 0), [], 'resolved segments deleted');
});

t.test('a torn record at the tail is cut off and the rest survives', async (t) => {
  const dir = tempDir('outbox');
  let ob = await Outbox.open({ dir, maxBytes: 1 << 24, segmentBytes: 1 << 20, fsync: 'always' });
  await Promise.all(Array.from({ length: 10 }, (_, i) => ob.append(T, 'critical', msg(i))));
  await ob.close();
  const seg = readdirSync(dir).find((f) => f.endsWith('.log'))!;
  const before = statSync(join(dir, seg)).size;
  appendFileSync(join(dir, seg), Buffer.from([200, 0, 0, 0, 1, 2, 3, 4, 1, 0]));
  ob = await Outbox.open({ dir, maxBytes: 1 << 24, segmentBytes: 1 << 20, fsync: 'always' });
  const rec = ob.takeRecovered();
  t.same(rec.map((e) => seqOf(ob, e)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  t.equal(statSync(join(dir, seg)).size, before, 'file truncated back to the last good record');
  t.equal(rec[0]!.priority, 'critical');
  await ob.close();
});

t.test('a corrupt record (bad CRC) ends replay of that segment instead of returning garbage', async (t) => {
  const dir = tempDir('outbox');
  let ob = await Outbox.open({ dir, maxBytes: 1 << 24, segmentBytes: 1 << 20, fsync: 'always' });
  await Promise.all(Array.from({ length: 3 }, (_, i) => ob.append(T, 'routine', msg(i))));
  await ob.close();
  const seg = join(dir, readdirSync(dir).find((f) => f.endsWith('.log'))!);
  const { readFileSync, writeFileSync } = await import('node:fs');
  const data = readFileSync(seg);
  data[data.length - 2] ^= 0xff; // flip a byte inside the last record's payload
  writeFileSync(seg, data);
  ob = await Outbox.open({ dir, maxBytes: 1 << 24, segmentBytes: 1 << 20, fsync: 'always' });
  t.same(ob.takeRecovered().map((e) => seqOf(ob, e)), [0, 1]);
  await ob.close();
});

t.test('when full, oldest routine telemetry is dropped first and no critical message is ever dropped', async (t) => {
  const dir = tempDir('outbox');
  const maxBytes = 64 * 1024;
  let ob = await Outbox.open({ dir, maxBytes, segmentBytes: 8 * 1024, fsync: 'never' });
  const fullEvents: boolean[] = [];
  ob.on('full', (f) => fullEvents.push(f));
  let dropped = 0;
  for (let i = 0; i < 2000; i++) {
    const critical = i % 25 === 0;
    const e = await ob.append(T, critical ? 'critical' : 'routine', msg(i, 60));
    if (!e) dropped++;
  }
  const st = ob.stats();
  t.ok(st.droppedRoutine > 1000, `dropped ${st.droppedRoutine} routine`);
  t.ok(st.full, 'status says full');
  t.same(fullEvents.slice(0, 1), [true]);
  t.ok(ob.diskUsage() <= maxBytes + 8 * 1024, `disk ${ob.diskUsage()} stays near the bound ${maxBytes}`);
  await ob.close();
  ob = await Outbox.open({ dir, maxBytes, segmentBytes: 8 * 1024, fsync: 'never' });
  const seqs = ob.takeRecovered().map((e) => seqOf(ob, e));
  const crit = seqs.filter((s) => s % 25 === 0);
  t.same(crit, Array.from({ length: 80 }, (_, i) => i * 25), 'every critical message survives, in order');
  const routine = seqs.filter((s) => s % 25 !== 0);
  t.ok(routine.length > 0 && routine[0]! > 1000, 'the routine ones kept are the newest');
  t.same([...seqs].sort((a, b) => a - b), seqs, 'journal order kept');
  t.equal(dropped, 0, 'with critical ones only sparse, a new routine message always finds room');
  await ob.close();
});

t.test('a journal full of critical messages keeps them all and drops new routine ones', async (t) => {
  const dir = tempDir('outbox');
  const ob = await Outbox.open({ dir, maxBytes: 16 * 1024, segmentBytes: 4096, fsync: 'never' });
  for (let i = 0; i < 400; i++) await ob.append(T, 'critical', msg(i, 40));
  t.equal(ob.stats().depth, 400, 'all critical kept over the bound');
  t.equal(await ob.append(T, 'routine', msg(999)), undefined, 'routine refused');
  t.equal(ob.stats().droppedRoutine, 1);
  await ob.close();
});

t.test('kill -9 while appending: everything the outbox confirmed is on disk', async (t) => {
  const dir = tempDir('outbox');
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test', 'fixtures/outbox-writer.ts'), dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (out.split('\n').length > 3000) {
        clearInterval(timer);
        child.kill('SIGKILL');
        resolve();
      }
    }, 20);
  });
  await new Promise((r) => child.once('exit', r));
  const confirmed = out
    .split('\n')
    .filter((l) => /^\d+$/.test(l))
    .map(Number);
  const ob = await Outbox.open({ dir, maxBytes: 64 * 1024 * 1024, segmentBytes: 64 * 1024, fsync: 'always' });
  const rec = ob.takeRecovered().map((e) => seqOf(ob, e));
  const onDisk = new Set(rec);
  const missing = confirmed.filter((s) => !onDisk.has(s));
  t.equal(missing.length, 0, `all ${confirmed.length} confirmed appends recovered (${rec.length} on disk)`);
  t.same(rec, Array.from({ length: rec.length }, (_, i) => i), 'recovered journal is a gap-free prefix in order');
  await ob.close();
});
