// The edge outbox seen through the durable-journal contract of common/journal.ts (checked by the journal contract tests).
import type { Journal, JournalBatch, JournalOptions } from '../../common/journal.js';
import type { Logger } from '../../common/log.js';
import { Outbox, OutboxError, OutboxWriteError, type OutboxEntry } from './outbox.js';

/** A batch of outbox entries; ack() takes it back. */
export interface OutboxJournalBatch extends JournalBatch {
  readonly entries: readonly OutboxEntry[];
}

export interface OutboxJournalOptions extends JournalOptions {
  /** Topic the records are journalled under (the contract's records are bare payloads). */
  topic?: string;
  log?: Logger;
}

/**
 * `keep` maps to priority 'critical' and ordinary to 'routine'. The outbox hands out recovered entries once
 * (takeRecovered) and new ones from append(); here both go into one queue in journal order, from which read()
 * peeks. Acknowledgements persist (the .ack files), so nothing acknowledged is replayed: replayBound is 0.
 */
export class OutboxJournal implements Journal<OutboxJournalBatch> {
  readonly replayBound = 0;
  private readonly queue: OutboxEntry[];
  private readonly acked = new WeakSet<OutboxEntry>();

  private constructor(
    private readonly outbox: Outbox,
    private readonly dir: string,
    private readonly topic: string,
  ) {
    this.queue = outbox.takeRecovered();
  }

  static async open(opts: OutboxJournalOptions): Promise<OutboxJournal> {
    const { topic, ...rest } = opts;
    return new OutboxJournal(await Outbox.open(rest), opts.dir, topic ?? 'journal');
  }

  get full(): boolean {
    return this.outbox.stats().full;
  }

  /** A disk out of space is the journal at its bound: refused (false), nothing written. Other write errors throw. */
  async append(record: Buffer, opts?: { keep?: boolean }): Promise<boolean> {
    let e: OutboxEntry | undefined;
    try {
      e = await this.outbox.append(this.topic, opts?.keep ? 'critical' : 'routine', record);
    } catch (err) {
      if (err instanceof OutboxWriteError && err.code === 'E_OUTBOX_NOSPACE') return false;
      throw err;
    }
    if (!e) return false;
    // Appends resolve in journal order (one group commit at a time), so the queue stays in that order.
    this.queue.push(e);
    return true;
  }

  /** Live entries, oldest first: routine ones the outbox shed to make room (state 'done') are skipped. */
  private live(max: number): OutboxEntry[] {
    while (this.queue.length && this.queue[0]!.state === 'done') this.queue.shift();
    const out: OutboxEntry[] = [];
    for (const e of this.queue) {
      if (out.length >= max) break;
      if (e.state !== 'done') out.push(e);
    }
    return out;
  }

  async read(max: number): Promise<OutboxJournalBatch | undefined> {
    const entries = this.live(max);
    if (!entries.length) return undefined;
    return { entries, records: entries.map((e) => this.outbox.payloadOf(e)) };
  }

  async ack(batch: OutboxJournalBatch): Promise<void> {
    if (batch.entries.some((e) => this.acked.has(e))) {
      throw new OutboxError('E_OUTBOX_ORDER', `outbox ${this.dir}: batch acknowledged twice`);
    }
    const mine = batch.entries.filter((e) => e.state !== 'done');
    const head = this.live(mine.length);
    if (mine.some((e, i) => head[i] !== e)) {
      throw new OutboxError('E_OUTBOX_ORDER', `outbox ${this.dir}: acknowledgement out of order: expected the oldest ${mine.length} unacknowledged entries`);
    }
    for (const e of batch.entries) {
      this.acked.add(e);
      this.outbox.ack(e);
    }
    this.live(0);
    // The outbox writes acknowledgements from setImmediate; after this one `full` and the files include them.
    await new Promise((r) => setImmediate(r));
  }

  async close(): Promise<void> {
    await this.outbox.close();
  }
}
