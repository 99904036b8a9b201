// The NMEA 0183 codec: checksums, GGA/RMC fields, hemispheres, fix quality, and a decoder fed split chunks, garbage and bad checksums.
import t from 'tap';
import { Readable } from 'node:stream';
import {
  FixAssembler,
  NmeaDecoder,
  NmeaTransform,
  buildGga,
  buildRmc,
  formatAngle,
  formatSentence,
  nmeaChecksum,
  parseSentence,
  type GgaSentence,
  type GpsFix,
  type NmeaEvent,
  type NmeaSentence,
  type RmcSentence,
} from '../../devices/gps/nmea.js';

// Widely published example sentences (NMEA reference manuals, gpsd docs) with their receivers' own checksums.
const CLASSIC_GGA = '$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47';
const CLASSIC_RMC = '$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A';

function ok(line: string): NmeaSentence {
  const r = parseSentence(line);
  if (!r.ok) throw new Error(`expected ${line} to parse: ${r.problem.message}`);
  return r.sentence;
}

function sentences(events: NmeaEvent[]): NmeaSentence[] {
  return events.flatMap((e) => (e.kind === 'sentence' ? [e.sentence] : []));
}

t.test('checksum matches sentences written by real receivers', async (t) => {
  t.equal(nmeaChecksum(CLASSIC_GGA.slice(1, CLASSIC_GGA.indexOf('*'))), 0x47);
  t.equal(nmeaChecksum(CLASSIC_RMC.slice(1, CLASSIC_RMC.indexOf('*'))), 0x6a);
  t.equal(formatSentence('GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,'), `${CLASSIC_GGA}\r\n`);
});

t.test('GGA fields: position, quality, satellites, HDOP, altitude, time', async (t) => {
  const g = ok(CLASSIC_GGA) as GgaSentence;
  t.equal(g.type, 'GGA');
  t.equal(g.talker, 'GP');
  t.equal(g.timeOfDay_ms, ((12 * 60 + 35) * 60 + 19) * 1000);
  t.ok(Math.abs((g.lat ?? NaN) - (48 + 7.038 / 60)) < 1e-12, 'latitude ddmm.mmm to degrees');
  t.ok(Math.abs((g.lon ?? NaN) - (11 + 31 / 60)) < 1e-12, 'longitude dddmm.mmm to degrees');
  t.equal(g.quality, 1);
  t.equal(g.satellites, 8);
  t.equal(g.hdop, 0.9);
  t.equal(g.altitude_m, 545.4);
  t.equal(g.geoidSeparation_m, 46.9);
  t.equal(g.dgpsAge_s, null);
});

t.test('RMC fields: status, speed in m/s, course, date, epoch time, magnetic variation', async (t) => {
  const r = ok(CLASSIC_RMC) as RmcSentence;
  t.equal(r.type, 'RMC');
  t.equal(r.status, 'A');
  t.ok(Math.abs((r.speed_m_s ?? NaN) - 22.4 * 0.514444) < 1e-4, 'knots to m/s');
  t.equal(r.course_deg, 84.4);
  t.same(r.date, { year: 1994, month: 3, day: 23 });
  t.equal(r.time_ms, Date.UTC(1994, 2, 23, 12, 35, 19));
  t.equal(r.magneticVariation_deg, -3.1, 'W variation is negative');
});

t.test('hemispheres: S and W are negative, and positions survive a round trip to 1e-7 degrees', async (t) => {
  const places = [
    { lat: -33.8567844, lon: 151.2152967 }, // Sydney: S, E
    { lat: 40.6892494, lon: -74.0445004 }, // New York: N, W
    { lat: -22.951916, lon: -43.2104872 }, // Rio: S, W
    { lat: 0.0000001, lon: -0.0000001 },
    { lat: 89.9999999, lon: 179.9999999 },
    { lat: 51.9999999999, lon: 4.9999999999 }, // 59.99999999' must carry into the degree, not print 60'
  ];
  for (const p of places) {
    const line = buildGga({ time_ms: Date.UTC(2024, 4, 1, 10, 0, 0), lat: p.lat, lon: p.lon, quality: 1, satellites: 7, hdop: 1.2, altitude_m: 3 });
    const g = ok(line) as GgaSentence;
    t.ok(Math.abs((g.lat ?? NaN) - p.lat) < 1e-7 && Math.abs((g.lon ?? NaN) - p.lon) < 1e-7, `${p.lat},${p.lon} -> ${line.trim()}`);
  }
  t.same(formatAngle(-33.5, 'latitude'), ['3330.000000', 'S']);
  t.same(formatAngle(-74.25, 'longitude'), ['07415.000000', 'W']);
  t.same(formatAngle(4.9999999999, 'longitude'), ['00500.000000', 'E']);
});

t.test('GGA fix quality 0, 1 and 2, and what the assembled fix says about each', async (t) => {
  const time_ms = Date.UTC(2024, 4, 1, 10, 0, 0);
  const none = ok(buildGga({ time_ms, quality: 0, satellites: 2, hdop: 99.99 })) as GgaSentence;
  t.equal(none.quality, 0);
  t.equal(none.lat, null, 'no fix, no position');
  t.equal(none.hdop, 99.99);
  const gps = ok(buildGga({ time_ms, lat: 51.9, lon: 4.1, quality: 1, satellites: 6, hdop: 1.4, altitude_m: 2 })) as GgaSentence;
  t.equal(gps.quality, 1);
  t.equal(gps.satellites, 6);
  const dgps = ok(formatSentence('GNGGA,100000.00,5154.00000,N,00406.00000,E,2,12,0.6,2.1,M,47.0,M,1.0,0136')) as GgaSentence;
  t.equal(dgps.quality, 2);
  t.equal(dgps.talker, 'GN');
  t.equal(dgps.dgpsAge_s, 1.0);

  for (const [g, valid] of [
    [none, false],
    [gps, true],
    [dgps, true],
  ] as const) {
    const a = new FixAssembler();
    a.push(g);
    const fix = a.flush();
    t.equal(fix?.quality, g.quality);
    t.equal(fix?.valid, valid, `quality ${g.quality} valid=${valid}`);
  }

  const bad = parseSentence(formatSentence('GPGGA,100000.00,5154.0,N,00406.0,E,9,12,0.6,2.1,M,47.0,M,,'));
  t.equal(bad.ok, false);
  if (!bad.ok) t.match(bad.problem.message, /GGA field 6 \(fix quality\): expected a digit 0-8, got "9"/);
  const posless = parseSentence(formatSentence('GPGGA,100000.00,,,,,1,12,0.6,2.1,M,47.0,M,,'));
  t.equal(posless.ok, false, 'quality 1 without a position is a field error');
});

t.test('bad checksums and malformed fields are reported, naming what was expected', async (t) => {
  const flipped = CLASSIC_GGA.replace('4807.038', '4807.039');
  const r1 = parseSentence(flipped);
  t.equal(r1.ok, false);
  if (!r1.ok) {
    t.equal(r1.problem.code, 'E_NMEA_CHECKSUM');
    t.match(r1.problem.message, /computed [0-9A-F]{2}, sentence says 47/);
  }
  const r2 = parseSentence(CLASSIC_GGA.slice(0, CLASSIC_GGA.indexOf('*')));
  t.equal(!r2.ok && r2.problem.code, 'E_NMEA_CHECKSUM');
  if (!r2.ok) t.match(r2.problem.message, /missing/);
  const r3 = parseSentence(formatSentence('GPGGA,123519,48x7.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,'));
  t.equal(!r3.ok && r3.problem.code, 'E_NMEA_FIELD');
  if (!r3.ok) t.match(r3.problem.message, /GGA field 2 \(latitude\): expected ddmm\.mmmm, got "48x7\.038"/);
  const r4 = parseSentence(formatSentence('GPRMC,123519,A,4807.038,Q,01131.000,E,022.4,084.4,230394,003.1,W'));
  if (!r4.ok) t.match(r4.problem.message, /RMC field 3 \(latitude hemisphere\): expected N or S, got "Q"/);
  else t.fail('hemisphere Q accepted');
  const r5 = parseSentence(formatSentence('GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,320394,003.1,W'));
  if (!r5.ok) t.match(r5.problem.message, /RMC field 9 \(date\): expected ddmmyy/);
  else t.fail('day 32 accepted');
  const r6 = parseSentence('$GPGGA,12\x01519*00');
  t.equal(!r6.ok && r6.problem.code, 'E_NMEA_GARBAGE');
  if (!r6.ok) t.match(r6.problem.sample, /\\x01/, 'non-printable bytes are shown escaped');
  t.equal(ok(formatSentence('GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00')).type, 'other');
  t.equal(ok(formatSentence('PUBX,00,081350.00,4717.113210,N')).type, 'other', 'proprietary sentences pass as other');
});

const STREAM_TIME = Date.UTC(2024, 4, 1, 10, 0, 0);

/** Three epochs of RMC+GGA, as a receiver writes them. */
function threeEpochs(): string {
  let s = '';
  for (let i = 0; i < 3; i++) {
    const time_ms = STREAM_TIME + i * 1000;
    s += buildRmc({ time_ms, status: 'A', lat: -12.5 - i * 1e-5, lon: -45.25, speed_m_s: 1.1, course_deg: 200 });
    s += buildGga({ time_ms, lat: -12.5 - i * 1e-5, lon: -45.25, quality: 1, satellites: 9, hdop: 0.8, altitude_m: 10 });
  }
  return s;
}

t.test('decoder: the same sentences however the stream is cut into chunks', async (t) => {
  const bytes = Buffer.from(threeEpochs(), 'latin1');
  const whole = sentences(new NmeaDecoder().push(bytes));
  t.equal(whole.length, 6);
  for (let size = 1; size <= 40; size++) {
    const d = new NmeaDecoder();
    const got: NmeaSentence[] = [];
    for (let i = 0; i < bytes.length; i += size) got.push(...sentences(d.push(bytes.subarray(i, i + size))));
    got.push(...sentences(d.flush()));
    if (JSON.stringify(got) !== JSON.stringify(whole)) {
      t.fail(`chunk size ${size} changed the result`);
      return;
    }
    t.equal(d.stats.garbage + d.stats.badChecksum, 0);
  }
  t.pass('chunk sizes 1-40 all give the same six sentences');
});

t.test('decoder: garbage and bad checksums are counted, good sentences around them still come through', async (t) => {
  const good = threeEpochs();
  const rmcBad = buildRmc({ time_ms: STREAM_TIME + 3000, status: 'A', lat: 1, lon: 2 }).replace(/\*..\r\n$/, '*00\r\n');
  const noise = Buffer.from([0x00, 0xff, 0x13, 0x80, 0x41, 0x42, 0xfe]);
  const cut = buildGga({ time_ms: STREAM_TIME + 4000, lat: 1, lon: 2, quality: 1 }).slice(0, 20); // lost its tail
  const last = buildRmc({ time_ms: STREAM_TIME + 4000, status: 'A', lat: 1, lon: 2 });
  const stream = Buffer.concat([
    noise,
    Buffer.from(good, 'latin1'),
    Buffer.from('boot banner v1.2\r\n', 'latin1'),
    Buffer.from(rmcBad, 'latin1'),
    Buffer.from(cut + last, 'latin1'),
  ]);
  const d = new NmeaDecoder();
  const events: NmeaEvent[] = [];
  // Fed in 7-byte chunks so that noise, banner and sentences all straddle chunk edges.
  for (let i = 0; i < stream.length; i += 7) events.push(...d.push(stream.subarray(i, i + 7)));
  const got = sentences(events);
  t.equal(got.length, 7, 'six good sentences plus the RMC that followed the cut-off GGA');
  t.equal(d.stats.badChecksum, 1);
  t.equal(d.stats.garbage, 3, 'noise glued to the first sentence, the banner line, the cut-off GGA');
  t.equal(d.stats.garbageBytes, noise.length + 'boot banner v1.2'.length + cut.length);
  const problems = events.flatMap((e) => (e.kind === 'problem' ? [e.problem] : []));
  t.equal(problems.length, 4);
  t.ok(problems.every((p) => p.message.length > 0 && typeof p.sample === 'string'));
  const lastRmc = got[6] as RmcSentence;
  t.equal(lastRmc.time_ms, STREAM_TIME + 4000);
});

t.test('decoder: a flood without line ends is dropped, not buffered forever', async (t) => {
  const d = new NmeaDecoder();
  for (let i = 0; i < 100; i++) d.push(Buffer.alloc(64, 0x55));
  t.ok(d.stats.tooLong > 0);
  const after = sentences(d.push(`\n${CLASSIC_GGA}\r\n`));
  t.equal(after.length, 1, 'the decoder recovers at the next line');
});

t.test('NmeaTransform: a readable of chunks in, sentence and problem objects out', async (t) => {
  const chunks = [Buffer.from('xx'), Buffer.from(CLASSIC_GGA.slice(0, 30)), Buffer.from(`${CLASSIC_GGA.slice(30)}\r\n${CLASSIC_RMC}`), Buffer.from('\r\n')];
  const out: NmeaEvent[] = [];
  const tr = Readable.from(chunks).pipe(new NmeaTransform());
  for await (const e of tr) out.push(e as NmeaEvent);
  t.same(
    out.map((e) => (e.kind === 'sentence' ? e.sentence.type : e.problem.code)),
    ['E_NMEA_GARBAGE', 'GGA', 'RMC'],
  );
});

t.test('FixAssembler: one fix per epoch, as soon as the epoch is complete', async (t) => {
  const a = new FixAssembler();
  const fixes: GpsFix[] = [];
  const feed = (line: string) => {
    const f = a.push(ok(line));
    if (f) fixes.push(f);
  };
  const epoch = (i: number, withRmc = true) => {
    const time_ms = STREAM_TIME + i * 1000;
    if (withRmc) feed(buildRmc({ time_ms, status: 'A', lat: 52 + i * 1e-4, lon: 4, speed_m_s: 3, course_deg: 90 }));
    feed(buildGga({ time_ms, lat: 52 + i * 1e-4, lon: 4, quality: 2, satellites: 11, hdop: 0.7, altitude_m: 5.5 }));
  };
  epoch(0);
  t.equal(fixes.length, 0, 'the first epoch waits: nothing yet says which sentences belong to it');
  epoch(1);
  t.equal(fixes.length, 2, 'first epoch flushed by the second; the second is complete at its GGA');
  const f = fixes[1] as GpsFix;
  t.equal(f.time_ms, STREAM_TIME + 1000);
  t.equal(f.quality, 2);
  t.equal(f.satellites, 11);
  t.equal(f.hdop, 0.7);
  t.equal(f.height_m, 5.5);
  t.ok(Math.abs((f.speed_m_s ?? 0) - 3) < 1e-3);
  t.equal(f.course_deg, 90);
  t.ok(f.valid && f.timeValid);
  t.same(f.sentences, ['GGA', 'RMC']);
  epoch(2, false); // RMC lost to a bad checksum
  t.equal(fixes.length, 2, 'an epoch missing its RMC waits');
  epoch(3);
  t.equal(fixes.length, 4, 'the partial epoch is flushed when the next starts, and the next still completes');
  t.equal(fixes[2]?.timeValid, false, 'no RMC, no date: time not vouched for');
  t.equal(fixes[3]?.time_ms, STREAM_TIME + 3000);
  t.same(fixes[3]?.sentences, ['GGA', 'RMC'], 'RMC still expected after one lost sentence');

  const lost = new FixAssembler();
  lost.push(ok(buildRmc({ time_ms: STREAM_TIME, status: 'V' })));
  const lf = lost.flush();
  t.equal(lf?.valid, false);
  t.equal(lf?.lat, null);
  t.equal(lf?.timeValid, false, 'status V: time not vouched for');
});
