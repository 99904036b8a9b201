// Plane polygons for camera zones and exclusion masks: containment, and the checks a config's polygons must pass.
// Pure: coordinates in, answers out (normalised or pixel coordinates alike).

export type Point = readonly [number, number];

/** Even-odd rule; a point exactly on an edge may fall either way, which a floor zone can afford. */
export function pointInPolygon(x: number, y: number, poly: readonly Point[]): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i]!;
    const [xj, yj] = poly[j]!;
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** True when (x, y) lies inside any of `polys`. */
export function inAnyPolygon(x: number, y: number, polys: readonly (readonly Point[])[]): boolean {
  return polys.some((p) => pointInPolygon(x, y, p));
}

/** Signed area (shoelace): positive counter-clockwise in a y-up frame. */
export function polygonArea(poly: readonly Point[]): number {
  let a = 0;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) a += (poly[j]![0] * poly[i]![1] - poly[i]![0] * poly[j]![1]) / 2;
  return a;
}

function orient(a: Point, b: Point, c: Point): number {
  const v = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
  return Math.abs(v) < 1e-12 ? 0 : Math.sign(v);
}

function onSegment(a: Point, b: Point, p: Point): boolean {
  return Math.min(a[0], b[0]) - 1e-12 <= p[0] && p[0] <= Math.max(a[0], b[0]) + 1e-12 && Math.min(a[1], b[1]) - 1e-12 <= p[1] && p[1] <= Math.max(a[1], b[1]) + 1e-12;
}

/** Segments ab and cd share at least one point (touching counts). */
function segmentsMeet(a: Point, b: Point, c: Point, d: Point): boolean {
  const o1 = orient(a, b, c);
  const o2 = orient(a, b, d);
  const o3 = orient(c, d, a);
  const o4 = orient(c, d, b);
  if (o1 !== o2 && o3 !== o4) return true;
  return (o1 === 0 && onSegment(a, b, c)) || (o2 === 0 && onSegment(a, b, d)) || (o3 === 0 && onSegment(c, d, a)) || (o4 === 0 && onSegment(c, d, b));
}

/**
 * What is wrong with a polygon as a zone or mask outline, or undefined when it is usable. A polygon whose edges
 * cross covers a different area under the even-odd rule than the technician drew (a bow tie leaves its middle
 * out), so it is refused rather than guessed at; so is one with no area, which can contain nothing.
 */
export function polygonProblem(poly: readonly Point[]): string | undefined {
  const n = poly.length;
  if (n < 3) return `expected at least 3 vertices, got ${n}`;
  for (let i = 0; i < n; i++) {
    const a = poly[i]!;
    const b = poly[(i + 1) % n]!;
    if (a[0] === b[0] && a[1] === b[1]) return `vertices ${i} and ${(i + 1) % n} are the same point`;
  }
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const adjacent = j === i + 1 || (i === 0 && j === n - 1);
      const [a, b] = [poly[i]!, poly[(i + 1) % n]!];
      const [c, d] = [poly[j]!, poly[(j + 1) % n]!];
      if (adjacent) {
        // Neighbours share a vertex; they overlap only when one folds back along the other.
        const shared = j === i + 1 ? b : a;
        const fa = j === i + 1 ? a : b;
        const fb = j === i + 1 ? d : c;
        if (orient(fa, shared, fb) === 0 && (fa[0] - shared[0]) * (fb[0] - shared[0]) + (fa[1] - shared[1]) * (fb[1] - shared[1]) > 0) {
          return `edges ${i} and ${j} fold back over each other`;
        }
        continue;
      }
      if (segmentsMeet(a, b, c, d)) return `edges ${i} (vertex ${i}→${(i + 1) % n}) and ${j} (vertex ${j}→${(j + 1) % n}) cross: the outline intersects itself`;
    }
  }
  if (Math.abs(polygonArea(poly)) < 1e-9) return 'expected a polygon with an area, got one whose vertices lie on a line';
  return undefined;
}

/**
 * Every zone and exclusion mask of a camera config checked as an outline, as `path: problem` lines (`root` is the
 * options' path, e.g. `pipelines/hall/options`), so a technician reads which polygon to fix.
 */
export function configPolygonProblems(
  o: { zones: readonly { polygon: readonly Point[] }[]; cameras: readonly { exclude?: readonly (readonly Point[])[] | undefined }[] },
  root: string,
): string[] {
  const out: string[] = [];
  o.zones.forEach((z, i) => {
    const p = polygonProblem(z.polygon);
    if (p) out.push(`${root}/zones/${i}/polygon: ${p}`);
  });
  o.cameras.forEach((c, i) =>
    (c.exclude ?? []).forEach((m, k) => {
      const p = polygonProblem(m);
      if (p) out.push(`${root}/cameras/${i}/exclude/${k}: ${p}`);
    }),
  );
  return out;
}
