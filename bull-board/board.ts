import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Queue } from 'bullmq';
import express from 'express';
import type { Logger } from 'winston';
import type { AppConfig } from '../src/config/index.js';
import { CancelInputError, checkCancelTarget, requestCancel, type CancelState } from '../src/jobs/cancel.js';
import { basicAuth, type BoardCredentials } from './auth.js';
import { findQueueNames } from './discovery.js';
import { createRedis, type RedisClient } from '../src/redis/connection.js';
import { bullmqTelemetry } from '../src/telemetry/index.js';
import {
  REDACTED_MARKER,
  SHORTENED_MARKER,
  createDataFormatter,
  createProgressFormatter,
} from './formatters.js';
import { describeError } from '../src/logging/errors.js';

/** What {@link startBoard} needs besides the loaded config. */
export interface BoardOptions {
  config: AppConfig;
  logger: Logger;
  /** The user and password every board route requires (the caller makes up a password when none is configured). */
  credentials: BoardCredentials;
  /** Values to mask wherever the board shows job data (the config's sensitive values). */
  secrets: readonly string[];
  /** Port to listen on; defaults to `config.board.port` (0 picks a free one, for tests). */
  port?: number;
  /** Interface to listen on; defaults to `config.board.host`. */
  host?: string;
}

/** A running board. */
export interface BoardServer {
  /** Base URL of the board, e.g. `http://127.0.0.1:3000/`. */
  url: string;
  port: number;
  /** Queue names currently shown. */
  queueNames(): string[];
  /** Scans Redis for queues now (also runs every `BULL_BOARD_RESCAN_INTERVAL` seconds). */
  rescan(): Promise<string[]>;
  close(): Promise<void>;
}

/** A discovered queue and the adapter the board shows it through. */
interface ShownQueue {
  queue: Queue;
  adapter: BullMQAdapter;
}

/**
 * Starts Bull Board: every BullMQ queue under `QUEUE_PREFIX` (found in Redis, rescanned
 * on an interval so queues from any producer appear without a restart), behind Basic auth
 * on every route except `/healthz`, optionally read-only.
 */
export async function startBoard(options: BoardOptions): Promise<BoardServer> {
  const { config, logger } = options;
  const board = config.board;
  const basePath = normaliseBasePath(board.basePath);
  // One connection for every queue: Queue objects only issue short commands. Commands fail
  // after a few retries while Redis is away, so a page load errors instead of hanging.
  const redis = createRedis(config.redis, 'board');
  let redisErrorLogged = false;
  redis.on('error', (error: Error) => {
    if (!redisErrorLogged) logger.warn('Bull Board lost Redis; retrying', { error: error.message });
    redisErrorLogged = true;
  });
  redis.on('ready', () => (redisErrorLogged = false));

  const formatData = createDataFormatter(options.secrets);
  const formatProgress = createProgressFormatter(options.secrets);
  const shown = new Map<string, ShownQueue>();
  const makeAdapter = (name: string): ShownQueue => {
    // A viewer must not write: skipMetasUpdate keeps the board from recreating a deleted queue's meta.
    const queue = new Queue(name, {
      connection: redis,
      prefix: config.queuePrefix,
      skipMetasUpdate: true,
      ...bullmqTelemetry(),
    });
    queue.on('error', error => logger.warn('queue error', { queue: name, error: error.message }));
    const adapter = new BullMQAdapter(queue, { readOnlyMode: board.readOnly, allowRetries: !board.readOnly });
    adapter.setFormatter('data', formatData);
    adapter.setFormatter('returnValue', formatData);
    adapter.setFormatter('progress', formatProgress);
    return { queue, adapter };
  };

  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(basePath);
  const bullBoard = createBullBoard({
    queues: [],
    serverAdapter,
    options: {
      uiConfig: {
        boardTitle: 'emp-worker',
        showMetrics: true,
        ...(board.readOnly ? { environment: { label: 'read-only', color: '#64748b' } } : {}),
      },
      handlerHooks: {
        // The board shows masked data; saving it back from the "edit data" dialog, or adding
        // a copy of a job through "add job", would write the masks instead of the real
        // values, so such writes are refused.
        before: ({ route, request }) => {
          if (!route.endsWith('/update-data') && !route.endsWith('/add')) return undefined;
          const body = JSON.stringify(request.body ?? null);
          if (body.includes(REDACTED_MARKER) || body.includes(SHORTENED_MARKER)) {
            return {
              allow: false,
              status: 400,
              message:
                'job data still holds values the board masked ([redacted] or shortened base64); refusing to write them back',
            };
          }
          return undefined;
        },
      },
    },
  });

  let scanning: Promise<string[]> | undefined;
  let started = false; // the first scan's queues are listed in the start-up line instead
  const rescan = (): Promise<string[]> => {
    scanning ??= (async () => {
      try {
        const names = await findQueueNames(redis, config.queuePrefix);
        const added = names.filter(name => !shown.has(name));
        const removed = [...shown.keys()].filter(name => !names.includes(name));
        if (added.length === 0 && removed.length === 0) return names;
        for (const name of added) shown.set(name, makeAdapter(name));
        const gone = removed.flatMap(name => shown.get(name) ?? []);
        for (const name of removed) shown.delete(name);
        bullBoard.replaceQueues([...shown.values()].map(entry => entry.adapter));
        await Promise.all(gone.map(entry => entry.queue.close()));
        if (added.length > 0 && started) logger.info('Bull Board shows new queues', { queues: added });
        if (removed.length > 0) {
          logger.info('Bull Board dropped queues no longer in Redis', { queues: removed });
        }
        return names;
      } finally {
        scanning = undefined;
      }
    })();
    return scanning;
  };
  await rescan();
  started = true;
  const timer = setInterval(() => {
    rescan().catch((error: unknown) => logger.warn('queue rescan failed', { error: describeError(error) }));
  }, board.rescanInterval * 1000);
  timer.unref();

  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    const ready = redis.status === 'ready';
    res
      .status(ready ? 200 : 503)
      .json({ status: ready ? 'ok' : 'redis unavailable', redis: redis.status, queues: shown.size });
  });
  app.use(basicAuth(options.credentials));
  app.all(`${basePath === '/' ? '' : basePath}/emp/jobs/:queue/:id/cancel`, (req, res) => {
    void cancelRoute(req, res, { redis, prefix: config.queuePrefix, readOnly: board.readOnly, logger });
  });
  // ExpressAdapter.getRouter() is typed `any`; it returns the Express app the board lives in.
  const boardRouter = serverAdapter.getRouter() as express.Express;
  app.use(basePath, boardRouter);
  // Malformed requests (a bad %-escape in a path) get a short JSON answer, never a stack trace.
  app.use((error: unknown, _req: express.Request, res: express.Response, next: express.NextFunction) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const status = (error as { status?: unknown }).status;
    const code = typeof status === 'number' && status >= 400 && status < 500 ? status : 500;
    res.status(code).json({ error: code === 500 ? 'internal error' : 'bad request' });
  });

  let server: http.Server;
  try {
    server = await listen(app, options.port ?? board.port, options.host ?? board.host);
  } catch (error) {
    // Port taken or not allowed: let go of Redis and the timer so the caller can exit cleanly.
    clearInterval(timer);
    await Promise.all([...shown.values()].map(entry => entry.queue.close()));
    await redis.quit().catch(() => undefined);
    throw error;
  }
  const port = (server.address() as AddressInfo).port;
  const url = `http://${displayHost(options.host ?? board.host)}:${port}${basePath === '/' ? '/' : `${basePath}/`}`;
  logger.info(`Bull Board on ${url}`, {
    port,
    queues: [...shown.keys()],
    read_only: board.readOnly,
    user: options.credentials.username,
  });

  return {
    url,
    port,
    queueNames: () => [...shown.keys()].sort(),
    rescan,
    async close() {
      clearInterval(timer);
      await scanning?.catch(() => undefined);
      server.closeAllConnections();
      await new Promise<void>(resolve => server.close(() => resolve()));
      await Promise.all([...shown.values()].map(entry => entry.queue.close()));
      await redis.quit().catch(() => undefined);
    },
  };
}

/** HTTP status of each cancel outcome (docs/producers.md). */
const CANCEL_STATUS: Record<CancelState, number> = {
  removed: 200,
  cancelling: 202,
  'not-found': 404,
  completed: 409,
  failed: 409,
};

/**
 * `POST <base>/emp/jobs/<queue>/<id>/cancel`: the cancel protocol of src/jobs/cancel.ts over
 * HTTP. Answers JSON `{ jobId, state }`; errors are JSON too, never a stack trace.
 */
async function cancelRoute(
  req: express.Request,
  res: express.Response,
  deps: { redis: RedisClient; prefix: string; readOnly: boolean; logger: Logger },
): Promise<void> {
  res.set('Cache-Control', 'no-store');
  if (req.method !== 'POST') {
    res.status(405).set('Allow', 'POST').json({ error: 'use POST to cancel a job' });
    return;
  }
  if (deps.readOnly) {
    res.status(405).json({ error: 'the board is read-only (BULL_BOARD_READ_ONLY); cancelling is disabled' });
    return;
  }
  const queueName = String(req.params.queue);
  const jobId = String(req.params.id);
  try {
    checkCancelTarget(queueName, jobId);
  } catch (error) {
    res.status(400).json({ error: error instanceof CancelInputError ? error.message : 'bad request' });
    return;
  }
  // skipMetasUpdate: asking about a queue that does not exist must not create it.
  const queue = new Queue(queueName, { connection: deps.redis, prefix: deps.prefix, skipMetasUpdate: true });
  queue.on('error', () => undefined);
  try {
    const outcome = await requestCancel({
      redis: deps.redis,
      prefix: deps.prefix,
      queue,
      jobId,
      reason: 'cancelled from the board API',
    });
    deps.logger.info('cancel requested over HTTP', { queue: queueName, jobId, state: outcome.state });
    res.status(CANCEL_STATUS[outcome.state]).json({ jobId, state: outcome.state });
  } catch (error) {
    deps.logger.warn('cancel over HTTP failed', { queue: queueName, jobId, error: describeError(error) });
    res.status(503).json({ error: 'could not reach Redis to cancel the job; try again' });
  } finally {
    await queue.close().catch(() => undefined);
  }
}

/** `/admin/queues/` → `/admin/queues`; `/` stays `/`. */
function normaliseBasePath(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  return trimmed === '' ? '/' : trimmed;
}

/** Listens on `host` only (BULL_BOARD_HOST). */
function listen(app: express.Express, port: number, host: string): Promise<http.Server> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error): void => (error ? reject(error) : resolve(server));
    const server = app.listen(port, host, done);
  });
}

/** The host of the board's URL: `localhost` for "every interface", IPv6 literals in brackets. */
function displayHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}
