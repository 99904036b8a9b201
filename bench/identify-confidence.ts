// Bench: calibration of the identification confidence. Fits the isotonic map of identify/confidence.ts on a calibration set of simulated spectra and shows its reliability on a separate evaluation set.
//
// A call is one reported nuclide with its confidence; it is right when the source is that nuclide (F-18 and Ga-68
// count as one, see identify.ts sameNuclide), and every nuclide reported on a background-only spectrum is wrong.
// The spectra come from detector descriptions (GADRAS-style DRFs from InterSpec's generic detectors, LGPL, in
// ../shared/data/drf) that the templates were not built for, as in the leave-one-detector-out bench, because that
// is where the raw score is overconfident. The two sets share nothing: other test detectors, distances, shields,
// and seeds.
//
//   calibration: NaI_10p, NaI_30p, NaI_12p (and the template model itself) at 1.5 and 4 m; steel 4 cm, lead 1.2 cm
//   evaluation:  NaI_1x1, NaI_2x2, NaI_3x3, NaI_5p, NaI_25p (the LODO test detectors) at 1 and 3 m; steel 3 cm, lead 0.7 cm
//
// `npx tsx bench/identify-confidence.ts --fit` prints the fitted map as the literal identify/confidence.ts ships.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DETECTORS, type DetectorModel, pointSourceDoseRate_uSv_h } from '../analysis/radiation/dose.js';
import { NuclideIdentifier } from '../analysis/radiation/identify.js';
import {
  type ConfidenceMap,
  IDENTIFY_CONFIDENCE_MAP,
  type ReliabilityTable,
  applyConfidenceMap,
  isotonicFit,
  reliabilityTable,
} from '../analysis/radiation/identify/confidence.js';
import { getNuclide, nuclideIds } from '../analysis/radiation/nuclides.js';
import { naturalBackgroundRate } from '../analysis/radiation/sim/natural.js';
import { type Scene, type SimDetector, expectedRates, mulberry32, poisson } from '../analysis/radiation/sim/scene.js';
import { loadDrf } from '../devices/radiation/detector-response.js';
import { sameNuclide } from './identify.js';
import { refDataDir } from './identify-lodo-data.js';
import { reliabilitySvg } from './reliability-svg.js';

/** Test detector: a DRF folder name, or `model:<catalogue name>` for the template model itself. */
export interface ConfidencePair {
  test: string;
  templates: string;
}

export interface ConfidenceSetOptions {
  pairs: readonly ConfidencePair[];
  shields: readonly { id: string; layers: { material: 'steel' | 'lead' | 'water' | 'concrete'; thickness_cm: number }[] }[];
  distances_m: readonly number[];
  levels: readonly number[];
  trials: number;
  backgroundSpectra: number;
  seed: number;
  nuclides: readonly string[];
}

export const CALIBRATION_SET: Omit<ConfidenceSetOptions, 'nuclides' | 'trials' | 'backgroundSpectra'> = {
  pairs: [
    { test: 'NaI_10p', templates: 'NaI-2x2' },
    { test: 'NaI_30p', templates: 'NaI-3x3' },
    { test: 'NaI_12p', templates: 'NaI-2x4x16' },
    { test: 'model:NaI-2x2', templates: 'NaI-2x2' },
  ],
  shields: [
    { id: 'none', layers: [] },
    { id: 'steel-4cm', layers: [{ material: 'steel', thickness_cm: 4 }] },
    { id: 'lead-1.2cm', layers: [{ material: 'lead', thickness_cm: 1.2 }] },
  ],
  distances_m: [1.5, 4],
  levels: [2000, 5000, 20000],
  seed: 1001,
};

export const EVALUATION_SET: Omit<ConfidenceSetOptions, 'nuclides' | 'trials' | 'backgroundSpectra'> = {
  pairs: [
    { test: 'NaI_1x1', templates: 'NaI-2x2' },
    { test: 'NaI_2x2', templates: 'NaI-3x3' },
    { test: 'NaI_3x3', templates: 'NaI-2x2' },
    { test: 'NaI_5p', templates: 'NaI-3x3' },
    { test: 'NaI_25p', templates: 'NaI-2x4x16' },
  ],
  shields: [
    { id: 'none', layers: [] },
    { id: 'steel-3cm', layers: [{ material: 'steel', thickness_cm: 3 }] },
    { id: 'lead-0.7cm', layers: [{ material: 'lead', thickness_cm: 0.7 }] },
  ],
  distances_m: [1, 3],
  levels: [2000, 5000, 20000],
  seed: 2002,
};

export interface Call {
  /** The fit's raw confidence. */
  raw: number;
  right: boolean;
  nuclide: string;
  truth: string;
  detector: string;
  /** Place in the reported list (0 = top), the fit's significance, and whether the answer also said `unknown`. */
  rank: number;
  significance: number;
  unknown: boolean;
  dispersion: number;
}

function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

/** Identify every spectrum of a set with raw confidences; the identifiers are shared between sets (one per template model). */
export function simulateCalls(set: ConfidenceSetOptions, drfDir: string, identifiers: Map<string, NuclideIdentifier>): { calls: Call[]; spectra: number } {
  const nCh = 1024;
  const kpc = 3;
  const rng = mulberry32(set.seed);
  const calls: Call[] = [];
  let spectra = 0;
  for (const pair of set.pairs) {
    const testModel: DetectorModel = pair.test.startsWith('model:') ? DETECTORS[pair.test.slice(6)]! : loadDrf(join(drfDir, pair.test));
    const tplModel = DETECTORS[pair.templates]!;
    let identifier = identifiers.get(pair.templates);
    if (identifier === undefined) identifiers.set(pair.templates, (identifier = new NuclideIdentifier({ detector: tplModel, rawConfidence: true })));
    const simDet: SimDetector = { id: pair.test, model: testModel, offset: { x_m: 0, y_m: 0, z_m: 1 }, nChannels: nCh, keVPerChannel: kpc };
    const bg = naturalBackgroundRate(testModel, { nChannels: nCh, keVPerChannel: kpc, height_m: 1 });
    const otherBg = naturalBackgroundRate(tplModel, { nChannels: nCh, keVPerChannel: kpc, height_m: 1, K_pct: 2.5, U_ppm: 2, Th_ppm: 8 });
    const bgScale = sum(bg) / sum(otherBg);
    let k = 0;
    const run = (counts: Float64Array, live: number, truth: string): void => {
      // Half against a measured background of the template detector at another site, half against the model.
      const measured = k++ % 2 === 1 ? { counts: otherBg.map((v) => poisson(rng, v * bgScale * 600)), liveTime_s: 600 } : undefined;
      const r = identifier.identify({ counts, liveTime_s: live, keVPerChannel: kpc }, measured === undefined ? {} : { background: measured });
      spectra++;
      r.nuclides.forEach((n, rank) =>
        calls.push({
          raw: n.confidence,
          right: truth !== 'background' && sameNuclide(n.nuclide, truth),
          nuclide: n.nuclide,
          truth,
          detector: pair.test,
          rank,
          significance: n.significance,
          unknown: r.unknown !== undefined,
          dispersion: r.fit.dispersion,
        }),
      );
    };
    for (const nuclide of set.nuclides) {
      const activity_Bq = 1 / pointSourceDoseRate_uSv_h({ nuclide, activity_Bq: 1, distance_m: 1 });
      for (const shield of set.shields) {
        for (const d of set.distances_m) {
          const scene: Scene = { sources: [{ nuclide, activity_Bq, position: { x_m: d, y_m: 0, z_m: 1 }, shielding: shield.layers }], background: {}, origin: { lat: 0, lon: 0 } };
          const src = expectedRates(scene, simDet, { x_m: 0, y_m: 0, z_m: 1 }).map((v, i) => Math.max(0, v - bg[i]));
          const rate = sum(src);
          // Out of reach of any alarm (under 1 % of the background rate): not asked to be identified.
          if (!(rate / sum(bg) >= 0.01)) continue;
          for (const level of set.levels) {
            for (let t = 0; t < set.trials; t++) {
              const live = level / rate;
              run(src.map((v, i) => poisson(rng, (v + bg[i]) * live)), live, getNuclide(nuclide).name);
            }
          }
        }
      }
    }
    for (let b = 0; b < set.backgroundSpectra; b++) {
      const live = 10 + 290 * rng();
      const f = 0.85 + 0.3 * rng();
      run(bg.map((v) => poisson(rng, v * f * live)), live, 'background');
    }
  }
  return { calls, spectra };
}

export interface ConfidenceBench {
  calibration: { spectra: number; calls: number; right: number };
  evaluation: { spectra: number; calls: number; right: number };
  /** The map fitted on the calibration set now, and the one identify() ships. */
  fitted: ConfidenceMap;
  shipped: ConfidenceMap;
  /** Reliability on the evaluation set: raw score, the shipped map, the map fitted now. */
  raw: ReliabilityTable;
  calibratedShipped: ReliabilityTable;
  calibratedFitted: ReliabilityTable;
  svgPath?: string;
  /** Every call of both sets (written beside the diagram as identify-confidence-calls.json). */
  calls: { calibration: Call[]; evaluation: Call[] };
  wall_s: number;
}

/** Run both sets, fit, evaluate and (with outDir) write the reliability diagram. */
export function benchIdentifyConfidence(opts: { quick?: boolean; outDir?: string; drfDir?: string } = {}): ConfidenceBench {
  const t0 = performance.now();
  const drfDir = opts.drfDir ?? refDataDir('drf');
  const all = nuclideIds();
  const nuclides = opts.quick ? all.filter((_, i) => i % 3 === 0) : all;
  const identifiers = new Map<string, NuclideIdentifier>();
  const cal = simulateCalls({ ...CALIBRATION_SET, nuclides, trials: 1, backgroundSpectra: opts.quick ? 5 : 20 }, drfDir, identifiers);
  const ev = simulateCalls({ ...EVALUATION_SET, nuclides, trials: 1, backgroundSpectra: opts.quick ? 5 : 20 }, drfDir, identifiers);
  const fitted = isotonicFit(
    cal.calls.map((c) => ({ x: c.raw, right: c.right })),
    { priorRight: 1, priorWrong: 1 },
  );
  const table = (map: ConfidenceMap | undefined): ReliabilityTable =>
    reliabilityTable(ev.calls.map((c) => ({ confidence: map === undefined ? c.raw : applyConfidenceMap(map, c.raw), right: c.right })));
  const out: ConfidenceBench = {
    calibration: { spectra: cal.spectra, calls: cal.calls.length, right: cal.calls.filter((c) => c.right).length },
    evaluation: { spectra: ev.spectra, calls: ev.calls.length, right: ev.calls.filter((c) => c.right).length },
    fitted: { x: fitted.x.map((v) => round(v, 4)), y: fitted.y.map((v) => round(v, 4)) },
    shipped: IDENTIFY_CONFIDENCE_MAP,
    raw: table(undefined),
    calibratedShipped: table(IDENTIFY_CONFIDENCE_MAP),
    calibratedFitted: table(fitted),
    calls: { calibration: cal.calls, evaluation: ev.calls },
    wall_s: 0,
  };
  if (opts.outDir !== undefined) {
    mkdirSync(opts.outDir, { recursive: true });
    out.svgPath = join(opts.outDir, 'identify-reliability.svg');
    writeFileSync(join(opts.outDir, 'identify-confidence-calls.json'), JSON.stringify(out.calls));
    writeFileSync(
      out.svgPath,
      reliabilitySvg({
        title: `Identification confidence, evaluation set (${ev.spectra} spectra, ${ev.calls.length} calls, detectors the templates were not built for)`,
        series: [
          { label: `raw score, ECE ${out.raw.ece.toFixed(3)}`, table: out.raw, color: '#c0392b' },
          { label: `calibrated (shipped map), ECE ${out.calibratedShipped.ece.toFixed(3)}`, table: out.calibratedShipped, color: '#2471a3' },
        ],
      }),
    );
  }
  out.wall_s = (performance.now() - t0) / 1000;
  return out;
}

function round(v: number, d: number): number {
  const f = 10 ** d;
  return Math.round(v * f) / f;
}

/** Markdown rows of a reliability table. */
export function reliabilityMarkdown(t: ReliabilityTable): string[] {
  const rows = ['| confidence | calls | mean confidence | right |', '| --- | ---: | ---: | ---: |'];
  for (const r of t.rows) {
    if (r.n === 0) continue;
    rows.push(`| ${r.lo.toFixed(1)}-${r.hi.toFixed(1)} | ${r.n} | ${r.meanConfidence.toFixed(3)} | ${r.accuracy.toFixed(3)} |`);
  }
  rows.push(`| ECE | ${t.calls} | | ${t.ece.toFixed(3)} |`);
  return rows;
}

// `npx tsx bench/identify-confidence.ts [--quick] [--fit]`: the tables, the diagram, and with --fit the map to ship.
if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('identify-confidence.ts')) {
  const quick = process.argv.includes('--quick');
  const r = benchIdentifyConfidence({ quick, outDir: resolve(import.meta.dirname, '..', 'out', 'bench') });
  const w = (s: string): boolean => process.stdout.write(`${s}\n`);
  w(`calibration set: ${r.calibration.spectra} spectra, ${r.calibration.calls} calls, ${r.calibration.right} right`);
  w(`evaluation set: ${r.evaluation.spectra} spectra, ${r.evaluation.calls} calls, ${r.evaluation.right} right`);
  w('\nraw score on the evaluation set:');
  for (const row of reliabilityMarkdown(r.raw)) w(row);
  w('\nshipped map on the evaluation set:');
  for (const row of reliabilityMarkdown(r.calibratedShipped)) w(row);
  w('\nmap fitted now on the evaluation set:');
  for (const row of reliabilityMarkdown(r.calibratedFitted)) w(row);
  if (r.svgPath !== undefined) w(`\nreliability diagram: ${r.svgPath}`);
  if (process.argv.includes('--fit')) w(`\nexport const IDENTIFY_CONFIDENCE_MAP: ConfidenceMap = ${JSON.stringify(r.fitted).replace(/"(\w+)":/g, '$1: ').replace(/,/g, ', ')};`);
  w(`(${r.wall_s.toFixed(0)} s)`);
}
