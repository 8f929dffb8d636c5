import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Queue } from 'bullmq';
import { REDIS_URL, deletePrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { waitForFinished, waitUntil } from '../helpers/runtime.js';
import { startHttpServer } from '../helpers/http-server.js';
import { expectExit, runCli, type CliRun } from '../helpers/cli.js';
import { startFakeRest, type FakeRestServer } from '../fakes/rest/server.js';
import { startFakeA1111, type FakeA1111Server } from '../fakes/a1111/server.js';

const API_KEY = 'sk-e2e-rest-key-41b7d2';
const A1111_PASSWORD = 'e2e-a1111-pass-93kq';
const BASIC_TOKEN = Buffer.from(`emp:${A1111_PASSWORD}`).toString('base64');

/** Runs `node bin/emp-worker.js <args>` to its end. */
function cli(args: string[], env: Record<string, string>, timeoutMs = 30_000): Promise<CliRun> {
  return runCli(args, { ...process.env, ...env }, timeoutMs);
}

describe('rest, rest_async and a1111 end to end: real CLI worker, Redis, fakes', () => {
  const prefix = uniquePrefix('rest-e2e');
  let rest: FakeRestServer;
  let a1111: FakeA1111Server;
  let worker: ChildProcess;
  let workerLog = '';
  let env: Record<string, string>;

  beforeAll(async () => {
    rest = await startFakeRest({ apiKey: API_KEY });
    a1111 = await startFakeA1111({ username: 'emp', password: A1111_PASSWORD, stepMs: 20 });
    env = {
      NODE_ENV: 'test',
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'debug',
      PROGRESS_MIN_INTERVAL_MS: '100',
      WORKER_HEALTH_CHECK_INTERVAL: '0.5',
      CONNECTORS: 'rest,rest_async,a1111',
      WORKER_REST_BASE_URL: rest.url,
      WORKER_REST_API_KEY: API_KEY,
      WORKER_REST_ASYNC_BASE_URL: rest.url,
      REST_ASYNC_API_KEY: API_KEY,
      WORKER_REST_ASYNC_POLL_INTERVAL: '0.05',
      WORKER_A1111_BASE_URL: a1111.url,
      WORKER_A1111_USERNAME: 'emp',
      WORKER_A1111_PASSWORD: A1111_PASSWORD,
      WORKER_A1111_PROGRESS_INTERVAL: '0.1',
    };
    worker = spawn(process.execPath, ['bin/emp-worker.js', 'start'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    worker.stdout?.on('data', (chunk: Buffer) => (workerLog += chunk.toString()));
    worker.stderr?.on('data', (chunk: Buffer) => (workerLog += chunk.toString()));
    await waitUntil(() => /"message":"worker \S+ ready"/.test(workerLog), 20_000, 'the worker ready line');
  });

  afterAll(async () => {
    if (worker.exitCode === null) {
      worker.kill('SIGKILL');
      await new Promise(resolve => worker.once('exit', resolve));
    }
    await rest.close();
    await a1111.close();
    const redis = testRedis();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  test("rest: enqueue --wait prints the service's JSON as the output", async () => {
    const result = await cli(['enqueue', 'rest', '{"text":"hello"}', '--wait'], env);
    expect(result.code).toBe(0);
    const parsed = JSON.parse(result.stdout) as { status: string; output: { echo: Record<string, unknown> } };
    expect(parsed).toMatchObject({
      status: 'success',
      connector: 'rest',
      output: { status: 'done', echo: { text: 'hello' } },
    });
  });

  test('rest_async: enqueue --wait follows the progress and prints the result', async () => {
    const result = await cli(
      ['enqueue', 'rest_async', '{"text":"later","fake":{"steps":4,"step_ms":150}}', '--wait'],
      env,
    );
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      status: 'success',
      connector: 'rest_async',
      output: { result: { echo: { text: 'later' }, steps: 4 } },
    });
    expect(result.stderr).toMatch(/step \d of 4/);
  });

  test('a1111: enqueue --wait draws the sampler progress and prints images and parsed info', async () => {
    const result = await cli(
      ['enqueue', 'a1111', '{"payload":{"prompt":"a red fox","steps":25,"seed":7}}', '--wait'],
      env,
    );
    expect(result.code).toBe(0);
    const parsed = JSON.parse(result.stdout) as { output: { images: string[]; info: { seed: number } } };
    expect(parsed.output.info.seed).toBe(7);
    expect(parsed.output.images).toHaveLength(1);
    expect(result.stderr).toMatch(/step \d+ of 25/);
  });

  test("a1111: a rejected request fails the job with A1111's text and a non-zero exit", async () => {
    const result = await cli(['enqueue', 'a1111', '{"payload":{"steps":"lots"}}', '--wait'], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /failed: ERR_SERVICE_REJECTED: A1111 answered HTTP 422 to POST \/sdapi\/v1\/txt2img: body\.steps: value is not a valid integer/,
    );
  });

  test('rest: bad job data fails at once naming the field', async () => {
    // The CLI refuses it before it reaches Redis ...
    const result = await cli(['enqueue', 'rest', '[1,2]', '--wait'], env);
    expectExit(result, 2);
    expect(result.stderr).toMatch(/^job data must be a JSON object such as .*, got an array$/m);
    // ... and a worker fails it from any other producer, without retry.
    const queue = new Queue('rest', { connection: { url: REDIS_URL }, prefix });
    try {
      const job = await queue.add('rest', [1, 2], { attempts: 3 });
      const finished = await waitForFinished(queue, job.id ?? '');
      expect(finished.failedReason).toBe('ERR_INVALID_INPUT: job data: expected object, got an array');
      expect(finished.attemptsMade).toBe(1);
    } finally {
      await queue.close();
    }
  });

  test("cancel a1111 <id> reaches A1111's /sdapi/v1/interrupt and the job fails as cancelled", async () => {
    const enqueued = await cli(['enqueue', 'a1111', '{"payload":{"prompt":"endless","steps":5000}}'], env);
    const jobId = enqueued.stdout.trim();
    expect(jobId).not.toBe('');
    await waitUntil(
      () => a1111.busyProgressAnswers > 0 && a1111.calls.at(-1) === 'GET /sdapi/v1/progress',
      10_000,
      'generation running',
    );
    const result = await cli(['cancel', 'a1111', jobId, '--reason', 'operator stop'], env);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`job ${jobId} failed: ERR_CANCELLED: cancelled: operator stop`);
    expect(a1111.interrupts).toBe(1);
    expect(a1111.calls).toContain('POST /sdapi/v1/interrupt');
  });

  test('details: a clear verdict against the fakes, and against nothing listening', async () => {
    const ok = await cli(['details', 'a1111'], env);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(
      /service: OK — GET http:\/\/127\.0\.0\.1:\d+\/sdapi\/v1\/memory answered HTTP 200/,
    );
    expect(ok.stdout).toMatch(/"models":\["v1-5-pruned-emaonly\.safetensors \[6ce0161689\]"\]/);
    const asyncOk = await cli(['details', 'rest_async', '--json'], env);
    expect(asyncOk.code).toBe(0);
    expect(JSON.parse(asyncOk.stdout)).toMatchObject({
      connector: 'rest_async',
      probe: { healthy: true },
      capabilities: { auth: 'bearer' },
    });

    const closed = await startHttpServer((_req, res) => res.end());
    const deadUrl = closed.url;
    await closed.close();
    const down = await cli(['details', 'rest'], { ...env, WORKER_REST_BASE_URL: deadUrl });
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(
      /service: UNREACHABLE — REST service unreachable at http:\/\/127\.0\.0\.1:\d+ \(GET \/health\): ECONNREFUSED/,
    );
    const a1111Down = await cli(['details', 'a1111'], { ...env, WORKER_A1111_BASE_URL: deadUrl });
    expect(a1111Down.code).toBe(1);
    expect(a1111Down.stdout).toMatch(/"models_error":"A1111 unreachable/);
    for (const output of [ok, asyncOk, down, a1111Down]) {
      const text = output.stdout + output.stderr;
      expect(text).not.toContain(API_KEY);
      expect(text).not.toContain(A1111_PASSWORD);
      expect(text).not.toContain(BASIC_TOKEN);
    }
  });

  test("credentials never appear in the worker's log, job data, results or failure reasons", async () => {
    worker.kill('SIGTERM');
    const code = await new Promise<number | null>(resolve => worker.once('exit', resolve));
    expect(code).toBe(0);
    expect(workerLog).toMatch(/submitted to REST async service as job ext-/);
    expect(workerLog).toMatch(/asked A1111 to stop the job \(cancel\)/);
    for (const secret of [API_KEY, A1111_PASSWORD, BASIC_TOKEN]) expect(workerLog).not.toContain(secret);
    let checked = 0;
    for (const name of ['rest', 'rest_async', 'a1111']) {
      const queue = new Queue(name, { connection: { url: REDIS_URL }, prefix });
      try {
        for (const job of await queue.getJobs(['completed', 'failed'])) {
          const { logs } = await queue.getJobLogs(job.id ?? '');
          const text = JSON.stringify([job.data, job.returnvalue, job.failedReason, job.stacktrace, logs]);
          for (const secret of [API_KEY, A1111_PASSWORD, BASIC_TOKEN]) expect(text).not.toContain(secret);
          checked++;
        }
      } finally {
        await queue.close();
      }
    }
    expect(checked).toBeGreaterThanOrEqual(6);
  });
});

describe('npm run fake:rest / fake:a1111 (the compiled fake CLIs)', () => {
  test.each([
    ['dist/test/fakes/rest/cli.js', '/health', { status: 'ok' }],
    ['dist/test/fakes/a1111/cli.js', '/sdapi/v1/progress', { progress: 0, eta_relative: 0 }],
  ])('%s listens on the port it prints and answers %s', async (script, path, expected) => {
    const child = spawn(process.execPath, [script, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      await waitUntil(() => /listening on http:\/\/127\.0\.0\.1:\d+/.test(out), 10_000, 'the listening line');
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1] ?? '';
      const response = await fetch(`${url}${path}`);
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject(expected);
    } finally {
      child.kill('SIGTERM');
      await new Promise(resolve => child.once('exit', resolve));
    }
  });
});

describe('rest_async across a worker shutdown', () => {
  const prefix = uniquePrefix('rest-e2e-handover');
  let rest: FakeRestServer;
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const child of children) {
      if (child.exitCode === null) {
        child.kill('SIGKILL');
        await new Promise(resolve => child.once('exit', resolve));
      }
    }
    await rest.close();
    const redis = testRedis();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  function startWorker(env: Record<string, string>): { child: ChildProcess; log: () => string } {
    let log = '';
    const child = spawn(process.execPath, ['bin/emp-worker.js', 'start'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (chunk: Buffer) => (log += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
    children.push(child);
    return { child, log: () => log };
  }

  test('a job handed back at SIGTERM is re-attached by the next worker, never submitted twice', async () => {
    rest = await startFakeRest();
    const env = {
      NODE_ENV: 'test',
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'info',
      CONNECTORS: 'rest_async',
      SHUTDOWN_TIMEOUT: '0.5',
      WORKER_REST_ASYNC_BASE_URL: rest.url,
      WORKER_REST_ASYNC_POLL_INTERVAL: '0.05',
      WORKER_REST_ASYNC_CANCEL_ENDPOINT: '/api/cancel/{job_id}',
    };
    const first = startWorker({ ...env, WORKER_ID: 'first' });
    await waitUntil(() => /worker first ready/.test(first.log()), 20_000, 'first worker ready');
    const queue = new Queue('rest_async', { connection: { url: REDIS_URL }, prefix });
    try {
      const job = await queue.add('rest_async', { fake: { steps: 50, step_ms: 100 } });
      await waitUntil(() => rest.seen('/api/submit').length === 1, 10_000, 'the submit');
      first.child.kill('SIGTERM');
      expect(await new Promise(resolve => first.child.once('exit', resolve))).toBe(0);
      expect(await job.getState()).toBe('waiting');

      const second = startWorker({ ...env, WORKER_ID: 'second' });
      await waitUntil(
        async () => (await job.getState()) === 'completed',
        20_000,
        'the job to complete on the second worker',
      );
      const done = await queue.getJob(job.id ?? '');
      expect(done?.returnvalue).toMatchObject({ status: 'success', output: { result: { steps: 50 } } });
      expect(rest.seen('/api/submit')).toHaveLength(1);
      expect([...rest.jobs.values()].every(j => !j.cancelled)).toBe(true);
      const { logs } = await queue.getJobLogs(job.id ?? '');
      expect(
        logs.some(line =>
          /^re-attached to REST async service job ext-\w+ \(\w+\) instead of submitting again$/.test(line),
        ),
      ).toBe(true);
      second.child.kill('SIGTERM');
      await new Promise(resolve => second.child.once('exit', resolve));
    } finally {
      await queue.close();
    }
  });
});
