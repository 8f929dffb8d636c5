/**
 * Runs inside a private network namespace (see test/e2e/media-guard.test.ts) where
 * the loopback interface also carries 203.0.113.10, an address the SSRF guard treats as
 * public. It serves from both addresses and reports what the worker's fetch and upload
 * helpers do with each URL, without the private-address opt-in, as JSON on stdout.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fetchUrl, readAllCapped } from '../../src/net/fetch.js';
import { putToUrl } from '../../src/media/stores/put.js';

const PUBLIC = '203.0.113.10';
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 1, 2, 3]);

async function serve(host: string, handler: http.RequestListener): Promise<http.Server & { url: string }> {
  const server = http.createServer(handler);
  await new Promise<void>(resolve => server.listen(0, host, resolve));
  return Object.assign(server, { url: `http://${host}:${(server.address() as AddressInfo).port}` });
}

const hits: string[] = [];
const privateServer = await serve('127.0.0.1', (req, res) => {
  hits.push(`private ${req.method ?? ''} ${req.url ?? ''}`);
  res.writeHead(200, { 'content-type': 'image/png' }).end(PNG);
});
const privatePort = (privateServer.address() as AddressInfo).port;
const publicServer = await serve(PUBLIC, (req, res) => {
  const path = req.url ?? '/';
  if (path === '/ok') return void res.writeHead(200, { 'content-type': 'image/png' }).end(PNG);
  if (path === '/to-private') {
    return void res.writeHead(302, { location: `http://127.0.0.1:${privatePort}/secret` }).end();
  }
  if (path === '/to-localhost') {
    return void res.writeHead(307, { location: `http://localhost:${privatePort}/secret` }).end();
  }
  if (path === '/to-metadata') {
    return void res.writeHead(301, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
  }
  if (path === '/to-public') return void res.writeHead(302, { location: '/ok' }).end();
  res.writeHead(404).end();
});

const options = { allowPrivate: false, maxBytes: 1024, timeoutMs: 5000, what: 'image "probe.png"' };
async function attempt(url: string): Promise<string> {
  try {
    const fetched = await fetchUrl(url, options);
    return `ok ${(await readAllCapped(fetched.body)).length}`;
  } catch (error) {
    return `${(error as { code?: string }).code ?? 'error'}: ${(error as Error).message}`;
  }
}

const results: Record<string, string> = {
  public: await attempt(`${publicServer.url}/ok`),
  publicRedirect: await attempt(`${publicServer.url}/to-public`),
  loopback: await attempt(`${privateServer.url}/secret`),
  redirectToPrivate: await attempt(`${publicServer.url}/to-private`),
  redirectToLocalhost: await attempt(`${publicServer.url}/to-localhost`),
  redirectToMetadata: await attempt(`${publicServer.url}/to-metadata`),
};
try {
  await putToUrl(`http://localhost:${privatePort}/upload?sig=abc`, Buffer.from('x'), {
    size: 1,
    mime: 'image/png',
    what: 'upload_urls entry 0',
    signal: new AbortController().signal,
    guard: { allowPrivate: false },
  });
  results.putToLocalhost = 'ok';
} catch (error) {
  results.putToLocalhost = `${(error as { code?: string }).code ?? 'error'}: ${(error as Error).message}`;
}
results.privateHits = hits.join(',');
process.stdout.write(`${JSON.stringify(results)}\n`);
publicServer.close();
privateServer.close();
