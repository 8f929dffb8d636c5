import type { Schema } from 'convict';
import { formats } from './formats.js';

/** Settings every connector has, whatever service it drives. */
export interface CommonConnectorConfig {
  /** Jobs this worker process runs at once for this connector. */
  concurrency: number;
  /** Seconds a job may run before it is aborted and the service told to stop. */
  timeout: number;
  /** The BullMQ queue the connector takes jobs from. */
  jobType: string;
  /** Jobs of the queue running at once across every replica (BullMQ global concurrency); null: no cap. */
  globalConcurrency: number | null;
  /** Jobs of the queue started per {@link rateLimitDuration} across every replica (BullMQ limiter). */
  rateLimitMax: number | null;
  /** Window of {@link rateLimitMax}, in milliseconds. */
  rateLimitDuration: number | null;
}

/** Credentials for a service: an API key (Bearer) wins over username and password (Basic). */
export interface ServiceAuthConfig {
  apiKey: string;
  username: string;
  password: string;
}

/** `WORKER_<NAME>_<KEY>`: the namespaced environment variable of a connector setting. */
export function connectorEnv(connector: string, key: string): string {
  return `WORKER_${connector.toUpperCase()}_${key}`;
}

/** The concurrency, timeout and job type keys, with the connector's own defaults. */
export function commonConnectorSchema(
  connector: string,
  defaults: { concurrency: number; timeoutSeconds: number },
): Schema<CommonConnectorConfig> {
  return {
    concurrency: {
      doc: `Jobs one worker process runs at once on the ${connector} queue.`,
      format: formats.positiveInt,
      default: defaults.concurrency,
      env: connectorEnv(connector, 'CONCURRENCY'),
    },
    timeout: {
      doc: `Seconds a ${connector} job may run before it is aborted (the service is told to stop).`,
      format: formats.positiveSeconds,
      default: defaults.timeoutSeconds,
      env: connectorEnv(connector, 'TIMEOUT'),
    },
    jobType: {
      doc: `The queue (job type) the ${connector} connector takes jobs from.`,
      format: nonEmptyString,
      default: connector,
      env: connectorEnv(connector, 'JOB_TYPE'),
    },
    globalConcurrency: {
      doc: `Most ${connector} jobs running at once across every worker replica (BullMQ queue-wide concurrency); empty: no cap beyond each replica's own.`,
      format: formats.optionalPositiveInt,
      default: null,
      env: connectorEnv(connector, 'GLOBAL_CONCURRENCY'),
    },
    rateLimitMax: {
      doc: `Most ${connector} jobs started per RATE_LIMIT_DURATION across every replica (BullMQ limiter); empty: no limit.`,
      format: formats.optionalPositiveInt,
      default: null,
      env: connectorEnv(connector, 'RATE_LIMIT_MAX'),
    },
    rateLimitDuration: {
      doc: `Window of the ${connector} rate limit in milliseconds (required with RATE_LIMIT_MAX).`,
      format: formats.optionalPositiveInt,
      default: null,
      env: connectorEnv(connector, 'RATE_LIMIT_DURATION'),
    },
  };
}

/** The limiter to give BullMQ, when both halves of the rate limit are set. */
export function rateLimiter(config: CommonConnectorConfig): { max: number; duration: number } | undefined {
  return config.rateLimitMax !== null && config.rateLimitDuration !== null
    ? { max: config.rateLimitMax, duration: config.rateLimitDuration }
    : undefined;
}

/** `global concurrency 2, rate limit 5 per 1000 ms`, or `no queue-wide limits`. */
export function describeLimits(
  globalConcurrency: number | null,
  rateLimit: { max: number; duration_ms: number } | null,
): string {
  const parts = [
    ...(globalConcurrency !== null ? [`global concurrency ${globalConcurrency}`] : []),
    ...(rateLimit ? [`rate limit ${rateLimit.max} per ${rateLimit.duration_ms} ms`] : []),
  ];
  return parts.length > 0 ? parts.join(', ') : 'no queue-wide limits';
}

/** API key, username and password keys of a service, all marked sensitive. */
export function serviceAuthSchema(connector: string): Schema<ServiceAuthConfig> {
  return {
    apiKey: {
      doc: `API key for ${connector}, sent as "Authorization: Bearer <key>".`,
      format: String,
      default: '',
      env: connectorEnv(connector, 'API_KEY'),
      sensitive: true,
    },
    username: {
      doc: `Username for HTTP Basic auth to ${connector} (used when no API key is set).`,
      format: String,
      default: '',
      env: connectorEnv(connector, 'USERNAME'),
    },
    password: {
      doc: `Password for HTTP Basic auth to ${connector}.`,
      format: String,
      default: '',
      env: connectorEnv(connector, 'PASSWORD'),
      sensitive: true,
    },
  };
}

/** A convict format for strings that must not be empty. */
export function nonEmptyString(value: unknown): void {
  if (typeof value !== 'string' || value.trim() === '') throw new Error('must not be empty');
}
