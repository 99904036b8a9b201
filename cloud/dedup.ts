// Per-(node, boot) state of the aggregator: the duplicate window, gap accounting and the boot's clock offset.
import { MAX_TS_MS } from '../protocol/index.js';
import type { TsSource } from './points.js';

/** A run of seqs of one boot that has not arrived (yet); reported once it stayed open past the grace period. */
export interface GapInfo {
  node: string;
  site: string;
  boot: string;
  /** First and last missing seq, inclusive. */
  from: number;
  to: number;
  missing: number;
  /** How long the range has been open when it was reported. */
  openFor_ms: number;
}

interface Hole {
  opened_ms: number;
  reported: boolean;
  /** False for a jump too large to be messages lost (MAX_COUNTED_GAP): not in `missing`, never reported. */
  counted: boolean;
}

/**
 * A jump in seq larger than this within one boot is not taken as that many lost messages (a node drops routine
 * summaries oldest first in a long outage, but not a million of them): it is a bogus or reset counter, and counting
 * it would put absurd numbers on the gap gauge (one seq of 2^53 would read 9e15 missing). Such a hole is tracked
 * for duplicates like any other but neither counted nor reported.
 */
export const MAX_COUNTED_GAP = 1_000_000;

/**
 * The seqs seen of one boot as sorted, disjoint, inclusive ranges. This is the "highest contiguous seq plus the
 * seqs above it" window, generalised: a backlog drained after an outage arrives below live data, so a boot can
 * start in the middle and fill in downwards. The holes between ranges are the missing seqs; seqs below the
 * first range are not counted, because after an aggregator restart nothing says whether they came before it.
 */
export class SeqWindow {
  private starts: number[] = [];
  private ends: number[] = [];
  /** holes[i] lies between range i and range i + 1. */
  private holes: Hole[] = [];
  private missingCount = 0;

  constructor(private readonly maxRanges = 1024) {}

  get missing(): number {
    return this.missingCount;
  }

  get ranges(): number {
    return this.starts.length;
  }

  /** The seqs held, as sorted inclusive ranges. */
  heldRanges(): [number, number][] {
    return this.starts.map((s, i) => [s, this.ends[i]!]);
  }

  /** Index of the last range starting at or below seq, or -1. */
  private find(seq: number): number {
    const s = this.starts;
    let lo = 0;
    let hi = s.length - 1;
    let r = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (s[mid]! <= seq) {
        r = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return r;
  }

  has(seq: number): boolean {
    const n = this.ends.length;
    // Live traffic is in order: the newest range answers almost every call without the search.
    if (n > 0 && seq > this.ends[n - 1]!) return false;
    if (n > 0 && seq >= this.starts[n - 1]!) return true;
    const i = this.find(seq);
    return i >= 0 && seq <= this.ends[i]!;
  }

  /**
   * Records seq (which must not be `has()`); returns how many seqs are missing that were not before (negative when
   * the arrival filled a hole) and the count of seqs given up on because the window was full.
   */
  add(seq: number, now_ms: number): { delta: number; forgotten: number } {
    const s = this.starts;
    const e = this.ends;
    const n = s.length;
    if (n === 0) {
      s.push(seq);
      e.push(seq);
      return { delta: 0, forgotten: 0 };
    }
    const last = n - 1;
    if (seq === e[last]! + 1) {
      e[last] = seq;
      return { delta: 0, forgotten: 0 };
    }
    if (seq > e[last]!) {
      const gap = this.countable(seq - e[last]! - 1);
      s.push(seq);
      e.push(seq);
      this.holes.push({ opened_ms: now_ms, reported: gap === 0, counted: gap > 0 });
      this.missingCount += gap;
      return { delta: gap, forgotten: this.trim() };
    }
    const i = this.find(seq);
    if (i < 0) {
      // Below everything seen: a new first range; the seqs between it and the old first range are now missing.
      const size = s[0]! - seq - 1;
      if (size === 0) {
        s[0] = seq;
        return { delta: 0, forgotten: 0 };
      }
      const gap = this.countable(size);
      s.unshift(seq);
      e.unshift(seq);
      this.holes.unshift({ opened_ms: now_ms, reported: gap === 0, counted: gap > 0 });
      this.missingCount += gap;
      return { delta: gap, forgotten: this.trim() };
    }
    if (seq <= e[i]!) return { delta: 0, forgotten: 0 }; // already seen: callers check has() first
    // Inside the hole after range i (i < last, since seq < start of the last range here).
    const joinsLeft = seq === e[i]! + 1;
    const joinsRight = seq === s[i + 1]! - 1;
    const counted = this.holes[i]!.counted;
    if (counted) this.missingCount -= 1;
    if (joinsLeft && joinsRight) {
      e[i] = e[i + 1]!;
      s.splice(i + 1, 1);
      e.splice(i + 1, 1);
      this.holes.splice(i, 1);
    } else if (joinsLeft) {
      e[i] = seq;
    } else if (joinsRight) {
      s[i + 1] = seq;
    } else {
      // Splits the hole in two; both halves keep the age (and reported flag) of the original.
      const h = this.holes[i]!;
      s.splice(i + 1, 0, seq);
      e.splice(i + 1, 0, seq);
      this.holes.splice(i + 1, 0, { opened_ms: h.opened_ms, reported: h.reported, counted: h.counted });
    }
    return { delta: counted ? -1 : 0, forgotten: 0 };
  }

  /** The size of a new hole as counted in `missing`: 0 for a jump too large to be lost messages. */
  private countable(size: number): number {
    return size > MAX_COUNTED_GAP ? 0 : size;
  }

  /**
   * Keeps memory bounded: past maxRanges the lowest range is forgotten. Its seqs may then be accepted again (a
   * harmless rewrite of the same point), and the hole above it stays counted as lost; nothing is dropped.
   */
  private trim(): number {
    let forgotten = 0;
    while (this.starts.length > this.maxRanges) {
      const gap = this.holes[0]!.counted ? this.starts[1]! - this.ends[0]! - 1 : 0;
      this.starts.shift();
      this.ends.shift();
      this.holes.shift();
      this.missingCount -= gap;
      forgotten += gap;
    }
    return forgotten;
  }

  /** Holes open at least grace_ms and not reported yet; marks them reported. */
  *due(now_ms: number, grace_ms: number): Generator<{ from: number; to: number; openFor_ms: number }> {
    for (let i = 0; i < this.holes.length; i++) {
      const h = this.holes[i]!;
      if (h.reported || now_ms - h.opened_ms < grace_ms) continue;
      h.reported = true;
      yield { from: this.ends[i]! + 1, to: this.starts[i + 1]! - 1, openFor_ms: now_ms - h.opened_ms };
    }
  }

  /** The missing ranges, for tests and diagnostics. */
  holeRanges(): [number, number][] {
    return this.holes.map((_, i) => [this.ends[i]! + 1, this.starts[i + 1]! - 1]);
  }
}

interface NodeWindows {
  site: string;
  /** Insertion order doubles as recency order: a boot is re-inserted when it is touched. */
  boots: Map<string, SeqWindow>;
}

export type Observe = 'new' | 'duplicate';

/**
 * Duplicate and gap tracking for every node. Pure: time comes in as an argument so tests can drive it with a fake
 * clock. A node keeps its most recent `maxBoots` boots; older boots are forgotten with their holes counted as lost.
 *
 * The state is in memory only. Duplicates that slip through after an aggregator restart are harmless: a message's
 * point timestamp is deterministic (its time in ms with seq in the sub-ms digits, see cloud/points.ts), so writing
 * it again overwrites the same point in InfluxDB instead of adding one.
 */
export class DedupTracker {
  private readonly nodes = new Map<string, NodeWindows>();
  private forgottenCount = 0;
  private openCount = 0;

  constructor(private readonly opts: { maxBoots?: number; maxRanges?: number } = {}) {}

  /** Seqs missing now: open holes plus those given up on when a window overflowed (a late arrival un-counts an open one). */
  get missing(): number {
    return this.openCount + this.forgottenCount;
  }

  private window(node: string, site: string, boot: string, create: boolean): SeqWindow | undefined {
    let nw = this.nodes.get(node);
    if (!nw) {
      if (!create) return undefined;
      nw = { site, boots: new Map() };
      this.nodes.set(node, nw);
    }
    if (create) nw.site = site;
    let w = nw.boots.get(boot);
    if (w) {
      // Keep the map ordered by recency only when it matters (more than one boot): a delete+set per message is waste.
      if (nw.boots.size > 1) {
        nw.boots.delete(boot);
        nw.boots.set(boot, w);
      }
      return w;
    }
    if (!create) return undefined;
    w = new SeqWindow(this.opts.maxRanges);
    nw.boots.set(boot, w);
    const maxBoots = this.opts.maxBoots ?? 8;
    while (nw.boots.size > maxBoots) {
      const [oldest, ow] = nw.boots.entries().next().value as [string, SeqWindow];
      nw.boots.delete(oldest);
      this.openCount -= ow.missing;
      this.forgottenCount += ow.missing;
    }
    return w;
  }

  isDuplicate(node: string, boot: string, seq: number): boolean {
    const w = this.nodes.get(node)?.boots.get(boot);
    return w ? w.has(seq) : false;
  }

  /** Marks (node, boot, seq) seen; call only for a message that was accepted (spooled). */
  add(node: string, site: string, boot: string, seq: number, now_ms: number): void {
    const w = this.window(node, site, boot, true)!;
    const r = w.add(seq, now_ms);
    this.openCount += r.delta - r.forgotten;
    this.forgottenCount += r.forgotten;
  }

  /** Checks and records in one step (for callers with nothing to do in between). */
  observe(node: string, site: string, boot: string, seq: number, now_ms: number): Observe {
    if (this.isDuplicate(node, boot, seq)) return 'duplicate';
    this.add(node, site, boot, seq, now_ms);
    return 'new';
  }

  /** Gaps that have been open for grace_ms and were not reported before. */
  dueGaps(now_ms: number, grace_ms: number): GapInfo[] {
    const out: GapInfo[] = [];
    for (const [node, nw] of this.nodes) {
      for (const [boot, w] of nw.boots) {
        for (const h of w.due(now_ms, grace_ms)) {
          out.push({ node, site: nw.site, boot, from: h.from, to: h.to, missing: h.to - h.from + 1, openFor_ms: h.openFor_ms });
        }
      }
    }
    return out;
  }

  /** Every boot of a node with the seqs seen (spooled here or by a peer), as inclusive ranges. */
  held(node: string): { boot: string; ranges: [number, number][] }[] {
    const nw = this.nodes.get(node);
    return nw ? [...nw.boots].map(([boot, w]) => ({ boot, ranges: w.heldRanges() })) : [];
  }

  /** Current holes of one boot, for tests and diagnostics. */
  holes(node: string, boot: string): [number, number][] {
    return this.window(node, '', boot, false)?.holeRanges() ?? [];
  }
}

/** A computed time kept inside what InfluxDB can store (the schema bounds ts and mono_ms, not their sum). */
function storable(ms: number): number {
  return Math.min(MAX_TS_MS, Math.max(0, ms));
}

/** One boot's offset from the monotonic clock to wall-clock time, and what it was learnt from. */
export interface BootOffset {
  /** ts - mono_ms of a trusted message of this boot. */
  trusted?: number;
  /** receive time - mono_ms of the first message of this boot, used until a trusted one arrives. */
  received?: number;
}

/** A trusted ts before this (2000-01-01) is a clock that was never set (1970 after a dead RTC battery), not a time. */
export const MIN_TRUSTED_TS_MS = 946_684_800_000;
/** A trusted ts further than this ahead of the receive time is not believed either. */
export const MAX_TRUSTED_AHEAD_MS = 24 * 3600_000;

/**
 * Places each message in time. A trusted `ts` is used as is, if it is plausible (MIN_TRUSTED_TS_MS up to
 * MAX_TRUSTED_AHEAD_MS past the receive time); an implausible one is treated as untrusted, so it neither lands
 * at 1970 marked `edge` nor sets the boot's offset. Otherwise the boot's offset from a trusted message
 * corrects it (`corrected`). Without one the point goes at receive time (`received`), but pinned to the first
 * message of the boot and advanced by the node's monotonic clock, so that a redelivery of the same message (after
 * an aggregator crash) gets the same timestamp and overwrites rather than doubles the point. The first offset of
 * each kind is kept: later ones would move points that are already written. The table is small (two numbers per
 * boot) and the caller persists it whenever `resolve` reports a change.
 */
export class BootClocks {
  private readonly offsets = new Map<string, BootOffset>();

  constructor(private readonly maxEntries = 10_000) {}

  resolve(
    msg: { node: string; boot: string; ts: number; tsTrusted: boolean; mono_ms: number },
    received_ms: number,
  ): { time_ms: number; tsSrc: TsSource; changed: boolean } {
    const key = `${msg.node}/${msg.boot}`;
    let o = this.offsets.get(key);
    let changed = false;
    if (!o) {
      o = {};
      this.offsets.set(key, o);
      this.evict();
    }
    const mono = Math.trunc(msg.mono_ms);
    if (msg.tsTrusted && msg.ts >= MIN_TRUSTED_TS_MS && msg.ts <= received_ms + MAX_TRUSTED_AHEAD_MS) {
      if (o.trusted === undefined) {
        o.trusted = msg.ts - mono;
        changed = true;
      }
      return { time_ms: msg.ts, tsSrc: 'edge', changed };
    }
    if (o.trusted !== undefined) return { time_ms: storable(o.trusted + mono), tsSrc: 'corrected', changed };
    if (o.received === undefined) {
      o.received = received_ms - mono;
      changed = true;
    }
    return { time_ms: storable(o.received + mono), tsSrc: 'received', changed };
  }

  private evict(): void {
    // Map order is insertion order, so the oldest boots go first.
    while (this.offsets.size > this.maxEntries) {
      const k = this.offsets.keys().next().value as string;
      this.offsets.delete(k);
    }
  }

  toJSON(): Record<string, BootOffset> {
    return Object.fromEntries(this.offsets);
  }

  /** Loads a table written by toJSON; entries that are not of the expected shape are skipped. */
  load(table: unknown): number {
    if (typeof table !== 'object' || table === null) return 0;
    let n = 0;
    for (const [k, v] of Object.entries(table as Record<string, unknown>)) {
      if (typeof v !== 'object' || v === null) continue;
      const { trusted, received } = v as Record<string, unknown>;
      const o: BootOffset = {};
      if (typeof trusted === 'number' && Number.isFinite(trusted)) o.trusted = trusted;
      if (typeof received === 'number' && Number.isFinite(received)) o.received = received;
      this.offsets.set(k, o);
      n++;
    }
    this.evict();
    return n;
  }
}
