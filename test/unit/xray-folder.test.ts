// The xray-folder driver on its own: file naming, pairing, the done() hand-shake, the journal across restarts, timeouts.
import t from 'tap';
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../../common/log.js';
import { classifyName, createXrayFolder, XrayFolderDriver } from '../../devices/xray/folder.js';
import type { ComponentContext, ReadingBus, Readings } from '../../contract/component.js';
import { tempDir } from '../harness/services.js';
import { until } from '../helpers/wait.js';

type Scan = Readings['xrayScan'][0];

function ctxWith(bus: ReadingBus): ComponentContext {
  return {
    node: 'xr-03',
    site: 'port-a',
    log: silentLogger,
    clock: { now: () => ({ ts: Date.now(), tsTrusted: true, mono_ms: performance.now() }), markTrusted: () => undefined, trusted: true },
    signal: new AbortController().signal,
    emit: async () => undefined,
    fail: (e) => {
      throw e;
    },
    bus,
  };
}

function drop(dir: string, base: string, parts: ('high' | 'low' | 'single' | 'sidecar')[], energies = 2): void {
  for (const p of parts) {
    if (p === 'sidecar') writeFileSync(join(dir, `${base}.json`), JSON.stringify({ scanId: `id-${base}`, energies_kV: energies === 2 ? [140, 80] : [160] }));
    else writeFileSync(join(dir, p === 'single' ? `${base}.png` : `${base}_${p}.png`), 'image bytes (the driver does not decode)');
  }
}

t.test('file names: pairs, single images, sidecars, ignored files', async (t) => {
  t.same(classifyName('scan-1_high.png'), { base: 'scan-1', role: 'high' });
  t.same(classifyName('scan-1-LOW.TIF'), { base: 'scan-1', role: 'low' });
  t.same(classifyName('scan-1.he.tiff'), { base: 'scan-1', role: 'high' });
  t.same(classifyName('scan-2.png'), { base: 'scan-2', role: 'single' });
  t.same(classifyName('scan-2.json'), { base: 'scan-2', role: 'sidecar' });
  t.equal(classifyName('.scan-3_high.png'), undefined, 'dot-files are being written');
  t.equal(classifyName('scan-3.txt'), undefined);
  t.throws(() => createXrayFolder({ name: 'scanner', type: 'xray-folder', options: { dir: '/x', after: 'copy' } }), /devices\/scanner\/options\/after/);
});

t.test('one scan at a time, journaled after done(); a restart hands over only what was not done', async (t) => {
  const dir = tempDir('xray-folder');
  for (const b of ['a', 'b', 'c', 'd']) drop(dir, b, ['high', 'low', 'sidecar']);
  drop(dir, 'e', ['single', 'sidecar'], 1);
  const bus: ReadingBus = new EventEmitter();
  const got: Scan[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  // The pipeline stand-in finishes two scans, then stops answering (as if the node died mid-scan).
  bus.on('xrayScan', (s) => {
    got.push(s);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    if (got.length <= 2) {
      setTimeout(() => {
        inFlight--;
        s.done();
      }, 20);
    }
  });
  const opts = { dir, after: 'move' as const, pairTimeout_ms: 60_000, minAge_ms: 0, rescan_ms: 100, doneTimeout_ms: 500 };
  const d1 = new XrayFolderDriver('scanner', opts);
  await d1.start(ctxWith(bus));
  await until('third scan handed over', () => got.length >= 3, 5000);
  await d1.stop();
  t.equal(maxInFlight, 1, 'one scan in flight at a time');
  t.same(got.slice(0, 3).map((s) => s.scanId), ['id-a', 'id-b', 'id-c']);
  t.same(got[0]!.high?.endsWith('a_high.png') && got[0]!.low?.endsWith('a_low.png'), true, 'paths of the pair');
  t.ok(existsSync(join(dir, 'done', 'a_high.png')) && existsSync(join(dir, 'done', 'b.json')), 'finished scans moved to done/');
  t.ok(existsSync(join(dir, 'c_high.png')), 'the unfinished scan stays');
  const journal = readFileSync(join(dir, '.xray-folder-journal'), 'utf8');
  t.match(journal, /"base":"b"/);
  t.notMatch(journal, /"base":"c"/, 'not journaled without done()');

  // Restart: c, d and e are handed over; a and b never again. A journaled scan whose move did not happen (crash
  // between journal and move) is finished without a second hand-over.
  writeFileSync(join(dir, 'a_high.png'), 'x');
  writeFileSync(join(dir, 'a_low.png'), 'x');
  writeFileSync(join(dir, 'a.json'), JSON.stringify({ scanId: 'id-a' }));
  writeFileSync(join(dir, '.xray-folder-journal'), `${journal}{"base":"a","scanId":"id-a","at":1}\n{"base":"tor`);
  const bus2: ReadingBus = new EventEmitter();
  const got2: string[] = [];
  bus2.on('xrayScan', (s) => {
    got2.push(s.scanId);
    s.done();
  });
  const d2 = new XrayFolderDriver('scanner', opts);
  await d2.start(ctxWith(bus2));
  await until('the rest handed over', () => got2.length >= 3, 5000);
  await d2.settle();
  await d2.stop();
  t.same(got2, ['id-c', 'id-d', 'id-e'], 'each remaining scan once, none repeated');
  t.ok(existsSync(join(dir, 'done', 'a.json')), 'the journaled scan was moved, not handed over');
  t.same(d2.stats(), { scans: 3, incomplete: 0, skippedJournaled: 1 });
});

t.test('an incomplete pair waits, then goes out with its problem; a late half is not lost either', async (t) => {
  const dir = tempDir('xray-folder-half');
  drop(dir, 'h', ['high', 'sidecar']);
  drop(dir, 'n', ['high', 'low']);
  const bus: ReadingBus = new EventEmitter();
  const got: Scan[] = [];
  bus.on('xrayScan', (s) => {
    got.push(s);
    s.done();
  });
  const d = new XrayFolderDriver('scanner', { dir, after: 'move', pairTimeout_ms: 400, minAge_ms: 0, rescan_ms: 100, doneTimeout_ms: 500 });
  await d.start(ctxWith(bus));
  await new Promise((r) => setTimeout(r, 150));
  t.equal(got.length, 0, 'nothing before the timeout');
  await until('both handed over after the timeout', () => got.length >= 2, 5000);
  await d.stop();
  const h = got.find((s) => s.scanId === 'id-h')!;
  t.match(h.problems?.[0], /missing low-energy image h_low\.\* after \d+ s/);
  t.equal(h.low, undefined);
  const n = got.find((s) => s.scanId === 'n')!;
  t.match(n.problems?.[0], /missing sidecar n\.json/, 'no sidecar: scan id from the file name, problem named');
  t.equal(d.stats().incomplete, 2);
});
