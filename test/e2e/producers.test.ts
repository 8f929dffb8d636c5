import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, test } from '@jest/globals';
import type { Queue } from 'bullmq';
import { cliEnv, startWorker } from '../helpers/cli.js';
import { spawnCollecting, type Spawned } from '../helpers/processes.js';
import { REDIS_URL, producerQueue, uniquePrefix } from '../helpers/redis.js';
import { waitForFinished, waitUntil } from '../helpers/runtime.js';

/** The examples of docs/producers.md, run as written against real worker processes and Redis. */
const spawned: Spawned[] = [];
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const proc of spawned.splice(0)) await proc.stop();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function queueFor(prefix: string): Queue {
  return producerQueue('simulation', prefix, cleanups);
}

async function worker(prefix: string): Promise<Spawned> {
  const proc = await startWorker(cliEnv(prefix, { WORKER_SIMULATION_CONCURRENCY: '2' }));
  spawned.push(proc);
  return proc;
}

/** A python3 that can `import redis` (Debian's python3-redis; .ci/run installs it). */
function pythonWithRedis(): string {
  for (const candidate of ['python3', '/usr/bin/python3']) {
    const probe = spawnSync(candidate, ['-c', 'import redis'], { stdio: 'ignore' });
    if (probe.status === 0) return candidate;
  }
  throw new Error('no python3 with the redis module: install python3 and python3-redis (.ci/run does)');
}

function runPython(args: string[], prefix: string): { code: number | null; out: unknown } {
  const result = spawnSync(pythonWithRedis(), args, {
    env: { ...process.env, REDIS_URL, QUEUE_PREFIX: prefix },
    encoding: 'utf8',
  });
  return { code: result.status, out: result.stdout.trim() === '' ? undefined : JSON.parse(result.stdout) };
}

describe('docs/producers.md examples', () => {
  test('the Node example enqueues, prints progress and the result, and exits on its own', async () => {
    const prefix = uniquePrefix('node-producer');
    queueFor(prefix);
    await worker(prefix);
    const example = spawnCollecting(process.execPath, ['docs/examples/producer.mjs'], {
      PATH: process.env.PATH,
      REDIS_URL,
      QUEUE_PREFIX: prefix,
    });
    const timer = setTimeout(() => example.child.kill('SIGKILL'), 30_000);
    const code = await example.exited;
    clearTimeout(timer);
    expect([code, example.output()]).toEqual([
      0,
      expect.stringContaining('completed: {"image":"s3://bucket/cat.png"}'),
    ]);
    expect(example.output()).toMatch(/progress \d+% running: step \d of 3/);
  }, 60_000);

  test('the Python examples compile', () => {
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'pycache-'));
    try {
      for (const file of ['docs/examples/producer.py', 'docs/examples/cancel.py']) {
        execFileSync('python3', ['-m', 'py_compile', file], {
          env: { ...process.env, PYTHONPYCACHEPREFIX: cache },
        });
      }
    } finally {
      fs.rmSync(cache, { recursive: true, force: true });
    }
  });

  test('the redis-py cancel example stops a running job, and a waiting one before any work', async () => {
    const prefix = uniquePrefix('py-cancel');
    const queue = queueFor(prefix);
    // Cancelled while no worker runs: the marker waits in Redis; a worker started later honours it.
    const waiting = await queue.add(
      'simulation',
      { steps: 3, duration_ms: 3000 },
      { delay: 60_000, attempts: 3 },
    );
    expect(
      runPython(['docs/examples/cancel.py', 'simulation', waiting.id!, 'changed my mind'], prefix),
    ).toEqual({
      code: 0,
      out: { jobId: waiting.id, state: 'cancelling', was: 'waiting' },
    });
    await worker(prefix);
    const running = await queue.add('simulation', { steps: 100, duration_ms: 60_000 }, { attempts: 3 });
    await waitUntil(async () => (await running.getState()) === 'active', 10_000, 'job active');
    expect(runPython(['docs/examples/cancel.py', 'simulation', running.id!], prefix)).toEqual({
      code: 0,
      out: { jobId: running.id, state: 'cancelling', was: 'active' },
    });
    const stopped = await waitForFinished(queue, running.id!);
    expect(stopped.failedReason).toBe('ERR_CANCELLED: cancelled: cancelled from Python');
    expect(stopped.attemptsMade).toBe(1);

    await waiting.promote();
    const never = await waitForFinished(queue, waiting.id!);
    expect(never.failedReason).toBe('ERR_CANCELLED: cancelled: changed my mind');
    expect(never.attemptsMade).toBe(1);
    expect(never.progress).toBe(0); // no step ran

    expect(runPython(['docs/examples/cancel.py', 'simulation', running.id!], prefix)).toEqual({
      code: 1,
      out: { jobId: running.id, state: 'failed' },
    });
    expect(runPython(['docs/examples/cancel.py', 'simulation', 'no-such-job'], prefix)).toEqual({
      code: 1,
      out: { jobId: 'no-such-job', state: 'not-found' },
    });
  }, 60_000);
});
