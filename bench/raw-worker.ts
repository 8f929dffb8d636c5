/**
 * The baselines of the runtime benchmark: a bare BullMQ worker with a no-op processor.
 * With no options JSON it runs on BullMQ's defaults (no metrics, completed jobs kept);
 * the options JSON adds worker options (e.g. emp-worker's metrics and removal policy), so
 * each choice can be measured on its own.
 * Usage: node dist/bench/raw-worker.js <redis url> <prefix> <queue> <concurrency> [options JSON]
 */
import { Worker, type WorkerOptions } from 'bullmq';
import { Redis } from 'ioredis';

const [
  url = 'redis://127.0.0.1:6379',
  prefix = 'bench',
  queue = 'simulation',
  concurrency = '1',
  optionsJson = '{}',
] = process.argv.slice(2);
const extra = JSON.parse(optionsJson) as Partial<WorkerOptions>;
const connection = new Redis(url, { maxRetriesPerRequest: null });
const worker = new Worker(queue, async () => undefined, {
  ...extra,
  connection,
  prefix,
  concurrency: Number(concurrency),
});
await worker.waitUntilReady();
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void worker.close().then(() => process.exit(0));
});
