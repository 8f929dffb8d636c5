import fs from 'node:fs';
import { secretValues, type AppConfig } from '../config/index.js';
import { loadConfigWithConnectors } from '../connectors/registry.js';
import { createLogger } from '../logging/logger.js';
import type { Logger } from 'winston';
import { startTracing, stopTracing, tracingConfigured } from '../telemetry/index.js';
import { describeError } from '../logging/errors.js';

/** Exit codes of the CLI. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** A failure the CLI reports as one line and an exit code. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failure,
  ) {
    super(message);
  }
}

/** Loads `.env` (if present, without overriding the environment), then the validated config. */
export function loadCliConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  if (fs.existsSync('.env')) process.loadEnvFile('.env');
  return loadConfigWithConnectors(env);
}

/** The process logger for a loaded config, masking its secrets. */
export function cliLogger(config: AppConfig): Logger {
  return createLogger({ level: config.log.level, format: config.log.format, secrets: secretValues(config) });
}

/**
 * Runs a one-shot command with tracing when an OTLP endpoint is configured (so `enqueue`
 * starts the trace a job carries), flushing spans before the command returns. Notes go to
 * stderr at warn level: stdout carries the command's output.
 */
export async function withCliTracing<T>(config: AppConfig, command: () => Promise<T>): Promise<T> {
  if (!tracingConfigured(config.telemetry)) return command();
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

/** Parses a JSON argument, naming it in the error. */
export function parseJsonArgument(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new CliError(`${what} is not valid JSON: ${describeError(error)}`, EXIT.usage);
  }
}
