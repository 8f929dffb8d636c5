import { RequestError } from 'got';
import { UrlRefusedError } from './url-guard.js';

/** Why a request (got) to a URL a job or the config named failed. */
export interface RequestFailure {
  /** Set when the SSRF guard refused the address (at DNS or connect time): why. */
  refusedBecause: string | undefined;
  /** The transport error's code (`ECONNREFUSED`, `ETIMEDOUT`...), or its message. */
  code: string;
}

/**
 * Reads a failed request made through the SSRF guard's lookup: got wraps the guard's
 * {@link UrlRefusedError} (code `ERR_URL_REFUSED`) in a `RequestError`, like any other
 * transport failure. One reading for inputs, uploads and webhooks alike.
 */
export function requestFailure(error: unknown): RequestFailure {
  const cause = error instanceof RequestError ? error.cause : error;
  const refusedBecause =
    cause instanceof UrlRefusedError
      ? cause.reason
      : error instanceof RequestError && error.code === 'ERR_URL_REFUSED'
        ? 'a private address'
        : undefined;
  const code =
    error instanceof RequestError
      ? (error.code ?? error.message)
      : error instanceof Error
        ? error.message
        : String(error);
  return { refusedBecause, code };
}
