// Encodes a synthetic scene to a video file through GStreamer (gst-launch-1.0: raw RGB on stdin → MJPEG in AVI).
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { CustomsError } from '../../common/errors.js';
import { addNoise, frameCount, renderFloor, renderFrame, truthAt, type FrameTruth, type Scenario } from '../../analysis/vision/scene.js';

export class EncodeError extends CustomsError {
  constructor(message: string) {
    super('E_ENCODE', message);
  }
}

export interface WriteVideoOptions {
  scenario: Scenario;
  /** Output .avi (MJPEG) or .ogv (Theora); the muxer follows the extension. */
  file: string;
  /** Ground truth JSON beside the video (scenario + per-frame boxes); default `<file>.truth.json`. */
  truthFile?: string | false;
  quality?: number;
  /** Render only the first N frames (tests). */
  frames?: number;
}

export interface SceneTruth {
  scenario: Scenario;
  frames: FrameTruth[];
}

/**
 * Renders every frame and pipes it to gst-launch-1.0. jpegenc + avimux are in gst-plugins-good, theoraenc + oggmux
 * in -base, both installed on the edge image; x264 is not, so no H.264 here.
 */
export async function writeSceneVideo(opts: WriteVideoOptions): Promise<SceneTruth> {
  const s = opts.scenario;
  const n = Math.min(opts.frames ?? Infinity, frameCount(s));
  const enc = opts.file.endsWith('.ogv') || opts.file.endsWith('.ogg') ? ['theoraenc', '!', 'oggmux'] : ['jpegenc', `quality=${opts.quality ?? 85}`, '!', 'avimux'];
  const args = [
    '-q', 'fdsrc', 'fd=0', '!',
    'rawvideoparse', 'format=rgb', `width=${s.width}`, `height=${s.height}`, `framerate=${s.fps}/1`, '!',
    'videoconvert', '!', ...enc, '!', 'filesink', `location=${opts.file}`,
  ];
  const child = spawn('gst-launch-1.0', args, { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = once(child, 'close') as Promise<[number | null]>;
  const spawnError = once(child, 'error').then(([e]) => e as Error);
  const floor = renderFloor(s.width, s.height, s.seed);
  const frames: FrameTruth[] = [];
  const buf = new Uint8Array(s.width * s.height * 3);
  for (let f = 0; f < n; f++) {
    renderFrame(s, f, floor, buf);
    addNoise(buf, s.seed * 100_003 + f, 4);
    frames.push(truthAt(s, f));
    // Copy: the pipe keeps a reference to the chunk until it is flushed.
    if (!child.stdin.write(Buffer.from(buf))) {
      const r = await Promise.race([once(child.stdin, 'drain').then(() => 'drain'), exited.then(() => 'exit'), spawnError.then(() => 'exit')]);
      if (r === 'exit') break;
    }
  }
  child.stdin.end();
  const [code] = await Promise.race([exited, spawnError.then((e) => { throw new EncodeError(`cannot run gst-launch-1.0: ${e.message}`); })]);
  if (code !== 0) throw new EncodeError(`gst-launch-1.0 exited with ${code} writing ${opts.file}: ${stderr.trim().slice(0, 500)}`);
  const truth = { scenario: s, frames };
  if (opts.truthFile !== false) writeFileSync(opts.truthFile ?? `${opts.file}.truth.json`, JSON.stringify(truth));
  return truth;
}
