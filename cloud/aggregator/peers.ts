// Seen-seq exchange between the aggregators of one shared-subscription group, signed with each member's Ed25519 key,
// so that gaps and duplicates are judged over the whole group rather than over each member's share.
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import type { Logger } from '../../common/log.js';
import { ID_PATTERN, loadTrustedKeys, peerSeenTopic, PEER_ROOT, signPayload, SignatureError, verifyEnvelope } from '../../protocol/index.js';
import type { DedupTracker } from '../dedup.js';
import { AggregatorError } from './errors.js';

/** Seqs per announcement, so one stays well below the broker's packet limit. */
const PEER_MAX_SEQS = 50_000;
const PEER_FORMAT = 2;
const REJECT_LOG_EVERY_MS = 10_000;

/*
 * A shared subscription deals each node's messages over all members, so every aggregator alone sees holes
 * everywhere. Members therefore publish the seqs they spooled, about every quarter of the gap grace period, to
 * customs-agg/v1/<group>/seen/<id> (QoS 0, No Local) and mark the seqs their peers announce as seen. A gap is
 * reported only after it stayed open for the grace period, by which time the peers' seqs have long filled it;
 * the `gaps` count in between ("open gaps") includes the peers' last second or so. The exchange also drops a
 * duplicate that reaches a different member than the original.
 *
 * Dropping a message as a duplicate acknowledges it to the broker, which then forgets it; so what marks a seq as
 * seen must be true. On a broker without per-identity ACLs anyone can publish under customs-agg/v1/#: one forged
 * announcement once made an aggregator drop 100 real messages (and confirm them to the node, which deleted them).
 * Each announcement is therefore signed with the sender's Ed25519 key (protocol/signing.ts) and names its sender
 * and group inside the signed payload; a member takes it only when the signature verifies against the key its own
 * config lists for that sender (peers.trustedKeys), the sender is the topic's last level and the group is its own.
 * A replayed genuine announcement only repeats what that member truly spooled, so it needs no sequence number.
 * Without a `peers` config nothing is announced and nothing is taken: gaps are then counted from this member's
 * share only. Losing a peer message (QoS 0) can only cause a false gap report, never a lost record. A duplicate
 * dropped because of a peer is not confirmed to the node by this member (aggregator.ts): the peer holds it and
 * confirms it.
 */

export const PeersConfigSchema = Type.Object(
  {
    privateKey: Type.String({ minLength: 1, description: "PEM file of this aggregator's Ed25519 signing key (PKCS#8); its key id is the aggregator id" }),
    trustedKeys: Type.Record(Type.String({ pattern: ID_PATTERN }), Type.String({ minLength: 1 }), {
      description: 'aggregator id -> Ed25519 public key (PEM text or the path of a PEM file) of every other member of the group',
    }),
  },
  { additionalProperties: false },
);
export type PeersConfig = Static<typeof PeersConfigSchema>;

/** The signed payload of one announcement. */
interface Announcement {
  v: typeof PEER_FORMAT;
  from: string;
  group: string;
  /** Per boot: [node, site, boot, first seq, deltas to the next seqs]. */
  b: [string, string, string, number, number[]][];
}

export interface PeerExchangeOptions {
  id: string;
  group: string;
  /** Signing key and the members' public keys; without it the exchange is off. */
  config: PeersConfig | undefined;
  /** False once the broker refused the peer subscription (or with no shared v5 subscription at all). */
  enabled: () => boolean;
  /** Whether announcements can go out now (connected). */
  online: () => boolean;
  publish: (topic: string, payload: string) => void;
  /** The seq windows peers' seqs are marked in (a getter: the tracker is replaced after a failed spool write). */
  dedup: () => DedupTracker;
  log: Logger;
}

/** Reads the signing key and the trusted keys; errors name the config field. */
function loadKeys(id: string, c: PeersConfig): { key: KeyObject; trusted: Record<string, string> } {
  let pem: string;
  try {
    pem = readFileSync(c.privateKey, 'utf8');
  } catch (e) {
    throw new AggregatorError('E_CONFIG', `peers.privateKey: cannot read ${c.privateKey} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (e) {
    throw new AggregatorError('E_CONFIG', `peers.privateKey: ${c.privateKey} is not a PEM private key (${(e as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new AggregatorError('E_CONFIG', `peers.privateKey: ${c.privateKey} is ${key.asymmetricKeyType}, expected ed25519`);
  let trusted: Record<string, string>;
  try {
    trusted = loadTrustedKeys(c.trustedKeys, 'peers/trustedKeys');
  } catch (e) {
    throw new AggregatorError('E_CONFIG', (e as Error).message);
  }
  const own = trusted[id];
  if (own !== undefined) {
    const mine = createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
    if (createPublicKey(own).export({ type: 'spki', format: 'pem' }).toString() !== mine) {
      throw new AggregatorError('E_CONFIG', `peers/trustedKeys/${id}: this aggregator's own entry is not the public key of peers.privateKey ${c.privateKey}`);
    }
  }
  return { key, trusted };
}

export class PeerExchange {
  /** Seqs peers announced that this aggregator had not seen itself. */
  peerSeqs = 0;
  /** Peer messages refused: unsigned, a key not trusted, a bad signature, or a sender, topic or group that do not agree. */
  peerRejected = 0;
  private readonly keys: { key: KeyObject; trusted: Record<string, string> } | undefined;
  private seenOut = new Map<string, { node: string; site: string; boot: string; seqs: number[] }>();
  private timer: NodeJS.Timeout | undefined;
  private lastRejectLog = 0;
  private rejectsSinceLog = 0;

  constructor(private readonly opts: PeerExchangeOptions) {
    this.keys = opts.config ? loadKeys(opts.id, opts.config) : undefined;
  }

  /** Whether this member takes part: a `peers` config and a peer subscription the broker granted. */
  get active(): boolean {
    return this.keys !== undefined && this.opts.enabled();
  }

  start(interval_ms: number): void {
    if (!this.keys) {
      this.opts.log.info({ group: this.opts.group }, 'no "peers" config: seen seqs are not exchanged; with other members in the group, gaps count from this share only');
      return;
    }
    this.timer = setInterval(() => this.announceSeen(), interval_ms);
    this.timer.unref();
  }

  /** Stops the timer and sends what is left. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.announceSeen();
  }

  /** Queues a spooled seq for the next announcement to the peers. */
  announce(node: string, site: string, boot: string, seq: number): void {
    if (!this.active) return;
    const key = `${node}/${boot}`;
    let e = this.seenOut.get(key);
    if (!e) {
      e = { node, site, boot, seqs: [] };
      this.seenOut.set(key, e);
    }
    e.seqs.push(seq);
  }

  /** Publishes the seqs spooled since the last call: per boot the first seq and the deltas to the next ones, signed. */
  announceSeen(): void {
    const keys = this.keys;
    if (!keys || !this.seenOut.size || !this.opts.online()) return;
    const topic = peerSeenTopic(this.opts.group, this.opts.id);
    let boots: Announcement['b'] = [];
    let n = 0;
    const send = () => {
      if (!boots.length) return;
      const a: Announcement = { v: PEER_FORMAT, from: this.opts.id, group: this.opts.group, b: boots };
      this.opts.publish(topic, JSON.stringify(signPayload(a, keys.key, this.opts.id)));
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

  /** Marks the seqs a trusted peer announced on `topic` as seen; anything else is counted and ignored. */
  onPeer(topic: string, payload: Buffer | string): void {
    const keys = this.keys;
    if (!keys) return;
    const a = this.verified(topic, payload, keys.trusted);
    if (!a) return;
    const now = Date.now();
    for (const e of a.b as unknown[]) this.markBoot(e, now);
  }

  /** The announcement if it is signed by the member it names, on that member's topic, for this group; else undefined. */
  private verified(topic: string, payload: Buffer | string, trusted: Record<string, string>): Announcement | undefined {
    let why: string;
    try {
      const env = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8')) as unknown;
      const a = verifyEnvelope<Partial<Announcement> | null>(env, trusted);
      const keyId = (env as { sig: { keyId: string } }).sig.keyId;
      const sender = topic.startsWith(`${PEER_ROOT}/`) ? topic.slice(topic.lastIndexOf('/') + 1) : undefined;
      if (typeof a !== 'object' || a === null || a.v !== PEER_FORMAT || !Array.isArray(a.b)) why = `payload: expected { v: ${PEER_FORMAT}, from, group, b: [...] }`;
      else if (a.from !== keyId) why = `payload.from ${JSON.stringify(a.from)} is not the signing key "${keyId}"`;
      else if (sender !== keyId) why = `signed by "${keyId}" but published on ${topic}`;
      else if (a.group !== this.opts.group) why = `payload.group ${JSON.stringify(a.group)}: expected "${this.opts.group}"`;
      else if (a.from === this.opts.id) return undefined; // its own (No Local should have kept it away)
      else return a as Announcement;
    } catch (e) {
      why = e instanceof SyntaxError ? 'not JSON' : e instanceof SignatureError ? e.message : `unreadable: ${(e as Error).message}`;
    }
    this.peerRejected++;
    this.rejectsSinceLog++;
    const now = Date.now();
    if (now - this.lastRejectLog >= REJECT_LOG_EVERY_MS) {
      this.opts.log.warn({ topic, reason: why, refusedSinceLast: this.rejectsSinceLog }, 'peer announcement refused (not from a trusted member of the group); ignored');
      this.lastRejectLog = now;
      this.rejectsSinceLog = 0;
    }
    return undefined;
  }

  /** One [node, site, boot, first, deltas] entry of a peer announcement. */
  private markBoot(e: unknown, now: number): void {
    if (!Array.isArray(e) || e.length !== 5) return;
    const [node, site, boot, first, deltas] = e as unknown[];
    if (typeof node !== 'string' || typeof site !== 'string' || typeof boot !== 'string' || !Array.isArray(deltas)) return;
    if (!Number.isSafeInteger(first) || (first as number) < 0) return;
    const dedup = this.opts.dedup();
    let seq = first as number;
    for (let i = 0; ; i++) {
      if (!dedup.isDuplicate(node, boot, seq)) {
        dedup.add(node, site, boot, seq, now);
        this.peerSeqs++;
      }
      if (i >= deltas.length) break;
      const d = deltas[i];
      if (typeof d !== 'number' || !Number.isSafeInteger(seq + d) || seq + d < 0) break;
      seq += d;
    }
  }
}
