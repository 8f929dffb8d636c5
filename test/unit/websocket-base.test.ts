import { testMedia } from '../helpers/media.js';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { WebSocketServer, type WebSocket } from 'ws';
import { createLogger } from '../../src/logging/logger.js';
import type { HealthResult, JobCheckpoint, JobContext } from '../../src/connectors/types.js';
import { WebSocketConnector } from '../../src/connectors/protocols/websocket/base.js';
import type { WebSocketServiceConfig } from '../../src/connectors/protocols/websocket/config.js';
import type { MessageStream, StreamEvent } from '../../src/connectors/protocols/websocket/stream.js';

/**
 * The base's socket life cycle against a real ws server: one socket shared by jobs,
 * reconnect after a drop while a job listens (the job sees disconnected/reconnected),
 * and abort of a waiting job.
 */

/** A minimal connector on the base: each job waits for a JSON frame of type `done` and returns every event it saw. */
class EchoConnector extends WebSocketConnector {
  readonly name = 'echo';
  protected webSocketPath(): string {
    return '/socket?clientId=echo';
  }
  protected async processServiceJob(_ctx: JobContext, stream: MessageStream): Promise<StreamEvent[]> {
    const seen: StreamEvent[] = [];
    for (;;) {
      const event = await stream.next(10_000);
      if (event === undefined) continue;
      seen.push(event);
      if (event.kind === 'json' && event.type === 'done') return seen;
    }
  }
  async checkHealth(): Promise<HealthResult> {
    return { healthy: true, detail: 'ok' };
  }
}

const media = testMedia();

function context(signal: AbortSignal): JobContext {
  const checkpoint: JobCheckpoint = { get: () => undefined, set: async () => undefined };
  return {
    id: '1',
    data: {},
    signal,
    progress: () => undefined,
    log: async () => undefined,
    logger: createLogger({ level: 'error', format: 'json' }),
    checkpoint,
    outputs: media.outputsFor({
      queue: 'echo',
      jobId: '1',
      uploadUrls: undefined,
      signal: () => signal,
      progress: () => undefined,
    }),
    inputs: media.inputsFor(() => signal),
  };
}

describe('WebSocketConnector base', () => {
  let server: WebSocketServer;
  let port: number;
  const sockets: WebSocket[] = [];
  beforeAll(async () => {
    server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise<void>(resolve => server.once('listening', () => resolve()));
    port = (server.address() as AddressInfo).port;
    server.on('connection', ws => sockets.push(ws));
  });
  afterAll(async () => {
    for (const ws of server.clients) ws.terminate();
    await new Promise<void>(resolve => server.close(() => resolve()));
  });

  const config = (): WebSocketServiceConfig => ({
    concurrency: 1,
    timeout: 60,
    jobType: 'echo',
    globalConcurrency: null,
    rateLimitMax: null,
    rateLimitDuration: null,
    apiKey: '',
    username: '',
    password: '',
    host: '127.0.0.1',
    port,
    useSsl: false,
    connectTimeout: 2,
    pingInterval: 10,
    requestTimeout: 5,
  });

  async function waitFor(condition: () => boolean): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error('condition not met');
      await new Promise(resolve => setTimeout(resolve, 10));
    }
  }

  test('jobs share one socket; a drop while a job listens is reported and repaired', async () => {
    const connector = new EchoConnector(
      config(),
      { logger: createLogger({ level: 'error', format: 'json' }) },
      'Echo',
    );
    try {
      const before = sockets.length;
      const first = connector.process(context(new AbortController().signal));
      const second = connector.process(context(new AbortController().signal));
      await waitFor(() => sockets.length === before + 1);
      sockets.at(-1)?.terminate();
      await waitFor(() => sockets.length === before + 2);
      const fresh = sockets.at(-1);
      await waitFor(() => fresh?.readyState === 1);
      fresh?.send(JSON.stringify({ type: 'done', data: {} }));
      const results = (await Promise.all([first, second])) as StreamEvent[][];
      expect(results).toHaveLength(2);
      for (const seen of results) {
        expect(seen.map(event => event.kind)).toEqual(['disconnected', 'reconnected', 'json']);
      }
      expect(connector.webSocketUrl()).toBe(`ws://127.0.0.1:${port}/socket?clientId=echo`);
    } finally {
      await connector.close();
    }
  });

  test('an aborted job stops waiting at once with the abort reason; close() is safe twice', async () => {
    const connector = new EchoConnector(
      config(),
      { logger: createLogger({ level: 'error', format: 'json' }) },
      'Echo',
    );
    const controller = new AbortController();
    const running = connector.process(context(controller.signal));
    const before = sockets.length;
    await waitFor(() => sockets.length >= before && server.clients.size > 0);
    controller.abort(new Error('cancelled: test'));
    await expect(running).rejects.toThrow('cancelled: test');
    await connector.close();
    await connector.close();
    await expect(connector.process(context(new AbortController().signal))).rejects.toThrow(
      'echo connector is closed',
    );
  });
});
