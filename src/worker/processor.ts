import { DelayedError, WaitingError, Worker, type Job, type Processor } from 'bullmq';
import type { Logger } from 'winston';
import { JobAbortError, type AbortCause } from '../core/abort.js';
import {
  InvalidInputError,
  ProtocolError,
  errorFacts,
  rateLimitWaitMs,
  saysServiceDown,
  type ConnectorError,
} from '../core/errors.js';
import type {
  Connector,
  JobCheckpoint,
  JobContext,
  JobInputs,
  JobOutputs,
  JobResult,
  ProgressUpdate,
} from '../connectors/types.js';
import { MAX_JSON_DEPTH, nestingExceeds } from '../json/depth.js';
import { classifyFailure, failureReason, toBullmqError } from './failure.js';
import { CHECKPOINT_FIELD, keys } from '../redis/keys.js';
import type { Media } from '../media/media.js';
import { takeUploadUrls } from '../media/upload-urls.js';
import type { WorkerMetrics } from './metrics.js';
import { ProgressReporter } from './progress.js';
import type { WebhookConfig } from '../config/schema.js';
import type { WebhookOutbox } from '../webhooks/delivery.js';
import {
  hasWebhookField,
  resolveJobWebhook,
  withoutWebhook,
  type JobWebhook,
} from '../webhooks/job-webhook.js';
import type { RedisClient } from '../redis/connection.js';
import { traceJob } from '../telemetry/index.js';
import { describeError, errorLogFields } from '../logging/errors.js';

/** The BullMQ job type our workers process. */
export type EmpJob = Job<unknown, JobResult>;

/** A job this process is running: shown in the heartbeat, stopped by cancel and shutdown. */
export interface ActiveJob {
  queue: string;
  id: string;
  connector: string;
  startedAt: number;
  /** Aborts the job's signal; the cause decides how the failure is classified. */
  abort(cause: AbortCause): void;
}

/** The key of a job in {@link ProcessorDeps.activeJobs}. */
export function activeJobKey(queue: string, jobId: string): string {
  return `${queue}:${jobId}`;
}

/** What the processor of one connector needs. */
export interface ProcessorDeps {
  connector: Connector;
  queue: string;
  prefix: string;
  timeoutSeconds: number;
  progressMinIntervalMs: number;
  maxDataBytes: number;
  logger: Logger;
  metrics: WorkerMetrics;
  /** A non-blocking connection for checkpoints and cancel markers. */
  redis: RedisClient;
  /** Jobs running now, keyed `<queue>:<id>`; the processor adds and removes its own. */
  activeJobs: Map<string, ActiveJob>;
  /** Whether the service passed its last health check. */
  isServiceHealthy: () => boolean;
  /** The worker's output store and input limits. */
  media: Media;
  /** Checks the service's health now (pausing the queue on this worker when it fails); resolves with whether it is healthy. */
  recheckService: () => Promise<boolean>;
  /**
   * A cancel request heard for this job (by its {@link activeJobKey}) before it ran here:
   * it was waiting, or being fetched when the request came. The reason, taken once, from memory.
   */
  takeEarlyCancel?: (activeKey: string) => string | undefined;
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
  // Label children bound once: the per-job path then skips prom-client's label hashing.
  const meters = {
    completed: metrics.jobsCompleted.labels(connector.name),
    durationCompleted: metrics.jobDuration.labels(connector.name, 'completed'),
    durationFailed: metrics.jobDuration.labels(connector.name, 'failed'),
  };
  // Two parameters on purpose: BullMQ then skips its own per-job AbortController; the
  // runtime aborts ours (cancel, shutdown, lock loss) through `activeJobs`.
  return async (job: EmpJob, token?: string): Promise<JobResult> => {
    const jobId = job.id ?? '';
    if (!deps.isServiceHealthy() && token) {
      // Pausing cannot recall a fetch already in flight: hand such a job back unused.
      await job.moveToWait(token);
      throw new WaitingError();
    }
    const activeKey = activeJobKey(deps.queue, jobId);
    // Most jobs never log: build the child logger only when something is written.
    let jobLogger: Logger | undefined;
    const logger = (): Logger => (jobLogger ??= deps.logger.child({ jobId, queue: deps.queue }));
    const startedAt = Date.now();
    // Created on first use: a job that never looks at its signal and is never aborted
    // costs no AbortController (they are among the most expensive objects per job).
    let controller: AbortController | undefined;
    const signal = (): AbortSignal => (controller ??= new AbortController()).signal;
    let abortCause: AbortCause | undefined;
    const abort = (cause: AbortCause): void => {
      if (abortCause) return;
      abortCause = cause;
      (controller ??= new AbortController()).abort(new JobAbortError(cause));
    };
    deps.activeJobs.set(activeKey, {
      queue: deps.queue,
      id: jobId,
      connector: connector.name,
      startedAt,
      abort,
    });
    // A cancel for a job not active yet (waiting, or being fetched when it was published) was
    // kept by the runtime, so it is read from memory here instead of a Redis call per job.
    const earlyCancel = deps.takeEarlyCancel?.(activeKey);
    if (earlyCancel !== undefined) abort({ kind: 'cancel', reason: earlyCancel });
    const timeoutTimer = setTimeout(
      () => abort({ kind: 'timeout', seconds: deps.timeoutSeconds }),
      deps.timeoutSeconds * 1000,
    );

    // Milestone lines for Bull Board's log tab, only for jobs long enough to show progress:
    // they ride along with the first progress write, so a quick job costs Redis nothing extra.
    let startLogged = false;
    const reporter = new ProgressReporter(
      connector.name,
      deps.progressMinIntervalMs,
      async progress => {
        if (startLogged) return job.updateProgress(progress);
        startLogged = true;
        await Promise.all([
          job.log(`started on ${job.processedBy ?? 'a worker'} (attempt ${job.attemptsMade + 1})`),
          job.updateProgress(progress),
        ]);
      },
      error => logger().warn('progress write failed', { error: describeError(error) }),
    );
    let succeeded = false;
    let webhook: JobWebhook | undefined;
    try {
      const restarted = job.attemptsStarted > 1;
      // A first start cannot have a checkpoint or a pending cancel, so it costs Redis nothing extra.
      let checkpoint: Record<string, unknown> | undefined;
      if (restarted) {
        const saved = await loadRestartState(deps, job, jobId);
        checkpoint = saved.checkpoint;
        if (saved.cancelled !== undefined) abort({ kind: 'cancel', reason: saved.cancelled });
        await job.log(`attempt ${job.attemptsMade + 1} started on ${job.processedBy ?? 'worker'}`);
      }
      checkJobData(job.data, deps.maxDataBytes);
      // Only jobs that name a webhook (or a worker with WEBHOOK_URL) pay for this; none costs Redis.
      if (hasWebhookField(job.data) || (deps.webhooks && deps.webhooks.config.url !== '')) {
        webhook = await resolveJobWebhook(job.data, deps.webhooks?.config ?? NO_WEBHOOKS);
      }
      controller?.signal.throwIfAborted();
      // Checked before any work: a bad upload URL must not cost a GPU run.
      const { data: withoutUploads, uploadUrls } = takeUploadUrls(job.data, deps.media.guard);
      // The connector sees neither field: they are the worker's, not the service's.
      const data = hasWebhookField(withoutUploads) ? withoutWebhook(withoutUploads) : withoutUploads;

      const ctx = new ProcessorJobContext(
        job,
        jobId,
        data,
        deps,
        reporter,
        signal,
        logger,
        checkpoint,
        uploadUrls,
      );
      const output = await traceJob(connector.name, deps.queue, jobId, () => connector.process(ctx));
      controller?.signal.throwIfAborted();
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
      const finalWrite = reporter.finish(true);
      if (finalWrite) await finalWrite;
      if (startLogged) {
        await job.log(
          `completed in ${((Date.now() - startedAt) / 1000).toFixed(1)} s; output: ${summarizeOutput(output)}`,
        );
      }
      meters.completed.inc();
      return result;
    } catch (thrown) {
      const lastWrite = reporter.finish(false);
      if (lastWrite) await lastWrite;
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
      const willRetry = await recordFailure(job, failure, logger(), deps);
      if (webhook && !willRetry) {
        // Failed for good: added before BullMQ records the failure, like `completed`.
        await deps.webhooks?.outbox
          ?.add(webhook, 'failed', jobEnd(job, jobId, { failedReason: failureReason(failure) }))
          .catch((error: unknown) =>
            logger().error('could not queue the job.failed webhook', { error: describeError(error) }),
          );
      }
      throw toBullmqError(failure);
    } finally {
      clearTimeout(timeoutTimer);
      deps.activeJobs.delete(activeKey);
      (succeeded ? meters.durationCompleted : meters.durationFailed).observe((Date.now() - startedAt) / 1000);
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
  const size = Buffer.byteLength(JSON.stringify(data ?? null));
  if (size > maxBytes) {
    throw new InvalidInputError(
      `job data is ${size} bytes, more than the ${maxBytes} allowed (WORKER_MAX_JOB_DATA_BYTES)`,
    );
  }
}

/**
 * The context one job's connector sees. A class rather than an object literal of closures:
 * this is built for every job, and most jobs never touch the checkpoint, the media or the
 * logger, so those are made on first use (fewer allocations per job, less GC).
 */
class ProcessorJobContext implements JobContext {
  private checkpointStore: RedisCheckpoint | undefined;
  private jobOutputs: JobOutputs | undefined;
  private jobInputs: JobInputs | undefined;

  constructor(
    private readonly job: EmpJob,
    readonly id: string,
    readonly data: unknown,
    private readonly deps: ProcessorDeps,
    private readonly reporter: ProgressReporter,
    private readonly jobSignal: () => AbortSignal,
    private readonly jobLogger: () => Logger,
    /** Values saved by an earlier attempt; undefined on a first start (none can exist). */
    private readonly savedCheckpoint: Record<string, unknown> | undefined,
    private readonly uploadUrls: string[] | undefined,
  ) {}

  get signal(): AbortSignal {
    return this.jobSignal();
  }

  get logger(): Logger {
    return this.jobLogger();
  }

  // Bound (arrow fields): a connector may pass `ctx.progress` on as a callback.
  readonly progress = (update: ProgressUpdate): void => this.reporter.report(update);

  readonly log = async (line: string): Promise<void> => {
    this.jobLogger().info(line);
    await this.job.log(line);
  };

  get checkpoint(): JobCheckpoint {
    return (this.checkpointStore ??= new RedisCheckpoint(
      this.deps.redis,
      keys.job(this.job.queueQualifiedName, this.id),
      this.savedCheckpoint ?? {},
    ));
  }

  get outputs(): JobOutputs {
    return (this.jobOutputs ??= this.deps.media.outputsFor({
      queue: this.deps.queue,
      jobId: this.id,
      uploadUrls: this.uploadUrls,
      signal: this.jobSignal,
      progress: this.progress,
    }));
  }

  get inputs(): JobInputs {
    return (this.jobInputs ??= this.deps.media.inputsFor(this.jobSignal));
  }
}

/** Checkpoint values kept in one field of the BullMQ job hash. */
class RedisCheckpoint implements JobCheckpoint {
  constructor(
    private readonly redis: RedisClient,
    private readonly jobKey: string,
    private readonly values: Record<string, unknown>,
  ) {}

  get<T = unknown>(key: string): T | undefined {
    return this.values[key] as T | undefined;
  }

  async set(key: string, value: unknown): Promise<void> {
    this.values[key] = value;
    await this.redis.hset(this.jobKey, CHECKPOINT_FIELD, JSON.stringify(this.values));
  }
}
