import { UnrecoverableError } from 'bullmq';
import type { AbortCause } from '../core/abort.js';
import {
  ConnectorError,
  JobCancelledError,
  JobTimeoutError,
  coerceError,
  isConnectorError,
} from '../core/errors.js';

/**
 * The single place where any failure becomes a classified {@link ConnectorError}. An
 * abort wins over whatever the connector threw while stopping. Our errors are recognised
 * by their `code` as well as their class, so a connector built against another copy of
 * the error module is classified the same way.
 */
export function classifyFailure(
  thrown: unknown,
  abort: AbortCause | undefined,
  connector: string,
): ConnectorError {
  if (abort?.kind === 'cancel') {
    return new JobCancelledError(`cancelled${abort.reason ? `: ${abort.reason}` : ''}`, { cause: thrown });
  }
  if (abort?.kind === 'timeout') {
    return new JobTimeoutError(`${connector} job exceeded its ${abort.seconds} s timeout and was stopped`, {
      cause: thrown,
    });
  }
  if (isConnectorError(thrown)) return thrown;
  const error = coerceError(thrown);
  return new ConnectorError('ERR_INTERNAL', `${connector} connector error: ${error.message}`, true, {
    cause: error,
  });
}

/** The failure reason shown in Bull Board: `<code>: <message>`. */
export function failureReason(error: ConnectorError): string {
  return `${error.code}: ${error.message}`;
}

/** Turns a classified failure into what BullMQ needs: `UnrecoverableError` skips the remaining attempts. */
export function toBullmqError(error: ConnectorError): Error {
  const reason = failureReason(error);
  const bullError = error.retryable ? new Error(reason, { cause: error }) : new UnrecoverableError(reason);
  // BullMQ keeps `stack` as the job's stacktrace (shown in Bull Board): keep the reason of
  // each attempt there, not a trace through our own code.
  bullError.stack = reason;
  return bullError;
}
