// customs-calib xray palette: fits the pseudo-colour palette of a scanner's exports from an image of a step wedge or test piece with known steps.
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Command } from 'commander';
import { Ajv } from 'ajv';
import { InputError } from '../../common/errors.js';
import { formatErrors } from '../../protocol/index.js';
import { sha256 } from '../../protocol/calibration-record.js';
import { fitPalette, WedgeSpecSchema, zeffClass, type PaletteFit, type WedgeSpec } from '../../analysis/xray/palette.js';
import { examples, f2, readJson, writeAtomic, type CliContext } from './common.js';
import type { AnalysisFile } from './spectrum.js';

interface PaletteCli {
  wedge: string;
  detector: string;
  out: string;
  json?: boolean;
}

const EXAMPLE = 'xray palette wedge.jpg --wedge wedge.json --detector xray-export --out palette/';

const validateSpec = new Ajv({ allErrors: true, strict: false }).compile(WedgeSpecSchema);

/** Adds `palette` under the `xray` command that registerXray (xray-flat-field.ts) created. */
export function registerXrayPalette(program: Command, ctx: CliContext): void {
  const xray = program.commands.find((c) => c.name() === 'xray') ?? program.command('xray').description('X-ray detector calibration');
  xray
    .command('palette')
    .description("fit the palette that turns the scanner's pseudo-colour exports back into attenuation and Zeff, from an image of a step wedge")
    .argument('<image>', "the scanner's export (JPEG, PNG, BMP, TIFF) of a step wedge or test piece")
    .requiredOption(
      '--wedge <spec>',
      'JSON {name, vendor?, addAir?, steps: [{box: [x, y, w, h], material, thickness_cm} | {box, attenuation, zeff}]}; materials: water, polyethylene, paper, wood, glass, aluminium, steel, copper, lead, ...',
    )
    .requiredOption('--detector <id>', 'X-ray detector id on the node (the record is versioned per detector)')
    .option('--out <dir>', 'where palette.json (for the node) and xray-palette.json (for sign) go', '.')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      examples(EXAMPLE) +
        '\n\nEach step is a box of one material and thickness; its median colour becomes an anchor (A_high from the material\'s\n' +
        'attenuation at the high effective energy, Zeff from the material). The fit is checked leave-one-out: each step\n' +
        'predicted from the others. Sign xray-palette.json like any result; point the node\'s xray pipeline option\n' +
        '`palette` at palette.json.',
    )
    .action((image: string, o: PaletteCli) => paletteCommand(image, o, ctx));
}

async function paletteCommand(image: string, o: PaletteCli, ctx: CliContext): Promise<void> {
  const specRaw = readJson(o.wedge, 'a wedge spec');
  if (!validateSpec(specRaw)) throw new InputError(`${o.wedge}: not a wedge spec\n  ${formatErrors(validateSpec.errors).join('\n  ')}`);
  const spec = specRaw as WedgeSpec;
  // Imported when the command runs: none of the other commands needs the image codecs.
  const { readScanFrames } = await import('../../edge/xray/image-io.js');
  const [img] = await readScanFrames(image);
  if (img === undefined || img.kind !== 'colour') {
    throw new InputError(`${image}: a grey image; expected the scanner's pseudo-colour export of the wedge (a grey single-energy export needs no palette)`);
  }
  let fit: PaletteFit;
  try {
    fit = fitPalette(img.rgb, img.width, img.height, spec);
  } catch (e) {
    throw new InputError(`${o.wedge}: ${(e as Error).message}`, { cause: e });
  }
  const paletteJson = JSON.stringify(fit.palette, null, 2);
  writeAtomic(join(o.out, 'palette.json'), paletteJson);
  const result: AnalysisFile = {
    kind: 'xray-palette',
    detector: o.detector,
    inputs: [image, o.wedge].map((f) => ({ file: basename(f), sha256: sha256(readFileSync(f)) })),
    results: {
      xrayPalette: {
        file: 'palette.json',
        sha256: sha256(paletteJson),
        name: fit.palette.name,
        anchors: fit.palette.anchors.length,
        looRmsAttenuation: fit.looRmsAttenuation,
        looRmsZeff: fit.looRmsZeff,
        looClassErrors: fit.looClassErrors,
      },
    },
    uncertainties: { 'xrayPalette.attenuation': fit.looRmsAttenuation, 'xrayPalette.zeff': fit.looRmsZeff },
    steps: fit.steps,
  };
  writeAtomic(join(o.out, 'xray-palette.json'), JSON.stringify(result, null, 2));
  ctx.print(!!o.json, result, () => paletteText(o, fit));
}

function paletteText(o: PaletteCli, fit: PaletteFit): string {
  return [
    `${o.detector}: palette "${fit.palette.name}" with ${fit.palette.anchors.length} anchors from ${fit.steps.length} steps`,
    ...fit.steps.map(
      (s) =>
        `  ${s.label.padEnd(28)} rgb ${s.rgb.join(',').padEnd(11)} noise ${f2(s.noise_dE, 1)} dE  A ${f2(s.attenuation)} Zeff ${f2(s.zeff, 1)}  ` +
        `left out: A ${f2(s.predicted.attenuation)} Zeff ${f2(s.predicted.zeff, 1)}${zeffClass(s.predicted.zeff) !== zeffClass(s.zeff) ? ' (other class)' : ''}`,
    ),
    `  leave-one-out RMS: attenuation ${f2(fit.looRmsAttenuation, 3)}, Zeff ${f2(fit.looRmsZeff, 2)}; ${fit.looClassErrors} step(s) in another class`,
    `  -> ${join(o.out, 'palette.json')}, ${join(o.out, 'xray-palette.json')} (for sign)`,
  ].join('\n');
}
