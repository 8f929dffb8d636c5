import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A real HTTP proxy on a free loopback port in front of a service (usually a test fake),
 * like a gateway a connector meets in production. It forwards requests and WebSocket
 * upgrades untouched until told to answer every HTTP request with one status itself
 * (a 4xx or 5xx from "the service"), so the contract suite can produce the failures it
 * classifies without each fake having a switch for them.
 */
export interface FaultProxy {
  /** Base URL of the proxy: give it to the connector instead of the service's. */
  readonly url: string;
  /**
   * From now on answer every HTTP request with `status` (a JSON body naming the injected
   * failure); `undefined` forwards again. WebSocket upgrades are always forwarded.
   */
  answerWith(status: number | undefined): void;
  close(): Promise<void>;
}

/** Starts a {@link FaultProxy} forwarding to `targetUrl` (http://host:port). */
export async function startFaultProxy(targetUrl: string): Promise<FaultProxy> {
  const target = new URL(targetUrl);
  const targetPort = Number(target.port || 80);
  let injected: number | undefined;
  const sockets = new Set<net.Socket>();

  const server = http.createServer((req, res) => {
    if (injected !== undefined) {
      req.resume();
      res.writeHead(injected, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ detail: `injected ${injected} from the fault proxy` }));
      return;
    }
    const upstream = http.request(
      {
        host: target.hostname,
        port: targetPort,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: target.host },
      },
      answer => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });

  server.on('upgrade', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const upstream = net.connect(targetPort, target.hostname, () => {
      const lines = [`${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = req.rawHeaders[i] ?? '';
        lines.push(`${name}: ${name.toLowerCase() === 'host' ? target.host : (req.rawHeaders[i + 1] ?? '')}`);
      }
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
  });
  server.on('connection', socket => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    answerWith(status) {
      injected = status;
    },
    close: () =>
      new Promise<void>(resolve => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A loopback URL on which nothing listens (a port taken and released): connections are refused. */
export async function refusedUrl(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>(resolve => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
