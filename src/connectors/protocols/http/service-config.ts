import type { Schema } from 'convict';
import { connectorEnv, serviceAuthSchema, type ServiceAuthConfig } from '../../../config/connector-schema.js';
import { formats } from '../../../config/formats.js';
import type { HttpAuth } from './client.js';
import { isSafeRelativePath } from './path.js';

export { isSafeRelativePath };

/** Where an HTTP service is and how to authenticate to it (shared by `rest`, `rest_async`, `a1111`). */
export interface HttpServiceConfig extends ServiceAuthConfig {
  /** Base URL every endpoint is resolved against. */
  baseUrl: string;
  /** Forces https:// on an http:// base URL (`WORKER_<NAME>_USE_SSL`). */
  useSsl: boolean;
  /** Largest response body read from the service; larger ones fail the job (ERR_PROTOCOL). */
  maxResponseBytes: number;
}

/** The health-check path setting of a connector configured entirely by variables. */
export interface HealthEndpointConfig {
  /** Path the health check GETs (any 2xx is healthy); empty probes the base URL. */
  healthEndpoint: string;
}

/** Default cap on a response body: large enough for a batch of big base64 images. */
export const DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024;

/**
 * The base URL, USE_SSL, response cap and auth keys of an HTTP service, as
 * `WORKER_<NAME>_BASE_URL`, `_USE_SSL`, `_MAX_RESPONSE_BYTES`, `_API_KEY`, `_USERNAME`, `_PASSWORD`.
 */
export function httpServiceSchema(
  connector: string,
  defaults: { baseUrl: string },
): Schema<HttpServiceConfig> {
  return {
    baseUrl: {
      doc: `Base URL of the ${connector} service (http:// or https://).`,
      format: formats.httpUrl,
      default: defaults.baseUrl,
      env: connectorEnv(connector, 'BASE_URL'),
    },
    useSsl: {
      doc: `Use https:// for the ${connector} service even when the base URL says http://.`,
      format: formats.boolean,
      default: false,
      env: connectorEnv(connector, 'USE_SSL'),
    },
    maxResponseBytes: {
      doc: `Largest ${connector} response body the worker reads; a larger one fails the job.`,
      format: formats.positiveInt,
      default: DEFAULT_MAX_RESPONSE_BYTES,
      env: connectorEnv(connector, 'MAX_RESPONSE_BYTES'),
    },
    ...serviceAuthSchema(connector),
  };
}

/** `WORKER_<NAME>_HEALTH_ENDPOINT`, with the connector's default path. */
export function healthEndpointSchema(
  connector: string,
  defaultPath: string,
  doc = `Path the ${connector} health check GETs (any 2xx is healthy); empty GETs the base URL.`,
): Schema<HealthEndpointConfig> {
  return {
    healthEndpoint: {
      doc,
      format: optionalEndpointPath,
      default: defaultPath,
      env: connectorEnv(connector, 'HEALTH_ENDPOINT'),
    },
  };
}

/** A convict format for endpoint settings: a path below the base URL, never a URL or `..`. */
export function endpointPath(value: unknown): void {
  if (typeof value !== 'string' || !isSafeRelativePath(value)) {
    throw new Error('must be a path below the base URL such as /api/process (no scheme, no "//", no "..")');
  }
}

/** The same rule, for an endpoint setting that may be empty (meaning "not used"). */
export function optionalEndpointPath(value: unknown): void {
  if (value === '') return;
  endpointPath(value);
}

/** The base URL to use: `useSsl` upgrades http:// to https:// (and nothing else). */
export function effectiveBaseUrl(config: Pick<HttpServiceConfig, 'baseUrl' | 'useSsl'>): string {
  if (!config.useSsl) return config.baseUrl;
  const url = new URL(config.baseUrl);
  if (url.protocol === 'http:') url.protocol = 'https:';
  return url.toString();
}

/** The credentials for {@link HttpClient}, empty values left out. */
export function httpAuth(config: ServiceAuthConfig): HttpAuth {
  return {
    ...(config.apiKey ? { apiKey: config.apiKey } : {}),
    ...(config.username ? { username: config.username } : {}),
    ...(config.password ? { password: config.password } : {}),
  };
}

/** What `details` may show about the auth in use, never the secret itself. */
export function describeAuth(config: ServiceAuthConfig): string {
  if (config.apiKey) return 'bearer';
  if (config.username || config.password) return 'basic';
  return 'none';
}

/** A URL without any user:password part, for capabilities and logs. */
export function publicUrl(value: string): string {
  const url = new URL(value);
  url.username = '';
  url.password = '';
  return url.toString();
}
