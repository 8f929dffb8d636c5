import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import {
  A1111Connector,
  a1111Connector,
  type A1111Config,
} from '../../src/connectors/services/a1111/index.js';
import { createLogger } from '../../src/logging/logger.js';
import { startRuntime, testConfig, waitUntil, type RuntimeHarness } from '../helpers/runtime.js';
import { startHttpServer, type TestServer } from '../helpers/http-server.js';
import { expectExit } from '../helpers/cli.js';
import { runCli } from '../helpers/rest-cli.js';
import { startFakeA1111, type FakeA1111Server } from '../fakes/a1111/server.js';

const PASSWORD = 'a1111-api-auth-secret';
const silent = createLogger({ level: 'silent', format: 'json' });

describe('a1111 connector through a real worker runtime', () => {
  let fake: FakeA1111Server;
  const a1111Env = (): Record<string, string> => ({
    CONNECTORS: 'a1111',
    WORKER_A1111_BASE_URL: fake.url,
    WORKER_A1111_USERNAME: 'emp',
    WORKER_A1111_PASSWORD: PASSWORD,
    WORKER_A1111_PROGRESS_INTERVAL: '0.05',
  });
  let elsewhere: TestServer;
  let elsewhereHits = 0;
  let harness: RuntimeHarness;
  beforeAll(async () => {
    fake = await startFakeA1111({ username: 'emp', password: PASSWORD, stepMs: 20 });
    elsewhere = await startHttpServer((_req, res) => {
      elsewhereHits++;
      res.end('{}');
    });
    harness = await startRuntime({ ...a1111Env(), WORKER_A1111_TIMEOUT: '2' });
  });
  afterAll(async () => {
    await harness.close();
    await fake.close();
    await elsewhere.close();
  });

  test('txt2img: base64 PNGs passed through, info parsed, sampler progress reported while the call blocks', async () => {
    const events = await harness.events('a1111');
    const seen: Array<Record<string, unknown>> = [];
    events.on('progress', ({ data }) => {
      if (typeof data === 'object' && data !== null) seen.push(data as Record<string, unknown>);
    });
    const job = await harness.run('a1111', {
      payload: { prompt: 'a lighthouse', steps: 30, seed: 42, batch_size: 2 },
    });
    expect(await job.getState()).toBe('completed');
    const output = (
      job.returnvalue as { output: { images: string[]; info: Record<string, unknown>; parameters: unknown } }
    ).output;
    expect(output.images).toHaveLength(2);
    for (const image of output.images) {
      expect(image.startsWith('data:')).toBe(false);
      expect(Buffer.from(image, 'base64').subarray(1, 4).toString('latin1')).toBe('PNG');
    }
    expect(output.info).toMatchObject({ prompt: 'a lighthouse', seed: 42, steps: 30, all_seeds: [42, 43] });
    expect(output.parameters).toMatchObject({ prompt: 'a lighthouse', steps: 30 });
    const sampling = seen.filter(p => p.status === 'sampling');
    expect(sampling.length).toBeGreaterThan(0);
    expect(
      sampling.some(p => typeof p.step === 'number' && p.total_steps === 30 && typeof p.eta === 'number'),
    ).toBe(true);
    for (let i = 1; i < seen.length; i++) {
      expect(Number(seen[i]?.progress)).toBeGreaterThanOrEqual(Number(seen[i - 1]?.progress));
    }
    expect(seen.at(-1)).toMatchObject({ progress: 100, status: 'completed', connector: 'a1111' });
    expect(fake.busyProgressAnswers).toBeGreaterThan(0);
    expect(fake.calls).toContain('GET /sdapi/v1/progress');
  });

  test('other sdapi endpoints work, GET included', async () => {
    const job = await harness.run('a1111', { endpoint: 'sd-models', method: 'get' });
    expect((job.returnvalue as { output: Array<{ title: string }> }).output[0]?.title).toMatch(
      /v1-5-pruned-emaonly/,
    );
    const img = await harness.run('a1111', {
      endpoint: '/sdapi/v1/img2img',
      payload: { prompt: 'x', steps: 2, init_images: ['iVBORw0KGgo='] },
    });
    expect(img.returnvalue).toMatchObject({ status: 'success' });
  });

  test.each([
    [
      'no payload',
      { endpoint: 'txt2img' },
      'ERR_INVALID_INPUT: /payload: is required for POST: the A1111 request body, e.g. {"prompt": "a cat", "steps": 20}',
    ],
    [
      'a payload that is a string',
      { payload: 'a cat' },
      'ERR_INVALID_INPUT: /payload: expected object or null, got "a cat"',
    ],
    [
      'an endpoint with ..',
      { endpoint: '../../etc/passwd', payload: {} },
      /^ERR_INVALID_INPUT: \/endpoint: expected an sdapi path .*got "\.\.\/\.\.\/etc\/passwd"$/,
    ],
    [
      'an endpoint that is a URL',
      { endpoint: 'http://ELSEWHERE/steal', payload: {} },
      /^ERR_INVALID_INPUT: \/endpoint: expected an sdapi path/,
    ],
    [
      'a scheme-relative endpoint',
      { endpoint: '//ELSEWHERE/steal', payload: {} },
      /^ERR_INVALID_INPUT: \/endpoint: expected an sdapi path/,
    ],
    [
      'a bad method',
      { method: 'PUT', payload: {} },
      'ERR_INVALID_INPUT: /method: expected one of "POST", "GET", "post", "get", got "PUT"',
    ],
    [
      'an unknown field',
      { payload: {}, prompt: 'x' },
      /^ERR_INVALID_INPUT: job data: unknown field "prompt" \(allowed: endpoint, method, payload, webhook, upload_urls\)$/,
    ],
  ])('%s fails at once naming the field, and no request leaves the worker', async (_label, data, reason) => {
    const host = new URL(elsewhere.url).host;
    const withHost = JSON.parse(JSON.stringify(data).replace('ELSEWHERE', host)) as unknown;
    const callsBefore = fake.calls.length;
    const job = await harness.run('a1111', withHost, { attempts: 3 });
    if (typeof reason === 'string') expect(job.failedReason).toBe(reason);
    else expect(job.failedReason).toMatch(reason);
    expect(job.attemptsMade).toBe(1);
    expect(elsewhereHits).toBe(0);
    expect(fake.calls.slice(callsBefore).filter(c => !c.includes('/memory'))).toEqual([]);
  });

  test("A1111's 422 field list is the failure reason, not retried", async () => {
    const job = await harness.run('a1111', { payload: { prompt: 'x', steps: 'many' } }, { attempts: 3 });
    expect(job.failedReason).toBe(
      'ERR_SERVICE_REJECTED: A1111 answered HTTP 422 to POST /sdapi/v1/txt2img: body.steps: value is not a valid integer',
    );
    expect(job.attemptsMade).toBe(1);
  });

  test("A1111's HTTPException envelope (unknown sampler) is the failure reason, not retried", async () => {
    const job = await harness.run(
      'a1111',
      { payload: { prompt: 'x', sampler_name: 'Nope' } },
      { attempts: 3 },
    );
    expect(job.failedReason).toBe(
      'ERR_SERVICE_REJECTED: A1111 answered HTTP 404 to POST /sdapi/v1/txt2img: Sampler not found',
    );
  });

  test("a 500 (CUDA OOM) is retried, with A1111's error text", async () => {
    const job = await harness.run(
      'a1111',
      { payload: { prompt: '__oom__', steps: 2 } },
      { attempts: 2, backoff: { type: 'fixed', delay: 10 } },
    );
    expect(job.failedReason).toBe(
      'ERR_SERVICE_UNAVAILABLE: A1111 answered HTTP 500 to POST /sdapi/v1/txt2img: CUDA out of memory. Tried to allocate 2.00 GiB',
    );
    expect(job.attemptsMade).toBe(2);
  });

  test('a job past WORKER_A1111_TIMEOUT is stopped and A1111 is told to interrupt', async () => {
    const interruptsBefore = fake.interrupts;
    const generationsBefore = fake.generations;
    const job = await harness.run('a1111', { payload: { prompt: 'slow', steps: 1000 } }, { attempts: 1 });
    expect(job.failedReason).toBe('ERR_JOB_TIMEOUT: a1111 job exceeded its 2 s timeout and was stopped');
    expect(fake.interrupts).toBe(interruptsBefore + 1);
    await waitUntil(
      () => fake.generations === generationsBefore + 1,
      5_000,
      'the interrupted generation to end',
    );
    const { logs } = await harness.queue('a1111').getJobLogs(job.id ?? '');
    expect(logs).toContain('asked A1111 to stop the job (timeout)');
  });

  test('cancel reaches /sdapi/v1/interrupt and the job fails as cancelled', async () => {
    // A runtime of its own, with a job timeout that cannot fire before the cancel arrives
    // however slowly the CLI starts on a loaded machine (the shared one times out at 2 s).
    const patient = await startRuntime({ ...a1111Env(), WORKER_A1111_TIMEOUT: '600' });
    try {
      // Earlier jobs' calls run on inside A1111 until their interrupt lands: start from an idle
      // fake, so the generation that reports sampling progress is this job's.
      await waitUntil(() => fake.inFlight === 0, 30_000, 'earlier generations to end');
      const interruptsBefore = fake.interrupts;
      const events = await patient.events('a1111');
      const jobId = 'cancel-me';
      const sampling = new Promise<void>(resolve => {
        events.on('progress', ({ jobId: id, data }) => {
          if (id === jobId && (data as { status?: unknown }).status === 'sampling') resolve();
        });
      });
      await patient.queue('a1111').add('a1111', { payload: { prompt: 'cancel me', steps: 5000 } }, { jobId });
      await sampling;
      const result = await runCli(['cancel', 'a1111', jobId, '--reason', 'changed my mind'], patient.prefix);
      expectExit(result, 0);
      expect(result.stdout).toContain('failed: ERR_CANCELLED: cancelled: changed my mind');
      expect(fake.interrupts).toBe(interruptsBefore + 1);
    } finally {
      await patient.close();
    }
  });

  test('an interrupt by another client of A1111 fails the attempt (retryable) instead of returning partial images', async () => {
    // Earlier jobs' calls run on inside A1111 until their interrupt lands: start from an idle fake,
    // so the generation /progress shows is this job's.
    await waitUntil(() => fake.inFlight === 0, 10_000, 'earlier generations to end');
    const busyBefore = fake.busyProgressAnswers;
    const queue = harness.queue('a1111');
    const job = await queue.add(
      'a1111',
      { payload: { prompt: 'someone stops me', steps: 1000 } },
      { attempts: 1 },
    );
    await waitUntil(() => fake.busyProgressAnswers > busyBefore, 5_000, "this job's generation running");
    const interrupt = await fetch(`${fake.url}/sdapi/v1/interrupt`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`emp:${PASSWORD}`).toString('base64')}` },
    });
    expect(interrupt.status).toBe(200);
    await waitUntil(async () => (await job.getState()) === 'failed', 10_000, 'the job to fail');
    const failed = await queue.getJob(job.id ?? '');
    expect(failed?.failedReason).toBe(
      'ERR_SERVICE_FAILED: A1111 txt2img was interrupted by another client of A1111 before it finished; its images are partial',
    );
    expect(failed?.attemptsMade).toBe(1);
    const { logs } = await queue.getJobLogs(job.id ?? '');
    expect(logs.some(line => line.endsWith('no attempts left (1)'))).toBe(true);
  });

  test('with concurrency 1 (the default) only one generation call is ever open at once', async () => {
    // Calls of earlier (timed-out, cancelled) jobs run on inside A1111 until interrupted: start clean.
    await waitUntil(() => fake.inFlight === 0, 10_000, 'earlier generations to end');
    fake.maxInFlight = 0;
    const jobs = await Promise.all(
      [1, 2, 3].map(n => harness.run('a1111', { payload: { prompt: `p${n}`, steps: 5 } })),
    );
    for (const job of jobs) expect(job.returnvalue).toMatchObject({ status: 'success' });
    expect(fake.maxInFlight).toBe(1);
  });

  test('the password never reaches job data, results, failure reasons or logs', async () => {
    const queue = harness.queue('a1111');
    const ids = (await queue.getJobs(['completed', 'failed'])).map(j => j.id ?? '');
    expect(ids.length).toBeGreaterThan(5);
    for (const id of ids) {
      const job = await queue.getJob(id);
      const { logs } = await queue.getJobLogs(id);
      const text = JSON.stringify([job?.data, job?.returnvalue, job?.failedReason, logs]);
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(Buffer.from(`emp:${PASSWORD}`).toString('base64'));
    }
  });
});

describe('a1111 connector called directly', () => {
  let fake: FakeA1111Server;
  const build = (env: Record<string, string>): A1111Connector =>
    a1111Connector.create(testConfig({ CONNECTORS: 'a1111', ...env }).connectors.a1111 as A1111Config, {
      logger: silent,
    }) as A1111Connector;
  beforeAll(async () => {
    fake = await startFakeA1111({ username: 'emp', password: PASSWORD, uiMode: false });
  });
  afterAll(async () => fake.close());

  test('capabilities list the models and samplers; health is a cheap authenticated GET', async () => {
    const connector = build({ A1111_BASE_URL: fake.url, A1111_USERNAME: 'emp', A1111_PASSWORD: PASSWORD });
    expect(await connector.getCapabilities(AbortSignal.timeout(2000))).toMatchObject({
      models: ['v1-5-pruned-emaonly.safetensors [6ce0161689]'],
      samplers: ['DPM++ 2M', 'Euler a', 'Euler', 'DDIM'],
      auth: 'basic',
    });
    expect(await connector.checkHealth(AbortSignal.timeout(2000))).toMatchObject({ healthy: true });
    fake.healthy = false;
    const down = await connector.checkHealth(AbortSignal.timeout(2000));
    fake.healthy = true;
    expect(down).toEqual({
      healthy: false,
      detail: 'A1111 answered HTTP 500 to GET /sdapi/v1/memory: CUDA error: device-side assert triggered',
    });
  });

  test("wrong credentials: A1111's 401 envelope in the health detail and capabilities, without the password", async () => {
    const connector = build({
      A1111_BASE_URL: fake.url,
      A1111_USERNAME: 'emp',
      A1111_PASSWORD: 'not-the-password',
    });
    const health = await connector.checkHealth(AbortSignal.timeout(2000));
    expect(health).toEqual({
      healthy: false,
      detail: 'A1111 answered HTTP 401 to GET /sdapi/v1/memory: Incorrect username or password',
    });
    const capabilities = await connector.getCapabilities(AbortSignal.timeout(2000));
    expect(capabilities.models_error).toMatch(/HTTP 401/);
    expect(JSON.stringify([health, capabilities])).not.toContain('not-the-password');
  });

  test('nothing listening: capabilities carry the errors instead of throwing; health says unreachable', async () => {
    const closed = await startHttpServer((_req, res) => res.end());
    const url = closed.url;
    await closed.close();
    const connector = build({ A1111_BASE_URL: url });
    const capabilities = await connector.getCapabilities(AbortSignal.timeout(2000));
    expect(capabilities.models_error).toMatch(/A1111 unreachable at .*ECONNREFUSED/);
    expect(await connector.checkHealth(AbortSignal.timeout(2000))).toMatchObject({
      healthy: false,
      detail: expect.stringMatching(/ECONNREFUSED/),
    });
  });

  test('USE_SSL switches an http:// base URL to https://', async () => {
    const connector = build({ A1111_BASE_URL: 'http://gpu-box:7860', A1111_USE_SSL: 'true' });
    expect(await connector.getCapabilities(AbortSignal.timeout(500))).toMatchObject({
      base_url: 'https://gpu-box:7860/',
    });
  });
});
