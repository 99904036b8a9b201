// Which detector response a file's spectra get: chooseDetector on real files (RadiaCode N42, Kromek D3S SPE, InterSpec HPGe portal, simulated NaI) and on the words files use; `rad identify --json` says which and why.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { chooseDetector } from '../../analysis/radiation/detector-choice.js';
import { readRadFile } from '../../devices/radiation/files.js';
import { EDGE_CLI, ROOT, refData } from '../helpers/paths.js';

const DATA = refData();
const rad = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', EDGE_CLI, 'rad', ...args], { encoding: 'utf8', timeout: 120_000 });

t.test('real files: the detector each names', async (t) => {
  const rc = chooseDetector(await readRadFile(join(DATA, 'n42', 'radiacode-am241.n42')));
  t.equal(rc.model, 'CsI-1cm3');
  t.match(rc.reason, /N42 RadDetectorKindCode 'CsI'.*RadiaCode-102/);
  t.equal(rc.fromFile, true);
  const d3s = chooseDetector(await readRadFile(join(DATA, 'spe', 'becquerel-SGM102432-csi-ba133-cs137.spe')));
  t.equal(d3s.model, 'CsI-1cm3', 'Kromek D3S: only its $SPEC_ID names it');
  t.match(d3s.reason, /SPE \$SPEC_ID 'Spectrum from a D3S CsI detector/);
  const nai = chooseDetector(await readRadFile(join(DATA, 'spe', 'becquerel-nai-background.spe')));
  t.same([nai.model, nai.fromFile], ['NaI-2x2', true], 'an unknown NaI: the 2x2 default size');
  const digibase = chooseDetector(await readRadFile(join(DATA, 'spe', 'becquerel-digibase-invalid-cal.spe')));
  t.same([digibase.model, digibase.fromFile], ['NaI-2x2', false], 'digiBASE is a tube base, not a crystal: default, said so');
  t.match(digibase.reason, /names no detector kind/);
  const hpge = chooseDetector(await readRadFile(join(DATA, 'n42', 'interspec-ba133_source_640s.n42')));
  t.same([hpge.model, hpge.fromFile], ['NaI-2x2', false], 'HPGe has no response model here');
  t.match(hpge.reason, /N42 DetectorType 'HPGe 50%' \(HPGe: no response model\); using the default NaI-2x2/);
  // With the descriptions the node can load, the HPGe portal gets the HPGe description nearest to its 50 %.
  const responses = ['HPGe_10p', 'HPGe_20p', 'HPGe_40p', 'LaBr_10p', 'LaBr_5p', 'NaI_3x3'];
  const described = chooseDetector(await readRadFile(join(DATA, 'n42', 'interspec-ba133_source_640s.n42')), { responses });
  t.same([described.model, described.fromFile], ['HPGe_40p', true]);
  t.match(described.reason, /N42 DetectorType 'HPGe 50%' → HPGe_40p \(HPGe: nearest description to 50 %\)/);
  t.equal(chooseDetector({ detectors: [{ id: 'a', kind: 'HPGe', description: 'coaxial, 18 % relative efficiency' }] }, { responses }).model, 'HPGe_20p', 'the efficiency named in the description');
  t.equal(chooseDetector({ detectors: [{ id: 'a', kind: 'LaBr3' }] }, { responses }).model, 'LaBr_10p', 'no efficiency named: the largest');
  t.equal(chooseDetector({ detectors: [{ id: 'a', kind: 'CZT' }] }, { responses }).model, 'NaI-2x2', 'CZT: no description either, the default');
  const sim = chooseDetector(await readRadFile(join(ROOT, 'examples', 'data', 'check-source-nai3x3.n42')));
  t.same([sim.model, sim.reason], ['NaI-3x3', "N42 RadDetectorDescription 'NaI-3x3 (simulated)' names the model"]);
});

t.test('the words files use', async (t) => {
  const cases: [Parameters<typeof chooseDetector>[0], string][] = [
    [{ format: 'N42-2012', detectors: [{ id: 'a', kind: 'NaI', description: '3" x 3" NaI(Tl)' }] }, 'NaI-3x3'],
    [{ format: 'N42-2012', detectors: [{ id: 'a', kind: 'NaI', description: '2x4x16 inch log' }] }, 'NaI-2x4x16'],
    [{ format: 'N42-2012', detectors: [{ id: 'a', kind: 'NaI' }] }, 'NaI-2x2'],
    [{ format: 'N42-2012', detectors: [{ id: 'a', kind: 'Other', description: 'CsI(Tl) 10 mm cube' }] }, 'CsI-1cm3'],
    [{ format: 'N42-2012', instrument: { model: 'RadiaCode-103' }, detectors: [{ id: 'a' }] }, 'CsI-1cm3'],
    [{ format: 'RadiaCode-XML', instrument: { manufacturer: 'RadiaCode', model: 'RadiaCode-110' }, detectors: [{ id: 'gamma' }] }, 'CsI-1cm3'],
    [{ format: 'SPE', detectors: [{ id: 'detector' }], remarks: ['Kromek D3S'] }, 'CsI-1cm3'],
    [{ format: 'SPE', detectors: [{ id: 'detector' }], mcaId: 'Osprey, NaI 76x76 mm' }, 'NaI-3x3'],
    [{ format: 'N42-2012', detectors: [{ id: 'a', kind: 'LaBr3' }] }, 'NaI-2x2'],
    // A CSV's `# detector:` comment is its detector id ("csv" without one, which names nothing).
    [{ format: 'CSV', detectors: [{ id: 'RadiaCode-103' }] }, 'CsI-1cm3'],
    [{ format: 'CSV', detectors: [{ id: 'csv' }] }, 'NaI-2x2'],
  ];
  for (const [evidence, model] of cases) t.equal(chooseDetector(evidence).model, model, JSON.stringify(evidence));
  t.equal(chooseDetector({ detectors: [{ id: 'a', kind: 'CsI' }, { id: 'b', kind: 'NaI' }] }, { detectorId: 'b' }).model, 'NaI-2x2', 'only the named detector is read');
  t.equal(chooseDetector({}, { fallback: 'NaI-3x3' }).model, 'NaI-3x3');
  t.throws(() => chooseDetector({}, { fallback: 'HPGe' }), /fallback: unknown detector model "HPGe", expected one of NaI-2x2/);
});

t.test('rad identify: the detector from the file unless --detector overrides it', async (t) => {
  const am = rad('identify', join(DATA, 'n42', 'radiacode-am241.n42'), '--json');
  t.equal(am.status, 0, am.stderr);
  const r = JSON.parse(am.stdout) as { nuclides: { nuclide: string; category: string }[]; detector: { model: string; reason: string } };
  t.equal(r.detector.model, 'CsI-1cm3');
  t.match(r.detector.reason, /RadDetectorKindCode 'CsI'/);
  t.equal(r.nuclides[0]?.nuclide, 'Am241', 'Am-241 with the CsI response, no --detector');
  t.equal(r.nuclides.length, 1, `Am-241 only: ${r.nuclides.map((n) => n.nuclide).join(', ')}`);
  const over = JSON.parse(rad('identify', join(DATA, 'n42', 'radiacode-am241.n42'), '--detector', 'NaI-2x2', '--json').stdout) as { detector: { model: string; reason: string } };
  t.same(over.detector, { model: 'NaI-2x2', reason: '--detector on the command line' });
  const d3s = rad('identify', join(DATA, 'spe', 'becquerel-SGM102432-csi-ba133-cs137.spe'), '--kev-per-channel', '0.605', '--json');
  t.equal(d3s.status, 0, d3s.stderr);
  t.equal((JSON.parse(d3s.stdout) as { detector: { model: string } }).detector.model, 'CsI-1cm3', 'D3S: CsI from its $SPEC_ID');
});

t.test('rad identify on the Kromek D3S SPE: Ba-133 and Cs-137, with the calibration found from its peaks', async (t) => {
  // The file carries no calibration; 356/662 keV sit at channels 599/1093 (E ≈ -15 + 0.619 ch). No --kev-per-channel:
  // rad identify calibrates from the spectrum's peaks and says so on stderr.
  const d3s = rad('identify', join(DATA, 'spe', 'becquerel-SGM102432-csi-ba133-cs137.spe'), '--json');
  t.equal(d3s.status, 0, d3s.stderr);
  t.match(d3s.stderr, /warning: .*no usable energy calibration in the file; calibrated from the spectrum's peaks: .*661\.7 keV \(Cs137\)/);
  const r = JSON.parse(d3s.stdout) as { nuclides: { nuclide: string }[]; detector: { model: string } };
  const ids = r.nuclides.map((n) => n.nuclide);
  t.equal(r.detector.model, 'CsI-1cm3');
  // The calibration printed puts the Ba-133 356 keV and Cs-137 662 keV peaks (channels 603 and 1092) on their lines.
  const m = /E = (-?[\d.]+) \+ ([\d.]+)·ch(?: ([+-]) ([\d.e+-]+)·ch²)? keV/.exec(d3s.stderr);
  t.ok(m, `the calibration is printed: ${d3s.stderr}`);
  if (m) {
    const q = (m[3] === '-' ? -1 : 1) * Number(m[4] ?? 0);
    const E = (ch: number) => Number(m[1]) + Number(m[2]) * ch + q * ch * ch;
    t.ok(Math.abs(E(603) - 356) < 8, `356 keV peak read as ${E(603).toFixed(1)} keV`);
    t.ok(Math.abs(E(1092) - 661.7) < 12, `662 keV peak read as ${E(1092).toFixed(1)} keV`);
  }
  t.ok(ids.includes('Ba133') && ids.includes('Cs137'), `both reported: ${ids.join(', ')}`);
});

t.test('rad identify on the Kromek D3S SPE: Ba-133 or Cs-137 first', async (t) => {
  // Am-241 is reported beside them (below), with fewer net counts: the nuclide giving most of the counts comes first
  // among those beyond doubt (identify/order.ts).
  const d3s = rad('identify', join(DATA, 'spe', 'becquerel-SGM102432-csi-ba133-cs137.spe'), '--json');
  t.equal(d3s.status, 0, d3s.stderr);
  const ids = (JSON.parse(d3s.stdout) as { nuclides: { nuclide: string }[] }).nuclides.map((n) => n.nuclide);
  t.ok(['Ba133', 'Cs137'].includes(ids[0] ?? ''), `top-1: ${ids.join(', ')}`);
});

t.test('rad identify on the Kromek D3S SPE: nothing but Ba-133 and Cs-137', { todo: 'identification (identify.ts): the low-energy hump at channels 64-200 (Ba-133 x-rays and 81 keV blended above the D3S threshold, about 55 keV, which the calibration from peaks also takes for 59.5 keV) is taken for Am-241, and Eu-154 is added; the CsI-1cm3 templates are for a smaller crystal than the D3S one' }, async (t) => {
  const d3s = rad('identify', join(DATA, 'spe', 'becquerel-SGM102432-csi-ba133-cs137.spe'), '--json');
  const ids = (JSON.parse(d3s.stdout) as { nuclides: { nuclide: string }[] }).nuclides.map((n) => n.nuclide);
  t.same(ids.slice().sort(), ['Ba133', 'Cs137'], ids.join(', '));
});
