// customs-calib resolution: the detector's FWHM versus energy from the check-source peaks.
import { basename } from 'node:path';
import type { Command } from 'commander';
import { fitResolution, type ResolutionResult } from '../../analysis/radiation/calibrate/analyses.js';
import { calibrateEnergy } from '../../analysis/radiation/calibrate/energy.js';
import { collect, examples, f2, withFile, writeAtomic, type CliContext } from './common.js';
import { spectrumOf, spectrumOptions, type AnalysisFile, type SpectrumCli } from './spectrum.js';

interface ResolutionCli extends SpectrumCli {
  source: string[];
  natural?: boolean;
  out?: string;
  json?: boolean;
}

export function registerResolution(program: Command, ctx: CliContext): void {
  spectrumOptions(
    program
      .command('resolution')
      .description('FWHM versus energy, FWHM(E) = sqrt(a + b·E + c·E²), from the check-source peaks')
      .argument('<spectrum>', 'spectrum file')
      .requiredOption('--source <nuclide>', 'check source (repeatable)', collect)
      .option('--natural', 'also use the natural K-40 and Tl-208 lines')
      .option('--out <json>', 'write the result for `sign`')
      .option('--json', 'print JSON: { a, b, c, relativeAt662, points: [...] }'),
  )
    .addHelpText('after', examples('resolution check.n42 --source Am241 --source Cs137 --source Co60 --detector det-a --out res.json'))
    .action((file: string, o: ResolutionCli) => resolution(file, o, ctx));
}

async function resolution(file: string, o: ResolutionCli, ctx: CliContext): Promise<void> {
  const sp = await spectrumOf(file, o);
  // The peaks come from the energy calibration's own search, so both analyses of one spectrum see the same peaks.
  const e = withFile(file, () => calibrateEnergy(sp.counts, { sources: o.source, natural: !!o.natural }));
  const r = withFile(file, () => fitResolution(e.peaks.map((p) => ({ energy_keV: p.energy_keV, fwhm_keV: p.fwhm_keV, fwhmSigma_keV: p.fwhmSigma_keV }))));
  const detector = o.detector ?? sp.detector;
  const result: AnalysisFile = {
    kind: 'resolution',
    detector,
    inputs: [{ file: basename(file), sha256: sp.sha256 }],
    results: { resolution: { a: r.a, b: r.b, c: r.c } },
    uncertainties: { resolution: r.sigma },
    ...r,
  };
  if (o.out) writeAtomic(o.out, JSON.stringify(result, null, 2));
  ctx.print(!!o.json, result, () => resolutionText(file, detector, r));
}

function resolutionText(file: string, detector: string, r: ResolutionResult): string {
  return [
    `${file} (${detector}): FWHM(E) = sqrt(${r.a.toPrecision(4)} + ${r.b.toPrecision(4)}·E + ${r.c.toPrecision(4)}·E²) keV; ${f2(r.relativeAt662 * 100)} % at 662 keV`,
    ...r.points.map((p) => `  ${f2(p.energy_keV, 1).padStart(8)} keV  FWHM ${f2(p.fwhm_keV).padStart(7)} ± ${f2(p.fwhmSigma_keV)} keV  model ${f2(p.model_keV).padStart(7)}  residual ${f2(p.residual_keV).padStart(6)}`),
  ].join('\n');
}
