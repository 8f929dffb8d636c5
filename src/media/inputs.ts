import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { InvalidInputError } from '../core/errors.js';
import { describeType, isPlainObject } from '../core/validate.js';
import { readAllCapped } from '../net/fetch.js';
import { checkUrl, UrlRefusedError } from '../net/url-guard.js';
import { imageMime, SNIFF_BYTES } from './sniff.js';
import type { JobInputs } from './types.js';

/** Where an input image comes from. */
export type ImageSource =
  { kind: 'base64'; text: string } | { kind: 'data-url'; text: string } | { kind: 'url'; url: string };

/** One input image of a job: `{ name, image }` checked, not yet decoded or fetched. */
export interface InputImage {
  name: string;
  source: ImageSource;
}

/** Most input images one job may bring. */
export const MAX_INPUT_IMAGES = 100;

/**
 * Reads `images: [{ name, image }]` (the RunPod worker-comfyui shape): names without
 * `/`, `\` or `..`, no duplicates; `image` is base64, a `data:image/...;base64,` URL or an
 * http(s) URL (its form checked now; the SSRF guard checks its address when it is fetched).
 * Errors name the entry and the image.
 */
export function parseInputImages(value: unknown, field: string): InputImage[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    throw new InvalidInputError(
      `field "${field}" must be a list of {name, image}, got ${describeType(value)}`,
    );
  }
  if (value.length > MAX_INPUT_IMAGES) {
    throw new InvalidInputError(
      `field "${field}" has ${value.length} images, more than the ${MAX_INPUT_IMAGES} allowed`,
    );
  }
  const seen = new Set<string>();
  return value.map((entry, index) => {
    const where = `field "${field}" entry ${index}`;
    if (!isPlainObject(entry)) {
      throw new InvalidInputError(`${where} must be an object {name, image}, got ${describeType(entry)}`);
    }
    const unknown = Object.keys(entry).filter(key => key !== 'name' && key !== 'image');
    if (unknown.length > 0) {
      throw new InvalidInputError(`${where} has unknown field "${unknown[0] ?? ''}" (allowed: name, image)`);
    }
    const name = checkImageName(entry.name, where);
    if (seen.has(name)) throw new InvalidInputError(`${where}: two images are named "${name}"`);
    seen.add(name);
    const image = entry.image;
    if (typeof image !== 'string' || image === '') {
      throw new InvalidInputError(
        `image "${name}": "image" must be base64, a data URL or an http(s) URL, got ${describeType(image)}`,
      );
    }
    return { name, source: classifySource(image, name) };
  });
}

/** A file name ComfyUI stores in its input folder: a plain name, nothing that walks folders. */
export function checkImageName(value: unknown, where: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new InvalidInputError(
      `${where}: "name" must be a file name such as "input.png", got ${describeType(value)}`,
    );
  }
  const decoded = safeDecode(value);
  if (
    /[/\\]/.test(decoded) ||
    decoded.includes('..') ||
    /[\u0000-\u001f"]/.test(decoded) ||
    decoded.length > 200
  ) {
    throw new InvalidInputError(
      `${where}: image name "${value.slice(0, 80)}" must be a plain file name (no "/", "\\", "..", quotes or control characters, at most 200 characters)`,
    );
  }
  return value;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function classifySource(image: string, name: string): ImageSource {
  if (/^data:/i.test(image)) return { kind: 'data-url', text: image };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(image)) {
    try {
      return { kind: 'url', url: checkUrl(image, { allowPrivate: true }).href };
    } catch (error) {
      if (error instanceof UrlRefusedError) throw new InvalidInputError(`image "${name}": ${error.message}`);
      throw error;
    }
  }
  return { kind: 'base64', text: image };
}

/** An input image ready to hand to a service. */
export interface OpenedImage {
  name: string;
  mime: string;
  body: Buffer | Readable;
  /** Byte count when known (inline images, URLs with a `Content-Length`). */
  size?: number;
}

/**
 * Decodes an inline image or starts downloading a URL. Inline images are checked whole
 * (valid base64, an image format, within `INPUT_MAX_BYTES`); a download is checked as it
 * streams (its first bytes must be an image, its length within the cap).
 */
export async function openImage(image: InputImage, inputs: JobInputs): Promise<OpenedImage> {
  const what = `image "${image.name}"`;
  const source = image.source;
  if (source.kind === 'url') {
    const fetched = await inputs.fetch(source.url, what);
    const sniffer = new ImageSniffer(what);
    fetched.body.on('error', error => sniffer.destroy(error));
    fetched.body.pipe(sniffer);
    return {
      name: image.name,
      mime: fetched.mime.startsWith('image/') ? fetched.mime : 'application/octet-stream',
      body: sniffer,
      ...(fetched.size !== undefined ? { size: fetched.size } : {}),
    };
  }
  let payload = source.text;
  if (source.kind === 'data-url') {
    const match = /^data:([^;,]*)((?:;[^;,]*)*),/i.exec(payload);
    if (!match) throw new InvalidInputError(`${what}: not a valid data URL (data:image/png;base64,...)`);
    const mime = (match[1] ?? '').toLowerCase();
    if (!mime.startsWith('image/')) {
      throw new InvalidInputError(`${what}: the data URL is ${mime || 'text/plain'}, not an image`);
    }
    if (!/;base64$/i.test(match[2] ?? '')) {
      throw new InvalidInputError(`${what}: the data URL must be base64-encoded`);
    }
    payload = payload.slice(match[0].length);
  }
  const bytes = decodeBase64(payload, what, inputs.maxBytes);
  const mime = imageMime(bytes.subarray(0, SNIFF_BYTES));
  if (!mime) throw new InvalidInputError(`${what} is not an image (PNG, JPEG, GIF, WebP, BMP, TIFF or AVIF)`);
  return { name: image.name, mime, body: bytes, size: bytes.length };
}

/** Strict base64 (standard or URL-safe alphabet, whitespace ignored), size-checked before decoding. */
export function decodeBase64(text: string, what: string, maxBytes: number): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (compact === '' || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(compact) || compact.length % 4 === 1) {
    throw new InvalidInputError(`${what}: "image" is not valid base64, a data URL or an http(s) URL`);
  }
  const size =
    Math.floor((compact.length * 3) / 4) - (compact.endsWith('==') ? 2 : compact.endsWith('=') ? 1 : 0);
  if (size > maxBytes) {
    throw new InvalidInputError(
      `${what} is ${size} bytes, more than the ${maxBytes} bytes allowed (INPUT_MAX_BYTES)`,
    );
  }
  return Buffer.from(compact, compact.includes('-') || compact.includes('_') ? 'base64url' : 'base64');
}

/** Passes a download through once its first bytes show an image format. */
class ImageSniffer extends Transform {
  private head: Buffer | undefined = Buffer.alloc(0);

  constructor(private readonly what: string) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.head === undefined) {
      callback(null, chunk);
      return;
    }
    this.head = Buffer.concat([this.head, chunk]);
    if (this.head.length < SNIFF_BYTES) {
      callback();
      return;
    }
    this.release(callback);
  }

  override _flush(callback: TransformCallback): void {
    if (this.head === undefined) {
      callback();
      return;
    }
    this.release(callback);
  }

  private release(callback: TransformCallback): void {
    const head = this.head ?? Buffer.alloc(0);
    this.head = undefined;
    if (!imageMime(head.subarray(0, SNIFF_BYTES))) {
      callback(
        new InvalidInputError(`${this.what} is not an image (PNG, JPEG, GIF, WebP, BMP, TIFF or AVIF)`),
      );
      return;
    }
    callback(null, head);
  }
}

/** Reads an opened image whole (for services that take base64, such as A1111). */
export async function readImage(image: OpenedImage): Promise<Buffer> {
  return Buffer.isBuffer(image.body) ? image.body : readAllCapped(image.body);
}
