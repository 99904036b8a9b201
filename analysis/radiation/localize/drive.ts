// A whole recorded drive to a localization result: nuclide (given or identified from the hottest spectra), window counts, estimate.

import { DETECTORS, type DetectorModel } from '../dose.js';
import { NuclideIdentifier } from '../identify.js';
import type { DetectorInfo, Measurement, Spectrum } from '../spectrum.js';
import { type AreaOptions, localize } from './localize.js';
import { type DriveInput, type DriveInputOptions, driveInput, guessModel } from './input.js';
import type { LocalizeResult } from './types.js';

export interface LocalizeDriveOptions extends DriveInputOptions {
  area?: AreaOptions;
  maxSources?: number;
  detectThreshold?: number;
  /** Identify the nuclide from the drive when none is given (default true). */
  identify?: boolean;
}

export interface LocalizedDrive {
  result: LocalizeResult;
  drive: DriveInput;
  /** What the identification said, when it ran. */
  identified?: { nuclide: string; confidence: number } | undefined;
}

/**
 * The nuclide of a drive: the reference detector's hottest tenth of spectra (by gross counts) summed, its coolest
 * half as the background, through the template identifier. Undefined when nothing is identified.
 */
export function identifyDriveNuclide(ms: readonly Measurement[], opts: { detector?: string; model?: DetectorModel; detectorInfo?: readonly DetectorInfo[] } = {}): { nuclide: string; confidence: number } | undefined {
  const spectra: Spectrum[] = [];
  const detector = opts.detector ?? ms.find((m) => m.spectra.length > 0)?.spectra[0]?.detector;
  if (detector === undefined) return undefined;
  for (const m of ms) for (const s of m.spectra) if (s.detector === detector && s.calibration !== undefined) spectra.push(s);
  if (spectra.length < 4) return undefined;
  const n = spectra[0].counts.length;
  const same = spectra.filter((s) => s.counts.length === n);
  const gross = same.map((s) => s.counts.reduce((a, b) => a + b, 0) / Math.max(s.liveTime_s, 1e-9));
  const order = same.map((_, i) => i).sort((a, b) => gross[b] - gross[a]);
  const hot = order.slice(0, Math.max(2, Math.ceil(order.length / 10)));
  const cool = order.slice(Math.floor(order.length / 2));
  const sum = (idx: number[]): { counts: Float64Array; liveTime_s: number } => {
    const counts = new Float64Array(n);
    let live = 0;
    for (const i of idx) {
      const c = same[i].counts;
      for (let ch = 0; ch < n; ch++) counts[ch] += c[ch];
      live += same[i].liveTime_s;
    }
    return { counts, liveTime_s: live };
  };
  const model = opts.model ?? guessModel(detector, opts.detectorInfo) ?? DETECTORS['NaI-2x2'];
  const fg = sum(hot);
  const bg = sum(cool);
  const id = new NuclideIdentifier({ detector: model }).identify({ counts: fg.counts, liveTime_s: fg.liveTime_s, calibration: same[hot[0]].calibration }, { background: bg });
  const top = id.nuclides[0];
  return top === undefined ? undefined : { nuclide: top.nuclide, confidence: top.confidence };
}

/** Localizes the sources of a drive given as measurements (pure: the caller reads the files). */
export function localizeMeasurements(ms: readonly Measurement[], opts: LocalizeDriveOptions = {}): LocalizedDrive {
  let nuclide = opts.nuclide;
  let identified: LocalizedDrive['identified'];
  if (nuclide === undefined && opts.energy_keV === undefined && opts.identify !== false && ms.some((m) => m.spectra.length > 0)) {
    identified = identifyDriveNuclide(ms, { ...(opts.referenceDetector !== undefined ? { detector: opts.referenceDetector } : {}), ...(opts.detectorInfo !== undefined ? { detectorInfo: opts.detectorInfo } : {}) });
    nuclide = identified?.nuclide;
  }
  const drive = driveInput(ms, { ...opts, ...(nuclide !== undefined ? { nuclide } : {}) });
  if (identified !== undefined) drive.warnings.unshift(`nuclide ${identified.nuclide} identified from the drive (confidence ${identified.confidence.toFixed(2)})`);
  const result = localize(drive.measurements, {
    origin: drive.origin,
    model: drive.model,
    warnings: drive.warnings,
    ...(opts.area !== undefined ? { area: opts.area } : {}),
    ...(opts.maxSources !== undefined ? { maxSources: opts.maxSources } : {}),
    ...(opts.detectThreshold !== undefined ? { detectThreshold: opts.detectThreshold } : {}),
    ...(drive.nuclide !== undefined ? { nuclide: drive.nuclide } : {}),
    ...(drive.refEff_cm2 !== undefined ? { refEff_cm2: drive.refEff_cm2 } : {}),
  });
  return { result, drive, identified };
}
