// The spectra and fingerprints of radiation-identify-pinned.test.ts: deterministic simulated spectra through three detector responses, and a compact digest of an identification and of a template set.
import { DETECTORS, type DetectorModel, pointSourceDoseRate_uSv_h } from '../../analysis/radiation/dose.js';
import type { Identification } from '../../analysis/radiation/identify.js';
import type { FineTemplateSet } from '../../analysis/radiation/identify/templates.js';
import { naturalBackgroundRate } from '../../analysis/radiation/sim/natural.js';
import { type Scene, type SimDetector, applyGain, expectedRates, mulberry32, poisson } from '../../analysis/radiation/sim/scene.js';

export const N_CH = 1024;
export const KEV = 3;

export interface PinnedCase {
  id: string;
  detector: 'NaI-2x2' | 'NaI-2x4x16';
  sources: { nuclide: string; distance_m: number; netCounts: number; shielding?: { material: string; thickness_cm: number }[] }[];
  /** Live time when there is no source. */
  live_s?: number;
  gain?: number;
  seed: number;
}

/** Single sources, shielded, a mixture with SNM, a gain error and background only: every branch of identify(). */
export const CASES: readonly PinnedCase[] = [
  { id: 'cs137-bare', detector: 'NaI-2x2', sources: [{ nuclide: 'Cs137', distance_m: 2, netCounts: 5000 }], seed: 1 },
  { id: 'ba133-steel', detector: 'NaI-2x2', sources: [{ nuclide: 'Ba133', distance_m: 1, netCounts: 5000, shielding: [{ material: 'steel', thickness_cm: 2 }] }], seed: 2 },
  { id: 'co60-lead-log', detector: 'NaI-2x4x16', sources: [{ nuclide: 'Co60', distance_m: 3, netCounts: 3000, shielding: [{ material: 'lead', thickness_cm: 1 }] }], seed: 3 },
  { id: 'tc99m-over-u235', detector: 'NaI-2x2', sources: [{ nuclide: 'U235', distance_m: 2, netCounts: 5000 }, { nuclide: 'Tc99m', distance_m: 2, netCounts: 10000 }], seed: 4 },
  { id: 'i131-gain', detector: 'NaI-2x4x16', sources: [{ nuclide: 'I131', distance_m: 1, netCounts: 5000 }], gain: 1.02, seed: 5 },
  { id: 'ra226-water', detector: 'NaI-2x2', sources: [{ nuclide: 'Ra226', distance_m: 1, netCounts: 20000, shielding: [{ material: 'water', thickness_cm: 20 }] }], seed: 6 },
  { id: 'am241-low', detector: 'NaI-2x4x16', sources: [{ nuclide: 'Am241', distance_m: 1, netCounts: 1500 }], seed: 7 },
  { id: 'background', detector: 'NaI-2x2', sources: [], live_s: 120, seed: 8 },
];

export function caseDetector(c: PinnedCase): DetectorModel {
  return DETECTORS[c.detector]!;
}

/** The counts of a case: expected source and natural background rates, Poisson-sampled from the case's seed. */
export function caseSpectrum(c: PinnedCase): { counts: Float64Array; liveTime_s: number; keVPerChannel: number } {
  const model = caseDetector(c);
  const det: SimDetector = { id: 'd', model, offset: { x_m: 0, y_m: 0, z_m: 1 }, nChannels: N_CH, keVPerChannel: KEV };
  const bg = naturalBackgroundRate(model, { nChannels: N_CH, keVPerChannel: KEV, height_m: 1 });
  const parts = c.sources.map((s) => {
    const activity_Bq = 1 / pointSourceDoseRate_uSv_h({ nuclide: s.nuclide, activity_Bq: 1, distance_m: 1 });
    const scene: Scene = { sources: [{ nuclide: s.nuclide, activity_Bq, position: { x_m: s.distance_m, y_m: 0, z_m: 1 }, shielding: s.shielding ?? [] }], background: {}, origin: { lat: 0, lon: 0 } };
    const rate = expectedRates(scene, det, { x_m: 0, y_m: 0, z_m: 1 }).map((v, i) => Math.max(0, v - bg[i]));
    let total = 0;
    for (const v of rate) total += v;
    return { rate, total, netCounts: s.netCounts };
  });
  const live = parts.length > 0 ? parts[0].netCounts / parts[0].total : (c.live_s ?? 60);
  let mean: Float64Array = new Float64Array(N_CH);
  for (const p of parts) for (let i = 0; i < N_CH; i++) mean[i] += (p.rate[i] * p.netCounts) / p.total;
  for (let i = 0; i < N_CH; i++) mean[i] += bg[i] * live;
  if (c.gain !== undefined) mean = applyGain(mean, c.gain);
  const rng = mulberry32(c.seed);
  return { counts: mean.map((m) => poisson(rng, m)), liveTime_s: live, keVPerChannel: KEV };
}

/**
 * What an identification is pinned by: everything the template fit decides (nuclides, significance, net counts,
 * shielding, alternatives' weights, rejections, gain, deviance). Not `confidence`: that is the calibrated map of
 * these (identify/confidence.ts), tested on its own.
 */
export function digest(r: Identification): unknown {
  return {
    nuclides: r.nuclides.map((n) => ({
      nuclide: n.nuclide,
      significance: n.significance,
      netCounts: n.netCounts,
      netCountsSigma: n.netCountsSigma,
      shielding: n.shielding,
      alternatives: n.alternatives,
      share: n.share,
    })),
    rejected: (r.rejected ?? []).map((x) => `${x.nuclide}:${x.kind}`),
    unknown: r.unknown !== undefined,
    gain: r.gain,
    deviance: r.fit.deviance,
    dispersion: r.fit.dispersion,
  };
}

/**
 * Per template and background part, two fixed pseudo-random projections of its fine-grid values (a change anywhere
 * moves them), its relative yield and main lines: a fingerprint of the whole set, compared to ~1e-12.
 */
export function templateFingerprint(set: FineTemplateSet): Record<string, number[]> {
  const project = (v: Float64Array): number[] => {
    let a = 0;
    let b = 0;
    for (let i = 0; i < v.length; i++) {
      a += v[i] * (((i * 7919) % 97) / 97);
      b += v[i] * Math.sin(i * 0.37);
    }
    return [a, b];
  };
  const out: Record<string, number[]> = {};
  for (const t of set.templates) {
    out[`${t.nuclide}|${t.variant}|lines`] = [...project(t.lines), t.relativeYield, ...t.mainLines.flatMap((m) => [m.energy_keV, m.share])];
    if (t.downscatter !== undefined) out[`${t.nuclide}|${t.variant}|ds`] = project(t.downscatter);
  }
  for (const p of set.backgroundParts) out[`bg|${p.id}`] = [...project(p.values), p.naturalShare];
  out['bg|background'] = project(set.background);
  return out;
}

/** The fingerprint folded to a few sums (weights keep templates apart): small enough to pin in the test itself. */
export function templateDigest(set: FineTemplateSet): Record<string, number> {
  const fp = templateFingerprint(set);
  const out: Record<string, number> = { templates: set.templates.length, downscatter: 0, lines: 0, linesSin: 0, ds: 0, dsSin: 0, yields: 0, mainLines: 0, background: 0, backgroundSin: 0 };
  let k = 0;
  for (const [key, v] of Object.entries(fp)) {
    const w = 1 + (k++ % 7);
    if (key.endsWith('|lines')) {
      out.lines += w * v[0];
      out.linesSin += w * v[1];
      out.yields += w * v[2];
      for (let i = 3; i < v.length; i++) out.mainLines += w * v[i];
    } else if (key.endsWith('|ds')) {
      out.downscatter++;
      out.ds += w * v[0];
      out.dsSin += w * v[1];
    } else {
      out.background += w * v[0];
      out.backgroundSin += w * v[1];
    }
  }
  return out;
}
