import winston from 'winston';

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

/** Deep-copies a value with secret keys and secret values masked. */
export function redactValue(value: unknown, secrets: readonly string[], depth = 0): unknown {
  if (typeof value === 'string') return redactText(value, secrets);
  if (depth > 8 || typeof value !== 'object' || value === null) return value;
  if (value instanceof Error) return redactText(value.message, secrets);
  if (Array.isArray(value)) return value.map(item => redactValue(item, secrets, depth + 1));
  const out: Record<string, unknown> = {};
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
