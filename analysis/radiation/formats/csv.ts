// Spectra as CSV text (spreadsheet exports, InterSpec/SpecUtils CSV, hand-made test data): one spectrum per file.

import type { EnergyCalibration, RadFile } from '../spectrum.js';
import { FormatError, Notes, type ParseNotes, type ParseOptions } from './errors.js';
import { countProblem, durationProblem, liveRealProblem } from './checks.js';
import { calibrationProblem, fitPolynomial, parseDuration, quote, singleSpectrumFile, MAX_CHANNELS } from './values.js';

export interface CsvOptions extends ParseOptions {
  /** Live time in seconds when the file does not say (a `# live time:` comment wins over nothing, this wins over both). */
  liveTime_s?: number;
  realTime_s?: number;
  /** Detector name; default from a `# detector:` comment, else "csv". */
  detector?: string;
}

export type CsvFile = RadFile & ParseNotes;

type Column = 'channel' | 'energy' | 'counts';

/**
 * Accepted layouts (one row per channel, channels in order, first row = channel 0):
 *
 *   counts                      one column
 *   channel,counts              two columns; without a header the first column must count 0,1,2… or 1,2,3…
 *   energy,counts               two columns; without a header, a first column that is not such a count is energy
 *   channel,energy,counts       three columns
 *
 * - Separator: comma, semicolon, tab or spaces, decided from the first data row; with `;` a decimal comma is
 *   accepted ("1,5;3").
 * - Header: an optional first row with non-numeric fields names the columns (case-insensitive, quotes and units in
 *   parentheses ignored): channel|chan|ch|bin, energy|kev|energy_kev, counts|count|cts|data|content. With a header,
 *   other columns are ignored; a counts column is required.
 * - Comments: lines starting with `#`. `# key: value` (or `key = value`) comments set metadata: live time,
 *   real time (seconds or an ISO 8601 duration), start (ISO 8601), detector.
 * - Energy column: the energy of the channel's lower edge in keV (the InterSpec/SpecUtils CSV convention); a
 *   polynomial of degree ≤ 2 is fitted to it. If it does not fit within 0.05 keV, the fit is kept and a warning
 *   says how far off it is.
 * - Times: a CSV rarely carries them; without a comment or an option they are 0, meaning unknown (the N42 writer
 *   refuses a zero real time rather than invent one).
 */
export function parseCsv(text: string, source: string, options: CsvOptions = {}): CsvFile {
  const notes = new Notes(options.strict === true);
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n|\r/);
  const meta = new Map<string, { value: string; line: number }>();

  let separator: string | undefined;
  // Role of each field, by position; fields without a role (unknown header names) are ignored.
  let roles: (Column | undefined)[] = [];
  let headerLine: number | undefined;
  let width = 0;
  const rows: { fields: number[]; line: number }[] = [];

  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const t = lines[i].trim();
    if (t === '') continue;
    if (t.startsWith('#')) {
      const m = /^#\s*([A-Za-z_ ]+?)\s*[:=]\s*(.+)$/.exec(t);
      if (m !== null) meta.set(normKey(m[1]), { value: m[2].trim(), line: lineNo });
      continue;
    }
    if (separator === undefined) separator = pickSeparator(t);
    let fields = splitFields(t, separator);
    // Spreadsheets leave trailing separators; an empty last field is not a column.
    while (fields.length > 1 && fields[fields.length - 1] === '') fields = fields.slice(0, -1);

    if (rows.length === 0 && headerLine === undefined && fields.some((f) => !isNumber(f, separator))) {
      headerLine = lineNo;
      roles = fields.map(columnRole);
      const counts = roles.filter((r) => r === 'counts').length;
      if (counts !== 1 || roles.filter((r) => r === 'channel').length > 1 || roles.filter((r) => r === 'energy').length > 1) {
        throw new FormatError({
          file: source,
          line: lineNo,
          field: 'header',
          expected: `expected a header with one counts column (counts, count, cts, data) and optionally one channel and one energy column, got ${quote(t)}`,
        });
      }
      width = fields.length;
      continue;
    }
    if (roles.length === 0) {
      width = fields.length;
      roles = defaultRoles(width, source, lineNo, t);
    }
    if (fields.length !== width) {
      throw new FormatError({
        file: source,
        line: lineNo,
        field: 'row',
        expected: `expected ${width} field(s) (${describe(roles)}) like ${headerLine !== undefined ? `the header at line ${headerLine}` : 'the rows above'}, got ${fields.length}: ${quote(t)}`,
      });
    }
    const values = new Array<number>(width).fill(Number.NaN);
    for (let c = 0; c < width; c++) {
      const role = roles[c];
      if (role === undefined) continue;
      const v = toNumber(fields[c], separator);
      // Without a header the first of two columns may turn out to be energy, which can be negative near 0 keV.
      const mayBeNegative = role === 'energy' || (headerLine === undefined && width === 2 && c === 0);
      if (!Number.isFinite(v) || (!mayBeNegative && v < 0)) {
        throw new FormatError({
          file: source,
          line: lineNo,
          element: `column ${c + 1} (${role})`,
          field: role,
          expected: `expected a ${mayBeNegative ? '' : 'non-negative '}number, got ${quote(fields[c])}`,
        });
      }
      values[c] = v;
    }
    rows.push({ fields: values, line: lineNo });
    if (rows.length > MAX_CHANNELS) throw new FormatError({ file: source, line: lineNo, field: 'row', expected: `expected at most ${MAX_CHANNELS} channels` });
  }

  if (rows.length === 0) {
    throw new FormatError({ file: source, field: 'data', element: 'data', expected: 'expected at least one row of channel counts, found none' });
  }

  const col = (role: Column): number => roles.indexOf(role);
  const countsCol = col('counts');
  const channelCol = col('channel');
  const energyCol = col('energy');

  // Without a header, two columns are channel,counts only if the first column counts up from 0 or 1.
  let energyIsFirst = false;
  if (headerLine === undefined && width === 2) {
    const start = rows[0].fields[0];
    energyIsFirst = !(start === 0 || start === 1) || rows.some((r, i) => r.fields[0] !== start + i);
  }
  const counts = new Float64Array(rows.length);
  for (let i = 0; i < rows.length; i++) counts[i] = rows[i].fields[energyIsFirst ? 1 : countsCol];
  for (let i = 0; i < rows.length; i++) {
    const problem = countProblem(counts[i]);
    const c = energyIsFirst ? 1 : countsCol;
    if (problem !== undefined) throw new FormatError({ file: source, line: rows[i].line, element: `column ${c + 1} (counts)`, field: 'counts', expected: problem });
  }

  if (channelCol >= 0 && !energyIsFirst) {
    const start = rows[0].fields[channelCol];
    if (start !== 0 && start !== 1) {
      throw new FormatError({ file: source, line: rows[0].line, element: `column ${channelCol + 1} (channel)`, field: 'channel', expected: `expected the first channel to be 0 or 1, got ${start}` });
    }
    for (let i = 0; i < rows.length; i++) {
      if (rows[i].fields[channelCol] !== start + i) {
        throw new FormatError({
          file: source,
          line: rows[i].line,
          element: `column ${channelCol + 1} (channel)`,
          field: 'channel',
          expected: `expected channel ${start + i} (channels in order, none missing), got ${rows[i].fields[channelCol]}`,
        });
      }
    }
  }

  let calibration: EnergyCalibration | undefined;
  const eCol = energyIsFirst ? 0 : energyCol;
  if (eCol >= 0) calibration = fitEnergy(rows, eCol, source, notes);

  const metaNumber = (key: string): number | undefined => {
    const m = meta.get(key);
    if (m === undefined) return undefined;
    return parseDuration(m.value.replace(/\s*s$/, ''), { file: source, line: m.line, element: `# ${key}`, field: key });
  };
  const liveTime_s = options.liveTime_s ?? metaNumber('live time') ?? 0;
  const realTime_s = options.realTime_s ?? metaNumber('real time') ?? liveTime_s;
  for (const [key, v] of [['live time', liveTime_s], ['real time', realTime_s]] as const) {
    const problem = durationProblem(v);
    const m = meta.get(key);
    if (problem !== undefined) throw new FormatError({ file: source, ...(m !== undefined ? { line: m.line } : {}), element: `# ${key}`, field: key, expected: problem });
  }
  const liveOverReal = liveRealProblem(liveTime_s, realTime_s);
  if (liveOverReal !== undefined) {
    const m = meta.get('live time');
    notes.warn(new FormatError({ file: source, ...(m !== undefined ? { line: m.line } : {}), element: '# live time', field: 'live time', expected: liveOverReal }));
  }
  const detector = options.detector ?? meta.get('detector')?.value ?? 'csv';
  const startTime = meta.get('start')?.value;

  return {
    ...singleSpectrumFile({ source, format: 'CSV', id: 'csv', detector, counts, liveTime_s, realTime_s, startTime, calibration }),
    warnings: notes.warnings,
  };
}

function normKey(k: string): string {
  const s = k.trim().toLowerCase().replace(/[_\s]+/g, ' ');
  if (s === 'livetime' || s === 'live time s' || s === 'live') return 'live time';
  if (s === 'realtime' || s === 'real time s' || s === 'real') return 'real time';
  if (s === 'start time' || s === 'starttime' || s === 'start date time') return 'start';
  return s;
}

function pickSeparator(row: string): string {
  if (row.includes(';')) return ';';
  if (row.includes(',')) return ',';
  if (row.includes('\t')) return '\t';
  return ' ';
}

function splitFields(row: string, sep: string): string[] {
  const parts = sep === ' ' ? row.split(/\s+/) : row.split(sep);
  return parts.map((p) => p.trim().replace(/^"(.*)"$/, '$1').trim());
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function toNumber(f: string, sep: string | undefined): number {
  const s = sep === ';' ? f.replace(',', '.') : f;
  return NUMBER.test(s) ? Number(s) : Number.NaN;
}

function isNumber(f: string, sep: string | undefined): boolean {
  return Number.isFinite(toNumber(f, sep));
}

function columnRole(name: string): Column | undefined {
  const n = name.toLowerCase().replace(/\(.*?\)|\[.*?\]/g, '').replace(/[^a-z]/g, '');
  if (['channel', 'chan', 'ch', 'bin', 'channelnumber'].includes(n)) return 'channel';
  if (['energy', 'kev', 'energykev', 'e'].includes(n)) return 'energy';
  if (['counts', 'count', 'cts', 'data', 'content', 'contents'].includes(n)) return 'counts';
  return undefined;
}

function defaultRoles(width: number, file: string, line: number, row: string): Column[] {
  switch (width) {
    case 1:
      return ['counts'];
    case 2:
      return ['channel', 'counts'];
    case 3:
      return ['channel', 'energy', 'counts'];
    default:
      throw new FormatError({
        file,
        line,
        field: 'row',
        expected: `expected 1 to 3 columns (counts | channel,counts | energy,counts | channel,energy,counts) or a header naming them, got ${width}: ${quote(row)}`,
      });
  }
}

function describe(roles: (Column | undefined)[]): string {
  return roles.map((r) => r ?? '-').join(',');
}

function fitEnergy(rows: { fields: number[]; line: number }[], col: number, file: string, notes: Notes): EnergyCalibration {
  const ch = new Float64Array(rows.length);
  const e = new Float64Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    ch[i] = i;
    e[i] = rows[i].fields[col];
    if (i > 0 && !(e[i] > e[i - 1])) {
      throw new FormatError({
        file,
        line: rows[i].line,
        element: `column ${col + 1} (energy)`,
        field: 'energy',
        expected: `expected energies that increase from row to row, got ${e[i - 1]} then ${e[i]} keV`,
      });
    }
  }
  const { coefficients, maxResidual } = fitPolynomial(ch, e, rows.length >= 3 ? 2 : 1);
  // Round away the fit's floating-point dust so a linear column gives a clean linear calibration.
  const cal: EnergyCalibration = { coefficients: coefficients.map((c) => Number(c.toPrecision(12))) };
  if (maxResidual > 0.05) {
    notes.warn(
      new FormatError({
        file,
        element: `column ${col + 1} (energy)`,
        field: 'energy',
        expected: `expected energies on a polynomial of degree <= 2 in channel number; the best fit is off by up to ${maxResidual.toFixed(3)} keV`,
      }),
    );
  }
  const problem = calibrationProblem(cal, rows.length);
  if (problem !== undefined) {
    throw new FormatError({ file, element: `column ${col + 1} (energy)`, field: 'energy', expected: problem });
  }
  return cal;
}
