// npm start: the whole chain on embedded defaults — in-process broker, four simulated edge boxes, the aggregator.
//
// Nothing needs installing beyond `npm ci`: the broker is aedes (MQTT 3.1.1) in this process, and with no
// InfluxDB configured the aggregator writes InfluxDB line protocol to a file that `influx -import` reads.
// Set INFLUX_URL (and INFLUX_DB) to fill a real InfluxDB for Grafana instead; MQTT_URL to use a real broker.
import { createServer, type Server, type Socket } from 'node:net';
import { mkdirSync, mkdtempSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Aedes } from 'aedes';
import { Aggregator } from '../cloud/aggregator.js';
import { parseAggregatorConfig } from '../cloud/config.js';
import { parseEdgeConfig } from '../edge/runtime/config.js';
import { EdgeRuntime } from '../edge/runtime/runtime.js';

// The demo prints its own progress; runtime logs only when something is wrong (LOG_LEVEL=info shows them all).
process.env.LOG_LEVEL ??= 'warn';

const SECONDS = Number(process.env.DEMO_SECONDS ?? 20);
const OUTAGE_AT = Math.round(SECONDS * 0.35);
const OUTAGE_S = Math.max(2, Math.round(SECONDS * 0.2));
const out = (s: string) => process.stdout.write(s);

interface NodeDef {
  node: string;
  role: 'vehicle' | 'handheld' | 'xray' | 'camera';
  kinds: string[];
  rate_hz: number;
  alarmEvery?: number;
}

const NODES: NodeDef[] = [
  { node: 'veh-01', role: 'vehicle', kinds: ['rad', 'rad', 'rad', 'source'], rate_hz: 10, alarmEvery: 40 },
  { node: 'hh-01', role: 'handheld', kinds: ['rad'], rate_hz: 2, alarmEvery: 25 },
  { node: 'xr-01', role: 'xray', kinds: ['xray'], rate_hz: 2 },
  { node: 'cam-01', role: 'camera', kinds: ['event'], rate_hz: 1 },
];

async function startBroker(): Promise<{ url: string; cut(): void; restore(): Promise<void>; close(): Promise<void> }> {
  const broker = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = () =>
    new Promise<void>((res) => {
      server = createServer((s) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        broker.handle(s);
      });
      server.listen(port, '127.0.0.1', () => {
        const a = server!.address();
        if (a && typeof a === 'object') port = a.port;
        res();
      });
    });
  await listen();
  return {
    url: `mqtt://127.0.0.1:${port}`,
    cut() {
      server?.close();
      for (const s of sockets) s.destroy();
    },
    restore: listen,
    close: async () => {
      server?.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => broker.close(() => r()));
    },
  };
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'customs-demo-'));
  const outDir = resolve('out');
  mkdirSync(outDir, { recursive: true });
  const lineFile = join(outDir, 'demo.lp');
  const external = process.env.MQTT_URL || undefined;
  const broker = external ? undefined : await startBroker();
  const mqttUrl = external ?? broker!.url;
  const influxUrl = process.env.INFLUX_URL || undefined;

  out(`customs demo: ${NODES.length} simulated edge boxes -> MQTT ${external ? mqttUrl : `(in-process aedes ${mqttUrl})`} -> aggregator -> ${influxUrl ? `InfluxDB ${influxUrl}` : `line protocol ${lineFile}`}\n`);
  out(`running ${SECONDS} s; the broker link is cut at ${OUTAGE_AT} s for ${OUTAGE_S} s to show the durable outbox catching up\n\n`);

  const agg = new Aggregator({
    config: parseAggregatorConfig('demo', {
      id: 'demo',
      mqtt: { url: mqttUrl, ...(external ? {} : { protocolVersion: 4, shared: false }) },
      ...(influxUrl ? { influx: { url: influxUrl, database: process.env.INFLUX_DB ?? 'customs' } } : { lineFile }),
      spool: { dir: join(work, 'spool') },
    }),
  });
  await agg.start();

  const runtimes = NODES.map(
    (d, i) =>
      new EdgeRuntime({
        config: parseEdgeConfig(`demo:${d.node}`, {
          node: d.node,
          site: 'port-a',
          role: d.role,
          broker: { url: mqttUrl, ...(external ? {} : { protocolVersion: 4 }), reconnect_ms: 250 },
          outbox: { dir: join(work, d.node), fsync: 'always', backlogRate_per_s: 50 },
          clock: { trust: 'assume' },
          health: { heartbeat_s: 2 },
          pipelines: [
            {
              name: 'sim',
              type: 'synthetic',
              options: { rate_hz: d.rate_hz, kinds: [...new Set(d.kinds)], seed: 1000 + i, alarmEvery: d.alarmEvery ?? 0, detectors: d.role === 'vehicle' ? 8 : 1 },
            },
          ],
        }),
      }),
  );
  for (const rt of runtimes) await rt.start();

  const t0 = Date.now();
  let cut = false;
  for (let s = 1; s <= SECONDS; s++) {
    await new Promise((r) => setTimeout(r, 1000 - ((Date.now() - t0) % 1000)));
    if (broker && s === OUTAGE_AT) {
      broker.cut();
      cut = true;
    }
    if (broker && cut && s === OUTAGE_AT + OUTAGE_S) {
      await broker.restore();
      cut = false;
    }
    const st = agg.stats();
    const nodes = runtimes
      .map((rt) => {
        const x = rt.stats();
        return `${rt.config.node} ${String(x.seq).padStart(4)} sent${x.outbox.depth ? ` (${x.outbox.depth} queued)` : ''}`;
      })
      .join(' | ');
    out(`[${String(s).padStart(3)} s]${cut ? ' LINK DOWN' : ''} ${nodes} || cloud accepted ${st.accepted}, duplicates ${st.duplicates}, points ${st.pointsWritten}\n`);
  }

  // Let the backlogs drain before stopping so the summary shows nothing lost.
  const deadline = Date.now() + 30_000;
  while (runtimes.some((rt) => rt.stats().outbox.depth > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  for (const rt of runtimes) await rt.stop();
  await agg.flush();
  const st = agg.stats();
  const emitted = runtimes.reduce((n, rt) => n + rt.stats().seq, 0);
  await agg.stop();
  await broker?.close();

  out('\nsummary\n');
  out(`  summaries emitted by the edge boxes   ${emitted}\n`);
  out(`  accepted by the aggregator            ${st.accepted} (status messages included)\n`);
  out(`  duplicates dropped (replays)          ${st.duplicates}\n`);
  out(`  rejected payloads                     ${Object.values(st.rejected).reduce((a, b) => a + b, 0)}\n`);
  out(`  open sequence gaps                    ${st.gaps}\n`);
  out(`  points written                        ${st.pointsWritten}\n`);
  if (!influxUrl && existsSync(lineFile)) {
    const stored = storedPerNode(lineFile);
    out(`  line protocol file                    ${lineFile}\n`);
    out(`  import it with: influx -import -path=${lineFile} -precision=ns\n\n`);
    out('  node     emitted  in the file  lost  doubled\n');
    for (const rt of runtimes) {
      const n = rt.config.node;
      const s = stored.get(n) ?? { distinct: 0, rows: 0 };
      const emittedN = rt.stats().seq;
      out(`  ${n.padEnd(8)} ${String(emittedN).padStart(7)}  ${String(s.distinct).padStart(11)}  ${String(Math.max(0, emittedN - s.distinct)).padStart(4)}  ${String(s.rows - s.distinct).padStart(7)}\n`);
    }
  }
}

/** Distinct summaries (node, boot, seq) per node in the line file, and how many summary rows there are. */
function storedPerNode(file: string): Map<string, { distinct: number; rows: number }> {
  const seen = new Map<string, Set<string>>();
  const rows = new Map<string, number>();
  for (const l of readFileSync(file, 'utf8').split('\n')) {
    // One row per summary: skip the header, status points and the extra per-detector / per-source rows.
    if (!l || l.startsWith('#') || /^(CREATE|node_status|rad_detector)[ ,]/.test(l)) continue;
    const node = /,node=([^, ]+)/.exec(l)?.[1];
    const seq = /[ ,]seq=(\d+)i/.exec(l)?.[1];
    const boot = /[ ,]boot="([^"]+)"/.exec(l)?.[1];
    if (!node || seq === undefined || !boot) continue;
    if (l.startsWith('source,') && !/[ ,]idx=0i/.test(l)) continue;
    let set = seen.get(node);
    if (!set) seen.set(node, (set = new Set()));
    set.add(`${boot}:${seq}`);
    rows.set(node, (rows.get(node) ?? 0) + 1);
  }
  return new Map([...seen].map(([n, set]) => [n, { distinct: set.size, rows: rows.get(n) ?? 0 }]));
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`demo failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
