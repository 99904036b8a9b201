// customs-calib rollback: a node returned to an earlier version by a new signed record carrying the old results.
import { join } from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../../common/errors.js';
import { newRecord, signRecord } from '../../protocol/calibration-record.js';
import { brokerOptions } from './broker.js';
import { examples, integer, positive, type CliContext } from './common.js';
import { recordPush, type PushCli } from './push.js';
import { activeFromHistory, history, loadKey, readSigned, storeDir, type HistoryEntry } from './records.js';

interface RollbackCli extends PushCli {
  to: number;
  detector?: string;
  key: string;
  keyId?: string;
  technician?: string;
  validDays: number;
}

export function registerRollback(program: Command, ctx: CliContext): void {
  brokerOptions(
    program
      .command('rollback')
      .description('return a node to an earlier version: a signed rollback record (accepted only while the current version is active)')
      .requiredOption('--node <id>', 'node id')
      .requiredOption('--to <version>', 'version to return to (from this store\'s history)', integer('--to'))
      .option('--detector <id>', 'detector (needed when the node has several)')
      .requiredOption('--key <file>', 'technician private key')
      .option('--key-id <id>', 'key id (default: the key file name)')
      .option('--technician <name>', 'technician name (default: the key id)')
      .option('--valid-days <d>', 'validity from now', positive('--valid-days'), 365)
      .option('--store <dir>', 'local store (default $CUSTOMS_CALIB_STORE or ./calibrations)')
      .option('--json', 'print JSON'),
  )
    .addHelpText('after', examples('rollback --node veh-07 --site port-a --to 1 --key keys/ann-smith.key'))
    .action((o: RollbackCli) => rollback(o, ctx));
}

async function rollback(o: RollbackCli, ctx: CliContext): Promise<void> {
  const store = storeDir(o);
  const h = history(store, o.node);
  const { det, current, target } = rollbackTarget(o, store, h);
  const old = readSigned(join(store, o.node, target.file)).payload;
  const k = loadKey(o.key, o.keyId);
  const rec = newRecord({
    detector: det,
    version: o.to,
    method: [...old.method.filter((m) => m !== 'rollback'), 'rollback'],
    inputs: old.inputs,
    results: old.results,
    uncertainties: old.uncertainties,
    technician: o.technician ?? k.keyId,
    now_ms: Date.now(),
    validDays: o.validDays,
    rollback: { fromVersion: current.version },
    notes: `rollback from ${det}@${current.version} to the results of ${old.id}`,
  });
  await recordPush(o, signRecord(rec, k.pem, k.keyId), 'rollback', ctx);
}

/** The detector, its active version and the accepted push of version --to, as far as the store's history knows. */
function rollbackTarget(o: RollbackCli, store: string, h: HistoryEntry[]): { det: string; current: HistoryEntry; target: HistoryEntry } {
  const dets = [...new Set(h.map((e) => e.detector))];
  const det = o.detector ?? (dets.length === 1 ? dets[0] : undefined);
  if (!det) throw new InputError(`--detector: ${o.node} has records for ${dets.join(', ') || 'no detector'} in ${store}; name one`);
  const current = activeFromHistory(h).get(det);
  if (!current) throw new InputError(`${store}/${o.node}: no accepted record of ${det}; nothing to roll back`);
  const target = [...h].reverse().find((e) => e.detector === det && e.version === o.to && e.ok);
  if (!target) throw new InputError(`--to ${o.to}: ${o.node} never accepted version ${o.to} of ${det} (accepted: ${[...new Set(h.filter((e) => e.ok && e.detector === det).map((e) => e.version))].join(', ')})`);
  if (!(o.to < current.version)) throw new InputError(`--to ${o.to}: expected a version below the active ${current.version}`);
  return { det, current, target };
}
