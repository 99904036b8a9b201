// The localizer proper: a whole drive at once (localize) or measurement by measurement (StreamingLocalizer), both over the same voxel grid and likelihood.

import {
  type AreaOptions,
  type BackgroundPrior,
  DEFAULTS,
  Dataset,
  type LocalizeOptions,
  type RefineResult,
  type Solution,
  type State,
  VoxelGrid,
  areaFor,
  backgroundOnly,
  backgroundPrior,
  bestWithNewSource,
  checkMirrors,
  clippedBackground,
  covariance,
  fillGrid,
  logLikelihood,
  refine,
  toResult,
} from './estimate.js';
import type { LocMeasurement, LocalizeResult } from './types.js';

export type { LocalizeOptions, AreaOptions } from './estimate.js';

function finish(ds: Dataset, opts: LocalizeOptions, best: { state: State; ll: number }, ll0: number, prior: BackgroundPrior): Solution {
  const m = checkMirrors(ds, opts.model, best, prior);
  return { state: m.state, ll: m.ll, ll0, cov: covariance(ds, opts.model, m.state, prior), mirrors: m.mirrors };
}

/**
 * Greedy sparse maximum likelihood over a filled grid: the best single source, then more while each adds at least
 * `addThreshold` to 2 ln L; the first must beat background only by `detectThreshold` or the answer is "no source".
 */
function solveDataset(ds: Dataset, opts: LocalizeOptions, grid: VoxelGrid, prior: BackgroundPrior, warm?: State): { sol?: Solution; reason?: string; b0: State } {
  const model = opts.model;
  const b0 = backgroundOnly(ds, prior);
  const ll0 = logLikelihood(ds, model, b0, prior);
  const candidates = grid.top(3).map((c) => ({ x_m: c.x_m, y_m: c.y_m, z_m: c.z_m, cps_at_1m: c.cps_at_1m }));
  let best: RefineResult | undefined = bestWithNewSource(ds, model, b0, candidates, prior);
  if (warm !== undefined && warm.sources.length > 0) {
    const w = refine(ds, model, warm, prior);
    if (best === undefined || w.ll > best.ll) best = w;
  }
  const threshold = opts.detectThreshold ?? DEFAULTS.detectThreshold;
  if (best === undefined || 2 * (best.ll - ll0) < threshold) {
    const lr = best === undefined ? 0 : 2 * (best.ll - ll0);
    return { b0, reason: `no source: 2 ln(L_source / L_background) = ${lr.toFixed(1)} is below the threshold ${threshold}` };
  }
  const maxSources = opts.maxSources ?? DEFAULTS.maxSources;
  const addThreshold = opts.addThreshold ?? DEFAULTS.addThreshold;
  let state = best.state;
  let ll = best.ll;
  while (state.sources.length < maxSources) {
    fillGrid(grid, ds, state);
    const near = (c: { x_m: number; y_m: number }): boolean => state.sources.some((s) => Math.hypot(s.x_m - c.x_m, s.y_m - c.y_m) < 2 * grid.step_m);
    const cands = grid.top(4).filter((c) => !near(c)).slice(0, 3).map((c) => ({ x_m: c.x_m, y_m: c.y_m, z_m: c.z_m, cps_at_1m: c.cps_at_1m }));
    if (cands.length === 0) break;
    const r = bestWithNewSource(ds, model, state, cands, prior);
    if (r === undefined || 2 * (r.ll - ll) < addThreshold) break;
    // Two sources converging onto one point is one source split in two, not a second source.
    const ss = r.state.sources;
    let split = false;
    for (let a = 0; a < ss.length; a++) for (let c = a + 1; c < ss.length; c++) if (Math.hypot(ss[a].x_m - ss[c].x_m, ss[a].y_m - ss[c].y_m, ss[a].z_m - ss[c].z_m) < 1) split = true;
    if (split) break;
    state = r.state;
    ll = r.ll;
  }
  return { b0, sol: finish(ds, opts, { state, ll }, ll0, prior) };
}

/** Localizes the sources of a whole drive (batch). */
export function localize(ms: readonly LocMeasurement[], opts: LocalizeOptions): LocalizeResult {
  const ds = new Dataset(opts.model);
  for (const m of ms) ds.push(m);
  const warnings = [...(opts.warnings ?? [])];
  if (ds.n === 0) return toResult(opts, ds, undefined, { reason: 'no measurements', warnings });
  const prior = backgroundPrior(ds, opts.priorCounts ?? DEFAULTS.priorCounts);
  const grid = new VoxelGrid(opts.model, areaFor(ds, opts.area));
  fillGrid(grid, ds, { sources: [], b: clippedBackground(ds).rate });
  const r = solveDataset(ds, opts, grid, prior);
  return toResult(opts, ds, r.sol, { ...(r.reason !== undefined ? { reason: r.reason } : {}), warnings, background: r.b0.b });
}

export interface StreamingOptions extends LocalizeOptions {
  /** Live time each detector needs before the first estimate (s, default 5): the background must be known first. */
  minBackgroundLive_s?: number;
  /** Full restarts from the grid's best voxels every this many updates (default 10); warm starts in between. */
  restartEvery?: number;
  /**
   * Mirror check every this many updates (default 5) or when the estimate moved by more than 1 m: it costs a whole
   * refit, and one more second of data rarely turns an ambiguity around.
   */
  mirrorEvery?: number;
}

/**
 * Incremental localizer: each update adds the new measurements to the voxel grid (one pass over the voxels per
 * detector reading), then refines the current single-source estimate from where it was (warm start), with full
 * restarts from the grid every few updates. Further sources are searched in `result({ multi: true })` (a pass
 * over all the data), not at every update.
 */
export class StreamingLocalizer {
  private readonly ds: Dataset;
  private grid: VoxelGrid | undefined;
  private gridB: number[] = [];
  private inGrid = 0;
  private current: State | undefined;
  private updates = 0;
  private last: LocalizeResult | undefined;
  private lastTry: { llr: number; update: number } | undefined;
  private lastMirror: { at: State; mirrors: ReturnType<typeof checkMirrors>['mirrors']; update: number } | undefined;

  constructor(private readonly opts: StreamingOptions) {
    this.ds = new Dataset(opts.model);
  }

  get size(): number {
    return this.ds.n;
  }

  /** Adds measurements (one reading of each detector, typically) and returns the updated estimate. */
  push(ms: LocMeasurement | readonly LocMeasurement[]): LocalizeResult {
    const list = Array.isArray(ms) ? (ms as readonly LocMeasurement[]) : [ms as LocMeasurement];
    for (const m of list) this.ds.push(m);
    this.updates++;
    const ds = this.ds;
    const opts = this.opts;
    const warnings = [...(opts.warnings ?? [])];
    const bg = clippedBackground(ds);
    const need = opts.minBackgroundLive_s ?? 5;
    if (bg.liveTime.some((T) => T < need)) {
      return (this.last = toResult(opts, ds, undefined, { reason: 'collecting background', warnings, background: bg.rate }));
    }
    const prior = backgroundPrior(ds, opts.priorCounts ?? DEFAULTS.priorCounts);
    this.updateGrid(bg.rate);
    const grid = this.grid!;
    const model = opts.model;
    const b0 = backgroundOnly(ds, prior);
    const ll0 = logLikelihood(ds, model, b0, prior);
    const threshold = opts.detectThreshold ?? DEFAULTS.detectThreshold;
    let best: RefineResult | undefined;
    if (this.current !== undefined) {
      const start: State = { sources: this.current.sources, b: ds.detIds.map((_, d) => this.current!.b[d] ?? b0.b[d]) };
      best = refine(ds, model, start, prior, { maxIter: 20 });
    }
    const top = grid.top(3);
    // Full restarts cost a few refinements: only when there is no estimate yet, or periodically when the grid's best
    // voxel is away from the current estimate (a second source or a better optimum appearing).
    const away = top.length > 0 && this.current !== undefined && this.current.sources.every((s) => Math.hypot(s.x_m - top[0].x_m, s.y_m - top[0].y_m) > 2 * grid.step_m);
    // Before the first estimate, a refit only when the grid's evidence grew since the last try (or every few updates).
    const fresh = top.length > 0 && (this.lastTry === undefined || top[0].llr > this.lastTry.llr + 2 || this.updates - this.lastTry.update >= 5);
    const restart = (this.current === undefined && fresh) || (this.updates % (opts.restartEvery ?? 10) === 0 && away);
    if (restart && top.length > 0) this.lastTry = { llr: top[0].llr, update: this.updates };
    if (restart) {
      // Nothing in the grid comes near the threshold: skip the refits (the grid's ratio is a lower bound of the fitted one).
      if (top.length > 0 && 2 * top[0].llr >= 0.3 * threshold) {
        const keep = this.current?.sources.slice(1) ?? [];
        const r = bestWithNewSource(ds, model, { sources: keep, b: b0.b }, top.map((c) => ({ x_m: c.x_m, y_m: c.y_m, z_m: c.z_m, cps_at_1m: c.cps_at_1m })), prior);
        if (r !== undefined && (best === undefined || r.ll > best.ll)) best = r;
      }
    }
    if (best === undefined || 2 * (best.ll - ll0) < threshold) {
      if (best !== undefined) this.current = best.state;
      const lr = best === undefined ? 0 : 2 * (best.ll - ll0);
      return (this.last = toResult(opts, ds, undefined, { reason: `no source: 2 ln(L_source / L_background) = ${lr.toFixed(1)} is below the threshold ${threshold}`, warnings, background: b0.b }));
    }
    const lm = this.lastMirror;
    const stale =
      lm === undefined ||
      lm.at.sources.length !== best.state.sources.length ||
      this.updates - lm.update >= (opts.mirrorEvery ?? 5) ||
      best.state.sources.some((s, k) => Math.hypot(s.x_m - lm.at.sources[k].x_m, s.y_m - lm.at.sources[k].y_m, s.z_m - lm.at.sources[k].z_m) > 1);
    const m = stale ? checkMirrors(ds, model, best, prior) : { state: best.state, ll: best.ll, mirrors: lm.mirrors };
    if (stale) this.lastMirror = { at: m.state, mirrors: m.mirrors, update: this.updates };
    this.current = m.state;
    const sol: Solution = { state: m.state, ll: m.ll, ll0, cov: covariance(ds, model, m.state, prior), mirrors: m.mirrors };
    return (this.last = toResult(opts, ds, sol, { warnings }));
  }

  /** The latest estimate; with `multi` a full greedy search for further sources over all the data so far. */
  result(o: { multi?: boolean } = {}): LocalizeResult {
    if (o.multi !== true && this.last !== undefined) return this.last;
    const ds = this.ds;
    const warnings = [...(this.opts.warnings ?? [])];
    if (ds.n === 0) return toResult(this.opts, ds, undefined, { reason: 'no measurements', warnings });
    const prior = backgroundPrior(ds, this.opts.priorCounts ?? DEFAULTS.priorCounts);
    const grid = new VoxelGrid(this.opts.model, this.grid !== undefined ? this.areaOf() : areaFor(ds, this.opts.area));
    fillGrid(grid, ds, { sources: [], b: clippedBackground(ds).rate });
    const r = solveDataset(ds, this.opts, grid, prior, this.current);
    if (r.sol !== undefined) this.current = r.sol.state;
    return (this.last = toResult(this.opts, ds, r.sol, { ...(r.reason !== undefined ? { reason: r.reason } : {}), warnings, background: r.b0.b }));
  }

  private areaOf(): ReturnType<typeof areaFor> {
    return areaFor(this.ds, { ...this.opts.area, center: this.opts.area?.center ?? { x_m: this.ds.x[0], y_m: this.ds.y[0] } });
  }

  private updateGrid(rate: number[]): void {
    const ds = this.ds;
    // The grid's ratios were taken against the background known when each reading came in; when that estimate has
    // moved by more than its own noise and 20 %, the grid is rebuilt (a coarse search tolerates less exact ratios) against the new one.
    const moved = rate.some((r, d) => {
      const old = this.gridB[d];
      if (old === undefined) return true;
      return Math.abs(r - old) > Math.max(0.2 * old, 3 * Math.sqrt(old / Math.max(1, this.liveOf(d))));
    });
    if (this.grid === undefined) this.grid = new VoxelGrid(this.opts.model, this.areaOf());
    if (moved) {
      this.gridB = [...rate];
      this.inGrid = 0;
      this.grid.reset();
    }
    const grid = this.grid;
    for (let i = this.inGrid; i < ds.n; i++) {
      const base = ds.tau[i] * this.gridB[ds.det[i]];
      if (base > 0) grid.add(ds.x[i], ds.y[i], ds.z[i], ds.tau[i], ds.eff[i], ds.counts[i], base);
    }
    this.inGrid = ds.n;
  }

  private liveOf(d: number): number {
    let T = 0;
    for (let i = 0; i < this.ds.n; i++) if (this.ds.det[i] === d) T += this.ds.tau[i];
    return T;
  }
}
