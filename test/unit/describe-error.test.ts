import { PassThrough } from 'node:stream';
import { describe, expect, test } from '@jest/globals';
import { ServiceUnavailableError } from '../../src/core/errors.js';
import { MAX_CAUSE_DEPTH, describeError, errorChain, errorLogFields } from '../../src/logging/errors.js';
import { createLogger } from '../../src/logging/logger.js';

describe('describeError (what replaces String(error))', () => {
  test('keeps the cause chain with the codes the messages leave out', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    const wrapped = Object.assign(new Error('request failed', { cause: refused }), {
      code: 'ERR_GOT_REQUEST',
    });
    const error = new ServiceUnavailableError('REST service unreachable', { cause: wrapped });
    expect(describeError(error)).toBe(
      'REST service unreachable ← caused by: request failed (ERR_GOT_REQUEST) ← caused by: connect ECONNREFUSED 127.0.0.1:9',
    );
  });

  test('is bounded: cycles are cut, depth and message length are capped', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    a.cause = b;
    expect(describeError(a)).toBe('a ← caused by: b');
    let deep: Error = new Error('level 0');
    for (let i = 1; i < 50; i++) deep = new Error(`level ${i}`, { cause: deep });
    expect(errorChain(deep)).toHaveLength(MAX_CAUSE_DEPTH);
    expect(describeError(new Error('x'.repeat(10_000))).length).toBeLessThan(600);
  });

  test('renders what is not an Error, and an empty AggregateError by its parts', () => {
    expect(describeError('plain text')).toBe('plain text');
    expect(describeError({ reason: 'odd' })).toBe('{"reason":"odd"}');
    const aggregate = new AggregateError(
      [new Error('connect ECONNREFUSED ::1:9'), new Error('connect ECONNREFUSED 127.0.0.1:9')],
      '',
    );
    expect(describeError(aggregate)).toBe('connect ECONNREFUSED ::1:9; connect ECONNREFUSED 127.0.0.1:9');
  });

  test('log fields carry the chain as data; the logger still masks secrets in it', () => {
    const secret = 'sk-live-abcdef123456';
    const error = new ServiceUnavailableError('service down', {
      cause: new Error(`upstream said: bad key ${secret}`),
    });
    const fields = errorLogFields(error, { stack: true });
    expect(fields.causes).toEqual([{ name: 'Error', message: `upstream said: bad key ${secret}` }]);
    expect(fields.stack).toMatch(
      /^ServiceUnavailableError: service down[\s\S]*\ncaused by: Error: upstream said/,
    );
    const stream = new PassThrough();
    let out = '';
    stream.on('data', (chunk: Buffer) => (out += chunk.toString()));
    createLogger({ level: 'info', format: 'json', secrets: [secret], stream }).warn('failed', fields);
    expect(out).toContain('upstream said: bad key [redacted]');
    expect(out).not.toContain(secret);
  });
});
