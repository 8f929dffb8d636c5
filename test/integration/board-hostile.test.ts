import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Queue } from 'bullmq';
import type { BoardServer } from '../../bull-board/board.js';
import { basicHeader, startTestBoard } from '../helpers/board.js';
import { REDIS_URL, removePrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

/** Jobs written by a producer in another language, shown by the real board: nothing overflows, nothing leaks. */
describe('Bull Board with hostile job data', () => {
  const prefix = uniquePrefix('board-hostile');
  let queue: Queue;
  let board: BoardServer;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    queue = new Queue('hostile', { connection: { url: REDIS_URL }, prefix });
    const redis = testRedis();
    try {
      const raw = {
        deep: `${'['.repeat(200_000)}${']'.repeat(200_000)}`,
        proto: '{"__proto__": {"shown": true}, "a": 1}',
        buried: `${'{"x":'.repeat(20)}{"password": "hunter2-buried"}${'}'.repeat(20)}`,
      };
      for (const [name, text] of Object.entries(raw)) {
        // Waiting jobs whose stored data is what another producer wrote.
        const job = await queue.add('hostile', {});
        await redis.hset(`${prefix}:hostile:${job.id ?? ''}`, 'data', text);
        ids[name] = job.id ?? '';
      }
    } finally {
      await redis.quit();
    }
    ({ board } = await startTestBoard(prefix));
  });
  afterAll(async () => {
    await board?.close();
    await queue?.close();
    await removePrefix(prefix);
  });

  async function jobJson(id: string): Promise<{ status: number; text: string }> {
    const response = await fetch(new URL(`api/queues/hostile/${id}`, board.url), {
      headers: { authorization: basicHeader() },
    });
    return { status: response.status, text: await response.text() };
  }

  test('the job list and each job page answer; deep data is cut off with a marker', async () => {
    const list = await fetch(new URL('api/queues?activeQueue=hostile&status=waiting', board.url), {
      headers: { authorization: basicHeader() },
    });
    expect(list.status).toBe(200);
    const deep = await jobJson(ids.deep ?? '');
    expect(deep.status).toBe(200);
    expect(deep.text).toContain('[nested too deeply]');
  });

  test('a "__proto__" key is shown as data; a secret 20 levels down is masked', async () => {
    const proto = await jobJson(ids.proto ?? '');
    expect(proto.status).toBe(200);
    expect(proto.text).toContain('"__proto__":{"shown":true}');
    const buried = await jobJson(ids.buried ?? '');
    expect(buried.status).toBe(200);
    expect(buried.text).not.toContain('hunter2-buried');
    expect(buried.text).toContain('[redacted]');
  });
});
