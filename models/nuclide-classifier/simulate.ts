// Simulated, labelled gamma spectra for the nuclide classifier: the training distribution (make-dataset.ts) and the evaluation set that the test and the bench score both identification methods on.
//
// Physics is the project's simulator and nothing else: sim/scene.ts expectedRates (uncollided lines through air
// and shields, dose.ts detector response) for the source, sim/natural.ts for the natural background, scene.ts
// poisson for the counts. A spectrum is parametrised by what the classifier can see rather than by activity and
// distance separately: the source's net counts N and its count rate relative to the background (S/B); the live
// time follows as t = N / (S/B · background rate). Distance and shielding still matter through their effect on the
// shape (air and shield attenuation). This covers a weak source counted long and a strong one counted briefly
// with the same few draws, and lets the evaluation ask for "5,000 net counts" exactly as bench/identify.ts does.

import { DETECTORS, type DetectorModel, pointSourceDoseRate_uSv_h } from '../../analysis/radiation/dose.js';
import { nuclideIds } from '../../analysis/radiation/nuclides.js';
import { naturalBackgroundRate } from '../../analysis/radiation/sim/natural.js';
import { type Scene, type SimDetector, applyGain, expectedRates, mulberry32, poisson } from '../../analysis/radiation/sim/scene.js';

/** The channel grid every simulated spectrum is on (and the grid the model's card names). */
export const GRID = { nChannels: 1024, keVPerChannel: 3 } as const;

/** Detectors of the training set; the evaluation uses the first and last (the two on the vehicles). */
export const TRAINING_DETECTORS = ['NaI-2x2', 'NaI-3x3', 'NaI-2x4x16'] as const;

export interface Shield {
  id: string;
  layers: { material: string; thickness_cm: number }[];
}

export interface LabelledSpectrum {
  detector: string;
  counts: Float64Array;
  liveTime_s: number;
  /** Nuclides whose source was put in (empty: background only). */
  nuclides: string[];
  /** Source counts put in (expected value; the sample is Poisson around it). */
  netCounts: number;
  /** Source count rate over background count rate, whole spectrum. */
  signalToBackground: number;
  /** A separately recorded background of the same site (evaluation background-only spectra, every other one). */
  measuredBackground?: { counts: Float64Array; liveTime_s: number };
  /** What was simulated, for failure listings: 'Cs137 steel-2cm 3 m'. */
  description: string;
}

function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

function logUniform(rng: () => number, lo: number, hi: number): number {
  return Math.exp(Math.log(lo) + rng() * (Math.log(hi) - Math.log(lo)));
}

function pick<T>(rng: () => number, items: readonly T[]): T {
  return items[Math.min(items.length - 1, Math.floor(rng() * items.length))];
}

function simDetector(model: DetectorModel): SimDetector {
  return { id: model.name, model, offset: { x_m: 0, y_m: 0, z_m: 1 }, nChannels: GRID.nChannels, keVPerChannel: GRID.keVPerChannel };
}

function detectorModel(name: string): DetectorModel {
  const m = DETECTORS[name];
  if (m === undefined) throw new RangeError(`unknown detector '${name}': expected one of ${Object.keys(DETECTORS).join(', ')}`);
  return m;
}

/**
 * Source-only expected count rate (counts/s per channel) of a point source `distance_m` from a detector 1 m above
 * the ground, through `layers`. The scene's background is switched off (zero soil) so nothing has to be subtracted.
 */
export function sourceRate(model: DetectorModel, nuclide: string, activity_Bq: number, distance_m: number, layers: Shield['layers']): Float64Array {
  const scene: Scene = {
    sources: [{ nuclide, activity_Bq, position: { x_m: distance_m, y_m: 0, z_m: 1 }, shielding: layers }],
    background: { K_pct: 0, U_ppm: 0, Th_ppm: 0 },
    origin: { lat: 0, lon: 0 },
  };
  return expectedRates(scene, simDetector(model), { x_m: 0, y_m: 0, z_m: 1 });
}

/** Poisson counts for Σ rate·scale over `time_s`. */
export function sampleCounts(rng: () => number, parts: readonly { rate: Float64Array; scale: number }[], time_s: number): Float64Array {
  const n = parts[0].rate.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let m = 0;
    for (const p of parts) m += p.rate[i] * p.scale;
    out[i] = m > 0 ? poisson(rng, m * time_s) : 0;
  }
  return out;
}

// ───────────────────────────── training distribution ─────────────────────────────

/** How the training spectra are drawn; written into the dataset header and the model card. */
export const TRAINING_DISTRIBUTION = {
  detectors: TRAINING_DETECTORS,
  /** Resolution of each detector scaled by one of these (crystals of one type differ by ±10 %). */
  fwhmFactors: [0.9, 1, 1.12],
  /** Detector height above the ground (m): the background's shape changes a little with it. */
  heights_m: [0.7, 1, 1.5],
  soil: { K_pct: [1, 3], U_ppm: [1, 4.5], Th_ppm: [4, 14] },
  /** Background rate scaled by this (a vehicle or cargo shadows the ground). */
  backgroundScale: [0.8, 1.2],
  /** Residual gain error after stabilisation. */
  gain: [0.975, 1.025],
  fractions: { backgroundOnly: 0.3, single: 0.5, pair: 0.2 },
  /** Log-uniform ranges. */
  netCounts: [300, 80_000],
  signalToBackground: [0.01, 30],
  distance_m: [0.5, 8],
  /** Pair: second source's share of the net counts over the first's. */
  pairRatio: [0.2, 5],
  liveTime_s: [0.2, 3600],
  backgroundOnlyLiveTime_s: [0.5, 1800],
  /** Shield kinds and their probability; thickness uniform in the range (cm). */
  shields: [
    { p: 0.4, layers: [] as { material: string; thickness_cm: [number, number] }[] },
    { p: 0.2, layers: [{ material: 'steel', thickness_cm: [0.5, 8] as [number, number] }] },
    { p: 0.15, layers: [{ material: 'lead', thickness_cm: [0.2, 2.5] as [number, number] }] },
    { p: 0.1, layers: [{ material: 'concrete', thickness_cm: [2, 20] as [number, number] }] },
    { p: 0.1, layers: [{ material: 'water', thickness_cm: [5, 30] as [number, number] }] },
    {
      p: 0.05,
      layers: [
        { material: 'steel', thickness_cm: [0.5, 3] as [number, number] },
        { material: 'lead', thickness_cm: [0.2, 1] as [number, number] },
      ],
    },
  ],
} as const;

function drawShield(rng: () => number): Shield {
  let u = rng();
  for (const s of TRAINING_DISTRIBUTION.shields) {
    u -= s.p;
    if (u <= 0 || s === TRAINING_DISTRIBUTION.shields[TRAINING_DISTRIBUTION.shields.length - 1]) {
      const layers = s.layers.map((l) => ({ material: l.material, thickness_cm: l.thickness_cm[0] + rng() * (l.thickness_cm[1] - l.thickness_cm[0]) }));
      return { id: layers.length === 0 ? 'none' : layers.map((l) => `${l.material}-${l.thickness_cm.toFixed(1)}cm`).join('+'), layers };
    }
  }
  return { id: 'none', layers: [] };
}

/**
 * A generator of training spectra: deterministic for a seed. Each call draws a detector (with a resolution
 * variant), a background (soil, height, shadowing), a gain error, then background only, one source or two.
 */
export function trainingSpectra(seed: number, nuclides: readonly string[] = nuclideIds()): () => LabelledSpectrum {
  const rng = mulberry32(seed);
  const D = TRAINING_DISTRIBUTION;
  const range = (r: readonly [number, number] | readonly number[]): number => r[0] + rng() * (r[1] - r[0]);
  return () => {
    const base = detectorModel(pick(rng, D.detectors));
    const f = pick(rng, D.fwhmFactors);
    const model: DetectorModel = f === 1 ? base : { ...base, name: `${base.name}@fwhm×${f}`, fwhmAt662: base.fwhmAt662 * f };
    const bg = naturalBackgroundRate(model, {
      nChannels: GRID.nChannels,
      keVPerChannel: GRID.keVPerChannel,
      height_m: pick(rng, D.heights_m),
      K_pct: range(D.soil.K_pct),
      U_ppm: range(D.soil.U_ppm),
      Th_ppm: range(D.soil.Th_ppm),
    });
    const bgScale = range(D.backgroundScale);
    const bgRate = sum(bg) * bgScale;
    const gain = range(D.gain);
    const u = rng();
    const kind = u < D.fractions.backgroundOnly ? 0 : u < D.fractions.backgroundOnly + D.fractions.single ? 1 : 2;
    if (kind === 0) {
      const live = logUniform(rng, D.backgroundOnlyLiveTime_s[0], D.backgroundOnlyLiveTime_s[1]);
      return {
        detector: base.name,
        counts: sampleCounts(rng, [{ rate: applyGain(bg, gain), scale: bgScale }], live),
        liveTime_s: live,
        nuclides: [],
        netCounts: 0,
        signalToBackground: 0,
        description: `background ${live.toFixed(1)} s`,
      };
    }
    const first = pick(rng, nuclides);
    let second = first;
    while (kind === 2 && second === first) second = pick(rng, nuclides);
    const ids = kind === 2 ? [first, second] : [first];
    const shares = kind === 2 ? [1, logUniform(rng, D.pairRatio[0], D.pairRatio[1])] : [1];
    const shareSum = sum(shares);
    const net = logUniform(rng, D.netCounts[0], D.netCounts[1]);
    let sb = 0;
    let live = 0;
    // Redraw S/B until the live time is a plausible counting time for this detector's background.
    for (let k = 0; k < 100; k++) {
      sb = logUniform(rng, D.signalToBackground[0], D.signalToBackground[1]);
      live = net / (sb * bgRate);
      if (live >= D.liveTime_s[0] && live <= D.liveTime_s[1]) break;
    }
    live = Math.min(D.liveTime_s[1], Math.max(D.liveTime_s[0], live));
    const parts: { rate: Float64Array; scale: number }[] = [{ rate: bg, scale: bgScale }];
    const desc: string[] = [];
    ids.forEach((id, i) => {
      const d = logUniform(rng, D.distance_m[0], D.distance_m[1]);
      const shield = drawShield(rng);
      const s = sourceRate(model, id, 1e6, d, shield.layers);
      const rate = sum(s);
      // The source's share of the net counts over `live` seconds.
      const want = (net * shares[i]) / shareSum;
      parts.push({ rate: s, scale: rate > 0 ? want / (rate * live) : 0 });
      desc.push(`${id} ${shield.id} ${d.toFixed(1)} m`);
    });
    const total = new Float64Array(GRID.nChannels);
    for (const p of parts) for (let ch = 0; ch < total.length; ch++) total[ch] += p.rate[ch] * p.scale;
    return {
      detector: base.name,
      counts: sampleCounts(rng, [{ rate: applyGain(total, gain), scale: 1 }], live),
      liveTime_s: live,
      nuclides: ids,
      netCounts: net,
      signalToBackground: sb,
      description: `${desc.join(' + ')}, S/B ${sb.toFixed(3)}, ${live.toFixed(1)} s, gain ${gain.toFixed(3)}`,
    };
  };
}

// ───────────────────────────── evaluation set ─────────────────────────────

/** Shield cases of the evaluation grid, shared with bench/identify.ts so both methods are scored on the same cells. */
export const EVAL_SHIELDS: readonly Shield[] = [
  { id: 'none', layers: [] },
  { id: 'steel-2cm', layers: [{ material: 'steel', thickness_cm: 2 }] },
  { id: 'steel-5cm', layers: [{ material: 'steel', thickness_cm: 5 }] },
  { id: 'lead-1cm', layers: [{ material: 'lead', thickness_cm: 1 }] },
];

export interface EvaluationOptions {
  seed: number;
  detectors?: readonly string[];
  nuclides?: readonly string[];
  shields?: readonly Shield[];
  distances_m?: readonly number[];
  netCounts?: number;
  /** Spectra per (detector, nuclide, shield, distance) cell. */
  trials?: number;
  /** Background-only spectra per detector. */
  backgroundSpectra?: number;
  /** H*(10) of the bare source at 1 m that sets its activity (default 1 µSv/h, as bench/identify.ts). */
  referenceDose_uSv_h?: number;
  /** Cells whose source rate is below this fraction of the background are out of reach and left out (default 0.01). */
  minSignalToBackground?: number;
}

export interface EvaluationSet {
  sources: LabelledSpectrum[];
  background: LabelledSpectrum[];
  outOfReach: { detector: string; nuclide: string; shield: string; distance_m: number; signalToBackground: number }[];
}

/**
 * The protocol of bench/identify.ts at one net-count level: every nuclide at the activity that gives 1 µSv/h at
 * 1 m bare, behind each shield, at each distance, counted until the source has put `netCounts` into the spectrum
 * (default 5,000), over the default-soil background at 1 m; background-only spectra of 1-600 s, half scaled by
 * ±15 % (shadowing), half over another soil with a 10-minute measured background of that soil beside them.
 */
export function evaluationSet(opts: EvaluationOptions): EvaluationSet {
  const rng = mulberry32(opts.seed);
  const detectors = opts.detectors ?? ['NaI-2x2', 'NaI-2x4x16'];
  const nuclides = opts.nuclides ?? nuclideIds();
  const shields = opts.shields ?? EVAL_SHIELDS;
  const distances = opts.distances_m ?? [1, 3, 5];
  const net = opts.netCounts ?? 5000;
  const trials = opts.trials ?? 2;
  const nBg = opts.backgroundSpectra ?? 200;
  const refDose = opts.referenceDose_uSv_h ?? 1;
  const minSB = opts.minSignalToBackground ?? 0.01;
  const out: EvaluationSet = { sources: [], background: [], outOfReach: [] };
  const grid = { nChannels: GRID.nChannels, keVPerChannel: GRID.keVPerChannel, height_m: 1 };
  for (const name of detectors) {
    const model = detectorModel(name);
    const bg = naturalBackgroundRate(model, grid);
    const bgRate = sum(bg);
    for (const nuclide of nuclides) {
      const activity = refDose / pointSourceDoseRate_uSv_h({ nuclide, activity_Bq: 1, distance_m: 1 });
      for (const shield of shields) {
        for (const d of distances) {
          const s = sourceRate(model, nuclide, activity, d, shield.layers);
          const rate = sum(s);
          const sb = rate / bgRate;
          if (!(sb >= minSB)) {
            out.outOfReach.push({ detector: name, nuclide, shield: shield.id, distance_m: d, signalToBackground: sb });
            continue;
          }
          const live = net / rate;
          for (let k = 0; k < trials; k++) {
            out.sources.push({
              detector: name,
              counts: sampleCounts(rng, [{ rate: s, scale: 1 }, { rate: bg, scale: 1 }], live),
              liveTime_s: live,
              nuclides: [nuclide],
              netCounts: net,
              signalToBackground: sb,
              description: `${name} ${nuclide} ${shield.id} ${d} m, S/B ${sb.toFixed(3)}`,
            });
          }
        }
      }
    }
    for (let k = 0; k < nBg; k++) {
      const live = logUniform(rng, 1, 600);
      if (k % 2 === 0) {
        const f = 0.85 + 0.3 * rng();
        out.background.push({
          detector: name,
          counts: sampleCounts(rng, [{ rate: bg, scale: f }], live),
          liveTime_s: live,
          nuclides: [],
          netCounts: 0,
          signalToBackground: 0,
          description: `${name} background ×${f.toFixed(2)} ${live.toFixed(1)} s`,
        });
      } else {
        const soil = { K_pct: 1 + 2 * rng(), U_ppm: 1 + 3 * rng(), Th_ppm: 5 + 9 * rng() };
        const site = naturalBackgroundRate(model, { ...grid, ...soil });
        const measured = { counts: sampleCounts(rng, [{ rate: site, scale: 1 }], 600), liveTime_s: 600 };
        const f = 0.9 + 0.2 * rng();
        out.background.push({
          detector: name,
          counts: sampleCounts(rng, [{ rate: site, scale: f }], live),
          liveTime_s: live,
          nuclides: [],
          netCounts: 0,
          signalToBackground: 0,
          measuredBackground: measured,
          description: `${name} background K ${soil.K_pct.toFixed(1)} % U ${soil.U_ppm.toFixed(1)} ppm Th ${soil.Th_ppm.toFixed(1)} ppm ×${f.toFixed(2)} ${live.toFixed(1)} s`,
        });
      }
    }
  }
  return out;
}
