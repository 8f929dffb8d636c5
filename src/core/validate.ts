/**
 * Small JSON helpers for reading service answers. Job data is validated by each connector's
 * zod definition (its `jobSchema`, see src/core/schema.ts), never by hand.
 */

/** A plain JSON object. */
export type JsonObject = Record<string, unknown>;

/** True for `{...}` values (not arrays, not null). */
export function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A shallow copy of `data` without `omitted`. Own keys only, written with defineProperty so a
 * `"__proto__"` key of hostile data stays a plain key instead of setting the prototype.
 */
export function withoutKeys(data: JsonObject, omitted: readonly string[]): JsonObject {
  const rest: JsonObject = {};
  for (const name of Object.keys(data)) {
    if (!omitted.includes(name)) {
      Object.defineProperty(rest, name, {
        value: data[name],
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return rest;
}

/** `an array`, `a string`, `null`... for error messages (shared with src/schemas). */
export { describeType } from './schema.js';
