// ANSI N42.42 radiation data: reads the 2006 (incl. DNDO portal) and 2012 XML editions, writes schema-valid 2012.

import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { EnergyCalibration, GeoPoint, GrossCount, Measurement, MeasurementClass, RadFile, Spectrum } from '../spectrum.js';
import { durationProblem, liveRealProblem } from './checks.js';
import { FormatError, Notes, type ParseNotes, type ParseOptions } from './errors.js';
import {
  calibrationProblem,
  countedZeroesLength,
  encodeCountedZeroes,
  fitPolynomial,
  formatDecimal,
  formatDouble,
  formatDuration,
  parseChannelData,
  parseDecimal,
  parseDuration,
  parseNumberList,
  polynomialEnergy,
  quote,
  type ValueContext,
} from './values.js';

export const N42_2012_NAMESPACE = 'http://physics.nist.gov/N42/2011/N42';

export type AlarmCategory = 'Neutron' | 'Gamma' | 'Alpha' | 'Beta' | 'Isotope' | 'Other';
const ALARM_CATEGORIES: readonly AlarmCategory[] = ['Neutron', 'Gamma', 'Alpha', 'Beta', 'Isotope', 'Other'];
const MEASUREMENT_CLASSES: readonly MeasurementClass[] = ['Foreground', 'Background', 'Calibration', 'IntrinsicActivity', 'NotSpecified'];

/** An N42 RadAlarm (2012 AnalysisResults). */
export interface N42Alarm {
  /** The RadMeasurement the alarm is about; absent for a file-level alarm. */
  measurementId?: string;
  /** Detectors that alarmed; all of the file's detectors when absent. */
  detectors?: string[];
  category: AlarmCategory;
  /** xsd:dateTime. */
  time?: string;
  description?: string;
}

/** An N42 Nuclide result (2012 AnalysisResults > NuclideAnalysisResults). */
export interface N42Nuclide {
  measurementId?: string;
  name: string;
  /** NuclideIdentifiedIndicator; default true. */
  identified?: boolean;
  /** NuclideIDConfidenceValue, 0..100. */
  confidence_pct?: number;
  /** NuclideIDConfidenceDescription, e.g. "High". */
  confidenceDescription?: string;
  /** NuclideCategoryDescription, e.g. "Industrial", "Medical", "SNM". */
  category?: string;
  activity_Bq?: number;
}

/** What N42 carries beyond the common RadFile: analysis results. */
export interface N42Extras {
  alarms?: N42Alarm[];
  nuclides?: N42Nuclide[];
}

export type N42File = RadFile & N42Extras & ParseNotes;

// ───────────────────────────── reading ─────────────────────────────

type XNode = string | { [key: string]: unknown };

const parser = new XMLParser({
  ignoreAttributes: false,
  removeNSPrefix: true,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  // Every element as an array, so a file with one spectrum and a file with eight are walked the same way.
  isArray: (_name, _path, _leaf, isAttribute) => !isAttribute,
});

function kids(node: XNode | undefined, name: string): XNode[] {
  if (node === undefined || typeof node === 'string') return [];
  const v = node[name];
  return Array.isArray(v) ? (v as XNode[]) : [];
}

function kid(node: XNode | undefined, name: string): XNode | undefined {
  return kids(node, name)[0];
}

function text(node: XNode | undefined): string | undefined {
  if (node === undefined) return undefined;
  if (typeof node === 'string') return node;
  return scalar(node['#text']) ?? '';
}

function childText(node: XNode | undefined, name: string): string | undefined {
  const t = text(kid(node, name));
  return t === undefined ? undefined : t.trim();
}

function attr(node: XNode | undefined, name: string): string | undefined {
  if (node === undefined || typeof node === 'string') return undefined;
  return scalar(node[`@_${name}`]);
}

/**
 * A parsed text or attribute value as a string. The parser options keep every value a string; a number or boolean
 * is accepted in case they change, but an object is not text and must not turn into "[object Object]".
 */
function scalar(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return undefined;
}

/** `Spectrum id="sp1"`: how an element is named in error messages. */
function label(name: string, node: XNode | undefined): string {
  for (const a of ['id', 'ID', 'Detector']) {
    const v = attr(node, a);
    if (v !== undefined) return `${name} ${a}="${v}"`;
  }
  return name;
}

/**
 * Reads an N42 file of either edition (told apart by the root element). Throws FormatError for anything that
 * makes the data unusable (XML not well-formed or truncated, a missing live or real time, counts that are not
 * non-negative numbers); problems that leave the counts usable (an unusable calibration, an unknown class code)
 * are returned in `warnings`, or thrown with `strict`.
 */
export function parseN42(text: string, source: string, options: ParseOptions = {}): N42File {
  const doc = parseXml(text, source);
  const notes = new Notes(options.strict === true);
  const root2012 = kid(doc, 'RadInstrumentData');
  if (root2012 !== undefined) return read2012(root2012, source, notes);
  const root2006 = kid(doc, 'N42InstrumentData');
  if (root2006 !== undefined) return read2006(root2006, source, notes);
  const roots = Object.keys(typeof doc === 'string' ? {} : doc).filter((k) => !k.startsWith('?') && !k.startsWith('#') && !k.startsWith('@_'));
  throw new FormatError({
    file: source,
    element: roots.length > 0 ? `<${roots[0]}>` : 'document',
    field: 'root',
    expected: `expected an N42 root element <RadInstrumentData> (N42.42-2012) or <N42InstrumentData> (N42.42-2006), got ${roots.length > 0 ? `<${roots[0]}>` : 'no element'}`,
  });
}

function parseXml(text: string, source: string): XNode {
  const body = text.replace(/^\uFEFF/, '');
  if (body.trim() === '') throw new FormatError({ file: source, field: 'XML', element: 'document', expected: 'expected an N42 XML document, the file is empty' });
  const valid = XMLValidator.validate(body);
  if (valid !== true) {
    const { code, msg, line, col } = valid.err;
    // The validator reports a document that ends inside open elements as InvalidXml with the open element list.
    const open = /^Invalid '\[(.*)\]' found\.?$/s.exec(msg);
    if (code === 'InvalidXml' && open !== null) {
      const names = open[1].split(',').map((s) => s.trim().replace(/^"|"$/g, '').replace(/^[^:]*:/, ''));
      throw new FormatError({
        file: source,
        element: names.join(' > '),
        field: 'XML',
        expected: `the document ends inside <${names[names.length - 1]}> with ${names.length} element(s) still open: expected the closing tags (is the file truncated?)`,
      });
    }
    const nearEnd = body.length - indexOfLine(body, line) < 200;
    throw new FormatError({
      file: source,
      line,
      ...(typeof col === 'number' ? { element: `column ${col}` } : {}),
      field: 'XML',
      expected: `expected well-formed XML: ${msg}${nearEnd ? ' (this is at the end of the file: is it truncated?)' : ''}`,
    });
  }
  try {
    return parser.parse(body) as XNode;
  } catch (e) {
    // The parser's own refusals (a DOCTYPE with external entities, nesting too deep, a __proto__ element name) say
    // nothing of which file: a rejected/*.why or a CLI error must.
    throw new FormatError({ file: source, element: 'document', field: 'XML', expected: `refused by the XML reader: ${(e as Error).message}`, cause: e });
  }
}

/** A live or real time no instrument measures (1e23 s) is an error, not a spectrum with a rate of 0. */
function plausibleDuration(seconds: number, ctx: ValueContext): void {
  const problem = durationProblem(seconds);
  if (problem !== undefined) throw new FormatError({ ...ctx, expected: problem });
}

function liveNotOverReal(live_s: number, real_s: number, ctx: ValueContext, notes: Notes): void {
  const problem = liveRealProblem(live_s, real_s);
  if (problem !== undefined) notes.warn(new FormatError({ ...ctx, expected: problem }));
}

function indexOfLine(s: string, line: number): number {
  let idx = 0;
  for (let l = 1; l < line; l++) {
    const next = s.indexOf('\n', idx);
    if (next < 0) return s.length;
    idx = next + 1;
  }
  return idx;
}

// Markers our writer puts on placeholders that the schema forces on us; the reader turns them back into "none".
const UNCALIBRATED_REMARK = 'customs-edge: no energy calibration (placeholder required by the schema)';
const INSTRUMENT_DOSE_REMARK = 'customs-edge: dose rate of the whole instrument, not of one detector';

function read2012(root: XNode, source: string, notes: Notes): N42File {
  const info = kid(root, 'RadInstrumentInformation');
  const instrument = {
    ...optional('manufacturer', childText(info, 'RadInstrumentManufacturerName')),
    ...optional('model', childText(info, 'RadInstrumentModelName')),
    ...optional('id', childText(info, 'RadInstrumentIdentifier')),
  };

  const detectors: RadFile['detectors'] = [];
  // id -> name; null for our instrument-level dose placeholder.
  const detectorName = new Map<string, string | null>();
  for (const d of kids(root, 'RadDetectorInformation')) {
    const id = attr(d, 'id');
    if (id === undefined) {
      notes.warn(new FormatError({ file: source, element: 'RadDetectorInformation', field: 'id', expected: 'expected an id attribute; detector skipped' }));
      continue;
    }
    if (kids(d, 'Remark').some((r) => text(r)?.trim() === INSTRUMENT_DOSE_REMARK)) {
      detectorName.set(id, null);
      continue;
    }
    const name = childText(d, 'RadDetectorName') || id;
    detectorName.set(id, name);
    detectors.push({ id: name, ...optional('kind', childText(d, 'RadDetectorKindCode')), ...optional('description', childText(d, 'RadDetectorDescription')) });
  }
  const resolveDetector = (ref: string | undefined, where: string, fallback: string): string => {
    if (ref === undefined) {
      const real = [...detectorName.values()].filter((v): v is string => v !== null);
      if (real.length === 1) return real[0];
      // No (or no unique) detector to attribute it to: the element's own id names it, listed like the others.
      if (!detectors.some((d) => d.id === fallback)) detectors.push({ id: fallback });
      return fallback;
    }
    const name = detectorName.get(ref);
    if (name === undefined) {
      notes.warn(new FormatError({ file: source, element: where, field: 'radDetectorInformationReference', expected: `"${ref}" names no RadDetectorInformation; the reference is used as the detector name` }));
      detectorName.set(ref, ref);
      detectors.push({ id: ref });
      return ref;
    }
    return name ?? ref;
  };

  const calibrations = new Map<string, EnergyCalibration | null>();
  for (const c of kids(root, 'EnergyCalibration')) {
    const id = attr(c, 'id') ?? '';
    const cal = readCalibration2012(c, `EnergyCalibration id="${id}"`, source, notes);
    calibrations.set(id, cal);
  }
  const checkedCalibrations = new Set<string>();

  const measurements: Measurement[] = [];
  const rms = kids(root, 'RadMeasurement');
  rms.forEach((rm, index) => {
    const id = attr(rm, 'id') ?? `RadMeasurement${index + 1}`;
    const path = `RadMeasurement id="${id}"`;
    const classText = childText(rm, 'MeasurementClassCode');
    let cls: MeasurementClass = 'NotSpecified';
    if (classText === undefined) {
      notes.warn(new FormatError({ file: source, element: path, field: 'MeasurementClassCode', expected: 'expected a MeasurementClassCode; taken as NotSpecified' }));
    } else if ((MEASUREMENT_CLASSES as readonly string[]).includes(classText)) {
      cls = classText as MeasurementClass;
    } else {
      throw new FormatError({ file: source, element: `${path} > MeasurementClassCode`, field: 'MeasurementClassCode', expected: `expected one of ${MEASUREMENT_CLASSES.join(', ')}, got ${quote(classText)}` });
    }
    const realText = childText(rm, 'RealTimeDuration');
    if (realText === undefined) {
      throw new FormatError({ file: source, element: path, field: 'RealTimeDuration', expected: 'expected a RealTimeDuration element (ISO 8601 duration such as PT613S): the measurement has no real time' });
    }
    const realTime_s = parseDuration(realText, { file: source, element: `${path} > RealTimeDuration`, field: 'RealTimeDuration' });
    plausibleDuration(realTime_s, { file: source, element: `${path} > RealTimeDuration`, field: 'RealTimeDuration' });
    const startTime = childText(rm, 'StartDateTime');

    const spectra: Spectrum[] = [];
    kids(rm, 'Spectrum').forEach((sp, si) => {
      const spPath = `${path} > ${label('Spectrum', sp)}`;
      const detector = resolveDetector(attr(sp, 'radDetectorInformationReference'), spPath, attr(sp, 'id') ?? `spectrum${si + 1}`);
      const liveText = childText(sp, 'LiveTimeDuration');
      if (liveText === undefined) {
        throw new FormatError({ file: source, element: spPath, field: 'LiveTimeDuration', expected: 'expected a LiveTimeDuration element (ISO 8601 duration such as PT613S): the spectrum has no live time' });
      }
      const liveTime_s = parseDuration(liveText, { file: source, element: `${spPath} > LiveTimeDuration`, field: 'LiveTimeDuration' });
      plausibleDuration(liveTime_s, { file: source, element: `${spPath} > LiveTimeDuration`, field: 'LiveTimeDuration' });
      liveNotOverReal(liveTime_s, realTime_s, { file: source, element: `${spPath} > LiveTimeDuration`, field: 'LiveTimeDuration' }, notes);
      const counts = readChannelData(kid(sp, 'ChannelData'), attr(kid(sp, 'ChannelData'), 'compressionCode'), spPath, source);
      const calRef = attr(sp, 'energyCalibrationReference');
      let calibration: EnergyCalibration | undefined;
      if (calRef !== undefined) {
        const cal = calibrations.get(calRef);
        if (cal === undefined && !calibrations.has(calRef)) {
          notes.warn(new FormatError({ file: source, element: spPath, field: 'energyCalibrationReference', expected: `"${calRef}" names no EnergyCalibration; spectrum left uncalibrated` }));
        } else if (cal !== null && cal !== undefined) {
          const problem = calibrationProblem(cal, counts.length);
          if (problem === undefined) calibration = cal;
          else if (!checkedCalibrations.has(calRef)) {
            notes.warn(new FormatError({ file: source, element: `EnergyCalibration id="${calRef}"`, field: 'EnergyCalibration', expected: `invalid energy calibration, ignored: ${problem}` }));
          }
          checkedCalibrations.add(calRef);
        }
      }
      spectra.push({ detector, counts, liveTime_s, realTime_s, ...(calibration !== undefined ? { calibration } : {}) });
    });

    const grossCounts: GrossCount[] = [];
    kids(rm, 'GrossCounts').forEach((gc, gi) => {
      const gcPath = `${path} > ${label('GrossCounts', gc)}`;
      const detector = resolveDetector(attr(gc, 'radDetectorInformationReference'), gcPath, attr(gc, 'id') ?? `gross${gi + 1}`);
      const liveText = childText(gc, 'LiveTimeDuration');
      if (liveText === undefined) {
        throw new FormatError({ file: source, element: gcPath, field: 'LiveTimeDuration', expected: 'expected a LiveTimeDuration element (ISO 8601 duration such as PT1S): the gross counts have no live time' });
      }
      const liveTime_s = parseDuration(liveText, { file: source, element: `${gcPath} > LiveTimeDuration`, field: 'LiveTimeDuration' });
      const countText = childText(gc, 'CountData');
      if (countText === undefined) throw new FormatError({ file: source, element: gcPath, field: 'CountData', expected: 'expected a CountData element with the counts' });
      // Several values are energy windows of one detector; their sum is the gross count.
      const values = parseNumberList(countText, { file: source, element: `${gcPath} > CountData`, field: 'CountData' }, { nonNegative: true });
      grossCounts.push({ detector, counts: values.reduce((a, b) => a + b, 0), liveTime_s, realTime_s });
    });

    const doseRates: NonNullable<Measurement['doseRates']> = [];
    for (const dr of kids(rm, 'DoseRate')) {
      const drPath = `${path} > ${label('DoseRate', dr)}`;
      const ref = attr(dr, 'radDetectorInformationReference');
      const valueNode = kid(dr, 'DoseRateValue');
      if (valueNode === undefined) continue; // a DoseRate may carry only a level description
      const ctx = { file: source, element: `${drPath} > DoseRateValue`, field: 'DoseRateValue' };
      const v = parseDecimal((text(valueNode) ?? '').trim(), ctx, 'a dose rate');
      const factor = doseFactor(attr(valueNode, 'units'), ctx);
      if (v < 0) throw new FormatError({ ...ctx, expected: `expected a non-negative dose rate, got ${v}` });
      const isInstrument = ref !== undefined && detectorName.get(ref) === null;
      const detector = isInstrument ? undefined : ref === undefined ? undefined : resolveDetector(ref, drPath, ref);
      doseRates.push({ ...(detector !== undefined ? { detector } : {}), doseRate_uSv_h: v * factor });
    }

    const position = readStatePoint(kid(rm, 'RadInstrumentState'), `${path} > RadInstrumentState`, source);
    const detectorPositions = new Map<string, GeoPoint>();
    for (const ds of kids(rm, 'RadDetectorState')) {
      const dsPath = `${path} > ${label('RadDetectorState', ds)}`;
      const p = readStatePoint(ds, dsPath, source);
      const ref = attr(ds, 'radDetectorInformationReference');
      if (p !== undefined && ref !== undefined) detectorPositions.set(resolveDetector(ref, dsPath, ref), p);
    }
    const placed = <T extends { detector: string; position?: GeoPoint }>(x: T): T => {
      const p = detectorPositions.get(x.detector) ?? position;
      return p === undefined ? x : { ...x, position: p };
    };

    measurements.push({
      id,
      ...optional('startTime', startTime),
      realTime_s,
      class: cls,
      spectra: spectra.map(placed),
      grossCounts: grossCounts.map(placed),
      ...(doseRates.length > 0 ? { doseRates } : {}),
      ...(position !== undefined ? { position } : {}),
    });
  });

  const alarms: N42Alarm[] = [];
  const nuclides: N42Nuclide[] = [];
  for (const ar of kids(root, 'AnalysisResults')) {
    const refs = (attr(ar, 'radMeasurementReferences') ?? '').trim().split(/\s+/).filter((s) => s !== '');
    const measurementId = refs.length === 1 ? refs[0] : undefined;
    for (const al of kids(ar, 'RadAlarm')) {
      const alPath = `AnalysisResults > ${label('RadAlarm', al)}`;
      const cat = childText(al, 'RadAlarmCategoryCode');
      if (cat === undefined || !(ALARM_CATEGORIES as readonly string[]).includes(cat)) {
        throw new FormatError({ file: source, element: `${alPath} > RadAlarmCategoryCode`, field: 'RadAlarmCategoryCode', expected: `expected one of ${ALARM_CATEGORIES.join(', ')}, got ${quote(cat ?? '(missing)')}` });
      }
      const dets = (attr(al, 'radDetectorInformationReferences') ?? '').trim().split(/\s+/).filter((s) => s !== '');
      alarms.push({
        ...optional('measurementId', measurementId),
        detectors: dets.map((r) => resolveDetector(r, alPath, r)),
        category: cat as AlarmCategory,
        ...optional('time', childText(al, 'RadAlarmDateTime')),
        ...optional('description', childText(al, 'RadAlarmDescription')),
      });
    }
    for (const nar of kids(ar, 'NuclideAnalysisResults')) {
      for (const nu of kids(nar, 'Nuclide')) {
        const nuPath = `AnalysisResults > NuclideAnalysisResults > ${label('Nuclide', nu)}`;
        const name = childText(nu, 'NuclideName');
        if (name === undefined || name === '') throw new FormatError({ file: source, element: nuPath, field: 'NuclideName', expected: 'expected a NuclideName' });
        const num = (field: string): number | undefined => {
          const t = childText(nu, field);
          return t === undefined ? undefined : parseDecimal(t, { file: source, element: `${nuPath} > ${field}`, field }, `a number for ${field}`);
        };
        const identified = childText(nu, 'NuclideIdentifiedIndicator');
        const activityNode = kid(nu, 'NuclideActivityValue');
        const activity = num('NuclideActivityValue');
        nuclides.push({
          ...optional('measurementId', measurementId),
          name,
          identified: identified === undefined ? true : identified === 'true' || identified === '1',
          ...optional('confidence_pct', num('NuclideIDConfidenceValue')),
          ...optional('confidenceDescription', childText(nu, 'NuclideIDConfidenceDescription')),
          ...optional('category', childText(nu, 'NuclideCategoryDescription')),
          ...optional('activity_Bq', activity === undefined ? undefined : activity * activityFactor(attr(activityNode, 'units'), { file: source, element: `${nuPath} > NuclideActivityValue`, field: 'units' })),
        });
      }
    }
  }

  return {
    source,
    format: 'N42-2012',
    ...(Object.keys(instrument).length > 0 ? { instrument } : {}),
    detectors,
    measurements,
    ...(alarms.length > 0 ? { alarms } : {}),
    ...(nuclides.length > 0 ? { nuclides } : {}),
    warnings: notes.warnings,
  };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function readChannelData(node: XNode | undefined, compression: string | undefined, path: string, source: string): Float64Array {
  const element = `${path} > ChannelData`;
  if (node === undefined) throw new FormatError({ file: source, element: path, field: 'ChannelData', expected: 'expected a ChannelData element with the channel counts' });
  const code = compression?.trim();
  if (code !== undefined && code !== 'None' && code !== 'CountedZeroes') {
    throw new FormatError({ file: source, element, field: 'compressionCode', expected: `expected compression None or CountedZeroes, got ${quote(code)}` });
  }
  const counts = parseChannelData(text(node) ?? '', { file: source, element, field: 'ChannelData' }, code === 'CountedZeroes');
  if (counts.length === 0) throw new FormatError({ file: source, element, field: 'ChannelData', expected: 'expected channel counts, found an empty ChannelData' });
  return counts;
}

function readCalibration2012(c: XNode, path: string, source: string, notes: Notes): EnergyCalibration | null {
  if (kids(c, 'Remark').some((r) => text(r)?.trim() === UNCALIBRATED_REMARK)) return null;
  const coefText = childText(c, 'CoefficientValues');
  let coefficients: number[];
  if (coefText !== undefined) {
    coefficients = parseNumberList(coefText, { file: source, element: `${path} > CoefficientValues`, field: 'CoefficientValues' });
  } else {
    const edgesText = childText(c, 'EnergyBoundaryValues');
    if (edgesText === undefined) {
      notes.warn(new FormatError({ file: source, element: path, field: 'CoefficientValues', expected: 'expected CoefficientValues or EnergyBoundaryValues; calibration ignored' }));
      return null;
    }
    const edges = parseNumberList(edgesText, { file: source, element: `${path} > EnergyBoundaryValues`, field: 'EnergyBoundaryValues' });
    // Our model is a polynomial; channel edges are fitted with a cubic, which is exact for what we write.
    const fit = fitPolynomial(edges.map((_, i) => i), edges, 3);
    coefficients = fit.coefficients.map((v) => Number(v.toPrecision(12)));
    if (fit.maxResidual > 0.01) {
      notes.warn(new FormatError({ file: source, element: `${path} > EnergyBoundaryValues`, field: 'EnergyBoundaryValues', expected: `channel edges are not a cubic in channel number; the fit is off by up to ${fit.maxResidual.toFixed(3)} keV` }));
    }
  }
  const cal: EnergyCalibration = { coefficients };
  const ev = childText(c, 'EnergyValues');
  const dv = childText(c, 'EnergyDeviationValues');
  if (ev !== undefined || dv !== undefined) {
    const e = parseNumberList(ev ?? '', { file: source, element: `${path} > EnergyValues`, field: 'EnergyValues' });
    const d = parseNumberList(dv ?? '', { file: source, element: `${path} > EnergyDeviationValues`, field: 'EnergyDeviationValues' });
    if (e.length !== d.length) {
      throw new FormatError({ file: source, element: path, field: 'EnergyDeviationValues', expected: `expected as many EnergyDeviationValues as EnergyValues (deviation pairs), got ${d.length} and ${e.length}` });
    }
    if (e.length > 0) cal.deviationPairs = e.map((x, i) => [x, d[i]] as [number, number]);
  }
  return cal;
}

function readStatePoint(state: XNode | undefined, path: string, source: string): GeoPoint | undefined {
  const gp = kid(kid(state, 'StateVector'), 'GeographicPoint');
  if (gp === undefined) return undefined;
  const where = `${path} > StateVector > GeographicPoint`;
  const num = (field: string, min: number, max: number): number | undefined => {
    const t = childText(gp, field);
    if (t === undefined) return undefined;
    const v = parseDecimal(t, { file: source, element: `${where} > ${field}`, field }, `a number for ${field}`);
    if (v < min || v > max) throw new FormatError({ file: source, element: `${where} > ${field}`, field, expected: `expected ${min}..${max}, got ${v}` });
    return v;
  };
  const lat = num('LatitudeValue', -90, 90);
  const lon = num('LongitudeValue', -180, 180);
  if (lat === undefined || lon === undefined) {
    throw new FormatError({ file: source, element: where, field: lat === undefined ? 'LatitudeValue' : 'LongitudeValue', expected: 'expected both LatitudeValue and LongitudeValue' });
  }
  const elevation = num('ElevationValue', -1e6, 1e7);
  return { lat, lon, ...(elevation !== undefined ? { elevation_m: elevation } : {}) };
}

function doseFactor(units: string | undefined, ctx: ValueContext): number {
  if (units === undefined) return 1; // the schema's unit
  const u = units.trim().replace('μ', 'µ');
  const table: Record<string, number> = {
    'µSv/h': 1, 'uSv/h': 1, 'microSv/h': 1, 'nSv/h': 1e-3, 'mSv/h': 1e3, 'Sv/h': 1e6,
    'mrem/h': 10, 'µrem/h': 0.01, 'urem/h': 0.01, 'rem/h': 1e4,
  };
  const f = table[u];
  if (f === undefined) throw new FormatError({ ...ctx, field: 'units', expected: `expected dose rate units µSv/h, nSv/h, mSv/h, mrem/h or rem/h, got ${quote(units)}` });
  return f;
}

function activityFactor(units: string | undefined, ctx: ValueContext): number {
  if (units === undefined) return 1000; // N42-2012 activity is in kBq
  const table: Record<string, number> = { Bq: 1, kBq: 1e3, MBq: 1e6, GBq: 1e9, uCi: 3.7e4, 'µCi': 3.7e4, mCi: 3.7e7, Ci: 3.7e10 };
  const f = table[units.trim()];
  if (f === undefined) throw new FormatError({ ...ctx, expected: `expected activity units Bq, kBq, MBq, GBq, µCi, mCi or Ci, got ${quote(units)}` });
  return f;
}

// ── N42.42-2006 ──

function read2006(root: XNode, source: string, notes: Notes): N42File {
  const measNodes = kids(root, 'Measurement');
  if (measNodes.length === 0) {
    throw new FormatError({ file: source, element: 'N42InstrumentData', field: 'Measurement', expected: 'expected at least one Measurement element' });
  }
  // Calibrations may be shared: <Calibration ID="..."> anywhere, referenced by a Spectrum's CalibrationIDs.
  const calibrationsById = new Map<string, XNode>();
  collect(root, 'Calibration', (n) => {
    const id = attr(n, 'ID');
    if (id !== undefined) calibrationsById.set(id, n);
  });

  let instrument: RadFile['instrument'];
  const detectors = new Map<string, RadFile['detectors'][number]>();
  const measurements: Measurement[] = [];

  measNodes.forEach((mn, mi) => {
    const baseId = attr(mn, 'UUID')?.trim() || attr(mn, 'ID') || `Measurement${mi + 1}`;
    const info = kid(mn, 'InstrumentInformation');
    if (info !== undefined && instrument === undefined) {
      instrument = {
        ...optional('manufacturer', childText(info, 'Manufacturer')),
        ...optional('model', childText(info, 'InstrumentModel')),
        ...optional('id', childText(info, 'InstrumentID')),
      };
    }
    const mPath = `Measurement ${attr(mn, 'UUID') !== undefined ? `UUID="${baseId}"` : `#${mi + 1}`}`;
    const position = readCoordinates(mn, mPath, source);

    // A DNDO portal file holds one DetectorData per time sample; a simple 2006 file has Spectrum elements
    // directly under Measurement. Both become one of our measurements per sample.
    const samples = kids(mn, 'DetectorData');
    const groups: { node: XNode; path: string }[] = samples.length > 0
      ? samples.map((s, k) => ({ node: s, path: `${mPath} > DetectorData #${k + 1}` }))
      : [{ node: mn, path: mPath }];

    groups.forEach(({ node, path }, k) => {
      const sampleReal = childText(node, 'SampleRealTime');
      const sampleReal_s = sampleReal === undefined ? undefined : parseDuration(sampleReal, { file: source, element: `${path} > SampleRealTime`, field: 'SampleRealTime' });
      const sampleStart = childText(node, 'StartTime') ?? childText(mn, 'StartTime');
      const spectraNodes: { sp: XNode; parentDetector?: string }[] = [];
      const grossNodes: { gc: XNode; parentDetector?: string }[] = [];
      for (const sp of kids(node, 'Spectrum')) spectraNodes.push({ sp });
      for (const dm of kids(node, 'DetectorMeasurement')) {
        const parentDetector = attr(dm, 'Detector');
        for (const sm of kids(dm, 'SpectrumMeasurement')) for (const sp of kids(sm, 'Spectrum')) spectraNodes.push({ sp, parentDetector });
        for (const sp of kids(dm, 'Spectrum')) spectraNodes.push({ sp, parentDetector });
        for (const gc of kids(dm, 'GrossCountMeasurement')) grossNodes.push({ gc, parentDetector });
      }

      const classes = new Set<MeasurementClass>();
      let realMax = 0;
      const spectra: Spectrum[] = spectraNodes.map(({ sp, parentDetector }, si) => {
        const detector = attr(sp, 'Detector') ?? parentDetector ?? 'detector';
        const spPath = `${path} > Spectrum ${attr(sp, 'Detector') !== undefined ? `Detector="${detector}"` : `#${si + 1}`}`;
        const kind = childText(sp, 'DetectorType');
        if (!detectors.has(detector)) detectors.set(detector, { id: detector, ...optional('kind', kind) });
        const liveText = childText(sp, 'LiveTime');
        if (liveText === undefined) throw new FormatError({ file: source, element: spPath, field: 'LiveTime', expected: 'expected a LiveTime element (ISO 8601 duration such as PT629.17S): the spectrum has no live time' });
        const liveTime_s = parseDuration(liveText, { file: source, element: `${spPath} > LiveTime`, field: 'LiveTime' });
        const realText = childText(sp, 'RealTime');
        const realTime_s = realText !== undefined ? parseDuration(realText, { file: source, element: `${spPath} > RealTime`, field: 'RealTime' }) : sampleReal_s;
        if (realTime_s === undefined) throw new FormatError({ file: source, element: spPath, field: 'RealTime', expected: 'expected a RealTime element (or a SampleRealTime for the sample): the spectrum has no real time' });
        plausibleDuration(liveTime_s, { file: source, element: `${spPath} > LiveTime`, field: 'LiveTime' });
        plausibleDuration(realTime_s, { file: source, element: `${spPath} > RealTime`, field: 'RealTime' });
        liveNotOverReal(liveTime_s, realTime_s, { file: source, element: `${spPath} > LiveTime`, field: 'LiveTime' }, notes);
        realMax = Math.max(realMax, realTime_s);
        const cd = kid(sp, 'ChannelData');
        const counts = readChannelData(cd, attr(cd, 'Compression') ?? attr(cd, 'compressionCode'), spPath, source);
        const sourceType = childText(sp, 'SourceType');
        if (sourceType !== undefined) classes.add(classOf2006(sourceType, spPath, source, notes));
        const calibration = readCalibration2006(sp, spPath, counts.length, calibrationsById, source, notes);
        return { detector, counts, liveTime_s, realTime_s, ...(calibration !== undefined ? { calibration } : {}), ...(position !== undefined ? { position } : {}) };
      });

      const grossCounts: GrossCount[] = grossNodes.map(({ gc, parentDetector }, gi) => {
        const detector = attr(gc, 'Detector') ?? parentDetector ?? 'detector';
        const gcPath = `${path} > GrossCountMeasurement ${attr(gc, 'Detector') !== undefined ? `Detector="${detector}"` : `#${gi + 1}`}`;
        if (!detectors.has(detector)) detectors.set(detector, { id: detector, ...optional('kind', childText(gc, 'DetectorType')) });
        const countsText = childText(gc, 'GrossCounts');
        if (countsText === undefined) throw new FormatError({ file: source, element: gcPath, field: 'GrossCounts', expected: 'expected a GrossCounts element with the counts' });
        const values = parseNumberList(countsText, { file: source, element: `${gcPath} > GrossCounts`, field: 'GrossCounts' }, { nonNegative: true });
        const liveText = childText(gc, 'LiveTime');
        if (liveText === undefined) throw new FormatError({ file: source, element: gcPath, field: 'LiveTime', expected: 'expected a LiveTime element (ISO 8601 duration): the gross counts have no live time' });
        const liveTime_s = parseDuration(liveText, { file: source, element: `${gcPath} > LiveTime`, field: 'LiveTime' });
        const realText = childText(gc, 'RealTime');
        const realTime_s = realText !== undefined ? parseDuration(realText, { file: source, element: `${gcPath} > RealTime`, field: 'RealTime' }) : sampleReal_s ?? liveTime_s;
        realMax = Math.max(realMax, realTime_s);
        return { detector, counts: values.reduce((a, b) => a + b, 0), liveTime_s, realTime_s, ...(position !== undefined ? { position } : {}) };
      });

      if (spectra.length === 0 && grossCounts.length === 0) {
        throw new FormatError({ file: source, element: path, field: 'Spectrum', expected: 'expected at least one Spectrum or GrossCountMeasurement' });
      }
      if (classes.size > 1) {
        notes.warn(new FormatError({ file: source, element: path, field: 'SourceType', expected: `expected one SourceType for all spectra of a sample, got ${[...classes].join(', ')}; the first is used` }));
      }
      measurements.push({
        id: groups.length > 1 ? `${baseId}-${k + 1}` : baseId,
        // Simple 2006 files put the start time on each Spectrum instead of the sample.
        ...optional('startTime', sampleStart ?? spectraNodes.map(({ sp }) => childText(sp, 'StartTime')).find((s) => s !== undefined)),
        realTime_s: sampleReal_s ?? realMax,
        class: classes.size > 0 ? [...classes][0] : 'NotSpecified',
        spectra,
        grossCounts,
        ...(position !== undefined ? { position } : {}),
      });
    });
  });

  return {
    source,
    format: 'N42-2006',
    ...(instrument !== undefined && Object.keys(instrument).length > 0 ? { instrument } : {}),
    detectors: [...detectors.values()],
    measurements,
    warnings: notes.warnings,
  };
}

function collect(node: XNode, name: string, visit: (n: XNode) => void): void {
  if (typeof node === 'string') return;
  for (const [k, v] of Object.entries(node)) {
    if (!Array.isArray(v)) continue;
    for (const child of v as XNode[]) {
      if (k === name) visit(child);
      // ChannelData and other leaves are strings; only element objects are walked.
      if (typeof child !== 'string') collect(child, name, visit);
    }
  }
}

function classOf2006(sourceType: string, path: string, source: string, notes: Notes): MeasurementClass {
  switch (sourceType) {
    case 'Item':
      return 'Foreground';
    case 'Background':
      return 'Background';
    case 'Calibration':
      return 'Calibration';
    case 'IntrinsicActivity':
      return 'IntrinsicActivity';
    case 'Other':
    case 'Unknown':
      return 'NotSpecified';
    default:
      notes.warn(new FormatError({ file: source, element: `${path} > SourceType`, field: 'SourceType', expected: `expected Item, Background, Calibration, IntrinsicActivity or Other, got ${quote(sourceType)}; taken as NotSpecified` }));
      return 'NotSpecified';
  }
}

function readCalibration2006(
  sp: XNode,
  path: string,
  nChannels: number,
  byId: Map<string, XNode>,
  source: string,
  notes: Notes,
): EnergyCalibration | undefined {
  let node = kids(sp, 'Calibration').find((c) => (attr(c, 'Type') ?? 'Energy') === 'Energy');
  let where = `${path} > Calibration`;
  if (node === undefined) {
    for (const id of (attr(sp, 'CalibrationIDs') ?? '').trim().split(/\s+/).filter((s) => s !== '')) {
      const c = byId.get(id);
      if (c !== undefined && (attr(c, 'Type') ?? 'Energy') === 'Energy') {
        node = c;
        where = `Calibration ID="${id}"`;
        break;
      }
    }
  }
  if (node === undefined) return undefined;
  const eq = kid(node, 'Equation');
  const coefText = childText(eq, 'Coefficients');
  if (coefText === undefined) {
    notes.warn(new FormatError({ file: source, element: where, field: 'Coefficients', expected: 'expected Equation > Coefficients; spectrum left uncalibrated' }));
    return undefined;
  }
  let coefficients = parseNumberList(coefText, { file: source, element: `${where} > Equation > Coefficients`, field: 'Coefficients' });
  const units = attr(node, 'EnergyUnits') ?? 'keV';
  const scale = units === 'keV' ? 1 : units === 'MeV' ? 1000 : units === 'eV' ? 0.001 : Number.NaN;
  if (Number.isNaN(scale)) throw new FormatError({ file: source, element: where, field: 'EnergyUnits', expected: `expected EnergyUnits keV, MeV or eV, got ${quote(units)}` });
  const model = attr(eq, 'Model') ?? 'Polynomial';
  if (model === 'FullRangeFraction') {
    // E = c0 + c1·x + c2·x² + c3·x³ + c4/(1 + 60x), x = ch / nChannels: a polynomial only when c4 is 0.
    if ((coefficients[4] ?? 0) !== 0) {
      notes.warn(new FormatError({ file: source, element: `${where} > Equation`, field: 'Model', expected: 'FullRangeFraction with a low-energy term (5th coefficient) cannot be expressed as a polynomial; spectrum left uncalibrated' }));
      return undefined;
    }
    coefficients = coefficients.slice(0, 4).map((c, k) => c / nChannels ** k);
  } else if (model !== 'Polynomial') {
    notes.warn(new FormatError({ file: source, element: `${where} > Equation`, field: 'Model', expected: `expected Model Polynomial or FullRangeFraction, got ${quote(model)}; spectrum left uncalibrated` }));
    return undefined;
  }
  const cal: EnergyCalibration = { coefficients: coefficients.map((c) => c * scale) };
  const problem = calibrationProblem(cal, nChannels);
  if (problem !== undefined) {
    notes.warn(new FormatError({ file: source, element: where, field: 'Calibration', expected: `invalid energy calibration, ignored: ${problem}` }));
    return undefined;
  }
  return cal;
}

function readCoordinates(mn: XNode, path: string, source: string): GeoPoint | undefined {
  const loc = kid(kid(mn, 'MeasuredItemInformation'), 'MeasurementLocation') ?? kid(mn, 'InstrumentLocation');
  const coords = childText(loc, 'Coordinates');
  if (coords === undefined) return undefined;
  const element = `${path} > MeasurementLocation > Coordinates`;
  const v = parseNumberList(coords, { file: source, element, field: 'Coordinates' });
  if (v.length < 2 || Math.abs(v[0]) > 90 || Math.abs(v[1]) > 180) {
    throw new FormatError({ file: source, element, field: 'Coordinates', expected: `expected "latitude longitude [elevation]" in degrees, got ${quote(coords)}` });
  }
  return { lat: v[0], lon: v[1], ...(v.length > 2 ? { elevation_m: v[2] } : {}) };
}

// ───────────────────────────── writing ─────────────────────────────

export interface N42WriteOptions {
  /** RadInstrumentDataCreatorName. */
  creator?: string;
  /** RadInstrumentClassCode (schema enumeration); default "Other". */
  instrumentClass?: string;
  /** Version written as RadInstrumentVersion "Software" (the schema wants at least one). */
  softwareVersion?: string;
  /** ChannelData compression: "auto" (CountedZeroes when it makes the data at least 20 % shorter), default. */
  compression?: 'auto' | 'None' | 'CountedZeroes';
  /** n42DocUUID; omitted when absent (the writer is pure: no clock, no randomness). */
  docUuid?: string;
}

const DETECTOR_KINDS = [
  'HPGe', 'HPXe', 'NaI', 'LaBr3', 'LaCl3', 'BGO', 'CZT', 'CdTe', 'CsI', 'GMT', 'GMTW', 'LiFiber', 'PVT', 'PS', 'He3', 'He4',
  'LiGlass', 'LiI', 'SrI2', 'CLYC', 'CdWO4', 'BF3', 'HgI2', 'CeBr4', 'LiCAF', 'LiZnS', 'Other',
] as const;
const NEUTRON_KINDS = new Set<string>(['He3', 'He4', 'BF3', 'LiGlass', 'LiFiber', 'LiZnS', 'LiCAF', 'LiI']);
const INSTRUMENT_CLASSES = [
  'Backpack', 'Dosimeter', 'Electronic Personal Emergency Radiation Detector', 'Mobile System', 'Network Area Monitor',
  'Neutron Handheld', 'Personal Radiation Detector', 'Radionuclide Identifier', 'Portal Monitor', 'Spectroscopic Portal Monitor',
  'Spectroscopic Personal Radiation Detector', 'Gamma Handheld', 'Transportable System', 'Other',
];
const XSD_DATETIME = /^-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$/;
const NCNAME = /^[A-Za-z_][A-Za-z0-9._-]*$/;
const UUID = /^[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}$/;

/** Unique xsd:ID values: names that are not NCNames (spaces, leading digits) are rewritten. */
class IdAllocator {
  private readonly used = new Set<string>();
  make(wanted: string): string {
    let base = NCNAME.test(wanted) ? wanted : `_${wanted.replace(/[^A-Za-z0-9._-]/g, '_')}`;
    if (base === '_') base = '_id';
    let id = base;
    for (let n = 2; this.used.has(id); n++) id = `${base}-${n}`;
    this.used.add(id);
    return id;
  }
}

class Xml {
  private readonly out: string[] = [];
  private depth = 0;
  raw(line: string): this {
    this.out.push(line);
    return this;
  }
  open(name: string, attrs: Record<string, string | undefined> = {}): this {
    this.out.push(`${'  '.repeat(this.depth)}<${name}${attributes(attrs)}>`);
    this.depth++;
    return this;
  }
  close(name: string): this {
    this.depth--;
    this.out.push(`${'  '.repeat(this.depth)}</${name}>`);
    return this;
  }
  leaf(name: string, value: string | undefined, attrs: Record<string, string | undefined> = {}): this {
    if (value !== undefined) this.out.push(`${'  '.repeat(this.depth)}<${name}${attributes(attrs)}>${escapeXml(value)}</${name}>`);
    return this;
  }
  toString(): string {
    return `${this.out.join('\n')}\n`;
  }
}

function attributes(attrs: Record<string, string | undefined>): string {
  return Object.entries(attrs)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => ` ${k}="${escapeXml(v)}"`)
    .join('');
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The schema's NonBlankString: at least one non-space character. */
function nonBlank(s: string | undefined, fallback: string): string {
  return s !== undefined && s.trim() !== '' ? s.trim() : fallback;
}

/**
 * Writes an N42.42-2012 document that validates against the 2012 schema. Spectra, gross counts and dose rates go
 * in their RadMeasurement; measurement positions in RadInstrumentState, per-detector positions in RadDetectorState;
 * alarms and nuclides in one AnalysisResults per measurement they refer to. Things the schema requires that the
 * data may lack get a marked placeholder the reader recognises (an uncalibrated spectrum still needs an
 * EnergyCalibration; an instrument-level dose rate still needs a detector). Data the schema cannot hold is
 * refused with a FormatError rather than written invalid: a zero real time, a missing start time, counts that
 * are NaN or negative, coordinates out of range.
 *
 * Per-spectrum real times: N42-2012 has one RealTimeDuration per RadMeasurement, so a spectrum's own real time
 * (N42-2006 keeps one per detector) is not written; it reads back as the measurement's.
 */
export function writeN42(file: RadFile & N42Extras, options: N42WriteOptions = {}): string {
  const src = file.source;
  const fail = (element: string, field: string, expected: string): never => {
    throw new FormatError({ file: src, element, field, expected: `cannot write N42-2012: ${expected}` });
  };
  const ids = new IdAllocator();
  const x = new Xml();

  // Detectors: the file's list plus any only referenced by data, in first-seen order.
  const detectorNames: string[] = [];
  const detectorInfo = new Map<string, RadFile['detectors'][number]>();
  const addDetector = (name: string): void => {
    if (!detectorInfo.has(name)) {
      detectorInfo.set(name, file.detectors.find((d) => d.id === name) ?? { id: name });
      detectorNames.push(name);
    }
  };
  for (const d of file.detectors) addDetector(d.id);
  let instrumentDose = false;
  for (const m of file.measurements) {
    for (const s of m.spectra) addDetector(s.detector);
    for (const g of m.grossCounts) addDetector(g.detector);
    for (const d of m.doseRates ?? []) {
      if (d.detector === undefined) instrumentDose = true;
      else addDetector(d.detector);
    }
  }
  for (const a of file.alarms ?? []) for (const d of a.detectors ?? []) addDetector(d);
  if (detectorNames.length === 0 && !instrumentDose) fail('RadDetectorInformation', 'detectors', 'expected at least one detector');

  const instrumentId = ids.make('rii');
  const detectorId = new Map<string, string>();
  for (const name of detectorNames) detectorId.set(name, ids.make(name));
  const doseDetectorId = instrumentDose ? ids.make('instrument-dose') : undefined;

  // Energy calibrations, one element per distinct calibration.
  const calibrationId = new Map<string, string>();
  const calibrationXml: { id: string; cal: EnergyCalibration | undefined; nChannels: number }[] = [];
  const calKey = (cal: EnergyCalibration | undefined, n: number): string => (cal === undefined ? 'none' : JSON.stringify([cal.coefficients, cal.deviationPairs ?? [], cal.coefficients.length > 3 ? n : 0]));
  for (const m of file.measurements) {
    for (const s of m.spectra) {
      const key = calKey(s.calibration, s.counts.length);
      if (!calibrationId.has(key)) {
        const id = ids.make(s.calibration === undefined ? 'ec-uncalibrated' : `ec${calibrationXml.length + 1}`);
        calibrationId.set(key, id);
        calibrationXml.push({ id, cal: s.calibration, nChannels: s.counts.length });
      }
    }
  }

  const docUuid = options.docUuid;
  if (docUuid !== undefined && !UUID.test(docUuid)) fail('RadInstrumentData', 'n42DocUUID', `expected a UUID, got ${quote(docUuid)}`);
  x.raw('<?xml version="1.0" encoding="UTF-8"?>');
  x.open('RadInstrumentData', { xmlns: N42_2012_NAMESPACE, n42DocUUID: docUuid });
  x.leaf('RadInstrumentDataCreatorName', nonBlank(options.creator, 'customs-edge'));

  const instrumentClass = options.instrumentClass ?? 'Other';
  if (!INSTRUMENT_CLASSES.includes(instrumentClass)) fail('RadInstrumentInformation', 'RadInstrumentClassCode', `expected one of ${INSTRUMENT_CLASSES.join(', ')}, got ${quote(instrumentClass)}`);
  x.open('RadInstrumentInformation', { id: instrumentId });
  x.leaf('RadInstrumentManufacturerName', nonBlank(file.instrument?.manufacturer, 'Unknown'));
  if (file.instrument?.id !== undefined && file.instrument.id.trim() !== '') x.leaf('RadInstrumentIdentifier', file.instrument.id.trim());
  x.leaf('RadInstrumentModelName', nonBlank(file.instrument?.model, 'Unknown'));
  x.leaf('RadInstrumentClassCode', instrumentClass);
  x.open('RadInstrumentVersion').leaf('RadInstrumentComponentName', 'Software').leaf('RadInstrumentComponentVersion', nonBlank(options.softwareVersion, 'customs-edge')).close('RadInstrumentVersion');
  x.close('RadInstrumentInformation');

  for (const name of detectorNames) {
    const info = detectorInfo.get(name) as RadFile['detectors'][number];
    const id = detectorId.get(name) as string;
    const kindText = info.kind?.trim();
    const kind = kindText === undefined ? 'Other' : (DETECTOR_KINDS.find((k) => k === kindText) ?? DETECTOR_KINDS.find((k) => k !== 'Other' && kindText.toLowerCase().startsWith(k.toLowerCase())) ?? 'Other');
    // A kind the schema has no code for ("HPGe 50%") keeps its words in the description.
    const description = info.description ?? (kindText !== undefined && kindText !== kind ? kindText : undefined);
    x.open('RadDetectorInformation', { id });
    if (id !== name) x.leaf('RadDetectorName', name);
    x.leaf('RadDetectorCategoryCode', NEUTRON_KINDS.has(kind) ? 'Neutron' : 'Gamma');
    x.leaf('RadDetectorKindCode', kind);
    x.leaf('RadDetectorDescription', description);
    x.close('RadDetectorInformation');
  }
  if (doseDetectorId !== undefined) {
    x.open('RadDetectorInformation', { id: doseDetectorId })
      .leaf('Remark', INSTRUMENT_DOSE_REMARK)
      .leaf('RadDetectorCategoryCode', 'Gamma')
      .leaf('RadDetectorKindCode', 'Other')
      .close('RadDetectorInformation');
  }

  for (const { id, cal, nChannels } of calibrationXml) writeCalibration(x, id, cal, nChannels, fail);

  const writePoint = (p: GeoPoint, where: string): void => {
    if (!(Number.isFinite(p.lat) && p.lat >= -90 && p.lat <= 90)) fail(where, 'lat', `expected a latitude in -90..90, got ${p.lat}`);
    if (!(Number.isFinite(p.lon) && p.lon >= -180 && p.lon <= 180)) fail(where, 'lon', `expected a longitude in -180..180, got ${p.lon}`);
    if (p.elevation_m !== undefined && !Number.isFinite(p.elevation_m)) fail(where, 'elevation_m', `expected a finite elevation, got ${p.elevation_m}`);
    x.open('StateVector').open('GeographicPoint');
    x.leaf('LatitudeValue', formatDecimal(p.lat)).leaf('LongitudeValue', formatDecimal(p.lon));
    if (p.elevation_m !== undefined) x.leaf('ElevationValue', formatDecimal(p.elevation_m));
    x.close('GeographicPoint').close('StateVector');
  };
  const duration = (v: number, where: string, field: string, positive: boolean): string => {
    if (!Number.isFinite(v) || v < 0 || (positive && v === 0)) fail(where, field, `expected a ${positive ? 'positive' : 'non-negative'} time in seconds, got ${v}`);
    return formatDuration(v);
  };

  const measurementIds = new Map<string, string>();
  for (const m of file.measurements) {
    const mid = ids.make(m.id);
    measurementIds.set(m.id, mid);
    const where = `measurement "${m.id}"`;
    if (!MEASUREMENT_CLASSES.includes(m.class)) fail(where, 'class', `expected one of ${MEASUREMENT_CLASSES.join(', ')}, got ${quote(String(m.class))}`);
    if (m.startTime === undefined) fail(where, 'startTime', 'expected a startTime (StartDateTime is required)');
    else if (!XSD_DATETIME.test(m.startTime)) fail(where, 'startTime', `expected an ISO 8601 date-time such as 2023-06-07T05:52:00Z, got ${quote(m.startTime)}`);
    x.open('RadMeasurement', { id: mid });
    x.leaf('MeasurementClassCode', m.class);
    x.leaf('StartDateTime', m.startTime);
    x.leaf('RealTimeDuration', duration(m.realTime_s, where, 'realTime_s', true));

    m.spectra.forEach((s, i) => {
      const sw = `${where} > spectrum ${i + 1} (detector "${s.detector}")`;
      const compression = chooseCompression(s.counts, options.compression ?? 'auto');
      for (let c = 0; c < s.counts.length; c++) {
        const v = s.counts[c];
        if (!(Number.isFinite(v) && v >= 0)) fail(sw, 'counts', `channel ${c}: expected a non-negative number, got ${v}`);
      }
      if (s.counts.length === 0) fail(sw, 'counts', 'expected at least one channel');
      x.open('Spectrum', {
        id: ids.make(`${mid}-sp${i + 1}`),
        radDetectorInformationReference: detectorId.get(s.detector),
        energyCalibrationReference: calibrationId.get(calKey(s.calibration, s.counts.length)),
      });
      x.leaf('LiveTimeDuration', duration(s.liveTime_s, sw, 'liveTime_s', false));
      x.leaf('ChannelData', compression === 'CountedZeroes' ? encodeCountedZeroes(s.counts) : Array.from(s.counts, formatDouble).join(' '), { compressionCode: compression });
      x.close('Spectrum');
    });
    m.grossCounts.forEach((g, i) => {
      const gw = `${where} > gross counts ${i + 1} (detector "${g.detector}")`;
      if (!(Number.isFinite(g.counts) && g.counts >= 0)) fail(gw, 'counts', `expected a non-negative number, got ${g.counts}`);
      x.open('GrossCounts', { id: ids.make(`${mid}-gc${i + 1}`), radDetectorInformationReference: detectorId.get(g.detector) });
      x.leaf('LiveTimeDuration', duration(g.liveTime_s, gw, 'liveTime_s', false));
      x.leaf('CountData', formatDouble(g.counts));
      x.close('GrossCounts');
    });
    (m.doseRates ?? []).forEach((d, i) => {
      const dw = `${where} > dose rate ${i + 1}`;
      if (!(Number.isFinite(d.doseRate_uSv_h) && d.doseRate_uSv_h >= 0)) fail(dw, 'doseRate_uSv_h', `expected a non-negative dose rate, got ${d.doseRate_uSv_h}`);
      x.open('DoseRate', { id: ids.make(`${mid}-dr${i + 1}`), radDetectorInformationReference: d.detector === undefined ? doseDetectorId : detectorId.get(d.detector) });
      x.leaf('DoseRateValue', formatDouble(d.doseRate_uSv_h), { units: 'µSv/h' });
      x.close('DoseRate');
    });
    if (m.position !== undefined) {
      x.open('RadInstrumentState', { radInstrumentInformationReference: instrumentId });
      writePoint(m.position, `${where} > position`);
      x.close('RadInstrumentState');
    }
    // One RadDetectorState per detector; a spectrum's position wins over its gross count's.
    const positions = new Map<string, GeoPoint>();
    for (const s of [...m.spectra, ...m.grossCounts]) if (s.position !== undefined && !positions.has(s.detector)) positions.set(s.detector, s.position);
    for (const [name, p] of positions) {
      x.open('RadDetectorState', { radDetectorInformationReference: detectorId.get(name) });
      writePoint(p, `${where} > detector "${name}" position`);
      x.close('RadDetectorState');
    }
    x.close('RadMeasurement');
  }

  writeAnalysis(x, file, measurementIds, detectorId, detectorNames, fail);
  x.close('RadInstrumentData');
  return x.toString();
}

function chooseCompression(counts: Float64Array, wanted: 'auto' | 'None' | 'CountedZeroes'): 'None' | 'CountedZeroes' {
  if (wanted !== 'auto') return wanted;
  return countedZeroesLength(counts) <= 0.8 * counts.length ? 'CountedZeroes' : 'None';
}

type Fail = (element: string, field: string, expected: string) => never;

function writeCalibration(x: Xml, id: string, cal: EnergyCalibration | undefined, nChannels: number, fail: Fail): void {
  const where = `energy calibration ${id}`;
  x.open('EnergyCalibration', { id });
  if (cal === undefined) {
    // The schema makes every Spectrum reference a calibration; this one is marked so the reader drops it.
    x.leaf('Remark', UNCALIBRATED_REMARK).leaf('CoefficientValues', '0 1 0');
    x.close('EnergyCalibration');
    return;
  }
  const c = [...cal.coefficients];
  if (c.length === 0 || !c.every(Number.isFinite)) fail(where, 'coefficients', `expected finite coefficients, got ${c.join(' ')}`);
  while (c.length > 3 && c[c.length - 1] === 0) c.pop();
  if (c.length <= 3) {
    while (c.length < 3) c.push(0);
    x.leaf('CoefficientValues', c.map(formatDouble).join(' '));
  } else {
    // CoefficientValues holds exactly three terms; a cubic goes out as the energies of the channel edges.
    const edges: string[] = [];
    for (let ch = 0; ch <= nChannels; ch++) edges.push(formatDouble(polynomialEnergy(c, ch)));
    x.leaf('EnergyBoundaryValues', edges.join(' '));
  }
  const pairs = cal.deviationPairs ?? [];
  if (pairs.length > 0) {
    for (let i = 0; i < pairs.length; i++) {
      if (!pairs[i].every(Number.isFinite)) fail(where, 'deviationPairs', `pair ${i + 1}: expected finite numbers, got ${pairs[i].join(', ')}`);
      if (i > 0 && !(pairs[i][0] > pairs[i - 1][0])) fail(where, 'deviationPairs', `expected strictly increasing energies, got ${pairs[i - 1][0]} then ${pairs[i][0]} keV`);
    }
    x.leaf('EnergyValues', pairs.map((p) => formatDouble(p[0])).join(' '));
    x.leaf('EnergyDeviationValues', pairs.map((p) => formatDouble(p[1])).join(' '));
  }
  x.close('EnergyCalibration');
}

function writeAnalysis(
  x: Xml,
  file: N42Extras,
  measurementIds: Map<string, string>,
  detectorId: Map<string, string>,
  detectorNames: string[],
  fail: Fail,
): void {
  // One AnalysisResults per referenced measurement (NuclideAnalysisResults may occur once in each).
  const groups = new Map<string | undefined, { alarms: N42Alarm[]; nuclides: N42Nuclide[] }>();
  const group = (mid: string | undefined): { alarms: N42Alarm[]; nuclides: N42Nuclide[] } => {
    let g = groups.get(mid);
    if (g === undefined) {
      g = { alarms: [], nuclides: [] };
      groups.set(mid, g);
    }
    return g;
  };
  for (const a of file.alarms ?? []) group(a.measurementId).alarms.push(a);
  for (const n of file.nuclides ?? []) group(n.measurementId).nuclides.push(n);

  for (const [mid, g] of groups) {
    const ref = mid === undefined ? undefined : measurementIds.get(mid);
    if (mid !== undefined && ref === undefined) fail('analysis results', 'measurementId', `"${mid}" names no measurement in the file`);
    x.open('AnalysisResults', { radMeasurementReferences: ref });
    g.alarms.forEach((a, i) => {
      const where = `alarm ${i + 1}${mid !== undefined ? ` of measurement "${mid}"` : ''}`;
      if (!ALARM_CATEGORIES.includes(a.category)) fail(where, 'category', `expected one of ${ALARM_CATEGORIES.join(', ')}, got ${quote(String(a.category))}`);
      if (a.time !== undefined && !XSD_DATETIME.test(a.time)) fail(where, 'time', `expected an ISO 8601 date-time, got ${quote(a.time)}`);
      const dets = (a.detectors ?? detectorNames).map((d) => detectorId.get(d) as string);
      if (dets.length === 0) fail(where, 'detectors', 'expected at least one detector');
      x.open('RadAlarm', { radDetectorInformationReferences: dets.join(' ') });
      x.leaf('RadAlarmDateTime', a.time).leaf('RadAlarmCategoryCode', a.category).leaf('RadAlarmDescription', a.description);
      x.close('RadAlarm');
    });
    if (g.nuclides.length > 0) {
      x.open('NuclideAnalysisResults');
      g.nuclides.forEach((n, i) => {
        const where = `nuclide ${i + 1} ("${n.name}")`;
        if (n.name.trim() === '') fail(where, 'name', 'expected a nuclide name');
        if (n.confidence_pct !== undefined && !(n.confidence_pct >= 0 && n.confidence_pct <= 100)) fail(where, 'confidence_pct', `expected 0..100, got ${n.confidence_pct}`);
        if (n.activity_Bq !== undefined && !(Number.isFinite(n.activity_Bq) && n.activity_Bq >= 0)) fail(where, 'activity_Bq', `expected a non-negative activity, got ${n.activity_Bq}`);
        x.open('Nuclide');
        x.leaf('NuclideIdentifiedIndicator', n.identified === false ? 'false' : 'true');
        x.leaf('NuclideName', n.name.trim());
        if (n.activity_Bq !== undefined) x.leaf('NuclideActivityValue', formatDouble(n.activity_Bq / 1000), { units: 'kBq' });
        // The schema wants at least one confidence element.
        if (n.confidence_pct !== undefined) x.leaf('NuclideIDConfidenceValue', formatDouble(n.confidence_pct));
        if (n.confidenceDescription !== undefined || n.confidence_pct === undefined) x.leaf('NuclideIDConfidenceDescription', n.confidenceDescription ?? 'Not reported');
        x.leaf('NuclideCategoryDescription', n.category);
        x.close('Nuclide');
      });
      x.close('NuclideAnalysisResults');
    }
    x.close('AnalysisResults');
  }
}
