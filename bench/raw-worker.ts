/**
 * The baseline of the runtime benchmark: a bare BullMQ worker with a no-op processor and
 * the same worker options emp-worker uses, so the ratio measures what emp-worker adds.
 * Usage: node dist/bench/raw-worker.js <redis url> <prefix> <queue> <concurrency>
 */
import { MetricsTime, Worker } from 'bullmq';
import { Redis } from 'ioredis';

const [url = 'redis://127.0.0.1:6379', prefix = 'bench', queue = 'simulation', concurrency = '1'] =
  process.argv.slice(2);
const connection = new Redis(url, { maxRetriesPerRequest: null });
const processor =
  process.env.RAW_SIGNAL === '1'
    ? async (_j: unknown, _t?: string, _s?: AbortSignal) => undefined
    : async () => undefined;
const worker = new Worker(queue, processor, {
  connection,
  prefix,
  concurrency: Number(concurrency),
  removeOnComplete: { age: 86400, count: 1_000_000 },
  removeOnFail: { age: 604800 },
  maxStalledCount: 2,
  metrics: { maxDataPoints: MetricsTime.ONE_WEEK },
});
await worker.waitUntilReady();
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void worker.close().then(() => process.exit(0));
});
