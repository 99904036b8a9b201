// RadiaCode XML spectrum exports (the RadiaCode app and desktop program, root <ResultDataFile>): spectrum and background.

import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { EnergyCalibration, Measurement, RadFile } from '../spectrum.js';
import { countProblem, durationProblem } from './checks.js';
import { FormatError, Notes, type ParseNotes, type ParseOptions } from './errors.js';
import { calibrationProblem, MAX_CHANNELS, quote } from './values.js';

export type RadiaCodeFile = RadFile & ParseNotes & {
  /** SampleInfo > Name: what the user called the measurement ("Th-232-BG", "Trinitite rc103 72hr"). */
  title?: string;
  /** SampleInfo > Note, when not empty. */
  remarks?: string[];
};

type XNode = { [k: string]: unknown };

const parser = new XMLParser({
  ignoreAttributes: true,
  removeNSPrefix: true,
  parseTagValue: false,
  trimValues: true,
  // Lists that may hold one item are always arrays, so one code path walks a file of one or many.
  isArray: (name) => name === 'ResultData' || name === 'DataPoint' || name === 'Coefficient',
});

/**
 * Reads a RadiaCode XML export. Layout (FormatVersion 120920, as the RadiaCode-10x/110 apps write it):
 * ResultDataFile > ResultDataList > ResultData (one or more) with DeviceConfigReference > Name (the model),
 * SampleInfo > Name, StartTime, and EnergySpectrum / BackgroundEnergySpectrum, each holding NumberOfChannels,
 * SerialNumber, EnergyCalibration (Coefficients, lowest order first), MeasurementTime (s) and Spectrum > DataPoint
 * counts. The instrument's only time is the accumulation time, used as both live and real time: a pocket
 * instrument at background rates has negligible dead time. The background spectrum, when there is one, becomes a
 * Background measurement so that identification subtracts what the user measured, not a model.
 */
export function parseRadiaCode(text: string, source: string, options: ParseOptions = {}): RadiaCodeFile {
  const notes = new Notes(options.strict === true);
  const body = text.replace(/^\uFEFF/, '');
  const valid = XMLValidator.validate(body);
  if (valid !== true) {
    throw new FormatError({ file: source, line: valid.err.line, field: 'XML', expected: `expected well-formed XML, got: ${valid.err.msg}` });
  }
  const doc = parser.parse(body) as XNode;
  const root = doc['ResultDataFile'] as XNode | undefined;
  const list = (child(root, 'ResultDataList')?.['ResultData'] as XNode[] | undefined) ?? [];
  if (root === undefined || list.length === 0) {
    throw new FormatError({ file: source, element: '<ResultDataFile>', field: 'ResultData', expected: 'expected <ResultDataFile> with at least one <ResultDataList><ResultData>' });
  }
  const measurements: Measurement[] = [];
  let model: string | undefined;
  let serial: string | undefined;
  let title: string | undefined;
  const remarks: string[] = [];
  list.forEach((rd, i) => {
    const where = `ResultData ${i + 1}`;
    model ??= text1(child(rd, 'DeviceConfigReference'), 'Name');
    const sample = child(rd, 'SampleInfo');
    title ??= text1(sample, 'Name');
    const note = text1(sample, 'Note');
    if (note !== undefined && note !== '') remarks.push(note);
    const start = text1(rd, 'StartTime');
    for (const [tag, cls] of [['EnergySpectrum', 'Foreground'], ['BackgroundEnergySpectrum', 'Background']] as const) {
      const sp = child(rd, tag);
      if (sp === undefined) continue;
      const at = `${where} > ${tag}`;
      serial ??= text1(sp, 'SerialNumber');
      const points = (child(sp, 'Spectrum')?.['DataPoint'] as unknown[] | undefined) ?? [];
      if (points.length === 0 || points.length > MAX_CHANNELS) {
        throw new FormatError({ file: source, element: `${at} > Spectrum`, field: 'DataPoint', expected: `expected 1 to ${MAX_CHANNELS} <DataPoint> counts, got ${points.length}` });
      }
      const counts = new Float64Array(points.length);
      for (let ch = 0; ch < points.length; ch++) {
        const v = Number(String(points[ch]));
        const problem = !Number.isFinite(v) ? `expected a number, got ${quote(String(points[ch]))}` : v < 0 ? `expected a count of 0 or more, got ${v}` : countProblem(v);
        if (problem !== undefined) throw new FormatError({ file: source, element: `${at} > Spectrum > DataPoint ${ch + 1}`, field: 'DataPoint', expected: problem });
        counts[ch] = v;
      }
      const declared = Number(text1(sp, 'NumberOfChannels'));
      if (Number.isFinite(declared) && declared !== counts.length) {
        notes.warn(new FormatError({ file: source, element: `${at} > NumberOfChannels`, field: 'NumberOfChannels', expected: `says ${declared} channels but ${counts.length} <DataPoint> values follow; the values are used` }));
      }
      const time = Number(text1(sp, 'MeasurementTime'));
      const timeProblem = Number.isFinite(time) ? durationProblem(time) : `expected seconds, got ${quote(text1(sp, 'MeasurementTime') ?? '(none)')}`;
      if (timeProblem !== undefined) throw new FormatError({ file: source, element: `${at} > MeasurementTime`, field: 'MeasurementTime', expected: timeProblem });
      const calibration = readCalibration(child(sp, 'EnergyCalibration'), counts.length, source, `${at} > EnergyCalibration`, notes);
      measurements.push({
        id: text1(sp, 'SpectrumName') || `${cls === 'Background' ? 'background' : 'spectrum'}-${i + 1}`,
        // The background was recorded at another time; the file's StartTime is the foreground's.
        ...(cls === 'Foreground' && start !== undefined && start !== '' ? { startTime: start } : {}),
        realTime_s: time,
        class: cls,
        spectra: [{ detector: 'gamma', counts, liveTime_s: time, realTime_s: time, ...(calibration ? { calibration } : {}) }],
        grossCounts: [],
      });
    }
  });
  if (!measurements.some((m) => m.class === 'Foreground')) {
    throw new FormatError({ file: source, element: 'ResultData', field: 'EnergySpectrum', expected: 'expected an <EnergySpectrum> with the measured counts' });
  }
  return {
    source,
    format: 'RadiaCode-XML',
    instrument: { manufacturer: 'RadiaCode', ...(model !== undefined && model !== '' ? { model } : {}), ...(serial !== undefined && serial !== '' ? { id: serial } : {}) },
    detectors: [{ id: 'gamma' }],
    measurements,
    ...(title !== undefined && title !== '' ? { title } : {}),
    ...(remarks.length ? { remarks } : {}),
    warnings: notes.warnings,
  };
}

function readCalibration(node: XNode | undefined, nChannels: number, source: string, element: string, notes: Notes): EnergyCalibration | undefined {
  if (node === undefined) return undefined;
  const raw = (child(node, 'Coefficients')?.['Coefficient'] as unknown[] | undefined) ?? [];
  const coefficients = raw.map((c) => Number(String(c)));
  const cal: EnergyCalibration = { coefficients };
  const problem = calibrationProblem(cal, nChannels);
  if (problem !== undefined) {
    // Kept out rather than refused: the counts are good, and a calibration from the spectrum's peaks can follow.
    notes.warn(new FormatError({ file: source, element, field: 'EnergyCalibration', expected: `unusable energy calibration, dropped: ${problem}` }));
    return undefined;
  }
  return cal;
}

function child(node: unknown, name: string): XNode | undefined {
  if (node === null || typeof node !== 'object') return undefined;
  const v = (node as XNode)[name];
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as XNode) : undefined;
}

function text1(node: XNode | undefined, name: string): string | undefined {
  const v = node?.[name];
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v).trim() : undefined;
}
