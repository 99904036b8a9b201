#!/usr/bin/env node
// customs-calib: the technician's calibration CLI (energy, resolution, efficiency, dose, checks, signed records, push).
import { appendFileSync, chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { CustomsError, InputError } from '../common/errors.js';
import { packageVersion } from '../common/version.js';
import { energyOf } from '../edge/radiation/calibration.js';
import { readRadFile, writeN42 } from '../edge/radiation/formats/index.js';
import type { EnergyCalibration, Spectrum } from '../edge/radiation/spectrum.js';
import { DETECTORS } from '../edge/radiation/dose.js';
import { generateSigningKey, signPayload, type SignedEnvelope, type StatusMsg } from '../protocol/index.js';
import { doseFactor, efficiency, efficiencyAt, fitResolution, fwhmModel_keV, sourceCheck } from './analyses.js';
import { calibrateEnergy, energyCalibrationOf, type EnergyResult } from './energy.js';
import { writeCalibrationPng } from './plot.js';
import {
  keyIdOf,
  newRecord,
  parseRecord,
  sha256,
  signRecord,
  versionLabel,
  type CalibrationRecord,
  type CalibrationResults,
  type SignedRecord,
} from './record.js';
import { capture, nodeStatus, pushCommand, type BrokerOptions } from './remote.js';
import { flatField, type Frame } from './xray.js';

export interface Io {
  out(s: string): void;
  err(s: string): void;
}

/** What an analysis writes with --out and prints with --json; `sign` merges the `results` of several of them. */
export interface AnalysisFile {
  kind: 'energy' | 'resolution' | 'efficiency' | 'dose-factor' | 'background' | 'xray-flat-field';
  detector: string;
  inputs: { file: string; sha256: string }[];
  results: Partial<CalibrationResults>;
  uncertainties: Record<string, unknown>;
  [k: string]: unknown;
}

// ------------------------------------------------------------------------------------------------ helpers

function positive(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!(n > 0) || !Number.isFinite(n)) throw new InputError(`${flag}: expected a positive number, got "${v}"`);
    return n;
  };
}

function integer(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InputError(`${flag}: expected an integer >= 1, got "${v}"`);
    return n;
  };
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

function writeAtomic(file: string, data: string | Buffer): void {
  mkdirSync(dirname(resolve(file)), { recursive: true });
  writeFileSync(`${file}.tmp`, data);
  renameSync(`${file}.tmp`, file);
}

function readJson(file: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`${file}: cannot read ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new InputError(`${file}: ${what} is not valid JSON (${(e as Error).message})`);
  }
}

interface LoadedSpectrum {
  file: string;
  sha256: string;
  detector: string;
  counts: Float64Array;
  liveTime_s: number;
  realTime_s: number;
  calibration?: EnergyCalibration;
  startTime?: string;
}

/**
 * One spectrum from a file: the named detector's spectra (or the file's only detector), summed over the non-background
 * measurements (or the one chosen with --measurement).
 */
async function loadSpectrum(file: string, o: { fileDetector?: string; measurement?: number; backgroundClass?: boolean } = {}): Promise<LoadedSpectrum> {
  const rf = await readRadFile(file);
  let ms = rf.measurements;
  if (o.measurement !== undefined) {
    const m = ms[o.measurement];
    if (!m) throw new InputError(`${file}: --measurement ${o.measurement}: the file has measurements 0-${ms.length - 1}`);
    ms = [m];
  } else {
    const wanted = ms.filter((m) => (o.backgroundClass ? m.class === 'Background' : m.class !== 'Background'));
    if (wanted.length) ms = wanted;
  }
  const spectra = ms.flatMap((m) => m.spectra.map((s) => ({ s, start: m.startTime })));
  const dets = [...new Set(spectra.map((x) => x.s.detector))];
  if (dets.length === 0) throw new InputError(`${file}: no spectrum in the file`);
  let det = o.fileDetector;
  if (det === undefined) {
    if (dets.length > 1) throw new InputError(`${file}: ${dets.length} detectors in the file (${dets.join(', ')}); name one with --file-detector`);
    det = dets[0]!;
  } else if (!dets.includes(det)) throw new InputError(`${file}: --file-detector "${det}" is not in the file, expected one of ${dets.join(', ')}`);
  const mine = spectra.filter((x) => x.s.detector === det);
  const n = mine[0]!.s.counts.length;
  const counts = new Float64Array(n);
  let live = 0;
  let real = 0;
  for (const { s } of mine) {
    if (s.counts.length !== n) throw new InputError(`${file}: spectra of detector ${det} have ${n} and ${s.counts.length} channels; expected one channel count`);
    for (let i = 0; i < n; i++) counts[i] += s.counts[i]!;
    live += s.liveTime_s;
    real += s.realTime_s;
  }
  const first: Spectrum = mine[0]!.s;
  return {
    file,
    sha256: sha256(readFileSync(file)),
    detector: det,
    counts,
    liveTime_s: live,
    realTime_s: real,
    ...(first.calibration ? { calibration: first.calibration } : {}),
    ...(mine[0]!.start ? { startTime: mine[0]!.start } : {}),
  };
}

function readAnalysis(file: string): AnalysisFile {
  const v = readJson(file, 'an analysis result') as Partial<AnalysisFile> | null;
  if (!v || typeof v !== 'object' || typeof v.kind !== 'string' || typeof v.detector !== 'string' || typeof v.results !== 'object') {
    throw new InputError(`${file}: expected an analysis result written by customs-calib --out ({ kind, detector, inputs, results, ... })`);
  }
  return v as AnalysisFile;
}

function readSigned(file: string): SignedRecord {
  const v = readJson(file, 'a signed calibration record') as Partial<SignedRecord> | null;
  if (!v || typeof v !== 'object' || !('payload' in v) || !('sig' in v)) throw new InputError(`${file}: expected a signed record { payload, sig } written by customs-calib sign`);
  parseRecord(v.payload, `${file}: payload`);
  return v as SignedRecord;
}

/** A record file or a signed one: the record. */
function readAnyRecord(file: string): CalibrationRecord {
  const v = readJson(file, 'a calibration record') as { payload?: unknown } | null;
  return parseRecord(v && typeof v === 'object' && 'payload' in v ? v.payload : v, file);
}

function loadKey(file: string, keyId?: string): { pem: string; keyId: string } {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`--key ${file}: cannot read the private key (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (!pem.includes('PRIVATE KEY')) throw new InputError(`--key ${file}: expected a PEM private key (from customs-calib keygen)`);
  return { pem, keyId: keyId ?? basename(file).replace(/\.(key|pem)$/, '') };
}

function storeDir(o: { store?: string }): string {
  return o.store ?? process.env.CUSTOMS_CALIB_STORE ?? 'calibrations';
}

interface HistoryEntry {
  time: string;
  action: 'push' | 'rollback';
  id: string;
  detector: string;
  version: number;
  ok: boolean;
  reason?: string;
  file: string;
}

function history(store: string, node: string): HistoryEntry[] {
  const f = join(store, node, 'history.jsonl');
  if (!existsSync(f)) return [];
  return readFileSync(f, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l, i) => {
      try {
        return JSON.parse(l) as HistoryEntry;
      } catch {
        throw new InputError(`${f}:${i + 1}: not a JSON history line`);
      }
    });
}

/** The version a node runs per detector as far as this store knows: the last acknowledged push. */
function activeFromHistory(h: HistoryEntry[]): Map<string, HistoryEntry> {
  const m = new Map<string, HistoryEntry>();
  for (const e of h) if (e.ok) m.set(e.detector, e);
  return m;
}

function brokerOf(o: { broker: string; site: string; ca?: string; cert?: string; key?: string; timeout: number }): BrokerOptions {
  return { url: o.broker, site: o.site, timeout_s: o.timeout, ...(o.ca ? { ca: o.ca } : {}), ...(o.cert ? { cert: o.cert } : {}), ...(o.key ? { key: o.key } : {}) };
}

function brokerOptions(cmd: Command): Command {
  return cmd
    .option('--broker <url>', 'MQTT broker URL (mqtt:// or mqtts://)', process.env.CUSTOMS_BROKER ?? 'mqtt://127.0.0.1:1883')
    .requiredOption('--site <id>', 'site of the node (topic level customs/v1/<site>/<node>)', process.env.CUSTOMS_SITE)
    .option('--ca <file>', 'CA certificate for mqtts (as broker.ca in the edge config)')
    .option('--cert <file>', 'client certificate')
    .option('--client-key <file>', 'client certificate key')
    .option('--timeout <s>', 'how long to wait for the node', positive('--timeout'), 30);
}

type BrokerCli = { broker: string; site: string; ca?: string; cert?: string; clientKey?: string; timeout: number };
const brokerFrom = (o: BrokerCli): BrokerOptions => brokerOf({ broker: o.broker, site: o.site, timeout: o.timeout, ...(o.ca ? { ca: o.ca } : {}), ...(o.cert ? { cert: o.cert } : {}), ...(o.clientKey ? { key: o.clientKey } : {}) });

const f2 = (v: number, d = 2): string => (Number.isFinite(v) ? v.toFixed(d) : String(v));

function energyTable(r: EnergyResult): string {
  const rows = r.peaks.map(
    (p) =>
      `  ${p.nuclide.padEnd(6)} ${f2(p.energy_keV, 1).padStart(8)} keV  ch ${f2(p.channel, 2).padStart(9)} ± ${f2(p.channelSigma, 2).padEnd(5)}  FWHM ${f2(p.fwhm_keV, 1).padStart(6)} keV  residual ${f2(p.residual_keV, 2).padStart(6)} keV`,
  );
  return rows.join('\n');
}

// ------------------------------------------------------------------------------------------------ program

export function createProgram(io: Io, state: { code: number }): Command {
  const program = new Command();
  const print = (json: boolean, value: unknown, human: () => string): void => io.out(json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
  program
    .name('customs-calib')
    .description(
      'Calibration of the fleet\'s radiation detectors by a technician: energy, resolution, efficiency and dose factors from ' +
        'check-source spectra, daily source checks, X-ray flat fields. Results go into versioned records signed with the ' +
        'technician\'s Ed25519 key and pushed to nodes over MQTT, which accept only keys their config trusts.',
    )
    .version(packageVersion())
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) });

  const spectrumOptions = (c: Command): Command =>
    c
      .option('--detector <id>', 'detector id on the node (default: the detector name in the file)')
      .option('--file-detector <name>', 'which detector of a multi-detector file to use')
      .option('--measurement <i>', 'use only measurement i of the file (default: all non-background ones summed)', (v) => Number(v));

  program
    .command('keygen')
    .description('make an Ed25519 key pair for a technician: <out>/<keyId>.key (private, mode 600) and <keyId>.pub (for the nodes\' trustedKeys)')
    .requiredOption('--technician <name>', 'the technician\'s name; the key id is derived from it')
    .option('--out <dir>', 'where to write the key files', 'keys')
    .option('--json', 'print JSON')
    .action((o: { technician: string; out: string; json?: boolean }) => {
      const keyId = keyIdOf(o.technician);
      const priv = join(o.out, `${keyId}.key`);
      const pub = join(o.out, `${keyId}.pub`);
      if (existsSync(priv)) throw new InputError(`${priv}: already exists; remove it first or choose another --out (a key is never overwritten)`);
      const k = generateSigningKey();
      mkdirSync(o.out, { recursive: true });
      writeFileSync(priv, k.privateKeyPem, { mode: 0o600 });
      chmodSync(priv, 0o600);
      writeFileSync(pub, k.publicKeyPem);
      print(!!o.json, { keyId, privateKey: priv, publicKey: pub }, () =>
        [`key id ${keyId}`, `private key ${priv} (keep it; mode 600)`, `public key  ${pub}`, '', 'node config:', `  - { name: calib, type: calibration, options: { trustedKeys: { ${keyId}: ${pub} }, dir: /var/lib/customs/calibration, detectors: [det-a] } }`].join('\n'),
      );
    });

  spectrumOptions(
    program
      .command('energy')
      .description('energy calibration from check-source peaks, found without trusting the file\'s own calibration')
      .argument('<spectrum>', 'spectrum file (N42 2006/2012, SPE, CSV)')
      .requiredOption('--source <nuclide>', 'check source in the spectrum (repeat for several): e.g. Am241, Cs137, Co60, Ba133, Eu152', collect)
      .addOption(new Option('--degree <n>', 'polynomial degree (default: 2 with three lines or more)').choices(['1', '2']))
      .option('--deviation-pairs', 'add deviation pairs so the calibration passes through every line (nonlinear scintillators)')
      .option('--natural', 'also use the K-40 1461 keV and Tl-208 2615 keV background lines when they show')
      .option('--single-line', 'accept one line, through the origin (offset 0)')
      .option('--plot <png>', 'draw the spectrum, the fit and its residuals')
      .option('--out <json>', 'write the result for `sign`')
      .option('--json', 'print JSON: { coefficients: [c0, c1, c2], deviationPairs?, peaks: [...], ... } with E = c0 + c1·ch + c2·ch²'),
  ).action(async (file: string, o: { source: string[]; degree?: string; deviationPairs?: boolean; natural?: boolean; singleLine?: boolean; plot?: string; out?: string; json?: boolean; detector?: string; fileDetector?: string; measurement?: number }) => {
    const sp = await loadSpectrum(file, { ...(o.fileDetector ? { fileDetector: o.fileDetector } : {}), ...(o.measurement !== undefined ? { measurement: o.measurement } : {}) });
    const r = withFile(file, () =>
      calibrateEnergy(sp.counts, {
        sources: o.source,
        ...(o.degree ? { degree: Number(o.degree) as 1 | 2 } : {}),
        deviationPairs: !!o.deviationPairs,
        natural: !!o.natural,
        singleLine: !!o.singleLine,
      }),
    );
    const detector = o.detector ?? sp.detector;
    const cal = energyCalibrationOf(r);
    const fileCheck = sp.calibration ? r.peaks.map((p) => ({ energy_keV: p.energy_keV, fileSays_keV: energyOf(sp.calibration!, p.channel) })) : undefined;
    const result: AnalysisFile & EnergyResult = {
      kind: 'energy',
      detector,
      inputs: [{ file: basename(file), sha256: sp.sha256 }],
      results: { energy: cal },
      uncertainties: { 'energy.coefficients': r.coefficientSigma, 'energy.rms_keV': r.rms_keV },
      ...r,
      ...(fileCheck ? { fileCalibration: fileCheck } : {}),
    };
    if (o.out) writeAtomic(o.out, JSON.stringify(result, null, 2));
    if (o.plot) await writeCalibrationPng(o.plot, { title: `${basename(file)} — ${detector}: energy calibration (${o.source.join(', ')})`, counts: sp.counts, calibration: cal, peaks: r.peaks, gain: r.coefficients[1] });
    print(!!o.json, result, () =>
      [
        `${file} (${detector}, ${sp.counts.length} channels, live ${f2(sp.liveTime_s, 1)} s): degree ${r.degree}${r.deviationPairs ? ` + ${r.deviationPairs.length} deviation pairs` : ''}`,
        `E(ch) = ${r.coefficients[0].toPrecision(6)} + ${r.coefficients[1].toPrecision(6)}·ch + ${r.coefficients[2].toPrecision(4)}·ch²  keV   (rms residual ${f2(r.rms_keV, 3)} keV)`,
        energyTable(r),
        ...(r.missing.length ? [`lines not seen: ${r.missing.map((m) => `${m.nuclide} ${f2(m.energy_keV, 1)}`).join(', ')} keV`] : []),
        ...(fileCheck ? [`the file's own calibration puts these peaks at ${fileCheck.map((c) => f2(c.fileSays_keV, 1)).join(', ')} keV`] : []),
        ...(o.out ? [`result written to ${o.out}`] : []),
        ...(o.plot ? [`plot written to ${o.plot}`] : []),
      ].join('\n'),
    );
  });

  spectrumOptions(
    program
      .command('resolution')
      .description('FWHM versus energy, FWHM(E) = sqrt(a + b·E + c·E²), from the check-source peaks')
      .argument('<spectrum>', 'spectrum file')
      .requiredOption('--source <nuclide>', 'check source (repeatable)', collect)
      .option('--natural', 'also use the natural K-40 and Tl-208 lines')
      .option('--out <json>', 'write the result for `sign`')
      .option('--json', 'print JSON: { a, b, c, relativeAt662, points: [...] }'),
  ).action(async (file: string, o: { source: string[]; natural?: boolean; out?: string; json?: boolean; detector?: string; fileDetector?: string; measurement?: number }) => {
    const sp = await loadSpectrum(file, { ...(o.fileDetector ? { fileDetector: o.fileDetector } : {}), ...(o.measurement !== undefined ? { measurement: o.measurement } : {}) });
    const e = withFile(file, () => calibrateEnergy(sp.counts, { sources: o.source, natural: !!o.natural }));
    const r = withFile(file, () => fitResolution(e.peaks.map((p) => ({ energy_keV: p.energy_keV, fwhm_keV: p.fwhm_keV, fwhmSigma_keV: p.fwhmSigma_keV }))));
    const detector = o.detector ?? sp.detector;
    const result: AnalysisFile = {
      kind: 'resolution',
      detector,
      inputs: [{ file: basename(file), sha256: sp.sha256 }],
      results: { resolution: { a: r.a, b: r.b, c: r.c } },
      uncertainties: { resolution: r.sigma },
      ...r,
    };
    if (o.out) writeAtomic(o.out, JSON.stringify(result, null, 2));
    print(!!o.json, result, () =>
      [
        `${file} (${detector}): FWHM(E) = sqrt(${r.a.toPrecision(4)} + ${r.b.toPrecision(4)}·E + ${r.c.toPrecision(4)}·E²) keV; ${f2(r.relativeAt662 * 100)} % at 662 keV`,
        ...r.points.map((p) => `  ${f2(p.energy_keV, 1).padStart(8)} keV  FWHM ${f2(p.fwhm_keV).padStart(7)} ± ${f2(p.fwhmSigma_keV)} keV  model ${f2(p.model_keV).padStart(7)}  residual ${f2(p.residual_keV).padStart(6)}`),
      ].join('\n'),
    );
  });

  spectrumOptions(
    program
      .command('efficiency')
      .description('full-energy-peak efficiency per line of a source of known activity, decay-corrected from its reference date')
      .argument('<spectrum>', 'spectrum file')
      .requiredOption('--source <nuclide>', 'the source (one)')
      .requiredOption('--activity-Bq <n>', 'activity on the certificate', positive('--activity-Bq'))
      .requiredOption('--reference-date <date>', 'date of the certificate\'s activity (ISO 8601)')
      .requiredOption('--distance-m <r>', 'source to detector face distance', positive('--distance-m'))
      .option('--date <date>', 'measurement date (default: the file\'s start time)')
      .option('--calibration <json>', 'energy calibration result (from `energy --out`); default: the file\'s own')
      .option('--background <file>', 'background spectrum to subtract')
      .option('--out <json>', 'write the result for `sign`')
      .option('--json', 'print JSON'),
  ).action(async (file: string, o: { source: string; activityBq: number; referenceDate: string; distanceM: number; date?: string; calibration?: string; background?: string; out?: string; json?: boolean; detector?: string; fileDetector?: string; measurement?: number }) => {
    const sp = await loadSpectrum(file, { ...(o.fileDetector ? { fileDetector: o.fileDetector } : {}), ...(o.measurement !== undefined ? { measurement: o.measurement } : {}) });
    const detector = o.detector ?? sp.detector;
    const cal = calibrationFor(file, sp, detector, o.calibration);
    const date = o.date ?? sp.startTime;
    if (!date) throw new InputError(`${file}: the file has no start time; give the measurement date with --date`);
    const bg = o.background ? await loadSpectrum(o.background, { backgroundClass: true }) : undefined;
    const r = withFile(file, () =>
      efficiency({
        counts: sp.counts,
        liveTime_s: sp.liveTime_s,
        calibration: cal,
        source: o.source,
        activity_Bq: o.activityBq,
        referenceDate: o.referenceDate,
        measurementDate: date,
        distance_m: o.distanceM,
        ...(bg ? { background: { counts: bg.counts, liveTime_s: bg.liveTime_s } } : {}),
      }),
    );
    const result: AnalysisFile = {
      kind: 'efficiency',
      detector,
      inputs: [{ file: basename(file), sha256: sp.sha256 }, ...(bg ? [{ file: basename(bg.file), sha256: bg.sha256 }] : [])],
      results: { efficiency: { energies_keV: r.lines.map((l) => l.energy_keV), values: r.lines.map((l) => l.efficiency), distance_m: r.distance_m } },
      uncertainties: { 'efficiency.values': r.lines.map((l) => l.efficiencySigma) },
      ...r,
    };
    if (o.out) writeAtomic(o.out, JSON.stringify(result, null, 2));
    print(!!o.json, result, () =>
      [
        `${file} (${detector}): ${r.source} ${o.activityBq.toPrecision(4)} Bq on ${o.referenceDate}, ${f2(r.elapsed_d, 1)} days later ${r.activityAtMeasurement_Bq.toPrecision(4)} Bq (decay factor ${r.decayFactor.toFixed(4)}), at ${o.distanceM} m`,
        ...r.lines.map((l) => `  ${f2(l.energy_keV, 1).padStart(8)} keV  net ${l.netCounts.toFixed(0).padStart(9)} ± ${l.netSigma.toFixed(0)}  efficiency ${l.efficiency.toExponential(4)} ± ${l.efficiencySigma.toExponential(2)}`),
      ].join('\n'),
    );
  });

  spectrumOptions(
    program
      .command('dose-factor')
      .description('factor that scales the detector\'s G(E) dose rate to a reference field\'s H*(10) rate')
      .argument('<spectrum>', 'spectrum measured in the reference field')
      .requiredOption('--reference-uSv-h <rate>', 'H*(10) rate of the field at the detector', positive('--reference-uSv-h'))
      .option('--model <name>', `detector model of the G(E) function: ${Object.keys(DETECTORS).join(', ')}`, 'NaI-3x3')
      .option('--calibration <json>', 'energy calibration result; default: the file\'s own')
      .option('--background <file>', 'background spectrum at the same place without the source')
      .option('--background-uSv-h <rate>', 'H*(10) rate of that background', (v) => Number(v))
      .option('--out <json>', 'write the result for `sign`')
      .option('--json', 'print JSON'),
  ).action(async (file: string, o: { referenceUSvH: number; model: string; calibration?: string; background?: string; backgroundUSvH?: number; out?: string; json?: boolean; detector?: string; fileDetector?: string; measurement?: number }) => {
    const sp = await loadSpectrum(file, { ...(o.fileDetector ? { fileDetector: o.fileDetector } : {}), ...(o.measurement !== undefined ? { measurement: o.measurement } : {}) });
    const detector = o.detector ?? sp.detector;
    const cal = calibrationFor(file, sp, detector, o.calibration);
    const bg = o.background ? await loadSpectrum(o.background, { backgroundClass: true }) : undefined;
    const r = withFile(file, () =>
      doseFactor({
        counts: sp.counts,
        liveTime_s: sp.liveTime_s,
        calibration: cal,
        model: o.model,
        reference_uSv_h: o.referenceUSvH,
        ...(bg ? { background: { counts: bg.counts, liveTime_s: bg.liveTime_s, ...(o.backgroundUSvH !== undefined ? { reference_uSv_h: o.backgroundUSvH } : {}) } } : {}),
      }),
    );
    const result: AnalysisFile = {
      kind: 'dose-factor',
      detector,
      inputs: [{ file: basename(file), sha256: sp.sha256 }, ...(bg ? [{ file: basename(bg.file), sha256: bg.sha256 }] : [])],
      results: { doseFactor: r.factor },
      uncertainties: { doseFactor: r.factorSigma },
      ...r,
    };
    if (o.out) writeAtomic(o.out, JSON.stringify(result, null, 2));
    print(!!o.json, result, () => `${file} (${detector}, G(E) of ${o.model}): measured ${r.measured_uSv_h.toPrecision(4)} µSv/h, reference ${r.reference_uSv_h.toPrecision(4)} µSv/h -> dose factor ${r.factor.toFixed(4)} ± ${r.factorSigma.toFixed(4)}`);
  });

  brokerOptions(
    program
      .command('background')
      .description('take a background spectrum from a live node over MQTT (signed capture command; progress on stderr)')
      .requiredOption('--node <id>', 'node id')
      .requiredOption('--detector <id>', 'detector on the node (repeatable)', collect)
      .requiredOption('--duration <s>', 'seconds of spectra to sum', positive('--duration'))
      .requiredOption('--key <file>', 'technician private key (customs-calib keygen)')
      .option('--key-id <id>', 'key id (default: the key file name)')
      .option('--out <dir>', 'where the N42 spectra and the results go', '.')
      .option('--json', 'print JSON'),
  ).action(async (o: BrokerCli & { node: string; detector: string[]; duration: number; key: string; keyId?: string; out: string; json?: boolean }) => {
    const k = loadKey(o.key, o.keyId);
    const cmdId = `cap-${Date.now().toString(36)}-${Math.random().toString(16).slice(2, 6)}`;
    const env = signPayload({ cmdId, detectors: o.detector, duration_s: o.duration, issued: new Date().toISOString() }, k.pem, k.keyId);
    io.err(`capture ${cmdId}: ${o.duration} s of ${o.detector.join(', ')} on ${o.node}\n`);
    const r = await capture(brokerFrom(o), o.node, env, (m) => io.err(`  ${m.detector}: ${(m.progress * 100).toFixed(0)} % (${f2(m.realTime_s, 1)} s)\n`));
    if (!r.ack.ok) throw new CustomsError('E_REFUSED', `node ${o.node} refused the capture: ${r.ack.reason ?? 'no reason given'}`);
    mkdirSync(o.out, { recursive: true });
    const files: AnalysisFile[] = [];
    for (const s of r.spectra) {
      if (s.error || !s.counts) throw new CustomsError('E_CAPTURE', `node ${o.node}, detector ${s.detector}: ${s.error ?? 'no counts'}`);
      const n42 = join(o.out, `background-${o.node}-${s.detector}.n42`);
      const counts = Float64Array.from(s.counts);
      writeAtomic(
        n42,
        writeN42({
          source: n42,
          format: 'N42-2012',
          detectors: [{ id: s.detector }],
          measurements: [{ id: `bg-${s.detector}`, startTime: new Date(s.ts - s.realTime_s * 1000).toISOString(), realTime_s: s.realTime_s, class: 'Background', spectra: [{ detector: s.detector, counts, liveTime_s: s.liveTime_s, realTime_s: s.realTime_s, ...(s.calibration ? { calibration: s.calibration as EnergyCalibration } : {}) }], grossCounts: [] }],
        }),
      );
      const result: AnalysisFile = {
        kind: 'background',
        detector: s.detector,
        inputs: [{ file: basename(n42), sha256: sha256(readFileSync(n42)) }],
        results: { referenceSpectrum: { counts: s.counts, liveTime_s: s.liveTime_s } },
        uncertainties: {},
        node: o.node,
        liveTime_s: s.liveTime_s,
        realTime_s: s.realTime_s,
        totalCounts: s.counts.reduce((a, b) => a + b, 0),
      };
      writeAtomic(join(o.out, `background-${o.node}-${s.detector}.json`), JSON.stringify(result, null, 2));
      files.push(result);
    }
    print(!!o.json, files.map(({ results: _r, ...rest }) => rest), () =>
      files.map((f) => `${f.detector}: live ${f2(f.liveTime_s as number, 1)} s, ${f.totalCounts as number} counts -> ${join(o.out, `background-${o.node}-${f.detector}.n42`)} (+ .json for sign)`).join('\n'),
    );
  });

  spectrumOptions(
    program
      .command('check')
      .description('daily source check against the stored calibration: peak drift, resolution, efficiency within tolerance (exit 1 on fail)')
      .argument('<spectrum>', 'check-source spectrum')
      .requiredOption('--record <json>', 'the detector\'s calibration record (signed or not)')
      .requiredOption('--source <nuclide>', 'check source (repeatable)', collect)
      .option('--tolerance-drift-pct <p>', 'largest peak drift', positive('--tolerance-drift-pct'), 1)
      .option('--tolerance-fwhm <ratio>', 'largest FWHM over the stored model', positive('--tolerance-fwhm'), 1.25)
      .option('--tolerance-efficiency-pct <p>', 'largest efficiency deviation', positive('--tolerance-efficiency-pct'), 10)
      .option('--activity-Bq <n>', 'source activity for the efficiency check', positive('--activity-Bq'))
      .option('--reference-date <date>', 'date of that activity')
      .option('--date <date>', 'measurement date (default: the file\'s start time)')
      .option('--json', 'print JSON: { pass, lines: [...], problems: [...] }'),
  ).action(async (file: string, o: { record: string; source: string[]; toleranceDriftPct: number; toleranceFwhm: number; toleranceEfficiencyPct: number; activityBq?: number; referenceDate?: string; date?: string; json?: boolean; detector?: string; fileDetector?: string; measurement?: number }) => {
    const rec = readAnyRecord(o.record);
    const sp = await loadSpectrum(file, { ...(o.fileDetector ? { fileDetector: o.fileDetector } : {}), ...(o.measurement !== undefined ? { measurement: o.measurement } : {}) });
    const detector = o.detector ?? sp.detector;
    if (detector !== rec.detector) throw new InputError(`${file}: spectrum of detector "${detector}", but ${o.record} is for "${rec.detector}"; give --detector ${rec.detector} if the file names it differently`);
    let activity: Parameters<typeof sourceCheck>[0]['activity'];
    if (o.activityBq !== undefined) {
      const date = o.date ?? sp.startTime;
      if (!o.referenceDate) throw new InputError('--reference-date: required with --activity-Bq');
      if (!date) throw new InputError(`${file}: the file has no start time; give --date`);
      activity = { source: o.source[0]!, activity_Bq: o.activityBq, referenceDate: o.referenceDate, measurementDate: date };
    }
    const r = withFile(file, () =>
      sourceCheck({
        counts: sp.counts,
        liveTime_s: sp.liveTime_s,
        stored: rec.results,
        sources: o.source,
        tolerances: { drift: o.toleranceDriftPct / 100, fwhmRatio: o.toleranceFwhm, efficiency: o.toleranceEfficiencyPct / 100 },
        ...(activity ? { activity } : {}),
      }),
    );
    if (!r.pass) state.code = 1;
    print(!!o.json, { detector, record: rec.id, version: versionLabel(rec), ...r }, () =>
      [
        `${file} (${detector}) against ${versionLabel(rec)}: ${r.pass ? 'PASS' : 'FAIL'}`,
        ...r.lines.map(
          (l) =>
            `  ${l.nuclide.padEnd(6)} ${f2(l.energy_keV, 1).padStart(8)} keV  at ${f2(l.measured_keV, 1).padStart(8)} (drift ${f2(l.drift_pct).padStart(6)} %)  FWHM ${f2(l.fwhm_keV, 1)} keV${l.fwhmRatio !== undefined ? ` (${f2(l.fwhmRatio)} x model)` : ''}${l.efficiencyDeviation_pct !== undefined ? `  efficiency ${f2(l.efficiencyDeviation_pct, 1)} %` : ''}  ${l.ok ? 'ok' : 'FAIL'}`,
        ),
        ...r.problems.map((p) => `  problem: ${p}`),
      ].join('\n'),
    );
  });

  const xray = program.command('xray').description('X-ray detector calibration');
  xray
    .command('flat-field')
    .description('average dark and open-beam 16-bit PNG frames into the references dark.png and open.png the X-ray pipeline reads')
    .argument('<dark>', 'a dark frame, or a folder of them (*.png)')
    .argument('<open>', 'an open-beam frame, or a folder of them (*.png)')
    .requiredOption('--detector <id>', 'X-ray detector id on the node (e.g. xray-high)')
    .option('--out <dir>', 'where dark.png, open.png and flat-field.json go', '.')
    .option('--json', 'print JSON')
    .action(async (darkArg: string, openArg: string, o: { detector: string; out: string; json?: boolean }) => {
      const { readImage16, encodePng16 } = await import('../edge/xray/image-io.js');
      const frames = async (arg: string): Promise<Frame[]> => {
        let files = [arg];
        if (existsSync(arg) && statSync(arg).isDirectory()) files = readdirSync(arg).filter((f) => f.toLowerCase().endsWith('.png')).sort().map((f) => join(arg, f));
        if (files.length === 0) throw new InputError(`${arg}: no .png frames in the folder`);
        return Promise.all(files.map(async (f) => ({ file: f, ...(await readImage16(f)) })));
      };
      const dark = await frames(darkArg);
      const open = await frames(openArg);
      const r = flatField(dark, open);
      mkdirSync(o.out, { recursive: true });
      const darkPng = await encodePng16({ width: r.width, height: r.height, data: r.dark });
      const openPng = await encodePng16({ width: r.width, height: r.height, data: r.open });
      writeAtomic(join(o.out, 'dark.png'), darkPng);
      writeAtomic(join(o.out, 'open.png'), openPng);
      const result: AnalysisFile = {
        kind: 'xray-flat-field',
        detector: o.detector,
        inputs: [...dark, ...open].map((f) => ({ file: basename(f.file), sha256: sha256(readFileSync(f.file)) })),
        results: {
          xray: {
            dark: { file: 'dark.png', sha256: sha256(darkPng) },
            open: { file: 'open.png', sha256: sha256(openPng) },
            width: r.width,
            height: r.height,
            darkMean: r.darkMean,
            openMean: r.openMean,
            deadPixels: r.deadPixels,
            hotPixels: r.hotPixels,
          },
        },
        uncertainties: {},
        frames: { dark: dark.length, open: open.length },
        saturatedPixels: r.saturatedPixels,
      };
      writeAtomic(join(o.out, 'flat-field.json'), JSON.stringify(result, null, 2));
      print(!!o.json, result, () =>
        [
          `${o.detector}: ${dark.length} dark and ${open.length} open-beam frames of ${r.width} x ${r.height}`,
          `  dark mean ${f2(r.darkMean, 1)}, open mean ${f2(r.openMean, 1)}; ${r.deadPixels} dead, ${r.hotPixels} hot, ${r.saturatedPixels} saturated pixels`,
          `  -> ${join(o.out, 'dark.png')}, ${join(o.out, 'open.png')}, ${join(o.out, 'flat-field.json')} (for sign)`,
        ].join('\n'),
      );
    });

  program
    .command('sign')
    .description('combine analysis results into one versioned calibration record of a detector and sign it')
    .argument('<results...>', 'result files written with --out (energy, resolution, efficiency, dose-factor, background, xray flat-field)')
    .requiredOption('--key <file>', 'technician private key')
    .option('--key-id <id>', 'key id (default: the key file name)')
    .option('--technician <name>', 'technician name in the record (default: the key id)')
    .option('--detector <id>', 'detector (default: the one the results name)')
    .option('--record-version <n>', 'record version (default: one above what --node last accepted in the local store)', integer('--record-version'))
    .option('--node <id>', 'node whose pushed history gives the next version')
    .option('--store <dir>', 'local store of pushed records (default $CUSTOMS_CALIB_STORE or ./calibrations)')
    .option('--valid-days <d>', 'validity from now', positive('--valid-days'), 365)
    .option('--notes <text>', 'free text: source serials, conditions')
    .requiredOption('--out <json>', 'signed record file')
    .option('--json', 'print JSON')
    .action((files: string[], o: { key: string; keyId?: string; technician?: string; detector?: string; recordVersion?: number; node?: string; store?: string; validDays: number; notes?: string; out: string; json?: boolean }) => {
      const k = loadKey(o.key, o.keyId);
      const results = files.map((f) => ({ f, a: readAnalysis(f) }));
      const detector = o.detector ?? results[0]!.a.detector;
      for (const { f, a } of results) {
        if (a.detector !== detector) throw new InputError(`${f}: result of detector "${a.detector}", expected "${detector}" like ${o.detector ? '--detector' : files[0]}; one record covers one detector`);
      }
      let version = o.recordVersion;
      if (version === undefined) {
        if (!o.node) throw new InputError('--record-version: required unless --node names a node whose pushed history gives the next version');
        // One above what the node accepted: refused pushes never raised the node's version.
        const h = history(storeDir(o), o.node).filter((e) => e.detector === detector && e.ok);
        version = Math.max(0, ...h.map((e) => e.version)) + 1;
      }
      const merged: CalibrationResults = {};
      const unc: Record<string, unknown> = {};
      for (const { f, a } of results) {
        for (const [key, v] of Object.entries(a.results)) {
          if (key in merged) throw new InputError(`${f}: results.${key} is also in another file; give one result per quantity`);
          (merged as Record<string, unknown>)[key] = v;
        }
        Object.assign(unc, a.uncertainties);
      }
      const rec = newRecord({
        detector,
        version,
        method: [...new Set(results.map((r) => r.a.kind))],
        // Energy and resolution usually come from the same spectrum: list each input file once.
        inputs: [...new Map(results.flatMap((r) => r.a.inputs).map((i) => [`${i.file}:${i.sha256}`, i])).values()],
        results: merged,
        uncertainties: unc,
        technician: o.technician ?? k.keyId,
        now_ms: Date.now(),
        validDays: o.validDays,
        ...(o.notes ? { notes: o.notes } : {}),
      });
      const env = signRecord(rec, k.pem, k.keyId);
      writeAtomic(o.out, JSON.stringify(env, null, 2));
      print(!!o.json, { out: o.out, id: rec.id, version: versionLabel(rec), keyId: k.keyId, method: rec.method, validUntil: rec.validUntil }, () => `${o.out}: ${versionLabel(rec)} (${rec.method.join(', ')}) signed by ${k.keyId}, valid until ${rec.validUntil}`);
    });

  const recordPush = async (o: BrokerCli & { node: string; store?: string; json?: boolean }, env: SignedRecord, action: 'push' | 'rollback'): Promise<void> => {
    const rec = env.payload;
    const label = versionLabel(rec);
    const r = await pushCommand(brokerFrom(o), o.node, 'calibration', env, rec.id, {
      retain: true,
      waitStatus: (s: StatusMsg) => s.calibration?.[rec.detector] === label,
    });
    const store = storeDir(o);
    const dir = join(store, o.node);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${rec.id}.json`);
    writeAtomic(file, JSON.stringify(env, null, 2));
    const entry: HistoryEntry = { time: new Date().toISOString(), action, id: rec.id, detector: rec.detector, version: rec.version, ok: r.ack.ok, ...(r.ack.reason ? { reason: r.ack.reason } : {}), file: basename(file) };
    appendFileSync(join(dir, 'history.jsonl'), `${JSON.stringify(entry)}\n`);
    if (!r.ack.ok) state.code = 1;
    print(!!o.json, { node: o.node, id: rec.id, version: label, ok: r.ack.ok, reason: r.ack.reason ?? null, status: r.status ?? null }, () =>
      r.ack.ok
        ? `${o.node} accepted ${label} (${rec.id})${r.status ? `; status now reports ${JSON.stringify(r.status)}` : ''}`
        : `${o.node} REFUSED ${label}: ${r.ack.reason ?? 'no reason given'}`,
    );
  };

  brokerOptions(
    program
      .command('push')
      .description('send a signed record to a node (retained command, QoS 1) and wait for its acknowledgement; exit 1 if refused')
      .argument('<record>', 'signed record (customs-calib sign)')
      .requiredOption('--node <id>', 'node id')
      .option('--store <dir>', 'local store of pushed records (default $CUSTOMS_CALIB_STORE or ./calibrations)')
      .option('--json', 'print JSON'),
  ).action(async (file: string, o: BrokerCli & { node: string; store?: string; json?: boolean }) => {
    await recordPush(o, readSigned(file), 'push');
  });

  program
    .command('history')
    .description('records pushed to a node from this store, newest last, and (with --site) the versions its status reports')
    .requiredOption('--node <id>', 'node id')
    .option('--store <dir>', 'local store (default $CUSTOMS_CALIB_STORE or ./calibrations)')
    .option('--site <id>', 'also read the node\'s retained status from the broker')
    .option('--broker <url>', 'MQTT broker URL', process.env.CUSTOMS_BROKER ?? 'mqtt://127.0.0.1:1883')
    .option('--json', 'print JSON')
    .action(async (o: { node: string; store?: string; site?: string; broker: string; json?: boolean }) => {
      const h = history(storeDir(o), o.node);
      const active = activeFromHistory(h);
      const st = o.site ? await nodeStatus({ url: o.broker, site: o.site, timeout_s: 5 }, o.node) : undefined;
      print(!!o.json, { node: o.node, history: h, active: Object.fromEntries([...active].map(([d, e]) => [d, `${d}@${e.version}`])), status: st?.calibration ?? null }, () =>
        [
          `${o.node}: ${h.length} pushes`,
          ...h.map((e) => `  ${e.time}  ${e.action.padEnd(8)} ${`${e.detector}@${e.version}`.padEnd(14)} ${e.ok ? 'accepted' : `REFUSED: ${e.reason ?? ''}`}  ${e.id}`),
          `active (last accepted): ${[...active].map(([d, e]) => `${d}@${e.version}`).join(', ') || 'none'}`,
          ...(o.site ? [`node status reports: ${st?.calibration ? JSON.stringify(st.calibration) : 'no retained status'}`] : []),
        ].join('\n'),
      );
    });

  program
    .command('diff')
    .description('what changed between two calibration records (signed or not)')
    .argument('<a>', 'older record')
    .argument('<b>', 'newer record')
    .option('--json', 'print JSON')
    .action((a: string, b: string, o: { json?: boolean }) => {
      const ra = readAnyRecord(a);
      const rb = readAnyRecord(b);
      const d = diffRecords(ra, rb);
      print(!!o.json, d, () =>
        [
          `${versionLabel(ra)} (${ra.created}, ${ra.technician}) -> ${versionLabel(rb)} (${rb.created}, ${rb.technician})${ra.detector !== rb.detector ? '  WARNING: different detectors' : ''}`,
          ...d.changes.map((c) => `  ${c.field}: ${c.a} -> ${c.b}${c.note ? `  (${c.note})` : ''}`),
          ...(d.changes.length ? [] : ['  no change in the results']),
        ].join('\n'),
      );
    });

  brokerOptions(
    program
      .command('rollback')
      .description('return a node to an earlier version: a signed rollback record (accepted only while the current version is active)')
      .requiredOption('--node <id>', 'node id')
      .requiredOption('--to <version>', 'version to return to (from this store\'s history)', integer('--to'))
      .option('--detector <id>', 'detector (needed when the node has several)')
      .requiredOption('--key <file>', 'technician private key')
      .option('--key-id <id>', 'key id (default: the key file name)')
      .option('--technician <name>', 'technician name (default: the key id)')
      .option('--valid-days <d>', 'validity from now', positive('--valid-days'), 365)
      .option('--store <dir>', 'local store (default $CUSTOMS_CALIB_STORE or ./calibrations)')
      .option('--json', 'print JSON'),
  ).action(async (o: BrokerCli & { node: string; to: number; detector?: string; key: string; keyId?: string; technician?: string; validDays: number; store?: string; json?: boolean }) => {
    const store = storeDir(o);
    const h = history(store, o.node);
    const dets = [...new Set(h.map((e) => e.detector))];
    const det = o.detector ?? (dets.length === 1 ? dets[0] : undefined);
    if (!det) throw new InputError(`--detector: ${o.node} has records for ${dets.join(', ') || 'no detector'} in ${store}; name one`);
    const current = activeFromHistory(h).get(det);
    if (!current) throw new InputError(`${store}/${o.node}: no accepted record of ${det}; nothing to roll back`);
    const target = [...h].reverse().find((e) => e.detector === det && e.version === o.to && e.ok);
    if (!target) throw new InputError(`--to ${o.to}: ${o.node} never accepted version ${o.to} of ${det} (accepted: ${[...new Set(h.filter((e) => e.ok && e.detector === det).map((e) => e.version))].join(', ')})`);
    if (!(o.to < current.version)) throw new InputError(`--to ${o.to}: expected a version below the active ${current.version}`);
    const old = readSigned(join(store, o.node, target.file)).payload;
    const k = loadKey(o.key, o.keyId);
    const rec = newRecord({
      detector: det,
      version: o.to,
      method: [...old.method.filter((m) => m !== 'rollback'), 'rollback'],
      inputs: old.inputs,
      results: old.results,
      uncertainties: old.uncertainties,
      technician: o.technician ?? k.keyId,
      now_ms: Date.now(),
      validDays: o.validDays,
      rollback: { fromVersion: current.version },
      notes: `rollback from ${det}@${current.version} to the results of ${old.id}`,
    });
    await recordPush(o, signRecord(rec, k.pem, k.keyId), 'rollback');
  });

  return program;
}

/** Field-by-field changes of the results (energies at a few channels rather than raw coefficients, which mislead). */
export function diffRecords(a: CalibrationRecord, b: CalibrationRecord): { a: string; b: string; changes: { field: string; a: string; b: string; note?: string }[] } {
  const changes: { field: string; a: string; b: string; note?: string }[] = [];
  const ea = a.results.energy;
  const eb = b.results.energy;
  if (ea && eb) {
    for (const E of [59.5, 661.7, 1460.8, 2614.5]) {
      const ch = channelAt(ea, E);
      if (ch === undefined) continue;
      const e2 = energyOf(eb, ch);
      if (Math.abs(e2 - E) > 1e-3) changes.push({ field: `energy at channel ${ch.toFixed(1)}`, a: `${E.toFixed(1)} keV`, b: `${e2.toFixed(1)} keV`, note: `${(((e2 - E) / E) * 100).toFixed(2)} %` });
    }
  } else if (ea || eb) changes.push({ field: 'energy', a: ea ? 'present' : 'none', b: eb ? 'present' : 'none' });
  const ra = a.results.resolution;
  const rb = b.results.resolution;
  if (ra && rb) {
    const x = fwhmModel_keV(ra, 661.657);
    const y = fwhmModel_keV(rb, 661.657);
    if (Math.abs(x - y) > 1e-3) changes.push({ field: 'FWHM at 662 keV', a: `${x.toFixed(2)} keV`, b: `${y.toFixed(2)} keV` });
  } else if (ra || rb) changes.push({ field: 'resolution', a: ra ? 'present' : 'none', b: rb ? 'present' : 'none' });
  const fa = a.results.efficiency;
  const fb = b.results.efficiency;
  if (fa && fb) {
    for (const E of fb.energies_keV) {
      const x = efficiencyAt(fa, E);
      const y = efficiencyAt(fb, E);
      if (Math.abs(y / x - 1) > 1e-4) changes.push({ field: `efficiency at ${E.toFixed(1)} keV`, a: x.toExponential(4), b: y.toExponential(4), note: `${((y / x - 1) * 100).toFixed(1)} %` });
    }
  } else if (fa || fb) changes.push({ field: 'efficiency', a: fa ? 'present' : 'none', b: fb ? 'present' : 'none' });
  if (a.results.doseFactor !== b.results.doseFactor) changes.push({ field: 'doseFactor', a: String(a.results.doseFactor ?? 'none'), b: String(b.results.doseFactor ?? 'none') });
  if (!!a.results.referenceSpectrum !== !!b.results.referenceSpectrum) changes.push({ field: 'referenceSpectrum', a: a.results.referenceSpectrum ? 'present' : 'none', b: b.results.referenceSpectrum ? 'present' : 'none' });
  if (a.validUntil !== b.validUntil) changes.push({ field: 'validUntil', a: a.validUntil, b: b.validUntil });
  return { a: versionLabel(a), b: versionLabel(b), changes };
}

function channelAt(cal: EnergyCalibration, E: number): number | undefined {
  let lo = 0;
  let hi = 1 << 16;
  if (!(energyOf(cal, hi) > E) || !(energyOf(cal, lo) < E)) return undefined;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (energyOf(cal, mid) < E) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** The energy calibration for an analysis: a result file (same detector), else the spectrum's own. */
function calibrationFor(file: string, sp: LoadedSpectrum, detector: string, calFile: string | undefined): EnergyCalibration {
  if (calFile) {
    const a = readAnalysis(calFile);
    if (a.detector !== detector) throw new InputError(`${calFile}: energy calibration of detector "${a.detector}", but ${file} is "${detector}"`);
    if (!a.results.energy) throw new InputError(`${calFile}: has no results.energy (expected the output of \`energy --out\`)`);
    return a.results.energy;
  }
  if (!sp.calibration) throw new InputError(`${file}: the spectrum has no energy calibration; give --calibration <energy result>`);
  return sp.calibration;
}

/** Prefixes an analysis error with the file it came from. */
function withFile<T>(file: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof CustomsError && !e.message.startsWith(file)) {
      const w = new CustomsError(e.code, `${file}: ${e.message}`, { cause: e });
      throw w;
    }
    throw e;
  }
}

/** Runs the CLI with `args` (without node and script); resolves to the exit code. */
export async function runCli(args: string[], io: Io): Promise<number> {
  const state = { code: 0 };
  const program = createProgram(io, state);
  try {
    await program.parseAsync(args, { from: 'user' });
    return state.code;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    io.err(`customs-calib: ${(e as Error).message}\n`);
    return 1;
  }
}

// Through an npm bin link argv[1] is the link, so compare real paths.
const isMain = (() => {
  try {
    return process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(resolve(process.argv[1]))).href;
  } catch {
    return false;
  }
})();
if (isMain) {
  const io: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };
  runCli(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`customs-calib: ${(e as Error).message}\n`);
      process.exitCode = 2;
    },
  );
}
