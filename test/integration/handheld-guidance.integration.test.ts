// Vehicle estimate → real aggregator relay (signed cmd/estimate) → handheld runtime: ack, refusals, walk, arrival, confirmation.
import t from 'tap';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { Aggregator } from '../../cloud/aggregator.js';
import { parseAggregatorConfig } from '../../cloud/config.js';
import { decode, generateSigningKey, signPayload, type AckMsg, type AlarmMsg, type SourceMsg } from '../../protocol/index.js';
import { parseEdgeConfig } from '../../edge/runtime/config.js';
import { EdgeRuntime } from '../../edge/runtime/runtime.js';
import type { Component, ComponentContext } from '../../contract/component.js';
import type { HandheldStatus } from '../../edge/pipelines/handheld.js';
import { DETECTORS } from '../../analysis/radiation/dose.js';
import { toGeo, toLocal } from '../../analysis/radiation/localize/geo.js';
import { expectedRates, mulberry32, poisson, type Scene, type SimDetector } from '../../analysis/radiation/sim/scene.js';
import { influxScalar, startInflux, startMosquitto, tempDir } from '../harness/services.js';
import { makeMessage, wire } from '../helpers/messages.js';
import { until } from '../helpers/wait.js';

const SITE = 'port-a';
const origin = { lat: 53.54, lon: 9.98 };

/** Test device: hands GPS fixes and spectra to the node's reading bus when told to. */
class Walker implements Component {
  readonly name = 'walker';
  readonly kind = 'device' as const;
  ctx: ComponentContext | undefined;
  async start(ctx: ComponentContext): Promise<void> {
    this.ctx = ctx;
  }
  async stop(): Promise<void> {
    this.ctx = undefined;
  }
}

t.test('estimate relayed signed to the handheld, refusals acked with the reason, walk to the spot and confirm', async (t) => {
  const mosq = await startMosquitto();
  t.teardown(() => mosq.close());
  const influx = await startInflux();
  t.teardown(() => influx.close());
  const dir = tempDir('hh-it');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const keys = generateSigningKey();
  writeFileSync(join(dir, 'agg.key'), keys.privateKeyPem);
  writeFileSync(join(dir, 'agg.pub'), keys.publicKeyPem);

  const agg = new Aggregator({
    config: parseAggregatorConfig('test', {
      id: 'agg-hh',
      mqtt: { url: `mqtt://127.0.0.1:${mosq.port}` },
      influx: { url: influx.url, database: 'hh_it', flushInterval_ms: 50 },
      spool: { dir: join(dir, 'spool') },
      relay: { keyId: 'agg-hh-1', privateKey: join(dir, 'agg.key') },
    }),
  });
  await agg.start();
  t.teardown(() => agg.stop());

  const mon = await mqtt.connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { protocolVersion: 5, clientId: 'hh-mon' });
  t.teardown(() => mon.endAsync());
  const acks: AckMsg[] = [];
  const sources: SourceMsg[] = [];
  const alarms: AlarmMsg[] = [];
  let retainedCmd: Buffer | undefined;
  mon.on('message', (topic, payload) => {
    if (topic.endsWith('/cmd/estimate')) {
      retainedCmd = payload;
      return;
    }
    const d = decode(topic, payload);
    if (!d.ok || d.msg.node !== 'hh-1') return;
    if (d.kind === 'ack') acks.push(d.msg as AckMsg);
    if (d.kind === 'source') sources.push(d.msg as SourceMsg);
    if (d.kind === 'alarm') alarms.push(d.msg as AlarmMsg);
  });
  await mon.subscribeAsync([`customs/v1/${SITE}/hh-1/+`, `customs/v1/${SITE}/hh-1/cmd/estimate`], { qos: 1 });

  const statusFile = join(dir, 'guidance.json');
  const walker = new Walker();
  const rt = new EdgeRuntime({
    config: parseEdgeConfig('test', {
      node: 'hh-1',
      site: SITE,
      role: 'handheld',
      broker: { url: `mqtt://127.0.0.1:${mosq.port}` },
      outbox: { dir: join(dir, 'outbox') },
      clock: { trust: 'assume' },
      health: { heartbeat_s: 0.5 },
      pipelines: [
        {
          name: 'guide',
          type: 'handheld',
          options: { trustedKeys: { 'agg-hh-1': join(dir, 'agg.pub') }, detector: { model: 'NaI-2x2' }, keVPerChannel: 3, confirm_s: 20, statusFile, doseLimit_uSv: 100 },
        },
      ],
    }),
    components: [walker],
  });
  await rt.start();
  t.teardown(() => rt.stop());
  await until('handheld known to the relay', () => (agg.relay?.stats().handhelds ?? 0) === 1, 20_000);

  // The vehicle's estimate, 2.5 m off the true source (local 0,0,1 m), with its 95 % ellipsoid as the localize
  // pipeline sends it (semi-axes 6, 5, 3 m along east, north, up).
  const est = toGeo(origin, { x_m: 2, y_m: -1.5, z_m: 1.5 });
  const vehicleSource = {
    lat: est.lat,
    lon: est.lon,
    height_m: 1.5,
    nuclide: 'Cs137',
    cps_at_1m: 5000,
    ci95_m: 6,
    doseRate_uSv_h_at_1m: 4.6,
    ambiguous: false,
    ci95_semiAxes_m: [6, 5, 3],
    ci95_axes: [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
  };
  const vehicleMsg = makeMessage('source', { node: 'veh-1', site: SITE, seq: 0, ts: Date.now() }, { estimateId: 'drive-7', sources: [vehicleSource] });
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { protocolVersion: 5, clientId: 'veh-1-sim' });
  t.teardown(() => pub.endAsync());
  const w = wire('source', vehicleMsg);
  await pub.publishAsync(w.topic, w.payload, { qos: 1 });

  await until('handheld acked the estimate', () => acks.some((a) => a.ok), 20_000);
  const ok = acks.find((a) => a.ok)!;
  t.equal(ok.cmd, 'estimate');
  t.equal(ok.cmdId, 'veh-1/drive-7', 'acked with the relayed command id');
  t.equal(agg.relay?.stats().relayed, 1, 'relayed once');
  await until('retained command seen', () => retainedCmd !== undefined);
  const env = JSON.parse(retainedCmd!.toString()) as { payload: { handheld: string; source: SourceMsg }; sig: { keyId: string } };
  t.equal(env.sig.keyId, 'agg-hh-1', 'signed with the aggregator key');
  t.equal(env.payload.handheld, 'hh-1');
  t.equal(env.payload.source.estimateId, 'drive-7', 'carries the vehicle summary');

  // Tampered (position moved after signing) and unsigned estimates: refused with the reason, the estimate unchanged.
  const cmdTopic = `customs/v1/${SITE}/hh-1/cmd/estimate`;
  const tampered = structuredClone(env);
  tampered.payload.source.sources[0]!.lat += 0.001;
  await pub.publishAsync(cmdTopic, JSON.stringify(tampered), { qos: 1 });
  await until('tampered refused', () => acks.some((a) => !a.ok && /does not match the payload/.test(a.reason ?? '')));
  await pub.publishAsync(cmdTopic, JSON.stringify({ payload: { ...env.payload, cmdId: 'forged-1' } }), { qos: 1 });
  await until('unsigned refused', () => acks.some((a) => !a.ok && a.cmdId === 'forged-1'));
  t.match(acks.find((a) => a.cmdId === 'forged-1')?.reason, /not signed/, 'unsigned: reason says so');
  const otherKey = generateSigningKey();
  const foreign = signPayload({ ...env.payload, cmdId: 'foreign-1' }, otherKey.privateKeyPem, 'rogue');
  await pub.publishAsync(cmdTopic, JSON.stringify(foreign), { qos: 1 });
  await until('foreign key refused', () => acks.some((a) => !a.ok && a.cmdId === 'foreign-1'));
  t.match(acks.find((a) => a.cmdId === 'foreign-1')?.reason, /key "rogue", which this node does not trust/);
  // Properly signed but meant for another handheld (replayed onto this one's topic): refused too.
  const misaddressed = signPayload({ ...env.payload, handheld: 'hh-2', cmdId: 'other-1' }, keys.privateKeyPem, 'agg-hh-1');
  await pub.publishAsync(cmdTopic, JSON.stringify(misaddressed), { qos: 1 });
  await until('misaddressed refused', () => acks.some((a) => !a.ok && a.cmdId === 'other-1'));
  t.match(acks.find((a) => a.cmdId === 'other-1')?.reason, /addressed to "hh-2", this node is "hh-1"/);
  // A day-old estimate (a retained command nobody cleared) is refused as stale.
  const old = signPayload({ ...env.payload, cmdId: 'old-1', source: { ...env.payload.source, ts: Date.now() - 86_400_000 } }, keys.privateKeyPem, 'agg-hh-1');
  await pub.publishAsync(cmdTopic, JSON.stringify(old), { qos: 1 });
  await until('stale refused', () => acks.some((a) => !a.ok && a.cmdId === 'old-1'));
  t.match(acks.find((a) => a.cmdId === 'old-1')?.reason, /8640\d s old, more than maxEstimateAge_s 3600 s/);
  const st0 = JSON.parse(readFileSync(statusFile, 'utf8')) as HandheldStatus;
  t.equal(st0.phase, 'guiding', 'still guiding to the accepted estimate');
  t.equal(st0.estimateId, 'drive-7');

  // Walk from 30 m west to the source with GPS and 1 s spectra of a simulated 2x2 NaI (Cs-137 50 MBq at 1 m height).
  const det: SimDetector = { id: 'hh-nai', model: DETECTORS['NaI-2x2']!, offset: { x_m: 0, y_m: 0, z_m: 0 }, nChannels: 1024, keVPerChannel: 3 };
  const scene: Scene = { sources: [{ nuclide: 'Cs137', activity_Bq: 5e7, position: { x_m: 0, y_m: 0, z_m: 1 } }], background: {}, origin };
  const rng = mulberry32(11);
  const ctx = walker.ctx!;
  let time_ms = Date.now();
  const step = async (x: number, y: number) => {
    const g = toGeo(origin, { x_m: x, y_m: y, z_m: 0 });
    ctx.bus!.emit('gps', { lat: g.lat, lon: g.lon, fix: 1, hdop: 0.8, time_ms });
    const rates = expectedRates(scene, det, { x_m: x, y_m: y, z_m: 1 });
    ctx.bus!.emit('spectrum', { detector: 'hh-nai', counts: Float64Array.from(rates, (r) => poisson(rng, r)), liveTime_s: 1, realTime_s: 1, time_ms });
    time_ms += 1000;
    await new Promise((r) => setTimeout(r, 5));
  };
  // Up the lane, past the source 3 m off, then back to it: passing by is what tells the side the source is on.
  const legs: [number, number][] = [
    [-30, 8],
    [-8, 3],
    [6, 3],
    [-0.9, 0.4],
  ];
  const pts: [number, number][] = [];
  for (let l = 0; l + 1 < legs.length; l++) {
    const [ax, ay] = legs[l]!;
    const [bx, by] = legs[l + 1]!;
    const n = Math.max(1, Math.round(Math.hypot(bx - ax, by - ay) / 1.4));
    for (let k = 0; k < n; k++) pts.push([ax + ((bx - ax) * k) / n, ay + ((by - ay) * k) / n]);
  }
  pts.push(legs[legs.length - 1]!);
  const stop = { x: -0.9, y: 0.4 };
  const N = pts.length - 1;
  let arrivedAt: number | undefined;
  for (let k = 0; k <= N; k++) {
    await step(...pts[k]!);
    const st = JSON.parse(readFileSync(statusFile, 'utf8')) as HandheldStatus;
    if (arrivedAt === undefined && st.guidance?.arrived) arrivedAt = k;
  }
  const atSpot = JSON.parse(readFileSync(statusFile, 'utf8')) as HandheldStatus;
  t.ok(arrivedAt !== undefined && arrivedAt >= N - 2, `arrival reported on reaching the spot, not while passing by (step ${arrivedAt} of ${N})`);
  t.equal(atSpot.phase, 'confirming', 'confirmation measurement running at the spot');
  t.ok(atSpot.guidance!.distance_m <= atSpot.guidance!.arrivalRadius_m, `within ${atSpot.guidance!.arrivalRadius_m.toFixed(2)} m`);
  t.ok((atSpot.doseRateHere_uSv_h ?? 0) > 1, `dose rate here on the display ${atSpot.doseRateHere_uSv_h?.toFixed(2)} µSv/h`);
  t.ok(typeof atSpot.timeToLimit_s === 'number' && atSpot.timeToLimit_s > 0, 'time to the dose limit shown');
  for (let k = 0; k < 21; k++) await step(stop.x, stop.y);

  await until('confirmation alarm published', () => alarms.length > 0, 20_000);
  const alarm = alarms[0]!;
  t.equal(alarm.test, 'confirmation');
  t.equal(alarm.nuclides[0]?.nuclide, 'Cs137', 'Cs-137 confirmed');
  t.ok((alarm.doseRate_uSv_h ?? 0) > 1, `dose rate at the spot ${alarm.doseRate_uSv_h?.toFixed(2)} µSv/h`);
  await until('refined source summaries', () => sources.length >= 2, 10_000);
  const refined = sources.at(-1)!;
  t.equal(refined.estimateId, 'drive-7-hh-1-c', 'refined source after the confirmation');
  const p = toLocal(origin, refined.sources[0]!);
  const err = Math.hypot(p.x_m, p.y_m);
  t.ok(err < 1, `refined position ${err.toFixed(2)} m from the true source (vehicle estimate 2.5 m)`);
  t.ok((refined.sources[0]!.ci95_m ?? 99) < 6, `95 % radius ${refined.sources[0]!.ci95_m?.toFixed(2)} m (vehicle 6 m)`);
  const st = JSON.parse(readFileSync(statusFile, 'utf8')) as HandheldStatus;
  t.equal(st.phase, 'confirmed');
  t.equal(st.result?.nuclides[0]?.nuclide, 'Cs137', 'display shows the identification');
  t.ok(acks.filter((a) => a.ok).length === 1, 'the retained estimate was acked once');
  // The cloud side holds the handheld's summaries too: the confirmation and the refusals are in InfluxDB.
  await until('alarm and acks in InfluxDB', async () => {
    await agg.flush();
    return (await influxScalar(influx.url, 'hh_it', "SELECT count(seq) FROM alarm WHERE node='hh-1'")) === 1 && (await influxScalar(influx.url, 'hh_it', "SELECT count(seq) FROM cmd_ack WHERE node='hh-1'")) === acks.length;
  }, 20_000);
  t.pass('confirmation alarm and every ack written once to InfluxDB');
  t.equal(agg.relay?.stats().relayed, 1, "the handheld's own source summaries were not relayed back");
});
