import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createLogger } from '../../src/logging/logger.js';
import { RedisUnavailableError, checkRedis } from '../../src/redis/connection.js';
import { WorkerRuntime } from '../../src/worker/runtime.js';
import { freePort, startThrowawayRedis } from '../helpers/processes.js';
import { testConfig } from '../helpers/runtime.js';
import { urlRedisConfig } from '../helpers/redis-topologies.js';

/** Log lines written through a real winston logger, parsed. */
function capturingLogger(): {
  logger: ReturnType<typeof createLogger>;
  lines: Array<Record<string, unknown>>;
} {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
  return { logger: createLogger({ level: 'info', format: 'json', stream }), lines };
}

describe('Redis start-up check against a real redis-server', () => {
  let lru: { url: string; stop(): Promise<void> };
  beforeAll(async () => {
    lru = await startThrowawayRedis(['--maxmemory-policy', 'allkeys-lru']);
  });
  afterAll(async () => lru?.stop());

  test('an evicting maxmemory-policy gives one actionable warning', async () => {
    const check = await checkRedis(urlRedisConfig(lru.url));
    expect(check.maxmemoryPolicy).toBe('allkeys-lru');
    expect(check.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(check.warnings).toEqual([
      'Redis maxmemory-policy is "allkeys-lru": set it to "noeviction" (CONFIG SET maxmemory-policy noeviction) or Redis may silently delete queued jobs.',
    ]);
  });

  test('the worker logs that warning at start-up and still starts', async () => {
    const { logger, lines } = capturingLogger();
    const runtime = new WorkerRuntime(testConfig({ REDIS_URL: lru.url }), logger);
    try {
      await runtime.start();
      const warnings = lines.filter(line => line.level === 'warn').map(line => String(line.message));
      expect(warnings).toContain(
        'Redis maxmemory-policy is "allkeys-lru": set it to "noeviction" (CONFIG SET maxmemory-policy noeviction) or Redis may silently delete queued jobs.',
      );
      expect(lines.some(line => /^worker .* ready$/.test(String(line.message)))).toBe(true);
    } finally {
      await runtime.stop();
    }
  });

  test('the shared test Redis (noeviction) gives no warning', async () => {
    const check = await checkRedis(urlRedisConfig(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'));
    expect(check.maxmemoryPolicy).toBe('noeviction');
    expect(check.warnings).toEqual([]);
  });

  test('an unreachable Redis fails with one line naming REDIS_URL, the password masked', async () => {
    const url = `redis://:hunter2-secret@127.0.0.1:${await freePort()}`;
    const failure = await checkRedis(urlRedisConfig(url), 2000).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(RedisUnavailableError);
    const message = (failure as Error).message;
    expect(message).toMatch(
      /^Cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ \(REDIS_URL\): .*ECONNREFUSED/,
    );
    expect(message).toContain('point REDIS_URL at yours');
    expect(message).not.toContain('hunter2-secret');
    expect(message.split('\n')).toHaveLength(1);
  });
});
