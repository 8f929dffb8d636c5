import { createLogger } from '../../src/logging/logger.js';
import type { JobCheckpoint, JobContext, ProgressUpdate } from '../../src/connectors/types.js';
import type { Media } from '../../src/media/media.js';
import { takeUploadUrls } from '../../src/media/upload-urls.js';
import { testMedia } from './media.js';

/** A JobContext for calling a connector directly, recording what it reports. */
export interface RecordingContext extends JobContext {
  progressSeen: ProgressUpdate[];
  logLines: string[];
  saved: Record<string, unknown>;
}

/** Builds a context with an optional checkpoint from an "earlier attempt" and an abort signal. */
export function testContext(
  data: unknown,
  options: {
    id?: string;
    checkpoint?: Record<string, unknown>;
    signal?: AbortSignal;
    /** Queue name used in object keys. */
    queue?: string;
    /** The worker's media (store, input limits); default: no store, loopback URLs allowed. */
    media?: Media;
  } = {},
): RecordingContext {
  const media = options.media ?? testMedia();
  // As the processor does: `upload_urls` is taken off the data before the connector sees it.
  const { data: connectorData, uploadUrls } = takeUploadUrls(data, media.guard);
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
