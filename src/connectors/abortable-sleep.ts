/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** The signal's reason as an Error (AbortSignal reasons may be anything). */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return new Error(typeof reason === 'string' ? reason : 'aborted');
}

/** Why the runtime aborted a job's signal. */
export type JobAbortKind = 'cancel' | 'timeout' | 'shutdown' | 'lock-lost';

/**
 * The reason the runtime puts on a job's aborted signal. Connectors read its `kind` to
 * decide whether to tell the service to stop: on `cancel`/`timeout` the work is unwanted;
 * on `shutdown`/`lock-lost` the job goes back to the queue and may re-attach to it.
 */
export class JobAbortError extends Error {
  override name = 'JobAbortError';
  constructor(
    readonly kind: JobAbortKind,
    message: string,
  ) {
    super(message);
  }
}

/** The kind of abort of an aborted signal, or undefined when it was not the runtime's. */
export function abortKind(signal: AbortSignal): JobAbortKind | undefined {
  return signal.aborted && signal.reason instanceof JobAbortError ? signal.reason.kind : undefined;
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
