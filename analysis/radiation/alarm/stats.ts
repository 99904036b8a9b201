// Exact intervals for reporting measured alarm rates and detection probabilities.
import { InputError } from '../../../common/errors.js';
import { logFactorial } from './sprt.js';


function poissonCdfAt(k: number, mean: number): number {
  // P(N ≤ k), summed in log space (k is a count of alarms: small).
  if (mean === 0) return 1;
  let term = Math.exp(-mean);
  let sum = term;
  for (let i = 1; i <= k; i++) {
    term *= mean / i;
    sum += term;
  }
  return Math.min(1, sum);
}

/** Exact (Garwood) 95 % interval of a Poisson rate: k events in `exposure` (hours, passes…). */
export function poissonRateInterval(k: number, exposure: number, level = 0.95): [number, number] {
  const tail = (1 - level) / 2;
  const solve = (g: (m: number) => number): number => {
    let lo = 0;
    let hi = Math.max(10, 3 * k + 20);
    for (let i = 0; i < 200; i++) {
      const mid = (lo + hi) / 2;
      if (g(mid) > 0) lo = mid;
      else hi = mid;
    }
    return (lo + hi) / 2;
  };
  // Lower: P(N ≥ k | m) = tail; upper: P(N ≤ k | m) = tail.
  const lower = k === 0 ? 0 : solve((m) => tail - (1 - poissonCdfAt(k - 1, m)));
  const upper = solve((m) => poissonCdfAt(k, m) - tail);
  return [lower / exposure, upper / exposure];
}

function binomialCdfAt(k: number, n: number, p: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  const lp = Math.log(p);
  const lq = Math.log1p(-p);
  let sum = 0;
  for (let i = 0; i <= k; i++) sum += Math.exp(logFactorial(n) - logFactorial(i) - logFactorial(n - i) + i * lp + (n - i) * lq);
  return Math.min(1, sum);
}

/** Exact (Clopper–Pearson) 95 % interval of a proportion k/n. */
export function binomialInterval(k: number, n: number, level = 0.95): [number, number] {
  if (!(n > 0) || k < 0 || k > n) throw new InputError(`binomialInterval: expected 0 <= k <= n, n > 0, got ${k}/${n}`);
  const tail = (1 - level) / 2;
  const bisect = (g: (p: number) => number): number => {
    let lo = 0;
    let hi = 1;
    for (let i = 0; i < 100; i++) {
      const mid = (lo + hi) / 2;
      if (g(mid) > 0) lo = mid;
      else hi = mid;
    }
    return (lo + hi) / 2;
  };
  const lower = k === 0 ? 0 : bisect((p) => tail - (1 - binomialCdfAt(k - 1, n, p)));
  const upper = k === n ? 1 : bisect((p) => binomialCdfAt(k, n, p) - tail);
  return [lower, upper];
}

