// The cloud aggregator: MQTT shared subscription → validate → dedup → spool (then PUBACK) → batched InfluxDB writes.
import { EventEmitter } from 'node:events';
import { fdatasyncSync, closeSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { connect as mqttConnect, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { CustomsError } from '../common/errors.js';
import { logger, type Logger } from '../common/log.js';
import { cloudAckTopic, dataFilter, decode, dlqTopic, PEER_ROOT, peerSeenTopic, toRanges, TOPIC_ROOT, SCHEMA_VERSION, type AnyMessage, type RejectReason } from '../protocol/index.js';
import type { AggregatorConfig } from './config.js';
import { BootClocks, DedupTracker, type GapInfo } from './dedup.js';
import { AggregatorMetrics, StatusServer, type MetricsSource } from './http.js';
import { InfluxSink, LineFileSink, SpoolDrainer, type Sink } from './influx-writer.js';
import { toLines } from './points.js';
import { Spool } from './spool.js';
import { EstimateRelay } from './relay.js';

export type { GapInfo } from './dedup.js';

export interface NodeState {
  node: string;
  site: string;
  online: boolean;
  lastSeen_ms: number;
}

export interface AggregatorStats extends MetricsSource {
  writtenBatches: number;
  /** Records appended to the spool since start (one per accepted message). */
  spooledRecords: number;
  /** Bytes found in the spool at start and replayed. */
  replayedBytes: number;
}

export interface AggregatorEvents {
  gap: [GapInfo];
  nodeState: [{ node: string; site: string; online: boolean }];
  deadLetter: [{ reason: RejectReason; topic: string }];
}

export class AggregatorError extends CustomsError {}

/** Dead letters carry at most this much of the original payload. */
const DLQ_MAX_BYTES = 64 * 1024;
/** Subscription identifiers (MQTT v5) tell which subscription delivered a message. */
const SUB_DATA = 1;
const SUB_STATUS = 2;
const STATUS_FILTER = `${TOPIC_ROOT}/+/+/status`;
/** Where aggregators of one group tell each other which seqs they took (see the comment on gaps below). */
const PEER_MAX_SEQS = 50_000;
const START_TIMEOUT_MS = 30_000;
const REJECT_LOG_EVERY_MS = 10_000;

/**
 * MQTT strings must not hold U+0000, and Mosquitto also drops the connection over control characters and
 * non-characters in a property, so error texts (which quote the bad payload) are escaped before they go out.
 */
function mqttSafe(s: string, max: number): string {
  return s
    .slice(0, max)
    .replace(/[\u0000-\u001f\u007f-\u009f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

type WritevChunk = { chunk: Buffer | string; encoding: BufferEncoding };
const coalesced = new WeakSet<object>();

/**
 * A corked net.Socket sends its queued writes with writev, one iovec (and JS bookkeeping) per chunk, and
 * MQTT.js writes each PUBACK in three or four pieces; for a group commit of a few hundred PUBACKs that cost more
 * than everything else in the hot path. One concatenated buffer is cheaper. Only _writev of this socket
 * instance is replaced, through the Writable extension point, and it hands the bytes to the socket's own _write.
 */
function coalesceWrites(stream: object): void {
  if (coalesced.has(stream)) return;
  coalesced.add(stream);
  const w = stream as { _write: (b: Buffer, e: string, cb: (err?: Error | null) => void) => void; _writev?: unknown };
  if (typeof w._write !== 'function' || typeof w._writev !== 'function') return;
  w._writev = (chunks: WritevChunk[], cb: (err?: Error | null) => void) => {
    const bufs = chunks.map((c) => (typeof c.chunk === 'string' ? Buffer.from(c.chunk, c.encoding) : c.chunk));
    w._write(bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs), 'buffer', cb);
  };
}

function hasSub(id: number | number[] | undefined, want: number): boolean {
  return id === want || (Array.isArray(id) && id.includes(want));
}

/*
 * Why the PUBACK is tied to the spool: MQTT.js sends the PUBACK when the callback given to handleMessage() is
 * called, and it hands over the next packet only after that. Deferring the callback until InfluxDB took a batch
 * would serialise the whole connection on one write round-trip per message. So each message is validated,
 * checked for duplicates and turned into line protocol synchronously, and the callback is called at once, but
 * with the socket corked: the PUBACK waits in the socket buffer. Once MQTT.js has worked through the chunk it
 * read (setImmediate), the records of all its messages go to the spool in one write() and the socket is
 * uncorked (flushPending). A PUBACK thus leaves only after its record is in the page cache (and, per the fsync
 * policy, on disk), which survives a kill of the process; and a chunk of a few hundred messages costs two
 * syscalls instead of two per message.
 *
 * Gaps with several aggregators: a shared subscription deals each node's messages over all members, so every
 * aggregator alone sees holes everywhere. Members therefore publish the seqs they spooled, about every quarter
 * of the gap grace period, to customs-agg/v1/<group>/seen/<id> (QoS 0, No Local) and mark the seqs their peers
 * announce as seen. A gap is reported only after it stayed open for the grace period, by which time the peers'
 * seqs have long filled it; the `gaps` count in between ("open gaps") includes the peers' last second or so.
 * The exchange also drops a duplicate that reaches a different member than the original. Losing a peer
 * message (QoS 0) can only cause a false gap report, never a lost record: only spooled seqs are announced.
 *
 * Mosquitto 2.0 deals a shared subscription round-robin over every member with a session, connected or not (checked
 * empirically; see test/cloud-faults.integration.test.ts): a dead member's share waits in its session until it
 * comes back with the same client id or the session expires (sessionExpiry_s). An aggregator retired for good
 * must therefore have its session removed (connect once with that client id and a clean start).
 *
 * Status is retained and also driven by the Last Will, and a shared subscription gets (per the spec) no retained
 * messages and only part of the live ones. So every aggregator also subscribes to the status topics directly (subscription
 * identifier SUB_STATUS) and takes status only from there, ignoring the copy the shared subscription delivers:
 * each aggregator then sees every node's state. Two aggregators write the same status point, with the same
 * timestamp, which InfluxDB keeps once.
 */
export class Aggregator extends EventEmitter<AggregatorEvents> {
  private readonly cfg: AggregatorConfig;
  private readonly log: Logger;
  private dedup = new DedupTracker();
  private readonly clocks = new BootClocks();
  private readonly nodeMap = new Map<string, NodeState>();
  private readonly rejected: Record<RejectReason, number> = { oversized: 0, not_json: 0, schema: 0, unknown_topic: 0, mismatch: 0 };
  private readonly rejectLog = new Map<RejectReason, { last: number; suppressed: number }>();
  private readonly metrics: AggregatorMetrics;
  private client: MqttClient | undefined;
  private spool: Spool | undefined;
  private sink: Sink | undefined;
  private drainer: SpoolDrainer | undefined;
  private http: StatusServer | undefined;
  private gapTimer: NodeJS.Timeout | undefined;
  private connected = false;
  /**
   * Take status only from the direct subscription. Starts true where it applies, because after a restart the
   * resumed session delivers queued copies before any SUBACK; cleared if the broker refuses that subscription.
   */
  private statusDirect = false;
  private started = false;
  private stopping = false;
  private counts = { received: 0, accepted: 0, duplicates: 0, deadLettered: 0, gapsReported: 0, peerSeqs: 0 };
  private clocksFile = '';
  /** Records of messages handled since the last group commit (see flushPending). */
  private pending: string[] = [];
  private pendingLines = 0;
  /** Seqs in `pending`, announced to peers once spooled. */
  private pendingSeen: { node: string; site: string; boot: string; seq: number }[] = [];
  private seenOut = new Map<string, { node: string; site: string; boot: string; seqs: number[] }>();
  private peers = false;
  private peerTimer: NodeJS.Timeout | undefined;
  /** Summaries in the spool since the last confirmation, per node and boot (see confirm()). */
  private ackOut = new Map<string, { site: string; node: string; boot: string; seqs: number[] }>();
  private pendingAcks: AnyMessage[] = [];
  /** Nodes that came (back) online: they get everything held of them, as they may have missed confirmations. */
  private confirmAllFor = new Map<string, string>();
  private ackTimer: NodeJS.Timeout | undefined;
  private corked: MqttClient['stream'] | undefined;
  private flushScheduled = false;
  /** A message is waiting for spool space; everything after it waits too (MQTT.js hands over nothing meanwhile). */
  private holding = false;
  /** Forwards vehicle `source` estimates to the site's handhelds as signed cmd/estimate (config `relay`; relay.ts). */
  relay: EstimateRelay | undefined;

  constructor(opts: { config: AggregatorConfig; log?: Logger }) {
    super();
    this.cfg = opts.config;
    this.log = opts.log ?? logger('aggregator');
    this.metrics = new AggregatorMetrics(() => this.stats());
  }

  get httpPort(): number | undefined {
    return this.http?.port;
  }

  stats(): AggregatorStats {
    const d = this.drainer?.stats();
    let online = 0;
    for (const n of this.nodeMap.values()) if (n.online) online++;
    return {
      ...this.counts,
      rejected: { ...this.rejected },
      gaps: this.dedup.missing,
      pointsWritten: d?.writtenPoints ?? 0,
      writtenBatches: d?.writtenBatches ?? 0,
      writeErrors: d?.writeErrors ?? 0,
      rejectedPoints: d?.rejectedPoints ?? 0,
      spoolBytes: this.spool?.pendingBytes ?? 0,
      spoolSegments: this.spool?.segmentCount ?? 0,
      spooledRecords: this.counts.accepted,
      replayedBytes: this.spool?.replayed ?? 0,
      influxUp: d?.sinkUp ?? false,
      mqttConnected: this.connected,
      nodesOnline: online,
      nodesKnown: this.nodeMap.size,
    };
  }

  nodes(): NodeState[] {
    return [...this.nodeMap.values()].map((n) => ({ ...n }));
  }

  async start(): Promise<void> {
    if (this.started) throw new AggregatorError('E_STATE', 'aggregator already started');
    this.started = true;
    this.stopping = false;
    const cfg = this.cfg;
    this.statusDirect = cfg.mqtt.shared && cfg.mqtt.protocolVersion === 5;
    this.peers = cfg.mqtt.shared && cfg.mqtt.protocolVersion === 5;
    try {
      this.spool = new Spool({ ...cfg.spool, log: this.log.child({ ns: 'spool' }) });
      this.spool.open();
      this.clocksFile = join(cfg.spool.dir, 'clocks.json');
      this.loadClocks();
      this.sink = cfg.influx
        ? new InfluxSink({ url: cfg.influx.url, database: cfg.influx.database, timeout_ms: cfg.influx.timeout_ms, log: this.log.child({ ns: 'influx' }) })
        : new LineFileSink({ file: cfg.lineFile!, database: 'customs', sync: cfg.spool.fsync !== 'never' });
      await this.sink.start();
      this.drainer = new SpoolDrainer({
        spool: this.spool,
        sink: this.sink,
        batchSize: cfg.influx?.batchSize ?? 5000,
        flushInterval_ms: cfg.influx?.flushInterval_ms ?? 100,
        log: this.log.child({ ns: 'drainer' }),
        onBatch: (_points, seconds) => this.metrics.batchWrite.observe(seconds),
      });
      this.drainer.start();
      if (cfg.http) {
        this.http = new StatusServer({
          host: cfg.http.host,
          port: cfg.http.port,
          metrics: this.metrics,
          health: () => this.health(),
          log: this.log.child({ ns: 'http' }),
        });
        await this.http.start();
      }
      if (cfg.relay) {
        // Before connect, so the retained handheld status messages delivered on subscribe are already seen.
        this.relay = new EstimateRelay({
          config: cfg.relay,
          publish: (topic, payload, done) => {
            if (!this.client) return done(new Error('not connected'));
            this.client.publish(topic, payload, { qos: 1, retain: true }, (err) => done(err ?? undefined));
          },
          log: this.log.child({ ns: 'relay' }),
        });
      }
      await this.connect();
      const grace = cfg.gapGrace_ms;
      this.gapTimer = setInterval(() => this.reportGaps(), Math.max(50, Math.min(1000, grace || 1000)));
      this.gapTimer.unref();
      if (this.peers) {
        this.peerTimer = setInterval(() => this.announceSeen(), Math.max(50, Math.min(1000, Math.floor(grace / 4))));
        this.peerTimer.unref();
      }
      if (cfg.cloudAck_ms > 0) {
        this.ackTimer = setInterval(() => this.confirm(), cfg.cloudAck_ms);
        this.ackTimer.unref();
      }
      this.log.info({ clientId: cfg.mqtt.clientId, sink: this.sink.describe, http: this.httpPort }, 'aggregator running');
    } catch (e) {
      await this.stop().catch(() => undefined);
      throw e;
    }
  }

  private health(): { status: number; body: Record<string, unknown> } {
    const s = this.stats();
    return {
      status: s.mqttConnected ? 200 : 503,
      body: { ok: s.mqttConnected, mqtt: s.mqttConnected, influx: s.influxUp, spoolBytes: s.spoolBytes, nodesOnline: s.nodesOnline },
    };
  }

  private readPem(file: string | undefined): Buffer | undefined {
    if (!file) return undefined;
    try {
      return readFileSync(file);
    } catch (e) {
      throw new AggregatorError('E_CONFIG', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }

  private async connect(): Promise<void> {
    const m = this.cfg.mqtt;
    const v5 = m.protocolVersion === 5;
    const opts: IClientOptions = {
      protocolVersion: m.protocolVersion,
      clientId: m.clientId ?? `customs-agg-${this.cfg.id}`,
      // A persistent session: while the aggregator is away the broker queues what its subscriptions match.
      clean: false,
      ...(v5 ? { properties: { sessionExpiryInterval: m.sessionExpiry_s } } : {}),
      // Subscriptions are made here on each connect that did not resume the session (see below).
      resubscribe: false,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      keepalive: 30,
      ca: this.readPem(m.ca),
      cert: this.readPem(m.cert),
      key: this.readPem(m.key),
      manualConnect: true,
      // MQTT.js logs through `debug` a dozen times per packet; even disabled that showed in the ingest profile.
      ...(process.env.DEBUG ? {} : { log: () => undefined }),
    };
    const client = mqttConnect(m.url, opts);
    this.client = client;
    client.handleMessage = (packet, done) => this.onPublish(packet, done);
    let firstSubscribed: (() => void) | undefined;
    let firstFailed: ((e: Error) => void) | undefined;
    const ready = new Promise<void>((resolve, reject) => {
      firstSubscribed = resolve;
      firstFailed = reject;
    });
    let subscribedOnce = false;
    client.on('connect', (connack) => {
      this.connected = true;
      this.log.info({ sessionPresent: connack.sessionPresent }, 'connected to broker');
      if (subscribedOnce && connack.sessionPresent) return;
      this.subscribe(client)
        .then(() => {
          subscribedOnce = true;
          firstSubscribed?.();
        })
        .catch((e: unknown) => {
          this.log.error({ err: e }, 'subscribe failed');
          if (firstFailed) firstFailed(e as Error);
          // Later, a connection without subscriptions would sit idle: drop it, MQTT.js reconnects and we retry.
          else if (!this.stopping) client.stream?.destroy();
        });
    });
    client.on('close', () => {
      if (this.connected && !this.stopping) this.log.warn('connection to broker lost; reconnecting');
      this.connected = false;
    });
    client.on('error', (e) => this.log.warn({ err: e.message }, 'mqtt error'));
    client.connect();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        ready,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new AggregatorError('E_MQTT_CONNECT', `no connection to ${m.url} within ${START_TIMEOUT_MS / 1000} s`)),
            START_TIMEOUT_MS,
          );
        }),
      ]);
    } finally {
      if (timer) clearTimeout(timer);
      firstSubscribed = undefined;
      firstFailed = undefined;
    }
  }

  private async subscribe(client: MqttClient): Promise<void> {
    const m = this.cfg.mqtt;
    const v5 = m.protocolVersion === 5;
    const filter = m.shared ? dataFilter(m.group) : dataFilter();
    // Unshared, the data subscription brings every status message (retained ones included) by itself; and
    // without v5 there are no subscription identifiers to tell two copies apart.
    this.statusDirect = m.shared && v5;
    if (this.statusDirect) {
      // Status first, so that by the time shared deliveries flow it is known which copy to take. Mosquitto 2.0
      // even sends retained messages to shared subscriptions (the spec says it should not), so there are
      // copies from the first moment.
      try {
        const g = await client.subscribeAsync(STATUS_FILTER, { qos: 1, rh: 0, properties: { subscriptionIdentifier: SUB_STATUS } });
        this.statusDirect = !g.some((x) => x.qos > 2);
      } catch {
        this.statusDirect = false;
      }
      if (!this.statusDirect) this.log.warn({ filter: STATUS_FILTER }, 'status subscription refused; node states only from the shared subscription');
    }
    if (this.peers) {
      // No Local: an aggregator does not need its own announcements back.
      const g = await client.subscribeAsync(`${PEER_ROOT}/${m.group}/seen/+`, { qos: 0, nl: true }).catch(() => [{ qos: 128 }]);
      if (g.some((x) => x.qos > 2)) {
        this.peers = false;
        this.log.warn({ topic: `${PEER_ROOT}/${m.group}/seen/+` }, 'peer subscription refused; gaps are then counted from this aggregator\'s share only');
      }
    }
    const granted = await client.subscribeAsync(filter, { qos: 1, ...(v5 ? { properties: { subscriptionIdentifier: SUB_DATA } } : {}) });
    if (granted.some((g) => g.qos > 2)) {
      throw new AggregatorError('E_MQTT_SUBSCRIBE', `broker refused ${filter} (reason ${granted[0]?.qos})`);
    }
  }

  /** Hot path: one call per PUBLISH, in order; `done` sends the PUBACK and lets MQTT.js hand over the next packet. */
  private onPublish(packet: IPublishPacket, done: (err?: Error) => void): void {
    const topic = packet.topic;
    if (topic.startsWith(PEER_ROOT)) {
      this.onPeer(packet.payload);
      done();
      return;
    }
    const isStatusTopic = topic.endsWith('/status');
    if (this.statusDirect && isStatusTopic && !hasSub(packet.properties?.subscriptionIdentifier, SUB_STATUS)) {
      done(); // the shared copy of a status message; the direct subscription delivers it too
      return;
    }
    const now = Date.now();
    this.counts.received++;
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    if (payload.length > this.cfg.maxPayloadBytes) {
      done();
      this.reject('oversized', `${payload.length} bytes > ${this.cfg.maxPayloadBytes}`, topic, payload);
      return;
    }
    const d = decode(topic, payload);
    if (!d.ok) {
      // PUBACK first: should the dead letter upset the broker and cost the connection, the bad message must
      // not come back on the next one.
      done();
      this.reject(d.reason, d.detail, topic, payload);
      return;
    }
    const msg = d.msg;
    const isStatus = d.kind === 'status';
    // Status is state, not a sequence: heartbeats and the Last Will are written every time they come.
    if (!isStatus && this.dedup.isDuplicate(msg.node, msg.boot, msg.seq)) {
      this.counts.duplicates++;
      this.seen(msg.node, msg.site, now);
      // Held already; the node sent it again because it missed our confirmation, so confirm it once more.
      this.toConfirm(msg);
      done();
      return;
    }
    this.relay?.observe(d.kind, msg);
    const t = this.clocks.resolve(msg, now);
    if (t.changed) this.saveClocks();
    const lines = toLines({ kind: d.kind, msg, time_ms: t.time_ms, tsSrc: t.tsSrc });
    let text = lines.join('\n') + '\n';
    // The spool reads NUL as a line torn by a power cut, so none may come from a payload string.
    if (text.includes('\0')) text = text.replaceAll('\0', '\uFFFD');
    if (lines.length === 0) {
      this.accepted(msg, isStatus, now);
      if (!isStatus) {
        this.announce(msg.node, msg.site, msg.boot, msg.seq);
        this.toConfirm(msg);
      }
      done();
      return;
    }
    if (this.holding || this.spool!.full) {
      // Spool full (or the disk failing): hold this PUBACK. MQTT.js then hands over nothing more and the broker
      // keeps the messages. What is pending goes to the spool first, so records stay in order.
      this.flushPending();
      this.holding = true;
      this.appendLater(text, lines.length)
        .then((ok) => {
          this.holding = false;
          if (!ok) return; // stopping: unacknowledged, so the broker redelivers it to the next session
          this.accepted(msg, isStatus, now);
          if (!isStatus) {
            this.announce(msg.node, msg.site, msg.boot, msg.seq);
            this.toConfirm(msg);
          }
          this.drainer?.notify();
          done();
        })
        .catch((e: unknown) => this.log.error({ err: e }, 'spool append failed'));
      return;
    }
    const stream = this.client?.stream;
    if (this.corked !== stream) {
      this.flushPending();
      if (stream) {
        coalesceWrites(stream);
        stream.cork();
        this.corked = stream;
      }
    }
    this.pending.push(text);
    this.pendingLines += lines.length;
    if (this.peers && !isStatus) this.pendingSeen.push({ node: msg.node, site: msg.site, boot: msg.boot, seq: msg.seq });
    if (!isStatus && this.cfg.cloudAck_ms > 0) this.pendingAcks.push(msg);
    this.accepted(msg, isStatus, now);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushPendingBound);
    }
    done(); // the PUBACK waits in the corked socket until flushPending() has the record in the spool
  }

  private accepted(msg: AnyMessage, isStatus: boolean, now: number): void {
    this.counts.accepted++;
    if (isStatus && (msg as { online: boolean }).online && this.cfg.cloudAck_ms > 0 && !msg.hist) this.confirmAllFor.set(msg.node, msg.site);
    if (isStatus) this.setOnline(msg.node, msg.site, (msg as { online: boolean }).online, now);
    else {
      this.dedup.add(msg.node, msg.site, msg.boot, msg.seq, now);
      this.seen(msg.node, msg.site, now);
    }
  }

  private readonly flushPendingBound = (): void => this.flushPending();

  /**
   * Group commit: the records of every message MQTT.js handed over since the last call go to the spool in one
   * write, and only then is the socket uncorked, sending their PUBACKs in one go. It runs from setImmediate, i.e.
   * once per chunk read from the socket, after MQTT.js has worked through all packets in it. Should the write
   * fail, the connection is dropped with the PUBACKs unsent, so the broker delivers those messages again.
   */
  private flushPending(): void {
    this.flushScheduled = false;
    const stream = this.corked;
    this.corked = undefined;
    if (this.pending.length > 0) {
      const text = this.pending.length === 1 ? this.pending[0]! : this.pending.join('');
      const lines = this.pendingLines;
      const records = this.pending.length;
      this.pending = [];
      this.pendingLines = 0;
      try {
        // Forced: these messages were taken while there was room; the limit applies to the next ones.
        this.spool!.append(text, lines, true);
      } catch (e) {
        this.log.error({ err: (e as Error).message, records }, 'spool write failed; dropping the connection so the broker redelivers');
        this.counts.accepted -= records;
        // Their seqs were marked seen; forget them all, or the redeliveries would be taken for duplicates.
        this.dedup = new DedupTracker();
        this.pendingSeen = [];
        this.pendingAcks = [];
        stream?.destroy();
        return;
      }
      // In the spool now: these may be confirmed to their nodes.
      for (const m of this.pendingAcks) this.toConfirm(m);
      this.pendingAcks = [];
      if (this.pendingSeen.length) {
        for (const x of this.pendingSeen) this.announce(x.node, x.site, x.boot, x.seq);
        this.pendingSeen = [];
      }
      this.drainer?.notify();
    }
    stream?.uncork();
  }

  private async appendLater(text: string, lines: number): Promise<boolean> {
    let warned = false;
    for (;;) {
      if (this.stopping || !this.spool) return false;
      if (this.spool.full) {
        if (!warned) this.log.warn({ bytes: this.spool.pendingBytes, maxBytes: this.cfg.spool.maxBytes }, 'spool full; holding acknowledgements until the sink catches up');
        warned = true;
        await this.spool.waitForSpace();
      } else {
        await new Promise((r) => setTimeout(r, 500));
      }
      if (this.stopping || !this.spool) return false;
      try {
        if (this.spool.append(text, lines)) return true;
      } catch (e) {
        this.log.error({ err: (e as Error).message }, 'spool write failed; holding the acknowledgement and retrying');
      }
    }
  }

  private seen(node: string, site: string, now: number): void {
    const n = this.nodeMap.get(node);
    if (n) {
      n.lastSeen_ms = now;
      n.site = site;
      return;
    }
    // A node first heard of through data is evidently up; its status message will say so too.
    this.nodeMap.set(node, { node, site, online: true, lastSeen_ms: now });
    this.emit('nodeState', { node, site, online: true });
  }

  private setOnline(node: string, site: string, online: boolean, now: number): void {
    const n = this.nodeMap.get(node);
    if (n && n.online === online) {
      n.lastSeen_ms = now;
      n.site = site;
      return;
    }
    this.nodeMap.set(node, { node, site, online, lastSeen_ms: now });
    this.emit('nodeState', { node, site, online });
  }

  private reject(reason: RejectReason, detail: string, topic: string, payload: Buffer): void {
    this.rejected[reason]++;
    const now = Date.now();
    const rl = this.rejectLog.get(reason) ?? { last: 0, suppressed: 0 };
    if (now - rl.last >= REJECT_LOG_EVERY_MS) {
      this.log.warn({ reason, topic, detail, suppressedSinceLast: rl.suppressed }, 'message rejected; dead-lettered');
      rl.last = now;
      rl.suppressed = 0;
    } else rl.suppressed++;
    this.rejectLog.set(reason, rl);
    const body = payload.length > DLQ_MAX_BYTES ? payload.subarray(0, DLQ_MAX_BYTES) : payload;
    const userProperties: Record<string, string> = { topic: mqttSafe(topic, 1024), error: mqttSafe(detail, 1024), reason };
    if (body.length < payload.length) userProperties.truncatedFrom = String(payload.length);
    const v5 = this.cfg.mqtt.protocolVersion === 5;
    this.client?.publish(dlqTopic(this.cfg.id, reason), body, { qos: 1, ...(v5 ? { properties: { userProperties } } : {}) }, (err) => {
      if (err) this.log.warn({ err: err.message, reason }, 'dead-letter publish failed');
      else this.counts.deadLettered++;
    });
    this.emit('deadLetter', { reason, topic });
  }

  /** Queues a summary held durably (spool or InfluxDB) for the next confirmation to its node. */
  private toConfirm(m: AnyMessage): void {
    if (this.cfg.cloudAck_ms <= 0) return;
    const key = `${m.site}/${m.node}/${m.boot}`;
    let e = this.ackOut.get(key);
    if (!e) this.ackOut.set(key, (e = { site: m.site, node: m.node, boot: m.boot, seqs: [] }));
    e.seqs.push(m.seq);
  }

  /**
   * Tells each node which of its summaries this aggregator holds, as seq ranges per boot, so the node may forget
   * them. QoS 0: a lost confirmation only makes the node send those summaries again, which are then duplicates.
   */
  private confirm(): void {
    if (!this.client || !this.connected) return;
    for (const e of this.ackOut.values()) {
      const payload = JSON.stringify({ v: SCHEMA_VERSION, boot: e.boot, r: toRanges(e.seqs) });
      this.client.publish(cloudAckTopic(e.site, e.node), payload, { qos: 0 });
    }
    this.ackOut.clear();
    // A node's status says it (re)connected, so confirmations sent while it was away are lost: send it all we
    // hold. This runs after the group commit of everything received before, so nothing unspooled is confirmed.
    for (const [node, site] of this.confirmAllFor) {
      for (const { boot, ranges } of this.dedup.held(node)) {
        if (ranges.length) this.client.publish(cloudAckTopic(site, node), JSON.stringify({ v: SCHEMA_VERSION, boot, r: ranges }), { qos: 0 });
      }
    }
    this.confirmAllFor.clear();
  }

  /** Queues a spooled seq for the next announcement to the peers. */
  private announce(node: string, site: string, boot: string, seq: number): void {
    if (!this.peers) return;
    const key = `${node}/${boot}`;
    let e = this.seenOut.get(key);
    if (!e) {
      e = { node, site, boot, seqs: [] };
      this.seenOut.set(key, e);
    }
    e.seqs.push(seq);
  }

  /** Publishes the seqs spooled since the last call: per boot the first seq and the deltas to the next ones. */
  private announceSeen(): void {
    if (!this.seenOut.size || !this.client || !this.connected) return;
    const topic = peerSeenTopic(this.cfg.mqtt.group, this.cfg.id);
    let boots: [string, string, string, number, number[]][] = [];
    let n = 0;
    const send = () => {
      if (!boots.length) return;
      this.client?.publish(topic, JSON.stringify({ v: 1, from: this.cfg.id, b: boots }), { qos: 0 });
      boots = [];
      n = 0;
    };
    for (const e of this.seenOut.values()) {
      const seqs = e.seqs.sort((a, b) => a - b);
      for (let i = 0; i < seqs.length; i += PEER_MAX_SEQS) {
        const part = seqs.slice(i, i + PEER_MAX_SEQS);
        const deltas = new Array<number>(part.length - 1);
        for (let k = 1; k < part.length; k++) deltas[k - 1] = part[k]! - part[k - 1]!;
        boots.push([e.node, e.site, e.boot, part[0]!, deltas]);
        n += part.length;
        if (n >= PEER_MAX_SEQS) send();
      }
    }
    send();
    this.seenOut.clear();
  }

  /** Marks the seqs a peer announced as seen. Peers are trusted like the broker, but their payload is checked. */
  private onPeer(payload: Buffer | string): void {
    let v: unknown;
    try {
      v = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
    } catch {
      return;
    }
    const m = v as { v?: unknown; from?: unknown; b?: unknown };
    if (typeof m !== 'object' || m === null || m.v !== 1 || m.from === this.cfg.id || !Array.isArray(m.b)) return;
    const now = Date.now();
    for (const e of m.b as unknown[]) {
      if (!Array.isArray(e) || e.length !== 5) continue;
      const [node, site, boot, first, deltas] = e as unknown[];
      if (typeof node !== 'string' || typeof site !== 'string' || typeof boot !== 'string' || !Array.isArray(deltas)) continue;
      if (!Number.isSafeInteger(first) || (first as number) < 0) continue;
      let seq = first as number;
      for (let i = 0; ; i++) {
        if (!this.dedup.isDuplicate(node, boot, seq)) {
          this.dedup.add(node, site, boot, seq, now);
          this.counts.peerSeqs++;
        }
        if (i >= deltas.length) break;
        const d = deltas[i];
        if (typeof d !== 'number' || !Number.isSafeInteger(seq + d) || seq + d < 0) break;
        seq += d;
      }
    }
  }

  private reportGaps(): void {
    for (const g of this.dedup.dueGaps(Date.now(), this.cfg.gapGrace_ms)) {
      this.counts.gapsReported++;
      this.log.warn(g, 'seq gap: messages missing');
      this.emit('gap', g);
    }
  }

  private loadClocks(): void {
    let text: string;
    try {
      text = readFileSync(this.clocksFile, 'utf8');
    } catch {
      return; // first start
    }
    try {
      this.clocks.load(JSON.parse(text));
    } catch (e) {
      this.log.warn({ file: this.clocksFile, err: (e as Error).message }, 'boot clock table unreadable; starting a new one');
    }
  }

  /** Written before the PUBACK of the message that changed it, so a redelivery after a crash gets the same time. */
  private saveClocks(): void {
    const tmp = `${this.clocksFile}.tmp`;
    try {
      const fd = openSync(tmp, 'w');
      try {
        writeSync(fd, JSON.stringify(this.clocks));
        if (this.cfg.spool.fsync !== 'never') fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.clocksFile);
    } catch (e) {
      this.log.error({ err: (e as Error).message, file: this.clocksFile }, 'cannot save boot clock table');
    }
  }

  /** Resolves when everything accepted so far is in InfluxDB (or the line file). */
  async flush(): Promise<void> {
    if (!this.drainer || !this.started) return;
    this.flushPending();
    await this.drainer.flush();
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.stopping = true;
    if (this.spool && this.started) this.flushPending();
    if (this.gapTimer) clearInterval(this.gapTimer);
    this.gapTimer = undefined;
    if (this.peerTimer) clearInterval(this.peerTimer);
    this.peerTimer = undefined;
    this.announceSeen();
    if (this.ackTimer) clearInterval(this.ackTimer);
    this.ackTimer = undefined;
    this.confirm();
    const client = this.client;
    if (client) {
      // A normal DISCONNECT keeps the session (sessionExpiry_s), so the broker queues for the next start.
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => client.end(true, {}, () => resolve()), 3000);
        client.end(false, {}, () => {
          clearTimeout(t);
          resolve();
        });
      });
      client.removeAllListeners();
    }
    this.client = undefined;
    this.connected = false;
    if (this.drainer) await this.drainer.stop(this.cfg.influx?.timeout_ms ?? 10_000);
    if (this.sink) await this.sink.close();
    this.spool?.close();
    await this.http?.stop();
    this.http = undefined;
    this.sink = undefined;
    // The drainer and spool stay referenced so stats() still tells what was written and what is left.
    this.started = false;
    this.removeAllListeners();
  }
}
