import type { Readable } from 'node:stream';
import got from 'got';
import { abortReason } from '../../core/abort.js';
import { InvalidInputError, ServiceRejectedError, ServiceUnavailableError } from '../../core/errors.js';
import { requestFailure } from '../../net/request-failure.js';
import { guardedLookup, redactUrl, type UrlGuardOptions } from '../../net/url-guard.js';

/** Idle socket time allowed during a PUT before it counts as a (retryable) failure. */
const SOCKET_IDLE_MS = 60_000;

/**
 * PUTs one file to a presigned URL the producer made. The length is sent up front (S3
 * refuses chunked or length-less presigned PUTs). The URL's query (its signature) never
 * appears in errors. A 4xx is not retried (an expired or wrong URL stays wrong); a 5xx or
 * a lost connection is.
 */
export async function putToUrl(
  url: string,
  body: Readable | Buffer,
  meta: { size: number; mime: string; what: string; signal: AbortSignal; guard: UrlGuardOptions },
): Promise<void> {
  const where = `${meta.what} (${redactUrl(url)})`;
  let status: number;
  let answer = '';
  try {
    const response = await got.put(url, {
      body,
      headers: { 'content-type': meta.mime, 'content-length': String(meta.size) },
      dnsLookup: guardedLookup(meta.guard),
      followRedirect: false,
      throwHttpErrors: false,
      retry: { limit: 0 },
      timeout: { socket: SOCKET_IDLE_MS },
      signal: meta.signal,
    });
    status = response.statusCode;
    answer = response.body.slice(0, 200);
  } catch (error) {
    if (meta.signal.aborted) throw abortReason(meta.signal);
    const { refusedBecause, code } = requestFailure(error);
    if (refusedBecause !== undefined) throw new InvalidInputError(`${where} is refused: ${refusedBecause}`);
    throw new ServiceUnavailableError(`upload to ${where} failed (${code})`, { cause: error });
  }
  if (status >= 200 && status < 300) return;
  const code = /<Code>([^<]{1,60})<\/Code>/.exec(answer)?.[1];
  const message = `upload to ${where} answered HTTP ${status}${code ? ` ${code}` : ''}`;
  if (status >= 500 || status === 408 || status === 429) throw new ServiceUnavailableError(message);
  throw new ServiceRejectedError(message);
}
