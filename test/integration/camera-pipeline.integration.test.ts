// The camera node end to end: a generated arrival-hall video read through the real GStreamer child process,
// detected, tracked and turned into event summaries published over a real Mosquitto; a dead camera beside it.
import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import sharp from 'sharp';
import { decode, type EventMsg } from '../../protocol/index.js';
import { parseEdgeConfig } from '../../edge/runtime/config.js';
import { EdgeRuntime } from '../../edge/runtime/runtime.js';
import { createCamera, parseCameraOptions, type LoggedEvent } from '../../edge/pipelines/camera.js';
import { silentLogger } from '../../common/log.js';
import { hallScenario } from '../../analysis/vision/scene.js';
import { writeSceneVideo } from '../../edge/vision/video.js';
import { scoreEvents } from '../../analysis/vision/metrics.js';
import type { CameraState } from '../../devices/camera/source.js';
import { freePort, startMosquitto, tempDir } from '../harness/services.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('camera options are validated with path: expectation', async (t) => {
  t.throws(() => parseCameraOptions({ name: 'c', type: 'camera', options: { cameras: [] } }), /pipelines\/c\/options\/cameras.*fewer than 1|must NOT have fewer/);
  t.throws(() => parseCameraOptions({ name: 'c', type: 'camera', options: { cameras: [{ id: 'a' }] } }), /cameras\/0: expected exactly one of uri or pipeline/);
  t.throws(
    () => parseCameraOptions({ name: 'c', type: 'camera', options: { cameras: [{ id: 'a', uri: 'file:///x' }], flagged: { zones: ['desk'] } } }),
    /flagged\/zones\/0: "desk" is not one of the zones/,
  );
  const o = parseCameraOptions({ name: 'c', type: 'camera', options: { cameras: [{ id: 'a', uri: 'file:///x' }] } });
  t.equal(o.thresholds.abandon_s, 30, 'defaults filled');
  t.throws(() => parseCameraOptions({ name: 'c', type: 'camera', options: { cameras: [{ id: 'a', uri: 'file:///x' }], detector: { kind: 'yolo' } } }), /options\/detector\/kind/);
});

t.test('generated hall video → events over MQTT, stills on the box, a dead camera retried', async (t) => {
  const dir = tempDir('cam-pipe');
  const scenario = hallScenario({ width: 320, height: 240 });
  const video = join(dir, 'hall.avi');
  const truth = await writeSceneVideo({ scenario, file: video, truthFile: false });
  const broker = await startMosquitto();
  t.teardown(() => broker.close());
  const stills = join(dir, 'stills');
  const deadPort = await freePort();
  const rt = new EdgeRuntime({
    config: parseEdgeConfig('test', {
      node: 'cam-01',
      site: 'airport-a',
      role: 'camera',
      broker: { url: `mqtt://127.0.0.1:${broker.port}` },
      outbox: { dir: join(dir, 'outbox') },
      clock: { trust: 'assume' },
      health: { heartbeat_s: 0.5 },
      pipelines: [
        {
          name: 'hall',
          type: 'camera',
          options: {
            cameras: [
              { id: 'hall-1', uri: `file://${video}` },
              { id: 'door-2', uri: `rtsp://127.0.0.1:${deadPort}/stream` },
            ],
            // The scripted hall is drawn for the synthetic-scene detector (a fixture now; the node's default is COCO).
            detector: { kind: 'onnx' },
            // Every frame through the detector: this test is about events, stills and a dead camera; gating has its own
            // test on the same hall (test/unit/vision-gate.test.ts).
            gate: { enabled: false },
            zones: scenario.zones.map((z) => ({ ...z, camera: 'hall-1' })),
            flagged: { zones: ['desk'] },
            thresholds: scenario.thresholds,
            stillsDir: stills,
            backoff_ms: { first: 200, max: 1000 },
          },
        },
      ],
    }),
  });
  const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 5 });
  t.teardown(() => sub.end(true));
  await sub.subscribeAsync('customs/v1/#', { qos: 1 });
  const events: EventMsg[] = [];
  const bad: string[] = [];
  let biggest = 0;
  let lastStatus: { components?: Record<string, { state: string }>; models?: Record<string, string>; cameras?: Record<string, { state: string; reconnects: number; lastError?: string }> } | undefined;
  sub.on('message', (topic, payload) => {
    biggest = Math.max(biggest, payload.length);
    const d = decode(topic, payload);
    if (!d.ok) return void bad.push(`${topic}: ${d.detail}`);
    if (d.kind === 'event') events.push(d.msg as EventMsg);
    if (d.kind === 'status') lastStatus = d.msg as typeof lastStatus;
  });
  await rt.start();
  t.teardown(() => rt.stop());
  const camFile = join(stills, 'cameras.json');
  const cams = (): CameraState[] => (existsSync(camFile) ? (JSON.parse(readFileSync(camFile, 'utf8')) as CameraState[]) : []);
  const deadline = Date.now() + 50_000;
  while (Date.now() < deadline && !(cams().find((c) => c.camera === 'hall-1')?.state === 'ended' && events.length >= 4)) await sleep(200);
  await sleep(1000);

  t.same(bad, [], 'every message validates against protocol/');
  const types = events.map((e) => e.type).sort();
  t.same(types, ['abandoned_bag', 'bag_switch', 'companions', 'dwell'], `the four scripted events: ${types.join(', ')}`);
  t.ok(events.every((e) => e.camera === 'hall-1'), 'all from the hall camera');
  t.equal(events.find((e) => e.type === 'dwell')?.zone, 'exit-door', 'dwell names its zone');
  t.ok(biggest < 4096, `no frames leave the box: largest message ${biggest} bytes`);
  t.ok(events.every((e) => !('still' in e)), 'still paths stay on the box');

  // The box keeps the log and a crop per event.
  const logged = readFileSync(join(stills, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as LoggedEvent);
  t.same(logged.map((l) => l.eventId).sort(), events.map((e) => e.eventId).sort(), 'every published event is in the on-box log');
  for (const l of logged) {
    t.ok(l.still && existsSync(l.still), `${l.type}: still kept at ${l.still}`);
    const meta = await sharp(l.still!).metadata();
    t.equal(meta.format, 'jpeg');
  }
  const score = scoreEvents(logged, scenario.events, truth.frames, scenario.fps);
  t.ok(score.recall >= 0.75 && score.precision >= 0.75, `event precision ${score.precision} recall ${score.recall} against the script`);

  const door = cams().find((c) => c.camera === 'door-2');
  t.ok(door && door.state !== 'playing' && door.reconnects >= 2, `dead rtsp camera retried with backoff (${door?.state}, ${door?.reconnects} reconnects)`);
  t.match(door?.lastError ?? '', /Could not open|connect/i, 'its error is kept');
  t.equal(cams().find((c) => c.camera === 'hall-1')?.frames, truth.frames.length, 'every frame of the hall video analysed');
  t.equal(lastStatus?.components?.hall?.state, 'running', 'the pipeline keeps running beside the dead camera');
  t.match(lastStatus?.models ?? {}, { 'camera-detector': /camera-people-bags-synthetic@1/ }, 'the model is in status');
  const st = lastStatus?.cameras?.['door-2'];
  t.ok(st && st.state !== 'playing' && st.reconnects >= 1 && /Could not open|connect/i.test(st.lastError ?? ''), `the dead camera's state is in the MQTT status: ${JSON.stringify(st)}`);
  t.ok(lastStatus?.cameras?.['hall-1'], 'and the hall camera');
});

t.test('the flagged file: read at start and on change; a broken one is logged and the pipeline goes on', async (t) => {
  const dir = tempDir('cam-flag');
  const flagFile = join(dir, 'flagged.json');
  writeFileSync(flagFile, JSON.stringify({ 'gate-1': [3, 8], unknown: [1] }));
  const warnings: string[] = [];
  const log = silentLogger.child({});
  log.warn = ((obj: unknown, msg?: string) => void warnings.push(`${msg ?? ''} ${JSON.stringify(obj)}`)) as typeof log.warn;
  const pipe = createCamera({
    name: 'gate',
    type: 'camera',
    options: { cameras: [{ id: 'gate-1', pipeline: 'videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=5/1' }], flagged: { file: flagFile }, stillsDir: join(dir, 'stills') },
  });
  const ac = new AbortController();
  await pipe.start({ node: 'cam-02', site: 's', log, clock: { now: () => ({ ts: Date.now(), tsTrusted: true, mono_ms: 0 }), markTrusted: () => {}, trusted: true }, signal: ac.signal, emit: async () => {}, fail: (e) => t.fail(e.message) });
  t.teardown(() => pipe.stop());
  t.same(pipe.flaggedIds('gate-1').sort((a, b) => a - b), [3, 8], 'ids from the file');
  t.match(pipe.versions().models, { 'camera-detector': /^coco-nanodet@/ }, 'no detector named: the pretrained COCO detector');
  t.ok(warnings.some((w) => /unknown camera "unknown"/.test(w)), 'an unknown camera in the file is named');
  await sleep(1100);
  writeFileSync(flagFile, '{"gate-1": [3, 8, 12]');
  await sleep(1500);
  t.ok(warnings.some((w) => /flagged file ignored/.test(w) && /JSON/.test(w)), 'broken JSON logged');
  writeFileSync(flagFile, JSON.stringify({ 'gate-1': [12] }));
  const end = Date.now() + 5000;
  while (!pipe.flaggedIds('gate-1').includes(12) && Date.now() < end) await sleep(100);
  t.same(pipe.flaggedIds('gate-1').sort((a, b) => a - b), [3, 8, 12], 'a later edit adds its ids');
  t.equal(pipe.cameraStates()[0]?.state, 'playing', 'the camera kept playing throughout');
});
