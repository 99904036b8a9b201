// Cloud acknowledgements: tells each node which of its summaries this aggregator holds durably, so the node's
// outbox may forget them.
import { cloudAckTopic, SCHEMA_VERSION, toRanges, type AnyMessage } from '../../protocol/index.js';
import type { DedupTracker } from '../dedup.js';

export interface ConfirmationsOptions {
  /** How often confirmations go out; 0 turns them off (config cloudAck_ms). */
  interval_ms: number;
  /** Whether they can go out now (connected). */
  online: () => boolean;
  publish: (topic: string, payload: string) => void;
  /** The seqs held per boot (a getter: the tracker is replaced after a failed spool write). */
  dedup: () => DedupTracker;
}

/*
 * A summary is confirmed only once it is in the spool (or needed no record): the spool hand-off calls held() after
 * its group commit. The MQTT PUBACK already told the node's broker connection that much, but the broker is not
 * the cloud: a confirmation is what lets the node drop the summary from its outbox.
 *
 * What a confirmation promises: the summary is held durably and will end up in InfluxDB or, should InfluxDB refuse
 * its points anyway (a field type conflict, max-values-per-tag), in the quarantine file with InfluxDB's reason; a
 * spooled line leaves the spool only for one of the two (writer.ts). What can be known to fail before that is
 * refused at validation instead (schema bounds, the per-node tag cap): dead-lettered and never confirmed.
 */
export class Confirmations {
  /** Summaries in the spool since the last confirmation, per node and boot. */
  private out = new Map<string, { site: string; node: string; boot: string; seqs: number[] }>();
  /** Nodes that came (back) online: they get everything held of them, as they may have missed confirmations. */
  private allFor = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: ConfirmationsOptions) {}

  get enabled(): boolean {
    return this.opts.interval_ms > 0;
  }

  start(): void {
    if (!this.enabled) return;
    this.timer = setInterval(() => this.confirm(), this.opts.interval_ms);
    this.timer.unref();
  }

  /** Stops the timer and sends what is left. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.confirm();
  }

  /** Queues a summary held durably (spool or InfluxDB) for the next confirmation to its node. */
  held(m: AnyMessage): void {
    if (!this.enabled) return;
    const key = `${m.site}/${m.node}/${m.boot}`;
    let e = this.out.get(key);
    if (!e) this.out.set(key, (e = { site: m.site, node: m.node, boot: m.boot, seqs: [] }));
    e.seqs.push(m.seq);
  }

  /** A node's status says it (re)connected: confirmations sent while it was away are lost, so it gets all we hold. */
  nodeOnline(node: string, site: string): void {
    if (this.enabled) this.allFor.set(node, site);
  }

  /**
   * Tells each node which of its summaries this aggregator holds, as seq ranges per boot, so the node may forget
   * them. QoS 0: a lost confirmation only makes the node send those summaries again, which are then duplicates.
   */
  confirm(): void {
    if (!this.opts.online()) return;
    for (const e of this.out.values()) {
      this.opts.publish(cloudAckTopic(e.site, e.node), JSON.stringify({ v: SCHEMA_VERSION, boot: e.boot, r: toRanges(e.seqs) }));
    }
    this.out.clear();
    // This runs after the group commit of everything received before, so nothing unspooled is confirmed.
    const dedup = this.opts.dedup();
    for (const [node, site] of this.allFor) {
      for (const { boot, ranges } of dedup.held(node)) {
        if (ranges.length) this.opts.publish(cloudAckTopic(site, node), JSON.stringify({ v: SCHEMA_VERSION, boot, r: ranges }));
      }
    }
    this.allFor.clear();
  }
}
