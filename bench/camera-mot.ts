// Camera tracking quality on public MOTChallenge sequences (scripts/fetch-mot.sh): MOTA, IDF1, HOTA, ids per true
// identity and customs events per hour, through the same analyze chain as `customs-edge camera analyze`.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { evaluateMot, parseMot, type MotEvaluation } from '../analysis/vision/mot-eval.js';
import { analyzeRecording, motLines, PublicDetections, type AnalyzeResult } from '../edge/vision/analyze.js';
import { loadCameraDetector } from '../edge/vision/detectors.js';
import type { FrameDetector } from '../edge/vision/analyzer.js';

type Report = (name: string, value: string) => void;

const f3 = (v: number) => v.toFixed(3);

function scores(e: MotEvaluation): string {
  const c = e.clear;
  return `MOTA ${f3(c.mota)} IDF1 ${f3(e.identity.idf1)} HOTA ${f3(e.hota.hota)} (DetA ${f3(e.hota.detA)} AssA ${f3(e.hota.assA)}); ids per true identity ${c.idsPerGt.toFixed(2)}, IDSW ${c.idsw}, FP ${c.fp}, FN ${c.fn}`;
}

function eventsPerHour(r: AnalyzeResult): string {
  const s = r.stats.frames / Math.max(1e-9, r.source.fps);
  return `${r.events.length} events in ${s.toFixed(1)} s${r.events.length ? ` (${r.events.map((e) => e.kind).join(', ')})` : ''}`;
}

export async function benchCameraMot(opts: { quick: boolean }, report: Report): Promise<void> {
  const dir = process.env.MOT_DIR ?? '/tmp/mot';
  const seqs = existsSync(dir) ? readdirSync(dir).filter((s) => existsSync(join(dir, s, 'gt', 'gt.txt'))).sort() : [];
  if (seqs.length === 0) {
    report('camera MOT sequences', `not run: none in ${dir}; run scripts/fetch-mot.sh (after fetching github:jvlmdr/py-motmetrics and github:abewley/sort into /work/.mirror), or set MOT_DIR`);
    return;
  }
  for (const seq of seqs) {
    const root = join(dir, seq);
    const gtFile = join(root, 'gt', 'gt.txt');
    const gt = parseMot(readFileSync(gtFile, 'utf8'), { file: gtFile, kind: 'gt' });
    const runs: [label: string, detector: () => Promise<FrameDetector & { close?: () => Promise<void> }>][] = [];
    if (existsSync(join(root, 'det', 'det.txt'))) runs.push(['public detections (det/det.txt)', async () => PublicDetections.fromFile(join(root, 'det', 'det.txt'))]);
    if (existsSync(join(root, 'img1'))) runs.push(['COCO detector on img1/', async () => loadCameraDetector({ kind: 'coco' })]);
    else report(`${seq}: detector on frames`, `not run: no ${join(root, 'img1')} (the mirrors hold no frames of this sequence)`);
    for (const [label, make] of runs) {
      let detector: (FrameDetector & { close?: () => Promise<void> }) | undefined;
      try {
        detector = await make();
        const r = await analyzeRecording({ input: root, detector, ...(opts.quick ? { maxFrames: 100 } : {}) });
        const pred = parseMot(motLines(r), { file: `${seq} analyze`, kind: 'pred' });
        const e = evaluateMot(opts.quick ? gt.filter((g) => g.frame <= r.frames.length) : gt, pred, { frames: r.frames.length });
        report(`${seq} (${r.frames.length} frames ${r.source.width}x${r.source.height}), ${label}`, scores(e));
        report(`${seq}, ${label}: customs events (nothing left behind in this footage)`, eventsPerHour(r));
        report(`${seq}, ${label}: frames per second through the chain`, (r.stats.frames / r.stats.wall_s).toFixed(1));
      } catch (err) {
        report(`${seq}, ${label}`, `not run: ${(err as Error).message}`);
      } finally {
        await detector?.close?.();
      }
    }
    const ref = join(root, 'ref', 'py-motmetrics-test.txt');
    if (existsSync(ref)) {
      const e = evaluateMot(gt, parseMot(readFileSync(ref, 'utf8'), { file: ref, kind: 'pred' }));
      report(`${seq}: py-motmetrics' test result scored here (its own MOTA/IDF1 in docs/camera-evaluation.md)`, scores(e));
    }
  }
}
