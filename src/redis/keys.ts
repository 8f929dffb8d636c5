/**
 * Redis keys and channels emp-worker adds next to BullMQ's own, all under the queue
 * prefix so a Redis Cluster hash tag such as `{emp}` keeps them in one slot.
 */
export const keys = {
  /** Heartbeat record of one worker process (expires when it stops beating). */
  heartbeat: (prefix: string, workerId: string): string => `${prefix}:emp:worker:${workerId}`,
  /** Pattern matching every heartbeat record. */
  heartbeatPattern: (prefix: string): string => `${prefix}:emp:worker:*`,
  /** Pub/sub channel carrying cancel requests to every replica. */
  cancelChannel: (prefix: string): string => `${prefix}:emp:cancel`,
  /** Marks a job as cancelled, for a replica that picks it up after the request was published. */
  cancelMarker: (prefix: string, queue: string, jobId: string): string =>
    `${prefix}:emp:cancelled:${queue}:${jobId}`,
  /** The BullMQ job hash (we add one field to it, see {@link CHECKPOINT_FIELD}). */
  job: (queueQualifiedName: string, jobId: string): string => `${queueQualifiedName}:${jobId}`,
};

/** Field of the BullMQ job hash holding connector checkpoints; removed with the job. */
export const CHECKPOINT_FIELD = 'empCheckpoint';

/** A cancel request as published on {@link keys.cancelChannel}. */
export interface CancelRequest {
  queue: string;
  jobId: string;
  reason: string;
}
