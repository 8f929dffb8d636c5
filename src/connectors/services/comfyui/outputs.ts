import type { HttpClient } from '../../protocols/http/client.js';
import { decodedPathProblem } from '../../protocols/http/path.js';
import { isPlainObject, type JsonObject } from '../../../core/validate.js';
import type { HistoryEntry } from './protocol.js';
import { describeError } from '../../../logging/errors.js';

/** One output file as returned to the producer. */
export interface OutputFile extends JsonObject {
  filename: string;
  subfolder: string;
  type: string;
  /** `/view` URL of the file (credentials are never part of it). */
  url: string;
}

/** The connector's result (`output` of the job's return value; docs/connectors/comfyui.md). */
export interface ComfyOutput {
  prompt_id: string;
  /** node id → the node's UI output: `images`, `gifs`, `audio`, `text`, ... as ComfyUI reports them. */
  outputs: Record<string, JsonObject>;
}

/** Options of {@link collectOutputs}. */
export interface CollectOptions {
  http: HttpClient;
  /** `""` or `/api`. */
  apiPrefix: string;
  /** Adds `data` (base64) to files while the job's total stays under `inlineMaxBytes`. */
  inline: boolean;
  inlineMaxBytes: number;
  /** Client for fetching inline files; its response cap stops a huge file before it fills memory. */
  viewHttp?: HttpClient;
  signal: AbortSignal;
}

/**
 * Every output every node produced (images, gifs/videos, audio, text, anything else),
 * from the history entry. File entries (objects with a `filename`) get a `/view` URL;
 * other values are passed through unchanged. With `inline`, files are fetched and added
 * as base64 until the job's cap is reached; the rest say why they were not.
 */
export async function collectOutputs(
  promptId: string,
  entry: HistoryEntry,
  options: CollectOptions,
): Promise<ComfyOutput> {
  // Null prototypes: node ids come from job data, and a "__proto__" node must stay a node.
  const outputs = Object.create(null) as Record<string, JsonObject>;
  let inlineBudget = options.inlineMaxBytes;
  for (const [nodeId, ui] of Object.entries(entry.outputs ?? {})) {
    if (!isPlainObject(ui)) continue;
    const node = Object.create(null) as JsonObject;
    for (const [kind, value] of Object.entries(ui)) {
      if (!Array.isArray(value)) {
        node[kind] = value;
        continue;
      }
      const items: unknown[] = [];
      for (const item of value) {
        if (!isFileEntry(item)) {
          items.push(item);
          continue;
        }
        const refused = viewProblem(item.filename, item.subfolder, item.type);
        if (refused !== undefined) {
          items.push({ ...item, view_refused: refused });
          continue;
        }
        const file: OutputFile = {
          ...item,
          subfolder: typeof item.subfolder === 'string' ? item.subfolder : '',
          type: typeof item.type === 'string' ? item.type : 'output',
          url: viewUrl(options, item.filename, item.subfolder, item.type),
        };
        if (options.inline) {
          const inlined = await inlineFile(file, inlineBudget, options);
          inlineBudget -= inlined;
        }
        items.push(file);
      }
      node[kind] = items;
    }
    outputs[nodeId] = node;
  }
  return { prompt_id: promptId, outputs };
}

function isFileEntry(item: unknown): item is JsonObject & { filename: string } {
  return isPlainObject(item) && typeof item.filename === 'string' && item.filename !== '';
}

/**
 * Why a file entry must not be fetched from `/view`: its filename and subfolder (values
 * a workflow's `filename_prefix` shaped) pass the one path rule, and its type is one
 * ComfyUI serves.
 */
function viewProblem(filename: string, subfolder: unknown, type: unknown): string | undefined {
  if (type !== undefined && type !== 'output' && type !== 'input' && type !== 'temp') {
    return 'its type is not output, input or temp';
  }
  if (filename.includes('/')) return 'its filename has a "/"';
  const folder = typeof subfolder === 'string' ? subfolder : '';
  if (folder.startsWith('/')) return 'its subfolder is an absolute path';
  const problem = decodedPathProblem(folder === '' ? filename : `${folder}/${filename}`);
  return problem === undefined ? undefined : `its subfolder or filename is unsafe: ${problem}`;
}

function viewParams(filename: string, subfolder: unknown, type: unknown): Record<string, string> {
  return {
    filename,
    subfolder: typeof subfolder === 'string' ? subfolder : '',
    type: typeof type === 'string' ? type : 'output',
  };
}

function viewUrl(options: CollectOptions, filename: string, subfolder: unknown, type: unknown): string {
  const url = options.http.url(`${options.apiPrefix}/view`);
  for (const [key, value] of Object.entries(viewParams(filename, subfolder, type))) {
    url.searchParams.set(key, value);
  }
  return url.href;
}

/** Adds `data` and `mime` to `file`, or `inline_skipped`; returns the bytes used. */
async function inlineFile(file: OutputFile, budget: number, options: CollectOptions): Promise<number> {
  if (budget <= 0) {
    file.inline_skipped = `the ${options.inlineMaxBytes}-byte inline cap of this job is used up`;
    return 0;
  }
  try {
    const response = await (options.viewHttp ?? options.http).request({
      path: `${options.apiPrefix}/view`,
      searchParams: viewParams(file.filename, file.subfolder, file.type),
      headers: { accept: '*/*' },
      signal: options.signal,
    });
    if (response.body.length > budget) {
      file.inline_skipped = `${response.body.length} bytes, more than the ${budget} bytes left of the inline cap`;
      return 0;
    }
    const mime = response.headers['content-type'];
    file.mime =
      typeof mime === 'string'
        ? (mime.split(';')[0]?.trim() ?? 'application/octet-stream')
        : 'application/octet-stream';
    file.data = response.body.toString('base64');
    return response.body.length;
  } catch (error) {
    if (options.signal.aborted) throw error;
    file.inline_skipped = `could not fetch it: ${describeError(error)}`;
    return 0;
  }
}
