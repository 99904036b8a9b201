// Reads any supported radiation file (N42-2006/2012, IAEA SPE, CSV, RadiaCode XML), picking the codec from the content itself.

import type { RadFile } from '../spectrum.js';
import { parseCsv, type CsvFile, type CsvOptions } from './csv.js';
import { FormatError, type ParseNotes, type ParseOptions } from './errors.js';
import { parseN42, type N42File } from './n42.js';
import { parseSpe, type SpeFile } from './spe.js';
import { parseRadiaCode, type RadiaCodeFile } from './radiacode.js';

export { FormatError, type FormatErrorOptions, type ParseNotes, type ParseOptions } from './errors.js';
export { parseN42, writeN42, N42_2012_NAMESPACE, type N42File, type N42Extras, type N42Alarm, type N42Nuclide, type N42WriteOptions, type AlarmCategory } from './n42.js';
export { parseSpe, type SpeFile } from './spe.js';
export { parseCsv, type CsvFile, type CsvOptions } from './csv.js';
export { parseRadiaCode, type RadiaCodeFile } from './radiacode.js';
export { MIN_CHANNELS, MAX_CHANNEL_COUNT, MAX_DURATION_S, measurementProblem } from './checks.js';

export type RadFormat = RadFile['format'];
export type AnyRadFile = (N42File | SpeFile | CsvFile | RadiaCodeFile) & ParseNotes;

/**
 * Which format a text is, from its content: the XML root element for N42 (the edition matters more than the
 * extension, and `.xml`, `.n42` and `.N42` all occur), a `$SECTION:` header for SPE, rows of numbers (or a header
 * and then numbers) for CSV. The file name is only used to word the error when nothing matches.
 */
export function detectFormat(text: string, source = 'input'): RadFormat {
  const head = text.replace(/^\uFEFF/, '').slice(0, 64 * 1024);
  const trimmed = head.trimStart();
  if (trimmed.startsWith('<')) {
    // The first element that is not a declaration, processing instruction or comment.
    const root = /<(?![?!])(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)/.exec(head.replace(/<!--[\s\S]*?-->/g, ''));
    if (root?.[1] === 'RadInstrumentData') return 'N42-2012';
    if (root?.[1] === 'N42InstrumentData') return 'N42-2006';
    // RadiaCode's own export (the app's "XML" share), not N42.
    if (root?.[1] === 'ResultDataFile') return 'RadiaCode-XML';
    throw new FormatError({
      file: source,
      element: root !== null ? `<${root[1]}>` : 'document',
      field: 'root',
      expected: `expected an N42 file with root <RadInstrumentData> (2012) or <N42InstrumentData> (2006), or a RadiaCode export <ResultDataFile>, got ${root !== null ? `<${root[1]}>` : 'XML without an element'}`,
    });
  }
  if (/^\$[A-Z_]+:/.test(trimmed)) return 'SPE';
  const firstLines = trimmed.split(/\r?\n/, 20).filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  const numericRow = /^\s*"?[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"?(?:\s*[,;\t ]\s*"?[+-]?(?:\d+[.,]?\d*|\.\d+)(?:[eE][+-]?\d+)?"?)*\s*[,;]?\s*$/;
  if (firstLines.some((l) => numericRow.test(l))) return 'CSV';
  throw new FormatError({
    file: source,
    line: 1,
    field: 'format',
    expected: 'expected an N42 XML document, an IAEA SPE file ($SPEC_ID: …) or CSV rows of channel counts; the content is none of these',
  });
}

/** Parses text of any supported format (detected from the content). */
export function parseRadText(text: string, source: string, options: ParseOptions & CsvOptions = {}): AnyRadFile {
  const format = detectFormat(text, source);
  switch (format) {
    case 'N42-2006':
    case 'N42-2012':
      return parseN42(text, source, options);
    case 'SPE':
      return parseSpe(text, source, options);
    case 'CSV':
      return parseCsv(text, source, options);
    case 'RadiaCode-XML':
      return parseRadiaCode(text, source, options);
    default: {
      const never: never = format;
      throw new Error(`unhandled format ${String(never)}`);
    }
  }
}
