/**
 * `npm run bench:comfyui`: what the comfyui connector adds per job over ComfyUI's own
 * execution time, and what a job costs Redis.
 *
 * A real worker runtime (BullMQ, Redis) runs a 30-step model-free workflow
 * (EmptyImage → FakeSampler(30 steps) → SaveImage) against the fake ComfyUI, one job at a
 * time. Per job:
 * - overhead = worker processing time (BullMQ processedOn → finishedOn) minus the fake's
 *   own execution time (its worker taking the prompt → history written);
 * - Redis writes, counted with MONITOR on a dedicated connection, keeping only commands
 *   that touch this run's own key prefix (other sessions' traffic on the same Redis is
 *   excluded). Commands run inside BullMQ's Lua scripts are shown by MONITOR too, so both
 *   the round trips the worker makes and the key writes they cause are reported.
 * A bare BullMQ job (simulation, 0 ms) is measured the same way as the baseline.
 *
 * Env: REDIS_URL, BENCH_JOBS (default 40), BENCH_STEP_MS (default 20). Progress writes use
 * the production default PROGRESS_MIN_INTERVAL_MS=500. Counts include the worker's
 * background traffic (heartbeat, stalled checks) during the batch, divided by the jobs.
 */
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { loadConfigWithConnectors as loadConfig } from '../src/connectors/registry.js';
import { createLogger } from '../src/logging/logger.js';
import { WorkerRuntime } from '../src/worker/runtime.js';
import { FakeComfyUI } from '../test/fakes/comfyui/server.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const JOBS = Number(process.env.BENCH_JOBS ?? 40);
const STEP_MS = Number(process.env.BENCH_STEP_MS ?? 20);
const STEPS = 30;

const WRITE_COMMANDS = new Set(
  (
    'set setex psetex setnx getset getdel incr incrby decr decrby hset hmset hsetnx hincrby hdel del unlink expire pexpire ' +
    'lpush rpush lpop rpop lrem ltrim lset linsert rpoplpush lmove blmove brpoplpush zadd zrem zincrby zpopmin bzpopmin ' +
    'zremrangebyscore zremrangebyrank sadd srem smove xadd xtrim xdel publish rename renamenx'
  ).split(' '),
);

interface Counts {
  roundTrips: number;
  roundTripWrites: number;
  keyWrites: number;
  byCommand: Map<string, number>;
}

function newCounts(): Counts {
  return { roundTrips: 0, roundTripWrites: 0, keyWrites: 0, byCommand: new Map() };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? Number.NaN;
}

async function main(): Promise<void> {
  const prefix = process.env.BENCH_PREFIX ?? `bench-comfy-${process.pid}`;
  const fake = new FakeComfyUI();
  await fake.start();

  let counts = newCounts();
  const monitorClient = new Redis(REDIS_URL);
  const monitor = await monitorClient.monitor();
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (!args.some(arg => arg.includes(prefix))) return;
    const command = (args[0] ?? '').toLowerCase();
    const fromLua = source === 'lua' || source.includes('lua');
    if (!fromLua) {
      counts.roundTrips++;
      if (WRITE_COMMANDS.has(command) || command === 'evalsha' || command === 'eval') {
        counts.roundTripWrites++;
      }
    }
    if (WRITE_COMMANDS.has(command)) {
      counts.keyWrites++;
      const key = `${fromLua ? 'lua:' : ''}${command}`;
      counts.byCommand.set(key, (counts.byCommand.get(key) ?? 0) + 1);
    }
  });

  const connection = { url: REDIS_URL };
  /** A worker runtime with only `connector` enabled, so its idle siblings add no traffic. */
  async function startWorker(connector: string): Promise<WorkerRuntime> {
    const config = loadConfig({
      NODE_ENV: 'development',
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      CONNECTORS: connector,
      LOG_LEVEL: 'silent',
      PROGRESS_MIN_INTERVAL_MS: '500',
      WORKER_COMFYUI_HOST: '127.0.0.1',
      WORKER_COMFYUI_PORT: String(fake.port),
    });
    const runtime = new WorkerRuntime(config, createLogger({ level: 'error', format: 'json' }));
    await runtime.start();
    return runtime;
  }

  async function batch(
    queueName: string,
    data: (i: number) => unknown,
  ): Promise<{ processing: number[]; ids: string[]; counts: Counts }> {
    const queue = new Queue(queueName, { connection, prefix });
    const events = new QueueEvents(queueName, { connection, prefix });
    await events.waitUntilReady();
    // Warm-up (socket open, scripts loaded), not measured.
    await (await queue.add(queueName, data(-1))).waitUntilFinished(events, 30_000);
    await new Promise(resolve => setTimeout(resolve, 200));
    counts = newCounts();
    const processing: number[] = [];
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i++) {
      const job = await queue.add(queueName, data(i));
      await job.waitUntilFinished(events, 60_000);
      const done = await queue.getJob(job.id ?? '');
      processing.push((done?.finishedOn ?? 0) - (done?.processedOn ?? 0));
      ids.push(
        String(
          (done?.returnvalue as { output?: { prompt_id?: string } } | undefined)?.output?.prompt_id ?? '',
        ),
      );
    }
    await new Promise(resolve => setTimeout(resolve, 200));
    const measured = counts;
    await events.close();
    await queue.close();
    return { processing, ids, counts: measured };
  }

  const workflow = (i: number) => ({
    '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 64, batch_size: 1, color: (i + 2) * 997 } },
    '2': { class_type: 'FakeSampler', inputs: { images: ['1', 0], steps: STEPS, step_ms: STEP_MS } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'bench' } },
  });
  const requestsBefore = fake.requests.length;
  let runtime = await startWorker('comfyui');
  const comfy = await batch('comfyui', workflow);
  await runtime.stop();
  const httpPerJob = (fake.requests.length - requestsBefore) / (JOBS + 1);
  const overheads = comfy.processing
    .map((ms, i) => {
      const timing = fake.timings.get(comfy.ids[i] ?? '');
      return timing ? ms - (timing.ended - timing.started) : Number.NaN;
    })
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
  const fakeTimes = comfy.ids
    .map(id => fake.timings.get(id))
    .filter(t => t !== undefined)
    .map(t => t.ended - t.started)
    .sort((a, b) => a - b);
  runtime = await startWorker('simulation');
  const bare = await batch('simulation', () => ({ steps: 1, duration_ms: 0 }));
  await runtime.stop();
  await fake.close();
  monitor.disconnect();
  monitorClient.disconnect();
  const cleanup = new Redis(REDIS_URL);
  let cursor = '0';
  do {
    const [next, keys] = await cleanup.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
    cursor = next;
    if (keys.length) await cleanup.del(...keys);
  } while (cursor !== '0');
  await cleanup.quit();

  const perJob = (n: number) => (n / JOBS).toFixed(1);
  const top = (c: Counts) =>
    [...c.byCommand.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 8)
      .map(([command, n]) => `${command} ${perJob(n)}`)
      .join(', ');
  const result = {
    jobs: JOBS,
    steps: STEPS,
    step_ms: STEP_MS,
    node: process.version,
    fake_execution_ms: { median: percentile(fakeTimes, 50), p95: percentile(fakeTimes, 95) },
    worker_processing_ms: {
      median: percentile(
        [...comfy.processing].sort((a, b) => a - b),
        50,
      ),
      p95: percentile(
        [...comfy.processing].sort((a, b) => a - b),
        95,
      ),
    },
    overhead_ms: {
      median: percentile(overheads, 50),
      p95: percentile(overheads, 95),
      min: overheads[0],
      max: overheads.at(-1),
    },
    http_requests_per_job: httpPerJob,
    redis_comfyui: {
      round_trips: perJob(comfy.counts.roundTrips),
      round_trips_that_write: perJob(comfy.counts.roundTripWrites),
      key_writes: perJob(comfy.counts.keyWrites),
      top: top(comfy.counts),
    },
    redis_bare_job: {
      round_trips: perJob(bare.counts.roundTrips),
      round_trips_that_write: perJob(bare.counts.roundTripWrites),
      key_writes: perJob(bare.counts.keyWrites),
      top: top(bare.counts),
    },
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main().then(
  () => process.exit(0),
  error => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
