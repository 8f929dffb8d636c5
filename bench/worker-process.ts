import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { Redis } from 'ioredis';
import { deletePrefix } from '../test/helpers/redis.js';

/** Shared pieces of the benchmarks that drive a real worker process (`bin/emp-worker.js start`). */

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms));

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>(resolve => server.close(() => resolve()));
  return port;
}

export interface WorkerProcess {
  child: ChildProcess;
  log: () => string;
  stop(): Promise<void>;
}

/** Starts a worker with `env` (must include WORKER_HTTP_PORT) and waits until /readyz says 200. */
export async function startWorker(env: Record<string, string>): Promise<WorkerProcess> {
  let log = '';
  // BENCH_WORKER_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the worker.
  const nodeArgs = (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(arg => arg !== '');
  const child = spawn(process.execPath, [...nodeArgs, 'bin/emp-worker.js', 'start'], {
    env: { ...process.env, NODE_ENV: 'production', LOG_FORMAT: 'json', LOG_LEVEL: 'warn', REDIS_URL, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const port = env.WORKER_HTTP_PORT;
  const deadline = Date.now() + 20_000;
  // LOG_LEVEL=warn hides the ready line: /readyz says when every service is healthy.
  for (;;) {
    if (child.exitCode !== null) throw new Error(`worker exited: ${log}`);
    try {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (response.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`worker not ready: ${log}`);
    await sleep(100);
  }
  return {
    child,
    log: () => log,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise(resolve => child.once('exit', resolve));
    },
  };
}

/** CPU seconds (user + system) a process has used so far (Linux /proc; clock ticks of 10 ms). */
export function cpuSecondsOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may contain spaces: utime and stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Resident set size of a process, bytes (Linux /proc). */
export function rssOf(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  return kb * 1024;
}

/** RSS samples of a process every 50 ms, until `stop()`. */
export function sampleRss(pid: number): { samples: number[]; stop: () => void } {
  const samples: number[] = [];
  const timer = setInterval(() => {
    try {
      samples.push(rssOf(pid));
    } catch {
      // process gone
    }
  }, 50);
  return { samples, stop: () => clearInterval(timer) };
}

/** A worker metric from its /metrics, or undefined. */
export async function metric(port: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find(l => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').at(-1)) : undefined;
}

/** Deletes every key of a benchmark's prefix. */
export async function cleanup(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  await deletePrefix(redis, prefix);
  await redis.quit();
}

export function mb(bytes: number): number {
  return round(bytes / 1024 / 1024, 1);
}

export function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

export { median } from './stats.js';
