/**
 * Runtime benchmark (npm run bench): no-op jobs through raw BullMQ workers (BullMQ's
 * default options, and with each of emp-worker's per-job choices added) and through
 * emp-worker's simulation connector (one step, duration_ms 0, no output), at concurrency
 * 50 and 1, on one Redis.
 * For each consumer: throughput, worker CPU per job (/proc/<pid>/stat) and Redis CPU per
 * job (INFO cpu) in the steady state (after BENCH_WARMUP unmeasured jobs, so start-up and
 * JIT compilation are not charged to the jobs), medians of BENCH_RUNS interleaved runs;
 * then the worker's RSS idle and with 1,000 jobs in flight. Prints markdown tables.
 *
 * BENCH_RUNS (default 5), BENCH_JOBS_50 / BENCH_JOBS_1 (jobs per run), BENCH_WARMUP
 * (default 2,000), BENCH_ONLY (comma list of consumer names), BENCH_MEMORY=0 skips the RSS part.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MetricsTime, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { deletePrefix } from '../test/helpers/redis.js';
import { median } from './stats.js';
import { cpuSecondsOf, rssOf } from './worker-process.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const JOBS: Record<number, number> = {
  50: Number(process.env.BENCH_JOBS_50 ?? 10_000),
  1: Number(process.env.BENCH_JOBS_1 ?? 10_000),
};
/** Jobs each consumer runs before a measured run: per-job cost is the steady state's. */
const WARMUP_JOBS = Number(process.env.BENCH_WARMUP ?? 2_000);
/** How long Redis's background CPU rate is sampled before each run. */
const IDLE_SAMPLE_MS = 500;

/** emp-worker's removal policy and metrics, as raw BullMQ worker options. */
const EMP_REMOVAL = { removeOnComplete: { age: 86_400, count: 1000 }, removeOnFail: { age: 604_800 } };
const EMP_METRICS = { metrics: { maxDataPoints: MetricsTime.ONE_WEEK } };

/** One consumer the benchmark compares. */
interface Consumer {
  name: string;
  what: string;
  kind: 'raw' | 'emp';
  /** Raw: extra worker options. Emp: extra environment. */
  options: Record<string, unknown>;
  /** Job data, when not {@link NO_OUTPUT_JOB}. */
  data?: Record<string, unknown>;
}

/**
 * A no-op job: one step, no wait, and no output (`result: null`), like the raw worker's
 * processor, which returns nothing. emp-worker still stores its result envelope
 * `{status, connector, output: null}`; the raw worker stores no value at all.
 */
const NO_OUTPUT_JOB = { steps: 1, duration_ms: 0, result: null };

const CONSUMERS: Consumer[] = [
  { name: 'raw-default', what: "raw BullMQ, BullMQ's default options", kind: 'raw', options: {} },
  { name: 'raw+metrics', what: 'raw BullMQ + BullMQ metrics', kind: 'raw', options: EMP_METRICS },
  {
    name: 'raw+removal',
    what: "raw BullMQ + emp-worker's removal policy (1 day / 1,000 jobs)",
    kind: 'raw',
    options: EMP_REMOVAL,
  },
  {
    name: 'raw-like-emp',
    what: "raw BullMQ with emp-worker's default worker options",
    kind: 'raw',
    options: { ...EMP_REMOVAL, ...EMP_METRICS, maxStalledCount: 2 },
  },
  {
    name: 'emp-keep-all',
    what: 'emp-worker, completed jobs kept, BullMQ metrics off (like-for-like with raw-default)',
    kind: 'emp',
    options: { WORKER_REMOVE_COMPLETED: 'false', WORKER_BULLMQ_METRICS: 'false' },
  },
  {
    name: 'emp-output',
    what: 'emp-keep-all, jobs returning the simulation\'s default output `{"steps":1,"duration_ms":0}`',
    kind: 'emp',
    options: { WORKER_REMOVE_COMPLETED: 'false', WORKER_BULLMQ_METRICS: 'false' },
    data: { steps: 1, duration_ms: 0 },
  },
  { name: 'emp-default', what: 'emp-worker with its default options', kind: 'emp', options: {} },
];

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

function startEmpWorker(prefix: string, concurrency: number, env: Record<string, unknown> = {}): Child {
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
      WORKER_ID: `bench-${prefix}`,
      ...Object.fromEntries(Object.entries(env).map(([key, value]) => [key, String(value)])),
    },
    /"message":"worker \S+ ready"/,
  );
}

function startConsumer(consumer: Consumer, prefix: string, concurrency: number): Child {
  if (consumer.kind === 'emp') return startEmpWorker(prefix, concurrency, consumer.options);
  return spawnChild(
    [
      path.join(root, 'dist/bench/raw-worker.js'),
      REDIS_URL,
      prefix,
      'simulation',
      String(concurrency),
      JSON.stringify(consumer.options),
    ],
    { PATH: process.env.PATH },
    /ready/,
  );
}

/** CPU seconds Redis has used (user + system, all threads). */
async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const read = (name: string): number => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return read('used_cpu_sys') + read('used_cpu_user');
}

interface Sample {
  jobsPerSecond: number;
  workerUs: number;
  redisUs: number;
}

/** Starts the consumer, warms it up, then measures `jobs` jobs. */
async function measure(consumer: Consumer, concurrency: number, jobs: number, redis: Redis): Promise<Sample> {
  const prefix = `bench-${consumer.name}-${randomUUID().slice(0, 6)}`;
  const child = startConsumer(consumer, prefix, concurrency);
  const queue = new Queue('simulation', { connection: { url: REDIS_URL }, prefix });
  try {
    await child.ready;
    const pid = child.process.pid ?? 0;
    await runJobs(consumer, queue, WARMUP_JOBS);
    // Redis is shared: its CPU rate while our consumer idles is other clients' load, which
    // is subtracted from the run (pro rata of its duration) instead of charged to our jobs.
    const idleStarted = performance.now();
    const idleBefore = await redisCpuSeconds(redis);
    await new Promise(resolve => setTimeout(resolve, IDLE_SAMPLE_MS));
    const redisBefore = await redisCpuSeconds(redis);
    const backgroundRate = (redisBefore - idleBefore) / ((performance.now() - idleStarted) / 1000);
    const workerBefore = cpuSecondsOf(pid);
    const started = performance.now();
    await runJobs(consumer, queue, jobs);
    const seconds = (performance.now() - started) / 1000;
    const workerCpu = cpuSecondsOf(pid) - workerBefore;
    const redisCpu = Math.max(0, (await redisCpuSeconds(redis)) - redisBefore - backgroundRate * seconds);
    return {
      jobsPerSecond: jobs / seconds,
      workerUs: (workerCpu / jobs) * 1e6,
      redisUs: (redisCpu / jobs) * 1e6,
    };
  } finally {
    await stopChild(child);
    await queue.close();
    await deletePrefix(redis, prefix);
  }
}

/**
 * Adds `jobs` no-op jobs and waits until every job has left the wait and active lists
 * (counting completions would not work with removal on).
 */
async function runJobs(consumer: Consumer, queue: Queue, jobs: number): Promise<void> {
  const data = consumer.data ?? NO_OUTPUT_JOB;
  for (let i = 0; i < jobs; i += 1000) {
    await queue.addBulk(
      Array.from({ length: Math.min(1000, jobs - i) }, () => ({ name: 'simulation', data })),
    );
  }
  for (;;) {
    const counts = await queue.getJobCounts('wait', 'active', 'failed');
    if ((counts.failed ?? 0) > 0) throw new Error(`${consumer.name}: jobs failed`);
    if ((counts.wait ?? 0) + (counts.active ?? 0) === 0) return;
    await new Promise(resolve => setTimeout(resolve, 20));
  }
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
    const idle = rssOf(pid) / 2 ** 20;
    await queue.addBulk(
      Array.from({ length: 1000 }, (_, i) => ({
        name: 'simulation',
        data: { steps: 10, duration_ms: 20_000, result: { i } },
      })),
    );
    while ((await queue.getActiveCount()) < 1000) await new Promise(resolve => setTimeout(resolve, 50));
    await new Promise(resolve => setTimeout(resolve, 3000));
    const inFlight = rssOf(pid) / 2 ** 20;
    return { idle, inFlight };
  } finally {
    child.process.kill('SIGKILL');
    await queue.close();
    await deletePrefix(redis, prefix);
  }
}

interface Summary {
  jobsPerSecond: number;
  workerUs: number;
  redisUs: number;
  totalUs: number;
  samples: Sample[];
}

function summarise(samples: Sample[]): Summary {
  const workerUs = median(samples.map(s => s.workerUs));
  const redisUs = median(samples.map(s => s.redisUs));
  return {
    jobsPerSecond: median(samples.map(s => s.jobsPerSecond)),
    workerUs,
    redisUs,
    totalUs: median(samples.map(s => s.workerUs + s.redisUs)),
    samples,
  };
}

/**
 * The median of run-by-run ratios against the baseline's run of the same round. The
 * machine's speed drifts (other tenants); a round's runs are seconds apart, so a ratio
 * within a round cancels most of the drift that a ratio of two medians keeps.
 */
function pairedRatios(samples: Sample[], baseline: Sample[]): { speed: number; cpu: number } {
  const pairs = samples.flatMap((sample, i) => {
    const base = baseline[i];
    return base ? [{ sample, base }] : [];
  });
  return {
    speed: median(pairs.map(({ sample, base }) => sample.jobsPerSecond / base.jobsPerSecond)),
    cpu: median(
      pairs.map(({ sample, base }) => (sample.workerUs + sample.redisUs) / (base.workerUs + base.redisUs)),
    ),
  };
}

async function main(): Promise<void> {
  const only = process.env.BENCH_ONLY?.split(',');
  const consumers = CONSUMERS.filter(c => !only || only.includes(c.name));
  const baseline = consumers[0];
  if (!baseline) throw new Error('BENCH_ONLY selects no consumer');
  const redis = new Redis(REDIS_URL);
  const redisVersion = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? '?';
  const loadBefore = os.loadavg()[0] ?? 0;
  const lines: string[] = [];
  const verdicts: string[] = [];
  for (const concurrency of [50, 1]) {
    const jobs = JOBS[concurrency] ?? 1000;
    const samples = new Map<string, Sample[]>(consumers.map(c => [c.name, []]));
    // Interleaved, so a burst of load from other processes hits every consumer alike.
    for (let run = 0; run < RUNS; run++) {
      for (const consumer of consumers) {
        samples.get(consumer.name)?.push(await measure(consumer, concurrency, jobs, redis));
      }
    }
    const base = summarise(samples.get(baseline.name) ?? []);
    lines.push(
      '',
      `Concurrency ${concurrency}, ${jobs} no-op jobs per run, median of ${RUNS} runs; ratios against ${baseline.name}: ` +
        'of the medians (×), and the median of the run-by-run ratios (paired ×, each run against the baseline run next to it).',
      '',
      '| consumer | jobs/s | × | paired × | worker µs/job | Redis µs/job | total µs/job | × | paired × | runs: jobs/s; worker+Redis µs |',
      '|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const consumer of consumers) {
      const s = summarise(samples.get(consumer.name) ?? []);
      const paired = pairedRatios(s.samples, base.samples);
      lines.push(
        `| ${consumer.name} | ${s.jobsPerSecond.toFixed(0)} | ${(s.jobsPerSecond / base.jobsPerSecond).toFixed(2)} | ${paired.speed.toFixed(2)} | ` +
          `${s.workerUs.toFixed(0)} | ${s.redisUs.toFixed(0)} | ${s.totalUs.toFixed(0)} | ${(s.totalUs / base.totalUs).toFixed(2)} | ${paired.cpu.toFixed(2)} | ` +
          `${s.samples.map(x => x.jobsPerSecond.toFixed(0)).join(' ')}; ${s.samples.map(x => (x.workerUs + x.redisUs).toFixed(0)).join(' ')} |`,
      );
      if (consumer.name === 'emp-keep-all') {
        const { speed, cpu } = paired;
        const speedTarget = concurrency === 50 ? 0.9 : 0.85;
        verdicts.push(
          `concurrency ${concurrency} (paired): throughput ${speed.toFixed(2)} × (target ≥ ${speedTarget}: ${speed >= speedTarget ? 'met' : 'MISSED'}), ` +
            `CPU ${cpu.toFixed(2)} × (target ≤ 1.15: ${cpu <= 1.15 ? 'met' : 'MISSED'})`,
        );
      }
    }
  }
  const rss = process.env.BENCH_MEMORY === '0' ? undefined : await memory(redis);
  await redis.quit();
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  process.stdout.write(
    [
      `Machine: ${os.cpus().length} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, Redis ${redisVersion} on loopback; ` +
        `load average ${loadBefore.toFixed(2)} before, ${(os.loadavg()[0] ?? 0).toFixed(2)} after.`,
      'Redis CPU is the whole server less its rate in the 0.5 s before each run (other clients): it includes the producer (addBulk, count polls).',
      '',
      ...consumers.map(c => `- ${c.name}: ${c.what}`),
      ...lines,
      '',
      ...(rss
        ? [
            `Worker RSS: idle ${rss.idle.toFixed(0)} MiB; with 1,000 simulation jobs in flight ${rss.inFlight.toFixed(0)} MiB.`,
          ]
        : []),
      ...(verdicts.length > 0
        ? ['Targets (emp-keep-all against raw-default):', ...verdicts.map(v => `- ${v}`)]
        : []),
      '',
    ].join('\n'),
  );
}

await main();
