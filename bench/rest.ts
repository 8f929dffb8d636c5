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
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import {
  cleanup,
  cpuSecondsOf,
  freePort,
  mb,
  metric,
  REDIS_URL,
  round,
  rssOf,
  sampleRss,
  sleep,
  startWorker,
} from './worker-process.js';
import { startFakeRest } from '../test/fakes/rest/server.js';
import { startFakeA1111 } from '../test/fakes/a1111/server.js';

const JOBS = Number(process.env.BENCH_JOBS ?? 10_000);
const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 50);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 100);
const A1111_JOBS = Number(process.env.BENCH_A1111_JOBS ?? 100);
const IMAGE_BYTES = Number(process.env.BENCH_IMAGE_BYTES ?? 4 * 1024 * 1024);

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
  const { samples, stop: stopSampling } = sampleRss(pid);
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
    stopSampling();
    await queue.close();
    await worker.stop();
    await fake.close();
    await cleanup(prefix);
  }
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
