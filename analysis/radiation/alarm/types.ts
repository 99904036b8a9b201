// Types of the alarm monitor: its options, the samples it takes, the decisions and configuration it reports.
import type { BackgroundEstimator, BackgroundOptions } from '../background.js';
import type { ThresholdKey, ThresholdTable } from './thresholds.js';
import type { EnergyWindow } from './windows.js';

export interface AlarmOptions {
  /** Target false alarm rate of all tests together, alarms per hour of measurement (driving) time. Default 1. */
  falseAlarmRate_per_h?: number;
  /** Wald β (missed-detection probability of one cycle): ln B = ln(β/(1 − α)). Default 0.05. */
  beta?: number;
  /** Design alternative: the source adds this many background standard deviations per sample (default 1). */
  shift_sigma?: number;
  /** Energy windows (default DEFAULT_WINDOWS); [] for gross counts only. */
  windows?: readonly EnergyWindow[];
  /** Run tests per detector (default true) and on the sum over detectors (default true). */
  perDetector?: boolean;
  summed?: boolean;
  /** How far above ln A Λ may climb during an alarm (nats, default 2): the alarm ends that much sooner. */
  holdMargin?: number;
  /** Fold the background estimate's own uncertainty into the thresholds (default true). */
  backgroundUncertainty?: boolean;
  /** Solved thresholds to use and fill (default: a table of this monitor's own). Share one to solve each cell once. */
  thresholds?: ThresholdTable;
  /** Options of the per-detector background estimators (their nWindows is set from the windows). */
  background?: Omit<BackgroundOptions, 'nWindows'>;
  /** Learn each test's over-dispersion from the preceding data and widen it by that (default true). */
  overDispersion?: boolean;
  /** Run the spectral (NSCRAD) test on the summed windows (default true when there are 2 or more windows). */
  spectral?: boolean;
  /**
   * Memory of the spectral test's learnt SCR covariance and D² tail, seconds of data (default 900: a drive's soil
   * changes are remembered through its steady stretches; 60 was the memory before the changing-soil work).
   */
  spectralMemory_s?: number;
  /** Scale D² by its tail learnt from the drive (default true; see spectral.ts). */
  spectralTailScale?: boolean;
  /** Data over which the spectral test's SCRs are summed, s (default 1). */
  spectralWindow_s?: number;
  /**
   * Count tests alarm only when the summed spectrum also departs from the background's shape (default true with the
   * spectral test): a ±30 % change of the natural background then moves the background estimate instead of alarming.
   */
  shapeGate?: boolean;
}

export interface DetectorSample {
  id: string;
  liveTime_s: number;
  gross: number;
  /** Counts per window in the order of the configured windows (needed for the window tests). */
  windows?: readonly number[];
}

export interface MonitorSample {
  /** Start of the sample on the caller's time scale (seconds). */
  time_s: number;
  /** Real (clock) duration of the sample: the unit of the false alarm budget. */
  realTime_s: number;
  detectors: readonly DetectorSample[];
}

/** Given background rates per detector (instead of estimating them); `live_s` is how long they were measured. */
export interface KnownBackground {
  gross_cps: number;
  windows_cps?: readonly number[];
  live_s?: number;
}

/** The tests that can alarm. */
export type AlarmTest = 'gross-sprt' | 'window-sprt' | 'spectral';

export interface TestResult {
  test: AlarmTest;
  /** Detector id, or 'sum' for the test on all detectors together. */
  detector: string;
  window?: string;
  statistic: number;
  threshold: number;
  alarm: boolean;
  /** Design shift in use (σ per sample; above the configured one while the background is young). SPRTs only. */
  shift_sigma?: number;
  /**
   * Over-dispersion φ the test runs with (variance over the Poisson variance, learnt from the preceding data); for the
   * spectral test the scale of D² learnt from the drive (its threshold and the shape gate are the χ² points times it).
   */
  dispersion?: number;
}

export interface AlarmDecision {
  /** Any test is in alarm. */
  alarm: boolean;
  /** This sample starts a new alarm event (no test was in alarm on the previous sample). */
  onset: boolean;
  /** Statistic and threshold of the test nearest to (or furthest over) its threshold ('none' before any test ran). */
  statistic: number;
  threshold: number;
  test: AlarmTest | 'none';
  detector?: string;
  window?: string;
  /** False while the background is still warming up (no test evaluated). */
  ready: boolean;
  /** Count tests are over their thresholds but the spectrum keeps the background's shape: taken as a level change. */
  levelChange: boolean;
  tests: TestResult[];
  /** Counts and expected background per window, summed over the detectors (when windows are available). */
  windowSum?: { counts: number[]; background: number[] };
}


export interface AlarmMonitor {
  update(sample: MonitorSample, background?: Readonly<Record<string, KnownBackground>>): AlarmDecision;
  /** The background estimator of a detector (created on its first sample). */
  backgroundOf(id: string): BackgroundEstimator | undefined;
  /** Seed a detector's background estimate (e.g. from a robust look at the start of a file). */
  seed(id: string, rates: KnownBackground & { time_s?: number }): void;
  /** The configuration as applied: rates, number of tests, unit. */
  config(): AlarmConfigReport;
  /** Forget every test statistic and background estimate (a new run); calibrated thresholds are kept. */
  reset(): void;
  /** Forget one detector's background and tests, and the summed tests (its energy windows changed meaning). */
  forget(id: string): void;
  /**
   * The threshold cells update() would need for this sample that the table does not hold yet; nothing changes. A
   * caller that must not block solves them with ThresholdTable.solveLater first, then calls update().
   */
  missingThresholds(sample: MonitorSample, background?: Readonly<Record<string, KnownBackground>>): ThresholdKey[];
}

export interface AlarmConfigReport {
  falseAlarmRate_per_h: number;
  unit: 'alarms per hour of measurement (driving) time';
  /** Tests the budget is split over (gross and windows, per detector and summed), as last run. */
  tests: number;
  /** Rate each count test (gross and window SPRTs) is calibrated to. */
  perTestRate_per_h: number;
  /** Rate the spectral test is calibrated to (0 when it does not run). */
  spectralRate_per_h: number;
  beta: number;
  lnB: number;
  shift_sigma: number;
  windows: EnergyWindow[];
  overDispersion: boolean;
  spectral: boolean;
  shapeGate: boolean;
  /** What the tests can see while the background is young: see `learning` in the module header. */
  learning: string;
}

