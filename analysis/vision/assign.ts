// Minimum-cost assignment (Hungarian method with potentials) and box IoU, for the tracker and the metrics.
import type { Box } from './scene.js';

export function boxIou(a: readonly number[], b: readonly number[]): number {
  const ix = Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!);
  const iy = Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!);
  if (ix <= 0 || iy <= 0) return 0;
  const inter = ix * iy;
  const ua = (a[2]! - a[0]!) * (a[3]! - a[1]!) + (b[2]! - b[0]!) * (b[3]! - b[1]!) - inter;
  return ua > 0 ? inter / ua : 0;
}

/**
 * Pairs rows with columns so the summed cost is least, leaving out any pair whose cost exceeds `maxCost`.
 * `cost[r][c]`; Infinity marks a forbidden pair. Returns [row, col] pairs. O(n²m) for n ≤ m.
 */
export function assign(cost: number[][], maxCost: number): [number, number][] {
  const rows = cost.length;
  const cols = rows > 0 ? cost[0]!.length : 0;
  if (rows === 0 || cols === 0) return [];
  const transposed = rows > cols;
  const n = transposed ? cols : rows;
  const m = transposed ? rows : cols;
  // Forbidden and over-limit pairs get a large finite cost so the algorithm stays total; they are dropped after.
  const BIG = 1e6;
  const at = (i: number, j: number): number => {
    const v = transposed ? cost[j]![i]! : cost[i]![j]!;
    return Number.isFinite(v) && v <= maxCost ? v : BIG;
  };
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1); // p[j]: row (1-based) matched to column j
  const way = new Int32Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    const minv = new Float64Array(m + 1).fill(Infinity);
    const used = new Uint8Array(m + 1);
    do {
      used[j0] = 1;
      const i0 = p[j0]!;
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = at(i0 - 1, j - 1) - u[i0]! - v[j]!;
        if (cur < minv[j]!) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j]! < delta) {
          delta = minv[j]!;
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          u[p[j]!] = u[p[j]!]! + delta;
          v[j] = v[j]! - delta;
        } else minv[j] = minv[j]! - delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0]!;
      p[j0] = p[j1]!;
      j0 = j1;
    } while (j0 !== 0);
  }
  const out: [number, number][] = [];
  for (let j = 1; j <= m; j++) {
    const i = p[j]!;
    if (i === 0) continue;
    const r = transposed ? j - 1 : i - 1;
    const c = transposed ? i - 1 : j - 1;
    const x = cost[r]![c]!;
    if (Number.isFinite(x) && x <= maxCost) out.push([r, c]);
  }
  return out.sort((a, b) => a[0] - b[0]);
}

export function boxCentre(b: Box | readonly number[]): [number, number] {
  return [(b[0]! + b[2]!) / 2, (b[1]! + b[3]!) / 2];
}
