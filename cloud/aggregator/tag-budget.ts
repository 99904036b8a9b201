// Per-node cap on the distinct values of the free-text tags (detector, camera, nuclide, cmd) a node may create.
import type { AnyMessage, Kind, MessageOf } from '../../protocol/index.js';

/*
 * Why: every distinct tag value is a series in InfluxDB, and its max-values-per-tag limit (100,000 by default) is
 * per measurement and tag key across all nodes. One node inventing ids would push it over the limit, after which
 * InfluxDB refuses every other node's new series as well. The schema bounds each value (DETECTOR_ID_PATTERN,
 * TAG_TEXT_PATTERN); this caps how many one node may create, so one node's abuse stays its own problem: its
 * messages with a value beyond the cap are dead-lettered (reason `cardinality`) and never confirmed to it.
 * Real nodes stay far below the default of 64: a vehicle has a handful of detectors and the nuclide library 22 names.
 *
 * The sets survive restarts (the caller persists toJSON() whenever admit() reports a change), or each restart
 * would hand an abusing node another 64 values.
 */

/** The tag keys whose values come from message strings (the others are enums or ids the schema fixes). */
export type TagKey = 'detector' | 'camera' | 'nuclide' | 'cmd';
const TAG_KEYS: readonly TagKey[] = ['detector', 'camera', 'nuclide', 'cmd'];

/** The free-text tag values a message's points will carry (see cloud/points.ts for which field becomes which tag). */
export function tagValuesOf(kind: Kind, msg: AnyMessage): [TagKey, string][] {
  switch (kind) {
    case 'rad':
      return (msg as MessageOf['rad']).detectors.map((d) => ['detector', d.id]);
    case 'spectrum':
      return [['detector', (msg as MessageOf['spectrum']).detector]];
    case 'event':
      return [['camera', (msg as MessageOf['event']).camera]];
    case 'alarm': {
      const top = (msg as MessageOf['alarm']).nuclides[0];
      return top ? [['nuclide', top.nuclide]] : [];
    }
    case 'source':
      return (msg as MessageOf['source']).sources.flatMap((s): [TagKey, string][] => (s.nuclide ? [['nuclide', s.nuclide]] : []));
    case 'ack':
      return [['cmd', (msg as MessageOf['ack']).cmd]];
    case 'status':
    case 'xray':
      return [];
    default: {
      const never: never = kind;
      throw new Error(`unknown kind ${String(never)}`);
    }
  }
}

export type Admission = { ok: true; changed: boolean } | { ok: false; detail: string };

export class TagBudget {
  private readonly nodes = new Map<string, Map<TagKey, Set<string>>>();

  constructor(private readonly perNode: number) {}

  /**
   * Admits the tag values of one message of `node`: all of them (recording the new ones), or none when one would
   * take a tag past the node's cap. `changed` says whether new values were recorded (persist them).
   */
  admit(node: string, values: [TagKey, string][]): Admission {
    if (values.length === 0) return { ok: true, changed: false };
    let keys = this.nodes.get(node);
    const fresh = new Map<TagKey, Set<string>>();
    for (const [k, v] of values) {
      if (keys?.get(k)?.has(v)) continue;
      let f = fresh.get(k);
      if (!f) fresh.set(k, (f = new Set()));
      f.add(v);
    }
    if (fresh.size === 0) return { ok: true, changed: false };
    for (const [k, f] of fresh) {
      const have = keys?.get(k)?.size ?? 0;
      if (have + f.size > this.perNode) {
        const first = [...f][0]!;
        return {
          ok: false,
          detail:
            `${k} "${first}" would be node ${node}'s distinct ${k} value no. ${have + 1}` +
            `${f.size > 1 ? ` (with ${f.size - 1} more new in this message)` : ''}; the limit is ${this.perNode} (config tagValuesPerNode)`,
        };
      }
    }
    if (!keys) this.nodes.set(node, (keys = new Map()));
    for (const [k, f] of fresh) {
      let set = keys.get(k);
      if (!set) keys.set(k, (set = new Set()));
      for (const v of f) set.add(v);
    }
    return { ok: true, changed: true };
  }

  /** How many distinct values of `key` the node has created. */
  count(node: string, key: TagKey): number {
    return this.nodes.get(node)?.get(key)?.size ?? 0;
  }

  toJSON(): Record<string, Partial<Record<TagKey, string[]>>> {
    const out: Record<string, Partial<Record<TagKey, string[]>>> = {};
    for (const [node, keys] of this.nodes) out[node] = Object.fromEntries([...keys].map(([k, s]) => [k, [...s]]));
    return out;
  }

  /** Loads a table written by toJSON; what is not of the expected shape is skipped. */
  load(table: unknown): void {
    if (typeof table !== 'object' || table === null) return;
    for (const [node, keys] of Object.entries(table as Record<string, unknown>)) {
      if (typeof keys !== 'object' || keys === null) continue;
      const m = new Map<TagKey, Set<string>>();
      for (const k of TAG_KEYS) {
        const vs = (keys as Record<string, unknown>)[k];
        if (Array.isArray(vs)) m.set(k, new Set(vs.filter((v): v is string => typeof v === 'string')));
      }
      this.nodes.set(node, m);
    }
  }
}
