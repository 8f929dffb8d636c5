import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import type { MediaConfig } from '../config/media.js';
import { InvalidInputError } from '../core/errors.js';
import { fetchUrl } from '../net/fetch.js';
import { redactUrl, type UrlGuardOptions } from '../net/url-guard.js';
import { DigestStream } from './digest.js';
import { putToUrl } from './stores/put.js';
import type { OutputStore, StoreProbe } from './stores/store.js';
import type {
  FetchedInput,
  JobInputs,
  JobOutputs,
  OutputFileSource,
  OutputPosition,
  StoredFile,
} from './types.js';
import { traceServiceCall } from '../telemetry/index.js';

/** What the processor knows about one job when it builds the job's media access. */
export interface JobMediaScope {
  queue: string;
  jobId: string;
  /** The job's own presigned PUT URLs (`upload_urls`), when it brought them. */
  uploadUrls: string[] | undefined;
  signal: () => AbortSignal;
  /** Reports the upload phase. */
  progress: (update: { status: string; message: string }) => void;
}

/**
 * The output store of a configuration, or undefined for `none`. The cloud SDKs are loaded
 * only when their store is chosen (they are large and slow to import).
 */
export async function createOutputStore(config: MediaConfig): Promise<OutputStore | undefined> {
  const output = config.output;
  switch (output.store) {
    case 'none':
      return undefined;
    case 'file':
      return new (await import('./stores/file.js')).FileStore(output);
    case 's3':
      return new (await import('./stores/s3.js')).S3Store(output);
    case 'azure':
      return new (await import('./stores/azure.js')).AzureStore(output);
  }
}

/**
 * The worker's media services: its output store (one per process) and the input limits.
 * The processor asks for a job's {@link JobOutputs} and {@link JobInputs}; connectors never
 * see a store directly.
 */
export class Media {
  readonly store: OutputStore | undefined;
  readonly guard: UrlGuardOptions;

  constructor(
    private readonly config: MediaConfig,
    store: OutputStore | undefined,
  ) {
    this.store = store;
    this.guard = { allowPrivate: config.input.allowPrivateUrls };
  }

  /** The media services of a configuration, with its store created. */
  static async create(config: MediaConfig): Promise<Media> {
    return new Media(config, await createOutputStore(config));
  }

  /** One line for logs and `details`: the store, or that there is none. */
  describe(): string {
    return this.store ? this.store.describe() : 'none (ComfyUI /view references, A1111 base64 inline)';
  }

  /** Probes the store; `none` is always fine. */
  async probe(signal: AbortSignal): Promise<StoreProbe> {
    return this.store
      ? this.store.probe(signal)
      : { ok: true, detail: 'no output store (OUTPUT_STORE=none)' };
  }

  /** The job's outputs: PUT to its `upload_urls` when it brought them, else the store. */
  outputsFor(scope: JobMediaScope): JobOutputs {
    const { uploadUrls } = scope;
    const store = this.store;
    const enabled = uploadUrls !== undefined || store !== undefined;
    return {
      enabled,
      store: async (file, position) => {
        scope.progress({ status: 'uploading', message: `file ${position.index + 1} of ${position.total}` });
        const kind = uploadUrls !== undefined ? 'put' : store?.kind;
        // One span per upload when tracing is on (nothing otherwise).
        return traceServiceCall(
          `upload to ${kind ?? 'nowhere'}`,
          { 'emp.upload.store': kind, 'emp.upload.file': position.index, 'emp.upload.mime': file.mime },
          async () => {
            if (uploadUrls !== undefined) return this.putToJobUrl(file, position, uploadUrls, scope.signal());
            if (!store) throw new Error('no output store configured and no upload_urls in the job');
            return this.putToStore(store, file, scope);
          },
        );
      },
    };
  }

  /** The job's input downloads, with the worker's limits and the SSRF guard. */
  inputsFor(signal: () => AbortSignal): JobInputs {
    const input = this.config.input;
    return {
      maxBytes: input.maxBytes,
      fetch: async (url: string, what: string): Promise<FetchedInput> =>
        fetchUrl(url, {
          ...this.guard,
          maxBytes: input.maxBytes,
          timeoutMs: input.fetchTimeout * 1000,
          what,
          signal: signal(),
          acceptTypes: ['image/'],
        }),
    };
  }

  close(): void {
    this.store?.close();
  }

  private async putToStore(
    store: OutputStore,
    file: OutputFileSource,
    scope: JobMediaScope,
  ): Promise<StoredFile> {
    const key = objectKey(this.config.output.prefix, scope.queue, scope.jobId, file.name);
    const digest = hashed(file);
    const url = await store.put(key, digest, {
      mime: file.mime,
      ...(file.size !== undefined ? { size: file.size } : {}),
      signal: scope.signal(),
    });
    return stored(file, digest, url, store.kind, key);
  }

  private async putToJobUrl(
    file: OutputFileSource,
    position: OutputPosition,
    urls: string[],
    signal: AbortSignal,
  ): Promise<StoredFile> {
    if (position.total > urls.length) {
      throw new InvalidInputError(
        `the job produced ${position.total} output files but field "upload_urls" has only ${urls.length} URLs`,
      );
    }
    const url = urls[position.index] ?? '';
    const what = `upload_urls entry ${position.index}`;
    const size = Buffer.isBuffer(file.body) ? file.body.length : file.size;
    const digest = hashed(file);
    const common = { mime: file.mime, what, signal, guard: this.guard };
    if (size !== undefined) {
      await putToUrl(url, digest, { ...common, size });
    } else {
      // A presigned PUT needs the length up front: spool a stream of unknown length to disk.
      const spool = path.join(os.tmpdir(), `emp-worker-${randomUUID()}`);
      try {
        await pipelineAsync(digest, fs.createWriteStream(spool), { signal });
        await putToUrl(url, fs.createReadStream(spool), { ...common, size: digest.size });
      } finally {
        await fs.promises.rm(spool, { force: true });
      }
    }
    return stored(file, digest, redactUrl(url).replace(/\?…$/, ''), 'put');
  }
}

/** `<prefix><queue>/<job id>/<name>`, each part made safe as one path segment. */
export function objectKey(prefix: string, queue: string, jobId: string, name: string): string {
  return `${prefix}${segment(queue)}/${segment(jobId)}/${segment(name)}`;
}

/** One key segment: no separators, no leading dots, printable ASCII only. */
export function segment(text: string): string {
  const safe = text.replace(/[^A-Za-z0-9._ ()+=@,-]/g, '_').replace(/^\.+/, '_');
  return safe === '' ? '_' : safe.slice(0, 200);
}

function hashed(file: OutputFileSource): DigestStream {
  const digest = new DigestStream();
  if (Buffer.isBuffer(file.body)) {
    digest.end(file.body);
  } else {
    pipeline(file.body, digest, () => {
      // Errors reach the consumer through `digest`, which pipeline destroys with them.
    });
  }
  return digest;
}

function stored(
  file: OutputFileSource,
  digest: DigestStream,
  url: string,
  store: StoredFile['store'],
  key?: string,
): StoredFile {
  return {
    filename: file.filename,
    ...(file.node !== undefined ? { node: file.node } : {}),
    mime: file.mime,
    size: digest.size,
    sha256: digest.digest(),
    url,
    ...(key !== undefined ? { key } : {}),
    store,
  };
}
