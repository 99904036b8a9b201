// customs-calib push: a signed record sent to a node as a retained command, its answer kept in the local store.
import { appendFileSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Command } from 'commander';
import type { StatusMsg } from '../../protocol/index.js';
import { versionLabel, type SignedRecord } from '../../protocol/calibration-record.js';
import { pushCommand } from '../remote.js';
import { brokerFrom, brokerOptions, type BrokerCli } from './broker.js';
import { examples, writeAtomic, type CliContext } from './common.js';
import { readSigned, storeDir, type HistoryEntry } from './records.js';

export interface PushCli extends BrokerCli {
  node: string;
  store?: string;
  json?: boolean;
}

export function registerPush(program: Command, ctx: CliContext): void {
  brokerOptions(
    program
      .command('push')
      .description('send a signed record to a node (retained command, QoS 1) and wait for its acknowledgement; exit 1 if refused')
      .argument('<record>', 'signed record (customs-calib sign)')
      .requiredOption('--node <id>', 'node id')
      .option('--store <dir>', 'local store of pushed records (default $CUSTOMS_CALIB_STORE or ./calibrations)')
      .option('--json', 'print JSON'),
  )
    .addHelpText(
      'after',
      examples('push det-a-v1.json --node veh-07 --site port-a', 'push det-a-v1.json --node veh-07 --site port-a --broker mqtts://broker:8883 --ca ca.pem --cert tech.pem --client-key tech.key'),
    )
    .action(async (file: string, o: PushCli) => {
      await recordPush(o, readSigned(file), 'push', ctx);
    });
}

/**
 * Pushes a signed record (a new version or a rollback), waits for the node's ack and status, and keeps the record and
 * the answer in <store>/<node>/: the history that `sign --node`, `history` and `rollback` read. Refused: exit code 1.
 */
export async function recordPush(o: PushCli, env: SignedRecord, action: 'push' | 'rollback', ctx: CliContext): Promise<void> {
  const rec = env.payload;
  const label = versionLabel(rec);
  const r = await pushCommand(brokerFrom(o), o.node, 'calibration', env, rec.id, {
    retain: true,
    waitStatus: (s: StatusMsg) => s.calibration?.[rec.detector] === label,
  });
  const store = storeDir(o);
  const dir = join(store, o.node);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${rec.id}.json`);
  writeAtomic(file, JSON.stringify(env, null, 2));
  const entry: HistoryEntry = { time: new Date().toISOString(), action, id: rec.id, detector: rec.detector, version: rec.version, ok: r.ack.ok, ...(r.ack.reason ? { reason: r.ack.reason } : {}), file: basename(file) };
  appendFileSync(join(dir, 'history.jsonl'), `${JSON.stringify(entry)}\n`);
  if (!r.ack.ok) ctx.state.code = 1;
  ctx.print(!!o.json, { node: o.node, id: rec.id, version: label, ok: r.ack.ok, reason: r.ack.reason ?? null, status: r.status ?? null }, () =>
    r.ack.ok
      ? `${o.node} accepted ${label} (${rec.id})${r.status ? `; status now reports ${JSON.stringify(r.status)}` : ''}`
      : `${o.node} REFUSED ${label}: ${r.ack.reason ?? 'no reason given'}`,
  );
}
