/**
 * Runtime benchmark (npm run bench): raw BullMQ with a no-op processor against
 * emp-worker's simulation connector with duration_ms 0, at concurrency 1 and 50, on one
 * Redis; then the worker's RSS idle and with 1,000 jobs in flight. Prints a markdown table.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { deletePrefix } from '../test/helpers/redis.js';
import { median } from './stats.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

interface Child {
  process: ChildProcess;
  ready: Promise<void>;
}

function spawnChild(args: string[], env: NodeJS.ProcessEnv, readyPattern: RegExp): Child {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      text += chunk.toString();
      if (readyPattern.test(text)) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', code => reject(new Error(`child exited (${code}) before ready:\n${text}`)));
  });
  return { process: child, ready };
}

async function stopChild(child: Child): Promise<void> {
  if (child.process.exitCode !== null) return;
  const exited = new Promise(resolve => child.process.once('exit', resolve));
  child.process.kill('SIGTERM');
  const timer = setTimeout(() => child.process.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

function startEmpWorker(prefix: string, concurrency: number): Child {
  return spawnChild(
    [path.join(root, 'bin/emp-worker.js'), 'start'],
    {
      PATH: process.env.PATH,
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
      CONNECTORS: 'simulation',
      WORKER_SIMULATION_CONCURRENCY: String(concurrency),
      WORKER_KEEP_COMPLETED_COUNT: '1000000',
      WORKER_ID: `bench-${prefix}`,
    },
    /"message":"worker \S+ ready"/,
  );
}

function startRawWorker(prefix: string, concurrency: number): Child {
  return spawnChild(
    [path.join(root, 'dist/bench/raw-worker.js'), REDIS_URL, prefix, 'simulation', String(concurrency)],
    { PATH: process.env.PATH },
    /ready/,
  );
}

/** Starts the consumer, adds `jobs` jobs, and measures until all are completed. */
async function throughput(
  kind: 'raw' | 'emp',
  concurrency: number,
  jobs: number,
  redis: Redis,
): Promise<number> {
  const prefix = `bench-${kind}-${randomUUID().slice(0, 6)}`;
  const child = kind === 'raw' ? startRawWorker(prefix, concurrency) : startEmpWorker(prefix, concurrency);
  const queue = new Queue('simulation', { connection: { url: REDIS_URL }, prefix });
  try {
    await child.ready;
    const data = { steps: 1, duration_ms: 0 };
    const started = performance.now();
    for (let i = 0; i < jobs; i += 1000) {
      await queue.addBulk(
        Array.from({ length: Math.min(1000, jobs - i) }, () => ({ name: 'simulation', data })),
      );
    }
    while ((await queue.getCompletedCount()) < jobs) {
      if ((await queue.getFailedCount()) > 0) throw new Error(`${kind}: jobs failed`);
      await new Promise(resolve => setTimeout(resolve, 20));
    }
    return jobs / ((performance.now() - started) / 1000);
  } finally {
    await stopChild(child);
    await queue.close();
    await deletePrefix(redis, prefix);
  }
}

function rssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

/** RSS of an idle worker, and with 1,000 simulation jobs running at once. */
async function memory(redis: Redis): Promise<{ idle: number; inFlight: number }> {
  const prefix = `bench-rss-${randomUUID().slice(0, 6)}`;
  const child = startEmpWorker(prefix, 1000);
  const queue = new Queue('simulation', { connection: { url: REDIS_URL }, prefix });
  try {
    await child.ready;
    await new Promise(resolve => setTimeout(resolve, 2000));
    const pid = child.process.pid ?? 0;
    const idle = rssMiB(pid);
    await queue.addBulk(
      Array.from({ length: 1000 }, (_, i) => ({
        name: 'simulation',
        data: { steps: 10, duration_ms: 20_000, result: { i } },
      })),
    );
    while ((await queue.getActiveCount()) < 1000) await new Promise(resolve => setTimeout(resolve, 50));
    await new Promise(resolve => setTimeout(resolve, 3000));
    const inFlight = rssMiB(pid);
    return { idle, inFlight };
  } finally {
    child.process.kill('SIGKILL');
    await queue.close();
    await deletePrefix(redis, prefix);
  }
}

async function main(): Promise<void> {
  const redis = new Redis(REDIS_URL);
  const info = await redis.info('server');
  const redisVersion = /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
  const rows: string[] = [];
  const ratios: Record<number, number> = {};
  for (const [concurrency, jobs] of [
    [1, 3000],
    [50, 20000],
  ] as const) {
    const raw: number[] = [];
    const emp: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      raw.push(await throughput('raw', concurrency, jobs, redis));
      emp.push(await throughput('emp', concurrency, jobs, redis));
    }
    const ratio = median(emp) / median(raw);
    ratios[concurrency] = ratio;
    rows.push(
      `| ${concurrency} | ${jobs} | ${median(raw).toFixed(0)} | ${median(emp).toFixed(0)} | ${ratio.toFixed(2)} | ${raw.map(v => v.toFixed(0)).join(', ')} / ${emp.map(v => v.toFixed(0)).join(', ')} |`,
    );
  }
  const rss = await memory(redis);
  await redis.quit();
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  process.stdout.write(
    [
      `Machine: ${os.cpus().length} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, Redis ${redisVersion} on loopback, median of ${RUNS} runs.`,
      '',
      '| concurrency | jobs | raw BullMQ jobs/s | emp-worker jobs/s | ratio | runs (raw / emp) |',
      '|---|---|---|---|---|---|',
      ...rows,
      '',
      `Worker RSS: idle ${rss.idle.toFixed(0)} MiB; with 1,000 simulation jobs in flight ${rss.inFlight.toFixed(0)} MiB.`,
      `Target (emp-worker ≥ 0.85 × raw at concurrency 50): ${(ratios[50] ?? 0) >= 0.85 ? 'met' : 'MISSED'} (${(ratios[50] ?? 0).toFixed(2)}).`,
      '',
    ].join('\n'),
  );
}

await main();
