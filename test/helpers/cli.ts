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
  /** Killed because it ran longer than the caller allowed. */
  timedOut: boolean;
}

/** Runs `emp-worker <args>` to the end (killed after `timeoutMs`). */
export async function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<CliRun> {
  const proc = spawnCli(args, env);
  let stdout = '';
  let stderr = '';
  proc.child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  proc.child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.child.kill('SIGKILL');
  }, timeoutMs);
  const code = await proc.exited;
  clearTimeout(timer);
  return { code, stdout, stderr, output: proc.output(), timedOut };
}

/**
 * Asserts a run's exit code; on a mismatch the failure shows what the CLI printed (a bare
 * `expect(code).toBe(0)` would show only the two numbers).
 */
export function expectExit(run: CliRun, expected: number): void {
  if (run.code === expected) return;
  const how = run.timedOut ? 'was killed after its timeout' : `exited ${String(run.code)}`;
  throw new Error(
    `emp-worker ${how}, expected exit ${expected}.\n--- stdout ---\n${run.stdout}\n--- stderr ---\n${run.stderr}`,
  );
}

/** Starts a worker and waits for its `ready` line. */
export async function startWorker(env: NodeJS.ProcessEnv): Promise<Spawned> {
  const proc = spawnCli(['start'], env);
  await proc.waitForLine(/"message":"worker [^"]+ ready"/);
  return proc;
}
