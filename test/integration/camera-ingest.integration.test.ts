// Camera ingest through the real GStreamer child process: every frame of a file once, live drops, dead streams,
// corrupt files, resolution changes and a crashing worker, each logged and retried while the caller keeps running.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { silentLogger } from '../../common/log.js';
import { CameraSource, describePipeline, type CameraState, type Frame } from '../../devices/camera/source.js';
import { unpackRgb } from '../../devices/camera/messages.js';
import { hallScenario } from '../../analysis/vision/scene.js';
import { writeSceneVideo } from '../../edge/vision/video.js';
import { freePort, tempDir } from '../harness/services.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(20);
  return cond();
}

function collect(src: CameraSource, opts: { delay_ms?: number } = {}) {
  const frames: Frame[] = [];
  const states: CameraState[] = [];
  src.on('frame', (f) => {
    frames.push(f);
    if (opts.delay_ms) setTimeout(() => src.ready(), opts.delay_ms);
    else src.ready();
  });
  src.on('state', (s) => states.push(s));
  return { frames, states };
}

const dir = tempDir('cam-ingest');

t.test('pipeline descriptions and RGB row padding', async (t) => {
  t.match(describePipeline({ uri: 'file:///a.avi' }), { live: false, pipeline: /^uridecodebin uri=file:\/\/\/a.avi ! videoconvert ! video\/x-raw,format=RGB ! appsink name=sink max-buffers=2 drop=false/ });
  t.match(describePipeline({ uri: 'rtsp://cam/1' }), { live: true, pipeline: /rtspsrc location=rtsp:\/\/cam\/1 .*appsink name=sink max-buffers=1 drop=true/ });
  t.match(describePipeline({ uri: 'v4l2:///dev/video0' }).pipeline, /^v4l2src device=\/dev\/video0 /);
  t.equal(describePipeline({ pipeline: 'videotestsrc is-live=true' }).live, true);
  t.throws(() => describePipeline({ uri: 'no-scheme' }), { code: 'E_CAMERA_URI' });
  t.throws(() => describePipeline({ uri: 'file:///a.avi ! fakesink' }), /not allowed/);
  // 33 px wide RGB rows are 99 bytes, padded to 100 by GStreamer.
  const padded = new Uint8Array(100 * 2).map((_, i) => i % 100);
  const out = unpackRgb(padded, 33, 2);
  t.ok(out instanceof Uint8Array && out.length === 198 && out[99] === 0 && out[98] === 98, 'padding removed');
  t.match(unpackRgb(new Uint8Array(7), 33, 2), /does not fit 33x2 RGB/);
});

t.test('a video file: every frame exactly once, in order, with its size, then ended', async (t) => {
  const file = join(dir, 'short.avi');
  const truth = await writeSceneVideo({ scenario: hallScenario({ width: 320, height: 240 }), file, frames: 45, truthFile: false });
  const src = new CameraSource({ id: 'file', uri: `file://${file}`, log: silentLogger });
  // A slow consumer: the file must wait for it rather than drop.
  const c = collect(src, { delay_ms: 5 });
  await src.start();
  t.ok(await until(() => src.state().state === 'ended', 30_000), 'ended at EOS');
  await src.stop();
  t.equal(c.frames.length, truth.frames.length, `${truth.frames.length} frames`);
  t.same(c.frames.map((f) => f.index), truth.frames.map((f) => f.frame), 'indices 0..n-1, none twice');
  t.ok(c.frames.every((f) => f.width === 320 && f.height === 240 && f.data.length === 320 * 240 * 3), 'packed RGB of the right size');
  t.equal(c.frames[10]!.t_s, 1, 'file time = index / fps');
  t.equal(src.state().dropped, 0, 'nothing dropped from a file');
});

t.test('a live source with a slow consumer drops old frames in the child, never queues', async (t) => {
  const src = new CameraSource({ id: 'live', pipeline: 'videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=30/1', log: silentLogger });
  const c = collect(src, { delay_ms: 200 });
  await src.start();
  // Until the consumer has taken 8 frames (however long the child needs to start on a loaded machine), then as many
  // as it can take in that time: one per 200 ms per slot, 2 slots, and no more, whatever the source produced.
  const t0 = Date.now();
  const got = await until(() => c.frames.length >= 8, 60_000);
  const elapsed = Date.now() - t0;
  await src.stop();
  t.ok(got, `8 frames delivered within 60 s (${c.frames.length} after ${elapsed} ms)`);
  const most = Math.ceil((2 * elapsed) / 200) + 2;
  t.ok(c.frames.length <= most, `${c.frames.length} frames delivered to a consumer taking 200 ms each (2 in flight) in ${elapsed} ms: at most ${most}`);
  const skipped = c.frames.at(-1)!.index + 1 - c.frames.length;
  t.ok(skipped > 5, `${skipped} older frames skipped`);
  t.ok(src.state().dropped > 0, `${src.state().dropped} counted as dropped in status`);
  const gaps = c.frames.slice(1).map((f, i) => f.index - c.frames[i]!.index);
  t.ok(gaps.some((g) => g > 1), 'delivered frames skip the stale ones');
});

t.test('dead streams and corrupt files: logged, retried with backoff, never fatal', async (t) => {
  const corrupt = join(dir, 'corrupt.avi');
  writeFileSync(corrupt, Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 7919) & 255)));
  const port = await freePort();
  const cases: [string, string, RegExp][] = [
    ['missing', 'file:///nonexistent/camera.avi', /No such file|not found/i],
    ['rtsp', `rtsp://127.0.0.1:${port}/stream`, /Could not open|connect/i],
    ['corrupt', `file://${corrupt}`, /Could not determine type|decode|demux/i],
  ];
  for (const [id, uri, why] of cases) {
    const src = new CameraSource({ id, uri, log: silentLogger, backoff_ms: { first: 100, max: 400 } });
    const c = collect(src);
    await src.start();
    const ok = await until(() => src.state().reconnects >= 2, 20_000);
    await src.stop();
    t.ok(ok, `${id}: reconnected twice (${src.state().reconnects})`);
    t.match(src.state().lastError ?? '', why, `${id}: error says why: ${src.state().lastError}`);
    t.ok(c.states.some((s) => s.state === 'backoff'), `${id}: backoff state reported`);
    t.equal(c.frames.length, 0, `${id}: no frames`);
  }
});

t.test('a file cut off mid-stream: the frames before the cut arrive, then the camera ends or retries', async (t) => {
  const file = join(dir, 'full.avi');
  await writeSceneVideo({ scenario: hallScenario({ width: 320, height: 240 }), file, frames: 40, truthFile: false });
  const cut = join(dir, 'cut.avi');
  const bytes = readFileSync(file);
  // Half the file, and garbage where the rest should be.
  writeFileSync(cut, Buffer.concat([bytes.subarray(0, bytes.length >> 1), Buffer.alloc(20_000, 0x5a)]));
  // A demuxer may hang on the garbage instead of ending: the stall watchdog (owed frames, none coming) restarts it.
  const src = new CameraSource({ id: 'cut', uri: `file://${cut}`, log: silentLogger, backoff_ms: { first: 100, max: 200 }, stall_ms: 3000 });
  const c = collect(src);
  await src.start();
  const ok = await until(() => src.state().state === 'ended' || src.state().reconnects >= 1, 20_000);
  const st = src.state();
  await src.stop();
  t.ok(ok, `ended or retried (${st.state}, ${st.reconnects} reconnects, ${st.lastError ?? 'no error'})`);
  t.ok(c.frames.length >= 10 && c.frames.length <= 40, `${c.frames.length} frames from the intact part`);
  t.ok(c.frames.every((f) => f.data.length === 320 * 240 * 3), 'each of them whole');
});

t.test('a file source that hangs without a frame or an end (a FIFO nobody writes) is restarted by the stall watchdog', async (t) => {
  const fifo = join(dir, 'hang.avi');
  execFileSync('mkfifo', [fifo]);
  const src = new CameraSource({ id: 'hang', uri: `file://${fifo}`, log: silentLogger, backoff_ms: { first: 100, max: 200 }, stall_ms: 1500 });
  await src.start();
  const ok = await until(() => src.state().reconnects >= 1, 15_000);
  const st = src.state();
  await src.stop();
  t.ok(ok, `restarted (${st.state}, ${st.reconnects} reconnects, ${st.lastError ?? 'no error'})`);
  t.match(st.lastError ?? '', /no frame for 1500 ms/, 'the reason names the stall');
});

t.test('a bad pipeline description fails at once and is not retried', async (t) => {
  const src = new CameraSource({ id: 'bad', pipeline: 'nosuchelement', log: silentLogger, backoff_ms: { first: 50, max: 50 } });
  await src.start();
  t.ok(await until(() => src.state().state === 'failed', 10_000), 'failed');
  await sleep(300);
  t.equal(src.state().reconnects, 0, 'not retried');
  t.match(src.state().lastError ?? '', /no element "nosuchelement"/);
  await src.stop();
});

t.test('a camera that changes resolution mid-stream is reported and its frames keep coming', async (t) => {
  const seq = join(dir, 'seq');
  mkdirSync(seq, { recursive: true });
  for (let i = 0; i < 10; i++) {
    const [w, h] = i < 5 ? [320, 240] : [640, 480];
    await sharp({ create: { width: w, height: h, channels: 3, background: { r: 20 * i, g: 100, b: 50 } } }).jpeg().toFile(join(seq, `${String(i).padStart(3, '0')}.jpg`));
  }
  const src = new CameraSource({ id: 'mjpeg', pipeline: `multifilesrc location=${seq}/%03d.jpg index=0 stop-index=9 caps=image/jpeg,framerate=10/1 ! jpegdec`, live: false, log: silentLogger });
  const changes: unknown[] = [];
  src.on('resolution', (r) => changes.push(r));
  const c = collect(src);
  await src.start();
  t.ok(await until(() => src.state().state === 'ended', 20_000), 'ended');
  await src.stop();
  t.same(changes, [{ camera: 'mjpeg', from: [320, 240], to: [640, 480] }], 'one change, from and to');
  t.equal(src.state().resolutionChanges, 1);
  t.same(c.frames.map((f) => f.width), [320, 320, 320, 320, 320, 640, 640, 640, 640, 640], 'all 10 frames, each at its own size');
  t.ok(c.frames.every((f) => f.data.length === f.width * f.height * 3));
});

t.test('a GStreamer child that crashes is restarted and frames resume', async (t) => {
  const src = new CameraSource({ id: 'crash', pipeline: 'videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=20/1', log: silentLogger, backoff_ms: { first: 100, max: 200 } });
  const c = collect(src);
  await src.start();
  t.ok(await until(() => c.frames.length > 5, 15_000), 'frames flowing');
  const pid = src.workerPid!;
  process.kill(pid, 'SIGKILL');
  const before = c.frames.length;
  t.ok(await until(() => src.state().reconnects === 1 && c.frames.length > before + 5, 15_000), 'restarted and delivering again');
  t.not(src.workerPid, pid, 'a new child');
  t.match(src.state().lastError ?? '', /SIGKILL/, 'the crash is the recorded error');
  await src.stop();
  t.equal(src.state().state, 'stopped');
});
