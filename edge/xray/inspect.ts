// One scan through the whole chain (decode → transmission → materials → ATR → decision); used by the pipeline, the CLI and the bench.
//
// Failures never lose a scan: an image that cannot be decoded, a missing half of a pair, a wrong bit depth or a
// model that does not fit its card ends as decision 'review' with the reason, for a person to look at.
// Every kind of image real scanners export gets decided: measured dual-energy pairs and DICOS as they are;
// 8-bit pseudo-colour exports through the node's palette (attenuation and Zeff per pixel, a low-energy channel
// rebuilt from Zeff for the materials stage); 8- and 16-bit grey single-energy images on what one channel gives.
// A threat stage that cannot read the input (its model needs a measured low-energy channel, or was not trained on
// pseudo-colour) is not run; the decision names it and falls back on the density and shape rules.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { CustomsError } from '../../common/errors.js';
import { runAtr, type AtrDetection, type AtrStage } from './atr.js';
import { decide, DEFAULT_DECISION, type Declaration, type DecisionConfig, type Decision } from '../../analysis/xray/decision.js';
import { readImage16, readScanFrames, type ScanImage } from './image-io.js';
import { loadPalette, DEFAULT_PALETTE } from './palette-io.js';
import { decomposePseudoColour, virtualLowChannel } from '../../analysis/xray/palette.js';
import { DEFAULT_DENSITY, densityRegions, type DensitySummary } from '../../analysis/xray/density.js';
import { SidecarSchema, type Sidecar } from '../../contract/readings.js';
import { type Image16 } from '../../analysis/xray/image.js';
import { classifyMaterials, DEFAULT_MATERIALS, type MaterialsConfig, type MaterialsSummary } from '../../analysis/xray/materials.js';
import { attenuation, resampleArea, T_MIN, toTransmission, transmissionAndAttenuation, type References } from '../../analysis/xray/preprocess.js';

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
  /** Palette of pseudo-colour exports: a built-in name or a palette file (default 'generic'). */
  palette?: string;
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

/** What kind of input the scan was, as the chain read it. */
export interface InspectInput {
  kind: 'dual-energy' | 'single-energy' | 'pseudo-colour';
  /** File format of the (high-energy) image: png, tiff, jpeg, bmp, dicos. */
  format: string;
  /** Bits per sample as stored (8 for exports, 16 for detector counts). */
  bits: 8 | 16;
  palette?: string;
}

export interface InspectResult {
  scanId: string;
  input?: InspectInput;
  decision: Decision;
  reasons: string[];
  detections: InspectDetection[];
  materials?: MaterialsSummary;
  /** Density and shape regions (boxes in original pixels), when a threat stage could not read this input. */
  density?: DensitySummary;
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

/** The inputs a stage's model was trained on (its card's training.inputs); a card that does not say: measured pairs only. */
function cardInputs(card: { training?: unknown }): string[] {
  const t = card.training as { inputs?: unknown } | undefined;
  return Array.isArray(t?.inputs) ? t.inputs.filter((x): x is string => typeof x === 'string') : ['dual-energy'];
}

/** Why a stage cannot read this input, or undefined when it can. */
function stageMismatch(stage: AtrStage, input: InspectInput): string | undefined {
  const card = stage.detector.card;
  const label = `stage ${stage.name} (model ${card.name}@${card.version})`;
  const inputs = cardInputs(card);
  if (input.kind === 'pseudo-colour' && !inputs.includes('pseudo-colour')) {
    return `${label} was trained on measured dual-energy images, not on pseudo-colour exports (this ${input.format.toUpperCase()} was read through palette ${input.palette ?? DEFAULT_PALETTE})`;
  }
  if (input.kind === 'single-energy' && card.input.channels.includes('low') && !inputs.includes('single-energy')) {
    return `${label} needs the low-energy channel; this scan is single-energy (${input.bits}-bit ${input.format.toUpperCase()})`;
  }
  return undefined;
}

interface Planes {
  width: number;
  height: number;
  full: { width: number; height: number };
  input: InspectInput;
  /** 16-bit counts (grey inputs: references apply) or transmissions already (pseudo-colour). */
  hi?: Image16;
  lo?: Image16;
  tHigh?: Float32Array;
  tLow?: Float32Array;
  aHigh?: Float32Array;
  aLow?: Float32Array;
}

/** Decodes the scan's file(s) into the planes the chain works on; throws with the file named. */
async function decodePlanes(scan: ScanInput & { high: string }, opts: InspectOptions, maxSide: number): Promise<Planes> {
  // Decode both channels concurrently: sharp works on its own threads. A dual-energy DICOS file holds both
  // frames (high, low) in one file.
  // No stage reads a pseudo-colour export or a lone grey image unless its card says so: then those are decoded
  // straight at the materials size (JPEG shrink-on-load), the only size they are analysed at.
  const ms = opts.materialsMaxSide ?? 512;
  const colourStage = opts.stages.some((st) => cardInputs(st.detector.card).includes('pseudo-colour'));
  const singleStage = opts.stages.some((st) => !st.detector.card.input.channels.includes('low') || cardInputs(st.detector.card).includes('single-energy'));
  const highOpts = {
    maxSide,
    colourMaxSide: colourStage ? maxSide : Math.min(ms, maxSide),
    ...(scan.low === undefined && !singleStage ? { greyMaxSide: Math.min(ms, maxSide) } : {}),
  };
  const [h, l] = await Promise.all([readScanFrames(scan.high, highOpts), scan.low !== undefined ? readScanFrames(scan.low, { maxSide }) : Promise.resolve(undefined)]);
  if (h.length > 1 && l !== undefined) {
    throw new CustomsError('E_XRAY_PAIR', `${scan.high}: ${h.length} frames (a dual-energy DICOS file) and a separate low-energy image ${scan.low}; expected one or the other`);
  }
  if (l !== undefined && l.length > 1) throw new CustomsError('E_XRAY_PAIR', `${scan.low}: ${l.length} frames; expected one low-energy image`);
  const first = h[0]!;
  const second: ScanImage | undefined = l?.[0] ?? h[1];
  if (first.kind === 'colour') {
    if (second !== undefined) throw new CustomsError('E_XRAY_PAIR', `${scan.high}: a pseudo-colour image with a low-energy image ${scan.low}; expected a colour export alone or a grey pair`);
    const paletteName = opts.palette ?? DEFAULT_PALETTE;
    const compiled = await loadPalette(paletteName);
    const d = decomposePseudoColour(first.rgb, first.width, first.height, compiled);
    const aLow = virtualLowChannel(d);
    const tHigh = new Float32Array(d.attenuation.length);
    const tLow = new Float32Array(d.attenuation.length);
    for (let i = 0; i < tHigh.length; i++) {
      tHigh[i] = Math.max(T_MIN, Math.exp(-d.attenuation[i]!));
      tLow[i] = Math.max(T_MIN, Math.exp(-aLow[i]!));
    }
    return {
      width: first.width,
      height: first.height,
      full: first.source,
      input: { kind: 'pseudo-colour', format: first.format, bits: 8, palette: compiled.name },
      tHigh,
      tLow,
      aHigh: d.attenuation,
      aLow,
    };
  }
  if (second !== undefined && second.kind === 'colour') throw new CustomsError('E_XRAY_PAIR', `${scan.low}: a colour image as the low-energy channel; expected grey`);
  const hi = first.image;
  const lo = second?.kind === 'grey' ? second.image : undefined;
  if (lo !== undefined && (lo.width !== hi.width || lo.height !== hi.height)) {
    throw new CustomsError('E_XRAY_PAIR', `${scan.low}: ${lo.width} x ${lo.height} after scaling, its high-energy image ${hi.width} x ${hi.height}; expected the same size`);
  }
  return {
    width: hi.width,
    height: hi.height,
    full: hi.source ?? { width: hi.width, height: hi.height },
    input: { kind: lo !== undefined ? 'dual-energy' : 'single-energy', format: first.format, bits: first.bits },
    hi,
    ...(lo !== undefined ? { lo } : {}),
  };
}

/** Runs the chain on one scan; never throws for bad input (the result says review and why). */
export async function inspectScan(scan: ScanInput, opts: InspectOptions): Promise<{ result: InspectResult; planes?: InspectPlanes }> {
  const now = opts.now ?? (() => performance.now());
  const t0 = now();
  const timings: Record<string, number> = {};
  const problems = [...(scan.problems ?? [])];
  const declaration = scan.sidecar?.declaration;
  let input: InspectInput | undefined;
  let notRun: string[] = [];
  let density: DensitySummary | undefined;
  const decisionCfg = opts.decision ?? DEFAULT_DECISION;
  const finish = (partial: Omit<InspectResult, 'scanId' | 'decision' | 'reasons' | 'latency_ms' | 'timings_ms' | 'problems'> & { detections: InspectDetection[] }, planes?: InspectPlanes) => {
    const t = now();
    const d = decide(
      {
        detections: partial.detections,
        ...(partial.materials ? { materials: partial.materials } : {}),
        ...(declaration ? { declaration } : {}),
        problems,
        ...(notRun.length > 0 ? { threatStageNotRun: notRun } : {}),
        ...(density !== undefined ? { density } : {}),
      },
      decisionCfg,
    );
    timings.decision = now() - t;
    const result: InspectResult = {
      scanId: scan.scanId,
      ...(input !== undefined ? { input } : {}),
      decision: d.decision,
      reasons: d.reasons,
      ...partial,
      ...(density !== undefined ? { density } : {}),
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
  let p: Planes;
  try {
    const t = now();
    p = await decodePlanes({ ...scan, high: scan.high }, opts, opts.maxSide ?? 1024);
    input = p.input;
    timings.decode = now() - t;
  } catch (e) {
    problems.push(reasonOf(e));
    return finish({ detections: [] });
  }
  try {
    let t = now();
    const { width, height, full } = p;
    const analysed = { width, height };
    const dual = p.lo !== undefined;
    const ms = opts.materialsMaxSide ?? 512;
    const k = Math.max(width, height) > ms ? Math.ceil(Math.max(width, height) / ms) : 1;
    // Attenuation at the analysed size is only needed when materials run at that size too.
    let tHigh: Float32Array;
    let tLow: Float32Array | undefined;
    let aHigh: Float32Array | undefined;
    let aLow: Float32Array | undefined;
    if (p.hi === undefined) {
      tHigh = p.tHigh!;
      tLow = p.tLow;
      aHigh = p.aHigh;
      aLow = p.aLow;
    } else {
      const refsHigh = opts.referencesDir !== undefined ? await referencesFor(opts.referencesDir, 'high', dual, full, analysed) : undefined;
      const refsLow = opts.referencesDir !== undefined && p.lo !== undefined ? await referencesFor(opts.referencesDir, 'low', dual, full, analysed) : undefined;
      if (k === 1) {
        const h = transmissionAndAttenuation(p.hi, refsHigh, 'high-energy');
        const l = p.lo !== undefined ? transmissionAndAttenuation(p.lo, refsLow, 'low-energy') : undefined;
        tHigh = h.t;
        aHigh = h.a;
        tLow = l?.t;
        aLow = l?.a;
      } else {
        tHigh = toTransmission(p.hi, refsHigh, 'high-energy');
        tLow = p.lo !== undefined ? toTransmission(p.lo, refsLow, 'low-energy') : undefined;
      }
    }
    timings.preprocess = now() - t;
    const pitchFull = scan.sidecar?.pitch_cm ?? opts.pitch_cm;
    const pitch = pitchFull !== undefined ? (pitchFull * full.width) / width : undefined;
    t = now();
    // Material shares and the dense-organic area need no more than about half a centimetre per pixel: large
    // scans are averaged down (in transmission) before the per-pixel ratio work.
    let mw = width;
    let mh = height;
    let mHigh = aHigh ?? new Float32Array(0);
    let mLow = aLow;
    if (k > 1) {
      mw = Math.max(1, Math.round(width / k));
      mh = Math.max(1, Math.round(height / k));
      mHigh = attenuation(resampleArea(tHigh, width, height, mw, mh));
      mLow = tLow !== undefined ? attenuation(resampleArea(tLow, width, height, mw, mh)) : undefined;
    }
    const matCfg = opts.materials ?? DEFAULT_MATERIALS;
    // A rebuilt low channel sits on the palette's class boundaries (Zeff 10 and 20 ↔ R 1.45 and 2.5), not on the
    // node's calibrated curves, and is never photon-starved.
    const mat = classifyMaterials(
      mHigh,
      mLow,
      mw,
      mh,
      p.input.kind === 'pseudo-colour' ? { ...matCfg, organicMax: DEFAULT_MATERIALS.organicMax, metalMin: DEFAULT_MATERIALS.metalMin, lowSaturation: Number.MAX_VALUE } : matCfg,
      pitch !== undefined ? (pitch * width) / mw : undefined,
    );
    timings.materials = now() - t;
    t = now();
    const runnable: AtrStage[] = [];
    notRun = [];
    for (const st of opts.stages) {
      const why = stageMismatch(st, p.input);
      if (why === undefined) runnable.push(st);
      else notRun.push(why);
    }
    let dets: AtrDetection[] = [];
    try {
      // A pseudo-colour export gives the model its rebuilt low channel only when its card says it was trained so.
      dets = await runAtr(runnable, { width, height, high: tHigh, ...(tLow && p.input.kind !== 'single-energy' ? { low: tLow } : {}), ...(pitch !== undefined ? { pitch_cm: pitch } : {}) });
    } catch (e) {
      problems.push(reasonOf(e));
    }
    timings.atr = now() - t;
    const kx = full.width / width;
    const ky = full.height / height;
    if (notRun.length > 0) {
      t = now();
      const d = densityRegions(mHigh, p.input.kind === 'single-energy' ? undefined : mat.classes, mw, mh, { ...DEFAULT_DENSITY, ...decisionCfg.density }, pitch !== undefined ? (pitch * width) / mw : undefined);
      // Boxes in the original image's pixels, like the detections.
      const fx = full.width / mw;
      const fy = full.height / mh;
      const scale = (r: DensitySummary['dense'][number]) => ({ ...r, box: { x: Math.round(r.box.x * fx), y: Math.round(r.box.y * fy), w: Math.round(r.box.w * fx), h: Math.round(r.box.h * fy) } });
      density = { ...d, dense: d.dense.map(scale), blocks: d.blocks.map(scale) };
      timings.density = now() - t;
    }
    const detections = dets.map((d) => ({
      class: d.class,
      score: Math.round(d.score * 1000) / 1000,
      stage: d.stage,
      box: [Math.round(d.x1 * kx), Math.round(d.y1 * ky), Math.round(d.x2 * kx), Math.round(d.y2 * ky)] as [number, number, number, number],
    }));
    return finish(
      { detections, materials: mat.summary, size: { width: full.width, height: full.height, analysedWidth: width, analysedHeight: height } },
      { width: mw, height: mh, aHigh: mHigh, classes: mat.classes },
    );
  } catch (e) {
    problems.push(reasonOf(e));
    return finish({ detections: [] });
  }
}
