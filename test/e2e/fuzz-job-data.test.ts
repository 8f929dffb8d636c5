import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { Queue, type Job } from 'bullmq';
import { startFakeA1111, type FakeA1111Server } from '../fakes/a1111/server.js';
import { FakeComfyUI } from '../fakes/comfyui/server.js';
import { startFakeRest, type FakeRestServer } from '../fakes/rest/server.js';
import { freePort, spawnCollecting, type Spawned } from '../helpers/processes.js';
import { REDIS_URL, removePrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { waitUntil } from '../helpers/runtime.js';

/**
 * Fuzzes job data for every connector through a real worker process, real Redis and the
 * fakes: random JSON shaped like each connector's jobs plus hostile payloads (deep nesting
 * as a non-JS producer writes it, huge strings, `__proto__`/`constructor` keys, wrong
 * types, encoded traversal). Every job must end; bad input fails at once (attemptsMade 1,
 * although 3 attempts are allowed); nothing fails as an internal error; the worker stays up.
 *
 * Seeded: FUZZ_SEED reproduces a run (the seed is in every failure message), FUZZ_JOBS sets
 * the random jobs per connector (default 40).
 */

jest.setTimeout(300_000);

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed_2026);
const RANDOM_JOBS = Number(process.env.FUZZ_JOBS ?? 40);
const CONNECTORS = ['simulation', 'rest', 'rest_async', 'a1111', 'comfyui'] as const;
type ConnectorName = (typeof CONNECTORS)[number];

/** mulberry32: a small seeded PRNG, so a failing run can be replayed exactly. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HOSTILE_STRINGS = [
  '__proto__',
  'constructor',
  '../../etc/passwd',
  '%2e%2e/%2e%2e/internal/ping',
  '..%2F..%2Finternal',
  '\u0000',
  '\\..\\..\\windows',
  '😀',
  '<script>alert(1)</script>',
  '{job_id}',
  '',
];
const HOSTILE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'];

class Fuzzer {
  constructor(readonly rand: () => number) {}

  int(min: number, max: number): number {
    return min + Math.floor(this.rand() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)] as T;
  }

  string(): string {
    if (this.rand() < 0.3) return this.pick(HOSTILE_STRINGS);
    const length = this.int(0, 24);
    let text = '';
    for (let i = 0; i < length; i++) {
      text += String.fromCodePoint(this.pick([this.int(32, 126), this.int(0, 0x2fff)]));
    }
    return text;
  }

  scalar(): unknown {
    return this.pick([
      () => this.int(-1000, 1000),
      () => this.rand() * 1e6 - 5e5,
      () => this.rand() < 0.5,
      () => null,
      () => this.string(),
      () => this.pick([Number.MAX_SAFE_INTEGER, -0, 1e308, 0.1]),
    ])();
  }

  key(): string {
    return this.rand() < 0.25 ? this.pick(HOSTILE_KEYS) : this.string().replace(/^fake$/, 'fakeish');
  }

  /** Random JSON; objects have null prototypes so `__proto__` keys stay own keys when serialised. */
  json(depth: number): unknown {
    const r = this.rand();
    if (depth <= 0 || r < 0.45) return this.scalar();
    if (r < 0.7) return Array.from({ length: this.int(0, 4) }, () => this.json(depth - 1));
    const object = Object.create(null) as Record<string, unknown>;
    for (let i = this.int(0, 4); i > 0; i--) object[this.key()] = this.json(depth - 1);
    return object;
  }

  /** A valid-looking job of `connector` with some fields replaced, added or removed. */
  job(connector: ConnectorName): unknown {
    const template = TEMPLATES[connector](this);
    if (this.rand() < 0.15) return this.json(3); // not even the right shape
    const mutated = Object.assign(Object.create(null) as Record<string, unknown>, template);
    for (let i = this.int(0, 3); i > 0; i--) {
      const keys = Object.keys(mutated);
      const action = this.rand();
      if (action < 0.5 && keys.length > 0) mutated[this.pick(keys)] = this.json(2);
      else if (action < 0.8) mutated[this.key()] = this.json(2);
      else if (keys.length > 0) delete mutated[this.pick(keys)];
    }
    return mutated;
  }
}

const graph = (f: Fuzzer): Record<string, unknown> => ({
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: f.int(0, 255) } },
  '2': { class_type: 'FakeSampler', inputs: { images: ['1', 0], steps: f.int(1, 3), step_ms: 1 } },
  '3': {
    class_type: 'SaveImage',
    inputs: { images: ['2', 0], filename_prefix: f.pick(['fuzz', ...HOSTILE_STRINGS]) },
  },
});

const TEMPLATES: Record<ConnectorName, (f: Fuzzer) => Record<string, unknown>> = {
  simulation: f => ({ steps: f.int(1, 5), duration_ms: f.int(0, 50) }),
  rest: f => ({ text: f.string(), n: f.int(0, 9) }),
  rest_async: f => ({ text: f.string(), fake: { steps: 1, step_ms: 1 } }),
  a1111: f => ({
    endpoint: f.pick(['txt2img', 'options', 'sd-models', ...HOSTILE_STRINGS]),
    method: f.pick(['POST', 'GET', 'post']),
    payload: { prompt: f.string(), steps: f.int(1, 4) },
  }),
  comfyui: f => (f.rand() < 0.5 ? graph(f) : { prompt: graph(f), extra_data: { note: f.string() } }),
};

/** A hostile job and what must become of it. */
interface HostileCase {
  label: string;
  connector: ConnectorName;
  /** JSON text as a producer in any language may write it (set straight into Redis). */
  raw?: string;
  data?: unknown;
  /** `invalid`: fails at once as ERR_INVALID_INPUT; `completed`; `ends`: either, but not internal. */
  outcome: 'invalid' | 'completed' | 'ends';
  reason?: RegExp;
}

function hostileCases(): HostileCase[] {
  const cases: HostileCase[] = [];
  const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
  const deepInField = `{"payload": ${'['.repeat(50_000)}${']'.repeat(50_000)}}`;
  for (const connector of CONNECTORS) {
    cases.push({
      label: 'deep arrays',
      connector,
      raw: deep,
      outcome: 'invalid',
      reason: /too deeply nested/,
    });
    cases.push({
      label: 'deep field',
      connector,
      raw: deepInField,
      outcome: 'invalid',
      reason: /too deeply nested/,
    });
    cases.push({
      label: 'over the size limit',
      connector,
      data: { blob: 'x'.repeat(11 * 1024 * 1024) },
      outcome: 'invalid',
      reason: /more than the \d+ allowed/,
    });
    for (const wrong of ['[1,2]', '"hello"', '42', 'true']) {
      cases.push({ label: `data ${wrong}`, connector, raw: wrong, outcome: 'invalid' });
    }
    cases.push({
      label: 'proto keys',
      connector,
      raw: '{"__proto__": {"polluted": 1}, "constructor": {"prototype": {"x": 1}}}',
      outcome: 'ends',
    });
    cases.push({
      label: 'huge string',
      connector,
      data: { text: 'y'.repeat(2 * 1024 * 1024) },
      outcome: 'ends',
    });
  }
  cases.push(
    {
      label: 'encoded traversal',
      connector: 'a1111',
      data: { endpoint: '%2e%2e/%2e%2e/internal/ping', method: 'GET' },
      outcome: 'invalid',
      reason: /\/endpoint: expected an sdapi path/,
    },
    {
      label: 'double-encoded traversal',
      connector: 'a1111',
      data: { endpoint: '%252e%252e/internal/ping', method: 'GET' },
      outcome: 'invalid',
      reason: /\/endpoint: expected an sdapi path/,
    },
    {
      label: '__proto__ node',
      connector: 'comfyui',
      raw: '{"__proto__": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 3}}, "9": {"class_type": "SaveImage", "inputs": {"images": ["__proto__", 0], "filename_prefix": "proto"}}}',
      outcome: 'completed',
    },
    {
      label: 'link to constructor',
      connector: 'comfyui',
      data: {
        '9': { class_type: 'SaveImage', inputs: { images: ['constructor', 0], filename_prefix: 'c' } },
      },
      outcome: 'invalid',
      reason: /links to node "constructor", which is not in the workflow/,
    },
    {
      label: 'traversal in a field',
      connector: 'rest',
      data: { path: '%2e%2e/%2e%2e/etc/passwd' },
      outcome: 'completed',
    },
  );
  return cases;
}

describe('fuzzed job data for every connector (real worker process, Redis and fakes)', () => {
  const prefix = uniquePrefix('fuzz');
  let rest: FakeRestServer;
  let a1111: FakeA1111Server;
  const comfy = new FakeComfyUI();
  let worker: Spawned;
  let httpPort: number;
  const queues = new Map<ConnectorName, Queue>();

  beforeAll(async () => {
    rest = await startFakeRest({ record: false });
    a1111 = await startFakeA1111({ stepMs: 1 });
    await comfy.start();
    httpPort = await freePort();
    worker = spawnCollecting('node', ['bin/emp-worker.js', 'start'], {
      ...process.env,
      NODE_ENV: 'test',
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'info',
      WORKER_HTTP_PORT: String(httpPort),
      WORKER_HEALTH_CHECK_INTERVAL: '1',
      CONNECTORS: CONNECTORS.join(','),
      WORKER_SIMULATION_PROCESSING_TIME: '0.05',
      WORKER_SIMULATION_CONCURRENCY: '5',
      WORKER_SIMULATION_TIMEOUT: '10',
      WORKER_REST_BASE_URL: rest.url,
      WORKER_REST_TIMEOUT: '10',
      WORKER_REST_ASYNC_BASE_URL: rest.url,
      WORKER_REST_ASYNC_POLL_INTERVAL: '0.05',
      WORKER_REST_ASYNC_TIMEOUT: '10',
      WORKER_A1111_BASE_URL: a1111.url,
      WORKER_A1111_TIMEOUT: '10',
      WORKER_A1111_PROGRESS_INTERVAL: '0.05',
      WORKER_COMFYUI_HOST: '127.0.0.1',
      WORKER_COMFYUI_PORT: String(comfy.port),
      WORKER_COMFYUI_TIMEOUT: '10',
    });
    await worker.waitForLine(/"message":"worker \S+ ready"/, 30_000);
    for (const name of CONNECTORS) {
      queues.set(name, new Queue(name, { connection: { url: REDIS_URL }, prefix }));
    }
  });

  afterAll(async () => {
    await worker.stop();
    for (const queue of queues.values()) await queue.close();
    await rest.close();
    await a1111.close();
    await comfy.close();
    await removePrefix(prefix);
  });

  test(`every job ends, bad input fails at once, the worker stays up (seed ${SEED})`, async () => {
    const queue = (name: ConnectorName): Queue => queues.get(name) as Queue;
    const redis = testRedis();
    const added: Array<{ job: Job; label: string; connector: ConnectorName; expected?: HostileCase }> = [];
    try {
      for (const hostile of hostileCases()) {
        const q = queue(hostile.connector);
        if (hostile.raw === undefined) {
          const job = await q.add(hostile.connector, hostile.data, {
            attempts: 3,
            backoff: { type: 'fixed', delay: 10 },
          });
          added.push({ job, label: hostile.label, connector: hostile.connector, expected: hostile });
          continue;
        }
        // Written straight into Redis, as a producer in another language would: a JS
        // producer could not even serialise 200,000 levels of nesting.
        const job = await q.add(
          hostile.connector,
          {},
          { attempts: 3, backoff: { type: 'fixed', delay: 10 }, delay: 3_600_000 },
        );
        await redis.hset(`${prefix}:${hostile.connector}:${job.id ?? ''}`, 'data', hostile.raw);
        await job.promote();
        added.push({ job, label: hostile.label, connector: hostile.connector, expected: hostile });
      }
      const fuzzer = new Fuzzer(prng(SEED));
      for (const connector of CONNECTORS) {
        for (let i = 0; i < RANDOM_JOBS; i++) {
          const data = fuzzer.job(connector);
          const job = await queue(connector).add(connector, data, {
            attempts: 3,
            backoff: { type: 'fixed', delay: 10 },
          });
          added.push({ job, label: `random #${i}: ${JSON.stringify(data).slice(0, 200)}`, connector });
        }
      }

      // Every job ends (completed or failed for good), within a bound.
      await waitUntil(
        async () => {
          let ended = 0;
          for (const q of queues.values()) {
            const counts = await q.getJobCounts('completed', 'failed');
            ended += (counts.completed ?? 0) + (counts.failed ?? 0);
          }
          return ended >= added.length;
        },
        240_000,
        `all ${added.length} fuzzed jobs to end (seed ${SEED})`,
      );

      const problems: string[] = [];
      const outcomes = new Map<ConnectorName, number>();
      const reasons = new Map<string, number>();
      for (const { job: addedJob, label, connector, expected } of added) {
        const job = await queue(connector).getJob(addedJob.id ?? '');
        const where = `${connector} ${label} (job ${addedJob.id ?? '?'}, seed ${SEED})`;
        if (!job) {
          problems.push(`${where}: gone`);
          continue;
        }
        const state = await job.getState();
        const reason = job.failedReason ?? '';
        const summary = `${connector} ${state === 'completed' ? 'completed' : reason.split(':')[0]}`;
        reasons.set(summary, (reasons.get(summary) ?? 0) + 1);
        if (expected === undefined && state === 'completed') {
          outcomes.set(connector, (outcomes.get(connector) ?? 0) + 1);
        }
        if (state !== 'completed' && state !== 'failed') problems.push(`${where}: ended as ${state}`);
        if (/^ERR_INTERNAL|Maximum call stack/.test(reason)) problems.push(`${where}: ${reason}`);
        if (reason.startsWith('ERR_INVALID_INPUT') && job.attemptsMade !== 1) {
          problems.push(`${where}: bad input took ${job.attemptsMade} attempts`);
        }
        if (expected?.outcome === 'invalid') {
          if (!reason.startsWith('ERR_INVALID_INPUT')) {
            problems.push(`${where}: expected ERR_INVALID_INPUT, got ${state} ${reason}`);
          } else if (expected.reason && !expected.reason.test(reason)) {
            problems.push(`${where}: reason ${reason}`);
          }
        }
        if (expected?.outcome === 'completed' && state !== 'completed') {
          problems.push(`${where}: ${state} ${reason}`);
        }
      }
      expect(problems).toEqual([]);
      // The random jobs reach the services, not only the validators: some of each connector's complete.
      for (const connector of CONNECTORS) {
        const completed = outcomes.get(connector) ?? 0;
        expect({ connector, someCompleted: completed > 0 }).toEqual({ connector, someCompleted: true });
      }
      process.stdout.write(`fuzz seed ${SEED}: ${JSON.stringify(Object.fromEntries(reasons))}\n`);

      // The worker is up and still serves every queue.
      expect(worker.child.exitCode).toBeNull();
      expect((await fetch(`http://127.0.0.1:${httpPort}/healthz`)).status).toBe(200);
      expect(worker.output()).not.toMatch(/Maximum call stack|UnhandledPromiseRejection|Uncaught/);
    } finally {
      await redis.quit();
    }
  });
});
