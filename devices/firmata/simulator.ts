// The I/O board's firmware in software: StandardFirmata plus the GM-count SysEx, on one end of a pty, with tube and sensor physics.
import { EventEmitter } from 'node:events';
import { mulberry32 } from '../../common/random.js';
import { SerialPort } from 'serialport';
import { CustomsError } from '../../common/errors.js';
import {
  FIRMATA,
  GM_CONFIG,
  NONE_127,
  PIN_MODE,
  SYSEX,
  decodeGmConfig,
  encodeGmReport,
  from7bit,
  sensorVolts,
  to7bit,
  type AnalogTempSensor,
  type GmReport,
} from './protocol.js';

export class FirmataSimulatorError extends CustomsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_SIMULATOR', message, options);
  }
}

export interface FirmataSimulatorOptions {
  /** The device end of the pty. */
  path: string;
  baudRate?: number;
  firmwareName?: string;
  /** Temperature at the sensor over time since start (°C). */
  temperature_C?: (t_s: number) => number;
  sensor?: AnalogTempSensor;
  /** Analog channel the sensor is wired to (A0 = 0). */
  temperatureChannel?: number;
  aref_V?: number;
  /** Gaussian ADC noise, in LSB. */
  adcNoise_lsb?: number;
  /** True rate of ionising events in the tube over time since start. */
  gm_cps?: (t_s: number) => number;
  /** The tube's own dead time: events within it after a counted pulse are lost (non-paralyzable). */
  gmDeadTime_s?: number;
  /** PRNG seed for the pulse train and noise. */
  seed?: number;
  /** False: plain StandardFirmata that ignores the GM SysEx (default true). */
  gmFirmware?: boolean;
}

/** A pin write the firmware received. */
export interface PinWrite {
  t_ms: number;
  pin: number;
  value: number;
}

export interface FirmataSimulatorEvents {
  write: [PinWrite];
  gmConfig: [{ pin: number; interval_ms: number }];
}

/** An Arduino Uno as StandardFirmata describes it: D0-D1 serial, D2-D13 digital, PWM on six, A0-A5 as pins 14-19. */
const PIN_COUNT = 20;
const PWM_PINS = new Set([3, 5, 6, 9, 10, 11]);
const FIRST_ANALOG_PIN = 14;


export class FirmataSimulator extends EventEmitter<FirmataSimulatorEvents> {
  /** Every digital write, in order, for tests to assert on. */
  readonly writes: PinWrite[] = [];
  /** Pulses the tube produced and the counter counted (after the tube's dead time), since the last GM_CONFIG. */
  gmTruePulses = 0;
  gmCounted = 0;
  /** GM reports sent since the last GM_CONFIG (the most recent 50-100 thousand), as sent. */
  readonly gmLog: GmReport[] = [];
  private port: SerialPort | undefined;
  private readonly random: () => number;
  private boot_ms = 0;
  private muted = false;
  private readonly modes = new Array<number>(PIN_COUNT).fill(PIN_MODE.OUTPUT);
  private readonly values = new Array<number>(PIN_COUNT).fill(0);
  private readonly analogReporting = new Set<number>();
  private samplingInterval_ms = 19;
  private analogTimer: NodeJS.Timeout | undefined;
  private gmTimer: NodeJS.Timeout | undefined;
  private gmPin = 2;
  private nextEvent_s = 0;
  /** False when `nextEvent_s` is only a time to look at the rate again (the rate was zero). */
  private nextIsPulse = false;
  private deadUntil_s = -Infinity;
  private gmProcessed_s = 0;
  // Parser state for bytes from the host.
  private sysex: number[] | undefined;
  private command: number | undefined;
  private data: number[] = [];

  constructor(private readonly opts: FirmataSimulatorOptions) {
    super();
    this.random = mulberry32(opts.seed ?? 0x5eed);
  }

  /** Opens the port and boots: StandardFirmata's setup() announces the protocol version and firmware name. */
  async start(): Promise<void> {
    if (this.port) return;
    const port = new SerialPort({ path: this.opts.path, baudRate: this.opts.baudRate ?? 57600, autoOpen: false });
    port.on('error', () => {
      // Writes after the pty is gone fail; firmware has nobody to tell.
    });
    port.on('data', (chunk: Buffer) => {
      if (!this.muted) for (const b of chunk) this.byte(b);
    });
    await new Promise<void>((resolve, reject) => {
      port.open((err) => (err ? reject(new FirmataSimulatorError(`Firmata simulator: cannot open ${this.opts.path}: ${err.message}`, { cause: err })) : resolve()));
    });
    this.port = port;
    this.boot_ms = performance.now();
    this.reset();
    this.sendVersion();
    this.sendFirmware();
  }

  async stop(): Promise<void> {
    this.stopTimers();
    const port = this.port;
    this.port = undefined;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  /** A hung MCU: it neither reads nor writes until resumed. */
  stopAnswering(): void {
    this.muted = true;
    this.stopTimers();
  }

  /** Bytes on the line from outside the firmware (noise, a glitch). */
  injectGarbage(bytes: readonly number[]): void {
    this.send(bytes);
  }

  /** The level last written to a pin (0 or 1 for digital). */
  pinValue(pin: number): number {
    return this.values[pin] ?? 0;
  }

  pinMode(pin: number): number {
    return this.modes[pin] ?? 0;
  }

  /** Board millis() as the sketch sees it. */
  millis(): number {
    return Math.floor(performance.now() - this.boot_ms);
  }

  private stopTimers(): void {
    clearInterval(this.analogTimer);
    clearInterval(this.gmTimer);
    this.analogTimer = undefined;
    this.gmTimer = undefined;
  }

  private reset(): void {
    this.stopTimers();
    // StandardFirmata's reset: digital pins outputs driven low, analog pins analog inputs.
    for (let p = 0; p < PIN_COUNT; p++) this.modes[p] = p >= FIRST_ANALOG_PIN ? PIN_MODE.ANALOG : PIN_MODE.OUTPUT;
    this.values.fill(0);
    this.analogReporting.clear();
    this.samplingInterval_ms = 19;
    this.restartAnalogTimer();
  }

  private send(bytes: readonly number[]): void {
    if (this.muted || !this.port?.isOpen) return;
    this.port.write(Buffer.from(bytes));
  }

  private sendVersion(): void {
    // Firmata protocol 2.5, what StandardFirmata 2.5.x reports.
    this.send([FIRMATA.REPORT_VERSION, 2, 5]);
  }

  private sendFirmware(): void {
    const name = this.opts.firmwareName ?? 'StandardFirmataGM.ino';
    const chars = [...Buffer.from(name, 'ascii')].flatMap((c) => to7bit(c, 2));
    this.send([FIRMATA.START_SYSEX, SYSEX.REPORT_FIRMWARE, 2, 5, ...chars, FIRMATA.END_SYSEX]);
  }

  // ---- host → board parser, as Firmata's parse loop in the Arduino library does it

  private byte(b: number): void {
    if (this.sysex) {
      if (b === FIRMATA.END_SYSEX) {
        const msg = this.sysex;
        this.sysex = undefined;
        this.onSysex(msg);
        return;
      }
      if (b < 0x80) {
        this.sysex.push(b);
        return;
      }
      // A command byte inside SysEx: the message was cut; start over with this byte.
      this.sysex = undefined;
    }
    if (b >= 0x80) {
      this.data = [];
      if (b === FIRMATA.START_SYSEX) {
        this.command = undefined;
        this.sysex = [];
        return;
      }
      this.command = b;
      if (this.expected(b) === 0) this.execute();
      return;
    }
    if (this.command === undefined) return;
    this.data.push(b);
    if (this.data.length >= this.expected(this.command)) this.execute();
  }

  private expected(cmd: number): number {
    const hi = cmd & 0xf0;
    if (hi === FIRMATA.DIGITAL_MESSAGE || hi === FIRMATA.ANALOG_MESSAGE) return 2;
    if (hi === FIRMATA.REPORT_ANALOG || hi === FIRMATA.REPORT_DIGITAL) return 1;
    if (cmd === FIRMATA.SET_PIN_MODE || cmd === FIRMATA.SET_DIGITAL_PIN_VALUE) return 2;
    return 0;
  }

  private execute(): void {
    const cmd = this.command as number;
    const d = this.data;
    this.data = [];
    this.command = undefined;
    const hi = cmd & 0xf0;
    if (hi === FIRMATA.DIGITAL_MESSAGE) {
      const port = cmd & 0x0f;
      const mask = (d[0] ?? 0) | ((d[1] ?? 0) << 7);
      for (let i = 0; i < 8; i++) {
        const pin = port * 8 + i;
        // As in StandardFirmata: a port write only changes pins that are outputs.
        if (pin < PIN_COUNT && this.modes[pin] === PIN_MODE.OUTPUT) this.write(pin, (mask >> i) & 1);
      }
    } else if (hi === FIRMATA.ANALOG_MESSAGE) {
      const pin = cmd & 0x0f;
      if (this.modes[pin] === PIN_MODE.PWM) this.write(pin, from7bit(d));
    } else if (hi === FIRMATA.REPORT_ANALOG) {
      const ch = cmd & 0x0f;
      if (d[0]) {
        this.analogReporting.add(ch);
        this.modes[FIRST_ANALOG_PIN + ch] = PIN_MODE.ANALOG;
      } else {
        this.analogReporting.delete(ch);
      }
    } else if (hi === FIRMATA.REPORT_DIGITAL) {
      // Digital inputs are not simulated; reporting is acknowledged by sending the port once, as the firmware does.
      const port = cmd & 0x0f;
      if (d[0]) this.send([FIRMATA.DIGITAL_MESSAGE | port, 0, 0]);
    } else if (cmd === FIRMATA.SET_PIN_MODE) {
      const [pin = 0, mode = 0] = d;
      if (pin < PIN_COUNT) this.modes[pin] = mode;
    } else if (cmd === FIRMATA.SET_DIGITAL_PIN_VALUE) {
      const [pin = 0, value = 0] = d;
      if (pin < PIN_COUNT && this.modes[pin] === PIN_MODE.OUTPUT) this.write(pin, value ? 1 : 0);
    } else if (cmd === FIRMATA.REPORT_VERSION) {
      this.sendVersion();
    } else if (cmd === FIRMATA.SYSTEM_RESET) {
      this.reset();
    }
  }

  private write(pin: number, value: number): void {
    if (this.values[pin] === value) return;
    this.values[pin] = value;
    const w = { t_ms: this.millis(), pin, value };
    this.writes.push(w);
    this.emit('write', w);
  }

  private onSysex(msg: number[]): void {
    const [cmd, ...data] = msg;
    switch (cmd) {
      case SYSEX.REPORT_FIRMWARE:
        this.sendFirmware();
        break;
      case SYSEX.CAPABILITY_QUERY:
        this.send([FIRMATA.START_SYSEX, SYSEX.CAPABILITY_RESPONSE, ...this.capabilities(), FIRMATA.END_SYSEX]);
        break;
      case SYSEX.ANALOG_MAPPING_QUERY: {
        const map = Array.from({ length: PIN_COUNT }, (_, p) => (p >= FIRST_ANALOG_PIN ? p - FIRST_ANALOG_PIN : NONE_127));
        this.send([FIRMATA.START_SYSEX, SYSEX.ANALOG_MAPPING_RESPONSE, ...map, FIRMATA.END_SYSEX]);
        break;
      }
      case SYSEX.PIN_STATE_QUERY: {
        const pin = data[0] ?? 0;
        if (pin < PIN_COUNT) {
          this.send([FIRMATA.START_SYSEX, SYSEX.PIN_STATE_RESPONSE, pin, this.modes[pin] ?? 0, ...to7bit(this.values[pin] ?? 0, 1), FIRMATA.END_SYSEX]);
        }
        break;
      }
      case SYSEX.SAMPLING_INTERVAL:
        // StandardFirmata's floor is 1 ms; keep the simulator at 10 ms so it cannot flood a test machine.
        this.samplingInterval_ms = Math.max(10, from7bit(data.slice(0, 2)));
        this.restartAnalogTimer();
        break;
      case GM_CONFIG: {
        const c = decodeGmConfig(data);
        if (c.ok && this.opts.gmFirmware !== false) this.configureGm(c.value.pin, c.value.interval_ms);
        break;
      }
      default:
        // StandardFirmata ignores SysEx it does not know.
        break;
    }
  }

  private capabilities(): number[] {
    const out: number[] = [];
    for (let p = 0; p < PIN_COUNT; p++) {
      if (p >= 2) {
        out.push(PIN_MODE.INPUT, 1, PIN_MODE.OUTPUT, 1, PIN_MODE.PULLUP, 1);
        if (PWM_PINS.has(p)) out.push(PIN_MODE.PWM, 8);
        if (p >= FIRST_ANALOG_PIN) out.push(PIN_MODE.ANALOG, 10);
      }
      out.push(NONE_127);
    }
    return out;
  }

  // ---- sensors

  private restartAnalogTimer(): void {
    clearInterval(this.analogTimer);
    this.analogTimer = setInterval(() => this.sampleAnalog(), this.samplingInterval_ms);
  }

  private gauss(): number {
    const u = 1 - this.random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.random());
  }

  /** 10-bit ADC reading of analog channel `ch`. */
  private adc(ch: number): number {
    const t_s = this.millis() / 1000;
    let volts = 0;
    if (ch === (this.opts.temperatureChannel ?? 0) && this.opts.temperature_C) {
      volts = sensorVolts(this.opts.sensor ?? 'TMP36', this.opts.temperature_C(t_s));
    }
    const raw = (volts / (this.opts.aref_V ?? 5)) * 1023 + (this.opts.adcNoise_lsb ?? 0) * this.gauss();
    return Math.min(1023, Math.max(0, Math.round(raw)));
  }

  private sampleAnalog(): void {
    for (const ch of [...this.analogReporting].sort((a, b) => a - b)) {
      const v = this.adc(ch);
      this.send([FIRMATA.ANALOG_MESSAGE | ch, v & 0x7f, (v >> 7) & 0x7f]);
    }
  }

  // ---- the GM tube and its counter

  private configureGm(pin: number, interval_ms: number): void {
    clearInterval(this.gmTimer);
    this.gmTimer = undefined;
    this.gmPin = pin;
    this.modes[pin] = PIN_MODE.INPUT;
    this.gmTruePulses = 0;
    this.gmCounted = 0;
    this.gmLog.length = 0;
    this.gmProcessed_s = this.millis() / 1000;
    this.schedulePulse(this.gmProcessed_s);
    this.deadUntil_s = -Infinity;
    this.emit('gmConfig', { pin, interval_ms });
    if (interval_ms > 0) this.gmTimer = setInterval(() => this.reportGm(), interval_ms);
  }

  /** Draws the next event of a Poisson process at the rate of the moment (rates change slowly against 1/rate). */
  private schedulePulse(t_s: number): void {
    const rate = Math.max(0, this.opts.gm_cps?.(t_s) ?? 0);
    this.nextIsPulse = rate > 0;
    // With no activity, look again a little later in case the rate rises.
    this.nextEvent_s = t_s + (rate > 0 ? -Math.log(1 - this.random()) / rate : 0.05);
  }

  /** Runs the tube up to `t_s`: events arrive at random, and the counter misses those inside the dead time. */
  private advanceGm(t_s: number): void {
    const tau = this.opts.gmDeadTime_s ?? 0;
    while (this.nextEvent_s <= t_s) {
      const at = this.nextEvent_s;
      if (this.nextIsPulse) {
        this.gmTruePulses++;
        if (at >= this.deadUntil_s) {
          this.gmCounted++;
          this.deadUntil_s = at + tau;
        }
      }
      this.schedulePulse(at);
    }
    this.gmProcessed_s = t_s;
  }

  private reportGm(): void {
    const millis = this.millis();
    this.advanceGm(millis / 1000);
    const report = { pin: this.gmPin, count: this.gmCounted, millis };
    this.gmLog.push(report);
    // A simulator left running in a demo all day keeps the recent past only.
    if (this.gmLog.length > 100_000) this.gmLog.splice(0, 50_000);
    this.send(encodeGmReport(report));
  }
}
