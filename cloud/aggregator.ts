// The cloud aggregator: MQTT shared subscription → validate → dedup → spool (then PUBACK) → batched InfluxDB writes.
// This class only wires the parts in cloud/aggregator/ together; each part says why it works as it does.
import { X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import type { IPublishPacket } from 'mqtt';
import { logger, type Logger } from '../common/log.js';
import { PEER_ROOT, type AnyMessage, type RejectReason } from '../protocol/index.js';
import { Confirmations } from './aggregator/confirmations.js';
import { AggregatorError } from './aggregator/errors.js';
import { SpoolHandoff } from './aggregator/handoff.js';
import { PeerExchange } from './aggregator/peers.js';
import { NodeStates, Subscriber, type NodeState } from './aggregator/subscriber.js';
import { DeadLetters, Validator, type Verdict } from './aggregator/validation.js';
import { Writer } from './aggregator/writer.js';
import type { AggregatorConfig } from './config.js';
import { DedupTracker, type GapInfo } from './dedup.js';
import { AggregatorMetrics, StatusServer, type MetricsSource } from './http.js';
import { EstimateRelay } from './relay.js';
import { Spool } from './spool.js';

export type { GapInfo } from './dedup.js';
export type { NodeState } from './aggregator/subscriber.js';
export { AggregatorError } from './aggregator/errors.js';

export interface AggregatorStats extends MetricsSource {
  writtenBatches: number;
  /** Records appended to the spool since start (one per accepted message). */
  spooledRecords: number;
  /** Bytes found in the spool at start and replayed. */
  replayedBytes: number;
  /** Peer announcements ignored: unsigned, untrusted key, bad signature, or sender/topic/group not agreeing. */
  peerRejected: number;
}

export interface AggregatorEvents {
  gap: [GapInfo];
  nodeState: [{ node: string; site: string; online: boolean }];
  deadLetter: [{ reason: RejectReason; topic: string }];
}

/** The parts made anew by each start(); kept after stop() so stats() still tells what was written and what is left. */
interface Session {
  spool: Spool;
  writer: Writer;
  subscriber: Subscriber;
  handoff: SpoolHandoff;
}

/**
 * The provisioned broker listener (cloud/provision.ts brokerListenerConfig) replaces the client id with the
 * certificate CN, so the persistent session belongs to the CN. A clientId that differs from the CN means either a
 * misunderstanding or two members sharing one certificate, which would disconnect each other on every connect:
 * refuse to start rather than flap.
 */
function checkClientIdentity(cfg: AggregatorConfig): void {
  const file = cfg.mqtt.cert;
  if (!file) return;
  let cn: string | undefined;
  try {
    cn = /(?:^|\n)CN=([^\n]+)/.exec(new X509Certificate(readFileSync(file)).subject)?.[1];
  } catch (e) {
    throw new AggregatorError('E_CONFIG', `mqtt.cert: cannot read the certificate ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (cn !== undefined && cn !== cfg.mqtt.clientId) {
    throw new AggregatorError(
      'E_CONFIG',
      `mqtt.clientId "${cfg.mqtt.clientId ?? ''}" is not the CN "${cn}" of ${file}: the broker uses the certificate CN as the client id; ` +
        `set mqtt.clientId to "${cn}" (each member of group ${cfg.mqtt.group} needs a certificate of its own: customs-cloud provision-aggregator)`,
    );
  }
}

export class Aggregator extends EventEmitter<AggregatorEvents> {
  private readonly cfg: AggregatorConfig;
  private readonly log: Logger;
  private readonly metrics: AggregatorMetrics;
  private readonly validator: Validator;
  private readonly nodeStates: NodeStates;
  private readonly deadLetters: DeadLetters;
  private readonly peers: PeerExchange;
  private readonly confirmations: Confirmations;
  /**
   * The seqs this aggregator itself holds durably (spooled, or written): the only ones it confirms to a node. The
   * validator's tracker also holds seqs taken but not yet group-committed and seqs that peers announced.
   */
  private readonly heldHere = new DedupTracker();
  private session: Session | undefined;
  private http: StatusServer | undefined;
  private gapTimer: NodeJS.Timeout | undefined;
  private started = false;
  /** Messages taken (spooled, or needing no record) since start. */
  private accepted = 0;
  /** Forwards vehicle `source` estimates to the site's handhelds as signed cmd/estimate (config `relay`; relay.ts). */
  relay: EstimateRelay | undefined;

  constructor(opts: { config: AggregatorConfig; log?: Logger }) {
    super();
    this.cfg = opts.config;
    this.log = opts.log ?? logger('aggregator');
    this.metrics = new AggregatorMetrics(() => this.stats());
    this.validator = new Validator({ config: this.cfg, log: this.log, onGap: (g) => this.emit('gap', g) });
    this.nodeStates = new NodeStates((s) => this.emit('nodeState', s));
    const cfg = this.cfg;
    const sub = () => this.session?.subscriber;
    const qos0 = (topic: string, payload: string) => void sub()?.publish(topic, payload, { qos: 0 });
    const dedup = () => this.validator.dedup;
    const online = () => sub()?.online ?? false;
    this.peers = new PeerExchange({
      id: cfg.id,
      group: cfg.mqtt.group,
      config: cfg.peers,
      enabled: () => sub()?.peers ?? false,
      online,
      publish: qos0,
      dedup,
      log: this.log.child({ ns: 'peers' }),
    });
    this.confirmations = new Confirmations({ interval_ms: cfg.cloudAck_ms, online, publish: qos0, dedup: () => this.heldHere });
    this.deadLetters = new DeadLetters({
      id: cfg.id,
      v5: cfg.mqtt.protocolVersion === 5,
      publish: (topic, payload, opts, cb) => void sub()?.publish(topic, payload, opts, cb),
      log: this.log,
      onDeadLetter: (e) => this.emit('deadLetter', e),
    });
  }

  get httpPort(): number | undefined {
    return this.http?.port;
  }

  stats(): AggregatorStats {
    const p = this.session;
    const d = p?.writer.stats();
    const v = this.validator.counts;
    return {
      received: v.received,
      accepted: this.accepted,
      duplicates: v.duplicates,
      deadLettered: this.deadLetters.published,
      gapsReported: v.gapsReported,
      peerSeqs: this.peers.peerSeqs,
      peerRejected: this.peers.peerRejected,
      rejected: { ...this.deadLetters.rejected },
      gaps: this.validator.dedup.missing,
      pointsWritten: d?.writtenPoints ?? 0,
      writtenBatches: d?.writtenBatches ?? 0,
      writeErrors: d?.writeErrors ?? 0,
      rejectedPoints: d?.rejectedPoints ?? 0,
      spoolBytes: p?.spool.pendingBytes ?? 0,
      spoolSegments: p?.spool.segmentCount ?? 0,
      spooledRecords: this.accepted,
      replayedBytes: p?.spool.replayed ?? 0,
      influxUp: d?.sinkUp ?? false,
      mqttConnected: p?.subscriber.connected ?? false,
      nodesOnline: this.nodeStates.online,
      nodesKnown: this.nodeStates.known,
    };
  }

  nodes(): NodeState[] {
    return this.nodeStates.list();
  }

  async start(): Promise<void> {
    if (this.started) throw new AggregatorError('E_STATE', 'aggregator already started');
    this.started = true;
    const cfg = this.cfg;
    try {
      const spool = new Spool({ ...cfg.spool, log: this.log.child({ ns: 'spool' }) });
      const session = this.makeSession(spool);
      this.session = session;
      spool.open();
      this.validator.loadClocks();
      await session.writer.start();
      await this.startHttp();
      checkClientIdentity(cfg);
      // Before connect, so the retained handheld status messages delivered on subscribe are already seen.
      if (cfg.relay) this.relay = this.makeRelay(cfg.relay);
      await session.subscriber.start();
      this.startTimers(session);
      this.log.info({ clientId: cfg.mqtt.clientId, sink: session.writer.describe, http: this.httpPort }, 'aggregator running');
    } catch (e) {
      await this.stop().catch(() => undefined);
      throw e;
    }
  }

  /** Builds the parts of one run around its spool; nothing is opened or connected yet. */
  private makeSession(spool: Spool): Session {
    const cfg = this.cfg;
    const subscriber = new Subscriber({ config: cfg, onPublish: (packet, done) => this.onPublish(packet, done), log: this.log });
    const writer = new Writer({ config: cfg, spool, log: this.log, onBatch: (_points, seconds) => this.metrics.batchWrite.observe(seconds) });
    const handoff = new SpoolHandoff({
      spool,
      stream: () => subscriber.stream,
      onSpooled: (msgs) => {
        for (const m of msgs) this.spooled(m);
        writer.notify();
      },
      onWriteFailed: (records) => {
        this.accepted -= records;
        // Their seqs were marked seen; forget them all, or the redeliveries would be taken for duplicates.
        this.validator.forgetSeqs();
      },
      log: this.log,
    });
    return { spool, writer, subscriber, handoff };
  }

  private makeRelay(config: NonNullable<AggregatorConfig['relay']>): EstimateRelay {
    return new EstimateRelay({
      config,
      publish: (topic, payload, done) => {
        const sent = this.session?.subscriber.publish(topic, payload, { qos: 1, retain: true }, (err) => done(err ?? undefined));
        if (!sent) done(new Error('not connected'));
      },
      log: this.log.child({ ns: 'relay' }),
    });
  }

  private async startHttp(): Promise<void> {
    if (!this.cfg.http) return;
    this.http = new StatusServer({
      host: this.cfg.http.host,
      port: this.cfg.http.port,
      metrics: this.metrics,
      health: () => this.health(),
      log: this.log.child({ ns: 'http' }),
    });
    await this.http.start();
  }

  private startTimers(p: Session): void {
    const grace = this.cfg.gapGrace_ms;
    this.gapTimer = setInterval(() => this.validator.reportGaps(), Math.max(50, Math.min(1000, grace || 1000)));
    this.gapTimer.unref();
    if (p.subscriber.peers) this.peers.start(Math.max(50, Math.min(1000, Math.floor(grace / 4))));
    this.confirmations.start();
  }

  private health(): { status: number; body: Record<string, unknown> } {
    const s = this.stats();
    return {
      status: s.mqttConnected ? 200 : 503,
      body: { ok: s.mqttConnected, mqtt: s.mqttConnected, influx: s.influxUp, spoolBytes: s.spoolBytes, nodesOnline: s.nodesOnline },
    };
  }

  /** Hot path: one call per PUBLISH, in order; `done` sends the PUBACK and lets MQTT.js hand over the next packet. */
  private onPublish(packet: IPublishPacket, done: (err?: Error) => void): void {
    const p = this.session!;
    if (packet.topic.startsWith(PEER_ROOT)) {
      this.peers.onPeer(packet.topic, packet.payload);
      done();
      return;
    }
    if (p.subscriber.isStatusCopy(packet)) {
      done(); // the shared copy of a status message; the direct subscription delivers it too
      return;
    }
    const now = Date.now();
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const v = this.validator.check(packet.topic, payload);
    switch (v.kind) {
      case 'rejected':
        // PUBACK first: should the dead letter upset the broker and cost the connection, the bad message must
        // not come back on the next one.
        done();
        this.deadLetters.send(v.reason, v.detail, packet.topic, payload);
        return;
      case 'duplicate':
        this.nodeStates.seen(v.msg.node, v.msg.site, now);
        // The node sent it again because it missed a confirmation. Confirm it once more only if this aggregator
        // holds it: a seq a peer announced is the peer's to confirm, and one still waiting for its group commit
        // is confirmed by spooled() once it is in the spool.
        if (this.heldHere.isDuplicate(v.msg.node, v.msg.boot, v.msg.seq)) this.confirmations.held(v.msg);
        done();
        return;
      case 'new':
        this.take(p, v, now, done);
        return;
    }
  }

  /** A new, valid message: to the spool (fast or held path), then PUBACK. */
  private take(p: Session, v: Extract<Verdict, { kind: 'new' }>, now: number, done: (err?: Error) => void): void {
    const { msg, isStatus } = v;
    this.relay?.observe(v.type, msg);
    const { text, lines } = this.validator.record(v, now);
    if (lines === 0) {
      this.accept(msg, isStatus, now);
      if (!isStatus) this.spooled(msg);
      done();
      return;
    }
    if (p.handoff.blocked) {
      p.handoff
        .appendHeld(text, lines, this.cfg.spool.maxBytes)
        .then((ok) => {
          if (!ok) return; // stopping: unacknowledged, so the broker redelivers it to the next session
          this.accept(msg, isStatus, now);
          if (!isStatus) this.spooled(msg);
          p.writer.notify();
          done();
        })
        .catch((e: unknown) => this.log.error({ err: e }, 'spool append failed'));
      return;
    }
    p.handoff.add(text, lines, isStatus ? undefined : msg);
    this.accept(msg, isStatus, now);
    done(); // the PUBACK waits in the corked socket until the hand-off has the record in the spool
  }

  private accept(msg: AnyMessage, isStatus: boolean, now: number): void {
    this.accepted++;
    if (isStatus) {
      const online = (msg as { online: boolean }).online;
      if (online && !msg.hist) this.confirmations.nodeOnline(msg.node, msg.site);
      this.nodeStates.setOnline(msg.node, msg.site, online, now);
    } else {
      this.validator.add(msg, now);
      this.nodeStates.seen(msg.node, msg.site, now);
    }
  }

  /** A summary is held durably (spooled, or needing no record): confirm it to its node and announce it to peers. */
  private spooled(m: AnyMessage): void {
    if (!this.heldHere.isDuplicate(m.node, m.boot, m.seq)) this.heldHere.add(m.node, m.site, m.boot, m.seq, Date.now());
    this.peers.announce(m.node, m.site, m.boot, m.seq);
    this.confirmations.held(m);
  }

  /** Resolves when everything accepted so far is in InfluxDB (or the line file). */
  async flush(): Promise<void> {
    if (!this.session || !this.started) return;
    this.session.handoff.flush();
    await this.session.writer.flush();
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    const p = this.session;
    if (p) {
      p.subscriber.beginStop();
      p.handoff.stop();
    }
    if (this.gapTimer) clearInterval(this.gapTimer);
    this.gapTimer = undefined;
    this.peers.stop();
    this.confirmations.stop();
    await p?.subscriber.stop();
    await p?.writer.stop();
    p?.spool.close();
    await this.http?.stop();
    this.http = undefined;
    // The session stays referenced so stats() still tells what was written and what is left.
    this.started = false;
    this.removeAllListeners();
  }
}
