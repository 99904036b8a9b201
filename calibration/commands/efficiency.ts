// customs-calib efficiency: full-energy-peak efficiency per line of a certified source, decay-corrected.
import { basename } from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../../common/errors.js';
import { efficiency, type EfficiencyResult } from '../../analysis/radiation/calibrate/analyses.js';
import { examples, f2, positive, withFile, writeAtomic, type CliContext } from './common.js';
import { calibrationFor, loadSpectrum, spectrumOf, spectrumOptions, type AnalysisFile, type SpectrumCli } from './spectrum.js';

interface EfficiencyCli extends SpectrumCli {
  source: string;
  activityBq: number;
  referenceDate: string;
  distanceM: number;
  date?: string;
  calibration?: string;
  background?: string;
  out?: string;
  json?: boolean;
}

export function registerEfficiency(program: Command, ctx: CliContext): void {
  spectrumOptions(
    program
      .command('efficiency')
      .description('full-energy-peak efficiency per line of a source of known activity, decay-corrected from its reference date')
      .argument('<spectrum>', 'spectrum file')
      .requiredOption('--source <nuclide>', 'the source (one)')
      .requiredOption('--activity-Bq <n>', 'activity on the certificate', positive('--activity-Bq'))
      .requiredOption('--reference-date <date>', 'date of the certificate\'s activity (ISO 8601)')
      .requiredOption('--distance-m <r>', 'source to detector face distance', positive('--distance-m'))
      .option('--date <date>', 'measurement date (default: the file\'s start time)')
      .option('--calibration <json>', 'energy calibration result (from `energy --out`); default: the file\'s own')
      .option('--background <file>', 'background spectrum to subtract')
      .option('--out <json>', 'write the result for `sign`')
      .option('--json', 'print JSON'),
  )
    .addHelpText(
      'after',
      examples('efficiency cs137-eff.n42 --source Cs137 --activity-Bq 370000 --reference-date 2016-03-01 --distance-m 0.25 --calibration energy.json --detector det-a --out eff.json'),
    )
    .action((file: string, o: EfficiencyCli) => runEfficiency(file, o, ctx));
}

async function runEfficiency(file: string, o: EfficiencyCli, ctx: CliContext): Promise<void> {
  const sp = await spectrumOf(file, o);
  const detector = o.detector ?? sp.detector;
  const cal = calibrationFor(file, sp, detector, o.calibration);
  const date = o.date ?? sp.startTime;
  if (!date) throw new InputError(`${file}: the file has no start time; give the measurement date with --date`);
  const bg = o.background ? await loadSpectrum(o.background, { backgroundClass: true }) : undefined;
  const r = withFile(file, () =>
    efficiency({
      counts: sp.counts,
      liveTime_s: sp.liveTime_s,
      calibration: cal,
      source: o.source,
      activity_Bq: o.activityBq,
      referenceDate: o.referenceDate,
      measurementDate: date,
      distance_m: o.distanceM,
      ...(bg ? { background: { counts: bg.counts, liveTime_s: bg.liveTime_s } } : {}),
    }),
  );
  const result: AnalysisFile = {
    kind: 'efficiency',
    detector,
    inputs: [{ file: basename(file), sha256: sp.sha256 }, ...(bg ? [{ file: basename(bg.file), sha256: bg.sha256 }] : [])],
    results: { efficiency: { energies_keV: r.lines.map((l) => l.energy_keV), values: r.lines.map((l) => l.efficiency), distance_m: r.distance_m } },
    uncertainties: { 'efficiency.values': r.lines.map((l) => l.efficiencySigma) },
    ...r,
  };
  if (o.out) writeAtomic(o.out, JSON.stringify(result, null, 2));
  ctx.print(!!o.json, result, () => efficiencyText(file, detector, r, o));
}

function efficiencyText(file: string, detector: string, r: EfficiencyResult, o: EfficiencyCli): string {
  return [
    `${file} (${detector}): ${r.source} ${o.activityBq.toPrecision(4)} Bq on ${o.referenceDate}, ${f2(r.elapsed_d, 1)} days later ${r.activityAtMeasurement_Bq.toPrecision(4)} Bq (decay factor ${r.decayFactor.toFixed(4)}), at ${o.distanceM} m`,
    ...r.lines.map((l) => `  ${f2(l.energy_keV, 1).padStart(8)} keV  net ${l.netCounts.toFixed(0).padStart(9)} ± ${l.netSigma.toFixed(0)}  efficiency ${l.efficiency.toExponential(4)} ± ${l.efficiencySigma.toExponential(2)}`),
  ].join('\n');
}
