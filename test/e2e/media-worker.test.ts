import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Queue } from 'bullmq';
import { FakeComfyUI } from '../fakes/comfyui/server.js';
import { solidPng } from '../fakes/comfyui/png.js';
import { spawnCli, startWorker, workerEnv, type WorkerProcess } from '../helpers/comfyui-process.js';
import { runCli } from '../helpers/cli.js';
import { REDIS_URL, deletePrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { waitForFinished } from '../helpers/runtime.js';
import { startPutServer, startS3, S3_SECRET, type PutServer, type S3Server } from '../helpers/stores.js';

/** A worker process (dist/) with an S3 output store: start-up checks, details, a job end to end, no secret in its output. */

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

describe('emp-worker with OUTPUT_STORE=s3', () => {
  let fake: FakeComfyUI;
  let s3: S3Server;
  let put: PutServer;
  const prefix = uniquePrefix('media');
  beforeAll(async () => {
    fake = new FakeComfyUI();
    await fake.start();
    s3 = await startS3();
    put = await startPutServer();
  });
  afterAll(async () => {
    await put.close();
    await s3.close();
    await fake.close();
    const redis = testRedis();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  test('a missing bucket stops start-up with one line naming the variable (exit 2)', async () => {
    const env = workerEnv(prefix, fake.port, { ...s3.env, OUTPUT_S3_BUCKET: '' });
    const run = spawnCli(['start'], env);
    expect(await run.exited).toBe(2);
    const problem = run.lines.filter(line => line.includes('OUTPUT_S3_BUCKET'));
    expect(problem).toHaveLength(1);
    expect(problem[0]).toContain(
      'OUTPUT_S3_BUCKET (media.output.s3.bucket): is required when OUTPUT_STORE=s3',
    );
    expect(run.lines.join('\n')).not.toContain(S3_SECRET);
  });

  test('a bad endpoint stops start-up naming OUTPUT_S3_ENDPOINT (exit 2)', async () => {
    const run = spawnCli(
      ['start'],
      workerEnv(prefix, fake.port, { ...s3.env, OUTPUT_S3_ENDPOINT: 'ftp://x' }),
    );
    expect(await run.exited).toBe(2);
    expect(run.lines.join('\n')).toMatch(
      /OUTPUT_S3_ENDPOINT="ftp:\/\/x" \(media\.output\.s3\.endpoint\): must start with http/,
    );
  });

  test('`details` shows the store and probes it; the secret is masked', async () => {
    const good = await runCli(['details', 'comfyui', '--json'], workerEnv(prefix, fake.port, s3.env));
    expect(good.code).toBe(0);
    // stdout only: the AWS SDK prints a Node-version notice on stderr under Node 20.
    const shown = JSON.parse(good.stdout) as {
      media: { output_store: string; probe: { ok: boolean; detail: string }; config: unknown };
    };
    expect(shown.media.output_store).toBe(`s3 bucket "emp-outputs" at ${s3.endpoint}`);
    expect(shown.media.probe).toEqual({
      ok: true,
      detail: `s3 bucket "emp-outputs" at ${s3.endpoint} answers HeadBucket`,
    });
    expect(good.output).not.toContain(S3_SECRET);

    const bad = spawnCli(
      ['details', 'comfyui'],
      workerEnv(prefix, fake.port, { ...s3.env, OUTPUT_S3_BUCKET: 'missing-bucket' }),
    );
    expect(await bad.exited).toBe(1);
    expect(bad.lines.join('\n')).toContain('output store: FAILING — s3 bucket "missing-bucket"');
    expect(bad.lines.join('\n')).toContain('no such bucket');
  });

  test('a ComfyUI job with an input image ends with its output in the bucket; debug logs carry no secret or signature', async () => {
    let worker: WorkerProcess | undefined;
    const queue = new Queue('comfyui', { connection: { url: REDIS_URL }, prefix });
    try {
      worker = await startWorker(
        workerEnv(prefix, fake.port, { ...s3.env, INPUT_ALLOW_PRIVATE_URLS: 'true', LOG_LEVEL: 'debug' }),
      );
      const input = solidPng(8, 8, 0x778899);
      const job = await queue.add('comfyui', {
        prompt: {
          '1': { class_type: 'LoadImage', inputs: { image: 'e2e.png' } },
          '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'e2e-media' } },
        },
        images: [{ name: 'e2e.png', image: input.toString('base64') }],
      });
      const done = await waitForFinished(queue, job.id ?? '');
      expect(done.failedReason).toBeUndefined();
      const file = (
        done.returnvalue as {
          output: {
            outputs: Record<string, { images: Array<{ key: string; sha256: string; url: string }> }>;
          };
        }
      ).output.outputs['2']?.images[0];
      if (!file) throw new Error('no output');
      expect(sha256(await s3.read(file.key))).toBe(file.sha256);
      const signature = new URL(file.url).searchParams.get('X-Amz-Signature') ?? '';
      expect(signature).not.toBe('');

      const putJob = await queue.add('comfyui', {
        prompt: {
          '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 3 } },
          '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'e2e-put' } },
        },
        upload_urls: [put.urlFor('e2e.png')],
      });
      const putDone = await waitForFinished(queue, putJob.id ?? '');
      expect(putDone.failedReason).toBeUndefined();
      expect(put.received.get('/uploads/e2e.png')).toBeDefined();

      const output = worker.lines.join('\n');
      expect(output).toContain('output store: s3 bucket \\"emp-outputs\\"');
      expect(output).not.toContain(S3_SECRET);
      expect(output).not.toContain(signature);
      expect(output).not.toContain(put.signatureOf('e2e.png'));
    } finally {
      await worker?.stop();
      await queue.close();
    }
  });
});
