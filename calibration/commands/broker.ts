// The MQTT options of the commands that talk to a node (push, rollback, background).
import type { Command } from 'commander';
import type { BrokerOptions } from '../remote.js';
import { positive } from './common.js';

/** The options brokerOptions adds, as commander parses them. */
export interface BrokerCli {
  broker: string;
  site: string;
  ca?: string;
  cert?: string;
  clientKey?: string;
  timeout: number;
}

/** Defaults come from the environment when the program is built, so a technician's shell sets them once. */
export function brokerOptions(cmd: Command): Command {
  return cmd
    .option('--broker <url>', 'MQTT broker URL (mqtt:// or mqtts://)', process.env.CUSTOMS_BROKER ?? 'mqtt://127.0.0.1:1883')
    .requiredOption('--site <id>', 'site of the node (topic level customs/v1/<site>/<node>)', process.env.CUSTOMS_SITE)
    .option('--ca <file>', 'CA certificate for mqtts (as broker.ca in the edge config)')
    .option('--cert <file>', 'client certificate')
    .option('--client-key <file>', 'client certificate key')
    .option('--timeout <s>', 'how long to wait for the node', positive('--timeout'), 30);
}

export function brokerFrom(o: BrokerCli): BrokerOptions {
  return { url: o.broker, site: o.site, timeout_s: o.timeout, ...(o.ca ? { ca: o.ca } : {}), ...(o.cert ? { cert: o.cert } : {}), ...(o.clientKey ? { key: o.clientKey } : {}) };
}
