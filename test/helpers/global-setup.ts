import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';

/** Fails the run early, with a clear line, when no Redis answers on REDIS_URL. */
export default async function globalSetup(): Promise<void> {
  // Read by uniquePrefix (test/helpers/redis.ts) in every test file, and by the teardown.
  process.env.EMPTEST_RUN ??= randomUUID().slice(0, 8);
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(
      `Tests need a Redis server at ${url} (REDIS_URL): ${String(error)}. Start one: redis-server --daemonize yes`,
    );
  } finally {
    redis.disconnect();
  }
}
