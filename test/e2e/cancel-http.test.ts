import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Queue } from 'bullmq';
import type { BoardServer } from '../../bull-board/board.js';
import { startFakeA1111, type FakeA1111Server } from '../fakes/a1111/server.js';
import { basicHeader, startTestBoard } from '../helpers/board.js';
import { cliEnv, startWorker } from '../helpers/cli.js';
import type { Spawned } from '../helpers/processes.js';
import { REDIS_URL, deletePrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { waitForFinished, waitUntil } from '../helpers/runtime.js';

/** Cancel over HTTP (`POST <base>/emp/jobs/<queue>/<id>/cancel`) against real worker processes. */
describe('cancel over the board API', () => {
  const prefix = uniquePrefix('cancel-http');
  let a1111: FakeA1111Server;
  let worker: Spawned;
  let board: BoardServer;
  let readOnly: BoardServer;
  let simulation: Queue;
  let a1111Queue: Queue;

  const post = (server: BoardServer, path: string, auth = basicHeader()): Promise<Response> =>
    fetch(new URL(path, server.url), { method: 'POST', headers: { authorization: auth } });

  beforeAll(async () => {
    a1111 = await startFakeA1111({ stepMs: 20 });
    worker = await startWorker(
      cliEnv(prefix, {
        CONNECTORS: 'simulation,a1111',
        WORKER_A1111_BASE_URL: a1111.url,
        WORKER_A1111_PROGRESS_INTERVAL: '0.1',
        WORKER_HEALTH_CHECK_INTERVAL: '0.5',
      }),
    );
    ({ board } = await startTestBoard(prefix, { BULL_BOARD_BASE_PATH: '/admin' }));
    ({ board: readOnly } = await startTestBoard(prefix, { BULL_BOARD_READ_ONLY: 'true' }));
    simulation = new Queue('simulation', { connection: { url: REDIS_URL }, prefix });
    a1111Queue = new Queue('a1111', { connection: { url: REDIS_URL }, prefix });
  }, 60_000);

  afterAll(async () => {
    await worker.stop();
    await board.close();
    await readOnly.close();
    await simulation.close();
    await a1111Queue.close();
    await a1111.close();
    const redis = testRedis();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  test('a waiting job is removed: 200 {jobId, state: "removed"}', async () => {
    const job = await simulation.add('simulation', { steps: 1 }, { delay: 60_000 });
    const res = await post(board, `emp/jobs/simulation/${job.id}/cancel`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ jobId: job.id, state: 'removed' });
    expect(await simulation.getJob(job.id!)).toBeUndefined();
  });

  test('a running job: 202 "cancelling"; the service is told to stop and the job fails as cancelled', async () => {
    const job = await a1111Queue.add(
      'a1111',
      { payload: { prompt: 'endless', steps: 5000 } },
      { attempts: 3 },
    );
    await waitUntil(() => a1111.busyProgressAnswers > 0, 10_000, 'generation running');
    const res = await post(board, `emp/jobs/a1111/${job.id}/cancel`);
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ jobId: job.id, state: 'cancelling' });
    const finished = await waitForFinished(a1111Queue, job.id!);
    expect(finished.failedReason).toBe('ERR_CANCELLED: cancelled: cancelled from the board API');
    expect(finished.attemptsMade).toBe(1);
    expect(a1111.interrupts).toBe(1);
  }, 30_000);

  test('a finished job: 409 with its state; an unknown one: 404', async () => {
    const job = await simulation.add('simulation', { steps: 1, duration_ms: 0 });
    await waitForFinished(simulation, job.id!);
    const done = await post(board, `emp/jobs/simulation/${job.id}/cancel`);
    expect(done.status).toBe(409);
    expect(await done.json()).toEqual({ jobId: job.id, state: 'completed' });
    const missing = await post(board, 'emp/jobs/simulation/no-such-job/cancel');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ jobId: 'no-such-job', state: 'not-found' });
  }, 30_000);

  test('bad names, bad escapes, wrong method, no auth, read-only: JSON errors, no stack, no key created', async () => {
    const redis = testRedis();
    try {
      const before = (await redis.keys(`${prefix}:*`)).sort();
      const cases: Array<[string, number]> = [
        ['emp/jobs/bad:queue/1/cancel', 400],
        ['emp/jobs/simulation/%E0%A4%A/cancel', 400],
        [`emp/jobs/simulation/${'x'.repeat(300)}/cancel`, 400],
        ['emp/jobs/nosuchqueue/1/cancel', 404],
        ['emp/jobs/simulation/1%0d%0a/cancel', 400],
      ];
      for (const [path, status] of cases) {
        const res = await post(board, path);
        const text = await res.text();
        expect([path, res.status]).toEqual([path, status]);
        expect(text).not.toMatch(/at .*\.js|Error:/);
        expect(() => JSON.parse(text) as unknown).not.toThrow();
      }
      const get = await fetch(new URL('emp/jobs/simulation/1/cancel', board.url), {
        headers: { authorization: basicHeader() },
      });
      expect(get.status).toBe(405);
      expect((await post(board, 'emp/jobs/simulation/1/cancel', basicHeader('admin', 'wrong'))).status).toBe(
        401,
      );
      const job = await simulation.add('simulation', { steps: 1 }, { delay: 60_000 });
      const refused = await post(readOnly, `emp/jobs/simulation/${job.id}/cancel`);
      expect(refused.status).toBe(405);
      expect(await simulation.getJob(job.id!)).toBeDefined();
      await job.remove();
      expect((await redis.keys(`${prefix}:*`)).sort()).toEqual(before);
    } finally {
      await redis.quit();
    }
  });
});
