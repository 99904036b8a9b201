// `customs-edge camera ...`: make synthetic arrival-hall videos, detector training data, and measure the camera chain.
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { Option } from 'commander';
import { InputError } from '../../common/errors.js';
import { writeDataset } from '../vision/dataset.js';
import { registerCameraAnalyze, runMotEval } from './camera-analyze.js';
import { evaluateVideo } from '../vision/evaluate.js';
import { hallScenario, randomScenario } from '../../analysis/vision/scene.js';
import { writeSceneVideo } from '../vision/video.js';
import { layoutFromConfig, readFirstFrame, renderZones } from '../vision/zones.js';
import { resolveCardPath } from '../xray/atr.js';

function int(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new InputError(`--${name}: expected a non-negative integer, got "${v}"`);
    return n;
  };
}

const SIZES = ['640x480', '320x240'] as const;

function size(v: string): [number, number] {
  const m = /^(\d+)x(\d+)$/.exec(v);
  if (!m) throw new InputError(`--size: expected WIDTHxHEIGHT (e.g. ${SIZES.join(' or ')}), got "${v}"`);
  return [Number(m[1]), Number(m[2])];
}

export function registerCameraCommands(program: Command): void {
  const cam = program
    .command('camera')
    .description('camera node: synthetic arrival-hall scenes with ground truth, detector training data, tracking/event evaluation')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  customs-edge camera scene --out /tmp/hall.avi                       # scripted 60 s hall + hall.avi.truth.json\n' +
        '  customs-edge camera dataset --out /tmp/cam/train --frames 1800 --seed 1000\n' +
        '  customs-edge camera eval --size 640x480                             # MOTA, id switches, event precision/recall\n' +
        '  customs-edge camera analyze /tmp/mot/TUD-Stadtmitte --mot /tmp/ts.txt  # tracks + events on footage; MOT lines\n' +
        '  customs-edge camera eval --gt /tmp/mot/TUD-Stadtmitte/gt/gt.txt --pred /tmp/ts.txt  # MOTA, IDF1, HOTA\n' +
        '  customs-edge camera zones hall.avi --config node.json --grid --out zones.png  # zones and masks over the first frame\n',
    );

  cam
    .command('scene')
    .description('render a synthetic hall (scripted events, or a random crowd) to an MJPEG/AVI or Theora/Ogg video via GStreamer, with per-frame truth JSON')
    .requiredOption('--out <file>', 'video file (.avi: jpegenc+avimux, .ogv: theoraenc+oggmux)')
    .option('--size <WxH>', 'frame size', '640x480')
    .option('--seed <n>', 'PRNG seed', int('seed'), 7)
    .addOption(new Option('--kind <kind>', 'scripted hall or random crowd').choices(['hall', 'random']).default('hall'))
    .option('--seconds <n>', 'length of a random crowd', int('seconds'), 30)
    .action(async (o: { out: string; size: string; seed: number; kind: 'hall' | 'random'; seconds: number }) => {
      const [width, height] = size(o.size);
      const scenario = o.kind === 'hall' ? hallScenario({ width, height, seed: o.seed }) : randomScenario({ width, height, seed: o.seed, duration_s: o.seconds });
      const truth = await writeSceneVideo({ scenario, file: resolve(o.out) });
      process.stdout.write(`${o.out}: ${truth.frames.length} frames ${width}x${height} @ ${scenario.fps} fps, ${scenario.events.length} scripted events; truth in ${o.out}.truth.json\n`);
    });

  cam
    .command('dataset')
    .description('write detector training data (images.u8 + labels.json) for models/camera-detector/train.py')
    .requiredOption('--out <dir>', 'output folder')
    .option('--frames <n>', 'frames', int('frames'), 1800)
    .option('--seed <n>', 'first scene seed', int('seed'), 1000)
    .option('--input <WxH>', 'model input size', '256x192')
    .action(async (o: { out: string; frames: number; seed: number; input: string }) => {
      const [width, height] = size(o.input);
      const r = await writeDataset({ dir: resolve(o.out), frames: o.frames, seed: o.seed, width, height });
      process.stdout.write(`${o.out}: ${r.frames} frames, ${r.boxes} boxes\n`);
    });

  cam
    .command('zones')
    .description('zone editor without a GUI: the first frame of a video or an image with the configured zones (labelled) and exclusion masks (hatched) drawn over it, as PNG')
    .argument('<input>', 'video file (read through the GStreamer child, as the node reads it) or image (.png, .jpg)')
    .requiredOption('--out <file>', 'PNG to write')
    .option('--config <node.json>', 'node config whose camera pipeline holds the zones and cameras[].exclude masks')
    .option('--camera <id>', 'camera whose zones and masks to draw (default: the first in the config)')
    .option('--grid [step]', 'draw normalised coordinates every step (default 0.05) to read polygon vertices off', Number)
    .action(async (input: string, o: { out: string; config?: string; camera?: string; grid?: number | true }) => {
      const layout = o.config ? layoutFromConfig(resolve(o.config), o.camera) : { camera: o.camera ?? '', zones: [], exclude: [] };
      const frame = await readFirstFrame(input);
      const grid = o.grid === true ? 0.05 : o.grid;
      const r = await renderZones({ frame, layout, out: o.out, ...(grid !== undefined ? { grid } : {}) });
      process.stdout.write(`${o.out}: ${r.width}x${r.height}, ${layout.zones.length} zones, ${layout.exclude.length} exclusion masks${layout.camera ? ` (camera ${layout.camera})` : ''}\n`);
    });

  registerCameraAnalyze(cam);

  cam
    .command('eval')
    .description('render the scripted hall, read it back through the GStreamer child, detect + track + events; print MOTA and event precision/recall')
    .option('--size <WxH>', 'frame size', '640x480')
    .option('--seed <n>', 'scene seed (colours)', int('seed'), 7)
    .addOption(new Option('--detector <kind>', 'coco: the pretrained COCO detector (real footage); onnx: a model card, such as the synthetic-scene detector the hall was made for').choices(['coco', 'onnx']).default('coco'))
    .option('--model <name|card>', 'coco: nanodet (default) or centernet; onnx: model card (default models/camera-detector/model-card.json; a relative path not found here is taken from the installed package)')
    .option('--video <file>', 'where to write the video', '/tmp/customs-camera-eval.avi')
    .option('--score <p>', 'detector score threshold instead of the card\'s', Number)
    .option('--json', 'print JSON')
    .option('--gt <gt.txt>', 'score MOTChallenge results (--pred) against this ground truth instead: MOTA, MOTP, IDF1, HOTA, ids per true identity')
    .option('--pred <mot.txt>', 'MOTChallenge result lines (camera analyze --mot writes them)')
    .action(async (o: { size: string; seed: number; detector: 'coco' | 'onnx'; model?: string; video: string; score?: number; json?: boolean; gt?: string; pred?: string }) => {
      if (o.gt !== undefined || o.pred !== undefined) return runMotEval(o);
      const [width, height] = size(o.size);
      const truth = await writeSceneVideo({ scenario: hallScenario({ width, height, seed: o.seed }), file: resolve(o.video), truthFile: false });
      const model = o.model === undefined ? {} : { model: o.detector === 'onnx' ? resolveCardPath(o.model) : o.model };
      const r = await evaluateVideo({ video: resolve(o.video), truth, detector: { kind: o.detector, ...model, ...(o.score !== undefined ? { score: o.score } : {}) } });
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ ...r, events: r.events.map((e) => ({ type: e.type, t_s: e.t_s, trackIds: e.trackIds })) }, null, 2)}\n`);
        return;
      }
      const m = r.mot;
      process.stdout.write(
        `frames ${r.frames} (${width}x${height}) in ${r.wall_s.toFixed(1)} s, detect ${r.detect_ms_per_frame.toFixed(1)} ms/frame\n` +
          `MOTA ${m.mota.toFixed(3)}  MOTP(IoU) ${m.motp_iou.toFixed(3)}  ID switches ${m.idSwitches}  FP ${m.falsePositives}  misses ${m.misses}  GT ${m.groundTruth}  mostly tracked ${m.mostlyTracked}/${m.gtTracks}\n` +
          `events: precision ${r.eventScore.precision.toFixed(2)} recall ${r.eventScore.recall.toFixed(2)} (${r.eventScore.truePositives} right, ${r.eventScore.falsePositives} wrong, ${r.eventScore.falseNegatives} missed)\n` +
          r.events.map((e) => `  ${e.t_s.toFixed(1).padStart(5)} s  ${e.type.padEnd(14)} tracks ${e.trackIds.join(',')}${e.zone ? `  zone ${e.zone}` : ''}\n`).join(''),
      );
    });
}
