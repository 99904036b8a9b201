// npm run bench: every speed and memory figure of the project, measured in one run on this machine.
import { cpus, totalmem } from 'node:os';
import { benchOutbox } from './outbox.js';

const quick = process.argv.includes('--quick');
// Sections: spine (edge outbox, aggregator ingest), rad (radiation chain), and those whose module follows the
// `bench<Area>(opts, report)` convention (below). `--only a,b` runs some; all by default.
const MODULES: Record<string, [file: string, fn: string]> = {
  localize: ['./localize.js', 'benchLocalize'],
  guidance: ['./guidance.js', 'benchGuidance'],
  dp5: ['./dp5.js', 'benchDp5'],
  calibration: ['./calibration.js', 'benchCalibration'],
  xray: ['./xray.js', 'benchXray'],
  camera: ['./camera.js', 'benchCamera'],
  'camera-mot': ['./camera-mot.js', 'benchCameraMot'],
  'rad-measured': ['./rad-measured.js', 'benchRadMeasured'],
};
const SECTIONS = ['spine', 'rad', ...Object.keys(MODULES)];
const onlyAt = process.argv.indexOf('--only');
const only = onlyAt > 0 ? (process.argv[onlyAt + 1] ?? '').split(',') : SECTIONS;
const unknown = only.filter((o) => !SECTIONS.includes(o));
if (unknown.length || only.length === 0) {
  process.stderr.write(`bench: --only expects a comma-separated list of ${SECTIONS.join(', ')}; got "${unknown.join(',')}"\n`);
  process.exit(2);
}
const runSpine = only.includes('spine');
const runRad = only.includes('rad');
const rows: [string, string][] = [];
const report = (name: string, value: string) => {
  rows.push([name, value]);
  process.stdout.write(`${name.padEnd(64)} ${value}\n`);
};

process.stdout.write(`# customs bench on ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}\n`);

for (const fsync of runSpine ? (['always', 'interval', 'never'] as const) : []) {
  const r = await benchOutbox({ messages: quick ? 5_000 : 40_000, fsync });
  report(`edge outbox -> mosquitto publish rate, fsync=${fsync} (msg/s, ${r.bytesPerMessage} B)`, r.msg_s.toFixed(0));
}

if (runSpine) try {
  const { benchIngest } = await import('./ingest.js');
  const r = await benchIngest({ messages: quick ? 20_000 : 200_000 });
  report('aggregator end-to-end ingest mqtt -> influxdb (msg/s)', r.endToEnd_msg_s.toFixed(0));
  report('direct write of the same points to influxdb, ceiling (msg/s)', r.direct_points_s.toFixed(0));
  report('end-to-end / ceiling', (r.endToEnd_msg_s / r.direct_points_s).toFixed(2));
  report('p99 latency edge publish -> queryable at 1,000 msg/s (ms)', r.p99_latency_ms_at_1000.toFixed(0));
  const c = r.cpu_pct;
  report(
    `CPU during end-to-end, % of one core (${c.cores} cores)`,
    `mosquitto ${c.mosquitto}, influxd ${c.influxd}, aggregator ${c.aggregator}, publishers ${c.publishers}`,
  );
} catch (e) {
  report('aggregator ingest bench', `not run: ${(e as Error).message}`);
}
// Radiation chain (issue 3).
if (runRad) {
  // Headline: leave-one-detector-out (templates of one detector, spectra through another's DRF, background of a third).
  try {
    const { evaluateLodo, reliabilityRows } = await import('./identify-lodo.js');
    const { refDataDir } = await import('./identify-lodo-data.js');
    const l = evaluateLodo({ quick, drfDir: refDataDir('drf') });
    report('identification, leave-one-detector-out: top-1 (2k/5k/20k net counts, shielded, other-detector background)', `${((100 * l.top1) / l.spectra).toFixed(1)} % of ${l.spectra}`);
    for (const [d, v] of Object.entries(l.byDetector)) report(`  LODO top-1, ${d}`, `${((100 * v.top1) / v.spectra).toFixed(1)} % of ${v.spectra}`);
    for (const [c, v] of Object.entries(l.byCategory)) report(`  LODO top-1, ${c}`, `${((100 * v.top1) / v.spectra).toFixed(1)} % of ${v.spectra}`);
    report('  LODO false SNM (spectra without SNM reporting one)', `${(100 * l.falseSnm.rate).toFixed(2)} % of ${l.falseSnm.spectra}${l.falseSnm.examples.length ? ` (${l.falseSnm.examples.slice(0, 3).join('; ')})` : ''}`);
    report('  LODO background spectra with a nuclide / unknown', `${l.background.withNuclide} / ${l.background.unknown} of ${l.background.spectra}`);
    report('  LODO identification wall ms per spectrum, median / p99', `${l.timing.median_ms} / ${l.timing.p99_ms}`);
    process.stdout.write(`\nLODO reliability (top-1 confidence vs right):\n${reliabilityRows(l).join('\n')}\n\n`);
  } catch (e) {
    report('identification, leave-one-detector-out', `not run: ${(e as Error).message}`);
  }
  const { benchIdentify, timeIdentification } = await import('./identify.js');
  for (const tm of timeIdentification({ spectra: quick ? 100 : 400 })) report(`identification per 1024-channel spectrum, alarm-like mix, ${tm.detector} (CPU ms, median / p99; template build CPU ms)`, `${tm.cpuMedian_ms.toFixed(2)} / ${tm.cpuP99_ms.toFixed(2)}; ${tm.buildCpu_ms}`);
  const { benchIdentifyConfidence, reliabilityMarkdown } = await import('./identify-confidence.js');
  const cf = benchIdentifyConfidence({ quick, outDir: 'out/bench' });
  report(`identification confidence, held-out detectors: ECE raw / calibrated (${cf.evaluation.calls} calls; diagram ${cf.svgPath})`, `${cf.raw.ece.toFixed(3)} / ${cf.calibratedShipped.ece.toFixed(3)}`);
  process.stdout.write(`\nreliability of the calibrated confidence, evaluation set:\n${reliabilityMarkdown(cf.calibratedShipped).join('\n')}\n\n`);
  const r = await benchIdentify({ quick });
  report('nuclide identification top-1 accuracy at 5,000 net counts', `${(100 * r.accuracyAt5000).toFixed(2)} % (${r.byLevel.find((l) => l.netCounts === 5000)?.spectra ?? '?'} spectra)`);
  report('false identifications on background-only spectra', `${(100 * r.background.falseRate).toFixed(2)} % of ${r.background.spectra}`);
  report('medical over SNM: both reported', `${(100 * r.pairs.rate).toFixed(1)} % of ${r.pairs.spectra}`);
  for (const tm of r.timing) report(`identification time per 1024-channel spectrum, ${tm.detector} (CPU ms, median / p99)`, `${tm.cpuMedian_ms.toFixed(2)} / ${tm.cpuP99_ms.toFixed(2)}`);
  if (!quick) {
    process.stdout.write('\nconfusion at 5,000 net counts (true | spectra | correct | top-1 confusions):\n');
    for (const row of r.confusionRows) process.stdout.write(`${row}\n`);
    process.stdout.write('\n');
  }
}
if (runRad) {
  const { benchAlarm } = await import('./radiation-alarm.js');
  const r = benchAlarm({ quick });
  for (const f of r.far) {
    report(`alarm FAR, configured ${f.configured_per_h}/h, ${f.hours} h of 8-detector 10 Hz background driving`, `${f.measured_per_h.toFixed(2)}/h (95 % ${f.ci95_per_h[0].toFixed(2)}-${f.ci95_per_h[1].toFixed(2)}; ${f.alarms} alarms)`);
  }
  for (const p of r.pd) {
    report(`alarm PD, ${p.nuclide} ${p.activity_uCi.toFixed(0)} uCi at ${p.distance_m} m, ${p.speed_km_h} km/h`, `${p.pd.toFixed(2)} (95 % ${p.ci95[0].toFixed(2)}-${p.ci95[1].toFixed(2)}, ${p.passes} passes)`);
  }
  for (const x of r.real) {
    if ('skipped' in x) report(`alarm FAR on real background ${x.data}`, `skipped: ${x.skipped}`);
    else report(`alarm FAR on real background ${x.data} (${x.licence}; ${x.how}), configured ${x.configured_per_h}/h, ${x.hours.toFixed(2)} h`, `${x.measured_per_h.toFixed(2)}/h (95 % ${x.ci95_per_h[0].toFixed(2)}-${x.ci95_per_h[1].toFixed(2)}; ${x.alarms} alarms)`);
  }
  const v = r.varying;
  report(`alarm FAR, soil +-30 % per element every 20-90 s, 8 logs at 4 Hz, ${v.far.hours.toFixed(2)} h, configured ${v.configured_per_h}/h`, `${v.far.measured_per_h.toFixed(2)}/h (95 % ${v.far.ci95_per_h[0].toFixed(2)}-${v.far.ci95_per_h[1].toFixed(2)}; ${v.far.alarms} alarms)`);
  for (const p of v.pd) report(`alarm PD on the same soil, ${p.nuclide} ${p.activity_uCi} uCi at ${p.distance_m} m, 5 km/h, background learnt from the drive`, `${p.pd.toFixed(2)} (95 % ${p.ci95[0].toFixed(2)}-${p.ci95[1].toFixed(2)}, ${p.passes} passes)`);
  report(`rad alarm CPU, 2 min of 8 detectors at 4 Hz (${r.speed.measurements} measurements), without / with identification`, `${r.speed.cpu_s.toFixed(2)} / ${r.speed.cpuWithIdentify_s.toFixed(2)} s`);
}
if (runRad) {
  const { benchRadChain } = await import('./rad-chain.js');
  const r = await benchRadChain({ seconds: quick ? 120 : 600 });
  report(`radiation chain, ${r.detectors} detectors at ${r.rate_hz} Hz, ${r.data_s} s of driving: times real time on one core`, `${r.timesRealTime.toFixed(0)}x (${r.cpu_s.toFixed(2)} s CPU, ${r.alarms} alarms)`);
}
if (runRad) {
  const { benchClassifier } = await import('./classifier.js');
  const r = await benchClassifier({ quick });
  report('ONNX nuclide classifier per spectrum, median / p99 (ms)', `${r.classifier.median_ms} / ${r.classifier.p99_ms}`);
  report('top-1 at 5,000 net counts on the same spectra, classifier / template fit', `${r.classifier.top1Accuracy} / ${r.identify?.top1Accuracy ?? 'n/a'}`);
  report('background-only false identifications, classifier / template fit', `${r.classifier.backgroundFalseIdRate} / ${r.identify?.backgroundFalseIdRate ?? 'n/a'}`);
}
for (const [area, [file, fn]] of Object.entries(MODULES)) {
  if (!only.includes(area)) continue;
  process.stdout.write(`\n# ${area}\n`);
  try {
    const mod = (await import(file)) as Record<string, (o: { quick: boolean }, r: typeof report) => Promise<void>>;
    await mod[fn]!({ quick }, report);
  } catch (e) {
    report(`${area} bench`, `failed: ${(e as Error).message}`);
  }
}
process.exit(0);
