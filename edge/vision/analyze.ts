// `camera analyze`: one recording (video file, stream URI or MOTChallenge image folder) through the node's camera chain.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import sharp from 'sharp';
import { CustomsError } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import type { Detection } from '../../analysis/detect/yolo.js';
import type { CameraEvent } from '../../analysis/vision/events.js';
import { formatMotResults, parseMot, type MotRow } from '../../analysis/vision/mot-eval.js';
import { CameraSource } from '../../devices/camera/source.js';
import { CameraAnalyzer, type AnalyzerOptions, type FrameDetector } from './analyzer.js';

export class AnalyzeError extends CustomsError {
  constructor(message: string) {
    super('E_ANALYZE', message);
  }
}

export interface AnalyzedTrack {
  id: number;
  class: string;
  /** x, y, w, h in frame pixels (MOTChallenge order). */
  box: [number, number, number, number];
  score: number;
}

export interface AnalyzedFrame {
  /** 0-based frame index; the MOTChallenge frame number is index + 1. */
  index: number;
  ts_ms: number;
  tracks: AnalyzedTrack[];
}

export interface AnalyzedEvent {
  kind: CameraEvent['type'];
  ts_ms: number;
  trackIds: number[];
  bbox: [number, number, number, number];
  zone?: string;
  duration_s?: number;
}

export interface AnalyzeResult {
  /** `detections`: a sequence folder without frames run on its public detections (blank frames of its size). */
  source: { input: string; kind: 'images' | 'video' | 'detections'; width: number; height: number; fps: number };
  frames: AnalyzedFrame[];
  events: AnalyzedEvent[];
  stats: { frames: number; wall_s: number; detect_ms_per_frame: number; personIds: number; bagIds: number };
}

export interface AnalyzeOptions {
  /** A video file, a URI GStreamer reads (file://, rtsp://, http://), a folder of images, or a MOTChallenge sequence folder (with img1/). */
  input: string;
  detector: FrameDetector;
  /** Stop after this many frames. */
  maxFrames?: number;
  /** Frame rate of an image folder when it has no seqinfo.ini (default 25; video files carry their own). */
  fps?: number;
  /** Everything else the node's analyzer takes (zones, exclusion masks, rules, tracker, gating). */
  analyzer?: Omit<AnalyzerOptions, 'camera' | 'detector'>;
  /** Called after every frame (progress lines, streaming output). */
  onFrame?: (f: AnalyzedFrame, done: number, total: number | undefined) => void;
  log?: Logger;
}

/** What a MOTChallenge sequence folder says of itself (seqinfo.ini), where it has one. */
export interface SeqInfo {
  name?: string;
  imDir?: string;
  frameRate?: number;
  seqLength?: number;
  imWidth?: number;
  imHeight?: number;
  imExt?: string;
}

export function readSeqInfo(file: string): SeqInfo {
  const out: SeqInfo = {};
  const lines = readFileSync(file, 'utf8').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('[') || line.startsWith(';') || line.startsWith('#')) return;
    const m = /^([A-Za-z]+)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new AnalyzeError(`${file}:${i + 1}: expected key=value, got "${line}"`);
    const [, key, value] = m as unknown as [string, string, string];
    const num = (): number => {
      const v = Number(value);
      if (!Number.isFinite(v) || v <= 0) throw new AnalyzeError(`${file}:${i + 1}: ${key}: expected a positive number, got "${value}"`);
      return v;
    };
    if (key === 'name') out.name = value;
    else if (key === 'imDir') out.imDir = value;
    else if (key === 'imExt') out.imExt = value;
    else if (key === 'frameRate') out.frameRate = num();
    else if (key === 'seqLength') out.seqLength = num();
    else if (key === 'imWidth') out.imWidth = num();
    else if (key === 'imHeight') out.imHeight = num();
  });
  return out;
}

const IMAGE_EXT = new Set(['.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff']);

/** The images of a folder in frame order, and the sequence's frame rate: img1/ and seqinfo.ini of a MOTChallenge folder are found from either level. */
export function listImageFolder(dir: string): { files: string[]; info: SeqInfo; seqDir: string } {
  let imgDir = dir;
  let seqDir = dir;
  let info: SeqInfo = {};
  if (existsSync(join(dir, 'seqinfo.ini'))) {
    info = readSeqInfo(join(dir, 'seqinfo.ini'));
    imgDir = join(dir, info.imDir ?? 'img1');
  } else if (existsSync(join(dir, 'img1')) && statSync(join(dir, 'img1')).isDirectory()) {
    imgDir = join(dir, 'img1');
  } else if (existsSync(join(dirname(dir), 'seqinfo.ini'))) {
    seqDir = dirname(dir);
    info = readSeqInfo(join(seqDir, 'seqinfo.ini'));
  }
  if (!existsSync(imgDir)) throw new AnalyzeError(`${dir}: no image folder ${imgDir} (seqinfo.ini names imDir=${info.imDir ?? 'img1'})`);
  const files = readdirSync(imgDir)
    .filter((f) => IMAGE_EXT.has(extname(f).toLowerCase()))
    // Numeric names (000001.jpg) in numeric order, so 10 follows 9 even without zero padding.
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .map((f) => join(imgDir, f));
  if (files.length === 0) throw new AnalyzeError(`${imgDir}: no images (expected ${[...IMAGE_EXT].join(', ')})`);
  return { files, info, seqDir };
}

function hasImages(dir: string): boolean {
  try {
    listImageFolder(dir);
    return true;
  } catch {
    return false;
  }
}

/**
 * Public detections (a MOTChallenge det.txt) as the chain's detector: the same tracker and events run on the
 * benchmark's own detections, so tracking can be measured apart from the detector. `frame` is set by the caller
 * before each frame; boxes below `minScore` are dropped and scores are rescaled to 0..1 where the file uses another
 * range (MOT15's ACF detections run to about 100).
 */
export class PublicDetections implements FrameDetector {
  frame = 1;
  private readonly byFrame = new Map<number, MotRow[]>();
  private readonly scale: (s: number) => number;

  constructor(rows: readonly MotRow[], o: { minScore?: number } = {}) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const r of rows) {
      lo = Math.min(lo, r.conf);
      hi = Math.max(hi, r.conf);
    }
    this.scale = lo >= 0 && hi <= 1 ? (s) => s : (s) => (s - lo) / Math.max(1e-9, hi - lo);
    for (const r of rows) {
      if (this.scale(r.conf) < (o.minScore ?? 0)) continue;
      const a = this.byFrame.get(r.frame);
      if (a) a.push(r);
      else this.byFrame.set(r.frame, [r]);
    }
  }

  static fromFile(file: string, o: { minScore?: number } = {}): PublicDetections {
    return new PublicDetections(parseMot(readFileSync(file, 'utf8'), { file, kind: 'det' }), o);
  }

  async detect(img: { width: number; height: number }): Promise<Detection[]> {
    const out: Detection[] = [];
    for (const r of this.byFrame.get(this.frame) ?? []) {
      const [x, y, w, h] = r.box;
      const x1 = Math.max(0, x);
      const y1 = Math.max(0, y);
      const x2 = Math.min(img.width, x + w);
      const y2 = Math.min(img.height, y + h);
      if (x2 <= x1 || y2 <= y1) continue;
      out.push({ x1, y1, x2, y2, score: this.scale(r.conf), class: 'person', classId: 0 });
    }
    return out;
  }
}

function toXywh(b: readonly number[]): [number, number, number, number] {
  const r = (v: number) => Math.round(v * 100) / 100;
  return [r(b[0]!), r(b[1]!), r(b[2]! - b[0]!), r(b[3]! - b[1]!)];
}

function eventOut(e: CameraEvent): AnalyzedEvent {
  return {
    kind: e.type,
    ts_ms: Math.round(e.t_s * 1000),
    trackIds: e.trackIds,
    bbox: toXywh(e.bbox),
    ...(e.zone !== undefined ? { zone: e.zone } : {}),
    ...(e.duration_s !== undefined ? { duration_s: e.duration_s } : {}),
  };
}

/** A local path or a URI GStreamer understands. */
function toUri(input: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(input) ? input : `file://${resolve(input)}`;
}

/**
 * Runs the input through detector → tracker → events (the node's CameraAnalyzer, so the numbers are the node's)
 * and collects the confirmed tracks of every frame and the events.
 */
export async function analyzeRecording(o: AnalyzeOptions): Promise<AnalyzeResult> {
  const analyzer = new CameraAnalyzer({ camera: 'analyze', detector: o.detector, ...o.analyzer });
  const frames: AnalyzedFrame[] = [];
  const events: AnalyzedEvent[] = [];
  const ids = { person: new Set<number>(), bag: new Set<number>() };
  let detectMs = 0;
  const t0 = performance.now();
  const max = o.maxFrames ?? Infinity;
  const step = async (frame: { index: number; t_s: number; data: Uint8Array; width: number; height: number }, total: number | undefined) => {
    if (o.detector instanceof PublicDetections) o.detector.frame = frame.index + 1;
    const r = await analyzer.process(frame);
    detectMs += r.timing_ms.detect;
    const out: AnalyzedFrame = {
      index: frame.index,
      ts_ms: Math.round(frame.t_s * 1000),
      tracks: r.tracks.map((t) => ({ id: t.id, class: t.cls, box: toXywh(t.box), score: Math.round(t.score * 1000) / 1000 })),
    };
    for (const t of r.tracks) (t.cls === 'bag' ? ids.bag : ids.person).add(t.id);
    frames.push(out);
    events.push(...r.events.map(eventOut));
    o.onFrame?.(out, frames.length, total);
  };

  const local = !/^[a-z][a-z0-9+.-]*:\/\//i.test(o.input);
  if (local && !existsSync(o.input)) throw new AnalyzeError(`${o.input}: no such file or folder`);
  if (local && statSync(o.input).isDirectory() && o.detector instanceof PublicDetections && !hasImages(o.input)) {
    // Public detections need no pixels: a sequence folder with seqinfo.ini but no frames is run on blank frames of
    // its size, so tracking can be scored where the frames themselves cannot be had.
    const info = existsSync(join(o.input, 'seqinfo.ini')) ? readSeqInfo(join(o.input, 'seqinfo.ini')) : {};
    if (!info.seqLength || !info.imWidth || !info.imHeight) throw new AnalyzeError(`${o.input}: no images, and no seqinfo.ini with seqLength, imWidth and imHeight to run public detections on`);
    const fps = o.fps ?? info.frameRate ?? 25;
    const n = Math.min(info.seqLength, max);
    const blank = new Uint8Array(info.imWidth * info.imHeight * 3);
    for (let i = 0; i < n; i++) await step({ index: i, t_s: i / fps, data: blank, width: info.imWidth, height: info.imHeight }, n);
    return finish({ input: o.input, kind: 'detections', width: info.imWidth, height: info.imHeight, fps });
  }
  if (local && statSync(o.input).isDirectory()) {
    const { files, info } = listImageFolder(o.input);
    const fps = o.fps ?? info.frameRate ?? 25;
    const n = Math.min(files.length, max);
    let size: [number, number] = [0, 0];
    for (let i = 0; i < n; i++) {
      let img: { data: Buffer; info: { width: number; height: number } };
      try {
        img = await sharp(files[i]!).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
      } catch (e) {
        throw new AnalyzeError(`${files[i]}: cannot decode image: ${(e as Error).message}`);
      }
      size = [img.info.width, img.info.height];
      // MOTChallenge numbers frames from the file name (000001.jpg is frame 1); other folders by position.
      const num = Number(basename(files[i]!, extname(files[i]!)));
      const index = Number.isInteger(num) && num >= 1 ? num - 1 : i;
      await step({ index, t_s: index / fps, data: new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.length), width: img.info.width, height: img.info.height }, n);
    }
    return finish({ input: o.input, kind: 'images', width: size[0], height: size[1], fps });
  }

  const uri = toUri(o.input);
  // A file that fails once fails again: no reconnecting (a live stream gets three tries, as the node would retry).
  const retries = uri.startsWith('file://') ? 0 : 3;
  const src = new CameraSource({ id: 'analyze', uri, log: o.log ?? silentLogger, backoff_ms: { first: 500, max: 2000 } });
  let failure: Error | undefined;
  let chain = Promise.resolve();
  let size: [number, number] = [0, 0];
  let fps = 0;
  let stop: () => void = () => {};
  const done = new Promise<void>((res) => {
    stop = res;
    src.on('state', (st) => {
      if (st.state === 'ended') res();
      else if (st.state === 'failed' || (st.state === 'backoff' && st.reconnects > retries)) {
        failure ??= new AnalyzeError(`${o.input}: ${st.lastError ?? st.state}`);
        res();
      }
    });
  });
  src.on('frame', (f) => {
    chain = chain.then(async () => {
      if (failure || frames.length >= max) return;
      try {
        size = [f.width, f.height];
        if (f.index > 0 && f.t_s > 0) fps = f.index / f.t_s;
        await step(f, undefined);
      } catch (e) {
        failure ??= e as Error;
      }
      // A failed frame ends the run (the error is reported); otherwise take the next frame until the limit.
      if (failure || frames.length >= max) stop();
      else src.ready();
    });
  });
  await src.start();
  await done;
  await chain;
  await src.stop();
  if (failure) throw failure;
  if (frames.length === 0) throw new AnalyzeError(`${o.input}: no frame could be read`);
  return finish({ input: o.input, kind: 'video', width: size[0], height: size[1], fps: Math.round(fps * 1000) / 1000 });

  function finish(source: AnalyzeResult['source']): AnalyzeResult {
    return {
      source,
      frames,
      events,
      stats: { frames: frames.length, wall_s: (performance.now() - t0) / 1000, detect_ms_per_frame: frames.length ? detectMs / frames.length : 0, personIds: ids.person.size, bagIds: ids.bag.size },
    };
  }
}

/** MOTChallenge result lines for the confirmed people of an analysis (frame = index + 1). */
export function motLines(r: Pick<AnalyzeResult, 'frames'>, cls = 'person'): string {
  return formatMotResults(r.frames.flatMap((f) => f.tracks.filter((t) => t.class === cls).map((t) => ({ frame: f.index + 1, id: t.id, box: t.box, conf: t.score }))));
}
