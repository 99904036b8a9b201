// npm start: the whole chain on embedded defaults — in-process broker, four simulated edge boxes, the aggregator.
//
// The vehicle and the X-ray box run their real chains against simulators that speak the instruments' own files:
// an N42 drive past a Cs-137 source (n42-simulator -> n42-folder -> radiation + localize) and synthetic TIP scans
// dropped into a scanner folder (xray-folder -> xray with the shipped ATR model), and where GStreamer's Node
// bindings load, a generated arrival-hall video through the camera pipeline. The handheld (whose guidance needs a
// walk) stays on the synthetic pipeline, and so does the camera where the bindings do not load.
//
// Nothing needs installing beyond `npm ci`: the broker is aedes (MQTT 3.1.1) in this process, and with no
// InfluxDB configured the aggregator writes InfluxDB line protocol to a file that `influx -import` reads.
// Set INFLUX_URL (and INFLUX_DB) to fill a real InfluxDB for Grafana instead; MQTT_URL to use a real broker;
// DEMO_SECONDS for the run time and DEMO_SPEEDUP for the vehicle's simulated drive.
import { createServer, type Server, type Socket } from 'node:net';
import { mkdirSync, mkdtempSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Aedes } from 'aedes';
import { Aggregator } from '../cloud/aggregator.js';
import { parseAggregatorConfig } from '../cloud/config.js';
import { parseEdgeConfig } from '../edge/runtime/config.js';
import { EdgeRuntime } from '../edge/runtime/runtime.js';
import { hallScenario } from '../analysis/vision/scene.js';
import { writeSceneVideo } from '../edge/vision/video.js';
import { observe, type Seen } from './observer.js';
import { prepareScans } from './scans.js';
import { configureLogging } from '../common/log.js';

// Progress goes to stdout and the runtime's log lines to a file (DEMO_LOG, default out/demo.log; "-" for stderr), so the
// edge boxes' warnings during the link cut never land between the progress lines a person reads.
const OUT_DIR = resolve('out');
const LOG_FILE = process.env.DEMO_LOG === '-' ? undefined : resolve(process.env.DEMO_LOG || join(OUT_DIR, 'demo.log'));
configureLogging(LOG_FILE !== undefined ? { file: LOG_FILE } : {});

const SECONDS = Number(process.env.DEMO_SECONDS ?? 20);
const OUTAGE_AT = Math.round(SECONDS * 0.35);
const OUTAGE_S = Math.max(2, Math.round(SECONDS * 0.2));
const out = (s: string) => process.stdout.write(s);
// The repository root (models/, node_modules/) from source (demo/) or from the build (dist/demo/).
const ROOT = [resolve(import.meta.dirname, '..'), resolve(import.meta.dirname, '..', '..')].find((d) => existsSync(join(d, 'models'))) ?? resolve(import.meta.dirname, '..');
// Simulated seconds per wall second of the drive: one pass (36 s of data) every ~4.5 s, so even a short run sees the source.
const SPEEDUP = Number(process.env.DEMO_SPEEDUP ?? 8);
const SCANS = 6;

interface NodeDef {
  node: string;
  role: 'vehicle' | 'handheld' | 'xray' | 'camera';
  /** What the node runs, as printed in the header. */
  what: string;
  devices?: unknown[];
  pipelines: unknown[];
}

const synthetic = (seed: number, kinds: string[], rate_hz: number, alarmEvery: number, detectors: number) => ({
  name: 'sim',
  type: 'synthetic',
  options: { rate_hz, kinds, seed, alarmEvery, detectors },
});

/**
 * cam-01 runs the camera pipeline only where the optional GStreamer bindings load (tried in a child, so the native
 * library stays out of this process) and the hall video can be encoded; otherwise the reason, and synthetic events.
 */
async function prepareCamera(work: string): Promise<{ video: string; scenario: ReturnType<typeof hallScenario> } | { why: string }> {
  const probe = spawnSync(process.execPath, ['-e', "require('gstreamer-superficial')"], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
  if (probe.status !== 0) return { why: `gstreamer-superficial does not load: ${(probe.stderr || probe.error?.message || 'no reason').trim().split('\n').find((l) => /Error/.test(l)) ?? 'exit ' + String(probe.status)}` };
  const scenario = hallScenario({ width: 320, height: 240 });
  const video = join(work, 'hall.avi');
  try {
    await writeSceneVideo({ scenario, file: video, truthFile: false });
  } catch (e) {
    return { why: `the hall video could not be encoded: ${(e as Error).message}` };
  }
  return { video, scenario };
}

function nodes(work: string, cam: Awaited<ReturnType<typeof prepareCamera>>): NodeDef[] {
  const spool = join(work, 'veh-01-spectra');
  const detectors = [
    { id: 'low', model: 'NaI-2x4x16', offset: { x_m: 0, y_m: 1, z_m: 0.5 } },
    { id: 'mid', model: 'NaI-2x4x16', offset: { x_m: 0, y_m: -1, z_m: 1.5 } },
    { id: 'high', model: 'NaI-2x2', offset: { x_m: 0, y_m: 0, z_m: 2.8 } },
  ];
  const ids = detectors.map(({ id, model }) => ({ id, model }));
  return [
    {
      node: 'veh-01',
      role: 'vehicle',
      what: `N42 drive past 100 MBq Cs-137 at ${SPEEDUP}x -> radiation (fit + classifier) + localize`,
      devices: [
        {
          name: 'sim',
          type: 'n42-simulator',
          options: {
            dir: spool,
            dt_s: 0.5,
            speedup: SPEEDUP,
            repeat: true,
            seed: 11,
            sources: [{ nuclide: 'Cs137', activity_Bq: 1e8, position: { x_m: 0, y_m: 0, z_m: 1 } }],
            detectors,
            // 120 m of background, the source 4 m beside the lane, 60 m after it; then the next pass (the jump back to
            // the start of the lane is logged by the localizer as a GPS jump and skipped).
            trajectory: { kind: 'straight', speed_m_s: 5, offset_m: 4, from_m: -120, to_m: 60 },
          },
        },
        { name: 'spectrometers', type: 'n42-folder', options: { dir: spool } },
      ],
      pipelines: [
        { name: 'rad', type: 'radiation', options: { detectors: ids, interval_s: 1, identifyMethod: 'both' } },
        { name: 'loc', type: 'localize', options: { detectors: ids, nuclide: 'Cs137', minEmit_s: 3 } },
      ],
    },
    { node: 'hh-01', role: 'handheld', what: 'synthetic rad summaries and alarms', pipelines: [synthetic(1001, ['rad'], 2, 25, 1)] },
    {
      node: 'xr-01',
      role: 'xray',
      what: `${SCANS} synthetic TIP scans dropped into the scanner folder -> xray (shipped ATR model)`,
      devices: [{ name: 'scanner', type: 'xray-folder', options: { dir: join(work, 'xr-01-drop'), rescan_ms: 200, pairTimeout_ms: 5000 } }],
      pipelines: [{ name: 'xray', type: 'xray', options: { stages: [{ name: 'threats', card: join(ROOT, 'models', 'xray-atr', 'model-card.json') }], logDir: join(work, 'xr-01-decisions') } }],
    },
    'video' in cam
      ? {
          node: 'cam-01',
          role: 'camera',
          what: `generated ${cam.scenario.width}x${cam.scenario.height} arrival-hall video (a left bag, a bag switch, companions, a dwell) -> camera pipeline`,
          pipelines: [
            {
              name: 'hall',
              type: 'camera',
              options: {
                cameras: [{ id: 'hall-1', uri: `file://${cam.video}` }],
                zones: cam.scenario.zones.map((z) => ({ ...z, camera: 'hall-1' })),
                flagged: { zones: ['desk'] },
                thresholds: cam.scenario.thresholds,
                stillsDir: join(work, 'cam-01-stills'),
                // The generated hall is drawn for the synthetic-scene detector (a fixture; the node's default is the
                // pretrained COCO detector), and every frame goes through it: its crops are not what it was trained on.
                model: join(ROOT, 'models', 'camera-detector', 'model-card.json'),
                gate: { enabled: false },
              },
            },
          ],
        }
      : { node: 'cam-01', role: 'camera', what: `synthetic events (${cam.why})`, pipelines: [synthetic(1003, ['event'], 1, 0, 1)] },
  ];
}

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
  mkdirSync(OUT_DIR, { recursive: true });
  const lineFile = join(OUT_DIR, 'demo.lp');
  const external = process.env.MQTT_URL || undefined;
  const broker = external ? undefined : await startBroker();
  const mqttUrl = external ?? broker!.url;
  const influxUrl = process.env.INFLUX_URL || undefined;

  // 256 px at 0.25 cm is what the shipped ATR model was trained on (its card); seed 7 gives clean bags and planted threats.
  const [scans, cam] = await Promise.all([prepareScans({ work, drop: join(work, 'xr-01-drop'), count: SCANS, size: 256, seed: 7 }), prepareCamera(work)]);
  const NODES = nodes(work, cam);
  out(`customs demo: ${NODES.length} simulated edge boxes -> MQTT ${external ? mqttUrl : `(in-process aedes ${mqttUrl})`} -> aggregator -> ${influxUrl ? `InfluxDB ${influxUrl}` : `line protocol ${lineFile}`}\n`);
  for (const d of NODES) out(`  ${d.node.padEnd(7)} ${d.what}\n`);
  out(`running ${SECONDS} s; the broker link is cut at ${OUTAGE_AT} s for ${OUTAGE_S} s to show the durable outbox catching up\n`);
  const logName = LOG_FILE !== undefined ? relative(process.cwd(), LOG_FILE) : undefined;
  out(`log lines of the boxes and the aggregator: ${logName !== undefined ? `${logName} (read it with: npx pino-pretty < ${logName})` : 'stderr'}\n\n`);

  const agg = new Aggregator({
    config: parseAggregatorConfig('demo', {
      id: 'demo',
      mqtt: { url: mqttUrl, ...(external ? {} : { protocolVersion: 4, shared: false }) },
      ...(influxUrl ? { influx: { url: influxUrl, database: process.env.INFLUX_DB ?? 'customs' } } : { lineFile }),
      spool: { dir: join(work, 'spool') },
    }),
  });
  await agg.start();
  const observer = await observe(mqttUrl, 'port-a', external ? 5 : 4);

  const runtimes = NODES.map(
    (d) =>
      new EdgeRuntime({
        config: parseEdgeConfig(`demo:${d.node}`, {
          node: d.node,
          site: 'port-a',
          role: d.role,
          broker: { url: mqttUrl, ...(external ? {} : { protocolVersion: 4 }), reconnect_ms: 250 },
          outbox: { dir: join(work, d.node), fsync: 'always', backlogRate_per_s: 50 },
          clock: { trust: 'assume' },
          health: { heartbeat_s: 2 },
          devices: d.devices ?? [],
          pipelines: d.pipelines,
        }),
      }),
  );
  for (const rt of runtimes) await rt.start();

  const t0 = Date.now();
  let cut = false;
  // The scans arrive spread over the run (the last ones while the link may be down: they wait in the outbox).
  const scanEvery = Math.max(1, Math.floor((SECONDS - 2) / SCANS));
  let dropped = 0;
  for (let s = 1; s <= SECONDS; s++) {
    await new Promise((r) => setTimeout(r, 1000 - ((Date.now() - t0) % 1000)));
    if ((s - 1) % scanEvery === 0 && dropped < SCANS) await scans.drop(dropped++);
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
  // The observer's persistent session catches up on what the broker held for it after the outage.
  await new Promise((r) => setTimeout(r, 500));
  await observer.stop();
  // The hall video is tens of MB; the rest of the scratch folder (outboxes, decision log) is small and kept.
  if ('video' in cam) rmSync(cam.video, { force: true });
  await agg.flush();
  const st = agg.stats();
  const emitted = runtimes.reduce((n, rt) => n + rt.stats().seq, 0);
  await agg.stop();
  await broker?.close();

  printFindings(observer.seen, scans.threats, 'video' in cam);
  out('\nsummary\n');
  out(`  summaries emitted by the edge boxes   ${emitted}\n`);
  out(`  accepted by the aggregator            ${st.accepted} (status messages included)\n`);
  out(`  duplicates dropped (replays)          ${st.duplicates}\n`);
  out(`  rejected payloads                     ${Object.values(st.rejected).reduce((a, b) => a + b, 0)}\n`);
  out(`  open sequence gaps                    ${st.gaps}\n`);
  out(`  points written                        ${st.pointsWritten}\n`);
  if (!influxUrl && existsSync(lineFile)) {
    // The file grows across runs: count only the boots of this run.
    const stored = storedPerNode(lineFile, new Set(runtimes.map((rt) => rt.boot)));
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

/** What the boxes found, beyond the counters: the vehicle's alarms and source estimate, the X-ray decisions. */
function printFindings(seen: Seen, threats: Map<string, string[]>, cameraEvents: boolean): void {
  out('\nwhat the boxes found\n');
  for (const a of seen.alarms) {
    const nucl = a.nuclides.map((n) => `${n.nuclide} (${n.category}, ${n.confidence.toFixed(2)})`).join(', ') || 'none identified';
    const cls = a.classifier?.length ? `; classifier ${a.classifier.map((n) => `${n.nuclide} ${n.confidence.toFixed(2)}`).join(', ')}` : '';
    out(`  ${a.node} alarm ${a.alarmId}: ${nucl}${cls}; ${Math.round(a.gross_cps)} cps\n`);
  }
  // The latest estimate of each episode: earlier ones are the same source, refined.
  const latest = new Map<string, Seen['sources'][number]>();
  for (const s of seen.sources) latest.set(s.estimateId, s);
  for (const e of latest.values()) {
    for (const s of e.sources) {
      const act = s.activity_Bq !== undefined ? `, ${(s.activity_Bq / 1e6).toFixed(0)} MBq` : '';
      const ci = s.ci95_m !== undefined ? `ci95 ${s.ci95_m.toFixed(1)} m` : 'ci95 unbounded';
      out(`  ${e.node} source ${s.nuclide ?? '?'} at ${s.lat.toFixed(6)}, ${s.lon.toFixed(6)}, ${s.height_m.toFixed(1)} m; ${ci}${act}${s.ambiguous ? ' (mirror-ambiguous)' : ''} [${e.estimateId}]\n`);
    }
  }
  for (const x of seen.xray) {
    const planted = threats.get(x.scanId);
    const truth = planted === undefined ? '' : ` (planted: ${planted.length ? planted.join(', ') : 'none'})`;
    out(`  ${x.node} scan ${x.scanId} ${x.decision}: ${x.reasons.join('; ') || 'no reason given'}${truth}\n`);
  }
  // Synthetic camera events are a counter filler, not findings.
  for (const e of cameraEvents ? seen.events : []) {
    out(`  ${e.node} ${e.camera} ${e.type}${e.zone ? ` in ${e.zone}` : ''}: tracks ${e.trackIds.join(', ')}${e.duration_s !== undefined ? `, ${e.duration_s.toFixed(0)} s` : ''}\n`);
  }
  if (!seen.alarms.length && !seen.sources.length && !seen.xray.length) out('  (nothing yet: run longer)\n');
}

/** Distinct summaries (node, boot, seq) per node in the line file, and how many summary rows there are, for the given boots. */
function storedPerNode(file: string, boots: Set<string>): Map<string, { distinct: number; rows: number }> {
  const seen = new Map<string, Set<string>>();
  const rows = new Map<string, number>();
  for (const l of readFileSync(file, 'utf8').split('\n')) {
    // One row per summary: skip the header, status points and the extra per-detector / per-source rows.
    if (!l || l.startsWith('#') || /^(CREATE|node_status|rad_detector)[ ,]/.test(l)) continue;
    const node = /,node=([^, ]+)/.exec(l)?.[1];
    const seq = /[ ,]seq=(\d+)i/.exec(l)?.[1];
    const boot = /[ ,]boot="([^"]+)"/.exec(l)?.[1];
    if (!node || seq === undefined || !boot || !boots.has(boot)) continue;
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
