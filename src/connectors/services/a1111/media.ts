import { InvalidInputError } from '../../../core/errors.js';
import type { JobContext, StoredFile } from '../../types.js';
import { describeType, isPlainObject, type JsonObject } from '../../../core/validate.js';
import { openImage, readImage } from '../../../media/inputs.js';
import { imageMime, SNIFF_BYTES } from '../../../media/sniff.js';
import { checkUrl, redactUrl, UrlRefusedError } from '../../../net/url-guard.js';

/** Payload fields that carry input images (a list, and a single mask). */
const IMAGE_LIST_FIELD = 'init_images';
const MASK_FIELD = 'mask';

function isUrl(value: unknown): value is string {
  return typeof value === 'string' && /^https?:\/\//i.test(value);
}

/**
 * Returns the payload with every `init_images` entry and `mask` given as an http(s) URL
 * fetched (through the SSRF guard, capped) and replaced by its base64, as A1111 wants;
 * the payload itself is returned when there is nothing to fetch.
 */
export async function inlineImageUrls(ctx: JobContext, payload: JsonObject): Promise<JsonObject> {
  const list = payload[IMAGE_LIST_FIELD];
  const mask = payload[MASK_FIELD];
  if (list !== undefined && list !== null && !Array.isArray(list)) {
    throw new InvalidInputError(
      `field "payload.${IMAGE_LIST_FIELD}" must be a list of images, got ${describeType(list)}`,
    );
  }
  const urls = (Array.isArray(list) ? list : []).some(isUrl) || isUrl(mask);
  if (!urls) return payload;
  const copy: JsonObject = { ...payload };
  if (Array.isArray(list)) {
    const inlined: unknown[] = [];
    for (const [index, entry] of list.entries()) {
      inlined.push(isUrl(entry) ? await fetchAsBase64(ctx, entry, `${IMAGE_LIST_FIELD}[${index}]`) : entry);
    }
    copy[IMAGE_LIST_FIELD] = inlined;
  }
  if (isUrl(mask)) copy[MASK_FIELD] = await fetchAsBase64(ctx, mask, MASK_FIELD);
  return copy;
}

async function fetchAsBase64(ctx: JobContext, url: string, field: string): Promise<string> {
  let checked: string;
  try {
    checked = checkUrl(url, { allowPrivate: true }).href;
  } catch (error) {
    if (error instanceof UrlRefusedError) {
      throw new InvalidInputError(`field "payload.${field}": ${error.message}`);
    }
    throw error;
  }
  const image = await openImage(
    { name: `payload.${field}`, source: { kind: 'url', url: checked } },
    ctx.inputs,
  );
  return (await readImage(image)).toString('base64');
}

/** What the result says instead of an input image's base64 (A1111 echoes the request in `parameters`). */
function describeInput(value: unknown): unknown {
  if (isUrl(value)) return redactUrl(value);
  if (typeof value === 'string') return `<image, ${value.length} base64 characters>`;
  return value;
}

/**
 * With a store in use: each base64 image of A1111's answer is decoded and stored as a file
 * (`image-<i>.png`, or the format's own extension), `images` becomes the list of stored
 * entries, and the input images A1111 echoes in `parameters` are replaced by a short note,
 * so no image bytes stay in the result.
 */
export async function storeImages(
  ctx: JobContext,
  result: unknown,
  originalPayload: JsonObject,
): Promise<unknown> {
  if (!isPlainObject(result) || !Array.isArray(result.images)) return result;
  const images = result.images.filter((image): image is string => typeof image === 'string');
  const stored: StoredFile[] = [];
  for (const [index, image] of images.entries()) {
    const bytes = Buffer.from(image, 'base64');
    const mime = imageMime(bytes.subarray(0, SNIFF_BYTES)) ?? 'application/octet-stream';
    const ext =
      mime === 'image/png' ? 'png' : mime === 'image/jpeg' ? 'jpg' : mime === 'image/webp' ? 'webp' : 'bin';
    const name = `image-${index}.${ext}`;
    stored.push(
      await ctx.outputs.store({ filename: name, name, mime, body: bytes }, { index, total: images.length }),
    );
  }
  if (images.length > 0) await ctx.log(`stored ${images.length} image(s)`);
  const output: JsonObject = { ...result, images: stored };
  if (isPlainObject(result.parameters)) {
    const parameters: JsonObject = { ...result.parameters };
    const list = originalPayload[IMAGE_LIST_FIELD];
    if (IMAGE_LIST_FIELD in parameters) {
      parameters[IMAGE_LIST_FIELD] = Array.isArray(list) ? list.map(describeInput) : null;
    }
    if (MASK_FIELD in parameters) parameters[MASK_FIELD] = describeInput(originalPayload[MASK_FIELD]) ?? null;
    output.parameters = parameters;
  }
  return output;
}
