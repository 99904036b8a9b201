// Radiation files that are well-formed but say impossible things, or that the XML reader refuses: each gives an error
// naming the file and the field, or a warning, never silent nonsense; and the size bound of readRadFile.
import t from 'tap';
import { closeSync, openSync, ftruncateSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError, measurementProblem, parseCsv, parseN42, parseSpe, writeN42 } from '../../analysis/radiation/formats/index.js';
import type { Measurement } from '../../analysis/radiation/spectrum.js';
import { FileTooLargeError, MAX_RAD_FILE_BYTES, readRadFile } from '../../devices/radiation/files.js';
import { tempDir } from '../harness/services.js';
import { formatError } from '../helpers/format-error.js';

const dir = tempDir('rad-checks');
t.teardown(() => rmSync(dir, { recursive: true, force: true }));


function measurement(counts: number[], live_s = 0.5, real_s = 0.5): Measurement {
  return {
    id: 'm1',
    startTime: '2024-06-01T08:00:00Z',
    realTime_s: real_s,
    class: 'Foreground',
    spectra: [{ detector: 'left', counts: Float64Array.from(counts), liveTime_s: live_s, realTime_s: real_s, calibration: { coefficients: [0, 3] } }],
    grossCounts: [],
  };
}

const N42 = writeN42({ source: 'x', format: 'N42-2012', detectors: [{ id: 'left' }], measurements: [measurement([5, 6, 7, 8, 9, 10, 11, 12])] }, { creator: 'test' });
const withLive = (d: string) => N42.replace(/<LiveTimeDuration>[^<]*</, `<LiveTimeDuration>${d}<`);
const withCounts = (c: string) => N42.replace(/(<ChannelData[^>]*>)[^<]*/, `$1${c}`);

t.test('N42: DOCTYPE, entities, deep nesting and __proto__ refusals name the file', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['xxe.n42', `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><RadInstrumentData>&x;</RadInstrumentData>`, /External entities/],
    ['nest.n42', `<RadInstrumentData>${'<a>'.repeat(20000)}${'</a>'.repeat(20000)}</RadInstrumentData>`, /nested/i],
    ['proto.n42', `<RadInstrumentData><RadMeasurement id="m"><__proto__>x</__proto__></RadMeasurement></RadInstrumentData>`, /__proto__/],
  ];
  for (const [file, text, re] of cases) {
    const e = formatError(() => parseN42(text, file));
    t.equal(e.file, file);
    t.match(e.message, new RegExp(`^${file.replace('.', '\\.')}: document: refused by the XML reader: `), e.message);
    t.match(e.message, re);
  }
});

t.test('N42: live time longer than real time warns; absurd times and counts are errors naming the field', async (t) => {
  const ok = parseN42(N42, 'ok.n42');
  t.same(ok.warnings, [], 'a plain file has no warnings');
  const over = parseN42(withLive('PT400S'), 'over.n42');
  t.equal(over.warnings.length, 1);
  t.match(over.warnings[0]!.message, /^over\.n42: .*LiveTimeDuration: live time 400 s is longer than the real time 0\.5 s/);
  t.throws(() => parseN42(withLive('PT400S'), 'over.n42', { strict: true }), FormatError, 'strict refuses it');
  t.same(parseN42(withLive('PT0.5004S'), 'round.n42').warnings, [], 'rounding is let pass');

  const live = formatError(() => parseN42(withLive('1e23'), 'live.n42'));
  t.match(live.message, /^live\.n42: .*LiveTimeDuration: expected at most 1000000 s \(11\.6 days\), got 1e\+23 s/);
  const real = formatError(() => parseN42(N42.replace(/<RealTimeDuration>[^<]*</, '<RealTimeDuration>PT2000000S<'), 'real.n42'));
  t.match(real.message, /RealTimeDuration: expected at most 1000000 s/);
  const counts = formatError(() => parseN42(withCounts('1 2 1e308 4 5 6 7 8'), 'counts.n42'));
  t.match(counts.message, /^counts\.n42: .*ChannelData: token 3: expected at most 1000000000000 counts in a channel, got 1e\+308/);
  // A CountedZeroes run length is not a count.
  const cz = parseN42(N42.replace(/(<ChannelData)[^>]*>[^<]*/, '$1 compressionCode="CountedZeroes">5 0 6 7'), 'cz.n42');
  t.equal(cz.measurements[0]!.spectra[0]!.counts.length, 8);
});

t.test('N42-2006: live longer than real warns, an absurd live time is an error', async (t) => {
  const doc = (live: string) =>
    `<?xml version="1.0"?><N42InstrumentData><Measurement><Spectrum Detector="d"><StartTime>2024-06-01T08:00:00Z</StartTime><RealTime>PT10S</RealTime><LiveTime>${live}</LiveTime><ChannelData>1 2 3 4 5 6 7 8</ChannelData></Spectrum></Measurement></N42InstrumentData>`;
  t.same(parseN42(doc('PT9S'), 'a.n42').warnings, []);
  t.match(parseN42(doc('PT20S'), 'b.n42').warnings[0]?.message, /^b\.n42: .*LiveTime: live time 20 s is longer than the real time 10 s/);
  t.match(formatError(() => parseN42(doc('1e23'), 'c.n42')).message, /^c\.n42: .*LiveTime: expected at most 1000000 s/);
});

const SPE = (o: { times?: string; data?: string; extra?: string } = {}) =>
  ['$SPEC_ID:', 'test', '$MEAS_TIM:', o.times ?? '10 12', '$DATA:', '0 7', o.data ?? '1 2 3 4 5 6 7 8', o.extra ?? ''].join('\n');

t.test('SPE: a second $DATA (or $MEAS_TIM) is an error naming its line; times and counts checked', async (t) => {
  t.same(parseSpe(SPE(), 'ok.spe').warnings, []);
  const dup = formatError(() => parseSpe(SPE({ extra: '$DATA:\n0 7\n8 7 6 5 4 3 2 1' }), 'dup.spe'));
  t.equal(dup.line, 8);
  t.match(dup.message, /^dup\.spe: line 8, \$DATA: expected one \$DATA: section, found a second one \(the first is at line 5\)/);
  t.match(formatError(() => parseSpe(SPE({ extra: '$MEAS_TIM:\n1 1' }), 'dup2.spe')).message, /^dup2\.spe: line 8, \$MEAS_TIM: expected one \$MEAS_TIM: section/);
  t.match(parseSpe(SPE({ times: '20 10' }), 'over.spe').warnings[0]?.message, /^over\.spe: line 4, \$MEAS_TIM: live time 20 s is longer than the real time 10 s/);
  t.match(formatError(() => parseSpe(SPE({ times: '1e23 1e23' }), 'live.spe')).message, /^live\.spe: line 4, \$MEAS_TIM: live and real time: expected at most 1000000 s/);
  t.match(formatError(() => parseSpe(SPE({ data: '1 2 1e308 4 5 6 7 8' }), 'big.spe')).message, /^big\.spe: line 7, \$DATA: channel 2: expected at most 1000000000000 counts/);
  const frac = parseSpe(SPE({ data: '1 2.5 3 4.5 5 6 7 8' }), 'frac.spe');
  t.equal(frac.warnings.length, 1, 'one warning for the file, not one per channel');
  t.match(frac.warnings[0]!.message, /^frac\.spe: line 7, \$DATA: channel 1: expected a whole number of counts \(SPE\), got 2\.5/);
});

t.test('CSV: absurd counts and live time longer than real time', async (t) => {
  t.match(formatError(() => parseCsv('1\n2\n3e13\n4\n', 'big.csv')).message, /^big\.csv: line 3, column 1 \(counts\): expected at most 1000000000000 counts/);
  t.match(parseCsv('# live time: 20\n# real time: 10\n1\n2\n', 'over.csv').warnings[0]?.message, /^over\.csv: line 1, # live time: live time 20 s is longer/);
});

t.test('measurementProblem: too few channels, two channel counts for one detector', async (t) => {
  t.equal(measurementProblem(measurement([1, 2, 3, 4, 5, 6, 7, 8])), undefined);
  t.equal(measurementProblem(measurement([7])), 'detector left: 1 channel, expected at least 8');
  const mixed = measurement(new Array<number>(1024).fill(1));
  mixed.spectra.push({ ...mixed.spectra[0]!, counts: new Float64Array(512) });
  t.equal(measurementProblem(mixed), 'two spectra of detector left with 1024 and 512 channels, expected one channel count per detector');
});

t.test('readRadFile refuses a 200 MB file from its size, at once, naming the file, its size and the limit', async (t) => {
  const big = join(dir, 'big.n42');
  const fd = openSync(big, 'w');
  ftruncateSync(fd, 200 * 1024 * 1024); // sparse: no 200 MB written
  closeSync(fd);
  const t0 = performance.now();
  const e = await readRadFile(big).then(
    () => undefined,
    (err: unknown) => err,
  );
  const ms = performance.now() - t0;
  t.ok(e instanceof FileTooLargeError, String(e));
  t.equal((e as FileTooLargeError).limit, MAX_RAD_FILE_BYTES);
  t.equal((e as FileTooLargeError).size, 200 * 1024 * 1024);
  t.match((e as Error).message, /big\.n42: 209715200 bytes \(200 MiB\) is over the limit of 16777216 bytes \(16 MiB\)/);
  t.ok(ms < 1000, `refused in ${ms.toFixed(0)} ms`);
  // The limit is an option; a file at it is read.
  const small = join(dir, 'small.spe');
  writeFileSync(small, SPE());
  const size = SPE().length;
  t.equal((await readRadFile(small, { maxBytes: size })).format, 'SPE');
  await t.rejects(readRadFile(small, { maxBytes: size - 1 }), FileTooLargeError);
});
