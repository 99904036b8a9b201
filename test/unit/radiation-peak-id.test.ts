// Peak-based identification on HPGe: simulated spectra through the "HPGe 40%" description (sources over a natural background), SNM strictness, uranium enrichment, background subtraction, dispatch from identify.ts, and a real 8-detector HPGe portal file.
import t from 'tap';
import { InputError } from '../../common/errors.js';
import { DETECTORS, type DetectorModel, fwhm_keV, responseSpectrum } from '../../analysis/radiation/dose.js';
import { identifyNuclides } from '../../analysis/radiation/identify.js';
import { type PeakIdentification, identifyByPeaks, isHighResolution } from '../../analysis/radiation/identify/peak-id.js';
import { getNuclide, nuclideIds } from '../../analysis/radiation/nuclides.js';
import { naturalBackgroundRate } from '../../analysis/radiation/sim/natural.js';
import { mulberry32, poisson } from '../../analysis/radiation/sim/scene.js';
import { loadDrf } from '../../devices/radiation/detector-response.js';
import { readRadFile } from '../../devices/radiation/files.js';
import { refData } from '../helpers/paths.js';

const DET: DetectorModel = loadDrf(refData('drf', 'HPGe_40p'));
const N_CH = 12000;
const KEV = 0.25;
const LIVE_s = 600;

const responses = new Map<number, Float64Array>();
function response(E: number): Float64Array {
  let r = responses.get(E);
  if (r === undefined) {
    r = responseSpectrum(DET, E, N_CH, KEV);
    responses.set(E, r);
  }
  return r;
}

/** Expected counts over LIVE_s of photons reaching the face: `photons` decays' worth of each nuclide. */
function sourceCounts(mix: readonly [string, number][]): Float64Array {
  const out = new Float64Array(N_CH);
  for (const [id, photons] of mix) {
    for (const l of getNuclide(id).lines) {
      const r = response(l.energy_keV);
      for (let i = 0; i < N_CH; i++) out[i] += photons * l.intensity * r[i];
    }
  }
  return out;
}

// Natural background: the model's continuum (sim/natural.ts on a 3 keV grid, averaged over ±21 keV and interpolated
// onto the fine channels: its scattered part is a comb of discrete energies that HPGe resolution would show as a comb
// of peaks, where a real background is smooth), plus the lines of K-40, the U (Ra-226) and Th-232 chains and 511 keV
// annihilation at the detector's resolution.
const BG_RATE = ((): Float64Array => {
  const raw = naturalBackgroundRate(DET, { nChannels: 1000, keVPerChannel: 3, height_m: 1 });
  const coarse = raw.map((_, j) => {
    let s = 0;
    let n = 0;
    for (let k = Math.max(0, j - 7); k <= Math.min(999, j + 7); k++, n++) s += raw[k];
    return s / n;
  });
  const out = new Float64Array(N_CH);
  for (let i = 0; i < N_CH; i++) {
    const x = Math.max(0, ((i + 0.5) * KEV) / 3 - 0.5);
    const j = Math.min(998, Math.floor(x));
    out[i] = (coarse[j] + (x - j) * (coarse[j + 1] - coarse[j])) * (KEV / 3);
  }
  const lines: [string, number][] = [
    ['K40', 200],
    ['Ra226', 60],
    ['Th232', 50],
  ];
  for (const [id, photons_s] of lines) {
    for (const l of getNuclide(id).lines) {
      const r = response(l.energy_keV);
      for (let i = 0; i < N_CH; i++) out[i] += photons_s * l.intensity * r[i];
    }
  }
  const ann = response(510.999);
  for (let i = 0; i < N_CH; i++) out[i] += 15 * ann[i];
  return out;
})();

function simulate(seed: number, mix: readonly [string, number][], live_s = LIVE_s): Float64Array {
  const rng = mulberry32(seed);
  const src = sourceCounts(mix);
  const k = live_s / LIVE_s;
  return Float64Array.from({ length: N_CH }, (_, i) => poisson(rng, BG_RATE[i] * live_s + k * src[i]));
}

const BACKGROUND = { counts: simulate(99, [], 2 * LIVE_s), liveTime_s: 2 * LIVE_s };

function identify(counts: Float64Array, background = false): PeakIdentification {
  return identifyByPeaks({ counts, liveTime_s: LIVE_s, keVPerChannel: KEV }, { detector: DET, ...(background ? { background: BACKGROUND } : {}) });
}

const names = (r: PeakIdentification): string[] => r.nuclides.map((n) => n.nuclide);
const nonNorm = (r: PeakIdentification): string[] => r.nuclides.filter((n) => n.category !== 'NORM').map((n) => n.nuclide);
/** Nuclides rejected as natural background (sorted ids). */
const naturalBackground = (r: PeakIdentification): string[] =>
  (r.rejected ?? [])
    .filter((x) => x.kind === 'natural-background')
    .map((x) => x.nuclide)
    .sort();

t.test('the HPGe description is high resolution and the NaI models are not', async (t) => {
  t.ok(isHighResolution(DET), `HPGe 40 %: ${((100 * fwhm_keV(DET, 661.657)) / 661.657).toFixed(2)} % FWHM at 662 keV`);
  t.notOk(isHighResolution(DETECTORS['NaI-2x2']));
  t.notOk(isHighResolution(DETECTORS['CsI-1cm3']));
});

t.test('Ba-133 is Ba-133, not also Eu-152 or U-235; the natural lines are background', async (t) => {
  for (const bg of [false, true]) {
    const r = identify(simulate(1, [['Ba133', 2e6]]), bg);
    t.equal(r.nuclides[0]?.nuclide, 'Ba133', `first nuclide (background ${bg ? 'measured' : 'not given'}): ${names(r)}`);
    t.same(nonNorm(r), ['Ba133'], 'nothing but Ba-133 and NORM');
    t.not(r.category, 'SNM');
    for (const E of [81, 276.4, 302.9, 356, 383.8]) t.ok(r.nuclides[0].peaks_keV.some((p) => Math.abs(p - E) < 1), `Ba-133 explains its ${E} keV peak`);
    if (bg) t.same(names(r), ['Ba133'], 'with the measured background subtracted only Ba-133 is left');
    else {
      t.same(names(r), ['Ba133'], 'without a measured background the natural lines are not reported either');
      t.same(naturalBackground(r), ['K40', 'Ra226', 'Th232'], 'K-40, Ra-226 and Th-232 rejected as natural background');
    }
  }
});

t.test('Eu-152 is Eu-152, not Ba-133', async (t) => {
  const r = identify(simulate(2, [['Eu152', 2e6]]), true);
  t.same(names(r), ['Eu152']);
  t.ok(r.nuclides[0].peaks_keV.length >= 8, `${r.nuclides[0].peaks_keV.length} Eu-152 peaks`);
});

t.test('Co-60 and Cs-137 together', async (t) => {
  const r = identify(simulate(3, [['Co60', 1e6], ['Cs137', 1e6]]));
  t.same(nonNorm(r).sort(), ['Co60', 'Cs137']);
  const cs = r.nuclides.find((n) => n.nuclide === 'Cs137');
  t.ok(cs !== undefined && cs.netCounts > 0 && cs.netCountsSigma > 0 && cs.netCountsSigma < 0.1 * cs.netCounts, 'net counts with an error');
  t.equal(r.background.source, 'model');
  t.equal(r.peaks.find((p) => Math.abs(p.energy_keV - 511) < 1)?.explainedBy.includes('annihilation'), true, '511 keV is annihilation');
  t.notOk(names(r).includes('F18'), 'annihilation is not F-18');
});

t.test('natural uranium is NORM with the enrichment verdict natural', async (t) => {
  const r = identify(simulate(4, [['U238', 4e6], ['U235', 4e6 * 0.046]]));
  t.ok(names(r).includes('U238') && names(r).includes('U235'), `${names(r)}`);
  t.equal(r.category, 'NORM', 'no SNM');
  t.equal(r.nuclides.find((n) => n.nuclide === 'U235')?.category, 'NORM');
  t.equal(r.enrichment?.verdict, 'natural');
  t.ok(Math.abs((r.enrichment?.enrichment_wtPct ?? 0) - 0.72) < 0.25, `enrichment ${r.enrichment?.enrichment_wtPct} wt%`);
  t.equal(r.uranium?.verdict, 'natural-or-depleted');
  t.equal(r.uranium?.enrichmentMeasurable, true);
  t.ok(r.notes?.some((n) => n.code === 'uranium-natural-or-depleted' && /natural uranium/.test(n.message)), 'note says natural');
});

t.test('depleted uranium reads depleted, NORM', async (t) => {
  const r = identify(simulate(5, [['U238', 6e6], ['U235', 6e6 * 0.046 * 0.3]]));
  t.equal(r.category, 'NORM');
  t.equal(r.enrichment?.verdict, 'depleted', r.uranium?.reason ?? 'no uranium assessment');
});

t.test('HEU is SNM: 185.7 keV with 143.8/163.3/205.3 keV, enriched', async (t) => {
  for (const bg of [false, true]) {
    const r = identify(simulate(6, [['U235', 1e6], ['U238', 1e6 / 60]]), bg);
    t.equal(r.category, 'SNM');
    const u = r.nuclides.find((n) => n.nuclide === 'U235');
    t.equal(u?.category, 'SNM');
    for (const E of [143.8, 163.4, 185.7, 205.3]) t.ok(u?.peaks_keV.some((p) => Math.abs(p - E) < 1), `U-235 explains ${E} keV`);
    t.equal(r.enrichment?.verdict, 'enriched');
    t.ok(r.notes?.some((n) => n.code === 'uranium-enriched'));
  }
});

t.test('Pu-239 needs 375.0 and 413.7 keV', async (t) => {
  const r = identify(simulate(7, [['Pu239', 3e8]]), true);
  t.same(names(r), ['Pu239']);
  t.equal(r.category, 'SNM');
  for (const E of [129.3, 375.1, 413.7]) t.ok(r.nuclides[0].peaks_keV.some((p) => Math.abs(p - E) < 1), `Pu-239 explains ${E} keV`);
  // The same spectrum without 375 and 413.7 keV (an absorber would never remove those and leave 129 keV): not Pu-239.
  const partial = getNuclide('Pu239').lines.filter((l) => l.energy_keV < 300);
  const rng = mulberry32(8);
  const src = new Float64Array(N_CH);
  for (const l of partial) {
    const resp = response(l.energy_keV);
    for (let i = 0; i < N_CH; i++) src[i] += 3e8 * l.intensity * resp[i];
  }
  const counts = Float64Array.from({ length: N_CH }, (_, i) => poisson(rng, BG_RATE[i] * LIVE_s + src[i]));
  t.notOk(names(identify(counts, true)).includes('Pu239'), 'no Pu-239 without its 375/414 keV lines');
});

t.test('Am-241 (59.5 keV) is not reactor-grade plutonium', async (t) => {
  for (const seed of [21, 22, 23]) {
    const r = identify(simulate(seed, [['Am241', 1e5]]), true);
    t.same(names(r), ['Am241'], `seed ${seed}`);
    t.not(r.category, 'SNM');
  }
});

t.test('Ra-226 (186.2 keV) is not called U-235 (185.7 keV)', async (t) => {
  const r = identify(simulate(9, [['Ra226', 3e6]]), true);
  t.same(names(r), ['Ra226']);
  t.not(r.category, 'SNM');
});

t.test('Th-228 over a natural background', async (t) => {
  t.ok(nuclideIds().includes('Th228'), 'the library has Th-228');
  const r = identify(simulate(10, [['Th228', 1e6]]));
  t.equal(r.nuclides[0]?.nuclide, 'Th228', `${names(r)}`);
  t.same(nonNorm(r), ['Th228']);
  t.ok(r.nuclides[0].peaks_keV.some((p) => Math.abs(p - 2614.5) < 1.5) && r.nuclides[0].peaks_keV.some((p) => Math.abs(p - 583.2) < 1));
  t.same(names(identify(simulate(10, [['Th228', 1e6]]), true)), ['Th228'], 'background subtracted: Th-228 alone');
});

t.test('a background alone: nothing above the measured background, nor above the natural proportions without it', async (t) => {
  const counts = simulate(11, []);
  const withBg = identify(counts, true);
  t.same(names(withBg), [], 'nothing above the measured background');
  t.equal(withBg.category, undefined);
  t.equal(withBg.background.source, 'measured');
  t.ok(withBg.peaks.filter((p) => p.explainedBy.includes('background')).length >= 10, 'the natural lines are the background');
  const alone = identify(counts);
  t.same(names(alone), [], `nothing reported: ${names(alone)}`);
  t.equal(alone.category, undefined);
  t.equal(alone.unknown, undefined);
  t.same(naturalBackground(alone), ['K40', 'Ra226', 'Th232'], 'the natural chains are background');
  t.ok(alone.rejected?.every((x) => /natural proportion/.test(x.reason)), 'with a reason');
  t.same(alone.unexplainedPeaks, [], 'every peak explained');
});

// NORM loads: one chain far above the natural proportions stays NORM, the others are still background.
t.test('potassium fertiliser and thorium over the background are NORM', async (t) => {
  const k = identify(simulate(14, [['K40', 30 * 200 * LIVE_s]]));
  t.same(names(k), ['K40'], `K-40 at 30× the background: ${names(k)}`);
  t.equal(k.category, 'NORM');
  t.same(naturalBackground(k), ['Ra226', 'Th232']);
  const th = identify(simulate(15, [['Th232', 30 * 50 * LIVE_s]]));
  t.same(names(th), ['Th232'], `Th-232 at 30× the background: ${names(th)}`);
  t.equal(th.category, 'NORM');
  t.same(naturalBackground(th), ['K40', 'Ra226']);
  const ra = identify(simulate(16, [['Ra226', 30 * 60 * LIVE_s]]));
  t.same(names(ra), ['Ra226'], `Ra-226 at 30× the background (a radium dial): ${names(ra)}`);
  // At 2× the background a chain is still within the natural spread.
  t.same(names(identify(simulate(17, [['K40', 2 * 200 * LIVE_s]]))), [], 'K-40 at 2× the background is background');
});

t.test('identifyNuclides and NuclideIdentifier send HPGe to the peak identifier', async (t) => {
  const counts = simulate(12, [['Cs137', 1e6]]);
  const r = identifyNuclides({ counts, liveTime_s: LIVE_s, keVPerChannel: KEV }, { detector: DET, background: BACKGROUND }) as PeakIdentification;
  t.equal(r.method, 'peaks');
  t.same(names(r), ['Cs137']);
});

t.test('bad input is named', async (t) => {
  const counts = simulate(13, []);
  t.throws(() => identifyByPeaks({ counts, liveTime_s: 0, keVPerChannel: KEV }, { detector: DET }), InputError);
  t.throws(() => identifyByPeaks({ counts, liveTime_s: 1 }, { detector: DET }), /calibration/);
  t.throws(() => identifyByPeaks({ counts, liveTime_s: 1, keVPerChannel: KEV }, { detector: DET, background: { counts: counts.subarray(10), liveTime_s: 1 } }), /background\.counts/);
  const bad = Float64Array.from(counts);
  bad[5] = -1;
  t.throws(() => identifyByPeaks({ counts: bad, liveTime_s: 1, keVPerChannel: KEV }, { detector: DET }), /counts\[5\]/);
});

// The InterSpec example (sandialabs/InterSpec example_spectra, LGPL-2.1): an ORTEC 8-detector portal, each
// spectrum labelled "HPGe 50%", 16384 channels of 0.187 keV, a Ba-133 source for 640 s, and the matching background.
t.test('real HPGe portal file: Ba-133 in every detector, no SNM', async (t) => {
  const fg = await readRadFile(refData('n42', 'interspec-ba133_source_640s.n42'));
  const bgFile = await readRadFile(refData('n42', 'interspec-background.n42'));
  const bgSpectra = bgFile.measurements.flatMap((m) => m.spectra);
  const spectra = fg.measurements.flatMap((m) => m.spectra);
  t.equal(spectra.length, 8);
  for (const s of spectra) {
    const input = { counts: s.counts, liveTime_s: s.liveTime_s, ...(s.calibration ? { calibration: s.calibration } : {}) };
    const r = identifyByPeaks(input, { detector: DET });
    // Really HPGe: the 356 keV peak is about 1.3 keV wide (0.37 %), where a NaI would show 25 keV.
    const p356 = r.peaks.find((p) => Math.abs(p.energy_keV - 356.01) < 1.5);
    t.ok(p356 !== undefined && p356.fwhm_keV / 356 < 0.006 && p356.fwhm_keV > 0.8, `${s.detector}: 356 keV FWHM ${p356?.fwhm_keV.toFixed(2)} keV`);
    t.equal(r.nuclides[0]?.nuclide, 'Ba133', `${s.detector}: ${names(r)}`);
    t.same(names(r), ['Ba133'], `${s.detector}: nothing but Ba-133, the natural lines are background`);
    t.not(r.category, 'SNM');
    const b = bgSpectra.find((x) => x.detector === s.detector);
    if (b === undefined) continue;
    const rb = identifyByPeaks(input, { detector: DET, background: { counts: b.counts, liveTime_s: b.liveTime_s } });
    t.same(nonNorm(rb), ['Ba133'], `${s.detector} with its background: ${names(rb)}`);
  }
});

// The same file's background (8 detectors, 600 s each): without a measured background to subtract, its K-40, Ra-226
// and Th-232 lines are in natural proportion, so nothing is above background; also for the sum of four detectors.
t.test('real HPGe portal background: nothing above background without a measured background', async (t) => {
  const bgFile = await readRadFile(refData('n42', 'interspec-background.n42'));
  const spectra = bgFile.measurements.flatMap((m) => m.spectra);
  t.equal(spectra.length, 8);
  for (const s of spectra) {
    const r = identifyByPeaks({ counts: s.counts, liveTime_s: s.liveTime_s, ...(s.calibration ? { calibration: s.calibration } : {}) }, { detector: DET });
    t.same(names(r), [], `${s.detector}: ${names(r)}`);
    t.equal(r.category, undefined);
    t.ok(naturalBackground(r).includes('K40') && naturalBackground(r).includes('Th232'), `${s.detector}: natural background ${naturalBackground(r)}`);
  }
  // Sum of four detectors, channel by channel on the first one's calibration (their calibrations differ slightly, so
  // the summed peaks are a little broader: Ra-226's weaker lines may fall below the search threshold).
  const four = spectra.slice(0, 4);
  const sum = Float64Array.from(four[0].counts, (_, i) => four.reduce((x, s) => x + (s.counts[i] ?? 0), 0));
  const live = four.reduce((x, s) => x + s.liveTime_s, 0) / four.length;
  const rs = identifyByPeaks({ counts: sum, liveTime_s: live, ...(four[0].calibration ? { calibration: four[0].calibration } : {}) }, { detector: DET });
  t.same(names(rs), [], `sum of ${four.map((s) => s.detector)}: ${names(rs)}`);
  t.equal(rs.category, undefined);
  t.ok(naturalBackground(rs).includes('K40') && naturalBackground(rs).includes('Th232'), `sum: natural background ${naturalBackground(rs)}`);
});
