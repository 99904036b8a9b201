// The handheld and localize pipelines take a detector `model` in the same three forms as the radiation pipeline (a
// built-in model, a description's name on the search path, a description folder), and fail at start-up naming the field.
import t from 'tap';
import { join } from 'node:path';
import { HandheldPipeline } from '../../edge/pipelines/handheld.js';
import { LocalizePipeline } from '../../edge/pipelines/localize.js';
import { ConfigError } from '../../common/errors.js';
import { refData } from '../helpers/paths.js';

const handheld = (model: string) => new HandheldPipeline({ name: 'hh', type: 'handheld', options: { trustedKeys: {}, detector: { model } } });
const localize = (...models: string[]) =>
  new LocalizePipeline({ name: 'loc', type: 'localize', options: { detectors: models.map((model, i) => ({ id: `d${i}`, model })) } });

t.test('handheld: a built-in model, a description name and a description folder', async (t) => {
  t.equal(handheld('NaI-2x2').versions().models['detector-response'], 'NaI-2x2');
  t.equal(handheld('NaI_3x3').versions().models['detector-response'], 'drf:NaI_3x3');
  t.equal(handheld(join(refData('drf'), 'LaBr_10p')).versions().models['detector-response'], 'drf:LaBr_10p');
});

t.test('localize: the three forms, and the efficiencies come from the description', async (t) => {
  const p = localize('NaI-2x2', 'NaI_3x3', join(refData('drf'), 'LaBr_10p'));
  t.same(p.versions().models, { 'detector-response:d0': 'NaI-2x2', 'detector-response:d1': 'drf:NaI_3x3', 'detector-response:d2': 'drf:LaBr_10p' });
  // Relative ROI efficiencies against d0: a 3x3 crystal sees more of the 662 keV line than a 2x2 one.
  const rel = p.relativeEfficiency();
  t.equal(rel['d0'], 1);
  t.ok(rel['d1']! > 1.5, `NaI_3x3 / NaI-2x2 ROI efficiency ${rel['d1']!.toFixed(2)} (volume ratio 3.4)`);
  // The same crystal size by description and built in: the efficiencies differ (another response), but not wildly.
  const twin = localize('NaI-2x2', 'NaI_2x2').relativeEfficiency()['d1']!;
  t.ok(twin > 0.5 && twin < 2 && Math.abs(twin - 1) > 1e-6, `NaI_2x2 description / built-in NaI-2x2 ROI efficiency ${twin.toFixed(3)}`);
});

t.test('a bad model fails at start-up as a ConfigError naming the field and the valid names', async (t) => {
  t.throws(() => handheld('NaI_4x4'), ConfigError);
  t.throws(() => handheld('NaI_4x4'), { message: /pipelines\/hh\/options\/detector\/model: unknown detector model "NaI_4x4", expected one of NaI-2x2, .*NaI_3x3/ });
  t.throws(() => handheld('./no/such/folder'), { message: /detector\/model: unknown detector model "\.\/no\/such\/folder"/ });
  t.throws(() => localize('NaI-2x2', 'NaI_4x4'), ConfigError);
  t.throws(() => localize('NaI-2x2', 'NaI_4x4'), { message: /pipelines\/loc\/options\/detectors\/1\/model: unknown detector model "NaI_4x4", expected one of NaI-2x2, .*NaI_3x3/ });
  t.throws(() => localize('./no/such/folder'), { message: /detectors\/0\/model: unknown detector model/ });
});
