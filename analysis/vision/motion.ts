// Motion in a fixed camera's view: background subtraction on a downscaled frame, motion regions, and a motion history.
// Pure: frames and their time in, regions out; the caller owns the clock.
import { InputError } from '../../common/errors.js';

/** x1, y1, x2, y2 in frame pixels. */
export type MotionBox = [number, number, number, number];

export interface MotionOptions {
  /** Side of one model cell in frame pixels: the frame is averaged over cell x cell blocks (default 4). */
  cell_px?: number;
  /** Time constant (s) of the background where nothing moves: how fast slow light drift is learnt (default 3). */
  learn_s?: number;
  /**
   * A cell foreground without a break for this long (s) is taken into the background at once (default 8): something
   * that stopped (a set-down bag, the ghost of a person present on the first frame) stops being motion. Until then
   * foreground does not leak into the background at all, or every walker would leave a trail.
   */
  absorb_s?: number;
  /** A cell is foreground beyond this many standard deviations of its background (default 3.5). */
  sigmas?: number;
  /** ... and beyond this RGB distance in grey levels, whatever its variance (default 14). */
  minDiff?: number;
  /** Floor of the per-cell noise standard deviation, grey levels (default 2.5). */
  minStd?: number;
  /** A darker cell with the background's colour is shadow, not motion, when its brightness ratio is in this range. */
  shadowRatio?: [number, number];
  /** ... and its colour differs from the dimmed background by less than this fraction of the background's norm. */
  shadowChroma?: number;
  /** Connected foreground smaller than this (frame pixels²) is noise (default 150). */
  minArea_px?: number;
  /** Regions closer than this (frame pixels, horizontally and vertically) are merged (default 16). */
  mergeGap_px?: number;
  /**
   * When more than this fraction of the view changes at once (a lighting step the global gain did not explain, the
   * camera moved), the background is relearnt from this frame and the result says `global` (default 0.5).
   */
  globalFraction?: number;
}

export interface MotionRegion {
  box: MotionBox;
  /** Foreground area inside, frame pixels². */
  area_px: number;
}

export interface MotionResult {
  t_s: number;
  /** Merged regions: what a detector should look at. */
  regions: MotionRegion[];
  /** Connected components before merging (each at least minArea_px). */
  blobs: MotionRegion[];
  /** Fraction of cells that are foreground (shadows excluded). */
  foregroundFraction: number;
  /** Global brightness ratio of this frame to the background, already applied to the background. */
  gain: number;
  /** The whole view changed: the background was relearnt from this frame (no regions are reported for it). */
  global: boolean;
  /** First frame (or first after a reset or size change): nothing to compare with yet. */
  initialising: boolean;
}

export class MotionError extends InputError {
  constructor(message: string) {
    super(message);
  }
}

const DEFAULTS: Required<MotionOptions> = {
  cell_px: 4,
  learn_s: 3,
  absorb_s: 8,
  sigmas: 3.5,
  minDiff: 14,
  minStd: 2.5,
  shadowRatio: [0.45, 0.95],
  shadowChroma: 0.08,
  minArea_px: 150,
  mergeGap_px: 16,
  globalFraction: 0.5,
};

/** Log-ratio histogram for the global gain: 2^-2 .. 2^2 in steps of 1/128 of an octave. */
const GAIN_BINS = 512;
const GAIN_OCTAVES = 4;

/**
 * Background subtraction per cell with a running Gaussian (mean RGB, variance of the distance) and selective update,
 * a global gain so that a lighting step is not motion, MOG2-style shadow suppression, connected components and a
 * per-cell history of when it last moved (for event rules: "did anything move in this box since t?").
 */
export class MotionDetector {
  private readonly o: Required<MotionOptions>;
  private w = 0;
  private h = 0;
  private gw = 0;
  private gh = 0;
  private mean = new Float32Array(0);
  private variance = new Float32Array(0);
  private cur = new Float32Array(0);
  private prev = new Float32Array(0);
  private mask = new Uint8Array(0);
  private grown = new Uint8Array(0);
  private label = new Int32Array(0);
  private stack = new Int32Array(0);
  private lastMoved = new Float64Array(0);
  private fgSince = new Float64Array(0);
  private readonly hist = new Uint32Array(GAIN_BINS);
  private last_s: number | undefined;

  constructor(opts: MotionOptions = {}) {
    this.o = { ...DEFAULTS, ...opts };
    const c = this.o.cell_px;
    if (!Number.isInteger(c) || c < 1 || c > 32) throw new MotionError(`motion.cell_px: expected an integer 1..32, got ${c}`);
    if (!(this.o.learn_s > 0) || !(this.o.absorb_s > 0)) throw new MotionError(`motion.learn_s and absorb_s: expected seconds > 0, got ${this.o.learn_s} and ${this.o.absorb_s}`);
  }

  /** Forgets the background and the history (a restarted stream: the view may not be the same). */
  reset(): void {
    this.w = 0;
    this.h = 0;
    this.gw = 0;
    this.gh = 0;
    this.last_s = undefined;
  }

  /** Grid geometry: cells across and down, and the cell side in pixels. */
  get grid(): { cols: number; rows: number; cell_px: number } {
    return { cols: this.gw, rows: this.gh, cell_px: this.o.cell_px };
  }

  /** Feeds one interleaved 8-bit frame (RGB or RGBA, or grey with channels 1) taken at `t_s`. */
  update(frame: { data: Uint8Array; width: number; height: number; channels?: number }, t_s: number): MotionResult {
    const ch = frame.channels ?? 3;
    const { width: W, height: H } = frame;
    if (frame.data.length < W * H * ch) throw new MotionError(`frame: expected ${W}x${H}x${ch} = ${W * H * ch} bytes, got ${frame.data.length}`);
    const c = this.o.cell_px;
    if (W < c || H < c) throw new MotionError(`frame: expected at least ${c}x${c} pixels, got ${W}x${H}`);
    const fresh = W !== this.w || H !== this.h || this.last_s === undefined;
    if (fresh) this.allocate(W, H);
    this.downscale(frame.data, ch);
    const dt = fresh ? 0 : Math.max(0, t_s - this.last_s!);
    this.last_s = t_s;
    const n = this.gw * this.gh;
    if (fresh) {
      this.mean.set(this.cur);
      this.prev.set(this.cur);
      this.variance.fill(this.o.minStd * this.o.minStd);
      return { t_s, regions: [], blobs: [], foregroundFraction: 0, gain: 1, global: false, initialising: true };
    }
    const gain = this.globalGain();
    if (gain !== 1) for (let i = 0; i < n * 3; i++) this.mean[i] = this.mean[i]! * gain;
    const fg = this.classify();
    if (fg > this.o.globalFraction * n) {
      this.mean.set(this.cur);
      this.prev.set(this.cur);
      this.mask.fill(0);
      return { t_s, regions: [], blobs: [], foregroundFraction: fg / n, gain, global: true, initialising: false };
    }
    this.learn(dt, t_s);
    const blobs = this.components(t_s);
    this.prev.set(this.cur);
    return { t_s, regions: mergeRegions(blobs, this.o.mergeGap_px), blobs, foregroundFraction: fg / n, gain, global: false, initialising: false };
  }

  /** Latest time anything moved inside `box` (frame pixels); -Infinity when nothing has since the last reset. */
  lastMotion_s(box: readonly number[]): number {
    if (this.gw === 0) return Number.NEGATIVE_INFINITY;
    const c = this.o.cell_px;
    const x1 = Math.max(0, Math.floor(box[0]! / c));
    const y1 = Math.max(0, Math.floor(box[1]! / c));
    const x2 = Math.min(this.gw - 1, Math.ceil(box[2]! / c) - 1);
    const y2 = Math.min(this.gh - 1, Math.ceil(box[3]! / c) - 1);
    let last = Number.NEGATIVE_INFINITY;
    for (let y = y1; y <= y2; y++) for (let x = x1; x <= x2; x++) last = Math.max(last, this.lastMoved[y * this.gw + x]!);
    return last;
  }

  /** True when something moved inside `box` at or after `since_s` (the events' MotionHistory). */
  movedWithin(box: readonly number[], since_s: number): boolean {
    return this.lastMotion_s(box) >= since_s;
  }

  /** Alias of movedWithin, in the words of the gate. */
  motionSince(box: readonly number[], since_s: number): boolean {
    return this.movedWithin(box, since_s);
  }

  /** Foreground mask of the last frame, one byte per cell (row-major, `grid` gives its size). */
  foreground(): Uint8Array {
    return this.mask;
  }

  private allocate(W: number, H: number): void {
    const c = this.o.cell_px;
    this.w = W;
    this.h = H;
    this.gw = Math.floor(W / c);
    this.gh = Math.floor(H / c);
    const n = this.gw * this.gh;
    this.mean = new Float32Array(n * 3);
    this.variance = new Float32Array(n);
    this.cur = new Float32Array(n * 3);
    this.prev = new Float32Array(n * 3);
    this.mask = new Uint8Array(n);
    this.grown = new Uint8Array(n);
    this.label = new Int32Array(n);
    this.stack = new Int32Array(n);
    this.lastMoved = new Float64Array(n).fill(Number.NEGATIVE_INFINITY);
    this.fgSince = new Float64Array(n).fill(Number.NaN);
  }

  /**
   * Block means per cell, from every `step`-th pixel of every `step`-th row (step = cell/2): a quarter of the
   * reads for the same noise a 2x2 average has, which is what keeps a 640x480 frame at a few ms.
   */
  private downscale(data: Uint8Array, ch: number): void {
    const c = this.o.cell_px;
    const step = Math.max(1, c >> 1);
    const per = Math.ceil(c / step);
    const { gw, gh, w } = this;
    const cur = this.cur;
    cur.fill(0);
    const inv = 1 / (per * per);
    const pxStep = step * ch;
    for (let gy = 0; gy < gh; gy++) {
      const rowOut = gy * gw * 3;
      for (let dy = 0; dy < c; dy += step) {
        let p = (gy * c + dy) * w * ch;
        let o = rowOut;
        for (let gx = 0; gx < gw; gx++, o += 3) {
          let r = 0;
          let g = 0;
          let b = 0;
          for (let k = 0; k < per; k++, p += pxStep) {
            r += data[p]!;
            if (ch >= 3) {
              g += data[p + 1]!;
              b += data[p + 2]!;
            }
          }
          if (ch < 3) {
            g = r;
            b = r;
          }
          cur[o] = cur[o]! + r;
          cur[o + 1] = cur[o + 1]! + g;
          cur[o + 2] = cur[o + 2]! + b;
        }
      }
      for (let i = rowOut; i < rowOut + gw * 3; i++) cur[i] = cur[i]! * inv;
    }
  }

  /**
   * Median brightness ratio of frame to background over all cells: a lighting change scales every cell alike, a
   * person changes a minority of them. Within 1.5 % of 1 it is noise and left at 1.
   */
  private globalGain(): number {
    const n = this.gw * this.gh;
    const hist = this.hist;
    hist.fill(0);
    const scale = GAIN_BINS / (2 * GAIN_OCTAVES);
    // Every third cell is plenty for a median and a third of the logarithms.
    let m = 0;
    for (let i = 0; i < n; i += 3, m++) {
      const f = this.cur[3 * i]! + this.cur[3 * i + 1]! + this.cur[3 * i + 2]!;
      const b = this.mean[3 * i]! + this.mean[3 * i + 1]! + this.mean[3 * i + 2]!;
      const k = Math.floor((Math.log2((f + 3) / (b + 3)) + GAIN_OCTAVES) * scale);
      hist[k < 0 ? 0 : k >= GAIN_BINS ? GAIN_BINS - 1 : k]!++;
    }
    let acc = 0;
    let k = 0;
    for (; k < GAIN_BINS; k++) {
      acc += hist[k]!;
      if (acc * 2 >= m) break;
    }
    const gain = 2 ** ((k + 0.5) / scale - GAIN_OCTAVES);
    return Math.abs(gain - 1) < 0.015 ? 1 : gain;
  }

  /** Marks foreground cells; answers how many. */
  private classify(): number {
    const n = this.gw * this.gh;
    const { cur, mean, variance, mask } = this;
    const k2 = this.o.sigmas * this.o.sigmas;
    const min2 = this.o.minDiff * this.o.minDiff;
    const [rLo, rHi] = this.o.shadowRatio;
    const chroma2 = this.o.shadowChroma * this.o.shadowChroma;
    let count = 0;
    for (let i = 0; i < n; i++) {
      const r = cur[3 * i]!;
      const g = cur[3 * i + 1]!;
      const b = cur[3 * i + 2]!;
      const mr = mean[3 * i]!;
      const mg = mean[3 * i + 1]!;
      const mb = mean[3 * i + 2]!;
      const d2 = (r - mr) ** 2 + (g - mg) ** 2 + (b - mb) ** 2;
      let fg = d2 > min2 && d2 > k2 * 3 * variance[i]!;
      if (fg) {
        // Shadow: the background dimmed (ratio below 1) with its own colour (small distortion from the dimmed mean).
        const bn2 = mr * mr + mg * mg + mb * mb;
        if (bn2 > 1) {
          const a = (r * mr + g * mg + b * mb) / bn2;
          if (a >= rLo && a <= rHi) {
            const cd2 = (r - a * mr) ** 2 + (g - a * mg) ** 2 + (b - a * mb) ** 2;
            if (cd2 < chroma2 * bn2) fg = false;
          }
        }
      }
      mask[i] = fg ? 1 : 0;
      if (fg) count++;
    }
    return count;
  }

  /** Background cells follow the frame at learn_s (mean and variance); foreground is absorbed whole after absorb_s. */
  private learn(dt: number, t_s: number): void {
    const n = this.gw * this.gh;
    const aBg = 1 - Math.exp(-dt / this.o.learn_s);
    const minVar = this.o.minStd * this.o.minStd;
    const { cur, mean, variance, mask, fgSince } = this;
    for (let i = 0; i < n; i++) {
      const k = 3 * i;
      const dr = cur[k]! - mean[k]!;
      const dg = cur[k + 1]! - mean[k + 1]!;
      const db = cur[k + 2]! - mean[k + 2]!;
      if (mask[i]) {
        const since = fgSince[i]!;
        if (Number.isNaN(since)) fgSince[i] = t_s;
        else if (t_s - since >= this.o.absorb_s) {
          mean[k] = cur[k]!;
          mean[k + 1] = cur[k + 1]!;
          mean[k + 2] = cur[k + 2]!;
          fgSince[i] = Number.NaN;
        }
      } else {
        fgSince[i] = Number.NaN;
        mean[k] = mean[k]! + aBg * dr;
        mean[k + 1] = mean[k + 1]! + aBg * dg;
        mean[k + 2] = mean[k + 2]! + aBg * db;
        const v = variance[i]! + aBg * ((dr * dr + dg * dg + db * db) / 3 - variance[i]!);
        variance[i] = v < minVar ? minVar : v;
      }
    }
  }

  /**
   * Connected components of the foreground grown by one cell (so a person's legs and body are one blob); the blobs
   * at least minArea_px, in frame pixels. Cells of kept blobs (not noise specks) go into the motion history.
   */
  private components(t_s: number): MotionRegion[] {
    const { gw, gh, mask, grown, label, stack } = this;
    const c = this.o.cell_px;
    // Grow: a cell is set when it or a 4-neighbour is foreground.
    for (let y = 0; y < gh; y++) {
      for (let x = 0; x < gw; x++) {
        const i = y * gw + x;
        grown[i] = mask[i] || (x > 0 && mask[i - 1]) || (x < gw - 1 && mask[i + 1]) || (y > 0 && mask[i - gw]) || (y < gh - 1 && mask[i + gw]) ? 1 : 0;
      }
    }
    label.fill(0);
    const minCells = this.o.minArea_px / (c * c);
    const out: MotionRegion[] = [];
    let next = 1;
    for (let s = 0; s < gw * gh; s++) {
      if (!grown[s] || label[s]) continue;
      const id = next++;
      let top = 0;
      let len = 0;
      stack[top++] = s;
      label[s] = id;
      let x1 = gw;
      let y1 = gh;
      let x2 = -1;
      let y2 = -1;
      let area = 0;
      // The stack array doubles as the list of the component's cells: entries below `len` were visited.
      while (len < top) {
        const i = stack[len++]!;
        const x = i % gw;
        const y = (i - x) / gw;
        if (mask[i]) {
          area++;
          if (x < x1) x1 = x;
          if (x > x2) x2 = x;
          if (y < y1) y1 = y;
          if (y > y2) y2 = y;
        }
        if (x > 0 && grown[i - 1] && !label[i - 1]) {
          label[i - 1] = id;
          stack[top++] = i - 1;
        }
        if (x < gw - 1 && grown[i + 1] && !label[i + 1]) {
          label[i + 1] = id;
          stack[top++] = i + 1;
        }
        if (y > 0 && grown[i - gw] && !label[i - gw]) {
          label[i - gw] = id;
          stack[top++] = i - gw;
        }
        if (y < gh - 1 && grown[i + gw] && !label[i + gw]) {
          label[i + gw] = id;
          stack[top++] = i + gw;
        }
      }
      if (area < minCells || x2 < 0) continue;
      this.remember(stack, top, t_s);
      out.push({ box: [x1 * c, y1 * c, (x2 + 1) * c, (y2 + 1) * c], area_px: area * c * c });
    }
    return out;
  }

  /**
   * History: a foreground cell of a kept blob moved when it also changed since the previous frame. Foreground alone
   * is not motion: a bag set down stays foreground until absorbed, but nothing on it moves.
   */
  private remember(cells: Int32Array, count: number, t_s: number): void {
    const { cur, prev, variance, mask } = this;
    const k2 = this.o.sigmas * this.o.sigmas * 3;
    const min2 = this.o.minDiff * this.o.minDiff;
    for (let j = 0; j < count; j++) {
      const i = cells[j]!;
      if (!mask[i]) continue;
      const d2 = (cur[3 * i]! - prev[3 * i]!) ** 2 + (cur[3 * i + 1]! - prev[3 * i + 1]!) ** 2 + (cur[3 * i + 2]! - prev[3 * i + 2]!) ** 2;
      if (d2 > min2 && d2 > k2 * variance[i]!) this.lastMoved[i] = t_s;
    }
  }
}

/** Merges regions whose boxes are closer than `gap` in both directions, until no two are (boxes are few). */
export function mergeRegions(regions: readonly MotionRegion[], gap: number): MotionRegion[] {
  const out = regions.map((r) => ({ box: [...r.box] as MotionBox, area_px: r.area_px }));
  let merged = true;
  while (merged) {
    merged = false;
    for (let i = 0; i < out.length && !merged; i++) {
      for (let j = i + 1; j < out.length; j++) {
        const a = out[i]!.box;
        const b = out[j]!.box;
        const dx = Math.max(a[0], b[0]) - Math.min(a[2], b[2]);
        const dy = Math.max(a[1], b[1]) - Math.min(a[3], b[3]);
        if (dx > gap || dy > gap) continue;
        out[i] = { box: [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[2], b[2]), Math.max(a[3], b[3])], area_px: out[i]!.area_px + out[j]!.area_px };
        out.splice(j, 1);
        merged = true;
        break;
      }
    }
  }
  return out;
}
