import path from 'node:path';
import { spawnCollecting, type Spawned } from './processes.js';
import { REDIS_URL } from './redis.js';

/** The compiled CLI (npm test builds it first). */
export const CLI = path.resolve('bin/emp-worker.js');

/** Environment every spawned CLI gets: the test Redis, JSON logs, test config. */
export function cliEnv(prefix: string, env: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'test',
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    LOG_FORMAT: 'json',
    LOG_LEVEL: 'info',
    ...env,
  };
}

/** Spawns `emp-worker <args>`. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv): Spawned {
  return spawnCollecting(process.execPath, [CLI, ...args], env);
}

/** Runs `emp-worker <args>` to the end; resolves with its exit code and output. */
export async function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 60_000,
): Promise<{ code: number | null; output: string }> {
  const proc = spawnCli(args, env);
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs);
  const code = await proc.exited;
  clearTimeout(timer);
  return { code, output: proc.output() };
}

/** Starts a worker and waits for its `ready` line. */
export async function startWorker(env: NodeJS.ProcessEnv): Promise<Spawned> {
  const proc = spawnCli(['start'], env);
  await proc.waitForLine(/"message":"worker [^"]+ ready"/);
  return proc;
}
