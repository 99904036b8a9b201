// The bench vehicle of the radiation alarm benches (radiation-alarm.ts, radiation-alarm-data.ts), and its window means.
import { DEFAULT_WINDOWS, windowChannels } from '../analysis/radiation/alarm/index.js';
import { linearCalibration } from '../analysis/radiation/calibration.js';
import { DETECTORS } from '../analysis/radiation/dose.js';
import type { SimDetector } from '../analysis/radiation/sim/scene.js';

/** The bench vehicle: 8 NaI 2x4x16 logs, 4 heights × 2 sides. */
export function benchVehicle(): SimDetector[] {
  const heights = [0.5, 1.0, 1.5, 2.0];
  const out: SimDetector[] = [];
  for (const side of [1, -1]) {
    for (const [i, h] of heights.entries()) {
      out.push({
        id: `${side > 0 ? 'L' : 'R'}${i + 1}`,
        model: DETECTORS['NaI-2x4x16'],
        offset: { x_m: 0, y_m: side * 1.0, z_m: h },
        nChannels: 1024,
        keVPerChannel: 3,
      });
    }
  }
  return out;
}

/** Mean counts per sample in each default window and in the rest of the spectrum, from a rate spectrum. */
export function windowMeans(rates: Float64Array, det: SimDetector, dt_s: number): { windows: number[]; rest: number } {
  const ranges = windowChannels(linearCalibration(det.keVPerChannel), det.nChannels, DEFAULT_WINDOWS);
  let total = 0;
  for (let i = 0; i < rates.length; i++) total += rates[i];
  const windows = ranges.map(([a, b]) => {
    let s = 0;
    for (let i = a; i <= b; i++) s += rates[i];
    return s * dt_s;
  });
  return { windows, rest: Math.max(0, total * dt_s - windows.reduce((x, y) => x + y, 0)) };
}
