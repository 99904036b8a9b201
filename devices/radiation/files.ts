// Radiation files on disk: reading any supported format (bounded, binary refused) and writing simulated drives as
// N42-2012, one file per measurement, atomically. The parsing and writing themselves are pure (analysis/radiation/formats).
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FormatError, parseRadText, writeN42, type AnyRadFile, type CsvOptions, type ParseOptions } from '../../analysis/radiation/formats/index.js';
import type { SimDetector } from '../../analysis/radiation/sim/scene.js';
import type { DetectorInfo, Measurement, RadFile } from '../../analysis/radiation/spectrum.js';

/**
 * Reads a radiation file from disk. Text is decoded as UTF-8, or Latin-1 when it is not valid UTF-8 (old SPE
 * writers); a binary file (NUL bytes) is refused with an error saying which formats are supported.
 */
export async function readRadFile(path: string, options: ParseOptions & CsvOptions = {}): Promise<AnyRadFile> {
  const bytes = await readFile(path);
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
  return parseRadText(text, path, options);
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
