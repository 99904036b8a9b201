// The N42-2012 writer: every file it writes validates against the 2012 schema (xmllint) and reads back the same
// counts, times, calibrations, positions, dose rates, alarms and nuclides; data the schema cannot hold is refused.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError, parseN42, writeN42, type N42Extras } from '../../analysis/radiation/formats/index.js';
import { readRadFile } from '../../devices/radiation/files.js';
import type { RadFile } from '../../analysis/radiation/spectrum.js';
import { tempDir } from '../harness/services.js';
import { refData } from '../helpers/paths.js';
import { formatError } from '../helpers/format-error.js';

const DATA = refData();
const XSD = join(DATA, 'n42', 'n42-2012.xsd');

const dir = tempDir('n42-write');
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

let written = 0;
/** Writes the XML to a file and runs xmllint against the N42-2012 schema; returns xmllint's verdict. */
function validate(xml: string, name = `out-${++written}.n42`): { ok: boolean; stderr: string; path: string } {
  const path = join(dir, name);
  writeFileSync(path, xml);
  const r = spawnSync('xmllint', ['--noout', '--schema', XSD, path], { encoding: 'utf8' });
  if (r.error !== undefined) throw r.error;
  return { ok: r.status === 0, stderr: r.stderr, path };
}


t.test('xmllint really checks: the known-invalid radiacode file fails the schema', async (t) => {
  const r = spawnSync('xmllint', ['--noout', '--schema', XSD, join(DATA, 'n42', 'radiacode-invalid.n42')], { encoding: 'utf8' });
  t.not(r.status, 0);
  t.match(r.stderr, /fails to validate/);
});

t.test('real files written as N42-2012 validate and read back the same data', async (t) => {
  const files = [
    join(DATA, 'n42', 'radiacode-am241.n42'),
    join(DATA, 'n42', 'specutils-Mn56_DetX_Shielded.n42'),
    join(DATA, 'n42', 'interspec-ba133_source_640s.n42'),
    join(DATA, 'n42', 'interspec-background.n42'),
    join(DATA, 'spe', 'becquerel-SGM102432-csi-ba133-cs137.spe'),
    join(DATA, 'spe', 'becquerel-nai-background.spe'),
    join(DATA, 'spe', 'becquerel-digibase-invalid-cal.spe'),
  ];
  for (const p of files) {
    const original = await readRadFile(p);
    const xml = writeN42(original);
    const v = validate(xml);
    t.ok(v.ok, `${p} written file validates${v.ok ? '' : `: ${v.stderr}`}`);
    const back = parseN42(xml, v.path);
    t.equal(back.format, 'N42-2012');
    t.same(back.warnings, [], 'reads back without warnings');
    t.equal(back.measurements.length, original.measurements.length);
    t.same(
      back.detectors.map((d) => d.id),
      original.detectors.map((d) => d.id),
      'same detectors',
    );
    original.measurements.forEach((m, i) => {
      const b = back.measurements[i];
      t.equal(b.class, m.class);
      t.equal(b.startTime, m.startTime);
      t.equal(b.realTime_s, m.realTime_s);
      t.equal(b.spectra.length, m.spectra.length);
      m.spectra.forEach((s, k) => {
        const r = b.spectra[k];
        t.equal(r.detector, s.detector);
        t.same(Array.from(r.counts), Array.from(s.counts), `${p} ${s.detector}: identical counts`);
        t.equal(r.liveTime_s, s.liveTime_s);
        // N42-2012 has one real time per RadMeasurement: a 2006 spectrum's own real time becomes the sample's.
        t.equal(r.realTime_s, m.realTime_s);
        // A calibration shorter than 3 terms is padded with zeros (the schema wants exactly 3).
        const padded = s.calibration === undefined ? undefined : { ...s.calibration, coefficients: [...s.calibration.coefficients, 0, 0, 0].slice(0, Math.max(3, s.calibration.coefficients.length)) };
        t.same(r.calibration, padded, `${p} ${s.detector}: calibration`);
      });
    });
  }
});

t.test('the Mn56 file keeps its deviation pairs and is written with CountedZeroes', async (t) => {
  const original = await readRadFile(join(DATA, 'n42', 'specutils-Mn56_DetX_Shielded.n42'));
  const xml = writeN42(original);
  t.match(xml, /<ChannelData compressionCode="CountedZeroes">0 36 2 2 16 82 215/);
  t.match(xml, /<EnergyValues>60 356 583 662 1173 1332 2614<\/EnergyValues>\s*<EnergyDeviationValues>0 -0.589999974 -0.75/);
  t.same(parseN42(xml, 'mn56').measurements[0].spectra[0].calibration?.deviationPairs?.[2], [583, -0.75]);
  const plain = writeN42(original, { compression: 'None' });
  t.notMatch(plain, /CountedZeroes/);
  t.ok(validate(plain).ok);
  t.same(Array.from(parseN42(plain, 'mn56').measurements[0].spectra[0].counts), Array.from(original.measurements[0].spectra[0].counts));
});

// A vehicle with three detectors: two gamma spectrometers (one with a name that is not an XML id) and a He-3
// neutron counter; GPS per detector state, dose rates per detector and for the instrument, an alarm and nuclides.
function vehicleFile(): RadFile & N42Extras {
  const dense = Float64Array.from({ length: 1024 }, (_, i) => 10 + ((i * 7919) % 97));
  const sparse = new Float64Array(4096);
  sparse[100] = 5;
  sparse[661] = 1234;
  sparse[662] = 2345.5; // a non-integer count (a background-subtracted or scaled spectrum)
  sparse[4095] = 1;
  const cubic = Float64Array.from({ length: 512 }, (_, i) => i % 5);
  const dev: [number, number][] = [
    [0, 0],
    [661.657, -1.25],
    [1460.8, 2.5],
  ];
  return {
    source: 'vehicle-7 synthetic',
    format: 'N42-2012',
    instrument: { manufacturer: 'Customs Lab', model: 'RadVan 3', id: 'VAN-007' },
    detectors: [
      { id: 'gamma-left', kind: 'NaI', description: '3x3 inch NaI(Tl), left side, 1.2 m' },
      { id: 'Gamma Right 2', kind: 'LaBr3' },
      { id: '3He-tube', kind: 'He3', description: 'He-3 proportional counter' },
    ],
    measurements: [
      {
        id: 'bg-1',
        startTime: '2024-05-01T10:00:00Z',
        realTime_s: 300,
        class: 'Background',
        spectra: [
          { detector: 'gamma-left', counts: dense, liveTime_s: 295.5, realTime_s: 300, calibration: { coefficients: [-1.5, 2.93, 0.00012], deviationPairs: dev }, position: { lat: 51.9225, lon: 4.47917, elevation_m: 1.2 } },
          { detector: 'Gamma Right 2', counts: sparse, liveTime_s: 299.25, realTime_s: 300, calibration: { coefficients: [0.5, 0.73, 0] }, position: { lat: 51.9226, lon: 4.4792, elevation_m: 2.4 } },
        ],
        grossCounts: [{ detector: '3He-tube', counts: 42, liveTime_s: 300, realTime_s: 300, position: { lat: 51.92255, lon: 4.47919 } }],
        doseRates: [{ detector: 'gamma-left', doseRate_uSv_h: 0.085 }, { doseRate_uSv_h: 0.09 }],
        position: { lat: 51.92252, lon: 4.479185, elevation_m: 0 },
      },
      {
        id: 'fg-1',
        startTime: '2024-05-01T10:05:00.250+02:00',
        realTime_s: 1.5,
        class: 'Foreground',
        spectra: [
          { detector: 'gamma-left', counts: dense.map((v) => v * 2), liveTime_s: 1.25, realTime_s: 1.5, calibration: { coefficients: [-1.5, 2.93, 0.00012], deviationPairs: dev }, position: { lat: -33.8688, lon: 151.2093, elevation_m: -3.5 } },
          { detector: 'Gamma Right 2', counts: cubic, liveTime_s: 1.5, realTime_s: 1.5, position: { lat: -33.8689, lon: 151.2094 } },
          { detector: 'gamma-left', counts: cubic, liveTime_s: 1.5, realTime_s: 1.5, calibration: { coefficients: [1, 3, 0.001, 1e-6] }, position: { lat: -33.8688, lon: 151.2093, elevation_m: -3.5 } },
        ],
        grossCounts: [{ detector: '3He-tube', counts: 3, liveTime_s: 1.5, realTime_s: 1.5 }],
        doseRates: [{ detector: 'Gamma Right 2', doseRate_uSv_h: 12.75 }],
      },
    ],
    alarms: [
      { measurementId: 'fg-1', detectors: ['gamma-left', 'Gamma Right 2'], category: 'Gamma', time: '2024-05-01T10:05:01Z', description: 'gross count rate 12 sigma above background' },
      { measurementId: 'fg-1', detectors: ['3He-tube'], category: 'Neutron' },
    ],
    nuclides: [
      { measurementId: 'fg-1', name: 'Cs-137', identified: true, confidence_pct: 92.5, category: 'Industrial', activity_Bq: 3.7e6 },
      { measurementId: 'fg-1', name: 'Co-60', identified: false, confidenceDescription: 'Low', confidence_pct: 12 },
      { name: 'K-40', confidenceDescription: 'High', category: 'NORM' },
    ],
  };
}

t.test('a synthetic vehicle file validates and round-trips', async (t) => {
  const file = vehicleFile();
  const xml = writeN42(file, { creator: 'customs-edge test', instrumentClass: 'Mobile System', softwareVersion: '0.1.0', docUuid: '3903bd1f-948e-4d36-85b4-fc1bc2420bfc' });
  const v = validate(xml, 'vehicle.n42');
  t.ok(v.ok, `vehicle file validates${v.ok ? '' : `: ${v.stderr}`}`);
  t.match(xml, /xmlns="http:\/\/physics\.nist\.gov\/N42\/2011\/N42"/);
  t.match(xml, /<RealTimeDuration>PT1\.5S<\/RealTimeDuration>/);
  t.match(xml, /<RealTimeDuration>PT300S<\/RealTimeDuration>/);
  t.match(xml, /<ChannelData compressionCode="CountedZeroes">0 100 5 0 560 1234 2345\.5 0 3432 1<\/ChannelData>/, 'sparse spectrum compressed');
  t.match(xml, /<ChannelData compressionCode="None">1[0-9]/, 'dense spectrum not compressed');
  t.match(xml, /<RadDetectorName>Gamma Right 2<\/RadDetectorName>/, 'a name that is no XML id keeps its name');
  t.match(xml, /<RadDetectorCategoryCode>Neutron<\/RadDetectorCategoryCode>\s*<RadDetectorKindCode>He3</);
  t.match(xml, /<EnergyBoundaryValues>/, 'a cubic calibration goes out as channel edges');

  const back = parseN42(xml, v.path);
  t.same(back.warnings, []);
  t.same(back.instrument, file.instrument);
  t.same(back.detectors, [
    { id: 'gamma-left', kind: 'NaI', description: '3x3 inch NaI(Tl), left side, 1.2 m' },
    { id: 'Gamma Right 2', kind: 'LaBr3' },
    { id: '3He-tube', kind: 'He3', description: 'He-3 proportional counter' },
  ]);
  t.equal(back.measurements.length, 2);
  file.measurements.forEach((m, i) => {
    const b = back.measurements[i];
    t.equal(b.id, m.id);
    t.equal(b.class, m.class);
    t.equal(b.startTime, m.startTime);
    t.equal(b.realTime_s, m.realTime_s);
    t.same(b.doseRates, m.doseRates, `${m.id} dose rates (instrument-level stays detector-less)`);
    t.same(b.position, m.position, `${m.id} instrument position`);
    t.equal(b.spectra.length, m.spectra.length);
    m.spectra.forEach((s, k) => {
      const r = b.spectra[k];
      t.equal(r.detector, s.detector);
      t.same(Array.from(r.counts), Array.from(s.counts), `${m.id} spectrum ${k + 1} counts`);
      t.equal(r.liveTime_s, s.liveTime_s);
      t.equal(r.realTime_s, s.realTime_s);
      t.same(r.position, s.position, `${m.id} spectrum ${k + 1} detector position`);
    });
    m.grossCounts.forEach((g, k) => {
      const r = b.grossCounts[k];
      t.equal(r.detector, g.detector);
      t.equal(r.counts, g.counts);
      t.equal(r.liveTime_s, g.liveTime_s);
      // Without its own RadDetectorState a gross count takes the instrument's position (fg-1 has none).
      t.same(r.position, g.position ?? m.position);
    });
  });
  const [bg, fg] = back.measurements;
  t.same(bg.spectra[0].calibration, { coefficients: [-1.5, 2.93, 0.00012], deviationPairs: [[0, 0], [661.657, -1.25], [1460.8, 2.5]] });
  t.same(bg.spectra[1].calibration, { coefficients: [0.5, 0.73, 0] });
  t.equal(fg.spectra[1].calibration, undefined, 'an uncalibrated spectrum stays uncalibrated');
  const cubic = fg.spectra[2].calibration?.coefficients ?? [];
  [1, 3, 0.001, 1e-6].forEach((c, k) => t.ok(Math.abs(cubic[k] - c) <= 1e-9 * Math.max(1, Math.abs(c)), `cubic term ${k}: ${cubic[k]} ≈ ${c}`));

  t.same(back.alarms, [
    { measurementId: 'fg-1', detectors: ['gamma-left', 'Gamma Right 2'], category: 'Gamma', time: '2024-05-01T10:05:01Z', description: 'gross count rate 12 sigma above background' },
    { measurementId: 'fg-1', detectors: ['3He-tube'], category: 'Neutron' },
  ]);
  const nuclides = back.nuclides ?? [];
  t.equal(nuclides.length, 3);
  t.match(nuclides[0], { measurementId: 'fg-1', name: 'Cs-137', identified: true, confidence_pct: 92.5, category: 'Industrial' });
  t.ok(Math.abs((nuclides[0].activity_Bq ?? 0) - 3.7e6) < 1e-6, 'activity written in kBq, read back in Bq');
  t.same(nuclides[1], { measurementId: 'fg-1', name: 'Co-60', identified: false, confidence_pct: 12, confidenceDescription: 'Low' });
  t.same(nuclides[2], { name: 'K-40', identified: true, confidenceDescription: 'High', category: 'NORM' });
});

t.test('the writer refuses what the schema cannot hold, naming where', async (t) => {
  const bad = (edit: (f: RadFile & N42Extras) => void): FormatError => {
    const f = vehicleFile();
    edit(f);
    return formatError(() => writeN42(f));
  };
  let e = bad((f) => {
    f.measurements[0].spectra[1].counts[7] = Number.NaN;
  });
  t.equal(e.message, 'vehicle-7 synthetic: measurement "bg-1" > spectrum 2 (detector "Gamma Right 2"): cannot write N42-2012: channel 7: expected a non-negative number, got NaN');
  e = bad((f) => {
    f.measurements[1].spectra[0].counts[3] = -2;
  });
  t.match(e.message, /measurement "fg-1" > spectrum 1 \(detector "gamma-left"\): cannot write N42-2012: channel 3: expected a non-negative number, got -2/);
  e = bad((f) => {
    f.measurements[0].realTime_s = 0;
  });
  t.match(e.message, /measurement "bg-1": cannot write N42-2012: expected a positive time in seconds, got 0/);
  e = bad((f) => {
    delete f.measurements[1].startTime;
  });
  t.match(e.message, /measurement "fg-1": cannot write N42-2012: expected a startTime \(StartDateTime is required\)/);
  e = bad((f) => {
    f.measurements[1].startTime = '01/05/2024 10:00';
  });
  t.match(e.message, /expected an ISO 8601 date-time such as 2023-06-07T05:52:00Z, got "01\/05\/2024 10:00"/);
  e = bad((f) => {
    f.measurements[0].position = { lat: 95, lon: 4 };
  });
  t.match(e.message, /measurement "bg-1" > position: cannot write N42-2012: expected a latitude in -90\.\.90, got 95/);
  e = bad((f) => {
    f.measurements[0].spectra[0].calibration = { coefficients: [0, 1, 0], deviationPairs: [[100, 1], [50, 2]] };
  });
  t.match(e.message, /expected strictly increasing energies, got 100 then 50 keV/);
  e = bad((f) => {
    (f.nuclides ?? [])[0].confidence_pct = 150;
  });
  t.match(e.message, /nuclide 1 \("Cs-137"\): cannot write N42-2012: expected 0\.\.100, got 150/);
  e = bad((f) => {
    (f.alarms ?? [])[0].measurementId = 'nope';
  });
  t.match(e.message, /analysis results: cannot write N42-2012: "nope" names no measurement in the file/);
  e = bad((f) => {
    f.measurements[0].doseRates = [{ doseRate_uSv_h: -1 }];
  });
  t.match(e.message, /dose rate 1: cannot write N42-2012: expected a non-negative dose rate, got -1/);
});

t.test('a minimal file (one spectrum, no calibration, no position) still validates', async (t) => {
  const file: RadFile = {
    source: 'minimal',
    format: 'CSV',
    detectors: [],
    measurements: [
      {
        id: '1st',
        startTime: '2024-01-01T00:00:00',
        realTime_s: 0.5,
        class: 'NotSpecified',
        spectra: [{ detector: 'd', counts: Float64Array.of(0, 0, 0), liveTime_s: 0, realTime_s: 0.5 }],
        grossCounts: [],
        // String(1e-7) is "1e-7", which xsd:decimal does not allow.
        position: { lat: 1e-7, lon: -2.5e-7 },
      },
    ],
  };
  const xml = writeN42(file);
  const v = validate(xml);
  t.ok(v.ok, v.stderr);
  const back = parseN42(xml, 'min');
  t.equal(back.measurements[0].id, '_1st', 'an id that is not an XML id is made into one');
  t.same(Array.from(back.measurements[0].spectra[0].counts), [0, 0, 0]);
  t.equal(back.measurements[0].spectra[0].calibration, undefined);
  t.equal(back.measurements[0].spectra[0].liveTime_s, 0);
  t.match(xml, /<LatitudeValue>0\.0000001<\/LatitudeValue>\s*<LongitudeValue>-0\.00000025<\/LongitudeValue>/);
  t.same(back.measurements[0].position, { lat: 1e-7, lon: -2.5e-7 });
});
