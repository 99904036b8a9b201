// Firmata bytes both ends share, and the GM-count SysEx the I/O board's sketch adds to StandardFirmata; pure, no I/O.

/** Firmata 2.x command bytes (https://github.com/firmata/protocol, protocol.md). */
export const FIRMATA = {
  DIGITAL_MESSAGE: 0x90,
  ANALOG_MESSAGE: 0xe0,
  REPORT_ANALOG: 0xc0,
  REPORT_DIGITAL: 0xd0,
  START_SYSEX: 0xf0,
  SET_PIN_MODE: 0xf4,
  SET_DIGITAL_PIN_VALUE: 0xf5,
  END_SYSEX: 0xf7,
  REPORT_VERSION: 0xf9,
  SYSTEM_RESET: 0xff,
} as const;

/** SysEx command bytes (the byte after START_SYSEX). */
export const SYSEX = {
  ANALOG_MAPPING_QUERY: 0x69,
  ANALOG_MAPPING_RESPONSE: 0x6a,
  CAPABILITY_QUERY: 0x6b,
  CAPABILITY_RESPONSE: 0x6c,
  PIN_STATE_QUERY: 0x6d,
  PIN_STATE_RESPONSE: 0x6e,
  EXTENDED_ANALOG: 0x6f,
  STRING_DATA: 0x71,
  REPORT_FIRMWARE: 0x79,
  SAMPLING_INTERVAL: 0x7a,
} as const;

export const PIN_MODE = {
  INPUT: 0x00,
  OUTPUT: 0x01,
  ANALOG: 0x02,
  PWM: 0x03,
  PULLUP: 0x0b,
} as const;

/** Firmata's values for "not an analog pin" in ANALOG_MAPPING and "end of this pin" in CAPABILITY_RESPONSE. */
export const NONE_127 = 0x7f;

/**
 * The GM counter SysEx. Firmata leaves SysEx IDs 0x01-0x0F to user sketches; the board's sketch is StandardFirmata
 * plus a pulse counter: the tube's pulse (through a transistor stage) drives an interrupt pin, whose ISR increments a
 * 32-bit counter, and loop() reports it at the configured interval. Counting on the MCU keeps every pulse even when
 * the host is busy, which a digital-pin report over serial could not.
 *
 * Host → board, GM_CONFIG (resets the count and starts or stops reporting):
 *   F0 01 pp i0 i1 F7
 *   pp     interrupt pin the tube is on (D2 = INT0 on an Uno)
 *   i0 i1  report interval in ms, 14 bits, 7 bits per byte, least significant first; 0 stops reporting
 *
 * Board → host, GM_REPORT (every interval):
 *   F0 02 pp c0 c1 c2 c3 t0 t1 t2 t3 F7
 *   c0-c3  pulses since GM_CONFIG, 28 bits, 7 bits per byte LSB first; wraps at 2^28
 *   t0-t3  the board's millis() when the count was latched, 28 bits the same way; wraps every 74.6 h
 *
 * Running totals rather than per-interval counts, so a report lost to line noise loses no pulses: the next report's
 * difference covers both intervals, and the board's own clock gives the exact live time it was counted over.
 */
export const GM_CONFIG = 0x01;
export const GM_REPORT = 0x02;
export const GM_WRAP = 2 ** 28;
export const GM_MAX_INTERVAL_MS = 0x3fff;

/** Splits `value` into `n` 7-bit bytes, least significant first (Firmata's packing for values in SysEx). */
export function to7bit(value: number, n: number): number[] {
  const out: number[] = [];
  let v = Math.floor(value);
  for (let i = 0; i < n; i++) {
    out.push(v & 0x7f);
    v = Math.floor(v / 128);
  }
  return out;
}

/** Joins 7-bit bytes, least significant first. */
export function from7bit(bytes: readonly number[]): number {
  let v = 0;
  for (let i = bytes.length - 1; i >= 0; i--) v = v * 128 + ((bytes[i] ?? 0) & 0x7f);
  return v;
}

export interface GmConfig {
  pin: number;
  interval_ms: number;
}

export interface GmReport {
  pin: number;
  /** Running pulse total modulo 2^28. */
  count: number;
  /** Board millis() modulo 2^28. */
  millis: number;
}

export function encodeGmConfig(c: GmConfig): number[] {
  return [FIRMATA.START_SYSEX, GM_CONFIG, c.pin & 0x7f, ...to7bit(c.interval_ms, 2), FIRMATA.END_SYSEX];
}

export function encodeGmReport(r: GmReport): number[] {
  return [FIRMATA.START_SYSEX, GM_REPORT, r.pin & 0x7f, ...to7bit(r.count % GM_WRAP, 4), ...to7bit(r.millis % GM_WRAP, 4), FIRMATA.END_SYSEX];
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

function hexBytes(b: readonly number[]): string {
  return b.map((x) => x.toString(16).padStart(2, '0')).join(' ');
}

/** Decodes the bytes between the command byte and END_SYSEX of a GM_CONFIG. */
export function decodeGmConfig(data: readonly number[]): Decoded<GmConfig> {
  if (data.length !== 3) return { ok: false, reason: `GM_CONFIG: expected 3 data bytes, got ${data.length} (${hexBytes(data)})` };
  if (data.some((b) => b > 0x7f)) return { ok: false, reason: `GM_CONFIG: data byte above 0x7f (${hexBytes(data)})` };
  return { ok: true, value: { pin: data[0] as number, interval_ms: from7bit(data.slice(1, 3)) } };
}

/** Decodes the bytes between the command byte and END_SYSEX of a GM_REPORT. */
export function decodeGmReport(data: readonly number[]): Decoded<GmReport> {
  if (data.length !== 9) return { ok: false, reason: `GM_REPORT: expected 9 data bytes (pin, 4 count, 4 millis), got ${data.length} (${hexBytes(data)})` };
  if (data.some((b) => b > 0x7f)) return { ok: false, reason: `GM_REPORT: data byte above 0x7f (${hexBytes(data)})` };
  return { ok: true, value: { pin: data[0] as number, count: from7bit(data.slice(1, 5)), millis: from7bit(data.slice(5, 9)) } };
}

/**
 * Non-paralyzable dead-time correction: a tube dead for `tau_s` after each counted pulse that shows `m_cps` saw
 * n = m / (1 - m·tau). Past m·tau ≥ 1 the tube is saturated and no true rate follows from the count.
 */
export function deadTimeCorrect(m_cps: number, tau_s: number): { cps: number; saturated: boolean } {
  if (tau_s <= 0) return { cps: m_cps, saturated: false };
  const lost = m_cps * tau_s;
  if (lost >= 1) return { cps: m_cps, saturated: true };
  return { cps: m_cps / (1 - lost), saturated: false };
}

export interface GmInterval {
  counts: number;
  /** Board-measured counting time. */
  live_s: number;
  cps_raw: number;
  /** Dead-time corrected (equal to cps_raw without a dead time). */
  cps: number;
  /** One-sigma Poisson uncertainty of `cps`, propagated through the correction. */
  sigma_cps: number;
  saturated: boolean;
}

export type GmStep = { kind: 'interval'; interval: GmInterval } | { kind: 'baseline' } | { kind: 'reset'; reason: string };

/** Longest plausible gap between two reports; a longer "gap" is the board's clock going backwards (it rebooted). */
const MAX_GAP_MS = 3_600_000;

/**
 * Running totals to per-interval rates. The first report after (re)start only sets the baseline; a board that
 * rebooted (its millis() ran backwards) or a count that went backwards restarts the baseline rather than producing
 * a negative or absurd rate.
 */
export class GmRateMeter {
  private last: GmReport | undefined;

  constructor(private readonly deadTime_s: number) {}

  reset(): void {
    this.last = undefined;
  }

  push(r: GmReport): GmStep {
    const prev = this.last;
    this.last = r;
    if (!prev) return { kind: 'baseline' };
    const dt_ms = (r.millis - prev.millis + GM_WRAP) % GM_WRAP;
    const counts = (r.count - prev.count + GM_WRAP) % GM_WRAP;
    if (dt_ms === 0) {
      this.last = prev;
      return { kind: 'reset', reason: `GM_REPORT with the same board time ${r.millis} ms as the previous one` };
    }
    if (dt_ms > MAX_GAP_MS) return { kind: 'reset', reason: `board time went from ${prev.millis} to ${r.millis} ms: the board restarted` };
    if (counts > GM_WRAP / 2) return { kind: 'reset', reason: `pulse total went from ${prev.count} to ${r.count}: the counter was reset` };
    const live_s = dt_ms / 1000;
    const cps_raw = counts / live_s;
    const { cps, saturated } = deadTimeCorrect(cps_raw, this.deadTime_s);
    // d(cps)/d(m) = 1/(1 - m·tau)^2 for the non-paralyzable model.
    const gain = saturated || this.deadTime_s <= 0 ? 1 : 1 / (1 - cps_raw * this.deadTime_s) ** 2;
    return { kind: 'interval', interval: { counts, live_s, cps_raw, cps, sigma_cps: (Math.sqrt(counts) / live_s) * gain, saturated } };
  }
}

/** Temperature sensors with a linear voltage output that the board's ADC reads. */
export type AnalogTempSensor = 'TMP36' | 'LM35';

/** Sensor output in volts at `celsius` (TMP36: 500 mV offset, 10 mV/°C; LM35: 10 mV/°C from 0 °C). */
export function sensorVolts(sensor: AnalogTempSensor, celsius: number): number {
  switch (sensor) {
    case 'TMP36':
      return 0.5 + celsius / 100;
    case 'LM35':
      return celsius / 100;
    default: {
      const never: never = sensor;
      throw new Error(`unknown sensor ${String(never)}`);
    }
  }
}

/** The inverse: ADC volts to °C. */
export function sensorCelsius(sensor: AnalogTempSensor, volts: number): number {
  switch (sensor) {
    case 'TMP36':
      return (volts - 0.5) * 100;
    case 'LM35':
      return volts * 100;
    default: {
      const never: never = sensor;
      throw new Error(`unknown sensor ${String(never)}`);
    }
  }
}
