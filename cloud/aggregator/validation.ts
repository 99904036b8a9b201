// The aggregator's intake checks: size and schema (decode), dead letters for what fails, duplicate and gap
// tracking per (node, boot), and the boot clock table that turns a node's timestamps into point times.
import { closeSync, fdatasyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { IClientPublishOptions } from 'mqtt';
import type { Logger } from '../../common/log.js';
import { decode, dlqTopic, type AnyMessage, type Kind, type RejectReason } from '../../protocol/index.js';
import type { AggregatorConfig } from '../config.js';
import { BootClocks, DedupTracker, type GapInfo } from '../dedup.js';
import { toLines } from '../points.js';
import { TagBudget, tagValuesOf } from './tag-budget.js';

/** Dead letters carry at most this much of the original payload. */
const DLQ_MAX_BYTES = 64 * 1024;
const REJECT_LOG_EVERY_MS = 10_000;

type Publish = (topic: string, payload: Buffer, opts: IClientPublishOptions, cb: (err?: Error) => void) => void;

/** What the intake made of one PUBLISH. */
export type Verdict =
  | { kind: 'rejected'; reason: RejectReason; detail: string }
  | { kind: 'duplicate'; msg: AnyMessage }
  | { kind: 'new'; type: Kind; msg: AnyMessage; isStatus: boolean };

/**
 * MQTT strings must not hold U+0000, and Mosquitto also drops the connection over control characters and
 * non-characters in a property, so error texts (which quote the bad payload) are escaped before they go out.
 */
export function mqttSafe(s: string, max: number): string {
  return s
    .slice(0, max)
    .replace(/[\u0000-\u001f\u007f-\u009f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export interface DeadLettersOptions {
  id: string;
  v5: boolean;
  publish: Publish;
  log: Logger;
  onDeadLetter: (e: { reason: RejectReason; topic: string }) => void;
}

/** Rejected messages go to customs-dlq/v1/<id>/<reason> with the reason and the error as user properties. */
export class DeadLetters {
  readonly rejected: Record<RejectReason, number> = { oversized: 0, not_json: 0, schema: 0, unknown_topic: 0, mismatch: 0, cardinality: 0 };
  /** Dead letters the broker took. */
  published = 0;
  private readonly logged = new Map<RejectReason, { last: number; suppressed: number }>();

  constructor(private readonly opts: DeadLettersOptions) {}

  send(reason: RejectReason, detail: string, topic: string, payload: Buffer): void {
    this.rejected[reason]++;
    const now = Date.now();
    const rl = this.logged.get(reason) ?? { last: 0, suppressed: 0 };
    if (now - rl.last >= REJECT_LOG_EVERY_MS) {
      this.opts.log.warn({ reason, topic, detail, suppressedSinceLast: rl.suppressed }, 'message rejected; dead-lettered');
      rl.last = now;
      rl.suppressed = 0;
    } else rl.suppressed++;
    this.logged.set(reason, rl);
    const body = payload.length > DLQ_MAX_BYTES ? payload.subarray(0, DLQ_MAX_BYTES) : payload;
    const userProperties: Record<string, string> = { topic: mqttSafe(topic, 1024), error: mqttSafe(detail, 1024), reason };
    if (body.length < payload.length) userProperties.truncatedFrom = String(payload.length);
    this.opts.publish(dlqTopic(this.opts.id, reason), body, { qos: 1, ...(this.opts.v5 ? { properties: { userProperties } } : {}) }, (err) => {
      if (err) this.opts.log.warn({ err: err.message, reason }, 'dead-letter publish failed');
      else this.published++;
    });
    this.opts.onDeadLetter({ reason, topic });
  }
}

export interface ValidatorOptions {
  config: AggregatorConfig;
  log: Logger;
  onGap: (g: GapInfo) => void;
}

/**
 * Decode, duplicate check, the per-node tag cap and point times; holds the per-boot seq windows, the boot clock
 * table and the tag values each node created.
 */
export class Validator {
  private readonly cfg: AggregatorConfig;
  private readonly log: Logger;
  private dedupTracker = new DedupTracker();
  private readonly clocks = new BootClocks();
  private readonly clocksFile: string;
  private readonly tags: TagBudget;
  private readonly tagsFile: string;
  readonly counts = { received: 0, duplicates: 0, gapsReported: 0 };

  constructor(private readonly opts: ValidatorOptions) {
    this.cfg = opts.config;
    this.log = opts.log;
    this.clocksFile = join(this.cfg.spool.dir, 'clocks.json');
    this.tags = new TagBudget(this.cfg.tagValuesPerNode);
    this.tagsFile = join(this.cfg.spool.dir, 'tags.json');
  }

  /** The seqs held per (node, boot); replaced by forgetSeqs(). */
  get dedup(): DedupTracker {
    return this.dedupTracker;
  }

  /**
   * Forgets every seq seen: after a failed spool write their messages come again and must not be taken for
   * duplicates.
   */
  forgetSeqs(): void {
    this.dedupTracker = new DedupTracker();
  }

  /**
   * Size, schema, duplicate and tag-cap check of one message (status is state, not a sequence: never a duplicate).
   * A new message's new tag values are recorded here (and persisted before its PUBACK, like the clock table).
   */
  check(topic: string, payload: Buffer): Verdict {
    this.counts.received++;
    if (payload.length > this.cfg.maxPayloadBytes) {
      return { kind: 'rejected', reason: 'oversized', detail: `${payload.length} bytes > ${this.cfg.maxPayloadBytes}` };
    }
    const d = decode(topic, payload);
    if (!d.ok) return { kind: 'rejected', reason: d.reason, detail: d.detail };
    const isStatus = d.kind === 'status';
    // Heartbeats and the Last Will are written every time they come.
    if (!isStatus && this.dedupTracker.isDuplicate(d.msg.node, d.msg.boot, d.msg.seq)) {
      this.counts.duplicates++;
      return { kind: 'duplicate', msg: d.msg };
    }
    const a = this.tags.admit(d.msg.node, tagValuesOf(d.kind, d.msg));
    if (!a.ok) return { kind: 'rejected', reason: 'cardinality', detail: a.detail };
    if (a.changed) this.save(this.tagsFile, this.tags, 'tag value table');
    return { kind: 'new', type: d.kind, msg: d.msg, isStatus };
  }

  /** The spool record of a new message: its points as line protocol, one line each, every line ending in '\n'. */
  record(v: Extract<Verdict, { kind: 'new' }>, now: number): { text: string; lines: number } {
    const t = this.clocks.resolve(v.msg, now);
    if (t.changed) this.save(this.clocksFile, this.clocks, 'boot clock table');
    const lines = toLines({ kind: v.type, msg: v.msg, time_ms: t.time_ms, tsSrc: t.tsSrc });
    let text = lines.join('\n') + '\n';
    // The spool reads NUL as a line torn by a power cut, so none may come from a payload string.
    if (text.includes('\0')) text = text.replaceAll('\0', '\uFFFD');
    return { text, lines: lines.length };
  }

  /** Marks a message's seq as held (it is spooled, or needed no record). */
  add(msg: AnyMessage, now: number): void {
    this.dedupTracker.add(msg.node, msg.site, msg.boot, msg.seq, now);
  }

  /** Reports the gaps that stayed open past the grace period. */
  reportGaps(): void {
    for (const g of this.dedupTracker.dueGaps(Date.now(), this.cfg.gapGrace_ms)) {
      this.counts.gapsReported++;
      this.log.warn(g, 'seq gap: messages missing');
      this.opts.onGap(g);
    }
  }

  /** Loads the boot clock table and the tag value table the previous run left in the spool directory. */
  loadClocks(): void {
    this.load(this.clocksFile, 'boot clock table', (v) => this.clocks.load(v));
    this.load(this.tagsFile, 'tag value table', (v) => this.tags.load(v));
  }

  private load(file: string, what: string, apply: (v: unknown) => void): void {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return; // first start
    }
    try {
      apply(JSON.parse(text));
    } catch (e) {
      this.log.warn({ file, err: (e as Error).message }, `${what} unreadable; starting a new one`);
    }
  }

  /**
   * Written before the PUBACK of the message that changed it: for the clocks, so a redelivery after a crash gets
   * the same time; for the tags, so a restart does not hand a node a fresh allowance.
   */
  private save(file: string, table: object, what: string): void {
    const tmp = `${file}.tmp`;
    try {
      const fd = openSync(tmp, 'w');
      try {
        writeSync(fd, JSON.stringify(table));
        if (this.cfg.spool.fsync !== 'never') fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, file);
    } catch (e) {
      this.log.error({ err: (e as Error).message, file }, `cannot save ${what}`);
    }
  }
}
