import type { Logger } from 'winston';
import { abortReason } from '../../../core/abort.js';
import { coerceError } from '../../../core/errors.js';
import { HttpClient, authorizationHeader, type HttpAuth } from '../http/client.js';
import type { Connector, ConnectorDeps, HealthResult, JobContext } from '../../types.js';
import type { WebSocketServiceConfig } from './config.js';
import { ServiceSocket, safeUrl } from './socket.js';
import { MessageStream } from './stream.js';
import { traceServiceCall } from '../../../telemetry/index.js';
import { describeError } from '../../../logging/errors.js';

/** Backoff of reconnect attempts while jobs are listening: 0.25 s doubling to 5 s, with jitter. */
const RECONNECT_BASE_MS = 250;
const RECONNECT_MAX_MS = 5000;

/**
 * Base of connectors that drive a service over one WebSocket plus HTTP (ComfyUI).
 *
 * One socket per connector instance (one per worker process and connector) is shared by
 * every job it runs: the base opens it on the first job, keeps it alive with pings, and
 * while jobs are listening it reconnects with backoff after a drop, telling each job's
 * {@link MessageStream} (`disconnected` / `reconnected`) so the job can recover what it
 * missed by polling. With no job running, a dropped socket is simply reopened by the next
 * job. HTTP calls go through the shared {@link HttpClient} with the same credentials.
 *
 * Subclasses implement `webSocketPath` (where to connect), `processServiceJob` (submit
 * the job and follow it to its end through the stream) and `checkHealth`, and may add
 * `getCapabilities`.
 */
export abstract class WebSocketConnector<
  C extends WebSocketServiceConfig = WebSocketServiceConfig,
> implements Connector {
  abstract readonly name: string;
  /** HTTP client for the same service (base URL, auth, timeouts, error classification). */
  protected readonly http: HttpClient;
  protected readonly logger: Logger;

  private socket: ServiceSocket | undefined;
  private connecting: Promise<ServiceSocket> | undefined;
  private readonly streams = new Set<MessageStream>();
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectAttempt = 0;
  private closed = false;
  private readonly authorization: string | undefined;

  constructor(
    protected readonly config: C,
    deps: ConnectorDeps,
    /** Service name for messages, e.g. `ComfyUI`. */
    protected readonly service: string,
  ) {
    this.logger = deps.logger;
    this.authorization = authorizationHeader(this.auth());
    this.http = this.serviceClient();
  }

  /**
   * An HTTP client for this service: its base URL, credentials and request timeout, with
   * `maxResponseBytes` when a caller needs a tighter cap than the default.
   */
  protected serviceClient(maxResponseBytes?: number): HttpClient {
    return new HttpClient({
      service: this.service,
      baseUrl: this.httpBaseUrl(),
      auth: this.auth(),
      timeoutMs: Math.round(this.config.requestTimeout * 1000),
      ...(maxResponseBytes !== undefined ? { maxResponseBytes } : {}),
    });
  }

  private auth(): HttpAuth {
    return { apiKey: this.config.apiKey, username: this.config.username, password: this.config.password };
  }

  /** `http(s)://host:port` of the service (no credentials: they travel in headers). */
  httpBaseUrl(): string {
    return `${this.config.useSsl ? 'https' : 'http'}://${hostPort(this.config.host, this.config.port)}`;
  }

  /** `ws(s)://host:port<path>`. */
  webSocketUrl(): string {
    return `${this.config.useSsl ? 'wss' : 'ws'}://${hostPort(this.config.host, this.config.port)}${this.webSocketPath()}`;
  }

  /** Path (and query) of the socket, e.g. `/ws?clientId=...`. */
  protected abstract webSocketPath(): string;

  /**
   * Hook: validates the job, submits it to the service and follows it to its end (result,
   * failure or abort), reading the service's frames from `stream`.
   */
  protected abstract processServiceJob(ctx: JobContext, stream: MessageStream): Promise<unknown>;

  abstract checkHealth(signal: AbortSignal): Promise<HealthResult>;

  /**
   * The template: open (or reuse) the socket, subscribe the job to its frames before
   * anything is submitted (so nothing is missed), run the job, always unsubscribe.
   */
  async process(ctx: JobContext): Promise<unknown> {
    ctx.signal.throwIfAborted();
    const stream = this.openStream(ctx.signal);
    try {
      await this.ensureConnected(ctx.signal);
      // One span for the job's time on the socket; its HTTP calls are child spans.
      return await traceServiceCall(`${this.service} websocket wait`, { 'emp.service': this.service }, () =>
        this.processServiceJob(ctx, stream),
      );
    } finally {
      stream.close();
    }
  }

  /** A new stream of every frame (and connection event) until it is closed. */
  protected openStream(signal: AbortSignal): MessageStream {
    const stream = new MessageStream(signal, () => this.streams.delete(stream));
    this.streams.add(stream);
    return stream;
  }

  /** The open socket, opening it when needed (one attempt, classified error on failure). */
  protected async ensureConnected(signal: AbortSignal): Promise<ServiceSocket> {
    if (this.closed) throw new Error(`${this.name} connector is closed`);
    if (this.socket?.open) return this.socket;
    this.connecting ??= this.connect(false).finally(() => {
      this.connecting = undefined;
    });
    const connecting = this.connecting;
    if (signal.aborted) throw abortReason(signal);
    // The shared attempt keeps going if this job aborts; only this wait stops.
    return new Promise<ServiceSocket>((resolve, reject) => {
      const onAbort = (): void => reject(abortReason(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      connecting.then(
        socket => {
          signal.removeEventListener('abort', onAbort);
          resolve(socket);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(coerceError(error));
        },
      );
    });
  }

  /** Drops the socket so that it is reopened now (a watchdog's remedy for a silent socket). */
  protected restartSocket(): void {
    this.socket?.terminate();
  }

  /** True while the socket is open. */
  protected get connected(): boolean {
    return this.socket?.open ?? false;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    for (const stream of [...this.streams]) stream.close();
    const socket = this.socket;
    this.socket = undefined;
    // A connect in flight closes its own socket when it sees `closed`.
    await this.connecting?.catch(() => undefined);
    await socket?.close();
  }

  private async connect(reconnected: boolean): Promise<ServiceSocket> {
    const url = this.webSocketUrl();
    const socket = await ServiceSocket.open({
      service: this.service,
      url,
      headers: this.authorization ? { authorization: this.authorization } : {},
      connectTimeoutMs: Math.round(this.config.connectTimeout * 1000),
      pingIntervalMs: Math.round(this.config.pingInterval * 1000),
    });
    if (this.closed) {
      await socket.close();
      throw new Error(`${this.name} connector is closed`);
    }
    this.socket = socket;
    this.reconnectAttempt = 0;
    socket.onClose(reason => this.onSocketClosed(socket, reason));
    this.logger.debug(`${this.service} WebSocket open`, { url: safeUrl(url), reconnected });
    if (reconnected) {
      for (const stream of this.streams) stream.push({ kind: 'reconnected' });
    }
    // Subscribed last: the socket keeps frames that arrived meanwhile (even with the upgrade
    // response), so jobs see `reconnected` before any frame of the new socket.
    socket.onMessage(message => {
      for (const stream of this.streams) stream.push(message);
    });
    return socket;
  }

  private onSocketClosed(socket: ServiceSocket, reason: string): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    if (this.closed) return;
    for (const stream of this.streams) stream.push({ kind: 'disconnected', reason });
    this.logger.warn(`${this.service} WebSocket ${reason}`, { listeningJobs: this.streams.size });
    this.scheduleReconnect();
  }

  /** Reconnects with backoff while some job is listening; otherwise the next job reconnects. */
  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer || this.streams.size === 0) return;
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** this.reconnectAttempt);
    this.reconnectAttempt++;
    this.reconnectTimer = setTimeout(
      () => {
        this.reconnectTimer = undefined;
        if (this.closed || this.streams.size === 0 || this.socket?.open || this.connecting) return;
        this.connecting = this.connect(true).finally(() => {
          this.connecting = undefined;
        });
        this.connecting.then(
          () => this.logger.info(`${this.service} WebSocket reopened`),
          (error: unknown) => {
            this.logger.warn(`${this.service} WebSocket reconnect failed`, { error: describeError(error) });
            this.scheduleReconnect();
          },
        );
      },
      delay * (0.75 + Math.random() * 0.5),
    );
    this.reconnectTimer.unref();
  }
}

/** `host:port`, with brackets for IPv6 literals. */
function hostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}
