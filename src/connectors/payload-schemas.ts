import * as z from 'zod';
import { MAX_UPLOAD_URLS } from '../media/upload-urls.js';
import { webhookField } from '../webhooks/job-webhook.js';
import { payloadSchema, type PayloadSchema } from '../core/schema.js';

/**
 * The optional `upload_urls` field: presigned PUT URLs, one per output file, used instead
 * of the worker's store (docs/media.md). The worker takes it off before the connector
 * sees the data and checks each URL with the SSRF guard (src/media/upload-urls.ts).
 */
export const uploadUrlsField = z
  .array(z.string().min(1).describe('a presigned http(s) PUT URL'))
  .max(MAX_UPLOAD_URLS)
  .describe("Presigned PUT URLs for the job's output files, in output order, instead of the worker's store");

/** Job data that is any JSON object, passed on as it is (the `rest` and `rest_async` connectors). */
export function jsonObjectJobSchema(description: string): PayloadSchema<Record<string, unknown>> {
  return payloadSchema(z.looseObject({ webhook: webhookField.optional() }).describe(description));
}

/** The progress object every job writes with `job.updateProgress` (docs/schemas/progress.json). */
export const progressSchema = z
  .strictObject({
    progress: z.number().min(0).max(100).describe('Percent done, 0-100; never goes down within an attempt'),
    status: z.string().describe('Short machine-friendly state, e.g. running, queued, sampling, completed'),
    message: z.string().describe('A human sentence for dashboards'),
    connector: z.string().describe('The connector running the job'),
    eta: z.number().min(0).optional().describe('Seconds left, when the service says'),
    step: z.int().min(0).optional().describe('Current step (sampler step, simulation step)'),
    total_steps: z.int().min(0).optional().describe('Total steps of the current unit of work'),
    node: z.string().optional().describe('ComfyUI node id being executed'),
    class_type: z.string().optional().describe('ComfyUI class of that node'),
  })
  .describe('emp-worker job progress (job.progress)');

/** The return value of every completed job (docs/schemas/result.json). */
export const resultSchema = z
  .strictObject({
    status: z.literal('success'),
    connector: z.string().describe('The connector that ran the job'),
    output: z.unknown().describe("The service's output; its shape is the connector's (see docs/connectors/)"),
  })
  .describe('emp-worker job result (job.returnvalue)');

/** The JSON body of every webhook (docs/schemas/webhook-event.json). */
export const webhookEventSchema = z
  .strictObject({
    type: z.enum(['job.completed', 'job.failed']),
    timestamp: z.iso.datetime().describe('When the job ended (ISO 8601)'),
    data: z.strictObject({
      queue: z.string(),
      jobId: z.string(),
      attemptsMade: z.int().min(1).describe('Attempts the job took, this one included'),
      returnvalue: resultSchema.optional().describe('job.completed: the job result'),
      failedReason: z.string().optional().describe('job.failed: "<ERR_CODE>: <message>"'),
    }),
  })
  .describe(
    'Body of an emp-worker webhook, signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature headers)',
  );
