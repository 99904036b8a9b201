// Per-camera exclusion masks and the zone editor: polygons checked at config load, masked detections dropped before
// the tracker, and `customs-edge camera zones` drawing zones, masks and a grid over a real first frame.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { ConfigError } from '../../common/errors.js';
import type { Detection } from '../../analysis/detect/yolo.js';
import { polygonProblem } from '../../analysis/vision/polygon.js';
import { randomScenario } from '../../analysis/vision/scene.js';
import { parseCameraOptions } from '../../edge/pipelines/camera.js';
import { CameraAnalyzer, dropExcluded, type FrameDetector } from '../../edge/vision/analyzer.js';
import { writeSceneVideo } from '../../edge/vision/video.js';
import { readFirstFrame, renderZones } from '../../edge/vision/zones.js';
import { tempDir } from '../harness/services.js';
import { EDGE_CLI, ROOT } from '../helpers/paths.js';

const det = (cls: string, x1: number, y1: number, x2: number, y2: number): Detection => ({ x1, y1, x2, y2, score: 0.9, classId: cls === 'person' ? 0 : 1, class: cls });
/** The left quarter of the frame, top to bottom: where the bins stand. */
const LEFT: [number, number][] = [[0, 0], [0.25, 0], [0.25, 1], [0, 1]];

t.test('polygons: a usable outline passes; crossing, folded, flat or repeated ones are named', async (t) => {
  t.equal(polygonProblem(LEFT), undefined);
  t.equal(polygonProblem([[0.1, 0.1], [0.9, 0.2], [0.5, 0.8]]), undefined, 'a triangle');
  t.match(polygonProblem([[0, 0], [1, 1], [1, 0], [0, 1]]), /edges 0 .* and 2 .* cross/, 'a bow tie');
  t.match(polygonProblem([[0, 0], [0.5, 0], [0.5, 0.5], [0.2, 0.5], [0.7, 0.2], [0.1, 0.9]]), /cross/, 'a loop');
  t.match(polygonProblem([[0, 0], [0.5, 0.5], [1, 1]]), /fold back|area/, 'all on a line');
  t.match(polygonProblem([[0, 0], [0.5, 0], [0.5, 0], [0, 0.5]]), /vertices 1 and 2 are the same point/);
  t.match(polygonProblem([[0, 0], [1, 0]]), /at least 3 vertices/);
});

t.test('config load: zones and masks out of range or self-intersecting fail with the path of the polygon', async (t) => {
  const opts = (extra: object) => ({ name: 'hall', type: 'camera', options: { cameras: [{ id: 'a', uri: 'file:///x.avi' }], ...extra } });
  const ok = parseCameraOptions(opts({ cameras: [{ id: 'a', uri: 'file:///x.avi', exclude: [LEFT] }] }));
  t.same(ok.cameras[0]!.exclude, [LEFT], 'a good mask is kept');
  t.throws(() => parseCameraOptions(opts({ cameras: [{ id: 'a', uri: 'file:///x.avi', exclude: [[[0, 0], [1.2, 0], [0.5, 0.5]]] }] })), {
    message: /pipelines\/hall\/options\/cameras\/0\/exclude\/0\/1\/0: must be <= 1/,
  });
  const bowTie = [[0, 0], [1, 1], [1, 0], [0, 1]];
  let err: unknown;
  try {
    parseCameraOptions(opts({ cameras: [{ id: 'a', uri: 'file:///x.avi', exclude: [LEFT, bowTie] }], zones: [{ id: 'desk', polygon: bowTie }] }));
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof ConfigError, 'a ConfigError');
  const problems = (err as ConfigError).problems;
  t.equal(problems.length, 2, problems.join('\n'));
  t.match(problems[0], /^pipelines\/hall\/options\/zones\/0\/polygon: .*intersects itself/);
  t.match(problems[1], /^pipelines\/hall\/options\/cameras\/0\/exclude\/1: .*intersects itself/);
  t.throws(() => parseCameraOptions(opts({ cameras: [{ id: 'a', uri: 'file:///x.avi', exclude: [[[0, 0], [0.2, 0]]] }] })), /exclude\/0: must NOT have fewer than 3 items/);
});

t.test('masks drop detections whose foot point lies inside, whatever the box overlaps', async (t) => {
  const dets = [
    det('bag', 20, 200, 60, 240), // a bin in the masked strip (x < 80): foot at x 40
    det('person', 30, 100, 70, 230), // someone standing in the strip: foot at x 50
    det('person', 60, 100, 140, 230), // half over the strip, but standing at x 100: outside
    det('bag', 200, 10, 240, 50), // far away
  ];
  const kept = dropExcluded(dets, [LEFT], 320, 240);
  t.same(kept.map((d) => d.x1), [60, 200], 'what stands in the mask is gone, what stands outside stays');
  t.equal(dropExcluded(dets, [], 320, 240).length, 4, 'no masks, nothing dropped');

  // Through the analyzer: the masked bin never becomes a track, the person beside it does.
  const detector: FrameDetector = { detect: async () => [det('bag', 20, 200, 60, 240), det('person', 150, 100, 190, 230)] };
  const masked = new CameraAnalyzer({ camera: 'a', detector, exclude: [LEFT] });
  const plain = new CameraAnalyzer({ camera: 'a', detector });
  const frame = { data: new Uint8Array(320 * 240 * 3), width: 320, height: 240 };
  let m: Awaited<ReturnType<CameraAnalyzer['process']>> | undefined;
  let p: typeof m;
  for (let i = 0; i < 10; i++) {
    m = await masked.process({ ...frame, t_s: i / 10 });
    p = await plain.process({ ...frame, t_s: i / 10 });
  }
  t.same(m!.tracks.map((x) => x.cls), ['person'], 'masked: only the person is tracked');
  t.same(p!.tracks.map((x) => x.cls).sort(), ['bag', 'person'], 'without the mask the bin is a bag track');
});

t.test('zone editor: the PNG has the frame size, the mask is hatched, elsewhere the frame is untouched', async (t) => {
  const dir = tempDir('cam-zones');
  const W = 320;
  const H = 240;
  // A frame with structure (a gradient), so "changed" means drawn over, not a blank canvas.
  const px = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) px.set([x % 256, y, 90], (y * W + x) * 3);
  const img = join(dir, 'frame.png');
  await sharp(px, { raw: { width: W, height: H, channels: 3 } }).png().toFile(img);
  const frame = await readFirstFrame(img);
  t.same([frame.width, frame.height], [W, H]);
  const out = join(dir, 'zones.png');
  const r = await renderZones({ frame, layout: { zones: [{ id: 'desk', polygon: [[0.6, 0.1], [0.9, 0.1], [0.9, 0.4], [0.6, 0.4]] }], exclude: [LEFT] }, out });
  t.ok(existsSync(out));
  const meta = await sharp(out).metadata();
  t.same([meta.width, meta.height, r.width, r.height], [W, H, W, H], 'the frame size');
  const got = await sharp(out).removeAlpha().raw().toBuffer();
  const diff = (x: number, y: number) => {
    const i = (y * W + x) * 3;
    return Math.abs(got[i]! - px[i]!) + Math.abs(got[i + 1]! - px[i + 1]!) + Math.abs(got[i + 2]! - px[i + 2]!);
  };
  // The hatch covers every pixel of the mask with at least its tint: the mask's middle is changed.
  let changed = 0;
  for (let y = 100; y < 140; y++) for (let x = 20; x < 60; x++) if (diff(x, y) > 15) changed++;
  t.ok(changed > 1500, `${changed}/1600 pixels inside the mask changed`);
  t.ok(diff(240, 80) > 10, 'inside the zone: tinted');
  t.equal(diff(160, 200), 0, 'outside zones and masks: untouched');

  // --grid draws the normalised lines: the pixel on x = 0.5 changes.
  const gridOut = join(dir, 'grid.png');
  await renderZones({ frame, layout: { zones: [], exclude: [] }, out: gridOut, grid: 0.1 });
  const g = await sharp(gridOut).removeAlpha().raw().toBuffer();
  const at = (buf: Buffer, x: number, y: number) => Math.abs(buf[(y * W + x) * 3]! - px[(y * W + x) * 3]!);
  t.ok(at(g, 160, 200) > 20, 'grid line at x = 0.5');
  t.equal(at(g, 176, 204), 0, 'between the lines: untouched');
  await t.rejects(renderZones({ frame, layout: { zones: [], exclude: [] }, out: gridOut, grid: 2 }), /--grid: expected a step/);
  await t.rejects(readFirstFrame(join(dir, 'missing.png')), /missing\.png: cannot read the image/);
});

t.test('customs-edge camera zones: first video frame through the camera child, zones and masks from the node config', async (t) => {
  const dir = tempDir('cam-zones-cli');
  const video = join(dir, 'crowd.avi');
  await writeSceneVideo({ scenario: randomScenario({ width: 160, height: 120, seed: 3, duration_s: 2 }), file: video, truthFile: false, frames: 5 });
  const node = join(dir, 'node.json');
  writeFileSync(
    node,
    JSON.stringify({
      node: 'cam-01',
      site: 'airport-a',
      role: 'camera',
      broker: { url: 'mqtt://127.0.0.1:1883' },
      outbox: { dir: join(dir, 'outbox') },
      pipelines: [
        {
          name: 'hall',
          type: 'camera',
          options: {
            cameras: [{ id: 'door', uri: `file://${video}` }, { id: 'hall-1', uri: `file://${video}`, exclude: [LEFT] }],
            zones: [{ id: 'desk', camera: 'hall-1', polygon: [[0.6, 0.1], [0.9, 0.1], [0.9, 0.4], [0.6, 0.4]] }],
          },
        },
      ],
    }),
  );
  const out = join(dir, 'zones.png');
  const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', EDGE_CLI, 'camera', 'zones', ...args], { encoding: 'utf8', timeout: 120_000, cwd: ROOT });
  const r = cli(video, '--config', node, '--camera', 'hall-1', '--grid', '--out', out);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /160x120, 1 zones, 1 exclusion masks \(camera hall-1\)/);
  const meta = await sharp(out).metadata();
  t.same([meta.width, meta.height], [160, 120], 'the video frame size');
  const first = await readFirstFrame(video);
  const got = await sharp(out).removeAlpha().raw().toBuffer();
  const i = (60 * 160 + 20) * 3;
  t.ok(Math.abs(got[i]! - first.data[i]!) + Math.abs(got[i + 1]! - first.data[i + 1]!) + Math.abs(got[i + 2]! - first.data[i + 2]!) > 15, 'a pixel inside the mask is changed');

  const bad = cli(video, '--config', node, '--camera', 'nope', '--out', out);
  t.not(bad.status, 0);
  t.match(bad.stderr, /--camera: "nope" is not a camera of .*node\.json; expected one of door, hall-1/);
});
