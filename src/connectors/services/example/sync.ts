/**
 * The second worked example of docs/writing-a-connector.md: a connector for "Summa", a
 * made-up summarisation service that answers each request when the work is done (one
 * blocking call per job), on the `RestSyncConnector` base. Compiled and tested
 * (test/integration/example-sync-connector.test.ts) so the guide cannot rot; not in the
 * registry.
 *
 * The Summa API:
 * - `POST /v1/summaries` `{ text, max_words }` → `{ summary: { text, words } }` (4xx with `{ detail }` on bad input)
 * - `GET /v1/health` is its health check.
 */
import type { Schema } from 'convict';
import type { Logger } from 'winston';
import { commonConnectorSchema, type CommonConnectorConfig } from '../../../config/connector-schema.js';
import * as z from 'zod';
import { payloadSchema } from '../../../core/schema.js';
import { webhookField } from '../../../webhooks/job-webhook.js';
import { ProtocolError } from '../../../core/errors.js';
import { defineConnector } from '../../definition.js';
import type { HttpResponse } from '../../protocols/http/client.js';
import { wholeJobCallTimeoutMs } from '../../protocols/http/service.js';
import { httpServiceSchema, type HttpServiceConfig } from '../../protocols/http/service-config.js';
import { RestSyncConnector } from '../../protocols/rest-sync/base.js';
import { isPlainObject } from '../../../core/validate.js';

/** Shown by `details` and in the heartbeat (stated once, on the registry entry below). */
export const SUMMA_VERSION = '1.0.0';

/** Summa settings: `WORKER_SUMMA_BASE_URL`, `_API_KEY`, `_CONCURRENCY`, `_TIMEOUT`... */
export type SummaConfig = CommonConnectorConfig & HttpServiceConfig;

/** The Summa keys (exported for the guide's test). */
export const summaConfigSchema: Schema<SummaConfig> = {
  ...commonConnectorSchema('summa', { concurrency: 2, timeoutSeconds: 300 }),
  ...httpServiceSchema('summa', { baseUrl: 'http://localhost:9400' }),
};

/** Summa job data, defined once: validation, the published JSON Schema, `emp-worker schema`. */
export const summaJobSchema = payloadSchema(
  z.strictObject({
    text: z.string().min(1).describe('The text to summarise'),
    max_words: z.int().min(1).max(1000).optional().describe('Longest summary in words (default 100)'),
    webhook: webhookField.optional(),
  }),
);

/** A Summa job, validated. */
export interface SummaJob {
  text: string;
  maxWords: number;
}

/** Summa summaries as BullMQ jobs: `{ text, max_words? }` in, `{ summary, words }` out. */
export class SummaConnector extends RestSyncConnector<SummaJob> {
  readonly name = 'summa';

  constructor(config: SummaConfig, logger: Logger) {
    super({
      service: 'Summa', // the name in messages, errors and health lines
      http: config, // base URL, USE_SSL, credentials and response cap from WORKER_SUMMA_*
      requestTimeoutMs: wholeJobCallTimeoutMs(config.timeout), // the call is the whole job
      healthEndpoint: '/v1/health', // what checkHealth GETs
      endpoint: '/v1/summaries', // where every job is POSTed (getMethod's default)
      logger,
    });
  }

  protected parseJob(data: unknown): SummaJob {
    const body = summaJobSchema.parse(data);
    return { text: body.text, maxWords: body.max_words ?? 100 };
  }

  protected buildRequestBody(job: SummaJob): unknown {
    return { text: job.text, max_words: job.maxWords };
  }

  /** Optional: the default returns the answer's JSON as it is. */
  protected override parseResponse(response: HttpResponse): unknown {
    const body: unknown = response.json();
    const summary = isPlainObject(body) ? body.summary : undefined;
    if (!isPlainObject(summary) || typeof summary.text !== 'string') {
      throw new ProtocolError('Summa answered without a "summary.text"');
    }
    return { summary: summary.text, words: summary.words };
  }
}

/** Registry entry of the sync example. */
export const summaConnector = defineConnector<SummaConfig>({
  name: 'summa',
  version: SUMMA_VERSION,
  description: 'Summa summaries (the sync example of docs/writing-a-connector.md)',
  configSchema: summaConfigSchema,
  jobSchema: summaJobSchema,
  create: (config, deps) => new SummaConnector(config, deps.logger),
});
