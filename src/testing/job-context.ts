import { createLogger } from '../logging/logger.js';
import type { JobCheckpoint, JobContext, ProgressUpdate } from '../connectors/types.js';
import type { Media } from '../media/media.js';
import { takeWorkerFields } from '../jobs/worker-fields.js';

/** A JobContext for calling a connector directly (tests, the contract suite), recording what it reports. */
export interface RecordingContext extends JobContext {
  progressSeen: ProgressUpdate[];
  logLines: string[];
  saved: Record<string, unknown>;
}

/** Options of {@link recordingContext}. */
export interface RecordingContextOptions {
  id?: string;
  /** What an "earlier attempt" left in the checkpoint. */
  checkpoint?: Record<string, unknown>;
  signal?: AbortSignal;
  /** Queue name used in object keys. */
  queue?: string;
  /** The worker's media (store, input limits) behind `ctx.outputs` and `ctx.inputs`. */
  media: Media;
}

/** Builds a context with an optional checkpoint from an "earlier attempt" and an abort signal. */
export function recordingContext(data: unknown, options: RecordingContextOptions): RecordingContext {
  const media = options.media;
  // As the processor does: the worker's fields (`upload_urls`, `webhook`) are taken off the data.
  const { data: connectorData, uploadUrls } = takeWorkerFields(data, media.guard);
  const saved: Record<string, unknown> = { ...options.checkpoint };
  const progressSeen: ProgressUpdate[] = [];
  const logLines: string[] = [];
  const checkpoint: JobCheckpoint = {
    get: <T>(key: string) => saved[key] as T | undefined,
    set: async (key, value) => {
      saved[key] = value;
    },
  };
  const id = options.id ?? 'job-1';
  const queue = options.queue ?? 'test';
  const signal = options.signal ?? new AbortController().signal;
  return {
    id,
    data: connectorData,
    signal,
    progress: update => progressSeen.push(update),
    log: async line => {
      logLines.push(line);
    },
    logger: createLogger({ level: 'silent', format: 'json' }),
    checkpoint,
    outputs: media.outputsFor({
      queue,
      jobId: id,
      uploadUrls,
      signal: () => signal,
      progress: update => progressSeen.push(update),
    }),
    inputs: media.inputsFor(() => signal),
    progressSeen,
    logLines,
    saved,
  };
}
