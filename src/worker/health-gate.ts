import type { Worker } from 'bullmq';
import type { Logger } from 'winston';
import type { Connector, HealthResult } from '../connectors/types.js';
import { describeError } from '../logging/errors.js';

/** Health of one connector's service as the gate last saw it. */
export interface GateState {
  healthy: boolean;
  detail: string;
  checkedAt: number;
}

/**
 * Keeps a connector's BullMQ worker consuming only while its service is healthy: jobs
 * stay waiting (none burnt) while the service is down, and flow again when it is back.
 */
export class HealthGate {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private checking: Promise<void> = Promise.resolve();
  private rechecking: Promise<void> | undefined;
  state: GateState = { healthy: false, detail: 'not checked yet', checkedAt: 0 };

  constructor(
    private readonly connector: Connector,
    private readonly worker: Worker,
    private readonly intervalMs: number,
    private readonly logger: Logger,
    private readonly onChange: (state: GateState) => void,
  ) {}

  /** Runs the first check (starting the worker if healthy) and then checks on an interval. */
  async start(): Promise<void> {
    await this.check();
    this.schedule();
  }

  /**
   * Checks now, outside the interval: a job's call just said the service is down, so the
   * queue must pause at once rather than at the next tick. Concurrent callers share one
   * probe. Resolves with whether the service is healthy.
   */
  async recheck(): Promise<boolean> {
    this.rechecking ??= this.check().finally(() => {
      this.rechecking = undefined;
    });
    await this.rechecking;
    return this.state.healthy;
  }

  /** Stops checking; the worker is left as it is (the runtime closes it). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.checking;
    await this.rechecking;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.checking = this.check().finally(() => this.schedule());
    }, this.intervalMs);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    const result = await this.probe();
    if (this.stopped) return;
    const changed = result.healthy !== this.state.healthy || this.state.checkedAt === 0;
    this.state = { ...result, checkedAt: Date.now() };
    if (!changed) return;
    if (result.healthy) {
      this.logger.info(`${this.connector.name} service is healthy: ${result.detail}; consuming its queue`);
      await this.worker.resume();
    } else {
      this.logger.warn(
        `${this.connector.name} service is unhealthy: ${result.detail}; queue paused on this worker until it recovers`,
      );
      if (this.worker.isRunning()) await this.worker.pause(true);
    }
    this.onChange(this.state);
  }

  private async probe(): Promise<HealthResult> {
    if (!this.connector.checkHealth) return { healthy: true, detail: 'no health check needed' };
    try {
      return await this.connector.checkHealth(AbortSignal.timeout(Math.min(this.intervalMs, 10_000)));
    } catch (error) {
      return { healthy: false, detail: describeError(error) };
    }
  }
}
