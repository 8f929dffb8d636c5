import * as z from 'zod';
import { payloadSchema } from '../../../core/schema.js';
import { webhookField } from '../../../webhooks/job-webhook.js';
import { uploadUrlsField } from '../../payload-schemas.js';

/** An sdapi path: no `..`, `//`, `\` or scheme, so it stays below `/sdapi/v1/`. */
const SDAPI_PATH = /^(?![a-zA-Z][a-zA-Z0-9+.-]*:)(?!.*\.\.)(?!.*\/\/)[^\\]+$/;

/** Job data of the `a1111` connector: the original worker's `{ endpoint, method, payload }` (docs/schemas/a1111.json). */
export const a1111JobSchema = payloadSchema(
  z
    .strictObject({
      endpoint: z
        .string()
        .min(1)
        .max(200)
        .regex(SDAPI_PATH)
        .nullish()
        .describe(
          'an sdapi path such as "txt2img" or "img2img" below /sdapi/v1/ (no "..", "//", "\\" or scheme; default txt2img)',
        ),
      method: z.enum(['POST', 'GET', 'post', 'get']).nullish().describe('HTTP method (default POST)'),
      payload: z
        .record(z.string(), z.unknown())
        .nullish()
        .describe('The A1111 request body, e.g. {"prompt": "a cat", "steps": 20}; required for POST'),
      webhook: webhookField.optional(),
      upload_urls: uploadUrlsField.optional(),
    })
    .describe('a1111 job: one AUTOMATIC1111 /sdapi/v1 call'),
);
