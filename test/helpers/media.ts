import { createHash } from 'node:crypto';
import type { MediaConfig, OutputConfig } from '../../src/config/media.js';
import { Media } from '../../src/media/media.js';
import type { StoredFile } from '../../src/media/types.js';
import type { FakeComfyUI } from '../fakes/comfyui/server.js';

/** Media settings as the schema's defaults, with private URLs allowed (test servers listen on loopback). */
export function testMediaConfig(
  output: Partial<Omit<OutputConfig, 's3' | 'azure'>> & {
    s3?: Partial<OutputConfig['s3']>;
    azure?: Partial<OutputConfig['azure']>;
  } = {},
  input: Partial<MediaConfig['input']> = {},
): MediaConfig {
  const { s3, azure, ...rest } = output;
  return {
    output: {
      store: 'none',
      prefix: 'emp/',
      urlExpires: 604800,
      publicBaseUrl: '',
      fileDir: '',
      ...rest,
      s3: {
        bucket: '',
        endpoint: '',
        region: 'us-east-1',
        forcePathStyle: false,
        accessKeyId: '',
        secretAccessKey: '',
        ...s3,
      },
      azure: { connectionString: '', container: '', ...azure },
    },
    input: { maxBytes: 50 * 1024 * 1024, fetchTimeout: 60, allowPrivateUrls: true, ...input },
  };
}

/** A {@link Media} without a store that allows loopback URLs. */
export function testMedia(config: MediaConfig = testMediaConfig()): Media {
  return new Media(config, undefined);
}

/** Hex SHA-256, as results carry it. */
export const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** One stored file of a job's result (ComfyUI entries keep `subfolder` and `type`). */
export type StoredEntry = StoredFile & { subfolder?: string; type?: string };

/** The bytes ComfyUI's `/view` serves for an output file of the fake. */
export async function viewBytes(fake: FakeComfyUI, filename: string): Promise<Buffer> {
  return Buffer.from(
    await (await fetch(`${fake.baseUrl}/view?filename=${filename}&type=output`)).arrayBuffer(),
  );
}

/** Worker settings for the comfyui connector against a fake, with `extra` (store, input settings) on top. */
export function comfyWorkerEnv(
  fake: FakeComfyUI,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    CONNECTORS: 'comfyui',
    WORKER_COMFYUI_HOST: '127.0.0.1',
    WORKER_COMFYUI_PORT: String(fake.port),
    WORKER_COMFYUI_WATCHDOG: '1',
    WORKER_COMFYUI_POLL_INTERVAL: '0.2',
    ...extra,
  };
}
