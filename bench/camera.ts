// Camera node speed: frames per second per camera (decode + detect + track) and how many 640x480 cameras at 10 fps
// one node sustains, each camera a GStreamer child process and one shared detector in the node; ungated (the
// detector on every frame) and motion-gated (the detector where and when the gate asks).
import { pathToFileURL } from 'node:url';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../common/log.js';
import { CameraSource, type Frame } from '../devices/camera/source.js';
import { OnnxDetector } from '../edge/inference/detector.js';
import { CameraAnalyzer, type FrameDetector } from '../edge/vision/analyzer.js';
import type { GatedOptions } from '../edge/vision/gated.js';
import { MotionDetector } from '../analysis/vision/motion.js';
import { renderFloor, renderFrame, addNoise } from '../analysis/vision/scene.js';
import { hallScenario } from '../analysis/vision/scene.js';
import { writeSceneVideo } from '../edge/vision/video.js';
import { tmpdir } from 'node:os';

const CARD = join(import.meta.dirname, '..', 'models', 'camera-detector', 'model-card.json');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU seconds a process has used (user + system), from /proc; 0 where unreadable. */
function procCpu_s(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // Fields 14 and 15 (utime, stime) in clock ticks; after the ") " split they are at 11 and 12.
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

interface BenchDetector extends FrameDetector {
  readonly name: string;
  close(): Promise<void>;
}

/**
 * The node's detector: loadCameraDetector (edge/vision/detectors.ts, the real COCO model) where that module is
 * there and loads, else the synthetic ONNX card. CUSTOMS_BENCH_DETECTOR=onnx picks the card through the same loader.
 * The module is found at run time so the bench runs on a tree without it.
 */
async function benchDetector(): Promise<BenchDetector> {
  const registry = join(import.meta.dirname, '..', 'edge', 'vision', 'detectors.ts');
  if (existsSync(registry) || existsSync(registry.replace(/\.ts$/, '.js'))) {
    try {
      const mod = (await import(pathToFileURL(registry.replace(/\.ts$/, '.js')).href)) as { loadCameraDetector: (spec?: { kind?: 'coco' | 'onnx' }) => Promise<BenchDetector> };
      return await mod.loadCameraDetector(process.env.CUSTOMS_BENCH_DETECTOR === 'onnx' ? { kind: 'onnx' } : {});
    } catch (e) {
      process.stderr.write(`bench camera: loadCameraDetector failed (${(e as Error).message}); using the synthetic ONNX card\n`);
    }
  }
  const d = await OnnxDetector.load(CARD);
  return { name: d.card.name, detect: (img) => d.detect(img), close: () => d.close() };
}

/** Runs sources through analyzers for `seconds`; answers processed frames per camera and the CPU it took. */
async function drive(sources: CameraSource[], detector: FrameDetector | undefined, seconds: number | undefined, gate?: GatedOptions) {
  let cpuPerCamera: { child: number; node: number } | undefined;
  const stats = sources.map(() => ({ frames: 0, detect_ms: 0, track_ms: 0, calls: 0, framesWithCall: 0, ended: false, first: 0, last: 0 }));
  const chains = sources.map(() => Promise.resolve());
  sources.forEach((src, i) => {
    const an = detector ? new CameraAnalyzer({ camera: `c${i}`, detector, ...(gate ? { gate } : {}) }) : undefined;
    src.on('frame', (f: Frame) => {
      chains[i] = chains[i]!.then(async () => {
        if (an) {
          const r = await an.process(f);
          stats[i]!.detect_ms += r.timing_ms.detect;
          stats[i]!.track_ms += r.timing_ms.track;
          stats[i]!.calls += r.detectorCalls;
          if (r.detectorCalls > 0) stats[i]!.framesWithCall++;
        }
        const st = stats[i]!;
        st.frames++;
        st.last = performance.now();
        if (st.frames === 1) st.first = st.last;
        src.ready();
      });
    });
    src.on('state', (s) => {
      if (s.state === 'ended') stats[i]!.ended = true;
    });
  });
  await Promise.all(sources.map((s) => s.start()));
  const t0 = performance.now();
  let cpu0: number[] | undefined;
  if (seconds === undefined) while (!stats.every((s) => s.ended)) await sleep(20);
  else {
    // CPU over the steady window: from 1 s in (children forked and prerolled) to the end.
    await sleep(1000);
    cpu0 = sources.map((s) => procCpu_s(s.workerPid));
    const p0 = process.cpuUsage();
    await sleep((seconds - 1) * 1000);
    const p1 = process.cpuUsage(p0);
    const childCpu = sources.reduce((a, s, i) => a + procCpu_s(s.workerPid) - cpu0![i]!, 0);
    const steady = seconds - 1;
    cpuPerCamera = { child: childCpu / steady / sources.length, node: (p1.user + p1.system) / 1e6 / steady / sources.length };
  }
  const wall = (performance.now() - t0) / 1000;
  await Promise.all(sources.map((s) => s.stop()));
  await Promise.all(chains);
  return { wall, stats, dropped: sources.map((s) => s.state().dropped), cpuPerCamera };
}

export async function benchCamera(opts: { quick: boolean }, report: (name: string, value: string) => void): Promise<void> {
  const video = join(tmpdir(), `customs-bench-hall-${process.pid}.avi`);
  const scenario = hallScenario({ width: 640, height: 480 });
  if (!existsSync(video)) await writeSceneVideo({ scenario, file: video, truthFile: false, frames: opts.quick ? 200 : 600 });
  const detector = await benchDetector();
  report('camera: load average at start (1 min, 2 cores shared)', loadavg()[0]!.toFixed(2));
  report('camera: detector', detector.name);

  // Background subtraction alone on rendered 640x480 hall frames (what gating adds to every frame).
  {
    const floor = renderFloor(640, 480, scenario.seed);
    const frames = Array.from({ length: 30 }, (_, i) => {
      const img = renderFrame(scenario, 100 + i, floor);
      addNoise(img, i);
      return img;
    });
    const md = new MotionDetector();
    for (let i = 0; i < 30; i++) md.update({ data: frames[i]!, width: 640, height: 480 }, i / 10);
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const reps = opts.quick ? 60 : 300;
    for (let k = 0; k < reps; k++) md.update({ data: frames[k % 30]!, width: 640, height: 480 }, 3 + k / 10);
    const c1 = process.cpuUsage(c0);
    report('camera: motion (background subtraction + regions) 640x480, CPU (ms/frame)', ((c1.user + c1.system) / 1000 / reps).toFixed(2));
    report('camera: motion 640x480, wall (ms/frame)', ((performance.now() - t0) / reps).toFixed(2));
  }

  // Decode only: the GStreamer child as fast as the file allows (credit flow, no drops).
  const dec = await drive([new CameraSource({ id: 'dec', uri: `file://${video}`, log: silentLogger })], undefined, undefined);
  report('camera: decode 640x480 MJPEG in child + IPC to node (frames/s)', (dec.stats[0]!.frames / dec.wall).toFixed(1));

  // Decode + detect + track, one camera, as fast as possible.
  const one = await drive([new CameraSource({ id: 'one', uri: `file://${video}`, log: silentLogger })], detector, undefined);
  const s = one.stats[0]!;
  report('camera: decode+detect+track 640x480, one camera (frames/s)', (s.frames / one.wall).toFixed(1));
  report('camera: detect 640x480 -> 256x192 tiny YOLO, 1 thread (ms/frame)', (s.detect_ms / s.frames).toFixed(2));
  report('camera: track + events (ms/frame)', (s.track_ms / s.frames).toFixed(3));

  // The same, motion-gated: the detector where motion or tracks need it, the whole frame every few seconds.
  const gate: GatedOptions = {};
  const gone = await drive([new CameraSource({ id: 'gated', uri: `file://${video}`, log: silentLogger })], detector, undefined, gate);
  const g = gone.stats[0]!;
  report('camera: decode+gated detect+track 640x480, one camera (frames/s)', (g.frames / gone.wall).toFixed(1));
  report('camera: gated, fraction of frames with a detector call (scripted hall)', (g.framesWithCall / g.frames).toFixed(2));
  report('camera: gated, detector calls per frame', (g.calls / g.frames).toFixed(2));
  report('camera: gated, detector ms per call (incl. motion ms of the frames between)', g.calls ? (g.detect_ms / g.calls).toFixed(2) : 'no calls');
  report('camera: gated, motion + gate + detect (ms/frame)', (g.detect_ms / g.frames).toFixed(2));

  // Live cameras at 10 fps: the hall video replayed in real time (identity sync=true) in one child each, looping;
  // ungated first (the figures from before gating), then gated.
  const seconds = opts.quick ? 6 : 12;
  const cap = opts.quick ? 3 : 12;
  for (const mode of ['ungated', 'gated'] as const) {
    const label = mode === 'gated' ? ' gated' : '';
    let sustained = 0;
    for (let n = 1; n <= cap; n++) {
      const sources = Array.from(
        { length: n },
        (_, i) =>
          new CameraSource({
            id: `live${i}`,
            pipeline: `filesrc location=${video} ! avidemux ! jpegdec ! videorate ! video/x-raw,framerate=10/1 ! identity sync=true`,
            live: true,
            loop: true,
            log: silentLogger,
          }),
      );
      const r = await drive(sources, detector, seconds, mode === 'gated' ? gate : undefined);
      // Start-up (fork, preroll) is not camera time: the rate is taken from each camera's first frame on.
      const fps = r.stats.map((x) => (x.frames > 1 ? ((x.frames - 1) * 1000) / (x.last - x.first) : 0));
      const worst = Math.min(...fps);
      const cpu = r.cpuPerCamera;
      report(
        `camera: ${n} live 640x480@10fps cameras${label}, worst camera processed (frames/s)`,
        `${worst.toFixed(1)} (dropped ${r.dropped.reduce((a, b) => a + b, 0)}; CPU per camera: child ${((cpu?.child ?? 0) * 100).toFixed(0)} %, node ${((cpu?.node ?? 0) * 100).toFixed(0)} %)`,
      );
      if (n === 1 && cpu) {
        const perCam = cpu.child + cpu.node;
        report(`camera: CPU per 640x480@10fps camera${label}, child + node (% of one core)`, (perCam * 100).toFixed(0));
        report(`camera: cameras 2 idle cores could carry at that CPU cost${label} (estimate)`, (2 / perCam).toFixed(1));
      }
      if (mode === 'gated') {
        const frames = r.stats.reduce((a, x) => a + x.frames, 0);
        const withCall = r.stats.reduce((a, x) => a + x.framesWithCall, 0);
        report(`camera: ${n} live cameras gated, fraction of frames with a detector call`, frames ? (withCall / frames).toFixed(2) : '-');
      }
      if (worst >= 9.5) sustained = n;
      else break;
    }
    report(`camera: 640x480@10fps cameras one node sustains${label} (each >= 9.5 fps processed)`, sustained === cap ? `>= ${cap} (end of the sweep)` : String(sustained));
  }
  await detector.close();
  rmSync(video, { force: true });
}
