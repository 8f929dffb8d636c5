import { Redis } from 'ioredis';
import { describeError } from '../logging/errors.js';

/** Redis could not be reached or is unfit for BullMQ; the message says what to do. */
export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError';
}

/** What the start-up check learned about Redis. */
export interface RedisCheck {
  version: string;
  maxmemoryPolicy: string | undefined;
  /** Actionable lines to log as warnings. */
  warnings: string[];
}

/** The URL with its password masked, safe to print. */
export function safeRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'an unparsable REDIS_URL';
  }
}

/**
 * Connection for workers and the runtime: BullMQ requires `maxRetriesPerRequest: null`
 * so commands wait out a reconnect instead of failing jobs.
 */
export function createWorkerRedis(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true });
}

/** Connection for one-shot commands (CLI): fails fast when Redis is down. */
export function createClientRedis(url: string): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    connectTimeout: 5000,
    retryStrategy: times => (times > 2 ? null : 200),
  });
}

/**
 * Connects once, reads the Redis version and eviction policy, and fails with one clear
 * line when Redis is unreachable or too old (BullMQ needs 5.0; 6.2 is recommended).
 */
export async function checkRedis(url: string, timeoutMs = 5000): Promise<RedisCheck> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  // ioredis rejects connect() with a bare "Connection is closed."; the cause (ECONNREFUSED,
  // ENOTFOUND, NOAUTH...) arrives on the 'error' event, so keep it for the message.
  let cause: unknown;
  redis.on('error', error => (cause ??= error));
  try {
    try {
      await redis.connect();
    } catch (error) {
      throw new RedisUnavailableError(
        `Cannot reach Redis at ${safeRedisUrl(url)} (REDIS_URL): ${describeError(cause ?? error).replace(/\.+$/, '')}. ` +
          'Start one (e.g. `redis-server` or `docker run -d -p 6379:6379 redis:7`) or point REDIS_URL at yours.',
        { cause: cause ?? error },
      );
    }
    const info = await redis.info('server');
    const version = /redis_version:([^\r\n]+)/.exec(info)?.[1]?.trim() ?? '0.0.0';
    const warnings: string[] = [];
    if (compareVersions(version, '5.0.0') < 0) {
      throw new RedisUnavailableError(
        `Redis ${version} at ${safeRedisUrl(url)} is too old: BullMQ needs Redis 5.0 or newer (6.2+ recommended).`,
      );
    }
    if (compareVersions(version, '6.2.0') < 0) {
      warnings.push(
        `Redis ${version} is older than the recommended 6.2: upgrade Redis for full BullMQ support.`,
      );
    }
    let maxmemoryPolicy: string | undefined;
    try {
      const reply = await redis.config('GET', 'maxmemory-policy');
      if (Array.isArray(reply) && typeof reply[1] === 'string') maxmemoryPolicy = reply[1];
    } catch {
      // Hosted Redis often forbids CONFIG; the policy is then simply unknown.
    }
    if (maxmemoryPolicy !== undefined && maxmemoryPolicy !== 'noeviction') {
      warnings.push(
        `Redis maxmemory-policy is "${maxmemoryPolicy}": set it to "noeviction" (CONFIG SET maxmemory-policy noeviction) or Redis may silently delete queued jobs.`,
      );
    }
    return { version, maxmemoryPolicy, warnings };
  } finally {
    redis.disconnect();
  }
}

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(part => Number.parseInt(part, 10) || 0);
  const pb = b.split('.').map(part => Number.parseInt(part, 10) || 0);
  for (let i = 0; i < 3; i++) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}
