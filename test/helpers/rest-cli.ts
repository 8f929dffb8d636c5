import { runCli as runCliWithEnv, type CliRun } from './cli.js';
import { REDIS_URL } from './redis.js';

/** Runs `node bin/emp-worker.js <args>` on a queue prefix, with quiet logs. */
export function runCli(
  args: string[],
  prefix: string,
  env: Record<string, string> = {},
  timeoutMs = 40_000,
): Promise<CliRun> {
  return runCliWithEnv(
    args,
    { ...process.env, NODE_ENV: 'test', REDIS_URL, QUEUE_PREFIX: prefix, LOG_LEVEL: 'error', ...env },
    timeoutMs,
  );
}
