// One scan through the whole chain (decode → transmission → materials → ATR → decision); used by the pipeline, the CLI and the bench.
//
// Failures never lose a scan: an image that cannot be decoded, a missing half of a pair, a wrong bit depth or a
// model that does not fit its card ends as decision 'review' with the reason, for a person to look at.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { CustomsError } from '../../common/errors.js';
import { runAtr, type AtrDetection, type AtrStage } from './atr.js';
import { decide, DEFAULT_DECISION, type Declaration, type DecisionConfig, type Decision } from '../../analysis/xray/decision.js';
import { readImage16, readImageFrames16 } from './image-io.js';
import { SidecarSchema, type Sidecar } from '../../contract/readings.js';
import { type Image16 } from '../../analysis/xray/image.js';
import { classifyMaterials, DEFAULT_MATERIALS, type MaterialsConfig, type MaterialsSummary } from '../../analysis/xray/materials.js';
import { attenuation, resampleArea, toTransmission, transmissionAndAttenuation, type References } from '../../analysis/xray/preprocess.js';

export { SidecarSchema, type Sidecar };

export interface ScanInput {
  scanId: string;
  high?: string;
  low?: string;
  sidecar?: Sidecar;
  /** Set by the watcher when the scan is incomplete (half a pair past its timeout, a bad sidecar). */
  problems?: string[];
}

export interface InspectOptions {
  stages: readonly AtrStage[];
  materials?: MaterialsConfig;
  decision?: DecisionConfig;
  /** Analysis resolution: the longer side is averaged down to at most this many pixels. */
  maxSide?: number;
  /** Materials run at most at this many pixels on the longer side (default 512). */
  materialsMaxSide?: number;
  /** Scanner pixel size at the belt (cm) when the sidecar does not say. */
  pitch_cm?: number;
  /** Folder of dark/open-beam references: <dir>/<high|low>/dark.png and open.png (or <dir>/dark.png for one channel). */
  referencesDir?: string;
  /** Where timings come from (tests inject one); default performance.now. */
  now?: () => number;
}

export interface InspectDetection {
  class: string;
  score: number;
  stage: string;
  /** [x1, y1, x2, y2] in pixels of the original image. */
  box: [number, number, number, number];
}

export interface InspectResult {
  scanId: string;
  decision: Decision;
  reasons: string[];
  detections: InspectDetection[];
  materials?: MaterialsSummary;
  declaration?: Declaration;
  problems: string[];
  size?: { width: number; height: number; analysedWidth: number; analysedHeight: number };
  latency_ms: number;
  timings_ms: Record<string, number>;
}

/** The analysed planes, for renderings (CLI) after the result. */
export interface InspectPlanes {
  width: number;
  height: number;
  aHigh: Float32Array;
  classes?: Uint8Array;
}

/** Short text of an error for a reason line: its message's first line. */
export function reasonOf(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const [first, ...rest] = msg.split('\n');
  return rest.length > 0 ? `${first} ${rest.map((r) => r.trim()).join('; ')}` : (first ?? msg);
}

const refCache = new Map<string, { mtimeMs: number; img: Image16 }>();

/** Reads a reference at the analysed size (a one-line reference stays one line). */
async function readReference(file: string, full: { width: number; height: number }, analysed: { width: number; height: number }): Promise<Image16> {
  const st = await stat(file);
  const key = `${file}:${analysed.width}x${analysed.height}`;
  const hit = refCache.get(key);
  if (hit !== undefined && hit.mtimeMs === st.mtimeMs) return hit.img;
  const probe = await readImage16(file);
  let img = probe;
  if (probe.height === 1 && probe.width === full.width) img = await readImage16(file, { size: { width: analysed.width, height: 1 } });
  else if (probe.width === 1 && probe.height === full.height) img = await readImage16(file, { size: { width: 1, height: analysed.height } });
  else if (probe.width === full.width && probe.height === full.height) img = await readImage16(file, { size: analysed });
  else throw new CustomsError('E_XRAY_REFERENCE', `${file}: reference is ${probe.width} x ${probe.height}; expected ${full.width} x ${full.height}, ${full.width} x 1 or 1 x ${full.height} like the scan`);
  refCache.set(key, { mtimeMs: st.mtimeMs, img });
  return img;
}

async function referencesFor(dir: string, channel: 'high' | 'low', dual: boolean, full: { width: number; height: number }, analysed: { width: number; height: number }): Promise<References> {
  const base = dual ? join(dir, channel) : dir;
  return { dark: await readReference(join(base, 'dark.png'), full, analysed), open: await readReference(join(base, 'open.png'), full, analysed) };
}

/** Runs the chain on one scan; never throws for bad input (the result says review and why). */
export async function inspectScan(scan: ScanInput, opts: InspectOptions): Promise<{ result: InspectResult; planes?: InspectPlanes }> {
  const now = opts.now ?? (() => performance.now());
  const t0 = now();
  const timings: Record<string, number> = {};
  const problems = [...(scan.problems ?? [])];
  const declaration = scan.sidecar?.declaration;
  const finish = (partial: Omit<InspectResult, 'scanId' | 'decision' | 'reasons' | 'latency_ms' | 'timings_ms' | 'problems'> & { detections: InspectDetection[] }, planes?: InspectPlanes) => {
    const t = now();
    const d = decide({ detections: partial.detections, ...(partial.materials ? { materials: partial.materials } : {}), ...(declaration ? { declaration } : {}), problems }, opts.decision ?? DEFAULT_DECISION);
    timings.decision = now() - t;
    const result: InspectResult = {
      scanId: scan.scanId,
      decision: d.decision,
      reasons: d.reasons,
      ...partial,
      ...(declaration ? { declaration } : {}),
      problems,
      latency_ms: now() - t0,
      timings_ms: timings,
    };
    return planes ? { result, planes } : { result };
  };
  if (scan.high === undefined) {
    if (problems.length === 0) problems.push('no image');
    return finish({ detections: [] });
  }
  let dual = scan.low !== undefined;
  let hi: Image16;
  let lo: Image16 | undefined;
  let full: { width: number; height: number };
  try {
    let t = now();
    const maxSide = opts.maxSide ?? 1024;
    // Decode both channels concurrently: sharp works on its own threads. A dual-energy DICOS file holds both
    // frames (high, low) in one file.
    const [h, l] = await Promise.all([readImageFrames16(scan.high, { maxSide }), scan.low !== undefined ? readImage16(scan.low, { maxSide }) : Promise.resolve(undefined)]);
    hi = h[0]!;
    lo = l ?? h[1];
    if (h.length > 1 && l !== undefined) {
      throw new CustomsError('E_XRAY_PAIR', `${scan.high}: ${h.length} frames (a dual-energy DICOS file) and a separate low-energy image ${scan.low}; expected one or the other`);
    }
    timings.decode = now() - t;
    if (lo !== undefined && (lo.width !== hi.width || lo.height !== hi.height)) {
      throw new CustomsError('E_XRAY_PAIR', `${scan.low}: ${lo.width} x ${lo.height} after scaling, its high-energy image ${hi.width} x ${hi.height}; expected the same size`);
    }
    full = hi.source ?? { width: hi.width, height: hi.height };
    dual = lo !== undefined;
  } catch (e) {
    problems.push(reasonOf(e));
    return finish({ detections: [] });
  }
  try {
    let t = now();
    const analysed = { width: hi.width, height: hi.height };
    const refsHigh = opts.referencesDir !== undefined ? await referencesFor(opts.referencesDir, 'high', dual, full, analysed) : undefined;
    const refsLow = opts.referencesDir !== undefined && lo !== undefined ? await referencesFor(opts.referencesDir, 'low', dual, full, analysed) : undefined;
    const ms = opts.materialsMaxSide ?? 512;
    const k = Math.max(hi.width, hi.height) > ms ? Math.ceil(Math.max(hi.width, hi.height) / ms) : 1;
    // Attenuation at the analysed size is only needed when materials run at that size too.
    let tHigh: Float32Array;
    let tLow: Float32Array | undefined;
    let aHigh: Float32Array | undefined;
    let aLow: Float32Array | undefined;
    if (k === 1) {
      const h = transmissionAndAttenuation(hi, refsHigh, 'high-energy');
      const l = lo !== undefined ? transmissionAndAttenuation(lo, refsLow, 'low-energy') : undefined;
      tHigh = h.t;
      aHigh = h.a;
      tLow = l?.t;
      aLow = l?.a;
    } else {
      tHigh = toTransmission(hi, refsHigh, 'high-energy');
      tLow = lo !== undefined ? toTransmission(lo, refsLow, 'low-energy') : undefined;
    }
    timings.preprocess = now() - t;
    const pitchFull = scan.sidecar?.pitch_cm ?? opts.pitch_cm;
    const pitch = pitchFull !== undefined ? (pitchFull * full.width) / hi.width : undefined;
    t = now();
    // Material shares and the dense-organic area need no more than about half a centimetre per pixel: large
    // scans are averaged down (in transmission) before the per-pixel ratio work.
    let mw = hi.width;
    let mh = hi.height;
    let mHigh = aHigh ?? new Float32Array(0);
    let mLow = aLow;
    if (k > 1) {
      mw = Math.max(1, Math.round(hi.width / k));
      mh = Math.max(1, Math.round(hi.height / k));
      mHigh = attenuation(resampleArea(tHigh, hi.width, hi.height, mw, mh));
      mLow = tLow !== undefined ? attenuation(resampleArea(tLow, hi.width, hi.height, mw, mh)) : undefined;
    }
    const mat = classifyMaterials(mHigh, mLow, mw, mh, opts.materials ?? DEFAULT_MATERIALS, pitch !== undefined ? (pitch * hi.width) / mw : undefined);
    timings.materials = now() - t;
    t = now();
    let dets: AtrDetection[] = [];
    try {
      dets = await runAtr(opts.stages, { width: hi.width, height: hi.height, high: tHigh, ...(tLow ? { low: tLow } : {}), ...(pitch !== undefined ? { pitch_cm: pitch } : {}) });
    } catch (e) {
      problems.push(reasonOf(e));
    }
    timings.atr = now() - t;
    const kx = full.width / hi.width;
    const ky = full.height / hi.height;
    const detections = dets.map((d) => ({
      class: d.class,
      score: Math.round(d.score * 1000) / 1000,
      stage: d.stage,
      box: [Math.round(d.x1 * kx), Math.round(d.y1 * ky), Math.round(d.x2 * kx), Math.round(d.y2 * ky)] as [number, number, number, number],
    }));
    return finish(
      { detections, materials: mat.summary, size: { width: full.width, height: full.height, analysedWidth: hi.width, analysedHeight: hi.height } },
      { width: mw, height: mh, aHigh: mHigh, classes: mat.classes },
    );
  } catch (e) {
    problems.push(reasonOf(e));
    return finish({ detections: [] });
  }
}
