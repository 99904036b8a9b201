// A reliability diagram as a standalone SVG document: accuracy against mean confidence per bin, the diagonal of perfect calibration, and the calls per bin.
import type { ReliabilityTable } from '../analysis/radiation/identify/confidence.js';

export interface ReliabilitySeries {
  label: string;
  table: ReliabilityTable;
  /** Any SVG colour. */
  color: string;
}

const W = 640;
const H = 520;
const PAD = { left: 64, right: 24, top: 48, bottom: 120 };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * The diagram: a point per non-empty bin at (mean confidence, accuracy) joined by a line, one series per map, and
 * under the plot the calls per bin of each series as bars (log scale: a few calls in the low bins matter as much
 * as the thousands at the top). Pure: returns the document's text.
 */
export function reliabilitySvg(opts: { title: string; series: readonly ReliabilitySeries[] }): string {
  const pw = W - PAD.left - PAD.right;
  const ph = H - PAD.top - PAD.bottom;
  const px = (c: number): number => PAD.left + c * pw;
  const py = (a: number): number => PAD.top + (1 - a) * ph;
  const f = (v: number): string => v.toFixed(1);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="13">${esc(opts.title)}</text>`);
  // Grid and axes.
  for (let i = 0; i <= 10; i++) {
    const v = i / 10;
    out.push(`<line x1="${f(px(v))}" y1="${f(py(0))}" x2="${f(px(v))}" y2="${f(py(1))}" stroke="#eee"/>`);
    out.push(`<line x1="${f(px(0))}" y1="${f(py(v))}" x2="${f(px(1))}" y2="${f(py(v))}" stroke="#eee"/>`);
    out.push(`<text x="${f(px(v))}" y="${f(py(0) + 16)}" text-anchor="middle">${v.toFixed(1)}</text>`);
    out.push(`<text x="${f(px(0) - 6)}" y="${f(py(v) + 4)}" text-anchor="end">${v.toFixed(1)}</text>`);
  }
  out.push(`<rect x="${PAD.left}" y="${PAD.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  out.push(`<line x1="${f(px(0))}" y1="${f(py(0))}" x2="${f(px(1))}" y2="${f(py(1))}" stroke="#888" stroke-dasharray="5,4"/>`);
  out.push(`<text x="${f(px(0.5))}" y="${f(py(0) + 34)}" text-anchor="middle">mean confidence in the bin</text>`);
  out.push(`<text transform="translate(16 ${f(py(0.5))}) rotate(-90)" text-anchor="middle">share of calls right</text>`);
  // Series.
  for (const s of opts.series) {
    const pts = s.table.rows.filter((r) => r.n > 0).map((r) => `${f(px(r.meanConfidence))},${f(py(r.accuracy))}`);
    if (pts.length > 1) out.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${esc(s.color)}" stroke-width="2"/>`);
    for (const r of s.table.rows) {
      if (r.n === 0) continue;
      out.push(`<circle cx="${f(px(r.meanConfidence))}" cy="${f(py(r.accuracy))}" r="4" fill="${esc(s.color)}"><title>${r.lo.toFixed(1)}-${r.hi.toFixed(1)}: ${r.n} calls, mean ${r.meanConfidence.toFixed(3)}, right ${r.accuracy.toFixed(3)}</title></circle>`);
    }
  }
  // Calls per bin, log scale, side by side per series.
  const barTop = py(0) + 44;
  const barH = 40;
  const maxN = Math.max(1, ...opts.series.flatMap((s) => s.table.rows.map((r) => r.n)));
  const bins = opts.series[0]?.table.rows.length ?? 10;
  const bw = pw / bins / Math.max(1, opts.series.length);
  opts.series.forEach((s, k) => {
    s.table.rows.forEach((r, b) => {
      if (r.n === 0) return;
      const h = (barH * Math.log10(1 + r.n)) / Math.log10(1 + maxN);
      out.push(`<rect x="${f(PAD.left + (b * pw) / bins + k * bw)}" y="${f(barTop + barH - h)}" width="${f(bw - 1)}" height="${f(h)}" fill="${esc(s.color)}" opacity="0.6"/>`);
    });
  });
  out.push(`<text x="${PAD.left}" y="${f(barTop - 4)}" font-size="10">calls per bin (log)</text>`);
  // Legend.
  opts.series.forEach((s, k) => {
    const y = H - 14 - (opts.series.length - 1 - k) * 16;
    out.push(`<rect x="${PAD.left}" y="${y - 9}" width="12" height="10" fill="${esc(s.color)}"/>`);
    out.push(`<text x="${PAD.left + 18}" y="${y}">${esc(s.label)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
