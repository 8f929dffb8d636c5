import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startRuntime, type RuntimeHarness } from '../helpers/runtime.js';
import { startFakeRest, type FakeRestServer } from '../fakes/rest/server.js';

/**
 * What the worker log says about a failed job, read from the winston output of a real
 * worker run: the cause chain (messages and codes), the error's structured facts, and the
 * stack only at debug level, with secrets still masked.
 */

const API_KEY = 'sk-error-detail-5be1c0';

/** Collects the JSON log lines a worker writes. */
function logCapture(): { stream: PassThrough; lines: () => Array<Record<string, unknown>> } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
  });
  return {
    stream,
    lines: () =>
      text
        .split('\n')
        .filter(line => line.trim() !== '')
        .map(line => JSON.parse(line) as Record<string, unknown>),
  };
}

function failureLine(
  lines: Array<Record<string, unknown>>,
  jobId: string | undefined,
): Record<string, unknown> | undefined {
  return lines.find(
    line =>
      line.jobId === jobId && typeof line.message === 'string' && line.message.startsWith('job failed:'),
  );
}

describe('the log line of a failed job', () => {
  let fake: FakeRestServer;
  let debug: RuntimeHarness;
  let info: RuntimeHarness;
  const debugLog = logCapture();
  const infoLog = logCapture();
  beforeAll(async () => {
    fake = await startFakeRest({ apiKey: API_KEY });
    const env = { CONNECTORS: 'rest', WORKER_REST_BASE_URL: fake.url, WORKER_REST_API_KEY: API_KEY };
    debug = await startRuntime({ ...env, LOG_LEVEL: 'debug' }, undefined, debugLog.stream);
    info = await startRuntime({ ...env, LOG_LEVEL: 'info' }, undefined, infoLog.stream);
  });
  afterAll(async () => {
    await debug.close();
    await info.close();
    await fake.close();
  });

  test('carries the cause chain, the facts of the call and, at debug level, the stack', async () => {
    const job = await debug.run('rest', { fake: { malformed: true } });
    expect(job.failedReason).toMatch(
      /^ERR_PROTOCOL: REST service answered POST \/api\/process with something/,
    );
    const line = failureLine(debugLog.lines(), job.id);
    expect(line).toMatchObject({
      level: 'warn',
      code: 'ERR_PROTOCOL',
      service: 'REST service',
      endpoint: 'POST /api/process',
      status: 200,
      causes: [{ name: 'SyntaxError', message: expect.stringContaining('JSON') }],
    });
    expect(line?.error).toMatch(/not JSON: <html>.* ← caused by: .*JSON/);
    expect(line?.stack).toMatch(/^ProtocolError: [\s\S]*\ncaused by: SyntaxError: /);
  });

  test('an HTTP error carries its status and endpoint; no stack above debug level; no secret anywhere', async () => {
    const job = await info.run('rest', { fake: { status: 422, detail: 'field required' } });
    const line = failureLine(infoLog.lines(), job.id);
    expect(line).toMatchObject({
      code: 'ERR_SERVICE_REJECTED',
      status: 422,
      service: 'REST service',
      endpoint: 'POST /api/process',
    });
    expect(line).not.toHaveProperty('stack');
    expect(JSON.stringify(infoLog.lines())).not.toContain(API_KEY);
    expect(JSON.stringify(debugLog.lines())).not.toContain(API_KEY);
  });
});
