// GADRAS-style detector response descriptions (Detector.dat + Efficiency.csv): parsers and the mapping onto DetectorModel.
//
// Pure: text in, values out; devices/radiation/detector-response.ts reads the files. The conventions (what each
// parameter and column means, how the FWHM law and efficiencies map onto the model) are in
// docs/detector-responses.md; the formats were read from InterSpec's GenericGadrasDetectors (LGPL-2.1), no code.

import { CustomsError } from '../../common/errors.js';
import { type DetectorModel, photopeakEfficiency } from './dose.js';
import {
  DRF_MATERIALS,
  type DrfMaterial,
  type DrfResponse,
  type EfficiencyTable,
  drfPeakEfficiency,
  gadrasFwhm_keV,
} from './drf-response.js';

export * from './drf-response.js';

/** A detector description that is not what was expected; the message names the file, line and field. */
export class DrfError extends CustomsError {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly field: string,
    expected: string,
  ) {
    super('E_DRF', `${file}${line !== undefined ? `:${line}` : ''}: ${field}: ${expected}`);
  }
}

// ------------------------------------------------------------------------------------------------
// Detector.dat

export interface DetectorDatParameter {
  index: number;
  value: number;
  /** Third column: a fit flag (0/1) for most parameters, an integer setting for a few (channels, energies, Z). */
  flag: number;
  /** The name as the file writes it ("% FWHM @ 661 keV"). */
  label: string;
  line: number;
}

export interface DetectorDat {
  /** The "Version 18.7.6" line, where there is one. */
  version: string | undefined;
  parameters: ReadonlyMap<number, DetectorDatParameter>;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+$/;

/** Parses Detector.dat: one parameter a line, `index value flag name`, and a `Version x.y.z` line. */
export function parseDetectorDat(text: string, file: string): DetectorDat {
  const parameters = new Map<number, DetectorDatParameter>();
  let version: string | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const raw = lines[i]!.trim();
    if (raw === '') continue;
    const v = /^version\s+(\S+)/i.exec(raw);
    if (v) {
      version = v[1];
      continue;
    }
    const fields = raw.split(/\s+/);
    if (fields.length < 3) throw new DrfError(file, line, 'parameter line', `expected "index value flag name", got "${raw}"`);
    const [idx, value, flag] = fields as [string, string, string];
    if (!INTEGER.test(idx) || Number(idx) < 1) throw new DrfError(file, line, 'index', `expected a parameter number >= 1, got "${idx}"`);
    const index = Number(idx);
    if (!NUMBER.test(value)) throw new DrfError(file, line, `value of parameter ${index}`, `expected a number, got "${value}"`);
    if (!INTEGER.test(flag)) throw new DrfError(file, line, `flag of parameter ${index}`, `expected an integer, got "${flag}"`);
    const prev = parameters.get(index);
    if (prev) throw new DrfError(file, line, `parameter ${index}`, `given twice (first on line ${prev.line})`);
    parameters.set(index, { index, value: Number(value), flag: Number(flag), label: fields.slice(3).join(' '), line });
  }
  if (parameters.size === 0) throw new DrfError(file, undefined, 'parameters', 'expected "index value flag name" lines, found none');
  return { version, parameters };
}

// ------------------------------------------------------------------------------------------------
// Efficiency.csv

const REQUIRED_COLUMNS = ['Energy', 'Peak', 'PTOT'] as const;

/**
 * Parses Efficiency.csv: a header of column names (Energy, Peak, PCOM, PCOM1, SE, DE, PTOT, Ei*Rij), an optional
 * units row ("(keV),(%),..."), then one energy a row. Energy, Peak and PTOT are required; SE and DE are 0 where
 * absent. Percentages become fractions.
 */
export function parseEfficiencyCsv(text: string, file: string): EfficiencyTable {
  const lines = text.split(/\r?\n/);
  let i = 0;
  while (i < lines.length && lines[i]!.trim() === '') i++;
  if (i === lines.length) throw new DrfError(file, undefined, 'header', `expected a header with ${REQUIRED_COLUMNS.join(', ')}, the file is empty`);
  const headerLine = i + 1;
  const header = lines[i]!.split(',').map((h) => h.trim());
  const col = (name: string): number => header.findIndex((h) => h.toLowerCase() === name.toLowerCase());
  for (const name of REQUIRED_COLUMNS) {
    if (col(name) < 0) throw new DrfError(file, headerLine, 'header', `expected a column "${name}", got ${header.map((h) => `"${h}"`).join(', ')}`);
  }
  const cE = col('Energy');
  const cPeak = col('Peak');
  const cTot = col('PTOT');
  const cSE = col('SE');
  const cDE = col('DE');
  const table = { energy_keV: [] as number[], peak: [] as number[], total: [] as number[], singleEscape: [] as number[], doubleEscape: [] as number[] };
  for (i++; i < lines.length; i++) {
    const line = i + 1;
    const raw = lines[i]!.trim();
    if (raw === '') continue;
    const cells = raw.split(',').map((c) => c.trim());
    if (table.energy_keV.length === 0 && cells[0]!.startsWith('(')) continue; // the units row
    if (cells.length !== header.length) throw new DrfError(file, line, 'row', `expected ${header.length} comma-separated values like the header, got ${cells.length}`);
    const num = (c: number, what: string): number => {
      const cell = cells[c]!;
      if (!NUMBER.test(cell)) throw new DrfError(file, line, header[c]!, `expected ${what}, got "${cell}"`);
      return Number(cell);
    };
    const E = num(cE, 'an energy in keV');
    if (!(E > 0)) throw new DrfError(file, line, header[cE]!, `expected an energy > 0 keV, got ${E}`);
    const prev = table.energy_keV[table.energy_keV.length - 1];
    if (prev !== undefined && !(E > prev)) throw new DrfError(file, line, header[cE]!, `expected energies in increasing order, got ${E} keV after ${prev} keV`);
    const pct = (c: number): number => (c < 0 ? 0 : num(c, 'an efficiency in % >= 0') / 100);
    const values = [pct(cPeak), pct(cTot), pct(cSE), pct(cDE)];
    for (const [k, c] of [cPeak, cTot, cSE, cDE].entries()) {
      if (values[k]! < 0) throw new DrfError(file, line, header[c]!, `expected an efficiency in % >= 0, got ${values[k]! * 100}`);
    }
    table.energy_keV.push(E);
    table.peak.push(values[0]!);
    table.total.push(values[1]!);
    table.singleEscape.push(values[2]!);
    table.doubleEscape.push(values[3]!);
  }
  if (table.energy_keV.length < 2) throw new DrfError(file, undefined, 'rows', `expected at least 2 energies, got ${table.energy_keV.length}`);
  return table;
}

// ------------------------------------------------------------------------------------------------
// Detector.dat + Efficiency.csv -> DrfResponse

/** The parameters the mapping reads (GADRAS numbering). */
export const DRF_PARAMETERS = {
  resolutionOffset_keV: 6,
  fwhmAt661_pct: 7,
  resolutionPower: 8,
  solidAngle_pct: 9,
  length_cm: 10,
  width_cm: 11,
  heightOverWidth: 12,
  distance_cm: 17,
  setback_cm: 40,
} as const;

/** Crystal from a description's folder name ("NaI_3x3", "LaBr_10p", "HPGe_40p"); undefined when it does not say. */
export function drfMaterialFromName(name: string): DrfMaterial | undefined {
  if (/^nai/i.test(name)) return 'NaI';
  if (/^labr/i.test(name)) return 'LaBr3';
  if (/^(hp)?ge/i.test(name)) return 'HPGe';
  return undefined;
}

// Resolution at 661 keV separates the three crystals by a wide margin (HPGe 0.2-0.3 %, LaBr3 2.5-3.5 %, NaI 6-10 %).
function materialFromResolution(fwhmAt661_pct: number): DrfMaterial {
  if (fwhmAt661_pct < 1) return 'HPGe';
  if (fwhmAt661_pct < 4.5) return 'LaBr3';
  return 'NaI';
}

export interface DrfInput {
  /** The description's name, normally its folder's name. */
  name: string;
  dat: DetectorDat;
  efficiency: EfficiencyTable;
  /** The crystal; default from the name, else from the resolution. */
  material?: DrfMaterial;
  /** For error messages: the Detector.dat path (default "Detector.dat"). */
  datFile?: string;
}

/** Checks and gathers what a model needs from the two files. */
export function drfResponse(input: DrfInput): DrfResponse {
  const file = input.datFile ?? 'Detector.dat';
  const param = (index: number, expected: string, ok: (v: number) => boolean, fallback?: number): number => {
    const p = input.dat.parameters.get(index);
    if (!p) {
      if (fallback !== undefined) return fallback;
      throw new DrfError(file, undefined, `parameter ${index}`, `missing; expected ${expected}`);
    }
    if (!ok(p.value) || !Number.isFinite(p.value)) throw new DrfError(file, p.line, `parameter ${index} "${p.label}"`, `expected ${expected}, got ${p.value}`);
    return p.value;
  };
  const P = DRF_PARAMETERS;
  const offset_keV = param(P.resolutionOffset_keV, 'the resolution at 0 keV (keV, any sign)', () => true);
  const fwhmAt661_pct = param(P.fwhmAt661_pct, 'the resolution at 661 keV in % FWHM, in (0, 100)', (v) => v > 0 && v < 100);
  const power = param(P.resolutionPower, 'the resolution power, in (0, 2)', (v) => v > 0 && v < 2);
  const length = param(P.length_cm, 'the crystal length in cm, >= 0 (0: not given)', (v) => v >= 0);
  const width_cm = param(P.width_cm, 'the crystal width in cm, > 0', (v) => v > 0);
  const ratio = param(P.heightOverWidth, 'the height/width ratio, > 0', (v) => v > 0);
  const distance = param(P.distance_cm, 'the source distance in cm, >= 0', (v) => v >= 0);
  const setback = param(P.setback_cm, 'the detector setback in cm, >= 0', (v) => v >= 0, 0);
  if (input.material !== undefined && !DRF_MATERIALS.includes(input.material)) {
    throw new DrfError(input.name, undefined, 'material', `expected one of ${DRF_MATERIALS.join(', ')}, got "${String(input.material)}"`);
  }
  return {
    name: input.name,
    material: input.material ?? drfMaterialFromName(input.name) ?? materialFromResolution(fwhmAt661_pct),
    resolution: { offset_keV, fwhmAt661_pct, power },
    face: { width_cm, height_cm: width_cm * ratio },
    length_cm: length > 0 ? length : undefined,
    distance_cm: distance + setback,
    efficiency: input.efficiency,
  };
}

// ------------------------------------------------------------------------------------------------
// DrfResponse -> DetectorModel

/** A DetectorModel built from a description; `drf` carries the full FWHM law and efficiency table. */
export type DrfDetectorModel = DetectorModel & { drf: DrfResponse };

const CS137_keV = 661.657;

// DetectorModel's crystal is the material its built-in physics (attenuation tables) knows. LaBr3 (5.08 g/cm³) and
// HPGe (5.32 g/cm³) are not among them; CsI (4.51 g/cm³) is the nearest in density and stands in, with the depth
// fitted below so that the efficiency at 662 keV is the description's anyway. `drf.material` keeps the real one.
const STAND_IN: Readonly<Record<DrfMaterial, DetectorModel['crystal']>> = { NaI: 'NaI', LaBr3: 'CsI', HPGe: 'CsI' };

const MIN_DEPTH_cm = 0.01;
const MAX_DEPTH_cm = 100;

/**
 * The project's DetectorModel for a description, so that everything built on DetectorModel (templates, G(E),
 * simulated spectra, efficiencies) can use a real detector:
 * - resolution and efficiencies: `drf` itself; dose.ts (fwhm_keV, photopeakEfficiency, totalEfficiency,
 *   responseSpectrum) follows the description's GADRAS law and Efficiency.csv whenever a model carries one;
 *   fwhmAt662 is the law at 661.657 keV, exact there;
 * - crystal: NaI as is, LaBr3 and HPGe through a stand-in (see STAND_IN);
 * - shape: a box with the description's face (width × height), which gives the area photons are counted on, and a
 *   depth fitted so that the built-in physics' full-energy-peak efficiency at 661.657 keV equals the description's
 *   "Peak" there (used only by code that asks for the crystal depth, such as the mean chord). The description's own
 *   length is not used as the depth: the model's crystal physics is simpler than GADRAS's (no attenuator, no
 *   scatter from the surroundings), and a length is missing for some detectors (HPGe 40 %).
 */
export function detectorModelFromDrf(drf: DrfResponse): DrfDetectorModel {
  const crystal = STAND_IN[drf.material];
  const target = drfPeakEfficiency(drf, CS137_keV);
  const face = { width_cm: drf.face.width_cm, height_cm: drf.face.height_cm };
  const modelAt = (depth_cm: number): DetectorModel => ({
    name: drf.name,
    crystal,
    shape: { kind: 'box', ...face, depth_cm },
    fwhmAt662: gadrasFwhm_keV(drf.resolution, CS137_keV) / CS137_keV,
  });
  const eff = (depth_cm: number): number => photopeakEfficiency(modelAt(depth_cm), CS137_keV);
  if (!(target > eff(MIN_DEPTH_cm) && target < eff(MAX_DEPTH_cm))) {
    throw new DrfError(drf.name, undefined, 'Peak efficiency at 662 keV', `expected a value a ${crystal} crystal with a ${face.width_cm} x ${face.height_cm} cm face can reach (${(eff(MIN_DEPTH_cm) * 100).toFixed(2)}-${(eff(MAX_DEPTH_cm) * 100).toFixed(1)} %), got ${(target * 100).toFixed(2)} %`);
  }
  // The peak efficiency grows with depth (more interactions, longer escape paths), so bisection finds the one depth.
  let lo = MIN_DEPTH_cm;
  let hi = MAX_DEPTH_cm;
  for (let k = 0; k < 60 && hi - lo > 1e-6; k++) {
    const mid = (lo + hi) / 2;
    if (eff(mid) < target) lo = mid;
    else hi = mid;
  }
  return { ...modelAt((lo + hi) / 2), drf };
}
