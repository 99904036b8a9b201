// A signed calibration that became active reaches the radiation pipeline on the bus: it replaces the calibration the
// spectra carry, scales the spectrum dose, and its version is reported.
import t from 'tap';
import { RadiationPipeline } from '../../edge/pipelines/radiation.js';
import { naturalBackgroundRate } from '../../analysis/radiation/sim/natural.js';
import { DETECTORS } from '../../analysis/radiation/dose.js';
import { mulberry32, poisson } from '../../analysis/radiation/sim/scene.js';
import { deviceContext } from '../helpers/device-context.js';

const det = DETECTORS['NaI-2x2']!;
const rate = naturalBackgroundRate(det, { nChannels: 1024, keVPerChannel: 3 });
const rng = mulberry32(5);

function feed(bus: ReturnType<typeof deviceContext>['bus'], from_s: number, seconds: number, calibration: { coefficients: number[] }): void {
  for (let s = from_s; s < from_s + seconds; s++) {
    const counts = Float64Array.from(rate, (r) => poisson(rng, r));
    bus.emit('spectrum', { detector: 'd1', counts, liveTime_s: 1, realTime_s: 1, time_ms: 1.7e12 + s * 1000, calibration });
  }
}

t.test('a calibration record replaces the spectra calibration, scales the dose and shows its version', async (t) => {
  const dc = deviceContext();
  const p = new RadiationPipeline({ name: 'rad', type: 'radiation', options: { detectors: [{ id: 'd1', model: 'NaI-2x2' }], gainStabilisation: false } });
  await p.start(dc.ctx);
  t.teardown(() => p.stop());
  t.same(p.versions().calibration, undefined, 'no record yet');
  feed(dc.bus, 0, 30, { coefficients: [0, 3] });
  await p.settled();
  const rad = () => dc.emitted.filter((e) => e.kind === 'rad').map((e) => e.body as { doseRate_uSv_h: number });
  const before = rad().slice(5).map((r) => r.doseRate_uSv_h);
  dc.bus.emit('calibration', { detector: 'd1', version: 'd1@7', energy: { coefficients: [0, 3] }, doseFactor: 2 });
  dc.bus.emit('calibration', { detector: 'other', version: 'x@1' });
  feed(dc.bus, 30, 30, { coefficients: [0, 3] });
  await p.settled();
  const after = rad().slice(before.length + 8).map((r) => r.doseRate_uSv_h);
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  t.ok(Math.abs(mean(after) / mean(before) - 2) < 0.1, `dose factor 2 applied: ${mean(before).toFixed(4)} → ${mean(after).toFixed(4)} µSv/h`);
  t.same(p.versions().calibration, { d1: 'd1@7' }, 'active version reported; the unknown detector ignored');
  // The record's energy calibration wins over what the device sends: a device claiming 6 keV/channel would halve
  // nothing here, because the record says 3 keV/channel.
  const n = rad().length;
  feed(dc.bus, 60, 20, { coefficients: [0, 6] });
  await p.settled();
  const wrongDevice = rad().slice(n + 2).map((r) => r.doseRate_uSv_h);
  t.ok(Math.abs(mean(wrongDevice) / mean(after) - 1) < 0.1, `device calibration ignored while a record is active: ${mean(wrongDevice).toFixed(4)} µSv/h`);
});

t.test('a calibration arriving during an alarm: the alarm is reported first; the same version again changes nothing', async (t) => {
  const dc = deviceContext();
  const p = new RadiationPipeline({ name: 'rad', type: 'radiation', options: { detectors: [{ id: 'd1', model: 'NaI-2x2' }], gainStabilisation: false, identify: false } });
  await p.start(dc.ctx);
  t.teardown(() => p.stop());
  const cal = { coefficients: [0, 3] };
  // Background, with event-loop turns so the deferred threshold solves run as on a live node.
  for (let s = 0; s < 120; s++) {
    feed(dc.bus, s, 1, cal);
    await new Promise((r) => setImmediate(r));
  }
  // A source: ten times the background rate.
  for (let s = 120; s < 126; s++) {
    const counts = Float64Array.from(rate, (r) => poisson(rng, 10 * r));
    dc.bus.emit('spectrum', { detector: 'd1', counts, liveTime_s: 1, realTime_s: 1, time_ms: 1.7e12 + s * 1000, calibration: cal });
  }
  await p.settled();
  t.equal(dc.emitted.filter((e) => e.kind === 'alarm').length, 0, 'alarm in progress, not yet reported');
  t.equal(p.stats().alarms, 1, 'one alarm open');
  dc.bus.emit('calibration', { detector: 'd1', version: 'd1@2', energy: { coefficients: [0, 3.01] } });
  await p.settled();
  const alarms = dc.emitted.filter((e) => e.kind === 'alarm');
  t.equal(alarms.length, 1, 'reported when the calibration arrived');
  const versionsBefore = p.versions().calibration;
  dc.bus.emit('calibration', { detector: 'd1', version: 'd1@2', energy: { coefficients: [0, 3.01] } });
  feed(dc.bus, 126, 5, cal);
  await p.settled();
  t.same(p.versions().calibration, versionsBefore, 'same version');
  t.equal(dc.emitted.filter((e) => e.kind === 'alarm').length, 1, 'no second report');
});
