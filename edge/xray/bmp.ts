// Windows BMP decoding for scanner exports (sharp/libvips reads no BMP): uncompressed 8-bit palette, 24- and 32-bit images to 8-bit RGB.
import { CustomsError } from '../../common/errors.js';

export class BmpError extends CustomsError {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super('E_XRAY_DECODE', message);
  }
}

export function isBmp(buf: Buffer): boolean {
  return buf.length >= 2 && buf[0] === 0x42 && buf[1] === 0x4d;
}

/** Decodes a BMP into interleaved RGB, top row first. Throws BmpError naming the file and what was expected. */
export function decodeBmp(buf: Buffer, file: string): { width: number; height: number; rgb: Uint8Array } {
  const fail = (what: string): never => {
    throw new BmpError(file, `${file}: ${what}; expected an uncompressed 8-, 24- or 32-bit BMP`);
  };
  if (buf.length < 26) fail(`${buf.length} bytes, shorter than a BMP header`);
  const offset = buf.readUInt32LE(10);
  const dib = buf.readUInt32LE(14);
  if (dib < 40) fail(`DIB header of ${dib} bytes (OS/2 bitmap)`);
  if (buf.length < 14 + dib) fail(`${buf.length} bytes, shorter than its ${dib}-byte DIB header`);
  const width = buf.readInt32LE(18);
  const rawHeight = buf.readInt32LE(22);
  const bpp = buf.readUInt16LE(28);
  const compression = buf.readUInt32LE(30);
  const topDown = rawHeight < 0;
  const height = Math.abs(rawHeight);
  if (width <= 0 || height === 0 || width > 65535 || height > 65535) fail(`size ${width} x ${rawHeight}`);
  // BI_BITFIELDS (3) with 32 bits is how many tools write BGRA; the masks are the usual ones in practice.
  if (!(compression === 0 || (compression === 3 && bpp === 32))) fail(`compression ${compression} (RLE or embedded JPEG/PNG)`);
  if (bpp !== 8 && bpp !== 24 && bpp !== 32) fail(`${bpp} bits per pixel`);
  const stride = Math.ceil((bpp * width) / 32) * 4;
  if (offset + stride * height > buf.length) fail(`${buf.length} bytes, truncated: pixel data needs ${offset + stride * height}`);
  let palette: Uint8Array | undefined;
  if (bpp === 8) {
    const used = buf.readUInt32LE(46) || 256;
    const at = 14 + dib;
    if (at + used * 4 > offset) fail(`colour table of ${used} entries overlapping the pixel data`);
    palette = new Uint8Array(256 * 3);
    for (let i = 0; i < Math.min(256, used); i++) {
      palette[i * 3] = buf[at + i * 4 + 2]!;
      palette[i * 3 + 1] = buf[at + i * 4 + 1]!;
      palette[i * 3 + 2] = buf[at + i * 4]!;
    }
  }
  const rgb = new Uint8Array(width * height * 3);
  const bytes = bpp / 8;
  for (let y = 0; y < height; y++) {
    const src = offset + (topDown ? y : height - 1 - y) * stride;
    let o = y * width * 3;
    for (let x = 0; x < width; x++, o += 3) {
      if (palette !== undefined) {
        const k = buf[src + x]! * 3;
        rgb[o] = palette[k]!;
        rgb[o + 1] = palette[k + 1]!;
        rgb[o + 2] = palette[k + 2]!;
      } else {
        const p = src + x * bytes;
        rgb[o] = buf[p + 2]!;
        rgb[o + 1] = buf[p + 1]!;
        rgb[o + 2] = buf[p]!;
      }
    }
  }
  return { width, height, rgb };
}

/** Encodes 8-bit RGB as a 24-bit bottom-up BMP (tests and the bench make vendor-like BMP exports with it). */
export function encodeBmp(rgb: Uint8Array, width: number, height: number): Buffer {
  const stride = Math.ceil((24 * width) / 32) * 4;
  const buf = Buffer.alloc(54 + stride * height);
  buf.write('BM', 0, 'latin1');
  buf.writeUInt32LE(buf.length, 2);
  buf.writeUInt32LE(54, 10);
  buf.writeUInt32LE(40, 14);
  buf.writeInt32LE(width, 18);
  buf.writeInt32LE(height, 22);
  buf.writeUInt16LE(1, 26);
  buf.writeUInt16LE(24, 28);
  buf.writeUInt32LE(stride * height, 34);
  for (let y = 0; y < height; y++) {
    const dst = 54 + (height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const s = (y * width + x) * 3;
      buf[dst + x * 3] = rgb[s + 2]!;
      buf[dst + x * 3 + 1] = rgb[s + 1]!;
      buf[dst + x * 3 + 2] = rgb[s]!;
    }
  }
  return buf;
}
