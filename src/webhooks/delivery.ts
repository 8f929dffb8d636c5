import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { DelayedError, Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import got from 'got';
import type { RedisClient } from '../redis/connection.js';
import type { Logger } from 'winston';
import type { WebhookConfig } from '../config/schema.js';
import { describeError } from '../logging/errors.js';
import { requestFailure } from '../net/request-failure.js';
import { checkUrl, guardedLookup, redactUrl } from '../net/url-guard.js';
import type { JobWebhook, WebhookEvent } from './job-webhook.js';

/**
 * Signed completion webhooks (Standard Webhooks), delivered as BullMQ jobs on the
 * `emp-webhooks` queue. Durability: the processor adds the delivery job *before* it returns
 * (or throws), that is before BullMQ marks the job completed/failed; a worker killed after
 * that point leaves the delivery in Redis for any replica. A job re-run after a crash adds
 * the same delivery job id again, which BullMQ ignores, so receivers see one webhook-id.
 */

/** The queue deliveries ride on (under QUEUE_PREFIX). */
export const WEBHOOK_QUEUE = 'emp-webhooks';
/** Longest wait between two delivery attempts. */
const MAX_RETRY_GAP_MS = 3600_000;
/** Longest answer body read from a receiver (we only log a few characters of it). */
const MAX_ANSWER_BYTES = 64 * 1024;
/**
 * For this long after a delivery was added, it first checks that its job has left `active`
 * (it was added a moment before BullMQ marks the job finished); later that is certain,
 * unless the worker died in between, and the check would only cost a round trip.
 */
const SOURCE_SETTLE_MS = 2_000;
/** Delay before checking again. */
const SOURCE_RECHECK_MS = 20;

/** The JSON body of a webhook (docs/producers.md, docs/schemas/webhook-event.json). */
export interface WebhookBody {
  type: `job.${WebhookEvent}`;
  timestamp: string;
  data: {
    queue: string;
    jobId: string;
    attemptsMade: number;
    returnvalue?: unknown;
    failedReason?: string;
  };
}

/** Data of one delivery job. */
export interface DeliveryData {
  url: string;
  webhookId: string;
  body: WebhookBody;
}

/** What the processor knows when a job ends. */
export interface JobEnd {
  queue: string;
  jobId: string;
  /** The job's creation time (ms): with queue and id it names this job even if the id is reused later. */
  createdAt: number;
  attemptsMade: number;
  returnvalue?: unknown;
  failedReason?: string;
}

/** The Standard Webhooks HMAC key inside `whsec_<base64>`. */
function signingKey(secret: string): Buffer {
  return Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
}

/** `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`. */
export function signWebhook(
  secret: string,
  webhookId: string,
  timestampSeconds: number,
  body: string,
): string {
  const mac = createHmac('sha256', signingKey(secret))
    .update(`${webhookId}.${timestampSeconds}.${body}`)
    .digest('base64');
  return `v1,${mac}`;
}

/** The webhook-id of one event of one job: the same on every retry and every re-run of the job. */
export function webhookIdOf(prefix: string, end: JobEnd, event: WebhookEvent): string {
  const digest = createHash('sha256')
    .update(`${prefix}\n${end.queue}\n${end.jobId}\n${end.createdAt}\n${event}`)
    .digest('base64url')
    .slice(0, 32);
  return `msg_${digest}`;
}

/** Adds deliveries to the `emp-webhooks` queue; one per worker process. */
export class WebhookOutbox {
  private readonly queue: Queue<DeliveryData>;

  constructor(
    redis: RedisClient,
    private readonly prefix: string,
  ) {
    this.queue = new Queue<DeliveryData>(WEBHOOK_QUEUE, { connection: redis, prefix });
  }

  /** Adds the delivery of `event` when the webhook asks for it (one Redis call). */
  async add(webhook: JobWebhook, event: WebhookEvent, end: JobEnd): Promise<void> {
    if (!webhook.events.includes(event)) return;
    const webhookId = webhookIdOf(this.prefix, end, event);
    const body: WebhookBody = {
      type: `job.${event}`,
      timestamp: new Date().toISOString(),
      data: {
        queue: end.queue,
        jobId: end.jobId,
        attemptsMade: end.attemptsMade,
        ...(event === 'completed' ? { returnvalue: end.returnvalue } : { failedReason: end.failedReason }),
      },
    };
    await this.queue.add(
      event,
      { url: webhook.url, webhookId, body },
      {
        jobId: webhookId,
        // Attempts are bounded by time (WEBHOOK_RETRY_HOURS) in the backoff strategy, not by count.
        attempts: Number.MAX_SAFE_INTEGER,
        backoff: { type: 'emp-webhook' },
        removeOnComplete: { age: 3600, count: 10_000 },
        removeOnFail: { age: 7 * 24 * 3600 },
      },
    );
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

/** Why a delivery attempt did not succeed, and whether another can. */
class DeliveryError extends Error {
  override name = 'DeliveryError';
}

/**
 * The `emp-webhooks` consumer of one worker process: signs and POSTs each delivery;
 * 2xx is done; 4xx other than 408/429 (and redirects) stop at once and are logged;
 * 5xx, 408, 429, timeouts and connection errors are retried with exponential backoff
 * until WEBHOOK_RETRY_HOURS after the event.
 */
export function createDeliveryWorker(options: {
  redis: RedisClient;
  prefix: string;
  config: WebhookConfig;
  lockDuration: number;
  stalledInterval: number;
  logger: Logger;
}): Worker<DeliveryData> {
  const { config, logger, prefix } = options;
  const lookup = guardedLookup({ allowPrivate: config.allowPrivateUrls });
  // Receivers get many deliveries: keep connections open between them (lookups still run per connection).
  const agent = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };
  const sources = new Map<string, Queue>();
  const sourceQueue = (name: string): Queue => {
    let queue = sources.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: options.redis, prefix, skipMetasUpdate: true });
      sources.set(name, queue);
    }
    return queue;
  };

  const worker = new Worker<DeliveryData>(
    WEBHOOK_QUEUE,
    async (job: Job<DeliveryData>, token?: string) => {
      const { url, webhookId, body } = job.data;
      // Added just before the job is marked finished: wait the moment it takes, so a receiver
      // that looks the job up finds it completed/failed.
      if (token && Date.now() - job.timestamp < SOURCE_SETTLE_MS) {
        const state = await sourceQueue(body.data.queue).getJobState(body.data.jobId);
        if (state === 'active') {
          await job.moveToDelayed(Date.now() + SOURCE_RECHECK_MS, token);
          throw new DelayedError();
        }
      }
      const where = redactUrl(url);
      try {
        checkUrl(url, { allowPrivate: config.allowPrivateUrls });
      } catch (error) {
        logger.warn('webhook URL refused; not delivering', {
          webhookId,
          url: where,
          error: describeError(error),
        });
        throw new UnrecoverableError(`webhook URL refused: ${error instanceof Error ? error.message : ''}`);
      }
      const text = JSON.stringify(body);
      const timestamp = Math.floor(Date.now() / 1000);
      let status: number;
      try {
        let tooLarge = false;
        let seenStatus: number | undefined;
        const pending = got.post(url, {
          body: text,
          headers: {
            'content-type': 'application/json',
            'user-agent': 'emp-worker-webhooks',
            'webhook-id': webhookId,
            'webhook-timestamp': String(timestamp),
            'webhook-signature': signWebhook(config.secret, webhookId, timestamp, text),
          },
          dnsLookup: lookup,
          agent,
          throwHttpErrors: false,
          followRedirect: false,
          retry: { limit: 0 },
          timeout: { request: config.timeout * 1000 },
          responseType: 'buffer',
        });
        // The answer's body is not needed: a receiver streaming a huge one is cut off.
        void pending.on('response', (response: { statusCode: number }) => (seenStatus = response.statusCode));
        void pending.on('downloadProgress', progress => {
          if (progress.transferred > MAX_ANSWER_BYTES && !tooLarge) {
            tooLarge = true;
            pending.cancel();
          }
        });
        try {
          status = (await pending).statusCode;
        } catch (error) {
          if (!tooLarge || seenStatus === undefined) throw error;
          status = seenStatus;
        }
      } catch (error) {
        const { refusedBecause, code: detail } = requestFailure(error);
        if (refusedBecause !== undefined) {
          logger.warn('webhook host resolves to a private address; not delivering', {
            webhookId,
            url: where,
          });
          throw new UnrecoverableError(`webhook URL refused: ${detail}`);
        }
        throw new DeliveryError(`webhook receiver ${where} unreachable: ${detail}`);
      }
      if (status >= 200 && status < 300) return { status };
      if (status >= 500 || status === 408 || status === 429) {
        throw new DeliveryError(`webhook receiver ${where} answered HTTP ${status}`);
      }
      logger.warn('webhook receiver refused the delivery; not retrying', {
        webhookId,
        url: where,
        status,
        event: body.type,
        queue: body.data.queue,
        jobId: body.data.jobId,
      });
      throw new UnrecoverableError(`webhook receiver ${where} answered HTTP ${status}; not retried`);
    },
    {
      connection: options.redis,
      prefix,
      autorun: false,
      concurrency: config.concurrency,
      lockDuration: options.lockDuration,
      stalledInterval: options.stalledInterval,
      // A delivery whose worker died is sent again (same webhook-id) rather than dropped.
      maxStalledCount: 1000,
      settings: {
        backoffStrategy: (attemptsMade: number, _type?: string, _error?: Error, job?) => {
          const base = config.retryDelay * 1000;
          const delay = Math.min(MAX_RETRY_GAP_MS, base * 2 ** Math.min(30, attemptsMade - 1));
          const jittered = Math.round(delay * (0.8 + Math.random() * 0.4));
          const deadline = (job?.timestamp ?? Date.now()) + config.retryHours * 3600_000;
          return Date.now() + jittered > deadline ? -1 : jittered;
        },
      },
    },
  );
  worker.on('failed', (job, error) => {
    if (!job) return;
    const finalFailure = error instanceof UnrecoverableError || job.finishedOn !== undefined;
    if (finalFailure && error.name !== 'DelayedError') {
      logger.warn('webhook delivery given up', {
        webhookId: job.data.webhookId,
        url: redactUrl(job.data.url),
        attempts: job.attemptsMade,
        reason: error.message,
      });
    }
  });
  worker.on('error', error => logger.warn('webhook worker error', { error: error.message }));
  worker.on('closed', () => {
    agent.http.destroy();
    agent.https.destroy();
    for (const queue of sources.values()) void queue.close();
  });
  return worker;
}

/** Refuses a WEBHOOK_URL the SSRF guard would refuse, at start-up (the message names the variable). */
export function checkWorkerWebhookUrl(config: WebhookConfig): void {
  if (config.url === '') return;
  try {
    checkUrl(config.url, { allowPrivate: config.allowPrivateUrls });
  } catch (error) {
    throw new Error(`WEBHOOK_URL ${error instanceof Error ? error.message : String(error)}`);
  }
}
