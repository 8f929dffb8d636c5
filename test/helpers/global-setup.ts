import { Redis } from 'ioredis';

/** Fails the run early, with a clear line, when no Redis answers on REDIS_URL. */
export default async function globalSetup(): Promise<void> {
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
