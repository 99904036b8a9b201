// Mapping of protocol messages to InfluxDB line protocol: measurement, tag and field names the dashboards rely on.
import { MAX_TS_MS, type AnyMessage, type Kind, type MessageOf } from '../protocol/index.js';

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
 *   camera_event  tags camera, type     fields event_id, track_ids, confidence, x, y, w, h, zone, duration_s
 *   cmd_ack       tags cmd              fields cmd_id, ok, reason
 *   calib_spectrum tags detector        fields cmd_id, live_s, total_counts, progress (the counts stay out)
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

/** Characters that need escaping somewhere in line protocol; most values have none, so one test skips the work. */
const NEEDS_ESCAPE = /[,= \\"\n\r]/;
const TAG_NEEDS_ESCAPE = /[,= \n\r]|\\$/;

/*
 * Tag values as InfluxDB 1.x reads them (checked against 1.6): the scanner ends a tag value at a comma or space
 * not directly preceded by a backslash, and unescaping then removes one backslash before each comma, equals sign
 * and space, and nothing else ("a\\b" is stored with both backslashes). So comma, equals and space get a backslash
 * and a backslash is written as is: every value round-trips, except one ending in a backslash, which has no
 * spelling at all (its backslash would escape the delimiter), and newlines, which end the line. The protocol
 * schema refuses both (TAG_TEXT_PATTERN, DETECTOR_ID_PATTERN); should one get here anyway, it is replaced rather
 * than allowed to break the spool's one-point-per-line framing or run into the next tag.
 */
function tagValue(s: string): string {
  if (!TAG_NEEDS_ESCAPE.test(s)) return s;
  return s
    .replace(/[\n\r]/g, ' ')
    .replace(/\\$/, '\uFFFD')
    .replace(/[,= ]/g, (c) => `\\${c}`);
}

/**
 * A string field value in double quotes: quotes and backslashes escaped (InfluxDB unescapes both, so these
 * round-trip), newlines flattened: InfluxDB would take a newline inside quotes, but the spool frames one point per line.
 */
function quoted(s: string): string {
  return NEEDS_ESCAPE.test(s) ? `"${s.replace(/["\\]/g, (c) => `\\${c}`).replace(/[\n\r]/g, ' ')}"` : `"${s}"`;
}

/**
 * Nanosecond timestamp text for a message (see the header comment). The time is kept inside what InfluxDB stores
 * (0 to MAX_TS_MS): the schema bounds ts, and this also holds times computed from a boot's offsets.
 */
export function pointTime(time_ms: number, seq: number): string {
  const ms = Number.isFinite(time_ms) ? Math.min(MAX_TS_MS, Math.max(0, Math.trunc(time_ms))) : 0;
  return `${ms}${String(seq % 1_000_000).padStart(6, '0')}`;
}

/**
 * Builds one line: the caller writes tags in key order (InfluxDB's fastest path) and fields with constant, safe
 * keys. Field values that are absent or not finite are left out; a line without fields is not written.
 */
class Line {
  private text: string;
  private fields = 0;

  /** `tags` is the already-escaped `,k=v` list (site and node are ids and never need escaping). */
  constructor(measurement: string, tags: string) {
    this.text = measurement + tags;
  }

  private sep(): string {
    return this.fields++ === 0 ? ' ' : ',';
  }

  num(k: string, v: number | undefined): this {
    if (v !== undefined && Number.isFinite(v)) this.text += `${this.sep()}${k}=${v}`;
    return this;
  }

  int(k: string, v: number | undefined): this {
    if (v !== undefined && Number.isFinite(v)) this.text += `${this.sep()}${k}=${Math.trunc(v)}i`;
    return this;
  }

  bool(k: string, v: boolean | undefined): this {
    if (v !== undefined) this.text += `${this.sep()}${k}=${v ? 'true' : 'false'}`;
    return this;
  }

  /** A field whose value text is already formatted (a constant). */
  lit(k: string, text: string): this {
    this.text += `${this.sep()}${k}=${text}`;
    return this;
  }

  str(k: string, v: string | undefined): this {
    if (v !== undefined) this.text += `${this.sep()}${k}=${quoted(v)}`;
    return this;
  }

  end(time: string, out: string[]): void {
    if (this.fields > 0) out.push(`${this.text} ${time}`);
  }
}

/** Optional tag: left out when absent or empty, as InfluxDB rejects empty tag values. */
function tag(k: string, v: string | undefined): string {
  return v === undefined || v === '' ? '' : `,${k}=${tagValue(v)}`;
}

/** Line-protocol lines for one accepted message (usually one line; per-detector and per-source rows add more). */
export function toLines(s: Stamped): string[] {
  const m = s.msg;
  const node = `,node=${m.node}`;
  const site = `,site=${m.site}`;
  const t = pointTime(s.time_ms, m.seq);
  const tsSrc = s.tsSrc === 'edge' ? '"edge"' : s.tsSrc === 'corrected' ? '"corrected"' : '"received"';
  // The fields every point carries, written first and in the same order on every line.
  const common = (l: Line): Line => l.int('seq', m.seq).str('boot', m.boot).bool('hist', m.hist === true).lit('ts_src', tsSrc);
  const out: string[] = [];
  switch (s.kind) {
    case 'status': {
      const st = m as MessageOf['status'];
      common(new Line('node_status', `${node}${tag('role', st.role)}${site}`))
        .bool('online', st.online)
        .num('uptime_s', st.uptime_s)
        .num('cpu_pct', st.cpu_pct)
        .num('mem_rss_bytes', st.mem_rss_bytes)
        .num('disk_free_bytes', st.disk_free_bytes)
        .int('outbox_depth', st.outbox?.depth)
        .int('outbox_bytes', st.outbox?.bytes)
        .int('outbox_dropped', st.outbox?.droppedRoutine)
        .bool('outbox_full', st.outbox?.full)
        .num('lat', st.position?.lat)
        .num('lon', st.position?.lon)
        .str('version', st.version)
        .end(t, out);
      break;
    }
    case 'rad': {
      const r = m as MessageOf['rad'];
      common(new Line('rad', `${node}${site}`))
        .num('gross_cps', r.gross_cps)
        .num('doseRate_uSv_h', r.doseRate_uSv_h)
        .num('gm_cps', r.gm_cps)
        .num('live_s', r.live_s)
        .num('lat', r.position?.lat)
        .num('lon', r.position?.lon)
        .num('height_m', r.position?.height_m)
        .end(t, out);
      for (const d of r.detectors) {
        common(new Line('rad_detector', `${tag('detector', d.id)}${node}${site}`))
          .num('cps', d.cps)
          .num('doseRate_uSv_h', d.doseRate_uSv_h)
          .end(t, out);
      }
      break;
    }
    case 'alarm': {
      const a = m as MessageOf['alarm'];
      const top = a.nuclides[0];
      common(new Line('alarm', `${tag('category', top?.category ?? 'none')}${node}${tag('nuclide', top?.nuclide ?? 'none')}${site}`))
        .str('alarm_id', a.alarmId)
        .str('test', a.test)
        .num('statistic', a.statistic)
        .num('threshold', a.threshold)
        .num('confidence', top?.confidence)
        .num('gross_cps', a.gross_cps)
        .num('doseRate_uSv_h', a.doseRate_uSv_h)
        .num('lat', a.position?.lat)
        .num('lon', a.position?.lon)
        .str('nuclides', a.nuclides.map((n) => n.nuclide).join(','))
        .end(t, out);
      break;
    }
    case 'source': {
      const so = m as MessageOf['source'];
      so.sources.forEach((src, idx) => {
        // Each source of an estimate gets its own nanosecond so rows of one message do not overwrite each other.
        const ti = pointTime(s.time_ms, (m.seq * 17 + idx) % 1_000_000);
        common(new Line('source', `${node}${tag('nuclide', src.nuclide ?? 'unknown')}${site}`))
          .str('estimate_id', so.estimateId)
          .int('idx', idx)
          .num('lat', src.lat)
          .num('lon', src.lon)
          .num('height_m', src.height_m)
          .num('cps_at_1m', src.cps_at_1m)
          .num('activity_Bq', src.activity_Bq)
          .num('doseRate_uSv_h_at_1m', src.doseRate_uSv_h_at_1m)
          .num('ci95_m', src.ci95_m)
          .bool('ambiguous', src.ambiguous)
          .end(ti, out);
      });
      break;
    }
    case 'xray': {
      const x = m as MessageOf['xray'];
      let top: (typeof x.detections)[number] | undefined;
      for (const d of x.detections) if (!top || d.score > top.score) top = d;
      common(new Line('xray', `${tag('decision', x.decision)}${node}${site}`))
        .str('scan_id', x.scanId)
        .num('latency_ms', x.latency_ms)
        .int('n_detections', x.detections.length)
        .num('top_score', top?.score ?? 0)
        .str('top_class', top?.class ?? '')
        .str('reasons', x.reasons.join('; '))
        .end(t, out);
      break;
    }
    case 'event': {
      const e = m as MessageOf['event'];
      common(new Line('camera_event', `${tag('camera', e.camera)}${node}${site}${tag('type', e.type)}`))
        .str('event_id', e.eventId)
        .str('track_ids', e.trackIds.join(','))
        .num('confidence', e.confidence)
        .num('x', e.bbox[0])
        .num('y', e.bbox[1])
        .num('w', e.bbox[2])
        .num('h', e.bbox[3])
        .str('zone', e.zone)
        .num('duration_s', e.duration_s)
        .end(t, out);
      break;
    }
    case 'ack': {
      const a = m as MessageOf['ack'];
      common(new Line('cmd_ack', `${tag('cmd', a.cmd)}${node}${site}`))
        .str('cmd_id', a.cmdId)
        .bool('ok', a.ok)
        .str('reason', a.reason)
        .end(t, out);
      break;
    }
    case 'spectrum': {
      const sp = m as MessageOf['spectrum'];
      let total = 0;
      for (const c of sp.counts ?? []) total += c;
      common(new Line('calib_spectrum', `${tag('detector', sp.detector)}${node}${site}`))
        .str('cmd_id', sp.cmdId)
        .num('live_s', sp.liveTime_s)
        .num('total_counts', sp.counts ? total : undefined)
        .num('progress', sp.progress)
        .end(t, out);
      break;
    }
    default: {
      const never: never = s.kind;
      throw new Error(`unhandled kind ${String(never)}`);
    }
  }
  return out;
}
