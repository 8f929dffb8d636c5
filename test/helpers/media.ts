import type { MediaConfig, OutputConfig } from '../../src/config/media.js';
import { Media } from '../../src/media/media.js';

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
