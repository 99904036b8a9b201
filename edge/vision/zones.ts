// The zone editor without a GUI: a camera's first frame with its zones (labelled), exclusion masks (hatched) and an
// optional normalised grid drawn over it as a PNG, so a technician reads the polygon coordinates off the picture.
import { extname, resolve } from 'node:path';
import sharp from 'sharp';
import { InputError } from '../../common/errors.js';
import { silentLogger } from '../../common/log.js';
import { CameraSource } from '../../devices/camera/source.js';
import { loadEdgeConfig } from '../runtime/config.js';
import { parseCameraOptions } from '../pipelines/camera.js';

export interface RgbFrame {
  data: Uint8Array;
  width: number;
  height: number;
}

/** What is drawn: zones and masks in normalised coordinates (0..1), as the config holds them. */
export interface ZoneLayout {
  zones: { id: string; polygon: readonly (readonly [number, number])[] }[];
  exclude: (readonly (readonly [number, number])[])[];
}

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff', '.gif', '.avif']);

/** The first frame of a video (through the same GStreamer child the node reads cameras with) or an image, as RGB. */
export async function readFirstFrame(input: string, opts: { timeout_ms?: number } = {}): Promise<RgbFrame> {
  const file = resolve(input);
  if (IMAGE_EXT.has(extname(file).toLowerCase())) {
    try {
      const { data, info } = await sharp(file).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
      return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
    } catch (e) {
      throw new InputError(`${input}: cannot read the image (${(e as Error).message})`, { cause: e });
    }
  }
  const src = new CameraSource({ id: 'zones', uri: `file://${file}`, log: silentLogger, backoff_ms: { first: 100, max: 100 } });
  try {
    return await new Promise<RgbFrame>((ok, fail) => {
      const timer = setTimeout(() => fail(new InputError(`${input}: no frame within ${opts.timeout_ms ?? 20000} ms`)), opts.timeout_ms ?? 20000);
      src.once('frame', (f) => {
        clearTimeout(timer);
        ok({ data: f.data, width: f.width, height: f.height });
      });
      src.on('state', (st) => {
        // A file that ends, fails or keeps restarting before its first frame is not a video GStreamer can read.
        if (st.state === 'ended' || st.state === 'failed' || (st.state === 'backoff' && st.reconnects >= 1)) {
          clearTimeout(timer);
          fail(new InputError(`${input}: no frame could be read from the video${st.lastError ? ` (${st.lastError})` : ''}`));
        }
      });
      void src.start();
    });
  } finally {
    await src.stop();
    src.removeAllListeners();
  }
}

/**
 * Zones and masks of one camera from a node config (`pipelines[]` of type camera, checked as the node checks them,
 * so a polygon the node would refuse is refused here with the same message). `camera` defaults to the first one.
 */
export function layoutFromConfig(file: string, camera?: string): ZoneLayout & { camera: string } {
  const cfg = loadEdgeConfig(file);
  const cams = cfg.pipelines.filter((p) => p.type === 'camera');
  if (!cams.length) throw new InputError(`${file}: no pipeline of type "camera" (expected one under /pipelines)`);
  const all = cams.map((spec) => ({ spec, o: parseCameraOptions(spec) }));
  const ids = all.flatMap((a) => a.o.cameras.map((c) => c.id));
  const id = camera ?? ids[0]!;
  const hit = all.find((a) => a.o.cameras.some((c) => c.id === id));
  if (!hit) throw new InputError(`--camera: "${id}" is not a camera of ${file}; expected one of ${ids.join(', ')}`);
  const cam = hit.o.cameras.find((c) => c.id === id)!;
  return {
    camera: id,
    zones: hit.o.zones.filter((z) => z.camera === undefined || z.camera === id).map((z) => ({ id: z.id, polygon: z.polygon })),
    exclude: cam.exclude ?? [],
  };
}

const COLOURS = ['#00e5ff', '#ffd400', '#7cff4f', '#ff7ae6', '#ff9f1a', '#9d8cff'];

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function points(poly: readonly (readonly [number, number])[], w: number, h: number): string {
  return poly.map(([x, y]) => `${(x * w).toFixed(1)},${(y * h).toFixed(1)}`).join(' ');
}

/** The overlay as SVG in the frame's pixels (exported for tests and for a web page that wants the same picture). */
export function overlaySvg(layout: ZoneLayout, width: number, height: number, opts: { grid?: number } = {}): string {
  const font = Math.max(10, Math.round(Math.min(width, height) / 32));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    // Hatching, not a flat fill: the technician still sees what lies under the mask.
    '<defs><pattern id="hatch" patternUnits="userSpaceOnUse" width="10" height="10" patternTransform="rotate(45)">' +
      '<rect width="10" height="10" fill="#ff0000" fill-opacity="0.18"/><line x1="0" y1="0" x2="0" y2="10" stroke="#ff2020" stroke-width="4"/></pattern></defs>',
  ];
  const step = opts.grid;
  if (step) {
    const n = Math.round(1 / step);
    for (let i = 1; i < n; i++) {
      const v = i * step;
      // Every tenth is labelled (and drawn bolder); finer steps are plain lines between them.
      const major = n <= 10 || Math.abs(v * 10 - Math.round(v * 10)) < 1e-6;
      const sw = major ? 1.2 : 0.6;
      parts.push(`<line x1="${(v * width).toFixed(1)}" y1="0" x2="${(v * width).toFixed(1)}" y2="${height}" stroke="#ffffff" stroke-opacity="0.55" stroke-width="${sw}"/>`);
      parts.push(`<line x1="0" y1="${(v * height).toFixed(1)}" x2="${width}" y2="${(v * height).toFixed(1)}" stroke="#ffffff" stroke-opacity="0.55" stroke-width="${sw}"/>`);
      if (major) {
        const label = v.toFixed(2).replace(/0$/, '');
        parts.push(`<text x="${(v * width + 2).toFixed(1)}" y="${font}" font-family="DejaVu Sans, sans-serif" font-size="${font * 0.8}" fill="#ffffff" stroke="#000000" stroke-width="0.6">${label}</text>`);
        parts.push(`<text x="2" y="${(v * height - 2).toFixed(1)}" font-family="DejaVu Sans, sans-serif" font-size="${font * 0.8}" fill="#ffffff" stroke="#000000" stroke-width="0.6">${label}</text>`);
      }
    }
  }
  layout.exclude.forEach((m, k) => {
    parts.push(`<polygon points="${points(m, width, height)}" fill="url(#hatch)" stroke="#ff2020" stroke-width="2"/>`);
    const [x, y] = m[0]!;
    parts.push(`<text x="${(x * width + 3).toFixed(1)}" y="${(y * height + font).toFixed(1)}" font-family="DejaVu Sans, sans-serif" font-size="${font * 0.8}" fill="#ff4040" stroke="#000000" stroke-width="0.5">exclude ${k}</text>`);
  });
  layout.zones.forEach((z, k) => {
    const c = COLOURS[k % COLOURS.length]!;
    parts.push(`<polygon points="${points(z.polygon, width, height)}" fill="${c}" fill-opacity="0.15" stroke="${c}" stroke-width="2"/>`);
    // The label at the top-left-most vertex, inside the frame.
    const [x, y] = [...z.polygon].sort((a, b) => a[1] - b[1] || a[0] - b[0])[0]!;
    const lx = Math.min(width - font * 4, Math.max(2, x * width + 3));
    const ly = Math.min(height - 2, Math.max(font, y * height + font));
    parts.push(`<text x="${lx.toFixed(1)}" y="${ly.toFixed(1)}" font-family="DejaVu Sans, sans-serif" font-weight="bold" font-size="${font}" fill="${c}" stroke="#000000" stroke-width="0.7">${esc(z.id)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** Writes `frame` with the layout drawn over it as PNG at `out`; the PNG has the frame's size. */
export async function renderZones(opts: { frame: RgbFrame; layout: ZoneLayout; out: string; grid?: number }): Promise<{ width: number; height: number; file: string }> {
  const { frame, layout } = opts;
  if (opts.grid !== undefined && !(opts.grid > 0 && opts.grid <= 0.5)) throw new InputError(`--grid: expected a step between 0 and 0.5 (normalised), got ${opts.grid}`);
  const svg = overlaySvg(layout, frame.width, frame.height, opts.grid !== undefined ? { grid: opts.grid } : {});
  const out = resolve(opts.out);
  await sharp(Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength), { raw: { width: frame.width, height: frame.height, channels: 3 } })
    .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
    .png()
    .toFile(out);
  return { width: frame.width, height: frame.height, file: out };
}
