// npm run bench: every speed and memory figure of the project, measured in one run on this machine.
import { cpus, totalmem } from 'node:os';
import { benchOutbox } from './outbox.js';

const quick = process.argv.includes('--quick');
const rows: [string, string][] = [];
const report = (name: string, value: string) => {
  rows.push([name, value]);
  process.stdout.write(`${name.padEnd(64)} ${value}\n`);
};

process.stdout.write(`# customs bench on ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}\n`);

for (const fsync of ['always', 'interval', 'never'] as const) {
  const r = await benchOutbox({ messages: quick ? 5_000 : 40_000, fsync });
  report(`edge outbox -> mosquitto publish rate, fsync=${fsync} (msg/s, ${r.bytesPerMessage} B)`, r.msg_s.toFixed(0));
}

try {
  const { benchIngest } = await import('./ingest.js');
  const r = await benchIngest({ messages: quick ? 20_000 : 200_000 });
  report('aggregator end-to-end ingest mqtt -> influxdb (msg/s)', r.endToEnd_msg_s.toFixed(0));
  report('direct write of the same points to influxdb, ceiling (msg/s)', r.direct_points_s.toFixed(0));
  report('end-to-end / ceiling', (r.endToEnd_msg_s / r.direct_points_s).toFixed(2));
  report('p99 latency edge publish -> queryable at 1,000 msg/s (ms)', r.p99_latency_ms_at_1000.toFixed(0));
  const c = r.cpu_pct;
  report(
    `CPU during end-to-end, % of one core (${c.cores} cores)`,
    `mosquitto ${c.mosquitto}, influxd ${c.influxd}, aggregator ${c.aggregator}, publishers ${c.publishers}`,
  );
} catch (e) {
  report('aggregator ingest bench', `not run: ${(e as Error).message}`);
}
process.exit(0);
