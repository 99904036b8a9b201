// Handheld guidance: bearing/distance against geodesy, arrival radius, refinement shrinking the region, confirmation.
import t from 'tap';
import { buildGFunction, DETECTORS, pointSourceDoseRate_uSv_h } from '../../analysis/radiation/dose.js';
import {
  arrivalRadius_m,
  bearingDistance,
  compassPoint,
  ConfirmationMeasurement,
  guide,
  GuidanceError,
  horizontalRadius95_m,
  refineWithHandheld,
} from '../../analysis/radiation/guidance.js';
import { NuclideIdentifier } from '../../analysis/radiation/identify.js';
import { toGeo } from '../../analysis/radiation/localize/geo.js';
import type { LocMeasurement, SourceEstimate } from '../../analysis/radiation/localize/types.js';
import { expectedRates, mulberry32, poisson, type Scene, type SimDetector } from '../../analysis/radiation/sim/scene.js';

const A = 6378137;
const E2 = 6.69437999014e-3;

t.test('bearing and distance against known geodesy', async (t) => {
  // 0.001° of longitude on the equator is a·π/180·0.001 = 111.3195 m; 0.001° of latitude there a(1-e²)·π/180·0.001 = 110.574 m.
  const east = bearingDistance({ lat: 0, lon: 0 }, { lat: 0, lon: 0.001 });
  t.ok(Math.abs(east.distance_m - (A * Math.PI) / 180 / 1000) < 0.01, `east ${east.distance_m.toFixed(4)} m`);
  t.ok(Math.abs(east.bearing_deg - 90) < 1e-6, 'due east = 90°');
  const north = bearingDistance({ lat: 0, lon: 0 }, { lat: 0.001, lon: 0 });
  t.ok(Math.abs(north.distance_m - (A * (1 - E2) * Math.PI) / 180 / 1000) < 0.01, `north ${north.distance_m.toFixed(4)} m`);
  t.ok(north.bearing_deg < 1e-6 || north.bearing_deg > 360 - 1e-6, 'due north = 0°');
  // At 53.5° N the meridian radius M and prime vertical N set the metres per degree.
  const phi = (53.5 * Math.PI) / 180;
  const w = 1 - E2 * Math.sin(phi) ** 2;
  const M = (A * (1 - E2)) / w ** 1.5;
  const N = A / Math.sqrt(w);
  const from = { lat: 53.5, lon: 10 };
  const south = bearingDistance(from, { lat: 53.5 - 0.0005, lon: 10 });
  t.ok(Math.abs(south.distance_m - (M * Math.PI * 0.0005) / 180) < 0.01, `south ${south.distance_m.toFixed(3)} m`);
  t.ok(Math.abs(south.bearing_deg - 180) < 1e-4, 'due south = 180°');
  // 100 m east and 100 m north: bearing 45°, distance 141.42 m.
  const dLat = (100 / M) * (180 / Math.PI);
  const dLon = (100 / (N * Math.cos(phi))) * (180 / Math.PI);
  const ne = bearingDistance(from, { lat: 53.5 + dLat, lon: 10 + dLon });
  t.ok(Math.abs(ne.distance_m - 141.421) < 0.05, `NE distance ${ne.distance_m.toFixed(3)} m`);
  t.ok(Math.abs(ne.bearing_deg - 45) < 0.02, `NE bearing ${ne.bearing_deg.toFixed(4)}°`);
  const sw = bearingDistance(from, { lat: 53.5 - dLat, lon: 10 - dLon, height_m: 5 });
  t.ok(Math.abs(sw.bearing_deg - 225) < 0.02, `SW bearing ${sw.bearing_deg.toFixed(4)}°`);
  t.equal(compassPoint(ne.bearing_deg), 'NE');
  t.equal(compassPoint(359), 'N');
  t.equal(compassPoint(sw.bearing_deg), 'SW');
  t.equal(bearingDistance({ lat: 53.5, lon: 10, height_m: 1 }, { lat: 53.5, lon: 10, height_m: 4 }).dz_m, 3, 'height difference');
});

const origin = { lat: 53.54, lon: 9.98 };

function estimateAt(x: number, y: number, z: number, sigma: [number, number, number], extra: Partial<SourceEstimate> = {}): SourceEstimate {
  const g = toGeo(origin, { x_m: x, y_m: y, z_m: z });
  const cov = [
    [sigma[0] ** 2, 0, 0, 0],
    [0, sigma[1] ** 2, 0, 0],
    [0, 0, sigma[2] ** 2, 0],
    [0, 0, 0, 100],
  ];
  const k = Math.sqrt(7.8147);
  return {
    x_m: x,
    y_m: y,
    z_m: z,
    lat: g.lat,
    lon: g.lon,
    height_m: g.height_m,
    nuclide: 'Cs137',
    cps_at_1m: 1000,
    covariance_m2: cov,
    ci95: { semiAxes_m: [k * sigma[1], k * sigma[0], k * sigma[2]], axes: [[0, 1, 0], [1, 0, 0], [0, 0, 1]], method: 'fisher' },
    ambiguous: false,
    ...extra,
  };
}

t.test('arrival radius scales with the estimate uncertainty, within bounds', async (t) => {
  const tight = estimateAt(10, 10, 1, [0.2, 0.2, 0.5]);
  const mid = estimateAt(10, 10, 1, [0.8, 1.1, 1]);
  const loose = estimateAt(10, 10, 1, [10, 10, 3]);
  t.equal(arrivalRadius_m(tight), 1.5, 'floor 1.5 m');
  t.ok(Math.abs(arrivalRadius_m(mid) - Math.sqrt(5.9915) * 1.1) < 1e-3, '95 % horizontal radius from the larger xy variance');
  t.equal(arrivalRadius_m(loose), 3, 'ceiling 3 m');
  t.ok(Math.abs(horizontalRadius95_m(mid) - 2.6925) < 1e-3);
  const near = toGeo(origin, { x_m: 12, y_m: 11, z_m: 0 });
  const far = toGeo(origin, { x_m: 20, y_m: 10, z_m: 0 });
  const g1 = guide(near, mid);
  t.ok(g1.arrived, `2.24 m away with a 2.69 m radius: arrived`);
  t.ok(Math.abs(g1.bearing_deg - (180 + (Math.atan2(2, 1) * 180) / Math.PI)) < 0.05, `bearing ${g1.bearing_deg.toFixed(2)}° towards SW`);
  const g2 = guide(far, mid);
  t.notOk(g2.arrived, '10 m away: not arrived');
  t.ok(Math.abs(g2.bearing_deg - 270) < 0.01 && g2.compass === 'W', 'due west');
  t.ok(Math.abs(g2.distance_m - 10) < 0.01, '10 m');
});

/** Handheld walk round an 8 m square about the true source and across it, 1 s per point, Poisson counts of s/r² + b. */
function walk(truth: { x: number; y: number; z: number }, s: number, b: number, seed: number): LocMeasurement[] {
  const rng = mulberry32(seed);
  const corners = [
    [-4, -4],
    [4, -4],
    [4, 4],
    [-4, 4],
    [-4, -4],
  ] as const;
  const pts: [number, number][] = [];
  for (let c = 0; c < 4; c++) {
    const [ax, ay] = corners[c]!;
    const [bx, by] = corners[c + 1]!;
    for (let k = 0; k < 8; k++) pts.push([truth.x + ax + ((bx - ax) * k) / 8, truth.y + ay + ((by - ay) * k) / 8]);
  }
  for (let i = 0; i <= 16; i++) pts.push([truth.x - 4 + i * 0.5, truth.y + 1.5]);
  // Pure inverse square: air attenuation and buildup change the rate by < 0.1 % over these few metres.
  return pts.map(([x, y], k) => {
    const r = Math.hypot(x - truth.x, y - truth.y, 1 - truth.z);
    return { t_s: k, detector: 'hh', x_m: x, y_m: y, z_m: 1, liveTime_s: 1, counts: poisson(rng, b + s / (r * r)) };
  });
}

t.test('refinement with close handheld measurements shrinks the uncertainty and moves towards the truth', async (t) => {
  const truth = { x: 3, y: 4, z: 1.5 };
  const prior = estimateAt(5, 6.5, 2.5, [2, 3, 1.5]);
  const ms = walk(truth, 800, 15, 42);
  const r = refineWithHandheld(prior, ms, { origin, buildup: 'none' });
  const errBefore = Math.hypot(prior.x_m - truth.x, prior.y_m - truth.y);
  const errAfter = Math.hypot(r.estimate.x_m - truth.x, r.estimate.y_m - truth.y);
  t.ok(r.converged, `converged in ${r.iterations} iterations`);
  t.ok(r.radius95After_m < r.radius95Before_m / 5, `95 % radius ${r.radius95Before_m.toFixed(2)} m -> ${r.radius95After_m.toFixed(3)} m`);
  t.ok(errAfter < errBefore / 5 && errAfter < 0.3, `horizontal error ${errBefore.toFixed(2)} m -> ${errAfter.toFixed(3)} m`);
  t.ok(errAfter < r.radius95After_m * 1.5, 'truth within about the new 95 % radius');
  t.ok(Math.abs(r.handheld_cps_at_1m / 800 - 1) < 0.1, `handheld strength ${r.handheld_cps_at_1m.toFixed(0)} cps at 1 m (true 800)`);
  t.ok(Math.abs(r.background_cps / 15 - 1) < 0.3, `background ${r.background_cps.toFixed(1)} cps (true 15)`);
  t.ok(r.deviancePerPoint < 2, `deviance per point ${r.deviancePerPoint.toFixed(2)}`);
  t.ok(r.estimate.ci95.semiAxes_m[0] < prior.ci95.semiAxes_m[0], 'largest 3D semi-axis shrinks');
  t.equal(r.estimate.cps_at_1m, prior.cps_at_1m, "the vehicle's strength is kept (another detector)");
  const g = toGeo(origin, { x_m: r.estimate.x_m, y_m: r.estimate.y_m, z_m: r.estimate.z_m });
  t.ok(Math.abs(g.lat - r.estimate.lat) < 1e-12 && Math.abs(g.lon - r.estimate.lon) < 1e-12, 'lat/lon follow the refined position');

  // Measurements far away (background only) leave the prior as it was.
  const farMs = ms.map((m) => ({ ...m, x_m: m.x_m + 500, counts: poisson(mulberry32(m.t_s + 1), 15) }));
  const rf = refineWithHandheld(prior, farMs, { origin, background_cps: 15, buildup: 'none' });
  t.ok(rf.radius95After_m > 0.95 * rf.radius95Before_m, 'no information, no shrinking');

  // A mirror ambiguity is settled when the mirror falls outside the refined region.
  const mirrorGeo = toGeo(origin, { x_m: 5, y_m: -8, z_m: 2.5 });
  const amb = refineWithHandheld(estimateAt(5, 6.5, 2.5, [2, 3, 1.5], { ambiguous: true, mirror: { lat: mirrorGeo.lat, lon: mirrorGeo.lon, height_m: 2.5 } }), ms, {
    origin,
    buildup: 'none',
  });
  t.equal(amb.estimate.ambiguous, false, 'ambiguity settled by close measurements');
  t.equal(amb.estimate.mirror, undefined);
  t.throws(() => refineWithHandheld(prior, [{ ...ms[0]!, liveTime_s: 0 }], { origin }), GuidanceError);
  t.throws(() => refineWithHandheld(prior, [{ ...ms[0]!, counts: NaN }], { origin }), /measurements\[0\]\.counts/);
});

t.test('confirmation: accumulate 60 s at the spot, identify Cs-137, dose rate from the spectrum', async (t) => {
  const det: SimDetector = { id: 'hh', model: DETECTORS['NaI-2x2']!, offset: { x_m: 0, y_m: 0, z_m: 0 }, nChannels: 1024, keVPerChannel: 3 };
  const scene: Scene = { sources: [{ nuclide: 'Cs137', activity_Bq: 2e7, position: { x_m: 1, y_m: 0, z_m: 1 } }], background: {}, origin };
  const rates = expectedRates(scene, det, { x_m: 0, y_m: 0, z_m: 1 });
  const identifier = new NuclideIdentifier({ detector: det.model });
  const g = buildGFunction({ detector: det.model, nChannels: 1024, keVPerChannel: 3 });
  const conf = new ConfirmationMeasurement({ duration_s: 60, identifier, g });
  const rng = mulberry32(7);
  let done = false;
  let n = 0;
  while (!done) {
    const counts = Float64Array.from(rates, (r) => poisson(rng, r * 2));
    done = conf.add({ counts, liveTime_s: 2, calibration: { coefficients: [0, 3] } });
    n++;
  }
  t.equal(n, 30, '30 spectra of 2 s make the 60 s');
  const res = conf.result();
  t.equal(res.identification.nuclides[0]?.nuclide, 'Cs137', 'Cs-137 identified');
  const expected = pointSourceDoseRate_uSv_h({ nuclide: 'Cs137', activity_Bq: 2e7, distance_m: 1 });
  t.ok(res.doseRate_uSv_h! > 0.8 * expected && res.doseRate_uSv_h! < 1.25 * expected + 0.1, `dose rate ${res.doseRate_uSv_h!.toFixed(3)} µSv/h vs point source ${expected.toFixed(3)} µSv/h`);
  t.throws(() => conf.add({ counts: new Float64Array(512), liveTime_s: 1, calibration: { coefficients: [0, 3] } }), /expected 1024 channels/);
});
