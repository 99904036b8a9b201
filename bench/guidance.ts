// Bench: dose field, contours, exposure, handheld refinement, drive map and relay signing (speed and accuracy figures).
//
// Cases: a 10 GBq Co-60 point source 1 m high (contours 100/20/1/0.5 µSv/h on the 1 m plane, default grid of 401 ×
// 401 nodes); a handheld walk of N one-second ROI measurements round an 8 m square about a 800 cps-at-1-m source
// (as test/radiation-guidance.test.ts); a 1000 × 700 map of a 600-point loop with one source and contours.
import { createPrivateKey } from 'node:crypto';
import { mu_cm } from '../analysis/radiation/attenuation.js';
import { pointSourceDoseRate_uSv_h } from '../analysis/radiation/dose.js';
import { contoursGeoJson, contoursLocal, createDoseField, pathExposure } from '../analysis/radiation/dosefield.js';
import { refineWithHandheld } from '../analysis/radiation/guidance.js';
import { toGeo } from '../analysis/radiation/localize/geo.js';
import type { LocMeasurement, SourceEstimate } from '../analysis/radiation/localize/types.js';
import { renderDriveMap, type PathPoint } from '../edge/radiation/map.js';
import { mulberry32, poisson } from '../analysis/radiation/sim/scene.js';
import { generateSigningKey, signPayload, verifyEnvelope } from '../protocol/index.js';

const origin = { lat: 53.54, lon: 9.98 };

function time<T>(fn: () => T, reps: number): { ms: number; value: T } {
  let value = fn();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) value = fn();
  return { ms: (performance.now() - t0) / reps, value };
}

function prior(): SourceEstimate {
  const g = toGeo(origin, { x_m: 5, y_m: 6.5, z_m: 2.5 });
  return {
    x_m: 5,
    y_m: 6.5,
    z_m: 2.5,
    lat: g.lat,
    lon: g.lon,
    height_m: 2.5,
    nuclide: 'Cs137',
    cps_at_1m: 1000,
    covariance_m2: [
      [4, 0, 0, 0],
      [0, 9, 0, 0],
      [0, 0, 2.25, 0],
      [0, 0, 0, 100],
    ],
    ci95: { semiAxes_m: [8.4, 5.6, 4.2], axes: [[0, 1, 0], [1, 0, 0], [0, 0, 1]], method: 'fisher' },
    ambiguous: false,
  };
}

function walk(n: number, seed: number): LocMeasurement[] {
  const rng = mulberry32(seed);
  const truth = { x: 3, y: 4, z: 1.5 };
  const out: LocMeasurement[] = [];
  for (let k = 0; k < n; k++) {
    // round an 8 m square about the source, 32 points per lap
    const s = (k % 32) / 8;
    const side = Math.floor(s);
    const f = s - side;
    const corners = [[-4, -4], [4, -4], [4, 4], [-4, 4], [-4, -4]];
    const a = corners[side]!;
    const b = corners[side + 1]!;
    const x = truth.x + a[0]! + (b[0]! - a[0]!) * f;
    const y = truth.y + a[1]! + (b[1]! - a[1]!) * f;
    const r = Math.hypot(x - truth.x, y - truth.y, 1 - truth.z);
    out.push({ t_s: k, detector: 'hh', x_m: x, y_m: y, z_m: 1, liveTime_s: 1, counts: poisson(rng, 15 + 800 / (r * r)) });
  }
  return out;
}

export async function benchGuidance(opts: { quick: boolean }, report: (name: string, value: string) => void): Promise<void> {
  const reps = opts.quick ? 3 : 10;
  // Accuracy: field vs the analytic point source (dose.ts, linear buildup) at 1-50 m, Cs-137 and Co-60.
  let worst = 0;
  for (const nuclide of ['Cs137', 'Co60']) {
    const f = createDoseField([{ x_m: 0, y_m: 0, z_m: 0, nuclide, activity_Bq: 1e9 }]);
    for (const r of [1, 2, 5, 10, 20, 50]) {
      const ref = pointSourceDoseRate_uSv_h({ nuclide, activity_Bq: 1e9, distance_m: r, buildup: true });
      worst = Math.max(worst, Math.abs(f.rate({ x_m: r, y_m: 0, z_m: 0 }) / ref - 1));
    }
  }
  report('dose field vs dose.ts point source, worst of 12 (Cs-137, Co-60 at 1-50 m) (%)', (worst * 100).toExponential(2));
  // Against the hand formula Γ·A/r²·e^(-μr) with published H*(10) rate constants (µSv·m²/(h·MBq)), no buildup.
  const GAMMA: Record<string, { g: number; E: number[] }> = { Cs137: { g: 0.0927, E: [661.657] }, Co60: { g: 0.354, E: [1173.228, 1332.492] } };
  let worstHand = 0;
  for (const [nuclide, { g, E }] of Object.entries(GAMMA)) {
    const f = createDoseField([{ x_m: 0, y_m: 0, z_m: 0, nuclide, activity_Bq: 1e9 }], { buildup: 'none' });
    for (const r of [1, 2, 5, 10, 20, 50]) {
      const att = E.reduce((sum, e) => sum + Math.exp(-mu_cm('air', e) * r * 100), 0) / E.length;
      const hand = (g * 1000 * att) / (r * r);
      worstHand = Math.max(worstHand, Math.abs(f.rate({ x_m: r, y_m: 0, z_m: 0 }) / hand - 1));
    }
  }
  report('dose field vs hand formula with published Γ, worst of 12 (%)', (worstHand * 100).toFixed(2));

  const field = createDoseField([{ x_m: 0, y_m: 0, z_m: 1, nuclide: 'Co60', activity_Bq: 1e10 }]);
  const N = 200_000;
  const t0 = performance.now();
  let acc = 0;
  for (let i = 0; i < N; i++) acc += field.rate({ x_m: (i % 400) * 0.5 - 100, y_m: Math.floor(i / 400) * 0.5 - 100, z_m: 1 });
  const perPoint = ((performance.now() - t0) / N) * 1e6;
  if (!(acc > 0)) throw new Error('dose field bench: no dose');
  report('dose rate evaluation, one Co-60 source (ns per point)', perPoint.toFixed(0));

  const c = time(() => contoursLocal(field), reps);
  report('contours 100/20/1/0.5 µSv/h, 401 x 401 grid (ms)', c.ms.toFixed(1));
  const cell = c.value.grid.cell_m;
  let radErr = 0;
  for (const lv of c.value.contours) {
    let lo = 0.1;
    let hi = 5000;
    for (let k = 0; k < 80; k++) {
      const mid = (lo + hi) / 2;
      if (field.rate({ x_m: mid, y_m: 0, z_m: 1 }) > lv.level_uSv_h) lo = mid;
      else hi = mid;
    }
    for (const [x, y] of lv.polygons[0]![0]!) radErr = Math.max(radErr, Math.abs(Math.hypot(x, y) - lo));
  }
  report(`contour radius error vs analytic, worst vertex of 4 levels (m; grid cell ${cell.toFixed(2)} m)`, radErr.toFixed(3));
  const gj = time(() => contoursGeoJson(field, origin), reps);
  report('contours as GeoJSON lon/lat, same grid (ms)', gj.ms.toFixed(1));

  const path = Array.from({ length: 101 }, (_, i) => ({ x_m: -100 + 2 * i, y_m: 3 }));
  const ex = time(() => pathExposure(field, path, { speed_m_s: 1.2, limit_uSv: 100 }), reps);
  report('exposure along a 200 m path passing 3 m from the source (ms)', ex.ms.toFixed(2));

  for (const n of [32, 128, 512]) {
    const ms = walk(n, n);
    const r = time(() => refineWithHandheld(prior(), ms, { origin, buildup: 'none' }), reps);
    report(`handheld refinement, ${n} measurements (ms)`, r.ms.toFixed(2));
    report(`handheld refinement, ${n} measurements: 95 % radius prior -> refined (m)`, `${r.value.radius95Before_m.toFixed(2)} -> ${r.value.radius95After_m.toFixed(3)}`);
    report(`handheld refinement, ${n} measurements: horizontal error (m, vehicle 3.20)`, Math.hypot(r.value.estimate.x_m - 3, r.value.estimate.y_m - 4).toFixed(3));
  }

  const mapPath: PathPoint[] = [];
  for (let i = 0; i < 600; i++) {
    const a = (i / 600) * 2 * Math.PI;
    const g = toGeo(origin, { x_m: 40 * Math.cos(a), y_m: 25 * Math.sin(a), z_m: 0 });
    const r = Math.hypot(40 * Math.cos(a) - 5, 25 * Math.sin(a) - 3);
    mapPath.push({ lat: g.lat, lon: g.lon, cps: 200 + 5e5 / (r * r) });
  }
  const est = { ...prior(), x_m: 5, y_m: 3, ...toGeo(origin, { x_m: 5, y_m: 3, z_m: 2 }) };
  const mapContours = contoursGeoJson(createDoseField([{ x_m: 5, y_m: 3, z_m: 2, nuclide: 'Cs137', activity_Bq: 5e9 }]), origin);
  const mapReps = opts.quick ? 2 : 5;
  await renderDriveMap({ path: mapPath, sources: [est], contours: mapContours, origin });
  const m0 = performance.now();
  let bytes = 0;
  for (let i = 0; i < mapReps; i++) bytes = (await renderDriveMap({ path: mapPath, sources: [est], contours: mapContours, origin })).length;
  report('drive map PNG 1000 x 700, 600 path points, contours (ms)', ((performance.now() - m0) / mapReps).toFixed(0));
  report('drive map PNG size (kB)', (bytes / 1024).toFixed(0));

  const keys = generateSigningKey();
  const key = createPrivateKey(keys.privateKeyPem);
  const payload = { cmd: 'estimate', cmdId: 'veh-1/e-1', site: 'port-a', handheld: 'hh-1', source: { estimateId: 'e-1', sources: [{ lat: 53.5, lon: 9.9, height_m: 2, cps_at_1m: 900, ambiguous: false }] } };
  const sign = time(() => signPayload(payload, key, 'agg'), 200);
  report('relay: sign one estimate command (µs)', (sign.ms * 1000).toFixed(0));
  const ver = time(() => verifyEnvelope(sign.value, { agg: keys.publicKeyPem }), 200);
  report('handheld: verify one estimate command (µs)', (ver.ms * 1000).toFixed(0));
}
