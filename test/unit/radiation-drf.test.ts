// Detector responses from real detector descriptions (InterSpec's generic GADRAS DRFs): parsing, the FWHM law,
// efficiencies, the DetectorModel they become, --detector resolution and the errors on malformed files.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DETECTORS, detectorFaceArea_cm2, fwhm_keV, photopeakEfficiency } from '../../analysis/radiation/dose.js';
import {
  DrfError,
  drfFaceArea_cm2,
  drfPeakEfficiency,
  drfRelativeFwhm,
  drfResponse,
  drfSolidAngle_sr,
  gadrasFwhm_keV,
  parseDetectorDat,
  parseEfficiencyCsv,
  type DrfDetectorModel,
} from '../../analysis/radiation/drf.js';
import { drfNames, loadDrf, resolveDetector, UnknownDetectorError } from '../../devices/radiation/detector-response.js';
import { tempDir } from '../harness/services.js';
import { EDGE_CLI, ROOT, refData } from '../helpers/paths.js';

const DRF_ROOT = refData('drf');
const ALL = ['HPGe_10p', 'HPGe_20p', 'HPGe_40p', 'LaBr_10p', 'LaBr_5p', 'NaI_10p', 'NaI_12p', 'NaI_1x1', 'NaI_25p', 'NaI_2x2', 'NaI_30p', 'NaI_3x3', 'NaI_5p'];
const models = new Map<string, DrfDetectorModel>(ALL.map((n) => [n, loadDrf(join(DRF_ROOT, n))]));
const m = (name: string): DrfDetectorModel => models.get(name)!;
const param = (name: string, index: number): number => {
  const file = join(DRF_ROOT, name, 'Detector.dat');
  return parseDetectorDat(readFileSync(file, 'utf8'), file).parameters.get(index)!.value;
};
const CS = 661.657;

t.test('all 13 descriptions of the reference data load, with the crystal of their folder', async (t) => {
  t.same(drfNames([DRF_ROOT]), ALL);
  for (const [name, model] of models) {
    t.equal(model.name, name);
    t.equal(model.drf.material, name.startsWith('NaI') ? 'NaI' : name.startsWith('LaBr') ? 'LaBr3' : 'HPGe', `${name}: crystal`);
    t.equal(model.crystal, name.startsWith('NaI') ? 'NaI' : 'CsI', `${name}: the built-in physics' crystal (CsI stands in for LaBr3 and HPGe)`);
    t.equal(model.drf.efficiency.energy_keV.length, 64, `${name}: 64 energies, 10 keV-100 MeV`);
  }
  t.equal(m('HPGe_40p').drf.length_cm, undefined, 'HPGe 40 % gives no length (0 in the file)');
  t.equal(m('NaI_3x3').drf.length_cm, 7.6);
  t.equal(m('NaI_3x3').drf.distance_cm, 122.3, 'distance 122 cm + setback 0.3 cm');
});

t.test('resolution at 662 keV is the file\'s, for the description and for the DetectorModel', async (t) => {
  for (const [name, model] of models) {
    const file_pct = param(name, 7);
    const drf_pct = drfRelativeFwhm(model.drf, CS) * 100;
    t.ok(Math.abs(drf_pct / file_pct - 1) < 0.002, `${name}: ${drf_pct.toFixed(3)} % at 662 keV, file ${file_pct} % at 661 keV`);
    t.ok(Math.abs(fwhm_keV(model, CS) / gadrasFwhm_keV(model.drf.resolution, CS) - 1) < 1e-12, `${name}: DetectorModel FWHM at 662 keV is the law's`);
  }
  t.ok(Math.abs(m('NaI_3x3').fwhmAt662 - 0.063) < 0.0005, `NaI 3x3 ${(m('NaI_3x3').fwhmAt662 * 100).toFixed(2)} %`);
  for (const n of ['HPGe_10p', 'HPGe_20p', 'HPGe_40p']) t.ok(m(n).fwhmAt662 > 0.002 && m(n).fwhmAt662 < 0.003, `${n} ${(m(n).fwhmAt662 * 100).toFixed(3)} %`);
  for (const n of ['LaBr_5p', 'LaBr_10p']) t.ok(m(n).fwhmAt662 > 0.029 && m(n).fwhmAt662 < 0.036, `${n} ${(m(n).fwhmAt662 * 100).toFixed(2)} %`);
  for (const n of ALL.filter((x) => x.startsWith('NaI'))) t.ok(m(n).fwhmAt662 > 0.06 && m(n).fwhmAt662 < 0.095, `${n} ${(m(n).fwhmAt662 * 100).toFixed(2)} %`);
});

t.test('the GADRAS FWHM law: power law above 661 keV, both low-energy branches, continuous at 661 keV', async (t) => {
  const nai = m('NaI_3x3').drf.resolution; // -4, 6.3, 0.6
  const ge = m('HPGe_40p').drf.resolution; // 1.55, 0.25, 0.35
  // Hand-computed: 6.61·6.3·(1332/661)^0.6; 6.61·6.3·(100/661)^(0.6^(1/ln 5)); √(1.55² + (1.6525² − 1.55²)·(100/661)^0.7).
  t.ok(Math.abs(gadrasFwhm_keV(nai, 1332) - 63.405) < 0.01, `NaI 3x3 at 1332 keV ${gadrasFwhm_keV(nai, 1332).toFixed(3)} keV`);
  t.ok(Math.abs(gadrasFwhm_keV(nai, 100) - 10.529) < 0.01, `NaI 3x3 at 100 keV ${gadrasFwhm_keV(nai, 100).toFixed(3)} keV`);
  t.ok(Math.abs(gadrasFwhm_keV(ge, 100) - 1.578) < 0.001, `HPGe 40 % at 100 keV ${gadrasFwhm_keV(ge, 100).toFixed(3)} keV`);
  t.ok(Math.abs(gadrasFwhm_keV(ge, 1) - 1.55) < 0.01, 'HPGe: the offset is the width near 0 keV');
  t.equal(gadrasFwhm_keV(nai, 10), gadrasFwhm_keV(nai, 30), 'NaI (negative offset): held below 30 keV');
  for (const [name, model] of models) {
    const r = model.drf.resolution;
    t.ok(Math.abs(gadrasFwhm_keV(r, 661 - 1e-9) / gadrasFwhm_keV(r, 661) - 1) < 1e-9, `${name}: continuous at 661 keV`);
    let prev = 0;
    let rising = true;
    for (let E = 30; E <= 3000; E += 10) {
      const f = gadrasFwhm_keV(r, E);
      if (!(f >= prev)) rising = false;
      prev = f;
    }
    t.ok(rising, `${name}: FWHM (keV) never falls with energy`);
  }
});

t.test('efficiency at 662 keV grows with crystal size, and the DetectorModel reproduces it', async (t) => {
  const abs = (n: string): number => drfFaceArea_cm2(m(n).drf) * drfPeakEfficiency(m(n).drf, CS);
  for (const series of [['NaI_1x1', 'NaI_2x2', 'NaI_3x3'], ['NaI_5p', 'NaI_10p', 'NaI_12p', 'NaI_25p', 'NaI_30p'], ['LaBr_5p', 'LaBr_10p'], ['HPGe_10p', 'HPGe_20p', 'HPGe_40p']]) {
    for (let i = 1; i < series.length; i++) {
      t.ok(abs(series[i]!) > abs(series[i - 1]!), `${series[i]} ${abs(series[i]!).toFixed(1)} cm² > ${series[i - 1]} ${abs(series[i - 1]!).toFixed(1)} cm² (face area × peak efficiency)`);
    }
  }
  const intrinsic = ['NaI_1x1', 'NaI_2x2', 'NaI_3x3'].map((n) => drfPeakEfficiency(m(n).drf, CS));
  t.ok(intrinsic[0]! < intrinsic[1]! && intrinsic[1]! < intrinsic[2]!, `intrinsic peak efficiency 1x1 < 2x2 < 3x3: ${intrinsic.map((e) => e.toFixed(3)).join(' < ')}`);
  t.ok(Math.abs(drfPeakEfficiency(m('NaI_3x3').drf, 650) - 0.43007) < 1e-9, 'a tabulated energy gives the table\'s value (NaI 3x3 Peak 43.007 % at 650 keV)');
  for (const [name, model] of models) {
    const drf = drfPeakEfficiency(model.drf, CS);
    t.ok(Math.abs(photopeakEfficiency(model, CS) / drf - 1) < 1e-4, `${name}: model peak efficiency at 662 keV ${photopeakEfficiency(model, CS).toFixed(4)} = description ${drf.toFixed(4)}`);
    t.ok(Math.abs(detectorFaceArea_cm2(model) / drfFaceArea_cm2(model.drf) - 1) < 1e-12, `${name}: the model's face is the description's`);
  }
});

t.test('geometry: the face reproduces the NaI descriptions\' own solid angle; the fitted depth is near their length', async (t) => {
  for (const name of ['NaI_1x1', 'NaI_2x2', 'NaI_3x3', 'NaI_10p', 'NaI_12p', 'NaI_25p', 'NaI_30p']) {
    const drf = m(name).drf;
    const pct = (drfSolidAngle_sr(drf, drf.distance_cm) / (4 * Math.PI)) * 100;
    t.ok(Math.abs(pct / param(name, 9) - 1) < 0.005, `${name}: solid angle ${pct.toPrecision(4)} %, file ${param(name, 9)} %`);
  }
  for (const name of ALL.filter((n) => n.startsWith('NaI'))) {
    const model = m(name);
    const depth = model.shape.kind === 'box' ? model.shape.depth_cm : NaN;
    t.ok(Math.abs(depth / model.drf.length_cm! - 1) < 0.25, `${name}: fitted depth ${depth.toFixed(2)} cm, file length ${model.drf.length_cm} cm`);
  }
});

const DAT = ['  6     -4.00000      0   res. @ E=0 (keV)', '  7      6.30000      0   % FWHM @ 661 keV', '  8      0.60000      0   resolution power', ' 10      7.60000      0   det. length (cm)', ' 11      6.35000      1   det. width (cm)', ' 12      1.00000      0   height/width', ' 17    122.00000      0   distance (cm)', 'Version 18.7.6'];
const CSV = ['Energy,Peak,PCOM,PCOM1,SE,DE,PTOT,Ei*Rij', '(keV),(%),(%),(%),(%),(%),(%)', '600,47.015,35.637,22.569,0.000,0.000,138.889,453.678', '650,43.007,38.324,23.783,0.000,0.000,135.594,466.068', '700,40.054,40.036,24.790,0.000,0.000,124.619,469.299'];
const edit = (lines: string[], i: number, line: string): string => lines.map((l, k) => (k === i ? line : l)).join('\r\n');

t.test('malformed Detector.dat and Efficiency.csv: errors name the file, line and field, and what was expected', async (t) => {
  const dat = parseDetectorDat(DAT.join('\r\n'), 'x/Detector.dat');
  t.equal(dat.version, '18.7.6');
  t.equal(dat.parameters.get(7)!.label, '% FWHM @ 661 keV');
  const cases: [string, () => unknown, RegExp][] = [
    ['a value that is not a number', () => parseDetectorDat(edit(DAT, 1, '  7      six      0   % FWHM @ 661 keV'), 'x/Detector.dat'), /^x\/Detector\.dat:2: value of parameter 7: expected a number, got "six"$/],
    ['a line with too few fields', () => parseDetectorDat(edit(DAT, 2, '  8  0.6'), 'x/Detector.dat'), /^x\/Detector\.dat:3: parameter line: expected "index value flag name", got "8 {2}0\.6"$/],
    ['an index that is not a number', () => parseDetectorDat(edit(DAT, 0, '  A6  -4.0  0  res'), 'x/Detector.dat'), /^x\/Detector\.dat:1: index: expected a parameter number >= 1, got "A6"$/],
    ['a flag that is not an integer', () => parseDetectorDat(edit(DAT, 4, ' 11  6.35  1.5  det. width (cm)'), 'x/Detector.dat'), /:5: flag of parameter 11: expected an integer, got "1\.5"$/],
    ['a parameter given twice', () => parseDetectorDat(edit(DAT, 3, '  7  7.0  0  % FWHM @ 661 keV'), 'x/Detector.dat'), /:4: parameter 7: given twice \(first on line 2\)$/],
    ['a resolution out of range', () => drfResponse({ name: 'NaI_x', dat: parseDetectorDat(edit(DAT, 1, '  7  0  0  % FWHM @ 661 keV'), 'x/Detector.dat'), efficiency: parseEfficiencyCsv(CSV.join('\n'), 'x/Efficiency.csv'), datFile: 'x/Detector.dat' }), /^x\/Detector\.dat:2: parameter 7 "% FWHM @ 661 keV": expected the resolution at 661 keV in % FWHM, in \(0, 100\), got 0$/],
    ['a missing parameter', () => drfResponse({ name: 'NaI_x', dat: parseDetectorDat(edit(DAT, 4, ''), 'x/Detector.dat'), efficiency: parseEfficiencyCsv(CSV.join('\n'), 'x/Efficiency.csv'), datFile: 'x/Detector.dat' }), /^x\/Detector\.dat: parameter 11: missing; expected the crystal width in cm, > 0$/],
    ['a CSV value that is not a number', () => parseEfficiencyCsv(edit(CSV, 3, '650,4x.007,38.324,23.783,0.000,0.000,135.594,466.068'), 'x/Efficiency.csv'), /^x\/Efficiency\.csv:4: Peak: expected an efficiency in % >= 0, got "4x\.007"$/],
    ['a negative efficiency', () => parseEfficiencyCsv(edit(CSV, 4, '700,40.054,40.036,24.790,0.000,0.000,-1,469.299'), 'x/Efficiency.csv'), /^x\/Efficiency\.csv:5: PTOT: expected an efficiency in % >= 0, got -1$/],
    ['energies out of order', () => parseEfficiencyCsv(edit(CSV, 4, '640,40.054,40.036,24.790,0.000,0.000,124.619,469.299'), 'x/Efficiency.csv'), /^x\/Efficiency\.csv:5: Energy: expected energies in increasing order, got 640 keV after 650 keV$/],
    ['a row with a missing value', () => parseEfficiencyCsv(edit(CSV, 2, '600,47.015,35.637'), 'x/Efficiency.csv'), /^x\/Efficiency\.csv:3: row: expected 8 comma-separated values like the header, got 3$/],
    ['a header without PTOT', () => parseEfficiencyCsv(edit(CSV, 0, 'Energy,Peak,PCOM,PCOM1,SE,DE,TOT,Ei*Rij'), 'x/Efficiency.csv'), /^x\/Efficiency\.csv:1: header: expected a column "PTOT", got "Energy", "Peak"/],
  ];
  for (const [what, f, re] of cases) {
    t.throws(f, re, what);
    try {
      f();
    } catch (e) {
      t.ok(e instanceof DrfError && e.code === 'E_DRF', `${what}: a DrfError with code E_DRF`);
    }
  }
  const eff = parseEfficiencyCsv(CSV.join('\r\n'), 'x/Efficiency.csv');
  t.same(eff.energy_keV, [600, 650, 700], 'the units row is skipped');
  t.ok(Math.abs(eff.total[1]! - 1.35594) < 1e-12, 'percentages become fractions (PTOT may exceed 1)');
});

t.test('loadDrf: a missing file, a binary file and an oversized file are refused by name', async (t) => {
  const dir = tempDir('drf');
  const only = join(dir, 'NaI_only_dat');
  mkdirSync(only);
  copyFileSync(join(DRF_ROOT, 'NaI_3x3', 'Detector.dat'), join(only, 'Detector.dat'));
  t.throws(() => loadDrf(only), { code: 'E_DRF', message: `${join(only, 'Efficiency.csv')}: file: not found; a description folder holds Detector.dat and Efficiency.csv` });
  const bin = join(dir, 'NaI_binary');
  mkdirSync(bin);
  writeFileSync(join(bin, 'Detector.dat'), Buffer.from([0x37, 0x00, 0x01, 0x02]));
  t.throws(() => loadDrf(bin), { message: `${join(bin, 'Detector.dat')}: file: expected text, the file is binary` });
  t.throws(() => loadDrf(join(DRF_ROOT, 'NaI_3x3'), { maxBytes: 1000 }), { message: /Detector\.dat: file: expected at most 1000 bytes, the file has \d+$/ });
  const labr = loadDrf(join(DRF_ROOT, 'NaI_3x3'), { material: 'LaBr3', name: 'custom' });
  t.equal(labr.drf.material, 'LaBr3', 'the crystal can be given');
  t.equal(labr.name, 'custom');
});

t.test('resolveDetector: a model name, a description folder, a description name; anything else lists the valid names', async (t) => {
  t.equal(resolveDetector('NaI-2x2'), DETECTORS['NaI-2x2'], 'a built-in model is returned as is');
  const byDir = resolveDetector(join(DRF_ROOT, 'LaBr_10p'));
  t.equal(byDir.name, 'LaBr_10p');
  const byName = resolveDetector('NaI_3x3', { searchPath: [DRF_ROOT] });
  t.equal(byName.name, 'NaI_3x3');
  t.equal(byName.fwhmAt662, m('NaI_3x3').fwhmAt662);
  t.equal(resolveDetector('NaI_3x3').name, 'NaI_3x3', 'the shared reference data is on the default search path');
  const err = t.throws(() => resolveDetector('HPGe-90p', { searchPath: [DRF_ROOT] })) as unknown;
  t.ok(err instanceof UnknownDetectorError);
  t.match((err as Error).message, /unknown detector model "HPGe-90p", expected one of NaI-2x2, NaI-3x3, NaI-2x4x16, CsI-1cm3, HPGe_10p, .*NaI_5p, or a folder holding Detector\.dat and Efficiency\.csv/);
  t.throws(() => resolveDetector('drf/NaI_3x3', { searchPath: [DRF_ROOT] }), UnknownDetectorError, 'a relative path is a path, never looked up by name');
});

const rad = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', EDGE_CLI, 'rad', ...args], { encoding: 'utf8', timeout: 120_000, cwd: ROOT });

t.test('customs-edge rad identify and dose take a description folder or name as --detector', async (t) => {
  const file = join(ROOT, 'examples', 'data', 'check-source-nai3x3.n42');
  const id = rad('identify', file, '--detector', join(DRF_ROOT, 'NaI_3x3'), '--json');
  t.equal(id.status, 0, id.stderr);
  const idJson = JSON.parse(id.stdout) as { nuclides: { nuclide: string }[]; detector: { model: string } };
  t.equal(idJson.detector.model, 'NaI_3x3', 'the templates are the description\'s');
  const found = idJson.nuclides.map((n) => n.nuclide);
  // The file was simulated through the built-in NaI-3x3 (FWHM ∝ √E: 13.9 keV at 60 keV), the description's law gives
  // 7.2 keV there, so only the lines above 600 keV, where the two agree within 10 %, are expected to be found.
  for (const n of ['Cs137', 'Co60']) t.ok(found.includes(n), `${n} among ${found.join(', ')} (Am-241, Cs-137, Co-60 check sources)`);
  const dose = rad('dose', file, '--detector', 'NaI_3x3', '--json');
  t.equal(dose.status, 0, dose.stderr);
  const d = JSON.parse(dose.stdout) as { detectorModel: string; measurements: { doseRate_uSv_h: number }[] };
  t.equal(d.detectorModel, 'NaI_3x3');
  t.ok(d.measurements.every((x) => x.doseRate_uSv_h > 0 && Number.isFinite(x.doseRate_uSv_h)), 'a finite dose rate per measurement');
  const bad = rad('dose', file, '--detector', 'NaI_9x9');
  t.not(bad.status, 0);
  t.match(bad.stderr, /--detector: unknown detector model "NaI_9x9", expected one of NaI-2x2.*NaI_3x3/);
});
