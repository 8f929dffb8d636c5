import { MAX_JSON_DEPTH, TOO_DEEP_MARKER } from '../src/json/depth.js';
import { redactValue } from '../src/logging/logger.js';

/** Strings at least this long that are entirely base64 (or a base64 data: URL) are shortened. */
export const BASE64_MIN_LENGTH = 256;
/** How many leading characters of a shortened base64 string stay visible. */
const BASE64_KEEP = 32;
/** Marker every shortened value starts with; the board refuses edits that would write it back. */
export const SHORTENED_MARKER = '[base64 ';
/** What `redactValue` writes in place of a secret. */
export const REDACTED_MARKER = '[redacted]';

/**
 * Key names masked in job data and results beyond the logger's exact list: anything that
 * merely contains password, secret, token, api key, credential or authorization
 * (`access_token`, `x-api-key`, `client_secret`, `db_password`...).
 */
const SECRET_KEY_PART =
  /(passw(or)?d|secret|token|api[_-]?key|credential|authori[sz]ation|cookie|private[_-]?key)/i;

/**
 * True when `text` is standard or URL-safe base64 (not a mix), with at most two `=` at the
 * end. A plain loop, not a regular expression: on multi-megabyte strings a backtracking
 * regex overflows the stack.
 */
function isBase64(text: string): boolean {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 61 /* = */ && text.length - end < 2) end--;
  if (end === 0) return false;
  let standard = false;
  let urlSafe = false;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    const alphanumeric = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
    if (alphanumeric) continue;
    if (c === 43 /* + */ || c === 47 /* / */) standard = true;
    else if (c === 45 /* - */ || c === 95 /* _ */) urlSafe = true;
    else return false;
    if (standard && urlSafe) return false;
  }
  return true;
}
const DATA_URL = /^data:([\w.+-]+\/[\w.+-]+)?(;[\w-]+=[^;,]*)*;base64,/i;

/** "1.3 MB" style size of the bytes a base64 text of `length` characters decodes to. */
function decodedSize(length: number): string {
  const bytes = Math.floor((length * 3) / 4);
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} kB`;
  return `${bytes} B`;
}

/**
 * A big base64 string (an image, usually) as a short label such as
 * `[base64 image/png, 1.3 MB: iVBORw0KGgoAAAANSUhEUgAA…]`; other strings unchanged.
 */
export function shortenBase64(text: string): string {
  if (text.length < BASE64_MIN_LENGTH) return text;
  const dataUrl = DATA_URL.exec(text);
  const body = dataUrl ? text.slice(dataUrl[0].length) : text;
  // Base64 wrapped at 76 columns (MIME) still counts.
  const compact = body.length <= 4 * 1024 * 1024 ? body.replace(/\r?\n/g, '') : body;
  if (!isBase64(compact)) return text;
  const kind = dataUrl?.[1] ? `${dataUrl[1]}, ` : '';
  return `${SHORTENED_MARKER}${kind}${decodedSize(compact.length)}: ${compact.slice(0, BASE64_KEEP)}…]`;
}

/**
 * Deep copy with secret-looking keys masked and big base64 strings shortened; values
 * nested deeper than {@link MAX_JSON_DEPTH} become a marker (the page serialises what we
 * return, and hostile data can be nested deep enough to overflow the stack).
 */
function maskAndShorten(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return shortenBase64(value);
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= MAX_JSON_DEPTH) return TOO_DEEP_MARKER;
  if (Array.isArray(value)) return value.map(item => maskAndShorten(item, depth + 1));
  // Null prototype: a "__proto__" key is shown as data, not used to set a prototype.
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [key, child] of Object.entries(value)) {
    out[key] = SECRET_KEY_PART.test(key) && child ? REDACTED_MARKER : maskAndShorten(child, depth + 1);
  }
  return out;
}

/**
 * Job data and return values as the board shows them: secret keys and known secret
 * values masked (the logger's `redactValue`, plus a wider key pattern), big base64
 * fields shortened so job lists stay light. What is in Redis is unchanged.
 */
export function createDataFormatter(secrets: readonly string[]): (data: unknown) => unknown {
  return data => redactValue(maskAndShorten(data, 0), secrets);
}

/** The 0–100 number a progress value carries, if it carries one. */
function percentOf(value: unknown): number | undefined {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isFinite(number)) return undefined;
  return Math.min(100, Math.max(0, Math.round(number)));
}

/**
 * Progress as the board draws it. Bull Board 9.10 draws its progress ring and bar from
 * a number or from an object's numeric `progress` field, and shows an object in full on
 * the job's Progress tab. Our progress object (docs/architecture.md, "Progress": `{progress, status, message,
 * connector, ...}`) is kept whole so the tab shows status, message and step; only
 * `progress` is normalised to an integer 0–100 so values written by other producers
 * (numeric strings, out-of-range numbers) draw too. Secret values in messages are masked.
 */
export function createProgressFormatter(secrets: readonly string[]): (progress: unknown) => unknown {
  return progress => {
    if (typeof progress === 'number' || typeof progress === 'string') return percentOf(progress) ?? progress;
    if (typeof progress !== 'object' || progress === null || Array.isArray(progress)) return progress;
    const record = redactValue(progress, secrets) as Record<string, unknown>;
    const percent = percentOf(record.progress);
    return percent === undefined ? record : { ...record, progress: percent };
  };
}
