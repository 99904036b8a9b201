// Drains the spool to InfluxDB (v1 HTTP write API) or to a line-protocol file, in order, in batches, with retries.
import { Agent, request } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { closeSync, fdatasyncSync, fstatSync, openSync, writeSync } from 'node:fs';
import { CustomsError } from '../common/errors.js';
import { logger, type Logger } from '../common/log.js';
import type { Spool, SpoolBatch } from './spool.js';

/** A write the sink refused. `permanent` means retrying the same bytes cannot succeed (malformed lines). */
export class SinkError extends CustomsError {
  constructor(
    message: string,
    readonly permanent: boolean,
    options?: { cause?: unknown },
  ) {
    super(permanent ? 'E_SINK_REJECTED' : 'E_SINK_UNAVAILABLE', message, options);
  }
}

/** Where drained lines go. write() resolves once the lines are durable there. */
export interface Sink {
  start(): Promise<void>;
  write(lines: Buffer): Promise<void>;
  close(): Promise<void>;
  readonly describe: string;
}

export interface InfluxSinkOptions {
  url: string;
  database: string;
  timeout_ms: number;
  log?: Logger;
}

/**
 * InfluxDB 1.x over its HTTP API with a keep-alive connection. Raw HTTP rather than node-influx for writes: the
 * spool already holds line protocol, so the bytes go out as read, with no parse and re-serialise per point.
 */
export class InfluxSink implements Sink {
  private readonly agent: Agent;
  private readonly base: URL;
  private readonly log: Logger;
  private readonly https: boolean;

  constructor(private readonly opts: InfluxSinkOptions) {
    this.base = new URL(opts.url);
    this.https = this.base.protocol === 'https:';
    this.agent = this.https ? new HttpsAgent({ keepAlive: true, maxSockets: 4 }) : new Agent({ keepAlive: true, maxSockets: 4 });
    this.log = opts.log ?? logger('influx');
  }

  get describe(): string {
    return `InfluxDB ${this.base.origin} database "${this.opts.database}"`;
  }

  private call(method: 'GET' | 'POST', path: string, body?: Buffer | string, timeout_ms = this.opts.timeout_ms): Promise<{ status: number; text: string }> {
    const url = new URL(path, this.base);
    return new Promise((resolve, reject) => {
      const req = (this.https ? httpsRequest : request)(
        url,
        {
          method,
          agent: this.agent,
          headers: body === undefined ? {} : { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.setTimeout(timeout_ms, () => req.destroy(new Error(`no answer within ${timeout_ms} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.call('GET', '/ping', undefined, Math.min(this.opts.timeout_ms, 2000))).status === 204;
    } catch {
      return false;
    }
  }

  /** CREATE DATABASE is idempotent in InfluxDB 1.x, so it runs at every start and after a "database not found". */
  async createDatabase(): Promise<void> {
    const q = `CREATE DATABASE "${this.opts.database.replace(/["\\]/g, (c) => `\\${c}`)}"`;
    const r = await this.call('POST', `/query?q=${encodeURIComponent(q)}`, '');
    if (r.status !== 200 || r.text.includes('"error"')) throw new SinkError(`${this.describe}: ${q} failed: ${r.status} ${r.text.slice(0, 200)}`, false);
  }

  async start(): Promise<void> {
    try {
      await this.createDatabase();
    } catch (e) {
      // InfluxDB being down at start is an outage like any other: the spool holds the data until it is back.
      this.log.warn({ err: (e as Error).message }, 'cannot create the database yet; writes will retry');
    }
  }

  async write(lines: Buffer): Promise<void> {
    let r: { status: number; text: string };
    try {
      r = await this.call('POST', `/write?db=${encodeURIComponent(this.opts.database)}&precision=ns`, lines);
    } catch (e) {
      throw new SinkError(`${this.describe}: ${(e as Error).message}`, false, { cause: e });
    }
    if (r.status === 204) return;
    if (r.status === 404 && r.text.includes('database not found')) {
      await this.createDatabase().catch(() => undefined);
      throw new SinkError(`${this.describe}: database was missing; created it`, false);
    }
    // 400 is a parse error: InfluxDB wrote the lines it could parse ("partial write") and resending cannot help.
    const permanent = r.status === 400 || r.status === 413;
    throw new SinkError(`${this.describe}: write answered ${r.status}: ${r.text.slice(0, 300)}`, permanent);
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}

export interface LineFileSinkOptions {
  file: string;
  database: string;
  /** fdatasync after each batch (the spool segment is deleted once this returns). */
  sync: boolean;
}

/**
 * Appends to a file `influx -import -path=<file> -precision=ns` reads: a DDL section creating the database, then
 * DML lines. A restart may append some lines twice; importing them twice overwrites the same points.
 */
export class LineFileSink implements Sink {
  private fd: number | undefined;

  constructor(private readonly opts: LineFileSinkOptions) {}

  get describe(): string {
    return `line file ${this.opts.file}`;
  }

  async start(): Promise<void> {
    this.fd = openSync(this.opts.file, 'a');
    if (fstatSync(this.fd).size === 0) {
      const db = this.opts.database;
      writeSync(this.fd, `# DDL\nCREATE DATABASE ${db}\n\n# DML\n# CONTEXT-DATABASE: ${db}\n# CONTEXT-RETENTION-POLICY: autogen\n`);
    }
  }

  async write(lines: Buffer): Promise<void> {
    if (this.fd === undefined) throw new SinkError(`${this.describe}: not open`, false);
    try {
      let off = 0;
      while (off < lines.length) off += writeSync(this.fd, lines, off, lines.length - off);
      if (this.opts.sync) fdatasyncSync(this.fd);
    } catch (e) {
      throw new SinkError(`${this.describe}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, false, { cause: e });
    }
  }

  async close(): Promise<void> {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

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
}

export interface DrainerStats {
  writtenPoints: number;
  writtenBatches: number;
  writeErrors: number;
  /** Points in batches InfluxDB refused (a 400: it keeps the lines it could parse); logged and skipped, since resending cannot help. */
  rejectedPoints: number;
  sinkUp: boolean;
}

const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5000;

/**
 * One loop that takes batches from the spool in order, one write at a time, and commits each once the sink has
 * it. A batch goes out when it is full, when its oldest line has waited flushInterval_ms, when it is replayed
 * data (a sealed segment), or when flush() asks. A failed write is retried with backoff until it succeeds;
 * meanwhile the spool grows, and when the sink is back the backlog follows in order.
 */
export class SpoolDrainer {
  private readonly log: Logger;
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
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

  private async writeWithRetry(b: SpoolBatch): Promise<boolean> {
    let backoff = BACKOFF_MIN_MS;
    for (;;) {
      const t0 = process.hrtime.bigint();
      try {
        await this.opts.sink.write(b.data);
        this.s.writtenPoints += b.lines;
        this.s.writtenBatches++;
        this.opts.onBatch?.(b.lines, Number(process.hrtime.bigint() - t0) / 1e9);
        this.setUp(true);
        return true;
      } catch (e) {
        this.s.writeErrors++;
        if (e instanceof SinkError && e.permanent) {
          this.s.rejectedPoints += b.lines;
          this.log.error({ err: e.message, lines: b.lines }, 'sink refused a batch as malformed; skipping it');
          return true;
        }
        if (this.s.sinkUp) this.log.warn({ err: (e as Error).message }, 'sink write failed; retrying with backoff, spool holds the data');
        this.setUp(false);
        if (this.stopping) return false;
        await this.sleep(backoff);
        if (this.stopping) return false;
        backoff = Math.min(BACKOFF_MAX_MS, backoff * 2);
      }
    }
  }

  private setUp(up: boolean): void {
    if (this.s.sinkUp === up) return;
    this.s.sinkUp = up;
    if (up) this.log.info('sink is back; draining the spool');
    this.opts.onSinkState?.(up);
  }
}
