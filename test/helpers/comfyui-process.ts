import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { REDIS_URL } from './redis.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin/emp-worker.js');

/** A real `emp-worker` process and its JSON log lines. */
export interface WorkerProcess {
  proc: ChildProcess;
  lines: string[];
  /** Resolves with the first log line matching `pattern` (seen before or after the call). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or signal) once the process ended. */
  exited: Promise<number | string | null>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** The env every spawned worker gets: Redis, its own prefix, JSON logs, fast checks. */
export function workerEnv(
  prefix: string,
  comfyPort: number,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    CONNECTORS: 'comfyui',
    LOG_FORMAT: 'json',
    LOG_LEVEL: 'info',
    NODE_ENV: 'test',
    WORKER_COMFYUI_HOST: '127.0.0.1',
    WORKER_COMFYUI_PORT: String(comfyPort),
    WORKER_COMFYUI_WATCHDOG: '1',
    WORKER_COMFYUI_POLL_INTERVAL: '0.2',
    WORKER_HEALTH_CHECK_INTERVAL: '0.5',
    PROGRESS_MIN_INTERVAL_MS: '50',
    ...extra,
  };
}

/** Spawns `node bin/emp-worker.js <args>` with exactly `env`. */
export function spawnCli(args: string[], env: Record<string, string>): WorkerProcess {
  const proc = spawn(process.execPath, [BIN, ...args], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(line);
    for (const wake of waiters) wake();
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  const exited = new Promise<number | string | null>(resolve =>
    proc.once('exit', (code, signal) => resolve(code ?? signal)),
  );
  return {
    proc,
    lines,
    exited,
    async waitForLine(pattern, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = lines.find(line => pattern.test(line));
        if (found) return found;
        if (proc.exitCode !== null || proc.signalCode !== null) {
          throw new Error(`process ended before ${pattern}: ${lines.slice(-5).join('\n')}`);
        }
        if (Date.now() > deadline) {
          throw new Error(
            `no line matching ${pattern} within ${timeoutMs} ms: ${lines.slice(-5).join('\n')}`,
          );
        }
        await new Promise<void>(resolve => {
          const wake = (): void => {
            waiters.delete(wake);
            resolve();
          };
          waiters.add(wake);
          setTimeout(wake, 100);
        });
      }
    },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await exited;
    },
  };
}

/** Starts `emp-worker start` and waits for its `ready` line. */
export async function startWorker(env: Record<string, string>): Promise<WorkerProcess> {
  const worker = spawnCli(['start'], env);
  await worker.waitForLine(/"message":"worker .* ready"/);
  return worker;
}

/** EmptyImage → FakeSampler (steps) → SaveImage: a small model-free workflow with sampler progress. */
export function samplerWorkflow(
  steps: number,
  stepMs: number,
  prefix: string,
  color = 0x336699,
): Record<string, unknown> {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 32, height: 32, batch_size: 1, color } },
    '2': { class_type: 'FakeSampler', inputs: { images: ['1', 0], steps, step_ms: stepMs } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: prefix } },
  };
}
