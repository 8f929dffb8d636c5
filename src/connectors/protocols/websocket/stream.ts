import { abortReason } from '../../../core/abort.js';
import type { SocketMessage } from './socket.js';

/** What a job's message stream carries: the service's frames and the socket's ups and downs. */
export type StreamEvent =
  | SocketMessage
  /** The socket dropped; the base is reconnecting. Frames sent meanwhile are lost. */
  | { kind: 'disconnected'; reason: string }
  /** A new socket is open (same client id). Frames missed while down must be recovered by polling. */
  | { kind: 'reconnected' };

/**
 * A per-job queue of {@link StreamEvent}s, read with `next(timeoutMs)`.
 * Reading rejects with the signal's reason as soon as the signal aborts, so a job
 * waiting on a silent service can always be cancelled.
 */
export class MessageStream {
  private readonly buffer: StreamEvent[] = [];
  private waiter: ((event: StreamEvent | undefined) => void) | undefined;
  private closed = false;

  constructor(
    private readonly signal: AbortSignal,
    private readonly onClose: () => void = () => undefined,
    /** Frames kept while nobody reads; older ones are dropped first (a reader always gets the newest). */
    private readonly maxBuffered = 10_000,
  ) {}

  /** Called by the base for every event. */
  push(event: StreamEvent): void {
    if (this.closed) return;
    if (this.waiter) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter(event);
      return;
    }
    this.buffer.push(event);
    if (this.buffer.length > this.maxBuffered) this.buffer.shift();
  }

  /**
   * The next event, or `undefined` when none came within `timeoutMs` (the caller's
   * watchdog). Rejects with the abort reason when the signal aborts.
   */
  next(timeoutMs: number): Promise<StreamEvent | undefined> {
    if (this.signal.aborted) return Promise.reject(abortReason(this.signal));
    const buffered = this.buffer.shift();
    if (buffered) return Promise.resolve(buffered);
    if (this.closed) return Promise.resolve(undefined);
    return new Promise<StreamEvent | undefined>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.signal.removeEventListener('abort', onAbort);
        this.waiter = undefined;
      };
      const onAbort = (): void => {
        finish();
        reject(abortReason(this.signal));
      };
      const timer = setTimeout(() => {
        finish();
        resolve(undefined);
      }, timeoutMs);
      this.signal.addEventListener('abort', onAbort, { once: true });
      this.waiter = event => {
        finish();
        resolve(event);
      };
    });
  }

  /** Stops the stream and unsubscribes it from the socket. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.buffer.length = 0;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.(undefined);
    this.onClose();
  }
}
