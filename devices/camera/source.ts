// One camera as the node sees it: a supervised GStreamer child process that delivers RGB frames, reconnects with
// backoff when the stream dies, and reports its state and resolution changes.
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../common/log.js';
import { CustomsError } from '../../common/errors.js';
import type { FromWorker, ToWorker } from './messages.js';

export class CameraError extends CustomsError {}

export type CameraStateName = 'starting' | 'playing' | 'backoff' | 'ended' | 'stopped' | 'failed';

export interface CameraState {
  camera: string;
  state: CameraStateName;
  width?: number;
  height?: number;
  frames: number;
  /** Frames the child dropped because the node was busy (live sources only). */
  dropped: number;
  reconnects: number;
  resolutionChanges: number;
  lastError?: string;
}

export interface Frame {
  camera: string;
  /** Frame number since the source (re)started. */
  index: number;
  /** Seconds: frame index / fps for files (repeatable), receive time for live sources. */
  t_s: number;
  width: number;
  height: number;
  data: Uint8Array;
}

export interface CameraSourceOptions {
  id: string;
  /** file:///..., rtsp://..., http(s)://..., v4l2:///dev/video0 */
  uri?: string;
  /** A GStreamer description producing video; the node appends conversion to RGB and the appsink. */
  pipeline?: string;
  /** Default: true for rtsp/http/v4l2 and pipelines with is-live, false for files. */
  live?: boolean;
  /** Restart a file at its end (a replay that behaves as a camera). */
  loop?: boolean;
  /** Reconnect delays: first, doubling up to max. */
  backoff_ms?: { first: number; max: number };
  /** A child that sends nothing for this long (after it started playing) is restarted. */
  stall_ms?: number;
  log: Logger;
  /** Wall clock in seconds (injected for tests); live frames are stamped with it. */
  now?: () => number;
}

type Events = { frame: [Frame]; state: [CameraState]; resolution: [{ camera: string; from: [number, number]; to: [number, number] }] };

/** Builds the GStreamer description for a camera: decode, convert to packed RGB, appsink that drops when live. */
export function describePipeline(o: Pick<CameraSourceOptions, 'uri' | 'pipeline' | 'live'>): { pipeline: string; live: boolean } {
  let head: string;
  let live: boolean;
  if (o.pipeline) {
    if (/\bname=sink\b/.test(o.pipeline)) return { pipeline: o.pipeline, live: o.live ?? /is-live=(true|1)/.test(o.pipeline) };
    head = o.pipeline;
    live = o.live ?? /is-live=(true|1)|rtspsrc|v4l2src|souphttpsrc/.test(o.pipeline);
  } else if (o.uri) {
    const m = /^([a-z0-9+.-]+):\/\//i.exec(o.uri);
    const scheme = m?.[1]?.toLowerCase();
    if (!scheme) throw new CameraError('E_CAMERA_URI', `camera uri "${o.uri}": expected scheme://..., e.g. file:///path.avi, rtsp://host/stream or v4l2:///dev/video0`);
    if (/[!"'\s]/.test(o.uri)) throw new CameraError('E_CAMERA_URI', `camera uri "${o.uri}": spaces, quotes and "!" are not allowed (they would change the pipeline)`);
    if (scheme === 'v4l2') head = `v4l2src device=${o.uri.slice('v4l2://'.length)}`;
    else if (scheme === 'rtsp' || scheme === 'rtsps') head = `rtspsrc location=${o.uri} latency=200 protocols=tcp ! decodebin`;
    else head = `uridecodebin uri=${o.uri}`;
    live = o.live ?? scheme !== 'file';
  } else {
    throw new CameraError('E_CAMERA_URI', 'camera: expected a uri or a pipeline');
  }
  // Live: keep one frame and drop older ones so a slow node sees the present, not a growing backlog. Files: no
  // drops, the worker waits for the parent, so an evaluation sees every frame.
  const sink = live ? 'appsink name=sink max-buffers=1 drop=true sync=false' : 'appsink name=sink max-buffers=2 drop=false sync=false';
  return { pipeline: `${head} ! videoconvert ! video/x-raw,format=RGB ! ${sink}`, live };
}

function workerEntry(): { file: string; execArgv: string[] } {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    // Running from source (tests, tsx): the child needs the TypeScript loader too.
    return { file: fileURLToPath(new URL('./worker.ts', here)), execArgv: ['--import', import.meta.resolve('tsx')] };
  }
  return { file: fileURLToPath(new URL('./worker.js', here)), execArgv: [] };
}

/**
 * Emits `frame` for every frame the parent should process; call `ready()` once a frame is processed (credit-based
 * flow control: a file is never read faster than the node handles it, a live camera drops old frames in the child).
 */
export class CameraSource extends EventEmitter<Events> {
  private child: ChildProcess | undefined;
  private readonly st: CameraState;
  private stopped = true;
  private attempt = 0;
  private retry: NodeJS.Timeout | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  private lastMsg = 0;
  /** Frames the child may still send us (credits granted minus frames received): a file that owes one and sends nothing has hung. */
  private owed = 0;
  private fps = 0;
  private t0_s: number | undefined;
  private exitWait: Promise<void> | undefined;
  private readonly desc: { pipeline: string; live: boolean };
  private readonly now: () => number;

  constructor(private readonly o: CameraSourceOptions) {
    super();
    this.desc = describePipeline(o);
    this.now = o.now ?? (() => Date.now() / 1000);
    this.st = { camera: o.id, state: 'stopped', frames: 0, dropped: 0, reconnects: 0, resolutionChanges: 0 };
  }

  /** Process id of the current GStreamer child (undefined between restarts). */
  get workerPid(): number | undefined {
    return this.child?.pid;
  }

  get live(): boolean {
    return this.desc.live;
  }

  state(): CameraState {
    return { ...this.st };
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.spawn();
  }

  /** The node has processed a frame and takes the next. */
  ready(n = 1): void {
    this.owed += n;
    this.sendChild({ type: 'credit', n });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    clearInterval(this.stallTimer);
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      this.sendChild({ type: 'stop' });
      const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await this.exitWait;
      clearTimeout(killer);
    }
    this.child = undefined;
    this.setState('stopped');
  }

  private sendChild(m: ToWorker): void {
    const c = this.child;
    if (c?.connected) {
      try {
        c.send(m);
      } catch {
        // The child is going away; its exit handler reconnects.
      }
    }
  }

  private setState(state: CameraStateName, err?: string): void {
    this.st.state = state;
    if (err !== undefined) this.st.lastError = err;
    this.emit('state', this.state());
  }

  private spawn(): void {
    if (this.stopped) return;
    this.setState('starting');
    this.t0_s = undefined;
    const entry = workerEntry();
    const child = fork(entry.file, [], { execArgv: entry.execArgv, serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    this.child = child;
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    let ended = false;
    let reported: string | undefined;
    let fatal = false;
    this.exitWait = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        clearInterval(this.stallTimer);
        resolve();
        if (this.child === child) this.child = undefined;
        if (this.stopped) return;
        if (ended && !this.o.loop) {
          this.setState('ended');
          return;
        }
        if (ended && this.o.loop) {
          this.attempt = 0;
          this.spawn();
          return;
        }
        if (fatal) {
          this.setState('failed', reported);
          this.o.log.error({ camera: this.o.id, err: reported }, 'camera failed: not retrying');
          return;
        }
        const why = reported ?? `camera worker exited (${signal ?? `code ${code}`})${stderr.trim() ? `: ${stderr.trim().split('\n').pop()}` : ''}`;
        this.scheduleReconnect(why);
      });
    });
    child.on('error', (e) => {
      reported ??= `camera worker: ${e.message}`;
    });
    child.on('message', (m: FromWorker) => {
      this.lastMsg = Date.now();
      switch (m.type) {
        case 'caps': {
          const prev = this.st.width !== undefined && this.st.height !== undefined ? ([this.st.width, this.st.height] as [number, number]) : undefined;
          this.fps = m.fps;
          if (prev && (prev[0] !== m.width || prev[1] !== m.height)) {
            this.st.resolutionChanges++;
            this.o.log.warn({ camera: this.o.id, from: prev, to: [m.width, m.height] }, 'camera resolution changed');
            this.emit('resolution', { camera: this.o.id, from: prev, to: [m.width, m.height] });
          }
          this.st.width = m.width;
          this.st.height = m.height;
          break;
        }
        case 'playing':
          break;
        case 'frame': {
          if (this.st.state !== 'playing') {
            this.setState('playing');
            this.o.log.info({ camera: this.o.id, width: m.width, height: m.height, fps: m.fps, live: this.desc.live }, 'camera playing');
          }
          // A stream that delivers frames is healthy again: the next failure starts the backoff from the beginning.
          this.attempt = 0;
          this.owed = Math.max(0, this.owed - 1);
          this.st.frames++;
          this.st.dropped += m.dropped;
          const fps = m.fps || this.fps;
          let t: number;
          if (!this.desc.live && fps > 0) t = m.index / fps;
          else {
            this.t0_s ??= this.now();
            t = this.now();
          }
          this.emit('frame', { camera: this.o.id, index: m.index, t_s: t, width: m.width, height: m.height, data: m.data });
          break;
        }
        case 'error':
          if (m.code === 'E_FRAME') {
            this.o.log.warn({ camera: this.o.id, err: m.message }, 'bad frame dropped');
            break;
          }
          reported = m.message;
          // Retrying cannot install a module or fix a pipeline description.
          fatal = m.code === 'E_NO_GSTREAMER' || m.code === 'E_PIPELINE';
          this.o.log.warn({ camera: this.o.id, code: m.code, element: m.element, err: m.message }, 'camera stream error');
          break;
        case 'eos':
          ended = true;
          this.o.log.info({ camera: this.o.id, frames: m.frames }, 'camera stream ended');
          break;
        default: {
          const never: never = m;
          throw new CameraError('E_CAMERA_MSG', `unknown worker message ${JSON.stringify(never)}`);
        }
      }
    });
    child.send({ type: 'start', camera: this.o.id, pipeline: this.desc.pipeline, live: this.desc.live } satisfies ToWorker);
    // Two frames in flight: one being processed, one decoded and waiting.
    child.send({ type: 'credit', n: 2 } satisfies ToWorker);
    this.owed = 2;
    this.lastMsg = Date.now();
    const stall = this.o.stall_ms ?? 15_000;
    clearInterval(this.stallTimer);
    this.stallTimer = setInterval(() => {
      // A live stream is expected to talk; a file only while it owes us a frame (it waits for our credits, and we
      // may be the slow one). A demuxer stuck on a damaged file sends neither frames nor end of stream.
      const expected = this.desc.live ? this.st.state === 'playing' : (this.st.state === 'playing' || this.st.state === 'starting') && this.owed > 0;
      if (expected && Date.now() - this.lastMsg > stall) {
        reported = `no frame for ${stall} ms`;
        this.o.log.warn({ camera: this.o.id }, 'camera stalled: restarting its worker');
        child.kill('SIGKILL');
      }
    }, Math.min(stall, 1000));
    this.stallTimer.unref();
  }

  private scheduleReconnect(why: string): void {
    const b = this.o.backoff_ms ?? { first: 1000, max: 30_000 };
    const delay = Math.min(b.max, b.first * 2 ** this.attempt);
    this.attempt++;
    this.st.reconnects++;
    this.setState('backoff', why);
    this.o.log.warn({ camera: this.o.id, err: why, retry_ms: delay, attempt: this.attempt }, 'camera down: reconnecting after backoff');
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.spawn(), delay);
  }
}
