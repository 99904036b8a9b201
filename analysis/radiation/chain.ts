// The radiation chain, one for the node and the CLI: spectra in → gain → background → alarm → identify → dose →
// per-interval `rad` bodies and alarm events out. State lives in the chain object the caller owns; time comes from the
// readings (their time_ms), never from a clock, so a recorded file gives exactly what a live node reported.
//
// Cadence: an interval closes when a reading of a later interval arrives (data time, so recorded or accelerated drives
// give the same result as live ones). An alarm event opens on the first interval any test alarms and ends after
// `alarmEndHold_s` without any test in alarm (one pass, one alarm), or is reported at `maxAlarm_s` if it goes on.
import { InputError } from '../../common/errors.js';
import type { BodyOf } from '../../protocol/index.js';
import { createAlarmMonitor, DEFAULT_WINDOWS, windowChannels, windowCounts, windowShape, type AlarmDecision, type WindowShape, type AlarmMonitor, type ThresholdKey, type ThresholdTable } from './alarm/index.js';
import { energyOf, linearCalibration } from './calibration.js';
import { buildGFunction, type DetectorModel, type GFunction } from './dose.js';
import { MIN_CHANNELS } from './formats/checks.js';
import { createGainStabilizer, type GainStabilizer } from './gain.js';
import { NuclideIdentifier, type Identification } from './identify.js';
import type { EnergyCalibration, Measurement } from './spectrum.js';

/**
 * The chain's settings when nobody chose them: the radiation pipeline's option defaults and `rad alarm`'s, from this
 * one place, so that the CLI reproduces a node that runs with defaults.
 */
export const CHAIN_DEFAULTS = {
  interval_s: 1,
  falseAlarmRate_per_h: 1,
  gainStabilisation: true,
  identify: true,
  maxAlarm_s: 30,
  alarmEndHold_s: 3,
} as const;

/** One spectrum from one detector (the node's `spectrum` reading). */
export interface ChainSpectrum {
  detector: string;
  counts: ArrayLike<number>;
  liveTime_s: number;
  realTime_s: number;
  time_ms: number;
  calibration?: EnergyCalibration;
  position?: { lat: number; lon: number; height_m?: number };
}

/** A calibration that became active for a detector (the parts the chain uses). */
export interface ChainCalibration {
  detector: string;
  version: string;
  energy?: EnergyCalibration;
  doseFactor?: number;
  referenceSpectrum?: { counts: readonly number[] };
}

export interface ChainOptions {
  detectors: readonly { id: string; model: DetectorModel }[];
  /** Summary and alarm-test interval (data time), s. */
  interval_s: number;
  falseAlarmRate_per_h: number;
  gainStabilisation: boolean;
  /** Identify nuclides by the template fit when an alarm is reported. */
  identify: boolean;
  /** Report an alarm after this long even if it goes on, s. */
  maxAlarm_s: number;
  /** An alarm ends after this long without any test in alarm, s. */
  alarmEndHold_s: number;
  /** Linear calibration for spectra that carry none. */
  keVPerChannel?: number;
  /** Alarm ids are `${alarmIdPrefix}-${start_ms}`. */
  alarmIdPrefix: string;
  /** Keep each alarm's interval spectra as measurements (for an N42 archive). */
  keepMeasurements?: boolean;
  /** Hand the alarm detector's foreground spectrum over with the alarm (for a classifier the caller runs). */
  keepForeground?: boolean;
  /** Solved alarm thresholds to use and fill; share one table between chains to solve each cell once. */
  thresholds?: ThresholdTable;
}

/** The `rad` summary body of one interval, as the protocol defines it. */
export type RadBody = BodyOf<'rad'>;

/** The `alarm` summary body (nuclides from the template fit; a caller's classifier may add to it). */
export type AlarmBody = BodyOf<'alarm'>;

export interface ChainAlarm {
  body: AlarmBody;
  start_ms: number;
  /** Data time of the interval that reported it. */
  t_ms: number;
  /** 'ended' after the quiet hold, 'ongoing' at maxAlarm_s, 'interrupted' by a new calibration or the end of the data. */
  reason: 'ended' | 'ongoing' | 'interrupted';
  identification?: Identification;
  /** Interval spectra during the alarm (keepMeasurements). */
  measurements: Measurement[];
  /** The alarm detector's foreground (keepForeground). */
  foreground?: { detector: string; counts: Float64Array; liveTime_s: number; calibration: EnergyCalibration };
  /** The peak decision of the event (its `test` is the alarm body's: gross-sprt, window-sprt or spectral). */
  peak: AlarmDecision;
  /** Every test that alarmed during the event, as `test/detector[/window]`, in the order they first did. */
  alarmedTests: string[];
  /** Why the alarm carries no nuclides although identification was asked for. */
  warning?: string;
  /** Window shape of the whole event, summed over its intervals and the detectors (NORM against man-made). */
  shape?: WindowShape;
}

export type ChainOutput =
  | { kind: 'rad'; t_ms: number; body: RadBody; decision: AlarmDecision }
  | { kind: 'alarm'; alarm: ChainAlarm }
  /** Something the chain refused or worked around; `key` groups warnings of one kind for rate limiting. */
  | { kind: 'warning'; detector?: string; key: string; message: string };

export class ChainError extends InputError {}

interface DetectorState {
  id: string;
  model: DetectorModel;
  cal?: EnergyCalibration;
  record?: ChainCalibration;
  nChannels: number;
  /** Data time and channel count of the last spectrum taken: one measurement's spectra share their time. */
  last?: { time_ms: number; nChannels: number };
  ranges?: [number, number][];
  gain?: GainStabilizer;
  /** G(E) at each channel centre for this calibration: the dose rate is a dot product with the spectrum. */
  gVec?: Float64Array;
  counts?: Float64Array;
  /** The interval's uncorrected sum, for the gain stabiliser (counts is replaced by its correction at the close). */
  raw?: Float64Array;
  live_s: number;
  real_s: number;
  /** Spectra added to `counts` since the detector was set up: tells whether `corrected` is still current. */
  added: number;
  /** The gain-corrected interval spectrum a dry run (missingThresholds) computed, reused when the interval closes. */
  corrected?: { added: number; counts: Float64Array };
  /** Background spectrum accumulated outside alarms (for identification), and its live time. */
  bg?: Float64Array;
  bgLive_s: number;
  /** Foreground spectrum accumulated during the current alarm. */
  fg?: Float64Array;
  fgLive_s: number;
  position?: ChainSpectrum['position'];
}

interface OpenAlarm {
  id: string;
  start_ms: number;
  peak: AlarmDecision;
  measurements: Measurement[];
  quietSince_ms?: number;
  /** Reported at maxAlarm_s while still going on: the rest of the event is followed but not reported again. */
  reported?: boolean;
  now?: AlarmNow;
  /** Window counts and background summed over the event's intervals. */
  windows?: { counts: number[]; background: number[] };
  alarmedTests: Set<string>;
}

type AlarmNow = { gross_cps: number; doseRate: number; position?: { lat: number; lon: number; height_m?: number } };

/** Background spectra older than this many seconds of live time are down-weighted (exponential memory). */
const BG_MEMORY_S = 600;

/** Why a reading cannot be used, or undefined. Drivers validate too; this guards the analysis state. */
export function spectrumProblem(r: ChainSpectrum): string | undefined {
  if (!(r.counts.length > 0)) return 'no channels';
  // Peak search, gain stabilisation and the energy windows need a spectrum, not a gross count.
  if (r.counts.length < MIN_CHANNELS) return `${r.counts.length} channel${r.counts.length === 1 ? '' : 's'}, expected at least ${MIN_CHANNELS}`;
  // Every channel of every spectrum passes here: two comparisons each (NaN and ±Infinity fail), the message only on a failure.
  const counts = r.counts;
  for (let i = 0, n = counts.length; i < n; i++) {
    const c = counts[i]!;
    if (!(c >= 0 && c <= Number.MAX_VALUE)) return `channel ${i}: count ${c}, expected a finite number >= 0`;
  }
  if (!(r.liveTime_s > 0) || !Number.isFinite(r.liveTime_s)) return `liveTime_s ${r.liveTime_s}, expected a duration > 0`;
  if (!(r.realTime_s >= 0) || !Number.isFinite(r.realTime_s)) return `realTime_s ${r.realTime_s}, expected a duration >= 0`;
  if (!Number.isFinite(r.time_ms)) return `time_ms ${r.time_ms}, expected a time`;
  return undefined;
}

export class RadiationChain {
  private readonly dets = new Map<string, DetectorState>();
  private readonly gFunctions = new Map<string, GFunction>();
  private readonly identifiers = new Map<string, NuclideIdentifier>();
  private readonly modelKeys = new WeakMap<DetectorModel, string>();
  private readonly monitor: AlarmMonitor;
  private intervalStart_ms: number | undefined;
  private gmCounts = { cps: 0, n: 0 };
  private position: { lat: number; lon: number; height_m?: number } | undefined;
  private alarm: OpenAlarm | undefined;
  private readonly warnedUnknown = new Set<string>();
  /** Gain-stabilisation problems already reported (each once, not at every re-setup). */
  private readonly warnedGain = new Set<string>();
  readonly counters = { intervals: 0, alarms: 0, rejected: 0 };

  constructor(private readonly o: ChainOptions) {
    for (const d of o.detectors) this.dets.set(d.id, { id: d.id, model: d.model, nChannels: 0, live_s: 0, real_s: 0, added: 0, bgLive_s: 0, fgLive_s: 0 });
    this.monitor = createAlarmMonitor({ falseAlarmRate_per_h: o.falseAlarmRate_per_h, windows: DEFAULT_WINDOWS, ...(o.thresholds ? { thresholds: o.thresholds } : {}) });
  }

  /** Calibration versions in force, per detector. */
  calibrationVersions(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const d of this.dets.values()) if (d.record) out[d.id] = d.record.version;
    return out;
  }

  gm(cps: number): void {
    this.gmCounts.cps += cps;
    this.gmCounts.n++;
  }

  gps(p: { lat: number; lon: number; height_m?: number; fix: number }): void {
    if (p.fix > 0) this.position = { lat: p.lat, lon: p.lon, ...(p.height_m !== undefined ? { height_m: p.height_m } : {}) };
  }

  /**
   * The alarm-threshold cells that spectrum(r) would need and the table lacks; nothing changes. A live node solves
   * them off its event loop first, so that it reports exactly what a CLI run on the same data reports.
   */
  missingThresholds(r: ChainSpectrum): ThresholdKey[] {
    // Cheap checks first: the channel scan of spectrumProblem runs only for the one reading a second that closes.
    if (!this.dets.has(r.detector) || !this.closes(r) || spectrumProblem(r) !== undefined) return [];
    const sample = this.intervalSample(false);
    return sample ? this.monitor.missingThresholds(sample) : [];
  }

  /** One spectrum: closes the open interval first when it belongs to a later one. */
  spectrum(r: ChainSpectrum): ChainOutput[] {
    const out: ChainOutput[] = [];
    const problem = spectrumProblem(r);
    if (problem) {
      this.counters.rejected++;
      out.push({ kind: 'warning', detector: r.detector, key: `${r.detector}:${problem.replace(/[\d.:-]+/g, '#')}`, message: `spectrum rejected: ${problem}` });
      return out;
    }
    const d = this.dets.get(r.detector);
    if (!d) {
      if (!this.warnedUnknown.has(r.detector)) {
        this.warnedUnknown.add(r.detector);
        out.push({ kind: 'warning', detector: r.detector, key: `unknown:${r.detector}`, message: 'spectrum from a detector not in the options; ignored' });
      }
      return out;
    }
    // Two lengths for one detector in one measurement: neither is more the detector's than the other, and taking the
    // second would set the detector up again and drop its background. The first one stands.
    if (d.last !== undefined && d.last.time_ms === r.time_ms && d.last.nChannels !== r.counts.length) {
      this.counters.rejected++;
      out.push({ kind: 'warning', detector: d.id, key: `${d.id}:channels-in-measurement`, message: `spectrum rejected: detector ${d.id}: ${r.counts.length} channels in the same measurement as one of ${d.last.nChannels} channels` });
      return out;
    }
    d.last = { time_ms: r.time_ms, nChannels: r.counts.length };
    const interval_ms = this.o.interval_s * 1000;
    // When data time goes back by more than an interval, the clock stepped or a reading before this one was stamped
    // wrong (one an hour ahead would otherwise hold every later reading in its interval): the open interval is
    // dropped and the timeline restarts here.
    if (this.intervalStart_ms !== undefined && r.time_ms < this.intervalStart_ms - interval_ms) {
      this.counters.rejected++;
      out.push({ kind: 'warning', detector: r.detector, key: `${r.detector}:time-back`, message: `data time went back ${((this.intervalStart_ms - r.time_ms) / 1000).toFixed(0)} s; the open interval is dropped and intervals restart` });
      for (const x of this.dets.values()) {
        x.counts = undefined;
        x.live_s = 0;
        x.real_s = 0;
      }
      this.intervalStart_ms = undefined;
    }
    if (this.intervalStart_ms === undefined) this.intervalStart_ms = Math.floor(r.time_ms / interval_ms) * interval_ms;
    if (r.time_ms >= this.intervalStart_ms + interval_ms) {
      out.push(...this.closeInterval());
      this.intervalStart_ms = Math.floor(r.time_ms / interval_ms) * interval_ms;
    }
    if (!d.cal || d.nChannels !== r.counts.length) {
      const cal = d.record?.energy ?? r.calibration ?? (this.o.keVPerChannel ? linearCalibration(this.o.keVPerChannel) : undefined);
      if (!cal) throw new ChainError(`detector ${d.id} sends spectra without calibration; set options.keVPerChannel`);
      out.push(...this.setupDetector(d, cal, r.counts.length));
    }
    const acc = (d.counts ??= new Float64Array(d.nChannels));
    const counts = r.counts;
    for (let i = 0, n = d.nChannels; i < n; i++) acc[i]! += counts[i]!;
    d.added++;
    d.live_s += r.liveTime_s;
    d.real_s += r.realTime_s;
    if (r.position) d.position = r.position;
    return out;
  }

  /** A verified calibration record became active: an alarm in progress is reported first, then it applies. */
  calibrate(c: ChainCalibration): ChainOutput[] {
    const d = this.dets.get(c.detector);
    if (!d) return [{ kind: 'warning', detector: c.detector, key: `calibration:${c.detector}`, message: `calibration ${c.version} for a detector not in the options; ignored` }];
    // Retained commands come again on every reconnect: the same version changes nothing.
    if (d.record?.version === c.version) return [];
    // The detector's background and tests start again: its energy windows now cover other channels.
    const out = this.finishAlarm();
    this.monitor.forget(d.id);
    d.record = c;
    const cal = c.energy ?? d.cal;
    if (cal && d.nChannels > 0) out.push(...this.setupDetector(d, cal, d.nChannels));
    else d.cal = undefined;
    return out;
  }

  /** End of the data (a file): closes the open interval and reports an alarm still in progress. */
  flush(): ChainOutput[] {
    const out = this.intervalStart_ms !== undefined ? this.closeInterval() : [];
    this.intervalStart_ms = undefined;
    out.push(...this.finishAlarm());
    return out;
  }

  /** Would this reading close the open interval? */
  private closes(r: ChainSpectrum): boolean {
    const interval_ms = this.o.interval_s * 1000;
    const s = this.intervalStart_ms;
    return s !== undefined && r.time_ms >= s + interval_ms;
  }

  /** The alarm monitor's sample for the open interval (gain-corrected counts); `commit` stores the correction. */
  private intervalSample(commit: boolean): { time_s: number; realTime_s: number; detectors: { id: string; liveTime_s: number; gross: number; windows: number[] }[] } | undefined {
    const active = [...this.dets.values()].filter((d) => d.counts && d.live_s > 0);
    if (!active.length) return undefined;
    const detectors = active.map((d) => {
      // The correction is a rebinning of the whole spectrum: a dry run's result is kept for the real close.
      let counts = d.counts!;
      // Before the stabiliser's first fit its gain is exactly 1 and the correction an identity rebinning: skipped.
      const st = d.gain?.state();
      if (d.gain && st && (st.gain !== 1 || st.rate_per_s !== 0)) {
        counts = d.corrected?.added === d.added ? d.corrected.counts : d.gain.correct(d.counts!);
        d.corrected = commit ? undefined : { added: d.added, counts };
      }
      if (commit) {
        if (counts !== d.counts) d.raw = d.counts;
        d.counts = counts;
      }
      let gross = 0;
      for (let i = 0; i < d.nChannels; i++) gross += counts[i]!;
      return { id: d.id, liveTime_s: d.live_s, gross, windows: windowCounts(counts, d.ranges!) };
    });
    // The interval's real time is its length, or longer when a measurement spans more (a 600 s file measurement).
    const realTime_s = Math.max(this.o.interval_s, ...active.map((d) => d.real_s));
    return { time_s: (this.intervalStart_ms ?? 0) / 1000, realTime_s, detectors };
  }

  /** (Re)derives everything that depends on the detector's calibration; the accumulations start again. */
  private setupDetector(d: DetectorState, cal: EnergyCalibration, nChannels: number): ChainOutput[] {
    const out: ChainOutput[] = [];
    d.cal = cal;
    d.nChannels = nChannels;
    d.ranges = windowChannels(cal, nChannels, DEFAULT_WINDOWS);
    d.gain = undefined;
    if (this.o.gainStabilisation) {
      const ref = d.record?.referenceSpectrum?.counts;
      if (ref && ref.length === nChannels) {
        try {
          d.gain = createGainStabilizer({ cal, nChannels, referenceSpectrum: ref });
        } catch (e) {
          // A reference without usable K-40/Tl-208 peaks: stabilise on the nominal calibration instead.
          out.push({ kind: 'warning', detector: d.id, key: `gain-ref:${d.id}`, message: `gain reference spectrum unusable (${(e as Error).message}); stabilising on the calibration alone` });
        }
      }
      if (!d.gain) {
        try {
          d.gain = createGainStabilizer({ cal, nChannels });
        } catch (e) {
          // The reference lines lie outside this calibration's range (512 channels of 3 keV end at 1536 keV, below
          // Tl-208): the detector is analysed without stabilisation rather than not at all.
          const message = `gain stabilisation off for detector ${d.id}: ${(e as Error).message}`;
          if (!this.warnedGain.has(message)) {
            this.warnedGain.add(message);
            out.push({ kind: 'warning', detector: d.id, key: `gain-off:${d.id}`, message });
          }
        }
      }
    }
    const g = this.gFunction(d.model);
    const factor = d.record?.doseFactor ?? 1;
    d.gVec = Float64Array.from({ length: nChannels }, (_, ch) => factor * g.evaluate(energyOf(cal, ch + 0.5)));
    d.counts = undefined;
    d.live_s = 0;
    d.real_s = 0;
    d.bg = undefined;
    d.bgLive_s = 0;
    d.fg = undefined;
    d.fgLive_s = 0;
    return out;
  }

  /** One interval is complete: test it, summarise it, follow the alarm. */
  private closeInterval(): ChainOutput[] {
    const t_ms = this.intervalStart_ms ?? 0;
    const sample = this.intervalSample(true);
    if (!sample) return [];
    const active = [...this.dets.values()].filter((d) => d.counts && d.live_s > 0);
    this.counters.intervals++;
    const alarmBefore = this.alarm !== undefined;
    const decision = this.monitor.update(sample);
    const detectors = active.map((d, k) => {
      // Σ counts·G(E_ch) / live: the G(E) method of doseRateFromSpectrum_uSv_h, with G precomputed per channel.
      let dose = 0;
      for (let i = 0; i < d.nChannels; i++) dose += d.counts![i]! * d.gVec![i]!;
      return { id: d.id, cps: sample.detectors[k]!.gross / d.live_s, doseRate_uSv_h: dose / d.live_s };
    });
    const p0 = active[0]!.position;
    const position = this.position ?? (p0 ? { lat: p0.lat, lon: p0.lon, ...(p0.height_m !== undefined ? { height_m: p0.height_m } : {}) } : undefined);
    const gross_cps = detectors.reduce((a, d) => a + d.cps, 0);
    const doseRate = Math.max(...detectors.map((d) => d.doseRate_uSv_h));
    const gm = this.gmCounts.n ? this.gmCounts.cps / this.gmCounts.n : undefined;
    this.gmCounts = { cps: 0, n: 0 };
    const body: RadBody = {
      live_s: active.reduce((a, d) => a + d.live_s, 0) / active.length,
      gross_cps,
      doseRate_uSv_h: doseRate,
      ...(gm !== undefined ? { gm_cps: gm } : {}),
      detectors,
      ...(position ? { position } : {}),
    };
    const out: ChainOutput[] = [{ kind: 'rad', t_ms, body, decision }];
    out.push(...this.followAlarm(t_ms, decision, active, { gross_cps, doseRate, ...(position ? { position } : {}) }));
    for (const d of active) {
      // The stabiliser learns from each interval's raw sum once the interval is tested (a rebinning per interval, not
      // per spectrum: 4x less work at 4 Hz), so the node's dry run (missingThresholds) and the close correct alike.
      d.gain?.update(d.raw ?? d.counts!, d.live_s, { exclude: alarmBefore || this.alarm !== undefined });
      d.raw = undefined;
      if (!this.alarm) this.addBackground(d);
      d.counts = undefined;
      d.live_s = 0;
      d.real_s = 0;
    }
    return out;
  }

  private followAlarm(t_ms: number, decision: AlarmDecision, active: DetectorState[], now: AlarmNow): ChainOutput[] {
    if (decision.alarm && !this.alarm) {
      this.counters.alarms++;
      this.alarm = { id: `${this.o.alarmIdPrefix}-${t_ms}`, start_ms: t_ms, peak: decision, measurements: [], alarmedTests: new Set() };
    }
    const a = this.alarm;
    if (!a) return [];
    a.now = now;
    if (decision.statistic - decision.threshold > a.peak.statistic - a.peak.threshold) a.peak = decision;
    if (decision.alarm) {
      for (const x of decision.tests) if (x.alarm && (x.test === 'spectral' || !decision.levelChange)) a.alarmedTests.add(`${x.test}/${x.detector}${x.window ? `/${x.window}` : ''}`);
    }
    if (decision.alarm && decision.windowSum) {
      const w = (a.windows ??= { counts: decision.windowSum.counts.map(() => 0), background: decision.windowSum.background.map(() => 0) });
      decision.windowSum.counts.forEach((c, i) => (w.counts[i]! += c));
      decision.windowSum.background.forEach((b, i) => (w.background[i]! += b));
    }
    for (const d of active) {
      if (!d.fg) d.fg = new Float64Array(d.nChannels);
      for (let i = 0; i < d.nChannels; i++) d.fg[i]! += d.counts![i]!;
      d.fgLive_s += d.live_s;
    }
    if (this.o.keepMeasurements) a.measurements.push(this.measurementOf(a, t_ms, active));
    // Tests on different detectors and windows cross their thresholds at slightly different times during one pass:
    // the event ends only after a quiet spell, so one pass gives one alarm.
    if (decision.alarm) a.quietSince_ms = undefined;
    else a.quietSince_ms ??= t_ms;
    const over = !a.reported && t_ms - a.start_ms >= this.o.maxAlarm_s * 1000;
    const quiet = a.quietSince_ms !== undefined && t_ms + this.o.interval_s * 1000 - a.quietSince_ms >= this.o.alarmEndHold_s * 1000;
    if (quiet) this.alarm = undefined;
    if (!over && (!quiet || a.reported)) {
      if (quiet) this.clearForeground();
      return [];
    }
    // Report now: the event ended, or it has lasted maxAlarm_s (a source in view for long) and goes on unreported.
    return [this.reportAlarm(a, t_ms, now, quiet ? 'ended' : 'ongoing')];
  }

  private measurementOf(a: OpenAlarm, t_ms: number, active: DetectorState[]): Measurement {
    return {
      id: `m${a.measurements.length + 1}`,
      startTime: new Date(t_ms).toISOString(),
      realTime_s: this.o.interval_s,
      class: 'Foreground',
      spectra: active.map((d) => ({
        detector: d.id,
        counts: Float64Array.from(d.counts!),
        liveTime_s: d.live_s,
        realTime_s: d.real_s,
        calibration: d.cal!,
        ...(d.position ? { position: { lat: d.position.lat, lon: d.position.lon, ...(d.position.height_m !== undefined ? { elevation_m: d.position.height_m } : {}) } } : {}),
      })),
      grossCounts: [],
    };
  }

  /** Ends an alarm in progress at once: reported with what it has if it was not yet, then forgotten. */
  private finishAlarm(): ChainOutput[] {
    const a = this.alarm;
    if (!a) return [];
    this.alarm = undefined;
    if (!a.reported && a.now) return [this.reportAlarm(a, this.intervalStart_ms ?? a.start_ms, a.now, 'interrupted')];
    this.clearForeground();
    return [];
  }

  private reportAlarm(a: OpenAlarm, t_ms: number, now: AlarmNow, reason: ChainAlarm['reason']): ChainOutput {
    a.reported = true;
    const best = this.o.identify || this.o.keepForeground ? this.alarmDetector() : undefined;
    let identification: Identification | undefined;
    let warning: string | undefined;
    if (best && this.o.identify) {
      try {
        identification = this.identifier(best.model).identify(
          { counts: best.fg!, liveTime_s: best.fgLive_s, calibration: best.cal! },
          best.bg && best.bgLive_s > 0 ? { background: { counts: best.bg, liveTime_s: best.bgLive_s } } : {},
        );
      } catch (e) {
        warning = `identification failed (${(e as Error).message}); alarm reported without nuclides`;
      }
    }
    const foreground = best && this.o.keepForeground ? { detector: best.id, counts: Float64Array.from(best.fg!), liveTime_s: best.fgLive_s, calibration: best.cal! } : undefined;
    if (reason !== 'ongoing') this.clearForeground();
    const p = a.peak;
    const body: AlarmBody = {
      alarmId: a.id,
      test: p.test,
      ...(p.detector ? { detector: p.detector } : {}),
      statistic: p.statistic,
      threshold: p.threshold,
      gross_cps: now.gross_cps,
      doseRate_uSv_h: now.doseRate,
      nuclides: (identification?.nuclides ?? []).map((n) => ({ nuclide: n.nuclide, confidence: n.confidence, category: n.category })),
      ...(now.position ? { position: now.position } : {}),
    };
    return {
      kind: 'alarm',
      alarm: {
        body,
        start_ms: a.start_ms,
        t_ms,
        reason,
        ...(identification ? { identification } : {}),
        measurements: a.measurements,
        ...(foreground ? { foreground } : {}),
        peak: p,
        alarmedTests: [...a.alarmedTests],
        ...(warning ? { warning } : {}),
        ...(a.windows ? { shape: windowShape(a.windows.counts, a.windows.background) } : {}),
      },
    };
  }

  private clearForeground(): void {
    for (const d of this.dets.values()) {
      d.fg = undefined;
      d.fgLive_s = 0;
    }
  }

  /** The detector with the most net counts during the alarm (identification runs on it). */
  private alarmDetector(): DetectorState | undefined {
    let best: { d: DetectorState; net: number } | undefined;
    for (const d of this.dets.values()) {
      if (!d.fg || d.fgLive_s <= 0) continue;
      let fg = 0;
      let bg = 0;
      for (let i = 0; i < d.nChannels; i++) {
        fg += d.fg[i]!;
        bg += d.bg?.[i] ?? 0;
      }
      const net = fg - (d.bgLive_s > 0 ? (bg * d.fgLive_s) / d.bgLive_s : 0);
      if (!best || net > best.net) best = { d, net };
    }
    return best?.d;
  }

  private addBackground(d: DetectorState): void {
    if (!d.bg) d.bg = new Float64Array(d.nChannels);
    // Exponential memory so the background follows the area the vehicle drives through.
    const keep = d.bgLive_s > BG_MEMORY_S ? BG_MEMORY_S / d.bgLive_s : 1;
    for (let i = 0; i < d.nChannels; i++) d.bg[i] = d.bg[i]! * keep + d.counts![i]!;
    d.bgLive_s = d.bgLive_s * keep + d.live_s;
  }

  /**
   * What G(E) and the identifier's templates are built from. Not the name alone: two DRF folders of one name (an old
   * and a new description of a detector) differ in resolution and efficiencies. Detectors of one model share it.
   */
  private modelKey(model: DetectorModel): string {
    let key = this.modelKeys.get(model);
    if (key === undefined) this.modelKeys.set(model, (key = JSON.stringify([model.name, model.crystal, model.fwhmAt662, model.shape, model.drf ?? null])));
    return key;
  }

  private gFunction(model: DetectorModel): GFunction {
    const key = this.modelKey(model);
    let g = this.gFunctions.get(key);
    if (!g) this.gFunctions.set(key, (g = buildGFunction({ detector: model })));
    return g;
  }

  /** Built at the first alarm that needs it (the template build is most of a `rad alarm` run), once per model. */
  private identifier(model: DetectorModel): NuclideIdentifier {
    const key = this.modelKey(model);
    let id = this.identifiers.get(key);
    if (!id) this.identifiers.set(key, (id = new NuclideIdentifier({ detector: model })));
    return id;
  }
}
