import { DelayedError, WaitingError, Worker, type Processor } from 'bullmq';
import type { Logger } from 'winston';
import {
  InvalidInputError,
  ProtocolError,
  errorFacts,
  rateLimitWaitMs,
  saysServiceDown,
  type ConnectorError,
} from '../core/errors.js';
import type { JobResult } from '../connectors/types.js';
import { MAX_JSON_DEPTH, nestingExceeds } from '../json/depth.js';
import { classifyFailure, failureReason, toBullmqError } from './failure.js';
import { CHECKPOINT_FIELD, keys } from '../redis/keys.js';
import { takeWorkerFields } from '../jobs/worker-fields.js';
import type { WorkerMetrics } from './metrics.js';
import type { WebhookConfig } from '../config/schema.js';
import type { WebhookOutbox } from '../webhooks/delivery.js';
import { hasWebhookField, resolveJobWebhook, type JobWebhook } from '../webhooks/job-webhook.js';
import { traceJob, tracingActive } from '../telemetry/index.js';
import { describeError, errorLogFields } from '../logging/errors.js';
import { JobRun, type EmpJob, type JobRunDeps } from './job-run.js';
import type { ActiveJobs } from './active-jobs.js';

export type { ActiveJob, EmpJob } from './job-run.js';
export { ActiveJobs } from './active-jobs.js';

/** What the processor of one connector needs. */
export interface ProcessorDeps extends JobRunDeps {
  prefix: string;
  maxDataBytes: number;
  metrics: WorkerMetrics;
  /**
   * Jobs running now; the processor adds and removes its own, and the runtime ticks them for
   * timeouts and progress (src/worker/ticker.ts).
   */
  activeJobs: ActiveJobs;
  /** Whether the service passed its last health check. */
  isServiceHealthy: () => boolean;
  /** Checks the service's health now (pausing the queue on this worker when it fails); resolves with whether it is healthy. */
  recheckService: () => Promise<boolean>;
  /**
   * A cancel request heard for this job before it ran here: it was waiting, or being
   * fetched when the request came. The reason, taken once, from memory.
   */
  takeEarlyCancel?: (queue: string, jobId: string) => string | undefined;
  /** Completion webhooks; absent when WEBHOOK_SECRET is empty (then a job's `webhook` fails it). */
  webhooks?: { config: WebhookConfig; outbox: WebhookOutbox | undefined };
  /**
   * Pauses the whole queue for every replica (BullMQ `queue.rateLimit`). Given only when the
   * queue has a limiter (WORKER_<NAME>_RATE_LIMIT_*): BullMQ honours the pause only there, and
   * only then does the queue stand for one shared quota, so a 429 is the quota's, not the job's.
   */
  rateLimitQueue?: (ms: number) => Promise<void>;
}

/** Times a job may be pushed back for a service's `Retry-After` before a 429 counts as a failed attempt. */
const MAX_RATE_LIMIT_DELAYS = 5;

/**
 * Times a job may start without using an attempt (outage hand-backs, shutdowns, rate-limit
 * delays) before an outage counts as a failed attempt: a job whose every run takes the
 * service down (a proxy's 502 after the backend crashed on it) must still end.
 */
const MAX_OUTAGE_HANDBACKS = 5;

/**
 * The one bridge between BullMQ and a connector: builds the job context, enforces the
 * timeout, coalesces progress and turns failures into BullMQ behaviour.
 */
export function createProcessor(deps: ProcessorDeps): Processor<unknown, JobResult> {
  const { connector, metrics } = deps;
  const meter = metrics.jobMeter(connector.name);
  // Two parameters on purpose: BullMQ then skips its own per-job AbortController; the
  // runtime aborts ours (cancel, shutdown, lock loss) through `activeJobs`.
  return async (job: EmpJob, token?: string): Promise<JobResult> => {
    const jobId = job.id ?? '';
    if (!deps.isServiceHealthy() && token) {
      // Pausing cannot recall a fetch already in flight: hand such a job back unused.
      await job.moveToWait(token);
      throw new WaitingError();
    }
    const run = new JobRun(job, jobId, deps);
    // Also what the runtime's ticker walks for timeouts and progress (no timer per job).
    deps.activeJobs.add(run);
    // A cancel for a job not active yet (waiting, or being fetched when it was published) was
    // kept by the runtime, so it is read from memory here instead of a Redis call per job.
    const earlyCancel = deps.takeEarlyCancel?.(deps.queue, jobId);
    if (earlyCancel !== undefined) run.abort({ kind: 'cancel', reason: earlyCancel });

    let succeeded = false;
    let webhook: JobWebhook | undefined;
    try {
      // A first start cannot have a checkpoint or a pending cancel, so it costs Redis nothing extra.
      let checkpoint: Record<string, unknown> | undefined;
      if (job.attemptsStarted > 1) {
        const saved = await loadRestartState(deps, job, jobId);
        checkpoint = saved.checkpoint;
        if (saved.cancelled !== undefined) run.abort({ kind: 'cancel', reason: saved.cancelled });
        await job.log(`attempt ${job.attemptsMade + 1} started on ${job.processedBy ?? 'worker'}`);
      }
      checkJobData(job.data, deps.maxDataBytes);
      // Only jobs that name a webhook (or a worker with WEBHOOK_URL) pay for this; none costs Redis.
      if (hasWebhookField(job.data) || (deps.webhooks && deps.webhooks.config.url !== '')) {
        webhook = await resolveJobWebhook(job.data, deps.webhooks?.config ?? NO_WEBHOOKS);
      }
      run.throwIfAborted();
      // Checked before any work: a bad upload URL must not cost a GPU run.
      const { data, uploadUrls } = takeWorkerFields(job.data, deps.media.guard);
      run.prepare(data, uploadUrls, checkpoint);
      const output = await (tracingActive()
        ? traceJob(connector.name, deps.queue, jobId, () => connector.process(run))
        : connector.process(run));
      run.throwIfAborted();
      if (nestingExceeds(output)) {
        // BullMQ would overflow the stack serialising it, and retrying gets the same answer.
        throw new ProtocolError(
          `${connector.name} result is nested more than ${MAX_JSON_DEPTH} levels deep; it cannot be stored`,
        );
      }
      const result: JobResult = { status: 'success', connector: connector.name, output };
      // Added before BullMQ marks the job completed: a crash after this line loses no webhook.
      if (webhook) {
        await deps.webhooks?.outbox?.add(webhook, 'completed', jobEnd(job, jobId, { returnvalue: result }));
      }
      succeeded = true;
      const finalWrite = run.finishProgress(true);
      if (finalWrite) await finalWrite;
      if (run.showedProgress) {
        await job.log(
          `completed in ${((Date.now() - run.startedAt) / 1000).toFixed(1)} s; output: ${summarizeOutput(output)}`,
        );
      }
      return result;
    } catch (thrown) {
      const lastWrite = run.finishProgress(false);
      if (lastWrite) await lastWrite;
      const { abortCause } = run;
      const failure = classifyFailure(thrown, abortCause, connector.name);
      if (abortCause?.kind === 'shutdown' && token) {
        // Back to the queue at once, without using an attempt: another replica takes it.
        await job.log('worker shut down before the job finished; returned to the queue');
        await job.moveToWait(token);
        throw new WaitingError();
      }
      if (
        token &&
        abortCause === undefined &&
        saysServiceDown(failure) &&
        (await handBackOnOutage(deps, job, token, failure))
      ) {
        throw new WaitingError();
      }
      const retryAfterMs = rateLimitWaitMs(failure);
      if (retryAfterMs !== undefined && token) {
        if (job.attemptsStarted <= MAX_RATE_LIMIT_DELAYS) {
          await job.log(`service rate-limited the job; retrying in ${Math.ceil(retryAfterMs / 1000)} s`);
          if (deps.rateLimitQueue) {
            // Every replica backs off together; the job waits at the head of the queue.
            await deps.rateLimitQueue(retryAfterMs);
            throw Worker.RateLimitError();
          }
          await job.moveToDelayed(Date.now() + retryAfterMs, token);
          throw new DelayedError();
        }
      }
      const willRetry = await recordFailure(job, failure, run.logger, deps);
      if (webhook && !willRetry) {
        // Failed for good: added before BullMQ records the failure, like `completed`.
        await deps.webhooks?.outbox
          ?.add(webhook, 'failed', jobEnd(job, jobId, { failedReason: failureReason(failure) }))
          .catch((error: unknown) =>
            run.logger.error('could not queue the job.failed webhook', { error: describeError(error) }),
          );
      }
      throw toBullmqError(failure);
    } finally {
      deps.activeJobs.delete(run);
      meter.record(succeeded, (Date.now() - run.startedAt) / 1000);
    }
  };
}

/**
 * A call said the service is down: re-check its health at once (which pauses the queue on
 * this worker when it fails) and, if it is down, return the job to the queue without
 * using an attempt, so it runs when the service is back here or on another replica. A
 * healthy answer means the failure was this request's own: it is classified as usual.
 */
async function handBackOnOutage(
  deps: ProcessorDeps,
  job: EmpJob,
  token: string,
  failure: ConnectorError,
): Promise<boolean> {
  const healthy = await deps.recheckService().catch(() => true);
  const freeStarts = job.attemptsStarted - job.attemptsMade - 1;
  if (healthy || freeStarts >= MAX_OUTAGE_HANDBACKS) return false;
  deps.logger.warn('service down: job returned to the queue without using an attempt', {
    jobId: job.id,
    error: failure.message,
  });
  await job.log(
    `${deps.connector.name} service is down (${failure.message}); returned to the queue without using an attempt`,
  );
  await job.moveToWait(token);
  return true;
}

/** Webhook settings of a worker without WEBHOOK_SECRET: a job's own `webhook` then fails it. */
const NO_WEBHOOKS: WebhookConfig = {
  url: '',
  secret: '',
  retryHours: 24,
  retryDelay: 5,
  timeout: 10,
  concurrency: 1,
  allowPrivateUrls: false,
};

function jobEnd(
  job: EmpJob,
  jobId: string,
  outcome: { returnvalue: JobResult } | { failedReason: string },
): Parameters<WebhookOutbox['add']>[2] {
  return {
    queue: job.queueName,
    jobId,
    createdAt: job.timestamp,
    attemptsMade: job.attemptsMade + 1,
    ...outcome,
  };
}

/** Logs and counts a failure; true when BullMQ will retry the job. */
async function recordFailure(
  job: EmpJob,
  failure: ConnectorError,
  logger: Logger,
  deps: ProcessorDeps,
): Promise<boolean> {
  const attempts = job.opts.attempts ?? 1;
  const willRetry = failure.retryable && job.attemptsMade + 1 < attempts;
  deps.metrics.jobsFailed.inc({ connector: deps.connector.name, code: failure.code });
  if (willRetry) deps.metrics.jobsRetried.inc({ connector: deps.connector.name });
  const verdict = willRetry
    ? `will retry (attempt ${job.attemptsMade + 1} of ${attempts})`
    : failure.retryable
      ? `no attempts left (${attempts})`
      : 'not retryable';
  // The cause chain (messages and codes) and the error's facts go on the line; the stack only at debug.
  logger.warn(`job failed: ${failureReason(failure)}; ${verdict}`, {
    code: failure.code,
    ...errorFacts(failure),
    ...errorLogFields(failure, { stack: logger.isDebugEnabled() }),
  });
  try {
    await job.log(`failed: ${failureReason(failure)}; ${verdict}`);
  } catch (error) {
    logger.warn('could not write the failure to the job log', { error: describeError(error) });
  }
  return willRetry;
}

async function loadRestartState(
  deps: ProcessorDeps,
  job: EmpJob,
  jobId: string,
): Promise<{ checkpoint: Record<string, unknown>; cancelled: string | undefined }> {
  const [saved, cancelled] = await Promise.all([
    deps.redis.hget(keys.job(job.queueQualifiedName, jobId), CHECKPOINT_FIELD),
    deps.redis.get(keys.cancelMarker(deps.prefix, deps.queue, jobId)),
  ]);
  let checkpoint: Record<string, unknown> = {};
  if (saved) {
    try {
      const parsed: unknown = JSON.parse(saved);
      if (typeof parsed === 'object' && parsed !== null) checkpoint = parsed as Record<string, unknown>;
    } catch {
      deps.logger.warn('ignoring an unreadable checkpoint', { jobId });
    }
  }
  return { checkpoint, cancelled: cancelled ?? undefined };
}

/**
 * The shape of a job's output for its log: types, sizes and key names, never values (an
 * output may be megabytes of base64, or carry something the log should not repeat).
 */
export function summarizeOutput(value: unknown): string {
  const shape = (item: unknown): string => {
    if (item === null) return 'null';
    if (Array.isArray(item)) return `array(${item.length})`;
    if (typeof item === 'string') return `string(${item.length} chars)`;
    if (typeof item === 'object') return `object(${Object.keys(item).length} keys)`;
    return typeof item;
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return shape(value);
  const entries = Object.entries(value);
  const shown = entries
    .slice(0, 10)
    .map(([key, item]) => `${JSON.stringify(key.slice(0, 40))}: ${shape(item)}`);
  return `{ ${shown.join(', ')}${entries.length > 10 ? `, … ${entries.length - 10} more` : ''} }`;
}

/**
 * The first look at job data, before anything walks it: the nesting depth (iteratively;
 * `JSON.stringify` of deep data overflows the stack), then the size.
 */
function checkJobData(data: unknown, maxBytes: number): void {
  if (nestingExceeds(data)) {
    throw new InvalidInputError(
      `job data is too deeply nested (more than ${MAX_JSON_DEPTH} levels of arrays or objects)`,
    );
  }
  const text = JSON.stringify(data ?? null);
  // A UTF-16 unit is at most 3 bytes of UTF-8: short text needs no byte count.
  if (text.length * 3 <= maxBytes) return;
  const size = Buffer.byteLength(text);
  if (size > maxBytes) {
    throw new InvalidInputError(
      `job data is ${size} bytes, more than the ${maxBytes} allowed (WORKER_MAX_JOB_DATA_BYTES)`,
    );
  }
}
