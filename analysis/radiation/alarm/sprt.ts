// SPRT arithmetic: log-likelihood increments, the average run length by Markov chain (Brook & Evans), and the
// threshold ln A for a target run length with the background's own uncertainty folded in.
import { InputError } from '../../../common/errors.js';


/** Log-likelihood ratio of n counts: Poisson(μ1) against Poisson(μ0). */
export function sprtIncrement(n: number, mu0: number, mu1: number): number {
  return n * Math.log(mu1 / mu0) - (mu1 - mu0);
}

const LOG_FACT_SMALL = (() => {
  const t = new Float64Array(32);
  for (let k = 2; k < 32; k++) t[k] = t[k - 1] + Math.log(k);
  return t;
})();

export function logFactorial(k: number): number {
  if (k < 32) return LOG_FACT_SMALL[k];
  const n = k + 1;
  const inv = 1 / n;
  const inv2 = inv * inv;
  return (n - 0.5) * Math.log(n) - n + 0.9189385332046728 + inv * (1 / 12 - inv2 * (1 / 360 - inv2 / 1260));
}

/**
 * P(N ≤ lo + k) for k = 0..K of a Poisson mean, over the range where the probability is not negligible (lo is where
 * the lower tail drops below ~1e-50, the top where the upper tail does), so a mean of 10⁵ costs 10⁴ terms, not 10⁵.
 */
function poissonCdf(mean: number): { lo: number; cdf: Float64Array } {
  const sd = Math.sqrt(mean);
  const lo = Math.max(0, Math.floor(mean - 16 * sd - 40));
  const hi = Math.ceil(mean + 16 * sd + 40);
  const cdf = new Float64Array(hi - lo + 1);
  let acc = 0;
  const lm = Math.log(Math.max(mean, 1e-300));
  for (let n = lo; n <= hi; n++) {
    acc += mean > 0 ? Math.exp(-mean + n * lm - logFactorial(n)) : n === 0 ? 1 : 0;
    cdf[n - lo] = Math.min(acc, 1);
  }
  return { lo, cdf };
}

export interface SprtArlOptions {
  mu0: number;
  mu1: number;
  lnA: number;
  lnB: number;
  /** The Poisson mean the counts really have (default mu0: the background is known exactly). */
  trueMean?: number;
  /** Override the number of grid cells (default: chosen from the increment's spread, 40-400). */
  cells?: number;
}

/**
 * Average run length (samples) from Λ = 0 to the first Λ ≥ ln A, restarting at 0 whenever Λ ≤ ln B: Brook–Evans
 * Markov chain on a grid of cells between ln B and ln A, the Poisson probabilities of landing in each cell from the
 * centre of each cell. The restart column is handled by superposition: with (I − T)u = 1 and (I − T)v = p (p the
 * probability of falling below ln B), ARL = u₀ / (1 − v₀) for the cell holding 0.
 */
export function sprtArl(o: SprtArlOptions): number {
  const { mu0, mu1, lnA, lnB } = o;
  if (!(mu0 > 0 && mu1 > mu0)) throw new InputError(`sprtArl: expected 0 < mu0 < mu1, got ${mu0}, ${mu1}`);
  if (!(lnA > 0 && lnB < 0)) throw new InputError(`sprtArl: expected lnB < 0 < lnA, got ${lnB}, ${lnA}`);
  const m = o.trueMean ?? mu0;
  const a = Math.log(mu1 / mu0);
  const c = mu1 - mu0;
  const sdInc = a * Math.sqrt(Math.max(m, 1e-12));
  // Cells an eighth of the increment's spread; where single counts are big steps (small means) a quarter of a step,
  // and never coarser than a quarter of the drift of an empty sample. 100-400 cells: within ~2 % of Monte Carlo
  // for means of 1-2400 counts (4 % at a mean of 3, where the lattice of the counts is coarsest), see the tests.
  let w = Math.min(sdInc / 8, c / 4);
  if (a > sdInc / 4) w = Math.min(w, a / 3);
  const span = lnA - lnB;
  const M = o.cells ?? Math.max(100, Math.min(400, Math.ceil(span / w)));
  w = span / M;
  const { lo: nLo, cdf } = poissonCdf(m);
  const nTop = nLo + cdf.length - 1;
  // S(u) = ∫₀ᵘ P(N ≤ t) dt, so the probability averaged over a uniform position within the source cell is a
  // difference quotient of S. Averaging over the cell rather than taking its centre keeps the lattice of the
  // counts (steps of a = ln(μ1/μ0)) from aliasing against the grid.
  const S0 = new Float64Array(cdf.length + 1);
  for (let k = 0; k < cdf.length; k++) S0[k + 1] = S0[k] + cdf[k];
  const S = (u: number): number => {
    if (u <= nLo) return 0;
    if (u >= nTop + 1) return S0[cdf.length] + (u - nTop - 1);
    const k = Math.floor(u);
    return S0[k - nLo] + (u - k) * cdf[k - nLo];
  };
  const step = w / a;
  // Mean over a source cell of P(N ≤ u + s), s uniform in [−step/2, step/2].
  const Fbar = (u: number): number => (S(u + step / 2) - S(u - step / 2)) / step;
  // Matrix I − T (row-major) and two right-hand sides.
  const A = new Float64Array(M * M);
  const u = new Float64Array(M).fill(1);
  const v = new Float64Array(M);
  for (let i = 0; i < M; i++) {
    const xi = lnB + (i + 0.5) * w;
    // Λ' = x + a·n − c lands in cell j when lnB + j·w < Λ' ≤ lnB + (j+1)·w, x spread over cell i.
    const base = (lnB - xi + c) / a;
    v[i] = Fbar(base);
    // Cells below jFrom cannot be reached (they would need fewer than 0 counts).
    const jFrom = Math.max(0, Math.floor(-base / step) - 2);
    let prev = Fbar(base + jFrom * step);
    for (let j = jFrom; j < M; j++) {
      const cur = Fbar(base + (j + 1) * step);
      const pj = cur - prev;
      prev = cur;
      if (pj > 0) A[i * M + j] -= pj;
      if (cur >= 1) break;
    }
    A[i * M + i] += 1;
  }
  // Gaussian elimination without pivoting: I − T is an M-matrix (diagonally dominant by rows), so it is stable.
  // Λ falls by at most c − a·nLo in a sample (nLo the fewest counts with any probability), so column k has
  // non-zeros only down to row k + band, and elimination stays within that band.
  const band = Math.min(M, Math.ceil((c - a * nLo) / w) + 3);
  for (let k = 0; k < M; k++) {
    const pk = A[k * M + k];
    const rEnd = Math.min(M, k + band + 1);
    for (let r = k + 1; r < rEnd; r++) {
      const f = A[r * M + k] / pk;
      if (f === 0) continue;
      A[r * M + k] = 0;
      for (let j = k + 1; j < M; j++) A[r * M + j] -= f * A[k * M + j];
      u[r] -= f * u[k];
      v[r] -= f * v[k];
    }
  }
  for (let r = M - 1; r >= 0; r--) {
    let su = u[r];
    let sv = v[r];
    for (let j = r + 1; j < M; j++) {
      su -= A[r * M + j] * u[j];
      sv -= A[r * M + j] * v[j];
    }
    u[r] = su / A[r * M + r];
    v[r] = sv / A[r * M + r];
  }
  const r0 = Math.min(M - 1, Math.max(0, Math.floor(-lnB / w)));
  return u[r0] / Math.max(1 - v[r0], 1e-300);
}

// Probabilists' Gauss–Hermite, 7 points: E[f(Z)] ≈ Σ wₖ f(zₖ) for Z ~ N(0, 1).
const GH_Z = [-3.750439717725742, -2.366759410734541, -1.154405394739968, 0, 1.154405394739968, 2.366759410734541, 3.750439717725742];
const GH_W = [5.48268855972218e-4, 3.07571239675865e-2, 2.40123178605013e-1, 4.57142857142857e-1, 2.40123178605013e-1, 3.07571239675865e-2, 5.48268855972218e-4];

/** False alarms per sample of an SPRT whose μ0 has relative error ~ N(0, biasSigma²): the hazard averaged over it. */
export function sprtHazard(o: { mu0: number; mu1: number; lnA: number; lnB: number; biasSigma?: number }): number {
  const s = o.biasSigma ?? 0;
  if (!(s > 0)) return 1 / sprtArl(o);
  let h = 0;
  for (let k = 0; k < GH_Z.length; k++) {
    const m = o.mu0 * Math.max(1e-6, 1 + s * GH_Z[k]);
    h += GH_W[k] / sprtArl({ ...o, trueMean: m });
  }
  return h;
}

/**
 * ln A for which the SPRT gives one false alarm per `targetArl` samples on average, with the background's relative
 * uncertainty `biasSigma` folded in. The false alarm rate falls close to e^(−ln A) (E0[e^Λ] = 1 for a likelihood
 * ratio), so Newton steps with that slope converge in a few evaluations. The discretised rate wiggles by a few per
 * cent around that line, so local secant slopes would mislead. Returns the ln A with the rate closest to the target
 * from below (never above it by more than 2 %).
 */
export function sprtThreshold(o: ThresholdParams): { lnA: number; hazard: number } {
  const search = thresholdSearch(o);
  let r = search.next();
  while (!r.done) r = search.next(Math.log(sprtHazard({ ...o, lnA: r.value })));
  return r.value;
}

export interface ThresholdParams {
  mu0: number;
  mu1: number;
  lnB: number;
  targetArl: number;
  biasSigma?: number;
}

/**
 * The search of sprtThreshold as a generator: it yields each ln A whose log hazard it needs and takes that value
 * back, so a caller can spread the evaluations (milliseconds to tens of milliseconds each) over event-loop turns.
 */
export function* thresholdSearch(o: ThresholdParams): Generator<number, { lnA: number; hazard: number }, number> {
  if (!(o.targetArl > 1)) throw new InputError(`targetArl: expected more than 1 sample, got ${o.targetArl}`);
  const goal = -Math.log(o.targetArl);
  const tol = 0.02;
  let best: { lnA: number; f: number } | undefined;
  const consider = (x: number, fx: number): void => {
    if (fx <= goal + tol && (!best || fx > best.f)) best = { lnA: x, f: fx };
  };
  // First guess, then one Newton step with the theoretical slope −1.
  let x0 = Math.max(0.5, Math.log(o.targetArl) - 2.5);
  let f0 = yield x0;
  consider(x0, f0);
  if (Math.abs(f0 - goal) <= tol) return { lnA: x0, hazard: Math.exp(f0) };
  let x1 = Math.max(0.05, x0 + (f0 - goal));
  let f1 = yield x1;
  consider(x1, f1);
  if (Math.abs(f1 - goal) <= tol) return { lnA: x1, hazard: Math.exp(f1) };
  // Bracket: [lo, hi] with f(lo) > goal >= f(hi), widening geometrically (the slope can be far shallower than −1
  // when the background is known so poorly that a biased estimate alone looks like a source).
  let lo: number;
  let flo: number;
  let hi: number;
  let fhi: number;
  if ((f0 > goal) === (f1 > goal)) {
    const up = f1 > goal;
    let step = Math.max(0.5, Math.abs(x1 - x0));
    for (let i = 0; i < 60 && (f1 > goal) === up; i++) {
      x0 = x1;
      f0 = f1;
      x1 = up ? x1 + step : Math.max(0.05, x1 - step);
      step *= 1.6;
      f1 = yield x1;
      consider(x1, f1);
      if (!up && x1 <= 0.05) break;
    }
  }
  if (f0 > goal) {
    lo = x0;
    flo = f0;
    hi = x1;
    fhi = f1;
  } else {
    lo = x1;
    flo = f1;
    hi = x0;
    fhi = f0;
  }
  if (!(flo > goal && fhi <= goal)) {
    if (best) return { lnA: best.lnA, hazard: Math.exp(best.f) };
    throw new InputError(`sprtThreshold: no threshold reaches an ARL of ${o.targetArl} samples`);
  }
  // Illinois regula falsi on ln(rate) − goal.
  let side = 0;
  for (let i = 0; i < 40; i++) {
    const x = hi - ((fhi - goal) * (hi - lo)) / (fhi - goal - (flo - goal));
    const fx = yield x;
    consider(x, fx);
    if (Math.abs(fx - goal) <= tol) break;
    if (fx > goal) {
      lo = x;
      flo = fx;
      if (side === -1) fhi = goal + (fhi - goal) / 2;
      side = -1;
    } else {
      hi = x;
      fhi = fx;
      if (side === 1) flo = goal + (flo - goal) / 2;
      side = 1;
    }
    if (hi - lo < 1e-3) break;
  }
  const b = best ?? { lnA: hi, f: fhi };
  return { lnA: b.lnA, hazard: Math.exp(b.f) };
}

/** Siegmund's correction for the overshoot of a random walk over a barrier: ρ·σ, ρ = −ζ(½)/√(2π) ≈ 0.583. */
const OVERSHOOT_RHO = 0.5826;

/**
 * The non-zero root θ of E[e^(θX)] = 1 for X = a·n − c, n ~ Poisson(m): m(e^(θa) − 1) = θc. For m = μ0 it is 1 (a
 * likelihood ratio); a background above μ0 drives it below 0. Newton from the normal approximation −2·drift/var.
 */
function adjustmentRoot(m: number, a: number, c: number): number {
  const drift = a * m - c;
  const v = a * a * m;
  let th = -2 * drift / v;
  if (Math.abs(th) < 1e-9) return 0;
  for (let i = 0; i < 30; i++) {
    const e = Math.exp(th * a);
    const g = m * (e - 1) - th * c;
    const dg = m * a * e - c;
    if (dg === 0) break;
    const nx = th - g / dg;
    // Newton must not fall onto the trivial root 0 from either side.
    const next = Math.sign(nx) === Math.sign(th) ? nx : th / 2;
    if (Math.abs(next - th) < 1e-12 * Math.max(1, Math.abs(th))) return next;
    th = next;
  }
  return th;
}

/**
 * Average run length of the same SPRT-with-restarts as sprtArl, in closed form (Wald's approximations with Siegmund's
 * overshoot correction): a cycle starts at 0 and ends at ln A + ρσ (alarm) or ln B − ρσ (restart), with probability
 * P_A = (1 − e^(θb)) / (e^(θh) − e^(θb)) of ending at the top, and E[cycle] from Wald's identity; ARL = E[cycle]/P_A.
 * Microseconds instead of the Markov chain's milliseconds to a second; within ~15 % of it for means of 20 counts and
 * more (test/unit/radiation-alarm-fast.test.ts), which is 0.15 nats of ln A, covered by the thresholds' ARL margin.
 */
export function sprtArlApprox(o: SprtArlOptions): number {
  const { mu0, mu1, lnA, lnB } = o;
  if (!(mu0 > 0 && mu1 > mu0)) throw new InputError(`sprtArlApprox: expected 0 < mu0 < mu1, got ${mu0}, ${mu1}`);
  if (!(lnA > 0 && lnB < 0)) throw new InputError(`sprtArlApprox: expected lnB < 0 < lnA, got ${lnB}, ${lnA}`);
  const m = Math.max(o.trueMean ?? mu0, 1e-12);
  const a = Math.log(mu1 / mu0);
  const c = mu1 - mu0;
  const sd = a * Math.sqrt(m);
  const h = lnA + OVERSHOOT_RHO * sd;
  const b = lnB - OVERSHOOT_RHO * sd;
  const drift = a * m - c;
  const th = adjustmentRoot(m, a, c);
  let pA: number;
  let len: number;
  if (Math.abs(th * (h - b)) < 1e-6 || Math.abs(drift) < 1e-12) {
    pA = -b / (h - b);
    len = (-h * b) / (sd * sd);
  } else if (th * h > 700) {
    // e^(θh) overflows: P_A ≈ (1 − e^(θb))·e^(−θh).
    const logPA = Math.log1p(-Math.exp(th * b)) - th * h;
    len = b / drift;
    return len * Math.exp(-logPA);
  } else {
    const eb = Math.exp(th * b);
    pA = (1 - eb) / (Math.exp(th * h) - eb);
    len = (pA * h + (1 - pA) * b) / drift;
  }
  return Math.max(len, 1) / Math.max(pA, 1e-300);
}

/** sprtHazard with the closed-form ARL: the false alarms per sample averaged over the background's relative error. */
export function sprtHazardApprox(o: { mu0: number; mu1: number; lnA: number; lnB: number; biasSigma?: number }): number {
  const s = o.biasSigma ?? 0;
  if (!(s > 0)) return 1 / sprtArlApprox(o);
  let h = 0;
  for (let k = 0; k < GH_Z.length; k++) {
    const m = o.mu0 * Math.max(1e-6, 1 + s * GH_Z[k]);
    h += GH_W[k] / sprtArlApprox({ ...o, trueMean: m });
  }
  return h;
}
