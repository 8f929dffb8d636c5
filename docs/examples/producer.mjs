// A Node producer for emp-worker: enqueue a job, follow its progress, print its result.
// Run: REDIS_URL=redis://127.0.0.1:6379 QUEUE_PREFIX=bull node docs/examples/producer.mjs
import { Queue, QueueEvents } from 'bullmq';

const connection = { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' };
const prefix = process.env.QUEUE_PREFIX ?? 'bull'; // the worker's QUEUE_PREFIX
const queue = new Queue('simulation', { connection, prefix });
const events = new QueueEvents('simulation', { connection, prefix });

try {
  await events.waitUntilReady(); // listen before adding, so no event is missed
  const job = await queue.add(
    'simulation', // the queue name is the connector's job type; the job name is free
    { steps: 3, duration_ms: 600, result: { image: 's3://bucket/cat.png' } },
    { attempts: 3, backoff: { type: 'exponential', delay: 5000 } },
  );
  console.log(`enqueued job ${job.id}`);
  events.on('progress', ({ jobId, data }) => {
    if (jobId === job.id) console.log(`progress ${data.progress}% ${data.status}: ${data.message}`);
  });
  const result = await job.waitUntilFinished(events, 120_000);
  console.log(`completed: ${JSON.stringify(result.output)}`);
} catch (error) {
  // A failed job rejects with its failure reason, "<ERR_CODE>: <message>".
  console.error(`failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await events.close();
  await queue.close();
}
