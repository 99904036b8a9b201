// Bad readings on the bus (a driver bug, a corrupt file that slipped through, a clock far off) are rejected with a
// reason and do not stop the radiation pipeline; an exception inside it goes to the supervisor instead of the driver.
import t from 'tap';
import { RadiationPipeline } from '../../edge/pipelines/radiation.js';
import { naturalBackgroundRate } from '../../analysis/radiation/sim/natural.js';
import { DETECTORS } from '../../analysis/radiation/dose.js';
import { mulberry32, poisson } from '../../analysis/radiation/sim/scene.js';
import { deviceContext } from '../helpers/device-context.js';

const rate = naturalBackgroundRate(DETECTORS['NaI-2x2']!, { nChannels: 512, keVPerChannel: 6 });
const rng = mulberry32(11);
const good = (t_s: number) => ({
  detector: 'd1',
  counts: Float64Array.from(rate, (r) => poisson(rng, r)),
  liveTime_s: 1,
  realTime_s: 1,
  time_ms: Date.now() - 600_000 + t_s * 1000,
  calibration: { coefficients: [0, 6] },
});

t.test('NaN, negative and zero-live-time spectra are rejected, one stamped an hour ahead is dropped; summaries go on', async (t) => {
  const dc = deviceContext({ trust: 'assume' });
  const p = new RadiationPipeline({ name: 'rad', type: 'radiation', options: { detectors: [{ id: 'd1', model: 'NaI-2x2' }] } });
  await p.start(dc.ctx);
  t.teardown(() => p.stop());
  const warnings: string[] = [];
  (dc.ctx as { log: unknown }).log = { ...dc.ctx.log, warn: (_o: unknown, msg: string) => warnings.push(msg), info() {}, debug() {}, error() {} } as never;
  for (let s = 0; s < 10; s++) dc.bus.emit('spectrum', good(s));
  const nan = good(10);
  nan.counts[17] = Number.NaN;
  dc.bus.emit('spectrum', nan);
  const neg = good(10.5);
  neg.counts[3] = -2;
  dc.bus.emit('spectrum', neg);
  dc.bus.emit('spectrum', { ...good(10.7), liveTime_s: 0 });
  dc.bus.emit('spectrum', { ...good(10.8), time_ms: Date.now() + 3_600_000 });
  for (let s = 11; s < 25; s++) dc.bus.emit('spectrum', good(s));
  await p.settled();
  t.same(dc.failures, [], 'the pipeline did not fail');
  t.equal(p.stats().rejected, 4, 'three readings rejected, and one interval dropped');
  t.match(warnings.join('\n'), /channel 17: count NaN, expected a finite number >= 0/);
  t.match(warnings.join('\n'), /channel 3: count -2/);
  t.match(warnings.join('\n'), /liveTime_s 0, expected a duration > 0/);
  t.match(warnings.join('\n'), /data time went back \d+ s; the open interval is dropped and intervals restart/);
  const rad = dc.emitted.filter((e) => e.kind === 'rad');
  // Seconds 0-9 and 11-24 have good data; second 10 had only rejected ones, and 24 is still open. The hour-ahead
  // reading closed second 10 (empty) and opened an interval that the next reading dropped.
  t.equal(rad.length, 23, `one summary per second of good data, also after the future-stamped reading (${rad.length})`);
});

t.test('an exception inside the pipeline reaches the supervisor, not the driver that emitted', async (t) => {
  const dc = deviceContext({ trust: 'assume' });
  const p = new RadiationPipeline({ name: 'rad', type: 'radiation', options: { detectors: [{ id: 'd1', model: 'NaI-2x2' }] } });
  await p.start(dc.ctx);
  t.teardown(() => p.stop());
  (p as unknown as { spectrumNow: () => void }).spectrumNow = () => {
    throw new Error('boom');
  };
  t.doesNotThrow(() => dc.bus.emit('spectrum', good(0)), 'the emitting driver sees no exception');
  t.equal(dc.failures[0]?.message, 'boom', 'ctx.fail got it');
});
