import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typed = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(typed) >>> 0);
  return Buffer.concat([length, typed, crc]);
}

/**
 * A real RGB PNG. `noise` fills it with random pixels stored uncompressed, so its size is
 * about width × height × 3 bytes (how the benchmark makes 4 MB results); otherwise a flat
 * colour. A `parameters` text chunk carries the infotext, as A1111's PNGs do.
 */
export function makePng(
  width: number,
  height: number,
  options: { noise?: boolean; colour?: number; text?: string } = {},
): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // colour type RGB
  const row = width * 3 + 1;
  const raw = options.noise ? randomBytes(row * height) : Buffer.alloc(row * height, options.colour ?? 0x80);
  for (let y = 0; y < height; y++) raw[y * row] = 0; // filter type "none" for each row
  const data = zlib.deflateSync(raw, { level: options.noise ? 0 : 6 });
  const parts = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header)];
  if (options.text) parts.push(chunk('tEXt', Buffer.from(`parameters\0${options.text}`, 'latin1')));
  parts.push(chunk('IDAT', data), chunk('IEND', Buffer.alloc(0)));
  return Buffer.concat(parts);
}

/** Side of a square noise PNG whose base64 is about `base64Bytes` long. */
export function sideForBase64Bytes(base64Bytes: number): number {
  return Math.max(1, Math.round(Math.sqrt((base64Bytes * 3) / 4 / 3)));
}
