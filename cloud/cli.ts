#!/usr/bin/env node
// customs-cloud: the command line of the cloud side (run the aggregator, check its config, provision a node).
import { Command, Option } from 'commander';
import { ConfigError } from '../common/errors.js';
import { packageVersion } from '../common/version.js';
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
  )
  .version(packageVersion());

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
    let stopping = false;
    const stop = (sig: string) => {
      if (stopping) {
        process.stderr.write(`customs-cloud: second ${sig}, exiting now (the spool keeps what was accepted)\n`);
        process.exit(1);
      }
      stopping = true;
      process.stderr.write(`customs-cloud: ${sig}, stopping\n`);
      agg.stop().then(
        () => process.exit(0),
        (e: unknown) => {
          process.stderr.write(`customs-cloud: stop failed: ${(e as Error).message}\n`);
          process.exit(1);
        },
      );
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
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
  .addOption(new Option('--days <n>', 'certificate validity in days').argParser((v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--days: expected a positive integer, got "${v}"`);
    return n;
  }))
  .action(async (node: string, opts: { site: string; caDir: string; out: string; acl: string; days?: number }) => {
    // Lazy: only this subcommand needs openssl and the provisioning code.
    const { provisionNode } = await import('./provision.js');
    const r = await provisionNode({ node, site: opts.site, caDir: opts.caDir, outDir: opts.out, aclFile: opts.acl, days: opts.days });
    process.stdout.write(`certificate ${r.certFile}\nkey         ${r.keyFile}\nca          ${r.caFile}\nacl entry:\n${r.aclEntry}\n`);
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof ConfigError) {
    process.stderr.write(`${e.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`customs-cloud: ${(e as Error).message}\n`);
  process.exit(1);
});
