import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A real HTTP server on port 0 for tests; `url` is its base URL. */
export interface TestServer {
  url: string;
  port: number;
  server: http.Server;
  close(): Promise<void>;
}

/** Starts `handler` on a free loopback port. */
export async function startHttpServer(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => unknown,
): Promise<TestServer> {
  const server = http.createServer((req, res) => {
    // Handlers may be async; a throw must not leave the request hanging.
    Promise.resolve(handler(req, res)).catch((error: unknown) => {
      res.statusCode = 500;
      res.end(String(error));
    });
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    close: () =>
      new Promise<void>(resolve => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Reads a request body as text. */
export async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
