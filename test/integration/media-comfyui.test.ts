import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Job } from 'bullmq';
import { FakeComfyUI } from '../fakes/comfyui/server.js';
import { solidPng } from '../fakes/comfyui/png.js';
import { comfyWorkerEnv, sha256, viewBytes, type StoredEntry } from '../helpers/media.js';
import { testRedis } from '../helpers/redis.js';
import { startRuntime, type RuntimeHarness } from '../helpers/runtime.js';
import {
  startFileServer,
  startPutServer,
  startS3,
  S3_SECRET,
  type PutServer,
  type S3Server,
} from '../helpers/stores.js';

/** ComfyUI jobs through a real worker runtime, with inputs uploaded and outputs stored in an S3 server. */

type Output = { prompt_id: string; outputs: Record<string, { images: StoredEntry[] }> };
const outputOf = (job: Job): Output => (job.returnvalue as { output: Output }).output;

function loadAndSave(name: string, prefix: string): Record<string, unknown> {
  return {
    '1': { class_type: 'LoadImage', inputs: { image: name } },
    '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: prefix } },
  };
}

function noise(bytes: number, prefix: string): Record<string, unknown> {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 1 } },
    '2': { class_type: 'FakeSaveNoise', inputs: { images: ['1', 0], bytes, filename_prefix: prefix } },
  };
}

/** Prompts the fake accepted for a job (each POST /prompt is GPU work). */
function promptsOf(fake: FakeComfyUI, job: Job): number {
  const id = outputOf(job)?.prompt_id;
  return fake.acceptedPrompts.filter(p => p === id).length;
}

describe('ComfyUI with an S3 output store', () => {
  let fake: FakeComfyUI;
  let s3: S3Server;
  let harness: RuntimeHarness;
  beforeAll(async () => {
    fake = new FakeComfyUI();
    await fake.start();
    s3 = await startS3();
    harness = await startRuntime(comfyWorkerEnv(fake, { ...s3.env, INPUT_ALLOW_PRIVATE_URLS: 'true' }));
  });
  afterAll(async () => {
    await harness.close();
    await s3.close();
    await fake.close();
  });

  test('a base64 input is uploaded before queueing, LoadImage reads it, the output lands in the bucket', async () => {
    const input = solidPng(8, 8, 0x123456);
    const job = await harness.run('comfyui', {
      prompt: loadAndSave('in-b64.png', 'media-b64'),
      images: [{ name: 'in-b64.png', image: input.toString('base64') }],
    });
    expect(job.failedReason).toBeUndefined();
    expect(fake.uploads.find(u => u.name === 'in-b64.png')).toMatchObject({
      type: 'input',
      sha256: sha256(input),
    });
    expect(fake.inputsRead.map(r => r.sha256)).toContain(sha256(input));
    const uploadAt = fake.requests.findIndex(r => r.path === '/upload/image');
    const promptAt = fake.requests.findIndex(r => r.path === '/prompt' && r.method === 'POST');
    expect(uploadAt).toBeGreaterThanOrEqual(0);
    expect(uploadAt).toBeLessThan(promptAt);

    const file = outputOf(job).outputs['2']?.images[0];
    if (!file) throw new Error('no output file');
    expect(file).toMatchObject({ node: '2', mime: 'image/png', store: 's3', subfolder: '', type: 'output' });
    expect(file.key).toBe(`emp/comfyui/${job.id}/2-${file.filename}`);
    const view = await viewBytes(fake, file.filename);
    const stored = await s3.read(file.key ?? '');
    expect(sha256(stored)).toBe(sha256(view));
    expect(file.sha256).toBe(sha256(view));
    expect(file.size).toBe(view.length);
    // The presigned GET in the result serves the same bytes.
    const viaUrl = Buffer.from(await (await fetch(file.url)).arrayBuffer());
    expect(sha256(viaUrl)).toBe(file.sha256);
    expect(JSON.stringify(job.returnvalue)).not.toContain(S3_SECRET);
  });

  test('a data URL input and an http URL input are uploaded; each output is stored', async () => {
    const fromUrl = solidPng(4, 4, 0xabcdef);
    const files = await startFileServer({ '/in.png': { body: fromUrl, type: 'image/png' } });
    try {
      const inline = solidPng(4, 4, 0x00ff00);
      const job = await harness.run('comfyui', {
        workflow: {
          '1': { class_type: 'LoadImage', inputs: { image: 'data-url.png' } },
          '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'media-data' } },
          '3': { class_type: 'LoadImage', inputs: { image: 'by-url.png' } },
          '4': { class_type: 'SaveImage', inputs: { images: ['3', 0], filename_prefix: 'media-url' } },
        },
        images: [
          { name: 'data-url.png', image: `data:image/png;base64,${inline.toString('base64')}` },
          { name: 'by-url.png', image: files.url('/in.png') },
        ],
      });
      expect(job.failedReason).toBeUndefined();
      expect(fake.uploads.find(u => u.name === 'data-url.png')?.sha256).toBe(sha256(inline));
      expect(fake.uploads.find(u => u.name === 'by-url.png')?.sha256).toBe(sha256(fromUrl));
      const outputs = outputOf(job).outputs;
      for (const node of ['2', '4']) {
        const file = outputs[node]?.images[0];
        if (!file) throw new Error(`no output of node ${node}`);
        expect(sha256(await s3.read(file.key ?? ''))).toBe(sha256(await viewBytes(fake, file.filename)));
      }
    } finally {
      await files.close();
    }
  });

  test('20 jobs with 1 MB outputs leave no Redis value over 64 KB under the prefix', async () => {
    const jobs = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        harness.queue('comfyui').add('comfyui', { prompt: noise(1 << 20, `scan-${i}`) }),
      ),
    );
    const { waitForFinished } = await import('../helpers/runtime.js');
    for (const job of jobs) {
      const done = await waitForFinished(harness.queue('comfyui'), job.id ?? '', 60_000);
      expect(done.failedReason).toBeUndefined();
      expect(outputOf(done).outputs['2']?.images[0]?.size).toBe(1 << 20);
    }
    const redis = testRedis();
    try {
      let largest = 0;
      let largestKey = '';
      let scanned = 0;
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${harness.prefix}:*`, 'COUNT', 500);
        cursor = next;
        for (const key of keys) {
          scanned++;
          const type = await redis.type(key);
          let values: string[] = [];
          if (type === 'string') values = [(await redis.get(key)) ?? ''];
          else if (type === 'hash') values = await redis.hvals(key);
          else if (type === 'list') values = await redis.lrange(key, 0, -1);
          else if (type === 'set') values = await redis.smembers(key);
          else if (type === 'zset') values = await redis.zrange(key, 0, -1);
          else if (type === 'stream') {
            const entries = await redis.xrange(key, '-', '+');
            values = entries.flatMap(([, fields]) => fields);
          }
          for (const value of values) {
            const size = Buffer.byteLength(value);
            if (size > largest) {
              largest = size;
              largestKey = key;
            }
          }
        }
      } while (cursor !== '0');
      expect(scanned).toBeGreaterThan(20);
      expect({ largest, largestKey }).toEqual({
        largest: expect.any(Number),
        largestKey: expect.any(String),
      });
      expect(largest).toBeLessThan(64 * 1024);
    } finally {
      await redis.quit();
    }
  });
});

describe('ComfyUI with per-job presigned PUT URLs', () => {
  let fake: FakeComfyUI;
  let put: PutServer;
  let harness: RuntimeHarness;
  beforeAll(async () => {
    fake = new FakeComfyUI();
    await fake.start();
    put = await startPutServer();
    harness = await startRuntime(comfyWorkerEnv(fake, { INPUT_ALLOW_PRIVATE_URLS: 'true' }));
  });
  afterAll(async () => {
    await harness.close();
    await put.close();
    await fake.close();
  });

  test('outputs are PUT in node order with their length; the result names no signature', async () => {
    const job = await harness.run('comfyui', {
      prompt: {
        '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 2, color: 5 } },
        '10': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'put-ten' } },
        '9': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'put-nine' } },
      },
      upload_urls: ['a.png', 'b.png', 'c.png', 'd.png'].map(name => put.urlFor(name)),
    });
    expect(job.failedReason).toBeUndefined();
    const outputs = outputOf(job).outputs;
    // Node 9 before node 10 (numeric order), each node's files in ComfyUI's order.
    const order = [
      outputs['9']?.images[0],
      outputs['9']?.images[1],
      outputs['10']?.images[0],
      outputs['10']?.images[1],
    ];
    for (const [index, name] of ['a.png', 'b.png', 'c.png', 'd.png'].entries()) {
      const file = order[index];
      if (!file) throw new Error(`missing output ${index}`);
      const received = put.received.get(`/uploads/${name}`);
      expect(received?.sha256).toBe(sha256(await viewBytes(fake, file.filename)));
      expect(received?.contentLength).toBe(String(received?.size));
      expect(received?.contentType).toBe('image/png');
      expect(file).toMatchObject({
        store: 'put',
        sha256: received?.sha256,
        url: expect.stringContaining(`/uploads/${name}`),
      });
      expect(file.key).toBeUndefined();
    }
    const text =
      JSON.stringify(job.returnvalue) +
      JSON.stringify(await harness.queue('comfyui').getJobLogs(job.id ?? ''));
    for (const name of ['a.png', 'b.png', 'c.png', 'd.png']) {
      expect(text).not.toContain(put.signatureOf(name));
    }
  });

  test('a failed upload (HTTP 503) is retried without running the prompt again', async () => {
    put.failNext(503);
    const job = await harness.run(
      'comfyui',
      { prompt: noise(4096, 'retry-put'), upload_urls: [put.urlFor('retry.png')] },
      { attempts: 2 },
    );
    expect(await job.getState()).toBe('completed');
    expect(job.failedReason).toMatch(/upload_urls entry 0 .* answered HTTP 503/);
    expect(job.attemptsMade).toBe(2);
    expect(promptsOf(fake, job)).toBe(1);
    const file = outputOf(job).outputs['2']?.images[0];
    expect(put.received.get('/uploads/retry.png')?.sha256).toBe(file?.sha256);
    const logs = (await harness.queue('comfyui').getJobLogs(job.id ?? '')).logs.join('\n');
    expect(logs).toMatch(/re-attached to ComfyUI prompt_id .* already finished/);
  });

  test('an upload URL answering 403 fails without retry, naming the entry but not the signature', async () => {
    const url = put.urlFor('denied.png').replace(/sig=[0-9a-f]+/, 'sig=0000');
    const job = await harness.run(
      'comfyui',
      { prompt: noise(1024, 'denied'), upload_urls: [url] },
      { attempts: 3 },
    );
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toMatch(
      /^ERR_SERVICE_REJECTED: upload to upload_urls entry 0 \(http:\/\/127\.0\.0\.1:\d+\/uploads\/denied\.png\?…\) answered HTTP 403 SignatureDoesNotMatch/,
    );
    expect(job.failedReason).not.toContain('sig=');
  });
});

describe('ComfyUI with an S3 store that fails', () => {
  let fake: FakeComfyUI;
  let s3: S3Server;
  beforeAll(async () => {
    fake = new FakeComfyUI();
    await fake.start();
    s3 = await startS3('emp-real-bucket');
  });
  afterAll(async () => {
    await s3.close();
    await fake.close();
  });

  test('a bucket that does not exist fails at once, naming the bucket; no secret in the reason or logs', async () => {
    const harness = await startRuntime(
      comfyWorkerEnv(fake, { ...s3.env, OUTPUT_S3_BUCKET: 'no-such-bucket' }),
    );
    try {
      const job = await harness.run('comfyui', { prompt: noise(1024, 'nobucket') }, { attempts: 3 });
      expect(job.attemptsMade).toBe(1);
      expect(job.failedReason).toMatch(
        /^ERR_SERVICE_REJECTED: output store bucket "no-such-bucket": HTTP 404 NoSuchBucket/,
      );
      const logs = await harness.queue('comfyui').getJobLogs(job.id ?? '');
      expect(JSON.stringify(logs) + (job.failedReason ?? '')).not.toContain(S3_SECRET);
    } finally {
      await harness.close();
    }
  });

  test('a store that is down is retryable, and the retry re-attaches instead of running the prompt again', async () => {
    const dead = await startFileServer({});
    const deadEndpoint = dead.url('');
    await dead.close();
    const harness = await startRuntime(comfyWorkerEnv(fake, { ...s3.env, OUTPUT_S3_ENDPOINT: deadEndpoint }));
    try {
      const job = await harness.run('comfyui', { prompt: noise(1024, 'down') }, { attempts: 2 });
      expect(job.attemptsMade).toBe(2);
      expect(job.failedReason).toMatch(/^ERR_SERVICE_UNAVAILABLE: output store bucket "emp-real-bucket"/);
      const logs = (await harness.queue('comfyui').getJobLogs(job.id ?? '')).logs.join('\n');
      const promptId = /ComfyUI prompt_id (\S+)/.exec(logs)?.[1] ?? '';
      expect(fake.acceptedPrompts.filter(p => p === promptId)).toHaveLength(1);
      expect(logs).toMatch(/re-attached to ComfyUI prompt_id .* already finished/);
    } finally {
      await harness.close();
    }
  });
});
