// Seen-seq exchange between the aggregators of one shared-subscription group, so gaps and duplicates are judged
// over the whole group rather than over each member's share.
import { peerSeenTopic } from '../../protocol/index.js';
import type { DedupTracker } from '../dedup.js';

/** Where aggregators of one group tell each other which seqs they took (see below). */
const PEER_MAX_SEQS = 50_000;

/*
 * A shared subscription deals each node's messages over all members, so every aggregator alone sees holes
 * everywhere. Members therefore publish the seqs they spooled, about every quarter of the gap grace period, to
 * customs-agg/v1/<group>/seen/<id> (QoS 0, No Local) and mark the seqs their peers announce as seen. A gap is
 * reported only after it stayed open for the grace period, by which time the peers' seqs have long filled it;
 * the `gaps` count in between ("open gaps") includes the peers' last second or so. The exchange also drops a
 * duplicate that reaches a different member than the original. Losing a peer message (QoS 0) can only cause a
 * false gap report, never a lost record: only spooled seqs are announced.
 */

export interface PeerExchangeOptions {
  id: string;
  group: string;
  /** False once the broker refused the peer subscription (or with no shared v5 subscription at all). */
  enabled: () => boolean;
  /** Whether announcements can go out now (connected). */
  online: () => boolean;
  publish: (topic: string, payload: string) => void;
  /** The seq windows peers' seqs are marked in (a getter: the tracker is replaced after a failed spool write). */
  dedup: () => DedupTracker;
}

export class PeerExchange {
  /** Seqs peers announced that this aggregator had not seen itself. */
  peerSeqs = 0;
  private seenOut = new Map<string, { node: string; site: string; boot: string; seqs: number[] }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: PeerExchangeOptions) {}

  start(interval_ms: number): void {
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
    if (!this.opts.enabled()) return;
    const key = `${node}/${boot}`;
    let e = this.seenOut.get(key);
    if (!e) {
      e = { node, site, boot, seqs: [] };
      this.seenOut.set(key, e);
    }
    e.seqs.push(seq);
  }

  /** Publishes the seqs spooled since the last call: per boot the first seq and the deltas to the next ones. */
  announceSeen(): void {
    if (!this.seenOut.size || !this.opts.online()) return;
    const topic = peerSeenTopic(this.opts.group, this.opts.id);
    let boots: [string, string, string, number, number[]][] = [];
    let n = 0;
    const send = () => {
      if (!boots.length) return;
      this.opts.publish(topic, JSON.stringify({ v: 1, from: this.opts.id, b: boots }));
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
  onPeer(payload: Buffer | string): void {
    let v: unknown;
    try {
      v = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
    } catch {
      return;
    }
    const m = v as { v?: unknown; from?: unknown; b?: unknown };
    if (typeof m !== 'object' || m === null || m.v !== 1 || m.from === this.opts.id || !Array.isArray(m.b)) return;
    const now = Date.now();
    for (const e of m.b as unknown[]) this.markBoot(e, now);
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
