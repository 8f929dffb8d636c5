import { afterEach, describe, expect, test } from '@jest/globals';
import { Queue, QueueEvents } from 'bullmq';
import { cliEnv, runCli, startWorker } from '../helpers/cli.js';
import type { Spawned } from '../helpers/processes.js';
import { REDIS_URL, producerQueue, removePrefix, uniquePrefix } from '../helpers/redis.js';
import { waitForFinished, waitUntil } from '../helpers/runtime.js';

const spawned: Spawned[] = [];
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const proc of spawned.splice(0)) proc.child.kill('SIGKILL');
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function producer(prefix: string): Queue {
  return producerQueue('simulation', prefix, cleanups);
}

async function worker(prefix: string, env: Record<string, string> = {}): Promise<Spawned> {
  const proc = await startWorker(cliEnv(prefix, env));
  spawned.push(proc);
  // A worker writes its queue's meta and a heartbeat even when no test adds a job.
  cleanups.push(() => removePrefix(prefix));
  return proc;
}

describe('start-up errors', () => {
  test('a bad setting stops start-up with one line naming the variable, exit code 2', async () => {
    const { code, output } = await runCli(
      ['start'],
      cliEnv(uniquePrefix(), { WORKER_SIMULATION_CONCURRENCY: 'abc' }),
    );
    expect(code).toBe(2);
    expect(output.trim()).toBe(
      'Invalid configuration: WORKER_SIMULATION_CONCURRENCY="abc" (connectors.simulation.concurrency): must be a whole number of 1 or more',
    );
  });

  test('an unknown connector and a malformed REDIS_URL are named too', async () => {
    const unknown = await runCli(['start'], cliEnv(uniquePrefix(), { CONNECTORS: 'simulation,comfyiu' }));
    expect(unknown.code).toBe(2);
    expect(unknown.output).toMatch(
      /^Invalid configuration: CONNECTORS="simulation,comfyiu" \(enabledConnectors\): unknown connector "comfyiu"/,
    );
    const badUrl = await runCli(['start'], cliEnv(uniquePrefix(), { REDIS_URL: 'localhost:6379' }));
    expect(badUrl.code).toBe(2);
    expect(badUrl.output).toMatch(/REDIS_URL \(redis\.url\): must/);
  });

  test('Redis unreachable: a clear message naming REDIS_URL and how to start Redis, exit 1', async () => {
    const { code, output } = await runCli(
      ['start'],
      cliEnv(uniquePrefix(), { REDIS_URL: 'redis://:s3cretpw@127.0.0.1:1' }),
    );
    expect(code).toBe(1);
    expect(output).toMatch(
      /Cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1 \(REDIS_URL\).*ECONNREFUSED.*Start one/,
    );
    expect(output).not.toContain('s3cretpw');
  });
});

describe('replicas, crashes and signals', () => {
  test('two replicas share a queue; one is SIGKILLed mid-job; every job still completes exactly once', async () => {
    const prefix = uniquePrefix('kill');
    const fastRecovery = {
      WORKER_LOCK_DURATION: '2000',
      WORKER_STALLED_INTERVAL: '1000',
      WORKER_SIMULATION_CONCURRENCY: '2',
    };
    const victim = await worker(prefix, { ...fastRecovery, WORKER_ID: 'victim' });
    const survivor = await worker(prefix, { ...fastRecovery, WORKER_ID: 'survivor' });
    const queue = producer(prefix);
    const events = new QueueEvents('simulation', { connection: { url: REDIS_URL }, prefix });
    cleanups.push(() => events.close());
    await events.waitUntilReady();
    const completions = new Map<string, number>();
    events.on('completed', ({ jobId }) => completions.set(jobId, (completions.get(jobId) ?? 0) + 1));

    const jobs = await queue.addBulk(
      Array.from({ length: 8 }, (_, i) => ({
        name: 'simulation',
        data: { steps: 4, duration_ms: 1200, result: { n: i } },
      })),
    );
    // Kill the victim while it holds jobs.
    await waitUntil(
      async () => {
        const active = await queue.getActive();
        return active.some(job => job.processedBy?.startsWith('victim'));
      },
      15_000,
      'the victim to run a job',
    );
    victim.child.kill('SIGKILL');
    await victim.exited;

    for (const job of jobs) {
      const finished = await waitForFinished(queue, job.id!, 60_000);
      expect(await finished.getState()).toBe('completed');
      expect(finished.returnvalue).toEqual({
        status: 'success',
        connector: 'simulation',
        output: (job.data as { result: unknown }).result,
      });
    }
    await waitUntil(() => completions.size === jobs.length, 10_000, 'a completed event per job');
    for (const job of jobs) expect(completions.get(job.id!)).toBe(1);
    const recovered = (await Promise.all(jobs.map(job => queue.getJob(job.id!)))).filter(
      job => (job?.attemptsStarted ?? 0) > 1,
    );
    expect(recovered.length).toBeGreaterThan(0);
    expect(survivor.child.exitCode).toBeNull();
  }, 120_000);

  test('SIGTERM during a job lets it finish, then the worker exits 0', async () => {
    const prefix = uniquePrefix('term');
    const proc = await worker(prefix, { SHUTDOWN_TIMEOUT: '30' });
    const queue = producer(prefix);
    const job = await queue.add('simulation', { steps: 4, duration_ms: 1500, result: 'finished' });
    await waitUntil(async () => (await job.getState()) === 'active', 10_000, 'job active');
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    const finished = await queue.getJob(job.id!);
    expect(await finished?.getState()).toBe('completed');
    expect(finished?.returnvalue).toMatchObject({ output: 'finished' });
    expect(proc.output()).toContain('"message":"SIGTERM received"');
  }, 60_000);

  test('cancel reaches the running job on another process; it fails as cancelled, not retried', async () => {
    const prefix = uniquePrefix('cancel');
    await worker(prefix);
    const queue = producer(prefix);
    const job = await queue.add('simulation', { steps: 100, duration_ms: 60_000 }, { attempts: 3 });
    await waitUntil(async () => (await job.getState()) === 'active', 10_000, 'job active');
    const { code, output } = await runCli(
      ['cancel', 'simulation', job.id!, '--reason', 'wrong prompt'],
      cliEnv(prefix),
    );
    expect(code).toBe(0);
    expect(output).toContain(`job ${job.id} failed: ERR_CANCELLED: cancelled: wrong prompt`);
    const finished = await waitForFinished(queue, job.id!);
    expect(finished.failedReason).toBe('ERR_CANCELLED: cancelled: wrong prompt');
    expect(finished.attemptsMade).toBe(1);
  }, 60_000);

  test('enqueue --wait draws progress and prints the result', async () => {
    const prefix = uniquePrefix('wait');
    await worker(prefix, { PROGRESS_MIN_INTERVAL_MS: '100' });
    producer(prefix);
    const { code, output } = await runCli(
      ['enqueue', 'simulation', '{"steps":5,"duration_ms":1500,"result":{"image":"cat.png"}}', '--wait'],
      cliEnv(prefix),
    );
    expect(code).toBe(0);
    expect(output).toMatch(/enqueued job \d+ on queue "simulation"/);
    expect(output).toMatch(/\[#+-*\] +\d+% step \d of 5/);
    expect(output).toMatch(/\[#{30}\] 100% completed/);
    const result = JSON.parse(output.slice(output.indexOf('{\n'))) as unknown;
    expect(result).toEqual({ status: 'success', connector: 'simulation', output: { image: 'cat.png' } });
  }, 60_000);

  test('enqueue --wait exits 1 with the reason when the job fails', async () => {
    const prefix = uniquePrefix('waitfail');
    await worker(prefix);
    producer(prefix);
    const { code, output } = await runCli(
      ['enqueue', 'simulation', '{"steps":"x"}', '--wait', '--attempts', '1'],
      cliEnv(prefix),
    );
    expect(code).toBe(1);
    expect(output).toMatch(
      /failed: ERR_INVALID_INPUT: \/steps: expected integer ≥ 1 and ≤ 10000 or null, got "x"/,
    );
  }, 60_000);

  test('status shows the live worker and queue counts', async () => {
    const prefix = uniquePrefix('status');
    await worker(prefix, { WORKER_ID: 'w-status' });
    const { code, output } = await runCli(['status'], cliEnv(prefix));
    expect(code).toBe(0);
    expect(output).toContain('Workers (1 live)');
    expect(output).toMatch(/w-status +host=/);
    expect(output).toMatch(/simulation 1\.0\.0 +queue=simulation concurrency=1 +healthy/);
    expect(output).toContain('capabilities {"simulation_version":"1.0.0"');
    expect(output).toMatch(/simulation +waiting=0 active=0/);
  }, 60_000);

  test('details simulation prints version, queue, config and a verdict', async () => {
    const { code, output } = await runCli(['details', 'simulation', '--json'], cliEnv(uniquePrefix()));
    expect(code).toBe(0);
    const details = JSON.parse(output) as Record<string, unknown>;
    expect(details).toMatchObject({
      connector: 'simulation',
      version: '1.0.0',
      queue: 'simulation',
      probe: { healthy: true },
    });
  });
});

describe('Redis lost while running', () => {
  test('the worker reconnects by itself and carries on', async () => {
    const { startThrowawayRedis } = await import('../helpers/processes.js');
    let redis = await startThrowawayRedis();
    const url = redis.url;
    const port = new URL(url).port;
    const prefix = uniquePrefix('lost');
    const proc = await worker(prefix, { REDIS_URL: url });
    const queue = new Queue('simulation', { connection: { url }, prefix });
    const before = await queue.add('simulation', { steps: 1, duration_ms: 0, result: 'before' });
    expect((await waitForFinished(queue, before.id!)).returnvalue).toMatchObject({ output: 'before' });

    await redis.stop();
    await proc.waitForLine(/redis connection error/, 15_000);
    redis = await startThrowawayRedis(['--port', port]);
    // Cleanups run last-in first-out: the producer closes before its Redis stops.
    cleanups.push(() => redis.stop());
    cleanups.push(() => queue.close());
    const after = await queue.add('simulation', { steps: 1, duration_ms: 0, result: 'after' });
    expect((await waitForFinished(queue, after.id!, 60_000)).returnvalue).toMatchObject({ output: 'after' });
    expect(proc.child.exitCode).toBeNull();
  }, 90_000);
});
