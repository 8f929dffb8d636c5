import type { AppConfig } from '../config/index.js';
import { startTracing, stopTracing, tracingConfigured } from '../telemetry/index.js';

/**
 * Runs a one-shot command with tracing when an OTLP endpoint is configured (so `enqueue`
 * starts the trace its job carries), flushing spans before the command returns. Without an
 * endpoint it loads nothing. Notes go to stderr at warn level: stdout carries the output.
 */
export async function withCliTracing<T>(config: AppConfig, command: () => Promise<T>): Promise<T> {
  if (!tracingConfigured(config.telemetry)) return command();
  const [{ createLogger }, { secretValues }] = await Promise.all([
    import('../logging/logger.js'),
    import('../config/index.js'),
  ]);
  const logger = createLogger({
    level: 'warn',
    format: config.log.format,
    secrets: secretValues(config),
    stream: process.stderr,
  });
  await startTracing(config.telemetry, logger);
  try {
    return await command();
  } finally {
    await stopTracing();
  }
}
