// The COCO detectors' input for the onnxruntime route: one frame region, letterboxed and normalised, as NCHW floats.
import type { Detection } from '../../analysis/detect/yolo.js';
import type { CocoModelSpec } from './coco-models.js';

export interface RegionInput {
  tensor: Float32Array;
  /** Model-input pixels back to full-image pixels. */
  toImage: (d: Detection) => Detection;
}

/**
 * Bilinear resize of the region (x, y, w, h) of an HWC 8-bit image into the model's square input, the aspect kept
 * (centred, black bars) when the model was trained so, channels reordered and normalised as the spec says; 1- and
 * 4-channel frames are read as grey and as RGB. The same arithmetic as the tfjs route's resize (half-pixel centres),
 * written out because the tensor ops would cost more CPU than onnxruntime's whole network.
 */
export function regionInput(img: { data: Uint8Array; width: number; height: number; channels: number }, r: { x: number; y: number; w: number; h: number }, s: CocoModelSpec): RegionInput {
  const S = s.inputSize;
  const scale = s.letterbox ? Math.min(S / r.w, S / r.h) : 0;
  const rw = s.letterbox ? Math.max(1, Math.round(r.w * scale)) : S;
  const rh = s.letterbox ? Math.max(1, Math.round(r.h * scale)) : S;
  const padX = s.letterbox ? Math.floor((S - rw) / 2) : 0;
  const padY = s.letterbox ? Math.floor((S - rh) / 2) : 0;
  const C = img.channels;
  const src = img.data;
  const W = img.width;
  const plane = S * S;
  const out = new Float32Array(3 * plane);
  // Channel k of the model reads source channel order[k] (BGR models read 2, 1, 0).
  const order = C === 1 ? [0, 0, 0] : s.channels === 'bgr' ? [2, 1, 0] : [0, 1, 2];
  const pad = [0, 1, 2].map((k) => (0 - s.mean[k]!) / s.std[k]!);
  for (let k = 0; k < 3; k++) out.fill(pad[k]!, k * plane, (k + 1) * plane);
  const fx = r.w / rw;
  const fy = r.h / rh;
  const xs0 = new Int32Array(rw);
  const xs1 = new Int32Array(rw);
  const wxs = new Float32Array(rw);
  for (let x = 0; x < rw; x++) {
    const sx = Math.min(r.w - 1, Math.max(0, (x + 0.5) * fx - 0.5));
    const x0 = Math.floor(sx);
    xs0[x] = (r.x + x0) * C;
    xs1[x] = (r.x + Math.min(r.w - 1, x0 + 1)) * C;
    wxs[x] = sx - x0;
  }
  for (let y = 0; y < rh; y++) {
    const sy = Math.min(r.h - 1, Math.max(0, (y + 0.5) * fy - 0.5));
    const y0 = Math.floor(sy);
    const wy = sy - y0;
    const row0 = (r.y + y0) * W * C;
    const row1 = (r.y + Math.min(r.h - 1, y0 + 1)) * W * C;
    const o = (y + padY) * S + padX;
    for (let x = 0; x < rw; x++) {
      const wx = wxs[x]!;
      for (let k = 0; k < 3; k++) {
        const c = order[k]!;
        const a = src[row0 + xs0[x]! + c]!;
        const b = src[row0 + xs1[x]! + c]!;
        const d = src[row1 + xs0[x]! + c]!;
        const e = src[row1 + xs1[x]! + c]!;
        const v = (a + (b - a) * wx) * (1 - wy) + (d + (e - d) * wx) * wy;
        out[k * plane + o + x] = (v - s.mean[k]!) / s.std[k]!;
      }
    }
  }
  const sx = s.letterbox ? scale : S / r.w;
  const sy = s.letterbox ? scale : S / r.h;
  const toImage = (d: Detection): Detection => ({
    ...d,
    x1: (d.x1 - padX) / sx + r.x,
    y1: (d.y1 - padY) / sy + r.y,
    x2: (d.x2 - padX) / sx + r.x,
    y2: (d.y2 - padY) / sy + r.y,
  });
  return { tensor: out, toImage };
}
