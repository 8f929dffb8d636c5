/**
 * Traces end to end: a producer in this process traces with bullmq-otel, a real worker
 * process exports to an OTLP/HTTP receiver in this test, and the job's spans (BullMQ's
 * consumer span and our service call spans) continue the producer's trace.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { Queue } from 'bullmq';
import { BullMQOtel } from 'bullmq-otel';
import { cliEnv, startWorker } from '../helpers/cli.js';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.js';
import { freePort, type Spawned } from '../helpers/processes.js';
import { REDIS_URL, deletePrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { waitForFinished, waitUntil } from '../helpers/runtime.js';
import { startFakeRest, type FakeRestServer } from '../fakes/rest/server.js';
import { startFakeA1111 } from '../fakes/a1111/server.js';

const probeDirs: string[] = [];
const provider = new NodeTracerProvider({
  spanProcessors: [new SimpleSpanProcessor(new InMemorySpanExporter())],
});
provider.register();
const tracer = trace.getTracer('producer-test');

let receiver: OtlpReceiver;
let rest: FakeRestServer;
const prefixes: string[] = [];
const workers: Spawned[] = [];
const queues: Queue[] = [];

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  rest = await startFakeRest();
});

afterAll(async () => {
  await Promise.all(workers.map(worker => worker.stop()));
  await Promise.all(queues.map(queue => queue.close()));
  const redis = testRedis();
  for (const prefix of prefixes) await deletePrefix(redis, prefix);
  await redis.quit();
  await receiver.close();
  await rest.close();
  await provider.shutdown();
  for (const dir of probeDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * NODE_OPTIONS that make a process print `module probe: <specifier>` for every OpenTelemetry
 * or bullmq-otel module it resolves (a Node module hook), to see what a worker loads.
 */
function moduleProbe(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emp-probe-'));
  probeDirs.push(dir);
  const hook = path.join(dir, 'hook.mjs');
  fs.writeFileSync(
    hook,
    [
      'export async function resolve(specifier, context, next) {',
      '  if (/@opentelemetry\\/|bullmq-otel/.test(specifier)) console.error(`module probe: ${specifier}`);',
      '  return next(specifier, context);',
      '}',
    ].join('\n'),
  );
  const register = path.join(dir, 'register.mjs');
  fs.writeFileSync(
    register,
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hook).href)});\n`,
  );
  return `--import ${register}`;
}

/** A worker process (rest_async unless `settings` say otherwise) and a traced producer of its queue. */
async function tracedWorker(
  settings: Record<string, string>,
  queueName = 'rest_async',
): Promise<{ worker: Spawned; queue: Queue }> {
  const prefix = uniquePrefix('otel');
  prefixes.push(prefix);
  const worker = await startWorker(
    cliEnv(prefix, {
      CONNECTORS: 'rest_async',
      WORKER_REST_ASYNC_BASE_URL: rest.url,
      WORKER_REST_ASYNC_POLL_INTERVAL: '0.05',
      OTEL_SERVICE_NAME: 'emp-test-worker',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      NODE_OPTIONS: moduleProbe(),
      ...settings,
    }),
  );
  workers.push(worker);
  // The producer traces with bullmq-otel, as a user's application would.
  const queue = new Queue(queueName, {
    connection: { url: REDIS_URL },
    prefix,
    telemetry: new BullMQOtel({ tracerName: 'producer-test' }),
  });
  queues.push(queue);
  return { worker, queue };
}

describe('OpenTelemetry traces', () => {
  test("the job's spans continue the producer's trace, service calls carry connector, queue, job and service ids", async () => {
    const { worker, queue } = await tracedWorker({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
    expect(worker.output()).toContain(
      `tracing to ${receiver.url}/v1/traces as service \\"emp-test-worker\\"`,
    );
    const { job, traceId } = await tracer.startActiveSpan('producer request', async span => {
      const added = await queue.add('rest_async', { text: 'traced', fake: { steps: 2, step_ms: 50 } });
      span.end();
      return { job: added, traceId: span.spanContext().traceId };
    });
    const finished = await waitForFinished(queue, job.id ?? '');
    expect(finished.failedReason).toBeUndefined();

    const consumer = await receiver.waitForSpan(
      span => span.name === 'process rest_async' && span.traceId === traceId,
    );
    expect(consumer.service).toBe('emp-test-worker');
    expect(consumer.attributes).toMatchObject({ 'emp.connector': 'rest_async', 'emp.job.id': job.id });
    const poll = await receiver.waitForSpan(
      span =>
        span.traceId === traceId &&
        span.name === 'REST async service GET' &&
        'emp.service.job_id' in span.attributes,
    );
    expect(poll.attributes).toMatchObject({
      'emp.connector': 'rest_async',
      'emp.queue': 'rest_async',
      'emp.job.id': job.id,
      'emp.service': 'REST async service',
      'http.request.method': 'GET',
      'http.response.status_code': 200,
    });
    const submit = await receiver.waitForSpan(
      span => span.traceId === traceId && span.name === 'REST async service POST',
    );
    // Service calls are children inside the job's consumer span (directly or through ours).
    const ids = new Set(receiver.spans.filter(span => span.traceId === traceId).map(span => span.spanId));
    expect(ids.has(submit.parentSpanId)).toBe(true);
    // The service id is the one the fake service handed out for this job.
    expect(rest.jobs.has(String(poll.attributes['emp.service.job_id']))).toBe(true);
    // The probe sees the SDK load in a traced worker (the untraced one must not).
    expect(worker.output()).toContain('module probe: @opentelemetry/sdk-trace-node');
  });

  test('an output upload is a span of the job too', async () => {
    const a1111 = await startFakeA1111({ stepMs: 5 });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emp-otel-out-'));
    probeDirs.push(dir);
    try {
      const { queue } = await tracedWorker(
        {
          CONNECTORS: 'a1111',
          WORKER_A1111_BASE_URL: a1111.url,
          OUTPUT_STORE: 'file',
          OUTPUT_FILE_DIR: dir,
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        },
        'a1111',
      );
      const job = await queue.add('a1111', { payload: { prompt: 'a traced fox', steps: 3 } });
      expect((await waitForFinished(queue, job.id ?? '')).failedReason).toBeUndefined();
      const upload = await receiver.waitForSpan(
        span => span.name === 'upload to file' && span.attributes['emp.job.id'] === job.id,
      );
      expect(upload.attributes).toMatchObject({ 'emp.connector': 'a1111', 'emp.upload.store': 'file' });
    } finally {
      await a1111.close();
    }
  });

  test('a failed service call is recorded with its error code', async () => {
    const { queue } = await tracedWorker({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
    const job = await queue.add(
      'rest_async',
      { text: 'rejected', fake: { submit_status: 400 } },
      { attempts: 1 },
    );
    const finished = await waitForFinished(queue, job.id ?? '');
    const code = finished.failedReason.split(':')[0] ?? '';
    expect(code).toMatch(/^ERR_/);
    const failedCall = await receiver.waitForSpan(
      span =>
        span.attributes['emp.job.id'] === job.id &&
        span.name === 'REST async service POST' &&
        span.status === 2,
    );
    expect(failedCall.attributes['error.type']).toBe(code);
  });

  test('a collector that is down: jobs still complete and the worker says so once', async () => {
    const deadPort = await freePort();
    const { worker, queue } = await tracedWorker({
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${deadPort}`,
    });
    for (let i = 0; i < 4; i++) {
      const job = await queue.add('rest_async', { text: `untraced ${i}`, fake: { steps: 1, step_ms: 100 } });
      const finished = await waitForFinished(queue, job.id ?? '');
      expect(finished.failedReason).toBeUndefined();
    }
    await waitUntil(() => /cannot export traces/.test(worker.output()), 10_000, 'the export warning');
    // Several batches failed by now (one every 100 ms while jobs ran); one line says so.
    await new Promise(resolve => setTimeout(resolve, 500));
    expect(worker.output().match(/cannot export traces/g)).toHaveLength(1);
  });

  test('no endpoint: no SDK started, no OpenTelemetry module even loaded; jobs run', async () => {
    const { worker, queue } = await tracedWorker({});
    const job = await queue.add('rest_async', { text: 'plain', fake: { steps: 1, step_ms: 10 } });
    expect((await waitForFinished(queue, job.id ?? '')).failedReason).toBeUndefined();
    expect(worker.output()).not.toContain('tracing to');
    expect(worker.output()).not.toContain('module probe:');
  });
});
