// Levenberg–Marquardt on Poisson counts over a window of channels: the one solver the peak, multiplet and pair fits share.
//
// Weights are the model's variance (1/max(y, 1)), not the data's, so a channel with few counts is not treated as if
// it were exact and an empty channel does not get infinite weight. The Jacobian is numerical (forward differences
// with a step the caller chooses per parameter): the peak models are sums of bin-integrated erf terms whose
// derivatives are easy to get wrong and cheap to difference. Damping is Marquardt's (diagonal × (1 + λ)), λ divided
// by 10 after a step that lowers χ² and multiplied by 10 after one that does not.
import { invertSmall } from './calibration.js';

export interface PoissonLmProblem {
  /** Counts per channel; the fit uses channels lo … lo + m − 1. */
  counts: ArrayLike<number>;
  lo: number;
  m: number;
  start: readonly number[];
  /** Expected counts of the m channels for parameters q, written into out. */
  model: (q: number[], out: Float64Array) => void;
  /** Forward-difference step for parameter a at q. */
  step: (a: number, q: readonly number[]) => number;
  /** Outer iterations (one Jacobian each), and damping tries per iteration. */
  maxIterations: number;
  maxTries: number;
  /** Stop once an accepted step lowers χ² by less than this fraction. */
  tolerance: number;
  /** Moves a trial point back inside the parameters' bounds before its χ² is taken. */
  clamp?: (q: number[]) => void;
  /** A Gaussian prior on one parameter, added to χ² and to the normal equations. */
  prior?: { index: number; mean: number; sigma: number };
}

export interface PoissonLmResult {
  p: number[];
  /** Pearson χ² at p (model-variance weights), the prior's term included. */
  chi2: number;
  /** Jacobian rows (one Float64Array of m per parameter) and the model at p, for the caller's covariance. */
  J: Float64Array[];
  y: Float64Array;
}

/** The curvature matrix Jᵀ W J (with the prior's 1/σ² on its diagonal) at the Jacobian a fit returned. */
export function lmCurvature(r: Pick<PoissonLmResult, 'J' | 'y'>, prior?: PoissonLmProblem['prior']): number[][] {
  const P = r.J.length;
  const m = r.y.length;
  const alpha = Array.from({ length: P }, () => new Array<number>(P).fill(0));
  for (let i = 0; i < m; i++) {
    const w = 1 / Math.max(r.y[i]!, 1);
    for (let a = 0; a < P; a++) {
      const ja = r.J[a]![i]! * w;
      for (let b = a; b < P; b++) alpha[a]![b] += ja * r.J[b]![i]!;
    }
  }
  if (prior) alpha[prior.index]![prior.index] += 1 / (prior.sigma * prior.sigma);
  for (let a = 0; a < P; a++) for (let b = 0; b < a; b++) alpha[a]![b] = alpha[b]![a]!;
  return alpha;
}

/** Minimises the Pearson χ² of the counts against the model; undefined when a damped normal matrix is singular. */
export function poissonLm(o: PoissonLmProblem): PoissonLmResult | undefined {
  const { counts, lo, m, model, prior } = o;
  const P = o.start.length;
  const p = o.start.slice();
  const y = new Float64Array(m);
  const chi2Of = (q: number[]): number => {
    model(q, y);
    let c = prior ? ((q[prior.index]! - prior.mean) / prior.sigma) ** 2 : 0;
    for (let i = 0; i < m; i++) {
      const d = counts[lo + i]! - y[i]!;
      c += (d * d) / Math.max(y[i]!, 1);
    }
    return c;
  };
  const J = Array.from({ length: P }, () => new Float64Array(m));
  const y0 = new Float64Array(m);
  const y1 = new Float64Array(m);
  const jacobian = (q: number[]): void => {
    model(q, y0);
    for (let a = 0; a < P; a++) {
      const h = o.step(a, q);
      const qa = q.slice();
      qa[a] = q[a]! + h;
      model(qa, y1);
      for (let i = 0; i < m; i++) J[a]![i] = (y1[i]! - y0[i]!) / h;
    }
  };
  let chi2 = chi2Of(p);
  let lambda = 1e-3;
  for (let iter = 0; iter < o.maxIterations; iter++) {
    jacobian(p);
    const alpha = Array.from({ length: P }, () => new Array<number>(P).fill(0));
    const beta = new Array<number>(P).fill(0);
    for (let i = 0; i < m; i++) {
      const w = 1 / Math.max(y0[i]!, 1);
      const d = counts[lo + i]! - y0[i]!;
      for (let a = 0; a < P; a++) {
        const ja = J[a]![i]! * w;
        beta[a] += ja * d;
        for (let b = a; b < P; b++) alpha[a]![b] += ja * J[b]![i]!;
      }
    }
    if (prior) {
      const w = 1 / (prior.sigma * prior.sigma);
      alpha[prior.index]![prior.index] += w;
      beta[prior.index] += -(p[prior.index]! - prior.mean) * w;
    }
    for (let a = 0; a < P; a++) for (let b = 0; b < a; b++) alpha[a]![b] = alpha[b]![a]!;
    let improved = false;
    let converged = false;
    for (let tries = 0; tries < o.maxTries; tries++) {
      const damped = alpha.map((r, a) => r.map((v, b) => (a === b ? v * (1 + lambda) + 1e-12 : v)));
      const inv = invertSmall(damped);
      if (!inv) return undefined;
      const q = p.map((v, a) => v + inv[a]!.reduce((s, x, b) => s + x * beta[b]!, 0));
      o.clamp?.(q);
      const c = chi2Of(q);
      if (c <= chi2) {
        converged = (chi2 - c) / Math.max(chi2, 1e-12) < o.tolerance;
        p.splice(0, P, ...q);
        chi2 = c;
        lambda = Math.max(lambda / 10, 1e-9);
        improved = true;
        break;
      }
      lambda *= 10;
    }
    if (!improved || converged) break;
  }
  jacobian(p);
  return { p, chi2, J, y: y0 };
}
