// Shared result and input types of 3D source localization (estimator, dose field, maps and guidance build on them).

export interface LocalOrigin {
  lat: number;
  lon: number;
  /** ellipsoidal height of the ground at the origin; local z is measured from it (default 0) */
  height_m?: number;
}

/** One measurement of one detector, positioned in local metres (x east, y north, z up from ground). */
export interface LocMeasurement {
  t_s: number;
  detector: string;
  x_m: number;
  y_m: number;
  z_m: number;
  liveTime_s: number;
  /** counts in the window/ROI used */
  counts: number;
}

export interface ConfidenceRegion {
  /** 95 % ellipsoid semi-axes (m), largest first, and their unit axes (rows) in x,y,z */
  semiAxes_m: [number, number, number];
  axes: [[number, number, number], [number, number, number], [number, number, number]];
  method: 'fisher' | 'profile';
}

export interface SourceEstimate {
  x_m: number;
  y_m: number;
  z_m: number;
  lat: number;
  lon: number;
  height_m: number;
  nuclide?: string;
  energy_keV?: number;
  /** counts per second the reference detector would see at 1 m in air */
  cps_at_1m: number;
  activity_Bq?: number;
  /** 4x4 covariance of (x, y, z, cps_at_1m) in m^2, m*cps, cps^2 */
  covariance_m2: number[][];
  ci95: ConfidenceRegion;
  ambiguous: boolean;
  mirror?: { lat: number; lon: number; height_m: number };
}

export interface LocalizeResult {
  origin: LocalOrigin;
  sources: SourceEstimate[];
  background_cps: Record<string, number>;
  measurements: number;
  noSource: boolean;
  reason?: string;
  logLikelihood: number;
  warnings: string[];
}
