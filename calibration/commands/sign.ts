// customs-calib sign: analysis results of one detector combined into a versioned record signed with the technician's key.
import type { Command } from 'commander';
import { InputError } from '../../common/errors.js';
import { newRecord, signRecord, versionLabel, type CalibrationResults } from '../../protocol/calibration-record.js';
import { examples, integer, positive, writeAtomic, type CliContext } from './common.js';
import { history, loadKey, storeDir } from './records.js';
import { readAnalysis, type AnalysisFile } from './spectrum.js';

interface SignCli {
  key: string;
  keyId?: string;
  technician?: string;
  detector?: string;
  recordVersion?: number;
  node?: string;
  store?: string;
  validDays: number;
  notes?: string;
  out: string;
  json?: boolean;
}

export function registerSign(program: Command, ctx: CliContext): void {
  program
    .command('sign')
    .description('combine analysis results into one versioned calibration record of a detector and sign it')
    .argument('<results...>', 'result files written with --out (energy, resolution, efficiency, dose-factor, background, xray flat-field)')
    .requiredOption('--key <file>', 'technician private key')
    .option('--key-id <id>', 'key id (default: the key file name)')
    .option('--technician <name>', 'technician name in the record (default: the key id)')
    .option('--detector <id>', 'detector (default: the one the results name)')
    .option('--record-version <n>', 'record version (default: one above what --node last accepted in the local store)', integer('--record-version'))
    .option('--node <id>', 'node whose pushed history gives the next version')
    .option('--store <dir>', 'local store of pushed records (default $CUSTOMS_CALIB_STORE or ./calibrations)')
    .option('--valid-days <d>', 'validity from now', positive('--valid-days'), 365)
    .option('--notes <text>', 'free text: source serials, conditions')
    .requiredOption('--out <json>', 'signed record file')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      examples(
        'sign energy.json res.json eff.json --key keys/ann-smith.key --technician "Ann Smith" --record-version 1 --out det-a-v1.json',
        'sign energy.json --key keys/ann-smith.key --node veh-07 --out det-a-v2.json     # next version from the store',
      ),
    )
    .action((files: string[], o: SignCli) => sign(files, o, ctx));
}

function sign(files: string[], o: SignCli, ctx: CliContext): void {
  const k = loadKey(o.key, o.keyId);
  const results = files.map((f) => ({ f, a: readAnalysis(f) }));
  const detector = o.detector ?? results[0]!.a.detector;
  for (const { f, a } of results) {
    if (a.detector !== detector) throw new InputError(`${f}: result of detector "${a.detector}", expected "${detector}" like ${o.detector ? '--detector' : files[0]}; one record covers one detector`);
  }
  const version = nextVersion(o, detector);
  const { merged, unc } = mergeResults(results);
  const rec = newRecord({
    detector,
    version,
    method: [...new Set(results.map((r) => r.a.kind))],
    // Energy and resolution usually come from the same spectrum: list each input file once.
    inputs: [...new Map(results.flatMap((r) => r.a.inputs).map((i) => [`${i.file}:${i.sha256}`, i])).values()],
    results: merged,
    uncertainties: unc,
    technician: o.technician ?? k.keyId,
    now_ms: Date.now(),
    validDays: o.validDays,
    ...(o.notes ? { notes: o.notes } : {}),
  });
  const env = signRecord(rec, k.pem, k.keyId);
  writeAtomic(o.out, JSON.stringify(env, null, 2));
  ctx.print(!!o.json, { out: o.out, id: rec.id, version: versionLabel(rec), keyId: k.keyId, method: rec.method, validUntil: rec.validUntil }, () => `${o.out}: ${versionLabel(rec)} (${rec.method.join(', ')}) signed by ${k.keyId}, valid until ${rec.validUntil}`);
}

function nextVersion(o: SignCli, detector: string): number {
  if (o.recordVersion !== undefined) return o.recordVersion;
  if (!o.node) throw new InputError('--record-version: required unless --node names a node whose pushed history gives the next version');
  // One above what the node accepted: refused pushes never raised the node's version.
  const h = history(storeDir(o), o.node).filter((e) => e.detector === detector && e.ok);
  return Math.max(0, ...h.map((e) => e.version)) + 1;
}

/** One record holds each quantity once: a second result for the same quantity is an error, not an override. */
function mergeResults(results: { f: string; a: AnalysisFile }[]): { merged: CalibrationResults; unc: Record<string, unknown> } {
  const merged: CalibrationResults = {};
  const unc: Record<string, unknown> = {};
  for (const { f, a } of results) {
    for (const [key, v] of Object.entries(a.results)) {
      if (key in merged) throw new InputError(`${f}: results.${key} is also in another file; give one result per quantity`);
      (merged as Record<string, unknown>)[key] = v;
    }
    Object.assign(unc, a.uncertainties);
  }
  return { merged, unc };
}
