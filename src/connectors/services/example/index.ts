/**
 * The worked example of docs/writing-a-connector.md: a connector for "Lingo", a made-up
 * translation service with a submit → poll → fetch API. It is compiled and tested
 * (test/integration/example-connector.test.ts) so the guide cannot rot. It is not in the
 * registry: a real connector adds one line there (step 4 of the guide).
 *
 * The Lingo API:
 * - `POST /v2/translations` `{ text, target_lang }` → `{ translation: { uid, state } }`
 * - `GET /v2/translations/{uid}` → `{ translation: { uid, state: QUEUED|WORKING|DONE|FAILED, percent?, failure? } }`
 * - `GET /v2/translations/{uid}/text` → `{ text }`
 * - `DELETE /v2/translations/{uid}` cancels; `GET /v2/ping` is its health check.
 */
import type { Schema } from 'convict';
import type { Logger } from 'winston';
import {
  commonConnectorSchema,
  connectorEnv,
  type CommonConnectorConfig,
} from '../../../config/connector-schema.js';
import { formats } from '../../../config/formats.js';
import * as z from 'zod';
import { ProtocolError } from '../../../core/errors.js';
import { defineConnector } from '../../definition.js';
import { RestAsyncConnector, fillJobId, type AsyncJobStatus } from '../../protocols/rest-async/base.js';
import { httpServiceSchema, type HttpServiceConfig } from '../../protocols/http/service-config.js';
import type { Capabilities } from '../../types.js';
import { payloadSchema } from '../../../core/schema.js';
import { webhookField } from '../../../webhooks/job-webhook.js';
import { isPlainObject } from '../../../core/validate.js';

// Step 2: a VERSION (logged at start-up) and the config: WORKER_LINGO_* variables.
/** Logged at start-up and shown by `emp-worker details lingo`. */
export const VERSION = '1.0.0';

/** Lingo settings: `WORKER_LINGO_BASE_URL`, `_API_KEY`, `_POLL_INTERVAL`, `_CONCURRENCY`, `_TIMEOUT`... */
export interface LingoConfig extends CommonConnectorConfig, HttpServiceConfig {
  /** Seconds between status polls. */
  pollInterval: number;
}

/** The Lingo keys (exported for the guide's test; other connectors keep it private). */
export const configSchema: Schema<LingoConfig> = {
  ...commonConnectorSchema('lingo', { concurrency: 4, timeoutSeconds: 120 }),
  ...httpServiceSchema('lingo', { baseUrl: 'http://localhost:9300' }),
  pollInterval: {
    doc: 'Seconds between Lingo status polls.',
    format: formats.positiveSeconds,
    default: 1,
    env: connectorEnv('lingo', 'POLL_INTERVAL'),
  },
};

/** A Lingo job, validated. */
export interface LingoJob {
  text: string;
  targetLang: string;
}

/** Longest text one job may send (Lingo's own limit). */
export const MAX_TEXT_LENGTH = 10_000;

/**
 * The job data, defined once: it validates each job (errors name the JSON pointer of the
 * bad field) and is the published JSON Schema (`emp-worker schema lingo`).
 */
export const lingoJobSchema = payloadSchema(
  z
    .strictObject({
      text: z.string().min(1).max(MAX_TEXT_LENGTH).describe('The text to translate'),
      target_lang: z
        .string()
        .regex(/^[a-z]{2}$/)
        .describe('a two-letter language code such as "de"'),
      webhook: webhookField.optional(),
    })
    .describe('lingo job: one translation'),
);

// Step 3: the class, on the base that matches the service's protocol, with its hooks.
/** Lingo translations as BullMQ jobs: `{ text, target_lang }` in, `{ text }` out. */
export class LingoConnector extends RestAsyncConnector<LingoJob> {
  readonly name = 'lingo';

  constructor(
    private readonly config: LingoConfig,
    logger: Logger,
  ) {
    super({
      service: 'Lingo',
      http: config,
      requestTimeoutMs: 30_000,
      healthEndpoint: '/v2/ping',
      submitEndpoint: '/v2/translations',
      cancelMethod: 'DELETE',
      pollIntervalMs: config.pollInterval * 1000,
      logger,
    });
  }

  /** Bad data fails the job at once (no retry) with a message naming the field's JSON pointer. */
  protected parseJob(data: unknown): LingoJob {
    const { text, target_lang: targetLang } = lingoJobSchema.parse(data);
    return { text, targetLang };
  }

  protected buildSubmitBody(job: LingoJob): unknown {
    return { text: job.text, target_lang: job.targetLang };
  }

  protected getStatusEndpoint(jobId: string): string {
    return fillJobId('/v2/translations/{job_id}', jobId);
  }

  protected override getResultEndpoint(jobId: string): string {
    return fillJobId('/v2/translations/{job_id}/text', jobId);
  }

  protected override getCancelEndpoint(jobId: string): string {
    return fillJobId('/v2/translations/{job_id}', jobId);
  }

  /** Lingo nests its answers under `translation` and calls the id `uid`. */
  protected override parseJobIdFromResponse(body: unknown): string | undefined {
    const uid = translationOf(body)?.uid;
    return typeof uid === 'string' ? uid : undefined;
  }

  /** Lingo's states, in the base's terms; its `percent` becomes the job's progress. */
  protected override parseStatusFromResponse(body: unknown): AsyncJobStatus {
    const translation = translationOf(body);
    if (!translation) throw new ProtocolError('Lingo status answer has no "translation" object');
    const percent = typeof translation.percent === 'number' ? translation.percent : undefined;
    const progress = percent === undefined ? {} : { progress: percent };
    switch (translation.state) {
      case 'QUEUED':
        return { state: 'queued', message: "waiting in Lingo's queue" };
      case 'WORKING':
        return { state: 'running', ...progress, message: `translating (${percent ?? '?'} %)` };
      case 'DONE':
        return { state: 'completed', ...progress };
      case 'FAILED': {
        const reason = isPlainObject(translation.failure) ? translation.failure.reason : undefined;
        return { state: 'failed', message: typeof reason === 'string' ? reason : 'no reason given' };
      }
      default:
        throw new ProtocolError(`Lingo answered an unknown state ${JSON.stringify(translation.state)}`);
    }
  }

  protected override parseResultFromResponse(body: unknown): unknown {
    if (!isPlainObject(body) || typeof body.text !== 'string') return undefined; // the base fails "no result"
    return { text: body.text };
  }

  async getCapabilities(): Promise<Capabilities> {
    return { lingo_version: VERSION, poll_interval: this.config.pollInterval };
  }
}

function translationOf(body: unknown): Record<string, unknown> | undefined {
  return isPlainObject(body) && isPlainObject(body.translation) ? body.translation : undefined;
}

// Step 4: the registry entry. Adding `lingo: lingoConnector` to src/connectors/registry.ts
// makes `CONNECTORS=lingo` work.
/** Registry entry of the example connector. */
export const lingoConnector = defineConnector<LingoConfig>({
  name: 'lingo',
  version: VERSION,
  description: 'Lingo translations (the worked example of docs/writing-a-connector.md)',
  configSchema,
  jobSchema: lingoJobSchema,
  create: (config, deps) => new LingoConnector(config, deps.logger),
});
