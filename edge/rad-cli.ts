// `customs-edge rad ...`: the radiation chain on recorded files (convert, dose, identify, alarm), for officers and tests.
import { writeFileSync, renameSync } from 'node:fs';
import type { Command } from 'commander';
import { readRadFile, writeN42 } from './radiation/formats/index.js';

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
}
