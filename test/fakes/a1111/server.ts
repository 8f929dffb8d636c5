import { setMaxListeners } from 'node:events';
import type http from 'node:http';
import { authorised, delay, listen, readText, sendJson, type ListeningServer } from '../rest/http.js';
import { makePng, sideForBase64Bytes } from './png.js';

/**
 * A fake AUTOMATIC1111 WebUI API that behaves like v1.10 (its modules/api/api.py): one generation
 * at a time behind a FIFO lock (later calls block), a global `/sdapi/v1/progress` that
 * answers while a call blocks, base64 PNGs without a `data:` prefix, `info` as a JSON
 * *string*, `/sdapi/v1/interrupt` that ends sampling early and still answers 200 with the
 * partial images, `--api-auth` Basic auth with A1111's own 401 envelope (no
 * WWW-Authenticate), FastAPI's 422 field list, and 500s in A1111's exception envelope.
 * `/internal/*` only exists in UI mode.
 *
 * Fault hooks for tests: a prompt containing `__oom__` fails with a 500 like a CUDA OOM.
 */
export interface FakeA1111Options {
  /** `--api-auth user:password` on every /sdapi/v1 route. */
  username?: string;
  password?: string;
  /** Milliseconds per sampling step (default 50). */
  stepMs?: number;
  /** Base64 length of each image (default: a tiny 8×8 PNG). */
  imageBase64Bytes?: number;
  /** Serve /internal/* (the WebUI was started with --api, not --nowebui). Default true. */
  uiMode?: boolean;
  port?: number;
  host?: string;
}

/** A1111's `shared.state` (the parts `/progress` shows). */
interface State {
  skipped: boolean;
  interrupted: boolean;
  stopping_generation: boolean;
  job: string;
  job_count: number;
  job_timestamp: string;
  job_no: number;
  sampling_step: number;
  sampling_steps: number;
}

/** The running fake and what it saw. */
export interface FakeA1111Server extends ListeningServer {
  /** Paths of every request, in order (`POST /sdapi/v1/txt2img`). */
  calls: string[];
  /** Bodies of txt2img/img2img calls, in order. */
  generationBodies: Record<string, unknown>[];
  /** Times `/sdapi/v1/interrupt` was called. */
  interrupts: number;
  /** Generations finished (interrupted ones included). */
  generations: number;
  /** Most generations ever running at once (must stay 1). */
  maxConcurrent: number;
  /** Generation calls open now, waiting for the lock or running (a dropped client's call runs on, as in A1111). */
  inFlight: number;
  /** Most generation calls ever open at once. */
  maxInFlight: number;
  /** `/sdapi/v1/progress` answers served while a generation ran. */
  busyProgressAnswers: number;
  /** Health/API answers 500 while false (a crashed model load). */
  healthy: boolean;
}

const SAMPLERS = ['DPM++ 2M', 'Euler a', 'Euler', 'DDIM'];
const MODELS = [
  {
    title: 'v1-5-pruned-emaonly.safetensors [6ce0161689]',
    model_name: 'v1-5-pruned-emaonly',
    hash: '6ce0161689',
    sha256: '6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa',
    filename: '/models/Stable-diffusion/v1-5-pruned-emaonly.safetensors',
    config: null,
  },
];
const INT_FIELDS = ['steps', 'width', 'height', 'batch_size', 'n_iter', 'seed'];

function idleState(): State {
  return {
    skipped: false,
    interrupted: false,
    stopping_generation: false,
    job: '',
    job_count: 0,
    job_timestamp: '0',
    job_no: 0,
    sampling_step: 0,
    sampling_steps: 0,
  };
}

function timestamp(): string {
  const d = new Date();
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** A1111's envelope for HTTPException and other exceptions. */
function aError(res: http.ServerResponse, status: number, error: string, detail: string, errors = ''): void {
  sendJson(res, status, { error, detail, body: '', errors });
}

/** Starts the fake A1111. */
export async function startFakeA1111(options: FakeA1111Options = {}): Promise<FakeA1111Server> {
  const stepMs = options.stepMs ?? 50;
  const uiMode = options.uiMode ?? true;
  let state = idleState();
  let startedAt = 0;
  let running = 0;
  let lock: Promise<void> = Promise.resolve();
  const shutdown = new AbortController();
  setMaxListeners(0, shutdown.signal);
  const imageCache = new Map<string, string>();

  function image(prompt: string): string {
    const key = options.imageBase64Bytes ? `noise:${options.imageBase64Bytes}` : 'flat';
    let cached = imageCache.get(key);
    if (!cached) {
      cached = options.imageBase64Bytes
        ? makePng(
            sideForBase64Bytes(options.imageBase64Bytes),
            sideForBase64Bytes(options.imageBase64Bytes),
            { noise: true },
          ).toString('base64')
        : makePng(8, 8, { text: prompt.slice(0, 60) }).toString('base64');
      imageCache.set(key, cached);
    }
    return cached;
  }

  /** FIFO lock: each caller waits for the previous one (A1111's queue_lock). */
  async function withLock<T>(work: () => Promise<T>): Promise<T> {
    const previous = lock;
    let release = (): void => undefined;
    lock = new Promise<void>(resolve => (release = resolve));
    await previous;
    try {
      return await work();
    } finally {
      release();
    }
  }

  async function generate(
    kind: 'txt2img' | 'img2img',
    req: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const steps = typeof req.steps === 'number' ? req.steps : 50;
    const nIter = typeof req.n_iter === 'number' ? req.n_iter : 1;
    const batchSize = typeof req.batch_size === 'number' ? req.batch_size : 1;
    const prompt = typeof req.prompt === 'string' ? req.prompt : '';
    const seed =
      typeof req.seed === 'number' && req.seed !== -1 ? req.seed : Math.floor(Math.random() * 2 ** 32);
    return withLock(async () => {
      running++;
      fake.maxConcurrent = Math.max(fake.maxConcurrent, running);
      state = { ...idleState(), job: `scripts_${kind}`, job_count: -1, job_timestamp: timestamp() };
      startedAt = Date.now();
      try {
        await delay(5, shutdown.signal);
        state.job_count = nIter;
        for (let iteration = 0; iteration < nIter && !state.interrupted; iteration++) {
          state.job_no = iteration;
          if (nIter > 1) state.job = `Batch ${iteration + 1} out of ${nIter}`;
          state.sampling_steps = steps;
          for (let step = 0; step < steps && !state.interrupted; step++) {
            state.sampling_step = step;
            await delay(stepMs, shutdown.signal);
          }
        }
        // VAE decode and saving take a while after sampling; the state (interrupted included) stays until state.end().
        await delay(stepMs * 5, shutdown.signal);
        const images = Array.from({ length: batchSize * nIter }, () => image(prompt));
        const info = {
          prompt,
          all_prompts: images.map(() => prompt),
          negative_prompt: typeof req.negative_prompt === 'string' ? req.negative_prompt : '',
          seed,
          all_seeds: images.map((_, i) => seed + i),
          width: typeof req.width === 'number' ? req.width : 512,
          height: typeof req.height === 'number' ? req.height : 512,
          sampler_name: typeof req.sampler_name === 'string' ? req.sampler_name : 'Euler',
          cfg_scale: typeof req.cfg_scale === 'number' ? req.cfg_scale : 7,
          steps,
          batch_size: batchSize,
          sd_model_name: MODELS[0]?.model_name,
          sd_model_hash: MODELS[0]?.hash,
          job_timestamp: state.job_timestamp,
          infotexts: images.map(() => `${prompt}\nSteps: ${steps}, Seed: ${seed}`),
          version: 'v1.10.1',
        };
        return {
          images,
          parameters: { ...req, steps, n_iter: nIter, batch_size: batchSize },
          info: JSON.stringify(info),
        };
      } finally {
        fake.generations++;
        running--;
        state = idleState();
      }
    });
  }

  function progress(): Record<string, unknown> {
    if (state.job_count === 0) {
      return { progress: 0, eta_relative: 0, state, current_image: null, textinfo: null };
    }
    fake.busyProgressAnswers++;
    let value = 0.01;
    if (state.job_count > 0) value += state.job_no / state.job_count;
    if (state.sampling_steps > 0 && state.job_count > 0) {
      value += (1 / state.job_count) * (state.sampling_step / state.sampling_steps);
    }
    value = Math.min(value, 1);
    const elapsed = (Date.now() - startedAt) / 1000;
    return {
      progress: value,
      eta_relative: elapsed / value - elapsed,
      state,
      current_image: null,
      textinfo: null,
    };
  }

  const handler = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    fake.calls.push(`${method} ${path}`);
    const text = method === 'GET' ? '' : await readText(req);

    if (path.startsWith('/internal/')) {
      if (!uiMode) return sendJson(res, 404, { detail: 'Not Found' });
      if (path === '/internal/ping') return sendJson(res, 200, {});
      return sendJson(res, 404, { detail: 'Not Found' });
    }
    if (!path.startsWith('/sdapi/v1/')) return sendJson(res, 404, { detail: 'Not Found' });
    if (options.username || options.password) {
      const header = req.headers.authorization ?? '';
      if (!header.startsWith('Basic ')) return aError(res, 401, 'HTTPException', 'Not authenticated');
      if (!authorised(req, options)) {
        return aError(res, 401, 'HTTPException', 'Incorrect username or password');
      }
    }
    const route = path.slice('/sdapi/v1/'.length);
    let body: Record<string, unknown> = {};
    if (method === 'POST' && text.trim() !== '') {
      try {
        const parsed: unknown = JSON.parse(text);
        if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
          body = parsed as Record<string, unknown>;
        }
      } catch {
        return sendJson(res, 422, {
          detail: [
            {
              loc: ['body', 0],
              msg: 'Expecting value: line 1 column 1 (char 0)',
              type: 'value_error.jsondecode',
            },
          ],
        });
      }
    }

    switch (`${method} ${route}`) {
      case 'POST txt2img':
      case 'POST img2img': {
        const kind = route === 'txt2img' ? 'txt2img' : 'img2img';
        fake.generationBodies.push(body);
        const errors = [];
        for (const field of INT_FIELDS) {
          const value = body[field];
          if (value === undefined || value === null) continue;
          // pydantic v1 coerces "20" to 20 but not "twenty".
          if (typeof value === 'string' && /^-?\d+$/.test(value)) body[field] = Number(value);
          else if (typeof value !== 'number' || !Number.isInteger(value)) {
            errors.push({
              loc: ['body', field],
              msg: 'value is not a valid integer',
              type: 'type_error.integer',
            });
          }
        }
        if (errors.length > 0) return sendJson(res, 422, { detail: errors });
        if (typeof body.sampler_name === 'string' && !SAMPLERS.includes(body.sampler_name)) {
          return aError(res, 404, 'HTTPException', 'Sampler not found');
        }
        if (kind === 'img2img' && !Array.isArray(body.init_images)) {
          return aError(res, 404, 'HTTPException', 'Init image not found');
        }
        if (typeof body.prompt === 'string' && body.prompt.includes('__oom__')) {
          return aError(res, 500, 'OutOfMemoryError', '', 'CUDA out of memory. Tried to allocate 2.00 GiB');
        }
        fake.inFlight++;
        fake.maxInFlight = Math.max(fake.maxInFlight, fake.inFlight);
        let result: Record<string, unknown>;
        try {
          result = await generate(kind, body);
        } finally {
          fake.inFlight--;
        }
        if (res.destroyed || req.socket.destroyed) return; // the client went away; A1111's thread just finishes
        return sendJson(res, 200, result);
      }
      case 'GET progress':
        return sendJson(res, 200, progress());
      case 'POST interrupt':
        fake.interrupts++;
        if (state.job_count !== 0) state.interrupted = true;
        return sendJson(res, 200, {});
      case 'POST skip':
        if (state.job_count !== 0) state.skipped = true;
        return sendJson(res, 200, null);
      case 'GET options':
        if (!fake.healthy) return aError(res, 500, 'RuntimeError', '', 'model failed to load');
        return sendJson(res, 200, {
          sd_model_checkpoint: MODELS[0]?.title,
          samples_format: 'png',
          live_previews_enable: true,
          show_progress_every_n_steps: 10,
          CLIP_stop_at_last_layers: 1,
        });
      case 'POST options':
        return sendJson(res, 200, null);
      case 'GET sd-models':
        return sendJson(res, 200, MODELS);
      case 'GET samplers':
        return sendJson(
          res,
          200,
          SAMPLERS.map(name => ({ name, aliases: [name.toLowerCase().replace(/\W+/g, '_')], options: {} })),
        );
      case 'GET memory':
        if (!fake.healthy) {
          return aError(res, 500, 'RuntimeError', '', 'CUDA error: device-side assert triggered');
        }
        return sendJson(res, 200, {
          ram: { free: 8e9, used: 8e9, total: 16e9 },
          cuda: { error: 'no CUDA in the fake' },
        });
      default:
        if (
          [
            'txt2img',
            'img2img',
            'progress',
            'interrupt',
            'options',
            'sd-models',
            'samplers',
            'memory',
            'skip',
          ].includes(route)
        ) {
          return sendJson(res, 405, { detail: 'Method Not Allowed' });
        }
        return sendJson(res, 404, { detail: 'Not Found' });
    }
  };

  const server = await listen(
    (req, res) => {
      handler(req, res).catch(() => res.destroy());
    },
    options.port ?? 0,
    options.host,
  );
  const fake: FakeA1111Server = {
    ...server,
    calls: [],
    generationBodies: [],
    interrupts: 0,
    generations: 0,
    maxConcurrent: 0,
    busyProgressAnswers: 0,
    inFlight: 0,
    maxInFlight: 0,
    healthy: true,
    close: async () => {
      shutdown.abort();
      await server.close();
    },
  };
  return fake;
}
