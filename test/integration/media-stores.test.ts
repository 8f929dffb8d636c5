import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Job } from 'bullmq';
import { FakeComfyUI } from '../fakes/comfyui/server.js';
import { solidPng } from '../fakes/comfyui/png.js';
import { startFakeA1111, type FakeA1111Server } from '../fakes/a1111/server.js';
import { Media } from '../../src/media/media.js';
import { comfyConnector } from '../helpers/comfyui.js';
import { testContext } from '../helpers/job-context.js';
import { comfyWorkerEnv, sha256, testMediaConfig, viewBytes, type StoredEntry } from '../helpers/media.js';
import { startRuntime, type RuntimeHarness } from '../helpers/runtime.js';
import {
  AZURE_ACCOUNT_KEY,
  startAzurite,
  startFileServer,
  startPutServer,
  startS3,
  type AzureServer,
  type FileServer,
  type PutServer,
  type S3Server,
} from '../helpers/stores.js';

/** Every output store (file, azure via azurite, s3 via s3rver, per-job PUT) for ComfyUI and A1111. */

type ComfyOutput = { prompt_id: string; outputs: Record<string, { images: StoredEntry[] }> };
const comfyOutput = (job: Job): ComfyOutput => (job.returnvalue as { output: ComfyOutput }).output;
type A1111Output = { images: StoredEntry[]; parameters: Record<string, unknown>; info: unknown };
const a1111Output = (job: Job): A1111Output => (job.returnvalue as { output: A1111Output }).output;

const saveImage = (prefix: string, color: number) => ({
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color } },
  '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: prefix } },
});

describe('file store', () => {
  let fake: FakeComfyUI;
  let dir: string;
  let harness: RuntimeHarness;
  beforeAll(async () => {
    fake = new FakeComfyUI();
    await fake.start();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emp-file-store-'));
    harness = await startRuntime(
      comfyWorkerEnv(fake, { OUTPUT_STORE: 'file', OUTPUT_FILE_DIR: dir, OUTPUT_PREFIX: 'out/' }),
    );
  });
  afterAll(async () => {
    await harness.close();
    await fake.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('ComfyUI outputs are written under <dir>/<prefix><queue>/<job id>/ with a file:// URL', async () => {
    const job = await harness.run('comfyui', { prompt: saveImage('file-store', 0x111111) });
    expect(job.failedReason).toBeUndefined();
    const file = comfyOutput(job).outputs['2']?.images[0];
    if (!file) throw new Error('no output');
    expect(file.key).toBe(`out/comfyui/${job.id}/2-${file.filename}`);
    expect(file.store).toBe('file');
    const onDisk = fs.readFileSync(fileURLToPath(file.url));
    expect(fileURLToPath(file.url)).toBe(path.join(dir, file.key ?? ''));
    expect(sha256(onDisk)).toBe(sha256(await viewBytes(fake, file.filename)));
    expect(file.sha256).toBe(sha256(onDisk));
    // Written to a temporary name and renamed: nothing half-written is left behind.
    expect(
      fs.readdirSync(path.dirname(fileURLToPath(file.url))).filter(name => name.endsWith('.part')),
    ).toEqual([]);
  });
});

describe('azure store (azurite)', () => {
  let fake: FakeComfyUI;
  let azure: AzureServer;
  let a1111: FakeA1111Server;
  let harness: RuntimeHarness;
  beforeAll(async () => {
    fake = new FakeComfyUI();
    await fake.start();
    azure = await startAzurite();
    a1111 = await startFakeA1111({ stepMs: 1 });
    harness = await startRuntime({
      ...comfyWorkerEnv(fake, { ...azure.env, INPUT_ALLOW_PRIVATE_URLS: 'true' }),
      CONNECTORS: 'comfyui,a1111',
      WORKER_A1111_BASE_URL: a1111.url,
    });
  });
  afterAll(async () => {
    await harness.close();
    await a1111.close();
    await azure.close();
    await fake.close();
  });

  test('ComfyUI outputs become blobs; the SAS URL in the result serves the same bytes', async () => {
    const job = await harness.run('comfyui', { prompt: saveImage('azure-store', 0x222222) });
    expect(job.failedReason).toBeUndefined();
    const file = comfyOutput(job).outputs['2']?.images[0];
    if (!file) throw new Error('no output');
    expect(file.store).toBe('azure');
    const view = await viewBytes(fake, file.filename);
    expect(sha256(await azure.read(file.key ?? ''))).toBe(sha256(view));
    expect(file.url).toMatch(/sig=/);
    expect(sha256(Buffer.from(await (await fetch(file.url)).arrayBuffer()))).toBe(sha256(view));
    const text =
      JSON.stringify(job.returnvalue) +
      JSON.stringify(await harness.queue('comfyui').getJobLogs(job.id ?? ''));
    expect(text).not.toContain(AZURE_ACCOUNT_KEY);
  });

  test('A1111 images are decoded and stored as PNG files; the result carries entries, not base64', async () => {
    const job = await harness.run('a1111', { payload: { prompt: 'azure', steps: 2, batch_size: 2 } });
    expect(job.failedReason).toBeUndefined();
    const output = a1111Output(job);
    expect(output.images).toHaveLength(2);
    for (const [index, image] of output.images.entries()) {
      expect(image).toMatchObject({ filename: `image-${index}.png`, mime: 'image/png', store: 'azure' });
      expect(image.key).toBe(`emp/a1111/${job.id}/image-${index}.png`);
      const blob = await azure.read(image.key ?? '');
      expect(sha256(blob)).toBe(image.sha256);
      expect(blob.subarray(1, 4).toString('latin1')).toBe('PNG');
    }
  });
});

describe('A1111 with an S3 store and URL inputs', () => {
  let a1111: FakeA1111Server;
  let s3: S3Server;
  let files: FileServer;
  let harness: RuntimeHarness;
  const init = solidPng(8, 8, 0x334455);
  const mask = solidPng(8, 8, 0xffffff);
  beforeAll(async () => {
    a1111 = await startFakeA1111({ stepMs: 1 });
    s3 = await startS3();
    files = await startFileServer({
      '/init.png': { body: init },
      '/moved.png': { status: 302, location: '/mask.png' },
      '/mask.png': { body: mask, type: 'application/octet-stream' },
    });
    harness = await startRuntime({
      CONNECTORS: 'a1111',
      WORKER_A1111_BASE_URL: a1111.url,
      INPUT_ALLOW_PRIVATE_URLS: 'true',
      ...s3.env,
    });
  });
  afterAll(async () => {
    await harness.close();
    await files.close();
    await s3.close();
    await a1111.close();
  });

  test('init_images and mask URLs are fetched (following a redirect) and sent as base64; images land in S3', async () => {
    const inline = solidPng(8, 8, 0x010203).toString('base64');
    const job = await harness.run('a1111', {
      endpoint: 'img2img',
      payload: {
        prompt: 'img',
        steps: 2,
        init_images: [files.url('/init.png'), inline],
        mask: files.url('/moved.png'),
      },
    });
    expect(job.failedReason).toBeUndefined();
    const sent = a1111.generationBodies.at(-1) ?? {};
    expect(sent.init_images).toEqual([init.toString('base64'), inline]);
    expect(sent.mask).toBe(mask.toString('base64'));
    const output = a1111Output(job);
    const image = output.images[0];
    if (!image) throw new Error('no image');
    expect(image.store).toBe('s3');
    expect(sha256(await s3.read(image.key ?? ''))).toBe(image.sha256);
    // A1111 echoes the request: the inputs' bytes are not kept in the result.
    expect(output.parameters.init_images).toEqual([
      files.url('/init.png'),
      `<image, ${inline.length} base64 characters>`,
    ]);
    expect(JSON.stringify(job.returnvalue)).not.toContain(init.toString('base64'));
  });
});

describe('A1111 with per-job PUT URLs', () => {
  let a1111: FakeA1111Server;
  let put: PutServer;
  let harness: RuntimeHarness;
  beforeAll(async () => {
    a1111 = await startFakeA1111({ stepMs: 1 });
    put = await startPutServer();
    harness = await startRuntime({
      CONNECTORS: 'a1111',
      WORKER_A1111_BASE_URL: a1111.url,
      INPUT_ALLOW_PRIVATE_URLS: 'true',
    });
  });
  afterAll(async () => {
    await harness.close();
    await put.close();
    await a1111.close();
  });

  test('each image is PUT to its URL with its length; the worker holds no store settings', async () => {
    const job = await harness.run('a1111', {
      payload: { prompt: 'put', steps: 2, batch_size: 2 },
      upload_urls: [put.urlFor('first.png'), put.urlFor('second.png')],
    });
    expect(job.failedReason).toBeUndefined();
    const images = a1111Output(job).images;
    expect(images.map(image => image.store)).toEqual(['put', 'put']);
    expect(put.received.get('/uploads/first.png')?.sha256).toBe(images[0]?.sha256);
    expect(put.received.get('/uploads/second.png')?.sha256).toBe(images[1]?.sha256);
  });

  test('fewer upload URLs than images fails without retry, naming both counts', async () => {
    const job = await harness.run(
      'a1111',
      { payload: { prompt: 'put', steps: 2, batch_size: 3 }, upload_urls: [put.urlFor('only.png')] },
      { attempts: 3 },
    );
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toBe(
      'ERR_INVALID_INPUT: the job produced 3 output files but field "upload_urls" has only 1 URLs',
    );
  });
});

describe('upload progress (connector called directly)', () => {
  let fake: FakeComfyUI;
  let dir: string;
  beforeAll(async () => {
    fake = new FakeComfyUI();
    await fake.start();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emp-progress-'));
  });
  afterAll(async () => {
    await fake.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the upload phase reports status "uploading", "file k of n", below 100', async () => {
    const media = await Media.create(testMediaConfig({ store: 'file', fileDir: dir }));
    const connector = comfyConnector(fake.port);
    try {
      const ctx = testContext(
        {
          prompt: {
            '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 2, color: 77 } },
            '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'progress' } },
          },
        },
        { media, queue: 'comfyui' },
      );
      await connector.process(ctx);
      const uploading = ctx.progressSeen.filter(update => update.status === 'uploading');
      expect(uploading.map(update => update.message)).toEqual(['file 1 of 2', 'file 2 of 2']);
      const percents = ctx.progressSeen.flatMap(update =>
        update.progress === undefined ? [] : [update.progress],
      );
      expect(Math.max(...percents)).toBeLessThan(100);
    } finally {
      await connector.close();
      media.close();
    }
  });
});
