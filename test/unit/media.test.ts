import { describe, expect, test } from '@jest/globals';
import { ConfigError, loadConfig, redactedConfig, secretValues } from '../../src/config/index.js';
import { compareNodeIds } from '../../src/connectors/services/comfyui/media.js';
import { decodeBase64, parseInputImages } from '../../src/media/inputs.js';
import { objectKey } from '../../src/media/media.js';
import { imageMime } from '../../src/media/sniff.js';
import { solidPng } from '../fakes/comfyui/png.js';

function configError(env: Record<string, string>): string {
  try {
    loadConfig({ NODE_ENV: 'test', ...env });
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('no ConfigError');
}

describe('media settings', () => {
  test('each store names its missing required variable in one line', () => {
    expect(configError({ OUTPUT_STORE: 's3' })).toBe(
      'Invalid configuration: OUTPUT_S3_BUCKET (media.output.s3.bucket): is required when OUTPUT_STORE=s3',
    );
    expect(configError({ OUTPUT_STORE: 'file' })).toBe(
      'Invalid configuration: OUTPUT_FILE_DIR (media.output.fileDir): is required when OUTPUT_STORE=file',
    );
    expect(
      configError({ OUTPUT_STORE: 'azure', OUTPUT_AZURE_CONNECTION_STRING: 'AccountKey=c2VjcmV0' }),
    ).toBe(
      'Invalid configuration: OUTPUT_AZURE_CONTAINER (media.output.azure.container): is required when OUTPUT_STORE=azure',
    );
    expect(
      configError({ OUTPUT_STORE: 's3', OUTPUT_S3_BUCKET: 'b', OUTPUT_S3_SECRET_ACCESS_KEY: 'top-secret' }),
    ).toMatch(
      /^Invalid configuration: OUTPUT_S3_ACCESS_KEY_ID .*set it together with OUTPUT_S3_SECRET_ACCESS_KEY/,
    );
  });

  test('bad values name the variable; secrets are never echoed', () => {
    expect(configError({ OUTPUT_STORE: 'gcs' })).toMatch(
      /^Invalid configuration: OUTPUT_STORE="gcs" \(media\.output\.store\)/,
    );
    expect(configError({ OUTPUT_S3_ENDPOINT: 'not a url' })).toMatch(/OUTPUT_S3_ENDPOINT="not a url"/);
    expect(configError({ OUTPUT_PREFIX: '../up' })).toMatch(
      /OUTPUT_PREFIX="..\/up" \(media\.output\.prefix\)/,
    );
    expect(configError({ INPUT_MAX_BYTES: '0' })).toMatch(/INPUT_MAX_BYTES="0"/);
    const azure = configError({
      OUTPUT_STORE: 'azure',
      OUTPUT_AZURE_CONNECTION_STRING: 42 as unknown as string,
    });
    expect(azure).not.toContain('AccountKey');
  });

  test('the S3 secret and the Azure connection string are masked in `details` and known to the log scrubber', () => {
    const azure = loadConfig({
      NODE_ENV: 'test',
      OUTPUT_STORE: 'azure',
      OUTPUT_AZURE_CONNECTION_STRING: 'AccountName=a;AccountKey=QXp1cmVLZXlTZWNyZXQ=',
      OUTPUT_AZURE_CONTAINER: 'c',
      OUTPUT_S3_SECRET_ACCESS_KEY: 's3-secret-value',
    });
    const shown = JSON.stringify(redactedConfig(azure));
    expect(shown).not.toContain('QXp1cmVLZXlTZWNyZXQ=');
    expect(shown).not.toContain('s3-secret-value');
    expect(shown).toContain('"container":"c"');
    expect(secretValues(azure)).toEqual(
      expect.arrayContaining(['AccountName=a;AccountKey=QXp1cmVLZXlTZWNyZXQ=', 's3-secret-value']),
    );
  });

  test('defaults: no store, 50 MiB inputs, 60 s fetches, private URLs refused', () => {
    const config = loadConfig({ NODE_ENV: 'test' });
    expect(config.media.output.store).toBe('none');
    expect(config.media.input).toEqual({
      maxBytes: 50 * 1024 * 1024,
      fetchTimeout: 60,
      allowPrivateUrls: false,
    });
  });
});

describe('media helpers', () => {
  test('object keys stay one segment per part whatever the job id or file name', () => {
    expect(objectKey('emp/', 'comfyui', '42', '9-ci_00001_.png')).toBe('emp/comfyui/42/9-ci_00001_.png');
    expect(objectKey('emp/', 'q', '../../etc', '..\\passwd')).toBe('emp/q/__.._etc/__passwd');
    expect(objectKey('', 'q', 'a/b', '')).toBe('q/a_b/_');
  });

  test('node ids sort numerically, then as strings', () => {
    expect(['10', '9', 'b', '2', 'a', '100'].sort(compareNodeIds)).toEqual(['2', '9', '10', '100', 'a', 'b']);
  });

  test('base64 is decoded strictly and size-checked before decoding', () => {
    const png = solidPng(2, 2, 1);
    expect(decodeBase64(png.toString('base64'), 'x', 1000).equals(png)).toBe(true);
    expect(decodeBase64(png.toString('base64url'), 'x', 1000).equals(png)).toBe(true);
    expect(() => decodeBase64('abc$', 'image "x"', 1000)).toThrow(/image "x": "image" is not valid base64/);
    expect(() => decodeBase64('A', 'image "x"', 1000)).toThrow(/not valid base64/);
    expect(() => decodeBase64('AAAA'.repeat(100), 'image "x"', 10)).toThrow(
      /300 bytes, more than the 10 bytes/,
    );
  });

  test('image formats are recognised by their first bytes', () => {
    expect(imageMime(solidPng(1, 1, 0))).toBe('image/png');
    expect(imageMime(Buffer.from([0xff, 0xd8, 0xff, 0xe0]))).toBe('image/jpeg');
    expect(imageMime(Buffer.from('RIFF\0\0\0\0WEBP'))).toBe('image/webp');
    expect(imageMime(Buffer.from('GIF89a'))).toBe('image/gif');
    expect(imageMime(Buffer.from('<html>'))).toBeUndefined();
  });

  test('input images: forms recognised, names checked', () => {
    const images = parseInputImages(
      [
        { name: 'a.png', image: 'iVBORw0KGgo=' },
        { name: 'b.png', image: 'data:image/png;base64,iVBORw0KGgo=' },
        { name: 'c.png', image: 'https://example.com/c.png' },
      ],
      'images',
    );
    expect(images.map(image => image.source.kind)).toEqual(['base64', 'data-url', 'url']);
    expect(() => parseInputImages([{ name: 'a\\b.png', image: 'x' }], 'images')).toThrow(/plain file name/);
    expect(() => parseInputImages([{ name: 'a.png', image: 'x', extra: 1 }], 'images')).toThrow(
      /unknown field "extra"/,
    );
    expect(() => parseInputImages([{ name: 'a.png', image: 'file:///etc/passwd' }], 'images')).toThrow(
      /image "a.png": .*only http and https/,
    );
  });
});
