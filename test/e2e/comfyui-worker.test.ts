import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Queue, QueueEvents, type Job, type JobsOptions } from 'bullmq';
import { NODE_CLASSES } from '../fakes/comfyui/nodes.js';
import { FakeComfyUI } from '../fakes/comfyui/server.js';
import { PNG_SIGNATURE } from '../fakes/comfyui/png.js';
import { REDIS_URL, deletePrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { waitForFinished, waitUntil } from '../helpers/runtime.js';
import {
  samplerWorkflow,
  spawnCli,
  startWorker,
  workerEnv,
  type WorkerProcess,
} from '../helpers/comfyui-process.js';

/**
 * End to end: a real `emp-worker start` process with CONNECTORS=comfyui, a producer on
 * Redis, and the fake ComfyUI (real HTTP + WebSocket) in this process.
 */
describe('comfyui connector end to end (real CLI worker, Redis, fake ComfyUI)', () => {
  const prefix = uniquePrefix('comfy-e2e');
  let fake: FakeComfyUI;
  let worker: WorkerProcess;
  let queue: Queue;
  let events: QueueEvents;
  const progressByJob = new Map<string, number[]>();
  const progressObjects = new Map<string, Record<string, unknown>[]>();

  beforeAll(async () => {
    fake = new FakeComfyUI();
    await fake.start();
    worker = await startWorker(workerEnv(prefix, fake.port));
    queue = new Queue('comfyui', { connection: { url: REDIS_URL }, prefix });
    events = new QueueEvents('comfyui', { connection: { url: REDIS_URL }, prefix });
    await events.waitUntilReady();
    events.on('progress', ({ jobId, data }) => {
      if (typeof data !== 'object' || data === null) return;
      const list = progressByJob.get(jobId) ?? [];
      list.push(Number((data as { progress?: unknown }).progress));
      progressByJob.set(jobId, list);
      const objects = progressObjects.get(jobId) ?? [];
      objects.push(data as Record<string, unknown>);
      progressObjects.set(jobId, objects);
    });
  });

  afterAll(async () => {
    await worker?.stop();
    await events?.close();
    await queue?.close();
    await fake?.close();
    const redis = testRedis();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  async function run(data: unknown, opts: JobsOptions = {}): Promise<Job> {
    const job = await queue.add('comfyui', data, opts);
    return waitForFinished(queue, job.id ?? '', 30_000);
  }

  async function logsOf(job: Job): Promise<string[]> {
    return (await queue.getJobLogs(job.id ?? '')).logs;
  }

  function resetFaults(): void {
    for (const key of Object.keys(fake.faults) as (keyof typeof fake.faults)[]) delete fake.faults[key];
  }

  test('a workflow completes with monotonic progress ending at 100 and its outputs', async () => {
    const job = await run(samplerWorkflow(30, 20, 'e2e'));
    expect(job.failedReason).toBeUndefined();
    const output = job.returnvalue as {
      status: string;
      connector: string;
      output: {
        prompt_id: string;
        outputs: Record<
          string,
          { images: { filename: string; subfolder: string; type: string; url: string }[] }
        >;
      };
    };
    expect(output.status).toBe('success');
    expect(output.connector).toBe('comfyui');
    const promptId = output.output.prompt_id;
    expect(fake.acceptedPrompts).toContain(promptId);
    expect(output.output.outputs).toEqual({
      '3': {
        images: [
          {
            filename: 'e2e_00001_.png',
            subfolder: '',
            type: 'output',
            url: `${fake.baseUrl}/view?filename=e2e_00001_.png&subfolder=&type=output`,
          },
        ],
      },
    });
    const png = Buffer.from(
      await (await fetch(output.output.outputs['3']?.images[0]?.url ?? '')).arrayBuffer(),
    );
    expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);

    const seen = progressByJob.get(job.id ?? '') ?? [];
    expect(seen.length).toBeGreaterThan(2);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1] ?? 0);
    expect(seen.at(-1)).toBe(100);
    expect(seen.some(value => value > 0 && value < 100)).toBe(true);
    expect(
      (progressObjects.get(job.id ?? '') ?? []).some(
        p => p.node === '2' && p.class_type === 'FakeSampler' && p.total_steps === 30,
      ),
    ).toBe(true);
    expect(job.progress).toMatchObject({ progress: 100, connector: 'comfyui' });
    expect(await logsOf(job)).toContain(`ComfyUI prompt_id ${promptId}`);
  });

  test("the same workflow again is served from ComfyUI's cache and still returns its outputs", async () => {
    const first = await run(samplerWorkflow(3, 0, 'cachedrun', 0x010203));
    const second = await run(samplerWorkflow(3, 0, 'cachedrun', 0x010203));
    const outputsOf = (job: Job) => (job.returnvalue as { output: { outputs: unknown } }).output.outputs;
    expect(second.failedReason).toBeUndefined();
    expect(outputsOf(second)).toEqual(outputsOf(first));
  });

  test('a validation error (node_errors) fails at once, naming node, class and message', async () => {
    const bad = samplerWorkflow(3, 0, 'bad') as Record<string, { inputs: Record<string, unknown> }>;
    (bad['1'] as { inputs: Record<string, unknown> }).inputs.width = 0;
    const job = await run(bad, { attempts: 3 });
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toBe(
      'ERR_SERVICE_REJECTED: ComfyUI rejected the workflow (HTTP 400): Prompt outputs failed validation; node 1 (EmptyImage): value_smaller_than_min: Value 0 smaller than min of 1 [width]',
    );
  });

  test("an unknown node class is rejected with ComfyUI's message", async () => {
    const job = await run({ '1': { class_type: 'NoSuchNode', inputs: {} } }, { attempts: 3 });
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toMatch(
      /^ERR_SERVICE_REJECTED: .*Cannot execute because node NoSuchNode does not exist\.: Node ID '#1'/,
    );
  });

  test('a malformed graph fails before anything is sent, naming the node', async () => {
    const before = fake.requests.filter(r => r.path === '/prompt').length;
    const job = await run(
      { prompt: { '1': { class_type: 'EmptyImage', inputs: { x: ['7', 0] } } } },
      { attempts: 3 },
    );
    expect(job.failedReason).toBe(
      'ERR_INVALID_INPUT: /prompt/1/inputs/x: node "1" (EmptyImage) links to node "7", which is not in the workflow',
    );
    expect(fake.requests.filter(r => r.path === '/prompt').length).toBe(before);
  });

  test('an execution error fails without retry, naming node, class, exception type and message', async () => {
    const workflow = {
      '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 5 } },
      '4': { class_type: 'FakeError', inputs: { images: ['1', 0], message: 'CUDA out of memory (fake)' } },
      '3': { class_type: 'SaveImage', inputs: { images: ['4', 0], filename_prefix: 'never' } },
    };
    const job = await run({ workflow }, { attempts: 3 });
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toMatch(
      /^ERR_SERVICE_FAILED: ComfyUI execution error in node 4 \(FakeError\) of prompt [\w-]+: RuntimeError: CUDA out of memory \(fake\)$/,
    );
  });

  test('the socket dropped mid-prompt: the worker reconnects and the job still completes', async () => {
    const connectionsBefore = fake.connections.length;
    fake.faults.dropSocketsAtProgress = 5;
    try {
      const job = await run(samplerWorkflow(40, 15, 'dropped'));
      expect(job.failedReason).toBeUndefined();
      expect(
        (job.returnvalue as { output: { outputs: Record<string, unknown> } }).output.outputs['3'],
      ).toEqual({
        images: [expect.objectContaining({ filename: 'dropped_00001_.png' })],
      });
      expect(fake.connections.length).toBeGreaterThan(connectionsBefore);
    } finally {
      resetFaults();
    }
  });

  test('a silent socket: the watchdog polls /history and the job completes', async () => {
    fake.faults.silent = true;
    try {
      const historyPolls = fake.requests.filter(r => r.path.startsWith('/history/')).length;
      const job = await run(samplerWorkflow(10, 20, 'silent'));
      expect(job.failedReason).toBeUndefined();
      expect(
        (job.returnvalue as { output: { outputs: Record<string, unknown> } }).output.outputs['3'],
      ).toEqual({
        images: [expect.objectContaining({ filename: 'silent_00001_.png' })],
      });
      expect(fake.requests.filter(r => r.path.startsWith('/history/')).length).toBeGreaterThan(historyPolls);
    } finally {
      resetFaults();
    }
  });

  test('ComfyUI restarts and forgets the prompt while the socket is silent: the job fails (retryable) instead of hanging', async () => {
    fake.faults.silent = true;
    try {
      const added = await queue.add('comfyui', samplerWorkflow(2000, 10, 'lost'), { attempts: 1 });
      await waitUntil(
        () => fake.acceptedPrompts.length > 0 && fake.isQueuedOrRunning(fake.acceptedPrompts.at(-1) ?? ''),
        10_000,
        'prompt running',
      );
      fake.restart();
      const job = await waitForFinished(queue, added.id ?? '', 20_000);
      expect(job.failedReason).toMatch(
        /^ERR_SERVICE_UNAVAILABLE: ComfyUI no longer knows prompt [\w-]+: it is neither queued nor in \/history/,
      );
    } finally {
      resetFaults();
    }
  });

  test('cancel from the CLI reaches /interrupt with our prompt_id', async () => {
    const added = await queue.add('comfyui', samplerWorkflow(3000, 10, 'cancelme'));
    const jobId = added.id ?? '';
    await waitUntil(
      () => (progressObjects.get(jobId) ?? []).some(p => p.status === 'sampling'),
      15_000,
      'sampling progress',
    );
    const promptId = fake.acceptedPrompts.at(-1) ?? '';
    const cancel = spawnCli(['cancel', 'comfyui', jobId], workerEnv(prefix, fake.port));
    expect(await cancel.exited).toBe(0);
    const job = await waitForFinished(queue, jobId, 15_000);
    expect(job.failedReason).toMatch(/^ERR_CANCELLED: /);
    expect(fake.interrupts).toContainEqual({ prompt_id: promptId });
    await waitUntil(() => !fake.isQueuedOrRunning(promptId), 10_000, 'the prompt to stop on ComfyUI');
    const history = (await (await fetch(`${fake.baseUrl}/history/${promptId}`)).json()) as Record<
      string,
      { status: { messages: [string][] } }
    >;
    expect(history[promptId]?.status.messages.map(m => m[0])).toContain('execution_interrupted');
    expect(await logsOf(job)).toContain(`told ComfyUI to interrupt prompt_id ${promptId}`);
  });

  test("cancel of a prompt still waiting in ComfyUI's queue deletes it from the queue", async () => {
    // Someone else's long prompt occupies ComfyUI.
    const other = await fetch(`${fake.baseUrl}/prompt`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: samplerWorkflow(3000, 10, 'someone-else') }),
    });
    const otherId = ((await other.json()) as { prompt_id: string }).prompt_id;
    try {
      const added = await queue.add('comfyui', samplerWorkflow(5, 0, 'waiting'));
      const jobId = added.id ?? '';
      await waitUntil(
        () => (progressObjects.get(jobId) ?? []).some(p => p.status === 'queued'),
        15_000,
        'queued progress',
      );
      const promptId = fake.acceptedPrompts.at(-1) ?? '';
      expect(promptId).not.toBe(otherId);
      const cancel = spawnCli(['cancel', 'comfyui', jobId], workerEnv(prefix, fake.port));
      expect(await cancel.exited).toBe(0);
      const job = await waitForFinished(queue, jobId, 15_000);
      expect(job.failedReason).toMatch(/^ERR_CANCELLED: /);
      expect(fake.requests).toContainEqual({ method: 'POST', path: '/queue', body: { delete: [promptId] } });
      expect(fake.isQueuedOrRunning(promptId)).toBe(false);
      // The other user's prompt was not interrupted.
      expect(fake.isQueuedOrRunning(otherId)).toBe(true);
      expect(fake.interrupts).not.toContainEqual({ prompt_id: promptId });
    } finally {
      await fetch(`${fake.baseUrl}/interrupt`, {
        method: 'POST',
        body: JSON.stringify({ prompt_id: otherId }),
      });
    }
  });

  test('`emp-worker details comfyui` shows capabilities and the probe, against the fake and against nothing', async () => {
    const details = spawnCli(['details', 'comfyui', '--json'], workerEnv(prefix, fake.port));
    expect(await details.exited).toBe(0);
    const shown = JSON.parse(details.lines.join('\n')) as {
      capabilities: Record<string, unknown>;
      probe: { healthy: boolean; detail: string };
    };
    expect(shown.capabilities).toMatchObject({
      comfyui_version: '0.3.64',
      node_classes: Object.keys(NODE_CLASSES).length,
      devices: [{ name: 'cpu', type: 'cpu' }],
    });
    expect(shown.probe).toEqual({ healthy: true, detail: expect.stringContaining('ComfyUI 0.3.64') });

    const nothing = new FakeComfyUI();
    await nothing.start();
    const deadPort = nothing.port;
    await nothing.close();
    const down = spawnCli(['details', 'comfyui', '--json'], workerEnv(prefix, deadPort));
    expect(await down.exited).toBe(1);
    const unreachable = JSON.parse(down.lines.join('\n')) as {
      capabilities: Record<string, unknown>;
      probe: { healthy: boolean; detail: string };
    };
    expect(unreachable.probe.healthy).toBe(false);
    expect(unreachable.probe.detail).toMatch(
      /ComfyUI unreachable at http:\/\/127\.0\.0\.1:\d+ .*ECONNREFUSED/,
    );
    expect(unreachable.capabilities.service_error).toMatch(/ECONNREFUSED/);
  });
});
