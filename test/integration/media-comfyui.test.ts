import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Job } from 'bullmq';
import { FakeComfyUI } from '../fakes/comfyui/server.js';
import { solidPng } from '../fakes/comfyui/png.js';
import { startRuntime, type RuntimeHarness } from '../helpers/runtime.js';
import { startS3, S3_SECRET, type S3Server } from '../helpers/stores.js';

/** ComfyUI jobs through a real worker runtime, with inputs uploaded and outputs stored in an S3 server. */

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

type StoredEntry = {
  filename: string;
  subfolder: string;
  type: string;
  node: string;
  mime: string;
  size: number;
  sha256: string;
  url: string;
  key?: string;
  store: string;
};
type Output = { prompt_id: string; outputs: Record<string, { images: StoredEntry[] }> };
const outputOf = (job: Job): Output => (job.returnvalue as { output: Output }).output;

function loadAndSave(name: string, prefix: string): Record<string, unknown> {
  return {
    '1': { class_type: 'LoadImage', inputs: { image: name } },
    '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: prefix } },
  };
}

function comfyEnv(fake: FakeComfyUI, extra: Record<string, string>): Record<string, string> {
  return {
    CONNECTORS: 'comfyui',
    WORKER_COMFYUI_HOST: '127.0.0.1',
    WORKER_COMFYUI_PORT: String(fake.port),
    WORKER_COMFYUI_WATCHDOG: '1',
    WORKER_COMFYUI_POLL_INTERVAL: '0.2',
    INPUT_ALLOW_PRIVATE_URLS: 'true',
    ...extra,
  };
}

describe('ComfyUI with an S3 output store', () => {
  let fake: FakeComfyUI;
  let s3: S3Server;
  let harness: RuntimeHarness;
  beforeAll(async () => {
    fake = new FakeComfyUI();
    await fake.start();
    s3 = await startS3();
    harness = await startRuntime(comfyEnv(fake, s3.env));
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
    expect(fake.uploads.find(u => u.name === 'in-b64.png')).toMatchObject({ type: 'input', sha256: sha256(input) });
    expect(fake.inputsRead.map(r => r.sha256)).toContain(sha256(input));
    const uploadAt = fake.requests.findIndex(r => r.path === '/upload/image');
    const promptAt = fake.requests.findIndex(r => r.path === '/prompt' && r.method === 'POST');
    expect(uploadAt).toBeGreaterThanOrEqual(0);
    expect(uploadAt).toBeLessThan(promptAt);

    const file = outputOf(job).outputs['2']?.images[0];
    if (!file) throw new Error('no output file');
    expect(file).toMatchObject({ node: '2', mime: 'image/png', store: 's3', subfolder: '', type: 'output' });
    expect(file.key).toBe(`emp/comfyui/${job.id}/2-${file.filename}`);
    const view = Buffer.from(
      await (await fetch(`${fake.baseUrl}/view?filename=${file.filename}&type=output`)).arrayBuffer(),
    );
    const stored = await s3.read(file.key ?? '');
    expect(sha256(stored)).toBe(sha256(view));
    expect(file.sha256).toBe(sha256(view));
    expect(file.size).toBe(view.length);
    // The presigned GET in the result serves the same bytes.
    const viaUrl = Buffer.from(await (await fetch(file.url)).arrayBuffer());
    expect(sha256(viaUrl)).toBe(file.sha256);
    expect(JSON.stringify(job.returnvalue)).not.toContain(S3_SECRET);
  });
});
