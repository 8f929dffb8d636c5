import type { Readable } from 'node:stream';
import { BlobSASPermissions, BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import type { OutputConfig } from '../../config/media.js';
import { storeError } from './errors.js';
import { joinUrl, statusOf, type OutputStore, type PutMeta, type StoreProbe } from './store.js';

/** Block size and parallel blocks of a streamed upload: memory per upload is about their product. */
const BLOCK_SIZE = 4 * 1024 * 1024;
const PARALLEL_BLOCKS = 2;

/**
 * Azure Blob Storage: streamed block uploads; result URLs are SAS URLs (read-only, valid
 * `OUTPUT_URL_EXPIRES` seconds; the connection string must carry the account key),
 * `OUTPUT_PUBLIC_BASE_URL` + key, or the blob URL.
 */
export class AzureStore implements OutputStore {
  readonly kind = 'azure';
  private readonly container: ContainerClient;

  constructor(private readonly config: OutputConfig) {
    const service = BlobServiceClient.fromConnectionString(config.azure.connectionString, {
      retryOptions: { maxTries: 1 },
    });
    this.container = service.getContainerClient(config.azure.container);
  }

  describe(): string {
    const url = new URL(this.container.url);
    return `azure container "${this.config.azure.container}" at ${url.origin}`;
  }

  async put(key: string, body: Readable, meta: PutMeta): Promise<string> {
    const blob = this.container.getBlockBlobClient(key);
    try {
      await blob.uploadStream(body, BLOCK_SIZE, PARALLEL_BLOCKS, {
        blobHTTPHeaders: { blobContentType: meta.mime },
        abortSignal: meta.signal,
      });
    } catch (error) {
      body.destroy();
      throw storeError(`container "${this.config.azure.container}"`, error, meta.signal);
    }
    if (this.config.publicBaseUrl) return joinUrl(this.config.publicBaseUrl, key);
    if (this.config.urlExpires > 0) {
      return blob.generateSasUrl({
        permissions: BlobSASPermissions.parse('r'),
        expiresOn: new Date(Date.now() + this.config.urlExpires * 1000),
      });
    }
    return blob.url;
  }

  async probe(signal: AbortSignal): Promise<StoreProbe> {
    try {
      await this.container.getProperties({ abortSignal: signal });
      return { ok: true, detail: `${this.describe()} answers` };
    } catch (error) {
      const status = statusOf(error);
      return {
        ok: false,
        detail: `${this.describe()}: ${status === 404 ? 'no such container' : status === 403 ? 'access denied' : storeError(`container "${this.config.azure.container}"`, error, signal).message}`,
      };
    }
  }

  close(): void {}
}
