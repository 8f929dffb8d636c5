import winston from 'winston';
import { MAX_JSON_DEPTH, TOO_DEEP_MARKER } from '../json/depth.js';

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  level: string;
  format: 'json' | 'pretty';
  /** Values never to print (passwords, API keys); replaced by `[redacted]` wherever they appear. */
  secrets?: readonly string[];
  /** Where lines go (default: stderr for errors/warnings, stdout for the rest). */
  stream?: NodeJS.WritableStream;
}

/** Field names whose values are always masked, whatever they contain. */
const SECRET_KEYS = /^(password|pass|api_?key|apikey|token|secret|authorization|auth)$/i;
const REDACTED = '[redacted]';

/** Masks secret values in a string. */
export function redactText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= 3) out = out.split(secret).join(REDACTED);
  }
  return out.replace(/(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g, `$1 ${REDACTED}`);
}

/**
 * Deep-copies a value with secret keys and secret values masked. Anything nested deeper
 * than {@link MAX_JSON_DEPTH} is replaced by a marker: past it nothing is checked, and
 * deeper recursion (here or in the serialiser after us) could overflow the stack.
 */
export function redactValue(value: unknown, secrets: readonly string[], depth = 0): unknown {
  if (typeof value === 'string') return redactText(value, secrets);
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= MAX_JSON_DEPTH) return TOO_DEEP_MARKER;
  if (value instanceof Error) return redactText(value.message, secrets);
  if (Array.isArray(value)) return value.map(item => redactValue(item, secrets, depth + 1));
  // Null prototype: a "__proto__" key is copied as data, not used to set a prototype.
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [key, child] of Object.entries(value)) {
    out[key] = SECRET_KEYS.test(key) && child ? REDACTED : redactValue(child, secrets, depth + 1);
  }
  return out;
}

function redactFormat(secrets: readonly string[]): winston.Logform.Format {
  return winston.format(info => {
    for (const key of Object.keys(info)) {
      info[key] = SECRET_KEYS.test(key) && info[key] ? REDACTED : redactValue(info[key], secrets);
    }
    return info;
  })();
}

/**
 * Creates the process logger. Child loggers (`logger.child({ connector, jobId })`) carry
 * their fields on every line; secrets are masked in messages and fields alike.
 */
export function createLogger(options: LoggerOptions): winston.Logger {
  const secrets = options.secrets ?? [];
  const formats = [
    winston.format.timestamp(),
    winston.format.errors({ stack: false }),
    redactFormat(secrets),
  ];
  const format =
    options.format === 'json'
      ? winston.format.combine(...formats, winston.format.json())
      : winston.format.combine(
          ...formats,
          ...(process.stdout.isTTY ? [winston.format.colorize({ level: true })] : []),
          winston.format.printf(info => {
            const { timestamp, level, message, ...fields } = info;
            const extra = Object.entries(fields)
              .filter(([key]) => typeof key === 'string')
              .map(([key, v]) => `${key}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
              .join(' ');
            return `${String(timestamp)} ${level} ${String(message)}${extra ? ` ${extra}` : ''}`;
          }),
        );
  const transport = options.stream
    ? new winston.transports.Stream({ stream: options.stream })
    : new winston.transports.Console({ stderrLevels: ['error', 'warn'] });
  return winston.createLogger({
    level: options.level === 'silent' ? 'error' : options.level,
    silent: options.level === 'silent',
    format,
    transports: [transport],
  });
}
