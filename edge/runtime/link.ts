// MQTT v5 link of an edge box: drains the durable outbox (live first, backlog at a bounded rate) and keeps status.
//
// MQTT.js's own offline queue is not used: it holds messages in memory and floods the link after an outage.
// Instead each connection is a fresh client (no automatic reconnect); only the outbox decides what is sent.
// An entry is acknowledged in the outbox only on the broker's PUBACK; whatever was in flight when a connection
// dropped goes back to the backlog and is sent again, flagged historical (the cloud drops duplicates).
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from '../../common/log.js';
import { silentLogger } from '../../common/log.js';
import type { Outbox, OutboxEntry } from './outbox.js';
import { decodeCloudAck } from '../../protocol/index.js';

export interface LinkOptions {
  url: string;
  clientId: string;
  ca?: string;
  cert?: string;
  key?: string;
  keepalive_s: number;
  reconnect_ms: number;
  /** 5 (default) or 4 (MQTT 3.1.1, for brokers such as aedes that lack v5). */
  protocolVersion?: 4 | 5;
  /** Upper bound of the reconnect backoff. */
  reconnectMax_ms?: number;
  statusTopic: string;
  /** Filter for commands addressed to this node (subscribed on every connect). */
  commandFilter?: string;
  inflight: number;
  backlogRate_per_s: number;
  /**
   * End-to-end confirmation: when set, a summary the broker acknowledged stays in the journal until the cloud
   * confirms it on `topic`; one not confirmed within `timeout_ms` is sent again (the timeout doubles per retry of
   * that summary, up to `maxTimeout_ms`). Without it an entry is forgotten on the broker's PUBACK.
   */
  cloudAck?: { topic: string; timeout_ms: number; maxTimeout_ms?: number };
  outbox: Outbox;
  /** Builds the status payload; `online: false` is used as the Last Will. */
  makeStatus: (online: boolean) => Buffer;
  log?: Logger;
}

export interface LinkStats {
  connected: boolean;
  inflight: number;
  /** With the broker, waiting for the cloud's confirmation. */
  unconfirmed: number;
  cloudAcked: number;
  /** Summaries sent again because the cloud did not confirm them in time. */
  unconfirmedResent: number;
  live: number;
  backlog: number;
  sent: number;
  acked: number;
  resent: number;
  connects: number;
  lastError?: string;
}

const HIST_PREFIX = Buffer.from('{"hist":true,');

/** Marks a JSON object payload as historical without re-serialising it. */
export function markHistorical(payload: Buffer): Buffer {
  if (payload[0] !== 0x7b /* { */ || payload.includes('"hist":')) return payload;
  return Buffer.concat([HIST_PREFIX, payload.subarray(1)]);
}

export class MqttLink extends EventEmitter<{
  connected: [];
  disconnected: [string];
  command: [string, Buffer];
}> {
  private readonly opts: LinkOptions;
  private readonly log: Logger;
  private client: MqttClient | undefined;
  private session = 0;
  private connected = false;
  private stopped = true;
  private live: OutboxEntry[] = [];
  private backlog: OutboxEntry[] = [];
  private inflight = new Set<OutboxEntry>();
  private tokens = 0;
  private lastRefill = 0;
  private pumpTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private window: number;
  private counters = { sent: 0, acked: 0, resent: 0, connects: 0, cloudAcked: 0, unconfirmedResent: 0 };
  /** Entries sent in this process, by id, so a cloud acknowledgement finds them (inflight or waiting). */
  private byId = new Map<string, OutboxEntry>();
  /** Entries the broker has, waiting for the cloud: when each is due for a resend, and how often it was resent. */
  private unconfirmed = new Map<OutboxEntry, { due: number; tries: number }>();
  private cloudTimer: NodeJS.Timeout | undefined;
  private lastError: string | undefined;

  constructor(opts: LinkOptions) {
    super();
    this.opts = opts;
    this.log = opts.log ?? silentLogger;
    this.window = opts.inflight;
  }

  /** Starts connecting (it does not wait for the broker: an edge box works offline). */
  start(): void {
    this.stopped = false;
    this.backlog.push(...this.opts.outbox.takeRecovered());
    if (this.opts.cloudAck) {
      this.cloudTimer = setInterval(() => this.resendUnconfirmed(), Math.min(1000, this.opts.cloudAck.timeout_ms / 4));
      this.cloudTimer.unref();
    }
    this.connect();
  }

  /** Hands a freshly journalled entry to the link. */
  enqueue(e: OutboxEntry): void {
    if (this.connected) this.live.push(e);
    else this.backlog.push(e);
    this.pump();
  }

  /** Publishes the retained status now (if connected). */
  publishStatus(): void {
    const c = this.client;
    if (!c || !this.connected) return;
    c.publish(this.opts.statusTopic, this.opts.makeStatus(true), { qos: 1, retain: true }, (err) => {
      if (err) this.log.debug({ err: err.message }, 'status publish failed');
    });
  }

  stats(): LinkStats {
    return {
      connected: this.connected,
      inflight: this.inflight.size,
      unconfirmed: this.unconfirmed.size,
      live: this.live.length,
      backlog: this.backlog.length,
      ...this.counters,
      lastError: this.lastError,
    };
  }

  /** Marks the node offline (retained status), then closes the connection cleanly so the Last Will is not sent. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.pumpTimer);
    clearTimeout(this.reconnectTimer);
    clearInterval(this.cloudTimer);
    const c = this.client;
    this.client = undefined;
    if (c) {
      if (this.connected) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 2000);
          c.publish(this.opts.statusTopic, this.opts.makeStatus(false), { qos: 1, retain: true }, () => {
            clearTimeout(t);
            resolve();
          });
        });
      }
      await new Promise<void>((resolve) => c.end(false, {}, () => resolve()));
      c.removeAllListeners();
    }
    this.dropConnection('stopped');
    this.removeAllListeners();
  }

  // ---- connection -----------------------------------------------------------------------------------------

  private connect(): void {
    if (this.stopped) return;
    const session = ++this.session;
    const o = this.opts;
    const v5 = (o.protocolVersion ?? 5) === 5;
    const options: IClientOptions = {
      clientId: o.clientId,
      protocolVersion: v5 ? 5 : 4,
      clean: true,
      keepalive: o.keepalive_s,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      queueQoSZero: false,
      ...(v5 ? { properties: { sessionExpiryInterval: 0 } } : {}),
      will: { topic: o.statusTopic, payload: o.makeStatus(false), qos: 1, retain: true },
    };
    try {
      if (o.ca) options.ca = readFileSync(o.ca);
      if (o.cert) options.cert = readFileSync(o.cert);
      if (o.key) options.key = readFileSync(o.key);
    } catch (e) {
      this.lastError = `cannot read TLS file: ${(e as Error).message}`;
      this.log.error({ err: this.lastError }, 'link: TLS files unreadable; retrying');
      this.scheduleReconnect();
      return;
    }
    const c = mqtt.connect(o.url, options);
    this.client = c;
    c.on('connect', (connack) => {
      if (session !== this.session) return;
      this.connected = true;
      this.failures = 0;
      this.counters.connects++;
      // Respect the broker's receive maximum: it refuses more unacknowledged QoS 1 messages than that.
      const rm = connack.properties?.receiveMaximum;
      this.window = Math.max(1, Math.min(o.inflight, rm ?? o.inflight));
      this.log.info({ url: o.url, window: this.window, backlog: this.backlog.length }, 'link: connected');
      if (o.commandFilter) c.subscribe(o.commandFilter, { qos: 1 });
      if (o.cloudAck) c.subscribe(o.cloudAck.topic, { qos: 0 });
      this.publishStatus();
      this.tokens = 0;
      this.lastRefill = performance.now();
      this.emit('connected');
      this.pump();
    });
    c.on('message', (topic, payload) => {
      if (o.cloudAck && topic === o.cloudAck.topic) this.onCloudAck(payload);
      else this.emit('command', topic, payload);
    });
    c.on('error', (err) => {
      if (session !== this.session) return;
      // One warning per outage, not one per reconnect attempt: an edge box may be offline for hours.
      if (this.failures === 0 || err.message !== this.lastError) this.log.warn({ err: err.message }, 'link: error');
      else this.log.debug({ err: err.message }, 'link: error');
      this.lastError = err.message;
    });
    c.on('close', () => {
      if (session !== this.session || this.stopped) return;
      this.dropConnection('connection closed');
      c.removeAllListeners('connect');
      c.end(true);
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.failures++;
    const max = this.opts.reconnectMax_ms ?? 30_000;
    const delay = Math.min(max, this.opts.reconnect_ms * 2 ** Math.min(this.failures - 1, 10));
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  /** Everything not acknowledged goes back to the backlog, in journal order. */
  private dropConnection(reason: string): void {
    const wasConnected = this.connected;
    this.connected = false;
    clearTimeout(this.pumpTimer);
    this.pumpTimer = undefined;
    const back = [...this.inflight, ...this.live].filter((e) => e.state !== 'done');
    for (const e of back) e.state = 'pending';
    this.inflight.clear();
    this.live = [];
    if (back.length) {
      this.backlog.push(...back);
      this.backlog.sort((a, b) => a.seg - b.seg || a.idx - b.idx);
    }
    if (wasConnected) {
      if (this.stopped) this.log.info({ reason, backlog: this.backlog.length }, 'link: disconnected');
      else this.log.warn({ reason, backlog: this.backlog.length }, 'link: disconnected');
      this.emit('disconnected', reason);
    }
  }

  // ---- sending --------------------------------------------------------------------------------------------

  private pump(): void {
    if (!this.connected || this.pumpTimer) return;
    const c = this.client;
    if (!c) return;
    const rate = this.opts.backlogRate_per_s;
    const now = performance.now();
    this.tokens = Math.min(Math.max(1, rate / 10), this.tokens + ((now - this.lastRefill) / 1000) * rate);
    this.lastRefill = now;
    while (this.inflight.size < this.window) {
      let e = this.live.shift();
      let hist = false;
      if (!e) {
        while (this.backlog.length && this.backlog[0]!.state === 'done') this.backlog.shift();
        if (!this.backlog.length) break;
        if (this.tokens < 1) {
          this.pumpTimer = setTimeout(() => {
            this.pumpTimer = undefined;
            this.pump();
          }, Math.ceil(((1 - this.tokens) / rate) * 1000));
          break;
        }
        this.tokens -= 1;
        e = this.backlog.shift()!;
        hist = true;
      }
      if (e.state === 'done') continue;
      this.send(c, e, hist);
    }
  }

  /** The cloud holds these summaries: forget them. */
  private onCloudAck(payload: Buffer): void {
    const ack = decodeCloudAck(payload);
    if (!ack) {
      this.log.warn({ bytes: payload.length }, 'link: malformed cloud acknowledgement ignored');
      return;
    }
    const confirm = (e: OutboxEntry, id: string) => {
      this.byId.delete(id);
      this.unconfirmed.delete(e);
      if (e.state !== 'done') {
        this.opts.outbox.ack(e);
        this.counters.cloudAcked++;
      }
    };
    for (const [from, to] of ack.r) {
      if (to - from + 1 <= this.byId.size) {
        for (let seq = from; seq <= to; seq++) {
          const id = `${ack.boot}:${seq}`;
          const e = this.byId.get(id);
          if (e) confirm(e, id);
        }
      } else {
        // A wide range (everything held of a boot, sent after a reconnect): walk what is waiting instead.
        const prefix = `${ack.boot}:`;
        for (const [id, e] of this.byId) {
          if (!id.startsWith(prefix)) continue;
          const seq = Number(id.slice(prefix.length));
          if (seq >= from && seq <= to) confirm(e, id);
        }
      }
    }
  }

  /** Summaries the broker took but the cloud never confirmed (lost behind the broker) go back to the backlog. */
  private resendUnconfirmed(): void {
    const now = performance.now();
    let n = 0;
    for (const [e, u] of this.unconfirmed) {
      if (e.state === 'done') {
        // Dropped by a full journal meanwhile.
        this.unconfirmed.delete(e);
        this.byId.delete(e.id);
        continue;
      }
      if (u.due > now || e.state !== 'sent') continue;
      this.unconfirmed.set(e, { due: Infinity, tries: u.tries + 1 });
      e.state = 'pending';
      this.backlog.push(e);
      n++;
    }
    if (n) {
      this.counters.unconfirmedResent += n;
      this.backlog.sort((a, b) => a.seg - b.seg || a.idx - b.idx);
      this.log.warn({ count: n }, 'link: summaries not confirmed by the cloud in time; sending them again');
      this.pump();
    }
  }

  private send(c: MqttClient, e: OutboxEntry, hist: boolean): void {
    const session = this.session;
    let payload: Buffer;
    try {
      payload = this.opts.outbox.payloadOf(e);
    } catch (err) {
      // Never acknowledged as delivered: the outbox drops it as undeliverable, counts and logs it.
      this.opts.outbox.discard(e, err as Error);
      return;
    }
    if (hist) {
      payload = markHistorical(payload);
      this.counters.resent++;
    }
    e.state = 'inflight';
    this.inflight.add(e);
    if (this.opts.cloudAck && e.id) this.byId.set(e.id, e);
    this.counters.sent++;
    c.publish(e.topic, payload, { qos: 1 }, (err) => {
      if (!err) {
        // A PUBACK from an earlier connection still means the broker has it.
        this.inflight.delete(e);
        this.counters.acked++;
        if (e.state === 'done') {
          // The cloud confirmed it before the PUBACK was processed.
        } else if (this.opts.cloudAck && e.id) {
          e.state = 'sent';
          e.payload = undefined; // read back from the journal should it have to be sent again
          const prev = this.unconfirmed.get(e);
          const tries = prev?.tries ?? 0;
          const wait = Math.min(this.opts.cloudAck.maxTimeout_ms ?? 600_000, this.opts.cloudAck.timeout_ms * 2 ** tries);
          this.unconfirmed.set(e, { due: performance.now() + wait, tries });
        } else {
          this.opts.outbox.ack(e);
        }
      } else if (session === this.session && e.state === 'inflight') {
        // Refused by the broker (v5 reason code) or the connection failed: keep it for a later retry.
        this.inflight.delete(e);
        e.state = 'pending';
        this.backlog.push(e);
        this.lastError = err.message;
        this.log.warn({ topic: e.topic, err: err.message }, 'link: publish not acknowledged, kept for retry');
      }
      this.pump();
    });
  }
}
