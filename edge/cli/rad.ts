// `customs-edge rad ...`: the radiation chain on recorded files (convert, dose, identify, alarm), for officers and tests.
import { writeFileSync, renameSync } from 'node:fs';
import type { Command } from 'commander';
import { writeN42 } from '../../analysis/radiation/formats/index.js';
import { readRadFile } from '../../devices/radiation/files.js';
import { energyOf, linearCalibration } from '../../analysis/radiation/calibration.js';
import { buildGFunction, DETECTORS, doseRateFromSpectrum_uSv_h, type GFunction } from '../../analysis/radiation/dose.js';
import type { EnergyCalibration, Measurement, Spectrum } from '../../analysis/radiation/spectrum.js';
import { NuclideIdentifier } from '../../analysis/radiation/identify.js';
import { chooseDetector, type DetectorChoice } from '../../analysis/radiation/detector-choice.js';
import { modelFromResolution, resolutionFromPeaks } from '../../analysis/radiation/detector-resolution.js';
import { CHAIN_DEFAULTS } from '../../analysis/radiation/chain.js';
import { replayMeasurements } from '../../analysis/radiation/chain-replay.js';
import { InputError } from '../../common/errors.js';
import { registerLocalizeCommand } from './rad-localize.js';
import { drfNames, resolveDetector, UnknownDetectorError } from '../../devices/radiation/detector-response.js';
import { DrfError } from '../../analysis/radiation/drf.js';

/** What --detector takes (the same as a radiation pipeline's detectors[].model option). */
const DETECTOR_CHOICES = `a model (${Object.keys(DETECTORS).join(', ')}), a GADRAS-style description's folder, or its name on the search path (CUSTOMS_DRF_PATH, e.g. NaI_3x3)`;

/** The detector named on the command line: a model name, a description folder or a description's name; an unknown one lists the valid names. */
function detectorModel(name: string) {
  try {
    return resolveDetector(name);
  } catch (e) {
    if (e instanceof UnknownDetectorError || e instanceof DrfError) throw new InputError(`--detector: ${e.message}`, { cause: e });
    throw e;
  }
}

/** The spectrum's calibration, or the one given on the command line; a spectrum without either is an error. */
function calibrationOf(file: string, sp: Spectrum, kevPerChannel: number | undefined): EnergyCalibration {
  if (kevPerChannel !== undefined) return linearCalibration(kevPerChannel);
  if (sp.calibration) return sp.calibration;
  throw new InputError(`${file}: spectrum of detector "${sp.detector}" has no energy calibration; give --kev-per-channel`);
}

function positiveNumber(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!(n > 0) || !Number.isFinite(n)) throw new InputError(`${flag}: expected a positive number, got "${v}"`);
    return n;
  };
}

/**
 * Reads a radiation file for dose, identify and alarm: its warnings (live time over real time, an unusable
 * calibration) go to stderr, so an answer from doubtful data does not look like one from good data.
 */
async function readWarned(file: string, options: { calibrateFromPeaks?: boolean } = {}): ReturnType<typeof readRadFile> {
  const rf = await readRadFile(file, options);
  for (const w of rf.warnings) process.stderr.write(`warning: ${w.message}\n`);
  return rf;
}

function out(json: boolean, value: unknown, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
}

export function registerRadCommands(program: Command): void {
  const rad = program
    .command('rad')
    .description('radiation tools on recorded spectra: N42.42 (2006, 2012), IAEA SPE and CSV files');

  rad
    .command('convert')
    .description('convert a spectrum file (N42 2006/2012, SPE, CSV) to ANSI N42.42-2012')
    .argument('<in>', 'input file; the format is detected from its content')
    .argument('<out>', 'output .n42 file (written atomically)')
    .option('--json', 'print a JSON summary instead of text')
    .action(async (input: string, output: string, opts: { json?: boolean }) => {
      const file = await readRadFile(input);
      const xml = writeN42(file);
      writeFileSync(`${output}.tmp`, xml);
      renameSync(`${output}.tmp`, output);
      const spectra = file.measurements.reduce((n, m) => n + m.spectra.length, 0);
      const warnings = (file.warnings ?? []).map((w) => w.message);
      const summary = { input, output, format: file.format, measurements: file.measurements.length, spectra, warnings };
      out(!!opts.json, summary, () =>
        [
          `${input} (${file.format}) -> ${output} (N42-2012): ${file.measurements.length} measurements, ${spectra} spectra`,
          ...warnings.map((w) => `warning: ${w}`),
        ].join('\n'),
      );
    });

  rad
    .command('dose')
    .description('ambient dose equivalent rate H*(10) from each spectrum (G(E) method, ICRP 74 coefficients)')
    .argument('<file>', 'spectrum file (N42 2006/2012, SPE, CSV)')
    .option('--detector <model>', `detector response the G(E) function is built for: ${DETECTOR_CHOICES}`, 'NaI-2x2')
    .option('--kev-per-channel <keV>', 'linear calibration to use instead of the file\'s own', positiveNumber('--kev-per-channel'))
    .option('--json', 'print JSON: { measurements: [ { index, id, time, doseRate_uSv_h, detectors: [...] } ] }')
    .action(async (file: string, opts: { detector: string; kevPerChannel?: number; json?: boolean }) => {
      const det = detectorModel(opts.detector);
      const rf = await readWarned(file);
      const g: GFunction = buildGFunction({ detector: det });
      const measurements = rf.measurements.map((m, index) => {
        const detectors = m.spectra.map((sp) => {
          const cal = calibrationOf(file, sp, opts.kevPerChannel);
          const dose = doseRateFromSpectrum_uSv_h({ counts: sp.counts, liveTime_s: sp.liveTime_s, energyOf: (ch) => energyOf(cal, ch + 0.5), g });
          return { detector: sp.detector, doseRate_uSv_h: dose };
        });
        const mean = detectors.length ? detectors.reduce((a, d) => a + d.doseRate_uSv_h, 0) / detectors.length : 0;
        return { index, id: m.id, time: m.startTime ?? null, doseRate_uSv_h: mean, detectors };
      });
      out(!!opts.json, { detectorModel: det.name, method: 'G(E), ICRP 74 H*(10)', measurements }, () =>
        measurements
          .map((m) => `#${m.index} ${m.id}${m.time ? ` ${m.time}` : ''}: ${m.doseRate_uSv_h.toFixed(3)} µSv/h H*(10)` + (m.detectors.length > 1 ? ` (${m.detectors.map((d) => `${d.detector} ${d.doseRate_uSv_h.toFixed(3)}`).join(', ')})` : ''))
          .join('\n'),
      );
    });

  rad
    .command('identify')
    .description('identify the nuclides in a spectrum (template fit against the detector response), most confident first')
    .argument('<file>', 'spectrum file; with several measurements, the Foreground spectra are summed per detector')
    .option('--detector <model>', `detector response of the templates: ${DETECTOR_CHOICES}; default: the detector the file names (kind code, description, instrument), else NaI-2x2`)
    .option('--background <file>', 'measured background spectrum (same detector); otherwise the file\'s Background measurement, else a natural-background model')
    .option('--kev-per-channel <keV>', 'linear calibration to use instead of the file\'s own', positiveNumber('--kev-per-channel'))
    .option('--json', 'print JSON: { nuclides: [ { nuclide, confidence, category, ... } ] } (empty for background only)')
    .action(async (file: string, opts: { detector?: string; background?: string; kevPerChannel?: number; json?: boolean }) => {
      // A file without a usable calibration gets one from its peaks (said on stderr) unless --kev-per-channel is given.
      const rf = await readWarned(file, { calibrateFromPeaks: opts.kevPerChannel === undefined });
      const foreground = rf.measurements.filter((m) => m.class !== 'Background');
      // The response the spectra were recorded through: the one the file names unless --detector overrides it.
      const responses = drfNames();
      let choice: DetectorChoice = opts.detector
        ? { model: opts.detector, reason: '--detector on the command line', fromFile: false }
        : chooseDetector(rf, { responses, ...(foreground[0]?.spectra[0] ? { detectorId: foreground[0].spectra[0].detector } : {}) });
      const fg = sumSpectra(file, foreground, opts.kevPerChannel)!;
      // A file that names no detector (many lab HPGe SPE files) still shows its crystal in its peak widths.
      if (!opts.detector && !choice.fromFile) {
        const res = resolutionFromPeaks(fg.counts, fg.calibration);
        const by = res ? modelFromResolution(res, responses) : undefined;
        if (by?.model !== undefined) choice = { model: by.model, reason: `${choice.reason.replace(/; (using the )?default \S+.*$/, '')}; ${by.reason}`, fromFile: false };
        else if (by !== undefined) choice = { ...choice, reason: `${choice.reason}; ${by.reason}` };
      }
      const det = detectorModel(choice.model);
      let bg = sumSpectra(file, rf.measurements.filter((m) => m.class === 'Background'), opts.kevPerChannel, true);
      if (opts.background) {
        const bf = await readWarned(opts.background);
        bg = sumSpectra(opts.background, bf.measurements, opts.kevPerChannel)!;
      }
      const id = new NuclideIdentifier({ detector: det });
      const r = id.identify({ counts: fg.counts, liveTime_s: fg.liveTime_s, calibration: fg.calibration }, bg ? { background: { counts: bg.counts, liveTime_s: bg.liveTime_s } } : {});
      const nuclides = r.nuclides.map((n) => ({
        nuclide: n.nuclide,
        label: n.label,
        confidence: Number(n.confidence.toFixed(3)),
        category: n.category,
        significance: Number(n.significance.toFixed(1)),
        netCounts: Math.round(n.netCounts),
        shielding: n.shielding,
      }));
      const notes = r.notes ?? [];
      out(
        !!opts.json,
        { nuclides, category: r.category ?? null, notes, detector: { model: det.name, reason: choice.reason }, background: r.background.source, gain: r.gain, unexplainedPeaks_keV: r.unexplainedPeaks.map((p) => Math.round(p.energy_keV)) },
        () =>
          [
            ...(nuclides.length
              ? nuclides.map((n) => `${n.label.padEnd(8)} ${n.category.padEnd(10)} confidence ${n.confidence.toFixed(2)}  ${n.netCounts} net counts${n.shielding !== 'none' ? `, shielding like ${n.shielding}` : ''}`)
              : ['nothing but natural background']),
            ...notes.map((n) => `note: ${n.message}`),
          ].join('\n'),
      );
    });

  rad
    .command('alarm')
    .description('run the node\'s radiation chain (gain, background, gross and window SPRT alarms, identification) over a recorded file, in time order: the alarms a node would have reported for the same data')
    .argument('<file>', 'a drive or a sequence of measurements (N42)')
    .option('--background <file>', 'background measurements to start the background estimate from (the file\'s own Background measurements are used too)')
    .option('--far <per-hour>', 'false alarm rate, alarms per hour of measurement time (the pipeline option falseAlarmRate_per_h)', positiveNumber('--far'), CHAIN_DEFAULTS.falseAlarmRate_per_h)
    .option('--interval <s>', 'alarm-test interval, s (the pipeline option interval_s)', positiveNumber('--interval'), CHAIN_DEFAULTS.interval_s)
    .option('--detector <model>', `detector response of every detector in the file: ${DETECTOR_CHOICES}`, 'NaI-2x4x16')
    .option('--no-identify', 'do not identify nuclides when an alarm is reported')
    .option('--kev-per-channel <keV>', 'linear calibration for spectra without one', positiveNumber('--kev-per-channel'))
    .option('--json', 'print JSON: { measurements: [ { index, time, alarm, statistic, threshold, test } ], alarms: [ the node\'s alarm summaries ] }')
    .addHelpText('after', '\nExample:\n  customs-edge rad alarm drive.n42 --far 1 --interval 1 --detector NaI-2x4x16 --json')
    .action(async (file: string, opts: { background?: string; far: number; interval: number; detector: string; identify: boolean; kevPerChannel?: number; json?: boolean }) => {
      const model = detectorModel(opts.detector);
      const rf = await readWarned(file);
      const background = opts.background ? (await readWarned(opts.background)).measurements.map((m) => ({ ...m, class: 'Background' as const })) : [];
      const measurements = [...background, ...rf.measurements];
      const ids = [...new Set(measurements.flatMap((m) => m.spectra.map((s) => s.detector)))];
      const r = replayMeasurements(measurements, {
        ...CHAIN_DEFAULTS,
        detectors: ids.map((id) => ({ id, model })),
        interval_s: opts.interval,
        falseAlarmRate_per_h: opts.far,
        identify: opts.identify,
        ...(opts.kevPerChannel ? { keVPerChannel: opts.kevPerChannel } : {}),
        alarmIdPrefix: 'file',
      });
      // Rows of the file itself (a --background file's rows are not printed).
      const rows = r.measurements.slice(background.length).map((m) => ({ ...m, index: m.index - background.length }));
      const alarms = r.alarms.map((a) => ({ ...a.body, start: new Date(a.start_ms).toISOString(), reported: new Date(a.t_ms).toISOString(), reason: a.reason }));
      out(!!opts.json, { measurements: rows, alarms, intervals: r.intervals, warnings: r.warnings }, () => {
        const inAlarm = rows.filter((m) => m.alarm).length;
        const lines = [`${rows.length} measurements in ${r.intervals} intervals of ${opts.interval} s, ${inAlarm} in alarm, ${alarms.length} alarm event(s)`];
        for (const a of alarms) {
          const nucl = a.nuclides.length ? a.nuclides.map((n) => `${n.nuclide} (${n.category}, ${n.confidence.toFixed(2)})`).join(', ') : 'no nuclide identified';
          lines.push(`  ${a.start} ${a.test}${a.detector ? ` ${a.detector}` : ''} ${a.statistic.toFixed(2)} > ${a.threshold.toFixed(2)}: ${nucl}`);
        }
        for (const w of r.warnings) lines.push(`  warning: ${w.detector ? `${w.detector}: ` : ''}${w.message}`);
        return lines.join('\n');
      });
    });

  registerLocalizeCommand(rad);
}

/** Sums the spectra of some measurements (one detector's channel grid); `optional` returns undefined when none. */
function sumSpectra(
  file: string,
  ms: Measurement[],
  kevPerChannel: number | undefined,
  optional = false,
): { counts: Float64Array; liveTime_s: number; calibration: EnergyCalibration } | undefined {
  const spectra = ms.flatMap((m) => m.spectra);
  if (!spectra.length) {
    if (optional) return undefined;
    throw new InputError(`${file}: no spectrum to analyse`);
  }
  const first = spectra[0]!;
  const calibration = calibrationOf(file, first, kevPerChannel);
  const counts = new Float64Array(first.counts.length);
  let liveTime_s = 0;
  for (const sp of spectra) {
    if (sp.counts.length !== counts.length) throw new InputError(`${file}: detector "${sp.detector}" has ${sp.counts.length} channels, "${first.detector}" ${counts.length}; sum of different grids is not supported`);
    for (let i = 0; i < counts.length; i++) counts[i]! += sp.counts[i]!;
    liveTime_s += sp.liveTime_s;
  }
  return { counts, liveTime_s, calibration };
}
