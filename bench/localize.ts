// Bench: 3D localization speed: streaming update time per measurement over a 200 x 200 x 10 m area, and a whole 10-minute drive (batch, streaming, from N42 files).
//
// Drive: tenMinuteSpec (analysis/radiation/localize/scenarios.ts): a vehicle with three detectors (2x2 NaI at 0.5 m,
// 2x4x16 NaI log at 1.5 m, 2x2 NaI at 2.8 m) lapping a 12 x 30 m container block at 4 m/s for 10 minutes, one
// measurement per second, 50 MBq Cs-137 3 m high in the block. One "update" = the three detector readings of one
// second pushed into the StreamingLocalizer (grid of 5 m x 5 m x 3 layers over 200 x 200 x 10 m, warm-started
// refinement, mirror check and 95 % region every update).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localizeDriveFiles } from '../edge/cli/rad-localize.js';
import { localize, StreamingLocalizer } from '../analysis/radiation/localize/localize.js';
import { buildScenario, tenMinuteSpec } from '../analysis/radiation/localize/scenarios.js';
import type { LocMeasurement } from '../analysis/radiation/localize/types.js';
import { writeDriveN42 } from '../devices/radiation/files.js';

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

export async function benchLocalize(opts: { quick: boolean }, report: (name: string, value: string) => void): Promise<void> {
  const spec = tenMinuteSpec();
  const sc = buildScenario(opts.quick ? { ...spec, trajectory: { duration_s: 120, at: spec.trajectory.at.bind(spec.trajectory) } } : spec);
  const seconds = sc.measurements.length;
  const byT = new Map<number, LocMeasurement[]>();
  for (const m of sc.input.measurements) byT.set(m.t_s, [...(byT.get(m.t_s) ?? []), m]);
  const steps = [...byT.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);

  const loc = new StreamingLocalizer({ origin: sc.input.origin, model: sc.input.model, nuclide: 'Cs137', area: { center: { x_m: 0, y_m: 0 }, size_m: [200, 200, 10] } });
  const times: number[] = [];
  const t0 = performance.now();
  let last;
  for (const ms of steps) {
    const a = performance.now();
    last = loc.push(ms);
    times.push(performance.now() - a);
  }
  const streamTotal = (performance.now() - t0) / 1000;
  times.sort((a, b) => a - b);
  const truth = sc.truth.sources[0];
  const s = last?.sources[0];
  report(`streaming update, median (ms per measurement of 3 detectors, ${steps.length} updates)`, quantile(times, 0.5).toFixed(2));
  report('streaming update, p99 (ms)', quantile(times, 0.99).toFixed(2));
  report('streaming update, max (ms)', times[times.length - 1].toFixed(2));
  report(`streaming: whole ${seconds}-s drive (s)`, streamTotal.toFixed(2));
  if (s !== undefined) report('streaming: final position error (m)', Math.hypot(s.x_m - truth.x_m, s.y_m - truth.y_m, s.z_m - truth.z_m).toFixed(2));

  const b0 = performance.now();
  const batch = localize(sc.input.measurements, { origin: sc.input.origin, model: sc.input.model, nuclide: 'Cs137', area: { center: { x_m: 0, y_m: 0 } } });
  report(`batch: whole ${seconds}-s drive, ${sc.input.measurements.length} readings, up to 3 sources (s)`, ((performance.now() - b0) / 1000).toFixed(2));
  const bs = batch.sources[0];
  if (bs !== undefined) report('batch: position error (m)', Math.hypot(bs.x_m - truth.x_m, bs.y_m - truth.y_m, bs.z_m - truth.z_m).toFixed(2));

  if (!opts.quick) {
    const dir = await mkdtemp(join(tmpdir(), 'bench-localize-'));
    try {
      await writeDriveN42(dir, sc.measurements, { detectors: sc.detectors });
      const f0 = performance.now();
      await localizeDriveFiles([dir], { nuclide: 'Cs137' });
      report(`from ${seconds} N42 files (read + ROI + batch localize) (s)`, ((performance.now() - f0) / 1000).toFixed(2));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
