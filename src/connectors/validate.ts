import { InvalidInputError } from './errors.js';

/** A plain JSON object. */
export type JsonObject = Record<string, unknown>;

/** True for `{...}` values (not arrays, not null). */
export function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Job data must be an object; names what it was instead. */
export function requireObject(value: unknown, what = 'job data'): JsonObject {
  if (!isPlainObject(value)) {
    throw new InvalidInputError(`${what} must be a JSON object, got ${describeType(value)}`);
  }
  return value;
}

/** Rejects fields the connector does not know, so typos fail loudly instead of being ignored. */
export function rejectUnknownFields(data: JsonObject, allowed: readonly string[], what = 'job data'): void {
  const unknown = Object.keys(data).filter(key => !allowed.includes(key));
  if (unknown.length > 0) {
    throw new InvalidInputError(
      `${what} has unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map(k => `"${k}"`).join(', ')} (allowed: ${allowed.join(', ')})`,
    );
  }
}

/** An optional integer field within [min, max]. */
export function optionalInteger(
  data: JsonObject,
  field: string,
  range: { min: number; max: number },
): number | undefined {
  const value = data[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new InvalidInputError(`field "${field}" must be an integer, got ${describeValue(value)}`);
  }
  if (value < range.min || value > range.max) {
    throw new InvalidInputError(
      `field "${field}" must be between ${range.min} and ${range.max}, got ${describeValue(value)}`,
    );
  }
  return value;
}

/** An optional string field. */
export function optionalString(data: JsonObject, field: string): string | undefined {
  const value = data[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    throw new InvalidInputError(`field "${field}" must be a string, got ${describeType(value)}`);
  }
  return value;
}

/** `an array`, `a string`, `null`... for error messages. */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'undefined') return 'nothing';
  return `a ${typeof value}`;
}

function describeValue(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  return describeType(value);
}
