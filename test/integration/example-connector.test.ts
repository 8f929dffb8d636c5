import type http from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import convict from 'convict';
import { registerFormats } from '../../src/config/formats.js';
import { JobAbortError } from '../../src/connectors/abort.js';
import {
  configSchema,
  lingoConnector,
  type LingoConfig,
} from '../../src/connectors/services/example/index.js';
import type { Connector } from '../../src/connectors/types.js';
import { createLogger } from '../../src/logging/logger.js';
import { readBody, startHttpServer, type TestServer } from '../helpers/http-server.js';
import { waitUntil } from '../helpers/runtime.js';
import { testContext } from '../helpers/job-context.js';
import { expectGuideExcerptsIn } from '../helpers/guide.js';

const KEY = 'lingo-key-123456';

/** A fake of the made-up Lingo API the guide's example drives. */
interface Translation {
  uid: string;
  text: string;
  polls: number;
  cancelled: boolean;
}

describe('the worked example of docs/writing-a-connector.md (Lingo)', () => {
  let server: TestServer;
  const translations = new Map<string, Translation>();
  const seen: string[] = [];
  let connector: Connector;

  beforeAll(async () => {
    const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
      const path = req.url ?? '';
      seen.push(`${req.method} ${path}`);
      const send = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (path === '/v2/ping') return send(200, { pong: true });
      if (req.headers.authorization !== `Bearer ${KEY}`) return send(401, { message: 'bad key' });
      if (req.method === 'POST' && path === '/v2/translations') {
        const body = JSON.parse(await readBody(req)) as { text: string; target_lang: string };
        const uid = `tr_${translations.size + 1}`;
        translations.set(uid, { uid, text: body.text, polls: 0, cancelled: false });
        return send(202, { translation: { uid, state: 'QUEUED' } });
      }
      const match = /^\/v2\/translations\/(tr_\d+)(\/text)?$/.exec(path);
      const translation = match ? translations.get(match[1] ?? '') : undefined;
      if (!translation) return send(404, { message: 'no such translation' });
      if (req.method === 'DELETE') {
        translation.cancelled = true;
        return send(200, {});
      }
      if (match?.[2]) return send(200, { text: translation.text.split('').reverse().join('') });
      translation.polls++;
      const { uid, polls } = translation;
      if (translation.text === 'fail me') {
        return send(200, {
          translation: { uid, state: 'FAILED', failure: { reason: 'unsupported language pair' } },
        });
      }
      if (translation.text === 'forever' || polls < 2) {
        return send(200, { translation: { uid, state: polls === 0 ? 'QUEUED' : 'WORKING', percent: 40 } });
      }
      if (polls < 4) return send(200, { translation: { uid, state: 'WORKING', percent: 50 * (polls - 1) } });
      return send(200, { translation: { uid, state: 'DONE', percent: 100 } });
    };
    server = await startHttpServer((req, res) => {
      handle(req, res).catch(() => res.destroy());
    });
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
