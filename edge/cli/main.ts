#!/usr/bin/env node
// customs-edge: the command line of an edge box (run the runtime, check its health, validate a config).
import { statSync } from 'node:fs';
import { Command, Option } from 'commander';
import { stopOnSignals } from '../../common/signals.js';
import { ConfigError } from '../../common/errors.js';
import { packageVersion } from '../../common/version.js';
import { addExamples, addLogFormatOption, addVersion } from '../../common/cli.js';
import { EDGE_EXAMPLES, EDGE_FIRST_STEPS } from './examples.js';
import { checkEdgeConfig, loadEdgeConfig } from '../runtime/config.js';
import { EdgeRuntime, statusFilePath } from '../runtime/runtime.js';
import { registerRadCommands } from './rad.js';
import { registerXrayCommands } from './xray.js';
import { registerCameraCommands } from './camera.js';

const program = new Command();
program
  .name('customs-edge')
  .description(
    'Runtime of a customs inspection edge box (radiation vehicle, handheld, X-ray or camera node).\n\n' +
      'It runs the configured device drivers and analysis pipelines, keeps every summary in a durable ' +
      'on-disk outbox and publishes it over MQTT v5 to the cloud aggregator; it works offline and catches up later. ' +
      'The rad, xray and camera commands work on files without a running node.',
  );
addVersion(program, packageVersion(), EDGE_FIRST_STEPS);
addLogFormatOption(program);

program
  .command('run')
  .description('run the edge runtime until SIGINT/SIGTERM')
  .requiredOption('-c, --config <file>', 'node configuration (YAML or JSON), validated against the edge config schema')
  .addHelpText(
    'after',
    '\nExample config:\n  node: veh-01\n  site: port-a\n  role: vehicle\n  broker: { url: "mqtts://broker:8883", ca: ca.pem, cert: veh-01.pem, key: veh-01.key }\n' +
      '  outbox: { dir: /var/lib/customs/outbox }\n  pipelines:\n    - { name: sim, type: synthetic, options: { rate_hz: 1 } }\n',
  )
  .action(async (opts: { config: string }) => {
    // The very check check-config prints: a bad option stops the node here, not one component at a time later.
    const config = await checkEdgeConfig(opts.config);
    const rt = new EdgeRuntime({ config });
    stopOnSignals('customs-edge', () => rt.stop(), 'exiting now (the outbox journal keeps every summary)');
    await rt.start();
  });

program
  .command('health')
  .description('exit 0 when the runtime configured in --config wrote its status recently (container health check)')
  .requiredOption('-c, --config <file>', 'node configuration')
  .addOption(new Option('--max-age <seconds>', 'oldest acceptable status, default 3 heartbeats').argParser(Number))
  .action((opts: { config: string; maxAge?: number }) => {
    const config = loadEdgeConfig(opts.config);
    const file = statusFilePath(config);
    const maxAge = opts.maxAge ?? config.health.heartbeat_s * 3;
    let age: number;
    try {
      age = (Date.now() - statSync(file).mtimeMs) / 1000;
    } catch {
      process.stderr.write(`unhealthy: ${file} does not exist (runtime not started?)\n`);
      process.exit(1);
    }
    if (age > maxAge) {
      process.stderr.write(`unhealthy: ${file} is ${age.toFixed(0)} s old (> ${maxAge} s)\n`);
      process.exit(1);
    }
    process.stdout.write(`healthy: status ${age.toFixed(1)} s old\n`);
  });

program
  .command('check-config')
  .description(
    'validate a configuration file (the node sections and every device and pipeline option, as run does) and print every ' +
      'problem as "path: what was expected"; exits 2 when there is any',
  )
  .argument('<file>', 'configuration file (YAML or JSON); see examples/ for one per node role')
  .action(async (file: string) => {
    const c = await checkEdgeConfig(file);
    process.stdout.write(`${file}: ok (node ${c.node}, site ${c.site}, role ${c.role}, ${c.devices.length} devices, ${c.pipelines.length} pipelines)\n`);
  });

registerRadCommands(program);
registerXrayCommands(program);
registerCameraCommands(program);

// After every command is registered: an example path that names no command fails here, at startup.
addExamples(program, EDGE_EXAMPLES);

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof ConfigError) {
    process.stderr.write(`${e.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`customs-edge: ${(e as Error).message}\n`);
  process.exit(1);
});
