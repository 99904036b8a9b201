// IAEA SPE spectrum files (Maestro, Kromek, digiBASE, becquerel): `$SECTION:` lines, each followed by its values.

import type { EnergyCalibration, RadFile } from '../spectrum.js';
import { FormatError, Notes, type ParseNotes, type ParseOptions } from './errors.js';
import { countProblem, durationProblem, liveRealProblem } from './checks.js';
import { calibrationProblem, parseDecimal, quote, singleSpectrumFile, tokens, MAX_CHANNELS } from './values.js';

export type SpeFile = RadFile & ParseNotes & {
  /** $SPEC_ID: the free-text title of the spectrum. */
  title?: string;
  /** $SPEC_REM lines as written (DET#, DETDESC#, AP#, and free remarks that often name the instrument). */
  remarks?: string[];
  /** $MCA_ID: the MCA's own identification (model, serial), when the writer gives one. */
  mcaId?: string;
};

interface Section {
  name: string;
  /** 1-based line of the `$NAME:` header. */
  line: number;
  lines: { text: string; line: number }[];
}

/**
 * Reads an IAEA SPE file. Sections used: $SPEC_ID (title), $SPEC_REM (DETDESC# names the detector),
 * $DATE_MEA (local time, kept without a zone; every form of readSpeDate, an unreadable one is a warning), $MEAS_TIM (live and real seconds),
 * $DATA (first and last channel, then the counts, any number per line), $MCA_CAL (preferred) or $ENER_FIT for the
 * energy polynomial. Other sections are skipped. A calibration that cannot be right (all zeros, energy not
 * increasing with channel) is dropped and reported in `warnings` (thrown with `strict`): the counts and times
 * are still good, and re-calibrating from the spectrum's own peaks is the fix, not refusing the file.
 */
export function parseSpe(text: string, source: string, options: ParseOptions = {}): SpeFile {
  const notes = new Notes(options.strict === true);
  const sections = splitSections(text, source);
  const byName = new Map<string, Section>();
  for (const s of sections) {
    const first = byName.get(s.name);
    if (first === undefined) byName.set(s.name, s);
    else if (ONE_ONLY.has(s.name)) {
      // Which of two spectra (or two pairs of times) is the file's? Reading either would be a guess.
      throw new FormatError({ file: source, line: s.line, element: `$${s.name}`, field: `$${s.name}`, expected: `expected one $${s.name}: section, found a second one (the first is at line ${first.line})` });
    }
  }

  const data = byName.get('DATA');
  if (data === undefined) {
    throw new FormatError({
      file: source,
      field: '$DATA',
      element: '$DATA',
      expected: `expected a $DATA: section with the channel counts; found only ${sections.map((s) => `$${s.name}:`).join(' ') || 'no sections'}`,
    });
  }
  const counts = readData(data, source, notes);

  const times = byName.get('MEAS_TIM');
  if (times === undefined) {
    throw new FormatError({ file: source, field: '$MEAS_TIM', element: '$MEAS_TIM', expected: 'expected a $MEAS_TIM: section with "live real" times in seconds' });
  }
  const [liveTime_s, realTime_s] = readTimes(times, source, notes);

  const startTime = byName.has('DATE_MEA') ? readDate(byName.get('DATE_MEA') as Section, source, notes) : undefined;
  const title = sectionText(byName.get('SPEC_ID'));
  const remarks = byName.get('SPEC_REM')?.lines.map((l) => l.text.trim()).filter((r) => r !== '') ?? [];
  const mcaId = sectionText(byName.get('MCA_ID'));
  const detDesc = remarks.find((r) => r.startsWith('DETDESC#'))?.slice('DETDESC#'.length).trim();
  const detector = detDesc !== undefined && detDesc !== '' ? detDesc : 'detector';

  const calibration = readCalibration(byName, counts.length, source, notes);

  return {
    ...singleSpectrumFile({ source, format: 'SPE', id: 'spe', detector, counts, liveTime_s, realTime_s, startTime, calibration }),
    ...(title !== undefined ? { title } : {}),
    ...(remarks.length > 0 ? { remarks } : {}),
    ...(mcaId !== undefined ? { mcaId } : {}),
    warnings: notes.warnings,
  };
}

function splitSections(text: string, source: string): Section[] {
  const lines = text.split(/\r?\n|\r/);
  const sections: Section[] = [];
  let current: Section | undefined;
  for (let i = 0; i < lines.length; i++) {
    const raw = i === 0 ? lines[i].replace(/^\uFEFF/, '') : lines[i];
    const t = raw.trim();
    if (t.startsWith('$')) {
      const colon = t.indexOf(':');
      if (colon < 0) {
        throw new FormatError({ file: source, line: i + 1, field: 'section', expected: `expected a section header such as "$DATA:", got ${quote(t)}` });
      }
      current = { name: t.slice(1, colon).trim().toUpperCase(), line: i + 1, lines: [] };
      sections.push(current);
      // A few writers put the value on the header line itself ("$MEAS_TIM: 300 300").
      const rest = t.slice(colon + 1).trim();
      if (rest !== '') current.lines.push({ text: rest, line: i + 1 });
    } else if (current === undefined) {
      if (t !== '') {
        throw new FormatError({ file: source, line: i + 1, field: 'section', expected: `expected the file to start with a "$SPEC_ID:"-style section header, got ${quote(t)}` });
      }
    } else {
      current.lines.push({ text: raw, line: i + 1 });
    }
  }
  // Trailing blank lines belong to no value.
  for (const s of sections) while (s.lines.length > 0 && s.lines[s.lines.length - 1].text.trim() === '') s.lines.pop();
  return sections;
}

/** Sections that hold the measurement itself: a second one is an error, not something to skip. */
const ONE_ONLY = new Set(['DATA', 'MEAS_TIM']);

function readData(data: Section, source: string, notes: Notes): Float64Array {
  const header = data.lines[0];
  const ctxHeader = { file: source, element: '$DATA', field: '$DATA', line: header?.line ?? data.line };
  if (header === undefined) throw new FormatError({ ...ctxHeader, expected: 'expected "first last" channel numbers after $DATA:, found nothing' });
  const range = tokens(header.text);
  if (range.length !== 2) throw new FormatError({ ...ctxHeader, expected: `expected "first last" channel numbers, got ${quote(header.text.trim())}` });
  const first = parseDecimal(range[0], ctxHeader, 'a first channel number');
  const last = parseDecimal(range[1], ctxHeader, 'a last channel number');
  if (!Number.isInteger(first) || !Number.isInteger(last) || first < 0 || last < first || last >= MAX_CHANNELS) {
    throw new FormatError({ ...ctxHeader, expected: `expected whole channel numbers 0 <= first <= last < ${MAX_CHANNELS}, got ${first} ${last}` });
  }
  const declared = last - first + 1;
  // Counts are indexed from channel 0 so the calibration (which uses absolute channel numbers) stays aligned.
  const counts = new Float64Array(last + 1);
  let k = 0;
  let nonInteger = false;
  let lastLine = header.line;
  for (let i = 1; i < data.lines.length; i++) {
    const { text, line } = data.lines[i];
    for (const tok of tokens(text)) {
      const ctx = { file: source, element: '$DATA', field: '$DATA', line };
      if (k >= declared) {
        throw new FormatError({ ...ctx, expected: `expected ${declared} channel values (channels ${first}..${last} as declared at line ${header.line}), found more` });
      }
      const v = parseDecimal(tok, ctx, `a non-negative count for channel ${first + k}`);
      if (v < 0) throw new FormatError({ ...ctx, expected: `expected a non-negative count for channel ${first + k}, got ${tok}` });
      const problem = countProblem(v);
      if (problem !== undefined) throw new FormatError({ ...ctx, expected: `channel ${first + k}: ${problem}` });
      if (!Number.isInteger(v) && !nonInteger) {
        // SPE counts are whole numbers (MCA channel contents); a fraction means a processed or mislabelled file.
        nonInteger = true;
        notes.warn(new FormatError({ ...ctx, expected: `channel ${first + k}: expected a whole number of counts (SPE), got ${tok}; read as written` }));
      }
      counts[first + k] = v;
      k++;
    }
    lastLine = line;
  }
  if (k < declared) {
    throw new FormatError({
      file: source,
      element: '$DATA',
      field: '$DATA',
      line: lastLine,
      expected: `expected ${declared} channel values (channels ${first}..${last} as declared at line ${header.line}), found only ${k}: the file is truncated or the header is wrong`,
    });
  }
  return counts;
}

function readTimes(sec: Section, source: string, notes: Notes): [number, number] {
  const l = sec.lines[0];
  const ctx = { file: source, element: '$MEAS_TIM', field: '$MEAS_TIM', line: l?.line ?? sec.line };
  const t = l === undefined ? [] : tokens(l.text);
  if (t.length < 2) throw new FormatError({ ...ctx, expected: `expected "live real" times in seconds, got ${quote(l?.text.trim() ?? '')}` });
  const live = parseDecimal(t[0], ctx, 'a live time in seconds');
  const real = parseDecimal(t[1], ctx, 'a real time in seconds');
  if (live < 0 || real < 0) throw new FormatError({ ...ctx, expected: `expected non-negative times, got live ${live} s, real ${real} s` });
  const absurd = durationProblem(live) ?? durationProblem(real);
  if (absurd !== undefined) throw new FormatError({ ...ctx, expected: `live and real time: ${absurd}` });
  const liveOverReal = liveRealProblem(live, real);
  if (liveOverReal !== undefined) notes.warn(new FormatError({ ...ctx, expected: liveOverReal }));
  return [live, real];
}

// The forms IAEA SPE writers put in $DATE_MEA (and $DATE_MEA-like sections): Maestro and most others write
// "mm/dd/yyyy hh:mm:ss"; some add fractional seconds ("13:41:07.0"), Windows-locale writers a 12-hour clock
// ("3:12:28 PM"), old Maestro versions a two-digit year ("03/26/98"), scripted writers ISO "yyyy-mm-dd hh:mm:ss"
// or "yyyy-mm-ddThh:mm:ss". The US order (month first) is the format's own; a first field over 12 is not read
// as a day, because a file of mixed dates would then be read one way or the other by chance.
const US_DATE = /^(\d{1,2})\/(\d{1,2})\/(\d{4}|\d{2})$/;
const ISO_DATE = /^(\d{4})-(\d{1,2})-(\d{1,2})$/;
const TIME = /^(\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?$/;
const AM_PM = /^(am|pm|a\.m\.|p\.m\.)$/i;

/** Every date form readSpeDate accepts, for the message when none matches. */
export const SPE_DATE_FORMS = 'mm/dd/yyyy hh:mm:ss[.fff] (24-hour), mm/dd/yyyy h:mm:ss AM|PM, mm/dd/yy hh:mm:ss, yyyy-mm-dd[T| ]hh:mm:ss[.fff]';

/**
 * A $DATE_MEA value as an ISO 8601 local time ("2018-03-26T15:12:28", fractional seconds kept as written), or
 * why it cannot be read. Two-digit years are 1970-2069 (SPE came about in the 1990s; no real file is older).
 */
export function readSpeDate(text: string): { iso: string } | { problem: string } {
  const t = text.trim().replace(/\s+/g, ' ');
  // ISO with a "T" (and, from some scripts, a zone suffix that SPE itself has no place for).
  const parts = t.replace(/^(\d{4}-\d{1,2}-\d{1,2})T/, '$1 ').replace(/(Z|[+-]\d{2}:?\d{2})$/, (z) => ` ${z}`).split(' ');
  const [datePart, timePart, ...rest] = parts;
  let y: number;
  let mo: number;
  let d: number;
  const us = US_DATE.exec(datePart ?? '');
  const iso = ISO_DATE.exec(datePart ?? '');
  if (us !== null) {
    [mo, d, y] = [Number(us[1]), Number(us[2]), Number(us[3])];
    if (us[3].length === 2) y += y >= 70 ? 1900 : 2000;
  } else if (iso !== null) {
    [y, mo, d] = [Number(iso[1]), Number(iso[2]), Number(iso[3])];
  } else {
    return { problem: `the date part ${quote(datePart ?? '')} is none of the forms` };
  }
  const time = TIME.exec(timePart ?? '');
  if (time === null) return { problem: timePart === undefined ? 'there is a date but no time' : `the time part ${quote(timePart)} is none of the forms` };
  let h = Number(time[1]);
  const mi = Number(time[2]);
  const s = time[3] === undefined ? 0 : Number(time[3]);
  let zone = '';
  for (const r of rest) {
    if (AM_PM.test(r)) {
      if (h < 1 || h > 12) return { problem: `hour ${h} with ${r}: a 12-hour clock runs from 1 to 12` };
      const pm = r.toLowerCase().startsWith('p');
      h = (h % 12) + (pm ? 12 : 0);
    } else if (/^(Z|[+-]\d{2}:?\d{2})$/.test(r) && iso !== null) {
      zone = r === 'Z' ? 'Z' : `${r.slice(0, 3)}:${r.slice(-2)}`;
    } else {
      return { problem: `unexpected ${quote(r)} after the time` };
    }
  }
  const days = new Date(Date.UTC(y, mo, 0)).getUTCDate(); // days in month `mo` of year `y`
  if (mo < 1 || mo > 12) return { problem: `month ${mo} is not 1-12 (SPE dates are month first)` };
  if (d < 1 || d > days) return { problem: `day ${d} does not exist in ${y}-${String(mo).padStart(2, '0')}` };
  if (h > 23 || mi > 59 || s > 60) return { problem: `time ${timePart} is not a time of day` };
  const p2 = (v: number): string => String(v).padStart(2, '0');
  return { iso: `${y}-${p2(mo)}-${p2(d)}T${p2(h)}:${p2(mi)}:${p2(s)}${time[4] ?? ''}${zone}` };
}

/**
 * The measurement start. A date no form matches is a warning, not a refusal (thrown with `strict`): the counts,
 * times and calibration are still good, and the start time only places the spectrum in time.
 */
function readDate(sec: Section, source: string, notes: Notes): string | undefined {
  const l = sec.lines.find((x) => x.text.trim() !== '');
  if (l === undefined) return undefined;
  const r = readSpeDate(l.text);
  if ('iso' in r) return r.iso;
  notes.warn(
    new FormatError({
      file: source,
      line: l.line,
      element: `$${sec.name}`,
      field: `$${sec.name}`,
      expected: `expected a date as ${SPE_DATE_FORMS}, got ${quote(l.text.trim())} (${r.problem}); start time left out`,
    }),
  );
  return undefined;
}

function sectionText(sec: Section | undefined): string | undefined {
  const t = sec?.lines.map((l) => l.text.trim()).filter((x) => x !== '');
  return t === undefined || t.length === 0 ? undefined : t.join('\n');
}

function readCalibration(byName: Map<string, Section>, nChannels: number, source: string, notes: Notes): EnergyCalibration | undefined {
  let coefficients: number[] | undefined;
  let sec: Section | undefined = byName.get('MCA_CAL');
  if (sec !== undefined && sec.lines.length >= 2) {
    const ctx = { file: source, element: '$MCA_CAL', field: '$MCA_CAL', line: sec.lines[0].line };
    const n = parseDecimal(tokens(sec.lines[0].text)[0] ?? '', ctx, 'the number of calibration coefficients');
    const ctx2 = { ...ctx, line: sec.lines[1].line };
    // The coefficient line may end with the unit ("keV").
    const toks = tokens(sec.lines[1].text).filter((t) => !/^[a-zA-Z]+$/.test(t));
    if (!Number.isInteger(n) || n < 1 || toks.length < n) {
      throw new FormatError({ ...ctx2, expected: `expected ${n} calibration coefficients after the count line, got ${quote(sec.lines[1].text.trim())}` });
    }
    coefficients = toks.slice(0, n).map((t) => parseDecimal(t, ctx2, 'a calibration coefficient'));
  } else {
    sec = byName.get('ENER_FIT');
    if (sec !== undefined && sec.lines.length >= 1) {
      const ctx = { file: source, element: '$ENER_FIT', field: '$ENER_FIT', line: sec.lines[0].line };
      coefficients = tokens(sec.lines[0].text).map((t) => parseDecimal(t, ctx, 'a calibration coefficient'));
    }
  }
  if (coefficients === undefined || sec === undefined) return undefined;
  while (coefficients.length > 3 && coefficients[coefficients.length - 1] === 0) coefficients.pop();
  const cal: EnergyCalibration = { coefficients };
  const problem = calibrationProblem(cal, nChannels);
  if (problem !== undefined) {
    notes.warn(
      new FormatError({
        file: source,
        line: sec.line,
        element: `$${sec.name}`,
        field: `$${sec.name}`,
        expected: `invalid energy calibration, ignored (spectrum left uncalibrated): ${problem}`,
      }),
    );
    return undefined;
  }
  return cal;
}
