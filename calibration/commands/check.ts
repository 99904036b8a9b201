// customs-calib check: the daily source check of a detector against its stored calibration record.
import type { Command } from 'commander';
import { InputError } from '../../common/errors.js';
import { sourceCheck, type CheckResult } from '../../analysis/radiation/calibrate/analyses.js';
import { versionLabel, type CalibrationRecord } from '../../protocol/calibration-record.js';
import { collect, examples, f2, positive, withFile, type CliContext } from './common.js';
import { readAnyRecord } from './records.js';
import { spectrumOf, spectrumOptions, type LoadedSpectrum, type SpectrumCli } from './spectrum.js';

interface CheckCli extends SpectrumCli {
  record: string;
  source: string[];
  toleranceDriftPct: number;
  toleranceFwhm: number;
  toleranceEfficiencyPct: number;
  activityBq?: number;
  referenceDate?: string;
  date?: string;
  json?: boolean;
}

export function registerCheck(program: Command, ctx: CliContext): void {
  spectrumOptions(
    program
      .command('check')
      .description('daily source check against the stored calibration: peak drift, resolution, efficiency within tolerance (exit 1 on fail)')
      .argument('<spectrum>', 'check-source spectrum')
      .requiredOption('--record <json>', 'the detector\'s calibration record (signed or not)')
      .requiredOption('--source <nuclide>', 'check source (repeatable)', collect)
      .option('--tolerance-drift-pct <p>', 'largest peak drift', positive('--tolerance-drift-pct'), 1)
      .option('--tolerance-fwhm <ratio>', 'largest FWHM over the stored model', positive('--tolerance-fwhm'), 1.25)
      .option('--tolerance-efficiency-pct <p>', 'largest efficiency deviation', positive('--tolerance-efficiency-pct'), 10)
      .option('--activity-Bq <n>', 'source activity for the efficiency check', positive('--activity-Bq'))
      .option('--reference-date <date>', 'date of that activity')
      .option('--date <date>', 'measurement date (default: the file\'s start time)')
      .option('--json', 'print JSON: { pass, lines: [...], problems: [...] }'),
  )
    .addHelpText(
      'after',
      examples(
        'check daily.n42 --record det-a-v1.json --source Cs137 --source Co60        # exit 1 on FAIL',
        'check daily.n42 --record det-a-v1.json --source Cs137 --activity-Bq 370000 --reference-date 2016-03-01 --json',
      ),
    )
    .action((file: string, o: CheckCli) => check(file, o, ctx));
}

async function check(file: string, o: CheckCli, ctx: CliContext): Promise<void> {
  const rec = readAnyRecord(o.record);
  const sp = await spectrumOf(file, o);
  const detector = o.detector ?? sp.detector;
  if (detector !== rec.detector) throw new InputError(`${file}: spectrum of detector "${detector}", but ${o.record} is for "${rec.detector}"; give --detector ${rec.detector} if the file names it differently`);
  const activity = activityOf(file, sp, o);
  const r = withFile(file, () =>
    sourceCheck({
      counts: sp.counts,
      liveTime_s: sp.liveTime_s,
      stored: rec.results,
      sources: o.source,
      tolerances: { drift: o.toleranceDriftPct / 100, fwhmRatio: o.toleranceFwhm, efficiency: o.toleranceEfficiencyPct / 100 },
      ...(activity ? { activity } : {}),
    }),
  );
  if (!r.pass) ctx.state.code = 1;
  ctx.print(!!o.json, { detector, record: rec.id, version: versionLabel(rec), ...r }, () => checkText(file, detector, rec, r));
}

/** The source's activity for the efficiency part of the check, when --activity-Bq asks for it. */
function activityOf(file: string, sp: LoadedSpectrum, o: CheckCli): Parameters<typeof sourceCheck>[0]['activity'] {
  if (o.activityBq === undefined) return undefined;
  const date = o.date ?? sp.startTime;
  if (!o.referenceDate) throw new InputError('--reference-date: required with --activity-Bq');
  if (!date) throw new InputError(`${file}: the file has no start time; give --date`);
  return { source: o.source[0]!, activity_Bq: o.activityBq, referenceDate: o.referenceDate, measurementDate: date };
}

function checkText(file: string, detector: string, rec: CalibrationRecord, r: CheckResult): string {
  return [
    `${file} (${detector}) against ${versionLabel(rec)}: ${r.pass ? 'PASS' : 'FAIL'}`,
    ...r.lines.map(
      (l) =>
        `  ${l.nuclide.padEnd(6)} ${f2(l.energy_keV, 1).padStart(8)} keV  at ${f2(l.measured_keV, 1).padStart(8)} (drift ${f2(l.drift_pct).padStart(6)} %)  FWHM ${f2(l.fwhm_keV, 1)} keV${l.fwhmRatio !== undefined ? ` (${f2(l.fwhmRatio)} x model)` : ''}${l.efficiencyDeviation_pct !== undefined ? `  efficiency ${f2(l.efficiencyDeviation_pct, 1)} %` : ''}  ${l.ok ? 'ok' : 'FAIL'}`,
    ),
    ...r.problems.map((p) => `  problem: ${p}`),
  ].join('\n');
}
