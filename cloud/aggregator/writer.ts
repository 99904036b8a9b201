// The writer: drains the spool to the sink (InfluxDB or a line file) in order, in batches, with retries.
import { join } from 'node:path';
import { logger, type Logger } from '../../common/log.js';
import type { AggregatorConfig } from '../config.js';
import type { Spool, SpoolBatch } from '../spool.js';
import { InfluxSink, LineFileSink, Quarantine, SinkError, type RefusedLine, type Sink } from './sinks.js';

export interface DrainerOptions {
  spool: Spool;
  sink: Sink;
  batchSize: number;
  flushInterval_ms: number;
  log?: Logger;
  /** Called after each batch the sink took, with its size and how long the write took. */
  onBatch?: (points: number, seconds: number) => void;
  /** Called when the sink goes down or comes back. */
  onSinkState?: (up: boolean) => void;
  /** Where lines the sink refuses go; without it they are logged and counted only (tests of the drain loop). */
  quarantine?: Quarantine;
}

export interface DrainerStats {
  writtenPoints: number;
  writtenBatches: number;
  /** Failed write requests: outages (each retried after a backoff) and refusals (each followed by a split). */
  writeErrors: number;
  /** Points InfluxDB refused, each found by splitting its batch and moved to the quarantine file; not the good lines beside them. */
  rejectedPoints: number;
  sinkUp: boolean;
}

const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5000;
/** A refused run of at most this many lines is tried line by line rather than split in halves further. */
const SPLIT_LINE_BY_LINE = 8;

/** What writing one batch came to: lines the sink took and lines it refused. */
interface BatchResult {
  written: number;
  refused: RefusedLine[];
}

/** Splits line-protocol bytes (every line ending in '\n') into runs of whole lines: in halves, or one per line. */
function splitLines(data: Buffer, lines: number): { data: Buffer; lines: number }[] {
  const ends: number[] = [];
  for (let i = data.indexOf(0x0a); i >= 0; i = data.indexOf(0x0a, i + 1)) ends.push(i + 1);
  if (ends.length === 0 || ends[ends.length - 1] !== data.length) ends.push(data.length);
  if (lines <= SPLIT_LINE_BY_LINE) return ends.map((end, i) => ({ data: data.subarray(i === 0 ? 0 : ends[i - 1], end), lines: 1 }));
  const half = Math.floor(ends.length / 2);
  return [
    { data: data.subarray(0, ends[half - 1]), lines: half },
    { data: data.subarray(ends[half - 1]), lines: ends.length - half },
  ];
}

/**
 * One loop that takes batches from the spool in order, one write at a time, and commits each once the sink has
 * it. A batch goes out when it is full, when its oldest line has waited flushInterval_ms, when it is replayed
 * data (a sealed segment), or when flush() asks. A failed write is retried with backoff until it succeeds;
 * meanwhile the spool grows, and when the sink is back the backlog follows in order.
 *
 * The backoff is a fixed schedule that nothing but stop() cuts short: during an outage messages keep arriving
 * (hundreds a second), and were each notify() or flush() to wake the retry, the write rate would follow the
 * message rate instead of the backoff (thousands of failed writes in 30 s).
 *
 * A spool line leaves the spool only once it is in the sink or in the quarantine file, since its message was
 * confirmed to its node when it was spooled: a batch the sink refuses (InfluxDB's 400, "partial write") is split
 * until each refused line is found, those go to the quarantine with the reason, and the rest is written again
 * (rewriting a point InfluxDB already took lands on the same point).
 */
export class SpoolDrainer {
  private readonly log: Logger;
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  /** Ends a backoff wait early; only stop() calls it. */
  private endBackoff: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private urgentUntil = 0;
  private firstPendingAt = 0;
  private stopping = false;
  private readonly s: DrainerStats = { writtenPoints: 0, writtenBatches: 0, writeErrors: 0, rejectedPoints: 0, sinkUp: true };

  constructor(private readonly opts: DrainerOptions) {
    this.log = opts.log ?? logger('drainer');
  }

  stats(): DrainerStats {
    return { ...this.s };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopping = false;
    this.loop = this.run();
  }

  /** Tells the drainer that lines were appended; cheap, called once per accepted message. */
  notify(): void {
    if (this.firstPendingAt === 0) this.firstPendingAt = Date.now();
    if (!this.wakeUp) return;
    if (this.opts.spool.pendingLines >= this.opts.batchSize) this.wake();
    else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.wake();
      }, this.opts.flushInterval_ms);
    }
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    w?.();
  }

  /** Resolves when everything spooled before the call is in the sink (waits through outages). */
  async flush(): Promise<void> {
    const mark = this.opts.spool.mark();
    if (this.opts.spool.committed >= mark) return;
    this.urgentUntil = mark;
    this.wake();
    await this.opts.spool.waitCommitted(mark);
  }

  /**
   * Stops the loop: first tries, for at most timeout_ms, to get everything to the sink; then abandons the wait
   * (an outage) and leaves the rest in the spool for the next start.
   */
  async stop(timeout_ms: number): Promise<void> {
    if (!this.running) return;
    const deadline = Date.now() + timeout_ms;
    let t: NodeJS.Timeout | undefined;
    await Promise.race([
      this.flush().catch(() => undefined),
      new Promise<void>((r) => {
        t = setTimeout(r, timeout_ms);
      }),
    ]);
    if (t) clearTimeout(t);
    this.stopping = true;
    this.running = false;
    this.wake();
    this.endBackoff?.();
    // A write in flight ends at the latest after the sink's own timeout; the remaining wait is bounded too.
    await Promise.race([this.loop, new Promise((r) => setTimeout(r, Math.max(1000, deadline - Date.now())).unref())]);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Waits ms or until woken; only the idle wait lets the process exit, pending data keeps it alive. */
  private sleep(ms: number, idle = false): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wakeUp = undefined;
        resolve();
      }, ms);
      if (idle) t.unref();
      this.wakeUp = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        if (!(await this.step())) return;
      } catch (e) {
        // A spool read failing is a disk problem; keep trying rather than die, the data is still there.
        this.log.error({ err: e }, 'spool drain failed; retrying');
        await this.sleep(BACKOFF_MAX_MS);
      }
    }
  }

  /** One batch (or one wait); false when stopping mid-retry. */
  private async step(): Promise<boolean> {
    const { spool, batchSize, flushInterval_ms } = this.opts;
    const b = spool.readBatch(batchSize);
    if (!b) {
      this.firstPendingAt = 0;
      await this.sleep(60_000);
      return true;
    }
    if (b.lines < batchSize && !b.sealed && spool.committed >= this.urgentUntil) {
      const waited = Date.now() - (this.firstPendingAt || Date.now());
      if (waited < flushInterval_ms) {
        await this.sleep(flushInterval_ms - waited);
        return true;
      }
    }
    const ok = await this.writeWithRetry(b);
    if (!ok) return false;
    spool.commit(b);
    this.firstPendingAt = spool.pendingBytes > 0 ? Date.now() : 0;
    return true;
  }

  /** A backoff wait: neither notify() nor flush() ends it (see the class comment), only stop(). */
  private backoff(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.endBackoff = undefined;
        resolve();
      }, ms);
      this.endBackoff = () => {
        this.endBackoff = undefined;
        clearTimeout(t);
        resolve();
      };
    });
  }

  private async writeWithRetry(b: SpoolBatch): Promise<boolean> {
    let backoff = BACKOFF_MIN_MS;
    for (;;) {
      const t0 = process.hrtime.bigint();
      try {
        const r: BatchResult = { written: 0, refused: [] };
        await this.writeOrSplit(b.data, b.lines, r);
        if (r.refused.length > 0) {
          this.opts.quarantine?.append(r.refused);
          this.s.rejectedPoints += r.refused.length;
          this.log.error(
            { refused: r.refused.length, written: r.written, first: r.refused[0]!.reason.slice(0, 300), to: this.opts.quarantine?.describe ?? 'nowhere (no quarantine)' },
            'sink refused points; quarantined them',
          );
        }
        this.s.writtenPoints += r.written;
        this.s.writtenBatches++;
        this.opts.onBatch?.(b.lines, Number(process.hrtime.bigint() - t0) / 1e9);
        this.setUp(true);
        return true;
      } catch (e) {
        if (this.s.sinkUp) this.log.warn({ err: (e as Error).message }, 'sink write failed; retrying with backoff, spool holds the data');
        this.setUp(false);
        if (this.stopping) return false;
        await this.backoff(backoff);
        if (this.stopping) return false;
        backoff = Math.min(BACKOFF_MAX_MS, backoff * 2);
      }
    }
  }

  /**
   * Writes a run of lines; when the sink refuses it, splits it (halves, then single lines) until each refused
   * line is found and collected in `r`. Throws what is not a refusal (an outage): the caller retries the batch.
   */
  private async writeOrSplit(data: Buffer, lines: number, r: BatchResult): Promise<void> {
    try {
      await this.opts.sink.write(data);
      r.written += lines;
      return;
    } catch (e) {
      this.s.writeErrors++;
      if (!(e instanceof SinkError && e.permanent)) throw e;
      if (lines <= 1) {
        r.refused.push({ line: data, reason: e.message });
        return;
      }
    }
    for (const part of splitLines(data, lines)) await this.writeOrSplit(part.data, part.lines, r);
  }

  private setUp(up: boolean): void {
    if (this.s.sinkUp === up) return;
    this.s.sinkUp = up;
    if (up) this.log.info('sink is back; draining the spool');
    this.opts.onSinkState?.(up);
  }
}

export interface WriterOptions {
  config: AggregatorConfig;
  spool: Spool;
  log: Logger;
  /** Called after each batch the sink took, with its size and how long the write took. */
  onBatch?: (points: number, seconds: number) => void;
}

/** The sink the config names (InfluxDB, or else the line file) and the drainer feeding it from the spool. */
export class Writer {
  private sink: Sink | undefined;
  private drainer: SpoolDrainer | undefined;
  private quarantine: Quarantine | undefined;

  constructor(private readonly opts: WriterOptions) {}

  get describe(): string | undefined {
    return this.sink?.describe;
  }

  async start(): Promise<void> {
    const { config: cfg, log } = this.opts;
    this.sink = cfg.influx
      ? new InfluxSink({ url: cfg.influx.url, database: cfg.influx.database, timeout_ms: cfg.influx.timeout_ms, log: log.child({ ns: 'influx' }) })
      : new LineFileSink({ file: cfg.lineFile!, database: 'customs', sync: cfg.spool.fsync !== 'never' });
    await this.sink.start();
    this.quarantine = new Quarantine({ file: cfg.quarantineFile ?? join(cfg.spool.dir, 'quarantine.lp'), sync: cfg.spool.fsync !== 'never' });
    this.drainer = new SpoolDrainer({
      spool: this.opts.spool,
      sink: this.sink,
      batchSize: cfg.influx?.batchSize ?? 5000,
      flushInterval_ms: cfg.influx?.flushInterval_ms ?? 100,
      log: log.child({ ns: 'drainer' }),
      onBatch: this.opts.onBatch,
      quarantine: this.quarantine,
    });
    this.drainer.start();
  }

  /** Lines were appended to the spool. */
  notify(): void {
    this.drainer?.notify();
  }

  /** Resolves when everything spooled so far is in the sink. */
  async flush(): Promise<void> {
    await this.drainer?.flush();
  }

  /** What was written so far; still there after stop(). */
  stats(): DrainerStats | undefined {
    return this.drainer?.stats();
  }

  /** Gives the drainer the sink's timeout to catch up, then closes the sink; the spool keeps the rest. */
  async stop(): Promise<void> {
    if (this.drainer) await this.drainer.stop(this.opts.config.influx?.timeout_ms ?? 10_000);
    if (this.sink) await this.sink.close();
    this.sink = undefined;
    this.quarantine?.close();
  }
}
