// The radiation chain in the runtime: simulated N42 drive → folder driver → pipeline → MQTT summaries and an alarm.
import t from 'tap';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { decode } from '../../protocol/index.js';
import { parseEdgeConfig } from '../../edge/runtime/config.js';
import { EdgeRuntime } from '../../edge/runtime/runtime.js';
import { readRadFile } from '../../devices/radiation/files.js';
import { startMosquitto, tempDir } from '../harness/services.js';
import { until } from '../helpers/wait.js';

t.test('a drive past a Cs-137 source: per-second summaries, one alarm identifying Cs-137 (fit and classifier), spectra archived as N42', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.close());
  const dir = tempDir('rad-pipeline');
  const spool = join(dir, 'spectra');
  const archive = join(dir, 'alarms');
  const detectors = [
    { id: 'left', model: 'NaI-2x4x16' },
    { id: 'right', model: 'NaI-2x4x16' },
  ];
  const rt = new EdgeRuntime({
    config: parseEdgeConfig('test', {
      node: 'veh-05',
      site: 'port-a',
      role: 'vehicle',
      broker: { url: `mqtt://127.0.0.1:${broker.port}` },
      outbox: { dir: join(dir, 'outbox'), cloudAck: false },
      clock: { trust: 'assume' },
      devices: [
        {
          name: 'sim',
          type: 'n42-simulator',
          options: {
            dir: spool,
            dt_s: 0.5,
            speedup: 40,
            repeat: false,
            sources: [{ nuclide: 'Cs137', activity_Bq: 3.7e7, position: { x_m: 0, y_m: 0, z_m: 1 } }],
            detectors: detectors.map((d, i) => ({ ...d, offset: { x_m: 0, y_m: i === 0 ? 1 : -1, z_m: 0.9 } })),
            trajectory: { kind: 'straight', speed_m_s: 2.8, offset_m: 4, from_m: -300, to_m: 80 },
          },
        },
        { name: 'spectrometers', type: 'n42-folder', options: { dir: spool } },
      ],
      pipelines: [{ name: 'rad', type: 'radiation', options: { detectors, interval_s: 1, archiveDir: archive, identifyMethod: 'both' } }],
    }),
  });
  const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 5 });
  t.teardown(() => sub.end(true));
  await sub.subscribeAsync('customs/v1/port-a/veh-05/+', { qos: 1 });
  const rad: { gross_cps: number; doseRate_uSv_h?: number; position?: { lat: number } }[] = [];
  const alarms: { nuclides: { nuclide: string; category: string; confidence: number }[]; classifier?: { nuclide: string }[]; statistic: number; threshold: number }[] = [];
  const bad: string[] = [];
  sub.on('message', (topic, payload) => {
    const d = decode(topic, payload);
    if (!d.ok) return void bad.push(d.detail);
    if (d.kind === 'rad') rad.push(d.msg as never);
    if (d.kind === 'alarm') alarms.push(d.msg as never);
  });
  await rt.start();
  t.teardown(() => rt.stop());
  // 380 m at 2.8 m/s: about 136 s of driving, 272 files.
  await until('the drive to be processed', () => rad.length >= 130 && alarms.length >= 1, 90_000).catch((e: Error) => {
    throw new Error(`${e.message}: ${rad.length} summaries, ${alarms.length} alarms, runtime ${JSON.stringify(rt.stats().components)}`);
  });
  await new Promise((r) => setTimeout(r, 1500));
  t.same(bad, [], 'every message valid');
  t.ok(rad.length >= 130, `${rad.length} per-second summaries`);
  const bg = rad.slice(20, 60).map((r) => r.gross_cps);
  const bgMean = bg.reduce((a, b) => a + b, 0) / bg.length;
  t.ok(bgMean > 2000 && bgMean < 8000, `background of two 2x4x16 logs: ${bgMean.toFixed(0)} cps`);
  t.ok(rad.every((r) => r.position && Number.isFinite(r.position.lat)), 'every summary has a position');
  t.ok(Math.max(...rad.map((r) => r.gross_cps)) > bgMean * 1.5, 'count rate rises near the source');
  t.equal(alarms.length, 1, 'one alarm for one pass');
  const a = alarms[0]!;
  t.ok(a.statistic >= a.threshold, 'alarm statistic over its threshold');
  t.equal(a.nuclides[0]?.nuclide, 'Cs137', `identified ${JSON.stringify(a.nuclides)}`);
  t.equal(a.nuclides[0]?.category, 'industrial');
  t.equal(a.classifier?.[0]?.nuclide, 'Cs137', `the ONNX classifier beside the fit: ${JSON.stringify(a.classifier)}`);
  t.match(rt.status(true).models, { 'nuclide-id': 'template-fit-1', 'nuclide-classifier': /^nuclide-classifier-\d+$/ }, 'both methods in status');
  const files = readdirSync(archive).filter((f) => f.endsWith('.n42'));
  t.equal(files.length, 1, 'alarm spectra archived');
  const archived = await readRadFile(join(archive, files[0]!));
  t.ok(archived.measurements.length >= 2, 'the alarm measurement intervals are in the file');
  t.equal((archived as { nuclides?: { name: string }[] }).nuclides?.[0]?.name, 'Cs-137', 'nuclide result in the N42 file');
});
