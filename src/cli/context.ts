import fs from 'node:fs';
import { loadConfig, type AppConfig } from '../config/index.js';
import { MAX_JSON_DEPTH, nestingExceeds } from '../json/depth.js';
import { describeError } from '../logging/errors.js';

// Kept light on purpose: every command imports this module, so it loads no connector,
// got, ws, winston or BullMQ (each command loads what it needs; see main.ts).

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

/**
 * Loads `.env` (if present, without overriding the environment), then the validated config.
 * With `connectors`, every built-in connector's settings too (loads the connector registry,
 * and with it every connector's code); without, only the global keys (enough for commands
 * that never run a connector).
 */
export async function loadCliConfig(
  options: { connectors: boolean },
  env: NodeJS.ProcessEnv = process.env,
): Promise<AppConfig> {
  if (fs.existsSync('.env')) process.loadEnvFile('.env');
  if (!options.connectors) return loadConfig(env);
  const { loadConfigWithConnectors } = await import('../connectors/registry.js');
  return loadConfigWithConnectors(env);
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

/**
 * Fails fast, with the same one line `start` prints (REDIS_URL masked, how to start Redis),
 * when Redis cannot be reached: without it a command would wait on reconnects forever.
 */
export async function ensureRedis(config: AppConfig): Promise<void> {
  const { RedisUnavailableError, checkRedis } = await import('../redis/connection.js');
  try {
    await checkRedis(config.redis);
  } catch (error) {
    if (error instanceof RedisUnavailableError) throw new CliError(error.message, EXIT.failure);
    throw error;
  }
}
