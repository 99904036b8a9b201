// Signed records, technician keys and the local store of what was pushed to each node (history.jsonl per node).
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { InputError } from '../../common/errors.js';
import { parseRecord, type CalibrationRecord, type SignedRecord } from '../../protocol/calibration-record.js';
import { readJson } from './common.js';

export function readSigned(file: string): SignedRecord {
  const v = readJson(file, 'a signed calibration record') as Partial<SignedRecord> | null;
  if (!v || typeof v !== 'object' || !('payload' in v) || !('sig' in v)) throw new InputError(`${file}: expected a signed record { payload, sig } written by customs-calib sign`);
  parseRecord(v.payload, `${file}: payload`);
  return v as SignedRecord;
}

/** A record file or a signed one: the record. */
export function readAnyRecord(file: string): CalibrationRecord {
  const v = readJson(file, 'a calibration record') as { payload?: unknown } | null;
  return parseRecord(v && typeof v === 'object' && 'payload' in v ? v.payload : v, file);
}

export function loadKey(file: string, keyId?: string): { pem: string; keyId: string } {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`--key ${file}: cannot read the private key (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (!pem.includes('PRIVATE KEY')) throw new InputError(`--key ${file}: expected a PEM private key (from customs-calib keygen)`);
  return { pem, keyId: keyId ?? basename(file).replace(/\.(key|pem)$/, '') };
}

export function storeDir(o: { store?: string }): string {
  return o.store ?? process.env.CUSTOMS_CALIB_STORE ?? 'calibrations';
}

/** One line of <store>/<node>/history.jsonl. */
export interface HistoryEntry {
  time: string;
  action: 'push' | 'rollback';
  id: string;
  detector: string;
  version: number;
  ok: boolean;
  reason?: string;
  file: string;
}

export function history(store: string, node: string): HistoryEntry[] {
  const f = join(store, node, 'history.jsonl');
  if (!existsSync(f)) return [];
  return readFileSync(f, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l, i) => {
      try {
        return JSON.parse(l) as HistoryEntry;
      } catch {
        throw new InputError(`${f}:${i + 1}: not a JSON history line`);
      }
    });
}

/** The version a node runs per detector as far as this store knows: the last acknowledged push. */
export function activeFromHistory(h: HistoryEntry[]): Map<string, HistoryEntry> {
  const m = new Map<string, HistoryEntry>();
  for (const e of h) if (e.ok) m.set(e.detector, e);
  return m;
}
