// A radiation pipeline's detector `model` option may name a real detector's description (by name or folder): the
// chain then computes through that response, the status says which, and a bad value fails at start-up naming the field.
import t from 'tap';
import { join } from 'node:path';
import { RadiationPipeline } from '../../edge/pipelines/radiation.js';
import { naturalBackgroundRate } from '../../analysis/radiation/sim/natural.js';
import { mulberry32, poisson } from '../../analysis/radiation/sim/scene.js';
import { resolveDetector } from '../../devices/radiation/detector-response.js';
import { ConfigError } from '../../common/errors.js';
import { deviceContext } from '../helpers/device-context.js';
import { refData } from '../helpers/paths.js';

const spec = (model: string) => ({ name: 'rad', type: 'radiation', options: { detectors: [{ id: 'd1', model }], identify: false } });

t.test('a description name and a description folder are resolved at start-up and named in the status', async (t) => {
  const byName = new RadiationPipeline(spec('NaI_3x3'));
  t.equal(byName.versions().models['detector-response:d1'], 'drf:NaI_3x3');
  const byDir = new RadiationPipeline(spec(join(refData('drf'), 'LaBr_10p')));
  t.equal(byDir.versions().models['detector-response:d1'], 'drf:LaBr_10p');
  t.equal(new RadiationPipeline(spec('NaI-3x3')).versions().models['detector-response:d1'], 'NaI-3x3', 'a built-in model by its name');
});

t.test('the dose rate in the summaries is computed through the configured description', async (t) => {
  // The same counts through two responses: the built-in NaI 3x3 and the NaI 3x3 description give different G(E).
  const drf = resolveDetector('NaI_3x3');
  const rate = naturalBackgroundRate(drf, { nChannels: 512, keVPerChannel: 6 });
  const rng = mulberry32(3);
  const t0 = Date.now() - 600_000;
  const readings = Array.from({ length: 6 }, (_, s) => ({
    detector: 'd1',
    counts: Float64Array.from(rate, (r) => poisson(rng, r * 5)),
    liveTime_s: 5,
    realTime_s: 5,
    time_ms: t0 + s * 5000,
    calibration: { coefficients: [0, 6] },
  }));
  const dose: Record<string, number[]> = {};
  for (const model of ['NaI_3x3', 'NaI-3x3']) {
    const dc = deviceContext({ trust: 'assume' });
    const p = new RadiationPipeline({ ...spec(model), options: { ...spec(model).options, interval_s: 5 } });
    await p.start(dc.ctx);
    for (const r of readings) dc.bus.emit('spectrum', { ...r, counts: Float64Array.from(r.counts) });
    await p.settled();
    await p.stop();
    t.same(dc.failures, [], `${model}: no failure`);
    dose[model] = dc.emitted.filter((e) => e.kind === 'rad').map((e) => (e.body as { doseRate_uSv_h?: number }).doseRate_uSv_h ?? NaN);
    t.ok(dose[model]!.length >= 4 && dose[model]!.every((d) => d > 0.005 && d < 1), `${model}: background dose rates ${dose[model]!.map((d) => d.toFixed(4)).join(', ')} µSv/h`);
  }
  const ratio = dose['NaI_3x3']![0]! / dose['NaI-3x3']![0]!;
  t.ok(Math.abs(ratio - 1) > 0.01, `same counts, different response, different dose (ratio ${ratio.toFixed(3)})`);
});

t.test('an unknown detector fails at start-up as an option error naming the field and the valid names', async (t) => {
  t.throws(() => new RadiationPipeline(spec('NaI_4x4')), ConfigError);
  t.throws(() => new RadiationPipeline(spec('NaI_4x4')), {
    message: /pipelines\/rad\/options\/detectors\/0\/model: unknown detector model "NaI_4x4", expected one of NaI-2x2, .*HPGe_40p.*NaI_3x3/,
  });
  t.throws(() => new RadiationPipeline(spec('./no/such/folder')), { message: /detectors\/0\/model: unknown detector model "\.\/no\/such\/folder"/ });
});
