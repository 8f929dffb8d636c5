/**
 * Renders errors for logs and messages without losing what caused them: `String(error)`
 * and `error.message` drop the `cause` chain (the ECONNREFUSED behind "service
 * unreachable", the stack of an internal error). Output is bounded (depth, length) and
 * carries no secrets beyond what the messages hold; the logger masks those.
 */

/** How many links of a `cause` chain are rendered (the error itself included). */
export const MAX_CAUSE_DEPTH = 5;
/** Longest message rendered per link. */
const MAX_MESSAGE_CHARS = 500;
/** Longest stack rendered per link. */
const MAX_STACK_CHARS = 4000;
/** Sub-errors of an AggregateError rendered per link (got reports a refused dual-stack connect this way). */
const MAX_AGGREGATED = 3;

/** One link of an error's `cause` chain, as plain data. */
export interface ErrorLink {
  /** The class name, e.g. `ServiceUnavailableError`, `RequestError`. */
  name: string;
  message: string;
  /** Our `ERR_*` code or a system code such as `ECONNREFUSED`, when there is one. */
  code?: string;
  /** HTTP status, service, endpoint, node id when the error carries them. */
  status?: number;
  service?: string;
  endpoint?: string;
  nodeId?: string;
}

/** The error and its causes, outermost first, at most `maxDepth` links, cycles cut. */
export function errorChain(value: unknown, maxDepth = MAX_CAUSE_DEPTH): ErrorLink[] {
  const links: ErrorLink[] = [];
  const seen = new Set<unknown>();
  let current: unknown = value;
  while (current !== undefined && current !== null && links.length < maxDepth && !seen.has(current)) {
    seen.add(current);
    links.push(toLink(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return links;
}

/**
 * One line: the message, then each cause (`← caused by: …`) with its code when the
 * cause's message does not already say it. What replaces `String(error)` in logs and messages.
 */
export function describeError(value: unknown, maxDepth = MAX_CAUSE_DEPTH): string {
  const links = errorChain(value, maxDepth);
  if (links.length === 0) return String(value);
  const parts: string[] = [];
  let previous: string | undefined;
  for (const [index, link] of links.entries()) {
    // The outer error's code is the caller's to show (failure reasons lead with it); a
    // cause's code (ECONNREFUSED, ERR_PROTOCOL) is what the message may leave out.
    const withCode = index > 0 && link.code !== undefined && !link.message.includes(link.code);
    const text = withCode ? `${link.message} (${link.code})` : link.message;
    // A wrapper that repeats its cause's message adds nothing.
    if (text !== previous && text !== '') parts.push(text);
    previous = text;
  }
  return parts.length > 0 ? parts.join(' ← caused by: ') : (links[0]?.name ?? 'error');
}

/** Options of {@link errorLogFields}. */
export interface ErrorLogOptions {
  /** Add the stacks of the chain (for debug level). */
  stack?: boolean;
}

/**
 * Fields for a log line about a failure: `error` (one line, see {@link describeError}),
 * `causes` (the chain below the error as data, when there is one) and, when asked,
 * `stack`.
 */
export function errorLogFields(value: unknown, options: ErrorLogOptions = {}): Record<string, unknown> {
  const fields: Record<string, unknown> = { error: describeError(value) };
  const causes = errorChain(value).slice(1);
  if (causes.length > 0) fields.causes = causes;
  if (options.stack) {
    const stacks = chainErrors(value)
      .map(error => (error.stack ?? '').slice(0, MAX_STACK_CHARS))
      .filter(stack => stack !== '');
    if (stacks.length > 0) fields.stack = stacks.join('\ncaused by: ');
  }
  return fields;
}

function chainErrors(value: unknown): Error[] {
  const errors: Error[] = [];
  const seen = new Set<unknown>();
  let current: unknown = value;
  while (current instanceof Error && errors.length < MAX_CAUSE_DEPTH && !seen.has(current)) {
    seen.add(current);
    errors.push(current);
    current = current.cause;
  }
  return errors;
}

function toLink(value: unknown): ErrorLink {
  if (!(value instanceof Error)) {
    return { name: typeof value, message: truncate(safeText(value)) };
  }
  const link: ErrorLink = { name: value.name || 'Error', message: truncate(messageOf(value)) };
  const { code, status, service, endpoint, nodeId } = value as {
    code?: unknown;
    status?: unknown;
    service?: unknown;
    endpoint?: unknown;
    nodeId?: unknown;
  };
  if (typeof code === 'string' || typeof code === 'number') link.code = String(code);
  if (typeof status === 'number') link.status = status;
  if (typeof service === 'string') link.service = service;
  if (typeof endpoint === 'string') link.endpoint = endpoint;
  if (typeof nodeId === 'string') link.nodeId = nodeId;
  return link;
}

/** The message, or for an empty AggregateError (a refused dual-stack connect) its first errors' messages. */
function messageOf(error: Error): string {
  if (error.message !== '' || !(error instanceof AggregateError)) return error.message;
  const inner: unknown[] = Array.isArray(error.errors) ? error.errors.slice(0, MAX_AGGREGATED) : [];
  return inner.map(item => (item instanceof Error ? item.message : safeText(item))).join('; ');
}

function safeText(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function truncate(text: string): string {
  return text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS)}…` : text;
}
