// Mapping of protocol messages to InfluxDB line protocol: measurement, tag and field names the dashboards rely on.
import type { AnyMessage, Kind, MessageOf } from '../protocol/index.js';

/*
 * Series layout (database `customs`, default retention policy). Every point carries the tags `site`, `node`
 * and the fields `seq` (integer), `boot` (string), `hist` (boolean), `ts_src` (string: edge | corrected | received).
 *
 *   node_status   tags role            fields online, uptime_s, cpu_pct, mem_rss_bytes, disk_free_bytes,
 *                                            outbox_depth, outbox_bytes, outbox_dropped, outbox_full,
 *                                            lat, lon, version
 *   rad                                 fields gross_cps, doseRate_uSv_h, gm_cps, live_s, lat, lon, height_m
 *   rad_detector  tags detector         fields cps, doseRate_uSv_h
 *   alarm         tags nuclide, category fields alarm_id, test, statistic, threshold, confidence, gross_cps,
 *                                            doseRate_uSv_h, lat, lon, nuclides
 *   source        tags nuclide          fields estimate_id, lat, lon, height_m, cps_at_1m, activity_Bq,
 *                                            doseRate_uSv_h_at_1m, ci95_m, ambiguous, idx
 *   xray          tags decision         fields scan_id, latency_ms, n_detections, top_score, top_class, reasons
 *   camera_event  tags camera, type     fields event_id, track_ids, confidence, x, y, w, h
 *   cmd_ack       tags cmd              fields cmd_id, ok, reason
 *
 * The timestamp is nanoseconds: the message's millisecond time followed by seq modulo 10^6 in the sub-millisecond
 * digits. Two messages of one node in the same millisecond thus never overwrite each other, while a duplicate
 * (same node, boot, seq, ts) written twice lands on the same point and cannot double a count.
 */

export type TsSource = 'edge' | 'corrected' | 'received';

export interface Stamped {
  kind: Kind;
  msg: AnyMessage;
  /** Wall-clock ms to store the point at (already resolved from ts / tsTrusted). */
  time_ms: number;
  tsSrc: TsSource;
}

type FieldValue = number | boolean | string | undefined;

function escMeasurement(s: string): string {
  return s.replace(/[, ]/g, (c) => `\\${c}`);
}
function escTag(s: string): string {
  return s.replace(/[,= \\]/g, (c) => `\\${c}`).replace(/\n/g, ' ');
}
function escString(s: string): string {
  return `"${s.replace(/["\\]/g, (c) => `\\${c}`).replace(/\n/g, ' ')}"`;
}

function fieldText(v: number | boolean | string, int: boolean): string {
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return escString(v);
  return int ? `${Math.trunc(v)}i` : String(v);
}

/** Nanosecond timestamp text for a message (see the header comment). */
export function pointTime(time_ms: number, seq: number): string {
  return `${Math.trunc(time_ms)}${String(seq % 1_000_000).padStart(6, '0')}`;
}

function line(
  measurement: string,
  tags: Record<string, string | undefined>,
  fields: Record<string, FieldValue>,
  intFields: readonly string[],
  time: string,
): string | undefined {
  const tagText = Object.keys(tags)
    .sort()
    .filter((k) => tags[k] !== undefined && tags[k] !== '')
    .map((k) => `,${k}=${escTag(tags[k] as string)}`)
    .join('');
  const fieldParts: string[] = [];
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    if (typeof v === 'number' && !Number.isFinite(v)) continue;
    fieldParts.push(`${escTag(k)}=${fieldText(v, intFields.includes(k))}`);
  }
  if (fieldParts.length === 0) return undefined;
  return `${escMeasurement(measurement)}${tagText} ${fieldParts.join(',')} ${time}`;
}

const INT = ['seq', 'outbox_depth', 'outbox_bytes', 'outbox_dropped', 'n_detections', 'idx'];

/** Line-protocol lines for one accepted message (usually one line; per-detector and per-source rows add more). */
export function toLines(s: Stamped): string[] {
  const m = s.msg;
  const base = { site: m.site, node: m.node };
  const common = { seq: m.seq, boot: m.boot, hist: m.hist === true, ts_src: s.tsSrc };
  const t = pointTime(s.time_ms, m.seq);
  const out: (string | undefined)[] = [];
  switch (s.kind) {
    case 'status': {
      const st = m as MessageOf['status'];
      out.push(
        line(
          'node_status',
          { ...base, role: st.role },
          {
            ...common,
            online: st.online,
            uptime_s: st.uptime_s,
            cpu_pct: st.cpu_pct,
            mem_rss_bytes: st.mem_rss_bytes,
            disk_free_bytes: st.disk_free_bytes,
            outbox_depth: st.outbox?.depth,
            outbox_bytes: st.outbox?.bytes,
            outbox_dropped: st.outbox?.droppedRoutine,
            outbox_full: st.outbox?.full,
            lat: st.position?.lat,
            lon: st.position?.lon,
            version: st.version,
          },
          INT,
          t,
        ),
      );
      break;
    }
    case 'rad': {
      const r = m as MessageOf['rad'];
      out.push(
        line(
          'rad',
          base,
          {
            ...common,
            gross_cps: r.gross_cps,
            doseRate_uSv_h: r.doseRate_uSv_h,
            gm_cps: r.gm_cps,
            live_s: r.live_s,
            lat: r.position?.lat,
            lon: r.position?.lon,
            height_m: r.position?.height_m,
          },
          INT,
          t,
        ),
      );
      for (const d of r.detectors) {
        out.push(line('rad_detector', { ...base, detector: d.id }, { ...common, cps: d.cps, doseRate_uSv_h: d.doseRate_uSv_h }, INT, t));
      }
      break;
    }
    case 'alarm': {
      const a = m as MessageOf['alarm'];
      const top = a.nuclides[0];
      out.push(
        line(
          'alarm',
          { ...base, nuclide: top?.nuclide ?? 'none', category: top?.category ?? 'none' },
          {
            ...common,
            alarm_id: a.alarmId,
            test: a.test,
            statistic: a.statistic,
            threshold: a.threshold,
            confidence: top?.confidence,
            gross_cps: a.gross_cps,
            doseRate_uSv_h: a.doseRate_uSv_h,
            lat: a.position?.lat,
            lon: a.position?.lon,
            nuclides: a.nuclides.map((n) => n.nuclide).join(','),
          },
          INT,
          t,
        ),
      );
      break;
    }
    case 'source': {
      const so = m as MessageOf['source'];
      so.sources.forEach((src, idx) => {
        // Each source of an estimate gets its own nanosecond so rows of one message do not overwrite each other.
        const ti = pointTime(s.time_ms, (m.seq * 17 + idx) % 1_000_000);
        out.push(
          line(
            'source',
            { ...base, nuclide: src.nuclide ?? 'unknown' },
            {
              ...common,
              estimate_id: so.estimateId,
              idx,
              lat: src.lat,
              lon: src.lon,
              height_m: src.height_m,
              cps_at_1m: src.cps_at_1m,
              activity_Bq: src.activity_Bq,
              doseRate_uSv_h_at_1m: src.doseRate_uSv_h_at_1m,
              ci95_m: src.ci95_m,
              ambiguous: src.ambiguous,
            },
            INT,
            ti,
          ),
        );
      });
      break;
    }
    case 'xray': {
      const x = m as MessageOf['xray'];
      const top = [...x.detections].sort((p, q) => q.score - p.score)[0];
      out.push(
        line(
          'xray',
          { ...base, decision: x.decision },
          {
            ...common,
            scan_id: x.scanId,
            latency_ms: x.latency_ms,
            n_detections: x.detections.length,
            top_score: top?.score ?? 0,
            top_class: top?.class ?? '',
            reasons: x.reasons.join('; '),
          },
          INT,
          t,
        ),
      );
      break;
    }
    case 'event': {
      const e = m as MessageOf['event'];
      out.push(
        line(
          'camera_event',
          { ...base, camera: e.camera, type: e.type },
          {
            ...common,
            event_id: e.eventId,
            track_ids: e.trackIds.join(','),
            confidence: e.confidence,
            x: e.bbox[0],
            y: e.bbox[1],
            w: e.bbox[2],
            h: e.bbox[3],
          },
          INT,
          t,
        ),
      );
      break;
    }
    case 'ack': {
      const a = m as MessageOf['ack'];
      out.push(line('cmd_ack', { ...base, cmd: a.cmd }, { ...common, cmd_id: a.cmdId, ok: a.ok, reason: a.reason }, INT, t));
      break;
    }
    default: {
      const never: never = s.kind;
      throw new Error(`unhandled kind ${String(never)}`);
    }
  }
  return out.filter((l): l is string => l !== undefined);
}
