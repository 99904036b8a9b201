// Line protocol of every message kind: exact output (golden file), escaping, and the sub-millisecond seq timestamp.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pointTime, toLines } from '../../cloud/points.js';
import { KINDS } from '../../protocol/index.js';
import { makeMessage } from '../helpers/messages.js';
import { ROOT } from '../helpers/paths.js';

// Messages with awkward strings: spaces, commas, equals signs, quotes, backslashes and newlines in free-text fields
// (detector ids are short names by schema; the camera tag takes the awkward characters a tag value may hold).
const tricky: Record<string, object> = {
  rad: { detectors: [{ id: 'd:1.x_y-z', cps: 3.5, doseRate_uSv_h: 0.1 }, { id: 'd2', cps: 0 }], position: { lat: 1, lon: 2, height_m: 3 } },
  alarm: { nuclides: [{ nuclide: 'Cs 137,x', confidence: 1, category: 'industrial' }], alarmId: 'a "q"\nz', position: { lat: 5, lon: 6 } },
  alarm2: { nuclides: [] },
  source: {
    sources: [
      { lat: 1, lon: 2, height_m: 3, cps_at_1m: 4, ambiguous: true },
      { lat: 1, lon: 2, height_m: 3, cps_at_1m: 4, ambiguous: false, nuclide: 'Co60', activity_Bq: 1e9 },
    ],
  },
  xray: { reasons: ['a', 'b "c"'], detections: [], decision: 'inspect' },
  event: { camera: 'cam 1,x=y"\\z\\ \\,', type: 'bag_switch' },
  ack: { ok: false, reason: 'bad\\sig' },
  status: { calibration: { a: 'b' }, position: { lat: 1, lon: 2 } },
};

function generate(): string[][] {
  const out: string[][] = [];
  for (const kind of KINDS) {
    for (let seq = 0; seq < 3; seq++) {
      for (const src of ['edge', 'corrected', 'received'] as const) {
        const over = seq === 2 ? tricky[kind] : seq === 1 && kind === 'alarm' ? tricky.alarm2 : {};
        const m = makeMessage(kind, { node: 'veh-01', seq, hist: seq === 1 }, over as never);
        out.push(toLines({ kind, msg: m, time_ms: 1_700_000_000_123 + seq, tsSrc: src }));
      }
    }
  }
  return out;
}

t.test('output matches the golden file line for line', async (t) => {
  const golden = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'points-golden.json'), 'utf8')) as string[][];
  t.same(generate(), golden);
});

t.test('escaping follows the line protocol rules', async (t) => {
  const lines = generate().flat();
  // InfluxDB 1.x unescapes only '\,', '\=' and '\ ' in tags: a backslash is written as is (see tagValue).
  t.ok(lines.some((l) => l.startsWith('camera_event,camera=cam\\ 1\\,x\\=y"\\z\\\\ \\\\,,node=veh-01,')), 'tag value escaped');
  t.ok(lines.some((l) => l.startsWith('rad_detector,detector=d:1.x_y-z,node=veh-01,site=site-a ')), 'a detector id needs no escaping');
  t.ok(lines.some((l) => l.includes('alarm_id="a \\"q\\" z"')), 'string field: quotes escaped, newline flattened');
  t.ok(lines.some((l) => l.includes('reason="bad\\\\sig"')), 'backslash in a string field');
  t.ok(lines.every((l) => !l.includes('\n')), 'one point per line');
  const src = lines.filter((l) => l.startsWith('source,'));
  t.ok(src.some((l) => l.includes('nuclide=unknown')), 'missing nuclide tag becomes unknown');
  t.equal(new Set(src.map((l) => l.split(' ').at(-1))).size, src.length / 3, 'rows of one estimate do not share a timestamp');
});

t.test('timestamps carry the seq below the millisecond', async (t) => {
  t.equal(pointTime(1_700_000_000_123, 42), '1700000000123000042');
  t.equal(pointTime(1_700_000_000_123, 1_000_042), '1700000000123000042');
  t.equal(pointTime(1_700_000_000_123.9, 0), '1700000000123000000');
});

t.test('camera events carry their zone and duration when they have them', async (t) => {
  const base = makeMessage('event', { node: 'cam-01', seq: 7 });
  const withZone = makeMessage('event', { node: 'cam-01', seq: 8 }, { type: 'dwell', zone: 'exit door', duration_s: 42.5 });
  const [line] = toLines({ kind: 'event', msg: withZone, time_ms: 1_700_000_000_000, tsSrc: 'edge' });
  t.match(line, /zone="exit door"/);
  t.match(line, /duration_s=42\.5/);
  const [plain] = toLines({ kind: 'event', msg: base, time_ms: 1_700_000_000_000, tsSrc: 'edge' });
  t.notMatch(plain, /zone=|duration_s=/, 'absent fields are left out');
});
