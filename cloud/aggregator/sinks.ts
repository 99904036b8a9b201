// Where the aggregator's points end up: InfluxDB 1.x over its HTTP write API, or a line-protocol file for `influx -import`.
import { Agent, request } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { closeSync, fdatasyncSync, fstatSync, openSync, writeSync } from 'node:fs';
import { CustomsError } from '../../common/errors.js';
import { logger, type Logger } from '../../common/log.js';

/** A write the sink refused. `permanent` means retrying the same bytes cannot succeed (lines InfluxDB refuses). */
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
    // 400: InfluxDB refused some lines (unparsable, field type conflict, max-values-per-tag) and wrote the others
    // ("partial write"); its answer does not reliably say which, so the drainer splits the batch to find them. 413:
    // too big as a whole. Resending the same bytes cannot help either.
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

/** A line the sink refused, with the sink's answer. */
export interface RefusedLine {
  line: Buffer;
  reason: string;
}

export interface QuarantineOptions {
  file: string;
  /** fdatasync after each append (the spool lines are deleted once this returns). */
  sync: boolean;
}

/*
 * Where points InfluxDB refuses go (field type conflict, max-values-per-tag, a line it cannot parse). By the time
 * InfluxDB answers, the message was confirmed to its node (it was in the spool), so the line must not just be
 * dropped: the drainer appends it here, durably, before it lets the spool forget it. Each line is preceded by a
 * comment with the time and InfluxDB's reason, so the file can be read, fixed up and imported by hand
 * (`influx -import` skips the comments). A crash between this append and the spool commit repeats a line here.
 */
export class Quarantine {
  private fd: number | undefined;
  /** Lines appended since start. */
  lines = 0;

  constructor(private readonly opts: QuarantineOptions) {}

  get describe(): string {
    return `quarantine file ${this.opts.file}`;
  }

  /** Appends the refused lines; throws SinkError (not permanent) when the file cannot be written. */
  append(refused: RefusedLine[]): void {
    if (refused.length === 0) return;
    const at = new Date().toISOString();
    const parts: Buffer[] = [];
    for (const r of refused) {
      const reason = r.reason.replace(/[\r\n]+/g, ' | ').slice(0, 1000);
      parts.push(Buffer.from(`# refused ${at}: ${reason}\n`), r.line, r.line[r.line.length - 1] === 0x0a ? Buffer.alloc(0) : Buffer.from('\n'));
    }
    const buf = Buffer.concat(parts);
    try {
      this.fd ??= openSync(this.opts.file, 'a');
      let off = 0;
      while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
      if (this.opts.sync) fdatasyncSync(this.fd);
    } catch (e) {
      throw new SinkError(`${this.describe}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, false, { cause: e });
    }
    this.lines += refused.length;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
