import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { HttpClient } from '../../src/connectors/protocols/http/client.js';
import { ServiceSocket } from '../../src/connectors/protocols/websocket/socket.js';
import { freePort } from '../helpers/processes.js';
import { startHttpServer, type TestServer } from '../helpers/http-server.js';

/** What the worker hands back on: failures that say the service is down, not that this request failed. */
describe('serviceDown: which failures say the service is down', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startHttpServer((req, res) => {
      const status = Number(req.url?.slice(1));
      if (req.url === '/cut') {
        // The answer had begun: the service took the request on.
        res.writeHead(200, { 'content-length': '100', connection: 'close' });
        res.write('{"partial":');
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      }
      if (req.url === '/reset') return req.socket.destroy();
      if (req.url === '/keep') return res.end('{}'); // leaves a keep-alive connection for the next call
      res.writeHead(status, { connection: 'close' });
      return res.end('{"detail":"x"}');
    });
  });
  afterAll(async () => server.close());

  async function failure(baseUrl: string, path: string): Promise<Record<string, unknown>> {
    const client = new HttpClient({ service: 'Svc', baseUrl, timeoutMs: 2000 });
    try {
      await client.request({ path });
    } catch (error) {
      return error as Record<string, unknown>;
    }
    throw new Error('no failure');
  }

  test.each([
    ['/502', true],
    ['/503', true],
    ['/504', true],
    ['/500', false],
    ['/cut', false],
  ])('%s → serviceDown %s', async (path, down) => {
    expect(await failure(server.url, path)).toMatchObject({
      code: 'ERR_SERVICE_UNAVAILABLE',
      serviceDown: down,
    });
  });

  test('a reset after the request was sent: down only on a reused keep-alive connection', async () => {
    const client = new HttpClient({ service: 'Svc', baseUrl: server.url, timeoutMs: 2000 });
    const reset = async (): Promise<unknown> =>
      client.request({ path: '/reset' }).catch((error: unknown) => error);
    // A fresh connection (the earlier answers closed theirs): the service had the request.
    expect(await reset()).toMatchObject({ code: 'ERR_SERVICE_UNAVAILABLE', serviceDown: false });
    // A kept-alive connection closed under the call: what a service that just stopped looks like.
    await client.request({ path: '/keep' });
    expect(await reset()).toMatchObject({ code: 'ERR_SERVICE_UNAVAILABLE', serviceDown: true });
  });

  test('connection refused and an unknown host say so; a 4xx is not an outage', async () => {
    const port = await freePort();
    expect(await failure(`http://127.0.0.1:${port}`, '/x')).toMatchObject({ serviceDown: true });
    expect(await failure('http://no-such-host.invalid', '/x')).toMatchObject({ serviceDown: true });
    expect(await failure(server.url, '/404')).toMatchObject({ code: 'ERR_SERVICE_REJECTED' });
  });

  test('a WebSocket that will not open says so', async () => {
    const port = await freePort();
    await expect(
      ServiceSocket.open({
        service: 'Svc',
        url: `ws://127.0.0.1:${port}/ws`,
        connectTimeoutMs: 2000,
        pingIntervalMs: 0,
      }),
    ).rejects.toMatchObject({ code: 'ERR_SERVICE_UNAVAILABLE', serviceDown: true });
    await expect(
      ServiceSocket.open({
        service: 'Svc',
        url: `${server.url.replace('http', 'ws')}/503`,
        connectTimeoutMs: 2000,
        pingIntervalMs: 0,
      }),
    ).rejects.toMatchObject({ code: 'ERR_SERVICE_UNAVAILABLE', serviceDown: true });
  });
});
