// The real GPS driver on a socat pty against the NMEA simulator: positions, trusted clock, noise, fix loss, unplug and restart.
import t, { type Test } from 'tap';
import { ConfigError } from '../../common/errors.js';
import { silentLogger } from '../../common/log.js';
import { componentTypes, createComponent } from '../../contract/registry.js';
import { Supervisor, type ComponentStatus } from '../../edge/runtime/supervisor.js';
import { DEVICE_TYPES, registerDevices } from '../../devices/index.js';
import { GpsDriver, createGps } from '../../devices/gps/driver.js';
import type { GpsFix, NmeaProblem } from '../../devices/gps/nmea.js';
import { GpsSimulator, loop, straightLine } from '../../devices/gps/simulator.js';
import { DeviceError } from '../../devices/serial/port.js';
import { SocatPty } from '../../devices/serial/pty.js';
import { startSimulatedDevices } from '../../devices/simulated.js';
import type { FirmataBoard, TemperatureReading } from '../../devices/firmata/driver.js';
import { deviceContext } from '../helpers/device-context.js';
import { until } from '../helpers/wait.js';

const ROTTERDAM = { lat: 51.9496, lon: 4.1453 };

async function rig(t: Test, opts: { rate_hz?: number; trajectory?: Parameters<typeof loop>[0] } = {}) {
  const pty = new SocatPty();
  await pty.start();
  const sim = new GpsSimulator({
    path: pty.devicePath,
    rate_hz: opts.rate_hz ?? 5,
    trajectory: loop(opts.trajectory ?? { centre: ROTTERDAM, radius_m: 150, speed_m_s: 8, height_m: 4 }),
  });
  await sim.start();
  t.teardown(async () => {
    await sim.stop();
    await pty.close();
  });
  return { pty, sim };
}

t.test('fixes carry the simulated positions, the clock becomes trusted, noise is counted and not fatal', async (t) => {
  const { pty, sim } = await rig(t);
  const d = deviceContext();
  const gps = createGps({ name: 'gps', type: 'nmea-gps', options: { path: pty.hostPath, baudRate: 9600 } });
  const fixes: GpsFix[] = [];
  const problems: NmeaProblem[] = [];
  gps.on('fix', (f) => fixes.push(f));
  gps.on('problem', (p) => problems.push(p));
  t.equal(d.clock.trusted, false, 'untrusted before the first fix');
  await gps.start(d.ctx);
  t.teardown(() => gps.stop());

  await until('10 valid fixes', () => fixes.filter((f) => f.valid).length >= 10, 10_000);
  const valid = fixes.filter((f) => f.valid);
  let compared = 0;
  let worst = 0;
  for (const f of valid) {
    const sent = sim.sent.find((s) => s.time_ms === f.time_ms);
    if (!sent) continue;
    compared++;
    worst = Math.max(worst, Math.abs((f.lat ?? NaN) - sent.lat), Math.abs((f.lon ?? NaN) - sent.lon));
    t.ok(Math.abs((f.height_m ?? NaN) - sent.height_m) < 0.05, 'altitude as sent');
  }
  t.ok(compared >= 9, `${compared} fixes matched to the epoch the simulator sent at the same UTC time`);
  t.ok(worst < 1e-6, `positions within 1e-6 degrees (worst ${worst.toExponential(2)})`);
  t.ok(valid.every((f) => f.quality === 1 && f.satellites === 9 && f.hdop === 0.9), 'quality, satellites, HDOP');
  t.ok(valid.slice(1).every((f) => Math.abs((f.speed_m_s ?? 0) - 8) < 0.2), 'speed over ground about 8 m/s');
  t.ok(d.clock.trusted, 'clock marked trusted by a valid RMC with a date');
  t.ok(d.positions.length >= 10, 'position shared with the runtime');
  const onBus = d.published.gps.filter((r) => sim.sent.some((e) => e.time_ms === r.time_ms && Math.abs(e.lat - r.lat) < 1e-6 && Math.abs(e.lon - r.lon) < 1e-6));
  t.ok(onBus.length >= 9 && onBus.every((r) => r.fix === 1 && r.hdop === 0.9 && r.height_m === 4), 'fixes on the reading bus with the epoch time, fix quality and HDOP');
  const lastPos = d.positions.at(-1);
  t.ok(lastPos && Math.abs(lastPos.lat - ROTTERDAM.lat) < 0.01 && lastPos.height_m === 4);

  // Line noise glued to the next epoch, and two sentences with a flipped digit.
  const before = gps.stats();
  const fixesBefore = fixes.length;
  sim.injectGarbage();
  sim.corruptNextSentences(2);
  await until('problems reported', () => gps.stats().badChecksum >= before.badChecksum + 2 && gps.stats().garbage > before.garbage, 5000);
  await until('fixes after the noise', () => fixes.length >= fixesBefore + 4, 5000);
  t.ok(problems.some((p) => p.code === 'E_NMEA_GARBAGE'), 'garbage reported as a problem event');
  t.ok(problems.some((p) => p.code === 'E_NMEA_CHECKSUM' && /checksum mismatch/.test(p.message)));
  t.equal(d.failures.length, 0, 'noise is not fatal');

  // Fix loss: epochs keep coming, marked invalid, and the position is not updated from them.
  sim.setFixLost(true);
  await until('an invalid fix', () => fixes.some((f) => !f.valid), 5000);
  const positionsWhileLost = d.positions.length;
  const lostCount = fixes.filter((f) => !f.valid).length;
  await until('more invalid fixes', () => fixes.filter((f) => !f.valid).length >= lostCount + 3, 5000);
  t.equal(d.positions.length, positionsWhileLost, 'no position from epochs without a fix');
  const lost = fixes.filter((f) => !f.valid).at(-1);
  t.equal(lost?.quality, 0);
  t.equal(lost?.lat, null);
  t.equal(lost?.timeValid, false, 'status V does not vouch for the time');
  sim.setFixLost(false);
  await until('fix regained', () => fixes.at(-1)?.valid === true, 5000);
  t.equal(d.failures.length, 0);
});

t.test('unplugging fails the driver naming the path; a supervisor brings it back when the device returns', async (t) => {
  const first = await rig(t, { rate_hz: 4 });
  const { pty } = first;
  let sim = first.sim;
  const gps = createGps({ name: 'gps', type: 'nmea-gps', options: { path: pty.hostPath } });
  const fixes: GpsFix[] = [];
  gps.on('fix', (f) => fixes.push(f));
  const states: ComponentStatus[] = [];
  const base = deviceContext();
  const sup = new Supervisor({
    log: silentLogger,
    backoff: { initial_ms: 200, max_ms: 400, factor: 2 },
    makeContext: () => ({ node: 'veh-01', site: 'test', log: silentLogger, clock: base.clock, emit: base.ctx.emit, setPosition: base.ctx.setPosition }),
  });
  sup.on('state', (s) => states.push(s));
  sup.add(gps);
  await sup.start();
  t.teardown(() => sup.stop());
  t.equal(sup.statuses().gps?.state, 'running');
  await until('fixes before the unplug', () => fixes.length >= 3, 5000);

  await sim.stop();
  await pty.kill();
  await until('the supervisor saw the crash', () => (sup.statuses().gps?.restarts ?? 0) >= 1, 5000);
  const crash = states.find((s) => s.lastError !== undefined);
  t.match(crash?.lastError, pty.hostPath, 'the error names the serial path');
  t.match(crash?.lastError, /disconnected/);
  // While the device is away every retry fails to open, and says why.
  await until('a failed reopen', () => states.some((s) => /cannot open serial port \(the device is not there/.test(s.lastError ?? '')), 5000);
  t.not(sup.statuses().gps?.state, 'running');

  await pty.start();
  sim = new GpsSimulator({ path: pty.devicePath, rate_hz: 4, trajectory: straightLine({ start: ROTTERDAM, course_deg: 45, speed_m_s: 10 }) });
  await sim.start();
  t.teardown(() => sim.stop());
  await until('running again', () => sup.statuses().gps?.state === 'running', 10_000);
  const n = fixes.length;
  await until('fixes after the device came back', () => fixes.length >= n + 3, 5000);
  const f = fixes.at(-1);
  const sent = sim.sent.find((s) => s.time_ms === f?.time_ms);
  t.ok(sent && Math.abs((f?.lat ?? NaN) - sent.lat) < 1e-6, 'positions from the new simulator');
});

t.test('GPS time does not vouch for a wall clock that is an hour off', async (t) => {
  const { pty } = await rig(t, { rate_hz: 10 });
  const d = deviceContext({ wallNow: () => Date.now() + 3_600_000 });
  const gps = createGps({ name: 'gps', type: 'nmea-gps', options: { path: pty.hostPath } });
  const fixes: GpsFix[] = [];
  gps.on('fix', (f) => fixes.push(f));
  await gps.start(d.ctx);
  t.teardown(() => gps.stop());
  await until('fixes with a valid time', () => fixes.filter((f) => f.timeValid).length >= 5, 5000);
  t.equal(d.clock.trusted, false, 'clock left untrusted');
  t.ok(d.positions.length >= 5, 'positions still shared');
});

t.test('a silent receiver and a wrong baud rate give clear errors, not a hang', async (t) => {
  const pty = new SocatPty();
  await pty.start();
  t.teardown(() => pty.close());
  const d = deviceContext();
  const gps = new GpsDriver('gps', { path: pty.hostPath, baudRate: 9600, silence_s: 0.6, maxClockSkew_s: 2 });
  await gps.start(d.ctx);
  t.teardown(() => gps.stop());
  await until('silence detected', () => d.failures.length > 0, 5000);
  const err = d.failures[0] as DeviceError;
  t.equal(err.code, 'E_DEVICE_TIMEOUT');
  t.match(err.message, `GPS ${pty.hostPath}: no data for 0.6 s`);
  await gps.stop();

  // Bytes keep coming but none make a sentence, as when the receiver talks at another baud rate.
  const d2 = deviceContext();
  await gps.start(d2.ctx);
  const sim = new GpsSimulator({ path: pty.devicePath, rate_hz: 10, trajectory: loop({ centre: ROTTERDAM, radius_m: 10, speed_m_s: 1 }) });
  await sim.start();
  t.teardown(() => sim.stop());
  const noise = setInterval(() => sim.corruptNextSentences(3), 20);
  t.teardown(() => clearInterval(noise));
  await until('protocol failure', () => d2.failures.length > 0, 5000);
  const err2 = d2.failures[0] as DeviceError;
  t.equal(err2.code, 'E_DEVICE_PROTOCOL');
  t.match(err2.message, /bytes but no valid NMEA sentence .* is the receiver really at 9600 baud/);
  t.ok(gps.stats().badChecksum > 3);
});

t.test('options: validated with errors naming devices/<name>/options/<field>; lazy registry', async (t) => {
  t.throws(() => createGps({ name: 'gps1', type: 'nmea-gps', options: { baudRate: 1234 } }), ConfigError);
  let msg = 'accepted';
  try {
    createGps({ name: 'gps1', type: 'nmea-gps', options: { baudRate: 1234, extra: true } });
  } catch (err) {
    msg = (err as Error).message;
  }
  t.match(msg, /devices\/gps1\/options\/baudRate: .*4800/);
  t.match(msg, /devices\/gps1\/options\/path: required/, 'missing path named');
  t.match(msg, /devices\/gps1\/options\/extra: unexpected property/);
  registerDevices();
  t.ok(DEVICE_TYPES.every((type) => componentTypes().includes(type)), `registered: ${DEVICE_TYPES.join(', ')}`);
  const c = await createComponent({ name: 'gps2', type: 'nmea-gps', options: { path: '/dev/ttyACM0' } });
  t.ok(c instanceof GpsDriver);
  t.equal(c.kind, 'device');
  t.equal((c as GpsDriver).options.baudRate, 9600, 'default filled in');
  // Opening a port that is not there rejects start() with the path and the reason.
  const d = deviceContext();
  const err = await (c as GpsDriver).start(d.ctx).then(
    () => undefined,
    (e: unknown) => e as DeviceError,
  );
  t.equal(err?.code, 'E_DEVICE_OPEN');
  t.match(err?.message, /GPS \/dev\/ttyACM0: cannot open serial port/);
});

t.test('startSimulatedDevices: the demo GPS and I/O board, driven through the registry by the real drivers', async (t) => {
  const devices = await startSimulatedDevices({ gpsRate_hz: 5, gm_cps: () => 20 });
  t.teardown(() => devices.stop());
  registerDevices();
  const gps = (await createComponent({ name: 'gps', type: 'nmea-gps', options: { path: devices.gpsPath } })) as GpsDriver;
  const board = (await createComponent({
    name: 'io',
    type: 'firmata-board',
    options: { path: devices.boardPath, gm: { interval_s: 0.5 }, temperature: { interval_s: 0.5 } },
  })) as FirmataBoard;
  const d = deviceContext();
  const temps: TemperatureReading[] = [];
  board.on('temperature', (r) => temps.push(r));
  let gmCount = 0;
  board.on('gm', () => gmCount++);
  await gps.start(d.ctx);
  t.teardown(() => gps.stop());
  await board.start(d.ctx);
  t.teardown(() => board.stop());
  await until('a position and a trusted clock', () => d.positions.length > 0 && d.clock.trusted, 5000);
  await until('GM and temperature readings', () => gmCount >= 2 && temps.length >= 1, 5000);
  t.ok(Math.abs((temps[0]?.celsius ?? NaN) - 21) < 0.6, 'the default 21 °C board');
  t.equal(d.failures.length, 0);
  await devices.unplug('board');
  await until('board unplug reported', () => d.failures.some((e) => e.message.includes(devices.boardPath)), 5000);
  await devices.replug('board');
  await board.stop();
  await board.start(deviceContext().ctx);
  t.pass('the board driver restarts against the replugged simulator');
});
