// Reads DICOS (NEMA IIC 1, the DICOM-based format of security scanners) X-ray projections with dicom-parser: 16-bit frames plus the few attributes our sidecar carries.
//
// What is read: a DICOM Part 10 file (128-byte preamble + "DICM", file meta group), implicit or explicit VR little
// endian, native (uncompressed) pixel data, one grey sample per pixel, 16 bits allocated. A 2D projection has one
// frame. Dual energy: DICOS DX practice varies between scanners, so both forms are read:
//   - one file with NumberOfFrames = 2: frame 0 is the HIGH-energy image, frame 1 the LOW-energy image (the order
//     our writer uses; a scanner with the other order needs its files split into a pair instead);
//   - a pair of single-frame files `<base>_high.dcs` / `<base>_low.dcs`, exactly like the PNG pairs.
// SOP classes taken (NEMA DICOS UIDs, as listed in pydicom's UID dictionary): 1.2.840.10008.5.1.4.1.1.501.2.1
// "DICOS Digital X-Ray Image Storage - For Presentation" and ...501.2.2 "- For Processing"; the plain DICOM DX and
// CR classes are read too (scanners that export medical DX). Refused with a clear error: DICOS CT (...501.1, a
// volume of slices, not a projection), the Threat Detection Report (...501.3), 2D/3D AIT (...501.4/.5), compressed
// or deflated transfer syntaxes (JPEG, JPEG-LS, JPEG 2000, RLE), big endian, 8-bit and colour data.
// Pixel values are kept as the counts they are (after RescaleSlope/Intercept): like a 12-bit PNG export, a detector
// that does not fill 16 bits needs its dark/open-beam references to give transmission.
import { open, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { endianness } from 'node:os';
import { CustomsError } from '../../common/errors.js';
import type { Image16 } from '../../analysis/xray/image.js';

// dicom-parser ships a webpack UMD bundle: Node's ESM loader sees no named exports in it, so it is loaded as CommonJS.
const dicomParser = createRequire(import.meta.url)('dicom-parser') as typeof import('dicom-parser');
type DataSet = import('dicom-parser').DataSet;

export type DicosErrorCode = 'E_DICOS_READ' | 'E_DICOS_FORMAT' | 'E_DICOS_UNSUPPORTED' | 'E_XRAY_BITDEPTH';

/** A DICOS file that cannot be used: `tag` is the attribute at fault (e.g. "(0028,0010) Rows") where there is one. */
export class DicosError extends CustomsError {
  constructor(
    override readonly code: DicosErrorCode,
    readonly file: string,
    message: string,
    readonly tag?: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

export const DICOS_SOP = {
  ct: '1.2.840.10008.5.1.4.1.1.501.1',
  dxPresentation: '1.2.840.10008.5.1.4.1.1.501.2.1',
  dxProcessing: '1.2.840.10008.5.1.4.1.1.501.2.2',
  tdr: '1.2.840.10008.5.1.4.1.1.501.3',
  ait2d: '1.2.840.10008.5.1.4.1.1.501.4',
  ait3d: '1.2.840.10008.5.1.4.1.1.501.5',
} as const;

/** Projection classes read besides DICOS DX: DICOM DX (presentation, processing) and CR. */
const DICOM_PROJECTION_SOP: Record<string, string> = {
  '1.2.840.10008.5.1.4.1.1.1': 'CR Image Storage',
  '1.2.840.10008.5.1.4.1.1.1.1': 'Digital X-Ray Image Storage - For Presentation',
  '1.2.840.10008.5.1.4.1.1.1.1.1': 'Digital X-Ray Image Storage - For Processing',
};

const REFUSED_SOP: Record<string, string> = {
  [DICOS_SOP.ct]: 'DICOS CT Image Storage (a CT volume, not a 2D projection)',
  [DICOS_SOP.tdr]: 'DICOS Threat Detection Report (a report, no image)',
  [DICOS_SOP.ait2d]: 'DICOS 2D AIT Storage (body scanner)',
  [DICOS_SOP.ait3d]: 'DICOS 3D AIT Storage (body scanner)',
  '1.2.840.10008.5.1.4.1.1.2': 'CT Image Storage (a CT volume, not a 2D projection)',
};

export const TRANSFER_SYNTAX = {
  implicitLittle: '1.2.840.10008.1.2',
  explicitLittle: '1.2.840.10008.1.2.1',
  deflatedExplicitLittle: '1.2.840.10008.1.2.1.99',
  explicitBig: '1.2.840.10008.1.2.2',
  jpegBaseline: '1.2.840.10008.1.2.4.50',
  jpegLossless: '1.2.840.10008.1.2.4.70',
  jpegLs: '1.2.840.10008.1.2.4.80',
  jpeg2000Lossless: '1.2.840.10008.1.2.4.90',
  jpeg2000: '1.2.840.10008.1.2.4.91',
  rle: '1.2.840.10008.1.2.5',
} as const;

const TS_NAMES: Record<string, string> = {
  [TRANSFER_SYNTAX.deflatedExplicitLittle]: 'Deflated Explicit VR Little Endian',
  [TRANSFER_SYNTAX.explicitBig]: 'Explicit VR Big Endian',
  '1.2.840.10008.1.2.4.50': 'JPEG Baseline',
  '1.2.840.10008.1.2.4.51': 'JPEG Extended',
  '1.2.840.10008.1.2.4.57': 'JPEG Lossless',
  '1.2.840.10008.1.2.4.70': 'JPEG Lossless SV1',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS Lossless',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS Near-Lossless',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 Lossless',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000',
  '1.2.840.10008.1.2.5': 'RLE Lossless',
};

/** Tags used, dicom-parser's key and the name errors print. */
export const TAG = {
  transferSyntax: ['x00020010', '(0002,0010) TransferSyntaxUID'],
  mediaSopClass: ['x00020002', '(0002,0002) MediaStorageSOPClassUID'],
  sopClass: ['x00080016', '(0008,0016) SOPClassUID'],
  sopInstance: ['x00080018', '(0008,0018) SOPInstanceUID'],
  contentDate: ['x00080023', '(0008,0023) ContentDate'],
  contentTime: ['x00080033', '(0008,0033) ContentTime'],
  manufacturer: ['x00080070', '(0008,0070) Manufacturer'],
  stationName: ['x00081010', '(0008,1010) StationName'],
  modelName: ['x00081090', '(0008,1090) ManufacturerModelName'],
  kvp: ['x00180060', '(0018,0060) KVP'],
  serial: ['x00181000', '(0018,1000) DeviceSerialNumber'],
  imagerPixelSpacing: ['x00181164', '(0018,1164) ImagerPixelSpacing'],
  studyInstance: ['x0020000d', '(0020,000D) StudyInstanceUID (DICOS: Scan Instance UID)'],
  seriesInstance: ['x0020000e', '(0020,000E) SeriesInstanceUID'],
  studyId: ['x00200010', '(0020,0010) StudyID (DICOS: Scan ID)'],
  samplesPerPixel: ['x00280002', '(0028,0002) SamplesPerPixel'],
  photometric: ['x00280004', '(0028,0004) PhotometricInterpretation'],
  frames: ['x00280008', '(0028,0008) NumberOfFrames'],
  rows: ['x00280010', '(0028,0010) Rows'],
  columns: ['x00280011', '(0028,0011) Columns'],
  pixelSpacing: ['x00280030', '(0028,0030) PixelSpacing'],
  bitsAllocated: ['x00280100', '(0028,0100) BitsAllocated'],
  bitsStored: ['x00280101', '(0028,0101) BitsStored'],
  pixelRepresentation: ['x00280103', '(0028,0103) PixelRepresentation'],
  rescaleIntercept: ['x00281052', '(0028,1052) RescaleIntercept'],
  rescaleSlope: ['x00281053', '(0028,1053) RescaleSlope'],
  pixelData: ['x7fe00010', '(7FE0,0010) PixelData'],
} as const satisfies Record<string, readonly [string, string]>;

/** The attributes that map onto our scanner sidecar. */
export interface DicosMeta {
  sopClassUid: string;
  /** Name of the SOP class as read (DICOS DX for processing, ...). */
  sopClass: string;
  transferSyntaxUid: string;
  sopInstanceUid?: string;
  /** DICOS Scan Instance UID (DICOM StudyInstanceUID). */
  scanInstanceUid?: string;
  seriesInstanceUid?: string;
  /** DICOS Scan ID (DICOM StudyID). */
  scanIdText?: string;
  manufacturer?: string;
  modelName?: string;
  stationName?: string;
  serialNumber?: string;
  /** Tube voltages: one value, or two (high, low) where a two-frame file carries both. */
  kvp?: number[];
  /** Pixel size at the detector (ImagerPixelSpacing) or in the object (PixelSpacing), mm, [row, column]. */
  pixelSpacing_mm?: [number, number];
  contentDateTime?: string;
  rows: number;
  columns: number;
  frames: number;
  bitsStored: number;
  signed: boolean;
  rescale: { slope: number; intercept: number };
}

export interface DicosImage {
  meta: DicosMeta;
  /** One frame, or two (dual energy: [high, low]). Counts after rescale, full size. */
  frames: Image16[];
}

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

const ACCEPTED_TS = new Set<string>([TRANSFER_SYNTAX.implicitLittle, TRANSFER_SYNTAX.explicitLittle]);

/** True when the buffer is a DICOM Part 10 file (the "DICM" magic after the 128-byte preamble). */
export function hasDicmMagic(buf: Uint8Array): boolean {
  return buf.length >= 132 && buf[128] === 0x44 && buf[129] === 0x49 && buf[130] === 0x43 && buf[131] === 0x4d;
}

/** File names that are taken as DICOS/DICOM (scanners use .dcs for DICOS, .dcm for DICOM). */
export function isDicosName(file: string): boolean {
  return /\.(dcs|dcm)$/i.test(file);
}

function thrownText(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'string') return e;
  return String(e);
}

/**
 * Parses the meta group and the data set up to the pixel data; every failure becomes a DicosError. Parsing stops at
 * the pixel data element (its offset and length are known then) and the frames are read from the buffer here, so a
 * file cut short in its pixels is reported against (7FE0,0010) with the bytes missing.
 */
function parse(buf: Uint8Array, file: string): DataSet {
  if (buf.length < 132) throw new DicosError('E_DICOS_FORMAT', file, `${file}: ${buf.length} bytes; expected a DICOM Part 10 file (128-byte preamble + "DICM" + file meta group)`);
  if (!hasDicmMagic(buf)) {
    const got = Buffer.from(buf.subarray(128, 132)).toString('latin1').replace(/[^\x20-\x7e]/g, '.');
    throw new DicosError('E_DICOS_FORMAT', file, `${file}: no DICM magic at byte 128 (found "${got}"); expected a DICOM Part 10 file (128-byte preamble + "DICM")`);
  }
  let header: DataSet;
  try {
    header = dicomParser.readPart10Header(buf);
  } catch (e) {
    throw new DicosError('E_DICOS_FORMAT', file, `${file}: unreadable file meta group (${thrownText(e)}); expected group 0002 in explicit VR little endian`, undefined, { cause: e });
  }
  const ts = header.string(TAG.transferSyntax[0])?.trim();
  if (ts === undefined || ts === '') throw new DicosError('E_DICOS_FORMAT', file, `${file}: ${TAG.transferSyntax[1]} missing from the file meta group; expected one`, TAG.transferSyntax[1]);
  if (!ACCEPTED_TS.has(ts)) {
    const name = TS_NAMES[ts] ?? 'unknown';
    throw new DicosError(
      'E_DICOS_UNSUPPORTED',
      file,
      `${file}: not supported: transfer syntax ${ts} (${name}) in ${TAG.transferSyntax[1]}; expected uncompressed ${TRANSFER_SYNTAX.explicitLittle} (explicit VR little endian) or ${TRANSFER_SYNTAX.implicitLittle} (implicit VR little endian)`,
      TAG.transferSyntax[1],
    );
  }
  try {
    return dicomParser.parseDicom(buf, { untilTag: TAG.pixelData[0] });
  } catch (e) {
    // dicom-parser throws plain strings ("buffer overrun", ...).
    throw new DicosError('E_DICOS_FORMAT', file, `${file}: corrupt or truncated DICOM data set before ${TAG.pixelData[1]} (${thrownText(e)}); expected complete elements up to the pixel data (${buf.length} bytes in the file)`, undefined, { cause: e });
  }
}

function uint16Of(ds: DataSet, t: readonly [string, string], file: string, required: true): number;
function uint16Of(ds: DataSet, t: readonly [string, string], file: string, required: false): number | undefined;
function uint16Of(ds: DataSet, t: readonly [string, string], file: string, required: boolean): number | undefined {
  const el = ds.elements[t[0]];
  if (el === undefined || el.length === 0) {
    if (required) throw new DicosError('E_DICOS_FORMAT', file, `${file}: ${t[1]} missing; expected it in an image`, t[1]);
    return undefined;
  }
  if (el.length < 2) throw new DicosError('E_DICOS_FORMAT', file, `${file}: ${t[1]} is ${el.length} byte(s); expected a 2-byte US value`, t[1]);
  return ds.uint16(t[0]);
}

function str(ds: DataSet, t: readonly [string, string]): string | undefined {
  const v = ds.string(t[0])?.trim();
  return v === undefined || v === '' ? undefined : v;
}

function numbers(ds: DataSet, t: readonly [string, string], file: string): number[] | undefined {
  const raw = str(ds, t);
  if (raw === undefined) return undefined;
  const vals = raw.split('\\').map((s) => Number(s.trim()));
  if (vals.some((v) => !Number.isFinite(v))) throw new DicosError('E_DICOS_FORMAT', file, `${file}: ${t[1]} "${raw}"; expected decimal numbers`, t[1]);
  return vals;
}

function sopName(uid: string): string | undefined {
  if (uid === DICOS_SOP.dxPresentation) return 'DICOS Digital X-Ray Image Storage - For Presentation';
  if (uid === DICOS_SOP.dxProcessing) return 'DICOS Digital X-Ray Image Storage - For Processing';
  return DICOM_PROJECTION_SOP[uid];
}

/** The metadata and the image layout, checked; pixel data not touched (also used on a header alone). */
function readMeta(ds: DataSet, file: string): DicosMeta {
  const sopClassUid = str(ds, TAG.sopClass) ?? str(ds, TAG.mediaSopClass);
  if (sopClassUid === undefined) throw new DicosError('E_DICOS_FORMAT', file, `${file}: ${TAG.sopClass[1]} missing (and no ${TAG.mediaSopClass[1]}); expected a DICOS DX SOP class ${DICOS_SOP.dxProcessing} or ${DICOS_SOP.dxPresentation}`, TAG.sopClass[1]);
  const refused = REFUSED_SOP[sopClassUid];
  if (refused !== undefined) throw new DicosError('E_DICOS_UNSUPPORTED', file, `${file}: not supported: ${TAG.sopClass[1]} ${sopClassUid} = ${refused}; expected a 2D X-ray projection (DICOS DX ${DICOS_SOP.dxProcessing} or ${DICOS_SOP.dxPresentation})`, TAG.sopClass[1]);
  const sopClass = sopName(sopClassUid);
  if (sopClass === undefined) throw new DicosError('E_DICOS_UNSUPPORTED', file, `${file}: not supported: ${TAG.sopClass[1]} ${sopClassUid}; expected a 2D X-ray projection (DICOS DX ${DICOS_SOP.dxProcessing} or ${DICOS_SOP.dxPresentation}, DICOM DX or CR)`, TAG.sopClass[1]);
  const samples = uint16Of(ds, TAG.samplesPerPixel, file, false) ?? 1;
  if (samples !== 1) throw new DicosError('E_DICOS_UNSUPPORTED', file, `${file}: ${TAG.samplesPerPixel[1]} ${samples}; expected 1 (one grey sample per energy)`, TAG.samplesPerPixel[1]);
  const photometric = str(ds, TAG.photometric) ?? 'MONOCHROME2';
  // MONOCHROME1 (high value shown dark) would need knowing what the values mean; refusing beats a silent inversion.
  if (photometric !== 'MONOCHROME2') throw new DicosError('E_DICOS_UNSUPPORTED', file, `${file}: not supported: ${TAG.photometric[1]} ${photometric}; expected MONOCHROME2 (counts rising with transmitted intensity)`, TAG.photometric[1]);
  const rows = uint16Of(ds, TAG.rows, file, true);
  const columns = uint16Of(ds, TAG.columns, file, true);
  if (rows < 1 || columns < 1) throw new DicosError('E_DICOS_FORMAT', file, `${file}: ${TAG.rows[1]} ${rows}, ${TAG.columns[1]} ${columns}; expected at least 1 x 1`, rows < 1 ? TAG.rows[1] : TAG.columns[1]);
  const bitsAllocated = uint16Of(ds, TAG.bitsAllocated, file, true);
  if (bitsAllocated !== 16) throw new DicosError('E_XRAY_BITDEPTH', file, `${file}: wrong bit depth: ${TAG.bitsAllocated[1]} ${bitsAllocated}; expected 16 so the scan's dynamic range is kept`, TAG.bitsAllocated[1]);
  const bitsStored = uint16Of(ds, TAG.bitsStored, file, false) ?? 16;
  if (bitsStored < 9 || bitsStored > 16) throw new DicosError('E_XRAY_BITDEPTH', file, `${file}: wrong bit depth: ${TAG.bitsStored[1]} ${bitsStored}; expected 9..16 bits in each 16-bit sample`, TAG.bitsStored[1]);
  const pr = uint16Of(ds, TAG.pixelRepresentation, file, false) ?? 0;
  if (pr !== 0 && pr !== 1) throw new DicosError('E_DICOS_FORMAT', file, `${file}: ${TAG.pixelRepresentation[1]} ${pr}; expected 0 (unsigned) or 1 (two's complement)`, TAG.pixelRepresentation[1]);
  let frames = 1;
  const framesText = str(ds, TAG.frames);
  if (framesText !== undefined) {
    frames = Number(framesText);
    if (!Number.isInteger(frames) || frames < 1) throw new DicosError('E_DICOS_FORMAT', file, `${file}: ${TAG.frames[1]} "${framesText}"; expected a positive integer`, TAG.frames[1]);
    if (frames > 2) throw new DicosError('E_DICOS_UNSUPPORTED', file, `${file}: not supported: ${TAG.frames[1]} ${frames}; expected 1 (single energy) or 2 (dual energy: high, low)`, TAG.frames[1]);
  }
  const slope = numbers(ds, TAG.rescaleSlope, file)?.[0] ?? 1;
  const intercept = numbers(ds, TAG.rescaleIntercept, file)?.[0] ?? 0;
  if (slope === 0) throw new DicosError('E_DICOS_FORMAT', file, `${file}: ${TAG.rescaleSlope[1]} 0; expected a non-zero slope`, TAG.rescaleSlope[1]);
  const kvp = numbers(ds, TAG.kvp, file);
  const spacing = numbers(ds, TAG.imagerPixelSpacing, file) ?? numbers(ds, TAG.pixelSpacing, file);
  const date = str(ds, TAG.contentDate);
  const time = str(ds, TAG.contentTime);
  const meta: DicosMeta = {
    sopClassUid,
    sopClass,
    transferSyntaxUid: str(ds, TAG.transferSyntax) ?? '',
    rows,
    columns,
    frames,
    bitsStored,
    signed: pr === 1,
    rescale: { slope, intercept },
  };
  const opt: Partial<DicosMeta> = {
    sopInstanceUid: str(ds, TAG.sopInstance),
    scanInstanceUid: str(ds, TAG.studyInstance),
    seriesInstanceUid: str(ds, TAG.seriesInstance),
    scanIdText: str(ds, TAG.studyId),
    manufacturer: str(ds, TAG.manufacturer),
    modelName: str(ds, TAG.modelName),
    stationName: str(ds, TAG.stationName),
    serialNumber: str(ds, TAG.serial),
    kvp: kvp !== undefined && kvp.every((v) => v > 0) ? kvp : undefined,
    pixelSpacing_mm: spacing !== undefined && spacing.length >= 1 && spacing.every((v) => v > 0) ? [spacing[0]!, spacing[1] ?? spacing[0]!] : undefined,
    contentDateTime: date !== undefined ? `${date}${time !== undefined ? `T${time}` : ''}` : undefined,
  };
  for (const [k, v] of Object.entries(opt)) if (v !== undefined) (meta as unknown as Record<string, unknown>)[k] = v;
  return meta;
}

/** Decodes a whole DICOS file: metadata and its one or two frames. */
export function decodeDicos(buf: Uint8Array, file: string): DicosImage {
  const ds = parse(buf, file);
  const meta = readMeta(ds, file);
  const el = ds.elements[TAG.pixelData[0]];
  if (el === undefined) throw new DicosError('E_DICOS_FORMAT', file, `${file}: ${TAG.pixelData[1]} missing; expected the image's pixel data`, TAG.pixelData[1]);
  if (el.hadUndefinedLength === true || el.encapsulatedPixelData === true) throw new DicosError('E_DICOS_UNSUPPORTED', file, `${file}: not supported: encapsulated (compressed) ${TAG.pixelData[1]}; expected native 16-bit pixel data`, TAG.pixelData[1]);
  const n = meta.rows * meta.columns;
  const need = n * 2 * meta.frames;
  const have = Math.min(el.length, buf.length - el.dataOffset);
  if (have < need) {
    throw new DicosError(
      'E_DICOS_FORMAT',
      file,
      `${file}: ${TAG.pixelData[1]} holds ${have} bytes at offset ${el.dataOffset}; expected ${need} (${meta.frames} frame(s) of ${meta.columns} x ${meta.rows} x 2 bytes): truncated file?`,
      TAG.pixelData[1],
    );
  }
  const bytes = Buffer.from(buf.buffer, buf.byteOffset + el.dataOffset, need);
  const { slope, intercept } = meta.rescale;
  const identity = slope === 1 && intercept === 0;
  const mask = (1 << meta.bitsStored) - 1;
  const signBit = 1 << (meta.bitsStored - 1);
  const frames: Image16[] = [];
  for (let f = 0; f < meta.frames; f++) {
    const data = new Uint16Array(n);
    if (identity && !meta.signed && LITTLE_ENDIAN_HOST) {
      // The common case (unsigned counts, no rescale): a copy, then the mask; no value can leave 0..65535.
      new Uint8Array(data.buffer).set(bytes.subarray(f * n * 2, (f + 1) * n * 2));
      if (meta.bitsStored < 16) for (let i = 0; i < n; i++) data[i]! &= mask;
      frames.push({ width: meta.columns, height: meta.rows, data });
      continue;
    }
    let lo = Infinity;
    let hi = -Infinity;
    const base = f * n * 2;
    for (let i = 0; i < n; i++) {
      // Bits above BitsStored may hold overlays in old files: masked off, and the sign taken from BitsStored.
      let v = bytes.readUInt16LE(base + 2 * i) & mask;
      if (meta.signed && (v & signBit) !== 0) v -= mask + 1;
      const out = identity ? v : Math.round(v * slope + intercept);
      if (out < lo) lo = out;
      if (out > hi) hi = out;
      data[i] = out;
    }
    if (lo < 0 || hi > 65535) {
      throw new DicosError(
        'E_DICOS_UNSUPPORTED',
        file,
        `${file}: frame ${f} spans ${lo}..${hi} after ${TAG.rescaleSlope[1]} ${slope} and ${TAG.rescaleIntercept[1]} ${intercept}${meta.signed ? ' (signed samples)' : ''}; expected detector counts 0..65535`,
        lo < 0 ? TAG.rescaleIntercept[1] : TAG.rescaleSlope[1],
      );
    }
    frames.push({ width: meta.columns, height: meta.rows, data });
  }
  return { meta, frames };
}

/** Reads only what precedes the pixel data (the scan's metadata): for the folder driver, which decodes no images. */
export function decodeDicosHeader(buf: Uint8Array, file: string): DicosMeta {
  return readMeta(parse(buf, file), file);
}

/** The sidecar fields a DICOS file carries: scanId, scanner, energies_kV, pitch_cm (no declaration: that is customs data). */
export function sidecarFromDicos(meta: DicosMeta, fallbackId: string): { scanId: string; scanner?: string; energies_kV?: number[]; pitch_cm?: number } {
  // DICOS renames DICOM's study to the scan: Scan ID (0020,0010) names it for people, the Scan Instance UID uniquely.
  const scanId = (meta.scanIdText ?? meta.scanInstanceUid ?? meta.sopInstanceUid ?? fallbackId).slice(0, 128);
  const scannerParts = [meta.manufacturer, meta.modelName, meta.stationName ?? meta.serialNumber].filter((s): s is string => s !== undefined);
  const out: { scanId: string; scanner?: string; energies_kV?: number[]; pitch_cm?: number } = { scanId };
  if (scannerParts.length > 0) out.scanner = scannerParts.join(' ').slice(0, 128);
  if (meta.kvp !== undefined) out.energies_kV = meta.kvp.slice(0, 2);
  if (meta.pixelSpacing_mm !== undefined) out.pitch_cm = meta.pixelSpacing_mm[1] / 10;
  return out;
}

const HEADER_PROBE_BYTES = 64 * 1024;

/** Reads a DICOS file's metadata from its first 64 KiB (the whole file only when the header is longer). */
export async function readDicosMeta(file: string): Promise<DicosMeta> {
  let head: Buffer;
  let size: number;
  try {
    const fh = await open(file, 'r');
    try {
      size = (await fh.stat()).size;
      head = Buffer.alloc(Math.min(size, HEADER_PROBE_BYTES));
      await fh.read(head, 0, head.length, 0);
    } finally {
      await fh.close();
    }
  } catch (e) {
    throw new DicosError('E_DICOS_READ', file, `${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, undefined, { cause: e });
  }
  try {
    return decodeDicosHeader(head, file);
  } catch (e) {
    if (size <= head.length) throw e;
    let whole: Buffer;
    try {
      whole = await readFile(file);
    } catch (e2) {
      throw new DicosError('E_DICOS_READ', file, `${file}: cannot read (${(e2 as NodeJS.ErrnoException).code ?? (e2 as Error).message})`, undefined, { cause: e2 });
    }
    return decodeDicosHeader(whole, file);
  }
}
