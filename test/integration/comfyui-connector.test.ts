import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import type { Job } from 'bullmq';
import { FakeComfyUI } from '../fakes/comfyui/server.js';
import { PNG_SIGNATURE, TINY_GIF } from '../fakes/comfyui/png.js';
import { startRuntime, waitForFinished, waitUntil, type RuntimeHarness } from '../helpers/runtime.js';
import { comfyConnector, runComfyJob } from '../helpers/comfyui.js';
import { comfyWorkerEnv } from '../helpers/media.js';

/** The connector through a real in-process worker runtime (Redis, BullMQ) against fakes with different setups. */

const sampler = (steps: number, stepMs: number, prefix: string, color = 7) => ({
  '1': { class_type: 'EmptyImage', inputs: { width: 16, height: 16, batch_size: 1, color } },
  '2': { class_type: 'FakeSampler', inputs: { images: ['1', 0], steps, step_ms: stepMs } },
  '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: prefix } },
});

type Output = { prompt_id: string; outputs: Record<string, Record<string, Record<string, unknown>[]>> };
const outputOf = (job: Job): Output => (job.returnvalue as { output: Output }).output;

describe('behind a Basic-auth proxy', () => {
  let fake: FakeComfyUI;
  let harness: RuntimeHarness;
  beforeAll(async () => {
    fake = new FakeComfyUI({ auth: { username: 'comfy', password: 's3cret-pw' } });
    await fake.start();
    harness = await startRuntime(
      comfyWorkerEnv(fake, { WORKER_COMFYUI_USERNAME: 'comfy', WORKER_COMFYUI_PASSWORD: 's3cret-pw' }),
    );
  });
  afterAll(async () => {
    await harness.close();
    await fake.close();
  });

  test('credentials go on every HTTP call and on the WebSocket upgrade; none leak into the result', async () => {
    const job = await harness.run('comfyui', sampler(3, 0, 'auth'));
    expect(job.failedReason).toBeUndefined();
    const expected = `Basic ${Buffer.from('comfy:s3cret-pw').toString('base64')}`;
    expect(fake.connections.length).toBeGreaterThan(0);
    expect(fake.connections.every(c => c.authorization === expected)).toBe(true);
    const text =
      JSON.stringify(job.returnvalue) +
      JSON.stringify(await harness.queue('comfyui').getJobLogs(job.id ?? ''));
    expect(text).not.toContain('s3cret-pw');
    expect(text).not.toContain(Buffer.from('comfy:s3cret-pw').toString('base64'));
    const url = String(outputOf(job).outputs['3']?.images?.[0]?.url);
    expect(url).not.toContain('comfy@');
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: expected } })).status).toBe(200);
  });

  test('ComfyUI forgets our client id (its reconnect race): the watchdog polls, reopens the socket (same id) and the job completes', async () => {
    const connectionsBefore = fake.connections.length;
    const queue = harness.queue('comfyui');
    const added = await queue.add('comfyui', sampler(300, 10, 'forgotten'));
    await waitUntil(
      () => fake.isQueuedOrRunning(fake.acceptedPrompts.at(-1) ?? ''),
      10_000,
      'the prompt to run',
    );
    fake.forgetClientIds();
    const job = await waitForFinished(queue, added.id ?? '');
    expect(job.failedReason).toBeUndefined();
    expect(outputOf(job).outputs['3']?.images?.[0]?.filename).toBe('forgotten_00001_.png');
    // The silent-but-open socket was replaced by a fresh one with the same client id.
    expect(fake.connections.length).toBeGreaterThan(connectionsBefore);
    expect(new Set(fake.connections.map(c => c.clientId)).size).toBe(1);
  });

  test('wrong credentials: the upgrade is refused and the job fails without retry, saying so', async () => {
    const connector = comfyConnector(fake.port, {
      WORKER_COMFYUI_USERNAME: 'comfy',
      WORKER_COMFYUI_PASSWORD: 'wrong',
    });
    try {
      await expect(runComfyJob(connector, sampler(1, 0, 'x'))).rejects.toMatchObject({
        code: 'ERR_SERVICE_REJECTED',
        message: expect.stringMatching(
          /ComfyUI refused the WebSocket upgrade at ws:\/\/127\.0\.0\.1:\d+\/ws: HTTP 401 \(check the username\/password or API key\)/,
        ),
        status: 401,
        service: 'ComfyUI',
        endpoint: 'GET /ws',
      });
      expect((await connector.checkHealth(AbortSignal.timeout(5000))).detail).toMatch(/HTTP 401/);
    } finally {
      await connector.close();
    }
  });

  test('a validation error carries the HTTP status, the endpoint and the blamed node as fields', async () => {
    const connector = comfyConnector(fake.port, {
      WORKER_COMFYUI_USERNAME: 'comfy',
      WORKER_COMFYUI_PASSWORD: 's3cret-pw',
    });
    const bad = sampler(1, 0, 'bad');
    bad['1'].inputs.width = 0;
    try {
      await expect(runComfyJob(connector, bad)).rejects.toMatchObject({
        code: 'ERR_SERVICE_REJECTED',
        status: 400,
        service: 'ComfyUI',
        endpoint: 'POST /prompt',
        nodeId: '1',
      });
    } finally {
      await connector.close();
    }
  });
});

describe('a Bearer-token proxy, routes under /api, inline outputs and every output kind', () => {
  let fake: FakeComfyUI;
  let harness: RuntimeHarness;
  beforeAll(async () => {
    fake = new FakeComfyUI({ auth: { token: 'tok-123' } });
    await fake.start();
    harness = await startRuntime(
      comfyWorkerEnv(fake, {
        WORKER_COMFYUI_API_KEY: 'tok-123',
        WORKER_COMFYUI_API_PREFIX: '/api',
        WORKER_COMFYUI_INLINE_IMAGES: 'true',
        WORKER_COMFYUI_INLINE_MAX_BYTES: '2000',
      }),
    );
  });
  afterAll(async () => {
    await harness.close();
    await fake.close();
  });

  test('images, gifs and text come back; files inline as base64 until the cap, then as references', async () => {
    const workflow = {
      '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0x00ff00 } },
      '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'kinds/img' } },
      '3': {
        class_type: 'FakeVideoCombine',
        inputs: { images: ['1', 0], frame_rate: 12, filename_prefix: 'anim' },
      },
      '4': { class_type: 'FakeText', inputs: { text: 'hello from a node' } },
      '5': {
        class_type: 'EmptyImage',
        inputs: { width: 1200, height: 1200, batch_size: 1, color: 0x123456 },
      },
      '6': { class_type: 'PreviewImage', inputs: { images: ['5', 0] } },
    };
    const job = await harness.run('comfyui', {
      prompt: workflow,
      extra_data: { extra_pnginfo: { note: 'x' } },
    });
    expect(job.failedReason).toBeUndefined();
    const { outputs } = outputOf(job);
    expect(fake.requests.some(r => r.path === '/prompt')).toBe(true);
    const image = outputs['2']?.images?.[0] ?? {};
    expect(image).toMatchObject({
      filename: 'img_00001_.png',
      subfolder: 'kinds',
      type: 'output',
      mime: 'image/png',
    });
    expect(String(image.url)).toBe(
      `${fake.baseUrl}/api/view?filename=img_00001_.png&subfolder=kinds&type=output`,
    );
    expect(Buffer.from(String(image.data), 'base64').subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    const gif = outputs['3']?.gifs?.[0] ?? {};
    expect(gif).toMatchObject({
      filename: 'anim_00001.gif',
      format: 'image/gif',
      frame_rate: 12,
      mime: 'image/gif',
    });
    expect(Buffer.from(String(gif.data), 'base64').equals(TINY_GIF)).toBe(true);
    expect(outputs['4']).toEqual({ text: ['hello from a node'] });
    const big = outputs['6']?.images?.[0] ?? {};
    expect(big).toMatchObject({ type: 'temp' });
    expect(big.data).toBeUndefined();
    expect(String(big.inline_skipped)).toMatch(/inline cap|larger than/);
  });
});

describe('an older ComfyUI (legacy protocol) and two jobs sharing one socket', () => {
  let fake: FakeComfyUI;
  let harness: RuntimeHarness;
  beforeAll(async () => {
    fake = new FakeComfyUI({ legacy: true });
    await fake.start();
    harness = await startRuntime(
      comfyWorkerEnv(fake, { WORKER_COMFYUI_CONCURRENCY: '2', WORKER_COMFYUI_WATCHDOG: '30' }),
    );
  });
  afterAll(async () => {
    await harness.close();
    await fake.close();
  });

  test('progress without prompt_id is attributed to the running prompt; each job gets its own outputs', async () => {
    const events = await harness.events('comfyui');
    const seen = new Map<string, number[]>();
    events.on('progress', ({ jobId, data }) => {
      const list = seen.get(jobId) ?? [];
      list.push(Number((data as { progress: number }).progress));
      seen.set(jobId, list);
    });
    const queue = harness.queue('comfyui');
    const [a, b] = await Promise.all([
      queue.add('comfyui', sampler(20, 10, 'lega', 1)),
      queue.add('comfyui', sampler(20, 10, 'legb', 2)),
    ]);
    const [jobA, jobB] = await Promise.all([
      waitForFinished(queue, a.id ?? ''),
      waitForFinished(queue, b.id ?? ''),
    ]);
    expect(outputOf(jobA).outputs['3']?.images?.[0]?.filename).toBe('lega_00001_.png');
    expect(outputOf(jobB).outputs['3']?.images?.[0]?.filename).toBe('legb_00001_.png');
    // The old server ignores our prompt id and uses its own; that is the one recorded.
    expect(fake.acceptedPrompts).toContain(outputOf(jobA).prompt_id);
    // One socket for the worker, shared by both jobs.
    expect(new Set(fake.connections.map(c => c.clientId)).size).toBe(1);
    for (const job of [jobA, jobB]) {
      const values = seen.get(job.id ?? '') ?? [];
      expect(values.some(value => value > 0 && value < 100)).toBe(true);
      for (let i = 1; i < values.length; i++) expect(values[i]).toBeGreaterThanOrEqual(values[i - 1] ?? 0);
    }
  });

  test('the old {error: "no prompt", node_errors: []} style of rejection is reported', async () => {
    const job = await harness.run('comfyui', { '1': { class_type: 'Unknown', inputs: {} } }, { attempts: 2 });
    expect(job.failedReason).toMatch(
      /^ERR_SERVICE_REJECTED: ComfyUI rejected the workflow \(HTTP 400\): Cannot execute because node Unknown does not exist\./,
    );
    expect(job.attemptsMade).toBe(1);
  });
});

describe('timeout, slow history and a service that is down', () => {
  let fake: FakeComfyUI;
  let harness: RuntimeHarness;
  beforeAll(async () => {
    fake = new FakeComfyUI();
    await fake.start();
    harness = await startRuntime(comfyWorkerEnv(fake, { WORKER_COMFYUI_TIMEOUT: '1.5' }));
  });
  afterAll(async () => {
    await harness.close();
    await fake.close();
  });

  test('a job past its timeout interrupts its prompt on ComfyUI and fails with ERR_JOB_TIMEOUT', async () => {
    const job = await harness.run('comfyui', sampler(5000, 10, 'slow'), { attempts: 1 });
    expect(job.failedReason).toMatch(/^ERR_JOB_TIMEOUT: comfyui job exceeded its 1.5 s timeout/);
    const promptId = fake.acceptedPrompts.at(-1) ?? '';
    expect(fake.interrupts).toContainEqual({ prompt_id: promptId });
    await waitUntil(() => !fake.isQueuedOrRunning(promptId), 10_000, 'the prompt to stop');
  });

  test('slow /history answers still complete the job', async () => {
    fake.faults.historyDelayMs = 300;
    try {
      const job = await harness.run('comfyui', sampler(2, 0, 'slowhist'));
      expect(job.failedReason).toBeUndefined();
      expect(outputOf(job).outputs['3']?.images?.[0]?.filename).toBe('slowhist_00001_.png');
    } finally {
      delete fake.faults.historyDelayMs;
    }
  });

  test('a WebSocket that cannot be opened fails the job as retryable (unavailable)', async () => {
    fake.faults.refuseWebSocket = true;
    fake.dropSockets();
    try {
      await waitUntil(() => fake.socketCount === 0, 5000, 'sockets to close');
      const job = await harness.run('comfyui', sampler(1, 0, 'nows'), { attempts: 1 });
      expect(job.failedReason).toMatch(
        /^ERR_SERVICE_UNAVAILABLE: ComfyUI refused the WebSocket upgrade at ws:\/\/127\.0\.0\.1:\d+\/ws: HTTP 503/,
      );
    } finally {
      delete fake.faults.refuseWebSocket;
    }
  });
});

describe('re-attach decisions and prompts that end before the socket says anything', () => {
  let fake: FakeComfyUI;
  beforeAll(async () => {
    fake = new FakeComfyUI();
    await fake.start();
  });
  afterAll(async () => fake.close());

  test('a saved prompt_id ComfyUI does not know: logged, then submitted (reusing the id)', async () => {
    const connector = comfyConnector(fake.port);
    try {
      const run = await runComfyJob(connector, sampler(2, 0, 'unknown'), {
        checkpoint: { prompt_id: 'saved-but-unknown' },
      });
      expect(run.logs[0]).toBe(
        'ComfyUI does not know prompt_id saved-but-unknown (never queued, or ComfyUI restarted); submitting the workflow again',
      );
      expect(run.output.prompt_id).toBe('saved-but-unknown');
      expect(fake.acceptedPrompts).toContain('saved-but-unknown');
    } finally {
      await connector.close();
    }
  });

  test('a saved prompt_id that already finished: its outputs are collected, nothing is submitted', async () => {
    const connector = comfyConnector(fake.port);
    try {
      const first = await runComfyJob(connector, sampler(2, 0, 'collect'));
      const posts = fake.acceptedPrompts.length;
      const again = await runComfyJob(connector, sampler(2, 0, 'collect'), {
        checkpoint: { prompt_id: first.output.prompt_id },
      });
      expect(fake.acceptedPrompts.length).toBe(posts);
      expect(again.output).toEqual(first.output);
      expect(again.logs).toEqual([
        `re-attached to ComfyUI prompt_id ${first.output.prompt_id}: it already finished; collecting its outputs`,
      ]);
    } finally {
      await connector.close();
    }
  });

  test('a cached prompt that finished before any message: found by the look right after submitting, not by the watchdog', async () => {
    // With a 600 s watchdog and a silent socket, only the immediate /history look can finish this job in time.
    const connector = comfyConnector(fake.port, { WORKER_COMFYUI_WATCHDOG: '600' });
    try {
      const first = await runComfyJob(connector, sampler(1, 0, 'instant', 99));
      fake.faults.silent = true;
      const cached = await runComfyJob(connector, sampler(1, 0, 'instant', 99));
      expect(cached.output.outputs).toEqual(first.output.outputs);
    } finally {
      delete fake.faults.silent;
      await connector.close();
    }
  });
});

describe('ComfyUI down at start, then up', () => {
  test('the queue waits (health gate on /system_stats) and the job runs once ComfyUI answers; no attempt is burnt', async () => {
    // A port that was free a moment ago, with nothing listening yet.
    const probe = new FakeComfyUI();
    await probe.start();
    const port = probe.port;
    await probe.close();
    const harness = await startRuntime({
      CONNECTORS: 'comfyui',
      WORKER_COMFYUI_HOST: '127.0.0.1',
      WORKER_COMFYUI_PORT: String(port),
      WORKER_HTTP_PORT: '0',
    });
    let fake: FakeComfyUI | undefined;
    try {
      const readyz = async () => {
        const response = await fetch(`http://127.0.0.1:${harness.runtime.httpPort() ?? 0}/readyz`);
        return { status: response.status, body: (await response.json()) as Record<string, unknown> };
      };
      await waitUntil(async () => (await readyz()).status === 503, 10_000, '/readyz to report ComfyUI down');
      expect(JSON.stringify((await readyz()).body)).toMatch(
        /ComfyUI unreachable at http:\/\/127\.0\.0\.1:\d+ .*ECONNREFUSED/,
      );
      const queue = harness.queue('comfyui');
      const added = await queue.add('comfyui', sampler(2, 0, 'later'), { attempts: 1 });
      expect(await added.getState()).toBe('waiting');
      fake = new FakeComfyUI();
      await fake.start(port);
      const job = await waitForFinished(queue, added.id ?? '', 20_000);
      expect(job.failedReason).toBeUndefined();
      expect(job.attemptsStarted).toBe(1);
      expect(job.stacktrace).toEqual([]);
      expect(outputOf(job).outputs['3']?.images?.[0]?.filename).toBe('later_00001_.png');
    } finally {
      await harness.close();
      await fake?.close();
    }
  });
});

/** Another client submitting a prompt every 100 ms: each queue change is broadcast to every socket. */
function keepBusy(fake: FakeComfyUI): () => void {
  let n = 0;
  const timer = setInterval(() => {
    void fetch(`${fake.baseUrl}/prompt`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: sampler(1, 0, `busy${n++ % 3}`), client_id: 'someone-else' }),
    }).catch(() => undefined);
  }, 100);
  return () => clearInterval(timer);
}

describe('polls and the watchdog keep their cadence while other clients keep ComfyUI busy', () => {
  let fake: FakeComfyUI;
  let stopBusy: (() => void) | undefined;
  beforeEach(async () => {
    fake = new FakeComfyUI();
    await fake.start();
  });
  afterEach(async () => {
    stopBusy?.();
    await fake.close();
  });

  test('a re-attached prompt (its messages go to another client id) is polled from the start: the job ends within a poll interval or so of the prompt', async () => {
    // Watchdog far away: only the poll cadence (0.2 s) can finish this job soon.
    const connector = comfyConnector(fake.port, {
      WORKER_COMFYUI_WATCHDOG: '600',
      WORKER_COMFYUI_POLL_INTERVAL: '0.2',
    });
    try {
      // The prompt of a worker that died: submitted with its client id, which nobody holds now.
      const submitted = await fetch(`${fake.baseUrl}/prompt`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: sampler(15, 100, 'orphan'), client_id: 'dead-worker' }),
      });
      const { prompt_id: promptId } = (await submitted.json()) as { prompt_id: string };
      stopBusy = keepBusy(fake);
      const run = await runComfyJob(connector, sampler(15, 100, 'orphan'), {
        checkpoint: { prompt_id: promptId },
      });
      const finishedAt = Date.now();
      const ended = fake.timings.get(promptId)?.ended ?? Number.NaN;
      expect(run.output.prompt_id).toBe(promptId);
      expect(run.logs[0]).toBe(
        `re-attached to ComfyUI prompt_id ${promptId}: still running; following it instead of submitting again`,
      );
      expect(fake.acceptedPrompts.filter(id => id === promptId)).toHaveLength(1);
      // A poll interval is 0.2 s; a generous margin for a loaded machine. Without polls on a
      // deadline the job never ends here: the busy clients never stop during the test.
      expect(finishedAt - ended).toBeLessThan(6000);
    } finally {
      await connector.close();
    }
  });

  test('our own prompt whose messages stop: the watchdog fires on time despite the broadcasts', async () => {
    const connector = comfyConnector(fake.port, {
      WORKER_COMFYUI_WATCHDOG: '1',
      WORKER_COMFYUI_POLL_INTERVAL: '0.2',
    });
    try {
      await runComfyJob(connector, sampler(1, 0, 'warmup')); // opens the socket
      // ComfyUI's registry race: our client id is forgotten, the socket stays open and still
      // gets every broadcast, but no message about our prompt.
      fake.forgetClientIds();
      stopBusy = keepBusy(fake);
      const run = await runComfyJob(connector, sampler(10, 100, 'unheard'));
      const ended = fake.timings.get(run.output.prompt_id)?.ended ?? Number.NaN;
      expect(run.output.outputs['3']).toBeDefined();
      // The watchdog (1 s after the last word) then a poll; far below the time the busy clients go on.
      expect(Date.now() - ended).toBeLessThan(6000);
    } finally {
      await connector.close();
    }
  });
});
