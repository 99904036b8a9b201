// The real DP5 driver on a socat pty against the DP5 simulator: spectra at the set rate with the simulated counts and live time, line faults, silence, unplug and restart.
import t, { type Test } from 'tap';
import { ConfigError } from '../../common/errors.js';
import { silentLogger } from '../../common/log.js';
import { componentTypes, createComponent } from '../../contract/registry.js';
import { Supervisor, type ComponentStatus } from '../../edge/runtime/supervisor.js';
import { DETECTORS } from '../../analysis/radiation/dose.js';
import { straightPass } from '../../analysis/radiation/sim/drive.js';
import type { Scene, SimDetector } from '../../analysis/radiation/sim/scene.js';
import { DEVICE_TYPES, registerDevices } from '../../devices/index.js';
import { Dp5Driver, createDp5, type Dp5Reading } from '../../devices/radiation/dp5.js';
import { Dp5Simulator } from '../../devices/radiation/dp5-simulator.js';
import type { Dp5Problem } from '../../devices/radiation/dp5-protocol.js';
import { DeviceError } from '../../devices/serial/port.js';
import { tempDir } from '../harness/services.js';
import { deviceContext } from '../helpers/device-context.js';
import { until } from '../helpers/wait.js';

// A Cs-137 source 2 m from a 3x3 NaI: tens of thousands of counts per second, so 5 µs of dead time shows.
const SCENE: Scene = {
  origin: { lat: 51.95, lon: 4.05 },
  background: {},
  sources: [{ nuclide: 'Cs137', activity_Bq: 4e8, position: { x_m: 0, y_m: 2, z_m: 1 } }],
};
const DETECTOR: SimDetector = { id: 'dp5', model: DETECTORS['NaI-3x3']!, offset: { x_m: 0, y_m: 0, z_m: 1 }, nChannels: 1024, keVPerChannel: 3, deadTime_s: 5e-6 };
// Practically standing still: 1 cm/s.
const PARKED = straightPass({ speed_m_s: 0.01, offset_m: 0, from_m: 0, to_m: 2 });

async function rig(t: Test, opts: { temperature_C?: (t_s: number) => number } = {}) {
  const sim = new Dp5Simulator('sim', {
    pty: { dir: tempDir('dp5-pty') },
    scene: SCENE,
    detector: DETECTOR,
    trajectory: PARKED,
    seed: 7,
    ...(opts.temperature_C ? { temperature_C: opts.temperature_C } : {}),
  });
  await sim.start();
  t.teardown(() => sim.stop());
  return sim;
}

function driverFor(sim: Dp5Simulator, options: Record<string, unknown> = {}): Dp5Driver {
  return createDp5({
    name: 'gamma',
    type: 'dp5',
    options: { path: sim.hostPath, baudRate: 230400, detector: 'dp5', channels: 1024, rate_Hz: 5, calibration: { coefficients: [0, 3] }, ...options },
  });
}

t.test('spectra arrive at the set rate with the simulated counts, live time within dead-time physics, counts within Poisson limits', async (t) => {
  const sim = await rig(t, { temperature_C: () => 27 });
  const d = deviceContext();
  const drv = driverFor(sim);
  const spectra: Dp5Reading[] = [];
  drv.on('spectrum', (s) => spectra.push(s));
  await drv.start(d.ctx);
  t.teardown(() => drv.stop());
  t.equal(d.bus.listenerCount('gps'), 1, 'the driver follows GPS readings');
  d.bus.emit('gps', { lat: 51.9501, lon: 4.0502, height_m: 3, fix: 1, time_ms: Date.now() });
  const t0 = performance.now();
  await until('16 spectra', () => spectra.length >= 16, 15_000);
  const elapsed_s = (performance.now() - t0) / 1000;
  await drv.stop();
  t.equal(d.failures.length, 0, 'no failures');
  const rate = spectra.length / elapsed_s;
  // Wall-clock pace only guards against a blow-up (this machine is shared); the real times below are the check.
  t.ok(rate > 1 && rate < 10, `${spectra.length} spectra in ${elapsed_s.toFixed(2)} s: ${rate.toFixed(2)} per second at rate_Hz 5`);

  // Every reply the simulator sent, in order, is a spectrum the driver read.
  const sent = sim.sent.filter((s) => s.cleared);
  t.equal(sent.length, spectra.length, 'one spectrum per reply');
  let worstLive = 0;
  let obs = 0;
  let exp = 0;
  let within3 = 0;
  for (let i = 0; i < spectra.length; i++) {
    const r = spectra[i]!;
    const s = sent[i]!;
    const total = r.counts.reduce((a, b) => a + b, 0);
    if (total !== s.total) t.fail(`spectrum ${i}: ${total} counts read, ${s.total} sent`);
    worstLive = Math.max(worstLive, Math.abs(r.liveTime_s - s.liveTime_s));
    if (Math.abs(r.realTime_s - s.realTime_s) > 0.0011) t.fail(`spectrum ${i}: real time ${r.realTime_s} read, ${s.realTime_s} sent`);
    obs += total;
    exp += s.expectedTotal;
    if (Math.abs(total - s.expectedTotal) <= 3 * Math.sqrt(s.expectedTotal)) within3++;
  }
  t.ok(worstLive < 0.002, `live time from the status within 2 ms of the simulated one (worst ${(worstLive * 1000).toFixed(2)} ms)`);
  const steady = spectra.slice(1);
  const meanReal = steady.reduce((a, r) => a + r.realTime_s, 0) / steady.length;
  t.ok(Math.abs(meanReal - 0.2) < 0.1, `real time per spectrum about 1/rate_Hz (${meanReal.toFixed(3)} s)`);
  const cps = obs / spectra.reduce((a, r) => a + r.liveTime_s, 0);
  const liveFraction = spectra.reduce((a, r) => a + r.liveTime_s, 0) / spectra.reduce((a, r) => a + r.realTime_s, 0);
  const trueRate = sim.expectedRate_cps(1);
  t.ok(Math.abs(liveFraction - 1 / (1 + trueRate * 5e-6)) < 0.01, `live fraction ${liveFraction.toFixed(4)} = 1/(1+nτ) for n = ${trueRate.toFixed(0)} cps`);
  t.ok(Math.abs(cps - trueRate) < 0.02 * trueRate, `count rate per live second ${cps.toFixed(0)} ≈ the true rate ${trueRate.toFixed(0)}`);
  t.ok(Math.abs(obs - exp) < 4 * Math.sqrt(exp), `total ${obs} counts vs ${exp.toFixed(0)} expected: within 4σ (${(4 * Math.sqrt(exp)).toFixed(0)})`);
  t.ok(within3 >= spectra.length - 1, `${within3}/${spectra.length} spectra within 3σ of their expectation`);

  const busSpectra = d.published.spectrum;
  t.equal(busSpectra.length, spectra.length, 'every spectrum on the reading bus');
  const b = busSpectra.at(-1)!;
  t.equal(b.detector, 'dp5');
  t.same(b.calibration, { coefficients: [0, 3] }, 'calibration from the options');
  t.same(b.position, { lat: 51.9501, lon: 4.0502, height_m: 3 }, 'position from the latest GPS reading');
  t.ok(busSpectra.every((s, i) => i === 0 || s.time_ms >= busSpectra[i - 1]!.time_ms), 'times in order');
  t.ok(Math.abs(b.time_ms - Date.now()) < 5000, 'wall-clock time of the acquisition');
  const temps = d.published.temperature.filter((x) => x.sensor === 'dp5.board');
  t.ok(temps.length >= spectra.length && temps.every((x) => x.celsius === 27), 'board temperature published with each spectrum');
  t.ok(drv.stats().timeouts <= 2, `${drv.stats().timeouts} replies later than the timeout (a loaded machine may delay one)`);
  t.equal(drv.listenerCount('spectrum'), 1);
  t.equal(d.bus.listenerCount('gps'), 0, 'the GPS listener was removed in stop()');
});

t.test('a warmer detector: the simulated gain drift moves the Cs-137 peak, and the board temperature says why', async (t) => {
  let warm = false;
  const sim = new Dp5Simulator('sim', {
    pty: { dir: tempDir('dp5-pty') },
    scene: SCENE,
    detector: { ...DETECTOR, gainDriftPerDegC: -0.003 },
    trajectory: PARKED,
    seed: 9,
    temperature_C: () => (warm ? 45 : 20),
  });
  await sim.start();
  t.teardown(() => sim.stop());
  const d = deviceContext();
  const drv = driverFor(sim, { rate_Hz: 5 });
  const spectra: Dp5Reading[] = [];
  drv.on('spectrum', (s) => spectra.push(s));
  await drv.start(d.ctx);
  t.teardown(() => drv.stop());
  await until('cool spectra', () => spectra.length >= 6, 10_000);
  warm = true;
  const n = spectra.length;
  await until('warm spectra', () => spectra.length >= n + 6, 10_000);
  await drv.stop();
  // Centroid of the 662 keV peak (channel 221 at 3 keV per channel and 20 °C) within ±8 channels of its maximum, from
  // the summed spectra of each phase.
  const centroid = (list: Dp5Reading[]) => {
    const sum = new Float64Array(1024);
    for (const r of list) for (let ch = 0; ch < 1024; ch++) sum[ch]! += r.counts[ch]!;
    let top = 150;
    for (let ch = 150; ch < 300; ch++) if (sum[ch]! > sum[top]!) top = ch;
    let w = 0;
    let s = 0;
    for (let ch = top - 8; ch <= top + 8; ch++) {
      w += sum[ch]! * (ch + 0.5);
      s += sum[ch]!;
    }
    return w / s;
  };
  const cool = centroid(spectra.slice(1, n));
  const hot = centroid(spectra.slice(n + 1));
  t.ok(Math.abs(cool - 662 / 3) < 2, `peak at channel ${cool.toFixed(1)} at 20 °C`);
  t.ok(Math.abs(hot / cool - (1 - 0.003 * 25)) < 0.015, `peak moved by ${((hot / cool - 1) * 100).toFixed(1)} % at 45 °C (gain −0.3 %/°C: −7.5 %)`);
  const temps = d.published.temperature.filter((x) => x.sensor === 'dp5.board').map((x) => x.celsius);
  t.ok(temps.includes(20) && temps.at(-1) === 45, 'board temperature readings go from 20 to 45 °C');
});

t.test('garbage, bad checksums and cut-off replies are skipped and counted; later spectra are not lost', async (t) => {
  const sim = await rig(t);
  const d = deviceContext();
  const drv = driverFor(sim, { rate_Hz: 4 });
  const spectra: Dp5Reading[] = [];
  const problems: Dp5Problem[] = [];
  drv.on('spectrum', (s) => spectra.push(s));
  drv.on('problem', (p) => problems.push(p));
  await drv.start(d.ctx);
  t.teardown(() => drv.stop());
  await until('spectra before the noise', () => spectra.length >= 3, 10_000);
  sim.injectGarbage();
  sim.injectGarbage(Buffer.from([0xf5, 0x00, 0xf5, 0xfa, 0x99, 0x01, 0x00, 0x00]));
  sim.corruptNextChecksums(2);
  await until('two corrupted replies', () => sim.sent.filter((s) => s.fault === 'checksum').length >= 2, 10_000);
  sim.truncateNextReplies(1);
  await until('a cut-off reply', () => sim.sent.some((s) => s.fault === 'truncated'), 10_000);
  sim.injectGarbage();
  const sentSoFar = sim.sent.length;
  await until('five good replies after the faults', () => sim.sent.length >= sentSoFar + 5, 10_000);
  // The simulator has sent them; wait until the driver has read them too, then stop (no race with the last one).
  const undamaged = () => sim.sent.filter((x) => x.cleared && x.fault === undefined).length;
  await until('the driver to read every undamaged reply sent', () => spectra.length >= undamaged(), 10_000).catch(() => undefined);
  await drv.stop();
  const s = drv.stats();
  t.equal(d.failures.length, 0, 'line faults are not fatal');
  t.ok(s.garbage >= 2 && s.garbageBytes >= 80, `garbage counted: ${s.garbage} runs, ${s.garbageBytes} bytes`);
  t.ok(s.badChecksum >= 2, `bad checksums counted: ${s.badChecksum}`);
  t.ok(s.unknownPid >= 1, 'the fake header in the noise counted as an unknown PID');
  t.ok(s.truncated >= 1, 'the cut-off reply reported when its reply timed out');
  t.ok(s.timeouts >= 3, `the damaged replies timed out: ${s.timeouts}`);
  t.ok(problems.some((p) => p.code === 'E_DP5_CHECKSUM' && /checksum 0x[0-9A-F]{4}, expected 0x[0-9A-F]{4}/.test(p.message)));
  t.ok(problems.some((p) => p.code === 'E_DP5_TRUNCATED' && /cut off after \d+ bytes: expected 3144 bytes/.test(p.message)));
  // Exactly the damaged replies are missing: every good one arrived, in order, with its counts (but the reply to a
  // request in flight when the driver stopped, which nobody read).
  const good = sim.sent.filter((x) => x.cleared && x.fault === undefined).map((x) => x.total);
  t.ok(spectra.length >= good.length - 1, `${spectra.length} of ${good.length} undamaged replies read`);
  t.same(
    spectra.map((r) => r.counts.reduce((a, b) => a + b, 0)),
    good.slice(0, spectra.length),
    `the undamaged replies, in order, none of the ${sim.sent.length - good.length} damaged`,
  );
});

t.test('an instrument that stops answering: timeouts counted, then a clear failure after silence_s', async (t) => {
  const sim = await rig(t);
  const d = deviceContext();
  const drv = driverFor(sim, { rate_Hz: 5, silence_s: 1.5, timeout_ms: 300 });
  const spectra: Dp5Reading[] = [];
  drv.on('spectrum', (s) => spectra.push(s));
  await drv.start(d.ctx);
  t.teardown(() => drv.stop());
  await until('spectra', () => spectra.length >= 3, 10_000);
  sim.setSilent(true);
  await until('a timeout', () => drv.stats().timeouts >= 2, 5000);
  t.equal(d.failures.length, 0, 'a short silence is not fatal');
  sim.setSilent(false);
  const n = spectra.length;
  await until('spectra again', () => spectra.length >= n + 2, 5000);
  // Counts accumulated while silent are not lost: the next reply holds them.
  const first = spectra[n]!;
  t.ok(first.realTime_s > 0.5, `the first reply after the silence covers it (${first.realTime_s.toFixed(2)} s)`);
  sim.setSilent(true);
  await until('the driver gives up', () => d.failures.length > 0, 5000);
  const err = d.failures[0] as DeviceError;
  t.equal(err.code, 'E_DEVICE_TIMEOUT');
  t.match(err.message, `DP5 spectrometer ${sim.hostPath} (DP5G #123456): no valid packet for 1.5 s`);
  t.match(err.message, /timeouts/);
});

t.test('a process stall (event loop blocked longer than the timeout and silence_s) is not blamed on the instrument', async (t) => {
  const sim = await rig(t);
  const d = deviceContext();
  const drv = driverFor(sim, { rate_Hz: 5, silence_s: 1, timeout_ms: 300 });
  const spectra: Dp5Reading[] = [];
  drv.on('spectrum', (s) => spectra.push(s));
  let requests = 0;
  // The simulator lives in this process: blocking inside its request handler holds both ends, as a GC pause or a
  // long computation elsewhere in the runtime would.
  sim.on('request', (kind) => {
    if (kind !== 'spectrumStatusClear' || ++requests !== 4) return;
    const until_ms = performance.now() + 1500;
    while (performance.now() < until_ms);
  });
  await drv.start(d.ctx);
  t.teardown(() => drv.stop());
  await until('spectra after the stall, or a failure', () => spectra.length >= 6 || d.failures.length > 0, 10_000);
  t.same(d.failures.map((e) => e.message), [], 'no silence failure');
  t.equal(drv.stats().timeouts, 0, 'the reply that waited behind the stall is read, not counted as missing');
  t.ok(spectra.some((s) => s.realTime_s > 1.4), 'the spectrum across the stall covers it');
});

t.test('the instrument vanishes: the driver fails naming the path, the supervisor restarts it, it reconnects when the pty comes back', async (t) => {
  const sim = await rig(t);
  const drv = driverFor(sim, { rate_Hz: 5 });
  const spectra: Dp5Reading[] = [];
  drv.on('spectrum', (s) => spectra.push(s));
  const states: ComponentStatus[] = [];
  const base = deviceContext();
  const sup = new Supervisor({
    log: silentLogger,
    backoff: { initial_ms: 200, max_ms: 400, factor: 2 },
    makeContext: () => ({ node: 'veh-01', site: 'test', log: silentLogger, clock: base.clock, emit: base.ctx.emit, bus: base.bus }),
  });
  sup.on('state', (s) => states.push(s));
  sup.add(drv);
  await sup.start();
  t.teardown(() => sup.stop());
  await until('spectra before the unplug', () => spectra.length >= 3, 10_000);

  await sim.vanish();
  await until('the supervisor saw the crash', () => (sup.statuses().gamma?.restarts ?? 0) >= 1, 5000);
  const crash = states.find((s) => s.lastError !== undefined);
  t.match(crash?.lastError, sim.hostPath, 'the error names the serial path');
  t.match(crash?.lastError, /DP5 spectrometer .*: serial port disconnected/);
  await until('a failed reopen', () => states.some((s) => /cannot open serial port \(the device is not there/.test(s.lastError ?? '')), 5000);
  t.not(sup.statuses().gamma?.state, 'running');

  await sim.reappear();
  await until('running again', () => sup.statuses().gamma?.state === 'running', 10_000);
  const n = spectra.length;
  await until('spectra after the instrument came back', () => spectra.length >= n + 3, 10_000);
  const after = spectra.slice(n);
  const sent = sim.sent.filter((s) => s.cleared).slice(-after.length);
  t.same(
    after.map((r) => r.counts.reduce((a, b) => a + b, 0)),
    sent.map((s) => s.total),
    'the counts the simulator sent after coming back',
  );
});

t.test('options: errors name devices/<name>/options/<field>; the wire time caps the rate; both types in the lazy registry', async (t) => {
  let msg = 'accepted';
  try {
    createDp5({ name: 'g1', type: 'dp5', options: { channels: 1000, rate_Hz: 20, extra: 1 } });
  } catch (err) {
    t.ok(err instanceof ConfigError);
    msg = (err as Error).message;
  }
  t.match(msg, /devices\/g1\/options\/path: required/);
  t.match(msg, /devices\/g1\/options\/detector: required/);
  t.match(msg, /devices\/g1\/options\/channels: .*256/);
  t.match(msg, /devices\/g1\/options\/rate_Hz: /);
  t.match(msg, /devices\/g1\/options\/extra: unexpected property/);
  t.throws(
    () => createDp5({ name: 'g2', type: 'dp5', options: { path: '/dev/ttyUSB0', detector: 'a', channels: 4096, rate_Hz: 5, baudRate: 115200 } }),
    /devices\/g2\/options\/rate_Hz: 5 Hz is too fast: a 4096-channel spectrum with status takes 1074 ms at 115200 baud; expected a higher baudRate or fewer channels/,
  );
  registerDevices();
  t.ok(DEVICE_TYPES.every((type) => componentTypes().includes(type)), `registered: ${DEVICE_TYPES.join(', ')}`);
  t.ok(componentTypes().includes('dp5') && componentTypes().includes('dp5-simulator'));

  // A config with the simulator first and the driver on its pty, both through the registry.
  const dir = tempDir('dp5-config');
  const simC = await createComponent({
    name: 'dp5sim',
    type: 'dp5-simulator',
    options: { dir, detector: { id: 'roof', model: 'NaI-2x2', nChannels: 512 }, trajectory: { kind: 'loop', speed_m_s: 5, center: { x_m: 0, y_m: 0 }, radius_m: 20 } },
  });
  t.ok(simC instanceof Dp5Simulator);
  const d = deviceContext();
  await simC.start(d.ctx);
  t.teardown(() => simC.stop());
  const drv = await createComponent({ name: 'gamma', type: 'dp5', options: { path: `${dir}/dp5`, detector: 'roof', channels: 512, rate_Hz: 5 } });
  t.ok(drv instanceof Dp5Driver);
  t.equal((drv as Dp5Driver).options.baudRate, 115200, 'default baud rate filled in');
  await drv.start(d.ctx);
  t.teardown(() => drv.stop());
  await until('spectra through the registry', () => d.published.spectrum.length >= 5, 10_000);
  const cps = d.published.spectrum.slice(1).map((s) => s.counts.reduce((a, b) => a + b, 0) / s.liveTime_s);
  const mean = cps.reduce((a, b) => a + b, 0) / cps.length;
  t.ok(mean > 50 && mean < 1000, `a 2x2 NaI on natural background: ${mean.toFixed(0)} cps`);
  t.equal(d.published.spectrum[0]?.counts.length, 512);
  t.equal(d.failures.length, 0);

  // Opening a port that is not there rejects start() with the path and the reason.
  const missing = createDp5({ name: 'g3', type: 'dp5', options: { path: '/dev/ttyUSB9', detector: 'x' } });
  const err = await missing.start(deviceContext().ctx).then(
    () => undefined,
    (e: unknown) => e as DeviceError,
  );
  t.equal(err?.code, 'E_DEVICE_OPEN');
  t.match(err?.message, /DP5 spectrometer \/dev\/ttyUSB9: cannot open serial port/);
});
