import type { Schema } from 'convict';
import { formats } from './formats.js';

/** Which output store a worker writes result files to. */
export type OutputStoreKind = 'none' | 'file' | 's3' | 'azure';

/** Output store settings (`OUTPUT_*`); see docs/media.md. */
export interface OutputConfig {
  store: OutputStoreKind;
  /** Start of every object key: `<prefix><queue>/<job id>/<name>`. */
  prefix: string;
  /** Seconds a presigned GET / SAS URL stays valid; 0 returns the plain object URL. */
  urlExpires: number;
  /** When set, result URLs are this + the key (a CDN or public bucket in front of the store). */
  publicBaseUrl: string;
  /** `file` store: the folder files are written to. */
  fileDir: string;
  s3: {
    bucket: string;
    endpoint: string;
    region: string;
    forcePathStyle: boolean;
    accessKeyId: string;
    secretAccessKey: string;
  };
  azure: {
    connectionString: string;
    container: string;
  };
}

/** Input fetching settings (`INPUT_*`). */
export interface InputConfig {
  /** Largest input file, fetched or inline. */
  maxBytes: number;
  /** Seconds a fetch of one input URL may take, body included. */
  fetchTimeout: number;
  /** Allow input and upload URLs that resolve to loopback/private/link-local addresses. */
  allowPrivateUrls: boolean;
}

/** The `media` section of the worker configuration. */
export interface MediaConfig {
  output: OutputConfig;
  input: InputConfig;
}

function optionalHttpUrl(value: unknown): void {
  if (value === '') return;
  if (typeof value !== 'string') throw new Error('must be an http(s) URL or empty');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error('must be an http(s) URL, e.g. https://cdn.example.com/ or empty');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error('must start with http:// or https://');
  }
}

function keyPrefix(value: unknown): void {
  if (
    typeof value !== 'string' ||
    value.startsWith('/') ||
    value.split('/').includes('..') ||
    /[\\\s]/.test(value)
  ) {
    throw new Error('must be a key prefix such as "emp/" (no leading "/", no "..", "\\" or spaces)');
  }
}

/** The convict schema of the `media` section. */
export const mediaSchema: Schema<MediaConfig> = {
  output: {
    store: {
      doc: 'Where output files go: none (ComfyUI /view references, A1111 base64 inline), file, s3 or azure. Jobs may bring their own presigned PUT URLs ("upload_urls") instead.',
      format: ['none', 'file', 's3', 'azure'],
      default: 'none',
      env: 'OUTPUT_STORE',
    },
    prefix: {
      doc: 'Start of every object key; keys are <prefix><queue>/<job id>/<file name>.',
      format: keyPrefix,
      default: 'emp/',
      env: 'OUTPUT_PREFIX',
    },
    urlExpires: {
      doc: 'Seconds a presigned S3 GET or Azure SAS URL in the result stays valid; 0 returns the plain object URL (a public bucket or OUTPUT_PUBLIC_BASE_URL).',
      format: 'nat',
      default: 604800,
      env: 'OUTPUT_URL_EXPIRES',
    },
    publicBaseUrl: {
      doc: 'When set, result URLs are this URL + the object key (a CDN or public bucket in front of the store), for every store.',
      format: optionalHttpUrl,
      default: '',
      env: 'OUTPUT_PUBLIC_BASE_URL',
    },
    fileDir: {
      doc: 'OUTPUT_STORE=file: the folder output files are written to (required for that store).',
      format: String,
      default: '',
      env: 'OUTPUT_FILE_DIR',
    },
    s3: {
      bucket: {
        doc: 'OUTPUT_STORE=s3: the bucket (required for that store).',
        format: String,
        default: '',
        env: 'OUTPUT_S3_BUCKET',
      },
      endpoint: {
        doc: 'OUTPUT_STORE=s3: endpoint of an S3-compatible service (MinIO, R2, GCS interop); empty = AWS S3.',
        format: optionalHttpUrl,
        default: '',
        env: 'OUTPUT_S3_ENDPOINT',
      },
      region: {
        doc: 'OUTPUT_STORE=s3: region of the bucket.',
        format: String,
        default: 'us-east-1',
        env: 'OUTPUT_S3_REGION',
      },
      forcePathStyle: {
        doc: 'OUTPUT_STORE=s3: path-style URLs (http://host/bucket/key), needed by MinIO and most S3-compatible servers.',
        format: formats.boolean,
        default: false,
        env: 'OUTPUT_S3_FORCE_PATH_STYLE',
      },
      accessKeyId: {
        doc: 'OUTPUT_STORE=s3: access key id; empty (with an empty secret) uses the standard AWS credential chain.',
        format: String,
        default: '',
        env: 'OUTPUT_S3_ACCESS_KEY_ID',
      },
      secretAccessKey: {
        doc: 'OUTPUT_STORE=s3: secret access key.',
        format: String,
        default: '',
        env: 'OUTPUT_S3_SECRET_ACCESS_KEY',
        sensitive: true,
      },
    },
    azure: {
      connectionString: {
        doc: 'OUTPUT_STORE=azure: storage account connection string (required for that store; it must carry the account key for SAS URLs).',
        format: String,
        default: '',
        env: 'OUTPUT_AZURE_CONNECTION_STRING',
        sensitive: true,
      },
      container: {
        doc: 'OUTPUT_STORE=azure: the blob container (required for that store).',
        format: String,
        default: '',
        env: 'OUTPUT_AZURE_CONTAINER',
      },
    },
  },
  input: {
    maxBytes: {
      doc: 'Largest input file in bytes (an input image by URL or inline, an A1111 init image by URL); larger inputs fail the job at once.',
      format: formats.positiveInt,
      default: 50 * 1024 * 1024,
      env: 'INPUT_MAX_BYTES',
    },
    fetchTimeout: {
      doc: 'Seconds a download of one input URL may take, body included; a timeout is retryable.',
      format: formats.positiveSeconds,
      default: 60,
      env: 'INPUT_FETCH_TIMEOUT',
    },
    allowPrivateUrls: {
      doc: 'Allow input and upload URLs whose host is or resolves to a loopback, private, link-local or metadata address (off: such URLs fail the job; turn on only for trusted producers on a private network).',
      format: formats.boolean,
      default: false,
      env: 'INPUT_ALLOW_PRIVATE_URLS',
    },
  },
};

/**
 * Settings that depend on each other (convict checks keys one by one): the chosen store's
 * required keys. Returns one line per problem, naming the variable.
 */
export function mediaConfigProblems(media: MediaConfig): string[] {
  const output = media.output;
  const problems: string[] = [];
  const need = (value: string, variable: string, key: string): void => {
    if (value.trim() === '') {
      problems.push(`${variable} (media.output.${key}): is required when OUTPUT_STORE=${output.store}`);
    }
  };
  if (output.store === 'file') need(output.fileDir, 'OUTPUT_FILE_DIR', 'fileDir');
  if (output.store === 's3') need(output.s3.bucket, 'OUTPUT_S3_BUCKET', 's3.bucket');
  if (output.store === 'azure') {
    need(output.azure.connectionString, 'OUTPUT_AZURE_CONNECTION_STRING', 'azure.connectionString');
    need(output.azure.container, 'OUTPUT_AZURE_CONTAINER', 'azure.container');
  }
  if (output.store === 's3' && (output.s3.accessKeyId === '') !== (output.s3.secretAccessKey === '')) {
    problems.push(
      'OUTPUT_S3_ACCESS_KEY_ID (media.output.s3.accessKeyId): set it together with OUTPUT_S3_SECRET_ACCESS_KEY, or leave both empty for the AWS credential chain',
    );
  }
  return problems;
}
