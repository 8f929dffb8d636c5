import type { Job } from 'bullmq';
import type { Logger } from 'winston';
import { JobAbortError, type AbortCause } from '../core/abort.js';
import type {
  Connector,
  JobCheckpoint,
  JobContext,
  JobInputs,
  JobOutputs,
  JobProgress,
  JobResult,
  ProgressUpdate,
} from '../connectors/types.js';
import { CHECKPOINT_FIELD, keys } from '../redis/keys.js';
import type { RedisClient } from '../redis/connection.js';
import { describeError } from '../logging/errors.js';
import type { Media } from '../media/media.js';
import { ProgressReporter, type ProgressSink } from './progress.js';
import type { Ticking } from './ticker.js';

/** The BullMQ job type our workers process. */
export type EmpJob = Job<unknown, JobResult>;

/**
 * A job this process is running: shown in the heartbeat, stopped by cancel and shutdown,
 * ticked for its timeout and progress.
 */
export interface ActiveJob extends Ticking {
  queue: string;
  id: string;
  connector: string;
  startedAt: number;
  /** Aborts the job's signal; the cause decides how the failure is classified. */
  abort(cause: AbortCause): void;
}

/** What a {@link JobRun} needs from its processor. */
export interface JobRunDeps {
  connector: Connector;
  queue: string;
  timeoutSeconds: number;
  progressMinIntervalMs: number;
  logger: Logger;
  /** A non-blocking connection for checkpoints and cancel markers. */
  redis: RedisClient;
  /** The worker's output store and input limits. */
  media: Media;
}

/**
 * One attempt of one job on this worker: its abort state, its deadline, its progress, and
 * the context its connector sees. One object does all of it because one is built for every
 * job, however short: it is the job's entry in `activeJobs`, it is ticked for its timeout
 * and progress (no timers of its own), and it is the connector's `ctx`. What most jobs
 * never use (the AbortController, the child logger, the progress reporter, checkpoint,
 * outputs, inputs) is made on first use.
 */
export class JobRun implements JobContext, ActiveJob, Ticking, ProgressSink {
  readonly queue: string;
  readonly connector: string;
  readonly startedAt = Date.now();
  private cause: AbortCause | undefined;
  private readonly deadline: number;
  private controller: AbortController | undefined;
  private jobLogger: Logger | undefined;
  private reporter: ProgressReporter | undefined;
  private startLogged = false;
  private connectorData: unknown;
  private uploadUrls: string[] | undefined;
  private savedCheckpoint: Record<string, unknown> | undefined;
  private checkpointStore: RedisCheckpoint | undefined;
  private jobOutputs: JobOutputs | undefined;
  private jobInputs: JobInputs | undefined;
  private boundProgress: ((update: ProgressUpdate) => void) | undefined;
  private boundLog: ((line: string) => Promise<void>) | undefined;

  constructor(
    readonly job: EmpJob,
    readonly id: string,
    private readonly deps: JobRunDeps,
  ) {
    this.queue = deps.queue;
    this.connector = deps.connector.name;
    this.deadline = this.startedAt + deps.timeoutSeconds * 1000;
    this.connectorData = job.data;
  }

  /** The job data without the worker's own fields (set by {@link prepare}). */
  get data(): unknown {
    return this.connectorData;
  }

  /** Hands the connector its data, and the values an earlier attempt checkpointed. */
  prepare(
    data: unknown,
    uploadUrls: string[] | undefined,
    checkpoint: Record<string, unknown> | undefined,
  ): void {
    this.connectorData = data;
    this.uploadUrls = uploadUrls;
    this.savedCheckpoint = checkpoint;
  }

  get signal(): AbortSignal {
    return (this.controller ??= new AbortController()).signal;
  }

  /** Throws the abort reason if the job was aborted. */
  throwIfAborted(): void {
    this.controller?.signal.throwIfAborted();
  }

  /** Why the job was aborted; undefined while it has not been. */
  get abortCause(): AbortCause | undefined {
    return this.cause;
  }

  abort(cause: AbortCause): void {
    if (this.cause) return;
    this.cause = cause;
    (this.controller ??= new AbortController()).abort(new JobAbortError(cause));
  }

  get logger(): Logger {
    return (this.jobLogger ??= this.deps.logger.child({ jobId: this.id, queue: this.queue }));
  }

  // Bound on first use: a connector may pass `ctx.progress` or `ctx.log` on as a callback.
  get progress(): (update: ProgressUpdate) => void {
    return (this.boundProgress ??= update => this.report(update));
  }

  get log(): (line: string) => Promise<void> {
    return (this.boundLog ??= async line => {
      this.logger.info(line);
      await this.job.log(line);
    });
  }

  get checkpoint(): JobCheckpoint {
    return (this.checkpointStore ??= new RedisCheckpoint(
      this.deps.redis,
      keys.job(this.job.queueQualifiedName, this.id),
      this.savedCheckpoint ?? {},
    ));
  }

  get outputs(): JobOutputs {
    return (this.jobOutputs ??= this.deps.media.outputsFor({
      queue: this.queue,
      jobId: this.id,
      uploadUrls: this.uploadUrls,
      signal: () => this.signal,
      progress: this.progress,
    }));
  }

  get inputs(): JobInputs {
    return (this.jobInputs ??= this.deps.media.inputsFor(() => this.signal));
  }

  /** Called by the runtime's ticker: the timeout, then a due progress write. */
  tick(now: number): void {
    if (now >= this.deadline) this.abort({ kind: 'timeout', seconds: this.deps.timeoutSeconds });
    this.reporter?.tick(now);
  }

  /** Stops progress; the pending write to await, or undefined when nothing was written. */
  finishProgress(succeeded: boolean): Promise<void> | undefined {
    return this.reporter?.finish(succeeded);
  }

  /** Whether any progress (and so the "started" log line) reached the job's record. */
  get showedProgress(): boolean {
    return this.startLogged;
  }

  /** @internal The reporter's sink: the first write also logs the start, for Bull Board's log tab. */
  async writeProgress(progress: JobProgress): Promise<void> {
    if (this.startLogged) return this.job.updateProgress(progress);
    this.startLogged = true;
    const { job } = this;
    await Promise.all([
      job.log(`started on ${job.processedBy ?? 'a worker'} (attempt ${job.attemptsMade + 1})`),
      job.updateProgress(progress),
    ]);
  }

  /** @internal */
  progressWriteFailed(error: unknown): void {
    this.logger.warn('progress write failed', { error: describeError(error) });
  }

  private report(update: ProgressUpdate): void {
    (this.reporter ??= new ProgressReporter(
      this.connector,
      this.deps.progressMinIntervalMs,
      this,
      this.startedAt,
    )).report(update);
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
