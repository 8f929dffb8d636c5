import { redactedConfig, type AppConfig } from '../config/index.js';
import { describeLimits, rateLimiter, type CommonConnectorConfig } from '../config/connector-schema.js';
import { connectorNames, connectorRegistry } from '../connectors/registry.js';
import type { Capabilities, HealthResult } from '../connectors/types.js';
import { createLogger } from '../logging/logger.js';
import { Media } from '../media/media.js';
import type { StoreProbe } from '../media/stores/store.js';
import { CliError, EXIT } from './context.js';
import { describeError } from '../logging/errors.js';

/** What `emp-worker details <connector> --json` prints. */
export interface ConnectorDetails {
  connector: string;
  version: string;
  description: string;
  queue: string;
  concurrency: number;
  /** Queue-wide cap across replicas (WORKER_<NAME>_GLOBAL_CONCURRENCY), null when none. */
  global_concurrency: number | null;
  /** Queue-wide limiter (WORKER_<NAME>_RATE_LIMIT_MAX per _RATE_LIMIT_DURATION ms), null when none. */
  rate_limit: { max: number; duration_ms: number } | null;
  timeout_s: number;
  config: unknown;
  capabilities: Capabilities | { error: string };
  probe: HealthResult;
  /** The worker's output store and input limits (secrets masked), and a probe of the store. */
  media: { output_store: string; config: unknown; probe: StoreProbe };
}

/** Builds the connector, asks its service for capabilities and health, and redacts secrets. */
export async function readDetails(config: AppConfig, name: string): Promise<ConnectorDetails> {
  const definition = connectorRegistry[name];
  if (!definition) {
    throw new CliError(`unknown connector "${name}" (known: ${connectorNames().join(', ')})`, EXIT.usage);
  }
  const slice = config.connectors[name] as CommonConnectorConfig;
  const logger = createLogger({ level: 'error', format: 'json' });
  const connector = definition.create(slice, { logger });
  try {
    let capabilities: ConnectorDetails['capabilities'];
    try {
      capabilities = (await connector.getCapabilities?.(AbortSignal.timeout(10_000))) ?? {};
    } catch (error) {
      capabilities = { error: describeError(error) };
    }
    let probe: HealthResult;
    try {
      probe = connector.checkHealth
        ? await connector.checkHealth(AbortSignal.timeout(10_000))
        : { healthy: true, detail: 'no external service' };
    } catch (error) {
      probe = { healthy: false, detail: describeError(error) };
    }
    const redacted = redactedConfig(config) as { connectors?: Record<string, unknown>; media?: unknown };
    const media = await Media.create(config.media);
    let storeProbe: StoreProbe;
    try {
      storeProbe = await media.probe(AbortSignal.timeout(10_000));
    } catch (error) {
      storeProbe = { ok: false, detail: error instanceof Error ? error.message : String(error) };
    } finally {
      media.close();
    }
    const limiter = rateLimiter(slice);
    return {
      connector: name,
      version: definition.version,
      description: definition.description,
      queue: slice.jobType,
      concurrency: slice.concurrency,
      global_concurrency: slice.globalConcurrency,
      rate_limit: limiter ? { max: limiter.max, duration_ms: limiter.duration } : null,
      timeout_s: slice.timeout,
      config: redacted.connectors?.[name],
      capabilities,
      probe,
      media: { output_store: media.describe(), config: redacted.media, probe: storeProbe },
    };
  } finally {
    await connector.close?.();
  }
}

/** `emp-worker details <connector>`: prints the details and a verdict; exit 1 when a probe (service or store) fails. */
export async function detailsCommand(
  config: AppConfig,
  name: string,
  json: boolean,
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  const details = await readDetails(config, name);
  if (json) {
    out.write(`${JSON.stringify(details, null, 2)}\n`);
  } else {
    out.write(`${details.connector} ${details.version} — ${details.description}\n`);
    out.write(
      `  queue: ${details.queue}  concurrency: ${details.concurrency}  timeout: ${details.timeout_s} s\n`,
    );
    out.write(`  across replicas: ${describeLimits(details.global_concurrency, details.rate_limit)}\n`);
    out.write(`  config: ${JSON.stringify(details.config)}\n`);
    out.write(`  capabilities: ${JSON.stringify(details.capabilities)}\n`);
    out.write(`  service: ${details.probe.healthy ? 'OK' : 'UNREACHABLE'} — ${details.probe.detail}\n`);
    out.write(
      `  output store: ${details.media.probe.ok ? 'OK' : 'FAILING'} — ${details.media.probe.detail}\n`,
    );
  }
  return details.probe.healthy && details.media.probe.ok ? EXIT.ok : EXIT.failure;
}
