import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { keys, type CancelRequest } from '../worker/keys.js';

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
  redis: Redis;
  prefix: string;
  queue: string;
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
  const { redis, prefix, queue: queueName, jobId, reason } = target;
  checkCancelTarget(queueName, jobId);
  // skipMetasUpdate: asking about a queue must not write its meta (or create it).
  const queue = new Queue(queueName, { connection: redis, prefix, skipMetasUpdate: true });
  try {
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
    await redis.set(keys.cancelMarker(prefix, queueName, jobId), reason, 'EX', CANCEL_MARKER_TTL_S);
    const request: CancelRequest = { queue: queueName, jobId, reason };
    const listeners = await redis.publish(keys.cancelChannel(prefix), JSON.stringify(request));
    return { jobId, state: 'cancelling', previousState: state, listeners };
  } finally {
    await queue.close();
  }
}
