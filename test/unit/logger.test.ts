import { PassThrough } from 'node:stream';
import { describe, expect, test } from '@jest/globals';
import { createLogger, redactValue } from '../../src/logging/logger.js';

function capture(format: 'json' | 'pretty', secrets: string[] = []) {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const logger = createLogger({ level: 'info', format, secrets, stream });
  return { logger, text: () => text };
}

describe('logger', () => {
  test('JSON lines carry child fields (connector, job id)', async () => {
    const { logger, text } = capture('json');
    logger.child({ connector: 'comfyui' }).child({ jobId: '42' }).info('submitted', { prompt_id: 'abc' });
    await new Promise(resolve => setImmediate(resolve));
    expect(JSON.parse(text().trim())).toMatchObject({
      level: 'info',
      message: 'submitted',
      connector: 'comfyui',
      jobId: '42',
      prompt_id: 'abc',
    });
  });

  test('secret values, secret-named fields and Authorization headers never reach the output', async () => {
    for (const format of ['json', 'pretty'] as const) {
      const { logger, text } = capture(format, ['hunter22-secret']);
      logger.warn('connect failed with password hunter22-secret', {
        password: 'anything',
        api_key: 'k-999',
        headers: { authorization: 'Bearer abc.def', accept: 'json' },
        url: 'http://user:hunter22-secret@host/x',
      });
      logger.error(new Error('upstream said Basic dXNlcjpwYXNz is wrong'));
      await new Promise(resolve => setImmediate(resolve));
      const out = text();
      for (const leaked of ['hunter22-secret', 'k-999', 'abc.def', 'dXNlcjpwYXNz', 'anything']) {
        expect(out).not.toContain(leaked);
      }
      expect(out).toContain('[redacted]');
      expect(out).toContain('connect failed');
    }
  });

  test('redactValue leaves ordinary data alone', () => {
    expect(redactValue({ steps: 5, prompt: 'a cat', nested: [{ ok: true }] }, [])).toEqual({
      steps: 5,
      prompt: 'a cat',
      nested: [{ ok: true }],
    });
  });
});
