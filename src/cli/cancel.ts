import { Queue, QueueEvents } from './bullmq.js';
import type { AppConfig } from '../config/index.js';
import { CancelInputError, checkCancelTarget, publishCancel, requestCancel } from '../jobs/cancel.js';
import { createClientRedis, createEventsRedis } from '../redis/connection.js';
import { bullmqTelemetry } from '../telemetry/index.js';
import { CliError, EXIT, ensureRedis } from './context.js';
import { describeError } from '../logging/errors.js';

/** How long the CLI waits to see a running job end after the request. */
const CONFIRM_TIMEOUT_MS = 30_000;
/** How often, while waiting, the CLI re-reads the job's state. */
const RECHECK_MS = 1000;
/** Every this many re-reads that find the job still active, the request is sent again. */
const REPUBLISH_EVERY = 5;

/**
 * `emp-worker cancel <queue> <id>`: the cancel protocol of src/jobs/cancel.ts (shared with
 * the board's HTTP endpoint). A waiting job is removed; a running one is aborted on
 * whichever replica runs it, its connector tells the service to stop, and the job fails
 * with ERR_CANCELLED (no retry). The CLI then waits to see it end.
 */
export async function cancelCommand(
  config: AppConfig,
  queueName: string,
  jobId: string,
  reason: string,
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  try {
    checkCancelTarget(queueName, jobId);
  } catch (error) {
    if (error instanceof CancelInputError) throw new CliError(error.message, EXIT.usage);
    throw error;
  }
  await ensureRedis(config);
  const connection = createClientRedis(config.redis);
  connection.on('error', () => undefined);
  // skipMetasUpdate: a cancel (of nothing, or of a mistyped queue) must not create the queue.
  const queue = new Queue(queueName, {
    connection,
    prefix: config.queuePrefix,
    skipMetasUpdate: true,
    ...bullmqTelemetry(),
  });
  queue.on('error', () => undefined);
  let events: QueueEvents | undefined;
  let eventsConnection: ReturnType<typeof createEventsRedis> | undefined;
  try {
    // Listening starts before the request, so a job that ends at once is not missed.
    if ((await queue.getJobState(jobId)) === 'active') {
      eventsConnection = createEventsRedis(config.redis);
      events = new QueueEvents(queueName, { connection: eventsConnection, prefix: config.queuePrefix });
      events.on('error', () => undefined);
      await events.waitUntilReady();
    }
    const request = { queue: queueName, jobId, reason };
    const ended = events
      ? waitForEnd(events, queue, jobId, () => publishCancel(connection, config.queuePrefix, request))
      : undefined;
    const outcome = await requestCancel({
      redis: connection,
      prefix: config.queuePrefix,
      queue,
      jobId,
      reason,
    });
    switch (outcome.state) {
      case 'not-found':
        throw new CliError(`no job ${jobId} in queue "${queueName}"`);
      case 'completed':
      case 'failed':
        throw new CliError(`job ${jobId} already ${outcome.state}; nothing to cancel`);
      case 'removed':
        out.write(`job ${jobId} was ${outcome.previousState ?? 'waiting'}; removed before it started\n`);
        return EXIT.ok;
      case 'cancelling': {
        if (outcome.listeners === 0) {
          out.write(
            `no live worker is listening; job ${jobId} will be cancelled when a worker picks it up\n`,
          );
          return EXIT.ok;
        }
        const result = ended ? await ended : undefined;
        out.write(
          result === undefined
            ? `cancel sent for job ${jobId}; it has not ended yet (the service may take a while to stop)\n`
            : `job ${jobId} ${result}\n`,
        );
        return EXIT.ok;
      }
    }
    return EXIT.failure;
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`could not cancel: ${describeError(error)}`);
  } finally {
    await events?.close();
    eventsConnection?.disconnect();
    await queue.close();
    connection.disconnect();
  }
}

/**
 * Resolves with how the job ended, or undefined after {@link CONFIRM_TIMEOUT_MS}. Pub/sub
 * delivers at most once, so while the job runs the request is repeated (a worker ignores a
 * second abort); a job handed back to the queue meanwhile is removed.
 */
async function waitForEnd(
  events: QueueEvents,
  queue: Queue,
  jobId: string,
  publish: () => Promise<number>,
): Promise<string | undefined> {
  return new Promise<string | undefined>(resolve => {
    const done = (text: string | undefined): void => {
      clearTimeout(timer);
      clearInterval(poll);
      resolve(text);
    };
    const timer = setTimeout(() => done(undefined), CONFIRM_TIMEOUT_MS);
    let activeChecks = 0;
    events.on('failed', ({ jobId: id, failedReason }) => {
      if (id === jobId) done(`failed: ${failedReason}`);
    });
    events.on('completed', ({ jobId: id }) => {
      if (id === jobId) done('completed before the cancel reached it');
    });
    const poll = setInterval(() => {
      void queue
        .getJob(jobId)
        .then(async job => {
          if (!job) return done('was removed');
          const state = await job.getState();
          if (state === 'failed') return done(`failed: ${job.failedReason}`);
          if (state === 'completed') return done('completed before the cancel reached it');
          if (state === 'active') {
            // A worker that heard the first request ignores the repeat (one log line each).
            if (++activeChecks % REPUBLISH_EVERY === 0) await publish();
            return;
          }
          // Handed back (a worker stopped, its service went down) or waiting for a retry.
          await job.remove();
          done(`was ${state} again; removed before it ran further`);
        })
        .catch(() => undefined);
    }, RECHECK_MS);
  });
}
