// customs-calib history: what this store pushed to a node, and what the node's retained status says it runs.
import type { Command } from 'commander';
import type { StatusMsg } from '../../protocol/index.js';
import { nodeStatus } from '../remote.js';
import { examples, type CliContext } from './common.js';
import { activeFromHistory, history, storeDir, type HistoryEntry } from './records.js';

interface HistoryCli {
  node: string;
  store?: string;
  site?: string;
  broker: string;
  json?: boolean;
}

export function registerHistory(program: Command, ctx: CliContext): void {
  program
    .command('history')
    .description('records pushed to a node from this store, newest last, and (with --site) the versions its status reports')
    .requiredOption('--node <id>', 'node id')
    .option('--store <dir>', 'local store (default $CUSTOMS_CALIB_STORE or ./calibrations)')
    .option('--site <id>', 'also read the node\'s retained status from the broker')
    .option('--broker <url>', 'MQTT broker URL', process.env.CUSTOMS_BROKER ?? 'mqtt://127.0.0.1:1883')
    .option('--json', 'print JSON')
    .addHelpText('after', examples('history --node veh-07 --site port-a', 'history --node veh-07 --store calibrations --json'))
    .action((o: HistoryCli) => showHistory(o, ctx));
}

async function showHistory(o: HistoryCli, ctx: CliContext): Promise<void> {
  const h = history(storeDir(o), o.node);
  const active = activeFromHistory(h);
  const st = o.site ? await nodeStatus({ url: o.broker, site: o.site, timeout_s: 5 }, o.node) : undefined;
  ctx.print(!!o.json, { node: o.node, history: h, active: Object.fromEntries([...active].map(([d, e]) => [d, `${d}@${e.version}`])), status: st?.calibration ?? null }, () =>
    historyText(o, h, active, st),
  );
}

function historyText(o: HistoryCli, h: HistoryEntry[], active: Map<string, HistoryEntry>, st: StatusMsg | undefined): string {
  return [
    `${o.node}: ${h.length} pushes`,
    ...h.map((e) => `  ${e.time}  ${e.action.padEnd(8)} ${`${e.detector}@${e.version}`.padEnd(14)} ${e.ok ? 'accepted' : `REFUSED: ${e.reason ?? ''}`}  ${e.id}`),
    `active (last accepted): ${[...active].map(([d, e]) => `${d}@${e.version}`).join(', ') || 'none'}`,
    ...(o.site ? [`node status reports: ${st?.calibration ? JSON.stringify(st.calibration) : 'no retained status'}`] : []),
  ].join('\n');
}
