#!/usr/bin/env node
// customs-cloud: the command line of the cloud side (run the aggregator, check its config, provision a node).
import { Command, Option } from 'commander';
import { stopOnSignals } from '../common/signals.js';
import { ConfigError } from '../common/errors.js';
import { packageVersion } from '../common/version.js';
import { addExamples, addLogFormatOption, addVersion } from '../common/cli.js';
import { Aggregator } from './aggregator.js';
import { loadAggregatorConfig } from './config.js';

const program = new Command();
program
  .name('customs-cloud')
  .description(
    'Cloud side of the customs inspection network. The aggregator takes the summaries edge boxes publish over ' +
      'MQTT v5 (a shared subscription, so several aggregators split the load), validates and de-duplicates them, ' +
      'spools them to disk before acknowledging, and writes them in batches to InfluxDB. Bad payloads go to the ' +
      'dead-letter topic customs-dlq/v1/<id>/<reason>.',
  );
addVersion(program, packageVersion(), ['customs-cloud check-config aggregator.yaml', 'customs-cloud run --config aggregator.yaml', 'customs-cloud --help']);
addLogFormatOption(program);

/** One example invocation per command, shown at the end of its --help. */
const CLOUD_EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  run: ['customs-cloud run --config /etc/customs/aggregator.yaml', 'customs-cloud --log-format json run -c /etc/customs/aggregator.yaml   # for journald or docker logs'],
  'check-config': ['customs-cloud check-config /etc/customs/aggregator.yaml'],
  provision: ['customs-cloud provision veh-01 --site port-a --ca-dir /etc/customs/ca --out ./veh-01 --acl /etc/mosquitto/acl'],
  'init-ca': ['customs-cloud init-ca --site port-a --ca-dir /etc/customs/ca --days 3650'],
  'server-cert': ['customs-cloud server-cert --ca-dir /etc/customs/ca --out /etc/mosquitto/certs --hosts broker.port-a.example,10.0.0.5'],
  'provision-aggregator': ['customs-cloud provision-aggregator agg-1 --ca-dir /etc/customs/ca --out ./agg-1 --acl /etc/mosquitto/acl'],
  'broker-config': ['customs-cloud broker-config --ca /etc/mosquitto/certs/ca.crt --cert /etc/mosquitto/certs/server.crt --key /etc/mosquitto/certs/server.key --acl /etc/mosquitto/acl >> /etc/mosquitto/conf.d/customs.conf'],
};

/** `--days`, shared by the certificate commands. */
function daysOption(): Option {
  return new Option('--days <n>', 'certificate validity in days').argParser((v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--days: expected a positive integer, got "${v}"`);
    return n;
  });
}

program
  .command('run')
  .description('run the aggregator until SIGINT/SIGTERM (stops cleanly: flushes what it can, the spool keeps the rest)')
  .requiredOption('-c, --config <file>', 'aggregator configuration (YAML or JSON), validated against the aggregator config schema')
  .addHelpText(
    'after',
    '\nExample config:\n' +
      '  id: agg-1\n' +
      '  mqtt: { url: "mqtts://broker:8883", group: customs, ca: ca.crt, cert: agg-1.crt, key: agg-1.key }\n' +
      '  influx: { url: "http://influxdb:8086", database: customs }\n' +
      '  spool: { dir: /var/lib/customs/spool }\n' +
      '  http: { port: 9464 }          # GET /healthz, GET /metrics\n' +
      '\nWithout "influx", give "lineFile: points.lp" to write line protocol for `influx -import -path=points.lp -precision=ns`.\n' +
      'A bad config prints one "path: what was expected" line per problem and exits with status 2.\n',
  )
  .action(async (opts: { config: string }) => {
    const config = loadAggregatorConfig(opts.config);
    const agg = new Aggregator({ config });
    agg.on('gap', (g) => process.stderr.write(`customs-cloud: gap ${g.site}/${g.node} boot ${g.boot}: seq ${g.from}..${g.to} missing (${g.missing})\n`));
    stopOnSignals('customs-cloud', () => agg.stop(), 'exiting now (the spool keeps what was accepted)');
    await agg.start();
    const where = config.influx ? `InfluxDB ${config.influx.url}/${config.influx.database}` : `line file ${config.lineFile}`;
    process.stdout.write(
      `customs-cloud: running as ${config.mqtt.clientId} on ${config.mqtt.url} -> ${where}` +
        `${agg.httpPort !== undefined ? `, http port ${agg.httpPort}` : ''}\n`,
    );
  });

program
  .command('check-config')
  .description('validate an aggregator configuration and print every problem as "path: what was expected"')
  .argument('<file>', 'configuration file (YAML or JSON)')
  .action((file: string) => {
    const c = loadAggregatorConfig(file);
    process.stdout.write(`${file}: ok (id ${c.id}, broker ${c.mqtt.url}, ${c.influx ? `InfluxDB ${c.influx.url}` : `line file ${c.lineFile}`})\n`);
  });

program
  .command('provision')
  .description('issue a client certificate for an edge node and add its ACL entry (its own topics only)')
  .argument('<node>', 'node id (lower-case, as used in topics)')
  .requiredOption('--site <site>', 'site id the node belongs to')
  .requiredOption('--ca-dir <dir>', 'directory of the site CA (ca.crt, ca.key)')
  .requiredOption('--out <dir>', 'where to write <node>.crt, <node>.key and a copy of ca.crt')
  .requiredOption('--acl <file>', 'Mosquitto ACL file to add the node entry to')
  .addOption(daysOption())
  .action(async (node: string, opts: { site: string; caDir: string; out: string; acl: string; days?: number }) => {
    // Lazy: only this subcommand needs openssl and the provisioning code.
    const { provisionNode } = await import('./provision.js');
    const r = await provisionNode({ node, site: opts.site, caDir: opts.caDir, outDir: opts.out, aclFile: opts.acl, days: opts.days });
    process.stdout.write(`certificate ${r.certFile}\nkey         ${r.keyFile}\nca          ${r.caFile}\nacl entry:\n${r.aclEntry}\n`);
  });

program
  .command('init-ca')
  .description('create the site CA that signs broker, node and aggregator certificates (reuses an existing one)')
  .requiredOption('--site <site>', 'site id')
  .requiredOption('--ca-dir <dir>', 'directory for ca.crt and ca.key (keep ca.key offline)')
  .addOption(daysOption())
  .action(async (opts: { site: string; caDir: string; days?: number }) => {
    const { initCa } = await import('./provision.js');
    const r = await initCa({ site: opts.site, caDir: opts.caDir, days: opts.days });
    process.stdout.write(`site CA ${r.caCert}\nkey     ${r.caKey}\n`);
  });

program
  .command('server-cert')
  .description("issue the broker's TLS server certificate from the site CA")
  .requiredOption('--ca-dir <dir>', 'directory of the site CA')
  .requiredOption('--out <dir>', 'where to write the certificate and key')
  .requiredOption('--hosts <list>', 'comma-separated DNS names and IP addresses the broker is reached at')
  .addOption(daysOption())
  .action(async (opts: { caDir: string; out: string; hosts: string; days?: number }) => {
    const { issueServerCert } = await import('./provision.js');
    const hosts = opts.hosts.split(',').map((h) => h.trim()).filter(Boolean);
    const r = await issueServerCert({ caDir: opts.caDir, outDir: opts.out, hosts, days: opts.days });
    process.stdout.write(`certificate ${r.certFile}\nkey         ${r.keyFile}\n`);
  });

program
  .command('provision-aggregator')
  .description('issue a client certificate for an aggregator and add its ACL entry (read data, dead-letter, confirm)')
  .argument('<id>', 'aggregator id (as in its config)')
  .option('--group <group>', 'shared-subscription group', 'customs')
  .requiredOption('--ca-dir <dir>', 'directory of the site CA')
  .requiredOption('--out <dir>', 'where to write the certificate, key and a copy of ca.crt')
  .requiredOption('--acl <file>', 'Mosquitto ACL file to add the entry to')
  .addOption(daysOption())
  .action(async (id: string, opts: { group: string; caDir: string; out: string; acl: string; days?: number }) => {
    const { provisionService } = await import('./provision.js');
    const { aggregatorAclTopics } = await import('../protocol/index.js');
    const r = await provisionService({ name: `customs-agg-${id}`, caDir: opts.caDir, outDir: opts.out, aclFile: opts.acl, days: opts.days, ...aggregatorAclTopics(id, opts.group) });
    process.stdout.write(`certificate ${r.certFile}\nkey         ${r.keyFile}\nca          ${r.caFile}\nacl entry:\n${r.aclEntry}\n`);
  });

program
  .command('broker-config')
  .description('print the Mosquitto TLS listener for the provisioned identities: client certificate required, its CN is the username and the client id')
  .requiredOption('--ca <file>', 'the site CA certificate')
  .requiredOption('--cert <file>', 'the broker certificate (customs-cloud server-cert)')
  .requiredOption('--key <file>', 'the broker key')
  .requiredOption('--acl <file>', 'the Mosquitto ACL file the provision commands write')
  .option('--port <n>', 'TLS port', '8883')
  .option('--host <address>', 'address to bind (all when left out)')
  .action(async (opts: { ca: string; cert: string; key: string; acl: string; port: string; host?: string }) => {
    const { brokerListenerConfig } = await import('./provision.js');
    if (!/^\d{1,5}$/.test(opts.port)) throw new Error(`--port: expected a TCP port number, got "${opts.port}"`);
    const port = Number(opts.port);
    process.stdout.write(brokerListenerConfig({ port, ...(opts.host ? { host: opts.host } : {}), caFile: opts.ca, certFile: opts.cert, keyFile: opts.key, aclFile: opts.acl }));
  });

addExamples(program, CLOUD_EXAMPLES);

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof ConfigError) {
    process.stderr.write(`${e.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`customs-cloud: ${(e as Error).message}\n`);
  process.exit(1);
});
