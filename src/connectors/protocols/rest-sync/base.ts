import type { Method } from 'got';
import { abortKind } from '../../../core/abort.js';
import { ConnectorError, InvalidInputError, hasErrorCode } from '../../../core/errors.js';
import { HttpClient, type HttpResponse } from '../http/client.js';
import type { Connector, HealthResult, JobContext } from '../../types.js';
import { isPlainObject } from '../../../core/validate.js';
import {
  STOP_REQUEST_TIMEOUT_MS,
  createServiceClient,
  probeHealth,
  type RestServiceOptions,
} from '../http/service.js';
import { describeError } from '../../../logging/errors.js';

/** Settings of the sync base beyond those of every REST service. */
export interface RestSyncOptions extends RestServiceOptions {
  /**
   * Path of the call, below the base URL, when it is the same for every job. A connector
   * whose path depends on the job overrides {@link RestSyncConnector.getEndpoint} instead.
   */
  endpoint?: string;
}

/**
 * Base of connectors that make one blocking HTTP call per job.
 * It owns the mechanics: the shared client (auth, USE_SSL, timeouts, size cap, error
 * classification), the job's abort signal on the call, an optional progress monitor
 * that runs while the call blocks, and telling the service to stop on cancel/timeout.
 * A subclass supplies {@link parseJob} and {@link buildRequestBody}, and the path as
 * `endpoint` in the options (or, when it depends on the job, by overriding
 * {@link getEndpoint}); {@link getMethod} (POST) and {@link parseResponse} (the JSON) have
 * defaults; it may add
 * {@link monitorServiceProgress}, {@link stopServiceJob} and `getCapabilities`.
 */
export abstract class RestSyncConnector<TJob> implements Connector {
  abstract readonly name: string;
  /** The one HTTP client of this connector's service. */
  protected readonly http: HttpClient;

  constructor(protected readonly options: RestSyncOptions) {
    this.http = createServiceClient(options);
  }

  /** Validates the job data; throw {@link InvalidInputError} naming the field. */
  protected abstract parseJob(data: unknown, ctx: JobContext): TJob;

  /** Path of the call, below the base URL (default: the `endpoint` option). */
  protected getEndpoint(_job: TJob): string {
    if (this.options.endpoint === undefined) {
      // A connector bug, not bad input: caught by the connector's first test.
      throw new ConnectorError(
        'ERR_INTERNAL',
        `${this.options.service} connector states no endpoint: pass \`endpoint\` to the base or override getEndpoint`,
        false,
      );
    }
    return this.options.endpoint;
  }

  /** HTTP method of the call (default POST). GET/DELETE send the body as query parameters. */
  protected getMethod(_job: TJob): Method {
    return 'POST';
  }

  /** JSON body of the call. */
  protected abstract buildRequestBody(job: TJob, ctx: JobContext): unknown;

  /** Turns the response into the job's output (default: its JSON). */
  protected parseResponse(response: HttpResponse, _job: TJob, _ctx: JobContext): unknown {
    return response.json();
  }

  /**
   * Runs while the call blocks, e.g. polling a progress endpoint; `signal` aborts when the
   * call ends. Its errors are logged and never fail the job (the call decides the outcome).
   */
  protected monitorServiceProgress?(job: TJob, ctx: JobContext, signal: AbortSignal): Promise<void>;

  /** Tells the service to stop the work of this job (cancel, timeout). Must not use `ctx.signal`. */
  protected stopServiceJob?(job: TJob, ctx: JobContext, signal: AbortSignal): Promise<void>;

  async process(ctx: JobContext): Promise<unknown> {
    const job = this.parseJob(ctx.data, ctx);
    const method = this.getMethod(job);
    const path = this.getEndpoint(job);
    const body = this.buildRequestBody(job, ctx);
    const sendsQuery = method === 'GET' || method === 'DELETE' || method === 'HEAD';
    const searchParams = sendsQuery ? toSearchParams(body) : undefined;
    if (!this.monitorServiceProgress) {
      return this.call(job, ctx, method, path, body, searchParams, sendsQuery);
    }
    // Only a connector with a monitor pays for the extra controller (an abort costs a DOMException).
    ctx.progress({ progress: 1, status: 'processing', message: `waiting for ${this.options.service}` });
    const monitorStop = new AbortController();
    const monitor = this.runMonitor(job, ctx, monitorStop.signal);
    try {
      return await this.call(job, ctx, method, path, body, searchParams, sendsQuery);
    } finally {
      monitorStop.abort();
      await monitor;
    }
  }

  private async call(
    job: TJob,
    ctx: JobContext,
    method: Method,
    path: string,
    body: unknown,
    searchParams: Record<string, string | number | boolean> | undefined,
    sendsQuery: boolean,
  ): Promise<unknown> {
    let response: HttpResponse;
    try {
      response = await this.http.request({
        method,
        path,
        ...(sendsQuery ? (searchParams ? { searchParams } : {}) : { json: body ?? {} }),
        signal: ctx.signal,
      });
    } catch (error) {
      if (this.stopServiceJob && shouldStopService(ctx.signal, error)) await this.stopSafely(job, ctx);
      throw error;
    }
    return this.parseResponse(response, job, ctx);
  }

  /** GETs the health endpoint (default `/health`). */
  async checkHealth(signal: AbortSignal): Promise<HealthResult> {
    return probeHealth(this.http, this.options.healthEndpoint, signal);
  }

  private async runMonitor(job: TJob, ctx: JobContext, signal: AbortSignal): Promise<void> {
    try {
      await this.monitorServiceProgress?.(job, ctx, AbortSignal.any([signal, ctx.signal]));
    } catch (error) {
      if (!signal.aborted && !ctx.signal.aborted) {
        ctx.logger.debug('progress monitor stopped', {
          error: describeError(error),
        });
      }
    }
  }

  private async stopSafely(job: TJob, ctx: JobContext): Promise<void> {
    try {
      await this.stopServiceJob?.(job, ctx, AbortSignal.timeout(STOP_REQUEST_TIMEOUT_MS));
      await ctx.log(
        `asked ${this.options.service} to stop the job (${abortKind(ctx.signal) ?? 'request timed out'})`,
      );
    } catch (error) {
      ctx.logger.warn(`could not ask ${this.options.service} to stop the job`, {
        error: describeError(error),
      });
    }
  }
}

/**
 * Whether work left behind on the service should be stopped: on cancel, timeout or a
 * request timeout, and on shutdown too (a blocking call is lost when its connection is,
 * so the next attempt starts over and the old work would only hold the service).
 */
function shouldStopService(signal: AbortSignal, error: unknown): boolean {
  return signal.aborted || hasErrorCode(error, 'ERR_SERVICE_TIMEOUT');
}

/** A flat JSON object as query parameters; anything else is bad input for a GET. */
function toSearchParams(body: unknown): Record<string, string | number | boolean> | undefined {
  if (body === undefined || body === null) return undefined;
  if (!isPlainObject(body)) {
    throw new InvalidInputError('a GET request takes its parameters as a flat JSON object');
  }
  // Null prototype: a "__proto__" field is a parameter like any other.
  const params = Object.create(null) as Record<string, string | number | boolean>;
  for (const [key, value] of Object.entries(body)) {
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw new InvalidInputError(
        `field "${key}" must be a string, number or boolean to be sent as a query parameter`,
      );
    }
    params[key] = value;
  }
  return params;
}
