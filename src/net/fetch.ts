import { Transform, type Readable, type TransformCallback } from 'node:stream';
import got, { type Request, type PlainResponse } from 'got';
import { abortReason } from '../core/abort.js';
import {
  ConnectorError,
  InvalidInputError,
  ServiceTimeoutError,
  ServiceUnavailableError,
} from '../core/errors.js';
import { requestFailure } from './request-failure.js';
import { checkUrl, guardedLookup, redactUrl, UrlRefusedError, type UrlGuardOptions } from './url-guard.js';

/** Options of {@link fetchUrl}. */
export interface FetchOptions extends UrlGuardOptions {
  /** Largest body; a larger `Content-Length` fails at once, a longer body as soon as it passes. */
  maxBytes: number;
  /** Milliseconds for the whole download, body included. */
  timeoutMs: number;
  /** Names the input in errors, e.g. `image "in.png"`. */
  what: string;
  signal?: AbortSignal;
  /** Content types accepted besides `application/octet-stream` and none, e.g. `image/`. */
  acceptTypes?: readonly string[];
}

/** A download in progress: the capped body and what the server said about it. */
export interface FetchedBody {
  body: Readable;
  mime: string;
  size?: number;
}

/** Most redirects one download may follow (each hop passes the guard again). */
export const MAX_REDIRECTS = 5;

/**
 * The one helper for every URL the worker downloads because a job said so (input images,
 * A1111 init images): http(s) only, the SSRF guard on the URL, on the address actually
 * connected to (`dnsLookup`) and on every redirect (followed by hand, never by got), a
 * size cap, a timeout and a content-type check. Errors name the input and never carry
 * the URL's query (presigned signatures): 4xx, refused, too large or the wrong type fail
 * for good; 5xx, unreachable and timeouts are retryable.
 */
export async function fetchUrl(text: string, options: FetchOptions): Promise<FetchedBody> {
  const guard = { allowPrivate: options.allowPrivate };
  const deadline = Date.now() + options.timeoutMs;
  let url = guardUrl(text, options);
  for (let hop = 0; ; hop++) {
    const request = got.stream(url, {
      dnsLookup: guardedLookup(guard),
      followRedirect: false,
      throwHttpErrors: false,
      retry: { limit: 0 },
      decompress: true,
      headers: { accept: 'image/*, */*;q=0.5', 'user-agent': 'emp-worker' },
      timeout: { request: Math.max(1, deadline - Date.now()) },
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const response = await responseOf(request, url, options);
    const status = response.statusCode;
    const location = response.headers.location;
    if (status >= 300 && status < 400 && typeof location === 'string') {
      request.destroy();
      if (hop >= MAX_REDIRECTS) {
        throw new InvalidInputError(
          `${options.what}: ${redactUrl(text)} redirects more than ${MAX_REDIRECTS} times`,
        );
      }
      url = guardUrl(new URL(location, url).href, options);
      continue;
    }
    if (status < 200 || status >= 300) {
      request.destroy();
      const message = `${options.what}: ${redactUrl(url.href)} answered HTTP ${status}`;
      if (status === 408 || status === 429 || status >= 500) throw new ServiceUnavailableError(message);
      throw new InvalidInputError(message);
    }
    const mime = contentType(response.headers['content-type']);
    const accepted = options.acceptTypes;
    if (
      accepted &&
      mime !== 'application/octet-stream' &&
      mime !== 'binary/octet-stream' &&
      !accepted.some(prefix => mime.startsWith(prefix))
    ) {
      request.destroy();
      throw new InvalidInputError(
        `${options.what}: ${redactUrl(url.href)} is ${mime}, not ${accepted.map(prefix => `${prefix}*`).join(' or ')}`,
      );
    }
    const length = Number(response.headers['content-length']);
    const size = Number.isInteger(length) && length >= 0 ? length : undefined;
    if (size !== undefined && size > options.maxBytes) {
      request.destroy();
      throw tooLarge(options, size);
    }
    const capped = new CappedStream(options);
    request.on('error', error => capped.destroy(classify(error, url, options)));
    request.pipe(capped);
    return { body: capped, mime, ...(size !== undefined ? { size } : {}) };
  }
}

/** Reads a fetched body into memory (its size is capped by {@link fetchUrl}). */
export async function readAllCapped(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function guardUrl(text: string, options: FetchOptions): URL {
  try {
    return checkUrl(text, options);
  } catch (error) {
    if (error instanceof UrlRefusedError) throw new InvalidInputError(`${options.what}: ${error.message}`);
    throw error;
  }
}

function responseOf(request: Request, url: URL, options: FetchOptions): Promise<PlainResponse> {
  return new Promise((resolve, reject) => {
    request.once('response', (response: PlainResponse) => {
      request.off('error', onError);
      resolve(response);
    });
    const onError = (error: unknown): void => reject(classify(error, url, options));
    request.once('error', onError);
  });
}

function classify(error: unknown, url: URL, options: FetchOptions): Error {
  if (error instanceof ConnectorError) return error;
  if (options.signal?.aborted) return abortReason(options.signal);
  const where = `${options.what}: ${redactUrl(url.href)}`;
  const { refusedBecause, code } = requestFailure(error);
  if (refusedBecause !== undefined) return new InvalidInputError(`${where} is refused: ${refusedBecause}`);
  if (code === 'ETIMEDOUT') {
    return new ServiceTimeoutError(`${where} did not finish within ${options.timeoutMs} ms`, {
      cause: error,
    });
  }
  return new ServiceUnavailableError(`${where} could not be fetched (${code})`, { cause: error });
}

function tooLarge(options: FetchOptions, size?: number): InvalidInputError {
  return new InvalidInputError(
    `${options.what} is ${size === undefined ? 'larger than' : `${size} bytes, more than`} the ${options.maxBytes} bytes allowed (INPUT_MAX_BYTES)`,
  );
}

function contentType(header: string | undefined): string {
  const mime = header?.split(';')[0]?.trim().toLowerCase();
  return mime ? mime : 'application/octet-stream';
}

/** Passes bytes through until more than the cap arrived, then fails with a named error. */
class CappedStream extends Transform {
  private count = 0;
  constructor(private readonly options: FetchOptions) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.count += chunk.length;
    if (this.count > this.options.maxBytes) {
      callback(tooLarge(this.options));
      return;
    }
    callback(null, chunk);
  }
}
