// customs-calib diff: what changed between two calibration records, in quantities a technician can judge.
import type { Command } from 'commander';
import { energyOf } from '../../analysis/radiation/calibration.js';
import type { EnergyCalibration } from '../../analysis/radiation/spectrum.js';
import { efficiencyAt, fwhmModel_keV } from '../../analysis/radiation/calibrate/analyses.js';
import { versionLabel, type CalibrationRecord } from '../../protocol/calibration-record.js';
import { examples, type CliContext } from './common.js';
import { readAnyRecord } from './records.js';

export interface RecordChange {
  field: string;
  a: string;
  b: string;
  note?: string;
}

export function registerDiff(program: Command, ctx: CliContext): void {
  program
    .command('diff')
    .description('what changed between two calibration records (signed or not)')
    .argument('<a>', 'older record')
    .argument('<b>', 'newer record')
    .option('--json', 'print JSON')
    .addHelpText('after', examples('diff det-a-v1.json det-a-v2.json'))
    .action((a: string, b: string, o: { json?: boolean }) => {
      const ra = readAnyRecord(a);
      const rb = readAnyRecord(b);
      const d = diffRecords(ra, rb);
      ctx.print(!!o.json, d, () =>
        [
          `${versionLabel(ra)} (${ra.created}, ${ra.technician}) -> ${versionLabel(rb)} (${rb.created}, ${rb.technician})${ra.detector !== rb.detector ? '  WARNING: different detectors' : ''}`,
          ...d.changes.map((c) => `  ${c.field}: ${c.a} -> ${c.b}${c.note ? `  (${c.note})` : ''}`),
          ...(d.changes.length ? [] : ['  no change in the results']),
        ].join('\n'),
      );
    });
}

/** Field-by-field changes of the results (energies at a few channels rather than raw coefficients, which mislead). */
export function diffRecords(a: CalibrationRecord, b: CalibrationRecord): { a: string; b: string; changes: RecordChange[] } {
  const changes: RecordChange[] = [...energyChanges(a, b), ...resolutionChanges(a, b), ...efficiencyChanges(a, b)];
  if (a.results.doseFactor !== b.results.doseFactor) changes.push({ field: 'doseFactor', a: String(a.results.doseFactor ?? 'none'), b: String(b.results.doseFactor ?? 'none') });
  if (!!a.results.referenceSpectrum !== !!b.results.referenceSpectrum) changes.push({ field: 'referenceSpectrum', a: a.results.referenceSpectrum ? 'present' : 'none', b: b.results.referenceSpectrum ? 'present' : 'none' });
  if (a.validUntil !== b.validUntil) changes.push({ field: 'validUntil', a: a.validUntil, b: b.validUntil });
  return { a: versionLabel(a), b: versionLabel(b), changes };
}

/** Where the new calibration puts the channels at which the old one had a few well-known lines. */
function energyChanges(a: CalibrationRecord, b: CalibrationRecord): RecordChange[] {
  const ea = a.results.energy;
  const eb = b.results.energy;
  if (!ea || !eb) return ea || eb ? [{ field: 'energy', a: ea ? 'present' : 'none', b: eb ? 'present' : 'none' }] : [];
  const changes: RecordChange[] = [];
  for (const E of [59.5, 661.7, 1460.8, 2614.5]) {
    const ch = channelAt(ea, E);
    if (ch === undefined) continue;
    const e2 = energyOf(eb, ch);
    if (Math.abs(e2 - E) > 1e-3) changes.push({ field: `energy at channel ${ch.toFixed(1)}`, a: `${E.toFixed(1)} keV`, b: `${e2.toFixed(1)} keV`, note: `${(((e2 - E) / E) * 100).toFixed(2)} %` });
  }
  return changes;
}

function resolutionChanges(a: CalibrationRecord, b: CalibrationRecord): RecordChange[] {
  const ra = a.results.resolution;
  const rb = b.results.resolution;
  if (!ra || !rb) return ra || rb ? [{ field: 'resolution', a: ra ? 'present' : 'none', b: rb ? 'present' : 'none' }] : [];
  const x = fwhmModel_keV(ra, 661.657);
  const y = fwhmModel_keV(rb, 661.657);
  return Math.abs(x - y) > 1e-3 ? [{ field: 'FWHM at 662 keV', a: `${x.toFixed(2)} keV`, b: `${y.toFixed(2)} keV` }] : [];
}

function efficiencyChanges(a: CalibrationRecord, b: CalibrationRecord): RecordChange[] {
  const fa = a.results.efficiency;
  const fb = b.results.efficiency;
  if (!fa || !fb) return fa || fb ? [{ field: 'efficiency', a: fa ? 'present' : 'none', b: fb ? 'present' : 'none' }] : [];
  const changes: RecordChange[] = [];
  for (const E of fb.energies_keV) {
    const x = efficiencyAt(fa, E);
    const y = efficiencyAt(fb, E);
    if (Math.abs(y / x - 1) > 1e-4) changes.push({ field: `efficiency at ${E.toFixed(1)} keV`, a: x.toExponential(4), b: y.toExponential(4), note: `${((y / x - 1) * 100).toFixed(1)} %` });
  }
  return changes;
}

/** The channel at which `cal` gives energy E (bisection: the calibration is monotonic over the channels used). */
function channelAt(cal: EnergyCalibration, E: number): number | undefined {
  let lo = 0;
  let hi = 1 << 16;
  if (!(energyOf(cal, hi) > E) || !(energyOf(cal, lo) < E)) return undefined;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (energyOf(cal, mid) < E) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}
