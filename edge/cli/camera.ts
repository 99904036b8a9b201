// `customs-edge camera ...`: make synthetic arrival-hall videos, detector training data, and measure the camera chain.
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { Option } from 'commander';
import { InputError } from '../../common/errors.js';
import { writeDataset } from '../vision/dataset.js';
import { evaluateVideo } from '../vision/evaluate.js';
import { hallScenario, randomScenario } from '../../analysis/vision/scene.js';
import { writeSceneVideo } from '../vision/video.js';
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
        '  customs-edge camera eval --size 640x480                             # MOTA, id switches, event precision/recall\n',
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
    .command('eval')
    .description('render the scripted hall, read it back through the GStreamer child, detect + track + events; print MOTA and event precision/recall')
    .option('--size <WxH>', 'frame size', '640x480')
    .option('--seed <n>', 'scene seed (colours)', int('seed'), 7)
    .option('--model <card>', 'detector model card (a relative path not found here is taken from the installed package)', 'models/camera-detector/model-card.json')
    .option('--video <file>', 'where to write the video', '/tmp/customs-camera-eval.avi')
    .option('--score <p>', 'detector score threshold instead of the card\'s', Number)
    .option('--json', 'print JSON')
    .action(async (o: { size: string; seed: number; model: string; video: string; score?: number; json?: boolean }) => {
      const [width, height] = size(o.size);
      const truth = await writeSceneVideo({ scenario: hallScenario({ width, height, seed: o.seed }), file: resolve(o.video), truthFile: false });
      const r = await evaluateVideo({ video: resolve(o.video), truth, card: resolveCardPath(o.model), ...(o.score !== undefined ? { score: o.score } : {}) });
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
