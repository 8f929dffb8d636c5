import type { Schema } from 'convict';
import type { Logger } from 'winston';
import {
  commonConnectorSchema,
  connectorEnv,
  type CommonConnectorConfig,
} from '../../../config/connector-schema.js';
import { formats } from '../../../config/formats.js';
import { defineConnector } from '../../definition.js';
import { RestAsyncConnector, fillJobId } from '../../protocols/rest-async/base.js';
import {
  describeAuth,
  effectiveBaseUrl,
  endpointPath,
  healthEndpointSchema,
  httpServiceSchema,
  optionalEndpointPath,
  publicUrl,
  type HealthEndpointConfig,
  type HttpServiceConfig,
} from '../../protocols/http/service-config.js';
import type { Capabilities, JobContext } from '../../types.js';
import { jsonObjectJobSchema } from '../../payload-schemas.js';
import type { JsonObject } from '../../../core/validate.js';

/** Job data (docs/schemas/rest_async.json). */
const jobSchema = jsonObjectJobSchema(
  'rest_async job: any JSON object, submitted as { job_id, ...data } to WORKER_REST_ASYNC_SUBMIT_ENDPOINT',
);

/** Logged at start-up and shown by `emp-worker details rest_async`. */
export const VERSION = '1.0.0';

/** `rest_async` settings: `WORKER_REST_ASYNC_*` (docs/configuration.md). */
export interface RestAsyncConfig extends CommonConnectorConfig, HttpServiceConfig, HealthEndpointConfig {
  submitEndpoint: string;
  /** Template with `{job_id}`. */
  statusEndpoint: string;
  /** Template with `{job_id}`; empty: the status answer's `result` is the output. */
  resultEndpoint: string;
  /** Template with `{job_id}`; empty: the service has no cancel call. */
  cancelEndpoint: string;
  cancelMethod: 'POST' | 'DELETE';
  /** Seconds between status polls. */
  pollInterval: number;
  /** Seconds one submit/status/result call may take. */
  requestTimeout: number;
}

const configSchema: Schema<RestAsyncConfig> = {
  ...commonConnectorSchema('rest_async', { concurrency: 10, timeoutSeconds: 300 }),
  ...httpServiceSchema('rest_async', { baseUrl: 'http://localhost:8000' }),
  ...healthEndpointSchema('rest_async', '/health'),
  submitEndpoint: {
    doc: 'Path a rest_async job is POSTed to; the answer carries the service job id ("job_id" or "id").',
    format: endpointPath,
    default: '/api/submit',
    env: connectorEnv('rest_async', 'SUBMIT_ENDPOINT'),
  },
  statusEndpoint: {
    doc: 'Path polled for the status ({job_id} is replaced); answers {status, progress?, message?}.',
    format: endpointPath,
    default: '/api/status/{job_id}',
    env: connectorEnv('rest_async', 'STATUS_ENDPOINT'),
  },
  resultEndpoint: {
    doc: 'Path the result is fetched from once completed ({job_id} is replaced); empty: the status answer\'s "result".',
    format: optionalEndpointPath,
    default: '/api/result/{job_id}',
    env: connectorEnv('rest_async', 'RESULT_ENDPOINT'),
  },
  cancelEndpoint: {
    doc: 'Path called on cancel or timeout ({job_id} is replaced); empty: the service is not told.',
    format: optionalEndpointPath,
    default: '',
    env: connectorEnv('rest_async', 'CANCEL_ENDPOINT'),
  },
  cancelMethod: {
    doc: 'HTTP method of the cancel call.',
    format: ['POST', 'DELETE'],
    default: 'POST',
    env: connectorEnv('rest_async', 'CANCEL_METHOD'),
  },
  pollInterval: {
    doc: 'Seconds between status polls (a Retry-After from the service overrides it).',
    format: formats.positiveSeconds,
    default: 2,
    env: connectorEnv('rest_async', 'POLL_INTERVAL'),
  },
  requestTimeout: {
    doc: 'Seconds one submit, status or result call may take (WORKER_REST_ASYNC_TIMEOUT bounds the whole job).',
    format: formats.positiveSeconds,
    default: 30,
    env: connectorEnv('rest_async', 'REQUEST_TIMEOUT'),
  },
};

/**
 * Any submit → poll → result API, configured only by `WORKER_REST_ASYNC_*`: the job data
 * is submitted as `{ job_id, ...data }`, the status polled until it completes, and the
 * result's JSON is the output.
 */
export class RestAsyncRestConnector extends RestAsyncConnector<JsonObject> {
  readonly name = 'rest_async';

  constructor(
    private readonly config: RestAsyncConfig,
    logger: Logger,
  ) {
    super({
      service: 'REST async service',
      http: config,
      requestTimeoutMs: config.requestTimeout * 1000,
      healthEndpoint: config.healthEndpoint,
      pollIntervalMs: config.pollInterval * 1000,
      submitEndpoint: config.submitEndpoint,
      cancelMethod: config.cancelMethod,
      logger,
    });
  }

  protected parseJob(data: unknown): JsonObject {
    jobSchema.parse(data);
    // The producer's own object goes to the service: every key as given, none added by parsing.
    return data as JsonObject;
  }

  protected buildSubmitBody(job: JsonObject, ctx: JobContext): unknown {
    return { job_id: ctx.id, ...job };
  }

  protected getStatusEndpoint(jobId: string): string {
    return fillJobId(this.config.statusEndpoint, jobId);
  }

  protected override getResultEndpoint(jobId: string): string | undefined {
    return this.config.resultEndpoint === '' ? undefined : fillJobId(this.config.resultEndpoint, jobId);
  }

  protected override getCancelEndpoint(jobId: string): string | undefined {
    return this.config.cancelEndpoint === '' ? undefined : fillJobId(this.config.cancelEndpoint, jobId);
  }

  async getCapabilities(): Promise<Capabilities> {
    return {
      rest_async_version: VERSION,
      supports_asynchronous: true,
      base_url: publicUrl(effectiveBaseUrl(this.config)),
      submit_endpoint: this.config.submitEndpoint,
      status_endpoint: this.config.statusEndpoint,
      result_endpoint: this.config.resultEndpoint || null,
      cancel_endpoint: this.config.cancelEndpoint || null,
      timeout: this.config.timeout,
      poll_interval: this.config.pollInterval,
      auth: describeAuth(this.config),
    };
  }
}

/** Registry entry of the `rest_async` connector. */
export const restAsyncConnector = defineConnector<RestAsyncConfig>({
  name: 'rest_async',
  version: VERSION,
  description: 'Any submit → poll status → fetch result REST API (WORKER_REST_ASYNC_*)',
  configSchema,
  jobSchema,
  create: (config, deps) => new RestAsyncRestConnector(config, deps.logger),
});
