// The layered layout (shared/design/ARCHITECTURE.md): every import points down common/protocol → analysis →
// contract → devices → edge → cloud/calibration; analysis does no I/O and keeps no clock; no import cycle.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { cycles, folderOf, importGraph } from '../helpers/import-graph.js';
import { ROOT } from '../helpers/paths.js';

const LAYERS = ['common', 'protocol', 'analysis', 'contract', 'devices', 'edge', 'cloud', 'calibration'] as const;
/** Folders that may import anything (they are not imported by the product). */
const TOP = new Set(['demo', 'bench', 'test', 'models', 'scripts', 'examples']);
const rank = (folder: string): number => (LAYERS as readonly string[]).indexOf(folder);
const IO_MODULES = /^(node:)?(fs|fs\/promises|child_process|net|dgram|http|https|worker_threads)$|^(onnxruntime-node|sharp|mqtt|gstreamer-superficial|serialport)(\/.*)?$/;

const g = importGraph(ROOT);

t.test('the graph covers the product', async (t) => {
  for (const folder of LAYERS) t.ok([...g.edges.keys()].some((f) => folderOf(f) === folder), `${folder}/ has sources`);
  t.ok(g.edges.size > 150, `${g.edges.size} files read`);
});

t.test('every import points down the layers', async (t) => {
  const up: string[] = [];
  for (const [file, deps] of g.edges) {
    const from = folderOf(file);
    if (TOP.has(from) || rank(from) < 0) continue;
    for (const d of deps) {
      if (!g.edges.has(d)) continue;
      const to = folderOf(d);
      if (to === from) continue;
      if (TOP.has(to) || rank(to) > rank(from)) up.push(`${file} -> ${d}`);
    }
  }
  t.same(up, [], 'no file imports a folder above its own');
});

t.test('siblings: cloud/ never imports edge/ or devices/, edge/ never imports cloud/', async (t) => {
  const bad: string[] = [];
  for (const [file, deps] of g.edges) {
    const from = folderOf(file);
    for (const d of deps) {
      const to = folderOf(d);
      if ((from === 'cloud' && (to === 'edge' || to === 'devices')) || (from === 'edge' && to === 'cloud')) bad.push(`${file} -> ${d}`);
    }
  }
  t.same(bad, []);
});

t.test('analysis/ is pure: no I/O modules, no clock, no timers, no process', async (t) => {
  const bad: string[] = [];
  for (const [file, deps] of g.edges) {
    if (folderOf(file) !== 'analysis') continue;
    for (const d of deps) if (IO_MODULES.test(d)) bad.push(`${file} imports ${d}`);
    const src = readFileSync(join(ROOT, file), 'utf8').replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
    for (const [re, what] of [
      [/\b(setImmediate|setTimeout|setInterval|queueMicrotask)\s*\(/, 'schedules work on the event loop'],
      [/\bDate\.now\s*\(|new Date\(\s*\)|performance\.now\s*\(/, 'reads the clock'],
      [/\bprocess\./, 'reads the process'],
    ] as const) {
      if (re.test(src)) bad.push(`${file} ${what}`);
    }
  }
  t.same(bad, []);
});

t.test('no import cycle', async (t) => {
  t.same(cycles(g), []);
});

t.test('the checks can fail: a planted upward import and cycle are found', async (t) => {
  const planted = { edges: new Map([['analysis/a.ts', ['edge/b.ts']], ['edge/b.ts', ['analysis/a.ts']]]) };
  t.same(cycles(planted), [['analysis/a.ts', 'edge/b.ts']]);
  t.ok(rank('edge') > rank('analysis'));
});
