// Spectral anomaly test (NSCRAD: Pfund et al., IEEE TNS 54 (2007) 1232 and 57 (2010) 2257): spectral comparison ratios
// of the energy windows against the background's ratios, with their covariance learnt from the preceding data.
//
// For windows 1..k with background means b_i and the last window as reference, SCR_i = c_i − α_i·c_k with
// α_i = b_i/b_k, i < k. A background that changes in level (±30 % under a bridge, over other ground) scales every
// c_i alike and leaves each SCR at zero mean; a source adds to some windows far more than the background's shape
// would, and moves the SCR vector. D² = SCRᵀ Σ⁻¹ SCR is χ² with k − 1 degrees of freedom under background when Σ is
// the SCRs' covariance: Σ is estimated from the samples before the test (exponentially weighted, starting from the
// Poisson covariance), so over-dispersion and slow changes of the soil's K/U/Th mix widen it instead of alarming.
// The threshold is the χ² quantile for the test's share of the false alarm budget (one sample in ARL over it).
// Each sample's D² is taken over the last `window_s` of data (a sliding sum), so short samples (0.1 s) are tested
// on enough counts; overlapping sums make alarms correlated, which only lowers the false alarm rate.

// Memory of the learnt covariance, seconds of data. Not the background's 60 s: on a drive the soil's K/U/Th mix changes
// every minute or so, and the SCRs' spread is mostly those changes (the background's ratios lag each one by the guard
// gap and the ramp). Learnt over a minute, Σ forgot them during every steady stretch and the next change alarmed
// (3.6/h at a configured 1/h on the changing-soil bench); learnt over 15 minutes it holds the drive's own mix
// variability, the nuisance directions the soil moves the SCRs along (2.3/h → 1.3/h over 10 h of such drives).
export const SPECTRAL_MEMORY_S = 900;
// Σ is a 2-3 dimensional covariance: learnt from fewer samples than this it is noise (long samples: 60 s spectra).
const MIN_MEMORY_SAMPLES = 200;
const PRIOR_SAMPLES = 20;
const CLIP_D2 = 25;
// Tail calibration. Soil changes make the SCRs a scale mixture (still most of the time, a jump at each change), whose
// D² has a heavier tail than the χ² of a Gaussian with the same Σ. The share of background samples with D² over the
// χ² point for TAIL_P is learnt (same memory), and D² is divided by the scale that makes that share come out right
// (see spectralScale): a dispersion of D² learnt from the drive, 1 on a Poisson background.
const TAIL_P = 0.01;
/** Pseudo-samples at exactly TAIL_P the tail share starts from (about 25 s of 0.1 s samples). */
const TAIL_PRIOR = 250;
/** Largest scale (a drive whose D² is 3× χ²'s is not one a fixed spectral test should try to read). */
const SCALE_MAX = 3;

export interface SpectralState {
  k: number;
  /** EW sum of outer products of SCR per second of live time ((k−1)² row-major) and its weight. */
  S: Float64Array;
  w: number;
  /** Sliding window: SCR vectors and live times of the last samples, and their sums. */
  ring: { scr: Float64Array; live: number; dt: number }[];
  sum: Float64Array;
  sumLive: number;
  sumDt: number;
  /** D² of the newest window (NaN when it could not be formed), and the EW weight of background samples over the tail point and of all. */
  lastD2: number;
  tailOver: number;
  tailAll: number;
  /** Memory of Σ and of the tail share (s), and whether D² is scaled by the learnt tail. */
  tau_s: number;
  tailScale: boolean;
}

export function newSpectral(k: number, opts: { memory_s?: number; tailScale?: boolean } = {}): SpectralState {
  const tau = opts.memory_s ?? SPECTRAL_MEMORY_S;
  return { k, S: new Float64Array((k - 1) * (k - 1)), w: 0, ring: [], sum: new Float64Array(k - 1), sumLive: 0, sumDt: 0, lastD2: NaN, tailOver: 0, tailAll: 0, tau_s: tau, tailScale: opts.tailScale ?? true };
}

/**
 * Scale s ≥ 1 of D² learnt from the background samples: with p̂ the share of them over q(TAIL_P), the χ² point for
 * TAIL_P, s = q(TAIL_P)/q(p̂), so that D²/s is over q(TAIL_P) as often as a χ² would be. For a scale mixture the same s
 * carries the tail out to the alarm threshold roughly (exactly for 2 degrees of freedom and an exponential tail).
 */
export function spectralScale(st: SpectralState): number {
  if (!st.tailScale) return 1;
  const dof = st.k - 1;
  const p = (st.tailOver + TAIL_PRIOR * TAIL_P) / (st.tailAll + TAIL_PRIOR);
  if (!(p > TAIL_P)) return 1;
  return Math.min(SCALE_MAX, chiSquareUpper(dof, TAIL_P) / chiSquareUpper(dof, Math.min(p, 0.5)));
}

/** SCRs of one sample's window counts against background means (same live time). */
export function scrOf(counts: readonly number[], background: readonly number[]): Float64Array | undefined {
  const k = counts.length;
  const bk = background[k - 1]!;
  if (!(k >= 2) || !(bk > 0)) return undefined;
  const out = new Float64Array(k - 1);
  for (let i = 0; i < k - 1; i++) out[i] = counts[i]! - (background[i]! / bk) * counts[k - 1]!;
  return out;
}

/** Covariance of the SCRs per second of live time: the learnt one blended with the Poisson one (rates b_i/live). */
function covariance(st: SpectralState, rates: readonly number[]): Float64Array {
  const m = st.k - 1;
  const bk = rates[m]!;
  const C = new Float64Array(m * m);
  const wp = PRIOR_SAMPLES;
  for (let i = 0; i < m; i++) {
    const ai = rates[i]! / bk;
    for (let j = 0; j < m; j++) {
      const aj = rates[j]! / bk;
      const pois = (i === j ? rates[i]! : 0) + ai * aj * bk;
      C[i * m + j] = (wp * pois + st.S[i * m + j]!) / (wp + st.w);
      // Never below Poisson on the diagonal: few samples can make the learnt variance small by chance.
      if (i === j) C[i * m + j] = Math.max(C[i * m + j]!, pois);
    }
  }
  return C;
}

/** xᵀ C⁻¹ x by Cholesky (C is small, symmetric positive definite); NaN when C is not. */
function quadForm(C: Float64Array, x: Float64Array): number {
  const m = x.length;
  const L = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j <= i; j++) {
      let s = C[i * m + j]!;
      for (let p = 0; p < j; p++) s -= L[i * m + p]! * L[j * m + p]!;
      if (i === j) {
        if (!(s > 0)) return NaN;
        L[i * m + i] = Math.sqrt(s);
      } else L[i * m + j] = s / L[j * m + j]!;
    }
  }
  let q = 0;
  const y = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let s = x[i]!;
    for (let p = 0; p < i; p++) s -= L[i * m + p]! * y[p]!;
    y[i] = s / L[i * m + i]!;
    q += y[i]! * y[i]!;
  }
  return q;
}

/**
 * Adds a sample to the sliding window and returns D² of the window (NaN when it cannot be formed). `rates` are the
 * background's window rates (counts/s of live time), `windowCounts` the sample's counts, `live_s` its live time,
 * `varRel` the relative variance of each rate estimate: a young background's ratios are uncertain, which widens Σ by
 * b_i·b_j·L²·(δ_ij·v_i + v_k) (the error of α_i = b_i/b_k, common to the whole window).
 */
export function spectralStatistic(st: SpectralState, windowCounts: readonly number[], rates: readonly number[], live_s: number, dt_s: number, window_s: number, varRel: readonly number[] = []): number {
  const scr = scrOf(windowCounts, rates.map((r) => r * live_s));
  if (!scr) return NaN;
  st.ring.push({ scr, live: live_s, dt: dt_s });
  for (let i = 0; i < scr.length; i++) st.sum[i]! += scr[i]!;
  st.sumLive += live_s;
  st.sumDt += dt_s;
  while (st.ring.length > 1 && st.sumDt - st.ring[0]!.dt >= window_s - 1e-9) {
    const old = st.ring.shift()!;
    for (let i = 0; i < old.scr.length; i++) st.sum[i]! -= old.scr[i]!;
    st.sumLive -= old.live;
    st.sumDt -= old.dt;
  }
  const C = covariance(st, rates);
  const m = st.k - 1;
  const L = st.sumLive;
  const vk = varRel[m] ?? 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) C[i * m + j] = C[i * m + j]! * L + rates[i]! * rates[j]! * L * L * ((i === j ? (varRel[i] ?? 0) : 0) + vk);
  }
  st.lastD2 = quadForm(C, st.sum);
  return st.lastD2;
}

/**
 * Folds the newest window sum's SCRs into the learnt covariance, and its D² into the tail share (call only for
 * background samples, after spectralStatistic on the same sample). The window sums,
 * not single samples, are what is tested: a slow change of the soil's K/U/Th mix moves the SCRs' mean coherently over
 * a window, which single short samples would hide under their counting noise.
 */
export function learnSpectral(st: SpectralState, rates: readonly number[], dt_s: number): void {
  const live = st.sumLive;
  if (!(live > 0) || st.ring.length === 0) return;
  const last = { scr: st.sum, live };
  const m = st.k - 1;
  const C = covariance(st, rates);
  for (let i = 0; i < C.length; i++) C[i]! *= last.live;
  // Clip a window far out (a source's flank) to D² = CLIP_D2 so that it widens Σ by a bounded amount.
  const d2 = quadForm(C, last.scr);
  const scale = d2 > CLIP_D2 ? Math.sqrt(CLIP_D2 / d2) : 1;
  const f = Math.exp(-dt_s / Math.max(st.tau_s, MIN_MEMORY_SAMPLES * dt_s));
  if (Number.isFinite(st.lastD2)) {
    st.tailOver = st.tailOver * f + (st.lastD2 > chiSquareUpper(m, TAIL_P) ? 1 : 0);
    st.tailAll = st.tailAll * f + 1;
  }
  st.w = st.w * f + 1;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) st.S[i * m + j] = st.S[i * m + j]! * f + (scale * scale * last.scr[i]! * last.scr[j]!) / last.live;
  }
}

/** Clears the sliding window (the background restarted or an alarm ended). */
export function resetSpectralWindow(st: SpectralState): void {
  st.ring = [];
  st.sum.fill(0);
  st.sumLive = 0;
  st.sumDt = 0;
}

/** Standard normal upper quantile z with P(Z > z) = p (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalUpperQuantile(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const q = Math.min(Math.max(p, 1e-300), 1 - 1e-16);
  // Lower-tail quantile of 1 − q is the upper-tail quantile of q.
  const pl = 1 - q;
  const plow = 0.02425;
  let x: number;
  if (q < plow) {
    const r = Math.sqrt(-2 * Math.log(q));
    x = -(((((c[0]! * r + c[1]!) * r + c[2]!) * r + c[3]!) * r + c[4]!) * r + c[5]!) / ((((d[0]! * r + d[1]!) * r + d[2]!) * r + d[3]!) * r + 1);
    return x;
  }
  if (pl < plow) {
    const r = Math.sqrt(-2 * Math.log(pl));
    return (((((c[0]! * r + c[1]!) * r + c[2]!) * r + c[3]!) * r + c[4]!) * r + c[5]!) / ((((d[0]! * r + d[1]!) * r + d[2]!) * r + d[3]!) * r + 1);
  }
  const r0 = pl - 0.5;
  const r = r0 * r0;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * r0) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

/** χ² quantile with `dof` degrees of freedom exceeded with probability p: exact for 2 dof, Wilson–Hilferty otherwise. */
export function chiSquareUpper(dof: number, p: number): number {
  if (dof === 2) return -2 * Math.log(p);
  const z = normalUpperQuantile(p);
  const v = 2 / (9 * dof);
  return dof * Math.max(0, 1 - v + z * Math.sqrt(v)) ** 3;
}
