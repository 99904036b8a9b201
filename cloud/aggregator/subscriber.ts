// The aggregator's MQTT side: the persistent session, the shared data subscription, the direct status subscription
// and the node states that status messages and their Last Will drive.
import { readFileSync } from 'node:fs';
import { connect as mqttConnect, type IClientOptions, type IClientPublishOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Logger } from '../../common/log.js';
import { dataFilter, PEER_ROOT, TOPIC_ROOT } from '../../protocol/index.js';
import type { AggregatorConfig } from '../config.js';
import { AggregatorError } from './errors.js';

/** Subscription identifiers (MQTT v5) tell which subscription delivered a message. */
const SUB_DATA = 1;
const SUB_STATUS = 2;
const STATUS_FILTER = `${TOPIC_ROOT}/+/+/status`;
const START_TIMEOUT_MS = 30_000;

/*
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

export type PublishHandler = (packet: IPublishPacket, done: (err?: Error) => void) => void;

export interface SubscriberOptions {
  config: AggregatorConfig;
  /** Hot path: one call per PUBLISH, in order; `done` sends the PUBACK and lets MQTT.js hand over the next packet. */
  onPublish: PublishHandler;
  log: Logger;
}

function hasSub(id: number | number[] | undefined, want: number): boolean {
  return id === want || (Array.isArray(id) && id.includes(want));
}

function readPem(file: string | undefined): Buffer | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file);
  } catch (e) {
    throw new AggregatorError('E_CONFIG', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export class Subscriber {
  private readonly cfg: AggregatorConfig;
  private readonly log: Logger;
  private readonly onPublish: PublishHandler;
  private client: MqttClient | undefined;
  private isConnected = false;
  private stopping = false;
  /**
   * Take status only from the direct subscription. Starts true where it applies, because after a restart the
   * resumed session delivers queued copies before any SUBACK; cleared if the broker refuses that subscription.
   */
  private statusDirect = false;
  /** Exchange seen seqs with the other members of the group (peers.ts); cleared if the broker refuses it. */
  private peerExchange = false;

  constructor(opts: SubscriberOptions) {
    this.cfg = opts.config;
    this.log = opts.log;
    this.onPublish = opts.onPublish;
    const m = this.cfg.mqtt;
    this.statusDirect = m.shared && m.protocolVersion === 5;
    this.peerExchange = m.shared && m.protocolVersion === 5;
  }

  get connected(): boolean {
    return this.isConnected;
  }

  /** Whether the peer subscription is in place (or still to be made): only then are seen seqs announced. */
  get peers(): boolean {
    return this.peerExchange;
  }

  /** The socket PUBACKs go out on (corked by the spool hand-off while records wait for their group commit). */
  get stream(): MqttClient['stream'] | undefined {
    return this.client?.stream;
  }

  /** True when a client exists and holds a connection: confirmations and announcements (QoS 0) go out only then. */
  get online(): boolean {
    return this.client !== undefined && this.isConnected;
  }

  /** The shared copy of a status message, which the direct status subscription delivers too. */
  isStatusCopy(packet: IPublishPacket): boolean {
    return this.statusDirect && packet.topic.endsWith('/status') && !hasSub(packet.properties?.subscriptionIdentifier, SUB_STATUS);
  }

  /** Publishes through the client (MQTT.js queues while reconnecting); false, publishing nothing, when there is none. */
  publish(topic: string, payload: Buffer | string, opts: IClientPublishOptions, cb?: (err?: Error) => void): boolean {
    if (!this.client) return false;
    this.client.publish(topic, payload, opts, cb);
    return true;
  }

  private clientOptions(): IClientOptions {
    const m = this.cfg.mqtt;
    const v5 = m.protocolVersion === 5;
    return {
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
      ca: readPem(m.ca),
      cert: readPem(m.cert),
      key: readPem(m.key),
      manualConnect: true,
      // MQTT.js logs through `debug` a dozen times per packet; even disabled that showed in the ingest profile.
      ...(process.env.DEBUG ? {} : { log: () => undefined }),
    };
  }

  /** Connects and subscribes; resolves once the first subscriptions are granted, throws after START_TIMEOUT_MS. */
  async start(): Promise<void> {
    this.stopping = false;
    const m = this.cfg.mqtt;
    const client = mqttConnect(m.url, this.clientOptions());
    this.client = client;
    client.handleMessage = this.onPublish;
    let firstSubscribed: (() => void) | undefined;
    let firstFailed: ((e: Error) => void) | undefined;
    const ready = new Promise<void>((resolve, reject) => {
      firstSubscribed = resolve;
      firstFailed = reject;
    });
    let subscribedOnce = false;
    client.on('connect', (connack) => {
      this.isConnected = true;
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
      if (this.isConnected && !this.stopping) this.log.warn('connection to broker lost; reconnecting');
      this.isConnected = false;
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
    if (this.peerExchange) {
      // No Local: an aggregator does not need its own announcements back.
      const g = await client.subscribeAsync(`${PEER_ROOT}/${m.group}/seen/+`, { qos: 0, nl: true }).catch(() => [{ qos: 128 }]);
      if (g.some((x) => x.qos > 2)) {
        this.peerExchange = false;
        this.log.warn({ topic: `${PEER_ROOT}/${m.group}/seen/+` }, 'peer subscription refused; gaps are then counted from this aggregator\'s share only');
      }
    }
    const granted = await client.subscribeAsync(filter, { qos: 1, ...(v5 ? { properties: { subscriptionIdentifier: SUB_DATA } } : {}) });
    if (granted.some((g) => g.qos > 2)) {
      throw new AggregatorError('E_MQTT_SUBSCRIBE', `broker refused ${filter} (reason ${granted[0]?.qos})`);
    }
  }

  /** Marks the subscriber as stopping, so a lost connection or a failed subscribe is no longer acted on. */
  beginStop(): void {
    this.stopping = true;
  }

  /** Disconnects; a normal DISCONNECT keeps the session (sessionExpiry_s), so the broker queues for the next start. */
  async stop(): Promise<void> {
    this.stopping = true;
    const client = this.client;
    if (client) {
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
    this.isConnected = false;
  }
}

export interface NodeState {
  node: string;
  site: string;
  online: boolean;
  lastSeen_ms: number;
}

/** What each node last said of itself: online through its status (or data), offline through status or its Last Will. */
export class NodeStates {
  private readonly map = new Map<string, NodeState>();

  constructor(private readonly onChange: (s: { node: string; site: string; online: boolean }) => void) {}

  /** Data from a node: refreshes lastSeen. */
  seen(node: string, site: string, now: number): void {
    const n = this.map.get(node);
    if (n) {
      n.lastSeen_ms = now;
      n.site = site;
      return;
    }
    // A node first heard of through data is evidently up; its status message will say so too.
    this.map.set(node, { node, site, online: true, lastSeen_ms: now });
    this.onChange({ node, site, online: true });
  }

  /** A status message (a heartbeat, or the Last Will saying the node is gone). */
  setOnline(node: string, site: string, online: boolean, now: number): void {
    const n = this.map.get(node);
    if (n && n.online === online) {
      n.lastSeen_ms = now;
      n.site = site;
      return;
    }
    this.map.set(node, { node, site, online, lastSeen_ms: now });
    this.onChange({ node, site, online });
  }

  list(): NodeState[] {
    return [...this.map.values()].map((n) => ({ ...n }));
  }

  get known(): number {
    return this.map.size;
  }

  get online(): number {
    let online = 0;
    for (const n of this.map.values()) if (n.online) online++;
    return online;
  }
}
