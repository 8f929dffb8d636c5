/**
 * Webhook delivery latency (npm run bench:webhooks): a real emp-worker process (simulation
 * connector, concurrency 50, WEBHOOK_SECRET set) runs 1,000 jobs that each ask for a
 * webhook; a receiver on loopback verifies each signature with `standardwebhooks` and
 * records when it arrived. Latency = arrival − the job's `finishedOn` (same machine clock).
 * Two load shapes: 1,000 jobs added at once (burst) and 100 jobs/s (paced). Prints markdown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { deletePrefix } from '../test/helpers/redis.js';
import { median } from './stats.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const JOBS = 1000;

interface Receiver {
  url: string;
  arrivals: Map<string, number>;
  invalid: number;
  close(): Promise<void>;
}

async function startReceiver(secret: string): Promise<Receiver> {
  const verifier = new Webhook(secret);
  const arrivals = new Map<string, number>();
  const receiver = { arrivals, invalid: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const at = Date.now();
      try {
        const body = verifier.verify(
          Buffer.concat(chunks).toString('utf8'),
          req.headers as Record<string, string>,
        ) as {
          data: { jobId: string };
        };
        if (!arrivals.has(body.data.jobId)) arrivals.set(body.data.jobId, at);
      } catch {
        receiver.invalid++;
      }
      res.end('ok');
    });
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    ...receiver,
    get invalid() {
      return receiver.invalid;
    },
    url: `http://127.0.0.1:${port}/hook`,
    close: () =>
      new Promise<void>(resolve => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function startWorker(prefix: string, secret: string): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(process.execPath, [path.join(root, 'bin/emp-worker.js'), 'start'], {
    env: {
      PATH: process.env.PATH,
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      NODE_ENV: 'production',
      LOG_FORMAT: 'json',
      CONNECTORS: 'simulation',
      WORKER_SIMULATION_CONCURRENCY: '50',
      WEBHOOK_SECRET: secret,
      WEBHOOK_ALLOW_PRIVATE_URLS: 'true',
      WEBHOOK_CONCURRENCY: '50',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      text += chunk.toString();
      if (/"message":"worker \S+ ready"/.test(text)) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', code => reject(new Error(`worker exited (${code}):\n${text}`)));
  });
  return { child, ready };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

async function run(
  shape: 'burst' | 'paced',
  redis: Redis,
): Promise<{ p50: number; p95: number; max: number }> {
  const prefix = `bench-wh-${randomUUID().slice(0, 6)}`;
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  const receiver = await startReceiver(secret);
  const worker = startWorker(prefix, secret);
  const queue = new Queue('simulation', { connection: { url: REDIS_URL }, prefix });
  try {
    await worker.ready;
    const data = { steps: 1, duration_ms: 0, webhook: { url: receiver.url } };
    const ids: string[] = [];
    if (shape === 'burst') {
      const jobs = await queue.addBulk(Array.from({ length: JOBS }, () => ({ name: 'simulation', data })));
      ids.push(...jobs.map(job => job.id ?? ''));
    } else {
      for (let i = 0; i < JOBS; i++) {
        ids.push((await queue.add('simulation', data)).id ?? '');
        await new Promise(resolve => setTimeout(resolve, 10));
      }
    }
    const deadline = Date.now() + 120_000;
    while (receiver.arrivals.size < JOBS) {
      if (Date.now() > deadline) {
        throw new Error(`only ${receiver.arrivals.size} of ${JOBS} webhooks arrived`);
      }
      await new Promise(resolve => setTimeout(resolve, 50));
    }
    if (receiver.invalid > 0) throw new Error(`${receiver.invalid} webhooks failed verification`);
    const latencies: number[] = [];
    for (const id of ids) {
      const finishedOn = Number(await redis.hget(`${prefix}:simulation:${id}`, 'finishedOn'));
      latencies.push((receiver.arrivals.get(id) ?? 0) - finishedOn);
    }
    latencies.sort((a, b) => a - b);
    return { p50: percentile(latencies, 50), p95: percentile(latencies, 95), max: latencies.at(-1) ?? 0 };
  } finally {
    worker.child.kill('SIGTERM');
    await new Promise(resolve => worker.child.once('exit', resolve));
    await queue.close();
    await receiver.close();
    await deletePrefix(redis, prefix);
  }
}

async function main(): Promise<void> {
  const redis = new Redis(REDIS_URL);
  const rows: string[] = [];
  for (const shape of ['burst', 'paced'] as const) {
    const results = [];
    for (let i = 0; i < RUNS; i++) results.push(await run(shape, redis));
    rows.push(
      `| ${shape === 'burst' ? '1,000 added at once' : '1,000 at 100 jobs/s'} | ${median(results.map(r => r.p50))} | ${median(results.map(r => r.p95))} | ${median(results.map(r => r.max))} | ${results.map(r => `${r.p50}/${r.p95}/${r.max}`).join(', ')} |`,
    );
  }
  await redis.quit();
  process.stdout.write(
    [
      `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, Node ${process.version}, median of ${RUNS} runs.`,
      '',
      '| load | p50 ms | p95 ms | max ms | runs (p50/p95/max) |',
      '|---|---|---|---|---|',
      ...rows,
      '',
    ].join('\n'),
  );
}

await main();
