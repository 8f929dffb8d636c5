import * as z from 'zod';
import { payloadSchema } from '../../../core/schema.js';
import { webhookField } from '../../../webhooks/job-webhook.js';

/** Largest `steps` a job may ask for: keeps a typo like `1e9` from pinning a worker. */
export const MAX_STEPS = 10_000;
/** Longest `duration_ms` a job may ask for (one day). */
export const MAX_DURATION_MS = 86_400_000;

/** Job data of the `simulation` connector (docs/schemas/simulation.json). */
export const simulationJobSchema = payloadSchema(
  z
    .strictObject({
      steps: z
        .int()
        .min(1)
        .max(MAX_STEPS)
        .nullish()
        .describe('Progress steps (default: WORKER_SIMULATION_STEPS)'),
      duration_ms: z
        .int()
        .min(0)
        .max(MAX_DURATION_MS)
        .nullish()
        .describe('How long the job takes (default: WORKER_SIMULATION_PROCESSING_TIME)'),
      fail_at_step: z
        .int()
        .min(1)
        .max(MAX_STEPS)
        .nullish()
        .describe('Fail (retryably) at this step, at most `steps`'),
      result: z.unknown().optional().describe('Returned as the output (default: {steps, duration_ms})'),
      webhook: webhookField.optional(),
    })
    .describe('simulation job: steps, progress and an optional injected failure; no service'),
);
