// Calibration analyses (efficiency against a hand computation, resolution, dose factor, daily check), signed records
// and the node-side store's acceptance rules, the X-ray flat field and the CLI's errors.
import t from 'tap';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { erf } from '../../analysis/radiation/peaks.js';
import { DETECTORS, fieldResponseSpectrum, hStar10PerFluence_pSv_cm2 } from '../../analysis/radiation/dose.js';
import { getNuclide } from '../../analysis/radiation/nuclides.js';
import { mulberry32, poisson } from '../../analysis/radiation/sim/scene.js';
import { rebin } from '../../analysis/radiation/calibration.js';
import { doseFactor, efficiency, fitResolution, sourceCheck } from '../../analysis/radiation/calibrate/analyses.js';
import { calibrateEnergy, energyCalibrationOf } from '../../analysis/radiation/calibrate/energy.js';
import { simulateCheckSource } from '../../analysis/radiation/calibrate/simulate.js';
import { acceptanceProblem, newRecord, parseRecord, signRecord, verifyRecord, versionLabel } from '../../protocol/calibration-record.js';
import { runCli } from '../../calibration/cli.js';
import { CalibrationStore } from '../../edge/runtime/calibration-store.js';
import { type Commands } from '../../contract/component.js';
import { createComponent } from '../../contract/registry.js';
import { registerPipelines } from '../../edge/pipelines/index.js';
import { generateSigningKey } from '../../protocol/index.js';
import { encodePng16, readImage16 } from '../../edge/xray/image-io.js';
import { deviceContext } from '../helpers/device-context.js';
import { tempDir } from '../harness/services.js';

const YEAR_s = 365.2422 * 86400;

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

t.test('efficiency with decay correction matches a hand computation', async (t) => {
  // 3 keV per channel, flat background of 40 counts per channel, a Cs-137 peak of exactly 50 000 counts (σ 7 ch).
  const N = 1024;
  const mu = 661.657 / 3;
  const sigma = 7;
  const area = 50_000;
  const rng = mulberry32(4);
  const counts = Float64Array.from({ length: N }, (_, i) => {
    const frac = 0.5 * (erf((i + 1 - mu) / (Math.SQRT2 * sigma)) - erf((i - mu) / (Math.SQRT2 * sigma)));
    return poisson(rng, 40 + area * frac);
  });
  const r = efficiency({
    counts,
    liveTime_s: 600,
    calibration: { coefficients: [0, 3] },
    source: 'Cs137',
    activity_Bq: 1e5,
    referenceDate: '2016-01-01T00:00:00Z',
    measurementDate: '2026-01-01T00:00:00Z',
    distance_m: 0.25,
  });
  // By hand: 3653 days of decay with T½ = 30.05 a; 85.1 % photons per decay at 661.657 keV.
  const elapsed_s = 3653 * 86400;
  const A = 1e5 * Math.exp((-Math.LN2 * elapsed_s) / (30.05 * YEAR_s));
  const hand = area / (600 * A * 0.851);
  t.equal(r.lines.length, 1, 'one line above 5 %');
  t.ok(Math.abs(r.decayFactor - A / 1e5) < 1e-9, `decay factor ${r.decayFactor.toFixed(5)}`);
  const got = r.lines[0]!.efficiency;
  t.ok(Math.abs(got / hand - 1) < 0.02, `efficiency ${got.toExponential(4)} vs hand ${hand.toExponential(4)}`);
  t.ok(r.lines[0]!.efficiencySigma / got < 0.02 && r.lines[0]!.efficiencySigma > 0, 'with its counting uncertainty');
  t.throws(() => efficiency({ counts, liveTime_s: 600, calibration: { coefficients: [0, 3] }, source: 'Cs137', activity_Bq: 1e5, referenceDate: '2027-01-01', measurementDate: '2026-01-01', distance_m: 0.25 }), /before the source's reference date/);
  t.throws(() => efficiency({ counts, liveTime_s: 600, calibration: { coefficients: [0, 3] }, source: 'Cs137', activity_Bq: 1e5, referenceDate: '1st of May', measurementDate: '2026-01-01', distance_m: 0.25 }), /--reference-date: expected an ISO 8601 date/);
  t.throws(() => efficiency({ counts, liveTime_s: 600, calibration: { coefficients: [0, 3] }, source: 'Co60', activity_Bq: 1e5, referenceDate: '2016-01-01', measurementDate: '2026-01-01', distance_m: 0.25 }), { name: 'CalibrationRefused', message: /Co-60: none of its lines/ }, 'a spectrum without the source\'s peaks');
});

t.test('resolution, dose factor and the daily check on simulated spectra', async (t) => {
  const truth = { coefficients: [-8, 2.6, 1.5e-4] };
  const sources = ['Am241', 'Cs137', 'Co60'];
  const { counts } = simulateCheckSource({ sources: sources.map((n) => ({ nuclide: n, activity_Bq: 3.7e5 })), calibration: truth, nChannels: 1024, liveTime_s: 3600, seed: 3 });
  const e = calibrateEnergy(counts, { sources });
  const res = fitResolution(e.peaks.map((p) => ({ energy_keV: p.energy_keV, fwhm_keV: p.fwhm_keV, fwhmSigma_keV: p.fwhmSigma_keV })));
  t.ok(Math.abs(res.relativeAt662 / 0.07 - 1) < 0.03, `FWHM ${(res.relativeAt662 * 100).toFixed(2)} % at 662 keV (the simulated NaI-3x3 has 7 %)`);
  t.throws(() => fitResolution([{ energy_keV: 662, fwhm_keV: 400, fwhmSigma_keV: 1 }]), /implausible/);

  // Dose factor: a Cs-137 field whose H*(10) is known from the fluence (ICRP 74); the model's G(E) should give ~1.
  const det = DETECTORS['NaI-3x3']!;
  const lines = getNuclide('Cs137').lines.map((l) => ({ energy_keV: l.energy_keV, fluenceRate_cm2_s: (1e6 * l.intensity) / (4 * Math.PI * 100 * 100) }));
  const rate = fieldResponseSpectrum({ detector: det, lines, nChannels: 3000, keVPerChannel: 1 });
  const spec = rebin(rate, { coefficients: [0, 1] }, { coefficients: [0, 3] }, { nChannels: 1024 });
  const rng = mulberry32(8);
  const field = Float64Array.from(spec, (m) => poisson(rng, m * 300));
  const reference = lines.reduce((s, l) => s + l.fluenceRate_cm2_s * hStar10PerFluence_pSv_cm2(l.energy_keV), 0) * 3600 * 1e-6;
  const df = doseFactor({ counts: field, liveTime_s: 300, calibration: { coefficients: [0, 3] }, model: 'NaI-3x3', reference_uSv_h: reference });
  t.ok(df.factor > 0.85 && df.factor < 1.15, `dose factor ${df.factor.toFixed(3)} ± ${df.factorSigma.toFixed(3)} for the model's own detector (reference ${reference.toFixed(3)} µSv/h)`);
  const df2 = doseFactor({ counts: field, liveTime_s: 300, calibration: { coefficients: [0, 3] }, model: 'NaI-3x3', reference_uSv_h: reference * 1.5 });
  t.ok(Math.abs(df2.factor / df.factor - 1.5) < 1e-9, 'scales with the reference');
  t.throws(() => doseFactor({ counts: field, liveTime_s: 300, calibration: { coefficients: [0, 3] }, model: 'NaI-3x3', reference_uSv_h: reference * 100 }), /implausible/);
  t.throws(() => doseFactor({ counts: field, liveTime_s: 300, calibration: { coefficients: [0, 3] }, model: 'NaI-9x9', reference_uSv_h: 1 }), /unknown detector model "NaI-9x9", expected one of/);

  // Daily check: the same detector passes; after a 3 % gain drift it fails with the numbers.
  const stored = { energy: energyCalibrationOf(e), resolution: { a: res.a, b: res.b, c: res.c } };
  const today = simulateCheckSource({ sources: ['Cs137', 'Co60'].map((n) => ({ nuclide: n, activity_Bq: 3.7e5 })), calibration: truth, nChannels: 1024, liveTime_s: 600, seed: 4 });
  const ok = sourceCheck({ counts: today.counts, liveTime_s: 600, stored, sources: ['Cs137', 'Co60'] });
  t.equal(ok.pass, true, `pass: ${ok.problems.join('; ')}`);
  t.ok(ok.lines.every((l) => Math.abs(l.drift_pct) < 0.3 && l.fwhmRatio! < 1.1), 'drift and FWHM numbers reported');
  const drifted = { coefficients: truth.coefficients.map((c, k) => c / 1.03 ** k) };
  const bad = simulateCheckSource({ sources: ['Cs137', 'Co60'].map((n) => ({ nuclide: n, activity_Bq: 3.7e5 })), calibration: drifted, nChannels: 1024, liveTime_s: 600, seed: 5 });
  const fail = sourceCheck({ counts: bad.counts, liveTime_s: 600, stored, sources: ['Cs137', 'Co60'] });
  t.equal(fail.pass, false);
  t.match(fail.problems.join('\n'), /Cs-137 661\.7 keV: drift [23]\.\d+ % exceeds ±1\.00 %/, `fail names the drift: ${fail.problems[0]}`);
});

t.test('records: signature, shape, validity, version and rollback rules', async (t) => {
  const k = generateSigningKey();
  const other = generateSigningKey();
  const now = Date.UTC(2026, 0, 10);
  const r1 = newRecord({ detector: 'det-a', version: 1, method: ['energy'], inputs: [], results: { energy: { coefficients: [0, 3] } }, technician: 'T', now_ms: now });
  const env = signRecord(r1, k.privateKeyPem, 'tech');
  t.same(verifyRecord(env, { tech: k.publicKeyPem }), r1, 'verifies with the trusted key');
  t.throws(() => verifyRecord(env, { tech: other.publicKeyPem }), { name: 'SignatureError', message: /does not match/ });
  t.throws(() => verifyRecord(env, { someone: k.publicKeyPem }), { message: /key "tech", which this node does not trust \(trusted: someone\)/ });
  const tampered = structuredClone(env);
  tampered.payload.results.energy!.coefficients[1] = 3.3;
  t.throws(() => verifyRecord(tampered, { tech: k.publicKeyPem }), /does not match the payload/);
  t.throws(() => parseRecord({ ...r1, version: 0 }), { name: 'RecordError', message: /record\/version: must be >= 1/ });
  t.throws(() => parseRecord({ ...r1, validUntil: r1.validFrom }), /validUntil: expected after validFrom/);
  t.equal(versionLabel(r1), 'det-a@1');
  const r2 = { ...r1, version: 2, id: 'det-a@2' };
  t.equal(acceptanceProblem(r1, { detectors: ['det-a'], now_ms: now }), undefined, 'first record accepted');
  t.match(acceptanceProblem(r1, { detectors: ['det-b'], now_ms: now }), /detector "det-a" is not on this node \(expected one of det-b\)/);
  t.match(acceptanceProblem(r1, { now_ms: now + 400 * 86_400_000 }), /expired at/);
  t.match(acceptanceProblem(r1, { now_ms: now - 86_400_000 }), /not valid before/);
  t.match(acceptanceProblem(r1, { active: r2, maxSeen: 2, now_ms: now }), /version 1 of det-a is not newer than 2/);
  t.equal(acceptanceProblem(r2, { active: r1, maxSeen: 1, now_ms: now }), undefined);
  const rb = { ...r1, id: 'rb', rollback: { fromVersion: 2 } };
  t.equal(acceptanceProblem(rb, { active: r2, maxSeen: 2, now_ms: now }), undefined, 'rollback from the active version');
  t.match(acceptanceProblem(rb, { active: { ...r2, version: 3 }, maxSeen: 3, now_ms: now }), /active version of det-a is 3/, 'a stale rollback is refused');
  t.match(acceptanceProblem(r2, { active: rb, maxSeen: 2, now_ms: now }), /not newer than 2/, 'after a rollback the replaced version cannot return');
});

t.test('node store: applies, persists atomically, survives a restart, refuses with a reason and applies nothing', async (t) => {
  const k = generateSigningKey();
  const dir = tempDir('calib-store');
  const spec = { name: 'calib', type: 'calibration', options: { trustedKeys: { tech: k.publicKeyPem }, dir, detectors: ['det-a'] } };
  registerPipelines();
  const comp = await createComponent(spec);
  t.ok(comp instanceof CalibrationStore, 'registry type "calibration"');
  const dc = deviceContext();
  const commands = new EventEmitter<Commands>();
  const ctx = { ...dc.ctx, commands };
  await comp.start(ctx);
  t.teardown(() => comp.stop());
  const rec = newRecord({ detector: 'det-a', version: 1, method: ['energy'], inputs: [], results: { energy: { coefficients: [1, 3] }, doseFactor: 1.1 }, technician: 'T', now_ms: Date.now() });
  const send = async (v: unknown): Promise<void> => {
    commands.emit('calibration', Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)), 'customs/v1/test/veh-01/cmd/calibration');
    await new Promise((r) => setTimeout(r, 50));
  };
  await send(signRecord(rec, k.privateKeyPem, 'tech'));
  t.match(dc.emitted.at(-1), { kind: 'ack', body: { cmd: 'calibration', cmdId: rec.id, ok: true } });
  t.same(comp.versions!().calibration, { 'det-a': 'det-a@1' });
  t.match(dc.published.calibration.at(-1), { detector: 'det-a', version: 'det-a@1', energy: { coefficients: [1, 3] }, doseFactor: 1.1 }, 'emitted on the bus');
  t.ok(existsSync(join(dir, 'det-a.json')) && !existsSync(join(dir, 'det-a.json.tmp')), 'persisted (tmp renamed)');
  await send('not json');
  t.match(dc.emitted.at(-1), { body: { ok: false, reason: /expected a JSON signed envelope/ } });
  const wrongDet = newRecord({ detector: 'det-z', version: 4, method: ['energy'], inputs: [], results: {}, technician: 'T', now_ms: Date.now() });
  await send(signRecord(wrongDet, k.privateKeyPem, 'tech'));
  t.match(dc.emitted.at(-1), { body: { ok: false, reason: /detector "det-z" is not on this node/ } }, 'mismatched detector refused');
  await send({ payload: rec });
  t.match(dc.emitted.at(-1), { body: { ok: false, reason: /not signed/ } });
  t.same(comp.versions!().calibration, { 'det-a': 'det-a@1' }, 'nothing refused was applied');
  await comp.stop();
  // Restart: loaded from disk and announced; a record file whose key is no longer trusted is ignored.
  const dc2 = deviceContext();
  const comp2 = new CalibrationStore(spec);
  await comp2.start({ ...dc2.ctx, commands: new EventEmitter<Commands>() });
  t.same(comp2.versions().calibration, { 'det-a': 'det-a@1' }, 'survives a restart');
  t.match(dc2.published.calibration[0], { version: 'det-a@1' }, 're-emitted on start');
  await comp2.stop();
  const comp3 = new CalibrationStore({ ...spec, options: { ...spec.options, trustedKeys: { other: generateSigningKey().publicKeyPem } } });
  await comp3.start({ ...deviceContext().ctx, commands: new EventEmitter<Commands>() });
  t.same(comp3.versions().calibration, {}, 'a stored record no trusted key vouches for is not used');
  await comp3.stop();
});

t.test('xray flat-field: averaged 16-bit references, refusals name the file', async (t) => {
  const dir = tempDir('calib-xray');
  const W = 64;
  const H = 16;
  const frame = async (name: string, level: number, seed: number): Promise<string> => {
    const rng = mulberry32(seed);
    const data = Uint16Array.from({ length: W * H }, () => Math.round(level + (rng() - 0.5) * 20));
    const f = join(dir, name);
    writeFileSync(f, await encodePng16({ width: W, height: H, data }));
    return f;
  };
  mkdirSync(join(dir, 'dark'));
  mkdirSync(join(dir, 'open'));
  for (let i = 0; i < 4; i++) {
    await frame(`dark/d${i}.png`, 1000, i);
    await frame(`open/o${i}.png`, 40000, 10 + i);
  }
  const r = await cli(['xray', 'flat-field', join(dir, 'dark'), join(dir, 'open'), '--detector', 'xray-high', '--out', join(dir, 'ref'), '--json']);
  t.equal(r.code, 0, r.err);
  const dark = await readImage16(join(dir, 'ref', 'dark.png'));
  const open = await readImage16(join(dir, 'ref', 'open.png'));
  const mean = (a: Uint16Array): number => a.reduce((s, v) => s + v, 0) / a.length;
  t.ok(Math.abs(mean(dark.data) - 1000) < 2 && Math.abs(mean(open.data) - 40000) < 2, `dark ${mean(dark.data).toFixed(1)}, open ${mean(open.data).toFixed(1)}`);
  t.match(JSON.parse(r.out), { kind: 'xray-flat-field', detector: 'xray-high', results: { xray: { width: W, height: H, deadPixels: 0 } }, frames: { dark: 4, open: 4 } });
  const swapped = await cli(['xray', 'flat-field', join(dir, 'open'), join(dir, 'dark'), '--detector', 'xray-high', '--out', join(dir, 'ref2')]);
  t.equal(swapped.code, 1);
  t.match(swapped.err, /not clearly above the dark mean.*swapped/);
  const small = join(dir, 'small.png');
  writeFileSync(small, await encodePng16({ width: 8, height: 8, data: new Uint16Array(64) }));
  const mism = await cli(['xray', 'flat-field', small, join(dir, 'open'), '--detector', 'xray-high', '--out', join(dir, 'ref3')]);
  t.equal(mism.code, 1);
  t.match(mism.err, /open-beam frames are 64 x 16, dark frames 8 x 8/);
});

t.test('CLI: energy --json shape, errors name the file and exit non-zero', async (t) => {
  const dir = tempDir('calib-cli');
  const { counts } = simulateCheckSource({ sources: ['Cs137', 'Co60'].map((n) => ({ nuclide: n, activity_Bq: 3.7e5 })), calibration: { coefficients: [0, 3] }, nChannels: 1024, liveTime_s: 600, seed: 1 });
  const csv = join(dir, 'check.csv');
  writeFileSync(csv, `channel,counts\n${Array.from(counts, (c, i) => `${i},${c}`).join('\n')}\n`);
  const r = await cli(['energy', csv, '--source', 'Cs137', '--source', 'Co60', '--detector', 'det-a', '--json', '--out', join(dir, 'e.json'), '--plot', join(dir, 'e.png')]);
  t.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out) as { coefficients: number[]; peaks: { energy_keV: number; channel: number; residual_keV: number }[]; detector: string };
  t.equal(j.coefficients.length, 3, 'coefficients [c0, c1, c2]');
  t.ok(Math.abs(j.coefficients[1]! - 3) < 0.02, `gain ${j.coefficients[1]}`);
  t.same(j.peaks.map((p) => Math.round(p.energy_keV)), [662, 1173, 1332]);
  t.ok(readFileSync(join(dir, 'e.png')).subarray(1, 4).toString() === 'PNG', 'plot written as PNG');
  const missing = await cli(['energy', join(dir, 'nope.n42'), '--source', 'Cs137']);
  t.equal(missing.code, 1);
  t.match(missing.err, /nope\.n42/);
  const wrong = await cli(['energy', csv, '--source', 'Ba133']);
  t.equal(wrong.code, 1);
  t.match(wrong.err, /check\.csv: .*Ba-133/, 'refusal names the file and the source');
  const unknown = await cli(['energy', csv, '--source', 'Xx1']);
  t.match(unknown.err, /unknown nuclide 'Xx1': expected one of/);
  // One record per detector: results of two detectors do not mix.
  const k = await cli(['keygen', '--technician', 'Pat', '--out', join(dir, 'keys')]);
  t.equal(k.code, 0);
  const other = JSON.parse(readFileSync(join(dir, 'e.json'), 'utf8')) as { detector: string };
  other.detector = 'det-b';
  writeFileSync(join(dir, 'e-b.json'), JSON.stringify(other));
  const s = await cli(['sign', join(dir, 'e.json'), join(dir, 'e-b.json'), '--key', join(dir, 'keys', 'pat.key'), '--record-version', '1', '--out', join(dir, 'r.json')]);
  t.equal(s.code, 1);
  t.match(s.err, /e-b\.json: result of detector "det-b", expected "det-a"/, 'mismatched detectors refused');
  t.notOk(existsSync(join(dir, 'r.json')), 'nothing signed');
  const nov = await cli(['sign', join(dir, 'e.json'), '--key', join(dir, 'keys', 'pat.key'), '--out', join(dir, 'r.json')]);
  t.match(nov.err, /--record-version: required unless --node/);
  const help = await cli(['energy', '--help']);
  t.match(help.out, /--source <nuclide>/);
});
