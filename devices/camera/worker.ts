// Child process of one camera: runs its GStreamer pipeline (gstreamer-superficial appsink) and sends RGB frames to
// the parent over IPC, so a GStreamer element that crashes or hangs takes down this process only.
import { createRequire } from 'node:module';
import { unpackRgb, type FromWorker, type ToWorker, type WorkerStart } from './messages.js';

interface GstAppSink {
  pull(cb: (buf: Buffer | null, caps: Record<string, unknown> | null) => void): void;
}
interface GstPipeline {
  play(): void;
  stop(): void;
  findChild(name: string): unknown;
  pollBus(cb: (msg: Record<string, unknown>) => void): void;
}
interface GstModule {
  Pipeline: new (desc: string) => GstPipeline;
}

let last: Promise<void> = Promise.resolve();

function send(msg: FromWorker): void {
  if (!process.connected) return;
  // Remember the last send so finish() exits only after everything queued reached the parent.
  last = new Promise((resolve) => process.send?.(msg, undefined, {}, () => resolve()));
}

/** Ends the child once the IPC channel has flushed; a pipeline stuck in a native call must not keep it alive. */
function finish(code: number): void {
  setTimeout(() => process.kill(process.pid, 'SIGKILL'), 2000).unref();
  process.exitCode = code;
  void last.then(() => process.exit(code));
}

/** A GStreamer caps field or bus message field as text; anything but a string or number is not shown. */
function str(v: unknown, fallback = ''): string {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : fallback;
}

function parseFps(v: unknown): number {
  if (typeof v !== 'string') return 0;
  const m = /^(\d+)\/(\d+)$/.exec(v);
  return m && Number(m[2]) > 0 ? Number(m[1]) / Number(m[2]) : 0;
}

function run(start: WorkerStart): void {
  let gst: GstModule;
  try {
    gst = createRequire(import.meta.url)('gstreamer-superficial') as GstModule;
  } catch (e) {
    send({ type: 'error', code: 'E_NO_GSTREAMER', message: `gstreamer-superficial is not installed or does not load (${(e as Error).message.split('\n')[0]}); install it (optional dependency) and GStreamer 1.x` });
    finish(3);
    return;
  }
  let pipeline: GstPipeline;
  let sink: GstAppSink;
  try {
    pipeline = new gst.Pipeline(start.pipeline);
    const found = pipeline.findChild('sink') as GstAppSink | undefined;
    if (!found || typeof found.pull !== 'function') throw new Error('no appsink named "sink" in the pipeline');
    sink = found;
  } catch (e) {
    send({ type: 'error', code: 'E_PIPELINE', message: `cannot build pipeline "${start.pipeline}": ${(e as Error).message}` });
    finish(2);
    return;
  }

  let credit = 0;
  let pending: Extract<FromWorker, { type: 'frame' }> | undefined;
  let pulling = false;
  let ended = false;
  let index = 0;
  let dropped = 0;
  let caps = { width: 0, height: 0, fps: 0, format: '' };

  let eos = false;
  let drained = false;

  const flush = (): void => {
    if (pending && credit > 0) {
      credit--;
      send(pending);
      pending = undefined;
    }
    if (eos && drained && !pending && !ended) {
      ended = true;
      send({ type: 'eos', frames: index });
      pipeline.stop();
      finish(0);
    }
  };

  const pullNext = (): void => {
    if (ended || pulling) return;
    // A file waits for the parent (nothing lost); a live source keeps pulling and replaces the unsent frame.
    if (!start.live && pending) return;
    pulling = true;
    sink.pull(onSample);
  };

  const onSample = (buf: Buffer | null, c: Record<string, unknown> | null): void => {
    pulling = false;
    if (ended) return;
    if (!buf) {
      if (eos) {
        drained = true;
        flush();
        return;
      }
      // No sample yet (pipeline prerolling): look again shortly.
      setTimeout(pullNext, 10);
      return;
    }
    if (c && typeof c.width === 'number' && typeof c.height === 'number') {
      const next = { width: c.width, height: c.height, fps: parseFps(c.framerate), format: str(c.format) };
      if (next.width !== caps.width || next.height !== caps.height || next.format !== caps.format) {
        caps = next;
        send({ type: 'caps', ...caps });
      }
    }
    const data = unpackRgb(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), caps.width, caps.height);
    if (typeof data === 'string') {
      send({ type: 'error', code: 'E_FRAME', message: `frame ${index}: ${data}` });
    } else {
      if (pending) dropped++;
      // Copy out of the native buffer: it is reused once the next sample is pulled.
      pending = { type: 'frame', index, width: caps.width, height: caps.height, fps: caps.fps, data: data === buf ? new Uint8Array(data) : data, dropped };
      dropped = 0;
    }
    index++;
    flush();
    pullNext();
  };

  pipeline.pollBus((msg) => {
    if (ended) return;
    if (msg.type === 'error') {
      ended = true;
      const detail = typeof msg.debug === 'string' ? msg.debug.split('\n').pop() : '';
      send({ type: 'error', code: 'E_STREAM', message: `${str(msg.message, 'error')}${detail ? ` (${detail})` : ''}`, element: str(msg._src_element_name) });
      pipeline.stop();
      finish(1);
    } else if (msg.type === 'eos') {
      // Samples may still wait in the appsink: keep pulling until it answers empty, then report the end.
      eos = true;
      pullNext();
    } else if (msg.type === 'async-done') {
      send({ type: 'playing' });
    }
  });

  process.on('message', (m: ToWorker) => {
    if (m.type === 'credit') {
      credit += m.n;
      flush();
      pullNext();
    } else if (m.type === 'stop') {
      ended = true;
      pipeline.stop();
      finish(0);
    }
  });
  pipeline.play();
  pullNext();
}

process.once('message', (m: ToWorker) => {
  if (m.type === 'start') run(m);
});
// The parent went away: nothing to send frames to.
process.on('disconnect', () => {
  setTimeout(() => process.kill(process.pid, 'SIGKILL'), 500).unref();
});
