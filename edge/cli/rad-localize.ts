// `customs-edge rad localize`: where in 3D the sources of a recorded drive are, how strong, how sure (for officers, tests and the map/guidance tools).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../../common/errors.js';
import { DETECTORS, type DetectorModel } from '../../analysis/radiation/dose.js';
import { readRadFile } from '../../devices/radiation/files.js';
import { type LocalizeDriveOptions, type LocalizedDrive, localizeMeasurements } from '../../analysis/radiation/localize/drive.js';
import type { DetectorInfo, Measurement } from '../../analysis/radiation/spectrum.js';
import { parseLevels, writeLocalizeOutputs } from './rad-localize-outputs.js';

export interface ParsedDrive {
  files: string[];
  measurements: Measurement[];
  detectorInfo: DetectorInfo[];
}

/** Files named on the command line; a folder stands for the .n42 files in it, in name order. */
export function expandDriveFiles(paths: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new InputError(`${p}: no such file or folder`);
    }
    if (st.isDirectory()) {
      const names = readdirSync(p).filter((n) => n.toLowerCase().endsWith('.n42') && !n.startsWith('.')).sort();
      if (names.length === 0) throw new InputError(`${p}: folder holds no .n42 files`);
      out.push(...names.map((n) => join(p, n)));
    } else out.push(p);
  }
  return out;
}

/** Reads every file of a drive (N42 2006/2012, SPE, CSV), measurements in file order then time. */
export async function readDrive(paths: readonly string[], progress?: (done: number, total: number) => void): Promise<ParsedDrive> {
  const files = expandDriveFiles(paths);
  const measurements: Measurement[] = [];
  const detectorInfo: DetectorInfo[] = [];
  for (let i = 0; i < files.length; i++) {
    const f = await readRadFile(files[i]);
    measurements.push(...f.measurements);
    for (const d of f.detectors) if (!detectorInfo.some((x) => x.id === d.id)) detectorInfo.push(d);
    progress?.(i + 1, files.length);
  }
  return { files, measurements, detectorInfo };
}

/** The whole localization of recorded files: the full result and the parsed drive (for maps, contours, guidance). */
export async function localizeDriveFiles(paths: readonly string[], opts: LocalizeDriveOptions = {}, progress?: (msg: string) => void): Promise<LocalizedDrive & { parsed: ParsedDrive }> {
  const parsed = await readDrive(paths, (done, total) => {
    if (total >= 200 && (done % 100 === 0 || done === total)) progress?.(`read ${done}/${total} files`);
  });
  if (parsed.files.length >= 200) progress?.(`localizing ${parsed.measurements.length} measurements`);
  const r = localizeMeasurements(parsed.measurements, { ...opts, detectorInfo: [...(opts.detectorInfo ?? []), ...parsed.detectorInfo], source: parsed.files.length === 1 ? parsed.files[0] : `${parsed.files.length} files` });
  return { ...r, parsed };
}

function parseArea(v: string): [number, number, number] {
  const parts = v.split(/[x,]/).map(Number);
  if (parts.length !== 3 || !parts.every((p) => p > 0 && Number.isFinite(p))) throw new InputError(`--area: expected WIDTHxLENGTHxHEIGHT in metres (e.g. 200x200x10), got "${v}"`);
  return parts as [number, number, number];
}

function positiveInt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InputError(`${flag}: expected a whole number >= 1, got "${v}"`);
    return n;
  };
}

function detectorModels(v: string, prev: Record<string, DetectorModel> = {}): Record<string, DetectorModel> {
  const [id, name] = v.split('=');
  const model = name !== undefined ? DETECTORS[name] : undefined;
  if (id === undefined || id === '' || model === undefined) throw new InputError(`--detector-model: expected DETECTOR=MODEL with MODEL one of ${Object.keys(DETECTORS).join(', ')}, got "${v}"`);
  return { ...prev, [id]: model };
}

/** JSON shape printed by `rad localize --json`. */
export function localizeJson(r: LocalizedDrive): Record<string, unknown> {
  const res = r.result;
  return {
    sources: res.sources.map((s) => ({
      lat: s.lat,
      lon: s.lon,
      height_m: s.height_m,
      ...(s.nuclide !== undefined ? { nuclide: s.nuclide } : {}),
      cps_at_1m: s.cps_at_1m,
      ...(s.activity_Bq !== undefined ? { activity_Bq: s.activity_Bq } : {}),
      ci95: s.ci95,
      ambiguous: s.ambiguous,
      ...(s.mirror !== undefined ? { mirror: s.mirror } : {}),
    })),
    noSource: res.noSource,
    ...(res.reason !== undefined ? { reason: res.reason } : {}),
    measurements: res.measurements,
    background_cps: res.background_cps,
    warnings: res.warnings,
  };
}

function human(r: LocalizedDrive): string {
  const res = r.result;
  const lines: string[] = [];
  if (res.noSource) lines.push(`no source (${res.reason ?? 'below threshold'}) in ${res.measurements} readings`);
  res.sources.forEach((s, i) => {
    const ax = s.ci95.semiAxes_m.map((a) => a.toFixed(1)).join(' x ');
    lines.push(
      `source ${i + 1}: ${s.lat.toFixed(7)}, ${s.lon.toFixed(7)}, ${s.height_m.toFixed(1)} m high` +
        `${s.nuclide ? `, ${s.nuclide}` : ''}, ${s.cps_at_1m.toFixed(0)} cps at 1 m` +
        `${s.activity_Bq !== undefined ? ` (~${(s.activity_Bq / 1e6).toFixed(1)} MBq apparent)` : ''}; 95 % region ${ax} m` +
        `${s.ambiguous && s.mirror ? `; AMBIGUOUS: mirror at ${s.mirror.lat.toFixed(7)}, ${s.mirror.lon.toFixed(7)}` : ''}`,
    );
  });
  for (const w of res.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}

/** Adds `rad localize` to the `rad` command. */
export function registerLocalizeCommand(rad: Command): void {
  rad
    .command('localize')
    .description('3D source localization from a drive: Poisson maximum likelihood over per-detector positions, 95 % regions, mirror ambiguity')
    .argument('<drive...>', 'N42 files of the drive (or folders of them), one measurement per file or many')
    .option('--json', 'print JSON: { sources: [ { lat, lon, height_m, nuclide, cps_at_1m, activity_Bq, ci95, ambiguous } ], noSource, warnings }')
    .option('--nuclide <id>', 'count the ROI of this nuclide\'s main line (default: identified from the drive)')
    .option('--gross', 'use gross counts (no nuclide, no ROI)')
    .option('--area <WxLxH>', 'searched area in metres around the drive (default 200x200x10)', parseArea)
    .option('--max-sources <n>', 'most sources to report (default 3)', positiveInt('--max-sources'))
    .option('--detector-model <det=model>', `detector model of a detector id, repeatable: ${Object.keys(DETECTORS).join(', ')}`, detectorModels)
    .option('--reference <detector>', 'detector whose counts at 1 m define cps_at_1m (default the first)')
    // Outputs of the dose/guidance part (rad-localize-outputs.ts): map PNG and dose contours.
    .option('--map <file.png>', 'write a PNG map: drive path coloured by count rate, sources with 95 % regions, dose contours')
    .option('--contours <file.geojson>', 'write H*(10) dose-rate contours as GeoJSON (needs a calibrated activity)')
    .option('--levels <list>', 'contour levels in µSv/h (default 100,20,1,0.5)', parseLevels)
    .action(async (files: string[], opts: { json?: boolean; nuclide?: string; gross?: boolean; area?: [number, number, number]; maxSources?: number; detectorModel?: Record<string, DetectorModel>; reference?: string; map?: string; contours?: string; levels?: number[] }) => {
      const r = await localizeDriveFiles(files, {
        ...(opts.nuclide !== undefined ? { nuclide: opts.nuclide } : {}),
        ...(opts.gross === true ? { identify: false } : {}),
        ...(opts.area !== undefined ? { area: { size_m: opts.area } } : {}),
        ...(opts.maxSources !== undefined ? { maxSources: opts.maxSources } : {}),
        ...(opts.detectorModel !== undefined ? { detectorModels: opts.detectorModel } : {}),
        ...(opts.reference !== undefined ? { referenceDetector: opts.reference } : {}),
      }, (msg) => process.stderr.write(`${msg}\n`));
      process.stdout.write(opts.json === true ? `${JSON.stringify(localizeJson(r), null, 2)}\n` : `${human(r)}\n`);
      const out = await writeLocalizeOutputs(r, { ...(opts.map !== undefined ? { map: opts.map } : {}), ...(opts.contours !== undefined ? { contours: opts.contours } : {}), ...(opts.levels !== undefined ? { levels_uSv_h: opts.levels } : {}) });
      for (const w of out.warnings) process.stderr.write(`warning: ${w}\n`);
      for (const f of out.written) process.stderr.write(`wrote ${f}\n`);
    });
}
