import type { ActiveJob } from './job-run.js';

/**
 * The jobs this process is running: reached by cancel and lost locks (by queue and id), by
 * shutdown, the heartbeat and the ticker (all of them). An array rather than a Map keyed
 * `<queue>:<id>`: every job is added and removed once, and that should cost neither a key
 * string nor a hash-table rehash; the lookups by id are rare, and scan a list no longer
 * than the worker's concurrency.
 */
export class ActiveJobs {
  private readonly jobs: ActiveJob[] = [];

  get size(): number {
    return this.jobs.length;
  }

  add(job: ActiveJob): void {
    this.jobs.push(job);
  }

  delete(job: ActiveJob): void {
    const index = this.jobs.lastIndexOf(job);
    if (index === -1) return;
    const last = this.jobs.pop();
    if (last !== undefined && index < this.jobs.length) this.jobs[index] = last;
  }

  /** The running job with this id on this queue, if any. */
  get(queue: string, jobId: string): ActiveJob | undefined {
    return this.jobs.find(job => job.id === jobId && job.queue === queue);
  }

  values(): IterableIterator<ActiveJob> {
    return this.jobs.values();
  }
}
