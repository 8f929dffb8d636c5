import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { Queue } from 'bullmq';
import { FakeComfyUI } from '../fakes/comfyui/server.js';
import { REDIS_URL, deletePrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { waitForFinished, waitUntil } from '../helpers/runtime.js';
import { samplerWorkflow, startWorker, workerEnv, type WorkerProcess } from '../helpers/comfyui-process.js';

/**
 * A worker killed (SIGKILL) mid-prompt: BullMQ's stalled check hands the job to another
 * replica, which finds the prompt_id the first one saved and re-attaches to it instead of
 * submitting the workflow again. ComfyUI receives the prompt exactly once.
 */
describe('comfyui re-attach after a worker crash (two real worker processes)', () => {
  let fake: FakeComfyUI;
  const workers: WorkerProcess[] = [];
  const prefixes: string[] = [];
  const queues: Queue[] = [];

  beforeAll(async () => {
    fake = new FakeComfyUI();
    await fake.start();
  });
  afterEach(async () => {
    for (const worker of workers.splice(0)) await worker.stop('SIGKILL');
    for (const queue of queues.splice(0)) await queue.close();
  });
  afterAll(async () => {
    await fake.close();
    const redis = testRedis();
    for (const prefix of prefixes) await deletePrefix(redis, prefix);
    await redis.quit();
  });

  const crashEnv = (prefix: string, id: string) =>
    workerEnv(prefix, fake.port, {
      WORKER_ID: id,
      WORKER_LOCK_DURATION: '3000',
      WORKER_STALLED_INTERVAL: '1000',
      SHUTDOWN_TIMEOUT: '1',
    });

  /**
   * Worker A takes the job and submits the prompt, then is SIGKILLed. Worker B starts
   * before the kill (`secondStarts: 'before-kill'`) or only once the prompt has finished
   * on ComfyUI (`'after-prompt-done'`), so both re-attach paths are taken for certain.
   */
  async function crashScenario(
    steps: number,
    stepMs: number,
    label: string,
    secondStarts: 'before-kill' | 'after-prompt-done',
    signal: NodeJS.Signals = 'SIGKILL',
  ) {
    const prefix = uniquePrefix(`comfy-crash-${label}`);
    prefixes.push(prefix);
    const queue = new Queue('comfyui', { connection: { url: REDIS_URL }, prefix });
    queues.push(queue);
    const first = await startWorker(crashEnv(prefix, `${label}-a`));
    workers.push(first);
    const postsBefore = fake.requests.filter(r => r.method === 'POST' && r.path === '/prompt').length;
    const added = await queue.add('comfyui', samplerWorkflow(steps, stepMs, `crash-${label}`), {
      attempts: 1,
    });
    await waitUntil(
      () => fake.acceptedPrompts.length > 0 && fake.isQueuedOrRunning(fake.acceptedPrompts.at(-1) ?? ''),
      15_000,
      'the prompt to run',
    );
    const promptId = fake.acceptedPrompts.at(-1) ?? '';
    if (secondStarts === 'before-kill') workers.push(await startWorker(crashEnv(prefix, `${label}-b`)));
    first.proc.kill(signal);
    expect(await first.exited).toBe(signal === 'SIGKILL' ? 'SIGKILL' : 0);
    expect(fake.isQueuedOrRunning(promptId)).toBe(true);
    if (secondStarts === 'after-prompt-done') {
      await waitUntil(() => !fake.isQueuedOrRunning(promptId), 30_000, 'the prompt to finish on ComfyUI');
      workers.push(await startWorker(crashEnv(prefix, `${label}-b`)));
    }
    const job = await waitForFinished(queue, added.id ?? '', 45_000);
    return {
      job,
      promptId,
      posts: fake.requests.filter(r => r.method === 'POST' && r.path === '/prompt').length - postsBefore,
      queue,
    };
  }

  test('killed while the prompt runs: the other replica follows it to the end', async () => {
    const { job, promptId, posts, queue } = await crashScenario(1000, 10, 'running', 'before-kill');
    expect(job.failedReason).toBeUndefined();
    expect(await job.getState()).toBe('completed');
    expect(posts).toBe(1);
    expect(
      (job.returnvalue as { output: { prompt_id: string; outputs: Record<string, unknown> } }).output,
    ).toEqual({
      prompt_id: promptId,
      outputs: { '3': { images: [expect.objectContaining({ filename: 'crash-running_00001_.png' })] } },
    });
    expect(job.processedBy).toMatch(/^running-b/);
    const { logs } = await queue.getJobLogs(job.id ?? '');
    expect(logs).toContain(`ComfyUI prompt_id ${promptId}`);
    expect(
      logs.some(line => line.startsWith(`re-attached to ComfyUI prompt_id ${promptId}: still running`)),
    ).toBe(true);
  });

  test('killed, and the prompt finishes before recovery: the other replica collects its outputs', async () => {
    const { job, promptId, posts, queue } = await crashScenario(300, 10, 'finished', 'after-prompt-done');
    expect(job.failedReason).toBeUndefined();
    expect(posts).toBe(1);
    expect((job.returnvalue as { output: { prompt_id: string } }).output.prompt_id).toBe(promptId);
    const { logs } = await queue.getJobLogs(job.id ?? '');
    expect(logs).toContain(
      `re-attached to ComfyUI prompt_id ${promptId}: it already finished; collecting its outputs`,
    );
  });

  test('graceful shutdown (SIGTERM) mid-prompt: the prompt is not interrupted; another replica re-attaches', async () => {
    const { job, promptId, posts, queue } = await crashScenario(
      1000,
      10,
      'shutdown',
      'before-kill',
      'SIGTERM',
    );
    expect(job.failedReason).toBeUndefined();
    expect(posts).toBe(1);
    expect(fake.interrupts).not.toContainEqual({ prompt_id: promptId });
    expect((job.returnvalue as { output: { prompt_id: string } }).output.prompt_id).toBe(promptId);
    const { logs } = await queue.getJobLogs(job.id ?? '');
    expect(logs).toContain('worker shut down before the job finished; returned to the queue');
    expect(
      logs.some(line => line.startsWith(`re-attached to ComfyUI prompt_id ${promptId}: still running`)),
    ).toBe(true);
  });
});
