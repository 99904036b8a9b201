// Bench: radiation alarms on real background recordings, on simulated drives whose background changes along the way,
// and the CPU time of `rad alarm` on a 2-minute 8-detector 4 Hz recording.
//
// Real data (read at run time, never copied into the project; missing files are skipped and said so):
// - RadiaCode-102 spectrogram K40.rcspg (ckuethe/radiacode-tools tests/data, MIT): 689 spectra of ~60 s, 1024
//   channels, 11.5 h of a 10 mm CsI:Tl next to a potassium sample, a real time series (gain and temperature drift,
//   whatever the room did). Replayed through the chain exactly as `rad alarm` does (replayMeasurements).
//   Found under $CUSTOMS_REFDATA/rcspg/K40.rcspg or at $RAD_RCSPG.
// - InterSpec example background (sandialabs/InterSpec example_spectra, LGPL-2.1; in the shared data): 8 HPGe portal
//   panels, 600 s each. Only its spectral shape is real: each panel's window counts are split over 0.25 s samples at
//   random (Poisson thinning), repeated with new seeds for more hours. It checks the tests on a real spectrum shape
//   with pure counting statistics; it cannot show drift.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_WINDOWS, binomialInterval, createAlarmMonitor, poissonRateInterval, windowChannels, windowCounts, type AlarmDecision, type AlarmMonitor, type AlarmOptions, type DetectorSample } from '../analysis/radiation/alarm/index.js';
import { CHAIN_DEFAULTS } from '../analysis/radiation/chain.js';
import { replayMeasurements } from '../analysis/radiation/chain-replay.js';
import { DETECTORS } from '../analysis/radiation/dose.js';
import { parseN42, parseRadText, writeN42 } from '../analysis/radiation/formats/index.js';
import { detectorPosition, expectedRates, mulberry32, poisson, type Scene } from '../analysis/radiation/sim/scene.js';
import { simulateDrive, soilProfile, straightPass, trajectoryPoses } from '../analysis/radiation/sim/drive.js';
import type { Measurement } from '../analysis/radiation/spectrum.js';
import { benchVehicle, windowMeans } from './radiation-vehicle.js';

export interface RealFar {
  data: string;
  licence: string;
  how: string;
  hours: number;
  configured_per_h: number;
  alarms: number;
  measured_per_h: number;
  ci95_per_h: [number, number];
  /** Tests that alarmed, with counts. */
  tests: Record<string, number>;
}

const refDir = (): string => resolve(process.env.CUSTOMS_REFDATA ?? join('..', 'shared', 'data'));

/** A RadiaCode .rcspg spectrogram as measurements: one per row, calibration from the header's spectrum block. */
export function parseRcspg(text: string, source: string): Measurement[] {
  const lines = text.split(/\r?\n/);
  const head = lines[0] ?? '';
  const channels = Number(/Channels:\s*(\d+)/.exec(head)?.[1]);
  if (!(channels > 0)) throw new Error(`${source}: line 1: expected "Channels: N" in the spectrogram header`);
  // Line 2: "Spectrum: " then bytes: u32 duration, three float32 calibration coefficients (little-endian), counts.
  const hex = (lines[1] ?? '').replace(/^Spectrum:\s*/, '').trim().split(/\s+/).map((h) => parseInt(h, 16));
  if (hex.length < 16 || hex.some((b) => !(b >= 0 && b <= 255))) throw new Error(`${source}: line 2: expected the hex spectrum block with the calibration`);
  const dv = new DataView(Uint8Array.from(hex).buffer);
  const coefficients = [dv.getFloat32(4, true), dv.getFloat32(8, true), dv.getFloat32(12, true)];
  const out: Measurement[] = [];
  for (let i = 2; i < lines.length; i++) {
    const f = lines[i]!.split('\t');
    if (f.length < 3) continue;
    // Windows FILETIME: 100 ns ticks since 1601-01-01.
    const ms = Number(f[0]) / 1e4 - 11644473600000;
    const dur = Number(f[1]);
    if (!Number.isFinite(ms) || !(dur > 0)) throw new Error(`${source}: line ${i + 1}: expected a timestamp and a duration`);
    // Rows stop at their last non-zero channel.
    const counts = new Float64Array(channels);
    for (let k = 2; k < f.length && k - 2 < channels; k++) counts[k - 2] = Number(f[k]) || 0;
    out.push({ id: `r${i - 1}`, startTime: new Date(ms).toISOString(), realTime_s: dur, class: 'Foreground', spectra: [{ detector: 'RC-102', counts, liveTime_s: dur, realTime_s: dur, calibration: { coefficients } }], grossCounts: [] });
  }
  return out;
}

function tally(alarms: readonly { body: { test: string } }[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const a of alarms) t[a.body.test] = (t[a.body.test] ?? 0) + 1;
  return t;
}

/** K40.rcspg through the chain (`rad alarm`'s path), or undefined when the file is not there. */
export function benchRcspg(opts: { falseAlarmRate_per_h?: number } = {}): RealFar | undefined {
  const path = process.env.RAD_RCSPG ?? join(refDir(), 'rcspg', 'K40.rcspg');
  if (!existsSync(path)) return undefined;
  const ms = parseRcspg(readFileSync(path, 'utf8'), path);
  const far = opts.falseAlarmRate_per_h ?? 1;
  const r = replayMeasurements(ms, { ...CHAIN_DEFAULTS, identify: false, falseAlarmRate_per_h: far, detectors: [{ id: 'RC-102', model: DETECTORS['CsI-1cm3']! }], alarmIdPrefix: 'bench' });
  const hours = ms.reduce((a, m) => a + m.realTime_s, 0) / 3600;
  return {
    data: 'K40.rcspg, RadiaCode-102 spectrogram, 689 x ~60 s',
    licence: 'ckuethe/radiacode-tools tests/data (MIT)',
    how: 'replayed through the radiation chain as rad alarm does',
    hours,
    configured_per_h: far,
    alarms: r.alarms.length,
    measured_per_h: r.alarms.length / hours,
    ci95_per_h: poissonRateInterval(r.alarms.length, hours),
    tests: tally(r.alarms),
  };
}

/** InterSpec's 8-panel background, Poisson-thinned into 0.25 s samples `repeats` times, through the monitor. */
export function benchInterspecThinned(opts: { repeats: number; falseAlarmRate_per_h?: number; seed?: number; alarm?: AlarmOptions }): RealFar | undefined {
  const path = join(refDir(), 'n42', 'interspec-background.n42');
  if (!existsSync(path)) return undefined;
  const file = parseRadText(readFileSync(path, 'utf8'), path);
  const m = file.measurements[0]!;
  const dt = 0.25;
  const far = opts.falseAlarmRate_per_h ?? 1;
  // Each panel: its real counts in the default windows and in the rest of the spectrum, per second of live time.
  const panels = m.spectra.map((s) => {
    const ranges = windowChannels(s.calibration!, s.counts.length, DEFAULT_WINDOWS);
    const w = windowCounts(s.counts, ranges);
    let total = 0;
    for (let i = 0; i < s.counts.length; i++) total += s.counts[i]!;
    return { id: s.detector, windows: w.map((x) => (x / s.liveTime_s) * dt), rest: ((total - w.reduce((a, b) => a + b, 0)) / s.liveTime_s) * dt };
  });
  const monitor = createAlarmMonitor({ ...opts.alarm, falseAlarmRate_per_h: far });
  const rng = mulberry32(opts.seed ?? 11);
  const steps = Math.round(m.realTime_s / dt);
  let alarms = 0;
  const tests: Record<string, number> = {};
  for (let rep = 0; rep < opts.repeats; rep++) {
    monitor.reset();
    for (let s = 0; s < steps; s++) {
      const detectors: DetectorSample[] = panels.map((p) => {
        const w = p.windows.map((x) => poisson(rng, x));
        return { id: p.id, liveTime_s: dt, gross: poisson(rng, p.rest) + w.reduce((a, b) => a + b, 0), windows: w };
      });
      const d = monitor.update({ time_s: s * dt, realTime_s: dt, detectors });
      if (d.onset) {
        alarms++;
        tests[d.test] = (tests[d.test] ?? 0) + 1;
      }
    }
  }
  const hours = (opts.repeats * steps * dt) / 3600;
  return {
    data: 'interspec-background.n42, 8 HPGe portal panels x 600 s',
    licence: 'sandialabs/InterSpec example_spectra (LGPL-2.1)',
    how: `its spectral shape Poisson-thinned into 0.25 s samples, ${opts.repeats} repeats (the time series is synthetic)`,
    hours,
    configured_per_h: far,
    alarms,
    measured_per_h: alarms / hours,
    ci95_per_h: poissonRateInterval(alarms, hours),
    tests,
  };
}

export interface VaryingResult {
  /** PD drives of `duration_s` at 5 km/h, 4 Hz, soil changing by ±30 % per element every 20-90 s; FAR on one drive as long as all of them. */
  drives: number;
  duration_s: number;
  /** Alarm events as the chain reports them (onsets within alarmEndHold_s of the last alarmed sample merged); `onsets` the monitor's raw ones. */
  far: { hours: number; alarms: number; onsets: number; measured_per_h: number; ci95_per_h: [number, number]; tests: Record<string, number> };
  pd: { nuclide: string; activity_uCi: number; distance_m: number; passes: number; detected: number; pd: number; ci95: [number, number]; tests: Record<string, number> }[];
  configured_per_h: number;
}

/**
 * Drives whose natural background changes along the way (soilProfile: K, U and Th each within ±30 %, so the rate and
 * the K/U/Th mix change), the monitor starting each drive with no background (learning period included). FAR on the
 * drives without a source; PD on the same kind of drive with a source 1 m up passed `distance_m` from the near-side
 * logs 150 s in, counted as an alarm event starting while the source is within 25 m along the lane.
 */
export function benchVaryingDrives(opts: { drives: number; seed?: number; falseAlarmRate_per_h?: number; monitor?: AlarmMonitor; onOnset?: (drive: number, t_s: number, d: AlarmDecision) => void }): VaryingResult {
  const dets = benchVehicle();
  const dt = 0.25;
  const duration = 200;
  const speed = 5 / 3.6;
  const far = opts.falseAlarmRate_per_h ?? 1;
  const seed = opts.seed ?? 4242;
  const poses = trajectoryPoses(straightPass({ speed_m_s: speed, offset_m: 0, from_m: 0, to_m: duration * speed }), dt);
  const x0 = 150 * speed;
  // Window means per detector for a unit of each soil element (linear in the concentrations).
  const unit = (K: number, U: number, Th: number): { windows: number[]; rest: number }[] =>
    dets.map((d) => windowMeans(expectedRates({ sources: [], background: { K_pct: K, U_ppm: U, Th_ppm: Th }, origin: { lat: 0, lon: 0 } }, d, detectorPosition(d, poses[0]!)), d, dt));
  const uK = unit(1, 0, 0);
  const uU = unit(0, 1, 0);
  const uTh = unit(0, 0, 1);
  const monitor = opts.monitor ?? createAlarmMonitor({ falseAlarmRate_per_h: far });
  // One drive: `steps` samples; with a source, `src` holds its window means per step near it. The FAR drive is one
  // continuous drive (a vehicle out for hours), the PD drives start from nothing (learning period included).
  // Alarms are counted as the chain reports them (analysis/radiation/chain.ts): tests crossing their thresholds again
  // within alarmEndHold_s of the last alarmed sample are the same event. The monitor's raw onsets are kept beside.
  const hold = CHAIN_DEFAULTS.alarmEndHold_s;
  const drive = (k: number, steps: number, src?: { windows: number[]; rest: number }[][]): { onsets: number; events: number; hit: boolean; tests: string[] } => {
    const soil = soilProfile({ seed: seed * 31 + k, duration_s: steps * dt });
    const rng = mulberry32(seed * 17 + k);
    monitor.reset();
    let onsets = 0;
    let events = 0;
    let lastAlarm_s = -Infinity;
    let hit = false;
    const tests: string[] = [];
    for (let s = 0; s < steps; s++) {
      const g = soil(s * dt);
      const detectors = dets.map((d, i): DetectorSample => {
        const mean = (j: number): number => g.K_pct! * uK[i]!.windows[j]! + g.U_ppm! * uU[i]!.windows[j]! + g.Th_ppm! * uTh[i]!.windows[j]! + (src?.[s]?.[i]?.windows[j] ?? 0);
        const w = DEFAULT_WINDOWS.map((_, j) => poisson(rng, mean(j)));
        const rest = g.K_pct! * uK[i]!.rest + g.U_ppm! * uU[i]!.rest + g.Th_ppm! * uTh[i]!.rest + (src?.[s]?.[i]?.rest ?? 0);
        return { id: d.id, liveTime_s: dt, gross: poisson(rng, rest) + w.reduce((a, b) => a + b, 0), windows: w };
      });
      const r = monitor.update({ time_s: s * dt, realTime_s: dt, detectors });
      const newEvent = r.onset && s * dt - lastAlarm_s > hold;
      if (r.alarm) lastAlarm_s = s * dt;
      if (r.onset) onsets++;
      if (newEvent) {
        events++;
        opts.onOnset?.(k, s * dt, r);
        if (src && Math.abs(poses[s]!.x_m - x0) <= 25) {
          if (!hit) tests.push(r.test);
          hit = true;
        } else if (!src) tests.push(r.test);
      }
    }
    return { onsets, events, hit, tests };
  };
  const farDrive = drive(0, Math.round((opts.drives * duration) / dt));
  const alarms = farDrive.events;
  const farTests: Record<string, number> = {};
  for (const t of farDrive.tests) farTests[t] = (farTests[t] ?? 0) + 1;
  const hours = (opts.drives * duration) / 3600;
  const pd: VaryingResult['pd'] = [];
  for (const [nuclide, uCi, distance_m] of [['Cs137', 10, 2], ['Co60', 10, 2], ['Cs137', 100, 5]] as const) {
    const scene: Scene = { sources: [{ nuclide, activity_Bq: uCi * 1e-6 * 3.7e10, position: { x_m: x0, y_m: distance_m + 1, z_m: 1 } }], background: { K_pct: 0, U_ppm: 0, Th_ppm: 0 }, origin: { lat: 0, lon: 0 } };
    const src = poses.map((p) => (Math.abs(p.x_m - x0) < 60 ? dets.map((d) => windowMeans(expectedRates(scene, d, detectorPosition(d, p)), d, dt)) : []));
    let detected = 0;
    const tests: Record<string, number> = {};
    for (let k = 0; k < opts.drives; k++) {
      const r = drive(1000 + k, poses.length, src);
      if (r.hit) detected++;
      for (const t of r.tests) tests[t] = (tests[t] ?? 0) + 1;
    }
    pd.push({ nuclide, activity_uCi: uCi, distance_m, passes: opts.drives, detected, pd: detected / opts.drives, ci95: binomialInterval(detected, opts.drives), tests });
  }
  return { drives: opts.drives, duration_s: duration, far: { hours, alarms, onsets: farDrive.onsets, measured_per_h: alarms / hours, ci95_per_h: poissonRateInterval(alarms, hours), tests: farTests }, pd, configured_per_h: far };
}

export interface SpeedResult {
  measurements: number;
  detectors: number;
  data_s: number;
  /** CPU of replayMeasurements on the parsed file: without identification, and with it (the template build included). */
  cpu_s: number;
  cpuWithIdentify_s: number;
  alarms: number;
}

/** `rad alarm`'s work on a 2-minute, 8-detector, 4 Hz drive past a Co-60 source, written and read back as N42. */
export function benchAlarmSpeed(): SpeedResult {
  const dets = benchVehicle();
  const scene: Scene = { sources: [{ nuclide: 'Co60', activity_Bq: 3.7e6, position: { x_m: 200, y_m: 3, z_m: 1 } }], background: {}, origin: { lat: 51.95, lon: 4.05 } };
  const ms = simulateDrive(scene, dets, straightPass({ speed_m_s: 2.5, offset_m: 0, from_m: 0, to_m: 300 }), { dt_s: 0.25, seed: 3 });
  const dir = mkdtempSync(join(tmpdir(), 'rad-alarm-speed-'));
  try {
    const f = join(dir, 'drive.n42');
    writeFileSync(f, writeN42({ source: f, format: 'N42-2012', detectors: dets.map((d) => ({ id: d.id })), measurements: ms }));
    const parsed = parseN42(readFileSync(f, 'utf8'), f).measurements;
    const o = { ...CHAIN_DEFAULTS, detectors: dets.map((d) => ({ id: d.id, model: DETECTORS['NaI-2x4x16']! })), alarmIdPrefix: 'file' };
    const time = (identify: boolean): { cpu: number; alarms: number } => {
      const c0 = process.cpuUsage();
      const r = replayMeasurements(parsed, { ...o, identify });
      const c = process.cpuUsage(c0);
      return { cpu: (c.user + c.system) / 1e6, alarms: r.alarms.length };
    };
    const a = time(false);
    const b = time(true);
    return { measurements: ms.length, detectors: dets.length, data_s: ms.length * 0.25, cpu_s: a.cpu, cpuWithIdentify_s: b.cpu, alarms: a.alarms };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
