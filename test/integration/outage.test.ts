import { afterEach, describe, expect, jest, test } from '@jest/globals';
import type { Job } from 'bullmq';
import { startFakeRest, type FakeRestServer } from '../fakes/rest/server.js';
import { startHttpServer } from '../helpers/http-server.js';
import { startRuntime, waitForFinished, waitUntil, type RuntimeHarness } from '../helpers/runtime.js';

jest.setTimeout(120_000);

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms));

/** Jobs whose log says they were handed back because the service was down. */
async function handedBack(harness: RuntimeHarness, jobs: Job[]): Promise<number> {
  let count = 0;
  for (const job of jobs) {
    const { logs } = await harness.queue('rest').getJobLogs(job.id ?? '');
    if (logs.some(line => line.includes('returned to the queue without using an attempt'))) count++;
  }
  return count;
}

describe('a service outage burns no job (rest connector, real worker runtime and Redis)', () => {
  const fakes: FakeRestServer[] = [];
  let harness: RuntimeHarness | undefined;
  afterEach(async () => {
    await harness?.close();
    for (const fake of fakes) await fake.close();
  });

  test('40 jobs with attempts: 1 flow while the service is stopped for 20 s and started again: 40 completed, 0 failed', async () => {
    const first = await startFakeRest();
    fakes.push(first);
    harness = await startRuntime({
      CONNECTORS: 'rest',
      WORKER_REST_BASE_URL: first.url,
      // The default interval: up to 10 s in which jobs are picked up by a worker that has
      // not yet seen the outage.
      WORKER_HEALTH_CHECK_INTERVAL: '10',
    });
    const queue = harness.queue('rest');
    const ids: string[] = [];
    const producing = (async () => {
      for (let n = 0; n < 40; n++) {
        const job = await queue.add('rest', { n, fake: { delay_ms: 50 } }, { attempts: 1 });
        ids.push(job.id ?? '');
        await sleep(400);
      }
    })();
    await waitUntil(
      () => first.seen('/api/process').length >= 3,
      10_000,
      'the first jobs to reach the service',
    );
    // A graceful stop: calls in flight finish (they reached the service), new connections are refused.
    await first.stop();
    const downAt = Date.now();
    await sleep(20_000); // the outage itself
    const second = await startFakeRest({ port: first.port });
    fakes.push(second);
    await producing;

    const jobs = await Promise.all(ids.map(id => waitForFinished(queue, id, 60_000)));
    const states = await Promise.all(jobs.map(job => job.getState()));
    expect(states.filter(state => state === 'failed')).toEqual([]);
    expect(states.filter(state => state === 'completed')).toHaveLength(40);
    expect(jobs.every(job => job.attemptsMade <= 1)).toBe(true);
    // The path under test was taken: jobs picked up during the outage went back to the queue.
    expect(await handedBack(harness, jobs)).toBeGreaterThan(0);
    // Every job added during the outage ran on the restarted service.
    const addedDuringOutage = jobs.filter(
      job => job.timestamp > downAt + 500 && job.timestamp < downAt + 19_000,
    );
    expect(addedDuringOutage.length).toBeGreaterThan(0);
    const servedBySecond = new Set(
      second.seen('/api/process').map(request => (request.body as { job_id?: string }).job_id),
    );
    for (const job of addedDuringOutage) expect(servedBySecond.has(job.id)).toBe(true);
  });

  test('a failure the health check does not confirm keeps its classification (no hand-back loop)', async () => {
    const fake = await startFakeRest();
    fakes.push(fake);
    harness = await startRuntime({ CONNECTORS: 'rest', WORKER_REST_BASE_URL: fake.url });
    // 502 from the job's call while /health answers 200: this request's own failure.
    const job = await harness.run('rest', { fake: { status: 502, detail: 'bad gateway' } }, { attempts: 1 });
    expect(await job.getState()).toBe('failed');
    expect(job.failedReason).toMatch(/^ERR_SERVICE_UNAVAILABLE: REST service answered HTTP 502/);
    expect(fake.seen('/api/process')).toHaveLength(1);
  });

  test('a job whose every run takes the service down still ends, after a bounded number of hand-backs', async () => {
    // A proxy in front of a backend that this job crashes: its call answers 502, and
    // /health fails for a moment after each such call, then the backend is back.
    let lastCall = 0;
    let calls = 0;
    const server = await startHttpServer((req, res) => {
      if (req.url === '/health') {
        res.statusCode = Date.now() - lastCall < 300 ? 503 : 200;
        return res.end('{}');
      }
      calls++;
      lastCall = Date.now();
      res.statusCode = 502;
      return res.end('{"detail":"backend crashed"}');
    });
    try {
      harness = await startRuntime({ CONNECTORS: 'rest', WORKER_REST_BASE_URL: server.url });
      const job = await harness.run('rest', { n: 1 }, { attempts: 1 });
      expect(await job.getState()).toBe('failed');
      expect(job.failedReason).toMatch(/^ERR_SERVICE_UNAVAILABLE: REST service answered HTTP 502/);
      expect(calls).toBeGreaterThan(1);
      expect(calls).toBeLessThanOrEqual(6);
      expect(await handedBack(harness, [job])).toBe(1);
    } finally {
      await server.close();
    }
  });
});
