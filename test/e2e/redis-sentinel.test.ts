/**
 * A real Sentinel setup (a master, a replica and three redis-sentinel processes): the
 * worker reaches Redis only through REDIS_SENTINELS, the master is killed while jobs run,
 * and every job added before and after the kill completes on the promoted replica.
 * Slow (about 15 s: Sentinel needs a second to call the master down, then elects).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Redis } from 'ioredis';
import { Queue, type Job } from 'bullmq';
import { cliEnv, runCli, startWorker } from '../helpers/cli.js';
import type { Spawned } from '../helpers/processes.js';
import { uniquePrefix } from '../helpers/redis.js';
import { startSentinelGroup, type TestSentinelGroup } from '../helpers/redis-topologies.js';
import { waitUntil } from '../helpers/runtime.js';

const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

let group: TestSentinelGroup;
let env: NodeJS.ProcessEnv;
let worker: Spawned;
let producer: Redis;
let queue: Queue;

beforeAll(async () => {
  group = await startSentinelGroup();
  env = cliEnv(uniquePrefix('sentinel'), {
    REDIS_URL: DEFAULT_REDIS_URL,
    REDIS_SENTINELS: group.sentinelList,
    REDIS_SENTINEL_NAME: group.masterName,
    WORKER_SIMULATION_CONCURRENCY: '2',
    // A completion the old master acknowledged but never replicated comes back as a stalled
    // job: find it within seconds, not the default half minute.
    WORKER_LOCK_DURATION: '3000',
    WORKER_STALLED_INTERVAL: '1000',
  });
  worker = await startWorker(env);
  producer = new Redis({
    sentinels: group.sentinels.map(sentinel => ({ host: '127.0.0.1', port: sentinel.port })),
    name: group.masterName,
    maxRetriesPerRequest: null,
  });
  // The kill makes both report connection errors until the failover; they wait it out.
  producer.on('error', () => undefined);
  queue = new Queue('simulation', { connection: producer, prefix: env.QUEUE_PREFIX });
  queue.on('error', () => undefined);
});

afterAll(async () => {
  await worker?.stop();
  await queue?.close();
  await producer?.quit();
  // Throwaway servers: stopping them removes every key.
  await group?.stop();
});

async function states(jobs: Job[]): Promise<Array<{ state: string; finishedOn: number | undefined }>> {
  return Promise.all(
    jobs.map(async job => {
      const fresh = await queue.getJob(job.id ?? '');
      return { state: fresh ? await fresh.getState() : 'missing', finishedOn: fresh?.finishedOn };
    }),
  );
}

describe('Redis Sentinel failover', () => {
  test('the worker follows the new master; jobs added before and after the kill all complete', async () => {
    const oldMaster = group.master.port;
    expect(await group.currentMasterPort()).toBe(oldMaster);
    const before = await queue.addBulk(
      Array.from({ length: 10 }, () => ({
        name: 'simulation',
        data: { steps: 2, duration_ms: 400 },
      })),
    );
    // Jobs the producer was told are added are on the replica too (replication is asynchronous).
    await producer.call('WAIT', 1, 2000);
    await waitUntil(
      async () => (await states(before)).filter(s => s.state === 'completed').length >= 3,
      20_000,
      'three jobs completed before the kill',
    );
    const killedAt = Date.now();
    group.master.process.child.kill('SIGKILL');

    // The producer's add waits out the failover like any BullMQ producer on Sentinel.
    const after = await queue.addBulk(
      Array.from({ length: 10 }, () => ({
        name: 'simulation',
        data: { steps: 2, duration_ms: 100 },
      })),
    );
    await waitUntil(
      async () => (await states([...before, ...after])).every(s => s.state === 'completed'),
      45_000,
      'every job completed after the failover',
    );
    expect(await group.currentMasterPort()).toBe(group.replica.port);
    const finishedAfterKill = (await states([...before, ...after]))
      .map(s => s.finishedOn ?? 0)
      .filter(at => at > killedAt);
    expect(finishedAfterKill.length).toBeGreaterThanOrEqual(10);
    const pauseMs = Math.min(...finishedAfterKill) - killedAt;
    process.stdout.write(`sentinel failover: master kill to next completed job ${pauseMs} ms\n`);
    expect(worker.output()).not.toMatch(/"level":"error"/);
  }, 120_000);

  test('the CLI reaches the new master through the Sentinels', async () => {
    const run = await runCli(['enqueue', 'simulation', '{"steps":1,"duration_ms":50}', '--wait'], env);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ status: 'success' });
    const status = await runCli(['status', '--json'], env);
    expect(JSON.parse(status.stdout)).toMatchObject({ workers: [{ id: expect.any(String) as unknown }] });
  });
});
