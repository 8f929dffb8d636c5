/**
 * Cross-replica limits, counted at the service: three real worker processes share one
 * queue and one fake REST service, and BullMQ's queue-wide concurrency and limiter (set
 * through WORKER_REST_GLOBAL_CONCURRENCY / _RATE_LIMIT_*) hold across all of them.
 * Slow (about 20 s: several worker processes and rate windows).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Queue } from 'bullmq';
import { cliEnv, runCli, startWorker } from '../helpers/cli.js';
import type { Spawned } from '../helpers/processes.js';
import { REDIS_URL, deletePrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { waitForFinished, waitUntil } from '../helpers/runtime.js';
import { startFakeRest, type FakeRestServer } from '../fakes/rest/server.js';

interface Replicas {
  prefix: string;
  env: NodeJS.ProcessEnv;
  workers: Spawned[];
  queue: Queue;
  close(): Promise<void>;
}

/** Three worker replicas on one prefix, consuming the `rest` queue of `rest`. */
async function startReplicas(rest: FakeRestServer, settings: Record<string, string>): Promise<Replicas> {
  const prefix = uniquePrefix('limits');
  const env = cliEnv(prefix, {
    CONNECTORS: 'rest',
    WORKER_REST_BASE_URL: rest.url,
    WORKER_REST_CONCURRENCY: '4',
    ...settings,
  });
  const workers = await Promise.all(
    [1, 2, 3].map(n => startWorker({ ...env, WORKER_ID: `${prefix}-replica-${n}` })),
  );
  const queue = new Queue('rest', { connection: { url: REDIS_URL }, prefix });
  return {
    prefix,
    env,
    workers,
    queue,
    async close() {
      await Promise.all(workers.map(worker => worker.stop()));
      await queue.close();
      const redis = testRedis();
      await deletePrefix(redis, prefix);
      await redis.quit();
    },
  };
}

let rest: FakeRestServer;
beforeAll(async () => {
  rest = await startFakeRest();
});
afterAll(async () => rest.close());

describe('WORKER_REST_GLOBAL_CONCURRENCY=2 across 3 replicas × concurrency 4', () => {
  let replicas: Replicas;
  beforeAll(async () => {
    replicas = await startReplicas(rest, { WORKER_REST_GLOBAL_CONCURRENCY: '2' });
  });
  afterAll(async () => replicas.close());

  test('the service never sees more than 2 calls at once, yet every job completes', async () => {
    const jobs = await replicas.queue.addBulk(
      Array.from({ length: 12 }, (_, i) => ({ name: 'rest', data: { n: i, fake: { delay_ms: 250 } } })),
    );
    const finished = await Promise.all(
      jobs.map(job => waitForFinished(replicas.queue, job.id ?? '', 60_000)),
    );
    expect(finished.map(job => job.finishedOn !== undefined && job.failedReason === undefined)).toEqual(
      Array(12).fill(true),
    );
    // Twelve slots (3 × 4) and a backlog of twelve 250 ms jobs: only the queue-wide cap keeps it at 2.
    expect(rest.maxInFlight()).toBe(2);
  });

  test('status and details show the limit', async () => {
    const status = await runCli(['status', '--json'], replicas.env);
    expect(status.code).toBe(0);
    const report = JSON.parse(status.stdout) as {
      workers: Array<{ connectors: Array<{ global_concurrency: number | null }> }>;
      global_concurrency: Record<string, number | null>;
    };
    expect(report.global_concurrency.rest).toBe(2);
    expect(report.workers.flatMap(worker => worker.connectors.map(c => c.global_concurrency))).toEqual([
      2, 2, 2,
    ]);
    const details = await runCli(['details', 'rest'], replicas.env);
    expect(details.stdout).toContain('across replicas: global concurrency 2');
  });
});

describe('WORKER_REST_RATE_LIMIT_MAX=5 per 1000 ms across 3 replicas', () => {
  let replicas: Replicas;
  beforeAll(async () => {
    rest.requests.length = 0;
    replicas = await startReplicas(rest, {
      WORKER_REST_RATE_LIMIT_MAX: '5',
      WORKER_REST_RATE_LIMIT_DURATION: '1000',
    });
  });
  afterAll(async () => replicas.close());

  test('each window of the limiter starts at most one job more than 5; the service sees them spread out', async () => {
    rest.requests.length = 0;
    const jobs = await replicas.queue.addBulk(
      Array.from({ length: 20 }, (_, i) => ({ name: 'rest', data: { n: i } })),
    );
    await Promise.all(jobs.map(job => waitForFinished(replicas.queue, job.id ?? '', 60_000)));
    const arrivals = rest
      .seen('/api/process')
      .map(request => request.at)
      .sort((a, b) => a - b);
    expect(arrivals).toHaveLength(20);
    // BullMQ's limiter counts fixed windows that open with the first job started after the last
    // one closed; a job's processedOn is when the limiter let it start. (Arrival times at the
    // service lag those by a few ms, enough to blur two windows into one at their edges.)
    const started = (await Promise.all(jobs.map(job => replicas.queue.getJob(job.id ?? ''))))
      .map(job => job?.processedOn ?? 0)
      .sort((a, b) => a - b);
    const windows: number[][] = [];
    for (const at of started) {
      const current = windows.at(-1);
      if (current && at < (current[0] ?? 0) + 1000) current.push(at);
      else windows.push([at]);
    }
    expect(Math.max(...windows.map(window => window.length))).toBeLessThanOrEqual(6);
    expect(windows.length).toBeGreaterThanOrEqual(4);
    // At the service too: three replicas unlimited would call it 20 times at once; 5 per second
    // spreads the calls over at least 3 s.
    expect((arrivals.at(-1) ?? 0) - (arrivals[0] ?? 0)).toBeGreaterThanOrEqual(2900);
    const status = JSON.parse((await runCli(['status', '--json'], replicas.env)).stdout) as {
      workers: Array<{ connectors: Array<{ rate_limit: unknown }> }>;
    };
    expect(status.workers[0]?.connectors[0]?.rate_limit).toEqual({ max: 5, duration_ms: 1000 });
  });

  test('a 429 with Retry-After pauses the whole queue: no replica calls the service until it passes', async () => {
    const limited = await replicas.queue.add(
      'rest',
      { n: 'limited', fake: { status: 429, retry_after: 1 } },
      { attempts: 1 },
    );
    // The queue is paused once the limiter key carries the Retry-After as its TTL.
    const redis = testRedis();
    const limiterKey = `${replicas.prefix}:rest:limiter`;
    let pausedUntil = 0;
    try {
      await waitUntil(
        async () => {
          const ttl = await redis.pttl(limiterKey);
          // Our pause sets the key to a huge count; the ordinary window count stays small.
          const count = Number(await redis.get(limiterKey));
          if (ttl > 0 && count > 1000) pausedUntil = Date.now() + ttl;
          return pausedUntil > 0;
        },
        10_000,
        'the queue-wide pause',
      );
    } finally {
      await redis.quit();
    }
    const others = await replicas.queue.addBulk(['a', 'b', 'c'].map(n => ({ name: 'rest', data: { n } })));
    const finishedOthers = await Promise.all(
      others.map(job => waitForFinished(replicas.queue, job.id ?? '', 30_000)),
    );
    expect(finishedOthers.every(job => job.returnvalue !== null && job.failedReason === undefined)).toBe(
      true,
    );
    const firstOther = Math.min(
      ...rest
        .seen('/api/process')
        .filter(request => ['a', 'b', 'c'].includes(String((request.body as { n?: unknown }).n)))
        .map(request => request.at),
    );
    // 20 ms of slack for the clocks of Redis and this process.
    expect(firstOther).toBeGreaterThanOrEqual(pausedUntil - 20);
    // The 429 job itself ends: after five queue-wide pauses it fails as rate-limited.
    const failed = await waitForFinished(replicas.queue, limited.id ?? '', 30_000);
    expect(failed.failedReason).toMatch(/^ERR_RATE_LIMITED/);
  });
});
