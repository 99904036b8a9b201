// Energy-calibration plot (fit and residuals) as an SVG string, turned into a PNG by sharp; no plotting library.
import sharp from 'sharp';
import { energyOf } from '../analysis/radiation/calibration.js';
import type { EnergyCalibration } from '../analysis/radiation/spectrum.js';

export interface PlotInput {
  title: string;
  counts: Float64Array;
  calibration: EnergyCalibration;
  peaks: { nuclide: string; energy_keV: number; channel: number; residual_keV: number; channelSigma: number }[];
  /** keV per channel for the residual error bars. */
  gain: number;
}

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function ticks(lo: number, hi: number, n = 5): number[] {
  const span = hi - lo || 1;
  const step0 = span / n;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Number(v.toPrecision(10)));
  return out;
}

/**
 * Three panels sharing the channel axis: the spectrum (log counts) with the matched peaks marked, energy vs
 * channel with the fitted curve through the peaks, and the residuals (line energy − fit, keV) with 1σ bars.
 */
export function calibrationSvg(p: PlotInput): string {
  const W = 900;
  const H = 720;
  const L = 80;
  const R = 20;
  const n = p.counts.length;
  const x = (ch: number): number => L + ((W - L - R) * ch) / n;
  const panels = [
    { top: 40, h: 220 },
    { top: 300, h: 220 },
    { top: 560, h: 120 },
  ];
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="DejaVu Sans, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(p.title)}</text>`);
  // Spectrum.
  const sp = panels[0]!;
  const maxC = Math.max(1, ...p.counts);
  const ly = (c: number): number => sp.top + sp.h - (sp.h * Math.log10(1 + c)) / Math.log10(1 + maxC);
  let d = '';
  for (let i = 0; i < n; i++) d += `${i === 0 ? 'M' : 'L'}${x(i + 0.5).toFixed(1)},${ly(p.counts[i]!).toFixed(1)}`;
  out.push(`<path d="${d}" fill="none" stroke="#555" stroke-width="1"/>`);
  for (const pk of p.peaks) {
    out.push(`<line x1="${x(pk.channel).toFixed(1)}" x2="${x(pk.channel).toFixed(1)}" y1="${sp.top}" y2="${sp.top + sp.h}" stroke="#d33" stroke-dasharray="3,3"/>`);
    out.push(`<text x="${(x(pk.channel) + 3).toFixed(1)}" y="${sp.top + 12}" fill="#d33" font-size="10">${esc(`${pk.nuclide} ${pk.energy_keV.toFixed(0)}`)}</text>`);
  }
  out.push(`<text x="20" y="${sp.top + sp.h / 2}" transform="rotate(-90 20 ${sp.top + sp.h / 2})" text-anchor="middle">counts (log)</text>`);
  // Energy vs channel.
  const ep = panels[1]!;
  const eMax = Math.max(energyOf(p.calibration, n), ...p.peaks.map((q) => q.energy_keV)) * 1.05;
  const eMin = Math.min(0, energyOf(p.calibration, 0));
  const ey = (e: number): number => ep.top + ep.h - (ep.h * (e - eMin)) / (eMax - eMin);
  d = '';
  for (let i = 0; i <= 200; i++) {
    const ch = (n * i) / 200;
    d += `${i === 0 ? 'M' : 'L'}${x(ch).toFixed(1)},${ey(energyOf(p.calibration, ch)).toFixed(1)}`;
  }
  out.push(`<path d="${d}" fill="none" stroke="#1565c0" stroke-width="2"/>`);
  for (const pk of p.peaks) out.push(`<circle cx="${x(pk.channel).toFixed(1)}" cy="${ey(pk.energy_keV).toFixed(1)}" r="4" fill="#d33"/>`);
  for (const t of ticks(eMin, eMax)) {
    out.push(`<line x1="${L}" x2="${W - R}" y1="${ey(t).toFixed(1)}" y2="${ey(t).toFixed(1)}" stroke="#eee"/>`);
    out.push(`<text x="${L - 6}" y="${(ey(t) + 4).toFixed(1)}" text-anchor="end">${t}</text>`);
  }
  out.push(`<text x="20" y="${ep.top + ep.h / 2}" transform="rotate(-90 20 ${ep.top + ep.h / 2})" text-anchor="middle">energy (keV)</text>`);
  // Residuals.
  const rp = panels[2]!;
  const rMax = Math.max(0.5, ...p.peaks.map((q) => Math.abs(q.residual_keV) + q.channelSigma * p.gain)) * 1.2;
  const ry = (r: number): number => rp.top + rp.h / 2 - ((rp.h / 2) * r) / rMax;
  out.push(`<line x1="${L}" x2="${W - R}" y1="${ry(0)}" y2="${ry(0)}" stroke="#999"/>`);
  for (const pk of p.peaks) {
    const e = pk.channelSigma * p.gain;
    out.push(`<line x1="${x(pk.channel).toFixed(1)}" x2="${x(pk.channel).toFixed(1)}" y1="${ry(pk.residual_keV - e).toFixed(1)}" y2="${ry(pk.residual_keV + e).toFixed(1)}" stroke="#d33"/>`);
    out.push(`<circle cx="${x(pk.channel).toFixed(1)}" cy="${ry(pk.residual_keV).toFixed(1)}" r="4" fill="#d33"/>`);
  }
  for (const t of ticks(-rMax, rMax, 4)) out.push(`<text x="${L - 6}" y="${(ry(t) + 4).toFixed(1)}" text-anchor="end">${t}</text>`);
  out.push(`<text x="20" y="${rp.top + rp.h / 2}" transform="rotate(-90 20 ${rp.top + rp.h / 2})" text-anchor="middle">residual (keV)</text>`);
  // Shared channel axis and frames.
  for (const pn of panels) out.push(`<rect x="${L}" y="${pn.top}" width="${W - L - R}" height="${pn.h}" fill="none" stroke="#333"/>`);
  for (const t of ticks(0, n)) out.push(`<text x="${x(t).toFixed(1)}" y="${rp.top + rp.h + 16}" text-anchor="middle">${t}</text>`);
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 4}" text-anchor="middle">channel</text>`);
  out.push('</svg>');
  return out.join('\n');
}

export async function writeCalibrationPng(file: string, p: PlotInput): Promise<void> {
  await sharp(Buffer.from(calibrationSvg(p))).png().toFile(file);
}
