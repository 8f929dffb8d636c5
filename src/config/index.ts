import fs from 'node:fs';
import path from 'node:path';
import convict from 'convict';
import { connectorEnv } from './connector-schema.js';
import { registerFormats } from './formats.js';
import type { Schema } from 'convict';
import { mediaConfigProblems } from './media.js';
import {
  DEFAULT_REDIS_URL,
  buildSchema,
  defaultWorkerId,
  type AppConfig,
  type ConnectorSchemas,
} from './schema.js';
import { describeError } from '../logging/errors.js';
import { findKeyProblems, undeclaredKeys, type KeyProblem } from './validate.js';

export type { AppConfig, ConnectorSchemas } from './schema.js';

/** A configuration problem; its message is one line per bad key, naming the variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Env names that stand in for another when it is unset (docs/configuration.md). */
const ALIASES: Readonly<Record<string, string>> = { CONNECTORS: 'WORKER_CONNECTORS' };

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** Folder of the per-environment JSON files (default: `config/` of this package). */
  configDir?: string;
  /**
   * Each connector's config keys, by name (the registry's `connectorSchemas`). Without them
   * only the global keys are read and `CONNECTORS` is not checked against known names:
   * enough for commands that never run a connector.
   */
  connectorSchemas?: ConnectorSchemas;
}

/** The schema each loaded config was validated against, for redaction and secret scrubbing. */
const schemaOfConfig = new WeakMap<AppConfig, Schema<AppConfig>>();

/**
 * Reads, validates and freezes the configuration. Every `WORKER_<NAME>_<KEY>` variable
 * falls back to `<NAME>_<KEY>`. Throws {@link ConfigError} naming each bad variable.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, options: LoadConfigOptions = {}): AppConfig {
  registerFormats();
  const schema = buildSchema(options.connectorSchemas);
  const envNames = collectEnvNames(schema);
  const resolvedEnv = withFallbacks(env, envNames);
  let config: convict.Config<AppConfig>;
  try {
    config = convict<AppConfig>(schema, { env: resolvedEnv, args: [] });
  } catch (error) {
    throw new ConfigError(`Invalid configuration: ${describeError(error)}`);
  }
  const configDir = options.configDir ?? defaultConfigDir();
  const file = path.join(configDir, `${config.get('env')}.json`);
  if (fs.existsSync(file)) config.load(readConfigFile(file, schema));
  const problems = findKeyProblems(schema, config.getProperties());
  if (problems.length > 0) {
    throw new ConfigError(
      `Invalid configuration: ${problems.map(p => describeProblem(p, resolvedEnv)).join('; ')}`,
    );
  }
  try {
    // A backstop for checks not mirrored in src/config/validate.ts; its text is shown as is.
    config.validate({ allowed: 'strict' });
  } catch (error) {
    throw new ConfigError(`Invalid configuration: ${describeError(error)}`);
  }
  const value = config.getProperties();
  if (value.workerId === '') value.workerId = defaultWorkerId();
  checkRedisMode(value);
  const mediaProblems = mediaConfigProblems(value.media);
  if (mediaProblems.length > 0) throw new ConfigError(`Invalid configuration: ${mediaProblems.join('; ')}`);
  if (options.connectorSchemas) checkConnectorNames(value.enabledConnectors, options.connectorSchemas, env);
  if (value.webhooks.url !== '' && value.webhooks.secret === '') {
    throw new ConfigError(
      'Invalid configuration: WEBHOOK_URL is set but WEBHOOK_SECRET is empty; every webhook is signed, so set WEBHOOK_SECRET=whsec_<base64 key>',
    );
  }
  checkRateLimits(value);
  const frozen = deepFreeze(value);
  schemaOfConfig.set(frozen, schema);
  return frozen;
}

/**
 * Redis is one server, a Sentinel group or a Cluster, never two at once; a Cluster keeps
 * each queue's keys in one slot only when the prefix carries a hash tag.
 */
function checkRedisMode(config: AppConfig): void {
  const { redis } = config;
  const sentinels = redis.sentinels.trim() !== '';
  const cluster = redis.clusterNodes.trim() !== '';
  const fail = (text: string): never => {
    throw new ConfigError(`Invalid configuration: ${text}`);
  };
  if (sentinels && cluster) {
    fail('REDIS_SENTINELS and REDIS_CLUSTER_NODES are both set: choose Sentinel or Cluster, not both');
  }
  const mode = sentinels ? 'REDIS_SENTINELS' : cluster ? 'REDIS_CLUSTER_NODES' : undefined;
  if (mode && redis.url !== DEFAULT_REDIS_URL) {
    fail(
      `REDIS_URL and ${mode} are both set: ${mode} replaces REDIS_URL; unset REDIS_URL (put the password in REDIS_PASSWORD)`,
    );
  }
  if (sentinels && redis.sentinelName.trim() === '') {
    fail('REDIS_SENTINELS is set without REDIS_SENTINEL_NAME: name the master the Sentinels monitor');
  }
  if (!sentinels && (redis.sentinelName !== '' || redis.sentinelPassword !== '')) {
    fail(
      `${redis.sentinelName !== '' ? 'REDIS_SENTINEL_NAME' : 'REDIS_SENTINEL_PASSWORD'} is set without REDIS_SENTINELS: list the Sentinels as host:port,host:port`,
    );
  }
  if (cluster && !hasHashTag(config.queuePrefix)) {
    fail(
      `QUEUE_PREFIX="${config.queuePrefix}" (queuePrefix) has no hash tag, but REDIS_CLUSTER_NODES is set: on Redis Cluster every key of a queue must hash to one slot (BullMQ's scripts touch several keys at once), so set QUEUE_PREFIX to a tagged prefix such as {${config.queuePrefix.replace(/[{}]/g, '') || 'emp'}}`,
    );
  }
}

/** A rate limit needs both its count and its window. */
function checkRateLimits(config: AppConfig): void {
  for (const [name, slice] of Object.entries(config.connectors)) {
    if (!isRecord(slice) || !('rateLimitMax' in slice)) continue;
    const max = slice.rateLimitMax ?? null;
    const duration = slice.rateLimitDuration ?? null;
    if ((max === null) === (duration === null)) continue;
    const [set, missing] =
      max === null ? ['RATE_LIMIT_DURATION', 'RATE_LIMIT_MAX'] : ['RATE_LIMIT_MAX', 'RATE_LIMIT_DURATION'];
    const env = (key: string): string => connectorEnv(name, key);
    throw new ConfigError(
      `Invalid configuration: ${env(set)} is set without ${env(missing)}: a rate limit is a number of jobs per window; set both`,
    );
  }
}

/** A Redis Cluster hash tag: the text between the first `{` and the next `}`, not empty. */
export function hasHashTag(prefix: string): boolean {
  const open = prefix.indexOf('{');
  const close = open < 0 ? -1 : prefix.indexOf('}', open + 1);
  return close > open + 1;
}

function checkConnectorNames(
  enabled: readonly string[],
  known: ConnectorSchemas,
  env: NodeJS.ProcessEnv,
): void {
  const unknown = enabled.find(name => !Object.hasOwn(known, name));
  if (unknown === undefined) return;
  const variable =
    env.CONNECTORS !== undefined || env.WORKER_CONNECTORS === undefined ? 'CONNECTORS' : 'WORKER_CONNECTORS';
  throw new ConfigError(
    `Invalid configuration: ${variable}="${env[variable] ?? ''}" (enabledConnectors): unknown connector "${unknown}" (known: ${Object.keys(known).join(', ')})`,
  );
}

/** Shown by {@link redactedConfig} for a sensitive key that has no value. */
export const UNSET = '(not set)';

/**
 * The config as text with sensitive values masked (convict's own redaction); a sensitive
 * key left empty shows {@link UNSET}, so "is my API key set?" has an answer.
 */
export function redactedConfig(appConfig: AppConfig): Record<string, unknown> {
  registerFormats();
  const config = convict<AppConfig>(schemaFor(appConfig), { env: {}, args: [] });
  config.load(appConfig);
  const redacted = JSON.parse(config.toString()) as Record<string, unknown>;
  const markUnset = (schemaNode: Record<string, unknown>, valueNode: unknown, out: unknown): void => {
    if (!isRecord(out)) return;
    for (const [key, child] of Object.entries(schemaNode)) {
      if (!isRecord(child)) continue;
      const childValue = isRecord(valueNode) ? valueNode[key] : undefined;
      if (!('default' in child)) markUnset(child, childValue, out[key]);
      else if (child.sensitive === true && (childValue === '' || childValue === undefined)) out[key] = UNSET;
    }
  };
  markUnset(schemaFor(appConfig), appConfig, redacted);
  return redacted;
}

/** Every value marked `sensitive` in the schema, for scrubbing logs. */
export function secretValues(appConfig: AppConfig): string[] {
  const secrets: string[] = [];
  const walk = (schemaNode: Record<string, unknown>, valueNode: unknown): void => {
    for (const [key, child] of Object.entries(schemaNode)) {
      if (!isRecord(child)) continue;
      const childValue = isRecord(valueNode) ? valueNode[key] : undefined;
      if ('default' in child) {
        if (child.sensitive === true && typeof childValue === 'string' && childValue !== '') {
          const password = passwordOfUrl(childValue);
          if (password) secrets.push(password, childValue);
          else if (!/^rediss?:\/\//.test(childValue)) secrets.push(childValue);
        }
      } else {
        walk(child, childValue);
      }
    }
  };
  walk(schemaFor(appConfig), appConfig);
  return secrets;
}

function schemaFor(appConfig: AppConfig): Schema<AppConfig> {
  return schemaOfConfig.get(appConfig) ?? buildSchema();
}

/** Env variable of every key, by dotted key path. */
function collectEnvNames(schema: unknown, prefix = ''): Map<string, string> {
  const names = new Map<string, string>();
  if (!isRecord(schema)) return names;
  for (const [key, child] of Object.entries(schema)) {
    if (!isRecord(child)) continue;
    const keyPath = prefix ? `${prefix}.${key}` : key;
    if ('default' in child) {
      if (typeof child.env === 'string') names.set(keyPath, child.env);
    } else {
      for (const [k, v] of collectEnvNames(child, keyPath)) names.set(k, v);
    }
  }
  return names;
}

function withFallbacks(env: NodeJS.ProcessEnv, envNames: Map<string, string>): NodeJS.ProcessEnv {
  const resolved: NodeJS.ProcessEnv = {};
  for (const [keyPath, name] of envNames) {
    const fallback = fallbackEnvName(keyPath, name);
    const value = env[name] ?? (fallback === undefined ? undefined : env[fallback]);
    if (value !== undefined) resolved[name] = value;
  }
  return resolved;
}

/**
 * The variable that stands in for `name` when it is unset: `CONNECTORS` ← `WORKER_CONNECTORS`,
 * and every per-connector `WORKER_<NAME>_<KEY>` ← `<NAME>_<KEY>` (the original worker's names).
 */
export function fallbackEnvName(keyPath: string, name: string): string | undefined {
  if (ALIASES[name]) return ALIASES[name];
  if (keyPath.startsWith('connectors.') && name.startsWith('WORKER_')) return name.slice('WORKER_'.length);
  return undefined;
}

/** Variables whose values are never shown, whatever the schema says. */
const SECRET_ENV = /PASSWORD|API_KEY|REDIS_URL|SECRET|TOKEN|CONNECTION_STRING/;

/** `VAR="value" (key.path): must be …`, the value left out when it is secret or not from the environment. */
function describeProblem(problem: KeyProblem, env: NodeJS.ProcessEnv): string {
  if (!problem.env) return `${problem.keyPath}: ${problem.message}`;
  const raw = env[problem.env];
  const hidden = raw === undefined || problem.sensitive || SECRET_ENV.test(problem.env);
  return `${problem.env}${hidden ? '' : `="${raw}"`} (${problem.keyPath}): ${problem.message}`;
}

/** A per-environment config file, parsed and checked for keys the schema does not declare. */
function readConfigFile(file: string, schema: Schema<AppConfig>): unknown {
  let value: unknown;
  try {
    value = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`Invalid configuration: ${file} is not readable JSON: ${describeError(error)}`);
  }
  const unknown = undeclaredKeys(schema, value);
  if (unknown.length > 0) {
    throw new ConfigError(
      `Invalid configuration: ${file} sets ${unknown.map(key => `"${key}"`).join(', ')}, which ${unknown.length === 1 ? 'is not a setting' : 'are not settings'} (see docs/configuration.md)`,
    );
  }
  return value;
}

function defaultConfigDir(): string {
  // src/config or dist/src/config → the package root's config/
  let dir = path.dirname(new URL(import.meta.url).pathname);
  for (let i = 0; i < 4; i++) {
    const candidate = path.join(dir, 'config');
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  return path.resolve('config');
}

function passwordOfUrl(value: string): string | undefined {
  try {
    const url = new URL(value);
    return url.password ? decodeURIComponent(url.password) : undefined;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
