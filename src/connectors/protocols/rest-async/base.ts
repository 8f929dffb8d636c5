import type { Method } from 'got';
import { abortStopsServiceWork } from '../../../core/abort.js';
import { abortableSleep } from '../../../core/abortable-sleep.js';
import { annotateJob } from '../../../telemetry/index.js';
import { ProtocolError, ServiceFailedError, hasErrorCode, rateLimitWaitMs } from '../../../core/errors.js';
import { retryAfterMs, type HttpClient, type HttpResponse } from '../http/client.js';
import {
  STOP_REQUEST_TIMEOUT_MS,
  createServiceClient,
  probeHealth,
  type RestServiceOptions,
} from '../http/service.js';
import type { Connector, HealthResult, JobContext } from '../../types.js';
import { isPlainObject } from '../../../core/validate.js';
import { describeError } from '../../../logging/errors.js';

/** Checkpoint key holding the service's id of the job (read back by a retried attempt). */
export const EXTERNAL_JOB_ID = 'external_job_id';

/** Where a service-side job is, in the base's terms. */
export type AsyncJobState = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

/** One status answer, as {@link RestAsyncConnector.parseStatusFromResponse} reads it. */
export interface AsyncJobStatus {
  state: AsyncJobState;
  /** The service's own progress, 0-100, when it says. */
  progress?: number;
  /** Its message (or its error text when failed). */
  message?: string;
  /** The result, when the status answer carries it (used when there is no result endpoint). */
  result?: unknown;
}

/** Settings of the async base beyond those of every REST service. */
export interface RestAsyncOptions extends RestServiceOptions {
  /** Wait between status polls, milliseconds (a `Retry-After` on a poll overrides it once). */
  pollIntervalMs: number;
  /** Path every job is POSTed to, below the base URL. */
  submitEndpoint: string;
  /** Method of the cancel call (default POST); the path comes from {@link RestAsyncConnector.getCancelEndpoint}. */
  cancelMethod?: Method;
}

/** Replaces `{job_id}` in an endpoint template with the (URL-encoded) service job id. */
export function fillJobId(template: string, jobId: string): string {
  return template.split('{job_id}').join(encodeURIComponent(jobId));
}

const STATE_WORDS: ReadonlyArray<[AsyncJobState, readonly string[]]> = [
  ['queued', ['queued', 'pending', 'waiting', 'submitted', 'accepted', 'created']],
  ['running', ['running', 'processing', 'in_progress', 'started', 'active']],
  ['completed', ['completed', 'complete', 'succeeded', 'success', 'done', 'finished']],
  ['failed', ['failed', 'failure', 'error', 'errored']],
  ['cancelled', ['cancelled', 'canceled', 'aborted', 'interrupted']],
];

/** Maps the usual status words (`pending`, `processing`, `succeeded`, `error`...) onto {@link AsyncJobState}. */
export function normaliseState(word: string): AsyncJobState | undefined {
  const lower = word.trim().toLowerCase();
  return STATE_WORDS.find(([, words]) => words.includes(lower))?.[0];
}

/**
 * Base of connectors for submit → poll status → fetch result services. It owns the flow: submit, store the service's job id on the job
 * (checkpoint), poll at the interval (honouring `Retry-After`), map the service's 0-100
 * progress into the job's, fail with the service's message, fetch the result, and on
 * cancel/timeout call the cancel endpoint. A retried attempt re-attaches to the job an
 * earlier attempt submitted instead of submitting again. Fixed endpoints are data in
 * {@link RestAsyncOptions} (`submitEndpoint`, `cancelMethod`); the hooks compute:
 * {@link parseJob}, {@link buildSubmitBody} and {@link getStatusEndpoint} are required;
 * {@link getResultEndpoint}, {@link getCancelEndpoint}, {@link parseJobIdFromResponse},
 * {@link parseStatusFromResponse} and {@link parseResultFromResponse} have defaults.
 */
export abstract class RestAsyncConnector<TJob> implements Connector {
  abstract readonly name: string;
  /** The one HTTP client of this connector's service. */
  protected readonly http: HttpClient;

  constructor(protected readonly options: RestAsyncOptions) {
    this.http = createServiceClient(options);
  }

  /** Validates the job data; throw {@link InvalidInputError} naming the field. */
  protected abstract parseJob(data: unknown, ctx: JobContext): TJob;

  /** JSON body of the submit call. */
  protected abstract buildSubmitBody(job: TJob, ctx: JobContext): unknown;

  /** Path of the status of service job `jobId` (use {@link fillJobId}). */
  protected abstract getStatusEndpoint(jobId: string): string;

  /** Path of the result of `jobId`; undefined when the status answer carries the result. */
  protected getResultEndpoint(_jobId: string): string | undefined {
    return undefined;
  }

  /** Path that cancels `jobId` on the service, if it has one. */
  protected getCancelEndpoint(_jobId: string): string | undefined {
    return undefined;
  }

  /** The service's job id from the submit answer (default: `job_id`, then `id`). */
  protected parseJobIdFromResponse(body: unknown): string | undefined {
    if (!isPlainObject(body)) return undefined;
    for (const key of ['job_id', 'id']) {
      const value = body[key];
      if (typeof value === 'string' && value !== '') return value;
      if (typeof value === 'number' && Number.isFinite(value)) return String(value);
    }
    return undefined;
  }

  /**
   * Reads a status answer (default: `status` or `state` word, `progress` 0-100,
   * `message` or `error`, `result` or `output`). Unknown words count as running.
   */
  protected parseStatusFromResponse(body: unknown): AsyncJobStatus {
    if (!isPlainObject(body)) {
      throw new ProtocolError(`${this.options.service} status answer is not a JSON object`);
    }
    const word =
      typeof body.status === 'string' ? body.status : typeof body.state === 'string' ? body.state : undefined;
    if (word === undefined) {
      throw new ProtocolError(`${this.options.service} status answer has no "status" field`);
    }
    const message =
      typeof body.message === 'string'
        ? body.message
        : typeof body.error === 'string'
          ? body.error
          : undefined;
    const progress =
      typeof body.progress === 'number' && Number.isFinite(body.progress) ? body.progress : undefined;
    const result = body.result !== undefined ? body.result : body.output;
    return {
      state: normaliseState(word) ?? 'running',
      ...(progress !== undefined ? { progress } : {}),
      ...(message !== undefined ? { message } : {}),
      ...(result !== undefined ? { result } : {}),
    };
  }

  /** The job's output from the result answer (default: the answer's JSON). */
  protected parseResultFromResponse(body: unknown): unknown {
    return body;
  }

  async process(ctx: JobContext): Promise<unknown> {
    const job = this.parseJob(ctx.data, ctx);
    const service = this.options.service;
    let jobId: string | undefined;
    let status: AsyncJobStatus | undefined;
    let wait: number | undefined;
    try {
      const saved = ctx.checkpoint.get<unknown>(EXTERNAL_JOB_ID);
      if (typeof saved === 'string' && saved !== '') {
        let found = await this.pollStatus(saved, ctx, true);
        while (found.kind === 'limited') {
          await abortableSleep(found.wait, ctx.signal);
          found = await this.pollStatus(saved, ctx, true);
        }
        if (found.kind === 'status') {
          jobId = saved;
          ({ status, wait } = found);
          await ctx.log(
            `re-attached to ${service} job ${saved} (${status.state}) instead of submitting again`,
          );
        } else {
          await ctx.log(`${service} does not know job ${saved} from an earlier attempt; submitting anew`);
        }
      }
      if (jobId === undefined) jobId = await this.submit(job, ctx);
      annotateJob({ 'emp.service.job_id': jobId });

      for (;;) {
        if (status === undefined) {
          const polled = await this.pollStatus(jobId, ctx, false);
          if (polled.kind === 'status') ({ status, wait } = polled);
          else if (polled.kind === 'limited') wait = polled.wait;
        }
        if (status) {
          this.reportProgress(ctx, jobId, status);
          if (status.state === 'completed') break;
          if (status.state === 'failed') {
            throw new ServiceFailedError(
              `${service} reported job ${jobId} failed${status.message ? `: ${status.message}` : ''}`,
            );
          }
          if (status.state === 'cancelled') {
            throw new ServiceFailedError(
              `${service} cancelled job ${jobId}${status.message ? `: ${status.message}` : ''}`,
            );
          }
        }
        await abortableSleep(wait ?? this.options.pollIntervalMs, ctx.signal);
        status = undefined;
        wait = undefined;
      }

      ctx.progress({
        progress: 90,
        status: 'finalizing',
        message: `fetching the result of ${service} job ${jobId}`,
      });
      return await this.fetchResult(jobId, status, ctx);
    } catch (error) {
      if (ctx.signal.aborted && jobId !== undefined) await this.onAbort(jobId, ctx);
      throw error;
    }
  }

  /** GETs the health endpoint (default `/health`). */
  async checkHealth(signal: AbortSignal): Promise<HealthResult> {
    return probeHealth(this.http, this.options.healthEndpoint, signal);
  }

  private async submit(job: TJob, ctx: JobContext): Promise<string> {
    const service = this.options.service;
    ctx.progress({ progress: 2, status: 'submitting', message: `submitting to ${service}` });
    const response = await this.http.request({
      method: 'POST',
      path: this.options.submitEndpoint,
      json: this.buildSubmitBody(job, ctx) ?? {},
      signal: ctx.signal,
    });
    const jobId = this.parseJobIdFromResponse(response.json());
    if (jobId === undefined) {
      throw new ProtocolError(`${service} answered the submit without a job id: ${preview(response.text)}`);
    }
    // Saved before anything else can fail, so a retry finds the work instead of submitting it twice.
    await ctx.checkpoint.set(EXTERNAL_JOB_ID, jobId);
    await ctx.log(`submitted to ${service} as job ${jobId}`);
    ctx.progress({ progress: 5, status: 'submitted', message: `${service} job ${jobId} submitted` });
    return jobId;
  }

  /** One status poll: the status, a rate-limit wait, or (when re-attaching) "unknown id". */
  private async pollStatus(jobId: string, ctx: JobContext, reattaching: boolean): Promise<PollOutcome> {
    let response: HttpResponse;
    try {
      response = await this.http.request({
        method: 'GET',
        path: this.getStatusEndpoint(jobId),
        signal: ctx.signal,
        acceptStatus: status =>
          (status >= 200 && status < 300) || (reattaching && (status === 404 || status === 410)),
      });
    } catch (error) {
      if (hasErrorCode(error, 'ERR_RATE_LIMITED')) {
        return { kind: 'limited', wait: rateLimitWaitMs(error) ?? this.options.pollIntervalMs };
      }
      throw error;
    }
    if (response.status === 404 || response.status === 410) return { kind: 'unknown' };
    return {
      kind: 'status',
      status: this.parseStatusFromResponse(response.json()),
      wait: retryAfterMs(response.headers['retry-after']),
    };
  }

  private async fetchResult(
    jobId: string,
    status: AsyncJobStatus | undefined,
    ctx: JobContext,
  ): Promise<unknown> {
    const service = this.options.service;
    const path = this.getResultEndpoint(jobId);
    let result: unknown;
    if (path === undefined) {
      result = status?.result;
    } else {
      const response = await this.http.request({ method: 'GET', path, signal: ctx.signal });
      if (response.text.trim() !== '') result = this.parseResultFromResponse(response.json());
    }
    if (result === undefined || result === null) {
      throw new ProtocolError(`${service} reported job ${jobId} completed but returned no result`);
    }
    return result;
  }

  private reportProgress(ctx: JobContext, jobId: string, status: AsyncJobStatus): void {
    const service = this.options.service;
    const scaled =
      status.progress === undefined ? undefined : 10 + 0.8 * Math.min(100, Math.max(0, status.progress));
    ctx.progress({
      ...(scaled !== undefined ? { progress: scaled } : {}),
      status: status.state,
      message: status.message ?? `${service} job ${jobId} ${status.state}`,
    });
  }

  /** On cancel/timeout the service is told to stop; on shutdown the work is left for the next attempt to re-attach. */
  private async onAbort(jobId: string, ctx: JobContext): Promise<void> {
    const service = this.options.service;
    if (!abortStopsServiceWork(ctx.signal)) {
      ctx.logger.info(`left ${service} job ${jobId} running; the next attempt re-attaches to it`);
      return;
    }
    const path = this.getCancelEndpoint(jobId);
    if (path === undefined) return;
    try {
      await this.http.request({
        method: this.options.cancelMethod ?? 'POST',
        path,
        signal: AbortSignal.timeout(STOP_REQUEST_TIMEOUT_MS),
        timeoutMs: STOP_REQUEST_TIMEOUT_MS,
      });
      await ctx.log(`asked ${service} to cancel job ${jobId}`);
    } catch (error) {
      ctx.logger.warn(`could not cancel ${service} job ${jobId}`, {
        error: describeError(error),
      });
    }
  }
}

/** What one status poll found. */
type PollOutcome =
  | { kind: 'status'; status: AsyncJobStatus; wait: number | undefined }
  | { kind: 'limited'; wait: number }
  | { kind: 'unknown' };

function preview(text: string): string {
  const flat = text.trim().replace(/\s+/g, ' ');
  if (flat === '') return '(empty body)';
  return flat.length > 120 ? `${flat.slice(0, 120)}…` : flat;
}
