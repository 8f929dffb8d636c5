import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { parseHostPorts } from '../config/formats.js';
import type { RedisConfig } from '../config/schema.js';
import { describeError } from '../logging/errors.js';

/** Redis could not be reached or is unfit for BullMQ; the message says what to do. */
export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError';
}

/** A connection to one server, a Sentinel-managed master or a Cluster. */
export type RedisClient = Redis | Cluster;

/** What the start-up check learned about Redis. */
export interface RedisCheck {
  /** The lowest version among the servers checked (every master of a Cluster). */
  version: string;
  maxmemoryPolicy: string | undefined;
  /** Actionable lines to log as warnings. */
  warnings: string[];
}

/**
 * What a connection is for, which decides how it behaves while Redis is away:
 * - `worker`: the runtime's and BullMQ workers' connection; commands wait out a reconnect
 *   (`maxRetriesPerRequest: null`, which BullMQ requires) instead of failing jobs.
 * - `events`: a blocking reader for QueueEvents (same rule as `worker`, its own socket).
 * - `client`: one-shot CLI commands; fail fast when Redis is down.
 * - `board`: Bull Board's queues; a page load errors after a few retries instead of hanging.
 */
export type RedisRole = 'worker' | 'events' | 'client' | 'board';

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

/** Which Redis setup the config describes, for messages (never shows a password). */
export function describeRedis(config: RedisConfig): string {
  if (config.clusterNodes.trim() !== '') {
    return `the Redis Cluster at ${config.clusterNodes} (REDIS_CLUSTER_NODES)`;
  }
  if (config.sentinels.trim() !== '') {
    return `the Redis master "${config.sentinelName}" via the Sentinels ${config.sentinels} (REDIS_SENTINELS)`;
  }
  return `Redis at ${safeRedisUrl(config.url)} (REDIS_URL)`;
}

/** True for a Cluster connection. */
export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}

const ROLE_OPTIONS: Readonly<Record<RedisRole, RedisOptions>> = {
  worker: { maxRetriesPerRequest: null, enableReadyCheck: true },
  events: { maxRetriesPerRequest: null, enableReadyCheck: true },
  client: {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    connectTimeout: 5000,
    retryStrategy: times => (times > 2 ? null : 200),
  },
  board: { maxRetriesPerRequest: 2, enableReadyCheck: true },
};

/**
 * The one place connections are made, for the worker, the CLI and the board alike:
 * REDIS_URL, a Sentinel-managed master (REDIS_SENTINELS + REDIS_SENTINEL_NAME) or a Cluster
 * (REDIS_CLUSTER_NODES), with the behaviour of `role`.
 */
export function createRedis(config: RedisConfig, role: RedisRole, extra: RedisOptions = {}): RedisClient {
  const options: RedisOptions = { ...ROLE_OPTIONS[role], ...extra };
  const password = config.password === '' ? {} : { password: config.password };
  const clusterNodes = parseHostPorts(config.clusterNodes);
  if (clusterNodes.length > 0) {
    const { retryStrategy, enableOfflineQueue, enableReadyCheck, lazyConnect, ...perNode } = options;
    const clusterOptions: ClusterOptions = {
      redisOptions: { ...perNode, ...password },
      ...(retryStrategy ? { clusterRetryStrategy: retryStrategy } : {}),
      ...(enableOfflineQueue !== undefined ? { enableOfflineQueue } : {}),
      ...(enableReadyCheck !== undefined ? { enableReadyCheck } : {}),
      ...(lazyConnect !== undefined ? { lazyConnect } : {}),
    };
    return new Cluster(clusterNodes, clusterOptions);
  }
  const sentinels = parseHostPorts(config.sentinels);
  if (sentinels.length > 0) {
    return new Redis({
      ...options,
      ...password,
      sentinels,
      name: config.sentinelName,
      ...(config.sentinelPassword === '' ? {} : { sentinelPassword: config.sentinelPassword }),
      // Reconnect as soon as the Sentinels announce a new master, not after a timeout.
      failoverDetector: true,
      ...(options.retryStrategy ? { sentinelRetryStrategy: options.retryStrategy } : {}),
    });
  }
  return new Redis(config.url, { ...options, ...password });
}

/** Connection for workers and the runtime (see {@link RedisRole} `worker`). */
export function createWorkerRedis(config: RedisConfig): RedisClient {
  return createRedis(config, 'worker');
}

/** Connection for one-shot commands (CLI): fails fast when Redis is down. */
export function createClientRedis(config: RedisConfig): RedisClient {
  return createRedis(config, 'client');
}

/**
 * Connection to hand a QueueEvents (or any blocking reader): BullMQ reads through its own
 * duplicate of it, which it closes with the reader; the caller disconnects this one.
 */
export function createEventsRedis(config: RedisConfig): RedisClient {
  const client = createRedis(config, 'events', { lazyConnect: true });
  client.on('error', () => undefined);
  return client;
}

/**
 * Every key matching `pattern`, in SCAN batches (never KEYS). On a Cluster each master is
 * scanned, since SCAN only walks the node it is sent to.
 */
export async function scanKeys(client: RedisClient, pattern: string, count: number): Promise<string[]> {
  const nodes: Redis[] = isCluster(client) ? await masters(client) : [client];
  const found: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      cursor = next;
      found.push(...keys);
    } while (cursor !== '0');
  }
  return found;
}

/**
 * Receivers of a PUBLISH on `channel`. A Cluster forwards a classic PUBLISH to every node,
 * but its reply counts only the subscribers of the node it was sent to, so there every
 * node is asked (PUBSUB NUMSUB) and the answers added up.
 */
export async function publishReach(client: RedisClient, channel: string, published: number): Promise<number> {
  if (!isCluster(client)) return published;
  await masters(client);
  const counts = await Promise.all(
    client.nodes('all').map(async node => {
      const reply = await node.pubsub('NUMSUB', channel);
      return Number(reply[1] ?? 0);
    }),
  );
  return counts.reduce((sum, count) => sum + count, 0);
}

/** The Cluster's masters; the node list fills only once the client has read the slots. */
async function masters(cluster: Cluster): Promise<Redis[]> {
  if (cluster.status !== 'ready') {
    await new Promise<void>((resolve, reject) => {
      const onReady = (): void => {
        cluster.off('end', onEnd);
        resolve();
      };
      const onEnd = (): void => {
        cluster.off('ready', onReady);
        reject(new Error('the Redis Cluster connection closed before it was ready'));
      };
      cluster.once('ready', onReady);
      cluster.once('end', onEnd);
    });
  }
  return cluster.nodes('master');
}

/**
 * Connects once, reads the Redis version and eviction policy (of every master on a
 * Cluster; of the elected master behind Sentinels), and fails with one clear line when
 * Redis is unreachable or too old (BullMQ needs 5.0; 6.2 is recommended).
 */
export async function checkRedis(config: RedisConfig, timeoutMs = 5000): Promise<RedisCheck> {
  const redis = createRedis(config, 'client', {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  const where = describeRedis(config);
  // ioredis rejects connect() with a bare "Connection is closed."; the cause (ECONNREFUSED,
  // ENOTFOUND, NOAUTH...) arrives on the 'error' event, so keep it for the message.
  let cause: unknown;
  redis.on('error', (error: unknown) => (cause ??= error));
  try {
    try {
      await redis.connect();
    } catch (error) {
      throw new RedisUnavailableError(
        `Cannot reach ${where}: ${describeError(cause ?? error).replace(/\.+$/, '')}. ${startHint(config)}`,
        { cause: cause ?? error },
      );
    }
    const servers: Redis[] = isCluster(redis) ? await masters(redis) : [redis];
    const checks = await Promise.all(servers.map(server => readServer(server)));
    const version = checks.map(check => check.version).sort(compareVersions)[0] ?? '0.0.0';
    const warnings: string[] = [];
    if (compareVersions(version, '5.0.0') < 0) {
      throw new RedisUnavailableError(
        `Redis ${version} (${where}) is too old: BullMQ needs Redis 5.0 or newer (6.2+ recommended).`,
      );
    }
    if (compareVersions(version, '6.2.0') < 0) {
      warnings.push(
        `Redis ${version} is older than the recommended 6.2: upgrade Redis for full BullMQ support.`,
      );
    }
    const maxmemoryPolicy = checks.find(check => check.policy !== 'noeviction')?.policy ?? checks[0]?.policy;
    if (maxmemoryPolicy !== undefined && maxmemoryPolicy !== 'noeviction') {
      warnings.push(
        `Redis maxmemory-policy is "${maxmemoryPolicy}": set it to "noeviction" (CONFIG SET maxmemory-policy noeviction${servers.length > 1 ? ', on every master' : ''}) or Redis may silently delete queued jobs.`,
      );
    }
    return { version, maxmemoryPolicy, warnings };
  } finally {
    redis.disconnect();
  }
}

async function readServer(server: Redis): Promise<{ version: string; policy: string | undefined }> {
  const info = await server.info('server');
  const version = /redis_version:([^\r\n]+)/.exec(info)?.[1]?.trim() ?? '0.0.0';
  let policy: string | undefined;
  try {
    const reply = await server.config('GET', 'maxmemory-policy');
    if (Array.isArray(reply) && typeof reply[1] === 'string') policy = reply[1];
  } catch {
    // Hosted Redis often forbids CONFIG; the policy is then simply unknown.
  }
  return { version, policy };
}

function startHint(config: RedisConfig): string {
  if (config.clusterNodes.trim() !== '') return 'Check that the nodes listed in REDIS_CLUSTER_NODES are up.';
  if (config.sentinels.trim() !== '') {
    return 'Check that the Sentinels are up and monitor a master named REDIS_SENTINEL_NAME.';
  }
  return 'Start one (e.g. `redis-server` or `docker run -d -p 6379:6379 redis:7`) or point REDIS_URL at yours.';
}

/** Sorts versions ascending (`1.2.10` after `1.2.9`). */
function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(part => Number.parseInt(part, 10) || 0);
  const pb = b.split('.').map(part => Number.parseInt(part, 10) || 0);
  for (let i = 0; i < 3; i++) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}
