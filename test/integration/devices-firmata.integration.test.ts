// johnny-five over firmata-io on a socat pty against the Firmata firmware simulator: temperature, GM rate, alarm, noise, hangs, unplug.
import t, { type Test } from 'tap';
import { SerialPort } from 'serialport';
import { ConfigError } from '../../common/errors.js';
import { createComponent } from '../../contract/registry.js';
import { registerDevices } from '../../devices/index.js';
import { FirmataBoard, createFirmataBoard, type BoardProblem, type GmReading, type TemperatureReading } from '../../devices/firmata/driver.js';
import { FirmataSimulator, type FirmataSimulatorOptions } from '../../devices/firmata/simulator.js';
import { decodeGmReport, deadTimeCorrect, encodeGmReport, GmRateMeter, GM_WRAP } from '../../devices/firmata/protocol.js';
import { DeviceError } from '../../devices/serial/port.js';
import { SocatPty } from '../../devices/serial/pty.js';
import { deviceContext } from '../helpers/device-context.js';
import { until } from '../helpers/wait.js';

async function rig(t: Test, sim: Omit<FirmataSimulatorOptions, 'path'>) {
  const pty = new SocatPty();
  await pty.start();
  const simulator = new FirmataSimulator({ path: pty.devicePath, ...sim });
  await simulator.start();
  t.teardown(async () => {
    await simulator.stop();
    await pty.close();
  });
  return { pty, sim: simulator };
}

t.test('GM SysEx frames and the rate arithmetic (pure)', async (t) => {
  const frame = encodeGmReport({ pin: 2, count: 123_456_789 % GM_WRAP, millis: 3_000_001 });
  t.same(frame.slice(0, 3), [0xf0, 0x02, 2]);
  t.equal(frame.at(-1), 0xf7);
  t.ok(frame.slice(1, -1).every((b) => b < 0x80), 'all data bytes are 7-bit');
  const d = decodeGmReport(frame.slice(2, -1));
  t.same(d, { ok: true, value: { pin: 2, count: 123_456_789 % GM_WRAP, millis: 3_000_001 } });
  const short = decodeGmReport([2, 1, 2]);
  t.equal(short.ok, false);
  if (!short.ok) t.match(short.reason, /expected 9 data bytes .* got 3 \(02 01 02\)/);

  const m = new GmRateMeter(0);
  t.equal(m.push({ pin: 2, count: GM_WRAP - 10, millis: GM_WRAP - 500 }).kind, 'baseline');
  const step = m.push({ pin: 2, count: 20, millis: 500 });
  t.same(step.kind === 'interval' && [step.interval.counts, step.interval.live_s, step.interval.cps], [30, 1, 30], 'both counters wrap');
  t.equal(m.push({ pin: 2, count: 5, millis: 400 }).kind, 'reset', 'board clock going backwards is a reboot, not a 74 h interval');

  t.same(deadTimeCorrect(1000, 0), { cps: 1000, saturated: false });
  t.ok(Math.abs(deadTimeCorrect(1000, 1e-4).cps - 1000 / 0.9) < 1e-9);
  t.equal(deadTimeCorrect(20_000, 1e-4).saturated, true);
});

t.test('the firmware simulator speaks Firmata bytes: version, pin writes, PIN_STATE', async (t) => {
  const { pty, sim } = await rig(t, {});
  const host = new SerialPort({ path: pty.hostPath, baudRate: 57600, autoOpen: false });
  await new Promise<void>((resolve, reject) => host.open((e) => (e ? reject(e) : resolve())));
  t.teardown(() => new Promise<void>((resolve) => host.close(() => resolve())));
  let rx: number[] = [];
  host.on('data', (b: Buffer) => rx.push(...b));
  // Like a real board after the reset that opening the port causes, the firmware may announce itself first:
  // let that settle so the replies below are told apart from it.
  await new Promise((r) => setTimeout(r, 500));
  rx = [];
  host.write(Buffer.from([0xf9]));
  await until('REPORT_VERSION reply', () => rx.length >= 3, 3000);
  t.same(rx.slice(0, 3), [0xf9, 2, 5]);
  // SET_PIN_MODE 7 OUTPUT, SET_DIGITAL_PIN_VALUE 7 HIGH, then PIN_STATE_QUERY 7.
  rx = [];
  host.write(Buffer.from([0xf4, 7, 1, 0xf5, 7, 1, 0xf0, 0x6d, 7, 0xf7]));
  await until('PIN_STATE_RESPONSE', () => rx.includes(0xf7), 3000);
  t.same(rx, [0xf0, 0x6e, 7, 1, 1, 0xf7], 'pin 7: mode OUTPUT, state HIGH');
  t.equal(sim.pinValue(7), 1);
  t.same(sim.writes.at(-1), { t_ms: sim.writes.at(-1)?.t_ms, pin: 7, value: 1 });
});

t.test('temperature, GM rate over ~10 s, alarm outputs, and line noise', async (t) => {
  const MEAN_CPS = 40;
  const { pty, sim } = await rig(t, { temperature_C: (s) => 23.4 + 0.01 * s, adcNoise_lsb: 0.7, gm_cps: () => MEAN_CPS, seed: 7 });
  const d = deviceContext();
  const board = createFirmataBoard({
    name: 'io',
    type: 'firmata-board',
    options: { path: pty.hostPath, samplingInterval_ms: 50, gm: { interval_s: 0.5 }, temperature: { interval_s: 0.5 } },
  });
  const gm: GmReading[] = [];
  const temps: TemperatureReading[] = [];
  const problems: BoardProblem[] = [];
  board.on('gm', (r) => gm.push(r));
  board.on('temperature', (r) => temps.push(r));
  board.on('problem', (p) => problems.push(p));
  const t0 = performance.now();
  await board.start(d.ctx);
  t.teardown(() => board.stop());
  t.ok(performance.now() - t0 < 3000, 'handshake over a pty in well under the timeout');
  t.same(board.firmware(), { name: 'StandardFirmataGM.ino', version: '2.5' });

  await until('a temperature reading', () => temps.length >= 1, 5000);
  const tr = temps[0] as TemperatureReading;
  const simulatedNow = 23.4 + 0.01 * (sim.millis() / 1000);
  t.ok(Math.abs(tr.celsius - simulatedNow) < 0.5, `temperature ${tr.celsius.toFixed(2)} °C within 0.5 °C of ${simulatedNow.toFixed(2)}`);
  t.ok(tr.samples >= 3, 'averaged over several ADC samples');

  // Alarm on: LED (13) and buzzer (8) go high at the firmware; off: low again.
  t.equal(sim.pinValue(13), 0);
  t.equal(board.alarm(true), true);
  await until('alarm outputs high', () => sim.pinValue(13) === 1 && sim.pinValue(8) === 1, 3000);
  t.ok(board.alarmOn);
  board.alarm(false);
  await until('alarm outputs low', () => sim.pinValue(13) === 0 && sim.pinValue(8) === 0, 3000);
  t.same(
    sim.writes.filter((w) => w.pin === 13).map((w) => w.value),
    [1, 0],
    'the firmware saw exactly one on and one off on the LED pin',
  );

  // Noise on the line and a malformed GM frame: reported, not fatal, and no pulse goes missing.
  await until('some GM readings', () => gm.length >= 3, 5000);
  sim.injectGarbage([0x00, 0x13, 0x7f, 0x42, 0xf0, 0x02, 0x01, 0xf7, 0x55, 0x90]);
  await until('the bad frame reported', () => problems.some((p) => p.code === 'E_FIRMATA_GM_FRAME'), 3000);
  t.match(problems[0]?.message, `I/O board ${pty.hostPath}: GM_REPORT: expected 9 data bytes`);

  await until('~10 s of GM counting', () => gm.reduce((s, r) => s + r.live_s, 0) >= 10, 20_000);
  const counts = gm.reduce((s, r) => s + r.counts, 0);
  const live = gm.reduce((s, r) => s + r.live_s, 0);
  const cps = counts / live;
  const sigma = Math.sqrt(MEAN_CPS * live) / live;
  t.ok(Math.abs(cps - MEAN_CPS) < 3 * sigma, `GM ${cps.toFixed(2)} cps vs simulated mean ${MEAN_CPS} (3σ = ${(3 * sigma).toFixed(2)}) over ${live.toFixed(1)} s`);
  t.ok(gm.every((r) => r.tube === 'gm-1' && r.cps === r.cps_raw && !r.saturated && r.sigma_cps > 0));
  // Running totals: the readings add up exactly to what the counter counted between two of its reports.
  const log = sim.gmLog;
  const base = log[0]?.count ?? NaN;
  const k = log.findIndex((r) => r.count - base === counts);
  t.ok(k >= log.length - 3, `pulses counted by the driver (${counts}) equal the firmware's total between reports 0 and ${k} of ${log.length}`);
  t.equal(d.failures.length, 0, 'noise is not fatal');
  t.ok(temps.length >= 10, 'temperature kept coming');
  t.ok(d.published.gm.length >= gm.length && d.published.gm.every((r) => r.cps >= 0 && Math.abs(r.time_ms - Date.now()) < 60_000), 'GM readings on the bus');
  t.ok(
    d.published.temperature.length >= temps.length && d.published.temperature.every((r) => r.sensor === 'temp-1' && Math.abs(r.celsius - 23.5) < 0.7),
    'temperature readings on the bus, named by sensor id',
  );
  t.ok(temps.every((r) => Math.abs(r.celsius - 23.4) < 0.5 + 0.01 * 15));
});

t.test('dead-time correction recovers the true rate of a busy tube', async (t) => {
  const TRUE_CPS = 2000;
  const TAU = 1e-4;
  const { pty, sim } = await rig(t, { gm_cps: () => TRUE_CPS, gmDeadTime_s: TAU, seed: 11 });
  const d = deviceContext();
  const board = createFirmataBoard({
    name: 'io',
    type: 'firmata-board',
    options: { path: pty.hostPath, gm: { id: 'gm-hot', interval_s: 0.25, deadTime_s: TAU }, temperature: { enabled: false } },
  });
  const gm: GmReading[] = [];
  board.on('gm', (r) => gm.push(r));
  await board.start(d.ctx);
  t.teardown(() => board.stop());
  await until('~2.5 s of counting', () => gm.reduce((s, r) => s + r.live_s, 0) >= 2.5, 10_000);
  const live = gm.reduce((s, r) => s + r.live_s, 0);
  const raw = gm.reduce((s, r) => s + r.counts, 0) / live;
  const corrected = deadTimeCorrect(raw, TAU).cps;
  const expectedRaw = TRUE_CPS / (1 + TRUE_CPS * TAU);
  t.ok(Math.abs(raw - expectedRaw) < 4 * Math.sqrt(expectedRaw * live) / live, `raw ${raw.toFixed(0)} cps shows the dead-time loss (expected ${expectedRaw.toFixed(0)})`);
  t.ok(Math.abs(corrected - TRUE_CPS) < 0.05 * TRUE_CPS, `corrected ${corrected.toFixed(0)} cps close to the true ${TRUE_CPS}`);
  t.ok(gm.every((r) => r.cps > r.cps_raw && r.tube === 'gm-hot'), 'every reading carries the corrected rate');
  t.same(
    d.published.gm.slice(0, gm.length).map((r) => r.cps),
    gm.map((r) => r.cps),
    'the corrected rate goes on the reading bus',
  );
  t.equal(d.published.temperature.length, 0, 'temperature disabled: nothing published');
  t.ok(sim.gmTruePulses > sim.gmCounted, 'the simulated tube lost pulses to its dead time');
});

t.test('a board that stops answering gives a clear timeout, during the handshake and while running', async (t) => {
  const { pty, sim } = await rig(t, { temperature_C: () => 20, gm_cps: () => 5 });
  const opts = { path: pty.hostPath, handshake_s: 1.5, silence_s: 1.2, gm: { interval_s: 0.2 } };

  const d = deviceContext();
  const board = createFirmataBoard({ name: 'io', type: 'firmata-board', options: opts });
  await board.start(d.ctx);
  t.teardown(() => board.stop());
  sim.stopAnswering();
  const hungAt = performance.now();
  await until('the hang detected', () => d.failures.length > 0, 5000);
  t.ok(performance.now() - hungAt < 3000, 'detected within the silence limit');
  const err = d.failures[0] as DeviceError;
  t.equal(err.code, 'E_DEVICE_TIMEOUT');
  t.match(err.message, `I/O board ${pty.hostPath}: no data from the board for 1.2 s`);
  await board.stop();

  // The same hung board at the next start: the handshake times out instead of waiting forever.
  const started = performance.now();
  const e2 = await board.start(deviceContext().ctx).then(
    () => undefined,
    (e: unknown) => e as DeviceError,
  );
  t.ok(performance.now() - started < 3000, 'start() gave up after handshake_s');
  t.equal(e2?.code, 'E_DEVICE_TIMEOUT');
  t.match(e2?.message, /Firmata handshake timed out after 1\.5 s \(no answer to REPORT_VERSION/);
});

t.test('firmware without the GM SysEx: the driver says so instead of reporting zero counts', async (t) => {
  const { pty } = await rig(t, { temperature_C: () => 20, gmFirmware: false });
  const d = deviceContext();
  const board = createFirmataBoard({ name: 'io', type: 'firmata-board', options: { path: pty.hostPath, silence_s: 1, gm: { interval_s: 0.2 } } });
  await board.start(d.ctx);
  t.teardown(() => board.stop());
  await until('the missing GM reports noticed', () => d.failures.length > 0, 5000);
  t.equal((d.failures[0] as DeviceError).code, 'E_DEVICE_PROTOCOL');
  t.match(d.failures[0]?.message, /the board answers but sent no GM count .* does its firmware implement the GM SysEx/);
});

t.test('unplug fails with the path named; back on the same path, the alarm state is restored', async (t) => {
  const first = await rig(t, { temperature_C: () => 20, gm_cps: () => 5 });
  const { pty } = first;
  const d = deviceContext();
  const board = createFirmataBoard({ name: 'io', type: 'firmata-board', options: { path: pty.hostPath, gm: { interval_s: 0.2 } } });
  await board.start(d.ctx);
  t.teardown(() => board.stop());
  await first.sim.stop();
  await pty.kill();
  await until('unplug detected', () => d.failures.length > 0, 5000);
  const err = d.failures[0] as DeviceError;
  t.equal(err.code, 'E_DEVICE_UNPLUGGED');
  t.match(err.message, `I/O board ${pty.hostPath}: serial port disconnected`);
  await board.stop();

  t.equal(board.alarm(true), false, 'alarm while away: remembered, not sent');
  const away = await board.start(deviceContext().ctx).then(
    () => undefined,
    (e: unknown) => e as DeviceError,
  );
  t.equal(away?.code, 'E_DEVICE_OPEN');
  t.match(away?.message, `I/O board ${pty.hostPath}: cannot open serial port (the device is not there`);

  await pty.start();
  const sim2 = new FirmataSimulator({ path: pty.devicePath, temperature_C: () => 20, gm_cps: () => 5 });
  await sim2.start();
  t.teardown(() => sim2.stop());
  const d2 = deviceContext();
  await board.start(d2.ctx);
  await until('alarm restored on the new board', () => sim2.pinValue(13) === 1 && sim2.pinValue(8) === 1, 3000);
  const gm: GmReading[] = [];
  board.on('gm', (r) => gm.push(r));
  await until('counts again', () => gm.length >= 2, 5000);
  t.equal(d2.failures.length, 0);
  await board.stop();
  await until('stop() leaves the outputs off', () => sim2.pinValue(13) === 0 && sim2.pinValue(8) === 0, 3000);
  t.equal(board.alarmOn, true, 'the wanted state survives stop() for the next start');
});

t.test('options: validated, errors name devices/<name>/options/<field>; pins checked against the board', async (t) => {
  const bad = (options: Record<string, unknown>) => {
    try {
      createFirmataBoard({ name: 'io1', type: 'firmata-board', options: { path: '/dev/ttyACM0', ...options } });
    } catch (err) {
      t.type(err, ConfigError);
      return (err as Error).message;
    }
    return 'accepted';
  };
  t.match(bad({ gm: { interval_s: 0 } }), /devices\/io1\/options\/gm\/interval_s: /);
  t.match(bad({ temperature: { pin: 'B3' } }), /devices\/io1\/options\/temperature\/pin: /);
  t.match(bad({ temperature: { sensor: 'PT100' } }), /devices\/io1\/options\/temperature\/sensor: .*TMP36/);
  t.match(bad({ led: { pin: 2 } }), /devices\/io1\/options\/led\/pin: pin 2 is already used by gm/);
  t.match(bad({ silence_s: 1, gm: { interval_s: 2 } }), /devices\/io1\/options\/silence_s: 1 s must be longer than gm\/interval_s/);
  t.match(bad({ buzzer: { colour: 'red' } }), /devices\/io1\/options\/buzzer\/colour: unexpected property/);

  registerDevices();
  const c = await createComponent({ name: 'io2', type: 'firmata-board', options: { path: '/dev/ttyACM0' } });
  t.ok(c instanceof FirmataBoard);
  t.same((c as FirmataBoard).options.gm, { enabled: true, id: 'gm-1', pin: 2, interval_s: 1, deadTime_s: 0 }, 'nested defaults filled in');

  const { pty } = await rig(t, { temperature_C: () => 20, gm_cps: () => 5 });
  const board = createFirmataBoard({ name: 'io3', type: 'firmata-board', options: { path: pty.hostPath, led: { pin: 40 } } });
  const err = await board.start(deviceContext().ctx).then(
    () => undefined,
    (e: unknown) => e as DeviceError,
  );
  t.equal(err?.code, 'E_DEVICE_PROTOCOL');
  t.match(err?.message, `I/O board ${pty.hostPath}: pin 40 (led) does not support mode 1`);
});
