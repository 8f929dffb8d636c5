import { afterAll, describe, expect, jest, test } from '@jest/globals';
import { Queue } from 'bullmq';
import { startFakeRest, type FakeRestServer } from '../fakes/rest/server.js';
import { spawnCollecting, type Spawned } from '../helpers/processes.js';
import { REDIS_URL, removePrefix, uniquePrefix } from '../helpers/redis.js';
import { waitForFinished, waitUntil } from '../helpers/runtime.js';

jest.setTimeout(120_000);

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms));

/**
 * Three real worker processes share one queue, each with its own copy of the service (a
 * GPU box each). One copy goes down: the jobs its worker had picked up go back to the
 * queue and the other two replicas run them; no job fails.
 */
describe('a replica whose service goes down while 3 replicas share the queue (real processes)', () => {
  const prefix = uniquePrefix('outage-e2e');
  const fakes: FakeRestServer[] = [];
  const workers: Spawned[] = [];
  let queue: Queue | undefined;

  afterAll(async () => {
    for (const worker of workers) await worker.stop();
    for (const fake of fakes) await fake.close();
    await queue?.close();
    await removePrefix(prefix);
  });

  test('0 jobs failed; the jobs of the replica whose service went down ran on the others', async () => {
    for (let i = 0; i < 3; i++) fakes.push(await startFakeRest());
    for (const [index, fake] of fakes.entries()) {
      const worker = spawnCollecting('node', ['bin/emp-worker.js', 'start'], {
        ...process.env,
        NODE_ENV: 'test',
        REDIS_URL,
        QUEUE_PREFIX: prefix,
        WORKER_ID: `replica-${index}`,
        LOG_FORMAT: 'json',
        LOG_LEVEL: 'info',
        CONNECTORS: 'rest',
        WORKER_REST_BASE_URL: fake.url,
        WORKER_REST_CONCURRENCY: '4',
        // The default: a replica may pick up jobs for up to 10 s after its service went down.
        WORKER_HEALTH_CHECK_INTERVAL: '10',
      });
      workers.push(worker);
    }
    await Promise.all(workers.map(worker => worker.waitForLine(/"message":"worker \S+ ready"/)));

    queue = new Queue('rest', { connection: { url: REDIS_URL }, prefix });
    const ids: string[] = [];
    const producing = (async () => {
      for (let n = 0; n < 60; n++) {
        const job = await queue.add('rest', { n, fake: { delay_ms: 100 } }, { attempts: 1 });
        ids.push(job.id ?? '');
        await sleep(150);
      }
    })();
    const [down] = fakes;
    if (!down) throw new Error('no fake');
    await waitUntil(() => down.seen('/api/process').length >= 3, 20_000, 'replica-0 to run jobs');
    await down.stop(); // and it stays down

    await producing;
    const jobs = await Promise.all(ids.map(id => waitForFinished(queue as Queue, id, 60_000)));
    const states = await Promise.all(jobs.map(job => job.getState()));
    expect(states.filter(state => state !== 'completed')).toEqual([]);
    expect(jobs.every(job => job.attemptsMade <= 1)).toBe(true);
    const handedBack: string[] = [];
    for (const job of jobs) {
      const { logs } = await queue.getJobLogs(job.id ?? '');
      if (logs.some(line => line.includes('returned to the queue without using an attempt'))) {
        handedBack.push(job.id ?? '');
      }
    }
    // The down replica did pick some up, and they finished on the other two.
    expect(handedBack.length).toBeGreaterThan(0);
    const finishedOn = new Map(jobs.map(job => [job.id, job.processedBy ?? '']));
    for (const id of handedBack) expect(finishedOn.get(id)).toMatch(/^replica-[12]:rest$/);
    expect(workers[0]?.output()).toMatch(/rest service is unhealthy: .*queue paused on this worker/);
    for (const worker of workers) expect(worker.child.exitCode).toBeNull();
  });
});
