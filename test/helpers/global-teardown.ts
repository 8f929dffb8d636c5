import { Redis } from 'ioredis';

/**
 * Fails the run when its tests left keys in Redis (every test deletes what it made; the
 * Redis is shared with other runs, so only this run's prefix is checked). The keys are
 * then deleted, so one leaking test does not pollute the next run.
 */
export default async function globalTeardown(): Promise<void> {
  const run = process.env.EMPTEST_RUN;
  if (!run) return;
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
  try {
    const left: string[] = [];
    let cursor = '0';
    do {
      // uniquePrefix (test/helpers/redis.ts) names every prefix `emptest-<run>-<label>-<id>`;
      // jest loads global hooks without the test module mapping, so that module is not imported.
      const [next, found] = await redis.scan(cursor, 'MATCH', `emptest-${run}-*`, 'COUNT', 1000);
      cursor = next;
      left.push(...found);
    } while (cursor !== '0');
    if (left.length === 0) return;
    for (let i = 0; i < left.length; i += 500) await redis.del(...left.slice(i, i + 500));
    const prefixes = [...new Set(left.map(key => key.split(':')[0]))].sort();
    throw new Error(
      `tests left ${left.length} key(s) in Redis under ${prefixes.length} prefix(es): ${prefixes.join(', ')} ` +
        `(e.g. ${left.slice(0, 5).join(', ')}); every test must delete what it creates (deletePrefix in test/helpers/redis.ts)`,
    );
  } finally {
    redis.disconnect();
  }
}
