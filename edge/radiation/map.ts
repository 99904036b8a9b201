// PNG map of a drive: path coloured by count rate, sources with 95 % ellipses on the ground, dose contours, scale bar, legend.
//
// The map is drawn as an SVG string (driveMapSvg, pure) and rasterised by sharp (renderDriveMap). Coordinates go
// through the local tangent plane of localize/geo.ts, so metres on the map are metres on the ground.

import sharp from 'sharp';
import { CustomsError } from '../../common/errors.js';
import type { GeoJsonFeatureCollection } from '../../analysis/radiation/dosefield.js';
import { toLocal } from '../../analysis/radiation/localize/geo.js';
import type { LocalOrigin, SourceEstimate } from '../../analysis/radiation/localize/types.js';

export class MapError extends CustomsError {
  constructor(message: string) {
    super('E_MAP', message);
  }
}

export interface PathPoint {
  lat: number;
  lon: number;
  /** Count rate at this point (cps, any window, used for the colour). */
  cps: number;
}

export interface DriveMapOptions {
  path: readonly PathPoint[];
  sources?: readonly SourceEstimate[];
  contours?: GeoJsonFeatureCollection;
  width?: number;
  height?: number;
  /** Map origin (default the first path point, else the first source). */
  origin?: LocalOrigin;
  title?: string;
}

export interface DriveMapSvg {
  svg: string;
  width: number;
  height: number;
  /** Pixel position of a geographic point on the map (for tests and overlays). */
  project(p: { lat: number; lon: number }): [number, number];
  metresPerPixel: number;
}

const LEGEND_W = 170;
const MARGIN = 24;
/** Ellipses use the 3D 95 % region's shadow on the ground: same quantile as the ellipsoid (χ²₃ = 7.81). */
const SOURCE_FILL = '#d400d4';
const CONTOUR_COLOURS: [number, string][] = [
  [100, '#b30000'],
  [20, '#ff6a00'],
  [1, '#e6c200'],
  [0.5, '#2e9e3e'],
];

// Perceptually ordered ramp (dark blue -> teal -> yellow), anchors chosen by hand.
const RAMP: [number, number, number][] = [
  [48, 18, 120],
  [40, 90, 160],
  [30, 150, 140],
  [120, 200, 80],
  [250, 230, 40],
];

export function rampColour(f: number): string {
  const x = Math.min(1, Math.max(0, Number.isFinite(f) ? f : 0)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(x));
  const t = x - i;
  const a = RAMP[i]!;
  const b = RAMP[i + 1]!;
  const c = [0, 1, 2].map((k) => Math.round(a[k]! + t * (b[k]! - a[k]!)));
  return `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

function contourColour(level: number): string {
  let best = CONTOUR_COLOURS[0]!;
  for (const c of CONTOUR_COLOURS) if (Math.abs(Math.log(c[0] / level)) < Math.abs(Math.log(best[0] / level))) best = c;
  return best[1];
}

function esc(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

function fmt(v: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toPrecision(2);
}

/** Ground-plane ellipse of a 95 % region: semi-axes (m) and the angle of the first axis from east (rad). */
export function groundEllipse(ci: SourceEstimate['ci95']): { a_m: number; b_m: number; angle_rad: number } {
  // Shape matrix Q = Σ s² a aᵀ; the shadow of {d : dᵀ Q⁻¹ d <= 1} on the xy plane is the ellipse of Q's xy block.
  let qxx = 0;
  let qxy = 0;
  let qyy = 0;
  for (let k = 0; k < 3; k++) {
    const s2 = ci.semiAxes_m[k]! ** 2;
    const a = ci.axes[k]!;
    qxx += s2 * a[0] * a[0];
    qxy += s2 * a[0] * a[1];
    qyy += s2 * a[1] * a[1];
  }
  const mean = (qxx + qyy) / 2;
  const diff = Math.sqrt(((qxx - qyy) / 2) ** 2 + qxy * qxy);
  const l1 = mean + diff;
  const l2 = Math.max(0, mean - diff);
  const angle = Math.atan2(l1 - qxx, qxy === 0 ? 1e-300 : qxy);
  return { a_m: Math.sqrt(l1), b_m: Math.sqrt(l2), angle_rad: qxy === 0 ? (qxx >= qyy ? 0 : Math.PI / 2) : angle };
}

/** Draws the map as SVG (pure). */
export function driveMapSvg(opts: DriveMapOptions): DriveMapSvg {
  const width = Math.round(opts.width ?? 1000);
  const height = Math.round(opts.height ?? 700);
  if (!(width >= 200 && width <= 8000 && height >= 150 && height <= 8000)) {
    throw new MapError(`width/height: expected 200-8000 × 150-8000 pixels, got ${width} × ${height}`);
  }
  const sources = opts.sources ?? [];
  opts.path.forEach((p, i) => {
    if (!Number.isFinite(p.lat) || !Number.isFinite(p.lon) || !Number.isFinite(p.cps)) {
      throw new MapError(`path[${i}]: expected finite lat, lon and cps, got ${JSON.stringify(p)}`);
    }
  });
  const first = opts.path[0] ?? sources[0];
  if (!opts.origin && !first) throw new MapError('path/sources: nothing to draw (no path point and no source)');
  const origin: LocalOrigin = opts.origin ?? { lat: first!.lat, lon: first!.lon };
  const loc = (p: { lat: number; lon: number }) => {
    const q = toLocal(origin, { lat: p.lat, lon: p.lon, height_m: origin.height_m ?? 0 });
    return [q.x_m, q.y_m] as [number, number];
  };

  // Extent: path, sources with their ellipses, contour rings.
  const xs: number[] = [];
  const ys: number[] = [];
  const pathLocal = opts.path.map(loc);
  for (const [x, y] of pathLocal) {
    xs.push(x);
    ys.push(y);
  }
  const srcLocal = sources.map((s) => ({ s, p: loc(s), e: groundEllipse(s.ci95) }));
  for (const { p, e } of srcLocal) {
    const r = Math.min(e.a_m, 500);
    xs.push(p[0] - r, p[0] + r);
    ys.push(p[1] - r, p[1] + r);
  }
  const contourLocal: { level: number; rings: [number, number][][] }[] = [];
  for (const f of opts.contours?.features ?? []) {
    const rings: [number, number][][] = [];
    for (const poly of f.geometry.coordinates) for (const ring of poly) rings.push(ring.map(([lon, lat]) => loc({ lat, lon })));
    contourLocal.push({ level: f.properties.level_uSv_h, rings });
    for (const ring of rings) {
      for (const [x, y] of ring) {
        xs.push(x);
        ys.push(y);
      }
    }
  }
  let x0 = Math.min(...xs);
  let x1 = Math.max(...xs);
  let y0 = Math.min(...ys);
  let y1 = Math.max(...ys);
  // At least 20 m across, so a single point still gets a sensible scale.
  const span = Math.max(20, x1 - x0, y1 - y0);
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  x0 = cx - span / 2;
  x1 = cx + span / 2;
  y0 = cy - span / 2;
  y1 = cy + span / 2;
  const plotW = width - LEGEND_W - 2 * MARGIN;
  const plotH = height - 2 * MARGIN - 24;
  const scale = Math.min(plotW / (x1 - x0), plotH / (y1 - y0)) * 0.95; // px per m
  const ox = MARGIN + plotW / 2 - scale * cx;
  const oy = MARGIN + 24 + plotH / 2 + scale * cy;
  const px = (x: number, y: number): [number, number] => [ox + scale * x, oy - scale * y];
  const P = (v: number) => v.toFixed(1);

  const parts: string[] = [];
  parts.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  parts.push(`<rect x="${MARGIN}" y="${MARGIN + 24}" width="${plotW}" height="${plotH}" fill="#f4f4f0" stroke="#999" stroke-width="1"/>`);
  parts.push(`<text x="${MARGIN}" y="${MARGIN + 12}" font-family="DejaVu Sans, sans-serif" font-size="16" fill="#222">${esc(opts.title ?? 'Drive map')}</text>`);
  parts.push(`<clipPath id="plot"><rect x="${MARGIN}" y="${MARGIN + 24}" width="${plotW}" height="${plotH}"/></clipPath><g clip-path="url(#plot)">`);

  // Dose contours, lowest level first so higher ones lie on top.
  for (const c of [...contourLocal].sort((a, b) => a.level - b.level)) {
    const d = c.rings.map((ring) => ring.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${P(px(x, y)[0])},${P(px(x, y)[1])}`).join('') + 'Z').join('');
    const col = contourColour(c.level);
    parts.push(`<path d="${d}" fill="${col}" fill-opacity="0.13" fill-rule="evenodd" stroke="${col}" stroke-width="1.6"/>`);
  }

  // Path, segment by segment in the colour of its count rate (log scale when the rates span a decade or more).
  const rates = opts.path.map((p) => p.cps);
  const rMin = rates.length ? Math.max(Math.min(...rates), 1e-3) : 1;
  const rMax = rates.length ? Math.max(...rates, rMin * 1.0001) : 10;
  const useLog = rMax / rMin >= 10;
  const frac = (r: number) => (useLog ? Math.log(Math.max(r, rMin) / rMin) / Math.log(rMax / rMin) : (r - rMin) / (rMax - rMin));
  for (let i = 0; i + 1 < pathLocal.length; i++) {
    const [ax, ay] = px(...pathLocal[i]!);
    const [bx, by] = px(...pathLocal[i + 1]!);
    const col = rampColour(frac((rates[i]! + rates[i + 1]!) / 2));
    parts.push(`<line x1="${P(ax)}" y1="${P(ay)}" x2="${P(bx)}" y2="${P(by)}" stroke="${col}" stroke-width="4" stroke-linecap="round"/>`);
  }
  if (pathLocal.length === 1) {
    const [ax, ay] = px(...pathLocal[0]!);
    parts.push(`<circle cx="${P(ax)}" cy="${P(ay)}" r="3" fill="${rampColour(0.5)}"/>`);
  }

  // Sources: 95 % ellipse shadow and a marker.
  for (const { s, p, e } of srcLocal) {
    const [sx, sy] = px(...p);
    const rot = (-e.angle_rad * 180) / Math.PI;
    const dash = s.ambiguous ? ' stroke-dasharray="6,4"' : '';
    parts.push(
      `<ellipse cx="${P(sx)}" cy="${P(sy)}" rx="${P(Math.max(1, e.a_m * scale))}" ry="${P(Math.max(1, e.b_m * scale))}" transform="rotate(${rot.toFixed(2)} ${P(sx)} ${P(sy)})" fill="${SOURCE_FILL}" fill-opacity="0.12" stroke="${SOURCE_FILL}" stroke-width="2"${dash}/>`,
    );
    parts.push(`<circle cx="${P(sx)}" cy="${P(sy)}" r="6" fill="${SOURCE_FILL}" stroke="#ffffff" stroke-width="1.5"/>`);
    const label = `${s.nuclide ?? 'source'} ${s.height_m.toFixed(1)} m`;
    parts.push(`<text x="${P(sx + 9)}" y="${P(sy - 8)}" font-family="DejaVu Sans, sans-serif" font-size="12" fill="#400040">${esc(label)}</text>`);
  }
  parts.push('</g>');

  // Scale bar: a 1-2-5 length near a fifth of the plot width.
  const target = (plotW / 5) / scale;
  const pow = 10 ** Math.floor(Math.log10(target));
  const nice = [1, 2, 5, 10].map((k) => k * pow).reduce((best, v) => (Math.abs(v - target) < Math.abs(best - target) ? v : best));
  const barPx = nice * scale;
  const bx = MARGIN + 12;
  const by = MARGIN + 24 + plotH - 16;
  parts.push(`<rect x="${bx}" y="${by - 6}" width="${P(barPx / 2)}" height="6" fill="#222"/>`);
  parts.push(`<rect x="${P(bx + barPx / 2)}" y="${by - 6}" width="${P(barPx / 2)}" height="6" fill="#fff" stroke="#222"/>`);
  parts.push(`<text x="${bx}" y="${by - 10}" font-family="DejaVu Sans, sans-serif" font-size="12" fill="#222">${nice >= 1000 ? `${nice / 1000} km` : `${nice} m`}</text>`);
  // North arrow (the map is drawn in the tangent plane, north up).
  const nx = MARGIN + plotW - 20;
  const ny = MARGIN + 24 + 14;
  parts.push(`<path d="M${nx},${ny} l-7,18 l7,-5 l7,5 Z" fill="#222"/><text x="${nx - 4}" y="${ny + 32}" font-family="DejaVu Sans, sans-serif" font-size="11">N</text>`);

  // Legend
  const lx = width - LEGEND_W - MARGIN / 2;
  let ly = MARGIN + 40;
  const text = (x: number, y: number, s: string, size = 12) =>
    parts.push(`<text x="${P(x)}" y="${P(y)}" font-family="DejaVu Sans, sans-serif" font-size="${size}" fill="#222">${esc(s)}</text>`);
  text(lx, ly, `Count rate (cps${useLog ? ', log' : ''})`);
  ly += 8;
  const barH = 120;
  for (let k = 0; k < 24; k++) {
    parts.push(`<rect x="${lx}" y="${P(ly + (barH * k) / 24)}" width="16" height="${P(barH / 24 + 0.5)}" fill="${rampColour(1 - k / 23)}"/>`);
  }
  text(lx + 22, ly + 10, fmt(rMax));
  text(lx + 22, ly + barH, fmt(rMin));
  ly += barH + 28;
  if (contourLocal.length) {
    text(lx, ly, 'H*(10) contours');
    ly += 6;
    for (const c of [...contourLocal].sort((a, b) => b.level - a.level)) {
      const col = contourColour(c.level);
      parts.push(`<rect x="${lx}" y="${ly}" width="16" height="12" fill="${col}" fill-opacity="0.25" stroke="${col}" stroke-width="1.6"/>`);
      text(lx + 22, ly + 11, `${Number(c.level.toPrecision(3))} µSv/h`);
      ly += 18;
    }
    ly += 14;
  }
  if (srcLocal.length) {
    parts.push(`<circle cx="${lx + 8}" cy="${ly - 4}" r="6" fill="${SOURCE_FILL}"/>`);
    text(lx + 22, ly, 'source estimate');
    ly += 20;
    parts.push(`<ellipse cx="${lx + 8}" cy="${ly - 4}" rx="8" ry="5" fill="${SOURCE_FILL}" fill-opacity="0.12" stroke="${SOURCE_FILL}" stroke-width="2"/>`);
    text(lx + 22, ly, '95 % region (ground)');
    ly += 20;
    if (srcLocal.some((s) => s.s.ambiguous)) {
      parts.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 16}" y2="${ly - 4}" stroke="${SOURCE_FILL}" stroke-width="2" stroke-dasharray="6,4"/>`);
      text(lx + 22, ly, 'mirror ambiguity');
      ly += 20;
    }
  }
  text(lx, height - MARGIN, `${origin.lat.toFixed(5)}, ${origin.lon.toFixed(5)}`, 10);

  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join('')}</svg>`;
  return { svg, width, height, project: (p) => px(...loc(p)), metresPerPixel: 1 / scale };
}

/** The map as a PNG (sharp rasterises the SVG). */
export async function renderDriveMap(opts: DriveMapOptions): Promise<Buffer> {
  const m = driveMapSvg(opts);
  return sharp(Buffer.from(m.svg), { density: 72 }).resize(m.width, m.height).png().toBuffer();
}
