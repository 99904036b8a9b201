// Builds valid protocol messages (envelope + body) of every kind for tests and benches, checked against the schemas.
import { dataTopic, validate, type Kind, type MessageOf } from '../../protocol/index.js';

export interface EnvelopeInput {
  node: string;
  site?: string;
  boot?: string;
  seq: number;
  ts?: number;
  tsTrusted?: boolean;
  mono_ms?: number;
  hist?: boolean;
}

/** A body of each kind that the schema accepts; `seq` varies a few values so rows differ. */
function body(kind: Kind, seq: number): Record<string, unknown> {
  switch (kind) {
    case 'status':
      return { role: 'vehicle', online: true, version: '0.1.0', uptime_s: seq, cpu_pct: 12.5, outbox: { depth: 0, bytes: 0, droppedRoutine: 0, full: false } };
    case 'rad':
      return { live_s: 1, gross_cps: 100 + (seq % 50), doseRate_uSv_h: 0.12, detectors: [], position: { lat: 51.9, lon: 4.1 } };
    case 'alarm':
      return {
        alarmId: `a-${seq}`,
        test: 'sprt',
        statistic: 12.3,
        threshold: 10,
        gross_cps: 450,
        nuclides: [{ nuclide: 'Cs-137', confidence: 0.93, category: 'industrial' }],
      };
    case 'source':
      return { estimateId: `e-${seq}`, sources: [{ lat: 51.9, lon: 4.1, height_m: 1.2, nuclide: 'Cs-137', cps_at_1m: 900, ambiguous: false }] };
    case 'xray':
      return { scanId: `s-${seq}`, decision: 'clear', reasons: [], detections: [{ class: 'knife', score: 0.2 }], latency_ms: 140 };
    case 'event':
      return { eventId: `ev-${seq}`, camera: 'cam-1', type: 'dwell', trackIds: [seq % 100], bbox: [0.1, 0.2, 0.3, 0.4], confidence: 0.8 };
    case 'ack':
      return { cmd: 'config', cmdId: `c-${seq}`, ok: true };
    case 'spectrum':
      return { cmdId: `cap-${seq}`, detector: 'det-a', liveTime_s: 10 + seq, realTime_s: 10.5 + seq, progress: 1, counts: [0, 3, 5, seq] };
    default: {
      const never: never = kind;
      throw new Error(`unknown kind ${String(never)}`);
    }
  }
}

/** One message of `kind`, valid against its schema (throws otherwise, so a schema change shows up here first). */
export function makeMessage<K extends Kind>(kind: K, env: EnvelopeInput, overrides: Partial<MessageOf[K]> = {}): MessageOf[K] {
  const msg = {
    v: 1,
    node: env.node,
    site: env.site ?? 'site-a',
    boot: env.boot ?? 'b007b007',
    seq: env.seq,
    ts: env.ts ?? 1_700_000_000_000 + env.seq * 10,
    tsTrusted: env.tsTrusted ?? true,
    mono_ms: env.mono_ms ?? 1000 + env.seq * 10,
    ...(env.hist !== undefined ? { hist: env.hist } : {}),
    ...body(kind, env.seq),
    ...overrides,
  };
  const r = validate(kind, msg);
  if (!r.ok) throw new Error(`test message ${kind} is invalid: ${r.errors.join('; ')}`);
  return r.msg;
}

/** Topic and JSON bytes of a message, ready for publish(). */
export function wire<K extends Kind>(kind: K, msg: MessageOf[K]): { topic: string; payload: Buffer } {
  return { topic: dataTopic(msg.site, msg.node, kind), payload: Buffer.from(JSON.stringify(msg)) };
}

/** The measurement each kind lands in (see cloud/points.ts). */
export const MEASUREMENT: Record<Kind, string> = {
  status: 'node_status',
  rad: 'rad',
  alarm: 'alarm',
  source: 'source',
  xray: 'xray',
  event: 'camera_event',
  ack: 'cmd_ack',
  spectrum: 'calib_spectrum',
};

/** Data kinds (the ones with one point per message and a seq that counts for dedup and gaps). */
export const DATA_KINDS = ['rad', 'alarm', 'source', 'xray', 'event', 'ack'] as const satisfies readonly Kind[];
