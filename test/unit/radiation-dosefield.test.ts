// Dose field: analytic point-source agreement at 1-50 m, contours (closed, nested, right radius, right-hand rule), exposure by hand.
import t from 'tap';
import { mu_cm } from '../../analysis/radiation/attenuation.js';
import { pointSourceDoseRate_uSv_h } from '../../analysis/radiation/dose.js';
import {
  contoursGeoJson,
  contoursLocal,
  createDoseField,
  DoseFieldError,
  dwellExposure,
  pathExposure,
  pointInRing,
  signedArea2,
  timeToLimit_s,
  waypointsFromGeo,
} from '../../analysis/radiation/dosefield.js';
import { toGeo, toLocal } from '../../analysis/radiation/localize/geo.js';

const DISTANCES = [1, 2, 5, 10, 20, 50];
/**
 * Published H*(10) dose-rate constants (µSv·m²/(h·MBq)) for an unshielded point source, used for the hand
 * formula Γ·A/r²·e^(-μr): Cs-137 (with Ba-137m) 0.0927, Co-60 0.354 (e.g. the ICRP 74 based tables of
 * radiation-protection handbooks; quoted values vary by about 3 %).
 */
const GAMMA = { Cs137: { gamma: 0.0927, E: [661.657] }, Co60: { gamma: 0.354, E: [1173.228, 1332.492] } } as const;

t.test('dose field matches the analytic point-source value within 5 % at 1-50 m', async (t) => {
  for (const nuclide of ['Cs137', 'Co60'] as const) {
    const A = 1e9;
    for (const buildup of ['none', 'linear'] as const) {
      const field = createDoseField([{ x_m: 0, y_m: 0, z_m: 1, nuclide, activity_Bq: A }], { buildup });
      for (const r of DISTANCES) {
        const got = field.rate({ x_m: r * 0.6, y_m: r * 0.8, z_m: 1 });
        const ref = pointSourceDoseRate_uSv_h({ nuclide, activity_Bq: A, distance_m: r, buildup: buildup === 'linear' });
        t.ok(Math.abs(got / ref - 1) < 0.05, `${nuclide} ${buildup} ${r} m: ${got.toPrecision(4)} vs dose.ts ${ref.toPrecision(4)} µSv/h`);
      }
    }
    // Independent hand formula: published rate constant, inverse square, air attenuation of the line(s), no buildup.
    const field = createDoseField([{ x_m: 0, y_m: 0, z_m: 0, nuclide, activity_Bq: A }], { buildup: 'none' });
    const g = GAMMA[nuclide];
    for (const r of DISTANCES) {
      const att = g.E.reduce((s, E) => s + Math.exp(-mu_cm('air', E) * r * 100), 0) / g.E.length;
      const hand = (g.gamma * (A / 1e6) * att) / (r * r);
      const got = field.rate({ x_m: 0, y_m: r, z_m: 0 });
      t.ok(Math.abs(got / hand - 1) < 0.05, `${nuclide} ${r} m: ${got.toPrecision(4)} vs Γ·A/r²·e^(-μr) ${hand.toPrecision(4)} µSv/h`);
    }
  }
});

t.test('a source given by its dose rate at 1 m reproduces it and falls off like the nuclide', async (t) => {
  const f = createDoseField([{ x_m: 5, y_m: 5, z_m: 2, nuclide: 'Cs137', doseRateAt1m_uSv_h: 250 }]);
  t.ok(Math.abs(f.rate({ x_m: 6, y_m: 5, z_m: 2 }) - 250) < 1e-9, '250 µSv/h at 1 m');
  const byActivity = createDoseField([{ x_m: 0, y_m: 0, z_m: 0, nuclide: 'Cs137', activity_Bq: 1e9 }]);
  const ratioA = byActivity.rate({ x_m: 30, y_m: 0, z_m: 0 }) / byActivity.rate({ x_m: 1, y_m: 0, z_m: 0 });
  const ratioD = f.rate({ x_m: 35, y_m: 5, z_m: 2 }) / f.rate({ x_m: 6, y_m: 5, z_m: 2 });
  t.ok(Math.abs(ratioA / ratioD - 1) < 1e-9, 'same fall-off as the activity form');
  t.throws(() => createDoseField([{ x_m: 0, y_m: 0, z_m: 0 }]), /sources\[0\]: expected activity_Bq or doseRateAt1m_uSv_h/);
  t.throws(() => createDoseField([{ x_m: 0, y_m: 0, z_m: 0, nuclide: 'Xx999', activity_Bq: 1 }]), DoseFieldError);
  t.throws(() => createDoseField([{ x_m: NaN, y_m: 0, z_m: 0, activity_Bq: 1 }]), /sources\[0\]\.x_m/);
});

/** Distance at which the single-source field equals `level` (bisection on the field itself). */
function radiusOf(field: ReturnType<typeof createDoseField>, level: number): number {
  let lo = 0.1;
  let hi = 5000;
  for (let k = 0; k < 80; k++) {
    const mid = (lo + hi) / 2;
    if (field.rate({ x_m: mid, y_m: 0, z_m: 1 }) > level) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

t.test('contours: closed rings, counter-clockwise, nested, analytic radius within a grid cell', async (t) => {
  // 10 GBq Co-60 at 1 m height: 100 µSv/h near 6 m, 0.5 µSv/h near 75 m on the 1 m plane.
  const field = createDoseField([{ x_m: 0, y_m: 0, z_m: 1, nuclide: 'Co60', activity_Bq: 1e10 }]);
  const { grid, contours } = contoursLocal(field, {});
  t.same(contours.map((c) => c.level_uSv_h), [100, 20, 1, 0.5], 'default levels');
  for (const c of contours) {
    t.equal(c.polygons.length, 1, `${c.level_uSv_h} µSv/h: one polygon`);
    const ring = c.polygons[0]![0]!;
    t.same(ring[0], ring[ring.length - 1], `${c.level_uSv_h}: ring closed`);
    t.ok(signedArea2(ring) > 0, `${c.level_uSv_h}: exterior counter-clockwise (right-hand rule)`);
    const r = radiusOf(field, c.level_uSv_h);
    const dists = ring.map(([x, y]) => Math.hypot(x, y));
    const worst = Math.max(...dists.map((d) => Math.abs(d - r)));
    t.ok(worst < grid.cell_m, `${c.level_uSv_h} µSv/h: radius ${r.toFixed(2)} m recovered within ${worst.toFixed(3)} m < cell ${grid.cell_m.toFixed(3)} m`);
  }
  const r100 = contours[0]!.polygons[0]![0]!;
  const r20 = contours[1]!.polygons[0]![0]!;
  t.ok(r100.every((p) => pointInRing(p, r20)), 'the 100 µSv/h ring lies inside the 20 µSv/h ring');

  // A finer grid recovers the 100 µSv/h radius closer still.
  const fine = contoursLocal(field, { levels_uSv_h: [100], grid: { xMin_m: -10, xMax_m: 10, yMin_m: -10, yMax_m: 10, cell_m: 0.1 } });
  const r = radiusOf(field, 100);
  const ring = fine.contours[0]!.polygons[0]![0]!;
  t.ok(Math.max(...ring.map(([x, y]) => Math.abs(Math.hypot(x, y) - r))) < 0.1, '100 µSv/h radius within a 0.1 m cell');
});

t.test('contours: two sources merge at low levels and stay apart at high ones; GeoJSON lon/lat', async (t) => {
  const origin = { lat: 53.54, lon: 9.98 };
  const field = createDoseField([
    { x_m: -10, y_m: 0, z_m: 1, nuclide: 'Cs137', activity_Bq: 2e10 },
    { x_m: 10, y_m: 0, z_m: 1, nuclide: 'Cs137', activity_Bq: 2e10 },
  ]);
  const gj = contoursGeoJson(field, origin, { levels_uSv_h: [100, 1] });
  t.equal(gj.type, 'FeatureCollection');
  const f100 = gj.features.find((f) => f.properties.level_uSv_h === 100)!;
  const f1 = gj.features.find((f) => f.properties.level_uSv_h === 1)!;
  t.equal(f100.geometry.coordinates.length, 2, '100 µSv/h: one island per source');
  t.equal(f1.geometry.coordinates.length, 1, '1 µSv/h: one merged area');
  for (const f of gj.features) {
    for (const poly of f.geometry.coordinates) {
      const ring = poly[0]!;
      t.same(ring[0], ring.at(-1), 'closed');
      t.ok(signedArea2(ring) > 0, 'counter-clockwise in lon/lat');
      // Back to local metres: the ring around the source at +10 m east has its centre there.
      const local = ring.map(([lon, lat]) => toLocal(origin, { lat, lon }));
      const cx = local.reduce((s, p) => s + p.x_m, 0) / local.length;
      if (f.properties.level_uSv_h === 100) t.ok(Math.abs(Math.abs(cx) - 10) < 0.5, `island centred at ±10 m east (${cx.toFixed(2)})`);
      else t.ok(Math.abs(cx) < 1, 'merged area centred between them');
    }
  }
});

t.test('exposure: straight walk past a source, dwell and time to limit by hand', async (t) => {
  // No attenuation nor buildup: rate = k/(d² + s²) along the path, so the dose of a walk at speed v from s=-L to +L
  // is (k/(d·v))·2·atan(L/d) (rate in µSv/h, time in h).
  const field = createDoseField([{ x_m: 0, y_m: 0, z_m: 1, nuclide: 'Cs137', activity_Bq: 1e10 }], { buildup: 'none', airAttenuation: false });
  const k = field.rate({ x_m: 1, y_m: 0, z_m: 1 }); // µSv/h at 1 m = k / 1 m²
  const d = 3;
  const L = 40;
  const v = 1.2;
  const exp = pathExposure(field, [{ x_m: -L, y_m: d }, { x_m: L, y_m: d }], { speed_m_s: v });
  const hand = ((k / (d * v)) * 2 * Math.atan(L / d)) / 3600;
  t.ok(Math.abs(exp.dose_uSv / hand - 1) < 1e-3, `walk dose ${exp.dose_uSv.toFixed(4)} µSv vs hand ${hand.toFixed(4)} µSv`);
  t.ok(Math.abs(exp.duration_s - (2 * L) / v) < 1e-9, 'duration = length / speed');
  t.ok(Math.abs(exp.maxRate_uSv_h - k / (d * d)) / (k / (d * d)) < 1e-3, 'peak rate at closest approach');

  // The same with times instead of a speed, and a 60 s dwell at the end.
  const timed = pathExposure(field, [{ x_m: -L, y_m: d, t_s: 0 }, { x_m: L, y_m: d, t_s: (2 * L) / v, dwell_s: 60 }]);
  const endRate = field.rate({ x_m: L, y_m: d, z_m: 1 });
  t.ok(Math.abs(timed.dose_uSv - (hand + (endRate * 60) / 3600)) / hand < 1e-3, 'timed path plus the dwell at its end');

  // Dwell: rate × time, limit / rate.
  const dw = dwellExposure(field, { x_m: 2, y_m: 0 }, 600, { limit_uSv: 100, received_uSv: 20 });
  t.ok(Math.abs(dw.rate_uSv_h - k / 4) / (k / 4) < 1e-9, 'rate at 2 m = k/4');
  t.ok(Math.abs(dw.dose_uSv - (k / 4) * (600 / 3600)) < 1e-9, '10 min dwell dose');
  t.ok(Math.abs(dw.timeToLimit_s! - (80 / (k / 4)) * 3600) < 1e-6, 'time to the 80 µSv left of the limit');
  t.equal(timeToLimit_s(0, 100), Infinity, 'no rate, no limit');
  t.equal(timeToLimit_s(10, 100, 150), 0, 'already over the limit');

  // Time to limit along the path: the limit set to half the walk's dose is reached at the closest approach (symmetry).
  const half = pathExposure(field, [{ x_m: -L, y_m: d }, { x_m: L, y_m: d }], { speed_m_s: v, limit_uSv: hand / 2 });
  t.ok(half.limitReached, 'limit reached');
  t.ok(Math.abs(half.timeToLimit_s! - L / v) < 0.05, `half the dose at the midpoint (${half.timeToLimit_s!.toFixed(3)} s vs ${(L / v).toFixed(3)} s)`);
  t.throws(() => pathExposure(field, [{ x_m: 0, y_m: 0, t_s: 5 }, { x_m: 1, y_m: 0, t_s: 2 }]), /path\[1\]\.t_s/);

  // The same walk planned in lat/lon gives the same dose.
  const origin = { lat: 53.54, lon: 9.98 };
  const a = toGeo(origin, { x_m: -L, y_m: d, z_m: 0 });
  const b = toGeo(origin, { x_m: L, y_m: d, z_m: 0 });
  const geo = pathExposure(field, waypointsFromGeo(origin, [{ lat: a.lat, lon: a.lon }, { lat: b.lat, lon: b.lon }]), { speed_m_s: v });
  t.ok(Math.abs(geo.dose_uSv / hand - 1) < 2e-3, `lat/lon path: ${geo.dose_uSv.toFixed(4)} µSv`);
});
