import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Queue } from 'bullmq';
import type { BoardServer } from '../../bull-board/board.js';
import { BOARD_PASSWORD, basicHeader, startTestBoard } from '../helpers/board.js';
import { REDIS_URL, deletePrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { startRuntime, waitUntil, type RuntimeHarness } from '../helpers/runtime.js';

/** The JSON of one board API call, with the status. */
async function api(board: BoardServer, path: string, init: RequestInit = {}, auth = basicHeader()) {
  const response = await fetch(new URL(path.replace(/^\//, ''), board.url), {
    ...init,
    headers: { authorization: auth, 'content-type': 'application/json', ...(init.headers ?? {}) },
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text) as unknown;
  } catch {
    // HTML page or plain text
  }
  return { status: response.status, headers: response.headers, body };
}

interface ApiJob {
  id: string;
  data: unknown;
  progress: unknown;
  returnValue: unknown;
  failedReason?: string;
}
interface ApiQueue {
  name: string;
  readOnlyMode: boolean;
  counts: Record<string, number>;
  jobs: ApiJob[];
}

async function queuesOf(board: BoardServer, query = ''): Promise<ApiQueue[]> {
  const { status, body } = await api(board, `/api/queues${query}`);
  expect(status).toBe(200);
  return (body as { queues: ApiQueue[] }).queues;
}

const BIG_IMAGE = Buffer.alloc(300_000, 7).toString('base64');
const SECRET = 'sk-live-abcdef123456';

describe('Bull Board server', () => {
  let harness: RuntimeHarness;
  let board: BoardServer;
  let readOnlyBoard: BoardServer;
  let completedId = '';
  let failedId = '';

  beforeAll(async () => {
    harness = await startRuntime({ WORKER_SIMULATION_CONCURRENCY: '2' });
    const done = await harness.run('simulation', {
      steps: 3,
      duration_ms: 600,
      result: {
        api_key: SECRET,
        note: `key is ${SECRET}`,
        image: `data:image/png;base64,${BIG_IMAGE}`,
        raw: BIG_IMAGE,
      },
    });
    completedId = done.id ?? '';
    const failed = await harness.run(
      'simulation',
      { steps: 3, duration_ms: 0, fail_at_step: 2 },
      { attempts: 2 },
    );
    failedId = failed.id ?? '';
    ({ board } = await startTestBoard(harness.prefix, {}, [SECRET]));
    ({ board: readOnlyBoard } = await startTestBoard(harness.prefix, { BULL_BOARD_READ_ONLY: 'true' }));
  });
  afterAll(async () => {
    await board?.close();
    await readOnlyBoard?.close();
    await harness?.close();
  });

  test('/healthz answers without credentials', async () => {
    const response = await fetch(new URL('healthz', board.url));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ok', redis: 'ready' });
  });

  test.each([
    ['the page', '/'],
    ['a queue page', '/queue/simulation'],
    ['the queues API', '/api/queues'],
    ['a job API', '/api/queues/simulation/1'],
    ['a static asset', '/static/favicon-32x32.png'],
  ])(
    '%s needs credentials: none, a wrong password or a wrong user get 401 with a challenge',
    async (_label, path) => {
      for (const auth of [
        '',
        basicHeader('admin', 'wrong'),
        basicHeader('root', BOARD_PASSWORD),
        'Bearer abc',
        'Basic !!!',
      ]) {
        const { status, headers, body } = await api(board, path, {}, auth);
        expect(status).toBe(401);
        expect(headers.get('www-authenticate')).toBe('Basic realm="Bull Board", charset="UTF-8"');
        expect(JSON.stringify(body)).not.toContain('simulation');
      }
    },
  );

  test('with the right credentials the page is Bull Board', async () => {
    const { status, body } = await api(board, '/');
    expect(status).toBe(200);
    expect(String(body)).toContain('<title>emp-worker</title>');
  });

  test('it lists the queue the worker consumes, with counts', async () => {
    const simulation = (await queuesOf(board)).find(queue => queue.name === 'simulation');
    expect(simulation?.counts).toMatchObject({ completed: 1, failed: 1 });
    expect(simulation?.readOnlyMode).toBe(false);
  });

  test('a queue created by a separate producer after the board started appears without a restart', async () => {
    const other = uniquePrefix('other');
    const late = new Queue('late-arrival', { connection: { url: REDIS_URL }, prefix: harness.prefix });
    const elsewhere = new Queue('not-ours', { connection: { url: REDIS_URL }, prefix: other });
    try {
      expect(board.queueNames()).not.toContain('late-arrival');
      await late.add('anything', { hello: 'world' });
      await elsewhere.add('anything', {});
      await waitUntil(
        async () => (await queuesOf(board)).some(queue => queue.name === 'late-arrival'),
        10_000,
        'the new queue in the board API',
      );
      const names = (await queuesOf(board)).map(queue => queue.name);
      expect(names).toEqual(expect.arrayContaining(['simulation', 'late-arrival']));
      expect(names).not.toContain('not-ours');
      // Gone from Redis → gone from the board.
      await late.obliterate({ force: true });
      await waitUntil(
        async () => !(await queuesOf(board)).some(q => q.name === 'late-arrival'),
        10_000,
        'the queue to go',
      );
    } finally {
      await late.close();
      await elsewhere.close();
      const redis = testRedis();
      await deletePrefix(redis, other);
      await redis.quit();
    }
  });

  test('a completed job shows its progress object, masked data and a shortened result', async () => {
    const [queue] = await queuesOf(board, '?activeQueue=simulation&status=completed');
    const job = queue?.jobs.find(j => j.id === completedId);
    expect(job).toBeDefined();
    expect(job?.progress).toMatchObject({ progress: 100, status: 'completed', connector: 'simulation' });
    const shown = JSON.stringify({ data: job?.data, returnValue: job?.returnValue });
    expect(shown).not.toContain(SECRET);
    expect(shown).not.toContain(BIG_IMAGE.slice(0, 2000));
    expect(job?.data).toMatchObject({
      result: {
        api_key: '[redacted]',
        note: 'key is [redacted]',
        image: expect.stringMatching(/^\[base64 image\/png, 293\.0 kB: /),
        raw: expect.stringMatching(/^\[base64 293\.0 kB: /),
      },
    });
    expect(job?.returnValue).toMatchObject({ status: 'success', output: { api_key: '[redacted]' } });
    // Redis still holds the real data; only the view is masked.
    const stored = await harness.queue('simulation').getJob(completedId);
    expect(JSON.stringify(stored?.data)).toContain(SECRET);
  });

  test('a failed job shows the classified reason as it is, and its log lines', async () => {
    const [queue] = await queuesOf(board, '?activeQueue=simulation&status=failed');
    const job = queue?.jobs.find(j => j.id === failedId);
    expect(job?.failedReason).toBe('ERR_SERVICE_FAILED: simulated failure at step 2 of 3');
    const { status, body } = await api(board, `/api/queues/simulation/${failedId}/logs`);
    expect(status).toBe(200);
    expect(
      Array.isArray(body) && body.some(line => String(line).includes('will retry (attempt 1 of 2)')),
    ).toBe(true);
  });

  test('throughput metrics are recorded (the worker sets the BullMQ metrics option)', async () => {
    const { status, body } = await api(board, '/api/queues/simulation/metrics');
    expect(status).toBe(200);
    // BullMQ keeps a running total in `meta.count` and adds one data point per minute
    // (the graph's bars) as minutes pass; without the worker's `metrics` option both stay null.
    const metrics = body as {
      completed: { meta: { count: number } } | null;
      failed: { meta: { count: number } } | null;
    };
    expect(metrics.completed?.meta.count).toBeGreaterThanOrEqual(1);
    expect(metrics.failed?.meta.count).toBeGreaterThanOrEqual(1);
  });

  test('editing job data, or adding a job, with values the board masked is refused', async () => {
    const edit = await api(board, `/api/queues/simulation/${completedId}/update-data`, {
      method: 'PATCH',
      body: JSON.stringify({ jobData: { steps: 3, result: { api_key: '[redacted]' } } }),
    });
    expect(edit.status).toBe(400);
    expect(edit.body).toMatchObject({ message: expect.stringContaining('values the board masked') });
    const copy = await api(board, '/api/queues/simulation/add', {
      method: 'POST',
      body: JSON.stringify({
        name: 'copy',
        data: { result: { image: '[base64 image/png, 293.0 kB: iVBOR…]' } },
        options: {},
      }),
    });
    expect(copy.status).toBe(400);
    expect(copy.body).toMatchObject({ message: expect.stringContaining('values the board masked') });
    expect(await harness.queue('simulation').getJobCounts('waiting', 'active')).toEqual({
      waiting: 0,
      active: 0,
    });
    const stored = await harness.queue('simulation').getJob(completedId);
    expect(JSON.stringify(stored?.data)).toContain(SECRET);
  });

  test('read-only mode refuses retry, clean, promote and pause with 405 and changes nothing', async () => {
    const simulation = (await queuesOf(readOnlyBoard)).find(queue => queue.name === 'simulation');
    expect(simulation?.readOnlyMode).toBe(true);
    const attempts: Array<[string, string]> = [
      ['PUT', `/api/queues/simulation/${failedId}/retry`],
      ['PUT', '/api/queues/simulation/retry/failed'],
      ['PUT', '/api/queues/simulation/clean/completed'],
      ['PUT', `/api/queues/simulation/${completedId}/clean`],
      ['PUT', '/api/queues/simulation/promote'],
      ['PUT', '/api/queues/simulation/pause'],
      ['PUT', '/api/queues/simulation/empty'],
    ];
    for (const [method, path] of attempts) {
      const { status, body } = await api(readOnlyBoard, path, { method, body: '{}' });
      expect({ path, status }).toEqual({ path, status: 405 });
      expect(body).toMatchObject({ error: { key: 'ERRORS.QUEUE_READ_ONLY' } });
    }
    const counts = await harness.queue('simulation').getJobCounts('completed', 'failed');
    expect(counts).toMatchObject({ completed: 1, failed: 1 });
    expect(await harness.queue('simulation').isPaused()).toBe(false);
    // Reading still works in read-only mode.
    expect((await api(readOnlyBoard, `/api/queues/simulation/${failedId}/logs`)).status).toBe(200);
  });

  test('the writable board does run actions (so the 405s above come from read-only mode)', async () => {
    const { status } = await api(board, `/api/queues/simulation/${failedId}/retry`, {
      method: 'PUT',
      body: '{}',
    });
    expect(status).toBe(204);
    await waitUntil(
      async () =>
        ['completed', 'failed', 'active', 'waiting'].includes(
          await harness.queue('simulation').getJobState(failedId),
        ) && (await harness.queue('simulation').getJobState(failedId)) !== 'failed',
      10_000,
      'the retried job to leave the failed set',
    );
  });

  test('under BULL_BOARD_BASE_PATH the page, its assets and the API live below that path; /healthz stays at the root', async () => {
    const { board: proxied } = await startTestBoard(harness.prefix, {
      BULL_BOARD_BASE_PATH: '/admin/queues/',
    });
    try {
      expect(proxied.url).toMatch(/\/admin\/queues\/$/);
      const page = await api(proxied, '/');
      expect(page.status).toBe(200);
      const assets = [...String(page.body).matchAll(/src="([^"]+\.js)"/g)].map(match => match[1] ?? '');
      expect(assets.length).toBeGreaterThan(0);
      for (const asset of assets) {
        const url = new URL(asset, proxied.url);
        expect(url.pathname.startsWith('/admin/queues/static/')).toBe(true);
        expect((await fetch(url, { headers: { authorization: basicHeader() } })).status).toBe(200);
      }
      const queues = await api(proxied, 'api/queues');
      expect(queues.status).toBe(200);
      expect(
        (await fetch(new URL('/api/queues', proxied.url), { headers: { authorization: basicHeader() } }))
          .status,
      ).toBe(404);
      expect((await fetch(new URL('/healthz', proxied.url))).status).toBe(200);
    } finally {
      await proxied.close();
    }
  });
});
