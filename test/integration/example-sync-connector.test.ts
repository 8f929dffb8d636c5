import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import convict from 'convict';
import { registerFormats } from '../../src/config/formats.js';
import {
  summaConfigSchema,
  summaConnector,
  type SummaConfig,
} from '../../src/connectors/services/example/sync.js';
import type { Connector } from '../../src/connectors/types.js';
import { createLogger } from '../../src/logging/logger.js';
import { startFakeSumma, type FakeSummaServer, type SummaRequest } from '../fakes/summa/server.js';
import { testContext } from '../helpers/job-context.js';
import { expectGuideExcerptsIn } from '../helpers/guide.js';

const KEY = 'summa-key-8a61f0';

describe('the sync example of docs/writing-a-connector.md (Summa)', () => {
  let server: FakeSummaServer;
  let seen: SummaRequest[];
  let connector: Connector;

  beforeAll(async () => {
    server = await startFakeSumma(KEY);
    ({ seen } = server);
    registerFormats();
    const config = convict<SummaConfig>(summaConfigSchema, {
      env: { WORKER_SUMMA_BASE_URL: server.url, WORKER_SUMMA_API_KEY: KEY },
      args: [],
    });
    config.validate({ allowed: 'strict' });
    connector = summaConnector.create(config.getProperties(), {
      logger: createLogger({ level: 'silent', format: 'json' }),
    });
  });
  afterAll(async () => server.close());

  test('a summary: one POST with the Bearer key, the answer read by parseResponse', async () => {
    const output = await connector.process(testContext({ text: 'one two three four', max_words: 2 }));
    expect(output).toEqual({ summary: 'one two', words: 2 });
    const call = seen.find(request => request.path === '/v1/summaries');
    expect(call).toMatchObject({ method: 'POST', authorization: `Bearer ${KEY}` });
    expect(JSON.parse(call?.body ?? '{}')).toEqual({ text: 'one two three four', max_words: 2 });
  });

  test('bad data fails naming the field, and nothing is sent', async () => {
    const before = seen.length;
    await expect(connector.process(testContext({ text: 'hi', max_words: 0 }))).rejects.toMatchObject({
      code: 'ERR_INVALID_INPUT',
      message: '/max_words: expected integer ≥ 1 and ≤ 1000, got 0',
    });
    expect(seen.length).toBe(before);
  });

  test("a refusal is ERR_SERVICE_REJECTED with the service's text and the call's facts as fields", async () => {
    await expect(connector.process(testContext({ text: 'reject me' }))).rejects.toMatchObject({
      code: 'ERR_SERVICE_REJECTED',
      retryable: false,
      message: 'Summa answered HTTP 422 to POST /v1/summaries: language not supported',
      status: 422,
      service: 'Summa',
      endpoint: 'POST /v1/summaries',
    });
  });

  test('an answer without a summary is a protocol error', async () => {
    await expect(connector.process(testContext({ text: 'odd answer' }))).rejects.toMatchObject({
      code: 'ERR_PROTOCOL',
      message: 'Summa answered without a "summary.text"',
    });
  });

  test('health GETs /v1/health; capabilities are optional and Summa has none', async () => {
    expect(await connector.checkHealth?.(AbortSignal.timeout(2000))).toMatchObject({
      healthy: true,
      detail: expect.stringContaining('/v1/health'),
    });
    expect('getCapabilities' in connector).toBe(false);
  });

  test('every code excerpt in the guide marked as from the sync example is in it, verbatim', () => {
    expectGuideExcerptsIn('src/connectors/services/example/sync.ts', 1);
  });
});
