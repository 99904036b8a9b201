// The localize pipeline in the runtime: simulated N42 drive around a source -> folder driver -> streaming localizer -> `source` summaries over a real Mosquitto.
import t from 'tap';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { decode } from '../../protocol/index.js';
import { parseEdgeConfig } from '../../edge/runtime/config.js';
import { EdgeRuntime } from '../../edge/runtime/runtime.js';
import { toLocal } from '../../analysis/radiation/localize/geo.js';
import { insideRegion } from '../../analysis/radiation/localize/estimate.js';
import { startMosquitto, tempDir } from '../harness/services.js';
import { until } from '../helpers/wait.js';

interface SourceEntry {
  lat: number;
  lon: number;
  height_m: number;
  nuclide?: string;
  cps_at_1m: number;
  activity_Bq?: number;
  ci95_m?: number;
  ambiguous: boolean;
  ci95_semiAxes_m: [number, number, number];
  ci95_axes: [[number, number, number], [number, number, number], [number, number, number]];
}

t.test('loops around a Cs-137 source: a source summary arrives with the true position inside its 95 % region', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.close());
  const dir = tempDir('rad-localize-pipeline');
  const spool = join(dir, 'spectra');
  const origin = { lat: 51.95, lon: 4.05 };
  const truth = { x_m: 0, y_m: 0, z_m: 2 };
  const detectors = [
    { id: 'low', model: 'NaI-2x2', offset: { x_m: 0, y_m: 0, z_m: 0.5 } },
    { id: 'mid', model: 'NaI-2x4x16', offset: { x_m: 0, y_m: 0, z_m: 1.5 } },
    { id: 'high', model: 'NaI-2x2', offset: { x_m: 0, y_m: 0, z_m: 2.8 } },
  ];
  const rt = new EdgeRuntime({
    config: parseEdgeConfig('test', {
      node: 'veh-07',
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
            speedup: 10,
            repeat: true,
            count: 160,
            seed: 2,
            origin,
            sources: [{ nuclide: 'Cs137', activity_Bq: 1e8, position: truth }],
            detectors,
            // Laps of 10 m radius beside the source (4 to 24 m away), a reading every 1.5 m: seen from all sides.
            trajectory: { kind: 'loop', speed_m_s: 3, center: { x_m: 14, y_m: 0 }, radius_m: 10 },
          },
        },
        { name: 'spectrometers', type: 'n42-folder', options: { dir: spool } },
      ],
      pipelines: [{ name: 'loc', type: 'localize', options: { detectors: detectors.map(({ id, model }) => ({ id, model })), nuclide: 'Cs137', minEmit_s: 3 } }],
    }),
  });
  const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 5 });
  t.teardown(() => sub.end(true));
  await sub.subscribeAsync('customs/v1/port-a/veh-07/source', { qos: 1 });
  const msgs: { estimateId: string; sources: SourceEntry[] }[] = [];
  const bad: string[] = [];
  sub.on('message', (topic, payload) => {
    const d = decode(topic, payload);
    if (!d.ok) return void bad.push(d.detail);
    if (d.kind === 'source') msgs.push(d.msg as never);
  });
  await rt.start();
  t.teardown(() => rt.stop());
  // 160 half-second files at 10x: about 8 s of writing; estimates follow as the files are read.
  await until('a source summary', () => msgs.length >= 1, 60_000);
  await new Promise((r) => setTimeout(r, 9000));
  for (const m of msgs) t.comment(JSON.stringify(m.sources.map((s) => ({ ...toLocal(origin, { lat: s.lat, lon: s.lon, height_m: s.height_m }), cps: s.cps_at_1m, amb: s.ambiguous }))));
  t.same(bad, [], 'every message valid against the protocol schema');
  t.ok(msgs.length >= 1, `${msgs.length} source summaries`);
  t.ok(new Set(msgs.map((m) => m.estimateId)).size === 1, 'one estimate id for one source episode');
  const last = msgs[msgs.length - 1];
  t.equal(last.sources.length, 1, 'one source');
  const s = last.sources[0];
  t.equal(s.nuclide, 'Cs137');
  t.equal(s.ambiguous, false, 'loops around: not ambiguous');
  const p = toLocal(origin, { lat: s.lat, lon: s.lon, height_m: s.height_m });
  const err = Math.hypot(p.x_m - truth.x_m, p.y_m - truth.y_m, p.z_m - truth.z_m);
  t.ok(insideRegion(p, { semiAxes_m: s.ci95_semiAxes_m, axes: s.ci95_axes, method: 'fisher' }, truth), `truth inside the 95 % region (error ${err.toFixed(2)} m, semi-axes ${s.ci95_semiAxes_m.map((a) => a.toFixed(2)).join(', ')} m)`);
  t.ok(s.ci95_m !== undefined && s.ci95_m < 5, `95 % region largest semi-axis ${s.ci95_m?.toFixed(2)} m`);
  t.ok(s.activity_Bq !== undefined && Math.abs(s.activity_Bq / 1e8 - 1) < 0.3, `activity ${((s.activity_Bq ?? 0) / 1e6).toFixed(0)} MBq (true 100)`);
});
