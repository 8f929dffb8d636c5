import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A fake service listening on a real port. */
export interface ListeningServer {
  url: string;
  port: number;
  close(): Promise<void>;
  /**
   * Stops like a service shutting down gracefully: new connections are refused, idle
   * keep-alive connections closed, requests in flight answered and their connections closed.
   */
  stop(): Promise<void>;
}

/** Starts a node:http server on `port` (0 = any free port) on loopback. */
export async function listen(
  handler: http.RequestListener,
  port = 0,
  host = '127.0.0.1',
): Promise<ListeningServer> {
  let stopping = false;
  const server = http.createServer((req, res) => {
    // A stopped process answers nothing more, on old keep-alive connections either.
    if (stopping) return void req.socket.destroy();
    res.once('finish', () => {
      if (stopping) req.socket.destroy();
    });
    return handler(req, res);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    close: () =>
      new Promise<void>(resolve => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
    stop: async () => {
      stopping = true;
      server.close();
      server.closeIdleConnections();
    },
  };
}

/** Reads a request body as text. */
export async function readText(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Sends a JSON answer. */
export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Checks the Authorization header against a Bearer key or Basic user:password; true when no auth is set. */
export function authorised(
  req: http.IncomingMessage,
  auth: { apiKey?: string | undefined; username?: string | undefined; password?: string | undefined },
): boolean {
  const header = req.headers.authorization ?? '';
  if (auth.apiKey) return header === `Bearer ${auth.apiKey}`;
  if (auth.username || auth.password) {
    return (
      header === `Basic ${Buffer.from(`${auth.username ?? ''}:${auth.password ?? ''}`).toString('base64')}`
    );
  }
  return true;
}

/** Reads `--name value` or `--name=value` from argv, then env, then the default. */
export function option(argv: string[], name: string, envName: string, fallback: string): string {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === `--${name}`) return argv[i + 1] ?? fallback;
    if (arg.startsWith(`--${name}=`)) return arg.slice(name.length + 3);
  }
  return process.env[envName] ?? fallback;
}
