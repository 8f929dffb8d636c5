/**
 * Small JSON helpers for reading service answers. Job data is validated by each connector's
 * zod definition (its `jobSchema`, see src/schemas/validate.ts), never by hand.
 */

/** A plain JSON object. */
export type JsonObject = Record<string, unknown>;

/** True for `{...}` values (not arrays, not null). */
export function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `an array`, `a string`, `null`... for error messages (shared with src/schemas). */
export { describeType } from '../schemas/validate.js';
