// Radiation files on disk: reading any supported format (bounded, binary refused) and writing simulated drives as
// N42-2012, one file per measurement, atomically. The parsing and writing themselves are pure (analysis/radiation/formats).
import { randomUUID } from 'node:crypto';
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../../common/errors.js';
import { FormatError, parseRadText, writeN42, type AnyRadFile, type CsvOptions, type ParseOptions } from '../../analysis/radiation/formats/index.js';
import type { SimDetector } from '../../analysis/radiation/sim/scene.js';
import type { DetectorInfo, Measurement, RadFile } from '../../analysis/radiation/spectrum.js';
import { calibrateFromPeaks } from '../../analysis/radiation/calibrate/from-peaks.js';
import { chooseDetector } from '../../analysis/radiation/detector-choice.js';
import { DETECTORS } from '../../analysis/radiation/dose.js';

/**
 * Largest radiation file read (16 MiB). Real N42, SPE and CSV files are kB to a few MB (a long DNDO portal file of
 * many samples); a 200 MB one takes gigabytes of heap as a parsed XML tree and minutes of a blocked event loop.
 */
export const MAX_RAD_FILE_BYTES = 16 * 1024 * 1024;

/** A file is over the size limit; refused from its size alone, before any of it is read. */
export class FileTooLargeError extends InputError {
  constructor(
    readonly file: string,
    readonly size: number,
    readonly limit: number,
  ) {
    super(`${file}: ${size} bytes (${mib(size)}) is over the limit of ${limit} bytes (${mib(limit)}) for a radiation file; real ones are kB to a few MB`);
  }
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(bytes < 1024 * 1024 ? 3 : 1).replace(/\.0+$/, '')} MiB`;
}

/**
 * Reads a whole file of at most `limit` bytes: refused by its size before reading, and read into a buffer of that
 * size, so a file that grows after the check (an instrument still writing) cannot make the read unbounded either.
 */
export async function readFileBounded(path: string, limit: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    if (size > limit) throw new FileTooLargeError(path, size, limit);
    let buf = Buffer.alloc(size + 1);
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        // Grown since the stat: read on, but never past the limit.
        const bigger = Buffer.alloc(Math.min(limit + 1, 2 * buf.length));
        buf.copy(bigger, 0, 0, n);
        buf = bigger;
      }
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n > limit) throw new FileTooLargeError(path, n, limit);
    }
    return buf.subarray(0, n);
  } finally {
    await fh.close();
  }
}

export interface ReadRadFileOptions extends ParseOptions, CsvOptions {
  /** Refuse a file larger than this many bytes (default MAX_RAD_FILE_BYTES, 16 MiB). */
  maxBytes?: number;
  /**
   * Give spectra that have no usable energy calibration one found from their own peaks (calibrate/from-peaks.ts),
   * with a warning saying which peaks were taken for which lines (default false: reading alone never invents a
   * calibration; `rad identify` asks for it). Off, such spectra stay without one and the caller must supply it.
   */
  calibrateFromPeaks?: boolean;
}

/**
 * Reads a radiation file from disk. Text is decoded as UTF-8, or Latin-1 when it is not valid UTF-8 (old SPE
 * writers); a binary file (NUL bytes) is refused with an error saying which formats are supported, and a file over
 * `maxBytes` with a FileTooLargeError naming its size and the limit.
 */
export async function readRadFile(path: string, options: ReadRadFileOptions = {}): Promise<AnyRadFile> {
  const { maxBytes = MAX_RAD_FILE_BYTES, calibrateFromPeaks: fromPeaks = false, ...parseOptions } = options;
  const bytes = await readFileBounded(path, maxBytes);
  const nul = bytes.subarray(0, 4096).indexOf(0);
  if (nul >= 0) {
    throw new FormatError({
      file: path,
      element: `byte ${nul}`,
      field: 'format',
      expected: 'expected a text file (N42 XML, IAEA SPE or CSV), found binary data',
    });
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    text = new TextDecoder('latin1').decode(bytes);
  }
  const file = parseRadText(text, path, parseOptions);
  if (fromPeaks) calibrateUncalibrated(file);
  return file;
}

/**
 * Fills in a calibration from the peaks for every detector whose spectra have none: found once per detector on the
 * sum of its uncalibrated spectra (a portal file of many short samples has too few counts in each), with the
 * resolution of the detector the file names. What was done is added to `warnings`, so `rad identify` prints it and
 * nobody takes a derived calibration for the instrument's own; a spectrum nothing can be matched in stays without.
 */
function calibrateUncalibrated(file: AnyRadFile): void {
  const byDetector = new Map<string, Float64Array[]>();
  for (const m of file.measurements) {
    for (const sp of m.spectra) {
      if (sp.calibration !== undefined) continue;
      const list = byDetector.get(sp.detector) ?? [];
      list.push(sp.counts);
      byDetector.set(sp.detector, list);
    }
  }
  for (const [detector, spectra] of byDetector) {
    const n = spectra[0]!.length;
    if (spectra.some((c) => c.length !== n)) continue;
    const sum = new Float64Array(n);
    for (const c of spectra) for (let i = 0; i < n; i++) sum[i]! += c[i]!;
    const model = DETECTORS[chooseDetector(file, { detectorId: detector }).model];
    const found = calibrateFromPeaks(sum, { fwhmAt662: model?.fwhmAt662 ?? 0.08 });
    if (found === undefined) {
      file.warnings.push(new FormatError({ file: file.source, element: `detector "${detector}"`, field: 'calibration', expected: 'no usable energy calibration, and too few known lines among its peaks to find one; give --kev-per-channel' }));
      continue;
    }
    for (const m of file.measurements) for (const sp of m.spectra) if (sp.detector === detector && sp.calibration === undefined) sp.calibration = found.calibration;
    file.warnings.push(new FormatError({ file: file.source, element: `detector "${detector}"`, field: 'calibration', expected: `no usable energy calibration in the file; ${found.reason}` }));
  }
}

export interface WriteN42Options {
  /** Detector descriptions for RadDetectorInformation (kind NaI/CsI and model name). */
  detectors?: readonly SimDetector[];
  instrument?: RadFile['instrument'];
  /** File name for a measurement (default `${id}.n42`). */
  fileName?: (m: Measurement) => string;
}

function detectorInfos(detectors: readonly SimDetector[] | undefined): DetectorInfo[] {
  return (detectors ?? []).map((d) => ({ id: d.id, kind: d.model.crystal, description: `${d.model.name} (simulated)` }));
}

/**
 * Writes one measurement as an N42-2012 file atomically: to a hidden temporary name in the same folder, then
 * renamed, so a folder watcher never sees a half-written file. Returns the final path.
 */
export async function writeMeasurementN42(dir: string, m: Measurement, opts: WriteN42Options = {}): Promise<string> {
  const name = opts.fileName?.(m) ?? `${m.id}.n42`;
  const path = join(dir, name);
  const file: RadFile = {
    source: path,
    format: 'N42-2012',
    instrument: opts.instrument ?? { manufacturer: 'customs-edge', model: 'radiation simulator', id: 'sim' },
    detectors: detectorInfos(opts.detectors),
    measurements: [m],
  };
  const xml = writeN42(file, { creator: 'customs-edge simulator', instrumentClass: 'Mobile System' });
  const tmp = join(dir, `.${name}.${randomUUID()}.tmp`);
  try {
    await writeFile(tmp, xml);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  return path;
}

/** Writes every measurement as its own N42 file (see writeMeasurementN42), in order; returns the paths. */
export async function writeDriveN42(dir: string, measurements: readonly Measurement[], opts: WriteN42Options = {}): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (const m of measurements) paths.push(await writeMeasurementN42(dir, m, opts));
  return paths;
}
