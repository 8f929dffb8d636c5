import { createLogger } from '../logging/logger.js';
import type { JobCheckpoint, JobContext, ProgressUpdate } from '../connectors/types.js';

/** A JobContext for calling a connector directly (tests, the contract suite), recording what it reports. */
export interface RecordingContext extends JobContext {
  /** Every `ctx.progress(...)` call, in order. */
  progressSeen: ProgressUpdate[];
  /** Every `ctx.log(...)` line, in order. */
  logLines: string[];
  /** The checkpoint's values (what an earlier attempt saved, plus what this one set). */
  saved: Record<string, unknown>;
}

/** Options of {@link testContext}. */
export interface TestContextOptions {
  id?: string;
  /** What an "earlier attempt" left in the checkpoint. */
  checkpoint?: Record<string, unknown>;
  signal?: AbortSignal;
}

/** Builds a context with an optional checkpoint from an earlier attempt and an abort signal. */
export function testContext(data: unknown, options: TestContextOptions = {}): RecordingContext {
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
