// `customs-edge camera analyze` and `camera eval --gt --pred`: the camera chain on recorded footage, and MOTChallenge scores.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { InputError } from '../../common/errors.js';
import { evaluateMot, parseMot, type MotEvaluation } from '../../analysis/vision/mot-eval.js';
import { analyzeRecording, motLines, PublicDetections, type AnalyzeResult } from '../vision/analyze.js';
import { loadCameraDetector } from '../vision/detectors.js';
import { layoutFromConfig } from '../vision/zones.js';
import type { FrameDetector } from '../vision/analyzer.js';

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`${what} ${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Scores a MOTChallenge result file against a gt.txt. */
export function evalMotFiles(o: { gt: string; pred: string; iou?: number }): MotEvaluation & { gtFile: string; predFile: string } {
  const gt = parseMot(readText(o.gt, '--gt'), { file: o.gt, kind: 'gt' });
  const pred = parseMot(readText(o.pred, '--pred'), { file: o.pred, kind: 'pred' });
  if (gt.length === 0) throw new InputError(`--gt ${o.gt}: no boxes`);
  return { ...evaluateMot(gt, pred, o.iou !== undefined ? { iou: o.iou } : {}), gtFile: o.gt, predFile: o.pred };
}

const f3 = (v: number) => v.toFixed(3);

export function formatMotEvaluation(r: MotEvaluation & { gtFile: string; predFile: string }): string {
  const c = r.clear;
  const i = r.identity;
  const h = r.hota;
  return (
    `${r.predFile} against ${r.gtFile}: ${r.frames} frames, ${c.gtIds} true identities (${c.gtBoxes} boxes), ${c.predIds} predicted ids (${c.predBoxes} boxes${r.ignoredPredictions ? `, ${r.ignoredPredictions} more on ignore regions` : ''})\n` +
    `MOTA ${f3(c.mota)}  MOTP ${f3(c.motp)}  IDF1 ${f3(i.idf1)} (IDP ${f3(i.idp)} IDR ${f3(i.idr)})  HOTA ${f3(h.hota)} (DetA ${f3(h.detA)} AssA ${f3(h.assA)} LocA ${f3(h.locA)})\n` +
    `TP ${c.tp}  FP ${c.fp}  FN ${c.fn}  IDSW ${c.idsw}  Frag ${c.frag}  MT/PT/ML ${c.mt}/${c.pt}/${c.ml}  ids per true identity ${c.idsPerGt.toFixed(2)}\n`
  );
}

/** `camera eval --gt --pred`: called from the eval command of camera.ts when --gt is given. */
export function runMotEval(o: { gt?: string; pred?: string; json?: boolean }): void {
  if (!o.gt || !o.pred) throw new InputError('camera eval: --gt <gt.txt> and --pred <mot.txt> go together (without both, eval runs the synthetic hall)');
  const r = evalMotFiles({ gt: o.gt, pred: o.pred });
  if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  else process.stdout.write(formatMotEvaluation(r));
}

function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new InputError(`--${name}: expected a positive integer, got "${v}"`);
    return n;
  };
}

function probability(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!(n >= 0 && n < 1)) throw new InputError(`--${name}: expected a number in [0, 1), got "${v}"`);
    return n;
  };
}

interface AnalyzeCliOptions {
  json?: boolean;
  mot?: string;
  maxFrames?: number;
  fps?: number;
  detector: 'coco' | 'onnx';
  model?: string;
  score?: number;
  det?: string;
  detMinScore?: number;
  config?: string;
  camera?: string;
}

const pt = ([x, y]: readonly [number, number]): [number, number] => [x, y];

function summary(r: AnalyzeResult): string {
  const byKind = new Map<string, number>();
  for (const e of r.events) byKind.set(e.kind, (byKind.get(e.kind) ?? 0) + 1);
  const hours = r.source.fps > 0 ? r.stats.frames / r.source.fps / 3600 : 0;
  const people = r.frames.reduce((s, f) => s + f.tracks.filter((t) => t.class === 'person').length, 0) / Math.max(1, r.frames.length);
  return (
    `${r.source.input}: ${r.stats.frames} frames ${r.source.width}x${r.source.height} @ ${r.source.fps} fps in ${r.stats.wall_s.toFixed(1)} s, detect ${r.stats.detect_ms_per_frame.toFixed(1)} ms/frame\n` +
    `confirmed people per frame ${people.toFixed(2)}; ids: ${r.stats.personIds} person, ${r.stats.bagIds} bag\n` +
    `events ${r.events.length}${hours > 0 ? ` (${(r.events.length / hours).toFixed(1)} per hour)` : ''}${[...byKind].map(([k, n]) => `, ${k} ${n}`).join('')}\n` +
    r.events.map((e) => `  ${(e.ts_ms / 1000).toFixed(1).padStart(7)} s  ${e.kind.padEnd(14)} tracks ${e.trackIds.join(',')}${e.zone ? `  zone ${e.zone}` : ''}\n`).join('')
  );
}

export function registerCameraAnalyze(cam: Command): void {
  cam
    .command('analyze')
    .description('run recorded footage through the camera chain (detector → tracker → events) and print tracks per frame and events')
    .argument('<input>', 'video file, stream URI (file://, rtsp://, http://) or image folder (a MOTChallenge sequence folder with img1/ and seqinfo.ini, or img1/ itself)')
    .option('--json', 'print { frames: [{ index, ts_ms, tracks: [{ id, class, box: [x, y, w, h], score }] }], events: [{ kind, ts_ms, trackIds, ... }] }')
    .option('--mot <file>', 'also write the confirmed people as MOTChallenge lines frame,id,x,y,w,h,conf,-1,-1,-1 (frame = index + 1)')
    .option('--max-frames <n>', 'stop after n frames', positiveInt('max-frames'))
    .option('--fps <n>', 'frame rate of an image folder without seqinfo.ini (default 25)', positiveInt('fps'))
    .addOption(new Option('--detector <kind>', 'coco: the pretrained COCO detector; onnx: a model card (--model)').choices(['coco', 'onnx']).default('coco'))
    .option('--model <name>', 'coco model name or ONNX model card')
    .option('--score <p>', 'detector score threshold', probability('score'))
    .option('--det <det.txt>', 'use MOTChallenge public detections instead of a detector (tracking measured apart from detection)')
    .option('--det-min-score <p>', 'drop public detections below this score (after rescaling to 0..1)', probability('det-min-score'))
    .option('--config <node.json>', 'take the zones and exclusion masks of a camera from a node config, as the node would')
    .option('--camera <id>', 'with --config: which camera (default the first)')
    .action(async (input: string, o: AnalyzeCliOptions) => {
      let detector: FrameDetector & { close?: () => Promise<void> };
      let detectorName: string;
      if (o.det) {
        detector = PublicDetections.fromFile(resolve(o.det), o.detMinScore !== undefined ? { minScore: o.detMinScore } : {});
        detectorName = `public detections ${o.det}`;
      } else {
        const d = await loadCameraDetector({ kind: o.detector, ...(o.model !== undefined ? { model: o.model } : {}), ...(o.score !== undefined ? { score: o.score } : {}) });
        detector = d;
        detectorName = `${d.name}@${d.version}`;
      }
      const layout = o.config ? layoutFromConfig(resolve(o.config), o.camera) : undefined;
      let last = 0;
      const started = performance.now();
      process.stderr.write(`analyze: ${input} with ${detectorName}\n`);
      try {
        const r = await analyzeRecording({
          input,
          detector,
          ...(o.maxFrames !== undefined ? { maxFrames: o.maxFrames } : {}),
          ...(o.fps !== undefined ? { fps: o.fps } : {}),
          ...(layout ? { analyzer: { zones: layout.zones.map((z) => ({ id: z.id, polygon: z.polygon.map(pt) })), exclude: layout.exclude.map((m) => m.map(pt)) } } : {}),
          onFrame: (_f, done, total) => {
            const now = performance.now();
            if (now - last < 2000 && done !== total) return;
            last = now;
            process.stderr.write(`analyze: frame ${done}${total ? `/${total}` : ''} (${((1000 * done) / Math.max(1, now - started)).toFixed(1)} frames/s)\n`);
          },
        });
        if (o.mot) {
          writeFileSync(o.mot, motLines(r));
          process.stderr.write(`analyze: ${o.mot}: MOTChallenge lines for ${r.stats.personIds} person ids\n`);
        }
        if (o.json) process.stdout.write(`${JSON.stringify({ frames: r.frames, events: r.events, source: r.source, stats: { ...r.stats, detector: detectorName } })}\n`);
        else process.stdout.write(summary(r));
      } finally {
        await detector.close?.();
      }
    });
}
