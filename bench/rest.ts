/**
 * `npm run bench:rest`: two measurements of the REST connectors, each against one real
 * worker process (`node bin/emp-worker.js start`) on a local Redis.
 *
 * 1. Throughput: `rest` at WORKER_REST_CONCURRENCY=100 against a fake that answers in
 *    50 ms. The ideal is concurrency ÷ latency = 2,000 jobs/s; the target is ≥ 0.8 of it.
 * 2. Memory: the worker's RSS while 100 A1111 results of 4 MB each pass through it (the
 *    worker must not keep them): sampled from /proc every 50 ms, plus heap after the run.
 *
 * Env: BENCH_JOBS (default 10000), BENCH_LATENCY_MS (50), BENCH_CONCURRENCY (100),
 * BENCH_A1111_JOBS (100), BENCH_IMAGE_BYTES (4 MB), REDIS_URL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { deletePrefix } from '../test/helpers/redis.js';
import { startFakeRest } from '../test/fakes/rest/server.js';
import { startFakeA1111 } from '../test/fakes/a1111/server.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const JOBS = Number(process.env.BENCH_JOBS ?? 10_000);
const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 50);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 100);
const A1111_JOBS = Number(process.env.BENCH_A1111_JOBS ?? 100);
const IMAGE_BYTES = Number(process.env.BENCH_IMAGE_BYTES ?? 4 * 1024 * 1024);

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms));

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>(resolve => server.close(() => resolve()));
  return port;
}

interface Worker {
  child: ChildProcess;
  log: () => string;
  stop(): Promise<void>;
}

async function startWorker(env: Record<string, string>): Promise<Worker> {
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

/** Resident set size of a process, bytes (Linux /proc). */
function rssOf(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  return kb * 1024;
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSecondsOf(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100;
}

async function metric(port: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find(l => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').at(-1)) : undefined;
}

async function waitForCompleted(queue: Queue, total: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await queue.getJobCounts('completed', 'failed');
    if ((counts.completed ?? 0) + (counts.failed ?? 0) >= total) {
      if ((counts.failed ?? 0) > 0) throw new Error(`${counts.failed} jobs failed`);
      return;
    }
    if (Date.now() > deadline) throw new Error(`only ${counts.completed} of ${total} jobs completed in time`);
    await sleep(20);
  }
}

async function cleanup(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  await deletePrefix(redis, prefix);
  await redis.quit();
}

async function addJobs(queue: Queue, name: string, count: number, data: unknown): Promise<void> {
  for (let i = 0; i < count; i += 1000) {
    const batch = Array.from({ length: Math.min(1000, count - i) }, () => ({ name, data }));
    await queue.addBulk(batch);
  }
}

async function throughput(): Promise<Record<string, number>> {
  const prefix = `bench-rest-${randomUUID().slice(0, 8)}`;
  const fake = await startFakeRest({ latencyMs: LATENCY_MS, record: false });
  const port = String(await freePort());
  const worker = await startWorker({
    QUEUE_PREFIX: prefix,
    CONNECTORS: 'rest',
    WORKER_HTTP_PORT: port,
    WORKER_REST_BASE_URL: fake.url,
    WORKER_REST_CONCURRENCY: String(CONCURRENCY),
    WORKER_KEEP_COMPLETED_COUNT: String(JOBS * 2),
  });
  const queue = new Queue('rest', { connection: { url: REDIS_URL }, prefix });
  try {
    // Warm-up: connections, JIT.
    const warm = Math.min(1000, JOBS);
    await addJobs(queue, 'rest', warm, { warm: true });
    await waitForCompleted(queue, warm, 60_000);
    const pid = worker.child.pid ?? 0;
    const cpuBefore = cpuSecondsOf(pid);
    const started = performance.now();
    await addJobs(queue, 'rest', JOBS, { text: 'hello', n: 1 });
    const enqueuedMs = performance.now() - started;
    await waitForCompleted(queue, warm + JOBS, 300_000);
    const seconds = (performance.now() - started) / 1000;
    const cpu = cpuSecondsOf(pid) - cpuBefore;
    const ideal = CONCURRENCY / (LATENCY_MS / 1000);
    return {
      jobs: JOBS,
      latency_ms: LATENCY_MS,
      concurrency: CONCURRENCY,
      seconds: round(seconds, 2),
      enqueue_ms: Math.round(enqueuedMs),
      jobs_per_s: Math.round(JOBS / seconds),
      ideal_jobs_per_s: ideal,
      ratio: round(JOBS / seconds / ideal, 2),
      worker_cpu_s: round(cpu, 2),
      worker_cpu_ms_per_job: round((cpu * 1000) / JOBS, 3),
      worker_cpu_utilisation: round(cpu / seconds, 2),
    };
  } finally {
    await queue.close();
    await worker.stop();
    await fake.close();
    await cleanup(prefix);
  }
}

async function memory(): Promise<Record<string, number>> {
  const prefix = `bench-a1111-${randomUUID().slice(0, 8)}`;
  const fake = await startFakeA1111({ stepMs: 5, imageBase64Bytes: IMAGE_BYTES });
  const port = String(await freePort());
  const worker = await startWorker({
    QUEUE_PREFIX: prefix,
    CONNECTORS: 'a1111',
    WORKER_HTTP_PORT: port,
    WORKER_A1111_BASE_URL: fake.url,
    // Keep Redis small: only the last few 4 MB results stay in it.
    WORKER_KEEP_COMPLETED_COUNT: '3',
  });
  const queue = new Queue('a1111', { connection: { url: REDIS_URL }, prefix });
  const pid = worker.child.pid ?? 0;
  const samples: number[] = [];
  const sampler = setInterval(() => {
    try {
      samples.push(rssOf(pid));
    } catch {
      // process gone
    }
  }, 50);
  try {
    const idle = rssOf(pid);
    const payload = { payload: { prompt: 'bench', steps: 2 } };
    let done = 0;
    const rssAt: Record<string, number> = {};
    for (const checkpoint of [A1111_JOBS / 4, A1111_JOBS / 2, A1111_JOBS]) {
      const count = Math.round(checkpoint) - done;
      const events = [];
      for (let i = 0; i < count; i++) events.push({ name: 'a1111', data: payload });
      await queue.addBulk(events);
      // completed count is capped by WORKER_KEEP_COMPLETED_COUNT, so wait on the worker's metric instead
      const deadline = Date.now() + 300_000;
      for (;;) {
        const completed = (await metric(port, 'emp_jobs_completed_total')) ?? 0;
        if (completed >= done + count) break;
        if (Date.now() > deadline) throw new Error('a1111 jobs did not finish');
        await sleep(50);
      }
      done += count;
      rssAt[`rss_after_${done}_mb`] = mb(rssOf(pid));
    }
    await sleep(2000);
    const heapUsed = (await metric(port, 'emp_process_nodejs_heap_size_used_bytes')) ?? 0;
    return {
      jobs: A1111_JOBS,
      result_mb: round(IMAGE_BYTES / 1024 / 1024, 1),
      total_passed_mb: Math.round((A1111_JOBS * IMAGE_BYTES) / 1024 / 1024),
      rss_idle_mb: mb(idle),
      rss_peak_mb: mb(Math.max(...samples)),
      ...rssAt,
      rss_end_mb: mb(rssOf(pid)),
      heap_used_end_mb: mb(heapUsed),
    };
  } finally {
    clearInterval(sampler);
    await queue.close();
    await worker.stop();
    await fake.close();
    await cleanup(prefix);
  }
}

function mb(bytes: number): number {
  return round(bytes / 1024 / 1024, 1);
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

async function main(): Promise<void> {
  const which = process.argv[2] ?? 'all';
  process.stdout.write(
    `machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}, load ${os
      .loadavg()
      .map(l => l.toFixed(2))
      .join(' ')}\n`,
  );
  if (which === 'all' || which === 'throughput') {
    const result = await throughput();
    process.stdout.write(`rest throughput: ${JSON.stringify(result)}\n`);
    process.stdout.write(
      `  ${result.jobs_per_s} jobs/s of an ideal ${result.ideal_jobs_per_s} = ${result.ratio} (target ≥ 0.8) ${(result.ratio ?? 0) >= 0.8 ? 'MET' : 'MISSED'}\n`,
    );
  }
  if (which === 'all' || which === 'memory') {
    const result = await memory();
    process.stdout.write(`a1111 memory: ${JSON.stringify(result)}\n`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
