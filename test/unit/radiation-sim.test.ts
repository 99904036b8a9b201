// The radiation simulator: natural background, source terms, gain drift, dead time, Poisson sampling, drives.
import t from 'tap';
import { mu_cm, muEnRho_cm2_g, muRho_cm2_g } from '../../analysis/radiation/attenuation.js';
import { DETECTORS } from '../../analysis/radiation/dose.js';
import { simulateDrive, straightPass, loop, trajectoryPoses } from '../../analysis/radiation/sim/drive.js';
import {
  BQ_KG_PER_UNIT,
  UNSCEAR_nGy_h_PER_Bq_kg,
  halfSpaceFluence,
  naturalAirKermaRate_uGy_h,
  naturalBackgroundRate,
  naturalField,
} from '../../analysis/radiation/sim/natural.js';
import {
  type Scene,
  type SimDetector,
  applyGain,
  expectedRates,
  geoToLocal,
  localToGeo,
  mulberry32,
  poisson,
  simulateStep,
} from '../../analysis/radiation/sim/scene.js';

const ORIGIN = { lat: 51.95, lon: 4.05 };
const sum = (a: ArrayLike<number>, lo = 0, hi = a.length): number => {
  let s = 0;
  for (let i = lo; i < hi; i++) s += a[i];
  return s;
};

function det(over: Partial<SimDetector> = {}): SimDetector {
  return { id: 'd1', model: DETECTORS['NaI-3x3'], offset: { x_m: 0, y_m: 0, z_m: 1 }, nChannels: 1024, keVPerChannel: 3, ...over };
}

t.test('natural background count rates land in the ranges of fielded detectors', async (t) => {
  const grid = { nChannels: 1024, keVPerChannel: 3 };
  const r2x2 = sum(naturalBackgroundRate(DETECTORS['NaI-2x2'], grid));
  const r3x3 = sum(naturalBackgroundRate(DETECTORS['NaI-3x3'], grid));
  const log = sum(naturalBackgroundRate(DETECTORS['NaI-2x4x16'], grid));
  t.ok(r2x2 >= 150 && r2x2 <= 300, `2x2 NaI at 1 m: ${r2x2.toFixed(0)} cps, expected 150-300`);
  t.ok(log >= 2000 && log <= 4000, `2x4x16 NaI at 1 m: ${log.toFixed(0)} cps, expected 2000-4000`);
  t.ok(r3x3 > r2x2 && r3x3 < log, `3x3 between: ${r3x3.toFixed(0)} cps`);
  // The same physics on a finer grid gives the same total (the grid only bins it).
  const fine = sum(naturalBackgroundRate(DETECTORS['NaI-2x2'], { nChannels: 4096, keVPerChannel: 0.75 }));
  t.ok(Math.abs(fine / r2x2 - 1) < 0.01, `4096 x 0.75 keV grid: ${fine.toFixed(1)} vs ${r2x2.toFixed(1)} cps`);
  // Twice the potassium: the K-40 peak doubles, other peaks (Tl-208 2614) do not move.
  const k4 = naturalBackgroundRate(DETECTORS['NaI-3x3'], { ...grid, K_pct: 4 });
  const k2 = naturalBackgroundRate(DETECTORS['NaI-3x3'], grid);
  const k0 = naturalBackgroundRate(DETECTORS['NaI-3x3'], { ...grid, K_pct: 0 });
  const win = (a: Float64Array, lo: number, hi: number): number => sum(a, Math.floor(lo / 3), Math.floor(hi / 3));
  t.ok(Math.abs((win(k4, 1400, 1520) - win(k0, 1400, 1520)) / (win(k2, 1400, 1520) - win(k0, 1400, 1520)) - 2) < 1e-9, 'K-40 window is linear in K_pct');
  t.ok(Math.abs(win(k4, 2500, 2750) / win(k2, 2500, 2750) - 1) < 1e-9, 'the Tl-208 window does not depend on K');
  // Higher up, less background.
  const high = sum(naturalBackgroundRate(DETECTORS['NaI-3x3'], { ...grid, height_m: 3 }));
  t.ok(high < r3x3 && high > 0.8 * r3x3, `at 3 m: ${high.toFixed(0)} cps < ${r3x3.toFixed(0)} cps at 1 m`);
});

t.test('air kerma of the natural field: textbook range, UNSCEAR per series, half-space integral', async (t) => {
  const k = naturalAirKermaRate_uGy_h();
  t.ok(k >= 0.04 && k <= 0.1, `air kerma rate at 1 m over 2 %K, 2.5 ppm U, 9 ppm Th: ${k.toFixed(4)} µGy/h, expected 0.04-0.1`);
  const f = naturalField();
  const conc = { K40: 2 * BQ_KG_PER_UNIT.K40, U238: 2.5 * BQ_KG_PER_UNIT.U238, Th232: 9 * BQ_KG_PER_UNIT.Th232 };
  for (const s of ['K40', 'U238', 'Th232'] as const) {
    const want = UNSCEAR_nGy_h_PER_Bq_kg[s] * conc[s];
    t.ok(Math.abs(f.bySeries[s].kerma_nGy_h / want - 1) < 0.01, `${s}: ${f.bySeries[s].kerma_nGy_h.toFixed(2)} nGy/h vs UNSCEAR ${want.toFixed(2)}`);
  }
  // Uncollided kerma is about half of the total for soil sources at 1 m (Beck 1972).
  let unc = 0;
  for (const l of f.lines) unc += l.fluenceRate_cm2_s * 160.2176634 * (l.energy_keV / 1000) * muEnRho_cm2_g('air', l.energy_keV);
  const share = (unc * 3600) / 1e6 / k;
  t.ok(share > 0.35 && share < 0.65, `uncollided share of the kerma: ${(share * 100).toFixed(0)} %`);

  // The E2 formula against a brute-force integration of the point kernel over the soil half-space.
  const E = 1460.8;
  const h_cm = 100;
  const muS = muRho_cm2_g('concrete', E) * 1.6;
  const muA = mu_cm('air', E);
  const Sv = (1 / 1000) * 1.6; // 1 photon per decay, 1 Bq/kg, soil 1.6 g/cm³: photons/cm³/s
  let phi = 0;
  // Integrate over depth z and polar angle of the path (cosθ = c): the path is split into air h/c and soil z/c.
  const nz = 4000;
  const nc = 2000;
  const zMax = 40 / muS;
  for (let i = 0; i < nz; i++) {
    const z = ((i + 0.5) * zMax) / nz;
    for (let j = 0; j < nc; j++) {
      const c = (j + 0.5) / nc;
      // dV = r² dr dΩ with dr = dz/c: Φ = ∫ S e^{-μ·path}/(4π) · dΩ · dz / c, dΩ = 2π dc.
      phi += (Sv * Math.exp(-(muS * z + muA * h_cm) / c) * 2 * Math.PI * (1 / nc) * (zMax / nz)) / (4 * Math.PI * c);
    }
  }
  const formula = halfSpaceFluence(E, 1, 1, 1);
  t.ok(Math.abs(formula / phi - 1) < 0.01, `half-space fluence: E2 formula ${formula.toExponential(4)}, integral ${phi.toExponential(4)} /cm²/s`);
});

t.test('source term: inverse square with air attenuation, and shielding transmission', async (t) => {
  const d = det();
  const bgScene: Scene = { sources: [], background: {}, origin: ORIGIN };
  const src = { nuclide: 'Cs137', activity_Bq: 1e8, position: { x_m: 0, y_m: 0, z_m: 1 } };
  const scene: Scene = { ...bgScene, sources: [src] };
  const at = (r: number): { x_m: number; y_m: number; z_m: number } => ({ x_m: r, y_m: 0, z_m: 1 });
  // Net counts in a window around the 662 keV peak: only that line lands there (the Ba K x-rays at 32-37 keV,
  // which air and lead attenuate much more, stay below 60 keV).
  const net = (s: Scene, r: number): number => {
    const lo = Math.floor(550 / 3);
    const hi = Math.floor(780 / 3);
    return sum(expectedRates(s, d, at(r)), lo, hi) - sum(expectedRates(bgScene, d, at(r)), lo, hi);
  };
  const n5 = net(scene, 5);
  const n10 = net(scene, 10);
  const air = Math.exp(-mu_cm('air', 661.657) * 500);
  t.ok(Math.abs(n5 / n10 / (4 / air) - 1) < 1e-6, `5 m vs 10 m: ratio ${(n5 / n10).toFixed(4)}, expected 4·e^(μ·5 m) = ${(4 / air).toFixed(4)}`);
  const n2 = net(scene, 2);
  const air2 = Math.exp(-mu_cm('air', 661.657) * 300);
  t.ok(Math.abs(n2 / n5 / (6.25 / air2) - 1) < 1e-6, `2 m vs 5 m: ratio ${(n2 / n5).toFixed(4)}`);
  // The whole spectrum: at 5 m the x-rays lose more to air than 662 keV does, so the total falls a bit faster.
  const total = (s: Scene, r: number): number => sum(expectedRates(s, d, at(r))) - sum(expectedRates(bgScene, d, at(r)));
  t.ok(total(scene, 5) / total(scene, 10) > 4 / air, 'total counts: soft lines attenuated more in air');
  const shielded: Scene = { ...bgScene, sources: [{ ...src, shielding: [{ material: 'lead', thickness_cm: 1 }] }] };
  const ratio = net(shielded, 5) / n5;
  const T = Math.exp(-mu_cm('lead', 661.657));
  t.ok(Math.abs(ratio / T - 1) < 1e-6, `1 cm lead: ${ratio.toFixed(4)} of the bare rate, expected e^(-μx) = ${T.toFixed(4)}`);
  const steel: Scene = { ...bgScene, sources: [{ ...src, shielding: [{ material: 'steel', thickness_cm: 2 }, { material: 'lead', thickness_cm: 1 }] }] };
  const T2 = T * Math.exp(-mu_cm('steel', 661.657) * 2);
  t.ok(Math.abs(net(steel, 5) / n5 / T2 - 1) < 1e-6, 'shields multiply');
  t.throws(() => expectedRates({ ...bgScene, sources: [{ ...src, shielding: [{ material: 'unobtainium', thickness_cm: 1 }] }] }, d, at(5)), {
    code: 'E_SIM_SCENE',
    message: /shielding\[0\]\.material "unobtainium" is not one of air, water/,
  });
  t.throws(() => expectedRates({ ...bgScene, sources: [{ ...src, nuclide: 'Xx999' }] }, d, at(5)), { code: 'E_UNKNOWN_NUCLIDE' });
});

/** Centroid of a peak above a straight line drawn between the window edges. */
function centroid(rates: Float64Array, kpc: number, lo_keV: number, hi_keV: number): number {
  const a = Math.floor(lo_keV / kpc);
  const b = Math.floor(hi_keV / kpc);
  const ya = (rates[a - 1] + rates[a] + rates[a + 1]) / 3;
  const yb = (rates[b - 1] + rates[b] + rates[b + 1]) / 3;
  let w = 0;
  let s = 0;
  for (let ch = a; ch <= b; ch++) {
    const base = ya + ((yb - ya) * (ch - a)) / (b - a);
    const net = rates[ch] - base;
    w += net;
    s += net * (ch + 0.5) * kpc;
  }
  return s / w;
}

t.test('gain drift moves the K-40 and Tl-208 peaks by the expected fraction', async (t) => {
  const d = det({ gainDriftPerDegC: -0.003, nChannels: 1024, keVPerChannel: 3 });
  const scene: Scene = { sources: [], background: {}, origin: ORIGIN };
  const pos = { x_m: 0, y_m: 0, z_m: 1 };
  const r20 = expectedRates(scene, d, pos, 20);
  const r40 = expectedRates(scene, d, pos, 40);
  const c20 = centroid(r20, 3, 1340, 1580);
  const c40 = centroid(r40, 3, 1340 * 0.94, 1580 * 0.94);
  // Within 15 keV: Bi-214 1408/1509 and Ac-228 1459/1496 keV sit in the same window and pull the centroid.
  t.ok(Math.abs(c20 - 1460.8) < 15, `K-40 at 20 °C: ${c20.toFixed(1)} keV`);
  t.ok(Math.abs(c40 / c20 - 0.94) < 0.002, `K-40 at 40 °C: ${c40.toFixed(1)} keV, ratio ${(c40 / c20).toFixed(4)}, expected 0.94`);
  const t20 = centroid(r20, 3, 2450, 2800);
  const t0 = centroid(expectedRates(scene, d, pos, 0), 3, 2450 * 1.06, 2800 * 1.06);
  t.ok(Math.abs(t0 / t20 - 1.06) < 0.002, `Tl-208 at 0 °C: ratio ${(t0 / t20).toFixed(4)}, expected 1.06`);
  // Re-binning keeps every count that stays on the grid, and moves by fractions of a channel (no staircase).
  const rates = new Float64Array(100);
  rates[50] = 1000;
  const moved = applyGain(rates, 1.013);
  t.ok(Math.abs(sum(moved) - 1000) < 1e-9, 're-binning conserves counts');
  t.ok(moved[50] > 0 && moved[51] > 0, `a channel shared out over two: ${moved[50].toFixed(1)} + ${moved[51].toFixed(1)}`);
  const c = (sum(moved.map((v, i) => v * (i + 0.5))) / 1000) / 50.5;
  // Exactly 1.013 before binning; the channel grid can only hold it to a fraction of a channel.
  t.ok(Math.abs(c - 1.013) < 1e-4, `centroid scales by the gain: ${c.toFixed(5)}`);
});

t.test('dead time: non-paralysable, live time = real − counts·τ', async (t) => {
  const tau = 10e-6;
  const d = det({ deadTime_s: tau });
  const scene: Scene = { sources: [{ nuclide: 'Cs137', activity_Bq: 3e9, position: { x_m: 0, y_m: 0, z_m: 1 } }], background: {}, origin: ORIGIN };
  const pose = { x_m: 2, y_m: 0 };
  const n = sum(expectedRates(scene, d, { x_m: 2, y_m: 0, z_m: 1 }));
  t.ok(n > 20000, `a hot source: true rate ${n.toFixed(0)} cps`);
  const rng = mulberry32(7);
  const [s] = simulateStep(scene, [d], pose, 1, rng);
  const recorded = sum(s.counts);
  const expectLive = 1 / (1 + n * tau);
  t.equal(s.realTime_s, 1);
  t.ok(Math.abs(s.liveTime_s - (1 - recorded * tau)) < 1e-12, 'live time is real time less counts × τ');
  t.ok(Math.abs(s.liveTime_s / expectLive - 1) < 0.01, `live ${s.liveTime_s.toFixed(4)} s vs 1/(1+nτ) = ${expectLive.toFixed(4)} s`);
  t.ok(Math.abs(recorded / s.liveTime_s / n - 1) < 0.02, `counts / live time ${(recorded / s.liveTime_s).toFixed(0)} cps recovers the true rate ${n.toFixed(0)}`);
  const [noDead] = simulateStep(scene, [det()], pose, 1, rng);
  t.equal(noDead.liveTime_s, 1, 'no dead time: live = real');
});

t.test('Poisson sampler: mean and variance, seeded, fast enough for 1024 channels at 10 Hz', async (t) => {
  for (const mean of [0.05, 0.7, 3, 9.9, 10, 42, 1000, 2.5e5]) {
    const rng = mulberry32(12345);
    const N = 40000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < N; i++) {
      const k = poisson(rng, mean);
      if (!Number.isInteger(k) || k < 0) t.fail(`non-integer or negative draw ${k}`);
      s += k;
      s2 += k * k;
    }
    const m = s / N;
    const v = s2 / N - m * m;
    // 5 standard errors of the mean; the variance estimate has relative error ~sqrt(2/N) (+ excess kurtosis 1/mean).
    t.ok(Math.abs(m - mean) < 5 * Math.sqrt(mean / N), `mean ${mean}: sample mean ${m.toFixed(4)}`);
    t.ok(Math.abs(v / mean - 1) < 5 * Math.sqrt(2 / N + 1 / (mean * N)), `mean ${mean}: sample variance ${v.toFixed(4)}`);
  }
  const a = mulberry32(99);
  const b = mulberry32(99);
  const xs = Array.from({ length: 50 }, () => poisson(a, 20));
  t.same(Array.from({ length: 50 }, () => poisson(b, 20)), xs, 'same seed, same draws');
  t.throws(() => poisson(a, -1), RangeError);

  // A 1024-channel, 4-detector step at 10 Hz.
  const scene: Scene = { sources: [{ nuclide: 'Cs137', activity_Bq: 1e8, position: { x_m: 0, y_m: 0, z_m: 1 } }], background: {}, origin: ORIGIN };
  const dets = ['a', 'b', 'c', 'd'].map((id, i) => det({ id, model: DETECTORS['NaI-2x4x16'], offset: { x_m: 0, y_m: i - 1.5, z_m: 1 }, deadTime_s: 5e-6 }));
  const rng = mulberry32(1);
  simulateStep(scene, dets, { x_m: -20, y_m: -4 }, 0.1, rng); // warm the response caches
  const N = 200;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) simulateStep(scene, dets, { x_m: -20 + i * 0.2, y_m: -4 }, 0.1, rng);
  const perDetector_ms = (performance.now() - t0) / N / dets.length;
  // The speed itself is a bench figure; this bound (about 50x the measured cost) only catches an algorithmic blow-up
  // without failing on a loaded CI machine.
  t.ok(perDetector_ms < 10, `one 1024-channel detector step: ${(perDetector_ms * 1000).toFixed(0)} µs (rates, drift, dead time, Poisson)`);
});

t.test('a drive: positions along the trajectory, count rate peaks at closest approach', async (t) => {
  const scene: Scene = { sources: [{ nuclide: 'Cs137', activity_Bq: 3.7e8, position: { x_m: 0, y_m: 0, z_m: 1 } }], background: {}, origin: ORIGIN };
  const dets = [
    det({ id: 'left', model: DETECTORS['NaI-2x4x16'], offset: { x_m: 0, y_m: 1, z_m: 1 } }),
    det({ id: 'right', model: DETECTORS['NaI-2x4x16'], offset: { x_m: 0, y_m: -1, z_m: 1 } }),
  ];
  const trajectory = straightPass({ speed_m_s: 5, offset_m: -5, from_m: -40, to_m: 40 });
  const ms = simulateDrive(scene, dets, trajectory, { dt_s: 0.5, seed: 3 });
  t.equal(ms.length, 32, '80 m at 5 m/s in 0.5 s steps');
  t.same(ms.map((m) => m.id).slice(0, 2), ['m000001', 'm000002']);
  t.equal(ms[1].startTime, '2024-06-01T08:00:00.500Z');
  const xs = ms.map((m) => geoToLocal(ORIGIN, m.position!));
  t.ok(xs.every((p, i) => Math.abs(p.x_m - (-40 + 2.5 * i + 1.25)) < 0.01 && Math.abs(p.y_m + 5) < 0.01), 'vehicle positions follow the lane (x = −40 + 5 t, y = −5)');
  const leftPos = geoToLocal(ORIGIN, ms[0].spectra[0].position!);
  t.ok(Math.abs(leftPos.y_m + 4) < 0.01 && Math.abs(leftPos.z_m - 1) < 1e-9, 'the left detector (heading east) is 1 m north of the vehicle, 1 m up');
  const gross = ms.map((m) => sum(m.spectra[0].counts));
  const peak = gross.indexOf(Math.max(...gross));
  const closest = xs.reduce((best, p, i) => (Math.abs(p.x_m) < Math.abs(xs[best].x_m) ? i : best), 0);
  t.ok(Math.abs(peak - closest) <= 1, `gross counts peak at step ${peak}, closest approach at step ${closest}`);
  t.ok(gross[peak] > 2 * gross[0], `peak ${gross[peak]} vs start ${gross[0]} counts`);
  const right = ms[peak].spectra[1];
  t.ok(sum(right.counts) < gross[peak], 'the detector on the far side sees less');
  t.same(ms[0].spectra[0].calibration, { coefficients: [0, 3] }, 'each spectrum carries its detector calibration');
  // Seeded: the same drive again gives the same counts; another seed does not.
  const again = simulateDrive(scene, dets, trajectory, { dt_s: 0.5, seed: 3 });
  t.same(Array.from(again[10].spectra[0].counts), Array.from(ms[10].spectra[0].counts), 'deterministic for a seed');
  const other = simulateDrive(scene, dets, trajectory, { dt_s: 0.5, seed: 4 });
  t.not(sum(other[10].spectra[0].counts), sum(ms[10].spectra[0].counts), 'another seed, other counts');

  // A loop: every pose at the radius, heading tangent (counterclockwise: heading = angle + 90°).
  const poses = trajectoryPoses(loop({ center: { x_m: 10, y_m: 0 }, radius_m: 20, speed_m_s: 5 }), 1);
  t.equal(poses.length, Math.floor((2 * Math.PI * 20) / 5));
  t.ok(poses.every((p) => Math.abs(Math.hypot(p.x_m - 10, p.y_m) - 20) < 1e-9), 'loop poses lie on the circle');
  const p0 = poses[0];
  const ang = Math.atan2(p0.y_m, p0.x_m - 10);
  t.ok(Math.abs(Math.cos(p0.heading_rad! - ang - Math.PI / 2) - 1) < 1e-9, 'heading is tangent');
});

t.test('local tangent plane ↔ WGS84 round trip', async (t) => {
  const g = localToGeo(ORIGIN, { x_m: 123.4, y_m: -567.8, z_m: 2.5 });
  const back = geoToLocal(ORIGIN, g);
  t.ok(Math.abs(back.x_m - 123.4) < 1e-6 && Math.abs(back.y_m + 567.8) < 1e-6 && back.z_m === 2.5, 'round trip');
  // 1 km north is about 0.009° of latitude at 52° N (111.3 km per degree).
  const north = localToGeo(ORIGIN, { x_m: 0, y_m: 1000, z_m: 0 });
  t.ok(Math.abs((north.lat - ORIGIN.lat) * 111_265 - 1000) < 5, `1 km north: ${((north.lat - ORIGIN.lat) * 1e3).toFixed(5)} m°`);
});
