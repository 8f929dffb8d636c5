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
  };
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
