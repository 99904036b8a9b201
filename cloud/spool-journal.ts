// The aggregator spool seen through the durable-journal contract of common/journal.ts (checked by the journal contract tests).
import type { Journal, JournalBatch, JournalOptions } from '../common/journal.js';
import type { Logger } from '../common/log.js';
import { Spool, SpoolError, type SpoolBatch } from './spool.js';

/** The records (lines) of one spool batch; ack() commits the batch. */
export interface SpoolJournalBatch extends JournalBatch {
  readonly batch: SpoolBatch;
}

const NL = 10;

/**
 * A record is one spool line: UTF-8 text without newline or NUL (the spool reads NUL as a torn line). `keep`
 * maps to a forced append. The spool persists no read position: a reopen replays the segment it was draining
 * from its start, so up to one segment of acknowledged records may come back (replayBound = segmentBytes).
 */
export class SpoolJournal implements Journal<SpoolJournalBatch> {
  readonly replayBound: number;

  private constructor(
    private readonly spool: Spool,
    private readonly dir: string,
    segmentBytes: number,
  ) {
    this.replayBound = segmentBytes;
  }

  static async open(opts: JournalOptions & { log?: Logger }): Promise<SpoolJournal> {
    const spool = new Spool({ ...opts, fsyncInterval_ms: opts.fsyncInterval_ms ?? 1000 });
    spool.open();
    return new SpoolJournal(spool, opts.dir, opts.segmentBytes);
  }

  get full(): boolean {
    return this.spool.full;
  }

  async append(record: Buffer, opts?: { keep?: boolean }): Promise<boolean> {
    const text = record.toString('utf8');
    if (record.includes(NL) || record.includes(0) || Buffer.byteLength(text) !== record.length) {
      throw new SpoolError(`spool ${this.dir}: a record must be one line of UTF-8 text without newline or NUL (got ${record.length} bytes)`);
    }
    return this.spool.append(`${text}\n`, 1, opts?.keep ?? false);
  }

  async read(max: number): Promise<SpoolJournalBatch | undefined> {
    for (;;) {
      const batch = this.spool.readBatch(max);
      if (!batch) return undefined;
      const records: Buffer[] = [];
      for (let pos = 0; pos < batch.data.length; ) {
        const nl = batch.data.indexOf(NL, pos);
        records.push(batch.data.subarray(pos, nl));
        pos = nl + 1;
      }
      if (records.length) return { batch, records };
      // Only lines torn by a power cut (NULs), which the spool skips: nothing to hand out, move past them.
      this.spool.commit(batch);
    }
  }

  async ack(batch: SpoolJournalBatch): Promise<void> {
    this.spool.commit(batch.batch);
  }

  async close(): Promise<void> {
    this.spool.close();
  }
}
