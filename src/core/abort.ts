/**
 * The abort protocol between the runtime and connectors: the runtime aborts a job's signal
 * with a {@link JobAbortError} that says why, and connectors read it to decide whether the
 * service-side work is still wanted. See docs/architecture.md, "Cancel, timeout, shutdown".
 */

/** Why the runtime aborted a job's signal. */
export type AbortCause =
  | { kind: 'cancel'; reason: string }
  | { kind: 'timeout'; seconds: number }
  | { kind: 'shutdown' }
  | { kind: 'lock-lost' };

/** The kind of an {@link AbortCause}. */
export type JobAbortKind = AbortCause['kind'];

/**
 * The reason the runtime puts on a job's aborted signal. On `cancel`/`timeout` the work is
 * unwanted; on `shutdown`/`lock-lost` the job goes back to the queue and may re-attach to it.
 */
export class JobAbortError extends Error {
  override name = 'JobAbortError';
  readonly kind: JobAbortKind;
  constructor(readonly abortCause: AbortCause) {
    super(describeAbort(abortCause));
    this.kind = abortCause.kind;
  }
}

/** One line for logs and failure reasons. */
export function describeAbort(cause: AbortCause): string {
  switch (cause.kind) {
    case 'cancel':
      return `cancelled: ${cause.reason}`;
    case 'timeout':
      return `timed out after ${cause.seconds} s`;
    case 'shutdown':
      return 'worker shutting down';
    case 'lock-lost':
      return 'job lock lost';
  }
}

/**
 * The kind of abort of an aborted signal, or undefined when it was not the runtime's.
 * Matched by name as well as class, so two copies of this module still agree.
 */
export function abortKind(signal: AbortSignal): JobAbortKind | undefined {
  if (!signal.aborted) return undefined;
  const reason: unknown = signal.reason;
  if (reason instanceof JobAbortError) return reason.kind;
  if (reason instanceof Error && reason.name === 'JobAbortError' && 'kind' in reason) {
    const kind = (reason as { kind: unknown }).kind;
    if (kind === 'cancel' || kind === 'timeout' || kind === 'shutdown' || kind === 'lock-lost') return kind;
  }
  return undefined;
}

/**
 * Whether an aborted job's service-side work should be stopped: yes on cancel and timeout
 * (and on aborts that are not the runtime's); no on shutdown and lock loss, where the job
 * goes back to the queue and its next attempt can re-attach to the work.
 */
export function abortStopsServiceWork(signal: AbortSignal): boolean {
  const kind = abortKind(signal);
  return kind !== 'shutdown' && kind !== 'lock-lost';
}

/** The signal's reason as an Error (AbortSignal reasons may be anything). */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return new Error(typeof reason === 'string' ? reason : 'aborted');
}
