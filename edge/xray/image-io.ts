// Reading and writing the scanners' images with sharp: 16-bit grey PNG/TIFF, and for scans also 8-bit grey and pseudo-colour JPEG/PNG/BMP exports (DICOS files go through ./dicos.ts); every bad file gets an error naming it and what was expected.
import { readFile } from 'node:fs/promises';
import sharp, { type Metadata, type Sharp } from 'sharp';
import { CustomsError } from '../../common/errors.js';
import { decodeDicos, DicosError, hasDicmMagic, isDicosName } from '../../devices/xray/dicos.js';
import { decodeBmp, isBmp } from './bmp.js';
import type { Image16 } from '../../analysis/xray/image.js';

export type { Image16 };

export type XrayImageErrorCode = 'E_XRAY_READ' | 'E_XRAY_DECODE' | 'E_XRAY_BITDEPTH' | 'E_XRAY_CHANNELS' | 'E_XRAY_SIZE';

/** An image that cannot be used; `file` is the path, the message says what was found and what was expected. */
export class XrayImageError extends CustomsError {
  constructor(
    override readonly code: XrayImageErrorCode,
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

export interface ReadOptions {
  /** Downsample (area-averaging) so that neither side exceeds this many pixels; the analysis resolution. */
  maxSide?: number;
  /** Or an exact output size (references are resized to their image's analysis size this way). */
  size?: { width: number; height: number };
  /** Scans only: the longer side for a pseudo-colour export, when it is analysed at another size than grey images. */
  colourMaxSide?: number;
  /** Scans only: the longer side for a grey PNG/TIFF/JPEG/BMP (not DICOS), when it differs from maxSide. */
  greyMaxSide?: number;
}

/**
 * Decodes a 16-bit grey PNG or TIFF. An 8-bit image is refused (its 256 levels cannot hold the dynamic range of a
 * scan: dense cargo would be clipped to 0), as is colour or a file sharp cannot decode.
 */
export async function readImage16(file: string, opts: ReadOptions = {}): Promise<Image16> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (e) {
    throw new XrayImageError('E_XRAY_READ', file, `${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
  }
  if (hasDicmMagic(buf) || isDicosName(file)) {
    const frames = await dicosFrames(buf, file, opts);
    if (frames.length !== 1) throw new DicosError('E_DICOS_UNSUPPORTED', file, `${file}: ${frames.length} frames (dual energy); expected one image here`, '(0028,0008) NumberOfFrames');
    return frames[0]!;
  }
  return decodeImage16(buf, file, opts);
}

/**
 * The frames of an image file: one for PNG/TIFF and single-frame DICOS, two (high, low) for a dual-energy DICOS
 * file. DICOS/DICOM is recognised by its "DICM" magic or a .dcs/.dcm name.
 */
export async function readImageFrames16(file: string, opts: ReadOptions = {}): Promise<Image16[]> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (e) {
    throw new XrayImageError('E_XRAY_READ', file, `${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
  }
  if (hasDicmMagic(buf) || isDicosName(file)) return dicosFrames(buf, file, opts);
  return [await decodeImage16(buf, file, opts)];
}

async function dicosFrames(buf: Buffer, file: string, opts: ReadOptions): Promise<Image16[]> {
  const { frames } = decodeDicos(buf, file);
  const out: Image16[] = [];
  for (const f of frames) out.push(await scaleImage16(f, opts));
  return out;
}

/** Applies the same size options as readImage16 to an image already in memory (DICOS frames). */
export async function scaleImage16(img: Image16, opts: ReadOptions = {}): Promise<Image16> {
  const { width, height } = img;
  const source = { width, height };
  let outW: number;
  let outH: number;
  if (opts.size !== undefined && (opts.size.width !== width || opts.size.height !== height)) {
    outW = opts.size.width;
    outH = opts.size.height;
  } else if (opts.maxSide !== undefined && Math.max(width, height) > opts.maxSide) {
    const k = Math.ceil(Math.max(width, height) / opts.maxSide);
    if (width % k === 0 && height % k === 0) return { ...reduceBy(img, k), source };
    const f = opts.maxSide / Math.max(width, height);
    outW = Math.max(1, Math.round(width * f));
    outH = Math.max(1, Math.round(height * f));
  } else {
    return { ...img, source };
  }
  // The same resize sharp does for a PNG of this size, so a DICOS scan and its PNG export analyse alike.
  const pipe = sharp(img.data, { raw: { width, height, channels: 1 }, limitInputPixels: 1 << 28 }).toColourspace('grey16').resize(outW, outH, { fit: 'fill', kernel: 'linear' });
  return { ...(await decodeRaw(pipe, '(DICOS frame)')), source };
}

export async function decodeImage16(buf: Buffer, file: string, opts: ReadOptions = {}): Promise<Image16> {
  let meta: Metadata;
  try {
    meta = await sharp(buf).metadata();
  } catch (e) {
    throw new XrayImageError('E_XRAY_DECODE', file, `${file}: not a readable image (${(e as Error).message}); expected a 16-bit grey PNG or TIFF`, { cause: e });
  }
  if (meta.format !== 'png' && meta.format !== 'tiff') {
    throw new XrayImageError('E_XRAY_DECODE', file, `${file}: ${meta.format} image; expected a 16-bit grey PNG or TIFF`);
  }
  if (meta.depth !== 'ushort') {
    const bits = meta.depth === 'uchar' || meta.depth === 'char' ? '8-bit' : `${meta.depth ?? 'unknown'} sample`;
    throw new XrayImageError('E_XRAY_BITDEPTH', file, `${file}: ${bits} image; expected 16-bit grey (depth ushort) so the scan's dynamic range is kept`);
  }
  if ((meta.channels ?? 1) > 2 || (meta.channels === 2 && !meta.hasAlpha)) {
    throw new XrayImageError('E_XRAY_CHANNELS', file, `${file}: ${meta.channels} channels (${meta.space}); expected one grey channel per energy`);
  }
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  // One-line images are legitimate: dark and open-beam references of a line scanner.
  if (width < 1 || height < 1) throw new XrayImageError('E_XRAY_SIZE', file, `${file}: ${width} x ${height} pixels; expected an image`);
  try {
    let pipe = sharp(buf, { limitInputPixels: 1 << 28 }).toColourspace('grey16');
    let outW = width;
    let outH = height;
    if (opts.size !== undefined && (opts.size.width !== width || opts.size.height !== height)) {
      outW = opts.size.width;
      outH = opts.size.height;
      pipe = pipe.resize(outW, outH, { fit: 'fill', kernel: 'linear' });
    } else if (opts.maxSide !== undefined && Math.max(width, height) > opts.maxSide) {
      const k = Math.ceil(Math.max(width, height) / opts.maxSide);
      if (width % k === 0 && height % k === 0) {
        // An integer factor: decode at full size and average k x k blocks here, several times faster than a
        // general resize and exactly what a k-times larger detector pixel would count.
        const full = await decodeRaw(sharp(buf, { limitInputPixels: 1 << 28 }).toColourspace('grey16'), file);
        return { ...reduceBy(full, k), source: { width, height } };
      }
      const f = opts.maxSide / Math.max(width, height);
      outW = Math.max(1, Math.round(width * f));
      outH = Math.max(1, Math.round(height * f));
      pipe = pipe.resize(outW, outH, { fit: 'fill', kernel: 'linear' });
    }
    return { ...(await decodeRaw(pipe, file)), source: { width, height } };
  } catch (e) {
    if (e instanceof XrayImageError) throw e;
    throw new XrayImageError('E_XRAY_DECODE', file, `${file}: corrupt image data (${(e as Error).message}); expected a complete 16-bit grey PNG or TIFF`, { cause: e });
  }
}

async function decodeRaw(pipe: Sharp, file: string): Promise<Image16> {
  const { data, info } = await pipe.extractChannel(0).raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
  if (info.width * info.height * 2 !== data.length) throw new Error(`${file}: decoded ${data.length} bytes for ${info.width} x ${info.height}`);
  // Copy into an aligned array of our own (sharp's buffer may sit at an odd offset in a pooled slab).
  const out = new Uint16Array(info.width * info.height);
  new Uint8Array(out.buffer).set(data);
  return { width: info.width, height: info.height, data: out };
}

/** Averages k x k blocks of counts (rounded): the image a detector with k-times larger pixels would give. */
export function reduceBy(img: Image16, k: number): Image16 {
  const w = Math.floor(img.width / k);
  const h = Math.floor(img.height / k);
  const acc = new Uint32Array(w);
  const out = new Uint16Array(w * h);
  const half = (k * k) / 2;
  const inv = 1 / (k * k);
  for (let y = 0; y < h; y++) {
    acc.fill(0);
    for (let dy = 0; dy < k; dy++) {
      const row = (y * k + dy) * img.width;
      for (let x = 0; x < w; x++) {
        let s = 0;
        const base = row + x * k;
        for (let dx = 0; dx < k; dx++) s += img.data[base + dx]!;
        acc[x]! += s;
      }
    }
    for (let x = 0; x < w; x++) out[y * w + x] = Math.floor((acc[x]! + half) * inv);
  }
  return { width: w, height: h, data: out };
}

/**
 * Encodes a 16-bit grey PNG. Row filtering is off so the training script can read the files with zlib alone
 * (models/xray-atr/train.py has no image library); `compressionLevel` trades size for speed.
 */
export async function encodePng16(img: Image16, compressionLevel = 6): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 1 } })
    .toColourspace('grey16')
    .png({ compressionLevel, adaptiveFiltering: false })
    .toBuffer();
}

export async function encodeTiff16(img: Image16): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 1 } }).toColourspace('grey16').tiff({ compression: 'lzw' }).toBuffer();
}

/** Transmission [0, 1] → 16-bit counts of an ideal detector (dark 0, open beam 65535). */
export function transmissionTo16(t: Float32Array, width: number, height: number): Image16 {
  const data = new Uint16Array(t.length);
  for (let i = 0; i < t.length; i++) data[i] = Math.min(65535, Math.max(0, Math.round(t[i]! * 65535)));
  return { width, height, data };
}

/** An 8-bit RGB PNG (the screener's colour rendering). */
export async function encodeRgbPng(rgb: Uint8Array, width: number, height: number): Promise<Buffer> {
  return sharp(rgb, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

// ---- Scans as real scanners export them ---------------------------------------------------------------------------

/** What a scan file held: grey counts (16-bit, or 8-bit scaled to 16), or an 8-bit pseudo-colour rendering. */
export type ScanImage =
  | { kind: 'grey'; bits: 8 | 16; format: string; image: Image16 }
  | { kind: 'colour'; format: string; width: number; height: number; rgb: Uint8Array; source: { width: number; height: number } };

/** Smallest scan side accepted: anything smaller is a thumbnail or a broken export, not a scan. */
export const MIN_SCAN_SIDE = 16;
/**
 * A colour file whose channels differ by no more than this (8-bit levels) on nearly every pixel is a grey image
 * saved as RGB (common for JPEG exports); JPEG chroma noise stays within it.
 */
const GREY_TOLERANCE = 8;

const SCAN_FORMATS = 'a 16-bit grey PNG/TIFF, an 8-bit grey or pseudo-colour JPEG/PNG/BMP, or DICOS';

/**
 * The frames of a scan file for inspection: one for every format but a dual-energy DICOS file (high, low). Unlike
 * readImage16 (references, flat fields: 16-bit only) it takes what scanners export: 8-bit grey single-energy
 * images and 8-bit pseudo-colour renderings as JPEG, PNG, TIFF or BMP.
 */
export async function readScanFrames(file: string, opts: ReadOptions = {}): Promise<ScanImage[]> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (e) {
    throw new XrayImageError('E_XRAY_READ', file, `${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
  }
  if (buf.length === 0) throw new XrayImageError('E_XRAY_READ', file, `${file}: empty file (0 bytes); expected ${SCAN_FORMATS}`);
  if (hasDicmMagic(buf) || isDicosName(file)) return (await dicosFrames(buf, file, opts)).map((image) => ({ kind: 'grey', bits: 16, format: 'dicos', image }));
  return [await decodeScan(buf, file, opts)];
}

function outSize(width: number, height: number, opts: ReadOptions): { width: number; height: number } | undefined {
  if (opts.size !== undefined && (opts.size.width !== width || opts.size.height !== height)) return opts.size;
  if (opts.maxSide !== undefined && Math.max(width, height) > opts.maxSide) {
    const f = opts.maxSide / Math.max(width, height);
    return { width: Math.max(1, Math.round(width * f)), height: Math.max(1, Math.round(height * f)) };
  }
  return undefined;
}

async function decodeScan(buf: Buffer, file: string, opts: ReadOptions): Promise<ScanImage> {
  let base: Sharp;
  let format: string;
  let width: number;
  let height: number;
  let meta: Metadata | undefined;
  if (isBmp(buf)) {
    const bmp = decodeBmp(buf, file);
    ({ width, height } = bmp);
    format = 'bmp';
    base = sharp(bmp.rgb, { raw: { width, height, channels: 3 }, limitInputPixels: 1 << 28 });
  } else {
    try {
      meta = await sharp(buf).metadata();
    } catch (e) {
      throw new XrayImageError('E_XRAY_DECODE', file, `${file}: not a readable image (${(e as Error).message}); expected ${SCAN_FORMATS}`, { cause: e });
    }
    format = meta.format ?? 'unknown';
    if (!['png', 'tiff', 'jpeg', 'webp'].includes(format)) throw new XrayImageError('E_XRAY_DECODE', file, `${file}: ${format} image; expected ${SCAN_FORMATS}`);
    width = meta.width ?? 0;
    height = meta.height ?? 0;
    base = sharp(buf, { limitInputPixels: 1 << 28 });
  }
  if (width < MIN_SCAN_SIDE || height < MIN_SCAN_SIDE) {
    throw new XrayImageError('E_XRAY_SIZE', file, `${file}: ${width} x ${height} pixels; expected a scan of at least ${MIN_SCAN_SIDE} x ${MIN_SCAN_SIDE}`);
  }
  const source = { width, height };
  const grey = meta !== undefined && ((meta.channels ?? 1) === 1 || (meta.channels === 2 && meta.hasAlpha));
  const greyOpts: ReadOptions = opts.greyMaxSide !== undefined ? { ...opts, maxSide: opts.greyMaxSide } : opts;
  if (meta !== undefined && meta.depth === 'ushort' && grey) return { kind: 'grey', bits: 16, format, image: await decodeImage16(buf, file, greyOpts) };
  if (meta !== undefined && meta.depth !== undefined && meta.depth !== 'uchar' && meta.depth !== 'ushort') {
    throw new XrayImageError('E_XRAY_BITDEPTH', file, `${file}: ${meta.depth} samples; expected 8- or 16-bit integer samples`);
  }
  const size = outSize(width, height, greyOpts);
  try {
    if (grey) {
      let pipe = base.extractChannel(0);
      if (size !== undefined) pipe = pipe.resize(size.width, size.height, { fit: 'fill', kernel: 'linear' });
      const { data, info } = await pipe.raw().toBuffer({ resolveWithObject: true });
      return { kind: 'grey', bits: 8, format, image: { ...grey8To16(data, info.width, info.height), source } };
    }
    // Colour (8 or 16 bits a channel): 8-bit sRGB, alpha dropped, at the analysis size.
    const cSize = opts.colourMaxSide !== undefined ? outSize(width, height, { maxSide: opts.colourMaxSide }) : outSize(width, height, opts);
    let pipe = base.removeAlpha().toColourspace('srgb');
    if (cSize !== undefined) pipe = pipe.resize(cSize.width, cSize.height, { fit: 'fill', kernel: 'linear' });
    const { data, info } = await pipe.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || data.length !== info.width * info.height * 3) throw new Error(`decoded ${data.length} bytes, ${info.channels} channels for ${info.width} x ${info.height}`);
    const rgb = new Uint8Array(data.buffer, data.byteOffset, data.length);
    if (isGreyRgb(rgb)) return { kind: 'grey', bits: 8, format, image: { ...grey8To16(greenOf(rgb), info.width, info.height), source } };
    return { kind: 'colour', format, width: info.width, height: info.height, rgb: Uint8Array.from(rgb), source };
  } catch (e) {
    if (e instanceof XrayImageError) throw e;
    throw new XrayImageError('E_XRAY_DECODE', file, `${file}: corrupt image data (${(e as Error).message}); expected a complete ${format.toUpperCase()} file`, { cause: e });
  }
}

/** 8-bit levels to the 16-bit counts the chain works on (×257: 255 → 65535), so T = level / 255. */
function grey8To16(data: Uint8Array, width: number, height: number): Image16 {
  const out = new Uint16Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = data[i]! * 257;
  return { width, height, data: out };
}

function greenOf(rgb: Uint8Array): Uint8Array {
  const out = new Uint8Array(rgb.length / 3);
  for (let i = 0; i < out.length; i++) out[i] = rgb[i * 3 + 1]!;
  return out;
}

/** Grey stored as RGB: at most 0.5 % of the pixels with channels further apart than the tolerance. */
function isGreyRgb(rgb: Uint8Array): boolean {
  const n = rgb.length / 3;
  let coloured = 0;
  const limit = Math.max(1, Math.floor(n * 0.005));
  for (let i = 0; i < rgb.length; i += 3) {
    const r = rgb[i]!;
    const g = rgb[i + 1]!;
    const b = rgb[i + 2]!;
    if (Math.abs(r - g) > GREY_TOLERANCE || Math.abs(g - b) > GREY_TOLERANCE || Math.abs(r - b) > GREY_TOLERANCE) {
      if (++coloured > limit) return false;
    }
  }
  return true;
}

/** An 8-bit RGB image as JPEG (tests and the bench make vendor-like exports with it). */
export async function encodeRgbJpeg(rgb: Uint8Array, width: number, height: number, quality = 90): Promise<Buffer> {
  return sharp(rgb, { raw: { width, height, channels: 3 } }).jpeg({ quality }).toBuffer();
}
