// Over-dispersion of a count series against its background prediction, learnt from the samples that precede the test.
//
// Real backgrounds are not Poisson about the estimate that tests use: the ground changes under a moving vehicle, a
// portal's occupancy shields part of the sky, gain and temperature drift, cosmic showers hit several detectors at
// once. A summed 8-log test at 1 s expects ~19,000 counts; a background 0.4 % above its estimate already gives its
// SPRT a positive drift (shift·ε·√μ0 > shift²/2), so a test that assumes Poisson alarms on drift and stays in alarm.
// The factor φ = Var(n − μ̂)/μ̂ is estimated here from the residuals the test itself sees (n against the trailing,
// guard-gapped estimate), on single samples and on blocks of ~4 s (drift and correlated excursions show up in the
// blocks, not in single samples), and the larger one is used. Residuals are clipped at ±k·√(φμ̂) so that a source
// passing by (whose samples the caller keeps out anyway while it alarms) cannot inflate φ by much.

/** EW time constant of the dispersion estimate, seconds of data. */
const TAU_S = 120;
/** Pseudo-samples of φ = 1 it starts from (a prior worth ~10 single samples and 3 blocks). */
const PRIOR_SAMPLES = 10;
const PRIOR_BLOCKS = 3;
const BLOCK_S = 4;
const CLIP_K = 4;
const PHI_MAX = 1000;

export interface DispersionState {
  /** EW weight and EW sum of squared standardised single-sample residuals (×φ in use). */
  w1: number;
  s1: number;
  wB: number;
  sB: number;
  /** The block being gathered: summed clipped residuals, summed μ̂, its duration. */
  bDev: number;
  bMu: number;
  bDur: number;
}

export function newDispersion(): DispersionState {
  return { w1: PRIOR_SAMPLES, s1: PRIOR_SAMPLES, wB: PRIOR_BLOCKS, sB: PRIOR_BLOCKS, bDev: 0, bMu: 0, bDur: 0 };
}

/** φ ≥ 1: the larger of the single-sample and block estimates. */
export function dispersionOf(d: DispersionState): number {
  return Math.min(PHI_MAX, Math.max(1, d.s1 / d.w1, d.sB / d.wB));
}

/** Folds one background sample in: n counts against the prediction mu over `dt_s` seconds of data. */
export function updateDispersion(d: DispersionState, n: number, mu: number, dt_s: number): void {
  if (!(mu > 0) || !(dt_s > 0)) return;
  const phi = dispersionOf(d);
  const lim = CLIP_K * Math.sqrt(phi * mu);
  const dev = Math.max(-lim, Math.min(lim, n - mu));
  const f = Math.exp(-dt_s / TAU_S);
  d.w1 = d.w1 * f + 1;
  d.s1 = d.s1 * f + (dev * dev) / mu;
  d.bDev += dev;
  d.bMu += mu;
  d.bDur += dt_s;
  if (d.bDur >= BLOCK_S) {
    const fb = Math.exp(-d.bDur / TAU_S);
    d.wB = d.wB * fb + 1;
    d.sB = d.sB * fb + (d.bDev * d.bDev) / d.bMu;
    d.bDev = 0;
    d.bMu = 0;
    d.bDur = 0;
  }
}
