// The demo's X-ray scanner: synthetic TIP scans (some with threats) dropped into the xray-folder one by one, as a scanner exports them.
import { copyFile, mkdir, readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { writeTipDataset } from '../edge/xray/tip-dataset.js';

export interface ScanFeedOptions {
  /** Scratch folder the scans are generated in before they are dropped. */
  work: string;
  /** The folder the xray-folder driver watches. */
  drop: string;
  count: number;
  /** Image side in pixels: small keeps generation and inference quick. */
  size: number;
  seed: number;
}

/** Generates the scans up front (about a second for a few 512 px pairs) so dropping them later is instant. */
export async function prepareScans(o: ScanFeedOptions): Promise<{ ids: string[]; threats: Map<string, string[]>; drop(i: number): Promise<void> }> {
  const gen = join(o.work, 'xray-gen');
  await writeTipDataset({ out: gen, count: o.count, size: o.size, pitch_cm: 0.25, seed: o.seed, difficulty: 'easy', compressionLevel: 1 });
  await mkdir(o.drop, { recursive: true });
  const images = join(gen, 'images');
  const ids = (await readdir(images)).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
  const threats = new Map<string, string[]>();
  for (const id of ids) {
    const side = JSON.parse(await readFile(join(images, `${id}.json`), 'utf8')) as { tip?: { boxes?: { class: string }[] } };
    threats.set(id, (side.tip?.boxes ?? []).map((b) => b.class));
  }
  return {
    ids,
    threats,
    // Images first, the sidecar last and by rename: the driver takes a scan only once its sidecar is complete.
    async drop(i: number) {
      const id = ids[i];
      if (id === undefined) return;
      await copyFile(join(images, `${id}_high.png`), join(o.drop, `${id}_high.png`));
      await copyFile(join(images, `${id}_low.png`), join(o.drop, `${id}_low.png`));
      await copyFile(join(images, `${id}.json`), join(o.drop, `.${id}.json.tmp`));
      await rename(join(o.drop, `.${id}.json.tmp`), join(o.drop, `${id}.json`));
    },
  };
}
