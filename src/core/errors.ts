/**
 * The one error family connectors throw. Each error carries a stable `code` and whether
 * retrying can help; the worker turns that into BullMQ behaviour in one place
 * (src/worker/failure.ts). Messages are shown to users in Bull Board, so they name the
 * cause and never carry secrets or whole responses.
 */
export type ConnectorErrorCode =
  | 'ERR_INVALID_INPUT'
  | 'ERR_SERVICE_REJECTED'
  | 'ERR_SERVICE_UNAVAILABLE'
  | 'ERR_SERVICE_TIMEOUT'
  | 'ERR_RATE_LIMITED'
  | 'ERR_SERVICE_FAILED'
  | 'ERR_PROTOCOL'
  | 'ERR_CANCELLED'
  | 'ERR_JOB_TIMEOUT'
  | 'ERR_INTERNAL';

/** Every code of {@link ConnectorErrorCode}, for matching errors that come from another copy of this module. */
export const CONNECTOR_ERROR_CODES: ReadonlySet<ConnectorErrorCode> = new Set<ConnectorErrorCode>([
  'ERR_INVALID_INPUT',
  'ERR_SERVICE_REJECTED',
  'ERR_SERVICE_UNAVAILABLE',
  'ERR_SERVICE_TIMEOUT',
  'ERR_RATE_LIMITED',
  'ERR_SERVICE_FAILED',
  'ERR_PROTOCOL',
  'ERR_CANCELLED',
  'ERR_JOB_TIMEOUT',
  'ERR_INTERNAL',
]);

/**
 * Structured facts about where a failure happened, kept as fields (not only in the
 * message) so logs and tools can filter on them.
 */
export interface ConnectorErrorFacts {
  /** HTTP status the service answered, when it answered one. */
  status?: number;
  /** The service's name as the connector calls it, e.g. `ComfyUI`, `REST service`. */
  service?: string;
  /** Method and path of the call, e.g. `POST /prompt` (never the query or credentials). */
  endpoint?: string;
  /** ComfyUI node id the service blamed. */
  nodeId?: string;
}

/** Options every connector error accepts. */
export interface ConnectorErrorOptions extends ConnectorErrorFacts {
  /** The underlying error, kept for logs. */
  cause?: unknown;
  /** Overrides the class's default retry decision. */
  retryable?: boolean;
}

/** Base class: a failure with a stable code and a retry decision. */
export class ConnectorError extends Error {
  override name = 'ConnectorError';
  /** Stable machine-readable code, also the prefix of the job's failure reason. */
  readonly code: ConnectorErrorCode;
  /** Whether another attempt can succeed (BullMQ `attempts`/`backoff` apply) or not (`UnrecoverableError`). */
  readonly retryable: boolean;
  /** {@inheritDoc ConnectorErrorFacts.status} */
  readonly status?: number;
  /** {@inheritDoc ConnectorErrorFacts.service} */
  readonly service?: string;
  /** {@inheritDoc ConnectorErrorFacts.endpoint} */
  readonly endpoint?: string;
  /** {@inheritDoc ConnectorErrorFacts.nodeId} */
  readonly nodeId?: string;

  constructor(
    code: ConnectorErrorCode,
    message: string,
    retryable: boolean,
    options: ConnectorErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? retryable;
    // Only facts that were given become own properties: logs show no empty fields.
    if (options.status !== undefined) this.status = options.status;
    if (options.service !== undefined) this.service = options.service;
    if (options.endpoint !== undefined) this.endpoint = options.endpoint;
    if (options.nodeId !== undefined) this.nodeId = options.nodeId;
  }
}

/** Job data is wrong: retrying the same data cannot help. */
export class InvalidInputError extends ConnectorError {
  override name = 'InvalidInputError';
  constructor(message: string, options?: ConnectorErrorOptions) {
    super('ERR_INVALID_INPUT', message, false, options);
  }
}

/** The service refused the request (4xx other than 408/429, ComfyUI validation errors). */
export class ServiceRejectedError extends ConnectorError {
  override name = 'ServiceRejectedError';
  constructor(message: string, options?: ConnectorErrorOptions) {
    super('ERR_SERVICE_REJECTED', message, false, options);
  }
}

/** Options of {@link ServiceUnavailableError}. */
export interface ServiceUnavailableOptions extends ConnectorErrorOptions {
  /**
   * The failure says the service is down and the job's request was not taken on:
   * connection refused, DNS failure, a reset before the request was sent or of a reused
   * keep-alive connection before any answer, HTTP 502/503/504,
   * a WebSocket that would not open. The worker then re-checks health and, when the
   * service is down, hands the job back without using an attempt (src/worker/processor.ts).
   */
  serviceDown?: boolean;
}

/** The service could not be reached or answered 5xx, or the connection was lost. */
export class ServiceUnavailableError extends ConnectorError {
  override name = 'ServiceUnavailableError';
  /** See {@link ServiceUnavailableOptions.serviceDown}. */
  readonly serviceDown: boolean;
  constructor(message: string, options: ServiceUnavailableOptions = {}) {
    super('ERR_SERVICE_UNAVAILABLE', message, true, options);
    this.serviceDown = options.serviceDown ?? false;
  }
}

/** A request to the service took too long (or the service answered 408). */
export class ServiceTimeoutError extends ConnectorError {
  override name = 'ServiceTimeoutError';
  constructor(message: string, options?: ConnectorErrorOptions) {
    super('ERR_SERVICE_TIMEOUT', message, true, options);
  }
}

/** The service answered 429; `retryAfterMs` is what it asked us to wait, when it said. */
export class RateLimitedError extends ConnectorError {
  override name = 'RateLimitedError';
  readonly retryAfterMs: number | undefined;
  constructor(message: string, retryAfterMs?: number, options?: ConnectorErrorOptions) {
    super('ERR_RATE_LIMITED', message, true, options);
    this.retryAfterMs = retryAfterMs;
  }
}

/** The service ran the job and reported that it failed. Not retried unless the connector says so. */
export class ServiceFailedError extends ConnectorError {
  override name = 'ServiceFailedError';
  constructor(message: string, options?: ConnectorErrorOptions) {
    super('ERR_SERVICE_FAILED', message, false, options);
  }
}

/** The service answered something we cannot understand (not JSON, missing fields, too large). */
export class ProtocolError extends ConnectorError {
  override name = 'ProtocolError';
  constructor(message: string, options?: ConnectorErrorOptions) {
    super('ERR_PROTOCOL', message, false, options);
  }
}

/** Someone cancelled the job; it is never retried. */
export class JobCancelledError extends ConnectorError {
  override name = 'JobCancelledError';
  constructor(message: string, options?: ConnectorErrorOptions) {
    super('ERR_CANCELLED', message, false, options);
  }
}

/** The job ran past its connector's timeout and was aborted. */
export class JobTimeoutError extends ConnectorError {
  override name = 'JobTimeoutError';
  constructor(message: string, options?: ConnectorErrorOptions) {
    super('ERR_JOB_TIMEOUT', message, true, options);
  }
}

/**
 * Whether `value` is one of our errors: by class, or (when it comes from another copy of
 * this module, e.g. a connector package with its own copy of emp-worker) by shape: an
 * Error with a known `code` and a boolean `retryable`.
 */
export function isConnectorError(value: unknown): value is ConnectorError {
  if (value instanceof ConnectorError) return true;
  if (!(value instanceof Error)) return false;
  const { code, retryable } = value as { code?: unknown; retryable?: unknown };
  return (
    typeof code === 'string' &&
    CONNECTOR_ERROR_CODES.has(code as ConnectorErrorCode) &&
    typeof retryable === 'boolean'
  );
}

/** Whether `value` is one of our errors with this `code` (works across copies of this module). */
export function hasErrorCode(value: unknown, code: ConnectorErrorCode): value is ConnectorError {
  return isConnectorError(value) && value.code === code;
}

/** The wait a rate-limited error asked for (its `Retry-After`), when it is one and said so. */
export function rateLimitWaitMs(value: unknown): number | undefined {
  if (!hasErrorCode(value, 'ERR_RATE_LIMITED')) return undefined;
  const wait = (value as { retryAfterMs?: unknown }).retryAfterMs;
  return typeof wait === 'number' && Number.isFinite(wait) && wait >= 0 ? wait : undefined;
}

/** Whether `value` is an {@link ServiceUnavailableError} that says the service is down (any copy of this module). */
export function saysServiceDown(value: unknown): boolean {
  return (
    hasErrorCode(value, 'ERR_SERVICE_UNAVAILABLE') &&
    (value as { serviceDown?: unknown }).serviceDown === true
  );
}

/** The facts of `error` as plain fields, for log lines (only those that are set). */
export function errorFacts(error: ConnectorError): ConnectorErrorFacts {
  const facts: ConnectorErrorFacts = {};
  if (error.status !== undefined) facts.status = error.status;
  if (error.service !== undefined) facts.service = error.service;
  if (error.endpoint !== undefined) facts.endpoint = error.endpoint;
  if (error.nodeId !== undefined) facts.nodeId = error.nodeId;
  return facts;
}

/** Normalises anything thrown into an Error (graphile's `coerceError`). */
export function coerceError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return new Error(typeof thrown === 'string' ? thrown : `non-error thrown: ${safeString(thrown)}`, {
    cause: thrown,
  });
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value)?.slice(0, 200) ?? String(value);
  } catch {
    return String(value);
  }
}
