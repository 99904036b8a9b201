// Bench: false alarm rate of the radiation alarms over long simulated background drives, and detection probability for a reference source driven past.
//
// Vehicle: 8 NaI 2x4x16 inch logs at 10 Hz, four on each side of the vehicle at 0.5, 1.0, 1.5 and 2.0 m, 1 m
// left and right of its centre line (the simulator's face-on model: every log looks at every source through its
// 4x16 inch face). Soil 2 %K, 2.5 ppm U, 9 ppm Th (sim/natural.ts defaults): ~2,360 cps per log.
//
// Speed: the spectra are not sampled channel by channel. The simulator's expectedRates() is called once per detector
// for the background, and for a pass once per detector and time step for the source alone; from those the mean
// counts of each energy window (and of the rest of the spectrum) are taken and Poisson-sampled directly. Windows are
// disjoint channel sets, so their counts are independent Poisson variables exactly as in a full spectrum, and the
// gross count is their sum. That makes a 10-hour, 8-detector, 10 Hz drive (2.9 million spectra) a matter of seconds.
//
// What is measured:
// - FAR: alarm events (onsets of "any test in alarm") per hour of driving time over background only, for the
//   configured 1/h, with its exact 95 % interval; and the same at a configured 100/h, where an hour gives tight
//   statistics, to show that the calibration holds (measured ≤ configured).
// - PD: a Cs-137 check source of 370 kBq (10 µCi) and 3.7 MBq (100 µCi), 1 m above ground, passed at 2 m and 5 m from
//   the near-side logs at 5 and 10 km/h, N passes each: the share of passes with an alarm onset while the source is
//   within 25 m of the vehicle, with its exact 95 % interval. The background estimators start each pass from the
//   true background plus a random error of their steady-state size (as if they had been running), and are then
//   updated by the pass itself.
import { binomialInterval, createAlarmMonitor, poissonRateInterval, type AlarmMonitor, type DetectorSample } from '../analysis/radiation/alarm/index.js';
import { detectorPosition, expectedRates, mulberry32, poisson, type Scene } from '../analysis/radiation/sim/scene.js';
import { straightPass, trajectoryPoses } from '../analysis/radiation/sim/drive.js';
import { benchAlarmSpeed, benchInterspecThinned, benchRcspg, benchVaryingDrives, type RealFar, type SpeedResult, type VaryingResult } from './radiation-alarm-data.js';
import { benchVehicle, windowMeans } from './radiation-vehicle.js';

// Here before radiation-vehicle.ts held them (radiation-alarm-data.ts needs them too, without an import cycle).
export { benchVehicle, windowMeans };

export const BENCH_DT_s = 0.1;
const CI_Bq = 3.7e10;

export const BENCH_SCENE: Scene = { sources: [], background: {}, origin: { lat: 51.95, lon: 4.05 } };

function sample(rng: () => number, id: string, windows: readonly number[], rest: number, dt_s: number): DetectorSample {
  const w = windows.map((m) => poisson(rng, m));
  let gross = poisson(rng, rest);
  for (const c of w) gross += c;
  return { id, liveTime_s: dt_s, gross, windows: w };
}

export interface FarResult {
  configured_per_h: number;
  hours: number;
  alarms: number;
  measured_per_h: number;
  ci95_per_h: [number, number];
  unit: string;
  tests: number;
}

export interface PdResult {
  nuclide: string;
  activity_Bq: number;
  activity_uCi: number;
  distance_m: number;
  speed_km_h: number;
  passes: number;
  detected: number;
  pd: number;
  ci95: [number, number];
  /** Median distance along the lane from closest approach at the first alarm (m, negative = before). */
  medianAlarmAt_m: number | null;
}

export interface AlarmBench {
  far: FarResult[];
  pd: PdResult[];
  /** False alarms on real background recordings (skipped, with the reason, when a file is not there). */
  real: (RealFar | { data: string; skipped: string })[];
  /** FAR and PD on drives whose soil changes by ±30 % per element. */
  varying: VaryingResult;
  /** CPU of `rad alarm` on a 2-minute, 8-detector, 4 Hz recording. */
  speed: SpeedResult;
  seconds: number;
  setup: string;
}

/** Background-only drive of `hours` at 10 Hz; alarms counted as onsets. */
export function benchFar(opts: { hours: number; falseAlarmRate_per_h: number; seed: number; monitor?: AlarmMonitor }): FarResult {
  const dets = benchVehicle();
  const dt = BENCH_DT_s;
  const bg = dets.map((d) => windowMeans(expectedRates(BENCH_SCENE, d, detectorPosition(d, { x_m: 0, y_m: 0 })), d, dt));
  const monitor = opts.monitor ?? createAlarmMonitor({ falseAlarmRate_per_h: opts.falseAlarmRate_per_h });
  monitor.reset();
  // Seeded with the truth: the estimators then run freely for the whole drive (hours ≫ their 60 s time constant).
  dets.forEach((d, i) => monitor.seed(d.id, { gross_cps: (bg[i].rest + bg[i].windows.reduce((a, b) => a + b, 0)) / dt, windows_cps: bg[i].windows.map((w) => w / dt), live_s: 60 }));
  const rng = mulberry32(opts.seed);
  const steps = Math.round((opts.hours * 3600) / dt);
  let alarms = 0;
  for (let s = 0; s < steps; s++) {
    const samples = dets.map((d, i) => sample(rng, d.id, bg[i].windows, bg[i].rest, dt));
    if (monitor.update({ time_s: s * dt, realTime_s: dt, detectors: samples }).onset) alarms++;
  }
  const cfg = monitor.config();
  return {
    configured_per_h: opts.falseAlarmRate_per_h,
    hours: opts.hours,
    alarms,
    measured_per_h: alarms / opts.hours,
    ci95_per_h: poissonRateInterval(alarms, opts.hours),
    unit: cfg.unit,
    tests: cfg.tests,
  };
}

/** N passes of a source at `distance_m` from the near-side logs, `speed_km_h`, lane from −50 to +50 m. */
export function benchPd(opts: {
  nuclide?: string;
  activity_Bq: number;
  distance_m: number;
  speed_km_h: number;
  passes: number;
  seed: number;
  falseAlarmRate_per_h?: number;
  monitor?: AlarmMonitor;
  /** Count an alarm as a detection while the source is within this distance along the lane (default 25 m). */
  window_m?: number;
}): PdResult {
  const dets = benchVehicle();
  const dt = BENCH_DT_s;
  const nuclide = opts.nuclide ?? 'Cs137';
  const reach = opts.window_m ?? 25;
  // Source 1 m up at the origin; the vehicle drives east along y = −(distance + 1) so the left logs (y = +1 m in
  // the vehicle frame) pass it at `distance_m`.
  const scene: Scene = { ...BENCH_SCENE, sources: [{ nuclide, activity_Bq: opts.activity_Bq, position: { x_m: 0, y_m: 0, z_m: 1 } }] };
  const sourceOnly: Scene = { ...scene, background: { K_pct: 0, U_ppm: 0, Th_ppm: 0 } };
  const speed = opts.speed_km_h / 3.6;
  const poses = trajectoryPoses(straightPass({ speed_m_s: speed, offset_m: -(opts.distance_m + 1), from_m: -50, to_m: 50 }), dt);
  const bg = dets.map((d) => windowMeans(expectedRates(BENCH_SCENE, d, detectorPosition(d, poses[0])), d, dt));
  const src = poses.map((p) => dets.map((d) => windowMeans(expectedRates(sourceOnly, d, detectorPosition(d, p)), d, dt)));
  const monitor = opts.monitor ?? createAlarmMonitor({ falseAlarmRate_per_h: opts.falseAlarmRate_per_h ?? 1 });
  const rng = mulberry32(opts.seed);
  let detected = 0;
  const alarmAt: number[] = [];
  // Steady-state relative error of an estimator with a 60 s time constant: effective live time 2τ = 120 s.
  const effLive = 120;
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  for (let pass = 0; pass < opts.passes; pass++) {
    monitor.reset();
    dets.forEach((d, i) => {
      const g = (bg[i].rest + bg[i].windows.reduce((a, b) => a + b, 0)) / dt;
      const noisy = (r: number): number => Math.max(0, r + gauss() * Math.sqrt(r / effLive));
      monitor.seed(d.id, { gross_cps: noisy(g), windows_cps: bg[i].windows.map((w) => noisy(w / dt)), live_s: effLive, time_s: -dt });
    });
    let hit: number | undefined;
    for (let s = 0; s < poses.length; s++) {
      const samples = dets.map((d, i) =>
        sample(
          rng,
          d.id,
          bg[i].windows.map((w, k) => w + src[s][i].windows[k]),
          bg[i].rest + src[s][i].rest,
          dt,
        ),
      );
      const r = monitor.update({ time_s: s * dt, realTime_s: dt, detectors: samples });
      if (r.onset && hit === undefined && Math.abs(poses[s].x_m) <= reach) hit = poses[s].x_m;
    }
    if (hit !== undefined) {
      detected++;
      alarmAt.push(hit);
    }
  }
  alarmAt.sort((a, b) => a - b);
  return {
    nuclide,
    activity_Bq: opts.activity_Bq,
    activity_uCi: (opts.activity_Bq / CI_Bq) * 1e6,
    distance_m: opts.distance_m,
    speed_km_h: opts.speed_km_h,
    passes: opts.passes,
    detected,
    pd: detected / opts.passes,
    ci95: binomialInterval(detected, opts.passes),
    medianAlarmAt_m: alarmAt.length > 0 ? alarmAt[Math.floor(alarmAt.length / 2)] : null,
  };
}

/** The whole bench: FAR at 1/h over 10 h (1 h with quick) and at 100/h over 1 h; PD grid over N passes (200, quick 40). */
export function benchAlarm(opts: { quick?: boolean; seed?: number } = {}): AlarmBench {
  const t0 = performance.now();
  const quick = opts.quick ?? false;
  const seed = opts.seed ?? 20240601;
  const monitor = createAlarmMonitor({ falseAlarmRate_per_h: 1 });
  const far = [
    benchFar({ hours: quick ? 1 : 10, falseAlarmRate_per_h: 1, seed, monitor }),
    benchFar({ hours: 1, falseAlarmRate_per_h: 100, seed: seed + 1 }),
  ];
  const pd: PdResult[] = [];
  const passes = quick ? 40 : 200;
  let k = 2;
  for (const uCi of [10, 100]) {
    for (const distance_m of [2, 5]) {
      for (const speed_km_h of [5, 10]) {
        pd.push(benchPd({ activity_Bq: uCi * 1e-6 * CI_Bq, distance_m, speed_km_h, passes, seed: seed + k++, monitor }));
      }
    }
  }
  const real: AlarmBench['real'] = [
    benchRcspg() ?? { data: 'K40.rcspg', skipped: 'not found: put ckuethe/radiacode-tools tests/data/K40.rcspg under $CUSTOMS_REFDATA/rcspg/ or set RAD_RCSPG' },
    benchInterspecThinned({ repeats: quick ? 6 : 30 }) ?? { data: 'interspec-background.n42', skipped: 'not found under $CUSTOMS_REFDATA/n42/' },
  ];
  const varying = benchVaryingDrives({ drives: quick ? 10 : 60, seed });
  const speed = benchAlarmSpeed();
  return {
    far,
    pd,
    real,
    varying,
    speed,
    seconds: (performance.now() - t0) / 1000,
    setup: '8 x NaI 2x4x16 at 10 Hz, 4 heights x 2 sides; windows 30-400/400-1200/1200-3000 keV; SPRT shift 1 sigma, beta 0.05; background EW 60 s',
  };
}

function fmtCi([a, b]: [number, number], digits: number): string {
  return `[${a.toFixed(digits)}, ${b.toFixed(digits)}]`;
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const r = benchAlarm({ quick: process.argv.includes('--quick') });
  const out = (s: string): void => {
    process.stdout.write(`${s}\n`);
  };
  out(`# radiation alarm bench (${r.setup}), ${r.seconds.toFixed(1)} s`);
  for (const f of r.far) {
    out(`FAR configured ${f.configured_per_h}/h over ${f.hours} h of driving: ${f.alarms} alarms = ${f.measured_per_h.toFixed(2)}/h, 95 % ${fmtCi(f.ci95_per_h, 2)} (${f.unit}; ${f.tests} tests)`);
  }
  for (const x of r.real) {
    if ('skipped' in x) out(`real background ${x.data}: skipped (${x.skipped})`);
    else out(`real background ${x.data} [${x.licence}], ${x.how}: configured ${x.configured_per_h}/h over ${x.hours.toFixed(2)} h: ${x.alarms} alarms = ${x.measured_per_h.toFixed(2)}/h, 95 % ${fmtCi(x.ci95_per_h, 2)} ${JSON.stringify(x.tests)}`);
  }
  const v = r.varying;
  out(`soil changing +-30 % per element, 4 Hz, continuous ${v.far.hours.toFixed(2)} h: ${v.far.alarms} alarm events (${v.far.onsets} monitor onsets) = ${v.far.measured_per_h.toFixed(2)}/h at ${v.configured_per_h}/h, 95 % ${fmtCi(v.far.ci95_per_h, 2)} ${JSON.stringify(v.far.tests)}`);
  for (const p of v.pd) out(`  PD ${p.nuclide} ${p.activity_uCi} uCi at ${p.distance_m} m, 5 km/h, learning from the drive: ${p.detected}/${p.passes} = ${p.pd.toFixed(2)}, 95 % ${fmtCi(p.ci95, 2)} ${JSON.stringify(p.tests)}`);
  out(`rad alarm CPU, ${r.speed.detectors} detectors x ${r.speed.measurements} measurements (${r.speed.data_s} s at 4 Hz): ${r.speed.cpu_s.toFixed(2)} s without identification, ${r.speed.cpuWithIdentify_s.toFixed(2)} s with it (${r.speed.alarms} alarms)`);
  for (const p of r.pd) {
    out(
      `PD ${p.nuclide} ${p.activity_uCi.toFixed(0)} uCi at ${p.distance_m} m, ${p.speed_km_h} km/h: ${p.detected}/${p.passes} = ${p.pd.toFixed(3)}, 95 % ${fmtCi(p.ci95, 3)}, median first alarm at ${p.medianAlarmAt_m === null ? '-' : `${p.medianAlarmAt_m.toFixed(1)} m`}`,
    );
  }
}
