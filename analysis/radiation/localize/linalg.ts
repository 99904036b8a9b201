// Small dense linear algebra for the localizer: solving and inverting the few-parameter Fisher matrices, 3x3 eigenvectors.

/** Inverse of a square matrix by Gauss-Jordan with partial pivoting; undefined when (numerically) singular. */
export function invert(m: readonly (readonly number[])[]): number[][] | undefined {
  const n = m.length;
  const a = m.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  let scale = 0;
  for (const row of m) for (const v of row) scale = Math.max(scale, Math.abs(v));
  if (!(scale > 0) || !Number.isFinite(scale)) return undefined;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r][c]) > Math.abs(a[p][c])) p = r;
    if (!(Math.abs(a[p][c]) > scale * 1e-15)) return undefined;
    if (p !== c) [a[p], a[c]] = [a[c], a[p]];
    const inv = 1 / a[c][c];
    for (let j = 0; j < 2 * n; j++) a[c][j] *= inv;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = a[r][c];
      if (f === 0) continue;
      for (let j = 0; j < 2 * n; j++) a[r][j] -= f * a[c][j];
    }
  }
  return a.map((row) => row.slice(n));
}

/**
 * Inverse of a symmetric positive semi-definite matrix after scaling to unit diagonal, which keeps metres, counts
 * per second and background rates (six orders of magnitude apart) from ruining the pivoting.
 */
export function invertSpd(m: readonly (readonly number[])[]): number[][] | undefined {
  const n = m.length;
  const d = m.map((row, i) => (row[i] > 0 ? 1 / Math.sqrt(row[i]) : 1));
  const scaled = m.map((row, i) => row.map((v, j) => v * d[i] * d[j]));
  const inv = invert(scaled);
  if (inv === undefined) return undefined;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) inv[i][j] *= d[i] * d[j];
  return inv;
}

/** Solves (A) x = b for a small system; undefined when singular. */
export function solve(a: readonly (readonly number[])[], b: readonly number[]): number[] | undefined {
  const inv = invertSpd(a);
  if (inv === undefined) return undefined;
  return inv.map((row) => row.reduce((s, v, j) => s + v * b[j], 0));
}

/** Eigen decomposition of a symmetric 3x3 matrix (cyclic Jacobi): values descending, vectors as rows. */
export function eigenSym3(m: readonly (readonly number[])[]): { values: [number, number, number]; vectors: [[number, number, number], [number, number, number], [number, number, number]] } {
  const a = [0, 1, 2].map((i) => [0, 1, 2].map((j) => (m[i][j] + m[j][i]) / 2));
  const v = [
    [1, 0, 0],
    [0, 1, 0],
    [0, 0, 1],
  ];
  for (let sweep = 0; sweep < 50; sweep++) {
    const off = Math.abs(a[0][1]) + Math.abs(a[0][2]) + Math.abs(a[1][2]);
    if (off < 1e-30 + 1e-15 * (Math.abs(a[0][0]) + Math.abs(a[1][1]) + Math.abs(a[2][2]))) break;
    for (const [p, q] of [
      [0, 1],
      [0, 2],
      [1, 2],
    ] as const) {
      if (a[p][q] === 0) continue;
      const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
      const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1);
      const s = t * c;
      for (let k = 0; k < 3; k++) {
        const akp = a[k][p];
        const akq = a[k][q];
        a[k][p] = c * akp - s * akq;
        a[k][q] = s * akp + c * akq;
      }
      for (let k = 0; k < 3; k++) {
        const apk = a[p][k];
        const aqk = a[q][k];
        a[p][k] = c * apk - s * aqk;
        a[q][k] = s * apk + c * aqk;
      }
      for (let k = 0; k < 3; k++) {
        const vkp = v[k][p];
        const vkq = v[k][q];
        v[k][p] = c * vkp - s * vkq;
        v[k][q] = s * vkp + c * vkq;
      }
    }
  }
  const order = [0, 1, 2].sort((i, j) => a[j][j] - a[i][i]);
  const values = order.map((i) => a[i][i]) as [number, number, number];
  const vectors = order.map((i) => [v[0][i], v[1][i], v[2][i]]) as [[number, number, number], [number, number, number], [number, number, number]];
  return { values, vectors };
}
