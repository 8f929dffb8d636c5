import { Queue, QueueEvents } from 'bullmq';
import type { AppConfig } from '../config/index.js';
import { CancelInputError, requestCancel } from '../jobs/cancel.js';
import { createClientRedis } from '../redis/connection.js';
import { CliError, EXIT } from './context.js';
import { describeError } from '../logging/errors.js';

/** How long the CLI waits to see a running job end after the request. */
const CONFIRM_TIMEOUT_MS = 30_000;

/**
 * `emp-worker cancel <queue> <id>`: a waiting job is removed; a running one is aborted on
 * whichever replica runs it (Redis pub/sub, see src/jobs/cancel.ts), its connector tells
 * the service to stop, and the job fails with ERR_CANCELLED (no retry).
 */
export async function cancelCommand(
  config: AppConfig,
  queueName: string,
  jobId: string,
  reason: string,
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  const connection = createClientRedis(config.redis.url);
  connection.on('error', () => undefined);
  let events: QueueEvents | undefined;
  let queue: Queue | undefined;
  try {
    // Listening starts before the request so a job that ends at once is not missed.
    const cancelling = (await peekState(config, connection, queueName, jobId)) === 'active';
    if (cancelling) {
      queue = new Queue(queueName, { connection, prefix: config.queuePrefix, skipMetasUpdate: true });
      events = new QueueEvents(queueName, {
        // Options, not an instance: BullMQ then owns the connection and closes it with the events.
        connection: { url: config.redis.url },
        prefix: config.queuePrefix,
      });
      await events.waitUntilReady();
    }
    const ended = events && queue ? waitForEnd(events, queue, jobId) : undefined;
    const outcome = await requestCancel({
      redis: connection,
      prefix: config.queuePrefix,
      queue: queueName,
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
    if (error instanceof CancelInputError) throw new CliError(error.message, EXIT.usage);
    throw new CliError(`could not cancel: ${describeError(error)}`);
  } finally {
    await events?.close();
    await queue?.close();
    connection.disconnect();
  }
}

/** The job's state now, without writing anything (undefined when there is no such job). */
async function peekState(
  config: AppConfig,
  connection: ReturnType<typeof createClientRedis>,
  queueName: string,
  jobId: string,
): Promise<string | undefined> {
  try {
    const queue = new Queue(queueName, { connection, prefix: config.queuePrefix, skipMetasUpdate: true });
    try {
      const job = await queue.getJob(jobId);
      return job ? await job.getState() : undefined;
    } finally {
      await queue.close();
    }
  } catch {
    return undefined; // a bad name: requestCancel says what is wrong with it
  }
}

async function waitForEnd(events: QueueEvents, queue: Queue, jobId: string): Promise<string | undefined> {
  return new Promise<string | undefined>(resolve => {
    const done = (text: string | undefined): void => {
      clearTimeout(timer);
      clearInterval(poll);
      resolve(text);
    };
    const timer = setTimeout(() => done(undefined), CONFIRM_TIMEOUT_MS);
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
          const state = await job?.getState();
          if (state === 'failed') done(`failed: ${job?.failedReason ?? ''}`);
          if (state === 'completed') done('completed before the cancel reached it');
        })
        .catch(() => undefined);
    }, 1000);
  });
}
