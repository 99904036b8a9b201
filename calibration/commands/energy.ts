// customs-calib energy: energy calibration from check-source peaks, with an optional plot of the fit.
import { basename } from 'node:path';
import { Option, type Command } from 'commander';
import { energyOf } from '../../analysis/radiation/calibration.js';
import { calibrateEnergy, energyCalibrationOf, type EnergyResult } from '../../analysis/radiation/calibrate/energy.js';
import { writeCalibrationPng } from '../plot.js';
import { collect, examples, f2, withFile, writeAtomic, type CliContext } from './common.js';
import { spectrumOf, spectrumOptions, type AnalysisFile, type LoadedSpectrum, type SpectrumCli } from './spectrum.js';

interface EnergyCli extends SpectrumCli {
  source: string[];
  degree?: string;
  deviationPairs?: boolean;
  natural?: boolean;
  singleLine?: boolean;
  plot?: string;
  out?: string;
  json?: boolean;
}

type EnergyFile = AnalysisFile & EnergyResult & { fileCalibration?: { energy_keV: number; fileSays_keV: number }[] };

export function registerEnergy(program: Command, ctx: CliContext): void {
  spectrumOptions(
    program
      .command('energy')
      .description('energy calibration from check-source peaks, found without trusting the file\'s own calibration')
      .argument('<spectrum>', 'spectrum file (N42 2006/2012, SPE, CSV)')
      .requiredOption('--source <nuclide>', 'check source in the spectrum (repeat for several): e.g. Am241, Cs137, Co60, Ba133, Eu152', collect)
      .addOption(new Option('--degree <n>', 'polynomial degree (default: 2 with three lines or more)').choices(['1', '2']))
      .option('--deviation-pairs', 'add deviation pairs so the calibration passes through every line (nonlinear scintillators)')
      .option('--natural', 'also use the K-40 1461 keV and Tl-208 2615 keV background lines when they show')
      .option('--single-line', 'accept one line, through the origin (offset 0)')
      .option('--plot <png>', 'draw the spectrum, the fit and its residuals')
      .option('--out <json>', 'write the result for `sign`')
      .option('--json', 'print JSON: { coefficients: [c0, c1, c2], deviationPairs?, peaks: [...], ... } with E = c0 + c1·ch + c2·ch²'),
  )
    .addHelpText(
      'after',
      examples(
        'energy check.n42 --source Am241 --source Cs137 --source Co60 --detector det-a --natural --plot fit.png --out energy.json',
        'energy cs137.spe --source Cs137 --single-line --json',
      ),
    )
    .action((file: string, o: EnergyCli) => energy(file, o, ctx));
}

async function energy(file: string, o: EnergyCli, ctx: CliContext): Promise<void> {
  const sp = await spectrumOf(file, o);
  const r = withFile(file, () =>
    calibrateEnergy(sp.counts, {
      sources: o.source,
      ...(o.degree ? { degree: Number(o.degree) as 1 | 2 } : {}),
      deviationPairs: !!o.deviationPairs,
      natural: !!o.natural,
      singleLine: !!o.singleLine,
    }),
  );
  const detector = o.detector ?? sp.detector;
  const cal = energyCalibrationOf(r);
  // Where the file's own calibration puts the same peaks: shows the technician how far off the device was.
  const fileCheck = sp.calibration ? r.peaks.map((p) => ({ energy_keV: p.energy_keV, fileSays_keV: energyOf(sp.calibration!, p.channel) })) : undefined;
  const result: EnergyFile = {
    kind: 'energy',
    detector,
    inputs: [{ file: basename(file), sha256: sp.sha256 }],
    results: { energy: cal },
    uncertainties: { 'energy.coefficients': r.coefficientSigma, 'energy.rms_keV': r.rms_keV },
    ...r,
    ...(fileCheck ? { fileCalibration: fileCheck } : {}),
  };
  if (o.out) writeAtomic(o.out, JSON.stringify(result, null, 2));
  if (o.plot) await writeCalibrationPng(o.plot, { title: `${basename(file)} — ${detector}: energy calibration (${o.source.join(', ')})`, counts: sp.counts, calibration: cal, peaks: r.peaks, gain: r.coefficients[1] });
  ctx.print(!!o.json, result, () => energyText(file, sp, result, o));
}

function energyText(file: string, sp: LoadedSpectrum, r: EnergyFile, o: EnergyCli): string {
  return [
    `${file} (${r.detector}, ${sp.counts.length} channels, live ${f2(sp.liveTime_s, 1)} s): degree ${r.degree}${r.deviationPairs ? ` + ${r.deviationPairs.length} deviation pairs` : ''}`,
    `E(ch) = ${r.coefficients[0].toPrecision(6)} + ${r.coefficients[1].toPrecision(6)}·ch + ${r.coefficients[2].toPrecision(4)}·ch²  keV   (rms residual ${f2(r.rms_keV, 3)} keV)`,
    peakTable(r),
    ...(r.missing.length ? [`lines not seen: ${r.missing.map((m) => `${m.nuclide} ${f2(m.energy_keV, 1)}`).join(', ')} keV`] : []),
    ...(r.fileCalibration ? [`the file's own calibration puts these peaks at ${r.fileCalibration.map((c) => f2(c.fileSays_keV, 1)).join(', ')} keV`] : []),
    ...(o.out ? [`result written to ${o.out}`] : []),
    ...(o.plot ? [`plot written to ${o.plot}`] : []),
  ].join('\n');
}

function peakTable(r: EnergyResult): string {
  const rows = r.peaks.map(
    (p) =>
      `  ${p.nuclide.padEnd(6)} ${f2(p.energy_keV, 1).padStart(8)} keV  ch ${f2(p.channel, 2).padStart(9)} ± ${f2(p.channelSigma, 2).padEnd(5)}  FWHM ${f2(p.fwhm_keV, 1).padStart(6)} keV  residual ${f2(p.residual_keV, 2).padStart(6)} keV`,
  );
  return rows.join('\n');
}
