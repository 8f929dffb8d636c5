import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';

/** The Redis tests use. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Tags every prefix of one jest run (set by the global setup), so the global teardown can
 * check that this run left nothing behind while other runs share the same Redis.
 */
export const RUN_TAG = process.env.EMPTEST_RUN ?? 'adhoc';

/** A prefix no other test uses, so tests never see each other's queues. */
export function uniquePrefix(label = 't'): string {
  return `emptest-${RUN_TAG}-${label}-${randomUUID().slice(0, 8)}`;
}

/** A plain connection for assertions; close it with `.quit()`. */
export function testRedis(): Redis {
  return new Redis(REDIS_URL, { maxRetriesPerRequest: null });
}

/** Deletes every key under a prefix (the test's own queues, heartbeats and markers). */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
    cursor = next;
    if (found.length > 0) await redis.del(...found);
  } while (cursor !== '0');
}

/** Deletes every key under a prefix on a connection of its own (for cleanups). */
export async function removePrefix(prefix: string): Promise<void> {
  const redis = testRedis();
  try {
    await deletePrefix(redis, prefix);
  } finally {
    await redis.quit();
  }
}

/**
 * A producer queue on `prefix` for a test; its cleanup (pushed onto `cleanups`) closes it
 * and deletes every key under the prefix.
 */
export function producerQueue(name: string, prefix: string, cleanups: Array<() => Promise<void>>): Queue {
  const queue = new Queue(name, { connection: { url: REDIS_URL }, prefix });
  cleanups.push(async () => {
    await queue.close();
    await removePrefix(prefix);
  });
  return queue;
}
