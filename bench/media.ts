/**
 * `npm run bench:media`: media through one real worker process (`bin/emp-worker.js start`,
 * OUTPUT_STORE=s3) against the fake ComfyUI (in this process) and an S3-protocol server
 * (s3rver, in a process of its own: bench/s3-server.ts, so the worker and the baseline both
 * reach it across processes).
 *
 * 1. Outputs: BENCH_JOBS ComfyUI jobs, each producing one BENCH_FILE_BYTES file (random
 *    bytes, so nothing compresses), streamed from /view into the bucket. The worker's RSS
 *    is sampled from /proc every 50 ms (peak, and after ¼, ½ and all of the jobs).
 *    Throughput side by side, in the same run: before each job, a file of the same size is
 *    uploaded by the AWS client alone (lib-storage `Upload`, same part size, from a stream)
 *    — bytes ÷ summed upload time — against the worker's output path: bytes ÷ summed time
 *    from ComfyUI finishing the prompt (the fake's clock) to the job completing, which holds
 *    the /history read, the /view download, hashing, the upload and BullMQ's completion.
 *    Bytes ÷ whole job time (processedOn → finishedOn) is shown too.
 * 2. Inputs: BENCH_JOBS jobs each with one BENCH_FILE_BYTES input image by URL (a local
 *    HTTP server), streamed into ComfyUI's /upload/image; RSS sampled the same way.
 *
 * Env: BENCH_JOBS (100), BENCH_FILE_BYTES (8 MiB), BENCH_ROUNDS (3: each round runs the
 * AWS-client batch and the worker batch back to back), REDIS_URL.
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Queue, QueueEvents } from 'bullmq';
import { FakeComfyUI } from '../test/fakes/comfyui/server.js';
import { s3TestClient, s3WorkerEnv } from '../test/helpers/stores.js';
import {
  cleanup,
  freePort,
  mb,
  median,
  metric,
  REDIS_URL,
  round,
  rssOf,
  sampleRss,
  sleep,
  startWorker,
} from './worker-process.js';

const JOBS = Number(process.env.BENCH_JOBS ?? 100);
const FILE_BYTES = Number(process.env.BENCH_FILE_BYTES ?? 8 * 1024 * 1024);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BUCKET = 'bench-media';
/** The worker's S3 part size (src/media/stores/s3.ts), so the baseline uploads the same way. */
const PART_SIZE = 5 * 1024 * 1024;

interface S3Process {
  endpoint: string;
  client: S3Client;
  env: Record<string, string>;
  close(): Promise<void>;
}

/** s3rver in its own process (bench/s3-server.ts), with a client for the baseline. */
async function startS3Process(): Promise<S3Process> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-s3rver-'));
  const child = spawn(process.execPath, [path.join(import.meta.dirname, 's3-server.js'), directory, BUCKET], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      const match = /listening (\d+)/.exec(chunk.toString());
      if (match?.[1]) resolve(Number(match[1]));
    });
    child.once('exit', code => reject(new Error(`s3 server exited with ${code}`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const client = s3TestClient(endpoint);
  return {
    endpoint,
    client,
    env: s3WorkerEnv(endpoint, BUCKET),
    async close() {
      client.destroy();
      const exited = new Promise(resolve => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** The AWS client alone: one FILE_BYTES file, generated first (not timed), then streamed up; returns seconds. */
async function baselineUpload(s3: S3Process, key: string): Promise<number> {
  const bytes = randomBytes(FILE_BYTES);
  const started = process.hrtime.bigint();
  await new Upload({
    client: s3.client,
    params: {
      Bucket: BUCKET,
      Key: key,
      Body: Readable.from([bytes]),
      ContentLength: bytes.length,
      ContentType: 'image/png',
    },
    partSize: PART_SIZE,
    queueSize: 2,
  }).done();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

interface Batch {
  seconds: number;
  /** Summed time from ComfyUI finishing the prompt (the fake's own clock) to the job's completion. */
  outputSeconds: number;
  rssPeak: number;
  rssAt: Record<string, number>;
  rssIdle: number;
  rssEnd: number;
  /** V8 heap in use after the batch (the worker's /metrics): what it keeps, apart from GC slack. */
  heapEnd: number;
}

/**
 * Runs JOBS jobs one after another (the worker's ComfyUI concurrency is 1), calling
 * `beforeEach` first for each (the baseline's upload of the same size, so both are measured in
 * the same seconds of a machine whose load moves); records RSS after ¼, ½ and all of them.
 */
async function runBatch(
  fake: FakeComfyUI,
  queue: Queue,
  events: QueueEvents,
  pid: number,
  metricsPort: string,
  data: (index: number) => unknown,
  beforeEach?: (index: number) => Promise<void>,
): Promise<Batch> {
  const rss = sampleRss(pid);
  const rssIdle = rssOf(pid);
  const rssAt: Record<string, number> = {};
  const checkpoints = new Set([Math.round(JOBS / 4), Math.round(JOBS / 2), JOBS]);
  let seconds = 0;
  let outputSeconds = 0;
  try {
    for (let i = 0; i < JOBS; i++) {
      await beforeEach?.(i);
      const job = await queue.add(queue.name, data(i));
      await job.waitUntilFinished(events, 600_000);
      const finished = await queue.getJob(job.id ?? '');
      if (!finished?.processedOn || !finished.finishedOn) throw new Error(`job ${job.id} has no timestamps`);
      seconds += (finished.finishedOn - finished.processedOn) / 1000;
      const promptId = (finished.returnvalue as { output?: { prompt_id?: string } }).output?.prompt_id ?? '';
      const ended = fake.timings.get(promptId)?.ended;
      if (ended !== undefined) outputSeconds += (finished.finishedOn - ended) / 1000;
      if (checkpoints.has(i + 1)) rssAt[`after_${i + 1}`] = mb(rssOf(pid));
    }
    await sleep(1000);
    return {
      seconds,
      outputSeconds,
      rssPeak: mb(Math.max(...rss.samples)),
      rssAt,
      rssIdle: mb(rssIdle),
      rssEnd: mb(rssOf(pid)),
      heapEnd: mb((await metric(metricsPort, 'emp_process_nodejs_heap_size_used_bytes')) ?? 0),
    };
  } finally {
    rss.stop();
  }
}

async function main(): Promise<void> {
  process.stdout.write(
    `machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}, load ${os
      .loadavg()
      .map(l => l.toFixed(2))
      .join(' ')}; ${JOBS} jobs × ${mb(FILE_BYTES)} MB, ${ROUNDS} round(s)\n`,
  );
  const fake = new FakeComfyUI({ maxFiles: 8 });
  await fake.start();
  const s3 = await startS3Process();
  const input = randomBytes(FILE_BYTES);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(input);
  const inputs = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': input.length }).end(input);
  });
  await new Promise<void>(resolve => inputs.listen(0, '127.0.0.1', resolve));
  const inputUrl = `http://127.0.0.1:${(inputs.address() as AddressInfo).port}`;

  const prefix = `bench-media-${randomUUID().slice(0, 8)}`;
  const port = String(await freePort());
  const worker = await startWorker({
    QUEUE_PREFIX: prefix,
    CONNECTORS: 'comfyui',
    WORKER_HTTP_PORT: port,
    WORKER_COMFYUI_HOST: '127.0.0.1',
    WORKER_COMFYUI_PORT: String(fake.port),
    ...s3.env,
    INPUT_ALLOW_PRIVATE_URLS: 'true',
    INPUT_MAX_BYTES: String(FILE_BYTES * 2),
    WORKER_KEEP_COMPLETED_COUNT: String(JOBS * 2),
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...(process.env.BENCH_LOG_LEVEL ? { LOG_LEVEL: process.env.BENCH_LOG_LEVEL } : {}),
  });
  const queue = new Queue('comfyui', { connection: { url: REDIS_URL }, prefix });
  const events = new QueueEvents('comfyui', { connection: { url: REDIS_URL }, prefix });
  await events.waitUntilReady();
  const pid = worker.child.pid ?? 0;
  const ratios: number[] = [];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      let baselineSeconds = 0;
      const outputs = await runBatch(
        fake,
        queue,
        events,
        pid,
        port,
        i => ({
          prompt: {
            '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: i } },
            '2': {
              class_type: 'FakeSaveNoise',
              inputs: { images: ['1', 0], bytes: FILE_BYTES, filename_prefix: `r${round}-${i}` },
            },
          },
        }),
        async i => {
          baselineSeconds += await baselineUpload(s3, `baseline/${round}/${i}.png`);
        },
      );
      const baselineMbps = mb(JOBS * FILE_BYTES) / baselineSeconds;
      const workerMbps = mb(JOBS * FILE_BYTES) / outputs.outputSeconds;
      const jobMbps = mb(JOBS * FILE_BYTES) / outputs.seconds;
      ratios.push(workerMbps / baselineMbps);
      process.stdout.write(
        `round ${round} outputs: ${JSON.stringify({
          aws_client_alone_mb_s: roundTo(baselineMbps),
          worker_output_path_mb_s: roundTo(workerMbps),
          ratio: roundTo(workerMbps / baselineMbps, 2),
          worker_whole_job_mb_s: roundTo(jobMbps),
          rss_idle_mb: outputs.rssIdle,
          rss_peak_mb: outputs.rssPeak,
          rss_after_mb: outputs.rssAt,
          rss_end_mb: outputs.rssEnd,
          heap_used_end_mb: outputs.heapEnd,
        })}\n`,
      );
      const inputsBatch = await runBatch(fake, queue, events, pid, port, i => ({
        prompt: {
          '1': { class_type: 'LoadImage', inputs: { image: `in-${round}-${i}.png` } },
          '2': {
            class_type: 'SaveImage',
            inputs: { images: ['1', 0], filename_prefix: `in-${round}-${i}` },
          },
        },
        images: [{ name: `in-${round}-${i}.png`, image: `${inputUrl}/in-${i}.png` }],
      }));
      process.stdout.write(
        `round ${round} inputs: ${JSON.stringify({
          input_mb_s: roundTo(mb(JOBS * FILE_BYTES) / inputsBatch.seconds),
          rss_idle_mb: inputsBatch.rssIdle,
          rss_peak_mb: inputsBatch.rssPeak,
          rss_after_mb: inputsBatch.rssAt,
          rss_end_mb: inputsBatch.rssEnd,
          heap_used_end_mb: inputsBatch.heapEnd,
        })}\n`,
      );
    }
    process.stdout.write(
      `median throughput ratio (worker ÷ AWS client alone): ${roundTo(median(ratios), 2)}\n`,
    );
  } finally {
    if (process.env.BENCH_LOG_LEVEL) process.stdout.write(worker.log());
    await events.close();
    await queue.close();
    await worker.stop();
    await cleanup(prefix);
    inputs.close();
    await s3.close();
    await fake.close();
  }
}

function roundTo(value: number, digits = 1): number {
  return round(value, digits);
}

await main();
