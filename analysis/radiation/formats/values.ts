// Value codecs the radiation file formats share: number lists, CountedZeroes, ISO 8601 durations, calibration checks.

import type { EnergyCalibration } from '../spectrum.js';
import { countProblem } from './checks.js';
import { FormatError } from './errors.js';

/** Where a value came from, for the error message. */
export interface ValueContext {
  file: string;
  element?: string;
  line?: number;
  field: string;
}

// One compiled pattern, reused for every token: Number() alone would accept "0x1F", "Infinity" and "".
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Largest spectrum a file may expand to; a corrupt CountedZeroes run must not allocate gigabytes. */
export const MAX_CHANNELS = 1 << 20;

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 11;
}

/** Splits on ASCII whitespace without building a regex or an intermediate array of empty strings. */
export function tokens(text: string): string[] {
  const out: string[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    while (i < n && isSpace(text.charCodeAt(i))) i++;
    if (i >= n) break;
    const start = i;
    while (i < n && !isSpace(text.charCodeAt(i))) i++;
    out.push(text.slice(start, i));
  }
  return out;
}

/** Parses one decimal number (no hex, no Infinity, no NaN). */
export function parseDecimal(token: string, ctx: ValueContext, what = 'a number'): number {
  const v = DECIMAL.test(token) ? Number(token) : Number.NaN;
  if (!Number.isFinite(v)) throw new FormatError({ ...ctx, expected: `expected ${what}, got ${quote(token)}` });
  return v;
}

/** A whitespace-separated list of finite numbers; `nonNegative` for counts. Token positions in errors count from 1. */
export function parseNumberList(text: string, ctx: ValueContext, options: { nonNegative?: boolean } = {}): number[] {
  const toks = tokens(text);
  const out = new Array<number>(toks.length);
  for (let i = 0; i < toks.length; i++) {
    const tok = toks[i];
    const v = DECIMAL.test(tok) ? Number(tok) : Number.NaN;
    if (!Number.isFinite(v) || (options.nonNegative === true && v < 0)) {
      throw new FormatError({
        ...ctx,
        expected: `token ${i + 1}: expected a ${options.nonNegative === true ? 'non-negative ' : ''}number, got ${quote(tok)}`,
      });
    }
    out[i] = v;
  }
  return out;
}

/**
 * Channel counts, optionally CountedZeroes-compressed (a 0 is followed by how many zero channels it stands for).
 * Token positions in errors count from 1 and refer to the text as written, so they can be found in the file.
 */
export function parseChannelData(text: string, ctx: ValueContext, countedZeroes: boolean): Float64Array {
  const values = parseNumberList(text, ctx, { nonNegative: true });
  for (let i = 0; i < values.length; i++) {
    // 1e308 counts parse as a number and make every rate and fit nonsense downstream.
    const problem = countProblem(values[i]);
    if (problem !== undefined) throw new FormatError({ ...ctx, expected: `token ${i + 1}: ${problem}` });
    if (countedZeroes && values[i] === 0) i++; // the run length after a 0 is no count
  }
  if (!countedZeroes) {
    if (values.length > MAX_CHANNELS) throw tooMany(ctx, values.length);
    return Float64Array.from(values);
  }
  let total = 0;
  for (let i = 0; i < values.length; i++) {
    if (values[i] === 0) {
      const run = values[i + 1];
      if (run === undefined) {
        throw new FormatError({ ...ctx, expected: `token ${i + 1}: CountedZeroes: expected the number of zero channels after the final 0, found the end of the data` });
      }
      if (!Number.isInteger(run) || run < 1) {
        throw new FormatError({ ...ctx, expected: `token ${i + 2}: CountedZeroes: expected a whole number of zero channels (>= 1) after 0, got ${run}` });
      }
      total += run;
      i++;
    } else {
      total++;
    }
    if (total > MAX_CHANNELS) throw tooMany(ctx, total);
  }
  const out = new Float64Array(total);
  let k = 0;
  for (let i = 0; i < values.length; i++) {
    if (values[i] === 0) {
      k += values[i + 1];
      i++;
    } else {
      out[k++] = values[i];
    }
  }
  return out;
}

function tooMany(ctx: ValueContext, n: number): FormatError {
  return new FormatError({ ...ctx, expected: `expected at most ${MAX_CHANNELS} channels, the data expands to ${n}` });
}

/** CountedZeroes encoding; only exact zeros are compressed. */
export function encodeCountedZeroes(counts: ArrayLike<number>): string {
  const parts: string[] = [];
  for (let i = 0; i < counts.length; ) {
    if (counts[i] === 0) {
      let j = i;
      while (j < counts.length && counts[j] === 0) j++;
      parts.push('0', String(j - i));
      i = j;
    } else {
      parts.push(formatDouble(counts[i]));
      i++;
    }
  }
  return parts.join(' ');
}

/** How many tokens CountedZeroes would write, to decide whether compressing is worth it. */
export function countedZeroesLength(counts: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < counts.length; i++) {
    if (counts[i] === 0) {
      while (i + 1 < counts.length && counts[i + 1] === 0) i++;
      n += 2;
    } else {
      n++;
    }
  }
  return n;
}

const DURATION =
  /^(-)?P(?:(\d+(?:\.\d*)?)Y)?(?:(\d+(?:\.\d*)?)M)?(?:(\d+(?:\.\d*)?)D)?(?:T(?:(\d+(?:\.\d*)?)H)?(?:(\d+(?:\.\d*)?)M)?(?:(\d+(?:\.\d*)?|\.\d+)S)?)?$/;

/**
 * An ISO 8601 / xsd:duration such as PT613S, PT1.5S or PT1H2M3S, in seconds. A bare number is taken as seconds
 * (some N42-2006 writers do that). Years and months have no fixed length, so they are refused.
 */
export function parseDuration(text: string, ctx: ValueContext): number {
  const s = text.trim();
  if (DECIMAL.test(s)) {
    const v = Number(s);
    if (v >= 0) return v;
  }
  const m = DURATION.exec(s);
  if (m === null || s === 'P' || s.endsWith('T')) {
    throw new FormatError({ ...ctx, expected: `expected an ISO 8601 duration such as PT613S or PT1.5S, got ${quote(s)}` });
  }
  if (m[1] !== undefined) throw new FormatError({ ...ctx, expected: `expected a non-negative duration, got ${quote(s)}` });
  if (m[2] !== undefined || m[3] !== undefined) {
    throw new FormatError({ ...ctx, expected: `expected a duration in days, hours, minutes or seconds (years and months have no fixed length), got ${quote(s)}` });
  }
  const num = (g: string | undefined): number => (g === undefined ? 0 : Number(g));
  return num(m[4]) * 86400 + num(m[5]) * 3600 + num(m[6]) * 60 + num(m[7]);
}

/** xsd:duration in seconds, written without an exponent (xsd:duration has none). */
export function formatDuration(seconds: number): string {
  return `PT${formatDecimal(seconds)}S`;
}

/** Shortest text that reads back as the same double; valid xsd:double (exponent allowed). */
export function formatDouble(v: number): string {
  return String(v);
}

/**
 * Text without an exponent, for xsd:decimal (lat/lon, elevation) and durations. Values that print without an
 * exponent keep their shortest round-trip form; tiny ones are written to 18 decimals, because libxml2 rejects
 * xsd:decimal values with more than about 24 digits (a few 1e-18 of a degree or second are nothing).
 */
export function formatDecimal(v: number): string {
  const s = String(v);
  if (!/e/i.test(s)) return s;
  if (Math.abs(v) < 1) {
    const fixed = v.toFixed(18).replace(/0+$/, '').replace(/\.$/, '');
    return fixed === '-0' ? '0' : fixed;
  }
  // |v| >= 1e21: move the point of the shortest form by hand (toFixed would print an exponent again).
  const [mantissa, exp] = s.split(/e/i);
  const negative = mantissa.startsWith('-');
  const [int, frac = ''] = (negative ? mantissa.slice(1) : mantissa).split('.');
  const digits = int + frac;
  return `${negative ? '-' : ''}${digits}${'0'.repeat(Math.max(0, int.length + Number(exp) - digits.length))}`;
}

export function quote(s: string): string {
  const shown = s.length > 40 ? `${s.slice(0, 40)}…` : s;
  return JSON.stringify(shown);
}

/** Energy (keV) of the lower edge of channel `ch` from the polynomial alone (deviation pairs not applied). */
export function polynomialEnergy(coefficients: readonly number[], ch: number): number {
  let e = 0;
  for (let k = coefficients.length - 1; k >= 0; k--) e = e * ch + coefficients[k];
  return e;
}

/**
 * Why an energy calibration cannot be used for `nChannels` channels, or undefined when it can. A calibration must
 * give energies that increase from channel to channel: all-zero coefficients (what MCAs write when never
 * calibrated) or a negative gain would put peaks at nonsense energies without anyone noticing.
 */
export function calibrationProblem(cal: EnergyCalibration, nChannels: number): string | undefined {
  const c = cal.coefficients;
  if (c.length < 2) return `expected at least an offset and a gain, got ${c.length} coefficient(s)`;
  if (!c.every(Number.isFinite)) return `expected finite coefficients, got ${c.join(' ')}`;
  if (c.every((v) => v === 0)) return `all coefficients are 0 (${c.join(' ')}), so every channel would be at 0 keV: the device was not calibrated`;
  let prev = polynomialEnergy(c, 0);
  for (let ch = 1; ch <= Math.max(1, nChannels); ch++) {
    const e = polynomialEnergy(c, ch);
    if (!(e > prev)) {
      return `expected energies that increase with channel number, but E(${ch - 1}) = ${round(prev)} keV and E(${ch}) = ${round(e)} keV (coefficients ${c.join(' ')})`;
    }
    prev = e;
  }
  const pairs = cal.deviationPairs ?? [];
  for (let i = 0; i < pairs.length; i++) {
    const [e, d] = pairs[i];
    if (!Number.isFinite(e) || !Number.isFinite(d)) return `deviation pair ${i + 1}: expected finite numbers, got ${e}, ${d}`;
    if (i > 0 && !(e > pairs[i - 1][0])) return `deviation pairs: expected strictly increasing energies, got ${pairs[i - 1][0]} then ${e} keV`;
  }
  return undefined;
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}

/**
 * Least-squares polynomial fit y ≈ Σ c_k x^k (normal equations on scaled x, fine for degree ≤ 3 and the few
 * thousand points of a spectrum). Returns the coefficients and the largest absolute residual.
 */
export function fitPolynomial(x: ArrayLike<number>, y: ArrayLike<number>, degree: number): { coefficients: number[]; maxResidual: number } {
  const n = x.length;
  const d = Math.min(degree, n - 1);
  let scale = 0;
  for (let i = 0; i < n; i++) scale = Math.max(scale, Math.abs(x[i]));
  if (scale === 0) scale = 1;
  const m = d + 1;
  const a: number[][] = Array.from({ length: m }, () => new Array<number>(m + 1).fill(0));
  for (let i = 0; i < n; i++) {
    const xs = x[i] / scale;
    const pw = new Array<number>(2 * m).fill(1);
    for (let k = 1; k < 2 * m; k++) pw[k] = pw[k - 1] * xs;
    for (let r = 0; r < m; r++) {
      for (let c = 0; c < m; c++) a[r][c] += pw[r + c];
      a[r][m] += pw[r] * y[i];
    }
  }
  // Gaussian elimination with partial pivoting.
  for (let col = 0; col < m; col++) {
    let piv = col;
    for (let r = col + 1; r < m; r++) if (Math.abs(a[r][col]) > Math.abs(a[piv][col])) piv = r;
    [a[col], a[piv]] = [a[piv], a[col]];
    const p = a[col][col];
    if (p === 0) continue;
    for (let r = 0; r < m; r++) {
      if (r === col) continue;
      const f = a[r][col] / p;
      for (let c = col; c <= m; c++) a[r][c] -= f * a[col][c];
    }
  }
  const scaled = a.map((row, k) => (row[k] === 0 ? 0 : row[m] / row[k]));
  // A term worth less than a nano-keV over the whole range is round-off, not a real curvature: drop it so a
  // linear column gives exactly a linear calibration.
  let yMax = 0;
  for (let i = 0; i < n; i++) yMax = Math.max(yMax, Math.abs(y[i]));
  const coefficients = scaled.map((c, k) => (Math.abs(c) <= 1e-12 * Math.max(1, yMax) ? 0 : c / scale ** k));
  let maxResidual = 0;
  for (let i = 0; i < n; i++) maxResidual = Math.max(maxResidual, Math.abs(polynomialEnergy(coefficients, x[i]) - y[i]));
  return { coefficients, maxResidual };
}

/** The RadFile of a format that holds one spectrum (SPE, CSV): one detector, one unclassified measurement. */
export function singleSpectrumFile<F extends 'SPE' | 'CSV'>(o: {
  source: string;
  format: F;
  id: string;
  detector: string;
  counts: Float64Array;
  liveTime_s: number;
  realTime_s: number;
  startTime?: string;
  calibration?: EnergyCalibration;
}) {
  const { source, format, id, detector, counts, liveTime_s, realTime_s, startTime, calibration } = o;
  return {
    source,
    format,
    detectors: [{ id: detector }],
    measurements: [
      {
        id,
        ...(startTime !== undefined ? { startTime } : {}),
        realTime_s,
        class: 'NotSpecified' as const,
        spectra: [{ detector, counts, liveTime_s, realTime_s, ...(calibration !== undefined ? { calibration } : {}) }],
        grossCounts: [],
      },
    ],
  };
}
