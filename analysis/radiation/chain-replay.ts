// A recorded file through the radiation chain, measurement by measurement, as a node would have received it: what
// `customs-edge rad alarm` prints is what the node's radiation pipeline reports for the same data.
import { RadiationChain, type ChainAlarm, type ChainOptions, type ChainOutput, type ChainSpectrum } from './chain.js';
import type { AlarmDecision } from './alarm/index.js';
import type { Measurement } from './spectrum.js';

export interface ReplayRow {
  index: number;
  /** Measurement start as written in the file (ISO 8601), or null. */
  time: string | null;
  /** The decision of the interval this measurement was tested in ('background' for a Background measurement). */
  alarm: boolean;
  statistic: number;
  threshold: number;
  test: AlarmDecision['test'] | 'background';
  detector?: string;
  window?: string;
}

export interface ReplayResult {
  measurements: ReplayRow[];
  /** The alarm events exactly as the node reports them. */
  alarms: ChainAlarm[];
  intervals: number;
  warnings: { detector?: string; message: string }[];
}

/**
 * Measurement times in ms: the file's start times; without them, the running sum of real times. Background
 * measurements (the file's own or a separate background file) come first, just before the first foreground one, so
 * the chain's background estimate starts from them and then follows the data.
 */
function readingTimes(ms: readonly Measurement[]): number[] {
  const parsed = ms.map((m) => (m.startTime !== undefined ? Date.parse(m.startTime) : NaN));
  const fgTimes = parsed.filter((t, i) => Number.isFinite(t) && ms[i]!.class !== 'Background');
  const t0 = fgTimes.length ? Math.min(...fgTimes) : 0;
  const times = new Array<number>(ms.length).fill(NaN);
  // Background first, back to back, ending at t0.
  let back = t0;
  for (let i = ms.length - 1; i >= 0; i--) {
    if (ms[i]!.class !== 'Background') continue;
    back -= Math.max(ms[i]!.realTime_s, 1e-3) * 1000;
    times[i] = back;
  }
  let elapsed = t0;
  for (let i = 0; i < ms.length; i++) {
    if (ms[i]!.class === 'Background') continue;
    const t = parsed[i]!;
    times[i] = Number.isFinite(t) && fgTimes.length ? t : elapsed;
    elapsed = times[i]! + Math.max(ms[i]!.realTime_s, 0) * 1000;
  }
  return times;
}

/** Every measurement of a file through one chain, in the order a node would have received them. */
export function replayMeasurements(measurements: readonly Measurement[], opts: ChainOptions): ReplayResult {
  const chain = new RadiationChain(opts);
  const times = readingTimes(measurements);
  const order = measurements.map((_, i) => i).sort((a, b) => times[a]! - times[b]! || a - b);
  const alarms: ChainAlarm[] = [];
  const warnings: ReplayResult['warnings'] = [];
  // Interval decisions by interval start (ms): each measurement takes the decision of the interval holding it.
  const decisions = new Map<number, AlarmDecision>();
  const take = (outs: ChainOutput[]): void => {
    for (const o of outs) {
      if (o.kind === 'rad') decisions.set(o.t_ms, o.decision);
      else if (o.kind === 'alarm') alarms.push(o.alarm);
      else warnings.push({ ...(o.detector !== undefined ? { detector: o.detector } : {}), message: o.message });
    }
  };
  for (const i of order) {
    const m = measurements[i]!;
    for (const s of m.spectra) {
      const r: ChainSpectrum = { detector: s.detector, counts: s.counts, liveTime_s: s.liveTime_s, realTime_s: s.realTime_s, time_ms: times[i]!, ...(s.calibration ? { calibration: s.calibration } : {}) };
      const p = s.position ?? m.position;
      if (p) r.position = { lat: p.lat, lon: p.lon, ...(p.elevation_m !== undefined ? { height_m: p.elevation_m } : {}) };
      take(chain.spectrum(r));
    }
  }
  take(chain.flush());
  const interval_ms = opts.interval_s * 1000;
  const rows = measurements.map((m, index): ReplayRow => {
    const time = m.startTime ?? null;
    if (m.class === 'Background') return { index, time, alarm: false, statistic: 0, threshold: 0, test: 'background' };
    const d = decisions.get(Math.floor(times[index]! / interval_ms) * interval_ms);
    const row: ReplayRow = { index, time, alarm: d?.alarm ?? false, statistic: d?.statistic ?? 0, threshold: d?.threshold ?? 0, test: d?.test ?? 'none' };
    if (d?.detector !== undefined) row.detector = d.detector;
    if (d?.window !== undefined) row.window = d.window;
    return row;
  });
  return { measurements: rows, alarms, intervals: chain.counters.intervals, warnings };
}
