import type { JobProgress, ProgressUpdate } from '../connectors/types.js';

/** Writes one progress object; the BullMQ `job.updateProgress` in production. */
export type ProgressWriter = (progress: JobProgress) => Promise<void>;

/**
 * Coalesces a connector's progress reports into few Redis writes (docs/architecture.md, "Progress"):
 * - nothing is written during the first interval, so a quick job writes no progress;
 * - then at most one write per interval, the latest value winning;
 * - `progress` never goes down within an attempt;
 * - `finish()` writes a final 100 only if something was written before.
 */
export class ProgressReporter {
  /** Updated in place by reports (many); copied only when written (few). */
  private readonly latest: JobProgress;
  private dirty = false;
  private wroteAny = false;
  private lastWriteAt: number;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private closed = false;

  constructor(
    connector: string,
    private readonly minIntervalMs: number,
    private readonly write: ProgressWriter,
    private readonly onWriteError: (error: unknown) => void,
    startPercent = 0,
  ) {
    this.latest = { progress: startPercent, status: 'running', message: '', connector };
    this.lastWriteAt = Date.now();
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
    this.schedule();
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
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (succeeded && this.wroteAny) {
      Object.assign(this.latest, { progress: 100, status: 'completed', message: 'completed' });
      this.enqueueWrite();
    }
    return this.writing;
  }

  private schedule(): void {
    if (this.timer) return;
    const wait = Math.max(0, this.lastWriteAt + this.minIntervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.closed || !this.dirty) return;
      this.enqueueWrite();
    }, wait);
    this.timer.unref();
  }

  private enqueueWrite(): void {
    const snapshot = { ...this.latest };
    this.dirty = false;
    this.wroteAny = true;
    this.lastWriteAt = Date.now();
    // Chained so writes reach Redis in order even if one is slow.
    this.writing = (this.writing ?? Promise.resolve())
      .then(() => this.write(snapshot))
      .catch(this.onWriteError);
  }
}
