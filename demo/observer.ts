// The demo's window on what the boxes found: an MQTT client that keeps alarms, source estimates, X-ray decisions and camera events.
import mqtt, { type MqttClient } from 'mqtt';
import { decode } from '../protocol/index.js';

export interface Seen {
  alarms: { node: string; alarmId: string; nuclides: { nuclide: string; category: string; confidence: number }[]; classifier?: { nuclide: string; confidence: number }[]; gross_cps: number }[];
  sources: { node: string; estimateId: string; sources: { lat: number; lon: number; height_m: number; nuclide?: string; activity_Bq?: number; ci95_m?: number; ambiguous: boolean }[] }[];
  xray: { node: string; scanId: string; decision: string; reasons: string[]; detections: { class: string; score: number }[] }[];
  events: { node: string; camera: string; type: string; trackIds: number[]; zone?: string; duration_s?: number }[];
}

/**
 * A persistent session (clean: false) so that the broker keeps what is published while this client reconnects
 * after the demo's outage; (node, boot, seq) drops redeliveries.
 */
export async function observe(url: string, site: string, protocolVersion: 4 | 5): Promise<{ seen: Seen; stop(): Promise<void> }> {
  const seen: Seen = { alarms: [], sources: [], xray: [], events: [] };
  const ids = new Set<string>();
  const client: MqttClient = await mqtt.connectAsync(url, { protocolVersion, clientId: `customs-demo-observer-${process.pid}`, clean: false, reconnectPeriod: 250 });
  const onMessage = (topic: string, payload: Buffer): void => {
    const d = decode(topic, payload);
    if (!d.ok) return;
    const m = d.msg as { node: string; boot: string; seq: number };
    const key = `${m.node}/${m.boot}/${m.seq}`;
    if (ids.has(key)) return;
    ids.add(key);
    if (d.kind === 'alarm') seen.alarms.push(d.msg as never);
    else if (d.kind === 'source') seen.sources.push(d.msg as never);
    else if (d.kind === 'xray') seen.xray.push(d.msg as never);
    else if (d.kind === 'event') seen.events.push(d.msg as never);
  };
  client.on('message', onMessage);
  await client.subscribeAsync([`customs/v1/${site}/+/alarm`, `customs/v1/${site}/+/source`, `customs/v1/${site}/+/xray`, `customs/v1/${site}/+/event`], { qos: 1 });
  return {
    seen,
    async stop() {
      client.off('message', onMessage);
      await client.endAsync(true);
    },
  };
}
