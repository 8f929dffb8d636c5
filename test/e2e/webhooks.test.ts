import { afterEach, describe, expect, test } from '@jest/globals';
import type { Queue } from 'bullmq';
import { cliEnv, startWorker } from '../helpers/cli.js';
import type { Spawned } from '../helpers/processes.js';
import { producerQueue, uniquePrefix } from '../helpers/redis.js';
import { waitForFinished } from '../helpers/runtime.js';
import { newWebhookSecret, startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

/** Signed completion webhooks end to end: real worker processes, Redis, a receiver verifying with `standardwebhooks`. */
const spawned: Spawned[] = [];
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const proc of spawned.splice(0)) proc.child.kill('SIGKILL');
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(plan?: Parameters<typeof startWebhookReceiver>[1]): Promise<{
  prefix: string;
  secret: string;
  receiver: WebhookReceiver;
  queue: Queue;
  env: NodeJS.ProcessEnv;
}> {
  const prefix = uniquePrefix('webhooks');
  const secret = newWebhookSecret();
  const receiver = await startWebhookReceiver(secret, plan);
  const queue = producerQueue('simulation', prefix, cleanups);
  cleanups.push(() => receiver.close());
  const env = cliEnv(prefix, {
    WEBHOOK_SECRET: secret,
    WEBHOOK_ALLOW_PRIVATE_URLS: 'true',
    WEBHOOK_RETRY_DELAY: '0.05',
    WORKER_LOCK_DURATION: '2000',
    WORKER_STALLED_INTERVAL: '1000',
  });
  return { prefix, secret, receiver, queue, env };
}

async function worker(env: NodeJS.ProcessEnv): Promise<Spawned> {
  const proc = await startWorker(env);
  spawned.push(proc);
  return proc;
}

describe('completion webhooks', () => {
  test('completed and failed (only when failed for good) arrive signed; the secret is never logged', async () => {
    const { receiver, queue, env, secret } = await setup();
    const proc = await worker(env);
    const webhook = { url: `${receiver.url}/hook` };
    const ok = await queue.add('simulation', {
      steps: 2,
      duration_ms: 20,
      result: { image: 'cat.png' },
      webhook,
    });
    const bad = await queue.add(
      'simulation',
      { steps: 2, duration_ms: 20, fail_at_step: 1, webhook },
      { attempts: 2, backoff: { type: 'fixed', delay: 10 } },
    );
    const none = await queue.add('simulation', { steps: 1, duration_ms: 0 });
    await receiver.waitFor(list => list.filter(entry => entry.verified).length >= 2);
    const failed = await waitForFinished(queue, bad.id!);
    expect(failed.attemptsMade).toBe(2);
    await waitForFinished(queue, none.id!);
    const events = [...receiver.unique().values()].map(entry => entry.body);
    expect(events).toEqual(
      expect.arrayContaining([
        {
          type: 'job.completed',
          timestamp: expect.any(String),
          data: {
            queue: 'simulation',
            jobId: ok.id,
            attemptsMade: 1,
            returnvalue: { status: 'success', connector: 'simulation', output: { image: 'cat.png' } },
          },
        },
        {
          type: 'job.failed',
          timestamp: expect.any(String),
          data: {
            queue: 'simulation',
            jobId: bad.id,
            attemptsMade: 2,
            failedReason: 'ERR_SERVICE_FAILED: simulated failure at step 1 of 2',
          },
        },
      ]),
    );
    // One per event: the first failed attempt (retried) sent nothing; the job without a webhook neither.
    expect(receiver.received).toHaveLength(2);
    expect(receiver.received.every(entry => entry.verified && entry.answered === 200)).toBe(true);
    // The connector never saw the webhook field: the result is what the job asked for.
    expect((await queue.getJob(ok.id!))?.returnvalue).toMatchObject({ output: { image: 'cat.png' } });
    expect(proc.output()).not.toContain(secret);
    expect(proc.output()).not.toContain(secret.slice('whsec_'.length));
  }, 60_000);

  test('a receiver failing twice gets the same webhook-id three times; a deduplicating receiver keeps one', async () => {
    const { receiver, queue, env } = await setup(({ nth }) => (nth <= 2 ? 503 : 200));
    await worker(env);
    const job = await queue.add('simulation', { steps: 1, duration_ms: 0, webhook: { url: receiver.url } });
    await receiver.waitFor(list => list.some(entry => entry.answered === 200));
    expect(receiver.received.map(entry => entry.answered)).toEqual([503, 503, 200]);
    expect(new Set(receiver.received.map(entry => entry.id)).size).toBe(1);
    expect(receiver.received.every(entry => entry.verified)).toBe(true);
    expect(receiver.unique().size).toBe(1);
    expect([...receiver.unique().values()][0]?.body?.data).toMatchObject({ jobId: job.id });
  }, 60_000);

  test('a 4xx receiver (not 408/429) is tried once and the refusal logged', async () => {
    const { receiver, queue, env } = await setup(() => 410);
    const proc = await worker(env);
    await queue.add('simulation', {
      steps: 1,
      duration_ms: 0,
      webhook: { url: receiver.url, events: ['completed'] },
    });
    await proc.waitForLine(/webhook receiver refused the delivery; not retrying/);
    expect(receiver.received).toHaveLength(1);
    expect(proc.output()).toMatch(/"status":410/);
  }, 60_000);

  test('a worker SIGKILLed right after completing a job, mid-delivery: another worker delivers it, same webhook-id', async () => {
    // The first request is never answered: the victim dies holding the delivery.
    const { receiver, queue, env } = await setup(({ nth }) => (nth === 1 ? 'hold' : 200));
    const victim = await worker({ ...env, WORKER_ID: 'victim' });
    const job = await queue.add('simulation', { steps: 1, duration_ms: 0, webhook: { url: receiver.url } });
    await receiver.waitFor(list => list.length === 1);
    expect(await job.getState()).toBe('completed');
    victim.child.kill('SIGKILL');
    await victim.exited;
    await worker({ ...env, WORKER_ID: 'survivor' });
    await receiver.waitFor(list => list.some(entry => entry.answered === 200), 30_000);
    expect(receiver.received).toHaveLength(2);
    expect(receiver.received[1]?.id).toBe(receiver.received[0]?.id);
    expect(receiver.received[1]?.verified).toBe(true);
    expect(receiver.received[1]?.body).toMatchObject({ type: 'job.completed', data: { jobId: job.id } });
  }, 60_000);

  test('a bad webhook URL fails the job at once naming /webhook/url, before any work', async () => {
    const { queue, env } = await setup();
    await worker(env);
    const cases: Array<[unknown, RegExp]> = [
      [
        { url: 'ftp://example.com/x' },
        /^ERR_INVALID_INPUT: \/webhook\/url: webhook\.url .* only http and https/,
      ],
      [
        { url: `https://example.com/${'a'.repeat(2100)}` },
        /^ERR_INVALID_INPUT: \/webhook\/url: expected string of 1 to 2048 characters, got a string of 2120 characters$/,
      ],
      [
        { url: 'https://example.com', events: ['done'] },
        /^ERR_INVALID_INPUT: \/webhook\/events\/0: expected one of "completed", "failed", got "done"$/,
      ],
      ['https://example.com', /^ERR_INVALID_INPUT: \/webhook: expected object, got "https:\/\/example.com"$/],
    ];
    for (const [webhook, reason] of cases) {
      const job = await queue.add('simulation', { steps: 3, duration_ms: 3000, webhook }, { attempts: 3 });
      const finished = await waitForFinished(queue, job.id!);
      expect(finished.failedReason).toMatch(reason);
      expect(finished.attemptsMade).toBe(1);
      expect(finished.progress).toBe(0);
    }
  }, 60_000);
});
