import os from 'node:os';
import type http from 'node:http';
import { MetricsTime, Queue, Worker } from 'bullmq';
import type { Logger } from 'winston';
import type { AppConfig } from '../config/index.js';
import { rateLimiter, type CommonConnectorConfig } from '../config/connector-schema.js';
import { connectorRegistry } from '../connectors/registry.js';
import type { RegisteredConnector } from '../connectors/definition.js';
import type { Capabilities, Connector, JobResult } from '../connectors/types.js';
import { Media } from '../media/media.js';
import { HealthGate } from './health-gate.js';
import { startHttpServer, type Readiness } from './http-server.js';
import { keys, type CancelRequest } from '../redis/keys.js';
import { WorkerMetrics } from './metrics.js';
import { ActiveJobs, createProcessor } from './processor.js';
import { Ticker, tickIntervalMs } from './ticker.js';
import { checkRedis, createWorkerRedis, type RedisClient } from '../redis/connection.js';
import { readQueueDepths } from '../redis/queue-depth.js';
import { bullmqTelemetry } from '../telemetry/index.js';
import { CancelMemory } from '../jobs/cancel.js';
import { WebhookOutbox, checkWorkerWebhookUrl, createDeliveryWorker } from '../webhooks/delivery.js';
import { describeError } from '../logging/errors.js';

/** One enabled connector and the BullMQ worker consuming its queue. */
interface ConnectorRuntime {
  connector: Connector;
  /** The definition's version (the one place a connector states it). */
  version: string;
  config: CommonConnectorConfig;
  worker: Worker<unknown, JobResult>;
  gate: HealthGate;
  capabilities: Capabilities;
  /** For reading counts; skipMetasUpdate because reading must not write the queue's meta. */
  readOnlyQueue: Queue;
}

/** The heartbeat record `emp-worker status` reads (docs/architecture.md, "Heartbeats"). */
export interface HeartbeatRecord {
  id: string;
  host: string;
  pid: number;
  started_at: string;
  updated_at: string;
  stopping: boolean;
  connectors: Array<{
    name: string;
    version: string;
    queue: string;
    concurrency: number;
    /** Queue-wide cap this worker set (WORKER_<NAME>_GLOBAL_CONCURRENCY), null when none. */
    global_concurrency: number | null;
    /** Queue-wide limiter this worker applies (WORKER_<NAME>_RATE_LIMIT_*), null when none. */
    rate_limit: { max: number; duration_ms: number } | null;
    healthy: boolean;
    health_detail: string;
    capabilities: Capabilities;
  }>;
  active_jobs: Array<{ queue: string; id: string; connector: string; started_at: string }>;
}

/**
 * A worker process: one BullMQ Worker per enabled connector, health gating, heartbeat,
 * cross-replica cancel, health/metrics HTTP and bounded graceful shutdown.
 */
export class WorkerRuntime {
  readonly metrics = new WorkerMetrics();
  private readonly runtimes = new Map<string, ConnectorRuntime>();
  private readonly activeJobs = new ActiveJobs();
  /** Every running job's timeout and progress flushes, on one timer. */
  private readonly ticker: Ticker;
  /** Cancel requests for jobs not running here: a job fetched later is stopped before any work. */
  private readonly cancels = new CancelMemory();
  private redis: RedisClient | undefined;
  private subscriber: RedisClient | undefined;
  private outbox: WebhookOutbox | undefined;
  private deliveryWorker: Worker | undefined;
  private httpServer: http.Server | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private readonly startedAt = new Date();
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private media: Media | undefined;

  constructor(
    private readonly config: AppConfig,
    private readonly logger: Logger,
    private readonly registry: Readonly<Record<string, RegisteredConnector>> = connectorRegistry,
  ) {
    this.ticker = new Ticker(tickIntervalMs(config.progressMinIntervalMs), () => this.activeJobs.values());
  }

  /** Checks Redis, starts every connector's worker and the side services. */
  async start(): Promise<void> {
    const redisCheck = await checkRedis(this.config.redis);
    for (const warning of redisCheck.warnings) this.logger.warn(warning);
    this.redis = createWorkerRedis(this.config.redis);
    this.redis.on('error', (error: Error) =>
      this.logger.warn('redis connection error', { error: error.message }),
    );
    this.startWebhooks(this.redis);
    this.ticker.start();

    this.media = await Media.create(this.config.media);
    this.logger.info(`output store: ${this.media.describe()}`);
    for (const name of this.config.enabledConnectors) this.createConnectorRuntime(name, this.media);
    await this.subscribeToCancels();
    this.metrics.registerQueueDepth(() =>
      readQueueDepths(
        this.requireRedis(),
        this.config.queuePrefix,
        [...this.runtimes.values()].map(runtime => runtime.config.jobType),
      ),
    );
    this.metrics.registerActiveJobs(() => this.activeJobs.values(), [...this.runtimes.keys()]);
    if (this.config.http.port !== null) {
      this.httpServer = await startHttpServer(
        this.config.http.port,
        this.config.http.host,
        this.metrics,
        () => this.readiness(),
        this.logger,
      );
    }
    await Promise.all([...this.runtimes.values()].map(runtime => this.startConnector(runtime)));
    await this.beat();
    this.heartbeatTimer = setInterval(() => {
      this.beat().catch((error: unknown) =>
        this.logger.warn('heartbeat failed', { error: describeError(error) }),
      );
    }, this.config.heartbeatInterval * 1000);
    this.heartbeatTimer.unref();
    this.logger.info(`worker ${this.config.workerId} ready`, {
      redis: `Redis ${redisCheck.version}`,
      queues: [...this.runtimes.values()].map(r => r.config.jobType),
    });
  }

  /** Port the HTTP server listens on, when it runs. */
  httpPort(): number | undefined {
    const address = this.httpServer?.address();
    return typeof address === 'object' && address !== null ? address.port : undefined;
  }

  /**
   * Graceful stop: no new jobs; running jobs get `shutdownTimeout` seconds to finish,
   * then are aborted and handed back to the queue for another replica. Idempotent.
   */
  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  /** With WEBHOOK_SECRET set: the outbox processors add deliveries to, and this process's sender. */
  private startWebhooks(redis: RedisClient): void {
    const webhooks = this.config.webhooks;
    if (webhooks.secret === '') return;
    checkWorkerWebhookUrl(webhooks);
    this.outbox = new WebhookOutbox(redis, this.config.queuePrefix);
    this.deliveryWorker = createDeliveryWorker({
      redis,
      prefix: this.config.queuePrefix,
      config: webhooks,
      lockDuration: this.config.jobs.lockDuration,
      stalledInterval: this.config.jobs.stalledInterval,
      logger: this.logger.child({ component: 'webhooks' }),
    });
    void this.deliveryWorker
      .run()
      .catch((error: unknown) =>
        this.logger.error('webhook sender stopped', { error: describeError(error) }),
      );
  }

  private createConnectorRuntime(name: string, media: Media): void {
    const definition = this.registry[name];
    if (!definition) throw new Error(`unknown connector "${name}"`);
    const config = this.config.connectors[name] as CommonConnectorConfig;
    const logger = this.logger.child({ connector: name });
    const connector = definition.create(config, { logger });
    const redis = this.requireRedis();
    const readOnlyQueue = new Queue(config.jobType, {
      connection: redis,
      prefix: this.config.queuePrefix,
      skipMetasUpdate: true,
      ...bullmqTelemetry(),
    });
    const limiter = rateLimiter(config);
    const processor = createProcessor({
      connector,
      queue: config.jobType,
      prefix: this.config.queuePrefix,
      timeoutSeconds: config.timeout,
      progressMinIntervalMs: this.config.progressMinIntervalMs,
      maxDataBytes: this.config.jobs.maxDataBytes,
      logger,
      metrics: this.metrics,
      redis,
      activeJobs: this.activeJobs,
      isServiceHealthy: () => this.runtimes.get(name)?.gate.state.healthy ?? false,
      media,
      recheckService: () => this.runtimes.get(name)?.gate.recheck() ?? Promise.resolve(false),
      takeEarlyCancel: (queue, jobId) => this.cancels.take(queue, jobId),
      webhooks: { config: this.config.webhooks, outbox: this.outbox },
      ...(limiter ? { rateLimitQueue: (ms: number) => readOnlyQueue.rateLimit(ms) } : {}),
    });
    const jobs = this.config.jobs;
    const worker = new Worker<unknown, JobResult>(config.jobType, processor, {
      connection: redis,
      prefix: this.config.queuePrefix,
      name: `${this.config.workerId}:${name}`,
      autorun: false,
      concurrency: config.concurrency,
      ...(limiter ? { limiter } : {}),
      lockDuration: jobs.lockDuration,
      stalledInterval: jobs.stalledInterval,
      maxStalledCount: jobs.maxStalledCount,
      // Each of these costs Redis work on every job (docs/benchmarks.md has the figures).
      ...(jobs.removeCompleted
        ? { removeOnComplete: { age: jobs.keepCompletedSeconds, count: jobs.keepCompletedCount } }
        : {}),
      removeOnFail: { age: jobs.keepFailedSeconds },
      ...(jobs.bullmqMetrics ? { metrics: { maxDataPoints: MetricsTime.ONE_WEEK } } : {}),
      ...bullmqTelemetry(),
    });
    worker.on('error', error => logger.warn('worker error', { error: error.message }));
    worker.on('lockRenewalFailed', jobIds => {
      for (const jobId of jobIds) {
        logger.warn('lost the lock of a job; stopping it (another worker will take it)', { jobId });
        this.activeJobs.get(config.jobType, jobId)?.abort({ kind: 'lock-lost' });
      }
    });
    const gate = new HealthGate(connector, worker, this.config.healthCheckInterval * 1000, logger, state => {
      this.metrics.serviceHealthy.set({ connector: name }, state.healthy ? 1 : 0);
      this.beat().catch(() => undefined);
    });
    this.runtimes.set(name, {
      connector,
      version: definition.version,
      config,
      worker,
      gate,
      capabilities: {},
      readOnlyQueue,
    });
  }

  private async startConnector(runtime: ConnectorRuntime): Promise<void> {
    const { connector, config, version } = runtime;
    // Set by every replica that has it configured (the same value); an unset replica leaves
    // the queue's cap alone, so one replica without the variable does not lift it.
    if (config.globalConcurrency !== null) {
      await runtime.readOnlyQueue.setGlobalConcurrency(config.globalConcurrency);
    }
    const limiter = rateLimiter(config);
    this.logger.info(`connector ${connector.name} ${version} on queue "${config.jobType}"`, {
      connector: connector.name,
      version,
      concurrency: config.concurrency,
      timeout_s: config.timeout,
      ...(config.globalConcurrency !== null ? { global_concurrency: config.globalConcurrency } : {}),
      ...(limiter ? { rate_limit: `${limiter.max} per ${limiter.duration} ms` } : {}),
    });
    try {
      runtime.capabilities = (await connector.getCapabilities?.(AbortSignal.timeout(10_000))) ?? {};
    } catch (error) {
      this.logger.warn(`could not read ${connector.name} capabilities`, { error: describeError(error) });
    }
    await runtime.gate.start();
  }

  private async subscribeToCancels(): Promise<void> {
    const subscriber = this.requireRedis().duplicate();
    this.subscriber = subscriber;
    subscriber.on('error', (error: Error) =>
      this.logger.warn('cancel subscriber error', { error: error.message }),
    );
    subscriber.on('message', (_channel: string, message: string) => this.onCancelMessage(message));
    await subscriber.subscribe(keys.cancelChannel(this.config.queuePrefix));
    // Requests published before this process started: their markers are still in Redis.
    const loaded = await this.cancels.load(this.requireRedis(), this.config.queuePrefix);
    if (loaded > 0) this.logger.info('pending cancel requests loaded', { count: loaded });
  }

  private onCancelMessage(message: string): void {
    let request: CancelRequest;
    try {
      request = JSON.parse(message) as CancelRequest;
    } catch {
      this.logger.warn('ignoring an unreadable cancel request');
      return;
    }
    const queue = String(request.queue);
    const jobId = String(request.jobId);
    const job = this.activeJobs.get(queue, jobId);
    if (!job) {
      // Waiting, or being fetched by this process right now: its processor looks here first.
      this.cancels.remember(queue, jobId, String(request.reason ?? ''));
      return;
    }
    this.logger.info('cancelling job on request', { queue: request.queue, jobId: request.jobId });
    job.abort({ kind: 'cancel', reason: String(request.reason ?? '') });
  }

  private readiness(): Readiness {
    const services: Record<string, { healthy: boolean; detail: string }> = {};
    for (const [name, runtime] of this.runtimes) {
      services[name] = { healthy: runtime.gate.state.healthy, detail: runtime.gate.state.detail };
    }
    const redisReady = this.redis?.status === 'ready';
    const servicesReady = Object.values(services).every(service => service.healthy);
    return {
      ready: redisReady && servicesReady && !this.stopping,
      detail: {
        worker: this.config.workerId,
        redis: this.redis?.status ?? 'none',
        stopping: this.stopping,
        services,
      },
    };
  }

  private heartbeatRecord(): HeartbeatRecord {
    return {
      id: this.config.workerId,
      host: os.hostname(),
      pid: process.pid,
      started_at: this.startedAt.toISOString(),
      updated_at: new Date().toISOString(),
      stopping: this.stopping,
      connectors: [...this.runtimes.values()].map(runtime => ({
        name: runtime.connector.name,
        version: runtime.version,
        queue: runtime.config.jobType,
        concurrency: runtime.config.concurrency,
        global_concurrency: runtime.config.globalConcurrency,
        rate_limit: limitOf(runtime.config),
        healthy: runtime.gate.state.healthy,
        health_detail: runtime.gate.state.detail,
        capabilities: runtime.capabilities,
      })),
      active_jobs: [...this.activeJobs.values()].map(job => ({
        queue: job.queue,
        id: job.id,
        connector: job.connector,
        started_at: new Date(job.startedAt).toISOString(),
      })),
    };
  }

  private async beat(): Promise<void> {
    if (!this.redis) return;
    const ttl = Math.ceil(this.config.heartbeatInterval * 3);
    await this.redis.set(
      keys.heartbeat(this.config.queuePrefix, this.config.workerId),
      JSON.stringify(this.heartbeatRecord()),
      'EX',
      ttl,
    );
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    const runtimes = [...this.runtimes.values()];
    this.logger.info('stopping: no new jobs; waiting for running jobs', {
      active: this.activeJobs.size,
      timeout_s: this.config.shutdownTimeout,
    });
    await Promise.all(runtimes.map(runtime => runtime.gate.stop()));
    await this.beat().catch(() => undefined);
    const closing = Promise.all(runtimes.map(runtime => runtime.worker.close()));
    const finished = await raceTimeout(closing, this.config.shutdownTimeout * 1000);
    if (!finished) {
      this.logger.warn('shutdown timeout reached: handing running jobs back to the queue', {
        active: this.activeJobs.size,
      });
      for (const job of this.activeJobs.values()) job.abort({ kind: 'shutdown' });
      if (!(await raceTimeout(closing, 10_000))) {
        await Promise.all(runtimes.map(runtime => runtime.worker.close(true)));
      }
    }
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.ticker.stop();
    // After the jobs: their deliveries are in Redis already; an unsent one waits for any replica.
    await this.deliveryWorker?.close();
    await this.outbox?.close();
    await Promise.all(runtimes.map(runtime => runtime.readOnlyQueue.close()));
    await Promise.all(
      runtimes.map(async runtime => {
        await runtime.connector.close?.();
      }),
    );
    await new Promise<void>(resolve =>
      this.httpServer ? this.httpServer.close(() => resolve()) : resolve(),
    );
    if (this.redis) {
      await this.redis
        .del(keys.heartbeat(this.config.queuePrefix, this.config.workerId))
        .catch(() => undefined);
      await this.subscriber?.quit().catch(() => undefined);
      await this.redis.quit().catch(() => undefined);
    }
    this.media?.close();
    this.logger.info('stopped');
  }

  private requireRedis(): RedisClient {
    if (!this.redis) throw new Error('runtime not started');
    return this.redis;
  }
}

function limitOf(config: CommonConnectorConfig): { max: number; duration_ms: number } | null {
  const limiter = rateLimiter(config);
  return limiter ? { max: limiter.max, duration_ms: limiter.duration } : null;
}

/** Whether `promise` settles (resolves) within `ms`; also used by the connector contract suite. */
export async function raceTimeout(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>(resolve => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
