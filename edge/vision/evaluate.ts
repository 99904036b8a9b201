// Tracking and event quality of the whole camera chain on a synthetic video read through the real GStreamer path.
import { silentLogger, type Logger } from '../../common/log.js';
import { CameraSource } from '../../devices/camera/source.js';
import { loadCameraDetector, type CameraDetectorSpec } from './detectors.js';
import { CameraAnalyzer } from './analyzer.js';
import type { CameraEvent } from '../../analysis/vision/events.js';
import { clearMot, scoreEvents, type EventScore, type MotResult } from '../../analysis/vision/metrics.js';
import type { SceneTruth } from './video.js';
import type { Track } from '../../analysis/vision/tracker.js';

export interface EvaluationResult {
  frames: number;
  wall_s: number;
  detect_ms_per_frame: number;
  mot: MotResult;
  events: CameraEvent[];
  eventScore: EventScore;
}

/** Plays `video` (written by writeSceneVideo with `truth`) through a camera child, the detector and the tracker. */
export async function evaluateVideo(opts: { video: string; truth: SceneTruth; detector: CameraDetectorSpec; log?: Logger }): Promise<EvaluationResult> {
  const s = opts.truth.scenario;
  const detector = await loadCameraDetector(opts.detector);
  const analyzer = new CameraAnalyzer({ camera: 'eval', detector, zones: s.zones, rules: { ...s.thresholds, flagZones: s.zones.some((z) => z.id === 'desk') ? ['desk'] : [] } });
  const src = new CameraSource({ id: 'eval', uri: `file://${opts.video}`, log: opts.log ?? silentLogger });
  const tracks = new Map<number, Track[]>();
  const events: CameraEvent[] = [];
  let detectMs = 0;
  let n = 0;
  let chain = Promise.resolve();
  let failure: Error | undefined;
  src.on('frame', (f) => {
    chain = chain.then(async () => {
      try {
        const r = await analyzer.process(f);
        detectMs += r.timing_ms.detect;
        n++;
        tracks.set(f.index, r.tracks);
        events.push(...r.events);
      } catch (e) {
        failure ??= e as Error;
      }
      src.ready();
    });
  });
  const t0 = performance.now();
  const done = new Promise<void>((resolve) => {
    src.on('state', (st) => {
      if (st.state === 'ended' || st.state === 'failed' || (st.state === 'backoff' && st.reconnects > 2)) resolve();
    });
  });
  await src.start();
  await done;
  await chain;
  await src.stop();
  await detector.close();
  if (failure) throw failure;
  return {
    frames: n,
    wall_s: (performance.now() - t0) / 1000,
    detect_ms_per_frame: n ? detectMs / n : 0,
    mot: clearMot(opts.truth.frames, tracks),
    events,
    eventScore: scoreEvents(events, s.events, opts.truth.frames, s.fps),
  };
}
