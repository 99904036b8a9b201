// The hand-off from the MQTT hot path to the spool: group commit of records, with PUBACKs held in the corked
// socket until their records are in the spool, and back-pressure while the spool is full.
import type { Logger } from '../../common/log.js';
import type { AnyMessage } from '../../protocol/index.js';
import type { Spool } from '../spool.js';

/*
 * Why the PUBACK is tied to the spool: MQTT.js sends the PUBACK when the callback given to handleMessage() is
 * called, and it hands over the next packet only after that. Deferring the callback until InfluxDB took a batch
 * would serialise the whole connection on one write round-trip per message. So each message is validated,
 * checked for duplicates and turned into line protocol synchronously, and the callback is called at once, but
 * with the socket corked: the PUBACK waits in the socket buffer. Once MQTT.js has worked through the chunk it
 * read (setImmediate), the records of all its messages go to the spool in one write() and the socket is
 * uncorked (flush). A PUBACK thus leaves only after its record is in the page cache (and, per the fsync
 * policy, on disk), which survives a kill of the process; and a chunk of a few hundred messages costs two
 * syscalls instead of two per message.
 */

/** The writable side of the MQTT socket, as far as corking goes. */
export interface Corkable {
  cork(): void;
  uncork(): void;
  destroy(): unknown;
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

export interface SpoolHandoffOptions {
  spool: Spool;
  /** The socket the PUBACKs of the messages being handed over go out on. */
  stream: () => Corkable | undefined;
  /** After a group commit: the summaries (no status messages) whose records are now in the spool. */
  onSpooled: (msgs: AnyMessage[]) => void;
  /** A group commit failed: `records` messages counted as accepted were not spooled; the connection is dropped. */
  onWriteFailed: (records: number) => void;
  log: Logger;
}

export class SpoolHandoff {
  private readonly spool: Spool;
  /** Records of messages handed over since the last group commit. */
  private pending: string[] = [];
  private pendingLines = 0;
  /** The summaries among them, reported through onSpooled once their records are in the spool. */
  private pendingMsgs: AnyMessage[] = [];
  private corked: Corkable | undefined;
  private flushScheduled = false;
  /** A message is waiting for spool space; everything after it waits too (MQTT.js hands over nothing meanwhile). */
  private holding = false;
  private stopping = false;

  constructor(private readonly opts: SpoolHandoffOptions) {
    this.spool = opts.spool;
  }

  /** True while a new record cannot take the fast path: the spool is full, or a message before it waits for room. */
  get blocked(): boolean {
    return this.holding || this.spool.full;
  }

  /**
   * Fast path: queues a record for the next group commit and corks the socket, so that the PUBACK the caller sends
   * right after this waits until the record is in the spool. `summary` is the message to report through onSpooled.
   */
  add(text: string, lines: number, summary: AnyMessage | undefined): void {
    const stream = this.opts.stream();
    if (this.corked !== stream) {
      this.flush();
      if (stream) {
        coalesceWrites(stream);
        stream.cork();
        this.corked = stream;
      }
    }
    this.pending.push(text);
    this.pendingLines += lines;
    if (summary) this.pendingMsgs.push(summary);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushBound);
    }
  }

  private readonly flushBound = (): void => this.flush();

  /**
   * Group commit: the records of every message MQTT.js handed over since the last call go to the spool in one
   * write, and only then is the socket uncorked, sending their PUBACKs in one go. It runs from setImmediate, i.e.
   * once per chunk read from the socket, after MQTT.js has worked through all packets in it. Should the write
   * fail, the connection is dropped with the PUBACKs unsent, so the broker delivers those messages again.
   */
  flush(): void {
    this.flushScheduled = false;
    const stream = this.corked;
    this.corked = undefined;
    if (this.pending.length > 0) {
      const text = this.pending.length === 1 ? this.pending[0]! : this.pending.join('');
      const lines = this.pendingLines;
      const records = this.pending.length;
      const msgs = this.pendingMsgs;
      this.pending = [];
      this.pendingLines = 0;
      this.pendingMsgs = [];
      try {
        // Forced: these messages were taken while there was room; the limit applies to the next ones.
        this.spool.append(text, lines, true);
      } catch (e) {
        this.opts.log.error({ err: (e as Error).message, records }, 'spool write failed; dropping the connection so the broker redelivers');
        this.opts.onWriteFailed(records);
        stream?.destroy();
        return;
      }
      this.opts.onSpooled(msgs);
    }
    stream?.uncork();
  }

  /**
   * Slow path, while the spool is full (or the disk failing): the caller holds this PUBACK, so MQTT.js hands over
   * nothing more and the broker keeps the messages. What is pending goes to the spool first, so records stay in
   * order. Resolves true once the record is in the spool, false when stopping (unacknowledged, so the broker
   * redelivers it to the next session).
   */
  async appendHeld(text: string, lines: number, maxBytes: number): Promise<boolean> {
    this.flush();
    this.holding = true;
    try {
      return await this.appendLater(text, lines, maxBytes);
    } finally {
      this.holding = false;
    }
  }

  private async appendLater(text: string, lines: number, maxBytes: number): Promise<boolean> {
    let warned = false;
    for (;;) {
      if (this.stopping) return false;
      if (this.spool.full) {
        if (!warned) this.opts.log.warn({ bytes: this.spool.pendingBytes, maxBytes }, 'spool full; holding acknowledgements until the sink catches up');
        warned = true;
        await this.spool.waitForSpace();
      } else {
        await new Promise((r) => setTimeout(r, 500));
      }
      if (this.stopping) return false;
      try {
        if (this.spool.append(text, lines)) return true;
      } catch (e) {
        this.opts.log.error({ err: (e as Error).message }, 'spool write failed; holding the acknowledgement and retrying');
      }
    }
  }

  /** Commits what is pending and makes a held record give up (see appendHeld). */
  stop(): void {
    this.stopping = true;
    this.flush();
  }
}
