// What the analysis commands read and write: a spectrum picked out of a file, and the result file `sign` combines.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InputError } from '../../common/errors.js';
import { readRadFile } from '../../devices/radiation/files.js';
import type { EnergyCalibration, Spectrum } from '../../analysis/radiation/spectrum.js';
import { sha256, type CalibrationResults } from '../../protocol/calibration-record.js';
import { readJson } from './common.js';

/** What an analysis writes with --out and prints with --json; `sign` merges the `results` of several of them. */
export interface AnalysisFile {
  kind: 'energy' | 'resolution' | 'efficiency' | 'dose-factor' | 'background' | 'xray-flat-field' | 'xray-palette';
  detector: string;
  inputs: { file: string; sha256: string }[];
  results: Partial<CalibrationResults>;
  uncertainties: Record<string, unknown>;
  [k: string]: unknown;
}

export interface LoadedSpectrum {
  file: string;
  sha256: string;
  detector: string;
  counts: Float64Array;
  liveTime_s: number;
  realTime_s: number;
  calibration?: EnergyCalibration;
  startTime?: string;
}

/** The options spectrumOptions adds. */
export interface SpectrumCli {
  detector?: string;
  fileDetector?: string;
  measurement?: number;
}

export function spectrumOptions(c: Command): Command {
  return c
    .option('--detector <id>', 'detector id on the node (default: the detector name in the file)')
    .option('--file-detector <name>', 'which detector of a multi-detector file to use')
    .option('--measurement <i>', 'use only measurement i of the file (default: all non-background ones summed)', (v) => Number(v));
}

/**
 * One spectrum from a file: the named detector's spectra (or the file's only detector), summed over the non-background
 * measurements (or the one chosen with --measurement).
 */
export async function loadSpectrum(file: string, o: { fileDetector?: string; measurement?: number; backgroundClass?: boolean } = {}): Promise<LoadedSpectrum> {
  const rf = await readRadFile(file);
  let ms = rf.measurements;
  if (o.measurement !== undefined) {
    const m = ms[o.measurement];
    if (!m) throw new InputError(`${file}: --measurement ${o.measurement}: the file has measurements 0-${ms.length - 1}`);
    ms = [m];
  } else {
    const wanted = ms.filter((m) => (o.backgroundClass ? m.class === 'Background' : m.class !== 'Background'));
    if (wanted.length) ms = wanted;
  }
  const spectra = ms.flatMap((m) => m.spectra.map((s) => ({ s, start: m.startTime })));
  const dets = [...new Set(spectra.map((x) => x.s.detector))];
  if (dets.length === 0) throw new InputError(`${file}: no spectrum in the file`);
  let det = o.fileDetector;
  if (det === undefined) {
    if (dets.length > 1) throw new InputError(`${file}: ${dets.length} detectors in the file (${dets.join(', ')}); name one with --file-detector`);
    det = dets[0]!;
  } else if (!dets.includes(det)) throw new InputError(`${file}: --file-detector "${det}" is not in the file, expected one of ${dets.join(', ')}`);
  const mine = spectra.filter((x) => x.s.detector === det);
  const n = mine[0]!.s.counts.length;
  const counts = new Float64Array(n);
  let live = 0;
  let real = 0;
  for (const { s } of mine) {
    if (s.counts.length !== n) throw new InputError(`${file}: spectra of detector ${det} have ${n} and ${s.counts.length} channels; expected one channel count`);
    for (let i = 0; i < n; i++) counts[i] += s.counts[i]!;
    live += s.liveTime_s;
    real += s.realTime_s;
  }
  const first: Spectrum = mine[0]!.s;
  return {
    file,
    sha256: sha256(readFileSync(file)),
    detector: det,
    counts,
    liveTime_s: live,
    realTime_s: real,
    ...(first.calibration ? { calibration: first.calibration } : {}),
    ...(mine[0]!.start ? { startTime: mine[0]!.start } : {}),
  };
}

/** The spectrum an analysis command was given, picked with its --file-detector and --measurement. */
export function spectrumOf(file: string, o: SpectrumCli): Promise<LoadedSpectrum> {
  return loadSpectrum(file, { ...(o.fileDetector ? { fileDetector: o.fileDetector } : {}), ...(o.measurement !== undefined ? { measurement: o.measurement } : {}) });
}

export function readAnalysis(file: string): AnalysisFile {
  const v = readJson(file, 'an analysis result') as Partial<AnalysisFile> | null;
  if (!v || typeof v !== 'object' || typeof v.kind !== 'string' || typeof v.detector !== 'string' || typeof v.results !== 'object') {
    throw new InputError(`${file}: expected an analysis result written by customs-calib --out ({ kind, detector, inputs, results, ... })`);
  }
  return v as AnalysisFile;
}

/** The energy calibration for an analysis: a result file (same detector), else the spectrum's own. */
export function calibrationFor(file: string, sp: LoadedSpectrum, detector: string, calFile: string | undefined): EnergyCalibration {
  if (calFile) {
    const a = readAnalysis(calFile);
    if (a.detector !== detector) throw new InputError(`${calFile}: energy calibration of detector "${a.detector}", but ${file} is "${detector}"`);
    if (!a.results.energy) throw new InputError(`${calFile}: has no results.energy (expected the output of \`energy --out\`)`);
    return a.results.energy;
  }
  if (!sp.calibration) throw new InputError(`${file}: the spectrum has no energy calibration; give --calibration <energy result>`);
  return sp.calibration;
}
