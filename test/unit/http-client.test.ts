import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { HttpClient, errorDetail, retryAfterMs } from '../../src/connectors/protocols/http/client.js';
import { ConnectorError } from '../../src/core/errors.js';
import { readBody, startHttpServer, type TestServer } from '../helpers/http-server.js';

describe('HttpClient against a real server', () => {
  let server: TestServer;
  const seen: Array<{ path: string; auth: string | undefined; body: string }> = [];
  beforeAll(async () => {
    server = await startHttpServer(async (req, res) => {
      const body = await readBody(req);
      const path = req.url ?? '';
      seen.push({ path, auth: req.headers.authorization, body });
      if (path.startsWith('/ok')) {
        return res.end(JSON.stringify({ ok: true, echo: body ? (JSON.parse(body) as unknown) : null }));
      }
      if (path === '/limited') {
        res.writeHead(429, { 'retry-after': '7' });
        return res.end('{"detail":"slow down"}');
      }
      if (path === '/boom') {
        res.writeHead(500);
        return res.end('{"error":"RuntimeError","detail":"","body":"","errors":"CUDA out of memory"}');
      }
      if (path === '/bad') {
        res.writeHead(422);
        return res.end(
          '{"detail":[{"loc":["body","steps"],"msg":"value is not a valid integer","type":"type_error.integer"}]}',
        );
      }
      if (path === '/teapot') {
        res.writeHead(408);
        return res.end();
      }
      if (path === '/html') return res.end('<html>oops</html>');
      if (path === '/huge') return res.end(Buffer.alloc(2 * 1024 * 1024, 'a'));
      if (path === '/hang') return undefined; // never answers
      if (path === '/drop') return req.socket.destroy();
      res.writeHead(404);
      return res.end('Not Found');
    });
  });
  afterAll(async () => server.close());

  const client = (extra: Partial<ConstructorParameters<typeof HttpClient>[0]> = {}): HttpClient =>
    new HttpClient({ service: 'Fake', baseUrl: server.url, timeoutMs: 2000, ...extra });

  async function failure(promise: Promise<unknown>): Promise<ConnectorError> {
    try {
      await promise;
    } catch (error) {
      if (error instanceof ConnectorError) return error;
      throw error;
    }
    throw new Error('expected a failure');
  }

  test('API key wins and is sent as Bearer; else Basic; JSON goes both ways', async () => {
    await client({ auth: { apiKey: 'k-123', username: 'u', password: 'p' } }).json({
      path: '/ok/1',
      method: 'POST',
      json: { a: 1 },
    });
    await client({ auth: { username: 'u', password: 'p' } }).json({ path: '/ok/2' });
    const body = await client().json<{ echo: unknown }>({ path: '/ok/3', method: 'POST', json: { b: 2 } });
    expect(seen.find(s => s.path === '/ok/1')?.auth).toBe('Bearer k-123');
    expect(seen.find(s => s.path === '/ok/2')?.auth).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
    expect(seen.find(s => s.path === '/ok/3')?.auth).toBeUndefined();
    expect(body.echo).toEqual({ b: 2 });
  });

  test('statuses are classified once: 429 with Retry-After, 5xx, 4xx, 408', async () => {
    const limited = await failure(client().request({ path: '/limited' }));
    expect(limited).toMatchObject({ code: 'ERR_RATE_LIMITED', retryable: true, retryAfterMs: 7000 });
    const boom = await failure(client().request({ path: '/boom' }));
    expect(boom).toMatchObject({ code: 'ERR_SERVICE_UNAVAILABLE', retryable: true });
    expect(boom.message).toBe('Fake answered HTTP 500 to GET /boom: CUDA out of memory');
    const bad = await failure(client().request({ path: '/bad' }));
    expect(bad).toMatchObject({ code: 'ERR_SERVICE_REJECTED', retryable: false });
    expect(bad.message).toContain('body.steps: value is not a valid integer');
    expect(await failure(client().request({ path: '/teapot' }))).toMatchObject({
      code: 'ERR_SERVICE_TIMEOUT',
    });
    expect(await failure(client().request({ path: '/nothing' }))).toMatchObject({
      code: 'ERR_SERVICE_REJECTED',
    });
  });

  test('non-JSON and oversized bodies fail with ERR_PROTOCOL', async () => {
    const html = await failure(client().json({ path: '/html' }));
    expect(html.code).toBe('ERR_PROTOCOL');
    expect(html.message).toContain('not JSON: <html>oops</html>');
    const huge = await failure(client({ maxResponseBytes: 1024 * 1024 }).request({ path: '/huge' }));
    expect(huge.code).toBe('ERR_PROTOCOL');
    expect(huge.message).toContain('larger than 1048576 bytes');
  });

  test('a hanging service times out, a dropped connection and a closed port are unavailable', async () => {
    expect(await failure(client({ timeoutMs: 200 }).request({ path: '/hang' }))).toMatchObject({
      code: 'ERR_SERVICE_TIMEOUT',
    });
    expect(await failure(client().request({ path: '/drop' }))).toMatchObject({
      code: 'ERR_SERVICE_UNAVAILABLE',
    });
    const closed = new HttpClient({ service: 'Fake', baseUrl: 'http://127.0.0.1:1', timeoutMs: 2000 });
    const refused = await failure(closed.request({ path: '/' }));
    expect(refused.code).toBe('ERR_SERVICE_UNAVAILABLE');
    expect(refused.message).toContain('ECONNREFUSED');
  });

  test('the abort signal ends a request at once with its reason', async () => {
    const controller = new AbortController();
    const pending = client({ timeoutMs: 10_000 }).request({ path: '/hang', signal: controller.signal });
    setTimeout(() => controller.abort(new Error('cancelled: by test')), 50);
    await expect(pending).rejects.toThrow('cancelled: by test');
  });

  test('paths cannot leave the base URL', () => {
    for (const path of ['http://evil.example/x', '//evil.example/x', '/sdapi/../../etc', '../x']) {
      expect(() => client().url(path)).toThrow(/must be a relative path/);
    }
    expect(
      client({ baseUrl: `${server.url}/api/` })
        .url('/v1/x')
        .toString(),
    ).toBe(`${server.url}/api/v1/x`);
  });

  test('helpers read Retry-After and error envelopes', () => {
    expect(retryAfterMs('2.5')).toBe(2500);
    expect(retryAfterMs(undefined)).toBeUndefined();
    expect(errorDetail('{"error":"HTTPException","detail":"Sampler not found","body":"","errors":""}')).toBe(
      'Sampler not found',
    );
    expect(errorDetail('{"error":{"type":"no_prompt","message":"No prompt provided"}}')).toBe(
      'No prompt provided',
    );
  });
});
