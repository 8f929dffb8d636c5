import { namedFormatCheck } from './formats.js';

/**
 * Our own per-key validation of a loaded configuration: each key's value is run through
 * the format of its schema entry, and the problems come back as data (key path, variable,
 * what the value must be). `loadConfig` builds its messages from these, so nothing
 * depends on how convict words its errors; convict's own validation stays as a backstop.
 */

/** One key whose value its format refuses. */
export interface KeyProblem {
  /** Dotted path in the schema, e.g. `connectors.rest.baseUrl`. */
  keyPath: string;
  /** The key's environment variable, when it has one. */
  env: string | undefined;
  /** Whether the value must never be shown (the schema says `sensitive`). */
  sensitive: boolean;
  /** What the value must be, in the format's words: `must be true or false`. */
  message: string;
}

/** Every key of `schema` whose value in `config` its format refuses, in schema order. */
export function findKeyProblems(schema: unknown, config: unknown, prefix = ''): KeyProblem[] {
  const problems: KeyProblem[] = [];
  if (!isRecord(schema)) return problems;
  for (const [key, entry] of Object.entries(schema)) {
    if (!isRecord(entry)) continue;
    const keyPath = prefix ? `${prefix}.${key}` : key;
    const value = isRecord(config) && Object.hasOwn(config, key) ? config[key] : undefined;
    if (!('default' in entry)) {
      problems.push(...findKeyProblems(entry, value, keyPath));
      continue;
    }
    const message = checkValue(entry.format, value);
    if (message !== undefined) {
      problems.push({
        keyPath,
        env: typeof entry.env === 'string' ? entry.env : undefined,
        sensitive: entry.sensitive === true,
        message,
      });
    }
  }
  return problems;
}

/** Dotted paths of keys in `value` (a config file's content) that the schema does not declare. */
export function undeclaredKeys(schema: unknown, value: unknown, prefix = ''): string[] {
  if (!isRecord(value)) return [];
  const unknown: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    const keyPath = prefix ? `${prefix}.${key}` : key;
    const entry = isRecord(schema) && Object.hasOwn(schema, key) ? schema[key] : undefined;
    if (!isRecord(entry)) unknown.push(keyPath);
    else if (!('default' in entry)) unknown.push(...undeclaredKeys(entry, child, keyPath));
  }
  return unknown;
}

/** The format's objection to `value`, or undefined when it accepts it (or cannot be checked here). */
function checkValue(format: unknown, value: unknown): string | undefined {
  if (Array.isArray(format)) {
    return format.includes(value)
      ? undefined
      : `must be one of ${format.map(option => JSON.stringify(option)).join(', ')}`;
  }
  if (format === String) return typeof value === 'string' ? undefined : 'must be a string';
  if (format === Number) {
    return typeof value === 'number' && Number.isFinite(value) ? undefined : 'must be a number';
  }
  if (format === Boolean) return typeof value === 'boolean' ? undefined : 'must be true or false';
  const check = typeof format === 'string' ? namedFormatCheck(format) : format;
  if (typeof check !== 'function') return undefined;
  try {
    (check as (value: unknown) => void)(value);
    return undefined;
  } catch (error) {
    return error instanceof Error && error.message !== '' ? error.message : 'is not valid';
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
