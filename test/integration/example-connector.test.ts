import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import convict from 'convict';
import { registerFormats } from '../../src/config/formats.js';
import { JobAbortError } from '../../src/core/abort.js';
import {
  configSchema,
  lingoConnector,
  type LingoConfig,
} from '../../src/connectors/services/example/index.js';
import type { Connector } from '../../src/connectors/types.js';
import { createLogger } from '../../src/logging/logger.js';
import { startFakeLingo, type FakeLingoServer } from '../fakes/lingo/server.js';
import { waitUntil } from '../helpers/runtime.js';
import { testContext } from '../helpers/job-context.js';
import { expectGuideExcerptsIn } from '../helpers/guide.js';

const KEY = 'lingo-key-123456';

describe('the worked example of docs/writing-a-connector.md (Lingo)', () => {
  let server: FakeLingoServer;
  let translations: FakeLingoServer['translations'];
  let seen: string[];
  let connector: Connector;

  beforeAll(async () => {
    server = await startFakeLingo(KEY);
    ({ translations, seen } = server);
    registerFormats();
    const config = convict<LingoConfig>(configSchema, {
      env: {
        WORKER_LINGO_BASE_URL: server.url,
        WORKER_LINGO_API_KEY: KEY,
        WORKER_LINGO_POLL_INTERVAL: '0.02',
      },
      args: [],
    });
    config.validate({ allowed: 'strict' });
    connector = lingoConnector.create(config.getProperties(), {
      logger: createLogger({ level: 'silent', format: 'json' }),
    });
  });
  afterAll(async () => server.close());

  test('its config keys are WORKER_LINGO_*, with the defaults of the common schema', () => {
    registerFormats();
    const defaults = convict<LingoConfig>(configSchema, { env: {}, args: [] }).getProperties();
    expect(defaults).toMatchObject({
      jobType: 'lingo',
      concurrency: 4,
      timeout: 120,
      baseUrl: 'http://localhost:9300',
      pollInterval: 1,
    });
  });

  test("a translation: submitted, polled with Lingo's percent as progress, result fetched", async () => {
    const ctx = testContext({ text: 'hello', target_lang: 'de' });
    expect(await connector.process(ctx)).toEqual({ text: 'olleh' });
    expect(ctx.saved.external_job_id).toMatch(/^tr_\d+$/);
    expect(ctx.logLines).toEqual([`submitted to Lingo as job ${String(ctx.saved.external_job_id)}`]);
    const percents = ctx.progressSeen.filter(p => p.status === 'running').map(p => p.progress);
    expect(percents).toContain(10 + 0.8 * 40);
    expect(percents).toContain(10 + 0.8 * 100);
  });

  test.each([
    [
      'empty text',
      { text: '', target_lang: 'de' },
      '/text: expected string of 1 to 10000 characters, got ""',
    ],
    [
      'too long a text',
      { text: 'x'.repeat(10_001), target_lang: 'de' },
      '/text: expected string of 1 to 10000 characters, got a string of 10001 characters',
    ],
    [
      'a language name',
      { text: 'hi', target_lang: 'German' },
      '/target_lang: expected a two-letter language code such as "de", got "German"',
    ],
    [
      'an unknown field',
      { text: 'hi', target_lang: 'de', lang: 'x' },
      'job data: unknown field "lang" (allowed: text, target_lang, webhook)',
    ],
  ])('bad data (%s) fails naming the field', async (_label, data, message) => {
    await expect(connector.process(testContext(data))).rejects.toMatchObject({
      code: 'ERR_INVALID_INPUT',
      message,
    });
  });

  test("a FAILED translation fails the job with Lingo's reason, not retryable", async () => {
    await expect(
      connector.process(testContext({ text: 'fail me', target_lang: 'fr' })),
    ).rejects.toMatchObject({
      code: 'ERR_SERVICE_FAILED',
      retryable: false,
      message: expect.stringMatching(/^Lingo reported job tr_\d+ failed: unsupported language pair$/),
    });
  });

  test('a cancelled job DELETEs the translation on Lingo', async () => {
    const controller = new AbortController();
    const ctx = testContext({ text: 'forever', target_lang: 'it' }, { signal: controller.signal });
    const running = connector.process(ctx);
    await waitUntil(() => typeof ctx.saved.external_job_id === 'string', 5_000, 'submit');
    controller.abort(new JobAbortError({ kind: 'cancel', reason: 'test' }));
    await expect(running).rejects.toThrow('cancelled: test');
    const uid = String(ctx.saved.external_job_id);
    expect(seen).toContain(`DELETE /v2/translations/${uid}`);
    expect(translations.get(uid)?.cancelled).toBe(true);
  });

  test('health pings /v2/ping', async () => {
    expect(await connector.checkHealth?.(AbortSignal.timeout(2000))).toMatchObject({
      healthy: true,
      detail: expect.stringContaining('/v2/ping'),
    });
  });

  test('every code excerpt in the guide is in the example source, verbatim', () => {
    expectGuideExcerptsIn('src/connectors/services/example/index.ts', 4);
  });
});
