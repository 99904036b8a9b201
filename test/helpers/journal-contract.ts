// The durable-journal contract of common/journal.ts as one suite, run against every journal (the way MQTT.js runs
// its abstract store tests against every store): test/unit/journal-contract.test.ts runs it on outbox and spool.
import { spawn } from 'node:child_process';
import { appendFileSync, openSync, closeSync, statSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type tap from 'tap';
import type { Journal, JournalOptions } from '../../common/journal.js';
import { tempDir } from '../harness/services.js';
import { ROOT } from './paths.js';

export interface JournalSubject {
  name: string;
  /** Which journal test/fixtures/journal-writer.ts opens for the kill test. */
  kind: 'outbox' | 'spool';
  open(opts: JournalOptions): Promise<Journal>;
  /** The journal's non-empty data files in dir, oldest first (the tests corrupt the last one). */
  dataFiles(dir: string): string[];
}

/** Record i: one line of JSON, padded so a few dozen fill a small segment. */
export const record = (i: number, pad = 24): Buffer => Buffer.from(JSON.stringify({ seq: i, pad: 'x'.repeat(pad) }));
const seqOf = (r: Buffer): number => (JSON.parse(r.toString('utf8')) as { seq: number }).seq;
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

/** Reads and acknowledges until the journal is empty; the seqs in the order they came. */
export async function drain(j: Journal, max = 7): Promise<number[]> {
  const out: number[] = [];
  for (let b = await j.read(max); b; b = await j.read(max)) {
    if (b.records.length === 0 || b.records.length > max) throw new Error(`read(${max}) returned ${b.records.length} records`);
    out.push(...b.records.map(seqOf));
    await j.ack(b);
    if (out.length > 1e6) throw new Error('journal never runs empty');
  }
  return out;
}

async function appendAll(j: Journal, seqs: number[], keep = false): Promise<void> {
  for (const s of seqs) if (!(await j.append(record(s), { keep }))) throw new Error(`append of record ${s} refused`);
}

interface Ctx {
  t: typeof tap;
  subject: JournalSubject;
  name: string;
  /** Opens the subject on dir: small segments (so records span several files), a large bound, fsync 'always'. */
  open: (dir: string, o?: Partial<JournalOptions>) => Promise<Journal>;
}

/** Runs the whole contract against one journal. */
export function journalContract(t: typeof tap, subject: JournalSubject): void {
  const open = (dir: string, o: Partial<JournalOptions> = {}) => subject.open({ dir, maxBytes: 1 << 24, segmentBytes: 512, fsync: 'always', ...o });
  const c: Ctx = { t, subject, name: subject.name, open };
  ordering(c);
  damage(c);
  limits(c);
  killedWriter(c);
}

/** Order, peek-until-acknowledged, durability across reopen, and what acknowledged records may do after one. */
function ordering({ t, name, open }: Ctx): void {

  t.test(`${name}: read hands out the oldest records in order and does not consume them; draining yields each once`, async (t) => {
    const j = await open(tempDir('journal'));
    t.equal(await j.read(10), undefined, 'an empty journal has nothing to read');
    await appendAll(j, range(0, 200));
    const first = await j.read(10);
    t.same(first?.records.map(seqOf), range(0, 10), 'the oldest ten');
    t.same((await j.read(10))?.records.map(seqOf), range(0, 10), 'the same ten again until acknowledged');
    t.same(await drain(j), range(0, 200), 'every record exactly once, in order, across segment files');
    t.equal(await j.read(10), undefined, 'nothing after the last record');
    await j.close();
  });

  t.test(`${name}: appended records survive close and reopen, in order, and replay is repeatable`, async (t) => {
    const dir = tempDir('journal');
    let j = await open(dir);
    await appendAll(j, range(0, 150));
    await appendAll(j, range(150, 160), true);
    await j.close();
    j = await open(dir);
    t.same((await j.read(5))?.records.map(seqOf), range(0, 5), 'read after reopen starts at the first record');
    await j.close(); // without acknowledging anything
    j = await open(dir);
    t.same(await drain(j), range(0, 160), 'all 160 back, each once, in order');
    await j.close();
  });

  t.test(`${name}: acknowledged records do not come back; after reopen only within the replay bound`, async (t) => {
    const dir = tempDir('journal');
    let j = await open(dir);
    await appendAll(j, range(0, 100));
    // 65, not a multiple of the records per segment, so the spool stops in the middle of one (and replays it).
    let acked = 0;
    while (acked < 65) {
      const b = (await j.read(Math.min(7, 65 - acked)))!;
      acked += b.records.length;
      await j.ack(b);
    }
    t.same((await j.read(3))?.records.map(seqOf), [65, 66, 67], 'in this open, reading resumes after the acknowledged ones');
    await j.close();
    j = await open(dir);
    const back = await drain(j);
    const replayed = back.slice(0, back.length - 35);
    t.same(back.slice(-35), range(65, 100), 'every unacknowledged record back, once, in order');
    t.same(replayed, range(65 - replayed.length, 65), 'acknowledged ones only as the run right before them');
    const bytes = replayed.reduce((n, s) => n + record(s).length, 0);
    t.ok(bytes <= j.replayBound, `${replayed.length} acknowledged records (${bytes} bytes) replayed, bound ${j.replayBound}`);
    await j.close();
    j = await open(dir);
    const again = await drain(j);
    t.ok(again.every((s) => s >= 65) && again.reduce((n, s) => n + record(s).length, 0) <= j.replayBound, `fully acknowledged: ${again.length} replayed, within the bound`);
    await j.close();
  });

}

/** Torn and zeroed tails, as a power cut or a killed writer leaves them. */
function damage({ t, name, subject, open }: Ctx): void {
  t.test(`${name}: a torn tail is cut off at open; the records before it survive`, async (t) => {
    const dir = tempDir('journal');
    let j = await open(dir, { segmentBytes: 1 << 20 });
    await appendAll(j, range(0, 20));
    await j.close();
    const file = subject.dataFiles(dir).at(-1)!;
    const size = statSync(file).size;
    truncateSync(file, size - 3); // the write of the last record stopped three bytes short
    j = await open(dir, { segmentBytes: 1 << 20 });
    t.ok(statSync(file).size < size - 3, 'the partial record was cut off the file');
    await appendAll(j, [20]);
    t.same(await drain(j), [...range(0, 19), 20], 'records before it intact, the torn one gone, new ones after them');
    await j.close();
  });

  t.test(`${name}: a tail of zeros (power cut after the file grew, before its data) is skipped`, async (t) => {
    const dir = tempDir('journal');
    let j = await open(dir, { segmentBytes: 1 << 20 });
    await appendAll(j, range(0, 20));
    await j.close();
    const file = subject.dataFiles(dir).at(-1)!;
    const size = statSync(file).size;
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(record(19).length), 0, record(19).length, size - record(19).length); // the last record's bytes
    closeSync(fd);
    appendFileSync(file, Buffer.alloc(4096)); // and blocks the file system allocated past it
    j = await open(dir, { segmentBytes: 1 << 20 });
    t.ok(statSync(file).size < size, 'the zeros were cut off the file at open');
    t.same(await drain(j), range(0, 19), 'the zeroed record is not handed out; every earlier one is');
    await j.close();
  });

}

/** The size bound, double acknowledgement and use after close. */
function limits({ t, name, open }: Ctx): void {
  t.test(`${name}: at its bound it reports full, takes keep records, refuses ordinary ones, and recovers`, async (t) => {
    const dir = tempDir('journal');
    const bound = { maxBytes: 4096, segmentBytes: 1024 };
    let j = await open(dir, bound);
    t.notOk(j.full, 'not full when empty');
    await appendAll(j, range(0, 100), true); // about 4 KiB: over the bound
    t.ok(j.full, 'full once over the bound');
    t.equal(await j.append(record(1000)), false, 'an ordinary record is refused');
    t.ok(j.full, 'still full');
    await j.close();
    j = await open(dir, bound);
    const held = await drain(j, 50);
    t.same(held, range(0, 100), 'every keep record held, the refused one never written');
    t.notOk(j.full, 'no longer full once everything is acknowledged');
    t.equal(await j.append(record(1001)), true, 'ordinary records taken again');
    t.same(await drain(j), [1001], 'and handed out like any other');
    await j.close();
  });

  t.test(`${name}: a batch cannot be acknowledged twice; append after close is refused`, async (t) => {
    const dir = tempDir('journal');
    let j = await open(dir);
    await appendAll(j, range(0, 10));
    const b = (await j.read(4))!;
    await j.ack(b);
    await t.rejects(j.ack(b), { code: /^E_/ }, 'the second acknowledgement of one batch is refused');
    t.same((await j.read(10))?.records.map(seqOf), range(4, 10), 'and changed nothing');
    await j.close();
    await t.rejects(j.append(record(10)), { code: /^E_/ }, 'append after close refused');
    j = await open(dir);
    t.same((await drain(j)).slice(-6), range(4, 10), 'the unacknowledged records are still there');
    await j.close();
  });

}

/** A child process appending (test/fixtures/journal-writer.ts) is killed; every record it confirmed must be there once. */
function killedWriter({ t, name, subject }: Ctx): void {
  t.test(`${name}: a writer killed mid-append loses no confirmed record and duplicates none`, async (t) => {
    const dir = tempDir('journal');
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test', 'fixtures', 'journal-writer.ts'), subject.kind, dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (out.split('\n').length > 1500) {
          clearInterval(timer);
          child.kill('SIGKILL');
          resolve();
        } else if (child.exitCode !== null) {
          clearInterval(timer);
          reject(new Error(`journal writer exited with ${child.exitCode} before being killed`));
        }
      }, 20);
    });
    await exited;
    const confirmed = out
      .split('\n')
      .filter((l) => /^\d+$/.test(l))
      .map(Number);
    const j = await subject.open({ dir, maxBytes: 1 << 26, segmentBytes: 64 * 1024, fsync: 'always' });
    const got = await drain(j, 500);
    await j.close();
    const count = new Map<number, number>();
    for (const s of got) count.set(s, (count.get(s) ?? 0) + 1);
    t.same(confirmed.filter((s) => count.get(s) !== 1), [], `each of the ${confirmed.length} confirmed records recovered exactly once`);
    t.same(got, range(0, got.length), `the ${got.length} recovered form a gap-free prefix in append order, no duplicate`);
  });
}
