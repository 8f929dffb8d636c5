import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Job } from 'bullmq';
import { FakeComfyUI } from '../fakes/comfyui/server.js';
import { solidPng } from '../fakes/comfyui/png.js';
import { comfyWorkerEnv } from '../helpers/media.js';
import { startRuntime, type RuntimeHarness } from '../helpers/runtime.js';
import {
  AZURE_ACCOUNT_KEY,
  S3_SECRET,
  startAzurite,
  startFileServer,
  startPutServer,
  startS3,
  type AzureServer,
  type FileServer,
  type PutServer,
  type S3Server,
} from '../helpers/stores.js';

/**
 * Every bad input of docs/media.md: each job fails on its first attempt (not retried although
 * it has attempts left), with a reason naming the image or field, before any GPU work when
 * the input is known up front; store 4xx fail named and unretried. No secret in any reason.
 */

const load = (name: string) => ({
  '1': { class_type: 'LoadImage', inputs: { image: name } },
  '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'bad' } },
});
const twoOutputs = {
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 2, color: 9 } },
  '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'two' } },
};
const png = solidPng(8, 8, 0x445566);

function comfyEnv(fake: FakeComfyUI, extra: Record<string, string> = {}): Record<string, string> {
  return comfyWorkerEnv(fake, { INPUT_MAX_BYTES: '2000', ...extra });
}

async function expectUnretried(job: Job, reason: RegExp): Promise<void> {
  expect(await job.getState()).toBe('failed');
  expect(job.failedReason).toMatch(reason);
  expect(job.attemptsMade).toBe(1);
}

describe('bad inputs (private URLs allowed, so the test servers are reachable)', () => {
  let fake: FakeComfyUI;
  let files: FileServer;
  let put: PutServer;
  let harness: RuntimeHarness;
  beforeAll(async () => {
    fake = new FakeComfyUI();
    await fake.start();
    files = await startFileServer({
      '/ok.png': { body: png },
      '/big.png': { body: Buffer.concat([png, Buffer.alloc(4000)]) },
      '/page.html': { body: Buffer.from('<html></html>'), type: 'text/html' },
      '/text-as-png': { body: Buffer.from('this is not an image at all'), type: 'image/png' },
      '/broken': { status: 503, body: Buffer.from('down') },
    });
    put = await startPutServer();
    harness = await startRuntime(comfyEnv(fake, { INPUT_ALLOW_PRIVATE_URLS: 'true' }));
  });
  afterAll(async () => {
    await harness.close();
    await put.close();
    await files.close();
    await fake.close();
  });

  const cases: Array<[string, () => Record<string, unknown>, RegExp]> = [
    [
      'bad base64',
      () => ({ prompt: load('a.png'), images: [{ name: 'a.png', image: 'not base64 at all!' }] }),
      /^ERR_INVALID_INPUT: image "a.png": "image" is not valid base64/,
    ],
    [
      'a data URL that is not an image',
      () => ({
        prompt: load('b.png'),
        images: [{ name: 'b.png', image: 'data:text/plain;base64,aGVsbG8=' }],
      }),
      /^ERR_INVALID_INPUT: image "b.png": the data URL is text\/plain, not an image/,
    ],
    [
      'base64 bytes that are not an image',
      () => ({
        prompt: load('c.png'),
        images: [{ name: 'c.png', image: Buffer.from('plain text').toString('base64') }],
      }),
      /^ERR_INVALID_INPUT: image "c.png" is not an image/,
    ],
    [
      'a URL answering 404',
      () => ({ prompt: load('d.png'), images: [{ name: 'd.png', image: files.url('/missing.png') }] }),
      /^ERR_INVALID_INPUT: image "d.png": http:\/\/127\.0\.0\.1:\d+\/missing\.png answered HTTP 404/,
    ],
    [
      'a URL serving HTML',
      () => ({ prompt: load('e.png'), images: [{ name: 'e.png', image: files.url('/page.html') }] }),
      /^ERR_INVALID_INPUT: image "e.png": .* is text\/html, not image\/\*/,
    ],
    [
      'a URL serving text labelled image/png',
      () => ({ prompt: load('f.png'), images: [{ name: 'f.png', image: files.url('/text-as-png') }] }),
      /^ERR_INVALID_INPUT: image "f.png" is not an image/,
    ],
    [
      'an inline file over INPUT_MAX_BYTES',
      () => ({
        prompt: load('g.png'),
        images: [{ name: 'g.png', image: Buffer.alloc(3000, 1).toString('base64') }],
      }),
      /^ERR_INVALID_INPUT: image "g.png" is 3000 bytes, more than the 2000 bytes allowed \(INPUT_MAX_BYTES\)/,
    ],
    [
      'a URL file over INPUT_MAX_BYTES',
      () => ({ prompt: load('h.png'), images: [{ name: 'h.png', image: files.url('/big.png') }] }),
      /^ERR_INVALID_INPUT: image "h.png" is \d+ bytes, more than the 2000 bytes allowed \(INPUT_MAX_BYTES\)/,
    ],
    [
      'a name with /',
      () => ({ prompt: load('x.png'), images: [{ name: 'sub/x.png', image: png.toString('base64') }] }),
      /^ERR_INVALID_INPUT: field "images" entry 0: image name "sub\/x.png" must be a plain file name/,
    ],
    [
      'a name with ..',
      () => ({ prompt: load('x.png'), images: [{ name: '..x.png', image: png.toString('base64') }] }),
      /^ERR_INVALID_INPUT: field "images" entry 0: image name "..x.png" must be a plain file name/,
    ],
    [
      'an encoded traversal name',
      () => ({ prompt: load('x.png'), images: [{ name: '%2e%2e%2fx.png', image: png.toString('base64') }] }),
      /^ERR_INVALID_INPUT: field "images" entry 0: image name "%2e%2e%2fx.png" must be a plain file name/,
    ],
    [
      'two images with one name',
      () => ({
        prompt: load('twin.png'),
        images: [
          { name: 'twin.png', image: png.toString('base64') },
          { name: 'twin.png', image: png.toString('base64') },
        ],
      }),
      /^ERR_INVALID_INPUT: field "images" entry 1: two images are named "twin.png"/,
    ],
    [
      'images that is not a list',
      () => ({ prompt: load('x.png'), images: { name: 'x.png' } }),
      /^ERR_INVALID_INPUT: \/images: expected array of at most 100 items or null, got an object/,
    ],
    [
      'upload_urls that is not a list',
      () => ({ prompt: twoOutputs, upload_urls: put.urlFor('one.png') }),
      /^ERR_INVALID_INPUT: field "upload_urls" must be a list of presigned http\(s\) PUT URLs, got a string/,
    ],
    [
      'upload_urls with an ftp URL',
      () => ({ prompt: twoOutputs, upload_urls: ['ftp://files.example/out.png'] }),
      /^ERR_INVALID_INPUT: field "upload_urls" entry 0: ftp:\/\/files\.example\/out\.png is refused: only http and https/,
    ],
    [
      'upload_urls with a number',
      () => ({ prompt: twoOutputs, upload_urls: [42] }),
      /^ERR_INVALID_INPUT: field "upload_urls" entry 0 must be an http\(s\) URL string, got a number/,
    ],
  ];

  test.each(cases)(
    '%s: fails at once, not retried, named; nothing queued on ComfyUI',
    async (_what, data, reason) => {
      const before = fake.acceptedPrompts.length;
      const job = await harness.run('comfyui', data(), { attempts: 3 });
      await expectUnretried(job, reason);
      expect(fake.acceptedPrompts.length).toBe(before);
    },
  );

  test('fewer upload URLs than outputs: fails without retry naming both counts, nothing uploaded', async () => {
    const job = await harness.run(
      'comfyui',
      { prompt: twoOutputs, upload_urls: [put.urlFor('lonely.png')] },
      { attempts: 3 },
    );
    await expectUnretried(
      job,
      /^ERR_INVALID_INPUT: the job produced 2 output files but field "upload_urls" has only 1 URLs$/,
    );
    expect(put.received.size).toBe(0);
  });

  test('a URL answering 503 is retryable (the retry fetches again)', async () => {
    const job = await harness.run(
      'comfyui',
      { prompt: load('r.png'), images: [{ name: 'r.png', image: files.url('/broken') }] },
      { attempts: 2 },
    );
    expect(job.attemptsMade).toBe(2);
    expect(job.failedReason).toMatch(/^ERR_SERVICE_UNAVAILABLE: image "r.png": .* answered HTTP 503/);
  });
});

describe('private URLs without the opt-in', () => {
  let fake: FakeComfyUI;
  let files: FileServer;
  let put: PutServer;
  let harness: RuntimeHarness;
  beforeAll(async () => {
    fake = new FakeComfyUI();
    await fake.start();
    files = await startFileServer({ '/ok.png': { body: png } });
    put = await startPutServer();
    harness = await startRuntime(comfyEnv(fake));
  });
  afterAll(async () => {
    await harness.close();
    await put.close();
    await files.close();
    await fake.close();
  });

  test('an input URL to 127.0.0.1 fails at once, naming the image', async () => {
    const job = await harness.run(
      'comfyui',
      { prompt: load('p.png'), images: [{ name: 'p.png', image: files.url('/ok.png') }] },
      { attempts: 3 },
    );
    await expectUnretried(
      job,
      /^ERR_INVALID_INPUT: image "p.png": http:\/\/127\.0\.0\.1:\d+\/ok\.png is refused: 127\.0\.0\.1 is a private, loopback or link-local address/,
    );
  });

  test('an upload URL to 127.0.0.1 fails before any work, without its signature in the reason', async () => {
    const before = fake.acceptedPrompts.length;
    const job = await harness.run(
      'comfyui',
      { prompt: twoOutputs, upload_urls: [put.urlFor('p.png')] },
      { attempts: 3 },
    );
    await expectUnretried(
      job,
      /^ERR_INVALID_INPUT: field "upload_urls" entry 0: http:\/\/127\.0\.0\.1:\d+\/uploads\/p\.png\?… is refused/,
    );
    expect(job.failedReason).not.toContain(put.signatureOf('p.png'));
    expect(fake.acceptedPrompts.length).toBe(before);
  });
});

describe('store 4xx', () => {
  let fake: FakeComfyUI;
  let s3: S3Server;
  let azure: AzureServer;
  beforeAll(async () => {
    fake = new FakeComfyUI();
    await fake.start();
    s3 = await startS3();
    azure = await startAzurite();
  });
  afterAll(async () => {
    await azure.close();
    await s3.close();
    await fake.close();
  });

  /** Runs a two-output job against a store that refuses it: one attempt, `reason`, `secret` nowhere. */
  async function expectStoreRejected(
    env: Record<string, string>,
    reason: RegExp,
    secret: string,
  ): Promise<void> {
    const harness = await startRuntime(comfyEnv(fake, env));
    try {
      const job = await harness.run('comfyui', { prompt: twoOutputs }, { attempts: 3 });
      await expectUnretried(job, reason);
      const logs = JSON.stringify(await harness.queue('comfyui').getJobLogs(job.id ?? ''));
      expect(logs + (job.failedReason ?? '')).not.toContain(secret);
    } finally {
      await harness.close();
    }
  }

  test('S3 access denied (unknown key): fails without retry naming the bucket, no secret anywhere', async () => {
    await expectStoreRejected(
      { ...s3.env, OUTPUT_S3_ACCESS_KEY_ID: 'unknown-key' },
      /^ERR_SERVICE_REJECTED: output store bucket "emp-outputs": HTTP 403 InvalidAccessKeyId/,
      S3_SECRET,
    );
  });

  test('Azure container that does not exist: fails without retry naming the container, no key anywhere', async () => {
    await expectStoreRejected(
      { ...azure.env, OUTPUT_AZURE_CONTAINER: 'no-such-container' },
      /^ERR_SERVICE_REJECTED: output store container "no-such-container": HTTP 404 ContainerNotFound/,
      AZURE_ACCOUNT_KEY,
    );
  });
});
