import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { progressSchema, resultSchema } from '../../src/connectors/payload-schemas.js';
import { testRedis } from '../helpers/redis.js';
import { startRuntime, waitForFinished, type RuntimeHarness } from '../helpers/runtime.js';

describe('simulation connector through a real worker runtime', () => {
  let harness: RuntimeHarness;
  beforeAll(async () => {
    harness = await startRuntime({ WORKER_SIMULATION_CONCURRENCY: '4' });
  });
  afterAll(async () => harness.close());

  test('a job completes with the result it asked for and monotonic progress ending at 100', async () => {
    const events = await harness.events('simulation');
    const seen: number[] = [];
    events.on('progress', ({ data }) => {
      if (typeof data === 'object' && data !== null && 'progress' in data) seen.push(Number(data.progress));
    });
    const job = await harness.run('simulation', { steps: 4, duration_ms: 400, result: { hello: 'world' } });
    expect(await job.getState()).toBe('completed');
    expect(job.returnvalue).toEqual({
      status: 'success',
      connector: 'simulation',
      output: { hello: 'world' },
    });
    expect(job.progress).toMatchObject({ progress: 100, status: 'completed', connector: 'simulation' });
    // What producers read matches the published schemas (docs/schemas/progress.json, result.json).
    expect(progressSchema.safeParse(job.progress).success).toBe(true);
    expect(resultSchema.safeParse(job.returnvalue).success).toBe(true);
    expect(seen.length).toBeGreaterThan(0);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1] ?? 0);
  });

  test('a 0 ms job writes no progress at all', async () => {
    const job = await harness.run('simulation', { steps: 3, duration_ms: 0 });
    expect(await job.getState()).toBe('completed');
    expect(job.progress).toBe(0);
  });

  test.each([
    ['not an object', 'hello', /^ERR_INVALID_INPUT: job data: expected object, got "hello"$/],
    ['an array', [1, 2], /^ERR_INVALID_INPUT: job data: expected object, got an array$/],
    [
      'steps of the wrong type',
      { steps: 'many' },
      /^ERR_INVALID_INPUT: \/steps: expected integer ≥ 1 and ≤ 10000 or null, got "many"$/,
    ],
    [
      'absurd steps',
      { steps: 1e9 },
      /^ERR_INVALID_INPUT: \/steps: expected integer ≥ 1 and ≤ 10000 or null, got 1000000000$/,
    ],
    [
      'negative duration',
      { duration_ms: -5 },
      /^ERR_INVALID_INPUT: \/duration_ms: expected integer ≥ 0 and ≤ 86400000 or null, got -5$/,
    ],
    [
      'unknown fields',
      { step: 3 },
      /^ERR_INVALID_INPUT: job data: unknown field "step" \(allowed: steps, duration_ms, fail_at_step, result, webhook\)$/,
    ],
  ])('bad input (%s) fails at once, without retry, naming the field', async (_label, data, reason) => {
    const job = await harness.run('simulation', data, { attempts: 3 });
    expect(await job.getState()).toBe('failed');
    expect(job.failedReason).toMatch(/^ERR_INVALID_INPUT: /);
    expect(job.failedReason).toMatch(reason);
    expect(job.attemptsMade).toBe(1);
  });

  test('data nested 100 000 deep (written raw by a non-Node producer) fails as bad input, not a stack overflow', async () => {
    const queue = harness.queue('simulation');
    const job = await queue.add('simulation', {}, { delay: 600_000, attempts: 3 });
    const redis = testRedis();
    try {
      const deep = `{"result":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
      await redis.hset(`${harness.prefix}:simulation:${job.id}`, 'data', deep);
    } finally {
      await redis.quit();
    }
    await job.promote();
    const finished = await waitForFinished(queue, job.id ?? '');
    expect(finished.failedReason).toBe(
      'ERR_INVALID_INPUT: job data is too deeply nested (more than 128 levels of arrays or objects)',
    );
    expect(finished.attemptsMade).toBe(1);
  });

  test('oversized data fails at once naming the limit', async () => {
    const job = await harness.run('simulation', { result: 'x'.repeat(11 * 1024 * 1024) }, { attempts: 3 });
    expect(job.failedReason).toMatch(
      /^ERR_INVALID_INPUT: job data is \d+ bytes, more than the 10485760 allowed/,
    );
    expect(job.attemptsMade).toBe(1);
  });

  test("a simulated failure is retried under the producer's attempts, then fails with the reason", async () => {
    const job = await harness.run(
      'simulation',
      { steps: 3, duration_ms: 0, fail_at_step: 2 },
      { attempts: 2 },
    );
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(2);
    expect(job.failedReason).toBe('ERR_SERVICE_FAILED: simulated failure at step 2 of 3');
    const { logs } = await harness.queue('simulation').getJobLogs(job.id ?? '');
    expect(logs.some(line => line.includes('will retry (attempt 1 of 2)'))).toBe(true);
  });

  test('the worker keeps serving after bad input', async () => {
    const job = await harness.run('simulation', { steps: 1, duration_ms: 0, result: 42 });
    expect(job.returnvalue).toMatchObject({ output: 42 });
  });
});
