import type http from 'node:http';
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { authorised, delay, listen, readText, sendJson, type ListeningServer } from './http.js';

/**
 * A fake JSON REST service with a sync flavour (`POST /api/process`) and an async one
 * (`POST /api/submit`, `GET /api/status/{id}`, `GET /api/result/{id}`, `POST /api/cancel/{id}`).
 * Each job picks its behaviour with a `fake` object in the request body, so a test (or a
 * person trying the worker) can ask for delays, failures, 429s, malformed or huge answers.
 *
 * Sync `fake`: `{ delay_ms, status, detail, retry_after, malformed, huge_bytes, hang, drop }`.
 * Async `fake`: `{ steps, step_ms, fail, no_result: "empty"|"null", status_word, submit_status,
 *   retry_after, rate_limit_polls, poll_retry_after, fail_polls (503s after the 429s), no_id }`.
 */
export interface FakeRestOptions {
  /** Require `Authorization: Bearer <apiKey>` on /api/*. */
  apiKey?: string;
  /** Require Basic auth on /api/* (when no apiKey). */
  username?: string;
  password?: string;
  /** Latency of every sync call that does not set its own `delay_ms`. */
  latencyMs?: number;
  /** Keep a log of requests (off for benchmarks). Default true. */
  record?: boolean;
  port?: number;
  host?: string;
}

/** One request the fake saw. */
export interface RecordedRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  body: unknown;
  at: number;
}

/** A job of the async flavour. */
export interface FakeAsyncJob {
  id: string;
  body: Record<string, unknown>;
  createdAt: number;
  cancelled: boolean;
  polls: number;
}

/** The running fake and what it saw. */
export interface FakeRestServer extends ListeningServer {
  requests: RecordedRequest[];
  jobs: Map<string, FakeAsyncJob>;
  /** Health endpoint answers 503 while false. */
  healthy: boolean;
  /** Forgets every async job (a service restart): status answers 404 afterwards. */
  forgetJobs(): void;
  /** Requests whose path starts with `prefix`. */
  seen(prefix: string): RecordedRequest[];
  /** Most sync calls (`POST /api/process`) the fake was answering at one moment. */
  maxInFlight(): number;
}

type Fake = Record<string, unknown>;

function num(fake: Fake, key: string, fallback: number): number {
  const value = fake[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

function parseBody(text: string): { body: Record<string, unknown>; fake: Fake } | undefined {
  if (text.trim() === '') return { body: {}, fake: {} };
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
    const body = parsed as Record<string, unknown>;
    const fake = typeof body.fake === 'object' && body.fake !== null ? (body.fake as Fake) : {};
    return { body, fake };
  } catch {
    return undefined;
  }
}

/** Starts the fake REST service. */
export async function startFakeRest(options: FakeRestOptions = {}): Promise<FakeRestServer> {
  const requests: RecordedRequest[] = [];
  const jobs = new Map<string, FakeAsyncJob>();
  const record = options.record ?? true;
  let inFlight = 0;
  let mostInFlight = 0;
  const shutdown = new AbortController();
  // Every delayed answer listens on it; hundreds at once are expected.
  setMaxListeners(0, shutdown.signal);

  const handler = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const path = url.pathname;
    const text = req.method === 'GET' || req.method === 'HEAD' ? '' : await readText(req);
    const parsed = parseBody(text);
    if (record) {
      requests.push({
        method: req.method ?? 'GET',
        path: `${path}${url.search}`,
        authorization: req.headers.authorization,
        body: parsed?.body ?? text,
        at: Date.now(),
      });
    }
    if (path === '/health') {
      if (fake.healthy) return sendJson(res, 200, { status: 'ok' });
      return sendJson(res, 503, { detail: 'service is starting' });
    }
    if (!path.startsWith('/api/')) return sendJson(res, 404, { detail: 'Not Found' });
    if (!authorised(req, options)) return sendJson(res, 401, { detail: 'Not authenticated' });
    if (parsed === undefined) {
      return sendJson(res, 422, {
        detail: [
          { loc: ['body'], msg: 'Expecting value: line 1 column 1 (char 0)', type: 'value_error.jsondecode' },
        ],
      });
    }
    const { body, fake: behaviour } = parsed;

    if (req.method === 'POST' && path === '/api/process') {
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      try {
        return await processSync(res, req, body, behaviour);
      } finally {
        inFlight--;
      }
    }
    if (req.method === 'POST' && path === '/api/submit') return submit(res, body, behaviour);
    const match = /^\/api\/(status|result|cancel|jobs)\/([^/]+)$/.exec(path);
    if (match) {
      const [, action = '', rawId = ''] = match;
      const job = jobs.get(decodeURIComponent(rawId));
      if (!job) return sendJson(res, 404, { detail: `Job ${decodeURIComponent(rawId)} not found` });
      if (action === 'status' && req.method === 'GET') return status(res, job);
      if (action === 'result' && req.method === 'GET') return result(res, job);
      if ((action === 'cancel' && req.method === 'POST') || (action === 'jobs' && req.method === 'DELETE')) {
        job.cancelled = true;
        return sendJson(res, 200, { job_id: job.id, status: 'cancelled' });
      }
      return sendJson(res, 405, { detail: 'Method Not Allowed' });
    }
    return sendJson(res, 404, { detail: 'Not Found' });
  };

  async function processSync(
    res: http.ServerResponse,
    req: http.IncomingMessage,
    body: Record<string, unknown>,
    behaviour: Fake,
  ): Promise<void> {
    if (behaviour.hang === true) {
      await delay(3_600_000, AbortSignal.any([shutdown.signal, closed(req)]));
      return void res.destroy();
    }
    await delay(num(behaviour, 'delay_ms', options.latencyMs ?? 0), shutdown.signal);
    const statusCode = num(behaviour, 'status', 200);
    if (statusCode === 429) {
      return sendJson(
        res,
        429,
        { detail: 'Too many requests' },
        { 'retry-after': String(num(behaviour, 'retry_after', 1)) },
      );
    }
    if (statusCode !== 200) {
      const detail = typeof behaviour.detail === 'string' ? behaviour.detail : `fake failure ${statusCode}`;
      return sendJson(
        res,
        statusCode,
        statusCode === 422
          ? { detail: [{ loc: ['body', 'input'], msg: detail, type: 'value_error' }] }
          : { detail },
      );
    }
    if (behaviour.malformed === true) {
      res.writeHead(200, { 'content-type': 'text/html' });
      return void res.end('<html><body>502 Bad Gateway (an nginx page, not JSON)</body></html>');
    }
    if (behaviour.drop === true) {
      // Headers and half a body, then the connection dies.
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"job_id": "partial", "data": "');
      await delay(20);
      return void res.socket?.destroy();
    }
    const hugeBytes = num(behaviour, 'huge_bytes', 0);
    if (hugeBytes > 0) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"blob":"');
      const chunk = 'x'.repeat(64 * 1024);
      for (let sent = 0; sent < hugeBytes && !res.destroyed; sent += chunk.length) {
        if (!res.write(chunk)) await new Promise(resolve => res.once('drain', resolve));
      }
      return void res.end('"}');
    }
    return sendJson(res, 200, { job_id: body.job_id ?? null, status: 'done', echo: withoutFake(body) });
  }

  function submit(res: http.ServerResponse, body: Record<string, unknown>, behaviour: Fake): void {
    const submitStatus = num(behaviour, 'submit_status', 200);
    if (submitStatus === 429) {
      return sendJson(
        res,
        429,
        { detail: 'Too many jobs' },
        { 'retry-after': String(num(behaviour, 'retry_after', 1)) },
      );
    }
    if (submitStatus !== 200) {
      return sendJson(res, submitStatus, { detail: `submit refused (${submitStatus})` });
    }
    if (behaviour.no_id === true) return sendJson(res, 200, { accepted: true });
    const id = `ext-${randomUUID().slice(0, 8)}`;
    jobs.set(id, { id, body, createdAt: Date.now(), cancelled: false, polls: 0 });
    return sendJson(res, 200, { job_id: id, status: 'queued' });
  }

  function progressOf(job: FakeAsyncJob): { step: number; steps: number } {
    const behaviour = (job.body.fake ?? {}) as Fake;
    const steps = Math.max(1, num(behaviour, 'steps', 3));
    const step = Math.min(
      steps,
      Math.floor((Date.now() - job.createdAt) / Math.max(1, num(behaviour, 'step_ms', 50))),
    );
    return { step, steps };
  }

  function status(res: http.ServerResponse, job: FakeAsyncJob): void {
    const behaviour = (job.body.fake ?? {}) as Fake;
    job.polls++;
    if (job.polls <= num(behaviour, 'rate_limit_polls', 0)) {
      return sendJson(
        res,
        429,
        { detail: 'Too many status requests' },
        { 'retry-after': String(num(behaviour, 'poll_retry_after', 1)) },
      );
    }
    if (job.polls <= num(behaviour, 'rate_limit_polls', 0) + num(behaviour, 'fail_polls', 0)) {
      return sendJson(res, 503, { detail: 'status store briefly unavailable' });
    }
    if (job.cancelled) {
      return sendJson(res, 200, { job_id: job.id, status: 'cancelled', message: 'cancelled by request' });
    }
    const { step, steps } = progressOf(job);
    if (step === 0) return sendJson(res, 200, { job_id: job.id, status: 'queued' });
    if (step < steps) {
      return sendJson(res, 200, {
        job_id: job.id,
        status: 'processing',
        progress: Math.round((step / steps) * 100),
        message: `step ${step} of ${steps}`,
      });
    }
    if (typeof behaviour.fail === 'string') {
      return sendJson(res, 200, { job_id: job.id, status: 'failed', error: behaviour.fail });
    }
    const word = typeof behaviour.status_word === 'string' ? behaviour.status_word : 'completed';
    return sendJson(res, 200, { job_id: job.id, status: word, progress: 100 });
  }

  function result(res: http.ServerResponse, job: FakeAsyncJob): void {
    const behaviour = (job.body.fake ?? {}) as Fake;
    const { step, steps } = progressOf(job);
    if (step < steps || job.cancelled) {
      return sendJson(res, 409, { detail: `Job ${job.id} is not completed` });
    }
    if (behaviour.no_result === 'empty') {
      res.writeHead(200, { 'content-length': '0' });
      return void res.end();
    }
    if (behaviour.no_result === 'null') return sendJson(res, 200, null);
    return sendJson(res, 200, { job_id: job.id, result: { echo: withoutFake(job.body), steps } });
  }

  const server = await listen(
    (req, res) => {
      handler(req, res).catch(() => res.destroy());
    },
    options.port ?? 0,
    options.host,
  );
  const fake: FakeRestServer = {
    ...server,
    requests,
    jobs,
    healthy: true,
    forgetJobs: () => jobs.clear(),
    seen: prefix => requests.filter(r => r.path.startsWith(prefix)),
    maxInFlight: () => mostInFlight,
    close: async () => {
      shutdown.abort();
      await server.close();
    },
  };
  return fake;
}

/** The request body without the fake's own `fake` instructions. */
function withoutFake(body: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...body };
  delete copy.fake;
  return copy;
}

/** An AbortSignal that fires when the client goes away. */
function closed(req: http.IncomingMessage): AbortSignal {
  const controller = new AbortController();
  req.socket.once('close', () => controller.abort());
  return controller.signal;
}
