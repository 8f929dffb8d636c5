import { afterEach, describe, expect, test } from '@jest/globals';
import type { Schema } from 'convict';
import { cancelCommand } from '../../src/cli/cancel.js';
import { readStatus } from '../../src/cli/status.js';
import type { CommonConnectorConfig } from '../../src/config/connector-schema.js';
import { connectorRegistry } from '../../src/connectors/registry.js';
import { defineConnector } from '../../src/connectors/definition.js';
import {
  SimulationConnector,
  type SimulationConfig,
} from '../../src/connectors/services/simulation/index.js';
import type { HealthResult } from '../../src/connectors/types.js';
import { startRuntime, waitForFinished, waitUntil, type RuntimeHarness } from '../helpers/runtime.js';

let harnesses: RuntimeHarness[] = [];
async function runtime(...args: Parameters<typeof startRuntime>): Promise<RuntimeHarness> {
  const harness = await startRuntime(...args);
  harnesses.push(harness);
  return harness;
}
afterEach(async () => {
  for (const harness of harnesses.reverse()) await harness.close();
  harnesses = [];
});

/** Waits until a job is active (a state without an event we can subscribe to before adding). */
async function waitActive(harness: RuntimeHarness, queue: string, id: string): Promise<void> {
  await waitUntil(
    async () => (await harness.queue(queue).getJob(id))?.getState().then(s => s === 'active') ?? false,
    10_000,
    `job ${id} active`,
  );
}

describe('job timeout', () => {
  test('a job that outlives its connector timeout is aborted and fails naming the timeout', async () => {
    const harness = await runtime({ WORKER_SIMULATION_TIMEOUT: '0.3' });
    const job = await harness.run('simulation', { steps: 50, duration_ms: 20_000 });
    expect(job.failedReason).toBe(
      'ERR_JOB_TIMEOUT: simulation job exceeded its 0.3 s timeout and was stopped',
    );
    expect(job.finishedOn! - job.processedOn!).toBeLessThan(5000);
  });

  test("timeouts are retried under the producer's attempts", async () => {
    const harness = await runtime({ WORKER_SIMULATION_TIMEOUT: '0.2' });
    const job = await harness.run('simulation', { steps: 10, duration_ms: 20_000 }, { attempts: 2 });
    expect(job.attemptsMade).toBe(2);
    expect(job.failedReason).toMatch(/^ERR_JOB_TIMEOUT/);
  });
});

describe('cancel from anywhere', () => {
  test('a running job is aborted on the replica that runs it and fails as cancelled, without retry', async () => {
    const harness = await runtime();
    const queue = harness.queue('simulation');
    const job = await queue.add('simulation', { steps: 100, duration_ms: 60_000 }, { attempts: 3 });
    await waitActive(harness, 'simulation', job.id!);
    const out: string[] = [];
    const sink = { write: (text: string) => out.push(text) } as unknown as NodeJS.WritableStream;
    const code = await cancelCommand(harness.config, 'simulation', job.id!, 'operator said stop', sink);
    expect(code).toBe(0);
    const finished = await waitForFinished(queue, job.id!);
    expect(finished.failedReason).toBe('ERR_CANCELLED: cancelled: operator said stop');
    expect(finished.attemptsMade).toBe(1);
    expect(out.join('')).toContain(`job ${job.id} failed: ERR_CANCELLED`);
  });

  test('a waiting job is removed before it starts', async () => {
    const harness = await runtime();
    const queue = harness.queue('simulation');
    const blocker = await queue.add('simulation', { steps: 100, duration_ms: 60_000 });
    await waitActive(harness, 'simulation', blocker.id!);
    const waiting = await queue.add('simulation', { steps: 1, duration_ms: 0 });
    const out: string[] = [];
    const sink = { write: (text: string) => out.push(text) } as unknown as NodeJS.WritableStream;
    expect(await cancelCommand(harness.config, 'simulation', waiting.id!, 'no longer needed', sink)).toBe(0);
    expect(out.join('')).toContain('was waiting; removed before it started');
    expect(await queue.getJob(waiting.id!)).toBeUndefined();
    await cancelCommand(harness.config, 'simulation', blocker.id!, 'cleanup', sink);
  });

  test('a job restarted after its worker died still honours a cancel sent meanwhile', async () => {
    const harness = await runtime();
    const queue = harness.queue('simulation');
    // The marker is what a replica finds when it picks up a job whose cancel it never heard.
    const job = await queue.add('simulation', { steps: 1, duration_ms: 0 }, { attempts: 2 });
    await waitForFinished(queue, job.id!);
    const redis = (harness.runtime as unknown as { redis: import('ioredis').Redis }).redis;
    await redis.set(`${harness.prefix}:emp:cancelled:simulation:${job.id}`, 'sent while no worker ran it');
    await job.retry('completed');
    // A retried job counts as restarted (attemptsStarted > 1), so the marker is read.
    const finished = await waitForFinished(queue, job.id!);
    expect(finished.failedReason).toBe('ERR_CANCELLED: cancelled: sent while no worker ran it');
  });
});

describe('graceful shutdown', () => {
  test('a job that ends within SHUTDOWN_TIMEOUT completes', async () => {
    const harness = await startRuntime({ SHUTDOWN_TIMEOUT: '10' });
    const queue = harness.queue('simulation');
    const job = await queue.add('simulation', { steps: 5, duration_ms: 800 });
    await waitActive(harness, 'simulation', job.id!);
    await harness.runtime.stop();
    expect(await (await queue.getJob(job.id!))?.getState()).toBe('completed');
    await harness.close();
  });

  test('a job still running at SHUTDOWN_TIMEOUT goes back to the queue without using an attempt, and another worker finishes it', async () => {
    const first = await startRuntime({ SHUTDOWN_TIMEOUT: '0.3' });
    const queue = first.queue('simulation');
    const job = await queue.add(
      'simulation',
      { steps: 4, duration_ms: 1500, result: 'done' },
      { attempts: 1 },
    );
    await waitActive(first, 'simulation', job.id!);
    await first.runtime.stop();
    const afterStop = await queue.getJob(job.id!);
    expect(await afterStop?.getState()).toBe('waiting');
    expect(afterStop?.attemptsMade).toBe(0);
    const second = await runtime({ QUEUE_PREFIX: first.prefix });
    const finished = await waitForFinished(second.queue('simulation'), job.id!);
    expect(finished.returnvalue).toMatchObject({ output: 'done' });
    const { logs } = await queue.getJobLogs(job.id!);
    expect(logs).toContain('worker shut down before the job finished; returned to the queue');
    await first.close();
  });
});

/** The simulation connector with a health check the test controls. */
function gatedRegistry(health: { result: HealthResult; checks: number }) {
  const simulation = connectorRegistry.simulation!;
  return {
    simulation: defineConnector<SimulationConfig & CommonConnectorConfig>({
      name: 'simulation',
      version: simulation.version,
      description: 'simulation with a controllable health check',
      configSchema: simulation.configSchema as Schema<SimulationConfig>,
      jobSchema: simulation.jobSchema,
      create: config => {
        const connector = new SimulationConnector(config);
        return Object.assign(connector, {
          checkHealth: async (): Promise<HealthResult> => {
            health.checks++;
            return health.result;
          },
        });
      },
    }),
  };
}

describe('service health gating', () => {
  test('jobs wait while the service is down and run when it is back; /readyz says so', async () => {
    const health = { result: { healthy: false, detail: 'connection refused' } as HealthResult, checks: 0 };
    const harness = await runtime({ WORKER_HTTP_PORT: '0' }, gatedRegistry(health));
    const port = harness.runtime.httpPort();
    const readyz = async () => {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`);
      return {
        status: response.status,
        body: (await response.json()) as { services: Record<string, { detail: string }> },
      };
    };
    const queue = harness.queue('simulation');
    const job = await queue.add('simulation', { steps: 1, duration_ms: 0 });
    const checksBefore = health.checks;
    await waitUntil(() => health.checks >= checksBefore + 3, 10_000, 'three more health checks');
    expect(await job.getState()).toBe('waiting');
    const down = await readyz();
    expect(down.status).toBe(503);
    expect(down.body.services.simulation?.detail).toBe('connection refused');

    health.result = { healthy: true, detail: 'ok' };
    const finished = await waitForFinished(queue, job.id!);
    expect(await finished.getState()).toBe('completed');
    expect((await readyz()).status).toBe(200);
  });
});

describe('heartbeat, status and metrics', () => {
  test("a connector without getCapabilities runs and advertises {} with its definition's version", async () => {
    const simulation = connectorRegistry.simulation!;
    const bare = defineConnector<SimulationConfig & CommonConnectorConfig>({
      name: 'simulation',
      version: '9.9.9-bare',
      description: 'simulation without capabilities',
      configSchema: simulation.configSchema as Schema<SimulationConfig>,
      jobSchema: simulation.jobSchema,
      create: config => {
        const connector = new SimulationConnector(config);
        return { name: connector.name, process: ctx => connector.process(ctx) };
      },
    });
    const harness = await runtime({ WORKER_ID: 'bare-worker' }, { simulation: bare });
    const job = await harness.run('simulation', { steps: 1, duration_ms: 0 });
    expect(job.returnvalue).toMatchObject({ status: 'success', connector: 'simulation' });
    const report = await readStatus(harness.config);
    expect(report.workers[0]?.connectors[0]).toMatchObject({ version: '9.9.9-bare', capabilities: {} });
  });

  test('status lists the live worker with its connectors and running job; metrics count jobs', async () => {
    const harness = await runtime({ WORKER_HTTP_PORT: '0', WORKER_ID: 'status-test-worker' });
    const queue = harness.queue('simulation');
    await harness.run('simulation', { steps: 1, duration_ms: 0 });
    await harness.run('simulation', { fail_at_step: 1, steps: 1, duration_ms: 0 });
    const running = await queue.add('simulation', { steps: 100, duration_ms: 30_000 });
    await waitActive(harness, 'simulation', running.id!);
    await waitUntil(
      async () => {
        const report = await readStatus(harness.config);
        return report.workers[0]?.active_jobs.length === 1;
      },
      15_000,
      'heartbeat to show the running job',
    );
    const report = await readStatus(harness.config);
    expect(report.workers).toHaveLength(1);
    expect(report.workers[0]).toMatchObject({
      id: 'status-test-worker',
      connectors: [
        expect.objectContaining({ name: 'simulation', version: '1.0.0', queue: 'simulation', healthy: true }),
      ],
      active_jobs: [expect.objectContaining({ queue: 'simulation', id: running.id })],
    });
    expect(report.workers[0]?.connectors[0]?.capabilities).toMatchObject({ simulation_version: '1.0.0' });
    expect(report.queues.simulation).toMatchObject({ active: 1, completed: 1, failed: 1 });

    const port = harness.runtime.httpPort();
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/emp_jobs_completed_total\{connector="simulation"\} 1/);
    expect(metrics).toMatch(/emp_jobs_failed_total\{connector="simulation",code="ERR_SERVICE_FAILED"\} 1/);
    expect(metrics).toMatch(/emp_active_jobs\{connector="simulation"\} 1/);
    expect(metrics).toMatch(/emp_queue_waiting\{queue="simulation"\} 0/);
    expect(metrics).toMatch(/emp_job_duration_seconds_count\{connector="simulation",outcome="completed"\} 1/);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);

    await cancelCommand(harness.config, 'simulation', running.id!, 'end of test', {
      write: () => true,
    } as unknown as NodeJS.WritableStream);
    await harness.runtime.stop();
    const after = await readStatus(harness.config);
    expect(after.workers).toHaveLength(0);
  });
});

describe('progress coalescing', () => {
  test('a job reporting 1,000 times in a second writes a few dozen progress events at most', async () => {
    const harness = await runtime({ PROGRESS_MIN_INTERVAL_MS: '100' });
    const events = await harness.events('simulation');
    const values: number[] = [];
    events.on('progress', ({ data }) => {
      if (typeof data === 'object' && data !== null && 'progress' in data) values.push(Number(data.progress));
    });
    const job = await harness.run('simulation', { steps: 1000, duration_ms: 1000 });
    await waitUntil(() => values.at(-1) === 100, 5000, 'the final 100 event');
    expect(job.progress).toMatchObject({ progress: 100 });
    expect(values.length).toBeGreaterThanOrEqual(3);
    expect(values.length).toBeLessThanOrEqual(25);
    for (let i = 1; i < values.length; i++) expect(values[i]).toBeGreaterThanOrEqual(values[i - 1]!);
  });
});
