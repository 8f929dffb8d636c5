import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { REDIS_URL } from './redis.js';

/** The compiled CLI (npm test builds it first). */
export const CLI = path.resolve('bin/emp-worker.js');

/** A running `emp-worker` process and everything it printed. */
export interface CliProcess {
  child: ChildProcess;
  /** stdout and stderr, as printed so far. */
  output(): string;
  /** Resolves when the output matches, rejects if the process exits first or the time runs out. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
}

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
export function spawnCli(args: string[], env: NodeJS.ProcessEnv): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer): void => {
    text += chunk.toString('utf8');
    for (const listener of listeners) listener();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | string>(resolve => {
    child.on('exit', (code, signal) => {
      resolve(code ?? signal ?? 'unknown');
      for (const listener of listeners) listener();
    });
  });
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  return {
    child,
    output: () => text,
    exited,
    kill: signal => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal ?? 'SIGKILL');
    },
    waitFor(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const match = text.match(pattern);
          if (match) {
            cleanup();
            resolve(match);
          } else if (hasExited || child.exitCode !== null) {
            cleanup();
            reject(new Error(`process exited before printing ${String(pattern)}; output:\n${text}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${String(pattern)}; output:\n${text}`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
  };
}

/** Runs `emp-worker <args>` to the end; resolves with its exit code and output. */
export async function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<{ code: number | string; output: string }> {
  const proc = spawnCli(args, env);
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  const code = await proc.exited;
  clearTimeout(timer);
  return { code, output: proc.output() };
}

/** Starts a worker and waits for its `ready` line. */
export async function startWorker(env: NodeJS.ProcessEnv): Promise<CliProcess> {
  const proc = spawnCli(['start'], env);
  await proc.waitFor(/"message":"worker [^"]+ ready"/);
  return proc;
}
