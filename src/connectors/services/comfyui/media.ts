import { ProtocolError } from '../../../core/errors.js';
import type { HttpClient } from '../../protocols/http/client.js';
import type { JobContext } from '../../types.js';
import { isPlainObject, type JsonObject } from '../../../core/validate.js';
import { openImage, type InputImage } from '../../../media/inputs.js';
import { multipartBody } from '../../../net/multipart.js';
import type { ComfyOutput } from './outputs.js';

/**
 * Uploads each input image with ComfyUI's `POST /upload/image` (multipart, type `input`,
 * `overwrite=true`) before the prompt is queued, so a `LoadImage` node of the workflow
 * finds it by name. URLs are streamed from the download to ComfyUI (bounded memory).
 */
export async function uploadInputImages(
  ctx: JobContext,
  http: HttpClient,
  apiPrefix: string,
  images: readonly InputImage[],
): Promise<void> {
  for (const [index, image] of images.entries()) {
    ctx.progress({
      status: 'uploading',
      message: `input image ${index + 1} of ${images.length}: ${image.name}`,
    });
    const opened = await openImage(image, ctx.inputs);
    // A failed download surfaces as the upload's transport error: keep the real cause.
    let inputFailure: unknown;
    if (!Buffer.isBuffer(opened.body)) opened.body.once('error', error => (inputFailure = error));
    const form = multipartBody(
      [
        ['type', 'input'],
        ['overwrite', 'true'],
      ],
      { field: 'image', filename: image.name, mime: opened.mime, body: opened.body },
      opened.size,
    );
    let answer: unknown;
    try {
      answer = await http.json({
        method: 'POST',
        path: `${apiPrefix}/upload/image`,
        body: form.body,
        headers: {
          'content-type': form.contentType,
          ...(form.length !== undefined ? { 'content-length': String(form.length) } : {}),
        },
        signal: ctx.signal,
      });
    } catch (error) {
      throw inputFailure ?? error;
    }
    if (!isPlainObject(answer) || typeof answer.name !== 'string') {
      throw new ProtocolError(
        `ComfyUI answered POST /upload/image for image "${image.name}" without a "name"`,
      );
    }
    if (answer.name !== image.name) {
      await ctx.log(`ComfyUI stored input image "${image.name}" as "${answer.name}"`);
    }
  }
  if (images.length > 0) await ctx.log(`uploaded ${images.length} input image(s) to ComfyUI`);
}

/** A file entry of a node's UI output, with where it sits in the result. */
interface FileSlot {
  node: string;
  file: JsonObject & { filename: string };
}

/** Node ids in numeric order (string order for the rest), then each node's files in ComfyUI's order. */
function fileSlots(output: ComfyOutput): FileSlot[] {
  const ids = Object.keys(output.outputs).sort(compareNodeIds);
  const slots: FileSlot[] = [];
  for (const node of ids) {
    const ui = output.outputs[node] ?? {};
    for (const value of Object.values(ui)) {
      if (!Array.isArray(value)) continue;
      for (const item of value) {
        if (isPlainObject(item) && typeof item.filename === 'string' && item.filename !== '') {
          slots.push({ node, file: item as JsonObject & { filename: string } });
        }
      }
    }
  }
  return slots;
}

/** Numeric node ids in numeric order, before other ids in string order. */
export function compareNodeIds(a: string, b: string): number {
  const numericA = /^\d+$/.test(a);
  const numericB = /^\d+$/.test(b);
  if (numericA && numericB) return Number(a) - Number(b) || a.localeCompare(b);
  if (numericA !== numericB) return numericA ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Streams every output file from `/view` to the job's outputs (the store, or its upload
 * URLs) in output order; each file entry gains `node, mime, size, sha256, key?, store` and
 * its `url` becomes the stored file's. No file bytes stay in the result.
 */
export async function storeOutputFiles(
  ctx: JobContext,
  http: HttpClient,
  apiPrefix: string,
  output: ComfyOutput,
): Promise<ComfyOutput> {
  const slots = fileSlots(output);
  for (const [index, { node, file }] of slots.entries()) {
    const view = await http.stream({
      path: `${apiPrefix}/view`,
      searchParams: {
        filename: file.filename,
        subfolder: typeof file.subfolder === 'string' ? file.subfolder : '',
        type: typeof file.type === 'string' ? file.type : 'output',
      },
      signal: ctx.signal,
    });
    const type = view.headers['content-type'];
    const length = Number(view.headers['content-length']);
    const stored = await ctx.outputs.store(
      {
        filename: file.filename,
        name: `${node}-${file.filename}`,
        node,
        mime:
          typeof type === 'string'
            ? (type.split(';')[0]?.trim() ?? 'application/octet-stream')
            : 'application/octet-stream',
        body: view.body,
        ...(Number.isInteger(length) && length >= 0 ? { size: length } : {}),
      },
      { index, total: slots.length },
    );
    delete file.data;
    delete file.inline_skipped;
    Object.assign(file, stored);
  }
  if (slots.length > 0) await ctx.log(`stored ${slots.length} output file(s)`);
  return output;
}
