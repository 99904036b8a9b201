// Non-negative Poisson maximum-likelihood fit of a spectrum as a sum of templates (IRLS with a Lawson–Hanson NNLS step).
//
// Why this method: channel contents are Poisson and many channels of a short spectrum hold 0-5 counts, where a
// least-squares fit with σ² = y is biased (it pulls the model towards low channels) and σ² = 1 weights are plain
// wrong; the Poisson likelihood is the right objective. Its score equations for a linear model μ = A·x are
// Aᵀ(y/μ − 1) = 0, which is what iteratively reweighted least squares with weights 1/μ solves at its fixed point
// (Fisher scoring for the identity link). Each IRLS step is a small weighted least-squares problem, k ≤ ~12
// columns, that must keep x ≥ 0 (a template cannot contribute negative counts): Lawson–Hanson's active set on the
// k×k normal equations solves it exactly in a handful of passes. Three to six steps usually converge, so a fit
// over 1024 channels costs a few k²·n multiply-adds, far less than the hundreds of iterations the
// multiplicative (EM / Richardson–Lucy) updates need for the same tolerance. A step that lowers the likelihood
// is halved, so every iteration is an ascent step.

import type { Column } from './templates.js';

/** μ below this is treated as this in weights and logs: a channel with counts no template reaches stays finite. */
const MU_FLOOR = 1e-6;

export interface FitResult {
  /** Amplitude per column (counts), all >= 0. */
  x: Float64Array;
  /** Model counts per fit channel. */
  mu: Float64Array;
  /** Poisson deviance 2·Σ[y·ln(y/μ) − (y − μ)]. */
  deviance: number;
  iterations: number;
}

/** Σ[y·ln y − y] over the data: the part of the deviance that does not depend on the model (D = this·2 − 2·ln L). */
export function dataTerm(y: Float64Array): number {
  let d = 0;
  for (let i = 0; i < y.length; i++) {
    const v = y[i];
    if (v > 0) d += v * Math.log(v) - v;
  }
  return d;
}

/** Poisson deviance of data y against model μ. */
export function poissonDeviance(y: Float64Array, mu: Float64Array): number {
  let d = 0;
  for (let i = 0; i < y.length; i++) {
    const m = mu[i] > MU_FLOOR ? mu[i] : MU_FLOOR;
    const v = y[i];
    d += v > 0 ? v * Math.log(v / m) - (v - m) : m;
  }
  return 2 * d;
}

/** μ = offset + Σ x_j·A_j. */
export function modelCounts(columns: readonly Column[], x: ArrayLike<number>, n: number, offset?: Float64Array): Float64Array {
  const mu = offset === undefined ? new Float64Array(n) : Float64Array.from(offset);
  for (let j = 0; j < columns.length; j++) {
    const a = x[j];
    if (a === 0) continue;
    const c = columns[j];
    const v = c.values;
    for (let i = c.lo; i < c.hi; i++) mu[i] += a * v[i];
  }
  return mu;
}

/** Gram matrix AᵀWA (row-major k×k) and AᵀWy for weights w, using each column's non-zero range. */
function normalEquations(columns: readonly Column[], w: Float64Array, y: Float64Array, G: Float64Array, h: Float64Array): void {
  const k = columns.length;
  for (let a = 0; a < k; a++) {
    const ca = columns[a];
    const va = ca.values;
    let s = 0;
    for (let i = ca.lo; i < ca.hi; i++) s += va[i] * w[i] * y[i];
    h[a] = s;
    for (let b = a; b < k; b++) {
      const cb = columns[b];
      const vb = cb.values;
      const lo = ca.lo > cb.lo ? ca.lo : cb.lo;
      const hi = ca.hi < cb.hi ? ca.hi : cb.hi;
      let g = 0;
      for (let i = lo; i < hi; i++) g += va[i] * vb[i] * w[i];
      G[a * k + b] = g;
      G[b * k + a] = g;
    }
  }
}

/**
 * Solve the sub-system G_PP z = h_P by Cholesky (G is a Gram matrix, so positive semi-definite; a relative ridge of
 * 1e-12 on the diagonal keeps nearly collinear templates, e.g. two shield variants of one nuclide, solvable).
 */
function solvePassive(G: Float64Array, h: Float64Array, k: number, passive: number[], z: Float64Array): boolean {
  const m = passive.length;
  const L = new Float64Array(m * m);
  for (let r = 0; r < m; r++) {
    for (let c = 0; c <= r; c++) {
      let s = G[passive[r] * k + passive[c]];
      if (r === c) s *= 1 + 1e-12;
      for (let q = 0; q < c; q++) s -= L[r * m + q] * L[c * m + q];
      if (r === c) {
        if (!(s > 0)) return false;
        L[r * m + r] = Math.sqrt(s);
      } else {
        L[r * m + c] = s / L[c * m + c];
      }
    }
  }
  const t = new Float64Array(m);
  for (let r = 0; r < m; r++) {
    let s = h[passive[r]];
    for (let q = 0; q < r; q++) s -= L[r * m + q] * t[q];
    t[r] = s / L[r * m + r];
  }
  z.fill(0);
  for (let r = m - 1; r >= 0; r--) {
    let s = t[r];
    for (let q = r + 1; q < m; q++) s -= L[q * m + r] * z[passive[q]];
    z[passive[r]] = s / L[r * m + r];
  }
  return true;
}

/**
 * Lawson–Hanson active-set NNLS on the normal equations: minimise ½xᵀGx − hᵀx subject to x ≥ 0
 * (Lawson and Hanson, "Solving Least Squares Problems", 1974, ch. 23, written here on G = AᵀA directly).
 */
export function nnlsGram(G: Float64Array, h: Float64Array, k: number): Float64Array {
  const x = new Float64Array(k);
  const z = new Float64Array(k);
  const inP = new Array<boolean>(k).fill(false);
  const wv = new Float64Array(k);
  let scale = 0;
  for (let j = 0; j < k; j++) scale = Math.max(scale, Math.abs(h[j]));
  const tol = 1e-12 * (scale > 0 ? scale : 1);
  for (let outer = 0; outer < 3 * k + 3; outer++) {
    for (let j = 0; j < k; j++) {
      let s = h[j];
      for (let q = 0; q < k; q++) s -= G[j * k + q] * x[q];
      wv[j] = s;
    }
    let t = -1;
    let best = tol;
    for (let j = 0; j < k; j++) {
      if (!inP[j] && wv[j] > best && G[j * k + j] > 0) {
        best = wv[j];
        t = j;
      }
    }
    if (t < 0) break;
    inP[t] = true;
    for (let inner = 0; inner < 3 * k + 3; inner++) {
      const passive: number[] = [];
      for (let j = 0; j < k; j++) if (inP[j]) passive.push(j);
      if (!solvePassive(G, h, k, passive, z)) {
        // Degenerate column (all zero under the weights): drop it from the passive set for good.
        inP[t] = false;
        break;
      }
      let allPositive = true;
      for (const j of passive) if (z[j] <= 0) allPositive = false;
      if (allPositive) {
        for (let j = 0; j < k; j++) x[j] = inP[j] ? z[j] : 0;
        break;
      }
      let alpha = Infinity;
      for (const j of passive) {
        if (z[j] <= 0) {
          const a = x[j] / (x[j] - z[j]);
          if (a < alpha) alpha = a;
        }
      }
      for (let j = 0; j < k; j++) {
        x[j] += alpha * ((inP[j] ? z[j] : 0) - x[j]);
        if (inP[j] && x[j] <= 1e-15 * (1 + Math.abs(z[j]))) {
          inP[j] = false;
          x[j] = 0;
        }
      }
    }
  }
  return x;
}

function logLikelihood(y: Float64Array, mu: Float64Array): number {
  let l = 0;
  for (let i = 0; i < y.length; i++) {
    const m = mu[i] > MU_FLOOR ? mu[i] : MU_FLOOR;
    l += (y[i] > 0 ? y[i] * Math.log(m) : 0) - m;
  }
  return l;
}

export interface FitOptions {
  /** Starting amplitudes (>= 0); without them the first step uses weights 1/max(y, 1). */
  start?: ArrayLike<number>;
  maxIterations?: number;
  /** Stop when the log-likelihood gains less than this (default 0.005: the deviance to 0.01, far inside every threshold). */
  tolerance?: number;
  /** dataTerm(y), when the caller fits the same data many times. */
  dataTerm?: number;
}

/** Non-negative Poisson ML fit of y ≈ Σ x_j·A_j. */
export function poissonNnls(y: Float64Array, columns: readonly Column[], opts: FitOptions = {}): FitResult {
  const n = y.length;
  const k = columns.length;
  const maxIt = opts.maxIterations ?? 30;
  const tol = opts.tolerance ?? 5e-3;
  const G = new Float64Array(k * k);
  const h = new Float64Array(k);
  const w = new Float64Array(n);
  let x: Float64Array;
  if (opts.start !== undefined) {
    x = Float64Array.from(opts.start, (v) => (v > 0 ? v : 0));
  } else {
    for (let i = 0; i < n; i++) w[i] = 1 / (y[i] > 1 ? y[i] : 1);
    normalEquations(columns, w, y, G, h);
    x = nnlsGram(G, h, k);
  }
  let mu = modelCounts(columns, x, n);
  let ll = logLikelihood(y, mu);
  let it = 0;
  for (; it < maxIt; it++) {
    for (let i = 0; i < n; i++) w[i] = 1 / (mu[i] > MU_FLOOR ? mu[i] : MU_FLOOR);
    normalEquations(columns, w, y, G, h);
    const target = nnlsGram(G, h, k);
    let step = 1;
    let accepted = false;
    let nx = target;
    let nmu = mu;
    let nll = ll;
    for (let half = 0; half < 12; half++) {
      nx = step === 1 ? target : x.map((v, j) => v + step * (target[j] - v));
      nmu = modelCounts(columns, nx, n);
      nll = logLikelihood(y, nmu);
      if (nll >= ll - 1e-9 * Math.abs(ll)) {
        accepted = true;
        break;
      }
      step /= 2;
    }
    if (!accepted) break;
    const gain = nll - ll;
    x = nx;
    mu = nmu;
    ll = nll;
    if (gain < tol) {
      it++;
      break;
    }
  }
  return { x, mu, deviance: 2 * ((opts.dataTerm ?? dataTerm(y)) - ll), iterations: it };
}

/**
 * Covariance of the amplitudes (row-major k×k) from the Fisher information AᵀWA at the solution (W = 1/μ), over
 * the columns that are not at zero; a column at zero gets only a variance, the one it would have alone (1/I_jj),
 * which is what a one-sided significance needs. Two shield variants of one nuclide are nearly collinear, so their
 * individual errors are large while the error of their sum (Σ of the block) is small: sum the block, not the
 * variances.
 */
export function amplitudeCovariance(columns: readonly Column[], mu: Float64Array, x: Float64Array): Float64Array {
  const k = columns.length;
  const n = mu.length;
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = 1 / (mu[i] > MU_FLOOR ? mu[i] : MU_FLOOR);
  const G = new Float64Array(k * k);
  const h = new Float64Array(k);
  normalEquations(columns, w, mu, G, h);
  const cov = new Float64Array(k * k);
  const passive: number[] = [];
  for (let j = 0; j < k; j++) if (x[j] > 0) passive.push(j);
  const e = new Float64Array(k);
  const z = new Float64Array(k);
  for (const j of passive) {
    e.fill(0);
    e[j] = 1;
    if (!solvePassive(G, e, k, passive, z)) continue;
    for (const q of passive) cov[q * k + j] = z[q];
  }
  for (let j = 0; j < k; j++) if (!(x[j] > 0)) cov[j * k + j] = G[j * k + j] > 0 ? 1 / G[j * k + j] : Infinity;
  return cov;
}

/**
 * Score test for adding a column t with zero amplitude to a fitted model μ: U = Σ t(y/μ − 1), I = Σ t²/μ; returns
 * U²/I when U > 0 (the one-sided statistic, ≈ the deviance drop the refit would give), else 0.
 */
export function scoreStatistic(y: Float64Array, mu: Float64Array, col: Column): number {
  let U = 0;
  let I = 0;
  const v = col.values;
  for (let i = col.lo; i < col.hi; i++) {
    const m = mu[i] > MU_FLOOR ? mu[i] : MU_FLOOR;
    const t = v[i];
    U += t * (y[i] / m - 1);
    I += (t * t) / m;
  }
  return U > 0 && I > 0 ? (U * U) / I : 0;
}
