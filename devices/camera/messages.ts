// Messages between the camera node and its per-camera GStreamer child process (IPC, advanced serialisation).

export interface WorkerStart {
  type: 'start';
  camera: string;
  /** Full GStreamer description ending in an appsink named "sink" that outputs RGB. */
  pipeline: string;
  /** Live sources keep only the newest frame; files are paced by the parent's credits and lose nothing. */
  live: boolean;
}

/** The parent is ready for `n` more frames. */
export interface WorkerCredit {
  type: 'credit';
  n: number;
}

export interface WorkerStop {
  type: 'stop';
}

export type ToWorker = WorkerStart | WorkerCredit | WorkerStop;

export interface FrameMsg {
  type: 'frame';
  /** Frames pulled from the appsink since start, dropped ones included (so the parent sees gaps). */
  index: number;
  width: number;
  height: number;
  /** Frames per second from the caps, 0 when the source does not say. */
  fps: number;
  /** Tightly packed RGB, width*height*3 bytes (row padding already removed). */
  data: Uint8Array;
  /** Frames the worker dropped before this one because the parent was busy (live sources). */
  dropped: number;
}

export interface CapsMsg {
  type: 'caps';
  width: number;
  height: number;
  format: string;
  fps: number;
}

export interface ErrorMsg {
  type: 'error';
  code: 'E_NO_GSTREAMER' | 'E_PIPELINE' | 'E_STREAM' | 'E_FRAME';
  message: string;
  /** GStreamer element that posted the error, when known. */
  element?: string;
}

export interface EosMsg {
  type: 'eos';
  frames: number;
}

export interface PlayingMsg {
  type: 'playing';
}

export type FromWorker = FrameMsg | CapsMsg | ErrorMsg | EosMsg | PlayingMsg;

/** Row stride GStreamer uses for packed RGB: rows are padded to 4 bytes. */
export function rgbStride(width: number): number {
  return (width * 3 + 3) & ~3;
}

/**
 * Tightly packed RGB from an appsink buffer, checking its size against the caps. Answers an error string instead of
 * a frame when the buffer fits neither the packed nor the padded layout.
 */
export function unpackRgb(buf: Uint8Array, width: number, height: number): Uint8Array | string {
  const packed = width * height * 3;
  if (buf.length === packed) return buf;
  const stride = rgbStride(width);
  if (buf.length === stride * height) {
    const out = new Uint8Array(packed);
    for (let y = 0; y < height; y++) out.set(buf.subarray(y * stride, y * stride + width * 3), y * width * 3);
    return out;
  }
  return `buffer of ${buf.length} bytes does not fit ${width}x${height} RGB (expected ${packed} packed or ${stride * height} with padded rows)`;
}
