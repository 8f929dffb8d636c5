import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { OutputConfig } from '../../config/media.js';
import { storeError } from './errors.js';
import { joinUrl, statusOf, type OutputStore, type PutMeta, type StoreProbe } from './store.js';

/** Parts of a multipart upload: memory per upload is about `PART_SIZE × QUEUE_SIZE`. */
const PART_SIZE = 5 * 1024 * 1024;
const QUEUE_SIZE = 2;

/**
 * Any S3-compatible service (AWS S3, MinIO, R2, GCS interop). Streams go up as multipart
 * uploads (lib-storage), so memory does not grow with file size; result URLs are presigned
 * GETs (`OUTPUT_URL_EXPIRES` > 0), `OUTPUT_PUBLIC_BASE_URL` + key, or the object URL.
 */
export class S3Store implements OutputStore {
  readonly kind = 's3';
  private readonly client: S3Client;
  private readonly settings: OutputConfig['s3'];

  constructor(private readonly config: OutputConfig) {
    this.settings = config.s3;
    const s3 = config.s3;
    this.client = new S3Client({
      region: s3.region,
      ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
      forcePathStyle: s3.forcePathStyle,
      ...(s3.accessKeyId
        ? { credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } }
        : {}),
      // Checksums only where S3 requires them: many S3-compatible servers cannot parse the
      // aws-chunked bodies the SDK sends otherwise.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // BullMQ attempts are the one retry mechanism.
      maxAttempts: 1,
    });
  }

  describe(): string {
    return `s3 bucket "${this.settings.bucket}"${this.settings.endpoint ? ` at ${this.settings.endpoint}` : ` in ${this.settings.region}`}`;
  }

  async put(key: string, body: Readable, meta: PutMeta): Promise<string> {
    const abortController = new AbortController();
    const onAbort = (): void => abortController.abort();
    meta.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const upload = new Upload({
        client: this.client,
        params: {
          Bucket: this.settings.bucket,
          Key: key,
          Body: body,
          ContentType: meta.mime,
          ...(meta.size !== undefined ? { ContentLength: meta.size } : {}),
        },
        partSize: PART_SIZE,
        queueSize: QUEUE_SIZE,
        abortController,
      });
      await upload.done();
    } catch (error) {
      body.destroy();
      throw storeError(`bucket "${this.settings.bucket}"`, error, meta.signal);
    } finally {
      meta.signal.removeEventListener('abort', onAbort);
    }
    return this.urlOf(key);
  }

  private async urlOf(key: string): Promise<string> {
    if (this.config.publicBaseUrl) return joinUrl(this.config.publicBaseUrl, key);
    if (this.config.urlExpires > 0) {
      return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.settings.bucket, Key: key }), {
        expiresIn: this.config.urlExpires,
      });
    }
    const s3 = this.settings;
    if (s3.endpoint) {
      const endpoint = new URL(s3.endpoint);
      if (s3.forcePathStyle) return joinUrl(`${endpoint.origin}${endpoint.pathname}`, `${s3.bucket}/${key}`);
      return joinUrl(`${endpoint.protocol}//${s3.bucket}.${endpoint.host}${endpoint.pathname}`, key);
    }
    return joinUrl(`https://${s3.bucket}.s3.${s3.region}.amazonaws.com`, key);
  }

  async probe(signal: AbortSignal): Promise<StoreProbe> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.settings.bucket }), {
        abortSignal: signal,
      });
      return { ok: true, detail: `${this.describe()} answers HeadBucket` };
    } catch (error) {
      const status = statusOf(error);
      return {
        ok: false,
        detail: `${this.describe()}: ${status === 404 ? 'no such bucket' : status === 403 ? 'access denied' : storeError(`bucket "${this.settings.bucket}"`, error, signal).message}`,
      };
    }
  }

  close(): void {
    this.client.destroy();
  }
}
