// The error every radiation file codec throws (or collects as a warning): which file, where in it, what was expected.

import { InputError } from '../../../common/errors.js';

export interface FormatErrorOptions {
  /** The file (path or name) the problem is in. */
  file: string;
  /** 1-based line number, for line-oriented formats (SPE, CSV) and XML well-formedness errors. */
  line?: number;
  /** Element path or section, e.g. `RadMeasurement id="rm" > Spectrum id="sp" > ChannelData` or `$DATA`. */
  element?: string;
  /** The field that is wrong (an element, attribute, section or column name). */
  field: string;
  /** What was expected, and what was found: the last part of the message. */
  expected: string;
  cause?: unknown;
}

/**
 * A radiation file is not what its format says it should be. The message reads
 * `file: where: what was expected`, so a technician can open the file at the right place.
 */
export class FormatError extends InputError {
  readonly file: string;
  readonly line?: number;
  readonly element?: string;
  readonly field: string;
  readonly expected: string;

  constructor(options: FormatErrorOptions) {
    super(`${options.file}: ${where(options)}: ${options.expected}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.file = options.file;
    this.line = options.line;
    this.element = options.element;
    this.field = options.field;
    this.expected = options.expected;
  }
}

function where(o: FormatErrorOptions): string {
  const parts: string[] = [];
  if (o.line !== undefined) parts.push(`line ${o.line}`);
  if (o.element !== undefined && o.element !== '') parts.push(o.element);
  if (parts.length === 0) parts.push(o.field);
  return parts.join(', ');
}

/**
 * Problems that do not stop a file from being read (an unusable calibration, an unknown code) are collected
 * here instead of thrown; the parsers return them next to the data so a caller can show or refuse them.
 */
export interface ParseNotes {
  warnings: FormatError[];
}

/** Parser options shared by every format. */
export interface ParseOptions {
  /** Throw the first warning instead of collecting it (e.g. refuse a file whose calibration is unusable). */
  strict?: boolean;
}

/** Collects warnings, or throws them in strict mode. */
export class Notes {
  readonly warnings: FormatError[] = [];
  constructor(private readonly strict: boolean) {}
  warn(error: FormatError): void {
    if (this.strict) throw error;
    this.warnings.push(error);
  }
}
