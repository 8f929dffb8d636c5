import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'winston';
import type { WorkerMetrics } from './metrics.js';
import { describeError } from '../logging/errors.js';

/** What /healthz and /readyz report. */
export interface Readiness {
  ready: boolean;
  detail: Record<string, unknown>;
}

/** Serves /healthz (alive), /readyz (Redis up, services healthy, not stopping) and /metrics. */
export async function startHttpServer(
  port: number,
  host: string,
  metrics: WorkerMetrics,
  readiness: () => Readiness,
  logger: Logger,
): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: string, type = 'application/json'): void => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, '{"error":"method not allowed"}');
    if (path === '/healthz') {
      return send(200, JSON.stringify({ status: 'ok', uptime_s: Math.round(process.uptime()) }));
    }
    if (path === '/readyz') {
      const state = readiness();
      return send(state.ready ? 200 : 503, JSON.stringify({ ready: state.ready, ...state.detail }));
    }
    if (path === '/metrics') {
      metrics.registry
        .metrics()
        .then(text => send(200, text, metrics.registry.contentType))
        .catch((error: unknown) => {
          logger.warn('metrics collection failed', { error: describeError(error) });
          send(500, '{"error":"metrics collection failed"}');
        });
      return;
    }
    send(404, '{"error":"not found","routes":["/healthz","/readyz","/metrics"]}');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  logger.info(
    `health and metrics on http://${host.includes(':') ? `[${host}]` : host}:${address.port} (/healthz /readyz /metrics)`,
    { port: address.port, host },
  );
  return server;
}
