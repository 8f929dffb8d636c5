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

/** What a finished `emp-worker` run printed. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they arrived. */
  output: string;
}

/** Runs `emp-worker <args>` to the end (killed after `timeoutMs`). */
export async function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<CliRun> {
  const proc = spawnCli(args, env);
  let stdout = '';
  let stderr = '';
  proc.child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  proc.child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs);
  const code = await proc.exited;
  clearTimeout(timer);
  return { code, stdout, stderr, output: proc.output() };
}

/** Starts a worker and waits for its `ready` line. */
export async function startWorker(env: NodeJS.ProcessEnv): Promise<Spawned> {
  const proc = spawnCli(['start'], env);
  await proc.waitForLine(/"message":"worker [^"]+ ready"/);
  return proc;
}
