import { abortReason } from '../../core/abort.js';
import { ConnectorError, ServiceRejectedError, ServiceUnavailableError } from '../../core/errors.js';
import { statusOf } from './store.js';

/**
 * A store failure as a connector error: 4xx other than 408/429 (no such bucket, access
 * denied) is not retried; anything else (unreachable, 5xx, timeout) is retryable, and the
 * retry re-attaches to the finished work instead of running it again. `where` names the
 * bucket/container; `code` is the store's error code (`NoSuchBucket`, `ContainerNotFound`).
 */
export function storeError(where: string, error: unknown, signal: AbortSignal): Error {
  if (error instanceof ConnectorError) return error;
  if (signal.aborted) return abortReason(signal);
  const status = statusOf(error);
  const code = errorCode(error);
  const detail = [status === undefined ? undefined : `HTTP ${status}`, code].filter(Boolean).join(' ');
  const message = `output store ${where}: ${detail || 'request failed'}`;
  if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) {
    return new ServiceRejectedError(message, { cause: error });
  }
  return new ServiceUnavailableError(message, { cause: error });
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const record = error as { code?: unknown; name?: unknown; Code?: unknown };
  for (const value of [record.Code, record.code, record.name]) {
    if (typeof value === 'string' && value !== '' && value !== 'Error' && value !== 'RestError') return value;
  }
  return undefined;
}
