import type { Readable } from 'node:stream';
import got, { RequestError, type Method, type PlainResponse, type Response } from 'got';
import { abortReason } from '../../../core/abort.js';
import {
  ConnectorError,
  ProtocolError,
  RateLimitedError,
  ServiceRejectedError,
  ServiceTimeoutError,
  ServiceUnavailableError,
} from '../../../core/errors.js';
import { traceServiceCall } from '../../../telemetry/index.js';
import { describeError } from '../../../logging/errors.js';
import { servicePathProblem } from './path.js';

/** Credentials of a service; an API key wins over username/password (see {@link authorizationHeader}). */
export interface HttpAuth {
  apiKey?: string;
  username?: string;
  password?: string;
}

/** Options of {@link HttpClient}. */
export interface HttpClientOptions {
  /** Service name used in error messages, e.g. `ComfyUI`, `A1111`. */
  service: string;
  /** Base URL every path is resolved against. */
  baseUrl: string;
  auth?: HttpAuth;
  /** Per-request timeout in milliseconds. */
  timeoutMs: number;
  /** Responses larger than this fail with ERR_PROTOCOL instead of filling memory. */
  maxResponseBytes?: number;
}

/** One request. */
export interface HttpRequest {
  method?: Method;
  /** Path below the base URL (`/prompt`); never a full URL. */
  path: string;
  json?: unknown;
  /** A raw body (a multipart upload); set its content type in `headers`. */
  body?: Buffer | Readable;
  searchParams?: Record<string, string | number | boolean>;
  signal?: AbortSignal;
  /** Overrides the client's timeout for this request (e.g. a long blocking generation call). */
  timeoutMs?: number;
  /** Statuses returned to the caller instead of thrown (default: only 2xx are returned). */
  acceptStatus?: (status: number) => boolean;
  headers?: Record<string, string>;
}

/** A response whose body is still to be read (a file streamed on). */
export interface HttpStreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

/** A response whose body has been read. */
export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The body as text. */
  text: string;
  /** The body parsed as JSON; throws ERR_PROTOCOL when it is not JSON. */
  json<T = unknown>(): T;
  /** The raw bytes (for images). */
  body: Buffer;
}

const DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024;

/** The `Authorization` header for the auth rule: Bearer key, else Basic, else none. */
export function authorizationHeader(auth: HttpAuth | undefined): string | undefined {
  if (!auth) return undefined;
  if (auth.apiKey) return `Bearer ${auth.apiKey}`;
  if (auth.username || auth.password) {
    return `Basic ${Buffer.from(`${auth.username ?? ''}:${auth.password ?? ''}`).toString('base64')}`;
  }
  return undefined;
}

/**
 * A small got wrapper shared by every HTTP-speaking connector: one place for the auth
 * rule, timeouts, abort signals, response-size caps and HTTP error classification.
 * It never retries: BullMQ attempts are the one retry mechanism.
 */
export class HttpClient {
  private readonly base: URL;
  private readonly authorization: string | undefined;

  constructor(private readonly options: HttpClientOptions) {
    this.base = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`);
    this.authorization = authorizationHeader(options.auth);
  }

  /** The service name used in messages. */
  get service(): string {
    return this.options.service;
  }

  /**
   * Resolves a path below the base URL, refusing anything that would leave it (the rule of
   * {@link servicePathProblem}, checked again on the URL actually built).
   */
  url(path: string): URL {
    const problem = servicePathProblem(path);
    const url = problem === undefined ? new URL(path.replace(/^\/+/, ''), this.base) : undefined;
    if (
      url === undefined ||
      url.origin !== this.base.origin ||
      !url.pathname.startsWith(this.base.pathname)
    ) {
      throw new ConnectorError(
        'ERR_INVALID_INPUT',
        `path "${truncate(path, 80)}" must be a relative path without ".." (${problem ?? 'it leaves the base URL'})`,
        false,
      );
    }
    return url;
  }

  /**
   * Sends a request; non-accepted statuses and transport failures throw classified errors.
   * Traced as one service call span when tracing is on.
   */
  async request(request: HttpRequest): Promise<HttpResponse> {
    const url = this.url(request.path);
    const method = request.method ?? 'GET';
    return traceServiceCall(
      `${this.service} ${method}`,
      {
        'emp.service': this.service,
        'http.request.method': method,
        'server.address': url.host,
        'url.path': url.pathname,
      },
      async span => {
        const response = await this.send(request, url);
        span.setAttributes({ 'http.response.status_code': response.status });
        return response;
      },
    );
  }

  private async send(request: HttpRequest, url: URL): Promise<HttpResponse> {
    const maxBytes = this.options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    const headers: Record<string, string> = { accept: 'application/json', ...request.headers };
    if (this.authorization) headers.authorization = this.authorization;
    const searchParams = request.searchParams;
    let tooLarge = false;
    let response: Response<Buffer>;
    try {
      const pending = got(url, {
        method: request.method ?? 'GET',
        headers,
        ...(request.json !== undefined ? { json: request.json } : {}),
        ...(request.body !== undefined ? { body: request.body } : {}),
        ...(searchParams ? { searchParams } : {}),
        responseType: 'buffer',
        throwHttpErrors: false,
        followRedirect: false,
        retry: { limit: 0 },
        timeout: { request: request.timeoutMs ?? this.options.timeoutMs },
        ...(request.signal ? { signal: request.signal } : {}),
      });
      void pending.on('downloadProgress', progress => {
        if (progress.transferred > maxBytes && !tooLarge) {
          tooLarge = true;
          pending.cancel();
        }
      });
      response = await pending;
    } catch (error) {
      if (tooLarge) {
        throw new ProtocolError(
          `${this.service} response to ${describe(request, url)} is larger than ${maxBytes} bytes`,
          { cause: error, ...this.facts(request, url) },
        );
      }
      if (request.signal?.aborted) throw abortReason(request.signal);
      throw this.transportError(error, request, url);
    }
    const status = response.statusCode;
    const result = toHttpResponse(response.headers, response.body, { ...this.facts(request, url), status });
    const accepted = request.acceptStatus ? request.acceptStatus(status) : status >= 200 && status < 300;
    if (!accepted) throw this.statusError(result, request, url);
    return result;
  }

  /**
   * A GET whose body is streamed instead of read (files of any size in bounded memory).
   * Non-2xx answers and transport failures throw the same classified errors as {@link request}.
   */
  async stream(request: Omit<HttpRequest, 'json' | 'body' | 'method'>): Promise<HttpStreamResponse> {
    const url = this.url(request.path);
    const headers: Record<string, string> = { accept: '*/*', ...request.headers };
    if (this.authorization) headers.authorization = this.authorization;
    const stream = got.stream(url, {
      headers,
      ...(request.searchParams ? { searchParams: request.searchParams } : {}),
      throwHttpErrors: false,
      followRedirect: false,
      retry: { limit: 0 },
      timeout: { request: request.timeoutMs ?? this.options.timeoutMs },
      ...(request.signal ? { signal: request.signal } : {}),
    });
    let response: PlainResponse;
    try {
      response = await new Promise<PlainResponse>((resolve, reject) => {
        stream.once('response', resolve);
        stream.once('error', reject);
      });
    } catch (error) {
      if (request.signal?.aborted) throw abortReason(request.signal);
      throw this.transportError(error, request, url);
    }
    const status = response.statusCode;
    if (status < 200 || status >= 300) {
      const chunks: Buffer[] = [];
      let length = 0;
      try {
        for await (const chunk of stream) {
          if (length < 4096) chunks.push(chunk as Buffer);
          length += (chunk as Buffer).length;
        }
      } catch {
        // The status says enough.
      }
      const body = Buffer.concat(chunks);
      const answer = toHttpResponse(response.headers, body, { ...this.facts(request, url), status });
      throw this.statusError(answer, request, url);
    }
    return { status, headers: response.headers, body: stream };
  }

  /** Shortcut: request and parse JSON. */
  async json<T = unknown>(request: HttpRequest): Promise<T> {
    return (await this.request(request)).json<T>();
  }

  /** The structured facts every error of a call carries: service and endpoint. */
  private facts(request: HttpRequest, url: URL): { service: string; endpoint: string } {
    return { service: this.service, endpoint: describe(request, url) };
  }

  private transportError(error: unknown, request: HttpRequest, url: URL): ConnectorError {
    const what = describe(request, url);
    const options = { cause: error, ...this.facts(request, url) };
    if (error instanceof RequestError) {
      if (error.code === 'ETIMEDOUT') {
        return new ServiceTimeoutError(
          `${this.service} did not answer ${what} within ${request.timeoutMs ?? this.options.timeoutMs} ms`,
          options,
        );
      }
      return new ServiceUnavailableError(
        `${this.service} unreachable at ${url.origin} (${what}): ${error.code ?? error.message}`,
        { ...options, serviceDown: saysServiceDown(error) },
      );
    }
    return new ServiceUnavailableError(
      `${this.service} request ${what} failed: ${describeError(error)}`,
      options,
    );
  }

  private statusError(response: HttpResponse, request: HttpRequest, url: URL): ConnectorError {
    const what = describe(request, url);
    const detail = errorDetail(response.text);
    const message = `${this.service} answered HTTP ${response.status} to ${what}${detail ? `: ${detail}` : ''}`;
    const status = response.status;
    const options = { ...this.facts(request, url), status };
    if (status === 429) {
      return new RateLimitedError(message, retryAfterMs(response.headers['retry-after']), options);
    }
    if (status === 408) return new ServiceTimeoutError(message, options);
    if (status >= 500) {
      return new ServiceUnavailableError(message, { ...options, serviceDown: GATEWAY_DOWN.has(status) });
    }
    return new ServiceRejectedError(message, options);
  }
}

/** Connection failures that happen before a request can reach the service. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
]);

/** Statuses that say the service (or the one behind a proxy) is down, not that this request failed. */
const GATEWAY_DOWN = new Set([502, 503, 504]);

/**
 * Whether a transport failure says the service is down rather than that this request
 * failed: it could not connect, or the connection was reset before any answer began and
 * the request never reached the service (not fully sent), or the connection was a reused
 * keep-alive one (how a call to a service that just stopped fails; Node's advice is the
 * same). A reset of a fresh connection after the request was sent may have started work:
 * it keeps the ordinary classification.
 */
function saysServiceDown(error: RequestError): boolean {
  if (error.code !== undefined && UNREACHABLE_CODES.has(error.code)) return true;
  if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') return false;
  if (error.timings?.response !== undefined) return false;
  return error.timings?.upload === undefined || error.request?.reusedSocket === true;
}

/** Milliseconds from a `Retry-After` header (seconds or an HTTP date), if any. */
export function retryAfterMs(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/**
 * The useful part of an error body: FastAPI `detail` (string or field list), A1111's
 * `{error, detail, errors}` envelope, `{error: {message}}`, or the text itself, shortened.
 */
export function errorDetail(text: string): string {
  if (text.trim() === '') return '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return truncate(text.trim().replace(/\s+/g, ' '), 300);
  }
  if (typeof parsed !== 'object' || parsed === null) return truncate(String(parsed), 300);
  const body = parsed as Record<string, unknown>;
  const parts: string[] = [];
  if (Array.isArray(body.detail)) {
    for (const item of body.detail.slice(0, 5)) {
      if (typeof item === 'object' && item !== null) {
        const { loc, msg } = item as { loc?: unknown; msg?: unknown };
        parts.push(`${Array.isArray(loc) ? loc.join('.') : ''}: ${String(msg)}`);
      }
    }
  } else if (typeof body.detail === 'string' && body.detail) {
    parts.push(body.detail);
  }
  if (typeof body.errors === 'string' && body.errors) parts.push(body.errors);
  if (typeof body.error === 'string' && body.error && parts.length === 0) parts.push(body.error);
  if (typeof body.error === 'object' && body.error !== null) {
    const message = (body.error as { message?: unknown }).message;
    if (typeof message === 'string') parts.push(message);
  }
  if (typeof body.message === 'string' && parts.length === 0) parts.push(body.message);
  return truncate(parts.length > 0 ? parts.join('; ') : text.trim(), 300);
}

function toHttpResponse(
  headers: HttpResponse['headers'],
  body: Buffer,
  facts: { service: string; endpoint: string; status: number },
): HttpResponse {
  const text = body.toString('utf8');
  return {
    status: facts.status,
    headers,
    text,
    body,
    json<T>(): T {
      try {
        return JSON.parse(text) as T;
      } catch (error) {
        throw new ProtocolError(
          `${facts.service} answered ${facts.endpoint} with something that is not JSON: ${truncate(text.trim(), 120) || '(empty body)'}`,
          { cause: error, ...facts },
        );
      }
    },
  };
}

function describe(request: HttpRequest, url: URL): string {
  return `${request.method ?? 'GET'} ${url.pathname}`;
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
