import type { Schema } from 'convict';
import type { Method } from 'got';
import type { Logger } from 'winston';
import { RestSyncConnector } from '../../protocols/rest-sync/base.js';
import { wholeJobCallTimeoutMs } from '../../protocols/http/service.js';
import {
  commonConnectorSchema,
  connectorEnv,
  type CommonConnectorConfig,
} from '../../../config/connector-schema.js';
import { formats } from '../../../config/formats.js';
import { abortableSleep } from '../../../core/abortable-sleep.js';
import { InvalidInputError, ServiceFailedError } from '../../../core/errors.js';
import type { HttpResponse } from '../../protocols/http/client.js';
import { servicePathProblem } from '../../protocols/http/path.js';
import { defineConnector } from '../../definition.js';
import { inlineImageUrls, storeImages } from './media.js';
import {
  describeAuth,
  effectiveBaseUrl,
  httpServiceSchema,
  healthEndpointSchema,
  type HealthEndpointConfig,
  publicUrl,
  type HttpServiceConfig,
} from '../../protocols/http/service-config.js';
import type { Capabilities, JobContext } from '../../types.js';
import { isPlainObject, type JsonObject } from '../../../core/validate.js';
import { a1111JobSchema } from './schema.js';
import { describeError } from '../../../logging/errors.js';

/** Logged at start-up and shown by `emp-worker details a1111`. */
export const VERSION = '1.0.0';

/** `a1111` settings: `WORKER_A1111_*`. */
export interface A1111Config extends CommonConnectorConfig, HttpServiceConfig, HealthEndpointConfig {
  /** Seconds between `/sdapi/v1/progress` polls while a generation call blocks. */
  progressInterval: number;
}

const configSchema: Schema<A1111Config> = {
  // One generation at a time per A1111 instance: it runs them one by one behind a lock anyway.
  ...commonConnectorSchema('a1111', { concurrency: 1, timeoutSeconds: 600 }),
  ...httpServiceSchema('a1111', { baseUrl: 'http://localhost:7860' }),
  ...healthEndpointSchema(
    'a1111',
    '/sdapi/v1/memory',
    'Cheap A1111 path the health check GETs (it takes no lock and works with --nowebui).',
  ),
  progressInterval: {
    doc: 'Seconds between /sdapi/v1/progress polls while a generation runs.',
    format: formats.positiveSeconds,
    default: 0.75,
    env: connectorEnv('a1111', 'PROGRESS_INTERVAL'),
  },
};

/** An A1111 job: the original's `{ endpoint, method, payload }`. */
export interface A1111Job {
  /** Path below the base URL, e.g. `/sdapi/v1/txt2img`. */
  path: string;
  /** The `endpoint` as given, for messages. */
  endpoint: string;
  method: 'GET' | 'POST';
  payload: JsonObject;
  /** Whether the call is a generation whose progress `/sdapi/v1/progress` shows. */
  generates: boolean;
  /** What the progress monitor saw during this job's call. */
  seen: { interrupted: boolean };
}

const SDAPI_PREFIX = '/sdapi/v1/';
const GENERATION_ENDPOINTS = ['txt2img', 'img2img', 'extra-single-image', 'extra-batch-images'];
/** Reads and checks an A1111 job's data; errors name the field. */
export function parseA1111Job(data: unknown): A1111Job {
  const body = a1111JobSchema.parse(data);
  const endpoint = body.endpoint ?? 'txt2img';
  const relative = endpoint.replace(/^\/+/, '').replace(/^sdapi\/v1\//, '');
  // The schema refuses the plain forms; this also catches encoded ones (%2e%2e, %2f…).
  const problem = endpoint.includes('//')
    ? 'it has "//"'
    : servicePathProblem(`${SDAPI_PREFIX}${relative}`, SDAPI_PREFIX);
  if (problem !== undefined) {
    throw new InvalidInputError(
      `/endpoint: expected an sdapi path such as "txt2img" or "img2img" below ${SDAPI_PREFIX} (${problem}), got "${endpoint.slice(0, 80)}"`,
    );
  }
  const method = body.method?.toUpperCase() === 'GET' ? 'GET' : 'POST';
  const payload = body.payload ?? undefined;
  if (payload === undefined && method === 'POST') {
    throw new InvalidInputError(
      '/payload: is required for POST: the A1111 request body, e.g. {"prompt": "a cat", "steps": 20}',
    );
  }
  // The payload's own fields are A1111's to check: its 422 names the field (body.steps) in the failure.
  const checked = payload ?? {};
  const name = relative.split(/[?#]/)[0] ?? relative;
  return {
    path: `${SDAPI_PREFIX}${relative}`,
    endpoint,
    method,
    payload: checked,
    generates: method === 'POST' && GENERATION_ENDPOINTS.includes(name),
    seen: { interrupted: false },
  };
}

/** A1111's `/sdapi/v1/progress` answer (the parts we read). */
interface A1111Progress {
  progress?: number;
  eta_relative?: number;
  state?: {
    sampling_step?: number;
    sampling_steps?: number;
    job_count?: number;
    job_no?: number;
    interrupted?: boolean;
  };
  textinfo?: string | null;
}

/**
 * AUTOMATIC1111 WebUI over `/sdapi/v1/*`, on {@link RestSyncConnector}. While a generation
 * call blocks, `/sdapi/v1/progress` is polled into job progress; on cancel or timeout
 * `/sdapi/v1/interrupt` is called; `info` is parsed from its JSON string.
 */
export class A1111Connector extends RestSyncConnector<A1111Job> {
  readonly name = 'a1111';

  constructor(
    private readonly config: A1111Config,
    logger: Logger,
  ) {
    super({
      service: 'A1111',
      http: config,
      requestTimeoutMs: wholeJobCallTimeoutMs(config.timeout),
      healthEndpoint: config.healthEndpoint,
      logger,
    });
  }

  /**
   * Fetches input images given as URLs before the call (A1111 takes base64), and with a
   * store in use stores the answer's images instead of returning their base64.
   */
  override async process(ctx: JobContext): Promise<unknown> {
    const job = parseA1111Job(ctx.data);
    const payload = await inlineImageUrls(ctx, job.payload);
    // The same context (its getters included) with the fetched images in the payload.
    const prepared: JobContext =
      payload === job.payload
        ? ctx
        : (Object.create(ctx, {
            data: { value: { ...(ctx.data as JsonObject), payload } },
          }) as JobContext);
    const result = await super.process(prepared);
    return ctx.outputs.enabled ? storeImages(ctx, result, job.payload) : result;
  }

  protected parseJob(data: unknown): A1111Job {
    return parseA1111Job(data);
  }

  protected getEndpoint(job: A1111Job): string {
    return job.path;
  }

  protected override getMethod(job: A1111Job): Method {
    return job.method;
  }

  protected buildRequestBody(job: A1111Job): unknown {
    return job.payload;
  }

  /** The response with `info` parsed from its JSON string; images are passed through untouched. */
  protected override parseResponse(response: HttpResponse, job: A1111Job): unknown {
    if (job.seen.interrupted) {
      // A1111 answers 200 with the partial images when interrupted; someone else did it
      // (our own cancel/timeout aborts the call first), so this is not the asked-for result.
      // Retryable: A1111's progress state is global, so the interrupt may even have been
      // meant for another client's generation; a new attempt gets the whole result.
      throw new ServiceFailedError(
        `A1111 ${job.endpoint} was interrupted by another client of A1111 before it finished; its images are partial`,
        { retryable: true },
      );
    }
    const body: unknown = response.json();
    if (!isPlainObject(body) || typeof body.info !== 'string') return body;
    try {
      return { ...body, info: JSON.parse(body.info) as unknown };
    } catch {
      return body;
    }
  }

  protected override async monitorServiceProgress(
    job: A1111Job,
    ctx: JobContext,
    signal: AbortSignal,
  ): Promise<void> {
    if (!job.generates) return;
    const intervalMs = this.config.progressInterval * 1000;
    let started = false;
    for (;;) {
      await abortableSleep(intervalMs, signal);
      let progress: A1111Progress;
      try {
        progress = await this.http.json<A1111Progress>({
          method: 'GET',
          path: `${SDAPI_PREFIX}progress`,
          searchParams: { skip_current_image: true },
          signal,
          timeoutMs: Math.max(2_000, intervalMs * 4),
        });
      } catch (error) {
        if (signal.aborted) return;
        ctx.logger.debug('A1111 progress poll failed', {
          error: describeError(error),
        });
        continue;
      }
      if (signal.aborted) return;
      // Idle after busy means our generation ended and its answer is on the way: nothing to say.
      const busy = (progress.state?.job_count ?? 0) !== 0;
      if (busy && progress.state?.interrupted === true) job.seen.interrupted = true;
      if (busy || !started) this.reportProgress(ctx, progress);
      started ||= busy;
    }
  }

  protected override async stopServiceJob(
    _job: A1111Job,
    _ctx: JobContext,
    signal: AbortSignal,
  ): Promise<void> {
    await this.http.request({
      method: 'POST',
      path: `${SDAPI_PREFIX}interrupt`,
      json: {},
      signal,
      timeoutMs: 5_000,
    });
  }

  async getCapabilities(signal: AbortSignal): Promise<Capabilities> {
    const [models, samplers] = await Promise.all([
      this.list(`${SDAPI_PREFIX}sd-models`, 'title', signal),
      this.list(`${SDAPI_PREFIX}samplers`, 'name', signal),
    ]);
    return {
      a1111_version: VERSION,
      base_url: publicUrl(effectiveBaseUrl(this.config)),
      auth: describeAuth(this.config),
      timeout: this.config.timeout,
      ...(Array.isArray(models) ? { models } : { models_error: models.error }),
      ...(Array.isArray(samplers) ? { samplers } : { samplers_error: samplers.error }),
    };
  }

  private reportProgress(ctx: JobContext, answer: A1111Progress): void {
    const state = answer.state ?? {};
    const jobCount = state.job_count ?? 0;
    if (jobCount === 0) {
      ctx.progress({ status: 'queued', message: 'waiting for A1111 to start the generation' });
      return;
    }
    const fraction =
      typeof answer.progress === 'number' && Number.isFinite(answer.progress) ? answer.progress : 0;
    const step = state.sampling_step;
    const total = state.sampling_steps;
    const eta =
      typeof answer.eta_relative === 'number' && Number.isFinite(answer.eta_relative)
        ? answer.eta_relative
        : undefined;
    const stepText =
      typeof step === 'number' && typeof total === 'number' && total > 0
        ? `step ${step} of ${total}`
        : 'generating';
    ctx.progress({
      // 99 at most: 100 means "done", which only the finished call can say.
      progress: Math.min(99, Math.max(0, fraction * 100)),
      status: 'sampling',
      message: `${stepText}${eta !== undefined ? `, about ${Math.ceil(eta)} s left` : ''}`,
      ...(eta !== undefined ? { eta: Math.round(eta * 10) / 10 } : {}),
      ...(typeof step === 'number' ? { step } : {}),
      ...(typeof total === 'number' ? { total_steps: total } : {}),
    });
  }

  private async list(
    path: string,
    field: string,
    signal: AbortSignal,
  ): Promise<string[] | { error: string }> {
    try {
      const items = await this.http.json<unknown>({ method: 'GET', path, signal, timeoutMs: 5_000 });
      if (!Array.isArray(items)) return { error: `${path} did not answer a list` };
      return items.flatMap(item =>
        isPlainObject(item) && typeof item[field] === 'string' ? [item[field]] : [],
      );
    } catch (error) {
      return { error: describeError(error) };
    }
  }
}

/** Registry entry of the `a1111` connector. */
export const a1111Connector = defineConnector<A1111Config>({
  name: 'a1111',
  version: VERSION,
  description: 'AUTOMATIC1111 Stable Diffusion WebUI over /sdapi/v1 (WORKER_A1111_*)',
  configSchema,
  jobSchema: a1111JobSchema,
  create: (config, deps) => new A1111Connector(config, deps.logger),
});
