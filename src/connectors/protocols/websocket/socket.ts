import WebSocket, { type RawData } from 'ws';
import { abortReason } from '../../../core/abort.js';
import { ServiceRejectedError, ServiceTimeoutError, ServiceUnavailableError } from '../../../core/errors.js';

/** One frame from the service, already decoded. */
export type SocketMessage =
  /** A text frame holding a JSON object `{type, data}` (the shape ComfyUI and most services use). */
  | { kind: 'json'; type: string; data: unknown }
  /** A text frame that is not such an object. */
  | { kind: 'text'; text: string }
  /** A binary frame; `event` is its first 4 bytes as a big-endian uint32 (0 when shorter). */
  | { kind: 'binary'; event: number; payload: Buffer };

/** Options of {@link ServiceSocket.open}. */
export interface OpenSocketOptions {
  /** Service name for messages, e.g. `ComfyUI`. */
  service: string;
  /** ws:// or wss:// URL. */
  url: string;
  /** Sent on the upgrade request (Authorization, ...). */
  headers?: Record<string, string>;
  connectTimeoutMs: number;
  /** 0 disables keep-alive pings. */
  pingIntervalMs: number;
  /** Aborting stops the connect attempt. */
  signal?: AbortSignal;
  /** Largest frame accepted. */
  maxPayloadBytes?: number;
}

/** Decodes one frame: JSON text → `{type, data}`, binary → event number + payload. */
export function decodeFrame(raw: RawData, isBinary: boolean): SocketMessage {
  const buffer = Array.isArray(raw) ? Buffer.concat(raw) : Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
  if (isBinary) {
    const event = buffer.length >= 4 ? buffer.readUInt32BE(0) : 0;
    return { kind: 'binary', event, payload: buffer.subarray(4) };
  }
  const text = buffer.toString('utf8');
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      const { type, data } = parsed as { type?: unknown; data?: unknown };
      if (typeof type === 'string') return { kind: 'json', type, data };
    }
  } catch {
    // Not JSON: handed over as text.
  }
  return { kind: 'text', text };
}

/**
 * One open WebSocket with keep-alive. It does not reconnect by itself (the
 * {@link WebSocketConnector} base decides that); it reports frames and its end.
 */
export class ServiceSocket {
  private readonly messageListeners = new Set<(message: SocketMessage) => void>();
  private readonly closeListeners = new Set<(reason: string) => void>();
  private pingTimer: NodeJS.Timeout | undefined;
  private alive = true;
  private ended = false;
  private readonly early: SocketMessage[] = [];

  private constructor(
    private readonly ws: WebSocket,
    pingIntervalMs: number,
  ) {
    ws.on('message', (raw, isBinary) => {
      this.alive = true;
      const message = decodeFrame(raw, isBinary);
      if (this.messageListeners.size === 0) {
        // Frames that came with the upgrade response arrive before anyone could subscribe.
        if (this.early.length < 100) this.early.push(message);
        return;
      }
      for (const listener of this.messageListeners) listener(message);
    });
    ws.on('pong', () => {
      this.alive = true;
    });
    ws.on('close', (code, reason) =>
      this.end(`closed (code ${code}${reason.length ? `, ${reason.toString()}` : ''})`),
    );
    ws.on('error', error => this.end(`error: ${error.message}`));
    if (pingIntervalMs > 0) {
      this.pingTimer = setInterval(() => {
        if (!this.alive) {
          // No pong (and no frame) since the last ping: the peer or the path is dead.
          this.ws.terminate();
          this.end('keep-alive ping unanswered');
          return;
        }
        this.alive = false;
        this.ws.ping();
      }, pingIntervalMs);
      this.pingTimer.unref();
    }
  }

  /**
   * Opens a socket. Failures are classified: refused/reset/5xx → unavailable (retryable),
   * 401/403/404 on the upgrade → rejected (a configuration problem), too slow → timeout.
   */
  static open(options: OpenSocketOptions): Promise<ServiceSocket> {
    const { service, signal } = options;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<ServiceSocket>((resolve, reject) => {
      const where = safeUrl(options.url);
      // Structured facts on every failure: the service and the upgrade request's path.
      const facts = { service, endpoint: `GET ${safePath(options.url)}` };
      const ws = new WebSocket(options.url, {
        headers: options.headers ?? {},
        handshakeTimeout: options.connectTimeoutMs,
        maxPayload: options.maxPayloadBytes ?? 100 * 1024 * 1024,
        followRedirects: false,
        perMessageDeflate: false,
      });
      let settled = false;
      const settle = (error: Error | undefined): void => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        ws.removeListener('open', onOpen);
        if (error) {
          ws.removeAllListeners();
          ws.on('error', () => undefined);
          ws.terminate();
          reject(error);
        } else {
          resolve(new ServiceSocket(ws, options.pingIntervalMs));
        }
      };
      const onAbort = (): void => settle(signal ? abortReason(signal) : new Error('aborted'));
      const onOpen = (): void => settle(undefined);
      signal?.addEventListener('abort', onAbort, { once: true });
      ws.once('open', onOpen);
      ws.once('unexpected-response', (_request, response) => {
        const status = response.statusCode ?? 0;
        response.resume();
        const message = `${service} refused the WebSocket upgrade at ${where}: HTTP ${status}`;
        const withStatus = { ...facts, status };
        if (status === 401 || status === 403) {
          settle(new ServiceRejectedError(`${message} (check the username/password or API key)`, withStatus));
        } else if (status >= 500 || status === 429 || status === 408) {
          // Nothing was submitted over a socket that never opened.
          settle(new ServiceUnavailableError(message, { ...withStatus, serviceDown: true }));
        } else {
          settle(new ServiceRejectedError(message, withStatus));
        }
      });
      ws.once('error', error => {
        if (/handshake has timed out/i.test(error.message)) {
          settle(
            new ServiceTimeoutError(
              `${service} WebSocket at ${where} did not open within ${options.connectTimeoutMs} ms`,
              { cause: error, ...facts },
            ),
          );
        } else {
          const code = (error as NodeJS.ErrnoException).code;
          settle(
            new ServiceUnavailableError(
              `${service} WebSocket unreachable at ${where}: ${code ?? error.message}`,
              { cause: error, ...facts, serviceDown: true },
            ),
          );
        }
      });
    });
  }

  /** True until the socket closes. */
  get open(): boolean {
    return !this.ended && this.ws.readyState === WebSocket.OPEN;
  }

  /** Calls `listener` for every frame (the first listener also gets frames that came before it); returns the unsubscribe function. */
  onMessage(listener: (message: SocketMessage) => void): () => void {
    this.messageListeners.add(listener);
    for (const message of this.early.splice(0)) listener(message);
    return () => this.messageListeners.delete(listener);
  }

  /** Calls `listener` once when the socket ends, for whatever reason. */
  onClose(listener: (reason: string) => void): () => void {
    if (this.ended) {
      listener('already closed');
      return () => undefined;
    }
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /** Closes cleanly (close handshake, then a hard stop if the peer does not answer). */
  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) {
      this.end('closed by us');
      return Promise.resolve();
    }
    return new Promise(resolve => {
      const force = setTimeout(() => this.ws.terminate(), 1000);
      force.unref();
      this.ws.once('close', () => {
        clearTimeout(force);
        resolve();
      });
      this.end('closed by us');
      this.ws.close(1000, 'client closing');
    });
  }

  /** Drops the connection at once, without a close handshake. */
  terminate(): void {
    this.ws.terminate();
    this.end('terminated by us');
  }

  private end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = undefined;
    for (const listener of this.closeListeners) listener(reason);
    this.closeListeners.clear();
    this.messageListeners.clear();
  }
}

/** The path of a URL without its query (which may carry a client id or a token), for error facts. */
function safePath(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return '(invalid URL)';
  }
}

/** The URL without query or credentials, for messages. */
export function safeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}
