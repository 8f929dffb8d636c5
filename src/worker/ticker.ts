/** Something a {@link Ticker} calls on every tick. */
export interface Ticking {
  tick(now: number): void;
}

/**
 * One interval timer for many deadlines: the running jobs' timeouts and progress flushes.
 * A timer per job (two, with progress) costs a timer-list insert, a removal and garbage on
 * every job, however short; a tick costs one loop over the jobs running at that moment,
 * which it reads from their owner (the runtime's map of active jobs), so starting and
 * ending a job costs the ticker nothing. Deadlines are met within one interval, not to
 * the millisecond. The timer never keeps the process alive.
 */
export class Ticker {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly intervalMs: number,
    private readonly members: () => Iterable<Ticking>,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const now = Date.now();
    for (const member of this.members()) member.tick(now);
  }
}

/** How often running jobs are checked for their timeout and due progress: a quarter of the progress interval, within 10-250 ms. */
export function tickIntervalMs(progressMinIntervalMs: number): number {
  return Math.min(250, Math.max(10, Math.floor(progressMinIntervalMs / 4)));
}
