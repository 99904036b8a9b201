// Writes minimal DICOS X-ray files (DICOM Part 10, 16-bit native pixel data) from our synthetic images: for tests and the TIP generator's `--format dicos`, not a scanner emulation.
//
// The file: 128-byte zero preamble, "DICM", the file meta group (explicit VR little endian, with its group length),
// then the data set in the chosen transfer syntax with elements in ascending tag order. The SOP class defaults to
// DICOS DX "for processing" (1.2.840.10008.5.1.4.1.1.501.2.2): raw detector counts, what the node analyses. Two
// frames = dual energy, frame 0 high, frame 1 low (the order edge/xray/dicos.ts reads). UIDs are "2.25." + a
// number derived from the scan id, so the same scan always gets the same UIDs. The `fault` options write the broken
// files the reader's tests need.
import { createHash } from 'node:crypto';
import { DICOS_SOP, TRANSFER_SYNTAX } from '../../devices/xray/dicos.js';
import type { Image16 } from '../../analysis/xray/image.js';

export interface DicosWriteOptions {
  /** One frame, or two (dual energy: high, low) of the same size. */
  frames: Image16[];
  scanId: string;
  sopClassUid?: string;
  /** 'explicit' (default) or 'implicit' VR little endian. */
  vr?: 'explicit' | 'implicit';
  manufacturer?: string;
  modelName?: string;
  stationName?: string;
  /** Tube voltages; two values for a two-frame file (written as KVP with VM 2, see edge/xray/dicos.ts). */
  energies_kV?: number[];
  /** Pixel size at the belt; written as ImagerPixelSpacing in mm. */
  pitch_cm?: number;
  rescale?: { slope: number; intercept: number };
  /** BitsStored (default 16); the samples are written as given, so bits above it stay as they are. */
  bitsStored?: number;
  /** PixelRepresentation 1: the samples are two's complement (frames then hold the bit patterns). */
  signed?: boolean;
  /** Broken files for tests. */
  fault?: {
    /** Transfer syntax UID to claim; a compressed one makes the pixel data encapsulated (one fragment). */
    transferSyntax?: string;
    /** Write BitsAllocated/BitsStored 8 and one byte per pixel. */
    eightBit?: boolean;
    /** Leave these tags out (dicom-parser keys, e.g. 'x00280010' for Rows). */
    omit?: string[];
  };
}

const IMPLEMENTATION_UID = '2.25.302340237406713470542135962811398459511';

/** A "2.25." UID (ISO/IEC 9834-8: a UUID as a decimal integer) derived from the text. */
export function uidFor(text: string): string {
  const h = createHash('sha256').update(text).digest();
  let n = 0n;
  for (let i = 0; i < 16; i++) n = (n << 8n) | BigInt(h[i]!);
  return `2.25.${n.toString()}`;
}

interface El {
  group: number;
  element: number;
  vr: string;
  value: Buffer;
  /** Undefined length (encapsulated pixel data). */
  undefinedLength?: boolean;
}

const LONG_VRS = new Set(['OB', 'OW', 'OF', 'OD', 'OL', 'OV', 'SQ', 'UT', 'UN', 'UC', 'UR']);

function pad(text: string, vr: string): Buffer {
  const b = Buffer.from(text, 'latin1');
  if (b.length % 2 === 0) return b;
  // UIDs pad with NUL, other strings with a space (PS3.5 6.2).
  return Buffer.concat([b, Buffer.from([vr === 'UI' ? 0 : 0x20])]);
}

const s = (group: number, element: number, vr: string, text: string): El => ({ group, element, vr, value: pad(text, vr) });
const us = (group: number, element: number, v: number): El => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return { group, element, vr: 'US', value: b };
};

function encode(els: El[], explicit: boolean): Buffer {
  const parts: Buffer[] = [];
  for (const e of [...els].sort((a, b) => a.group - b.group || a.element - b.element)) {
    const len = e.undefinedLength === true ? 0xffffffff : e.value.length;
    let head: Buffer;
    if (!explicit) {
      head = Buffer.alloc(8);
      head.writeUInt16LE(e.group, 0);
      head.writeUInt16LE(e.element, 2);
      head.writeUInt32LE(len, 4);
    } else if (LONG_VRS.has(e.vr)) {
      head = Buffer.alloc(12);
      head.writeUInt16LE(e.group, 0);
      head.writeUInt16LE(e.element, 2);
      head.write(e.vr, 4, 'latin1');
      head.writeUInt32LE(len, 8);
    } else {
      head = Buffer.alloc(8);
      head.writeUInt16LE(e.group, 0);
      head.writeUInt16LE(e.element, 2);
      head.write(e.vr, 4, 'latin1');
      head.writeUInt16LE(len, 6);
    }
    parts.push(head, e.value);
  }
  return Buffer.concat(parts);
}

function tagKey(e: El): string {
  return `x${e.group.toString(16).padStart(4, '0')}${e.element.toString(16).padStart(4, '0')}`;
}

function ds(v: number): string {
  // DS is at most 16 characters.
  const t = String(Number(v.toPrecision(10)));
  return t.length <= 16 ? t : v.toExponential(8);
}

/** Encapsulated pixel data: an empty basic offset table item, one fragment, the sequence delimiter. */
function encapsulate(raw: Buffer): Buffer {
  const item = (tag: number, body: Buffer): Buffer => {
    const h = Buffer.alloc(8);
    h.writeUInt16LE(0xfffe, 0);
    h.writeUInt16LE(tag, 2);
    h.writeUInt32LE(body.length, 4);
    return Buffer.concat([h, body]);
  };
  const body = raw.length % 2 === 0 ? raw : Buffer.concat([raw, Buffer.alloc(1)]);
  return Buffer.concat([item(0xe000, Buffer.alloc(0)), item(0xe000, body), item(0xe0dd, Buffer.alloc(0))]);
}

/** The bytes of a DICOS file holding the frames. */
export function encodeDicos(opts: DicosWriteOptions): Buffer {
  const { frames } = opts;
  const first = frames[0];
  if (first === undefined || frames.length > 2) throw new RangeError(`encodeDicos: ${frames.length} frames; expected 1 or 2`);
  for (const f of frames) if (f.width !== first.width || f.height !== first.height) throw new RangeError('encodeDicos: frames of different sizes');
  const fault = opts.fault ?? {};
  const ts = fault.transferSyntax ?? (opts.vr === 'implicit' ? TRANSFER_SYNTAX.implicitLittle : TRANSFER_SYNTAX.explicitLittle);
  const explicit = ts !== TRANSFER_SYNTAX.implicitLittle;
  const native = ts === TRANSFER_SYNTAX.implicitLittle || ts === TRANSFER_SYNTAX.explicitLittle;
  const sop = opts.sopClassUid ?? DICOS_SOP.dxProcessing;
  const sopInstance = uidFor(`${opts.scanId}/image`);
  const eight = fault.eightBit === true;
  const n = first.width * first.height;
  let pixels = Buffer.alloc(n * frames.length * (eight ? 1 : 2));
  frames.forEach((f, k) => {
    for (let i = 0; i < n; i++) {
      if (eight) pixels[k * n + i] = f.data[i]! >> 8;
      else pixels.writeUInt16LE(f.data[i]!, 2 * (k * n + i));
    }
  });
  if (pixels.length % 2 === 1) pixels = Buffer.concat([pixels, Buffer.alloc(1)]);
  // A fixed content date: the same scan always gives the same bytes.
  const now = new Date(0);
  const els: El[] = [
    s(0x0008, 0x0008, 'CS', 'ORIGINAL\\PRIMARY'),
    s(0x0008, 0x0016, 'UI', sop),
    s(0x0008, 0x0018, 'UI', sopInstance),
    s(0x0008, 0x0023, 'DA', now.toISOString().slice(0, 10).replace(/-/g, '')),
    s(0x0008, 0x0033, 'TM', '000000'),
    s(0x0008, 0x0060, 'CS', 'DX'),
    s(0x0008, 0x0070, 'LO', opts.manufacturer ?? 'customs-edge'),
    s(0x0008, 0x1090, 'LO', opts.modelName ?? 'tip-synth'),
    s(0x0020, 0x000d, 'UI', uidFor(`${opts.scanId}/scan`)),
    s(0x0020, 0x000e, 'UI', uidFor(`${opts.scanId}/series`)),
    us(0x0028, 0x0002, 1),
    s(0x0028, 0x0004, 'CS', 'MONOCHROME2'),
    us(0x0028, 0x0010, first.height),
    us(0x0028, 0x0011, first.width),
    us(0x0028, 0x0100, eight ? 8 : 16),
    us(0x0028, 0x0101, eight ? 8 : (opts.bitsStored ?? 16)),
    us(0x0028, 0x0102, eight ? 7 : (opts.bitsStored ?? 16) - 1),
    us(0x0028, 0x0103, opts.signed === true ? 1 : 0),
    s(0x0028, 0x1052, 'DS', ds(opts.rescale?.intercept ?? 0)),
    s(0x0028, 0x1053, 'DS', ds(opts.rescale?.slope ?? 1)),
    native ? { group: 0x7fe0, element: 0x0010, vr: eight ? 'OB' : 'OW', value: pixels } : { group: 0x7fe0, element: 0x0010, vr: 'OB', value: encapsulate(pixels), undefinedLength: true },
  ];
  // Scan ID is an SH (16 characters): a longer id would be cut, so it is left out and readers fall back to the UID.
  if (opts.scanId.length <= 16) els.push(s(0x0020, 0x0010, 'SH', opts.scanId));
  if (frames.length === 2) els.push(s(0x0028, 0x0008, 'IS', '2'));
  if (opts.stationName !== undefined) els.push(s(0x0008, 0x1010, 'SH', opts.stationName.slice(0, 16)));
  if (opts.energies_kV !== undefined && opts.energies_kV.length > 0) els.push(s(0x0018, 0x0060, 'DS', opts.energies_kV.map(ds).join('\\')));
  if (opts.pitch_cm !== undefined) els.push(s(0x0018, 0x1164, 'DS', `${ds(opts.pitch_cm * 10)}\\${ds(opts.pitch_cm * 10)}`));
  const omit = new Set(fault.omit ?? []);
  const body = encode(
    els.filter((e) => !omit.has(tagKey(e))),
    explicit,
  );
  const metaEls: El[] = [
    { group: 0x0002, element: 0x0001, vr: 'OB', value: Buffer.from([0, 1]) },
    s(0x0002, 0x0002, 'UI', sop),
    s(0x0002, 0x0003, 'UI', sopInstance),
    s(0x0002, 0x0010, 'UI', ts),
    s(0x0002, 0x0012, 'UI', IMPLEMENTATION_UID),
    s(0x0002, 0x0013, 'SH', 'CUSTOMS_EDGE'),
  ].filter((e) => !omit.has(tagKey(e)));
  const metaBody = encode(metaEls, true);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(metaBody.length);
  const meta = encode([{ group: 0x0002, element: 0x0000, vr: 'UL', value: groupLength }], true);
  const preamble = Buffer.alloc(132);
  preamble.write('DICM', 128, 'latin1');
  return Buffer.concat([preamble, meta, metaBody, body]);
}
