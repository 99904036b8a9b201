// `camera analyze` on image folders: MOTChallenge folders read in frame order, public detections, MOT lines that
// score back against their truth, and inputs that are not what they should be.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import t from 'tap';
import { evaluateMot, parseMot, type MotRow } from '../../analysis/vision/mot-eval.js';
import { addNoise, frameCount, hallScenario, renderFloor, renderFrame, truthAt } from '../../analysis/vision/scene.js';
import { analyzeRecording, AnalyzeError, listImageFolder, motLines, PublicDetections, readSeqInfo } from '../../edge/vision/analyze.js';
import { loadCameraDetector } from '../../edge/vision/detectors.js';
import { writeSceneVideo } from '../../edge/vision/video.js';
import { evalMotFiles, formatMotEvaluation, runMotEval } from '../../edge/cli/camera-analyze.js';
import { EDGE_CLI } from '../helpers/paths.js';

const run = promisify(execFile);
const tmp = mkdtempSync(join(tmpdir(), 'customs-analyze-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

/** Two people walking across a 640x480 view for 30 frames: as gt rows, and as det.txt lines with the same boxes. */
function walkers(): { gt: string; det: string } {
  const gt: string[] = [];
  const det: string[] = [];
  for (let f = 1; f <= 30; f++) {
    const a = [20 + 8 * f, 100, 40, 120];
    const b = [560 - 6 * f, 300, 50, 150];
    gt.push(`${f},1,${a.join(',')},1,1,1`, `${f},2,${b.join(',')},1,1,1`);
    det.push(`${f},-1,${a.join(',')},0.9,-1,-1,-1`, `${f},-1,${b.join(',')},0.8,-1,-1,-1`);
  }
  return { gt: `${gt.join('\n')}\n`, det: `${det.join('\n')}\n` };
}

t.test('seqinfo.ini: values read, a bad value named with file and line', async (t) => {
  mkdirSync(join(tmp, 'si'));
  const f = join(tmp, 'si', 'seqinfo.ini');
  writeFileSync(f, '[Sequence]\nname=X\nimDir=img1\nframeRate=14\nseqLength=5\nimWidth=640\nimHeight=480\nimExt=.jpg\n');
  t.same(readSeqInfo(f), { name: 'X', imDir: 'img1', frameRate: 14, seqLength: 5, imWidth: 640, imHeight: 480, imExt: '.jpg' });
  writeFileSync(f, '[Sequence]\nframeRate=fast\n');
  t.throws(() => readSeqInfo(f), { code: 'E_ANALYZE', message: `${f}:2: frameRate: expected a positive number, got "fast"` });
});

t.test('an image folder is read in numeric order, from the sequence folder or img1/ itself', async (t) => {
  const seq = join(tmp, 'order');
  mkdirSync(join(seq, 'img1'), { recursive: true });
  for (const n of [10, 2, 1]) await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: n, g: 0, b: 0 } } }).jpeg().toFile(join(seq, 'img1', `${n}.jpg`));
  writeFileSync(join(seq, 'img1', 'notes.txt'), 'not an image');
  const names = (d: string) => listImageFolder(d).files.map((f) => f.slice(f.lastIndexOf('/') + 1));
  t.same(names(seq), ['1.jpg', '2.jpg', '10.jpg'], 'numeric, not 1, 10, 2; the text file left out');
  t.same(names(join(seq, 'img1')), ['1.jpg', '2.jpg', '10.jpg']);
  const empty = join(tmp, 'empty');
  mkdirSync(empty);
  t.throws(() => listImageFolder(empty), { code: 'E_ANALYZE', message: new RegExp(`^${empty}: no images`) });
});

t.test('public detections through the tracker: two walkers, two ids, MOT lines that score against their truth', async (t) => {
  const seq = join(tmp, 'walkers');
  mkdirSync(join(seq, 'gt'), { recursive: true });
  const w = walkers();
  writeFileSync(join(seq, 'gt', 'gt.txt'), w.gt);
  writeFileSync(join(seq, 'det.txt'), w.det);
  writeFileSync(join(seq, 'seqinfo.ini'), '[Sequence]\nname=walkers\nimDir=img1\nframeRate=10\nseqLength=30\nimWidth=640\nimHeight=480\nimExt=.jpg\n');
  const seen: number[] = [];
  const r = await analyzeRecording({ input: seq, detector: PublicDetections.fromFile(join(seq, 'det.txt')), onFrame: (_f, done) => seen.push(done) });
  t.equal(r.source.kind, 'detections', 'no frames: blank frames of the seqinfo size');
  t.same([r.source.width, r.source.height, r.source.fps], [640, 480, 10]);
  t.equal(r.frames.length, 30);
  t.same(seen.slice(0, 3), [1, 2, 3], 'progress after every frame');
  t.same(r.frames.slice(0, 3).map((f) => f.ts_ms), [0, 100, 200], 'time from the frame rate');
  t.equal(r.stats.personIds, 2);
  const lines = motLines(r);
  const pred = parseMot(lines, { file: 'pred', kind: 'pred' });
  const e = evaluateMot(parseMot(w.gt, { file: 'gt', kind: 'gt' }), pred);
  // A track is reported from its second hit (confirmHits 2): frame 1 is missed for both, the other 58 boxes are hits.
  t.ok(e.clear.tp >= 56, `TP ${e.clear.tp} of 60`);
  t.equal(e.clear.fp, 0);
  t.equal(e.clear.idsw, 0);
  t.ok(e.clear.mota > 0.9, `MOTA ${e.clear.mota}`);
  t.equal(e.clear.idsPerGt, 1);
  t.match(lines.split('\n')[0], /^2,\d+,[\d.]+,[\d.]+,[\d.]+,[\d.]+,0\.\d{3},-1,-1,-1$/, 'frame = index + 1, result format');

  const five = await analyzeRecording({ input: seq, detector: PublicDetections.fromFile(join(seq, 'det.txt')), maxFrames: 5 });
  t.equal(five.frames.length, 5, '--max-frames stops early');
});

t.test('a MOTChallenge folder of JPEGs through the ONNX detector, tracker and events', async (t) => {
  // 40 frames (4 s at 10 fps) of the scripted hall at 320x240, as JPEGs with a seqinfo.ini: the synthetic detector
  // (the test fixture) finds the people the renderer drew; the chain's tracks score against the renderer's truth.
  const s = hallScenario({ width: 320, height: 240 });
  const seq = join(tmp, 'hall');
  mkdirSync(join(seq, 'img1'), { recursive: true });
  const floor = renderFloor(s.width, s.height, s.seed);
  const gt: MotRow[] = [];
  const start = 30; // t = 3 s: person 1 and bag 101 are in view
  const n = Math.min(40, frameCount(s) - start);
  for (let i = 0; i < n; i++) {
    const buf = renderFrame(s, start + i, floor);
    addNoise(buf, i, 4);
    await sharp(Buffer.from(buf), { raw: { width: s.width, height: s.height, channels: 3 } }).jpeg({ quality: 90 }).toFile(join(seq, 'img1', `${String(i + 1).padStart(6, '0')}.jpg`));
    for (const o of truthAt(s, start + i).objects) {
      if (o.cls !== 'person' || o.visibility < 0.3) continue;
      gt.push({ frame: i + 1, id: o.id, box: [o.box[0], o.box[1], o.box[2] - o.box[0], o.box[3] - o.box[1]], conf: 1, cls: 1, vis: o.visibility, line: gt.length + 1 });
    }
  }
  writeFileSync(join(seq, 'seqinfo.ini'), `[Sequence]\nname=hall\nimDir=img1\nframeRate=${s.fps}\nseqLength=${n}\nimWidth=${s.width}\nimHeight=${s.height}\nimExt=.jpg\n`);
  const detector = await loadCameraDetector({ kind: 'onnx' });
  try {
    const r = await analyzeRecording({ input: seq, detector });
    t.equal(r.source.kind, 'images');
    t.same([r.source.width, r.source.height, r.source.fps], [320, 240, s.fps]);
    t.equal(r.frames.length, n);
    t.equal(r.frames[9]!.index, 9, 'index from the file name 000010.jpg');
    t.equal(r.frames[9]!.ts_ms, Math.round((9 / s.fps) * 1000));
    const tr = r.frames.flatMap((f) => f.tracks);
    t.ok(tr.some((x) => x.class === 'person') && tr.every((x) => x.box.length === 4 && x.box[2] > 0 && x.box[3] > 0), 'people tracked, boxes as x, y, w, h');
    const e = evaluateMot(gt, parseMot(motLines(r), { file: 'pred', kind: 'pred' }));
    t.ok(e.clear.mota > 0.5, `MOTA ${e.clear.mota.toFixed(3)} on the hall frames`);
    t.ok(e.identity.idf1 > 0.5, `IDF1 ${e.identity.idf1.toFixed(3)}`);
  } finally {
    await detector.close();
  }
});

t.test('a video file through the GStreamer child, stopped by --max-frames', async (t) => {
  // 30 frames of the scripted hall at 320x240 encoded to MJPEG/AVI; analyze stops after 12 of them.
  const s = hallScenario({ width: 320, height: 240 });
  const video = join(tmp, 'hall.avi');
  await writeSceneVideo({ scenario: s, file: video, truthFile: false, frames: 30 });
  const detector = await loadCameraDetector({ kind: 'onnx' });
  try {
    const r = await analyzeRecording({ input: video, detector, maxFrames: 12 });
    t.equal(r.source.kind, 'video');
    t.same([r.source.width, r.source.height], [320, 240]);
    t.equal(r.frames.length, 12);
    t.same(r.frames.map((f) => f.index), [...Array(12).keys()], 'every frame, in order');
    t.equal(r.frames[10]!.ts_ms, Math.round((10 / s.fps) * 1000), 'file time: index / fps');
  } finally {
    await detector.close();
  }
  await t.rejects(analyzeRecording({ input: video, detector: { detect: async () => Promise.reject(new Error('detector broke')) } }), { message: 'detector broke' }, 'a detector failure ends the run with its error');
  await t.rejects(analyzeRecording({ input: join(tmp, 'missing.avi'), detector: { detect: async () => [] } }), { code: 'E_ANALYZE' }, 'a missing file');
  const corrupt = join(tmp, 'corrupt.avi');
  writeFileSync(corrupt, Buffer.alloc(4096, 7));
  await t.rejects(analyzeRecording({ input: corrupt, detector: { detect: async () => [] } }), { code: 'E_ANALYZE', message: new RegExp(`^${corrupt}: `) }, 'a corrupt file fails with its name, without retrying');
});

t.test('inputs that are not there, or folders without frames for a real detector', async (t) => {
  const never = { detect: async () => [] };
  await t.rejects(analyzeRecording({ input: join(tmp, 'nope'), detector: never }), { code: 'E_ANALYZE', message: `${join(tmp, 'nope')}: no such file or folder` });
  const bare = join(tmp, 'bare');
  mkdirSync(bare);
  await t.rejects(analyzeRecording({ input: bare, detector: never }), AnalyzeError);
  await t.rejects(analyzeRecording({ input: bare, detector: new PublicDetections([]) }), { message: /no images, and no seqinfo\.ini with seqLength/ });
});

t.test('the CLI: analyze --det --json --mot, then eval --gt --pred --json', async (t) => {
  const seq = join(tmp, 'walkers');
  const mot = join(tmp, 'walkers.mot.txt');
  const a = await run('node', ['--import', 'tsx', EDGE_CLI, 'camera', 'analyze', seq, '--det', join(seq, 'det.txt'), '--json', '--mot', mot], { timeout: 60_000 });
  const out = JSON.parse(a.stdout) as { frames: { index: number; ts_ms: number; tracks: { id: number; class: string; box: number[]; score: number }[] }[]; events: unknown[] };
  t.equal(out.frames.length, 30);
  t.same(Object.keys(out.frames[1]!.tracks[0]!).sort(), ['box', 'class', 'id', 'score']);
  t.same(out.events, []);
  t.match(a.stderr, /analyze: frame 30\/30/, 'progress on stderr');
  const e = await run('node', ['--import', 'tsx', EDGE_CLI, 'camera', 'eval', '--gt', join(seq, 'gt', 'gt.txt'), '--pred', mot, '--json'], { timeout: 60_000 });
  const m = JSON.parse(e.stdout) as { clear: { mota: number; idsw: number; idsPerGt: number }; identity: { idf1: number }; hota: { hota: number } };
  t.ok(m.clear.mota > 0.9 && m.identity.idf1 > 0.9 && m.hota.hota > 0.8, `MOTA ${m.clear.mota} IDF1 ${m.identity.idf1} HOTA ${m.hota.hota}`);
  t.equal(m.clear.idsPerGt, 1);
  // The text form and the missing --pred, in process (each CLI start costs seconds on a busy machine).
  t.match(formatMotEvaluation(evalMotFiles({ gt: join(seq, 'gt', 'gt.txt'), pred: mot })), /MOTA 0\.9\d\d {2}MOTP 0\.\d{3} {2}IDF1 0\.9\d\d .*HOTA 0\.\d{3}[\s\S]*ids per true identity 1\.00/);
  t.throws(() => runMotEval({ gt: join(seq, 'gt', 'gt.txt') }), { code: 'E_INPUT', message: /--gt <gt\.txt> and --pred <mot\.txt> go together/ });
  t.throws(() => evalMotFiles({ gt: join(seq, 'nope.txt'), pred: mot }), { code: 'E_INPUT', message: `--gt ${join(seq, 'nope.txt')}: cannot read: ENOENT` });
});
