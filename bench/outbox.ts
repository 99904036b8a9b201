// Bench: edge publish rate through the durable outbox and the MQTT link to a real Mosquitto, per fsync policy.
import { Outbox, type FsyncPolicy } from '../edge/runtime/outbox.js';
import { MqttLink } from '../edge/runtime/link.js';
import { startMosquitto, tempDir } from '../test/harness/services.js';

export interface OutboxBench {
  fsync: FsyncPolicy;
  messages: number;
  msg_s: number;
  bytesPerMessage: number;
}

/** A realistic per-second radiation summary of an 8-detector vehicle (the most frequent edge message). */
function radPayload(seq: number): Buffer {
  return Buffer.from(
    JSON.stringify({
      v: 1,
      node: 'veh-01',
      site: 'port-a',
      boot: '0123456789abcdef',
      seq,
      ts: Date.now(),
      tsTrusted: true,
      mono_ms: seq * 1000,
      live_s: 0.98,
      gross_cps: 1650.4,
      doseRate_uSv_h: 0.081,
      detectors: Array.from({ length: 8 }, (_, i) => ({ id: `d${i}`, cps: 205.3 + i, doseRate_uSv_h: 0.08 })),
      position: { lat: 51.95123, lon: 4.05234, height_m: 1.2, fix: 1, hdop: 0.9 },
    }),
  );
}

export async function benchOutbox(opts: { messages: number; fsync: FsyncPolicy }): Promise<OutboxBench> {
  const broker = await startMosquitto();
  const outbox = await Outbox.open({ dir: tempDir('bench-outbox'), maxBytes: 1 << 30, segmentBytes: 8 << 20, fsync: opts.fsync });
  const link = new MqttLink({
    url: `mqtt://127.0.0.1:${broker.port}`,
    clientId: 'bench-edge',
    keepalive_s: 30,
    reconnect_ms: 100,
    statusTopic: 'customs/v1/port-a/veh-01/status',
    inflight: 1000,
    backlogRate_per_s: 1e9,
    outbox,
    makeStatus: (online) => Buffer.from(JSON.stringify({ online })),
  });
  link.start();
  await new Promise<void>((resolve) => link.once('connected', () => resolve()));
  const bytes = radPayload(0).length;
  const t0 = performance.now();
  // Producers emit in bursts as pipelines do (several detectors' summaries per tick), awaiting durability.
  const burst = 64;
  for (let s = 0; s < opts.messages; s += burst) {
    const batch = [];
    for (let i = s; i < Math.min(opts.messages, s + burst); i++) {
      batch.push(outbox.append('customs/v1/port-a/veh-01/rad', 'routine', radPayload(i)).then((e) => e && link.enqueue(e)));
    }
    await Promise.all(batch);
  }
  while (outbox.stats().depth > 0) await new Promise((r) => setTimeout(r, 5));
  const dt = (performance.now() - t0) / 1000;
  await link.stop();
  await outbox.close();
  await broker.close();
  return { fsync: opts.fsync, messages: opts.messages, msg_s: opts.messages / dt, bytesPerMessage: bytes };
}
