import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { JobAbortError } from '../../src/core/abort.js';
import { createLogger } from '../../src/logging/logger.js';
import {
  RestAsyncRestConnector,
  restAsyncConnector,
  type RestAsyncConfig,
} from '../../src/connectors/services/rest-async/index.js';
import { startRuntime, testConfig, waitUntil, type RuntimeHarness } from '../helpers/runtime.js';
import { startFakeRest, type FakeRestServer } from '../fakes/rest/server.js';
import { runCli } from '../helpers/rest-cli.js';
import { testContext } from '../helpers/job-context.js';

const API_KEY = 'sk-async-secret-55e1';

function submitsFor(fake: FakeRestServer, jobId: string | undefined): number {
  return fake.seen('/api/submit').filter(r => (r.body as { job_id?: unknown }).job_id === jobId).length;
}

describe('rest_async connector through a real worker runtime', () => {
  let fake: FakeRestServer;
  let harness: RuntimeHarness;
  beforeAll(async () => {
    fake = await startFakeRest({ apiKey: API_KEY });
    harness = await startRuntime({
      CONNECTORS: 'rest_async',
      WORKER_REST_ASYNC_BASE_URL: fake.url,
      WORKER_REST_ASYNC_API_KEY: API_KEY,
      WORKER_REST_ASYNC_POLL_INTERVAL: '0.05',
      WORKER_REST_ASYNC_TIMEOUT: '3',
      WORKER_REST_ASYNC_CANCEL_ENDPOINT: '/api/cancel/{job_id}',
      WORKER_REST_ASYNC_CONCURRENCY: '4',
    });
  });
  afterAll(async () => {
    await harness.close();
    await fake.close();
  });

  test('submit → poll → result: output is the result JSON, the service progress shows, the id is logged', async () => {
    const events = await harness.events('rest_async');
    const seen: Array<{ progress: number; status: string }> = [];
    events.on('progress', ({ data }) => {
      if (typeof data === 'object' && data !== null) seen.push(data as { progress: number; status: string });
    });
    const job = await harness.run('rest_async', { text: 'hi', fake: { steps: 5, step_ms: 150 } });
    expect(await job.getState()).toBe('completed');
    const output = (job.returnvalue as { output: { job_id: string; result: unknown } }).output;
    expect(output.result).toEqual({ echo: { job_id: job.id, text: 'hi' }, steps: 5 });
    expect(fake.jobs.get(output.job_id)?.body.job_id).toBe(job.id);
    const running = seen.filter(p => p.status === 'running');
    expect(running.length).toBeGreaterThan(0);
    for (const p of running) expect(p.progress).toBeGreaterThanOrEqual(10);
    expect(seen.at(-1)).toMatchObject({ progress: 100, status: 'completed' });
    const { logs } = await harness.queue('rest_async').getJobLogs(job.id ?? '');
    expect(logs).toContain(`submitted to REST async service as job ${output.job_id}`);
    for (const request of fake.requests) expect(request.authorization).toBe(`Bearer ${API_KEY}`);
  });

  test('other status words ("succeeded") are understood', async () => {
    const job = await harness.run('rest_async', {
      fake: { steps: 1, step_ms: 10, status_word: 'succeeded' },
    });
    expect(job.returnvalue).toMatchObject({ status: 'success' });
  });

  test('a service-reported failure fails the job with the service message, without retry', async () => {
    const job = await harness.run(
      'rest_async',
      { fake: { steps: 2, step_ms: 20, fail: 'GPU fell off the bus' } },
      { attempts: 3 },
    );
    expect(job.failedReason).toMatch(
      /^ERR_SERVICE_FAILED: REST async service reported job ext-\w+ failed: GPU fell off the bus$/,
    );
    expect(job.attemptsMade).toBe(1);
  });

  test.each(['empty', 'null'])(
    '"completed" with no result (%s body) is a protocol failure',
    async noResult => {
      const job = await harness.run(
        'rest_async',
        { fake: { steps: 1, step_ms: 10, no_result: noResult } },
        { attempts: 3 },
      );
      expect(job.failedReason).toMatch(
        /^ERR_PROTOCOL: REST async service reported job ext-\w+ completed but returned no result$/,
      );
      expect(job.attemptsMade).toBe(1);
    },
  );

  test('a submit answer without a job id is a protocol failure', async () => {
    const job = await harness.run('rest_async', { fake: { no_id: true } }, { attempts: 3 });
    expect(job.failedReason).toBe(
      'ERR_PROTOCOL: REST async service answered the submit without a job id: {"accepted":true}',
    );
  });

  test('Retry-After on a rate-limited poll is honoured before the next poll', async () => {
    const job = await harness.run('rest_async', {
      fake: { steps: 2, step_ms: 10, rate_limit_polls: 2, poll_retry_after: 0.4 },
    });
    expect(job.returnvalue).toMatchObject({ status: 'success' });
    const externalId = (job.returnvalue as { output: { job_id: string } }).output.job_id;
    const polls = fake.seen(`/api/status/${externalId}`).map(r => r.at);
    expect(polls.length).toBeGreaterThanOrEqual(3);
    // the 2nd poll waited for the 1st one's Retry-After, the 3rd for the 2nd's (not the 50 ms interval)
    expect((polls[1] ?? 0) - (polls[0] ?? 0)).toBeGreaterThanOrEqual(390);
    expect((polls[2] ?? 0) - (polls[1] ?? 0)).toBeGreaterThanOrEqual(390);
  });

  test('429 on submit delays the job (Retry-After) rather than failing an attempt', async () => {
    const job = await harness.run(
      'rest_async',
      { fake: { submit_status: 429, retry_after: 0.05 } },
      { attempts: 1 },
    );
    expect(job.failedReason).toMatch(/^ERR_RATE_LIMITED: /);
    expect(submitsFor(fake, job.id)).toBeGreaterThan(1);
  });

  test('a retried attempt re-attaches to the job the first attempt submitted (no second submit)', async () => {
    const job = await harness.run(
      'rest_async',
      { fake: { steps: 3, step_ms: 50, fail_polls: 1 } },
      { attempts: 2, backoff: { type: 'fixed', delay: 20 } },
    );
    expect(await job.getState()).toBe('completed');
    expect(job.attemptsMade).toBe(2);
    expect(submitsFor(fake, job.id)).toBe(1);
    const { logs } = await harness.queue('rest_async').getJobLogs(job.id ?? '');
    expect(logs.some(line => /will retry \(attempt 1 of 2\)/.test(line))).toBe(true);
    expect(
      logs.some(line =>
        /^re-attached to REST async service job ext-\w+ \(\w+\) instead of submitting again$/.test(line),
      ),
    ).toBe(true);
  });

  test('cancel from the CLI calls the cancel endpoint and fails the job as cancelled', async () => {
    const queue = harness.queue('rest_async');
    const job = await queue.add('rest_async', { fake: { steps: 100, step_ms: 100 } });
    await waitUntil(() => submitsFor(fake, job.id) === 1, 10_000, 'submit');
    const external = [...fake.jobs.values()].find(j => j.body.job_id === job.id);
    const result = await runCli(
      ['cancel', 'rest_async', job.id ?? '', '--reason', 'test cancel'],
      harness.prefix,
    );
    const out = [result.stdout];
    const code = result.code;
    expect(code).toBe(0);
    expect(out.join('')).toMatch(/failed: ERR_CANCELLED: cancelled: test cancel/);
    expect(external?.cancelled).toBe(true);
  });

  test('the whole-job timeout (WORKER_REST_ASYNC_TIMEOUT) stops polling and cancels on the service', async () => {
    const job = await harness.run('rest_async', { fake: { steps: 1000, step_ms: 100 } }, { attempts: 1 });
    expect(job.failedReason).toBe('ERR_JOB_TIMEOUT: rest_async job exceeded its 3 s timeout and was stopped');
    const external = [...fake.jobs.values()].find(j => j.body.job_id === job.id);
    expect(external?.cancelled).toBe(true);
  });

  test('bad job data fails at once naming the problem', async () => {
    const job = await harness.run('rest_async', 'not an object', { attempts: 3 });
    expect(job.failedReason).toBe('ERR_INVALID_INPUT: job data: expected object, got "not an object"');
  });
});

describe('rest_async connector called directly', () => {
  let fake: FakeRestServer;
  let connector: RestAsyncRestConnector;
  beforeAll(async () => {
    fake = await startFakeRest();
    const config = testConfig({
      CONNECTORS: 'rest_async',
      REST_ASYNC_BASE_URL: fake.url,
      REST_ASYNC_POLL_INTERVAL: '0.02',
      REST_ASYNC_CANCEL_ENDPOINT: '/api/jobs/{job_id}',
      REST_ASYNC_CANCEL_METHOD: 'DELETE',
    });
    connector = restAsyncConnector.create(config.connectors.rest_async as RestAsyncConfig, {
      logger: createLogger({ level: 'silent', format: 'json' }),
    }) as RestAsyncRestConnector;
  });
  afterAll(async () => fake.close());

  test('a checkpoint the service does not know leads to a fresh submit, logged', async () => {
    const ctx = testContext(
      { fake: { steps: 1, step_ms: 5 } },
      { id: 'direct-1', checkpoint: { external_job_id: 'ext-gone' } },
    );
    const output = (await connector.process(ctx)) as { job_id: string };
    expect(ctx.logLines[0]).toBe(
      'REST async service does not know job ext-gone from an earlier attempt; submitting anew',
    );
    expect(ctx.saved.external_job_id).toBe(output.job_id);
    expect(output.job_id).not.toBe('ext-gone');
  });

  test('a checkpoint of a finished job is re-attached to and its result fetched without submitting', async () => {
    const first = testContext({ fake: { steps: 1, step_ms: 5 } }, { id: 'direct-2' });
    const firstOutput = (await connector.process(first)) as { job_id: string };
    const submitsBefore = fake.seen('/api/submit').length;
    const retry = testContext(
      { fake: { steps: 1, step_ms: 5 } },
      { id: 'direct-2', checkpoint: { ...first.saved } },
    );
    expect(await connector.process(retry)).toEqual(firstOutput);
    expect(fake.seen('/api/submit').length).toBe(submitsBefore);
  });

  test('on shutdown the service job is left running (the next attempt re-attaches); on cancel it is cancelled', async () => {
    for (const kind of ['shutdown', 'cancel'] as const) {
      const controller = new AbortController();
      const ctx = testContext(
        { fake: { steps: 1000, step_ms: 100 } },
        { id: `direct-${kind}`, signal: controller.signal },
      );
      const running = connector.process(ctx);
      await waitUntil(() => typeof ctx.saved.external_job_id === 'string', 5_000, 'submit');
      const reason = new JobAbortError(kind === 'cancel' ? { kind, reason: 'test' } : { kind });
      controller.abort(reason);
      await expect(running).rejects.toThrow(reason.message);
      const external = fake.jobs.get(String(ctx.saved.external_job_id));
      expect(external?.cancelled).toBe(kind === 'cancel');
    }
  });

  test('health and capabilities', async () => {
    expect(await connector.checkHealth(AbortSignal.timeout(2000))).toMatchObject({ healthy: true });
    fake.healthy = false;
    const down = await connector.checkHealth(AbortSignal.timeout(2000));
    fake.healthy = true;
    expect(down).toEqual({
      healthy: false,
      detail: 'REST async service answered HTTP 503 to GET /health: service is starting',
    });
    expect(await connector.getCapabilities()).toMatchObject({
      supports_asynchronous: true,
      cancel_endpoint: '/api/jobs/{job_id}',
      poll_interval: 0.02,
    });
  });
});
