import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createLogger } from '../../src/logging/logger.js';
import { WorkerRuntime } from '../../src/worker/runtime.js';
import { startThrowawayRedis } from '../helpers/processes.js';
import { uniquePrefix } from '../helpers/redis.js';
import { testConfig, waitUntil } from '../helpers/runtime.js';
import { newWebhookSecret, startWebhookReceiver } from '../helpers/webhook-receiver.js';

/**
 * Jobs without a webhook cost no extra Redis command when webhooks are on: counted with
 * `INFO commandstats` on a Redis of this test's own (the shared one is busy with others).
 */
describe('webhooks cost jobs without one nothing', () => {
  let redisServer: { url: string; stop(): Promise<void> };
  let redis: Redis;
  beforeAll(async () => {
    redisServer = await startThrowawayRedis();
    redis = new Redis(redisServer.url);
  });
  afterAll(async () => {
    redis.disconnect();
    await redisServer.stop();
  });

  async function totalCommands(): Promise<number> {
    const stats = await redis.info('commandstats');
    return [...stats.matchAll(/calls=(\d+)/g)].reduce((sum, match) => sum + Number(match[1]), 0);
  }

  /** Redis commands per job for 300 simulation jobs through a worker with these settings. */
  async function commandsPerJob(
    env: Record<string, string>,
    data: object = {},
    settle?: () => Promise<void>,
  ): Promise<number> {
    const prefix = uniquePrefix('cost');
    const config = testConfig(
      { REDIS_URL: redisServer.url, WORKER_SIMULATION_CONCURRENCY: '10', ...env },
      prefix,
    );
    const runtime = new WorkerRuntime(config, createLogger({ level: 'silent', format: 'json' }));
    await runtime.start();
    const queue = new Queue('simulation', { connection: { url: redisServer.url }, prefix });
    try {
      await queue.waitUntilReady();
      const jobs = 300;
      const before = await totalCommands();
      await queue.addBulk(
        Array.from({ length: jobs }, () => ({
          name: 'simulation',
          data: { steps: 1, duration_ms: 0, ...data },
        })),
      );
      await waitUntil(async () => (await queue.getCompletedCount()) === jobs, 30_000, 'all jobs completed');
      if (settle) await settle();
      return ((await totalCommands()) - before) / jobs;
    } finally {
      await queue.close();
      await runtime.stop();
    }
  }

  test('the same commands per job with WEBHOOK_SECRET set as without; a job with a webhook costs more', async () => {
    const secret = newWebhookSecret();
    const without = await commandsPerJob({});
    const withWebhooksOn = await commandsPerJob({ WEBHOOK_SECRET: secret });
    // One more round trip per job would add 1.0; background polling of the emp-webhooks queue adds a few in total.
    expect(Math.abs(withWebhooksOn - without)).toBeLessThan(0.3);
    // The measure sees a round trip when there is one: jobs that ask for a webhook pay for their delivery.
    const receiver = await startWebhookReceiver(secret);
    try {
      const withWebhook = await commandsPerJob(
        { WEBHOOK_SECRET: secret, WEBHOOK_ALLOW_PRIVATE_URLS: 'true' },
        { webhook: { url: receiver.url } },
        () => receiver.waitFor(list => list.length >= 300),
      );
      expect(withWebhook - without).toBeGreaterThan(1);
    } finally {
      await receiver.close();
    }
  }, 60_000);
});
