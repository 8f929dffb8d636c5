import client from 'prom-client';
import type { QueueDepth } from '../redis/queue-depth.js';

/** How long one read of the queue depths serves scrapes (several scrapers, or several gauges of one). */
const DEPTH_CACHE_MS = 1000;

/** Durations a {@link JobMeter} holds before handing them to prom-client in one loop. */
const DURATION_BATCH = 256;

/**
 * Counts one connector's finished jobs for /metrics with plain arithmetic on the job path.
 * prom-client's `inc`/`observe` validate and hash their labels on every call; here a job
 * only appends its duration and outcome, and these reach prom-client in batches and
 * whenever /metrics is scraped (so a scrape is always exact).
 */
export class JobMeter {
  private readonly durations = new Float64Array(DURATION_BATCH);
  private readonly succeeded = new Uint8Array(DURATION_BATCH);
  private held = 0;

  constructor(
    private readonly completedCounter: client.Counter.Internal,
    private readonly durationCompleted: client.Histogram.Internal<'connector' | 'outcome'>,
    private readonly durationFailed: client.Histogram.Internal<'connector' | 'outcome'>,
  ) {}

  /** A job attempt ended after `seconds`. */
  record(succeeded: boolean, seconds: number): void {
    this.durations[this.held] = seconds;
    this.succeeded[this.held] = succeeded ? 1 : 0;
    if (++this.held === DURATION_BATCH) this.flush();
  }

  /** Hands what is held to prom-client. */
  flush(): void {
    let completed = 0;
    for (let i = 0; i < this.held; i++) {
      const seconds = this.durations[i] ?? 0;
      if (this.succeeded[i] === 1) {
        completed++;
        this.durationCompleted.observe(seconds);
      } else {
        this.durationFailed.observe(seconds);
      }
    }
    if (completed > 0) this.completedCounter.inc(completed);
    this.held = 0;
  }
}

/** Prometheus metrics of one worker process, on its own registry (served at /metrics). */
export class WorkerMetrics {
  readonly registry = new client.Registry();
  private readonly meters: JobMeter[] = [];
  readonly jobsCompleted = new client.Counter({
    name: 'emp_jobs_completed_total',
    help: 'Jobs completed, by connector',
    labelNames: ['connector'] as const,
    registers: [this.registry],
    collect: () => this.flushMeters(),
  });
  readonly jobsFailed = new client.Counter({
    name: 'emp_jobs_failed_total',
    help: 'Job attempts that failed, by connector and error code',
    labelNames: ['connector', 'code'] as const,
    registers: [this.registry],
  });
  readonly jobsRetried = new client.Counter({
    name: 'emp_jobs_retried_total',
    help: 'Failed job attempts that BullMQ may retry, by connector',
    labelNames: ['connector'] as const,
    registers: [this.registry],
  });
  readonly jobDuration = new client.Histogram({
    name: 'emp_job_duration_seconds',
    help: 'Time a job attempt spent in the connector, by connector and outcome',
    labelNames: ['connector', 'outcome'] as const,
    buckets: [0.01, 0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
    registers: [this.registry],
    collect: () => this.flushMeters(),
  });
  readonly serviceHealthy = new client.Gauge({
    name: 'emp_service_healthy',
    help: "1 when the connector's service passed its last health check (its queue is consumed), else 0",
    labelNames: ['connector'] as const,
    registers: [this.registry],
  });

  /** The job path's meter of one connector (completions and durations). */
  jobMeter(connector: string): JobMeter {
    const meter = new JobMeter(
      this.jobsCompleted.labels(connector),
      this.jobDuration.labels(connector, 'completed'),
      this.jobDuration.labels(connector, 'failed'),
    );
    this.meters.push(meter);
    return meter;
  }

  private flushMeters(): void {
    for (const meter of this.meters) meter.flush();
  }

  /** Adds a gauge of running jobs per connector, counted when scraped (nothing to update per job). */
  registerActiveJobs(read: () => Iterable<{ connector: string }>, connectors: readonly string[]): void {
    new client.Gauge({
      name: 'emp_active_jobs',
      help: 'Jobs running in this process, by connector',
      labelNames: ['connector'] as const,
      registers: [this.registry],
      collect() {
        const counts = new Map<string, number>(connectors.map(name => [name, 0]));
        for (const job of read()) counts.set(job.connector, (counts.get(job.connector) ?? 0) + 1);
        for (const [connector, count] of counts) this.set({ connector }, count);
      },
    });
  }

  /**
   * Adds per-queue depth gauges (waiting, active, delayed, failed, oldest waiting job's age)
   * for autoscalers. A scrape reads Redis once for every gauge and queue, and that read
   * serves further scrapes for a second.
   */
  registerQueueDepth(read: () => Promise<QueueDepth[]>): void {
    let cached: { at: number; depths: Promise<QueueDepth[]> } | undefined;
    const depths = (): Promise<QueueDepth[]> => {
      const now = Date.now();
      if (!cached || now - cached.at >= DEPTH_CACHE_MS) {
        const pending = read();
        cached = { at: now, depths: pending };
        // A failed read is not cached: the next scrape asks Redis again.
        pending.catch(() => {
          if (cached?.depths === pending) cached = undefined;
        });
      }
      return cached.depths;
    };
    const gauge = (name: string, help: string, value: (depth: QueueDepth) => number): void => {
      new client.Gauge({
        name,
        help,
        labelNames: ['queue'] as const,
        registers: [this.registry],
        async collect() {
          for (const depth of await depths()) this.set({ queue: depth.queue }, value(depth));
        },
      });
    };
    gauge(
      'emp_queue_waiting',
      'Jobs ready to run in each queue this worker consumes (all replicas)',
      d => d.waiting,
    );
    gauge('emp_queue_active', 'Jobs running in each queue, on any replica', d => d.active);
    gauge(
      'emp_queue_delayed',
      'Jobs scheduled for later (delayed or backing off) in each queue',
      d => d.delayed,
    );
    gauge('emp_queue_failed', 'Failed jobs kept in each queue', d => d.failed);
    gauge(
      'emp_queue_oldest_waiting_seconds',
      'Seconds the next job to run in each queue has been ready (0 when none waits)',
      d => d.oldestWaitingSeconds,
    );
  }

  constructor() {
    client.collectDefaultMetrics({ register: this.registry, prefix: 'emp_process_' });
  }
}
