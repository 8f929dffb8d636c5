import { nestingExceeds } from '../../../json/depth.js';
import { ServiceFailedError, ServiceRejectedError, type ConnectorError } from '../../../core/errors.js';
import { isPlainObject, type JsonObject } from '../../../core/validate.js';

/**
 * ComfyUI's wire shapes, read defensively: every field not guaranteed on all versions
 * (several came in 2024-2025, see docs/connectors/comfyui.md) is optional, and shapes that changed (string vs object
 * `error`, list vs object `node_errors`) are both accepted.
 */

/** One history entry (`GET /history/{id}` → `{ id: entry }`). */
export interface HistoryEntry {
  outputs?: Record<string, JsonObject>;
  status?: { status_str?: string; completed?: boolean; messages?: unknown[] };
}

/** Where ComfyUI says a prompt is. */
export type PromptState =
  | { state: 'done'; entry: HistoryEntry }
  | { state: 'running' }
  | { state: 'pending'; ahead: number }
  | { state: 'unknown' };

/** A short text, for messages. */
export function clip(text: string, max = 300): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
}

/**
 * The error of a 400 (or 200-with-`node_errors`) answer to `POST /prompt`: names each
 * node id, its class and ComfyUI's messages. Accepts `{error: {type, message, details},
 * node_errors: {...}}` and the old `{error: "no prompt", node_errors: []}`.
 */
export function describePromptRejection(status: number, body: unknown): string {
  const parts: string[] = [];
  if (isPlainObject(body)) {
    const error = body.error;
    if (typeof error === 'string') parts.push(error);
    else if (isPlainObject(error)) {
      const message = str(error.message) ?? str(error.type) ?? 'rejected';
      const details = str(error.details);
      // With node errors, `details` repeats them; without, it is the only pointer (e.g. "Node ID '#3'").
      parts.push(
        details && details !== message && !hasNodeErrors(body.node_errors)
          ? `${message}: ${details}`
          : message,
      );
    }
    const nodeErrors = body.node_errors;
    if (isPlainObject(nodeErrors)) {
      for (const [id, entry] of Object.entries(nodeErrors)) parts.push(describeNodeError(id, entry));
    }
  } else if (typeof body === 'string' && body.trim() !== '') {
    parts.push(clip(body.trim()));
  }
  if (parts.length === 0) parts.push('no details');
  return `ComfyUI rejected the workflow (HTTP ${status}): ${clip(parts.join('; '), 1500)}`;
}

/** The id of the first node a `POST /prompt` rejection blames, as an error fact. */
export function firstNodeError(body: unknown): { nodeId?: string } {
  const nodeErrors = isPlainObject(body) ? body.node_errors : undefined;
  const first = isPlainObject(nodeErrors) ? Object.keys(nodeErrors)[0] : undefined;
  return first === undefined ? {} : { nodeId: first };
}

function hasNodeErrors(value: unknown): boolean {
  return isPlainObject(value) && Object.keys(value).length > 0;
}

/** `node 1 (EmptyImage): value_smaller_than_min: Value 0 smaller than min of 1 [width]`. */
export function describeNodeError(id: string, entry: unknown): string {
  const classType = isPlainObject(entry) ? str(entry.class_type) : undefined;
  const errors = isPlainObject(entry) && Array.isArray(entry.errors) ? entry.errors : [];
  const reasons = errors.slice(0, 5).map(reason => {
    if (!isPlainObject(reason)) return String(reason);
    const type = str(reason.type);
    const message = str(reason.message) ?? 'invalid';
    const details = str(reason.details);
    return `${type ? `${type}: ` : ''}${message}${details ? ` [${clip(details, 120)}]` : ''}`;
  });
  if (errors.length > 5) reasons.push(`and ${errors.length - 5} more`);
  return `node ${id}${classType ? ` (${classType})` : ''}: ${reasons.join(', ') || 'invalid'}`;
}

/** The failure for an `execution_error` message (or the same data from history). */
export function executionError(promptId: string, data: unknown): ConnectorError {
  const d = isPlainObject(data) ? data : {};
  const node = str(d.node_id) ?? '?';
  const type = str(d.node_type);
  const exception = str(d.exception_type) ?? 'error';
  const message = str(d.exception_message)?.trim() ?? '';
  return new ServiceFailedError(
    `ComfyUI execution error in node ${node}${type ? ` (${type})` : ''} of prompt ${promptId}: ${exception}${message ? `: ${clip(message, 800)}` : ''}`,
    { service: 'ComfyUI', ...(node !== '?' ? { nodeId: node } : {}) },
  );
}

/** The failure for an `execution_interrupted` message. */
export function interruptedError(promptId: string, data: unknown): ConnectorError {
  const d = isPlainObject(data) ? data : {};
  const node = str(d.node_id);
  const type = str(d.node_type);
  return new ServiceFailedError(
    `ComfyUI prompt ${promptId} was interrupted${node ? ` at node ${node}${type ? ` (${type})` : ''}` : ''} (someone sent /interrupt)`,
    { service: 'ComfyUI', ...(node ? { nodeId: node } : {}) },
  );
}

/**
 * Reads a finished history entry: the error it records (execution error, interrupt), or
 * undefined when it succeeded. Entries without `status` (ComfyUI before 2024-01) count as success.
 */
export function historyFailure(promptId: string, entry: HistoryEntry): ConnectorError | undefined {
  const status = entry.status;
  if (!status || status.status_str !== 'error') return undefined;
  for (const message of status.messages ?? []) {
    if (!Array.isArray(message)) continue;
    const [event, data] = message as unknown[];
    if (event === 'execution_error') return executionError(promptId, data);
    if (event === 'execution_interrupted') return interruptedError(promptId, data);
  }
  return new ServiceFailedError(`ComfyUI prompt ${promptId} ended with an error (history gives no detail)`);
}

/** Finds `promptId` in a `GET /queue` answer. */
export function queueState(body: unknown, promptId: string): PromptState {
  if (!isPlainObject(body)) return { state: 'unknown' };
  const idOf = (item: unknown): string | undefined => (Array.isArray(item) ? str(item[1]) : undefined);
  const running: unknown[] = Array.isArray(body.queue_running) ? body.queue_running : [];
  if (running.some(item => idOf(item) === promptId)) return { state: 'running' };
  const pending: unknown[] = Array.isArray(body.queue_pending) ? body.queue_pending : [];
  const mine: unknown = pending.find(item => idOf(item) === promptId);
  if (mine === undefined) return { state: 'unknown' };
  const number = Array.isArray(mine) && typeof mine[0] === 'number' ? mine[0] : 0;
  const ahead =
    running.length +
    pending.filter(item => Array.isArray(item) && typeof item[0] === 'number' && item[0] < number).length;
  return { state: 'pending', ahead };
}

/** Thrown when the answer to `POST /prompt` has no prompt id. */
export function missingPromptId(body: unknown): ConnectorError {
  return new ServiceRejectedError(
    `ComfyUI accepted the workflow but returned no prompt_id: ${clip(nestingExceeds(body) ? '(an answer nested too deeply to show)' : (JSON.stringify(body) ?? ''), 200)}`,
  );
}
