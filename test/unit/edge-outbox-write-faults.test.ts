// The outbox when the disk refuses writes (injected ENOSPC, EIO, a write cut short, a failing fsync): the index keeps
// to what is on disk, refused appends get an error and leave nothing behind, and records are checked when read back.
import t from 'tap';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Outbox, OutboxWriteError, type OutboxEntry } from '../../edge/runtime/outbox.js';
import { injectFsFaults } from '../helpers/fs-faults.js';
import { tempDir } from '../harness/services.js';

const T = 'customs/v1/site-a/veh-01/rad';
const msg = (i: number) => Buffer.from(JSON.stringify({ seq: i, pad: 'x'.repeat(40) }));
const seqOf = (b: Buffer) => (JSON.parse(b.toString()) as { seq: number }).seq;
const opts = (dir: string) => ({ dir, maxBytes: 1 << 24, segmentBytes: 4096, fsync: 'always' as const });

/** Appends seqs in one group commit (no await in between); the seqs the outbox confirmed and the errors of the rest. */
async function appendBatch(ob: Outbox, seqs: number[]) {
  const res = await Promise.allSettled(seqs.map((s) => ob.append(T, 'routine', msg(s), `b:${s}`)));
  const ok: OutboxEntry[] = [];
  const errors: unknown[] = [];
  for (const r of res) if (r.status === 'fulfilled') ok.push(r.value!);
  else errors.push(r.reason);
  return { ok, errors };
}

/** Every live entry read back from disk (as after a PUBACK with cloud confirmation on). */
function fromDisk(ob: Outbox, entries: OutboxEntry[]): number[] {
  return entries.map((e) => {
    e.payload = undefined;
    return seqOf(ob.payloadOf(e));
  });
}

t.test('a write cut short, then ENOSPC: the refused records leave the index and the file, later ones land where the index says', async (t) => {
  const dir = tempDir('outbox-enospc');
  const faults = injectFsFaults(dir);
  t.teardown(() => faults.restore());
  const ob = await Outbox.open(opts(dir));
  const fullEvents: boolean[] = [];
  ob.on('full', (f) => fullEvents.push(f));
  const good = (await appendBatch(ob, [0, 1, 2, 3, 4])).ok;
  const sizeBefore = readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);

  faults.refuseWrites('ENOSPC', { cut: true });
  const refused = await appendBatch(ob, [5, 6, 7, 8]);
  t.equal(refused.ok.length, 0, 'no append of the refused batch resolves');
  t.equal(refused.errors.length, 4, 'each appender gets the error');
  t.ok(refused.errors.every((e) => e instanceof OutboxWriteError && e.code === 'E_OUTBOX_NOSPACE'), 'E_OUTBOX_NOSPACE, an OutboxWriteError');
  t.match((refused.errors[0] as Error).message, /seg-\d{12}\.log: the disk refused the write of 4 records \(ENOSPC/, 'names the segment and the cause');
  t.ok(faults.refused >= 2, 'the first write was cut short, the rest refused');
  t.ok(ob.stats().full, 'full while the disk refuses');
  t.equal(ob.stats().depth, 5, 'only the five written entries are in the index');
  t.equal(ob.stats().writeFailures, 1);
  const sizeAfter = readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
  t.equal(sizeAfter, sizeBefore, 'the half-written record was cut off the segment');
  t.same(fromDisk(ob, good), [0, 1, 2, 3, 4], 'the written ones still read back intact');

  const again = await appendBatch(ob, [5]);
  t.equal(again.errors.length, 1, 'still refused while the disk is full');

  faults.heal();
  const later = await appendBatch(ob, [5, 6, 7, 8, 9]);
  t.equal(later.ok.length, 5, 'appends taken again once there is room');
  t.notOk(ob.stats().full, 'full clears with the first write that succeeds');
  t.same(fullEvents, [true, false], 'one full event each way');
  t.same(fromDisk(ob, [...good, ...later.ok]), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'every entry reads back its own record from disk');
  await ob.close();

  const re = await Outbox.open(opts(dir));
  t.same(re.takeRecovered().map((e) => seqOf(re.payloadOf(e))), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'after reopen: each record once, no trace of the refused ones');
  await re.close();
});

t.test('appends queued behind a refused write are refused too, and a later ack never marks a new record', async (t) => {
  const dir = tempDir('outbox-enospc');
  const faults = injectFsFaults(dir);
  t.teardown(() => faults.restore());
  const ob = await Outbox.open(opts(dir));
  const first = (await appendBatch(ob, [0, 1, 2])).ok;
  faults.refuseWrites('EIO');
  // The second batch is appended while the first refused write is in flight: its offsets assumed the first.
  const a = appendBatch(ob, [3, 4]);
  await new Promise((r) => setImmediate(r));
  const b = appendBatch(ob, [5, 6]);
  const [ra, rb] = await Promise.all([a, b]);
  t.equal(ra.errors.length + rb.errors.length, 4, 'both batches refused');
  t.ok([...ra.errors, ...rb.errors].every((e) => (e as OutboxWriteError).code === 'E_OUTBOX_WRITE'), 'EIO is E_OUTBOX_WRITE');
  faults.heal();
  const next = (await appendBatch(ob, [3, 4, 5, 6])).ok;
  t.ok(next.every((e) => e.seg > first[0]!.seg), 'appends go on in a fresh segment: no index or offset of a refused record is reused');
  for (const e of first) ob.ack(e);
  await ob.close();
  const re = await Outbox.open(opts(dir));
  t.same(re.takeRecovered().map((e) => seqOf(re.payloadOf(e))), [3, 4, 5, 6], 'acknowledged ones gone, the retried ones there once');
  await re.close();
});

t.test('a failing fdatasync refuses the whole group commit', async (t) => {
  const dir = tempDir('outbox-enospc');
  const faults = injectFsFaults(dir);
  t.teardown(() => faults.restore());
  const ob = await Outbox.open(opts(dir));
  await appendBatch(ob, [0]);
  faults.refuseSyncs();
  const r = await appendBatch(ob, [1, 2, 3]);
  t.equal(r.errors.length, 3, 'written but not synced: not confirmed');
  t.equal(ob.stats().depth, 1);
  faults.heal();
  await appendBatch(ob, [1, 2, 3]);
  await ob.close();
  const re = await Outbox.open(opts(dir));
  t.same(re.takeRecovered().map((e) => seqOf(re.payloadOf(e))), [0, 1, 2, 3], 'no record doubled by the unsynced write');
  await re.close();
});

t.test('acknowledgements the disk refuses are kept and written later; no crash, no torn index', async (t) => {
  const dir = tempDir('outbox-enospc');
  const faults = injectFsFaults(dir);
  t.teardown(() => faults.restore());
  const ob = await Outbox.open({ ...opts(dir), segmentBytes: 1 << 20 });
  const es = (await appendBatch(ob, [0, 1, 2, 3, 4, 5])).ok;
  faults.refuseWrites('ENOSPC', { cut: true });
  ob.ack(es[0]!);
  ob.ack(es[2]!);
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  t.ok(faults.refused >= 1, 'the ack write was refused');
  faults.heal();
  ob.ack(es[4]!);
  await ob.close();
  const re = await Outbox.open({ ...opts(dir), segmentBytes: 1 << 20 });
  t.same(re.takeRecovered().map((e) => seqOf(re.payloadOf(e))), [1, 3, 5], 'every acknowledgement persisted once the disk took it, none shifted');
  await re.close();
});

t.test('payloadOf checks the record: a flipped byte or a stale offset is E_OUTBOX_CORRUPT; discard drops it uncounted as delivered', async (t) => {
  const dir = tempDir('outbox-crc');
  const ob = await Outbox.open({ ...opts(dir), segmentBytes: 1 << 20 });
  const es = (await appendBatch(ob, [0, 1, 2])).ok;
  const seg = join(dir, readdirSync(dir).find((f) => f.endsWith('.log'))!);
  const data = readFileSync(seg);
  data[es[1]!.offset + es[1]!.size - 3]! ^= 0xff; // inside record 1's payload
  writeFileSync(seg, data);
  es[1]!.payload = undefined;
  t.throws(() => ob.payloadOf(es[1]!), { code: 'E_OUTBOX_CORRUPT', message: /record 1 \(b:1\) at offset \d+: length or CRC32 check failed/ }, 'bit flip caught');
  // An index entry pointing at another, intact record (what a stale offset does).
  const stale = { ...es[0]!, offset: es[2]!.offset, size: es[2]!.size, payload: undefined };
  t.throws(() => ob.payloadOf(stale), { code: 'E_OUTBOX_CORRUPT', message: /holds another record \(b:2\)/ }, 'a valid record of another message is not handed out');
  ob.discard(es[1]!, new Error('crc'));
  t.equal(ob.stats().corrupt, 1, 'counted as corrupt');
  t.equal(ob.stats().depth, 2, 'no longer waiting to be sent');
  t.equal(es[1]!.state, 'done');
  await ob.close();
});
