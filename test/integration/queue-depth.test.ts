import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Queue } from 'bullmq';
import { readQueueDepths, type QueueDepth } from '../../src/redis/queue-depth.js';
import { WorkerMetrics } from '../../src/worker/metrics.js';
import { REDIS_URL, deletePrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

describe('queue depth for autoscalers (real Redis, BullMQ-made queues)', () => {
  const prefix = uniquePrefix('depth');
  const redis = testRedis();
  let images: Queue;
  let videos: Queue;

  beforeAll(async () => {
    images = new Queue('images', { connection: { url: REDIS_URL }, prefix });
    videos = new Queue('videos', { connection: { url: REDIS_URL }, prefix });
    await images.add('images', { n: 1 }, { timestamp: Date.now() - 90_000 });
    await images.add('images', { n: 2 });
    await images.add('images', { n: 3 }, { priority: 5, timestamp: Date.now() - 120_000 });
    await images.add('images', { n: 4 }, { delay: 60_000 });
  });

  afterAll(async () => {
    await images.close();
    await videos.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  test('counts each state and the age of the job that has waited longest, for every queue in one read', async () => {
    const depths = await readQueueDepths(redis, prefix, ['images', 'videos', 'never-used']);
    const byQueue = new Map(depths.map(depth => [depth.queue, depth]));
    const counts = await images.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed');
    expect(byQueue.get('images')).toMatchObject({
      waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
      active: 0,
      delayed: 1,
      failed: 0,
    });
    expect(byQueue.get('images')?.waiting).toBe(3);
    // The prioritized job made two minutes ago is the oldest ready one.
    expect(byQueue.get('images')?.oldestWaitingSeconds).toBeGreaterThanOrEqual(119);
    expect(byQueue.get('images')?.oldestWaitingSeconds).toBeLessThan(130);
    expect(byQueue.get('videos')).toEqual({
      queue: 'videos',
      waiting: 0,
      active: 0,
      delayed: 0,
      failed: 0,
      oldestWaitingSeconds: 0,
    });
    expect(byQueue.get('never-used')?.waiting).toBe(0);
  });

  test('/metrics gauges: one Redis read serves every gauge and every scrape within a second', async () => {
    const metrics = new WorkerMetrics();
    let reads = 0;
    metrics.registerQueueDepth(async (): Promise<QueueDepth[]> => {
      reads++;
      return readQueueDepths(redis, prefix, ['images', 'videos']);
    });
    const first = await metrics.registry.metrics();
    await metrics.registry.metrics();
    expect(reads).toBe(1);
    expect(first).toMatch(/emp_queue_waiting\{queue="images"\} 3/);
    expect(first).toMatch(/emp_queue_delayed\{queue="images"\} 1/);
    expect(first).toMatch(/emp_queue_active\{queue="videos"\} 0/);
    expect(first).toMatch(/emp_queue_failed\{queue="images"\} 0/);
    expect(first).toMatch(/emp_queue_oldest_waiting_seconds\{queue="images"\} 1[2-3]\d/);
    await new Promise(resolve => setTimeout(resolve, 1050));
    await metrics.registry.metrics();
    expect(reads).toBe(2);
  });
});
