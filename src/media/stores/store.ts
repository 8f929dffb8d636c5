import type { Readable } from 'node:stream';

/** What an {@link OutputStore} writes next to the bytes. */
export interface PutMeta {
  mime: string;
  /** Byte count when known. */
  size?: number;
  signal: AbortSignal;
}

/** The outcome of a store probe (`emp-worker details`). */
export interface StoreProbe {
  ok: boolean;
  detail: string;
}

/**
 * A worker's output store (`OUTPUT_STORE`): writes one object per key and says where a
 * producer reads it. Failures are thrown as classified connector errors: 4xx (no bucket,
 * denied) not retryable and naming the bucket/container, unreachable/5xx retryable.
 */
export interface OutputStore {
  readonly kind: 'file' | 's3' | 'azure';
  /** One line naming the store and its bucket/container/folder; never a secret. */
  describe(): string;
  /** Writes `body` under `key`; resolves with the URL for the result. */
  put(key: string, body: Readable, meta: PutMeta): Promise<string>;
  /** Checks that the bucket/container/folder exists and is writable as far as cheaply possible. */
  probe(signal: AbortSignal): Promise<StoreProbe>;
  close(): void;
}

/** `base` + key, with exactly one `/` between them and each key segment URL-encoded. */
export function joinUrl(base: string, key: string): string {
  return `${base.replace(/\/+$/, '')}/${encodeKey(key)}`;
}

/** A key with each `/`-separated segment percent-encoded. */
export function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

/** HTTP status of an SDK error, when it has one. */
export function statusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const record = error as { statusCode?: unknown; $metadata?: { httpStatusCode?: unknown } };
  const status = record.$metadata?.httpStatusCode ?? record.statusCode;
  return typeof status === 'number' ? status : undefined;
}
