import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Client } from '@stable-canvas/comfyui-client';
import WebSocket from 'ws';
import { FakeComfyUI } from '../fakes/comfyui/server.js';
import { PNG_SIGNATURE } from '../fakes/comfyui/png.js';
import { runComfyJob, comfyConnector } from '../helpers/comfyui.js';

/**
 * The fake must speak ComfyUI's protocol (as ComfyUI's server.py and execution.py speak it), checked here with raw
 * sockets and with an independent ComfyUI client library from npm.
 */

interface Frame {
  type: string;
  data: Record<string, unknown>;
}

/** A raw WebSocket client that records every frame. */
async function rawClient(
  baseUrl: string,
  clientId: string,
  path = '/ws',
  headers: Record<string, string> = {},
) {
  const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}${path}?clientId=${clientId}`, { headers });
  const frames: Frame[] = [];
  const binary: Buffer[] = [];
  let wake: (() => void) | undefined;
  ws.on('message', (raw, isBinary) => {
    if (isBinary) binary.push(raw as Buffer);
    else frames.push(JSON.parse((raw as Buffer).toString('utf8')) as Frame);
    wake?.();
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    frames,
    binary,
    ws,
    /** Resolves with the index of the first frame (from `from`) matching `match`. */
    async until(match: (frame: Frame) => boolean, from = 0): Promise<number> {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const index = frames.findIndex((frame, i) => i >= from && match(frame));
        if (index >= 0) return index;
        if (Date.now() > deadline) {
          throw new Error(`no matching frame; saw ${frames.map(f => f.type).join(',')}`);
        }
        await new Promise<void>(resolve => {
          wake = resolve;
          setTimeout(resolve, 50);
        });
      }
    },
    close: () => ws.close(),
  };
}

const simple = (color: number, prefix = 'ci') => ({
  '1': { class_type: 'EmptyImage', inputs: { width: 16, height: 8, batch_size: 1, color } },
  '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: prefix } },
});

async function post(
  baseUrl: string,
  path: string,
  body: unknown,
): Promise<{ status: number; json: unknown; text: string }> {
  const response = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, json, text };
}

describe('fake ComfyUI speaks the protocol', () => {
  let fake: FakeComfyUI;
  let url: string;
  beforeAll(async () => {
    fake = new FakeComfyUI();
    url = await fake.start();
  });
  afterAll(async () => fake.close());

  test('greets each socket with status + sid, on /ws and /api/ws', async () => {
    for (const path of ['/ws', '/api/ws']) {
      const client = await rawClient(url, `greet${path.length}`, path);
      await client.until(frame => frame.type === 'status');
      expect(client.frames[0]).toEqual({
        type: 'status',
        data: { status: { exec_info: { queue_remaining: 0 } }, sid: `greet${path.length}` },
      });
      client.close();
    }
  });

  test('a prompt runs in the documented order, history is written before executing null, other clients see only status', async () => {
    const mine = await rawClient(url, 'mine');
    const other = await rawClient(url, 'other');
    const { status, json } = await post(url, '/prompt', {
      prompt: simple(0xff0000, 'order'),
      client_id: 'mine',
    });
    expect(status).toBe(200);
    const promptId = (json as { prompt_id: string }).prompt_id;
    expect(json).toEqual({ prompt_id: promptId, number: expect.any(Number), node_errors: {} });
    const end = await mine.until(frame => frame.type === 'executing' && frame.data.node === null);
    // The ordering guarantee: history is there as soon as executing null arrives.
    const history = (await (await fetch(`${url}/history/${promptId}`)).json()) as Record<
      string,
      { outputs: unknown; status: { status_str: string } }
    >;
    expect(history[promptId]?.outputs).toEqual({
      '2': { images: [{ filename: 'order_00001_.png', subfolder: '', type: 'output' }] },
    });
    expect(history[promptId]?.status.status_str).toBe('success');
    const sequence = mine.frames
      .slice(1, end + 1)
      .map(frame => (frame.type === 'executing' ? `executing:${String(frame.data.node)}` : frame.type));
    expect(sequence).toEqual([
      'status',
      'status',
      'execution_start',
      'execution_cached',
      'executing:1',
      'executing:2',
      'executed',
      'execution_success',
      'status',
      'executing:null',
    ]);
    expect(
      mine.frames
        .slice(1, end + 1)
        .filter(f => f.type !== 'status')
        .every(f => f.data.prompt_id === promptId),
    ).toBe(true);
    await other.until(
      frame =>
        frame.type === 'status' &&
        (frame.data.status as { exec_info: { queue_remaining: number } }).exec_info.queue_remaining === 0,
      1,
    );
    expect(other.frames.every(frame => frame.type === 'status')).toBe(true);
    mine.close();
    other.close();
  });

  test('the same prompt again is served from cache: all nodes cached, executed repeats the old file', async () => {
    const client = await rawClient(url, 'cache');
    const first = await post(url, '/prompt', { prompt: simple(0x00ff00, 'cached'), client_id: 'cache' });
    const firstId = (first.json as { prompt_id: string }).prompt_id;
    await client.until(
      frame => frame.type === 'executing' && frame.data.node === null && frame.data.prompt_id === firstId,
    );
    const from = client.frames.length;
    const again = await post(url, '/prompt', { prompt: simple(0x00ff00, 'cached'), client_id: 'cache' });
    const againId = (again.json as { prompt_id: string }).prompt_id;
    await client.until(
      frame => frame.type === 'executing' && frame.data.node === null && frame.data.prompt_id === againId,
      from,
    );
    const frames = client.frames.slice(from);
    expect(frames.find(frame => frame.type === 'execution_cached')?.data.nodes).toEqual(['1', '2']);
    expect(frames.filter(frame => frame.type === 'executing' && frame.data.node !== null)).toEqual([]);
    expect(frames.find(frame => frame.type === 'executed')?.data.output).toEqual({
      images: [{ filename: 'cached_00001_.png', subfolder: '', type: 'output' }],
    });
    client.close();
  });

  test("validation errors have ComfyUI's shapes", async () => {
    const bad = simple(0);
    bad['1'].inputs.width = 0;
    const rejected = await post(url, '/prompt', { prompt: bad });
    expect(rejected.status).toBe(400);
    expect(rejected.json).toMatchObject({
      error: { type: 'prompt_outputs_failed_validation', message: 'Prompt outputs failed validation' },
      node_errors: {
        '1': {
          errors: [
            {
              type: 'value_smaller_than_min',
              message: 'Value 0 smaller than min of 1',
              details: 'width',
              extra_info: { input_name: 'width', received_value: 0 },
            },
          ],
          dependent_outputs: ['2'],
          class_type: 'EmptyImage',
        },
      },
    });
    const unknown = await post(url, '/prompt', { prompt: { '1': { class_type: 'Nope', inputs: {} } } });
    expect(unknown).toMatchObject({
      status: 400,
      json: { error: { type: 'invalid_prompt', details: "Node ID '#1'" }, node_errors: {} },
    });
    const noOutputs = await post(url, '/prompt', { prompt: { '1': simple(0)['1'] } });
    expect(noOutputs.json).toMatchObject({ error: { type: 'prompt_no_outputs' } });
    expect((await post(url, '/prompt', {})).json).toEqual({
      error: {
        type: 'no_prompt',
        message: 'No prompt provided',
        details: 'No prompt provided',
        extra_info: {},
      },
      node_errors: {},
    });
    const notJson = await post(url, '/prompt', 'not json');
    expect(notJson.status).toBe(500);
    expect(notJson.text).toMatch(/Server got itself in trouble/);
  });

  test('a node that raises produces execution_error and an error history entry', async () => {
    const client = await rawClient(url, 'err');
    const prompt = {
      '1': simple(1)['1'],
      '3': { class_type: 'FakeError', inputs: { images: ['1', 0], message: 'kaput' } },
      '2': { class_type: 'SaveImage', inputs: { images: ['3', 0], filename_prefix: 'e' } },
    };
    const { json } = await post(url, '/prompt', { prompt, client_id: 'err' });
    const promptId = (json as { prompt_id: string }).prompt_id;
    const index = await client.until(frame => frame.type === 'execution_error');
    expect(client.frames[index]?.data).toMatchObject({
      prompt_id: promptId,
      node_id: '3',
      node_type: 'FakeError',
      exception_type: 'RuntimeError',
      exception_message: 'kaput',
      executed: ['1'],
    });
    await client.until(frame => frame.type === 'executing' && frame.data.node === null, index);
    const history = (await (await fetch(`${url}/api/history/${promptId}`)).json()) as Record<
      string,
      { status: { status_str: string; completed: boolean } }
    >;
    expect(history[promptId]?.status).toMatchObject({ status_str: 'error', completed: false });
    client.close();
  });

  test('sampler progress carries prompt_id and node; previews are type-1 binary frames with an 8-byte header', async () => {
    const client = await rawClient(url, 'steps');
    const prompt = {
      '1': simple(2)['1'],
      '3': { class_type: 'FakeSampler', inputs: { images: ['1', 0], steps: 10 } },
      '2': { class_type: 'SaveImage', inputs: { images: ['3', 0], filename_prefix: 's' } },
    };
    const { json } = await post(url, '/prompt', { prompt, client_id: 'steps' });
    const promptId = (json as { prompt_id: string }).prompt_id;
    await client.until(frame => frame.type === 'executing' && frame.data.node === null);
    const progress = client.frames.filter(frame => frame.type === 'progress').map(frame => frame.data);
    expect(progress).toHaveLength(10);
    expect(progress[9]).toEqual({ value: 10, max: 10, prompt_id: promptId, node: '3' });
    expect(client.binary.length).toBeGreaterThan(0);
    const frame = client.binary[0] ?? Buffer.alloc(0);
    expect(frame.readUInt32BE(0)).toBe(1);
    expect(frame.readUInt32BE(4)).toBe(2);
    expect(frame.subarray(8, 16).equals(PNG_SIGNATURE)).toBe(true);
    client.close();
  });

  test('/interrupt with another prompt_id does nothing; with ours the prompt ends interrupted', async () => {
    const client = await rawClient(url, 'intr');
    const prompt = {
      '1': simple(3)['1'],
      '3': { class_type: 'FakeSampler', inputs: { images: ['1', 0], steps: 500, step_ms: 10 } },
      '2': { class_type: 'SaveImage', inputs: { images: ['3', 0], filename_prefix: 'i' } },
    };
    const { json } = await post(url, '/prompt', { prompt, client_id: 'intr' });
    const promptId = (json as { prompt_id: string }).prompt_id;
    await client.until(frame => frame.type === 'progress');
    expect((await post(url, '/interrupt', { prompt_id: 'someone-else' })).status).toBe(200);
    const before = client.frames.filter(frame => frame.type === 'progress').length;
    await client.until(frame => frame.type === 'progress' && Number(frame.data.value) > before + 3);
    const interrupted = await post(url, '/interrupt', { prompt_id: promptId });
    expect(interrupted).toMatchObject({ status: 200, text: '' });
    const index = await client.until(frame => frame.type === 'execution_interrupted');
    expect(client.frames[index]?.data).toMatchObject({
      prompt_id: promptId,
      node_id: '3',
      node_type: 'FakeSampler',
    });
    await client.until(frame => frame.type === 'executing' && frame.data.node === null, index);
    client.close();
  });

  test('POST /queue delete removes a pending prompt; GET /queue lists running and pending', async () => {
    const long = {
      '1': simple(4)['1'],
      '3': { class_type: 'FakeSampler', inputs: { images: ['1', 0], steps: 1000, step_ms: 10 } },
      '2': { class_type: 'SaveImage', inputs: { images: ['3', 0], filename_prefix: 'q' } },
    };
    const running = ((await post(url, '/prompt', { prompt: long })).json as { prompt_id: string }).prompt_id;
    const pending = ((await post(url, '/prompt', { prompt: simple(5) })).json as { prompt_id: string })
      .prompt_id;
    const queue = (await (await fetch(`${url}/queue`)).json()) as {
      queue_running: unknown[][];
      queue_pending: unknown[][];
    };
    expect(queue.queue_running.map(item => item[1])).toEqual([running]);
    expect(queue.queue_pending.map(item => item[1])).toEqual([pending]);
    expect(await post(url, '/queue', { delete: [pending] })).toMatchObject({ status: 200, text: '' });
    const after = (await (await fetch(`${url}/queue`)).json()) as { queue_pending: unknown[] };
    expect(after.queue_pending).toEqual([]);
    await post(url, '/interrupt', {});
    expect(fake.interrupts.at(-1)).toEqual({});
  });

  test('/view serves real PNGs and enforces the 400/403/404 rules', async () => {
    const client = await rawClient(url, 'view');
    await post(url, '/prompt', { prompt: simple(0x123456, 'sub/dir/pic'), client_id: 'view' });
    await client.until(frame => frame.type === 'executing' && frame.data.node === null);
    client.close();
    const ok = await fetch(`${url}/view?filename=pic_00001_.png&subfolder=sub/dir&type=output`);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('image/png');
    expect(
      Buffer.from(await ok.arrayBuffer())
        .subarray(0, 8)
        .equals(PNG_SIGNATURE),
    ).toBe(true);
    expect(
      (await fetch(`${url}/api/view?filename=pic_00001_.png%20[output]&subfolder=sub/dir&type=temp`)).status,
    ).toBe(200);
    expect((await fetch(`${url}/view`)).status).toBe(404);
    expect((await fetch(`${url}/view?filename=../secret.png`)).status).toBe(400);
    expect((await fetch(`${url}/view?filename=%2Fetc%2Fpasswd`)).status).toBe(400);
    expect((await fetch(`${url}/view?filename=a.png&type=models`)).status).toBe(400);
    expect((await fetch(`${url}/view?filename=a.png&subfolder=../../etc`)).status).toBe(403);
    expect((await fetch(`${url}/view?filename=missing.png`)).status).toBe(404);
  });

  test('system_stats and object_info answer with and without /api', async () => {
    const stats = (await (await fetch(`${url}/api/system_stats`)).json()) as {
      system: Record<string, unknown>;
      devices: unknown[];
    };
    expect(stats.system.comfyui_version).toBe('0.3.64');
    expect(stats.devices).toHaveLength(1);
    const info = (await (await fetch(`${url}/object_info/EmptyImage`)).json()) as Record<
      string,
      { input: { required: Record<string, unknown> } }
    >;
    expect(info.EmptyImage?.input.required.width).toEqual(['INT', { default: 512, min: 1, max: 16384 }]);
    expect(await (await fetch(`${url}/object_info/Nope`)).json()).toEqual({});
  });
});

describe('an independent ComfyUI client (@stable-canvas/comfyui-client) against the fake', () => {
  let fake: FakeComfyUI;
  let client: Client;
  beforeAll(async () => {
    // Real nodes take time; the library subscribes to a prompt's messages only after POST /prompt returns.
    fake = new FakeComfyUI({ nodeDelayMs: 200 });
    await fake.start();
    client = new Client({ api_host: `127.0.0.1:${fake.port}`, WebSocket, fetch, clientId: 'sdk-client' });
    void client.connect();
  });
  afterAll(async () => {
    client.close();
    await fake.close();
  });

  test('its WebSocket enqueue and its polling enqueue get the outputs our connector gets', async () => {
    const prompt = {
      '1': { class_type: 'EmptyImage', inputs: { width: 32, height: 32, batch_size: 2, color: 0xabcdef } },
      '3': { class_type: 'FakeSampler', inputs: { images: ['1', 0], steps: 5, step_ms: 10 } },
      '2': { class_type: 'SaveImage', inputs: { images: ['3', 0], filename_prefix: 'sdk' } },
    };
    const steps: number[] = [];
    const viaSocket = await client.enqueue(prompt, { progress: ({ value }) => steps.push(value) });
    // Updates sent before the library subscribed (it does so after POST /prompt returns) are not its to see.
    expect(steps.at(-1)).toBe(5);
    expect([...steps].sort((a, b) => a - b)).toEqual(steps);
    // It also collects the sampler's binary previews (type "buff"); the saved files are the URLs.
    expect(viaSocket.images.some(image => image.type === 'buff')).toBe(true);
    const urls = viaSocket.images.flatMap(image => (image.type === 'url' ? [image.data] : []));
    expect(urls).toHaveLength(2);
    expect(urls.map(u => new URL(u).searchParams.get('filename'))).toEqual([
      'sdk_00001_.png',
      'sdk_00002_.png',
    ]);

    // Our connector on the same workflow: served from cache, the same files come back.
    const connector = comfyConnector(fake.port);
    try {
      const ours = await runComfyJob(connector, prompt);
      const files = (ours.output.outputs['2']?.images ?? []) as {
        filename: string;
        subfolder: string;
        type: string;
        url: string;
      }[];
      const params = (u: string) => {
        const search = new URL(u).searchParams;
        return [search.get('filename'), search.get('subfolder'), search.get('type')];
      };
      expect(files.map(file => params(file.url))).toEqual(urls.map(params));
      for (const file of files) {
        const bytes = Buffer.from(await (await fetch(file.url)).arrayBuffer());
        expect(bytes.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
      }
    } finally {
      await connector.close();
    }

    const viaPolling = await client.enqueue_polling({
      ...prompt,
      '2': { ...prompt['2'], inputs: { ...prompt['2'].inputs, filename_prefix: 'poll' } },
    });
    expect(
      viaPolling.images.flatMap(image =>
        image.type === 'url' ? [new URL(image.data).searchParams.get('filename')] : [],
      ),
    ).toEqual(['poll_00001_.png', 'poll_00002_.png']);
  });

  test("its error path sees our fake's execution_error", async () => {
    const prompt = {
      '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 1 } },
      '3': { class_type: 'FakeError', inputs: { images: ['1', 0], message: 'sdk boom' } },
      '2': { class_type: 'SaveImage', inputs: { images: ['3', 0], filename_prefix: 'x' } },
    };
    await expect(client.enqueue(prompt)).rejects.toThrow(/sdk boom|execution|error/i);
  });
});
