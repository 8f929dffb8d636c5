import type { Job } from 'bullmq';
import { Queue, QueueEvents } from './bullmq.js';
import type { AppConfig } from '../config/index.js';
import { createClientRedis, createEventsRedis, type RedisClient } from '../redis/connection.js';
import { bullmqTelemetry } from '../telemetry/index.js';
import { CliError, EXIT, ensureRedis, parseJsonArgument } from './context.js';
import { readHeartbeats } from './status.js';
import { describeError } from '../logging/errors.js';

/** Options of `emp-worker enqueue`. */
export interface EnqueueOptions {
  wait: boolean;
  /** With `wait`: enqueue and wait even when no live worker serves the queue. */
  waitForWorker: boolean;
  attempts: number;
  backoffMs: number;
  priority: number | undefined;
  jobId: string | undefined;
}

/** Where enqueue writes: the result to `out`, progress and notes to `err`. */
export interface Output {
  out: NodeJS.WritableStream & { isTTY?: boolean };
  err: NodeJS.WritableStream & { isTTY?: boolean };
}

/**
 * `emp-worker enqueue <queue> <json> [--wait]`: adds a job like any BullMQ producer;
 * with --wait, draws its progress and prints the result.
 */
export async function enqueueCommand(
  config: AppConfig,
  queueName: string,
  json: string,
  options: EnqueueOptions,
  output: Output = { out: process.stdout, err: process.stderr },
): Promise<number> {
  const data = parseJsonArgument(json, 'job data');
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    // Every connector takes an object; anything else would only fail later, on a worker.
    throw new CliError(
      `job data must be a JSON object such as '{"steps": 3}', got ${data === null ? 'null' : Array.isArray(data) ? 'an array' : `a ${typeof data}`}`,
      EXIT.usage,
    );
  }
  await ensureRedis(config);
  const connection = createClientRedis(config.redis);
  connection.on('error', () => undefined);
  if (options.wait && !options.waitForWorker) {
    // Checked before adding: a mistyped queue name then leaves nothing behind in Redis.
    await refuseUnservedQueue(connection, config.queuePrefix, queueName).catch((error: unknown) => {
      connection.disconnect();
      throw error;
    });
  }
  const queue = new Queue(queueName, { connection, prefix: config.queuePrefix, ...bullmqTelemetry() });
  queue.on('error', () => undefined);
  let events: QueueEvents | undefined;
  const eventsConnection = options.wait ? createEventsRedis(config.redis) : undefined;
  try {
    if (eventsConnection) {
      events = new QueueEvents(queueName, { connection: eventsConnection, prefix: config.queuePrefix });
      // Reconnects are retried by ioredis; the state poll below notices what they hide.
      events.on('error', () => undefined);
      await events.waitUntilReady();
    }
    const job = await queue.add(queueName, data, {
      attempts: options.attempts,
      backoff: { type: 'exponential', delay: options.backoffMs },
      ...(options.priority !== undefined ? { priority: options.priority } : {}),
      ...(options.jobId !== undefined ? { jobId: options.jobId } : {}),
    });
    output.err.write(`enqueued job ${job.id ?? '?'} on queue "${queueName}"\n`);
    if (!events) {
      output.out.write(`${job.id ?? ''}\n`);
      return EXIT.ok;
    }
    return await followJob(queue, events, job, output);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`could not enqueue: ${describeError(error)}`);
  } finally {
    await events?.close();
    await queue.close();
    connection.disconnect();
    eventsConnection?.disconnect();
  }
}

/** Throws when no live worker (heartbeat, not stopping) serves `queueName`, naming the queues served. */
async function refuseUnservedQueue(
  connection: RedisClient,
  prefix: string,
  queueName: string,
): Promise<void> {
  const served = new Set<string>();
  for (const worker of await readHeartbeats(connection, prefix)) {
    if (worker.stopping) continue;
    for (const connector of worker.connectors) served.add(connector.queue);
  }
  if (served.has(queueName)) return;
  const list =
    served.size === 0
      ? 'no live worker at all'
      : `live workers serve ${[...served]
          .sort()
          .map(q => `"${q}"`)
          .join(', ')}`;
  throw new CliError(
    `no live worker serves queue "${queueName}" (${list}); nothing enqueued. ` +
      'Start a worker for it (`npm start` with CONNECTORS), or pass --wait-for-worker to enqueue and wait anyway.',
  );
}

/** Follows a job to its end; the exit code says how it ended. */
async function followJob(queue: Queue, events: QueueEvents, job: Job, output: Output): Promise<number> {
  const jobId = job.id ?? '';
  const bar = new ProgressBar(output.err);
  return new Promise<number>(resolve => {
    let done = false;
    const finish = (code: number, text: string, stream: NodeJS.WritableStream): void => {
      if (done) return;
      done = true;
      clearInterval(poll);
      bar.end();
      stream.write(text);
      resolve(code);
    };
    events.on('progress', ({ jobId: id, data }) => {
      if (id === jobId) bar.update(data);
    });
    events.on('completed', ({ jobId: id, returnvalue }) => {
      if (id === jobId) finish(EXIT.ok, `${formatJson(returnvalue)}\n`, output.out);
    });
    events.on('failed', ({ jobId: id, failedReason }) => {
      if (id !== jobId) return;
      // A failed attempt that will be retried also emits `failed`; only a job in the failed state is done.
      void pollState(queue, jobId).then(state => {
        if (state?.state === 'failed') {
          finish(EXIT.failure, `job ${jobId} failed: ${failedReason}\n`, output.err);
        } else bar.note(`attempt failed: ${failedReason}; BullMQ will retry it`);
      });
    });
    // Said out loud, so the bar moving backwards (a new attempt starts from 0) is explained.
    events.on('waiting', ({ jobId: id, prev }) => {
      if (id === jobId && prev === 'active') {
        bar.note(
          `job ${jobId} was handed back to the queue (a worker stopped or its service is down); waiting for a worker`,
        );
      }
    });
    events.on('stalled', ({ jobId: id }) => {
      if (id === jobId) {
        bar.note(`the worker running job ${jobId} stopped answering; the job goes back to the queue`);
      }
    });
    events.on('delayed', ({ jobId: id, delay }) => {
      if (id === jobId) {
        bar.note(`job ${jobId} delayed until ${new Date(Number(delay)).toISOString()} before it runs again`);
      }
    });
    events.on('removed', ({ jobId: id }) => {
      if (id === jobId) finish(EXIT.failure, `job ${jobId} was removed before it finished\n`, output.err);
    });
    // The events stream is best-effort (trimmed, reconnects): poll the job's state as a backstop.
    const poll = setInterval(() => {
      void pollState(queue, jobId).then(state => {
        if (state?.state === 'completed') finish(EXIT.ok, `${formatJson(state.returnvalue)}\n`, output.out);
        else if (state?.state === 'failed') {
          finish(EXIT.failure, `job ${jobId} failed: ${state.failedReason}\n`, output.err);
        } else if (state === undefined) finish(EXIT.failure, `job ${jobId} no longer exists\n`, output.err);
      });
    }, 2000);
  });
}

async function pollState(
  queue: Queue,
  jobId: string,
): Promise<{ state: string; returnvalue: unknown; failedReason: string } | undefined> {
  try {
    const job = await queue.getJob(jobId);
    if (!job) return undefined;
    const state = await job.getState();
    return { state, returnvalue: job.returnvalue as unknown, failedReason: job.failedReason };
  } catch {
    return { state: 'unknown', returnvalue: undefined, failedReason: '' };
  }
}

function formatJson(value: unknown): string {
  if (typeof value === 'string') {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2);
}

/** A one-line progress bar on a terminal; one line per change elsewhere. */
export class ProgressBar {
  private lastLine = '';
  private drawn = false;
  constructor(private readonly stream: NodeJS.WritableStream & { isTTY?: boolean }) {}

  update(data: unknown): void {
    const percent = typeof data === 'number' ? data : progressField(data);
    if (percent === undefined) return;
    const clamped = Math.max(0, Math.min(100, Math.floor(percent)));
    const width = 30;
    const filled = Math.round((clamped / 100) * width);
    const label = describe(data);
    const line = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(clamped).padStart(3)}%${label ? ` ${label}` : ''}`;
    if (line === this.lastLine) return;
    this.lastLine = line;
    if (this.stream.isTTY) {
      this.stream.write(`\r\x1b[2K${line}`);
      this.drawn = true;
    } else {
      this.stream.write(`${line}\n`);
    }
  }

  /** Writes a line of its own; the next update redraws the bar even when unchanged. */
  note(text: string): void {
    this.end();
    this.lastLine = '';
    this.stream.write(`${text}\n`);
  }

  end(): void {
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}

function progressField(data: unknown): number | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const value = (data as { progress?: unknown }).progress;
  return typeof value === 'number' ? value : undefined;
}

function describe(data: unknown): string {
  if (typeof data !== 'object' || data === null) return '';
  const { message, status } = data as { message?: unknown; status?: unknown };
  return typeof message === 'string' && message ? message : typeof status === 'string' ? status : '';
}
