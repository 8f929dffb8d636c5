import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startRuntime, waitUntil, type RuntimeHarness } from '../helpers/runtime.js';
import { startFakeRest, type FakeRestServer } from '../fakes/rest/server.js';

const API_KEY = 'sk-rest-secret-7f3a9c';

describe('rest connector through a real worker runtime (Bearer auth)', () => {
  let fake: FakeRestServer;
  let harness: RuntimeHarness;
  beforeAll(async () => {
    fake = await startFakeRest({ apiKey: API_KEY });
    harness = await startRuntime({
      CONNECTORS: 'rest',
      WORKER_REST_BASE_URL: fake.url,
      WORKER_REST_API_KEY: API_KEY,
      WORKER_REST_TIMEOUT: '2',
      WORKER_REST_CONCURRENCY: '4',
      WORKER_REST_MAX_RESPONSE_BYTES: String(1024 * 1024),
    });
  });
  afterAll(async () => {
    await harness.close();
    await fake.close();
  });

  const bodiesFor = (jobId: string | undefined): unknown[] =>
    fake
      .seen('/api/process')
      .filter(r => (r.body as { job_id?: unknown }).job_id === jobId)
      .map(r => r.body);

  test('a job is POSTed as {job_id, ...data} with the Bearer key and its JSON answer is the output', async () => {
    const job = await harness.run('rest', { text: 'hello', n: 3 });
    expect(await job.getState()).toBe('completed');
    expect(job.returnvalue).toEqual({
      status: 'success',
      connector: 'rest',
      output: { job_id: job.id, status: 'done', echo: { job_id: job.id, text: 'hello', n: 3 } },
    });
    const request = fake.seen('/api/process').find(r => (r.body as { job_id?: unknown }).job_id === job.id);
    expect(request?.authorization).toBe(`Bearer ${API_KEY}`);
    expect(JSON.stringify(job.returnvalue)).not.toContain(API_KEY);
    expect(JSON.stringify(job.data)).not.toContain(API_KEY);
  });

  test.each([
    ['a string', 'hello', /^ERR_INVALID_INPUT: job data: expected object, got "hello"$/],
    ['null', null, /^ERR_INVALID_INPUT: job data: expected object, got null$/],
    ['an array', [1], /^ERR_INVALID_INPUT: job data: expected object, got an array$/],
  ])('job data that is %s fails at once naming it, and nothing is sent', async (_label, data, reason) => {
    const before = fake.seen('/api/process').length;
    const job = await harness.run('rest', data, { attempts: 3 });
    expect(job.failedReason).toMatch(/^ERR_INVALID_INPUT: /);
    expect(job.failedReason).toMatch(reason);
    expect(job.attemptsMade).toBe(1);
    expect(fake.seen('/api/process').length).toBe(before);
  });

  test.each([
    [
      400,
      'prompt is too long',
      /^ERR_SERVICE_REJECTED: REST service answered HTTP 400 to POST \/api\/process: prompt is too long$/,
    ],
    [404, 'no such model', /^ERR_SERVICE_REJECTED: .*HTTP 404.*no such model/],
    [422, 'field required', /^ERR_SERVICE_REJECTED: .*HTTP 422.*body\.input: field required/],
  ])('HTTP %i fails without retry, with the service error text', async (status, detail, reason) => {
    const job = await harness.run(
      'rest',
      { fake: { status, detail } },
      { attempts: 3, backoff: { type: 'fixed', delay: 10 } },
    );
    expect(await job.getState()).toBe('failed');
    expect(job.failedReason).toMatch(reason);
    expect(job.attemptsMade).toBe(1);
  });

  test("HTTP 500 is retried under the producer's attempts", async () => {
    const job = await harness.run(
      'rest',
      { fake: { status: 503, detail: 'overloaded' } },
      { attempts: 2, backoff: { type: 'fixed', delay: 10 } },
    );
    expect(job.failedReason).toMatch(/^ERR_SERVICE_UNAVAILABLE: REST service answered HTTP 503 .*overloaded/);
    expect(job.attemptsMade).toBe(2);
    expect(bodiesFor(job.id)).toHaveLength(2);
  });

  test('HTTP 429 delays the job by Retry-After instead of burning attempts, then fails as rate-limited', async () => {
    const job = await harness.run('rest', { fake: { status: 429, retry_after: 0.05 } }, { attempts: 1 });
    expect(job.failedReason).toMatch(/^ERR_RATE_LIMITED: .*HTTP 429/);
    expect(bodiesFor(job.id).length).toBeGreaterThan(1);
    const { logs } = await harness.queue('rest').getJobLogs(job.id ?? '');
    expect(logs.some(line => line.includes('rate-limited the job; retrying in'))).toBe(true);
  });

  test('a non-JSON answer fails without retry, saying so', async () => {
    const job = await harness.run('rest', { fake: { malformed: true } }, { attempts: 3 });
    expect(job.failedReason).toMatch(
      /^ERR_PROTOCOL: REST service answered POST \/api\/process with something that is not JSON: <html>/,
    );
    expect(job.attemptsMade).toBe(1);
  });

  test('an oversized answer is cut off at WORKER_REST_MAX_RESPONSE_BYTES', async () => {
    const job = await harness.run('rest', { fake: { huge_bytes: 3 * 1024 * 1024 } }, { attempts: 3 });
    expect(job.failedReason).toMatch(/^ERR_PROTOCOL: .*larger than 1048576 bytes/);
    expect(job.attemptsMade).toBe(1);
  });

  test('a connection dropped mid-answer is a retryable unavailability', async () => {
    const job = await harness.run(
      'rest',
      { fake: { drop: true } },
      { attempts: 2, backoff: { type: 'fixed', delay: 10 } },
    );
    expect(job.failedReason).toMatch(/^ERR_SERVICE_UNAVAILABLE: /);
    expect(job.attemptsMade).toBe(2);
  });

  test('a service that never answers is stopped by the job timeout (WORKER_REST_TIMEOUT)', async () => {
    const job = await harness.run('rest', { fake: { hang: true } }, { attempts: 1 });
    expect(job.failedReason).toBe('ERR_JOB_TIMEOUT: rest job exceeded its 2 s timeout and was stopped');
  });

  test('the worker keeps serving after all of that', async () => {
    const jobs = await Promise.all([1, 2, 3].map(n => harness.run('rest', { n })));
    for (const job of jobs) {
      expect(job.returnvalue).toMatchObject({ status: 'success', output: { status: 'done' } });
    }
  });

  test('an unhealthy service pauses the queue (jobs wait, none burnt) until /health answers again', async () => {
    fake.healthy = false;
    const healthBefore = fake.seen('/health').length;
    await waitUntil(
      () =>
        harness.runtime.metrics.serviceHealthy !== undefined &&
        fake.seen('/health').length >= healthBefore + 2,
      10_000,
      'health checks',
    );
    const queue = harness.queue('rest');
    // A paused BullMQ worker's in-flight blocking fetch may still take one job (reported to the
    // runtime's owner); this one absorbs it, the next must wait.
    await queue.add('rest', { primer: true });
    const job = await queue.add('rest', { paused: true });
    const seenAtAdd = fake.seen('/health').length;
    await waitUntil(() => fake.seen('/health').length >= seenAtAdd + 3, 10_000, 'more failed health checks');
    expect(await job.getState()).toBe('waiting');
    expect(bodiesFor(job.id)).toHaveLength(0);
    fake.healthy = true;
    await waitUntil(async () => (await job.getState()) === 'completed', 10_000, 'job completion');
  });
});

describe('rest connector with Basic auth', () => {
  const PASSWORD = 'pa55-w0rd-basic-9x';
  let fake: FakeRestServer;
  let good: RuntimeHarness;
  let bad: RuntimeHarness;
  beforeAll(async () => {
    fake = await startFakeRest({ username: 'emp', password: PASSWORD });
    good = await startRuntime({
      CONNECTORS: 'rest',
      WORKER_REST_BASE_URL: fake.url,
      REST_USERNAME: 'emp',
      REST_PASSWORD: PASSWORD,
    });
    bad = await startRuntime({
      CONNECTORS: 'rest',
      WORKER_REST_BASE_URL: fake.url,
      WORKER_REST_USERNAME: 'emp',
      WORKER_REST_PASSWORD: 'wrong-password-123',
    });
  });
  afterAll(async () => {
    await good.close();
    await bad.close();
    await fake.close();
  });

  test('username and password (also without the WORKER_ prefix) become Basic auth', async () => {
    const job = await good.run('rest', { hello: 1 });
    expect(job.returnvalue).toMatchObject({ status: 'success' });
    const request = fake.seen('/api/process').find(r => (r.body as { job_id?: unknown }).job_id === job.id);
    expect(request?.authorization).toBe(`Basic ${Buffer.from(`emp:${PASSWORD}`).toString('base64')}`);
  });

  test('a wrong password is a 401 that is not retried and never shows the password', async () => {
    const job = await bad.run('rest', { hello: 1 }, { attempts: 3 });
    expect(job.failedReason).toBe(
      'ERR_SERVICE_REJECTED: REST service answered HTTP 401 to POST /api/process: Not authenticated',
    );
    expect(job.attemptsMade).toBe(1);
    const { logs } = await bad.queue('rest').getJobLogs(job.id ?? '');
    expect(JSON.stringify(logs)).not.toContain('wrong-password-123');
    expect(JSON.stringify(logs)).not.toMatch(/Basic [A-Za-z0-9+/=]{8,}/);
  });
});
