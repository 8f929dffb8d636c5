import type { JobProgress, ProgressUpdate } from '../connectors/types.js';
import type { Ticking } from './ticker.js';

/** Where a {@link ProgressReporter} writes: the job's record in production. */
export interface ProgressSink {
  /** Writes one progress object (BullMQ `job.updateProgress`). */
  writeProgress(progress: JobProgress): Promise<void>;
  /** A write failed; progress is best-effort, so this only reports it. */
  progressWriteFailed(error: unknown): void;
}

/**
 * Coalesces a connector's progress reports into few Redis writes (docs/architecture.md, "Progress"):
 * - nothing is written during the first interval, so a quick job writes no progress;
 * - then at most one write per interval, the latest value winning;
 * - `progress` never goes down within an attempt;
 * - `finish()` writes a final 100 only if something was written before.
 * It has no timer of its own: its owner calls {@link tick} (a {@link Ticker} shared by
 * every running job), and a due report is written then.
 */
export class ProgressReporter implements Ticking {
  /** Updated in place by reports (many); copied only when written (few). */
  private readonly latest: JobProgress;
  private dirty = false;
  private wroteAny = false;
  private lastWriteAt: number;
  private writing: Promise<void> | undefined;
  private closed = false;

  constructor(
    connector: string,
    private readonly minIntervalMs: number,
    private readonly sink: ProgressSink,
    /** When the job started: the first interval counts from here. */
    startedAt = Date.now(),
  ) {
    this.latest = { progress: 0, status: 'running', message: '', connector };
    this.lastWriteAt = startedAt;
  }

  /** Takes a report from the connector; cheap, synchronous, never throws. */
  report(update: ProgressUpdate): void {
    if (this.closed) return;
    const next = this.latest;
    if (update.status !== undefined) next.status = update.status;
    if (update.message !== undefined) next.message = update.message;
    if (update.eta !== undefined) next.eta = update.eta;
    if (update.step !== undefined) next.step = update.step;
    if (update.total_steps !== undefined) next.total_steps = update.total_steps;
    if (update.node !== undefined) next.node = update.node;
    if (update.class_type !== undefined) next.class_type = update.class_type;
    const percent =
      typeof update.progress === 'number' && Number.isFinite(update.progress)
        ? Math.min(100, Math.max(0, Math.floor(update.progress)))
        : next.progress;
    next.progress = Math.max(next.progress, percent);
    this.dirty = true;
  }

  /** Writes the latest report if there is one and an interval has passed since the last write. */
  tick(now: number): void {
    if (this.closed || !this.dirty || now - this.lastWriteAt < this.minIntervalMs) return;
    this.enqueueWrite(now);
  }

  /** The value a write would carry now. */
  current(): JobProgress {
    return { ...this.latest };
  }

  /**
   * Stops writing; on success, writes the final 100 if anything was shown. Returns the
   * pending write to await, or undefined when nothing was ever written (a quick job:
   * the processor then skips an await on every such job).
   */
  finish(succeeded: boolean): Promise<void> | undefined {
    this.closed = true;
    if (succeeded && this.wroteAny) {
      Object.assign(this.latest, { progress: 100, status: 'completed', message: 'completed' });
      this.enqueueWrite(Date.now());
    }
    return this.writing;
  }

  private enqueueWrite(now: number): void {
    const snapshot = { ...this.latest };
    this.dirty = false;
    this.wroteAny = true;
    this.lastWriteAt = now;
    // Chained so writes reach Redis in order even if one is slow.
    this.writing = (this.writing ?? Promise.resolve())
      .then(() => this.sink.writeProgress(snapshot))
      .catch((error: unknown) => this.sink.progressWriteFailed(error));
  }
}
