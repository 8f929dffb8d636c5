import { describe, expect, test } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import type { WebhookConfig } from '../../src/config/schema.js';
import { signWebhook, webhookIdOf } from '../../src/webhooks/delivery.js';
import { resolveJobWebhook } from '../../src/webhooks/job-webhook.js';
import { takeWorkerFields } from '../../src/jobs/worker-fields.js';
import { newWebhookSecret } from '../helpers/webhook-receiver.js';

const config = (overrides: Partial<WebhookConfig> = {}): WebhookConfig => ({
  url: '',
  secret: newWebhookSecret(),
  retryHours: 24,
  retryDelay: 5,
  timeout: 10,
  concurrency: 1,
  allowPrivateUrls: false,
  ...overrides,
});

describe('job webhooks', () => {
  test('our signature verifies with the reference standardwebhooks package', () => {
    const secret = newWebhookSecret();
    const body = JSON.stringify({ type: 'job.completed', data: { jobId: '1' } });
    const now = Math.floor(Date.now() / 1000);
    const headers = {
      'webhook-id': 'msg_1',
      'webhook-timestamp': String(now),
      'webhook-signature': signWebhook(secret, 'msg_1', now, body),
    };
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new Webhook(newWebhookSecret()).verify(body, headers)).toThrow();
  });

  test('the webhook-id names one event of one job, stable across calls', () => {
    const end = { queue: 'q', jobId: '7', createdAt: 1, attemptsMade: 1 };
    expect(webhookIdOf('p', end, 'completed')).toBe(webhookIdOf('p', end, 'completed'));
    expect(webhookIdOf('p', end, 'completed')).not.toBe(webhookIdOf('p', end, 'failed'));
    expect(webhookIdOf('p', end, 'completed')).not.toBe(
      webhookIdOf('p', { ...end, createdAt: 2 }, 'completed'),
    );
  });

  test.each([
    [
      'a private address',
      'http://10.1.2.3/hook',
      /^\/webhook\/url: webhook\.url http:\/\/10\.1\.2\.3\/hook is refused: 10\.1\.2\.3 is a private/,
    ],
    ['a mapped loopback', 'http://[::ffff:127.0.0.1]/x', /^\/webhook\/url: .*private/],
    ['a name resolving to loopback', 'http://localhost:9/x', /^\/webhook\/url: .*resolves to .*private/],
    ['the metadata address', 'http://169.254.169.254/latest', /^\/webhook\/url: .*private/],
  ])('%s is refused without WEBHOOK_ALLOW_PRIVATE_URLS', async (_label, url, message) => {
    await expect(resolveJobWebhook({ webhook: { url } }, config())).rejects.toThrow(message);
    await expect(
      resolveJobWebhook({ webhook: { url } }, config({ allowPrivateUrls: true })),
    ).resolves.toEqual({
      url,
      events: ['completed', 'failed'],
    });
  });

  test('a job webhook on a worker without WEBHOOK_SECRET fails; WEBHOOK_URL applies to jobs without one', async () => {
    await expect(
      resolveJobWebhook({ webhook: { url: 'https://example.com' } }, config({ secret: '' })),
    ).rejects.toThrow(/^\/webhook: this worker has no WEBHOOK_SECRET/);
    await expect(
      resolveJobWebhook({ steps: 1 }, config({ url: 'https://example.com/all' })),
    ).resolves.toEqual({
      url: 'https://example.com/all',
      events: ['completed', 'failed'],
    });
    await expect(resolveJobWebhook({ steps: 1 }, config())).resolves.toBeUndefined();
  });

  test('stripping the field keeps a "__proto__" key a plain key and pollutes nothing', () => {
    const data = JSON.parse('{"__proto__": {"polluted": 1}, "webhook": {"url": "x"}, "a": 1}') as Record<
      string,
      unknown
    >;
    const rest = takeWorkerFields(data, { allowPrivate: false }).data as Record<string, unknown>;
    expect(Object.getPrototypeOf(rest)).toBe(Object.prototype);
    expect(Object.keys(rest).sort()).toEqual(['__proto__', 'a']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
