// Drive map PNG: decodes with sharp, right size, the source marker, path and contours where the projection puts them.
import t from 'tap';
import sharp from 'sharp';
import { contoursGeoJson, createDoseField } from '../../analysis/radiation/dosefield.js';
import { toGeo } from '../../analysis/radiation/localize/geo.js';
import type { SourceEstimate } from '../../analysis/radiation/localize/types.js';
import { driveMapSvg, groundEllipse, MapError, renderDriveMap, type PathPoint } from '../../edge/radiation/map.js';

const origin = { lat: 53.54, lon: 9.98 };

function scene() {
  const src = { x_m: 20, y_m: 10, z_m: 2 };
  const g = toGeo(origin, src);
  const k = Math.sqrt(7.8147);
  const estimate: SourceEstimate = {
    ...src,
    lat: g.lat,
    lon: g.lon,
    height_m: 2,
    nuclide: 'Cs137',
    cps_at_1m: 3000,
    activity_Bq: 5e9,
    covariance_m2: [
      [4, 0, 0, 0],
      [0, 1, 0, 0],
      [0, 0, 1, 0],
      [0, 0, 0, 1],
    ],
    ci95: { semiAxes_m: [2 * k, k, k], axes: [[1, 0, 0], [0, 1, 0], [0, 0, 1]], method: 'fisher' },
    ambiguous: false,
  };
  // A loop 30 m around the source, count rate 1/r² over background.
  const path: PathPoint[] = [];
  for (let i = 0; i <= 120; i++) {
    const a = (i / 120) * 2 * Math.PI;
    const x = src.x_m + 30 * Math.cos(a) + 10 * Math.sin(3 * a);
    const y = src.y_m + 25 * Math.sin(a);
    const r = Math.hypot(x - src.x_m, y - src.y_m, 1 - src.z_m);
    const p = toGeo(origin, { x_m: x, y_m: y, z_m: 0 });
    path.push({ lat: p.lat, lon: p.lon, cps: 200 + 3000 * 400 / (r * r) });
  }
  const field = createDoseField([{ ...src, nuclide: 'Cs137', activity_Bq: 5e9 }]);
  const contours = contoursGeoJson(field, origin, { levels_uSv_h: [20, 1, 0.5] });
  return { estimate, path, contours };
}

t.test('ground ellipse of a 3D region', async (t) => {
  const e = groundEllipse({ semiAxes_m: [4, 2, 1], axes: [[0, 1, 0], [1, 0, 0], [0, 0, 1]], method: 'fisher' });
  t.ok(Math.abs(e.a_m - 4) < 1e-9 && Math.abs(e.b_m - 2) < 1e-9, 'semi-axes 4 and 2');
  t.ok(Math.abs(Math.abs(e.angle_rad) - Math.PI / 2) < 1e-9, 'major axis north');
  // Tilted in x-z: the shadow on the ground is longer than the xy semi-axis alone.
  const c = Math.SQRT1_2;
  const tilted = groundEllipse({ semiAxes_m: [4, 1, 1], axes: [[c, 0, c], [0, 1, 0], [-c, 0, c]], method: 'fisher' });
  t.ok(Math.abs(tilted.a_m - Math.sqrt(16 / 2 + 1 / 2)) < 1e-9, `shadow semi-axis ${tilted.a_m.toFixed(3)} m`);
});

t.test('map PNG decodes with the expected size and content', async (t) => {
  const { estimate, path, contours } = scene();
  t.equal(contours.features.length, 3, 'three contour levels drawn');
  const opts = { path, sources: [estimate], contours, width: 900, height: 640, origin, title: 'test drive' };
  const svg = driveMapSvg(opts);
  const png = await renderDriveMap(opts);
  t.same([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  const meta = await sharp(png).metadata();
  t.equal(meta.width, 900);
  t.equal(meta.height, 640);
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const at = (x: number, y: number) => {
    const i = (Math.round(y) * info.width + Math.round(x)) * info.channels;
    return [data[i]!, data[i + 1]!, data[i + 2]!];
  };
  const [sx, sy] = svg.project(estimate);
  const marker = at(sx, sy);
  t.ok(marker[0]! > 180 && marker[1]! < 60 && marker[2]! > 180, `source marker magenta at its projected pixel (${marker})`);
  // A path point far from the source: its colour is one of the ramp's, not the plot background.
  const [qx, qy] = svg.project(path[60]!);
  const onPath = at(qx, qy);
  t.notSame(onPath, [244, 244, 240], `path drawn at its projected pixel (${onPath})`);
  // The closest path point is the brightest (yellow end of the ramp), the farthest is dark blue.
  let near = 0;
  let far = 0;
  path.forEach((p, i) => {
    if (p.cps > path[near]!.cps) near = i;
    if (p.cps < path[far]!.cps) far = i;
  });
  const cNear = at(...svg.project(path[near]!));
  const cFar = at(...svg.project(path[far]!));
  t.ok(cNear[0]! + cNear[1]! > cFar[0]! + cFar[1]! + 150, `high rate brighter (${cNear}) than low rate (${cFar})`);
  const colours = new Set<number>();
  for (let i = 0; i < data.length; i += info.channels * 7) colours.add((data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!);
  t.ok(colours.size > 50, `non-trivial image: ${colours.size} distinct colours sampled`);
  t.match(svg.svg, /20 µSv\/h/, 'legend lists the contour levels');
  t.ok(svg.metresPerPixel > 0.05 && svg.metresPerPixel < 1, `scale ${svg.metresPerPixel.toFixed(3)} m/px`);
});

t.test('bad map input is refused with the field named', async (t) => {
  t.throws(() => driveMapSvg({ path: [] }), MapError);
  t.throws(() => driveMapSvg({ path: [{ lat: NaN, lon: 0, cps: 1 }] }), /path\[0\]/);
  t.throws(() => driveMapSvg({ path: [{ lat: 1, lon: 1, cps: 1 }], width: 10 }), /width\/height/);
  const single = await renderDriveMap({ path: [{ lat: 53.5, lon: 10, cps: 5 }], width: 300, height: 200 });
  t.equal((await sharp(single).metadata()).width, 300, 'a single point still renders');
});
