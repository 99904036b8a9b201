// Calibrated identification confidence: isotonic regression on hand-made points, the map and its checks, the reliability table and diagram, and a lower calibration error on held-out simulated spectra.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  ConfidenceMapError,
  IDENTIFY_CONFIDENCE_MAP,
  applyConfidenceMap,
  checkConfidenceMap,
  isotonicFit,
  reliabilityTable,
} from '../../analysis/radiation/identify/confidence.js';
import { NuclideIdentifier } from '../../analysis/radiation/identify.js';
import { DETECTORS } from '../../analysis/radiation/dose.js';
import { mulberry32 } from '../../analysis/radiation/sim/scene.js';
import { simulateCalls } from '../../bench/identify-confidence.js';
import { reliabilitySvg } from '../../bench/reliability-svg.js';
import { refData } from '../helpers/paths.js';

t.test('isotonic fit: pool-adjacent-violators on hand-made points', async (t) => {
  // Already in order: every point its own block.
  t.same(isotonicFit([{ x: 0.1, right: false }, { x: 0.5, right: true }]), { x: [0.1, 0.5], y: [0, 1] });
  // 0.2 right, 0.4 wrong violate the order: pooled to 0.5 over [0.2, 0.4]; 0.6 and 0.8 right stay at 1 (one block).
  t.same(
    isotonicFit([
      { x: 0.4, right: false },
      { x: 0.2, right: true },
      { x: 0.8, right: true },
      { x: 0.6, right: true },
    ]),
    { x: [0.2, 0.4, 0.6, 0.8], y: [0.5, 0.5, 1, 1] },
  );
  // A violation that cascades: 1, 0, 0 → one block of 1/3; then 1 at 0.9.
  const m = isotonicFit([
    { x: 0.1, right: true },
    { x: 0.2, right: false },
    { x: 0.3, right: false },
    { x: 0.9, right: true },
  ]);
  t.same(m.x, [0.1, 0.3, 0.9]);
  t.ok(Math.abs(m.y[0] - 1 / 3) < 1e-15 && m.y[1] === m.y[0] && m.y[2] === 1, `cascade pooled: ${m.y.join(', ')}`);
  // Equal raw values are one point: 3 right of 4 at 1.0 → 0.75; weights count.
  t.same(isotonicFit([1, 1, 1, 0].map((r) => ({ x: 1, right: r === 1 }))), { x: [1], y: [0.75] });
  t.same(isotonicFit([{ x: 0.5, right: true, weight: 3 }, { x: 0.5, right: false }]), { x: [0.5], y: [0.75] });
  // Pseudo-counts: 4 of 4 right → 5/6, not a certainty.
  t.same(isotonicFit([1, 1, 1, 1].map(() => ({ x: 1, right: true })), { priorRight: 1, priorWrong: 1 }), { x: [1], y: [5 / 6] });
});

t.test('isotonic fit of random outcomes is monotone and no worse than any constant', async (t) => {
  const rng = mulberry32(5);
  const pts = Array.from({ length: 400 }, () => {
    const x = rng();
    return { x, right: rng() < x * x };
  });
  const m = isotonicFit(pts);
  checkConfidenceMap(m);
  const brier = (f: (x: number) => number): number => pts.reduce((s, p) => s + (f(p.x) - (p.right ? 1 : 0)) ** 2, 0);
  const mean = pts.filter((p) => p.right).length / pts.length;
  t.ok(brier((x) => applyConfidenceMap(m, x)) <= brier(() => mean), 'fits at least as well as the base rate');
  for (let x = 0; x <= 1; x += 0.01) t.ok(applyConfidenceMap(m, x + 0.01) >= applyConfidenceMap(m, x), `monotone at ${x.toFixed(2)}`);
});

t.test('applying a map: knots, linear between, flat beyond; bad maps named', async (t) => {
  const m = { x: [0.2, 0.4, 0.6, 0.8], y: [0.5, 0.5, 0.9, 0.9] };
  t.equal(applyConfidenceMap(m, 0), 0.5);
  t.equal(applyConfidenceMap(m, 0.3), 0.5);
  t.ok(Math.abs(applyConfidenceMap(m, 0.5) - 0.7) < 1e-12);
  t.equal(applyConfidenceMap(m, 1), 0.9);
  t.equal(applyConfidenceMap({ x: [0, 1], y: [0, 1] }, 0.37), 0.37, 'the identity map leaves a score alone');
  t.throws(() => checkConfidenceMap({ x: [0, 0.5], y: [0.6, 0.4] }), ConfidenceMapError);
  t.throws(() => checkConfidenceMap({ x: [0.5, 0.1], y: [0.1, 0.2] }), /x\[1\] = 0.1 below x\[0\] = 0.5/);
  t.throws(() => checkConfidenceMap({ x: [0.5], y: [1.2] }), /y\[0\] = 1.2, expected a value in \[0, 1\]/);
  t.throws(() => checkConfidenceMap({ x: [0.5, 1], y: [0.2] }), /expected as many x as y/);
  t.doesNotThrow(() => checkConfidenceMap(IDENTIFY_CONFIDENCE_MAP), 'the shipped map is well formed');
});

t.test('reliability table and ECE on hand-made calls', async (t) => {
  const calls = [
    { confidence: 0.95, right: true },
    { confidence: 0.95, right: false },
    { confidence: 1, right: true },
    { confidence: 0.15, right: false },
  ];
  const r = reliabilityTable(calls, 10);
  t.equal(r.rows.length, 10);
  t.same(r.rows[9], { lo: 0.9, hi: 1, n: 3, meanConfidence: (0.95 + 0.95 + 1) / 3, accuracy: 2 / 3 });
  t.equal(r.rows[1].n, 1);
  t.equal(r.rows[1].accuracy, 0);
  // ECE = 3/4·|2/3 − 0.9667| + 1/4·|0 − 0.15|
  t.ok(Math.abs(r.ece - ((3 / 4) * Math.abs(2 / 3 - 2.9 / 3) + 0.25 * 0.15)) < 1e-12, `ece ${r.ece}`);
  t.ok(Number.isNaN(r.rows[5].meanConfidence), 'an empty bin has no mean');
});

t.test('the reliability diagram is a well-formed SVG with a point per non-empty bin', async (t) => {
  const table = reliabilityTable([
    { confidence: 0.95, right: true },
    { confidence: 0.55, right: false },
    { confidence: 0.52, right: true },
  ]);
  const svg = reliabilitySvg({ title: 'a <test> & more', series: [{ label: 'raw', table, color: '#c00' }] });
  t.equal((svg.match(/<circle /g) ?? []).length, 2, 'two bins, two points');
  t.match(svg, /a &lt;test&gt; &amp; more/, 'the title is escaped');
  const dir = mkdtempSync(join(tmpdir(), 'reliability-'));
  try {
    const f = join(dir, 'r.svg');
    writeFileSync(f, svg);
    let lint: string | undefined;
    try {
      execFileSync('xmllint', ['--noout', f], { stdio: 'pipe' });
      lint = 'ok';
    } catch (e) {
      lint = (e as { code?: string }).code === 'ENOENT' ? undefined : String((e as { stderr?: Buffer }).stderr ?? e);
    }
    if (lint !== undefined) t.equal(lint, 'ok', 'xmllint parses it');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

t.test('a map fitted on one simulated set lowers the calibration error on a held-out one', async (t) => {
  // Templates of a 2x2 NaI; calibration spectra through the NaI_10p description and the model itself, evaluation
  // through NaI_1x1 and NaI_3x3, other distances, shields and seeds (bench/identify-confidence.ts, reduced).
  const drfDir = refData('drf');
  const ids = new Map([['NaI-2x2', new NuclideIdentifier({ detector: DETECTORS['NaI-2x2']!, rawConfidence: true })]]);
  const nuclides = ['Cs137', 'Co60', 'Ba133', 'Am241', 'I131', 'Tc99m', 'Ra226', 'U235', 'Eu152', 'Ir192'];
  const common = { nuclides, trials: 1, backgroundSpectra: 6, levels: [2000, 5000] };
  const cal = simulateCalls(
    {
      ...common,
      pairs: [{ test: 'NaI_10p', templates: 'NaI-2x2' }, { test: 'model:NaI-2x2', templates: 'NaI-2x2' }],
      shields: [{ id: 'none', layers: [] }, { id: 'steel-4cm', layers: [{ material: 'steel', thickness_cm: 4 }] }],
      distances_m: [1.5],
      seed: 11,
    },
    drfDir,
    ids,
  );
  const ev = simulateCalls(
    {
      ...common,
      pairs: [{ test: 'NaI_1x1', templates: 'NaI-2x2' }, { test: 'NaI_3x3', templates: 'NaI-2x2' }],
      shields: [{ id: 'none', layers: [] }, { id: 'lead-0.7cm', layers: [{ material: 'lead', thickness_cm: 0.7 }] }],
      distances_m: [1],
      seed: 12,
    },
    drfDir,
    ids,
  );
  t.ok(cal.calls.length >= 30 && ev.calls.length >= 30, `calls: ${cal.calls.length} calibration, ${ev.calls.length} evaluation`);
  const wrong = ev.calls.filter((c) => !c.right).length;
  t.ok(wrong > 0, `the held-out set has wrong calls to be calibrated for (${wrong})`);
  const map = isotonicFit(cal.calls.map((c) => ({ x: c.raw, right: c.right })), { priorRight: 1, priorWrong: 1 });
  checkConfidenceMap(map);
  const before = reliabilityTable(ev.calls.map((c) => ({ confidence: c.raw, right: c.right })));
  const after = reliabilityTable(ev.calls.map((c) => ({ confidence: applyConfidenceMap(map, c.raw), right: c.right })));
  t.ok(after.ece < before.ece, `ECE ${before.ece.toFixed(3)} raw → ${after.ece.toFixed(3)} calibrated`);
});
