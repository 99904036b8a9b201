// The radiation chain fed parseable but degenerate spectra (1 channel, a detector whose channel count changes within
// one measurement, a calibration that puts the gain reference peaks outside the spectrum): warnings, never an exception,
// and the good spectra around them all counted.
import t from 'tap';
import { DETECTORS } from '../../analysis/radiation/dose.js';
import { CHAIN_DEFAULTS, RadiationChain, spectrumProblem, type ChainOptions, type ChainOutput, type ChainSpectrum } from '../../analysis/radiation/chain.js';
import { createGainStabilizer } from '../../analysis/radiation/gain.js';
import { InputError } from '../../common/errors.js';

const OPTS: ChainOptions = {
  ...CHAIN_DEFAULTS,
  detectors: [{ id: 'left', model: DETECTORS['NaI-2x2']! }],
  identify: false,
  alarmIdPrefix: 'test',
};

/** A smooth, background-like spectrum (no alarm); `n` channels of 3 keV. */
function spectrum(time_ms: number, n = 1024, keVPerChannel = 3): ChainSpectrum {
  return {
    detector: 'left',
    counts: Float64Array.from({ length: n }, (_, i) => Math.round(40 * Math.exp(-i / 250)) + 1),
    liveTime_s: 0.5,
    realTime_s: 0.5,
    time_ms,
    calibration: { coefficients: [0, keVPerChannel] },
  };
}

const T0 = Date.parse('2024-06-01T08:00:00Z');
const kinds = (outs: ChainOutput[], kind: ChainOutput['kind']) => outs.filter((o) => o.kind === kind);

t.test('spectrumProblem names too few channels', async (t) => {
  t.match(spectrumProblem(spectrum(T0, 1)), /1 channel, expected at least 8/);
  t.match(spectrumProblem(spectrum(T0, 7)), /7 channels, expected at least 8/);
  t.equal(spectrumProblem(spectrum(T0, 8)), undefined);
});

t.test('a 1-channel spectrum after every three good ones: warnings, no exception, every good interval summarised', async (t) => {
  const chain = new RadiationChain(OPTS);
  const outs: ChainOutput[] = [];
  for (let k = 0; k < 40; k++) {
    outs.push(...chain.spectrum(spectrum(T0 + k * 1000)));
    if (k % 3 === 2) outs.push(...chain.spectrum(spectrum(T0 + k * 1000 + 500, 1)));
  }
  const rads = kinds(outs, 'rad') as Extract<ChainOutput, { kind: 'rad' }>[];
  t.equal(rads.length, 39, 'one summary per closed interval');
  t.ok(rads.every((r) => r.body.live_s === 0.5), 'each holds exactly the good spectrum of its interval');
  const warnings = kinds(outs, 'warning') as Extract<ChainOutput, { kind: 'warning' }>[];
  t.equal(warnings.length, 13, 'one warning per degenerate spectrum');
  t.match(warnings[0]!.message, /spectrum rejected: 1 channel, expected at least 8/);
  t.equal(chain.counters.rejected, 13);
});

t.test('two spectra of one detector with 1024 and 512 channels in one measurement: the second is refused, the background kept', async (t) => {
  const chain = new RadiationChain(OPTS);
  const outs: ChainOutput[] = [];
  for (let k = 0; k < 40; k++) {
    outs.push(...chain.spectrum(spectrum(T0 + k * 1000)));
    if (k % 3 === 2) outs.push(...chain.spectrum(spectrum(T0 + k * 1000, 512)));
  }
  const rads = kinds(outs, 'rad') as Extract<ChainOutput, { kind: 'rad' }>[];
  t.equal(rads.length, 39);
  t.ok(rads.every((r) => r.body.live_s === 0.5), 'the 512-channel spectra are not summed in (nor do they reset the interval)');
  const warnings = kinds(outs, 'warning') as Extract<ChainOutput, { kind: 'warning' }>[];
  t.equal(warnings.length, 13);
  t.match(warnings[0]!.message, /detector left: 512 channels in the same measurement as one of 1024 channels/);
});

t.test('a calibration that puts the gain reference peaks outside the spectrum: no gain stabilisation, warned once', async (t) => {
  const chain = new RadiationChain(OPTS);
  const outs: ChainOutput[] = [];
  // 512 channels of 3 keV end at 1536 keV: Tl-208 (2614 keV) is outside.
  for (let k = 0; k < 20; k++) outs.push(...chain.spectrum(spectrum(T0 + k * 1000, 512)));
  t.equal(kinds(outs, 'rad').length, 19, 'summaries go on');
  const warnings = kinds(outs, 'warning') as Extract<ChainOutput, { kind: 'warning' }>[];
  t.equal(warnings.length, 1, 'warned once');
  t.match(warnings[0]!.message, /gain stabilisation off for detector left: refPeaks_keV\[1\] = 2614\.511 keV lies outside the 512 channels/);
  // A calibration record with a reference spectrum of another length: warned, stabilised on the calibration alone.
  const chain2 = new RadiationChain(OPTS);
  chain2.calibrate({ detector: 'left', version: 'v2', energy: { coefficients: [0, 3] }, referenceSpectrum: { counts: [1, 2, 3] } });
  const outs2: ChainOutput[] = [];
  for (let k = 0; k < 5; k++) outs2.push(...chain2.spectrum(spectrum(T0 + k * 1000)));
  t.equal(kinds(outs2, 'rad').length, 4);
});

t.test('createGainStabilizer with nChannels checks the reference peaks at once', async (t) => {
  t.throws(() => createGainStabilizer({ cal: { coefficients: [0, 3] }, nChannels: 512 }), InputError);
  t.throws(() => createGainStabilizer({ cal: { coefficients: [0, 3] }, nChannels: 1024, referenceSpectrum: [1, 2, 3] }), /referenceSpectrum: expected 1024 channels/);
  t.doesNotThrow(() => createGainStabilizer({ cal: { coefficients: [0, 3] }, nChannels: 1024 }));
});
