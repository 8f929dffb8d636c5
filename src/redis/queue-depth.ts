import type { RedisClient } from './connection.js';

/** How deep one queue is right now: what an autoscaler scales on. */
export interface QueueDepth {
  queue: string;
  /** Jobs ready to run (BullMQ's wait and prioritized, plus the legacy paused list). */
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  /** Seconds the next job to run has been ready; 0 when nothing waits. */
  oldestWaitingSeconds: number;
}

/**
 * Counts of one queue and the time the next job to run became ready (its `timestamp` plus
 * `delay`: a delayed job waits only from when it was due), in one round trip. KEYS are the
 * queue's wait, active, delayed, failed, prioritized and paused keys; ARGV[1] the job key
 * prefix. Job keys are derived in the script, which a Cluster allows here because they share
 * the queue's hash tag (BullMQ's own scripts do the same).
 */
const DEPTH_SCRIPT = `
local function readyAt(id)
  if not id then return nil end
  local fields = redis.call('HMGET', ARGV[1] .. id, 'timestamp', 'delay')
  local ts = tonumber(fields[1])
  if not ts then return nil end
  return ts + (tonumber(fields[2]) or 0)
end
local oldest = readyAt(redis.call('LINDEX', KEYS[1], -1))
local first = redis.call('ZRANGE', KEYS[5], 0, 0)[1]
local other = readyAt(first)
if other and (not oldest or other < oldest) then oldest = other end
return {
  redis.call('LLEN', KEYS[1]) + redis.call('ZCARD', KEYS[5]) + redis.call('LLEN', KEYS[6]),
  redis.call('LLEN', KEYS[2]),
  redis.call('ZCARD', KEYS[3]),
  redis.call('ZCARD', KEYS[4]),
  oldest or -1,
}`;

/** Reads the depth of every queue in one pipeline (one round trip for all of them). */
export async function readQueueDepths(
  redis: RedisClient,
  prefix: string,
  queues: readonly string[],
  now: number = Date.now(),
): Promise<QueueDepth[]> {
  if (queues.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const queue of queues) {
    const base = `${prefix}:${queue}:`;
    const keys = ['wait', 'active', 'delayed', 'failed', 'prioritized', 'paused'].map(type => base + type);
    pipeline.eval(DEPTH_SCRIPT, keys.length, ...keys, base);
  }
  const replies = (await pipeline.exec()) ?? [];
  return queues.map((queue, index) => {
    const [error, reply] = replies[index] ?? [new Error('no reply'), undefined];
    if (error) throw error;
    const [waiting = 0, active = 0, delayed = 0, failed = 0, oldest = -1] = (reply as number[]).map(Number);
    return {
      queue,
      waiting,
      active,
      delayed,
      failed,
      oldestWaitingSeconds: oldest < 0 ? 0 : Math.max(0, (now - oldest) / 1000),
    };
  });
}
