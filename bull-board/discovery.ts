import { scanKeys, type RedisClient } from '../src/redis/connection.js';

/**
 * Key suffixes that mark a BullMQ queue. BullMQ 6 writes `<prefix>:<queue>:meta` as soon
 * as a Queue or Worker touches the queue (checked against Redis: a producer's first
 * `add` creates `meta`, `id`, `wait`, `events`, `marker` and the job hash; a bare Worker
 * creates `meta`); `id` also catches producers in other languages that may skip `meta`.
 */
const QUEUE_MARKER_SUFFIXES = [':meta', ':id'] as const;

/** Escapes Redis glob characters so a prefix such as `{emp}` or `a[1]` matches itself. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, match => `\\${match}`);
}

/** Keys per SCAN call: fewer round trips on big keyspaces, each call still short. */
const SCAN_COUNT = 2000;

/**
 * Names of every BullMQ queue under `prefix` in Redis, sorted. Uses SCAN (never KEYS), so
 * it never blocks Redis, in one pass over the keyspace: the pattern `<prefix>:*[ad]` lets
 * through only keys ending in `a` or `d` (so `:meta` and `:id`, not the job hashes' numeric
 * ids) and the exact suffix is checked here. BullMQ refuses `:` in queue names, so keys
 * whose middle part holds one (our own `<prefix>:emp:...` records) are not queues.
 */
export async function findQueueNames(redis: RedisClient, prefix: string): Promise<string[]> {
  const names = new Set<string>();
  const head = `${prefix}:`;
  for (const key of await scanKeys(redis, `${escapeGlob(head)}*[ad]`, SCAN_COUNT)) {
    const suffix = QUEUE_MARKER_SUFFIXES.find(candidate => key.endsWith(candidate));
    if (!suffix) continue;
    const name = key.slice(head.length, key.length - suffix.length);
    if (name !== '' && !name.includes(':')) names.add(name);
  }
  return [...names].sort();
}
