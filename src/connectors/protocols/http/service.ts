import type { Logger } from 'winston';
import type { HealthResult } from '../../types.js';
import { HttpClient } from './client.js';
import { effectiveBaseUrl, httpAuth, type HttpServiceConfig } from './service-config.js';
import { describeError } from '../../../logging/errors.js';

/**
 * Per-request timeout of a sync call that is the whole job: a little longer than the job's
 * own timeout, whose abort signal fires first; this is only a backstop.
 */
export function wholeJobCallTimeoutMs(jobTimeoutSeconds: number): number {
  return jobTimeoutSeconds * 1000 + 1000;
}

/** What every REST base needs to reach its service. */
export interface RestServiceOptions {
  /** Service name in messages and health lines, e.g. `REST service`, `A1111`. */
  service: string;
  /** Base URL, USE_SSL, auth and response cap. */
  http: HttpServiceConfig;
  /** Default per-request timeout, milliseconds. */
  requestTimeoutMs: number;
  /** Path probed by {@link RestSyncConnector.checkHealth}; empty means "GET the base URL". */
  healthEndpoint: string;
  /** Connector logger (for the stop-the-service line and swallowed monitor errors). */
  logger: Logger;
}

/** How long the "tell the service to stop" call may take once the job's own signal is gone. */
export const STOP_REQUEST_TIMEOUT_MS = 5_000;

/** Builds the shared {@link HttpClient} for a REST connector's service settings. */
export function createServiceClient(
  options: Pick<RestServiceOptions, 'service' | 'http' | 'requestTimeoutMs'>,
): HttpClient {
  return new HttpClient({
    service: options.service,
    baseUrl: effectiveBaseUrl(options.http),
    auth: httpAuth(options.http),
    timeoutMs: options.requestTimeoutMs,
    maxResponseBytes: options.http.maxResponseBytes,
  });
}

/** GETs a health path: healthy on any 2xx, the answer (or failure) in one line. */
export async function probeHealth(
  http: HttpClient,
  path: string,
  signal: AbortSignal,
): Promise<HealthResult> {
  const target = `${http.url(path || '/').toString()}`;
  const started = Date.now();
  try {
    const response = await http.request({ method: 'GET', path: path || '/', signal, timeoutMs: 5_000 });
    return {
      healthy: true,
      detail: `GET ${target} answered HTTP ${response.status} in ${Date.now() - started} ms`,
    };
  } catch (error) {
    return { healthy: false, detail: describeError(error) };
  }
}
