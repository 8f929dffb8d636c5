import type { Queue } from 'bullmq';
import { publishReach, scanKeys, type RedisClient } from '../redis/connection.js';
import { keys, type CancelRequest } from '../redis/keys.js';

/**
 * The cross-language cancel protocol (documented as public API in docs/producers.md),
 * shared by `emp-worker cancel` and the board's `POST …/emp/jobs/<queue>/<id>/cancel`.
 */

/** How long a cancel marker waits for a replica that picks the job up later (e.g. after a crash). */
export const CANCEL_MARKER_TTL_S = 24 * 3600;

/** Queue names we accept: BullMQ forbids `:`; the rest keeps names printable and bounded. */
const QUEUE_NAME = /^[A-Za-z0-9_.{}@-]{1,200}$/;
/** Job ids we accept: BullMQ ids (auto numbers, custom ids, `repeat:…:…` ids), printable and bounded. */
const JOB_ID = /^[A-Za-z0-9_.:{}@-]{1,256}$/;

/** A cancel request the caller got wrong (bad queue name or job id): nothing was read or written. */
export class CancelInputError extends Error {
  override readonly name = 'CancelInputError';
}

/**
 * What a cancel request did:
 * - `removed`: the job was waiting (or delayed, prioritized…) and is gone;
 * - `cancelling`: it is running; its replica was told to stop it (it then fails with ERR_CANCELLED);
 * - `completed` / `failed`: it had already ended, nothing was changed;
 * - `not-found`: no such job in that queue.
 */
export type CancelState = 'removed' | 'cancelling' | 'completed' | 'failed' | 'not-found';

/** The outcome of {@link requestCancel}. */
export interface CancelOutcome {
  jobId: string;
  state: CancelState;
  /** The state the job was in when asked (`waiting`, `delayed`, `active`…), when it exists. */
  previousState?: string;
  /** Worker processes that heard the request (`cancelling` only); 0 means the marker waits for one. */
  listeners?: number;
}

/** What {@link requestCancel} needs. */
export interface CancelTarget {
  /** A non-blocking connection; the caller owns it. */
  redis: RedisClient;
  prefix: string;
  /**
   * The job's queue, made by the caller with `skipMetasUpdate: true` (asking about a queue
   * must not create it) after {@link checkCancelTarget}; the caller closes it. (The CLI
   * loads BullMQ's classes its own lighter way, so this module imports none.)
   */
  queue: Queue;
  jobId: string;
  /** Recorded as the job's failure reason. */
  reason: string;
}

/** Throws {@link CancelInputError} unless the queue name and job id are ones BullMQ could have made. */
export function checkCancelTarget(queue: string, jobId: string): void {
  if (!QUEUE_NAME.test(queue)) {
    throw new CancelInputError(
      'queue name must be 1-200 characters of letters, digits, "_", ".", "-", "@", "{", "}"',
    );
  }
  if (!JOB_ID.test(jobId)) {
    throw new CancelInputError(
      'job id must be 1-256 characters of letters, digits, "_", ".", ":", "-", "@", "{", "}"',
    );
  }
}

/**
 * Cancels one job: a job that has not started is removed; a running one gets a cancel
 * marker (`<prefix>:emp:cancelled:<queue>:<id>`, 24 h) and a message on
 * `<prefix>:emp:cancel`, which the replica running it turns into an abort. Reads only
 * until it knows the job exists, so a wrong queue or id never creates a key.
 */
export async function requestCancel(target: CancelTarget): Promise<CancelOutcome> {
  const { redis, prefix, queue, jobId, reason } = target;
  checkCancelTarget(queue.name, jobId);
  const job = await queue.getJob(jobId);
  if (!job) return { jobId, state: 'not-found' };
  const state = await job.getState();
  if (state === 'completed' || state === 'failed') return { jobId, state, previousState: state };
  if (state !== 'active') {
    try {
      await job.remove();
      return { jobId, state: 'removed', previousState: state };
    } catch {
      // It became active (locked) meanwhile: cancel it as a running job.
    }
  }
  // The marker first: a replica that starts the job after the request (a restart, or a
  // worker that missed the message) still finds it.
  await redis.set(keys.cancelMarker(prefix, queue.name, jobId), reason, 'EX', CANCEL_MARKER_TTL_S);
  const request = { queue: queue.name, jobId, reason };
  const listeners = await publishReach(
    redis,
    keys.cancelChannel(prefix),
    await publishCancel(redis, prefix, request),
  );
  return { jobId, state: 'cancelling', previousState: state, listeners };
}

/** Publishes a cancel request (again: pub/sub delivers at most once; a worker ignores a repeat). */
export function publishCancel(redis: RedisClient, prefix: string, request: CancelRequest): Promise<number> {
  return redis.publish(keys.cancelChannel(prefix), JSON.stringify(request));
}

/** Most cancel requests a worker process remembers (oldest forgotten first). */
const MAX_REMEMBERED = 100_000;

/**
 * Cancel requests this worker process has heard of (on the channel, or from markers
 * found at start-up), for jobs it is not running: a job it fetches later is checked
 * here, in memory, so cancelling a waiting job costs the other jobs no Redis call.
 */
export class CancelMemory {
  /** Keyed `<queue>:<id>`, the tail of the job's cancel marker key. */
  private readonly entries = new Map<string, { reason: string; at: number }>();

  constructor(private readonly ttlMs = CANCEL_MARKER_TTL_S * 1000) {}

  remember(queue: string, jobId: string, reason: string, at = Date.now()): void {
    this.rememberKey(`${queue}:${jobId}`, reason, at);
  }

  /**
   * The reason a job was cancelled with, once (undefined when it was not, or too long ago).
   * Asked for every job a worker starts: with nothing remembered (the usual case) it
   * answers without building the key.
   */
  take(queue: string, jobId: string): string | undefined {
    if (this.entries.size === 0) return undefined;
    const key = `${queue}:${jobId}`;
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    return Date.now() - entry.at <= this.ttlMs ? entry.reason : undefined;
  }

  private rememberKey(key: string, reason: string, at: number): void {
    this.entries.delete(key);
    this.entries.set(key, { reason, at });
    // Insertion order is age order: drop from the front while too old or too many.
    for (const [oldest, entry] of this.entries) {
      if (this.entries.size <= MAX_REMEMBERED && Date.now() - entry.at <= this.ttlMs) break;
      this.entries.delete(oldest);
    }
  }

  /** Loads the markers already in Redis (a worker started after the request was published). */
  async load(redis: RedisClient, prefix: string): Promise<number> {
    const head = keys.cancelMarker(prefix, '', '').slice(0, -1); // `<prefix>:emp:cancelled:`
    const found = await scanKeys(redis, `${escapeGlob(head)}*`, 1000);
    // One key at a time (few exist): on a Cluster the markers may live in different slots.
    const entries = await Promise.all(
      found.map(async key => ({ key, reason: await redis.get(key), ttl: await redis.pttl(key) })),
    );
    let loaded = 0;
    for (const { key, reason, ttl } of entries) {
      if (reason === null || ttl < 0) continue;
      // Aged so that it is forgotten when its marker expires.
      this.rememberKey(key.slice(head.length), reason, Date.now() - (this.ttlMs - ttl));
      loaded++;
    }
    return loaded;
  }
}

/** A literal string inside a Redis MATCH pattern (the prefix may hold `{…}` or `*`). */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, match => `\\${match}`);
}
