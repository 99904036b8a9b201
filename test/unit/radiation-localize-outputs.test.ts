// `rad localize --map/--contours` files from a simulated two-source drive: PNG decodes, GeoJSON rings closed around the sources.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { localizeContours, parseLevels, writeLocalizeOutputs, drivePath } from '../../edge/cli/rad-localize-outputs.js';
import { pointInRing, signedArea2, type GeoJsonFeatureCollection } from '../../analysis/radiation/dosefield.js';
import { localizeMeasurements } from '../../analysis/radiation/localize/drive.js';
import { buildScenario, twoSourceSpec } from '../../analysis/radiation/localize/scenarios.js';
import { writeDriveN42 } from '../../devices/radiation/files.js';
import { tempDir } from '../harness/services.js';
import { EDGE_CLI } from '../helpers/paths.js';

// One simulated drive for all three tests (the simulation is the slow part).
const s = buildScenario(twoSourceSpec());

t.test('map and contours of a localized drive', async (t) => {
  const r = localizeMeasurements(s.measurements, { nuclide: 'Cs137', detectorModels: Object.fromEntries(s.detectors.map((d) => [d.id, d.model])) });
  t.ok(r.result.sources.length >= 1, `${r.result.sources.length} source(s) localized`);
  const dir = tempDir('loc-out');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const map = join(dir, 'drive.png');
  const contours = join(dir, 'dose.geojson');
  const out = await writeLocalizeOutputs(r, { map, contours, levels_uSv_h: parseLevels('20,1,0.5'), width: 800, height: 560 });
  t.same(out.written.sort(), [contours, map].sort(), 'both files written');
  const meta = await sharp(readFileSync(map)).metadata();
  t.equal(meta.width, 800);
  t.equal(meta.height, 560);
  const gj = JSON.parse(readFileSync(contours, 'utf8')) as GeoJsonFeatureCollection;
  t.ok(gj.features.every((f) => [20, 1, 0.5].includes(f.properties.level_uSv_h)), 'only the levels asked for');
  const low = gj.features.find((f) => f.properties.level_uSv_h === 0.5);
  t.ok(low, '0.5 µSv/h contour present for 100 MBq sources');
  for (const src of r.result.sources) {
    const inside = low!.geometry.coordinates.some((poly) => pointInRing([src.lon, src.lat], poly[0]!));
    t.ok(inside, `source at ${src.lat.toFixed(6)}, ${src.lon.toFixed(6)} inside the 0.5 µSv/h area`);
  }
  for (const f of gj.features) for (const poly of f.geometry.coordinates) t.ok(signedArea2(poly[0]!) > 0 && poly[0]![0]![0] === poly[0]!.at(-1)![0], 'exterior closed, counter-clockwise');
  const path = drivePath(r);
  t.ok(path.length > 50 && path.every((p) => p.cps >= 0), `${path.length} path points of the reference detector`);
  t.throws(() => parseLevels('20,-1'), /--levels/);
});

t.test('uncalibrated sources give no contours and say why', async (t) => {
  const r = localizeMeasurements(s.measurements, { nuclide: 'Cs137', detectorModels: Object.fromEntries(s.detectors.map((d) => [d.id, d.model])) });
  const stripped = { ...r, result: { ...r.result, sources: r.result.sources.map((x) => ({ ...x, activity_Bq: undefined })) } };
  const c = localizeContours(stripped);
  t.equal(c.geojson.features.length, 0, 'no contours without a source strength');
  t.match(c.warnings[0], /no activity/, 'warning says why');
});

t.test('rad localize --map --contours --levels through the CLI on N42 files', async (t) => {
  const dir = tempDir('loc-cli');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const drive = join(dir, 'drive');
  mkdirSync(drive);
  await writeDriveN42(drive, s.measurements);
  const map = join(dir, 'm.png');
  const contours = join(dir, 'c.geojson');
  const cli = EDGE_CLI;
  const models = ['--detector-model', 'low=NaI-2x2', '--detector-model', 'mid=NaI-2x4x16', '--detector-model', 'high=NaI-2x2'];
  const r = spawnSync(process.execPath, ['--import', 'tsx', cli, 'rad', 'localize', drive, ...models, '--map', map, '--contours', contours, '--levels', '20,1,0.5'], { encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0, `exit 0 (${r.stderr.slice(-300)})`);
  t.match(r.stderr, /wrote .*c\.geojson/);
  t.equal((await sharp(readFileSync(map)).metadata()).format, 'png', 'map is a PNG');
  const gj = JSON.parse(readFileSync(contours, 'utf8')) as GeoJsonFeatureCollection;
  t.same([...new Set(gj.features.map((f) => f.properties.level_uSv_h))].sort((a, b) => a - b), [0.5, 1, 20], 'the three levels asked for');
  const bad = spawnSync(process.execPath, ['--import', 'tsx', cli, 'rad', 'localize', drive, '--levels', 'high'], { encoding: 'utf8', timeout: 60_000 });
  t.not(bad.status, 0, 'bad --levels fails');
  t.match(bad.stderr, /--levels: expected dose rates/);
});
