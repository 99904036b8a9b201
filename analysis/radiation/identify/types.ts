// The identifier's input and output types, shared by the template fit (identify.ts) and the peak-based method for
// high-resolution detectors (identify/peak-id.ts), so that neither imports the other's module for its types.

import type { DetectorModel } from '../dose.js';
import type { NuclideCategory } from '../nuclides.js';
import type { SoilConcentrations } from '../sim/natural.js';
import type { EnergyCalibration } from '../spectrum.js';
import type { UraniumAssessment } from './uranium.js';
import type { ShieldVariant } from './templates.js';

export interface IdentifierOptions {
  detector: DetectorModel;
  /** Nuclide ids to look for (default: the whole library, nuclides.ts). */
  nuclides?: readonly string[];
  /** Shield variants per nuclide (default DEFAULT_SHIELD_VARIANTS). */
  shielding?: readonly ShieldVariant[];
  /** Soil composition of the modelled natural background (default sim/natural.ts defaults). */
  soil?: SoilConcentrations;
  /** Lowest channel energy fitted (default 30 keV: below, the response model lacks x-ray escape and the LLD cuts). */
  minEnergy_keV?: number;
  /** Highest energy fitted (default 2900 keV: the natural background model stops above Tl-208's 2614 keV). */
  maxEnergy_keV?: number;
  /**
   * Deviance drop a nuclide must bring, after division by the fit's dispersion, to be reported: the likelihood-
   * ratio statistic of "amplitude > 0". Default 30 (5.5 σ): with 21 nuclides × 10 shield variants tried on every
   * spectrum, a 4 σ cut flagged 1.3 % of 1,200 simulated background-only spectra, 5 σ 0.25 %, 5.5 σ none.
   */
  threshold?: number;
  /**
   * A further nuclide must also bring this fraction of the strongest nuclide's deviance drop (default 0.01):
   * template errors grow with the signal, and at 10⁵ counts a 1 % misfit of a strong peak is "significant".
   */
  relativeThreshold?: number;
  /** At most this many nuclides in one spectrum (default 4). */
  maxNuclides?: number;
  /** Half-range of the gain factors tried (default 0.03; 0 uses the calibration as given). */
  gainSearch?: number;
  /** Air between source and detector assumed by the templates (default 2 m). */
  airPath_m?: number;
  /** Fine template grid (default 1 keV). */
  fineWidth_keV?: number;
  /**
   * How the modelled background is fitted (docs/identification.md): 'soil' (default), the soil model in its own
   * K:U:Th proportions plus separately scaled lead x-rays, continuum slopes and scatter humps; 'separate', the
   * chains free as well, which makes real backgrounds of other detectors come back empty but lets a NORM or
   * natural-uranium load pass for background unless one chain is far out of proportion (identify/norm.ts).
   */
  backgroundParts?: 'soil' | 'separate';
  /** Report the fit's raw confidence instead of the calibrated one (identify/confidence.ts; to fit that map). */
  rawConfidence?: boolean;
}

export interface SpectrumInput {
  counts: ArrayLike<number>;
  liveTime_s: number;
  /** Energy calibration; required unless keVPerChannel is given. */
  calibration?: EnergyCalibration;
  /** Shorthand for a linear calibration from 0 keV. */
  keVPerChannel?: number;
}

export interface BackgroundSpectrum {
  counts: ArrayLike<number>;
  liveTime_s: number;
}

export interface IdentifiedNuclide {
  nuclide: string;
  label: string;
  category: NuclideCategory;
  /** Probability-like score in [0, 1]: detection × share against the alternatives. */
  confidence: number;
  /** √(deviance drop / dispersion) of removing this nuclide from the final model. */
  significance: number;
  /** Net counts attributed (lines and downscatter), whole spectrum. */
  netCounts: number;
  netCountsSigma: number;
  netCountRate_cps: number;
  /**
   * Shield variant of the template carrying most of its counts ('none', 'steel-2cm', …). A hint, not a
   * measurement: for a nuclide with one line (Cs-137, K-40, Tc-99m) only the downscatter tells variants apart.
   */
  shielding: string;
  /** Energies (keV) of the peaks found in the spectrum that this nuclide's main lines account for. */
  peaks_keV: number[];
  /** Other nuclides that explain the same counts almost as well, with their normalised likelihood weights. */
  alternatives: { nuclide: string; weight: number }[];
  /** Share of the reported nuclides' net counts (a mixture's composition; sums to 1 over `nuclides`). */
  share?: number;
}

/** A nuclide the fit selected but the report does not name, and why. */
export interface RejectedNuclide {
  nuclide: string;
  significance: number;
  netCounts: number;
  kind: 'lines-not-seen' | 'snm-not-confirmed' | 'natural-background';
  reason: string;
  /** The data contradict it (lines out of proportion), not only fail to confirm it. */
  contradicted?: boolean;
}

export interface UnexplainedPeak {
  energy_keV: number;
  netCounts: number;
  significance: number;
  /** Library nuclides with a line within half a FWHM (not fitted: their other lines did not fit). */
  candidates: string[];
}

export interface Identification {
  /** Most confident first; empty when the spectrum is background only (or unknown). */
  nuclides: IdentifiedNuclide[];
  /**
   * Set when something in the spectrum is not explained by the nuclides reported: a residual peak, or a line a
   * rejected nuclide's template filled. "Nothing above background" is `nuclides` empty and no `unknown`.
   */
  unknown?: { reason: string };
  /** Nuclides the fit selected but whose lines were not seen (SNM: every characteristic line), or that are background. */
  rejected?: RejectedNuclide[];
  /** Peaks the final model leaves unexplained (residual significance ≥ 5). */
  unexplainedPeaks: UnexplainedPeak[];
  /** Most severe category present (SNM > industrial > medical > NORM). */
  category?: NuclideCategory;
  /** What the officer should know beside the list (uranium: natural or enriched, enrichment measurable or not). */
  notes?: IdentificationNote[];
  /** Natural or enriched, when uranium (U-235 or U-238) is reported; see identify/uranium.ts. */
  uranium?: UraniumAssessment;
  background: { source: 'measured' | 'model'; counts: number; scale?: number; components?: Record<string, number> };
  /** Gain factor applied to the calibration (1 = as given). */
  gain: number;
  fit: { deviance: number; channels: number; dispersion: number; grossCounts: number };
}

export interface IdentificationNote {
  code: 'uranium-enrichment-not-measurable' | 'uranium-natural-or-depleted' | 'uranium-235-not-confirmed' | 'uranium-enriched' | 'snm-not-confirmed';
  /** Nuclide ids the note is about. */
  nuclides: string[];
  message: string;
}
