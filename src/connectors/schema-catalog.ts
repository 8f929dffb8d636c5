import { connectorRegistry } from './registry.js';
import type { RegisteredConnector } from './definition.js';
import { progressSchema, resultSchema, webhookEventSchema } from './payload-schemas.js';
import { toJsonSchema } from '../core/schema.js';

/**
 * Every published JSON Schema by name: each connector's job data, plus `progress`,
 * `result` and `webhook-event`. docs/schemas/<name>.json and `emp-worker schema <name>`
 * are rendered from here (`npm run docs:schemas`; a test fails when the files are stale).
 */
export function schemaCatalog(
  registry: Readonly<Record<string, RegisteredConnector>> = connectorRegistry,
): Map<string, Record<string, unknown>> {
  const catalog = new Map<string, Record<string, unknown>>();
  for (const [name, definition] of Object.entries(registry)) {
    catalog.set(name, toJsonSchema(definition.jobSchema.schema, { title: `emp-worker ${name} job data` }));
  }
  catalog.set('progress', toJsonSchema(progressSchema, { title: 'emp-worker job progress' }));
  catalog.set('result', toJsonSchema(resultSchema, { title: 'emp-worker job result' }));
  catalog.set('webhook-event', toJsonSchema(webhookEventSchema, { title: 'emp-worker webhook body' }));
  return catalog;
}

/** A schema as written to docs/schemas/<name>.json: two-space JSON and a final newline. */
export function renderSchema(schema: Record<string, unknown>): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}
