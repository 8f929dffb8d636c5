import type { Logger } from 'winston';
import type { JobInputs, JobOutputs } from '../media/types.js';

export type { JobInputs, JobOutputs, OutputFileSource, StoredFile, FetchedInput } from '../media/types.js';

/**
 * One progress report from a connector. The worker adds `connector`, keeps `progress`
 * from going down within an attempt, and coalesces writes to Redis.
 */
export interface ProgressUpdate {
  /** Percent done, 0-100 (rounded down to an integer when written). */
  progress?: number;
  /** Short machine-friendly state, e.g. `running`, `queued`, `sampling`. */
  status?: string;
  /** A human sentence for dashboards. */
  message?: string;
  /** Seconds left, when the service says. */
  eta?: number;
  /** Current step (sampler step, simulation step). */
  step?: number;
  /** Total steps of the current unit of work. */
  total_steps?: number;
  /** ComfyUI node id being executed. */
  node?: string;
  /** ComfyUI class of that node. */
  class_type?: string;
}

/** The progress object written to `job.updateProgress` (docs/architecture.md, "Progress"). */
export interface JobProgress extends ProgressUpdate {
  progress: number;
  status: string;
  message: string;
  connector: string;
}

/**
 * Small per-job state that survives a worker crash, stored with the job in Redis.
 * Connectors keep the service-side id here (ComfyUI `prompt_id`, an async job id) so a
 * retried attempt can find the work already submitted instead of submitting it again.
 */
export interface JobCheckpoint {
  /** What an earlier attempt saved, or undefined. */
  get<T = unknown>(key: string): T | undefined;
  /** Saves a value now (awaited, so it is in Redis before the next step). */
  set(key: string, value: unknown): Promise<void>;
}

/** What a connector gets for each job: never the BullMQ job itself. */
export interface JobContext {
  /** BullMQ job id. */
  readonly id: string;
  /** The job's data as the producer sent it; the connector validates it. */
  readonly data: unknown;
  /** Aborted on cancel, timeout or shutdown; pass it to every request and wait. */
  readonly signal: AbortSignal;
  /** Reports progress; cheap to call often, never throws. */
  progress(update: ProgressUpdate): void;
  /** Adds a line to the job's log (Bull Board's Logs tab) and to the worker log. Use for milestones only. */
  log(line: string): Promise<void>;
  /** Worker log scoped to this job (connector, queue, job id). */
  readonly logger: Logger;
  /** State that survives a crash, for re-attaching to work already submitted. */
  readonly checkpoint: JobCheckpoint;
  /**
   * Where the job's output files go (the worker's store or the job's `upload_urls`);
   * connectors hand files here, never to a store. See docs/media.md.
   */
  readonly outputs: JobOutputs;
  /** Downloads input URLs through the SSRF guard, with the worker's size and time limits. */
  readonly inputs: JobInputs;
}

/** Result of a health check of the service behind a connector. */
export interface HealthResult {
  healthy: boolean;
  /** One line saying what was checked and what answered. */
  detail: string;
}

/** Serialisable facts a connector advertises (models, devices, features). */
export type Capabilities = Record<string, unknown>;

/**
 * A connector drives one external service. The worker calls `process` once per job,
 * `checkHealth` on an interval (a connector without one is always healthy),
 * `getCapabilities` at start-up (a connector without one advertises `{}`) and `close` at
 * shutdown. Its version is stated once, on its definition (src/connectors/definition.ts).
 */
export interface Connector {
  /** Registry name, e.g. `comfyui`. */
  readonly name: string;
  /** Runs a job and returns the service's output (becomes `output` in the job's return value). */
  process(ctx: JobContext): Promise<unknown>;
  /** Probes the service. */
  checkHealth?(signal: AbortSignal): Promise<HealthResult>;
  /** What this connector and its service can do; may ask the service. */
  getCapabilities?(signal: AbortSignal): Promise<Capabilities>;
  /** Releases sockets and timers. Must be safe to call twice. */
  close?(): Promise<void>;
}

/** Dependencies the runtime hands to a connector factory. */
export interface ConnectorDeps {
  logger: Logger;
}

/** The stable return value of every job (docs/architecture.md, "The path of one job"). */
export interface JobResult {
  status: 'success';
  connector: string;
  output: unknown;
}
