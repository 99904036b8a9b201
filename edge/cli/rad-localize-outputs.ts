// Files `rad localize` writes besides its answer: the PNG drive map (--map) and the dose contours as GeoJSON (--contours).
import { writeFile } from 'node:fs/promises';
import { contoursGeoJson, createDoseField, DEFAULT_CONTOUR_LEVELS_uSv_h, doseSourcesFromEstimates, type GeoJsonFeatureCollection } from '../../analysis/radiation/dosefield.js';
import { toGeo } from '../../analysis/radiation/localize/geo.js';
import type { LocalizedDrive } from '../../analysis/radiation/localize/drive.js';
import { renderDriveMap, type PathPoint } from '../radiation/map.js';
import { InputError } from '../../common/errors.js';

export interface LocalizeOutputOptions {
  /** PNG file of the drive map. */
  map?: string;
  /** GeoJSON file of the dose contours. */
  contours?: string;
  levels_uSv_h?: readonly number[];
  width?: number;
  height?: number;
}

/** `--levels 100,20,1,0.5` → numbers, naming the flag when one is not a positive rate. */
export function parseLevels(v: string): number[] {
  const out = v.split(',').map((s) => Number(s.trim()));
  if (out.length === 0 || !out.every((x) => Number.isFinite(x) && x > 0)) throw new InputError(`--levels: expected dose rates in µSv/h separated by commas (e.g. 100,20,1,0.5), got "${v}"`);
  return out;
}

/** The reference detector's count rate along the drive, in drive order, as map points. */
export function drivePath(r: LocalizedDrive): PathPoint[] {
  const ref = r.drive.referenceDetector;
  return r.drive.measurements
    .filter((m) => m.detector === ref && m.liveTime_s > 0)
    .sort((a, b) => a.t_s - b.t_s)
    .map((m) => {
      const g = toGeo(r.drive.origin, { x_m: m.x_m, y_m: m.y_m, z_m: m.z_m });
      return { lat: g.lat, lon: g.lon, cps: m.counts / m.liveTime_s };
    });
}

/**
 * Dose contours of the localized sources. Needs an activity per source (a calibrated reference detector); without
 * one the collection is empty and the warning says why, rather than guessing a strength.
 */
export function localizeContours(r: LocalizedDrive, levels: readonly number[] = DEFAULT_CONTOUR_LEVELS_uSv_h): { geojson: GeoJsonFeatureCollection; warnings: string[] } {
  const { sources, skipped } = doseSourcesFromEstimates(r.result.sources);
  const warnings = skipped.map((s) => `contours: ${s}`);
  if (sources.length === 0) return { geojson: { type: 'FeatureCollection', features: [] }, warnings };
  return { geojson: contoursGeoJson(createDoseField(sources), r.drive.origin, { levels_uSv_h: levels }), warnings };
}

/** Writes the requested files; returns what it wrote and any warnings for stderr. */
export async function writeLocalizeOutputs(r: LocalizedDrive, opts: LocalizeOutputOptions): Promise<{ written: string[]; warnings: string[] }> {
  const written: string[] = [];
  const warnings: string[] = [];
  if (!opts.map && !opts.contours) return { written, warnings };
  const c = localizeContours(r, opts.levels_uSv_h);
  warnings.push(...c.warnings);
  if (opts.contours) {
    await writeFile(opts.contours, `${JSON.stringify(c.geojson)}\n`);
    written.push(opts.contours);
  }
  if (opts.map) {
    const png = await renderDriveMap({
      path: drivePath(r),
      sources: r.result.sources,
      contours: c.geojson,
      origin: r.drive.origin,
      ...(opts.width !== undefined ? { width: opts.width } : {}),
      ...(opts.height !== undefined ? { height: opts.height } : {}),
      title: `rad localize: ${r.result.sources.length} source(s), ${r.result.measurements} readings`,
    });
    await writeFile(opts.map, png);
    written.push(opts.map);
  }
  return { written, warnings };
}
