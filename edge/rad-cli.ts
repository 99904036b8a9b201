// `customs-edge rad ...`: the radiation chain on recorded files (convert, dose, identify, alarm), for officers and tests.
import { writeFileSync, renameSync } from 'node:fs';
import type { Command } from 'commander';
import { readRadFile, writeN42 } from './radiation/formats/index.js';
import { energyOf, linearCalibration } from './radiation/calibration.js';
import { buildGFunction, DETECTORS, doseRateFromSpectrum_uSv_h, type GFunction } from './radiation/dose.js';
import type { EnergyCalibration, Spectrum } from './radiation/spectrum.js';
import { InputError } from '../common/errors.js';

/** The detector model named on the command line; an unknown one lists the valid names. */
function detectorModel(name: string) {
  const det = DETECTORS[name];
  if (!det) throw new InputError(`--detector: unknown detector model "${name}", expected one of ${Object.keys(DETECTORS).join(', ')}`);
  return det;
}

/** The spectrum's calibration, or the one given on the command line; a spectrum without either is an error. */
function calibrationOf(file: string, sp: Spectrum, kevPerChannel: number | undefined): EnergyCalibration {
  if (kevPerChannel !== undefined) return linearCalibration(kevPerChannel);
  if (sp.calibration) return sp.calibration;
  throw new InputError(`${file}: spectrum of detector "${sp.detector}" has no energy calibration; give --kev-per-channel`);
}

function positiveNumber(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!(n > 0) || !Number.isFinite(n)) throw new InputError(`${flag}: expected a positive number, got "${v}"`);
    return n;
  };
}

function out(json: boolean, value: unknown, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
}

export function registerRadCommands(program: Command): void {
  const rad = program
    .command('rad')
    .description('radiation tools on recorded spectra: N42.42 (2006, 2012), IAEA SPE and CSV files');

  rad
    .command('convert')
    .description('convert a spectrum file (N42 2006/2012, SPE, CSV) to ANSI N42.42-2012')
    .argument('<in>', 'input file; the format is detected from its content')
    .argument('<out>', 'output .n42 file (written atomically)')
    .option('--json', 'print a JSON summary instead of text')
    .action(async (input: string, output: string, opts: { json?: boolean }) => {
      const file = await readRadFile(input);
      const xml = writeN42(file);
      writeFileSync(`${output}.tmp`, xml);
      renameSync(`${output}.tmp`, output);
      const spectra = file.measurements.reduce((n, m) => n + m.spectra.length, 0);
      const warnings = (file.warnings ?? []).map((w) => w.message);
      const summary = { input, output, format: file.format, measurements: file.measurements.length, spectra, warnings };
      out(!!opts.json, summary, () =>
        [
          `${input} (${file.format}) -> ${output} (N42-2012): ${file.measurements.length} measurements, ${spectra} spectra`,
          ...warnings.map((w) => `warning: ${w}`),
        ].join('\n'),
      );
    });

  rad
    .command('dose')
    .description('ambient dose equivalent rate H*(10) from each spectrum (G(E) method, ICRP 74 coefficients)')
    .argument('<file>', 'spectrum file (N42 2006/2012, SPE, CSV)')
    .option('--detector <model>', `detector model the G(E) function is built for: ${Object.keys(DETECTORS).join(', ')}`, 'NaI-2x2')
    .option('--kev-per-channel <keV>', 'linear calibration to use instead of the file\'s own', positiveNumber('--kev-per-channel'))
    .option('--json', 'print JSON: { measurements: [ { index, id, time, doseRate_uSv_h, detectors: [...] } ] }')
    .action(async (file: string, opts: { detector: string; kevPerChannel?: number; json?: boolean }) => {
      const det = detectorModel(opts.detector);
      const rf = await readRadFile(file);
      const g: GFunction = buildGFunction({ detector: det });
      const measurements = rf.measurements.map((m, index) => {
        const detectors = m.spectra.map((sp) => {
          const cal = calibrationOf(file, sp, opts.kevPerChannel);
          const dose = doseRateFromSpectrum_uSv_h({ counts: sp.counts, liveTime_s: sp.liveTime_s, energyOf: (ch) => energyOf(cal, ch + 0.5), g });
          return { detector: sp.detector, doseRate_uSv_h: dose };
        });
        const mean = detectors.length ? detectors.reduce((a, d) => a + d.doseRate_uSv_h, 0) / detectors.length : 0;
        return { index, id: m.id, time: m.startTime ?? null, doseRate_uSv_h: mean, detectors };
      });
      out(!!opts.json, { detectorModel: det.name, method: 'G(E), ICRP 74 H*(10)', measurements }, () =>
        measurements
          .map((m) => `#${m.index} ${m.id}${m.time ? ` ${m.time}` : ''}: ${m.doseRate_uSv_h.toFixed(3)} µSv/h H*(10)` + (m.detectors.length > 1 ? ` (${m.detectors.map((d) => `${d.detector} ${d.doseRate_uSv_h.toFixed(3)}`).join(', ')})` : ''))
          .join('\n'),
      );
    });
}
