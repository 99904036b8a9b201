// One radiation chain: a recorded drive through a running node (N42 folder driver → radiation pipeline → outbox →
// Mosquitto) and through `customs-edge rad alarm` gives the same alarm events, field for field.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import mqtt from 'mqtt';
import { DETECTORS } from '../../analysis/radiation/dose.js';
import { writeN42 } from '../../analysis/radiation/formats/index.js';
import { simulateDrive, straightPass } from '../../analysis/radiation/sim/drive.js';
import type { Scene, SimDetector } from '../../analysis/radiation/sim/scene.js';
import { writeDriveN42 } from '../../devices/radiation/files.js';
import { parseEdgeConfig } from '../../edge/runtime/config.js';
import { EdgeRuntime } from '../../edge/runtime/runtime.js';
import { decode } from '../../protocol/index.js';
import { startMosquitto, tempDir } from '../harness/services.js';
import { EDGE_CLI } from '../helpers/paths.js';
import { until } from '../helpers/wait.js';

interface AlarmLike {
  alarmId: string;
  test: string;
  detector?: string;
  statistic: number;
  threshold: number;
  gross_cps: number;
  doseRate_uSv_h: number;
  nuclides: { nuclide: string; confidence: number; category: string }[];
}

/** What must be equal: everything but the id's prefix (node name against the CLI's) and the envelope. */
const comparable = (a: AlarmLike) => ({
  start_ms: Number(a.alarmId.split('-').pop()),
  test: a.test,
  detector: a.detector ?? null,
  statistic: a.statistic,
  threshold: a.threshold,
  gross_cps: a.gross_cps,
  doseRate_uSv_h: a.doseRate_uSv_h,
  nuclides: a.nuclides,
});

t.test('rad alarm reproduces the node: same alarm events on the same recorded drive', async (t) => {
  const dir = tempDir('rad-parity');
  const dets: SimDetector[] = ['left', 'right'].map((id, i) => ({ id, model: DETECTORS['NaI-2x4x16']!, offset: { x_m: 0, y_m: i === 0 ? 1 : -1, z_m: 0.9 }, nChannels: 1024, keVPerChannel: 3 }));
  // Two sources along one drive: two passes, two alarms, after a quiet start long enough to learn the background.
  const scene: Scene = {
    sources: [
      { nuclide: 'Cs137', activity_Bq: 3.7e7, position: { x_m: 0, y_m: 0, z_m: 1 } },
      { nuclide: 'Co60', activity_Bq: 3.7e7, position: { x_m: 150, y_m: 0, z_m: 1 } },
    ],
    background: {},
    origin: { lat: 51.95, lon: 4.05 },
  };
  const ms = simulateDrive(scene, dets, straightPass({ speed_m_s: 2.8, offset_m: 4, from_m: -200, to_m: 220 }), { dt_s: 0.5, seed: 31 });
  const combined = join(dir, 'drive.n42');
  writeFileSync(combined, writeN42({ source: combined, format: 'N42-2012', detectors: dets.map((d) => ({ id: d.id, kind: 'NaI' })), measurements: ms }));
  const spool = join(dir, 'spool');
  await writeDriveN42(spool, ms, { detectors: dets, fileName: (m) => `${String(ms.indexOf(m)).padStart(5, '0')}.n42` });

  // The CLI on the single file.
  const cli = spawnSync(process.execPath, ['--import', 'tsx', EDGE_CLI, 'rad', 'alarm', combined, '--detector', 'NaI-2x4x16', '--interval', '1', '--json'], { encoding: 'utf8', timeout: 180_000 });
  t.equal(cli.status, 0, cli.stderr);
  const fromCli = (JSON.parse(cli.stdout) as { alarms: AlarmLike[] }).alarms;

  // The node on the per-measurement files.
  const broker = await startMosquitto();
  t.teardown(() => broker.close());
  const detectors = dets.map((d) => ({ id: d.id, model: 'NaI-2x4x16' }));
  const rt = new EdgeRuntime({
    config: parseEdgeConfig('test', {
      node: 'veh-09',
      site: 'port-a',
      role: 'vehicle',
      broker: { url: `mqtt://127.0.0.1:${broker.port}` },
      outbox: { dir: join(dir, 'outbox'), cloudAck: false },
      clock: { trust: 'assume' },
      devices: [{ name: 'spectrometers', type: 'n42-folder', options: { dir: spool } }],
      pipelines: [{ name: 'rad', type: 'radiation', options: { detectors, interval_s: 1 } }],
    }),
  });
  const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 5 });
  t.teardown(() => sub.end(true));
  await sub.subscribeAsync('customs/v1/port-a/veh-09/+', { qos: 1 });
  const fromNode: AlarmLike[] = [];
  let rads = 0;
  sub.on('message', (topic, payload) => {
    const d = decode(topic, payload);
    if (d.ok && d.kind === 'alarm') fromNode.push(d.msg as unknown as AlarmLike);
    if (d.ok && d.kind === 'rad') rads++;
  });
  await rt.start();
  t.teardown(() => rt.stop());
  // 420 m at 2.8 m/s: 150 s of data, one summary a second; the last interval stays open (no later reading).
  await until('the drive to be processed', () => rads >= 148 && fromNode.length >= fromCli.length, 120_000).catch((e: Error) => {
    throw new Error(`${e.message}: ${rads} summaries, ${fromNode.length} alarms from the node, ${fromCli.length} from the CLI`);
  });

  t.ok(fromCli.length >= 2, `the CLI reports ${fromCli.length} alarms (two passes)`);
  t.same(fromNode.map(comparable), fromCli.map(comparable), 'the node reported exactly what the CLI reports');
  t.ok(fromCli.some((a) => a.nuclides[0]?.nuclide === 'Cs137') && fromCli.some((a) => a.nuclides.some((n) => n.nuclide === 'Co60')), `identified: ${fromCli.map((a) => a.nuclides.map((n) => n.nuclide).join('+')).join(', ')}`);
});
