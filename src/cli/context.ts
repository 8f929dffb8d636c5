import fs from 'node:fs';
import { secretValues, type AppConfig } from '../config/index.js';
import { loadConfigWithConnectors } from '../connectors/registry.js';
import { createLogger } from '../logging/logger.js';
import type { Logger } from 'winston';
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

/** Parses a JSON argument, naming it in the error. */
export function parseJsonArgument(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new CliError(`${what} is not valid JSON: ${describeError(error)}`, EXIT.usage);
  }
}
