// Poisson maximum-likelihood localization of point sources: voxel search, Fisher-scoring refinement, greedy extra sources, "no source" test, 95 % regions, mirror check, Cramer-Rao bound.
//
// Parameters: per source (x, y, z, S) with S = cps_at_1m of the reference detector, per detector a background
// rate b_d (counts/s in the same window), a nuisance parameter with a weak Gamma prior centred on the rate of the
// measurements that show no source (a clipped mean). Expected counts of measurement i (detector d, live time t):
//   lambda_i = t (b_d + eff_d sum_k S_k g(|s_k - p_i|)),  g(r) = exp(-mu (r-1)) B(mu r) / (B(mu) r^2)
// and the log-likelihood is sum_i n_i ln lambda_i - lambda_i (the ln n_i! constant left out).

import { toGeo } from './geo.js';
import { eigenSym3, invertSpd, solve } from './linalg.js';
import { type ForwardModel, type PointSource, activityFromCps } from './model.js';
import type { ConfidenceRegion, LocalOrigin, LocMeasurement, LocalizeResult, SourceEstimate } from './types.js';

/** chi-square quantile, 3 degrees of freedom, 0.95: the 95 % ellipsoid is d^T C^-1 d <= this. */
export const CHI2_3DOF_95 = 7.814727903251178;

export interface AreaOptions {
  /** Centre of the searched area (local metres); default the middle of the drive's bounding box (batch) or the first position (streaming). */
  center?: { x_m: number; y_m: number };
  /** Extent east, north, up (m); default 200 x 200 x 10. */
  size_m?: [number, number, number];
  /** Horizontal voxel pitch of the coarse search (m, default 5). */
  step_m?: number;
  /** Heights of the voxel layers (m); default 0.5 m, 35 % and 70 % of the height. */
  z_levels_m?: number[];
}

export interface LocalizeOptions {
  origin: LocalOrigin;
  model: ForwardModel;
  area?: AreaOptions;
  /** Most sources to report (default 3). */
  maxSources?: number;
  /** 2 ln(L1/L0) a source must reach against background only to be reported (default 30). */
  detectThreshold?: number;
  /** 2 ln(L_{k+1}/L_k) an extra source must add (default 30). */
  addThreshold?: number;
  /** A mirror position within this 2 ln L of the best flags the estimate ambiguous (default 4). */
  mirrorThreshold?: number;
  /**
   * Weight of the background prior in pseudo-counts (default 2): weak on purpose, since around a block the source
   * may be seen from everywhere and the "quiet" measurements are not quiet.
   */
  priorCounts?: number;
  nuclide?: string;
  /** Window efficiency of the reference detector (cm^2, see model.windowEfficiency_cm2) to turn cps_at_1m into Bq. */
  refEff_cm2?: number;
  warnings?: string[];
}

export const DEFAULTS = { maxSources: 3, detectThreshold: 30, addThreshold: 30, mirrorThreshold: 4, priorCounts: 2 };

// ───────────────────────────── data ─────────────────────────────

/** Growable struct-of-arrays copy of the measurements (the inner loops run over typed arrays). */
export class Dataset {
  n = 0;
  x: Float64Array = new Float64Array(256);
  y: Float64Array = new Float64Array(256);
  z: Float64Array = new Float64Array(256);
  tau: Float64Array = new Float64Array(256);
  counts: Float64Array = new Float64Array(256);
  eff: Float64Array = new Float64Array(256);
  det: Int32Array = new Int32Array(256);
  t: Float64Array = new Float64Array(256);
  readonly detIds: string[] = [];
  private readonly detIndex = new Map<string, number>();

  constructor(private readonly model: ForwardModel) {}

  detectorIndex(id: string): number {
    let k = this.detIndex.get(id);
    if (k === undefined) {
      k = this.detIds.length;
      this.detIds.push(id);
      this.detIndex.set(id, k);
    }
    return k;
  }

  push(m: LocMeasurement): number {
    if (this.n === this.x.length) this.grow();
    const i = this.n++;
    this.x[i] = m.x_m;
    this.y[i] = m.y_m;
    this.z[i] = m.z_m;
    this.tau[i] = m.liveTime_s;
    this.counts[i] = m.counts;
    this.eff[i] = this.model.relEff[m.detector] ?? 1;
    this.det[i] = this.detectorIndex(m.detector);
    this.t[i] = m.t_s;
    return i;
  }

  private grow(): void {
    const f = (a: Float64Array): Float64Array => {
      const b = new Float64Array(a.length * 2);
      b.set(a);
      return b;
    };
    this.x = f(this.x);
    this.y = f(this.y);
    this.z = f(this.z);
    this.tau = f(this.tau);
    this.counts = f(this.counts);
    this.eff = f(this.eff);
    this.t = f(this.t);
    const d = new Int32Array(this.det.length * 2);
    d.set(this.det);
    this.det = d;
  }
}

// ───────────────────────────── background ─────────────────────────────

/**
 * Background rate per detector from the measurements that show no source: start at the median rate, then the mean
 * of those within 3 sigma above it, three times. It is the centre of the prior, not the estimate.
 */
export function clippedBackground(ds: Dataset): { rate: number[]; liveTime: number[] } {
  const D = ds.detIds.length;
  const rate: number[] = [];
  const liveTime: number[] = [];
  for (let d = 0; d < D; d++) {
    const rates: number[] = [];
    let T = 0;
    for (let i = 0; i < ds.n; i++) {
      if (ds.det[i] !== d || !(ds.tau[i] > 0)) continue;
      rates.push(ds.counts[i] / ds.tau[i]);
      T += ds.tau[i];
    }
    liveTime.push(T);
    if (rates.length === 0) {
      rate.push(0);
      continue;
    }
    rates.sort((a, b) => a - b);
    // From the lower quintile up: a source seen in most of the drive would drag a median up with it.
    let r = Math.max(rates[Math.floor(rates.length / 5)], 0.5 / Math.max(T / rates.length, 1e-9));
    for (let it = 0; it < 3; it++) {
      let sn = 0;
      let st = 0;
      for (let i = 0; i < ds.n; i++) {
        if (ds.det[i] !== d) continue;
        const mu = r * ds.tau[i];
        if (ds.counts[i] <= mu + 3 * Math.sqrt(mu) + 1) {
          sn += ds.counts[i];
          st += ds.tau[i];
        }
      }
      if (st > 0) r = sn / st;
    }
    rate.push(Math.max(r, 1e-6));
  }
  return { rate, liveTime };
}

export interface BackgroundPrior {
  /** Gamma prior per detector: alpha ln b - beta b, alpha = beta r0 + 1 (mode at r0). */
  alpha: number[];
  beta: number[];
}

export function backgroundPrior(ds: Dataset, counts: number): BackgroundPrior {
  const c = clippedBackground(ds);
  return { alpha: c.rate.map(() => counts + 1), beta: c.rate.map((r) => counts / Math.max(r, 1e-6)) };
}

// ───────────────────────────── likelihood ─────────────────────────────

export interface State {
  sources: PointSource[];
  /** Background rate per detector index (counts/s). */
  b: number[];
}

export interface Evaluation {
  ll: number;
  grad: number[];
  fisher: number[][];
}

function cloneState(s: State): State {
  return { sources: s.sources.map((p) => ({ ...p })), b: [...s.b] };
}

/** Log-likelihood (+ log prior) only: the cheap call of the line search. */
export function logLikelihood(ds: Dataset, model: ForwardModel, st: State, prior?: BackgroundPrior): number {
  const K = st.sources.length;
  const mu = model.mu_per_m;
  const rmin = model.minDistance_m;
  const lin = model.buildup === 'linear';
  const b1 = 1 + mu;
  let ll = 0;
  for (let i = 0; i < ds.n; i++) {
    let rate = st.b[ds.det[i]];
    for (let k = 0; k < K; k++) {
      const s = st.sources[k];
      const dx = ds.x[i] - s.x_m;
      const dy = ds.y[i] - s.y_m;
      const dz = ds.z[i] - s.z_m;
      let r = Math.sqrt(dx * dx + dy * dy + dz * dz);
      if (r < rmin) r = rmin;
      let g = Math.exp(-mu * (r - 1)) / (r * r);
      if (lin) g *= (1 + mu * r) / b1;
      rate += s.cps_at_1m * ds.eff[i] * g;
    }
    const lam = ds.tau[i] * rate;
    if (lam > 0) ll += ds.counts[i] * Math.log(lam) - lam;
    else if (ds.counts[i] > 0) return -Infinity;
  }
  if (prior !== undefined) for (let d = 0; d < st.b.length; d++) ll += (prior.alpha[d] - 1) * Math.log(st.b[d]) - prior.beta[d] * st.b[d];
  return ll;
}

/**
 * Log-likelihood, gradient and expected (Fisher) information over the parameters [x,y,z,S per source, b per
 * detector]. With `expected` the counts are replaced by their expectation (the information for the Cramer-Rao bound).
 */
export function evaluate(ds: Dataset, model: ForwardModel, st: State, prior?: BackgroundPrior, expected = false): Evaluation {
  const K = st.sources.length;
  const D = st.b.length;
  const P = 4 * K + D;
  const grad = new Array<number>(P).fill(0);
  const fisher = Array.from({ length: P }, () => new Array<number>(P).fill(0));
  const mu = model.mu_per_m;
  const rmin = model.minDistance_m;
  const lin = model.buildup === 'linear';
  const b1 = 1 + mu;
  const idx = new Int32Array(4 * K + 1);
  const dl = new Float64Array(4 * K + 1);
  let ll = 0;
  for (let i = 0; i < ds.n; i++) {
    const d = ds.det[i];
    const tau = ds.tau[i];
    let rate = st.b[d];
    for (let k = 0; k < K; k++) {
      const s = st.sources[k];
      const dx = s.x_m - ds.x[i];
      const dy = s.y_m - ds.y[i];
      const dz = s.z_m - ds.z[i];
      let r = Math.sqrt(dx * dx + dy * dy + dz * dz);
      const clamped = r < rmin;
      if (clamped) r = rmin;
      let g = Math.exp(-mu * (r - 1)) / (r * r);
      let dlng = -mu - 2 / r;
      if (lin) {
        g *= (1 + mu * r) / b1;
        dlng += mu / (1 + mu * r);
      }
      const e = ds.eff[i];
      const src = s.cps_at_1m * e * g;
      rate += src;
      const c = clamped ? 0 : (tau * src * dlng) / r;
      idx[4 * k] = 4 * k;
      idx[4 * k + 1] = 4 * k + 1;
      idx[4 * k + 2] = 4 * k + 2;
      idx[4 * k + 3] = 4 * k + 3;
      dl[4 * k] = c * dx;
      dl[4 * k + 1] = c * dy;
      dl[4 * k + 2] = c * dz;
      dl[4 * k + 3] = tau * e * g;
    }
    idx[4 * K] = 4 * K + d;
    dl[4 * K] = tau;
    const lam = tau * rate;
    if (!(lam > 0)) continue;
    const n = expected ? lam : ds.counts[i];
    ll += n * Math.log(lam) - lam;
    const w = n / lam - 1;
    const inv = 1 / lam;
    for (let a = 0; a <= 4 * K; a++) {
      const ia = idx[a];
      grad[ia] += w * dl[a];
      const fa = dl[a] * inv;
      const row = fisher[ia];
      for (let c2 = 0; c2 <= 4 * K; c2++) row[idx[c2]] += fa * dl[c2];
    }
  }
  if (prior !== undefined) {
    for (let d = 0; d < D; d++) {
      const b = st.b[d];
      ll += (prior.alpha[d] - 1) * Math.log(b) - prior.beta[d] * b;
      grad[4 * K + d] += (prior.alpha[d] - 1) / b - prior.beta[d];
      fisher[4 * K + d][4 * K + d] += (prior.alpha[d] - 1) / (b * b);
    }
  }
  return { ll, grad, fisher };
}

export interface RefineResult {
  state: State;
  ll: number;
  iterations: number;
}

/**
 * Levenberg-Marquardt on Fisher scoring steps: (F + kappa diag F) delta = grad, accepted only when the likelihood
 * rises; sources kept above the ground (z >= 0) and strengths and backgrounds positive by projection.
 */
export function refine(ds: Dataset, model: ForwardModel, start: State, prior?: BackgroundPrior, opts: { maxIter?: number; fixedPositions?: boolean } = {}): RefineResult {
  let st = cloneState(start);
  const K = st.sources.length;
  const maxIter = opts.maxIter ?? 60;
  let kappa = 1e-3;
  let ev = evaluate(ds, model, st, prior);
  let it = 0;
  for (; it < maxIter; it++) {
    const P = ev.grad.length;
    const A = ev.fisher.map((row, i) => row.map((v, j) => (i === j ? v * (1 + kappa) + 1e-12 : v)));
    if (opts.fixedPositions === true) {
      for (let k = 0; k < K; k++) for (let c = 0; c < 3; c++) {
        const p = 4 * k + c;
        for (let j = 0; j < P; j++) A[p][j] = A[j][p] = 0;
        A[p][p] = 1;
      }
    }
    const g = opts.fixedPositions === true ? ev.grad.map((v, p) => (p < 4 * K && p % 4 < 3 ? 0 : v)) : ev.grad;
    const delta = solve(A, g);
    if (delta === undefined) {
      kappa *= 10;
      if (kappa > 1e10) break;
      continue;
    }
    const cand = cloneState(st);
    for (let k = 0; k < K; k++) {
      const s = cand.sources[k];
      // A step of more than 30 m in one go means the quadratic model is not to be trusted there.
      const len = Math.hypot(delta[4 * k], delta[4 * k + 1], delta[4 * k + 2]);
      const f = len > 30 ? 30 / len : 1;
      s.x_m += f * delta[4 * k];
      s.y_m += f * delta[4 * k + 1];
      s.z_m = Math.max(0, s.z_m + f * delta[4 * k + 2]);
      s.cps_at_1m = Math.max(s.cps_at_1m * 0.1, s.cps_at_1m + delta[4 * k + 3], 1e-9);
    }
    for (let d = 0; d < cand.b.length; d++) cand.b[d] = Math.max(cand.b[d] * 0.1, cand.b[d] + delta[4 * K + d], 1e-9);
    const ll = logLikelihood(ds, model, cand, prior);
    if (ll > ev.ll) {
      const gain = ll - ev.ll;
      st = cand;
      ev = evaluate(ds, model, st, prior);
      kappa = Math.max(kappa / 4, 1e-7);
      if (gain < 1e-7) break;
    } else {
      kappa *= 6;
      if (kappa > 1e8) break;
    }
  }
  return { state: st, ll: ev.ll, iterations: it };
}

/** Background-only fit: per detector (sum n + alpha - 1) / (sum t + beta). */
export function backgroundOnly(ds: Dataset, prior?: BackgroundPrior): State {
  const D = ds.detIds.length;
  const sn = new Array<number>(D).fill(0);
  const st = new Array<number>(D).fill(0);
  for (let i = 0; i < ds.n; i++) {
    sn[ds.det[i]] += ds.counts[i];
    st[ds.det[i]] += ds.tau[i];
  }
  return { sources: [], b: sn.map((n, d) => Math.max((n + (prior ? prior.alpha[d] - 1 : 0)) / (st[d] + (prior ? prior.beta[d] : 0)), 1e-9)) };
}

// ───────────────────────────── voxel search ─────────────────────────────

/**
 * Strength levels of the grid search: 8 cps x 2^k up to ~260 000 cps at 1 m (a 2x2 NaI counts ~40 cps in the
 * Cs-137 peak per MBq at 1 m). The grid only has to point at the right voxel; the refinement finds the strength.
 */
const LEVELS = Float64Array.from({ length: 16 }, (_, k) => 8 * 2 ** k);


/**
 * Coarse voxel grid holding, for every voxel and strength level, the log-likelihood ratio of "a source there" against
 * the background (or the current model) the measurements were added with. Adding a measurement costs one pass over
 * the voxels, so the streaming localizer keeps it up to date incrementally.
 */
export class VoxelGrid {
  readonly vx: Float64Array;
  readonly vy: Float64Array;
  readonly vz: Float64Array;
  readonly V: number;
  readonly ll: Float64Array;
  readonly step_m: number;
  readonly nS = LEVELS.length;

  constructor(
    readonly model: ForwardModel,
    area: Required<Pick<AreaOptions, 'center' | 'size_m' | 'step_m'>> & { z_levels_m?: number[] },
  ) {
    const [sx, sy, sz] = area.size_m;
    const step = area.step_m;
    this.step_m = step;
    const nx = Math.max(1, Math.round(sx / step) + 1);
    const ny = Math.max(1, Math.round(sy / step) + 1);
    const zs = area.z_levels_m ?? [0.5, sz * 0.35, sz * 0.7].filter((z, i, a) => i === 0 || z > a[i - 1] + 0.5);
    this.V = nx * ny * zs.length;
    this.vx = new Float64Array(this.V);
    this.vy = new Float64Array(this.V);
    this.vz = new Float64Array(this.V);
    let v = 0;
    for (let ix = 0; ix < nx; ix++)
      for (let iy = 0; iy < ny; iy++)
        for (const z of zs) {
          this.vx[v] = area.center.x_m - sx / 2 + (nx === 1 ? sx / 2 : (ix * sx) / (nx - 1));
          this.vy[v] = area.center.y_m - sy / 2 + (ny === 1 ? sy / 2 : (iy * sy) / (ny - 1));
          this.vz[v] = z;
          v++;
        }
    this.ll = new Float64Array(this.V * this.nS);
  }

  reset(): void {
    this.ll.fill(0);
  }

  /** Adds one measurement whose expected counts without the new source are `base` (t x background, + known sources). */
  add(x: number, y: number, z: number, tau: number, eff: number, n: number, base: number): void {
    const mu = this.model.mu_per_m;
    const rmin = this.model.minDistance_m;
    const lin = this.model.buildup === 'linear';
    const b1 = 1 + mu;
    const nS = this.nS;
    const ll = this.ll;
    const te = tau * eff;
    const invBase = 1 / base;
    for (let v = 0; v < this.V; v++) {
      const dx = this.vx[v] - x;
      const dy = this.vy[v] - y;
      const dz = this.vz[v] - z;
      // sqrt of the sum, not Math.hypot: hypot's overflow care costs several times more in this loop.
      let r = Math.sqrt(dx * dx + dy * dy + dz * dz);
      if (r < rmin) r = rmin;
      let g = Math.exp(-mu * (r - 1)) / (r * r);
      if (lin) g *= (1 + mu * r) / b1;
      const a = te * g;
      const o = v * nS;
      if (n === 0) {
        for (let s = 0; s < nS; s++) ll[o + s] -= LEVELS[s] * a;
        continue;
      }
      const c = a * invBase;
      for (let s = 0; s < nS; s++) ll[o + s] += n * Math.log(1 + LEVELS[s] * c) - LEVELS[s] * a;
    }
  }

  /** The best voxels (profile over strength), at least `sep` grid steps apart horizontally, best first. */
  top(count: number, sep = 3): { x_m: number; y_m: number; z_m: number; cps_at_1m: number; llr: number }[] {
    const best = new Float64Array(this.V);
    const arg = new Int32Array(this.V);
    for (let v = 0; v < this.V; v++) {
      let m = 0;
      let a = -1;
      const o = v * this.nS;
      for (let s = 0; s < this.nS; s++) if (this.ll[o + s] > m) { m = this.ll[o + s]; a = s; }
      best[v] = m;
      arg[v] = a;
    }
    const order = Array.from({ length: this.V }, (_, v) => v).filter((v) => arg[v] >= 0).sort((a, b) => best[b] - best[a]);
    const out: { x_m: number; y_m: number; z_m: number; cps_at_1m: number; llr: number }[] = [];
    const minD = sep * this.step_m;
    for (const v of order) {
      if (out.length >= count) break;
      if (out.some((o) => Math.hypot(o.x_m - this.vx[v], o.y_m - this.vy[v]) < minD)) continue;
      out.push({ x_m: this.vx[v], y_m: this.vy[v], z_m: this.vz[v], cps_at_1m: LEVELS[arg[v]], llr: best[v] });
    }
    return out;
  }
}

export function areaFor(ds: Dataset, area: AreaOptions | undefined): Required<Pick<AreaOptions, 'center' | 'size_m' | 'step_m'>> & { z_levels_m?: number[] } {
  let center = area?.center;
  if (center === undefined) {
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let i = 0; i < ds.n; i++) {
      x0 = Math.min(x0, ds.x[i]); x1 = Math.max(x1, ds.x[i]);
      y0 = Math.min(y0, ds.y[i]); y1 = Math.max(y1, ds.y[i]);
    }
    center = ds.n > 0 ? { x_m: (x0 + x1) / 2, y_m: (y0 + y1) / 2 } : { x_m: 0, y_m: 0 };
  }
  return { center, size_m: area?.size_m ?? [200, 200, 10], step_m: area?.step_m ?? 5, ...(area?.z_levels_m ? { z_levels_m: area.z_levels_m } : {}) };
}

/** Expected counts of every measurement under a state (for residual searches). */
function expectedCounts(ds: Dataset, model: ForwardModel, st: State): Float64Array {
  const out = new Float64Array(ds.n);
  for (let i = 0; i < ds.n; i++) {
    let rate = st.b[ds.det[i]];
    for (const s of st.sources) {
      const r = Math.hypot(ds.x[i] - s.x_m, ds.y[i] - s.y_m, ds.z[i] - s.z_m);
      let g = Math.exp(-model.mu_per_m * (Math.max(r, model.minDistance_m) - 1)) / Math.max(r, model.minDistance_m) ** 2;
      if (model.buildup === 'linear') g *= (1 + model.mu_per_m * Math.max(r, model.minDistance_m)) / (1 + model.mu_per_m);
      rate += s.cps_at_1m * ds.eff[i] * g;
    }
    out[i] = ds.tau[i] * rate;
  }
  return out;
}

/** Fills a grid with every measurement against a state (background only, or known sources). */
export function fillGrid(grid: VoxelGrid, ds: Dataset, st: State): void {
  grid.reset();
  const base = expectedCounts(ds, grid.model, st);
  for (let i = 0; i < ds.n; i++) if (base[i] > 0) grid.add(ds.x[i], ds.y[i], ds.z[i], ds.tau[i], ds.eff[i], ds.counts[i], base[i]);
}

/** Best refinement of `known` plus one new source started at each candidate. */
export function bestWithNewSource(ds: Dataset, model: ForwardModel, known: State, candidates: readonly PointSource[], prior?: BackgroundPrior): RefineResult | undefined {
  let best: RefineResult | undefined;
  for (const c of candidates) {
    // First the strengths and backgrounds with the new position held, then everything: a far-off start otherwise
    // lets the first steps fling the position before the strength is sensible.
    const start: State = { sources: [...known.sources.map((s) => ({ ...s })), { ...c }], b: [...known.b] };
    const pre = refine(ds, model, start, prior, { fixedPositions: true, maxIter: 15 });
    const r = refine(ds, model, pre.state, prior);
    if (best === undefined || r.ll > best.ll) best = r;
  }
  return best;
}

// ───────────────────────────── uncertainty ─────────────────────────────

export function ellipsoid(cov3: number[][], method: ConfidenceRegion['method'] = 'fisher'): ConfidenceRegion {
  const { values, vectors } = eigenSym3(cov3);
  const semi = values.map((v) => Math.sqrt(CHI2_3DOF_95 * Math.max(v, 0))) as [number, number, number];
  return { semiAxes_m: semi, axes: vectors, method };
}

/** Is a point inside a 95 % region centred on `c`? (d^T C^-1 d <= chi2). */
export function insideRegion(c: { x_m: number; y_m: number; z_m: number }, region: ConfidenceRegion, p: { x_m: number; y_m: number; z_m: number }): boolean {
  const d = [p.x_m - c.x_m, p.y_m - c.y_m, p.z_m - c.z_m];
  let q = 0;
  for (let k = 0; k < 3; k++) {
    const a = region.axes[k];
    const proj = a[0] * d[0] + a[1] * d[1] + a[2] * d[2];
    const s = region.semiAxes_m[k];
    if (s <= 0) return Math.abs(proj) < 1e-9;
    q += (proj / s) ** 2;
  }
  return q <= 1;
}

/** Covariance of all parameters (inverse Fisher); undefined when singular. */
export function covariance(ds: Dataset, model: ForwardModel, st: State, prior?: BackgroundPrior): number[][] | undefined {
  return invertSpd(evaluate(ds, model, st, prior, true).fisher);
}

export interface CramerRao {
  /** sqrt(trace) of the position block (m): the smallest RMS 3D position error an unbiased estimator can reach. */
  rms_m: number;
  cov3: number[][];
}

/**
 * Cramer-Rao bound of the position of each source for a drive (the measurement positions and live times of `ms`)
 * and a true scene (sources, background rate per detector id), backgrounds unknown.
 */
export function cramerRao(ms: readonly LocMeasurement[], model: ForwardModel, truth: { sources: PointSource[]; background_cps: Record<string, number> }): CramerRao[] {
  const ds = new Dataset(model);
  for (const m of ms) ds.push(m);
  const st: State = { sources: truth.sources, b: ds.detIds.map((id) => truth.background_cps[id] ?? 0) };
  const cov = invertSpd(evaluate(ds, model, st, undefined, true).fisher);
  return truth.sources.map((_, k) => {
    if (cov === undefined) return { rms_m: Infinity, cov3: [] };
    const cov3 = [0, 1, 2].map((a) => [0, 1, 2].map((b) => cov[4 * k + a][4 * k + b]));
    return { rms_m: Math.sqrt(Math.max(0, cov3[0][0] + cov3[1][1] + cov3[2][2])), cov3 };
  });
}

// ───────────────────────────── mirror ─────────────────────────────

/**
 * Reflection of a source across the line the vehicle drove near it (principal axis of the positions within a few
 * closest-approach distances), the position a single straight pass cannot tell from the source.
 */
export function mirrorOf(ds: Dataset, s: PointSource): PointSource | undefined {
  let dmin = Infinity;
  for (let i = 0; i < ds.n; i++) dmin = Math.min(dmin, Math.hypot(ds.x[i] - s.x_m, ds.y[i] - s.y_m));
  const R = 3 * Math.max(dmin, 5);
  let n = 0, mx = 0, my = 0;
  for (let i = 0; i < ds.n; i++) if (Math.hypot(ds.x[i] - s.x_m, ds.y[i] - s.y_m) <= R) { n++; mx += ds.x[i]; my += ds.y[i]; }
  if (n < 3) return undefined;
  mx /= n; my /= n;
  let sxx = 0, sxy = 0, syy = 0;
  for (let i = 0; i < ds.n; i++) {
    if (Math.hypot(ds.x[i] - s.x_m, ds.y[i] - s.y_m) > R) continue;
    const dx = ds.x[i] - mx, dy = ds.y[i] - my;
    sxx += dx * dx; sxy += dx * dy; syy += dy * dy;
  }
  const angle = 0.5 * Math.atan2(2 * sxy, sxx - syy);
  const ux = Math.cos(angle), uy = Math.sin(angle);
  const px = s.x_m - mx, py = s.y_m - my;
  const along = px * ux + py * uy;
  const rx = 2 * along * ux - px, ry = 2 * along * uy - py;
  const m = { ...s, x_m: mx + rx, y_m: my + ry };
  return Math.hypot(m.x_m - s.x_m, m.y_m - s.y_m) < 1 ? undefined : m;
}

// ───────────────────────────── the estimate ─────────────────────────────

export interface Solution {
  state: State;
  ll: number;
  ll0: number;
  cov?: number[][];
  mirrors: ({ source: PointSource; dll: number } | undefined)[];
}

/** Mirror check of source k: refit from its reflection; swap when the mirror fits better. */
export function checkMirrors(ds: Dataset, model: ForwardModel, sol: { state: State; ll: number }, prior: BackgroundPrior | undefined): { state: State; ll: number; mirrors: ({ source: PointSource; dll: number } | undefined)[] } {
  let { state, ll } = sol;
  const mirrors: ({ source: PointSource; dll: number } | undefined)[] = [];
  for (let k = 0; k < state.sources.length; k++) {
    const m = mirrorOf(ds, state.sources[k]);
    if (m === undefined) { mirrors.push(undefined); continue; }
    const start = cloneState(state);
    start.sources[k] = m;
    const r = refine(ds, model, start, prior);
    const moved = r.state.sources[k];
    const orig = state.sources[k];
    const back = Math.hypot(moved.x_m - orig.x_m, moved.y_m - orig.y_m, moved.z_m - orig.z_m);
    const away = Math.hypot(moved.x_m - m.x_m, moved.y_m - m.y_m, moved.z_m - m.z_m);
    // Back in the basin it came from (nearer the estimate than the reflection): no second solution, though an
    // unfinished warm-started fit may have been improved on the way.
    if (back < 1 || back < away) {
      if (r.ll > ll) {
        state = r.state;
        ll = r.ll;
      }
      mirrors.push(undefined);
      continue;
    }
    if (r.ll > ll) {
      const old = state.sources[k];
      const dll = r.ll - ll;
      state = r.state;
      ll = r.ll;
      mirrors.push({ source: old, dll: 2 * dll });
    } else {
      mirrors.push({ source: moved, dll: 2 * (ll - r.ll) });
    }
  }
  return { state, ll, mirrors };
}

export function toResult(opts: LocalizeOptions, ds: Dataset, sol: Solution | undefined, extra: { reason?: string; warnings: string[]; background?: number[] }): LocalizeResult {
  const mirrorThreshold = opts.mirrorThreshold ?? DEFAULTS.mirrorThreshold;
  const background_cps: Record<string, number> = {};
  const b = sol?.state.b ?? extra.background ?? [];
  ds.detIds.forEach((id, d) => { background_cps[id] = b[d] ?? 0; });
  const sources: SourceEstimate[] = [];
  if (sol !== undefined) {
    sol.state.sources.forEach((s, k) => {
      const cov4 = sol.cov !== undefined ? [0, 1, 2, 3].map((a) => [0, 1, 2, 3].map((c) => sol.cov![4 * k + a][4 * k + c])) : [0, 1, 2, 3].map((a) => [0, 1, 2, 3].map((c) => (a === c ? Infinity : 0)));
      const cov3 = cov4.slice(0, 3).map((row) => row.slice(0, 3));
      const ci95 = sol.cov !== undefined ? ellipsoid(cov3) : { semiAxes_m: [Infinity, Infinity, Infinity] as [number, number, number], axes: [[1, 0, 0], [0, 1, 0], [0, 0, 1]] as ConfidenceRegion['axes'], method: 'fisher' as const };
      const g = toGeo(opts.origin, s);
      const m = sol.mirrors[k];
      const ambiguous = m !== undefined && m.dll < mirrorThreshold;
      const est: SourceEstimate = {
        x_m: s.x_m, y_m: s.y_m, z_m: s.z_m, lat: g.lat, lon: g.lon, height_m: s.z_m,
        ...(opts.nuclide !== undefined ? { nuclide: opts.nuclide } : {}),
        energy_keV: opts.model.energy_keV,
        cps_at_1m: s.cps_at_1m,
        ...(opts.refEff_cm2 !== undefined && opts.refEff_cm2 > 0 ? { activity_Bq: activityFromCps(s.cps_at_1m, opts.refEff_cm2, opts.model) } : {}),
        covariance_m2: cov4,
        ci95,
        ambiguous,
      };
      if (ambiguous && m !== undefined) {
        const mg = toGeo(opts.origin, m.source);
        est.mirror = { lat: mg.lat, lon: mg.lon, height_m: m.source.z_m };
      }
      sources.push(est);
    });
  }
  return {
    origin: opts.origin,
    sources,
    background_cps,
    measurements: ds.n,
    noSource: sources.length === 0,
    ...(extra.reason !== undefined ? { reason: extra.reason } : {}),
    logLikelihood: sol?.ll ?? 0,
    warnings: extra.warnings,
  };
}
