import type { Readable } from 'node:stream';

/** Where a stored file went: a store of the worker, or a presigned PUT URL of the job. */
export type StoreKind = 's3' | 'azure' | 'file' | 'put';

/** One output file a connector hands to the job context. */
export interface OutputFileSource {
  /** The file's name at the service (ComfyUI `filename`), shown in the result. */
  filename: string;
  /** The last part of the object key, unique within the job (`<node>-<filename>`, `image-<i>.png`). */
  name: string;
  /** Content type; `application/octet-stream` when unknown. */
  mime: string;
  /** The bytes: a stream (read once) or a buffer. */
  body: Readable | Buffer;
  /** Byte count when known in advance (a presigned PUT needs it; unknown streams are spooled). */
  size?: number;
  /** ComfyUI node id the file came from. */
  node?: string;
}

/** A stored file as listed in the job's result (docs/media.md). */
export interface StoredFile {
  filename: string;
  node?: string;
  mime: string;
  size: number;
  /** Hex SHA-256 of the bytes stored. */
  sha256: string;
  /** Where the producer reads it: presigned/SAS/public/file URL; for `put`, the upload URL without its query. */
  url: string;
  /** Object key in the worker's store (absent for `put`). */
  key?: string;
  store: StoreKind;
}

/** A file's position in the job's output order (k of n), for upload URLs and progress. */
export interface OutputPosition {
  /** 0-based. */
  index: number;
  total: number;
}

/** Output files of one job (`ctx.outputs`). */
export interface JobOutputs {
  /**
   * False when the worker has no store and the job brought no `upload_urls`: connectors then
   * keep their own result form (ComfyUI `/view` references, A1111 base64).
   */
  readonly enabled: boolean;
  /** Stores one file and reports `uploading file k of n`; throws a classified error. */
  store(file: OutputFileSource, position: OutputPosition): Promise<StoredFile>;
}

/** An input downloaded through the SSRF guard. */
export interface FetchedInput {
  /** The body, capped at the input size limit; it errors with a classified error. */
  body: Readable;
  /** Content type the server sent (parameters dropped), or `application/octet-stream`. */
  mime: string;
  /** `Content-Length` when the server sent one. */
  size?: number;
}

/** Input downloads of one job (`ctx.inputs`). */
export interface JobInputs {
  /** Largest input in bytes (`INPUT_MAX_BYTES`). */
  readonly maxBytes: number;
  /** Downloads an http(s) URL; `what` names the input in errors (e.g. `image "in.png"`). */
  fetch(url: string, what: string): Promise<FetchedInput>;
}
