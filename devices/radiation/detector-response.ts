// Detector responses on disk: reads a GADRAS-style description folder (Detector.dat + Efficiency.csv) and resolves a --detector name.
//
// Synchronous on purpose: a detector is resolved once, while flags or a node's options are checked and before
// anything runs, and option checking is synchronous. The files are a few kB; reads are bounded all the same.

import { closeSync, existsSync, fstatSync, openSync, readSync, readdirSync, statSync } from 'node:fs';
import { basename, delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CustomsError } from '../../common/errors.js';
import { DETECTORS, type DetectorModel } from '../../analysis/radiation/dose.js';
import {
  DrfError,
  type DrfDetectorModel,
  type DrfMaterial,
  detectorModelFromDrf,
  drfResponse,
  parseDetectorDat,
  parseEfficiencyCsv,
} from '../../analysis/radiation/drf.js';

/** Largest Detector.dat or Efficiency.csv read (256 KiB); the real ones are about 4 kB. */
export const MAX_DRF_FILE_BYTES = 256 * 1024;

export const DRF_FILES = { dat: 'Detector.dat', efficiency: 'Efficiency.csv' } as const;

/** A --detector (or config) name that is neither a known model, nor a description folder, nor one on the search path. */
export class UnknownDetectorError extends CustomsError {
  constructor(
    readonly nameOrDir: string,
    readonly valid: readonly string[],
    readonly searched: readonly string[],
  ) {
    super(
      'E_UNKNOWN_DETECTOR',
      `unknown detector model "${nameOrDir}", expected one of ${valid.join(', ')}, or a folder holding ${DRF_FILES.dat} and ${DRF_FILES.efficiency}` +
        (searched.length ? ` (descriptions searched in ${searched.join(', ')})` : ' (no description folder on the search path; set CUSTOMS_DRF_PATH)'),
    );
  }
}

function readBounded(path: string, limit: number): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DrfError(path, undefined, 'file', code === 'ENOENT' ? `not found; a description folder holds ${DRF_FILES.dat} and ${DRF_FILES.efficiency}` : `cannot be read (${code ?? String(e)})`);
  }
  try {
    const { size } = fstatSync(fd);
    if (size > limit) throw new DrfError(path, undefined, 'file', `expected at most ${limit} bytes, the file has ${size}`);
    // Read into a buffer of the limit + 1, so a file that grows after the stat cannot make the read unbounded.
    const buf = Buffer.alloc(Math.min(size, limit) + 1);
    let n = 0;
    while (n < buf.length) {
      const r = readSync(fd, buf, n, buf.length - n, n);
      if (r === 0) break;
      n += r;
    }
    if (n > limit) throw new DrfError(path, undefined, 'file', `expected at most ${limit} bytes, the file grew past that while read`);
    const bytes = buf.subarray(0, n);
    if (bytes.includes(0)) throw new DrfError(path, undefined, 'file', 'expected text, the file is binary');
    return bytes.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

export interface LoadDrfOptions {
  /** The crystal; default from the folder name, else from the resolution. */
  material?: DrfMaterial;
  /** Model name; default the folder's name. */
  name?: string;
  /** Per-file size limit (default MAX_DRF_FILE_BYTES). */
  maxBytes?: number;
}

/** Reads a description folder and builds its DetectorModel (analysis/radiation/drf.ts for the mapping). */
export function loadDrf(dir: string, opts: LoadDrfOptions = {}): DrfDetectorModel {
  const limit = opts.maxBytes ?? MAX_DRF_FILE_BYTES;
  const datFile = join(dir, DRF_FILES.dat);
  const effFile = join(dir, DRF_FILES.efficiency);
  const dat = parseDetectorDat(readBounded(datFile, limit), datFile);
  const efficiency = parseEfficiencyCsv(readBounded(effFile, limit), effFile);
  const name = opts.name ?? basename(resolve(dir));
  return detectorModelFromDrf(drfResponse({ name, dat, efficiency, datFile, ...(opts.material ? { material: opts.material } : {}) }));
}

// The project root: the nearest folder above this module with a package.json (source and dist/ alike).
function projectRoot(): string | undefined {
  for (let d = dirname(fileURLToPath(import.meta.url)); ; d = dirname(d)) {
    if (existsSync(join(d, 'package.json'))) return d;
    if (dirname(d) === d) return undefined;
  }
}

const isDir = (p: string): boolean => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

/**
 * Folders whose subfolders are descriptions, in search order: CUSTOMS_DRF_PATH (several, separated like PATH), then
 * CUSTOMS_REFDATA/drf, then the shared reference data beside the project (../shared/data/drf). Only existing ones.
 */
export function drfSearchPath(env: NodeJS.ProcessEnv = process.env): string[] {
  const root = projectRoot();
  const dirs = [
    ...(env.CUSTOMS_DRF_PATH ?? '').split(delimiter).filter((d) => d !== ''),
    ...(env.CUSTOMS_REFDATA ? [join(resolve(root ?? '.', env.CUSTOMS_REFDATA), 'drf')] : []),
    ...(root ? [join(root, '..', 'shared', 'data', 'drf')] : []),
  ].map((d) => resolve(d));
  return [...new Set(dirs)].filter(isDir);
}

/** Description names (subfolders with a Detector.dat) under the search path. */
export function drfNames(searchPath: readonly string[] = drfSearchPath()): string[] {
  const names = new Set<string>();
  for (const root of searchPath) {
    for (const e of readdirSync(root, { withFileTypes: true })) {
      if (e.isDirectory() && existsSync(join(root, e.name, DRF_FILES.dat))) names.add(e.name);
    }
  }
  return [...names].sort();
}

export interface ResolveDetectorOptions {
  /** Where to look for a description by name (default drfSearchPath()). */
  searchPath?: readonly string[];
}

/**
 * A detector for --detector or a node's config: a known model name ("NaI-2x2", DETECTORS), a description folder
 * ("./drf/NaI_3x3"), or a description's name on the search path ("NaI_3x3"), in that order. Anything else is an
 * UnknownDetectorError listing the valid names.
 */
export function resolveDetector(nameOrDir: string, opts: ResolveDetectorOptions = {}): DetectorModel {
  const known = DETECTORS[nameOrDir];
  if (known) return known;
  if (isDir(nameOrDir)) return loadDrf(nameOrDir);
  const searchPath = opts.searchPath ?? drfSearchPath();
  // A bare name only: "../x" or "a/b" is a path that was not found, never looked up on the search path.
  if (!/[\\/]/.test(nameOrDir) && nameOrDir !== '.' && nameOrDir !== '..') {
    for (const root of searchPath) {
      const dir = join(root, nameOrDir);
      if (existsSync(join(dir, DRF_FILES.dat))) return loadDrf(dir);
    }
  }
  throw new UnknownDetectorError(nameOrDir, [...Object.keys(DETECTORS), ...drfNames(searchPath)], searchPath);
}
