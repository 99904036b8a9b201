// Connected regions of a pixel mask with their attenuation statistics: the dense-object rules and the materials
// stage's dense organic mass both look for them.

/** One 4-connected region: its pixel count, the sum and sum of squares of `a` over it, and its bounding box. */
export interface Component {
  pixels: number;
  sumA: number;
  sumA2: number;
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** 4-connected components of `mask`, each as its pixel indices' statistics. */
export function components(mask: Uint8Array, a: Float32Array, width: number, height: number, minPixels: number): Component[] {
  const n = width * height;
  const seen = new Uint8Array(n);
  const stack = new Int32Array(n);
  const out: Component[] = [];
  for (let s = 0; s < n; s++) {
    if (seen[s] || !mask[s]) continue;
    let top = 0;
    let count = 0;
    stack[top++] = s;
    seen[s] = 1;
    let sumA = 0;
    let sumA2 = 0;
    let x0 = width;
    let y0 = height;
    let x1 = 0;
    let y1 = 0;
    while (top > 0) {
      const i = stack[--top]!;
      count++;
      const v = a[i]!;
      sumA += v;
      sumA2 += v * v;
      const x = i % width;
      const y = (i - x) / width;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
      if (x > 0 && !seen[i - 1] && mask[i - 1]) {
        seen[i - 1] = 1;
        stack[top++] = i - 1;
      }
      if (x < width - 1 && !seen[i + 1] && mask[i + 1]) {
        seen[i + 1] = 1;
        stack[top++] = i + 1;
      }
      if (y > 0 && !seen[i - width] && mask[i - width]) {
        seen[i - width] = 1;
        stack[top++] = i - width;
      }
      if (y < height - 1 && !seen[i + width] && mask[i + width]) {
        seen[i + width] = 1;
        stack[top++] = i + width;
      }
    }
    if (count >= minPixels) out.push({ pixels: count, sumA, sumA2, x0, y0, x1, y1 });
  }
  return out;
}
