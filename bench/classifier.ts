// Bench: the ONNX nuclide classifier's time per spectrum and accuracy, side by side with the template-fit identifier on the same simulated spectra.
//
// Spectra: models/nuclide-classifier/simulate.ts evaluationSet, the protocol of bench/identify.ts at 5,000 net
// counts (every nuclide at the activity giving 1 µSv/h at 1 m bare; no shield, 2 or 5 cm steel, 1 cm lead; 1, 3 and
// 5 m; cells under 1 % S/B left out) plus background-only spectra of 1-600 s, on a 2x2 inch NaI and a 2x4x16 inch
// NaI log, seeded apart from the training set and from the test. Both methods see exactly the same counts; the
// identifier also gets the measured background where the set has one (half the background-only spectra), the
// classifier has no use for it. Top-1: the first nuclide reported, or nothing, against the one put in.
//
//   npx tsx bench/classifier.ts [--quick]

import { pathToFileURL } from 'node:url';
import { type Classification, NuclideClassifier } from '../edge/inference/nuclide-classifier.js';
import { DETECTORS } from '../analysis/radiation/dose.js';
import { NuclideIdentifier } from '../analysis/radiation/identify.js';
import { GRID, type LabelledSpectrum, evaluationSet } from '../models/nuclide-classifier/simulate.js';

export interface MethodScore {
  /** Single-nuclide spectra at 5,000 net counts whose first reported nuclide is the one put in. */
  top1Accuracy: number;
  /** Source spectra where a nuclide that is not there is reported (alone or beside the right one). */
  withFalseNuclide: number;
  /** Background-only spectra with any nuclide reported. */
  backgroundFalseIdRate: number;
  byDetector: Record<string, { top1Accuracy: number; backgroundFalseIdRate: number }>;
  /** Time per spectrum, one spectrum per call. */
  median_ms: number;
  p99_ms: number;
}

export interface ClassifierBench {
  wall_s: number;
  sourceSpectra: number;
  backgroundSpectra: number;
  outOfReachCells: number;
  classifier: MethodScore & {
    /** Time per spectrum when 64 go through one inference. */
    batched_ms: number;
    load_ms: number;
    threshold: number;
  };
  /** The template fit on the same spectra. */
  identify?: MethodScore & { build_ms: number };
  /** Spectra where exactly one of the two methods was right (top-1). */
  disagreements?: { classifierOnly: number; identifyOnly: number; bothWrong: number };
}

interface Verdict {
  top: string;
  reported: string[];
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function score(spectra: readonly LabelledSpectrum[], verdicts: readonly Verdict[], times: number[]): MethodScore {
  const byDet: Record<string, { src: number; ok: number; bg: number; fa: number }> = {};
  let src = 0;
  let ok = 0;
  let falseNuclide = 0;
  let bg = 0;
  let fa = 0;
  spectra.forEach((s, i) => {
    const v = verdicts[i];
    const d = (byDet[s.detector] ??= { src: 0, ok: 0, bg: 0, fa: 0 });
    if (s.nuclides.length === 0) {
      bg++;
      d.bg++;
      if (v.reported.length > 0) {
        fa++;
        d.fa++;
      }
      return;
    }
    src++;
    d.src++;
    if (v.top === s.nuclides[0]) {
      ok++;
      d.ok++;
    }
    if (v.reported.some((n) => !s.nuclides.includes(n))) falseNuclide++;
  });
  times.sort((a, b) => a - b);
  const r4 = (x: number) => Number(x.toFixed(4));
  return {
    top1Accuracy: r4(ok / src),
    withFalseNuclide: r4(falseNuclide / src),
    backgroundFalseIdRate: r4(fa / bg),
    byDetector: Object.fromEntries(Object.entries(byDet).map(([k, v]) => [k, { top1Accuracy: r4(v.ok / v.src), backgroundFalseIdRate: r4(v.fa / v.bg) }])),
    median_ms: Number(quantile(times, 0.5).toFixed(3)),
    p99_ms: Number(quantile(times, 0.99).toFixed(3)),
  };
}

const fromClassification = (c: Classification): Verdict => ({ top: c.nuclides[0]?.nuclide ?? 'none', reported: c.nuclides.map((n) => n.nuclide) });

export async function benchClassifier(opts: { quick?: boolean; seed?: number; compareIdentify?: boolean } = {}): Promise<ClassifierBench> {
  const t0 = performance.now();
  const tl = performance.now();
  const classifier = await NuclideClassifier.load();
  const load_ms = performance.now() - tl;
  // The nuclides the model was trained on: the library has grown since, and the template fit covers the rest.
  const set = evaluationSet({ seed: opts.seed ?? 9001, trials: opts.quick ? 1 : 4, backgroundSpectra: opts.quick ? 100 : 500, nuclides: classifier.card.classes });
  const spectra = [...set.sources, ...set.background];
  try {
    const input = (s: LabelledSpectrum) => ({ counts: s.counts, keVPerChannel: GRID.keVPerChannel });
    // Warm-up: the first runs allocate the session's buffers.
    for (let i = 0; i < 20; i++) await classifier.classify(input(spectra[i % spectra.length]));
    const times: number[] = [];
    const cVerdicts: Verdict[] = [];
    for (const s of spectra) {
      const t = performance.now();
      const r = await classifier.classify(input(s));
      times.push(performance.now() - t);
      cVerdicts.push(fromClassification(r));
    }
    const tb = performance.now();
    for (let i = 0; i < spectra.length; i += 64) await classifier.classifyBatch(spectra.slice(i, i + 64).map(input));
    const batched_ms = (performance.now() - tb) / spectra.length;
    const result: ClassifierBench = {
      wall_s: 0,
      sourceSpectra: set.sources.length,
      backgroundSpectra: set.background.length,
      outOfReachCells: set.outOfReach.length,
      classifier: { ...score(spectra, cVerdicts, times), batched_ms: Number(batched_ms.toFixed(4)), load_ms: Number(load_ms.toFixed(0)), threshold: classifier.threshold },
    };

    if (opts.compareIdentify ?? true) {
      const identifiers = new Map<string, NuclideIdentifier>();
      let build_ms = 0;
      const iTimes: number[] = [];
      const iVerdicts: Verdict[] = [];
      for (const s of spectra) {
        let id = identifiers.get(s.detector);
        if (id === undefined) {
          const tb0 = performance.now();
          id = new NuclideIdentifier({ detector: DETECTORS[s.detector] });
          // The first call builds the channel grid; set-up, not per-spectrum time (as bench/identify.ts counts it).
          id.identify({ counts: new Float64Array(GRID.nChannels).fill(1), liveTime_s: 1, keVPerChannel: GRID.keVPerChannel });
          build_ms += performance.now() - tb0;
          identifiers.set(s.detector, id);
        }
        const t = performance.now();
        const r = id.identify(
          { counts: s.counts, liveTime_s: s.liveTime_s, keVPerChannel: GRID.keVPerChannel },
          s.measuredBackground === undefined ? {} : { background: s.measuredBackground },
        );
        iTimes.push(performance.now() - t);
        iVerdicts.push({ top: r.nuclides[0]?.nuclide ?? 'none', reported: r.nuclides.map((n) => n.nuclide) });
      }
      result.identify = { ...score(spectra, iVerdicts, iTimes), build_ms: Number(build_ms.toFixed(0)) };
      const d = { classifierOnly: 0, identifyOnly: 0, bothWrong: 0 };
      set.sources.forEach((s, i) => {
        const c = cVerdicts[i].top === s.nuclides[0];
        const f = iVerdicts[i].top === s.nuclides[0];
        if (c && !f) d.classifierOnly++;
        else if (f && !c) d.identifyOnly++;
        else if (!c && !f) d.bothWrong++;
      });
      result.disagreements = d;
    }
    result.wall_s = Number(((performance.now() - t0) / 1000).toFixed(1));
    return result;
  } finally {
    await classifier.close();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchClassifier({ quick: process.argv.includes('--quick') }).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    },
    (e: unknown) => {
      process.stderr.write(`bench/classifier: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
