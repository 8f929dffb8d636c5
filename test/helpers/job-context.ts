import { createLogger } from '../../src/logging/logger.js';
import type { JobCheckpoint, JobContext, ProgressUpdate } from '../../src/connectors/types.js';

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
  } = {},
): RecordingContext {
  const saved: Record<string, unknown> = { ...options.checkpoint };
  const progressSeen: ProgressUpdate[] = [];
  const logLines: string[] = [];
  const checkpoint: JobCheckpoint = {
    get: <T>(key: string) => saved[key] as T | undefined,
    set: async (key, value) => {
      saved[key] = value;
    },
  };
  return {
    id: options.id ?? 'job-1',
    data,
    signal: options.signal ?? new AbortController().signal,
    progress: update => progressSeen.push(update),
    log: async line => {
      logLines.push(line);
    },
    logger: createLogger({ level: 'silent', format: 'json' }),
    checkpoint,
    progressSeen,
    logLines,
    saved,
  };
}
