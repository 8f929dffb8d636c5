import client from 'prom-client';

/** Prometheus metrics of one worker process, on its own registry (served at /metrics). */
export class WorkerMetrics {
  readonly registry = new client.Registry();
  readonly jobsCompleted = new client.Counter({
    name: 'emp_jobs_completed_total',
    help: 'Jobs completed, by connector',
    labelNames: ['connector'] as const,
    registers: [this.registry],
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
  });
  readonly serviceHealthy = new client.Gauge({
    name: 'emp_service_healthy',
    help: "1 when the connector's service passed its last health check (its queue is consumed), else 0",
    labelNames: ['connector'] as const,
    registers: [this.registry],
  });

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

  /** Adds a gauge of waiting jobs per queue, read from Redis when scraped. */
  registerQueueWaiting(read: () => Promise<Array<{ queue: string; waiting: number }>>): void {
    new client.Gauge({
      name: 'emp_queue_waiting',
      help: 'Jobs waiting in each queue this worker consumes',
      labelNames: ['queue'] as const,
      registers: [this.registry],
      async collect() {
        for (const { queue, waiting } of await read()) this.set({ queue }, waiting);
      },
    });
  }

  constructor() {
    client.collectDefaultMetrics({ register: this.registry, prefix: 'emp_process_' });
  }
}
