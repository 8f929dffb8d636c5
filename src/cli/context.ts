import fs from 'node:fs';
import { secretValues, type AppConfig } from '../config/index.js';
import { loadConfigWithConnectors } from '../connectors/registry.js';
import { MAX_JSON_DEPTH, nestingExceeds } from '../json/depth.js';
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

/** Parses a JSON argument, naming it in the error; data nested too deeply for a worker is refused here. */
export function parseJsonArgument(text: string, what: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    throw new CliError(`${what} is not valid JSON: ${describeError(error)}`, EXIT.usage);
  }
  if (nestingExceeds(value)) {
    throw new CliError(
      `${what} is too deeply nested (more than ${MAX_JSON_DEPTH} levels of arrays or objects)`,
      EXIT.usage,
    );
  }
  return value;
}
