import * as z from 'zod';
import type { WebhookConfig } from '../config/schema.js';
import { InvalidInputError } from '../core/errors.js';
import { UrlRefusedError, resolvePublicUrl } from '../net/url-guard.js';
import { payloadSchema } from '../core/schema.js';

/** Longest webhook URL accepted (2 KB). */
export const MAX_WEBHOOK_URL_LENGTH = 2048;

/** The events a webhook can ask for. */
export const WEBHOOK_EVENTS = ['completed', 'failed'] as const;

/** A webhook event name. */
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** The optional `webhook` field of any job's data: where to send its end, and which ends. */
export const webhookField = z
  .strictObject({
    url: z
      .string()
      .min(1)
      .max(MAX_WEBHOOK_URL_LENGTH)
      .describe('http(s) URL receiving the signed job.completed / job.failed events'),
    events: z
      .array(z.enum(WEBHOOK_EVENTS))
      .min(1)
      .max(2)
      .optional()
      .describe('Which events to send (default: both)'),
  })
  .describe(
    'Signed (Standard Webhooks) notification when the job ends; the worker strips it before the connector sees the data',
  );

/** A job's webhook, checked. */
export interface JobWebhook {
  url: string;
  events: readonly WebhookEvent[];
}

const jobWebhookSchema = payloadSchema(z.object({ webhook: webhookField }));

/** The job-data field naming a job's own completion webhook. */
export const WEBHOOK_FIELD = 'webhook';

/** True when job data carries its own `webhook` field (an own key of a plain object). */
export function hasWebhookField(data: unknown): data is Record<string, unknown> & { webhook: unknown } {
  return (
    typeof data === 'object' && data !== null && !Array.isArray(data) && Object.hasOwn(data, WEBHOOK_FIELD)
  );
}

/**
 * The webhook a job's end is reported to: its own `webhook` field, else the worker-wide
 * WEBHOOK_URL, else none. The URL passes the SSRF guard now, so a bad one fails the job
 * before any work (errors name `/webhook/url`).
 */
export async function resolveJobWebhook(
  data: unknown,
  config: WebhookConfig,
): Promise<JobWebhook | undefined> {
  let webhook: JobWebhook;
  if (hasWebhookField(data)) {
    if (config.secret === '') {
      throw new InvalidInputError(
        '/webhook: this worker has no WEBHOOK_SECRET to sign webhooks with; ask its operator to set one',
      );
    }
    const parsed = jobWebhookSchema.parse({ webhook: data.webhook }).webhook;
    webhook = { url: parsed.url, events: parsed.events ?? WEBHOOK_EVENTS };
  } else {
    // WEBHOOK_URL is the operator's, checked once at start-up (src/webhooks/delivery.ts).
    return config.url === '' ? undefined : { url: config.url, events: WEBHOOK_EVENTS };
  }
  try {
    await resolvePublicUrl(webhook.url, { allowPrivate: config.allowPrivateUrls });
  } catch (error) {
    if (error instanceof UrlRefusedError) {
      throw new InvalidInputError(`/webhook/url: webhook.url ${error.message}`, { cause: error });
    }
    throw error;
  }
  return webhook;
}
