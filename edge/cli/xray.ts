// `customs-edge xray ...`: inspect a scan by hand, generate synthetic TIP images, record a screener's verdict.
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { Option } from 'commander';
import { InputError } from '../../common/errors.js';
import { OnnxDetector } from '../inference/detector.js';
import { defaultXrayCard, resolveCardPath, type AtrStage } from '../xray/atr.js';
import { DecisionLog, VERDICTS, type Verdict } from '../xray/decision-log.js';
import { isDicosName, readDicosMeta, sidecarFromDicos } from '../../devices/xray/dicos.js';
import { encodeRgbPng } from '../xray/image-io.js';
import { inspectScan, reasonOf, SidecarSchema, type Sidecar } from '../xray/inspect.js';
import { renderColour } from '../../analysis/xray/materials.js';
import { THREAT_CLASSES } from '../../analysis/xray/synth.js';
import { writeThreatLibrary, writeTipDataset } from '../xray/tip-dataset.js';
import { DIFFICULTIES, type Difficulty } from '../../analysis/xray/tip.js';
import { Ajv } from 'ajv';
import { formatErrors } from '../../protocol/index.js';

const validateSidecar = new Ajv({ allErrors: true, strict: false }).compile(SidecarSchema);

/** Where the sidecar of an image would be: `<base>.json` beside it, base without the extension and _high/_low; undefined for a name without an extension. */
export function sidecarPath(image: string): string | undefined {
  const m = /^(.*?)([_.-](high|low|he|le))?\.[A-Za-z0-9]{1,5}$/i.exec(image);
  if (m === null || m[1] === undefined || m[1] === '' || /[\\/]$/.test(m[1])) return undefined;
  const json = `${m[1]}.json`;
  // An image named *.json cannot be its own sidecar.
  return json === image ? undefined : json;
}

/** The sidecar given, or `<base>.json` beside the image (base without _high/_low), if any: it is optional. */
export function findSidecar(image: string, explicit: string | undefined): Sidecar | undefined {
  const beside = sidecarPath(image);
  const candidates = explicit !== undefined ? [explicit] : beside !== undefined ? [beside] : [];
  for (const c of candidates) {
    if (!existsSync(c)) {
      if (explicit !== undefined) throw new InputError(`${c}: sidecar does not exist`);
      continue;
    }
    let v: unknown;
    try {
      v = JSON.parse(readFileSync(c, 'utf8'));
    } catch (e) {
      throw new InputError(`${c}: sidecar is not JSON (${(e as Error).message})`);
    }
    if (!validateSidecar(v)) throw new InputError(`${c}: invalid sidecar\n  ${formatErrors(validateSidecar.errors).join('\n  ')}`);
    return v as Sidecar;
  }
  return undefined;
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

export function registerXrayCommands(program: Command): void {
  const xray = program
    .command('xray')
    .description('X-ray node: inspect scans (materials, threat recognition, staged decision) and generate synthetic TIP images')
    .addHelpText(
      'after',
      '\nImages: 16-bit grey PNG or TIFF, one (single energy) or a high/low pair (dual energy); 8-bit grey exports (PNG,\n' +
        'JPEG, BMP, TIFF) as single energy; 8-bit pseudo-colour exports (JPEG, PNG, BMP: orange organic, green inorganic,\n' +
        'blue metal, black opaque) read through a palette (--palette: built-in generic or customs-render, or a file from\n' +
        '`customs-calib xray palette`). Optional JSON sidecar {scanId, scanner, energies_kV, pitch_cm, declaration: {hsCode,\n' +
        'goods, weight_kg, origin}}, default <base>.json beside the image.\n' +
        'A threat model that cannot read the input (single energy, pseudo-colour) is not run: the reasons say so and\n' +
        'density and shape rules decide (a dense compact object or a block-like slab goes to review).\n' +
        'DICOS/DICOM (.dcs, .dcm): one file of 1 frame, or 2 frames (high, low), or a _high/_low pair; uncompressed\n' +
        '16-bit, little endian; the file gives scan id, scanner, energies and pixel size (a sidecar adds the declaration).\n' +
        'Decisions: clear (no threat, materials fit the declaration), review (a screener looks), inspect (open it).\n' +
        'Examples:\n' +
        '  customs-edge xray tip --out /tmp/tip --count 100 --difficulty hard --seed 7\n' +
        '  customs-edge xray inspect /tmp/tip/images/tip-7-000001_high.png /tmp/tip/images/tip-7-000001_low.png --json\n' +
        '  customs-edge xray verdict --log /var/lib/customs/xray tip-7-000001 threat --class gun\n',
    );

  xray
    .command('inspect')
    .description('run one scan through preprocessing, materials, ATR and the decision rules')
    .argument('<image>', 'the image (single energy) or the high-energy image of a pair')
    .argument('[low]', 'the low-energy image of a pair')
    .option('--sidecar <file>', 'scanner sidecar JSON (default: <base>.json beside the image if there is one)')
    .option('--card <file>', 'model card of an ATR stage; repeat for several stages (default: the shipped xray-atr model)', collect)
    .option('--no-atr', 'materials and declaration rules only')
    .addOption(new Option('--pitch <cm>', 'scanner pixel size at the belt in cm (default: sidecar pitch_cm, else 0.25)').argParser(Number))
    .addOption(new Option('--max-side <px>', 'analysis resolution (longer side)').argParser(Number).default(1024))
    .option('--references <dir>', 'dark/open-beam references: <dir>/<high|low>/dark.png and open.png')
    .option('--palette <name|file>', 'palette of pseudo-colour exports: generic, customs-render or a palette file', 'generic')
    .option('--render <png>', 'write the screener colour rendering (orange organic, green inorganic, blue metal)')
    .option('--json', 'print the full result as JSON')
    .action(
      async (
        image: string,
        low: string | undefined,
        opts: { sidecar?: string; card?: string[]; atr: boolean; pitch?: number; maxSide: number; references?: string; palette: string; render?: string; json?: boolean },
      ) => {
        let sidecar = findSidecar(image, opts.sidecar);
        // A DICOS file carries scan id, scanner, energies and pixel size itself; a JSON sidecar adds the declaration.
        if (isDicosName(image)) {
          try {
            const fromFile = sidecarFromDicos(await readDicosMeta(image), image);
            sidecar = sidecar !== undefined ? { ...fromFile, ...sidecar } : fromFile;
          } catch {
            // A broken file is reported by the inspection itself (decision review, the tag named).
          }
        }
        const stages: AtrStage[] = [];
        const detectors: OnnxDetector[] = [];
        const problems: string[] = [];
        if (opts.atr) {
          const cards = opts.card ?? [defaultXrayCard()];
          for (const [i, card] of cards.entries()) {
            try {
              const det = await OnnxDetector.load(resolveCardPath(card));
              detectors.push(det);
              stages.push({ name: cards.length === 1 ? 'threats' : `stage${i + 1}`, detector: det });
            } catch (e) {
              problems.push(`ATR stage ${i + 1} unavailable: ${reasonOf(e)}`);
              process.stderr.write(`xray inspect: ${(e as Error).message}\n`);
            }
          }
        }
        const { result, planes } = await inspectScan(
          { scanId: sidecar?.scanId ?? image, high: image, ...(low !== undefined ? { low } : {}), ...(sidecar !== undefined ? { sidecar } : {}), problems },
          { stages, maxSide: opts.maxSide, pitch_cm: opts.pitch ?? 0.25, palette: opts.palette, ...(opts.references !== undefined ? { referencesDir: opts.references } : {}) },
        );
        for (const d of detectors) await d.close();
        if (opts.render !== undefined && planes?.classes !== undefined) {
          await writeFile(opts.render, await encodeRgbPng(renderColour(planes.aHigh, planes.classes, planes.width, planes.height), planes.width, planes.height));
        }
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        } else {
          const m = result.materials;
          const lines = [
            `scan ${result.scanId}: ${result.decision.toUpperCase()}${result.input !== undefined ? ` (${result.input.kind}, ${result.input.bits}-bit ${result.input.format}${result.input.palette !== undefined ? `, palette ${result.input.palette}` : ''})` : ''}`,
            ...result.reasons.map((r) => `  reason: ${r}`),
            `detections (${result.detections.length}):`,
            ...result.detections.map((d) => `  ${d.class.padEnd(14)} ${d.score.toFixed(2)}  box ${d.box.join(',')}  (${d.stage})`),
            m
              ? `materials: organic ${(m.organic * 100).toFixed(0)} %, inorganic ${(m.inorganic * 100).toFixed(0)} %, metal ${(m.metal * 100).toFixed(0)} %, opaque ${(m.opaque * 100).toFixed(1)} %; ` +
                `largest dense organic ${m.denseOrganic.area_cm2 !== undefined ? `${m.denseOrganic.area_cm2.toFixed(0)} cm2` : `${m.denseOrganic.pixels} px`}`
              : 'materials: not analysed',
            `latency ${result.latency_ms.toFixed(0)} ms (${Object.entries(result.timings_ms)
              .map(([k, v]) => `${k} ${v.toFixed(0)}`)
              .join(', ')})`,
          ];
          process.stdout.write(`${lines.join('\n')}\n`);
        }
        // Exit status for scripts: 0 clear, 3 review, 4 inspect.
        process.exitCode = result.decision === 'clear' ? 0 : result.decision === 'review' ? 3 : 4;
      },
    );

  xray
    .command('tip')
    .description('generate synthetic dual-energy images with threats projected in transmission space, plus COCO and YOLO labels')
    .option('--out <dir>', 'output folder (images/, labels/, annotations.json, classes.txt); required unless --export-threats')
    .addOption(new Option('--count <n>', 'number of images').argParser(Number).default(100))
    .addOption(new Option('--difficulty <level>', 'blend factor, clutter and overlap with dense regions').choices([...DIFFICULTIES, 'mixed']).default('mixed'))
    .addOption(new Option('--seed <n>', 'seed: the same seed writes the same images').argParser(Number).default(1))
    .addOption(new Option('--size <px>', 'image side').argParser(Number).default(256))
    .addOption(new Option('--pitch <cm>', 'pixel size at the belt').argParser(Number).default(0.25))
    .addOption(new Option('--format <fmt>', 'png: a _high/_low 16-bit PNG pair per scan; dicos: one two-frame DICOS file (<id>.dcs)').choices(['png', 'dicos']).default('png'))
    .option('--threats <dir>', 'threat library: <name>_high.png, <name>_low.png (object alone, 16-bit transmission) and <name>.json {class, pitch_cm}')
    .option('--export-threats <dir>', 'write the synthetic threat objects as such a library (5 per class) and exit')
    .addHelpText(
      'after',
      `\nThreat classes: ${THREAT_CLASSES.join(', ')}. Each image is a synthetic bag (shell, frame, clutter of cloth, water,\n` +
        'paper, aluminium, electronics, steel) with 0-2 threats; each threat is drawn alone as its own transmission image,\n' +
        'rotated, scaled and multiplied into the bag (T = T_bag x T_threat^blend per energy channel).\n' +
        'Difficulty: easy (blend 0.9-1, 3-8 items, never over dense regions), medium (0.7-1, 8-16, 35 %), hard (0.45-0.85, 14-26, 70 %).\n' +
        'The images/ folder is also a valid drop folder for the xray-folder driver (sidecars included).\n',
    )
    .action(async (opts: { out?: string; count: number; difficulty: Difficulty | 'mixed'; seed: number; size: number; pitch: number; format: 'png' | 'dicos'; threats?: string; exportThreats?: string }) => {
      if (opts.exportThreats !== undefined) {
        const n = await writeThreatLibrary(opts.exportThreats, { perClass: 5, seed: opts.seed, pitch_cm: opts.pitch });
        process.stdout.write(`${n} threat objects in ${opts.exportThreats}\n`);
        return;
      }
      if (opts.out === undefined) throw new InputError('--out <dir> is required (where the images and labels go)');
      const out = opts.out;
      if (!Number.isInteger(opts.count) || opts.count < 1) throw new InputError(`--count ${opts.count}: expected a positive integer`);
      if (!Number.isInteger(opts.size) || opts.size < 64 || opts.size > 8192) throw new InputError(`--size ${opts.size}: expected an integer 64..8192`);
      const t0 = Date.now();
      let last = 0;
      const summary = await writeTipDataset({
        out,
        count: opts.count,
        difficulty: opts.difficulty,
        seed: opts.seed,
        size: opts.size,
        pitch_cm: opts.pitch,
        format: opts.format,
        ...(opts.threats !== undefined ? { threatsDir: opts.threats } : {}),
        onProgress: (done, total) => {
          const now = Date.now();
          if (now - last > 500 || done === total) {
            last = now;
            process.stderr.write(`\rtip: ${done}/${total} images (${((done / Math.max(1, now - t0)) * 1000).toFixed(1)}/s)${done === total ? '\n' : ''}`);
          }
        },
      });
      process.stdout.write(
        `${summary.images} images in ${out} (${summary.clean} without threats); objects: ${Object.entries(summary.objects)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}\n`,
      );
    });

  xray
    .command('verdict')
    .description("record a screener's or an inspection's verdict on a scan beside the node's decisions (for model updates)")
    .requiredOption('--log <dir>', 'the pipeline logDir (decisions.jsonl, verdicts.jsonl)')
    .argument('<scanId>', 'scan id as in the decision')
    .argument('<verdict>', `one of ${VERDICTS.join(', ')}`)
    .option('--class <name>', 'what was found (repeat for several)', collect)
    .option('--by <who>', 'screener or officer id')
    .option('--note <text>', 'free text')
    .action(async (scanId: string, verdict: string, opts: { log: string; class?: string[]; by?: string; note?: string }) => {
      if (!(VERDICTS as readonly string[]).includes(verdict)) throw new InputError(`verdict "${verdict}": expected one of ${VERDICTS.join(', ')}`);
      const log = new DecisionLog(opts.log);
      await log.init();
      const known = (await log.decisions()).some((d) => d.scanId === scanId);
      if (!known) process.stderr.write(`xray verdict: warning: no decision for ${scanId} in ${opts.log} (recorded anyway)\n`);
      await log.appendVerdict({
        scanId,
        verdict: verdict as Verdict,
        ...(opts.class !== undefined ? { found: opts.class.map((c) => ({ class: c })) } : {}),
        ...(opts.by !== undefined ? { by: opts.by } : {}),
        ...(opts.note !== undefined ? { note: opts.note } : {}),
        ts: Date.now(),
      });
      process.stdout.write(`recorded ${verdict} for ${scanId}\n`);
    });
}
