// X-ray flat field: dark and open-beam frames averaged into the references the X-ray pipeline divides by.
import { InputError } from '../../common/errors.js';
import { CalibrationRefused } from '../radiation/calibrate/energy.js';

export interface Frame {
  file: string;
  width: number;
  height: number;
  data: Uint16Array;
}

export interface FlatFieldResult {
  width: number;
  height: number;
  dark: Uint16Array;
  open: Uint16Array;
  darkMean: number;
  openMean: number;
  /** Open-beam signal (over dark) below 10 % of its median: pixels that see nothing. */
  deadPixels: number;
  /** Dark above the median open-beam signal: pixels that see light where there is none. */
  hotPixels: number;
  /** Open-beam pixels at 65535 (the detector saturated: lower the tube current). */
  saturatedPixels: number;
}

function mean(frames: readonly Frame[], what: string): Float64Array {
  if (frames.length === 0) throw new InputError(`${what}: expected at least one 16-bit PNG frame`);
  const { width, height } = frames[0]!;
  const acc = new Float64Array(width * height);
  for (const f of frames) {
    if (f.width !== width || f.height !== height) {
      throw new InputError(`${f.file}: ${f.width} x ${f.height} pixels, expected ${width} x ${height} like ${frames[0]!.file}`);
    }
    for (let i = 0; i < acc.length; i++) acc[i] += f.data[i]!;
  }
  for (let i = 0; i < acc.length; i++) acc[i] /= frames.length;
  return acc;
}

function median(xs: ArrayLike<number>): number {
  const s = Float64Array.from(xs).sort();
  return s.length ? s[Math.floor(s.length / 2)]! : 0;
}

/** Averages the frames pixel by pixel and checks that the two references make sense together. */
export function flatField(darkFrames: readonly Frame[], openFrames: readonly Frame[]): FlatFieldResult {
  const dark = mean(darkFrames, 'dark');
  const open = mean(openFrames, 'open');
  const d0 = darkFrames[0]!;
  const o0 = openFrames[0]!;
  if (d0.width !== o0.width || d0.height !== o0.height) {
    throw new InputError(`${o0.file}: open-beam frames are ${o0.width} x ${o0.height}, dark frames ${d0.width} x ${d0.height}; expected the same size`);
  }
  let dm = 0;
  let om = 0;
  let saturated = 0;
  for (let i = 0; i < dark.length; i++) {
    dm += dark[i]!;
    om += open[i]!;
    if (open[i]! >= 65535) saturated++;
  }
  dm /= dark.length;
  om /= open.length;
  if (!(om > dm * 1.5 + 100)) {
    throw new CalibrationRefused(`open-beam mean ${om.toFixed(0)} is not clearly above the dark mean ${dm.toFixed(0)}: were the dark and open frames swapped, or was the tube off?`);
  }
  const signal = Float64Array.from(open, (v, i) => v - dark[i]!);
  const med = median(signal);
  const openMed = median(open);
  let dead = 0;
  let hot = 0;
  for (let i = 0; i < signal.length; i++) {
    if (signal[i]! < 0.1 * med) dead++;
    if (dark[i]! > openMed && dark[i]! > dm + 0.5 * med) hot++;
  }
  const toU16 = (a: Float64Array): Uint16Array => Uint16Array.from(a, (v) => Math.max(0, Math.min(65535, Math.round(v))));
  return { width: d0.width, height: d0.height, dark: toU16(dark), open: toU16(open), darkMean: dm, openMean: om, deadPixels: dead, hotPixels: hot, saturatedPixels: saturated };
}
