// The on-disk record of every X-ray decision and of the screener's later verdict (JSONL), the material for model updates.
//
// decisions.jsonl: one line per scan as the node decided it (detections with boxes, materials, declaration, model
// versions, image paths). verdicts.jsonl: one line per screener verdict (clear / threat, with the class and box when
// found). Lines are appended with a datasync, so a crash loses at most a torn last line, which readers skip.
import { mkdir, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../../common/errors.js';
import type { InspectResult } from './inspect.js';

export interface DecisionRecord extends InspectResult {
  /** Wall-clock ms of the decision. */
  ts: number;
  node?: string;
  files?: { high?: string; low?: string };
  models?: Record<string, string>;
}

export const VERDICTS = ['clear', 'threat'] as const;
export type Verdict = (typeof VERDICTS)[number];

export interface VerdictRecord {
  scanId: string;
  verdict: Verdict;
  /** What the screener or the physical inspection found (class names as the models use them). */
  found?: { class: string; box?: [number, number, number, number] }[];
  by?: string;
  note?: string;
  ts: number;
}

export const DECISIONS_FILE = 'decisions.jsonl';
export const VERDICTS_FILE = 'verdicts.jsonl';

async function appendLine(file: string, value: unknown): Promise<void> {
  const fh = await open(file, 'a');
  try {
    await fh.write(`${JSON.stringify(value)}\n`);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

export class DecisionLog {
  constructor(readonly dir: string) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  async appendDecision(rec: DecisionRecord): Promise<void> {
    await appendLine(join(this.dir, DECISIONS_FILE), rec);
  }

  async appendVerdict(rec: VerdictRecord): Promise<void> {
    if (!VERDICTS.includes(rec.verdict)) throw new InputError(`verdict "${String(rec.verdict)}": expected one of ${VERDICTS.join(', ')}`);
    await appendLine(join(this.dir, VERDICTS_FILE), rec);
  }

  async decisions(): Promise<DecisionRecord[]> {
    return readJsonl<DecisionRecord>(join(this.dir, DECISIONS_FILE));
  }

  async verdicts(): Promise<VerdictRecord[]> {
    return readJsonl<VerdictRecord>(join(this.dir, VERDICTS_FILE));
  }

  /** Decisions joined with their latest verdict (the training material: what the node said, what was true). */
  async labelled(): Promise<{ decision: DecisionRecord; verdict?: VerdictRecord }[]> {
    const v = new Map<string, VerdictRecord>();
    for (const r of await this.verdicts()) v.set(r.scanId, r);
    // A scan repeated after a crash has two decision lines: the last one counts.
    const last = new Map<string, DecisionRecord>();
    for (const d of await this.decisions()) {
      last.delete(d.scanId);
      last.set(d.scanId, d);
    }
    return [...last.values()].map((d) => {
      const verdict = v.get(d.scanId);
      return verdict !== undefined ? { decision: d, verdict } : { decision: d };
    });
  }
}

async function readJsonl<T>(file: string): Promise<T[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: T[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // A torn last line from a crash.
    }
  }
  return out;
}
