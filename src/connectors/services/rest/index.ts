import type { Schema } from 'convict';
import type { Logger } from 'winston';
import { RestSyncConnector } from '../../protocols/rest-sync/base.js';
import { wholeJobCallTimeoutMs } from '../../protocols/http/service.js';
import {
  commonConnectorSchema,
  connectorEnv,
  type CommonConnectorConfig,
} from '../../../config/connector-schema.js';
import { defineConnector } from '../../definition.js';
import {
  describeAuth,
  effectiveBaseUrl,
  endpointPath,
  httpServiceSchema,
  healthEndpointSchema,
  type HealthEndpointConfig,
  publicUrl,
  type HttpServiceConfig,
} from '../../protocols/http/service-config.js';
import type { Capabilities, JobContext } from '../../types.js';
import { jsonObjectJobSchema } from '../../payload-schemas.js';
import type { JsonObject } from '../../../core/validate.js';

/** Job data (docs/schemas/rest.json). */
const jobSchema = jsonObjectJobSchema(
  'rest job: any JSON object, POSTed as { job_id, ...data } to WORKER_REST_BASE_URL + WORKER_REST_ENDPOINT',
);

/** Logged at start-up and shown by `emp-worker details rest`. */
export const VERSION = '1.0.0';

/** `rest` settings: `WORKER_REST_*` (docs/configuration.md). */
export interface RestConfig extends CommonConnectorConfig, HttpServiceConfig, HealthEndpointConfig {
  /** Path every job is POSTed to. */
  endpoint: string;
}

const configSchema: Schema<RestConfig> = {
  ...commonConnectorSchema('rest', { concurrency: 10, timeoutSeconds: 60 }),
  ...httpServiceSchema('rest', { baseUrl: 'http://localhost:8000' }),
  ...healthEndpointSchema('rest', '/health'),
  endpoint: {
    doc: 'Path below WORKER_REST_BASE_URL that every rest job is POSTed to.',
    format: endpointPath,
    default: '/api/process',
    env: connectorEnv('rest', 'ENDPOINT'),
  },
};

/**
 * Any JSON REST API, one call per job, configured only by `WORKER_REST_*`: the job data is
 * POSTed as `{ job_id, ...data }` to base URL + endpoint and the JSON answer is the output.
 */
export class RestConnector extends RestSyncConnector<JsonObject> {
  readonly name = 'rest';

  constructor(
    private readonly config: RestConfig,
    logger: Logger,
  ) {
    super({
      service: 'REST service',
      http: config,
      requestTimeoutMs: wholeJobCallTimeoutMs(config.timeout),
      healthEndpoint: config.healthEndpoint,
      endpoint: config.endpoint,
      logger,
    });
  }

  protected parseJob(data: unknown): JsonObject {
    jobSchema.parse(data);
    // The producer's own object goes to the service: every key as given, none added by parsing.
    return data as JsonObject;
  }

  protected buildRequestBody(job: JsonObject, ctx: JobContext): unknown {
    return { job_id: ctx.id, ...job };
  }

  async getCapabilities(): Promise<Capabilities> {
    return {
      rest_sync_version: VERSION,
      supports_synchronous: true,
      base_url: publicUrl(effectiveBaseUrl(this.config)),
      endpoint: this.config.endpoint,
      timeout: this.config.timeout,
      auth: describeAuth(this.config),
    };
  }
}

/** Registry entry of the `rest` connector. */
export const restConnector = defineConnector<RestConfig>({
  name: 'rest',
  version: VERSION,
  description: 'Any JSON REST API, one blocking call per job (WORKER_REST_*)',
  configSchema,
  jobSchema,
  create: (config, deps) => new RestConnector(config, deps.logger),
});
