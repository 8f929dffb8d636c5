import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Queue, Worker } from 'bullmq';
import { findQueueNames } from '../../bull-board/discovery.js';
import { keys } from '../../src/redis/keys.js';
import { REDIS_URL, deletePrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

describe('queue discovery by SCAN', () => {
  const redis = testRedis();
  // A prefix with glob characters must match only itself.
  const prefix = `{${uniquePrefix('disc')}}[x]`;
  const lookalike = `{${uniquePrefix('disc')}}x`;
  let worker: Worker | undefined;

  beforeAll(async () => {
    const producer = new Queue('images', { connection: { url: REDIS_URL }, prefix });
    await producer.add('a', {}, { jobId: 'custom-id-ending-in-d' });
    await producer.add('b', {});
    await producer.close();
    // A queue only a worker has touched (no job yet) is a queue too.
    worker = new Worker('idle-consumer', async () => undefined, {
      connection: { url: REDIS_URL, maxRetriesPerRequest: null },
      prefix,
    });
    await worker.waitUntilReady();
    // emp-worker's own records under the prefix are not queues.
    await redis.set(keys.heartbeat(prefix, 'w1'), '{}');
    await redis.set(keys.cancelMarker(prefix, 'images', 'id'), '1');
    const other = new Queue('not-ours', { connection: { url: REDIS_URL }, prefix: lookalike });
    await other.add('c', {});
    await other.close();
  });
  afterAll(async () => {
    await worker?.close();
    await deletePrefix(redis, prefix.replace(/[[\]]/g, '\\$&'));
    await deletePrefix(redis, lookalike);
    await redis.quit();
  });

  test('finds queues with jobs and queues only a worker has touched, nothing else', async () => {
    await expect(findQueueNames(redis, prefix)).resolves.toEqual(['idle-consumer', 'images']);
  });

  test('an empty prefix space has no queues', async () => {
    await expect(findQueueNames(redis, uniquePrefix('empty'))).resolves.toEqual([]);
  });
});
