// customs-calib dose-factor: the factor that brings the detector's G(E) dose rate to a reference field's H*(10).
import { basename } from 'node:path';
import type { Command } from 'commander';
import { DETECTORS } from '../../analysis/radiation/dose.js';
import { doseFactor } from '../../analysis/radiation/calibrate/analyses.js';
import { examples, positive, withFile, writeAtomic, type CliContext } from './common.js';
import { calibrationFor, loadSpectrum, spectrumOf, spectrumOptions, type AnalysisFile, type SpectrumCli } from './spectrum.js';

interface DoseFactorCli extends SpectrumCli {
  referenceUSvH: number;
  model: string;
  calibration?: string;
  background?: string;
  backgroundUSvH?: number;
  out?: string;
  json?: boolean;
}

export function registerDoseFactor(program: Command, ctx: CliContext): void {
  spectrumOptions(
    program
      .command('dose-factor')
      .description('factor that scales the detector\'s G(E) dose rate to a reference field\'s H*(10) rate')
      .argument('<spectrum>', 'spectrum measured in the reference field')
      .requiredOption('--reference-uSv-h <rate>', 'H*(10) rate of the field at the detector', positive('--reference-uSv-h'))
      .option('--model <name>', `detector model of the G(E) function: ${Object.keys(DETECTORS).join(', ')}`, 'NaI-3x3')
      .option('--calibration <json>', 'energy calibration result; default: the file\'s own')
      .option('--background <file>', 'background spectrum at the same place without the source')
      .option('--background-uSv-h <rate>', 'H*(10) rate of that background', (v) => Number(v))
      .option('--out <json>', 'write the result for `sign`')
      .option('--json', 'print JSON'),
  )
    .addHelpText(
      'after',
      examples('dose-factor field.n42 --reference-uSv-h 0.093 --model NaI-3x3 --calibration energy.json --background bg.n42 --background-uSv-h 0.08 --out dose.json'),
    )
    .action((file: string, o: DoseFactorCli) => runDoseFactor(file, o, ctx));
}

async function runDoseFactor(file: string, o: DoseFactorCli, ctx: CliContext): Promise<void> {
  const sp = await spectrumOf(file, o);
  const detector = o.detector ?? sp.detector;
  const cal = calibrationFor(file, sp, detector, o.calibration);
  const bg = o.background ? await loadSpectrum(o.background, { backgroundClass: true }) : undefined;
  const r = withFile(file, () =>
    doseFactor({
      counts: sp.counts,
      liveTime_s: sp.liveTime_s,
      calibration: cal,
      model: o.model,
      reference_uSv_h: o.referenceUSvH,
      ...(bg ? { background: { counts: bg.counts, liveTime_s: bg.liveTime_s, ...(o.backgroundUSvH !== undefined ? { reference_uSv_h: o.backgroundUSvH } : {}) } } : {}),
    }),
  );
  const result: AnalysisFile = {
    kind: 'dose-factor',
    detector,
    inputs: [{ file: basename(file), sha256: sp.sha256 }, ...(bg ? [{ file: basename(bg.file), sha256: bg.sha256 }] : [])],
    results: { doseFactor: r.factor },
    uncertainties: { doseFactor: r.factorSigma },
    ...r,
  };
  if (o.out) writeAtomic(o.out, JSON.stringify(result, null, 2));
  ctx.print(!!o.json, result, () => `${file} (${detector}, G(E) of ${o.model}): measured ${r.measured_uSv_h.toPrecision(4)} µSv/h, reference ${r.reference_uSv_h.toPrecision(4)} µSv/h -> dose factor ${r.factor.toFixed(4)} ± ${r.factorSigma.toFixed(4)}`);
}
