// customs-calib xray flat-field: the dark and open-beam references the X-ray pipeline corrects its images with.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../../common/errors.js';
import { flatField, type FlatFieldResult, type Frame } from '../../analysis/xray/flat-field.js';
import { sha256 } from '../../protocol/calibration-record.js';
import { examples, f2, writeAtomic, type CliContext } from './common.js';
import type { AnalysisFile } from './spectrum.js';

interface FlatFieldCli {
  detector: string;
  out: string;
  json?: boolean;
}

const EXAMPLE = 'xray flat-field darks/ opens/ --detector xray-high --out refs/';

export function registerXray(program: Command, ctx: CliContext): void {
  const xray = program.command('xray').description('X-ray detector calibration').addHelpText('after', examples(EXAMPLE));
  xray
    .command('flat-field')
    .description('average dark and open-beam 16-bit PNG frames into the references dark.png and open.png the X-ray pipeline reads')
    .argument('<dark>', 'a dark frame, or a folder of them (*.png)')
    .argument('<open>', 'an open-beam frame, or a folder of them (*.png)')
    .requiredOption('--detector <id>', 'X-ray detector id on the node (e.g. xray-high)')
    .option('--out <dir>', 'where dark.png, open.png and flat-field.json go', '.')
    .option('--json', 'print JSON')
    .addHelpText('after', examples(EXAMPLE, 'xray flat-field dark-0001.png open-0001.png --detector xray-low --out refs-low/ --json'))
    .action((darkArg: string, openArg: string, o: FlatFieldCli) => flatFieldCommand(darkArg, openArg, o, ctx));
}

async function flatFieldCommand(darkArg: string, openArg: string, o: FlatFieldCli, ctx: CliContext): Promise<void> {
  // Imported when the command runs: none of the other commands needs the X-ray image codec.
  const { readImage16, encodePng16 } = await import('../../edge/xray/image-io.js');
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
  ctx.print(!!o.json, result, () => flatFieldText(o, dark.length, open.length, r));
}

function flatFieldText(o: FlatFieldCli, nDark: number, nOpen: number, r: FlatFieldResult): string {
  return [
    `${o.detector}: ${nDark} dark and ${nOpen} open-beam frames of ${r.width} x ${r.height}`,
    `  dark mean ${f2(r.darkMean, 1)}, open mean ${f2(r.openMean, 1)}; ${r.deadPixels} dead, ${r.hotPixels} hot, ${r.saturatedPixels} saturated pixels`,
    `  -> ${join(o.out, 'dark.png')}, ${join(o.out, 'open.png')}, ${join(o.out, 'flat-field.json')} (for sign)`,
  ].join('\n');
}
