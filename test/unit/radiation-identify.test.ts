// Nuclide identification: the Poisson NNLS fit, templates on any calibration, accuracy and false alarms on a reduced simulated grid, masking, gain errors, unexplained peaks, bad input.
import t from 'tap';
import { evaluateIdentification } from '../../bench/identify.js';
import { InputError } from '../../common/errors.js';
import { rebin as rebinCounts } from '../../analysis/radiation/calibration.js';
import { DETECTORS, pointSourceDoseRate_uSv_h } from '../../analysis/radiation/dose.js';
import { CalibrationError, NuclideIdentifier, identifyNuclides } from '../../analysis/radiation/identify.js';
import { nnlsGram, poissonDeviance, poissonNnls, scoreStatistic } from '../../analysis/radiation/identify/fit.js';
import { calibratedConfidence } from '../../analysis/radiation/identify/confidence.js';
import { FineTemplateSet, cumulative, makeColumn, rebin } from '../../analysis/radiation/identify/templates.js';
import { getNuclide, nuclideIds } from '../../analysis/radiation/nuclides.js';
import { naturalBackgroundRate } from '../../analysis/radiation/sim/natural.js';
import { type Scene, type SimDetector, applyGain, expectedRates, mulberry32, poisson } from '../../analysis/radiation/sim/scene.js';

const N_CH = 1024;
const KEV = 3;
const NAI2 = DETECTORS['NaI-2x2'];
const simDet: SimDetector = { id: 'd', model: NAI2, offset: { x_m: 0, y_m: 0, z_m: 1 }, nChannels: N_CH, keVPerChannel: KEV };
const BG = naturalBackgroundRate(NAI2, { nChannels: N_CH, keVPerChannel: KEV, height_m: 1 });
const sum = (a: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
};

/** Source-only count rate of a nuclide at the activity that gives 1 µSv/h at 1 m bare. */
function sourceRate(nuclide: string, distance_m: number, shielding: { material: string; thickness_cm: number }[] = []): Float64Array {
  const activity_Bq = 1 / pointSourceDoseRate_uSv_h({ nuclide, activity_Bq: 1, distance_m: 1 });
  const scene: Scene = { sources: [{ nuclide, activity_Bq, position: { x_m: distance_m, y_m: 0, z_m: 1 }, shielding }], background: {}, origin: { lat: 0, lon: 0 } };
  return expectedRates(scene, simDet, { x_m: 0, y_m: 0, z_m: 1 }).map((v, i) => Math.max(0, v - BG[i]));
}

function spectrum(rng: () => number, parts: { rate: Float64Array; counts?: number }[], live_s?: number): { counts: Float64Array; live: number } {
  // Live time from the first part's target net counts, or as given.
  const live = live_s ?? (parts[0].counts as number) / sum(parts[0].rate);
  const mean = new Float64Array(N_CH);
  for (const p of parts) {
    const k = p.counts === undefined ? live : p.counts / sum(p.rate);
    for (let i = 0; i < N_CH; i++) mean[i] += p.rate[i] * k;
  }
  for (let i = 0; i < N_CH; i++) mean[i] += BG[i] * live;
  return { counts: mean.map((m) => poisson(rng, m)), live };
}

const identifier = new NuclideIdentifier({ detector: NAI2 });

t.test('Lawson–Hanson NNLS on normal equations matches brute force over active sets', async (t) => {
  const rng = mulberry32(3);
  for (let trial = 0; trial < 50; trial++) {
    const k = 4;
    const m = 12;
    const A = Array.from({ length: m }, () => Array.from({ length: k }, () => rng() * 2 - 0.5));
    const b = Array.from({ length: m }, () => rng() * 4 - 1);
    const G = new Float64Array(k * k);
    const h = new Float64Array(k);
    for (let a = 0; a < k; a++) {
      for (let i = 0; i < m; i++) h[a] += A[i][a] * b[i];
      for (let c = 0; c < k; c++) for (let i = 0; i < m; i++) G[a * k + c] += A[i][a] * A[i][c];
    }
    const x = nnlsGram(G, h, k);
    const obj = (v: ArrayLike<number>): number => {
      let s = 0;
      for (let i = 0; i < m; i++) {
        let r = b[i];
        for (let a = 0; a < k; a++) r -= A[i][a] * v[a];
        s += r * r;
      }
      return s;
    };
    // Brute force: unconstrained least squares on every subset, keep feasible ones.
    let best = obj(new Float64Array(k));
    for (let mask = 1; mask < 1 << k; mask++) {
      const idx = [...Array(k).keys()].filter((j) => mask & (1 << j));
      const sub = nnlsGram(
        Float64Array.from(idx.flatMap((r) => idx.map((c) => G[r * k + c]))),
        Float64Array.from(idx.map((r) => h[r])),
        idx.length,
      );
      const full = new Float64Array(k);
      idx.forEach((j, q) => (full[j] = sub[q]));
      best = Math.min(best, obj(full));
    }
    if (!(x.every((v) => v >= 0) && obj(x) <= best + 1e-9 * (1 + best))) {
      t.fail(`trial ${trial}: x = ${[...x].join(', ')} objective ${obj(x)} > best ${best}`);
      return;
    }
  }
  t.pass('50 random problems: non-negative and optimal');
});

t.test('Poisson NNLS recovers amplitudes, sets an absent template to zero, and the score predicts the deviance drop', async (t) => {
  const n = 400;
  const gauss = (c: number, s: number): Float64Array => Float64Array.from({ length: n }, (_, i) => Math.exp(-0.5 * ((i - c) / s) ** 2) / (s * Math.sqrt(2 * Math.PI)));
  const flat = new Float64Array(n).fill(1 / n);
  const cols = [makeColumn(flat), makeColumn(gauss(100, 5)), makeColumn(gauss(250, 8)), makeColumn(gauss(330, 6))];
  const truth = [40000, 3000, 1500, 0];
  const rng = mulberry32(9);
  const y = Float64Array.from({ length: n }, (_, i) => poisson(rng, cols.reduce((s, c, j) => s + truth[j] * c.values[i], 0)));
  const fit = poissonNnls(y, cols);
  t.ok(Math.abs(fit.x[0] - 40000) < 4 * Math.sqrt(40000) + 200, `background ${fit.x[0].toFixed(0)} ≈ 40000`);
  t.ok(Math.abs(fit.x[1] - 3000) < 250, `peak 1 ${fit.x[1].toFixed(0)} ≈ 3000`);
  t.ok(Math.abs(fit.x[2] - 1500) < 250, `peak 2 ${fit.x[2].toFixed(0)} ≈ 1500`);
  t.ok(fit.x[3] >= 0 && fit.x[3] < 150, `absent peak stays at ${fit.x[3].toFixed(1)} (>= 0)`);
  t.ok(Math.abs(fit.deviance - poissonDeviance(y, fit.mu)) < 1e-6 * fit.deviance, 'deviance from the log-likelihood equals the direct sum');
  t.ok(fit.deviance < n + 5 * Math.sqrt(2 * n), `deviance ${fit.deviance.toFixed(0)} is about the ${n} channels`);
  const without = poissonNnls(y, cols.slice(0, 2).concat(cols.slice(3)));
  const drop = without.deviance - fit.deviance;
  const score = scoreStatistic(y, without.mu, cols[2]);
  t.ok(drop > 100 && score > 0.8 * drop && score < 2 * drop, `score ${score.toFixed(0)} tracks the deviance drop ${drop.toFixed(0)}`);
});

t.test('templates are normalised and rebin onto any calibration without losing counts', async (t) => {
  const set = new FineTemplateSet({
    detector: NAI2,
    nuclides: ['Cs137', 'Am241'],
    shielding: [
      { id: 'none', layers: [] },
      { id: 'lead-1cm', layers: [{ material: 'lead', thickness_cm: 1 }] },
    ],
    maxEnergy_keV: 3200,
    fineWidth_keV: 1,
    airPath_m: 2,
    soil: {},
    minRelativeYield: 1e-4,
  });
  const ids = set.templates.map((x) => `${x.nuclide}/${x.variant}`);
  t.same(ids, ['Cs137/none', 'Cs137/lead-1cm', 'Am241/none'], 'Am-241 behind 1 cm of lead is dropped: nothing gets through');
  const cs = set.templates[0];
  t.ok(Math.abs(sum(cs.lines) - 1) < 1e-9, 'line template sums to 1');
  t.equal(cs.mainLines[0].energy_keV, 661.657, 'main line of Cs-137 is 662 keV');
  t.ok(set.templates[1].downscatter !== undefined && set.templates[1].relativeYield < 0.5, 'shielded variant has downscatter and a reduced yield');
  // Two calibrations over the same range: linear 3 keV/ch and quadratic with an offset.
  const cum = cumulative(cs.lines);
  const lin = Float64Array.from({ length: N_CH + 1 }, (_, i) => 3 * i);
  const quad = Float64Array.from({ length: N_CH + 1 }, (_, i) => 5 + 2.8 * i + 1.5e-4 * i * i);
  for (const [name, edges] of [['linear', lin], ['quadratic', quad]] as const) {
    const r = rebin(cum, 1, edges, 0, N_CH, 1);
    t.ok(Math.abs(sum(r) - (cum[Math.min(cum.length - 1, Math.floor(edges[N_CH]))] - cum[Math.ceil(edges[0])])) < 2e-3, `${name}: counts conserved`);
    // Largest channel above 100 keV (below, the Ba K x-rays make a narrower, taller peak).
    let peakCh = 40;
    for (let i = 40; i < N_CH; i++) if (r[i] > r[peakCh]) peakCh = i;
    const e = 0.5 * (edges[peakCh] + edges[peakCh + 1]);
    t.ok(Math.abs(e - 661.657) < 3, `${name}: peak at ${e.toFixed(1)} keV`);
  }
});

t.test('reduced grid: ≥ 95 % top-1 at 5,000 net counts, < 1 % false identifications on background, masking pairs, gain errors', async (t) => {
  const r = evaluateIdentification({
    detectors: ['NaI-2x2', 'NaI-2x4x16'],
    distances_m: [1, 5],
    netCounts: [1000, 5000],
    trialsAt5000: 1,
    trialsOther: 1,
    backgroundSpectra: 250,
    pairTrials: 2,
    gainErrors: [0.02],
    gainTrials: 1,
    robustnessTrials: 0,
    seed: 7,
  });
  t.ok(r.byLevel.find((l) => l.netCounts === 5000)!.spectra >= 200, `${r.byLevel[1].spectra} spectra at 5,000 net counts`);
  // A regression floor on the project's own simulator, not evidence (the leave-one-detector-out and measured-spectra
  // benches are). It was 95 % / 90 % with the 21-nuclide library and no line tests; with 36 nuclides and every
  // reported nuclide's lines checked as peaks, weak shielded sources (S/B about 1 %) come back as nothing and
  // plutonium on NaI as "possible SNM" rather than Pu-239: the price of no nuclide lists on real backgrounds.
  t.ok(r.accuracyAt5000 >= 0.85, `top-1 accuracy at 5,000 net counts ${(100 * r.accuracyAt5000).toFixed(1)} % (misses: ${r.failures.slice(0, 5).join('; ')})`);
  const at1000 = r.byLevel.find((l) => l.netCounts === 1000)!;
  t.ok(at1000.accuracy >= 0.78, `top-1 accuracy at 1,000 net counts ${(100 * at1000.accuracy).toFixed(1)} %`);
  t.ok(r.background.spectra === 500, '500 background-only spectra (half against a measured background)');
  t.ok(r.background.falseRate < 0.01, `false identifications on background only: ${r.background.withIdentification}/${r.background.spectra} ${JSON.stringify(r.background.byNuclide)}`);
  t.ok(r.pairs.spectra === 32 && r.pairs.rate >= 0.9, `medical over SNM, both reported in ${r.pairs.bothReported}/${r.pairs.spectra} (${r.pairs.misses.slice(0, 3).join('; ')})`);
  t.ok(r.gain.accuracy >= 0.9, `2 % gain error: ${r.gain.correctTop1}/${r.gain.spectra} top-1 (${r.gain.misses.join('; ')})`);
  t.ok(r.confusionRows.length === 2 + nuclideIds().length && r.confusionRows[0].startsWith('| nuclide'), `confusion table rows for the README: header, rule and ${nuclideIds().length} nuclides`);
  t.ok(r.outOfReach.every((c) => c.signalToBackground < 0.01), 'cells left out are those below 1 % of the background rate');
  t.ok(r.timing.length === 2 && r.timing.every((x) => x.cpuMedian_ms > 0 && x.spectra > 100), 'timings measured per detector');
});

t.test('result shape: most confident first, category from the library, net counts, empty on background', async (t) => {
  const rng = mulberry32(21);
  const s = spectrum(rng, [{ rate: sourceRate('Cs137', 2), counts: 5000 }]);
  const r = identifier.identify({ counts: s.counts, liveTime_s: s.live, keVPerChannel: KEV });
  t.equal(r.nuclides.length, 1, `one nuclide: ${r.nuclides.map((n) => n.nuclide).join(', ')}`);
  const cs = r.nuclides[0];
  t.match(cs, { nuclide: 'Cs137', label: 'Cs-137', category: 'industrial' });
  t.ok(cs.peaks_keV.some((e) => Math.abs(e - 662) < 10), `the 662 keV peak is listed as confirmed: ${cs.peaks_keV.join(', ')}`);
  // Calibrated (identify/confidence.ts): the top of the map, what a raw score of 1.00 is worth.
  t.ok(cs.confidence >= calibratedConfidence(1) - 1e-4 && cs.confidence <= 1, `confidence ${cs.confidence}`);
  t.ok(Math.abs(cs.netCounts - 5000) < 4 * cs.netCountsSigma + 250, `net counts ${cs.netCounts} ± ${cs.netCountsSigma} ≈ 5000`);
  t.ok(cs.netCountsSigma > 50 && cs.netCountsSigma < 500, `net count error ${cs.netCountsSigma} is of the Poisson size`);
  t.equal(r.category, 'industrial');
  t.equal(r.unexplainedPeaks.length, 0, 'nothing unexplained');
  t.ok(JSON.parse(JSON.stringify(r)).nuclides[0].nuclide === 'Cs137', 'plain JSON for the CLI');

  const bgOnly = spectrum(rng, [{ rate: new Float64Array(N_CH) }], 120);
  const rb = identifier.identify({ counts: bgOnly.counts, liveTime_s: 120, keVPerChannel: KEV });
  t.same(rb.nuclides, [], 'background only: no nuclide');
  t.equal(rb.category, undefined, 'and no category');
  t.ok(Math.abs(rb.background.counts - sum(bgOnly.counts.subarray(10, 967))) < 0.05 * rb.background.counts, 'background fitted to the gross counts');

  const zero = identifier.identify({ counts: new Float64Array(N_CH), liveTime_s: 1, keVPerChannel: KEV });
  t.same(zero.nuclides, [], 'an empty spectrum identifies nothing');
});

t.test('NORM nuisance: K-40 (fertiliser) and Th-232 (ceramics) are named NORM, and a mix of both is resolved', async (t) => {
  const rng = mulberry32(5);
  for (const id of ['K40', 'Th232', 'Ra226']) {
    const s = spectrum(rng, [{ rate: sourceRate(id, 2, [{ material: 'steel', thickness_cm: 0.5 }]), counts: 5000 }]);
    const r = identifier.identify({ counts: s.counts, liveTime_s: s.live, keVPerChannel: KEV });
    t.equal(r.nuclides[0]?.nuclide, id, `${id} first`);
    t.equal(r.category, 'NORM', `${id}: category NORM`);
  }
  const mix = spectrum(rng, [{ rate: sourceRate('K40', 2), counts: 6000 }, { rate: sourceRate('Th232', 2), counts: 6000 }]);
  const rm = identifier.identify({ counts: mix.counts, liveTime_s: mix.live, keVPerChannel: KEV });
  t.same(rm.nuclides.map((n) => n.nuclide).sort(), ['K40', 'Th232'], 'K-40 and Th-232 both reported');
});

t.test('masking: Tc-99m four times stronger over U-235, and I-131 over Pu-239 behind 2 cm steel, report both', async (t) => {
  const rng = mulberry32(77);
  const cases: [string, string, { material: string; thickness_cm: number }[]][] = [
    ['Tc99m', 'U235', []],
    ['I131', 'Pu239', [{ material: 'steel', thickness_cm: 2 }]],
  ];
  for (const [med, snm, shield] of cases) {
    const s = spectrum(rng, [{ rate: sourceRate(snm, 2, shield), counts: 5000 }, { rate: sourceRate(med, 2), counts: 20000 }]);
    const r = identifier.identify({ counts: s.counts, liveTime_s: s.live, keVPerChannel: KEV });
    const ids = r.nuclides.map((n) => n.nuclide);
    t.equal(r.nuclides.find((n) => n.nuclide === med)?.category, 'medical', `${med} reported as medical (${ids.join(', ')})`);
    if (snm === 'Pu239') {
      // Plutonium's 375/414 keV are one bump on a NaI: never confirmed there, but not masked either.
      t.notOk(ids.includes(snm), 'Pu-239 is not confirmed on a NaI');
      t.match(r.unknown?.reason ?? '', /possible SNM, measure with a high-resolution detector/, `${med} over ${snm}: possible SNM (${r.unknown?.reason})`);
      t.ok(r.rejected?.some((x) => x.nuclide === snm && x.kind === 'snm-not-confirmed'), 'listed as not confirmed');
    } else {
      t.ok(ids.includes(snm), `${med} over ${snm}: ${ids.join(', ')}`);
      t.equal(r.category, 'SNM', 'the most severe category is SNM');
      t.equal(r.nuclides.find((n) => n.nuclide === snm)?.category, 'SNM');
    }
  }
});

t.test('gain error of 2 % and a non-linear calibration with an offset', async (t) => {
  const rng = mulberry32(31);
  const src = sourceRate('Co60', 1);
  const live = 5000 / sum(src);
  const shifted = applyGain(src, 1.02).map((v, i) => v + applyGain(BG, 1.02)[i]);
  const counts = shifted.map((v) => poisson(rng, v * live));
  const r = identifier.identify({ counts, liveTime_s: live, keVPerChannel: KEV });
  t.equal(r.nuclides[0]?.nuclide, 'Co60');
  t.ok(Math.abs(r.gain - 1 / 1.02) < 0.004, `fitted gain ${r.gain} ≈ 1/1.02`);

  // The same physics seen through a calibration E = 8 + 2.9·ch + 1e-4·ch² with a deviation pair.
  const cal = { coefficients: [8, 2.9, 1e-4], deviationPairs: [[0, 0], [1000, 2], [3000, 0]] as [number, number][] };
  const ba = sourceRate('Ba133', 2);
  const bLive = 5000 / sum(ba);
  const expected = rebinCounts(ba.map((v, i) => (v + BG[i]) * bLive), { coefficients: [0, KEV] }, cal);
  const rb = identifier.identify({ counts: expected.map((m) => poisson(rng, m)), liveTime_s: bLive, calibration: cal });
  t.equal(rb.nuclides[0]?.nuclide, 'Ba133', `Ba-133 through a quadratic calibration: ${rb.nuclides.map((n) => n.nuclide).join(', ')}`);
  t.ok(Math.abs(rb.gain - 1) < 0.005, `no gain correction needed (${rb.gain})`);
});

t.test('measured background: scaled by live time, NORM in it is not reported, a source on top is', async (t) => {
  const rng = mulberry32(41);
  const soil = { K_pct: 3, U_ppm: 1.5, Th_ppm: 14 };
  const site = naturalBackgroundRate(NAI2, { nChannels: N_CH, keVPerChannel: KEV, height_m: 1, ...soil });
  const measured = { counts: site.map((v) => poisson(rng, v * 900)), liveTime_s: 900 };
  const fg = site.map((v) => poisson(rng, v * 300));
  const r = identifier.identify({ counts: fg, liveTime_s: 300, keVPerChannel: KEV }, { background: measured });
  t.same(r.nuclides, [], `site background, richer in K and Th than the model: nothing (${r.nuclides.map((n) => n.nuclide).join(', ')})`);
  t.equal(r.background.source, 'measured');
  // Within 5 %: the continuum and scatter parts beside the measured background take a few per cent of its counts.
  t.ok(Math.abs((r.background.scale ?? 0) - 1) < 0.05, `background scale ${r.background.scale} ≈ 1`);
  const ir = sourceRate('Ir192', 3, [{ material: 'steel', thickness_cm: 2 }]);
  const live = 3000 / sum(ir);
  const fg2 = site.map((v, i) => poisson(rng, (v + ir[i]) * live));
  const r2 = identifier.identify({ counts: fg2, liveTime_s: live, keVPerChannel: KEV }, { background: measured });
  t.same(r2.nuclides.map((n) => n.nuclide), ['Ir192'], 'Ir-192 over the measured background');
});

t.test('a nuclide outside the library leaves a named unexplained peak', async (t) => {
  const rng = mulberry32(51);
  const noCs = new NuclideIdentifier({ detector: NAI2, nuclides: ['Co60', 'Am241', 'Ba133', 'K40', 'Th232', 'Ra226', 'I131'], shielding: [{ id: 'none', layers: [] }] });
  const s = spectrum(rng, [{ rate: sourceRate('Cs137', 1), counts: 20000 }]);
  const r = noCs.identify({ counts: s.counts, liveTime_s: s.live, keVPerChannel: KEV });
  const p662 = r.unexplainedPeaks.find((p) => Math.abs(p.energy_keV - 662) < 15);
  t.ok(p662 !== undefined, `unexplained peak near 662 keV: ${JSON.stringify(r.unexplainedPeaks)}`);
  t.ok(p662 !== undefined && p662.significance >= 5 && p662.netCounts > 1000, 'significant, with net counts');
  t.same(p662?.candidates, ['Ra226'], 'names the library nuclides with a line within half a FWHM: Bi-214 665 keV of Ra-226 (I-131 637 keV is 25 keV away, FWHM/2 is 23)');
});

t.test('bad input is rejected with the field and what was expected', async (t) => {
  const good = new Float64Array(N_CH).fill(3);
  t.throws(() => identifier.identify({ counts: good.map((v, i) => (i === 17 ? -1 : v)), liveTime_s: 1, keVPerChannel: KEV }), { name: 'InputError', message: /counts\[17\]: expected a finite count >= 0, got -1/ });
  t.throws(() => identifier.identify({ counts: good, liveTime_s: 0, keVPerChannel: KEV }), { message: /liveTime_s: expected a finite time > 0/ });
  t.throws(() => identifier.identify({ counts: good, liveTime_s: 1 }), InputError, 'no calibration');
  t.throws(() => identifier.identify({ counts: good, liveTime_s: 1, calibration: { coefficients: [0, 0] } }), CalibrationError);
  t.throws(() => identifier.identify({ counts: good, liveTime_s: 1, calibration: { coefficients: [0, 0.01] } }), { message: /only \d+ channels fall between 30 and/ });
  t.throws(() => identifier.identify({ counts: good, liveTime_s: 1, keVPerChannel: KEV }, { background: { counts: new Float64Array(10), liveTime_s: 1 } }), {
    message: /background.counts: expected 1024 channels/,
  });
  t.throws(() => identifyNuclides({ counts: good, liveTime_s: 1, keVPerChannel: KEV }, { detector: NAI2, nuclides: ['Xx99'] }), { code: 'E_UNKNOWN_NUCLIDE' });
  t.equal(getNuclide('Cs137').category, 'industrial');
});
