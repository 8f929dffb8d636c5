import { afterEach, describe, expect, test } from '@jest/globals';
import { keys, type CancelRequest } from '../../src/redis/keys.js';
import { testRedis } from '../helpers/redis.js';
import { startRuntime, waitForFinished, waitUntil, type RuntimeHarness } from '../helpers/runtime.js';

let harnesses: RuntimeHarness[] = [];
async function runtime(env: Record<string, string> = {}): Promise<RuntimeHarness> {
  const harness = await startRuntime(env);
  harnesses.push(harness);
  return harness;
}
afterEach(async () => {
  for (const harness of harnesses.reverse()) await harness.close();
  harnesses = [];
});

describe('cancel', () => {
  test('a cancel that arrives while the job is being fetched (not yet running here) is not lost', async () => {
    const harness = await runtime();
    const queue = harness.queue('simulation');
    // Concurrency 1: while the blocker runs, the target waits, so its cancel finds no active job,
    // which is exactly what a worker between BullMQ's fetch and the processor's start sees.
    const blocker = await queue.add('simulation', { steps: 100, duration_ms: 60_000 });
    await waitUntil(async () => (await blocker.getState()) === 'active', 20_000, 'the blocker to run');
    const target = await queue.add('simulation', { steps: 1, duration_ms: 0 }, { attempts: 3 });
    const redis = testRedis();
    try {
      const channel = keys.cancelChannel(harness.prefix);
      // What `emp-worker cancel` does for a job it saw active: the marker, then the request.
      await redis.set(keys.cancelMarker(harness.prefix, 'simulation', target.id ?? ''), 'during the fetch');
      const request: CancelRequest = {
        queue: 'simulation',
        jobId: target.id ?? '',
        reason: 'during the fetch',
      };
      await redis.publish(channel, JSON.stringify(request));
      // Same channel, so delivered after the first: the target starts only once that one was heard.
      const release: CancelRequest = { queue: 'simulation', jobId: blocker.id ?? '', reason: 'release' };
      await redis.publish(channel, JSON.stringify(release));
    } finally {
      await redis.quit();
    }
    const finished = await waitForFinished(queue, target.id ?? '');
    expect(finished.failedReason).toBe('ERR_CANCELLED: cancelled: during the fetch');
    expect(finished.attemptsMade).toBe(1);
    expect((await waitForFinished(queue, blocker.id ?? '')).failedReason).toBe(
      'ERR_CANCELLED: cancelled: release',
    );
  });
});

describe('job data', () => {
  test('null job data on simulation fails as bad input naming the data, without retry', async () => {
    const harness = await runtime();
    const queue = harness.queue('simulation');
    const job = await queue.add('simulation', null, { attempts: 3 });
    const finished = await waitForFinished(queue, job.id ?? '');
    expect(finished.failedReason).toBe('ERR_INVALID_INPUT: job data: expected object, got null');
    expect(finished.attemptsMade).toBe(1);
  });
});

describe('what Bull Board shows', () => {
  test('a job that shows progress gets milestone log lines: the worker that took it, and the output shape', async () => {
    const harness = await runtime({ WORKER_ID: 'w-milestones', PROGRESS_MIN_INTERVAL_MS: '50' });
    const queue = harness.queue('simulation');
    const job = await harness.run('simulation', { steps: 4, duration_ms: 400 });
    expect(await job.getState()).toBe('completed');
    const { logs } = await queue.getJobLogs(job.id ?? '');
    expect(logs).toEqual([
      'started on w-milestones:simulation (attempt 1)',
      expect.stringMatching(/^completed in 0\.\d s; output: \{ "steps": number, "duration_ms": number \}$/),
    ]);
  });

  test('a quick job (no progress shown) writes no log line: it costs Redis nothing extra', async () => {
    const harness = await runtime({ PROGRESS_MIN_INTERVAL_MS: '5000' });
    const job = await harness.run('simulation', { steps: 1, duration_ms: 0 });
    expect(await job.getState()).toBe('completed');
    expect((await harness.queue('simulation').getJobLogs(job.id ?? '')).logs).toEqual([]);
  });

  test('a failed job keeps the reason of each attempt as its stacktrace, not our internals', async () => {
    const harness = await runtime();
    const job = await harness.run(
      'simulation',
      { steps: 2, duration_ms: 0, fail_at_step: 1 },
      { attempts: 2, backoff: { type: 'fixed', delay: 0 } },
    );
    const reason = 'ERR_SERVICE_FAILED: simulated failure at step 1 of 2';
    expect(job.failedReason).toBe(reason);
    expect(job.stacktrace).toEqual([reason, reason]);
  });
});
