// Gamma spectra as every part of the radiation chain sees them: counts per channel, times, energy calibration.

/**
 * Energy calibration of one detector. `coefficients` is the polynomial energy(ch) = c0 + c1·ch + c2·ch² + …
 * (keV, channel numbers from 0 at the lower edge of channel 0); `deviationPairs` ([keV, ΔkeV] sorted by energy)
 * correct a nonlinear detector: the polynomial energy E is mapped to E + Δ(E), Δ interpolated linearly between
 * pairs (the N42 / SpecUtils convention).
 */
export interface EnergyCalibration {
  coefficients: number[];
  deviationPairs?: [number, number][];
}

export type MeasurementClass = 'Foreground' | 'Background' | 'Calibration' | 'IntrinsicActivity' | 'NotSpecified';

export interface GeoPoint {
  lat: number;
  lon: number;
  elevation_m?: number;
}

export interface Spectrum {
  /** Detector this spectrum came from (N42 radDetectorInformationReference, or a name). */
  detector: string;
  counts: Float64Array;
  liveTime_s: number;
  realTime_s: number;
  calibration?: EnergyCalibration;
  /** Detector position when the spectrum was taken (N42 RadDetectorState, else the instrument's). */
  position?: GeoPoint;
}

export interface GrossCount {
  detector: string;
  counts: number;
  liveTime_s: number;
  realTime_s: number;
  position?: GeoPoint;
}

export interface Measurement {
  id: string;
  /** ISO 8601 start time as written in the file (timezone as given). */
  startTime?: string;
  realTime_s: number;
  class: MeasurementClass;
  spectra: Spectrum[];
  grossCounts: GrossCount[];
  /** Ambient dose equivalent rate H*(10) per detector or for the instrument, when the file has one. */
  doseRates?: { detector?: string; doseRate_uSv_h: number }[];
  position?: GeoPoint;
}

export interface DetectorInfo {
  id: string;
  kind?: string;
  description?: string;
}

export interface RadFile {
  /** Where it came from (path), for error messages. */
  source: string;
  format: 'N42-2006' | 'N42-2012' | 'SPE' | 'CSV' | 'RadiaCode-XML';
  instrument?: { manufacturer?: string; model?: string; id?: string };
  detectors: DetectorInfo[];
  measurements: Measurement[];
}
