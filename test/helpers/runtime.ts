import { Queue, QueueEvents, type Job, type JobsOptions } from 'bullmq';
import { secretValues, type AppConfig } from '../../src/config/index.js';
import { loadConfigWithConnectors as loadConfig } from '../../src/connectors/registry.js';
import { createLogger } from '../../src/logging/logger.js';
import { WorkerRuntime } from '../../src/worker/runtime.js';
import type { RegisteredConnector } from '../../src/connectors/definition.js';
import { REDIS_URL, deletePrefix, testRedis, uniquePrefix } from './redis.js';

/** A worker runtime in this process plus a producer, on a prefix of their own. */
export interface RuntimeHarness {
  prefix: string;
  config: AppConfig;
  runtime: WorkerRuntime;
  queue(name: string): Queue;
  events(name: string): Promise<QueueEvents>;
  /** Adds a job and waits for it to end; resolves with the finished job. */
  run(queueName: string, data: unknown, opts?: JobsOptions): Promise<Job>;
  close(): Promise<void>;
}

/** Builds a config the way `emp-worker start` does, from env-style settings. */
export function testConfig(env: Record<string, string>, prefix = uniquePrefix()): AppConfig {
  return loadConfig({
    NODE_ENV: 'test',
    REDIS_URL,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    WORKER_HEALTH_CHECK_INTERVAL: '0.2',
    PROGRESS_MIN_INTERVAL_MS: '50',
    SHUTDOWN_TIMEOUT: '2',
    ...env,
    QUEUE_PREFIX: prefix,
  });
}

/** Starts a runtime with the given env settings. Call `close()` in afterEach/afterAll. */
export async function startRuntime(
  env: Record<string, string> = {},
  registry?: Readonly<Record<string, RegisteredConnector>>,
  /** Where the worker's log lines go (default: the console), to read what the worker logged. */
  logStream?: NodeJS.WritableStream,
): Promise<RuntimeHarness> {
  const prefix = env.QUEUE_PREFIX ?? uniquePrefix();
  const config = testConfig(env, prefix);
  const logger = createLogger({
    level: config.log.level,
    format: 'json',
    secrets: secretValues(config),
    ...(logStream ? { stream: logStream } : {}),
  });
  const runtime = new WorkerRuntime(config, logger, registry);
  await runtime.start();
  const queues = new Map<string, Queue>();
  const allEvents: QueueEvents[] = [];
  const harness: RuntimeHarness = {
    prefix,
    config,
    runtime,
    queue(name) {
      let queue = queues.get(name);
      if (!queue) {
        queue = new Queue(name, { connection: { url: REDIS_URL }, prefix });
        queues.set(name, queue);
      }
      return queue;
    },
    async events(name) {
      const events = new QueueEvents(name, { connection: { url: REDIS_URL }, prefix });
      allEvents.push(events);
      await events.waitUntilReady();
      return events;
    },
    async run(queueName, data, opts) {
      const queue = harness.queue(queueName);
      const job = await queue.add(queueName, data, opts);
      const finished = await waitForFinished(queue, job.id ?? '');
      return finished;
    },
    async close() {
      await runtime.stop();
      for (const events of allEvents) await events.close();
      for (const queue of queues.values()) await queue.close();
      const redis = testRedis();
      await deletePrefix(redis, prefix);
      await redis.quit();
    },
  };
  return harness;
}

/** Waits until a job is completed or failed (for good), reading its state from Redis. */
export async function waitForFinished(queue: Queue, jobId: string, timeoutMs = 30_000): Promise<Job> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await queue.getJob(jobId);
    if (job) {
      const state = await job.getState();
      // Re-read: the job object may predate the state change.
      if (state === 'completed' || state === 'failed') return (await queue.getJob(jobId)) ?? job;
    }
    if (Date.now() > deadline) throw new Error(`job ${jobId} did not finish within ${timeoutMs} ms`);
    await new Promise(resolve => setTimeout(resolve, 25));
  }
}

/** Waits until a condition holds, polling; for states that have no event. */
export async function waitUntil(
  condition: () => Promise<boolean> | boolean,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise(resolve => setTimeout(resolve, 25));
  }
}
