// The durable-journal contract both journals honour (edge outbox, aggregator spool); test/helpers/journal-contract.ts checks it.

/*
 * What a journal promises, and no more (each line is a test in test/helpers/journal-contract.ts):
 * - append() resolves true once the record is durable per the fsync policy: it survives close/reopen and a kill
 *   of the process (the page cache holds it), and with fsync 'always' a power cut.
 * - read() hands out the oldest unacknowledged records in append order, across segment files, without consuming
 *   them: until ack() the same records come again. Draining read/ack yields every record exactly once.
 * - ack() takes the batch of the latest read(), oldest first; a batch acknowledged twice (or out of order) is
 *   refused with an error. Acknowledged records never come back within one open.
 * - After a reopen every unacknowledged record comes back, in order, exactly once. Acknowledged ones may come
 *   back only right before them and within `replayBound` bytes: the outbox persists its acknowledgements (0),
 *   the spool persists no read position and replays the segment it was draining, so its consumer (InfluxDB,
 *   with deterministic point times) must take a record twice without harm.
 * - A torn or zeroed tail (a power cut mid-write) is detected at open and cut off; the records before it survive.
 * - At its bound `full` is true and an ordinary record is refused (append resolves false, nothing written); a
 *   `keep` record is always taken, over the bound if need be, and never shed. Once everything is acknowledged
 *   `full` is false again and ordinary records are taken. (An outbox with routine records to spare sheds the
 *   oldest of them instead of refusing: that is its own policy, beyond this contract.)
 * - After close() append() is refused with an error; close() leaves unacknowledged records for the next open.
 */

export type JournalFsync = 'always' | 'interval' | 'never';

/** What every journal is opened with (each adds options of its own). */
export interface JournalOptions {
  dir: string;
  /** The bound `full` refers to, in bytes held on disk (outbox) or not yet acknowledged (spool). */
  maxBytes: number;
  /** A segment file is closed and a new one started past about this size. */
  segmentBytes: number;
  fsync: JournalFsync;
  fsyncInterval_ms?: number;
}

/** Records handed out by one read(); give the same object back to ack(). */
export interface JournalBatch {
  readonly records: readonly Buffer[];
}

export interface Journal<B extends JournalBatch = JournalBatch> {
  /** Bytes of acknowledged records a reopen may hand out again (see above); 0 when none ever come back. */
  readonly replayBound: number;
  /** True while the journal is at its bound. */
  readonly full: boolean;
  /** Resolves true once the record is durable, false when the journal is full and refused it. */
  append(record: Buffer, opts?: { keep?: boolean }): Promise<boolean>;
  /** The oldest unacknowledged records, at most `max`, or undefined when there are none. */
  read(max: number): Promise<B | undefined>;
  /** Acknowledges a batch from the latest read(): its records are removed. */
  ack(batch: B): Promise<void>;
  close(): Promise<void>;
}
