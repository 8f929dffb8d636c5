import { describe, expect, test } from '@jest/globals';
import { constantTimeEqual, generatePassword, parseBasicAuth } from '../../bull-board/auth.js';
import { escapeGlob } from '../../bull-board/discovery.js';
import { createDataFormatter, createProgressFormatter, shortenBase64 } from '../../bull-board/formatters.js';

describe('board formatters', () => {
  const formatData = createDataFormatter(['hunter2-known-secret']);
  const formatProgress = createProgressFormatter(['hunter2-known-secret']);

  test('our progress object keeps every field; progress becomes an integer 0-100 the bar can draw', () => {
    const progress = {
      progress: 42,
      status: 'running',
      message: 'KSampler 12/20',
      connector: 'comfyui',
      step: 12,
      total_steps: 20,
    };
    expect(formatProgress(progress)).toEqual(progress);
    expect(formatProgress({ progress: '57.6', status: 'running' })).toEqual({
      progress: 58,
      status: 'running',
    });
    expect(formatProgress({ progress: 250 })).toEqual({ progress: 100 });
    expect(formatProgress({ progress: -3 })).toEqual({ progress: 0 });
  });

  test('plain numbers and numeric strings from other producers draw too; other shapes pass unchanged', () => {
    expect(formatProgress(33)).toBe(33);
    expect(formatProgress('64')).toBe(64);
    expect(formatProgress('half')).toBe('half');
    expect(formatProgress({ stage: 'upload' })).toEqual({ stage: 'upload' });
    expect(formatProgress(null)).toBeNull();
    expect(formatProgress([1, 2])).toEqual([1, 2]);
  });

  test('secrets in progress messages are masked', () => {
    expect(formatProgress({ progress: 5, message: 'using hunter2-known-secret' })).toEqual({
      progress: 5,
      message: 'using [redacted]',
    });
  });

  test('secret-looking keys are masked at any depth, known secret values anywhere', () => {
    const shown = formatData({
      prompt: 'a cat',
      api_key: 'k1',
      headers: { Authorization: 'Bearer abc.def', 'x-api-key': 'k2' },
      nested: [
        { access_token: 't', client_secret: 's', db_password: 'p', note: 'hunter2-known-secret inside' },
      ],
      token: '',
    });
    expect(shown).toEqual({
      prompt: 'a cat',
      api_key: '[redacted]',
      headers: { Authorization: '[redacted]', 'x-api-key': '[redacted]' },
      nested: [
        {
          access_token: '[redacted]',
          client_secret: '[redacted]',
          db_password: '[redacted]',
          note: '[redacted] inside',
        },
      ],
      token: '',
    });
  });

  test('big base64 strings and data URLs are shortened with their size; small or non-base64 strings stay', () => {
    const png = Buffer.alloc(3 * 1024 * 1024, 1).toString('base64');
    expect(shortenBase64(`data:image/png;base64,${png}`)).toBe(
      `[base64 image/png, 3.0 MB: ${png.slice(0, 32)}…]`,
    );
    expect(shortenBase64(png)).toBe(`[base64 3.0 MB: ${png.slice(0, 32)}…]`);
    const wrapped = (png.slice(0, 4000).match(/.{1,76}/g) ?? []).join('\n');
    expect(shortenBase64(wrapped)).toMatch(/^\[base64 2\.9 kB: /);
    expect(shortenBase64('aGVsbG8=')).toBe('aGVsbG8=');
    // Large inputs are scanned without a regular expression (a backtracking one overflowed the stack).
    const huge = Buffer.alloc(24 * 1024 * 1024, 7).toString('base64');
    expect(shortenBase64(huge)).toMatch(/^\[base64 24\.0 MB: /);
    const mixed = `${'ab+/'.repeat(100)}${'cd-_'.repeat(100)}`;
    expect(shortenBase64(mixed)).toBe(mixed);
    expect(shortenBase64('='.repeat(300))).toBe('='.repeat(300));
    const prose = 'a long prompt, with spaces and punctuation. '.repeat(20);
    expect(shortenBase64(prose)).toBe(prose);
    expect(formatData({ images: [png, 'small'] })).toEqual({
      images: [`[base64 3.0 MB: ${png.slice(0, 32)}…]`, 'small'],
    });
  });

  test('formatting never changes the value it is given', () => {
    const data = { api_key: 'k', image: Buffer.alloc(1000).toString('base64') };
    const copy = structuredClone(data);
    formatData(data);
    expect(data).toEqual(copy);
  });
});

describe('board auth helpers', () => {
  test('Basic credentials parse, passwords may hold ":"; malformed headers are refused', () => {
    const header = (text: string): string => `Basic ${Buffer.from(text).toString('base64')}`;
    expect(parseBasicAuth(header('admin:pa:ss'))).toEqual({ username: 'admin', password: 'pa:ss' });
    expect(parseBasicAuth(header('admin:'))).toEqual({ username: 'admin', password: '' });
    expect(parseBasicAuth(header('no-colon'))).toBeUndefined();
    expect(parseBasicAuth('Bearer token')).toBeUndefined();
    expect(parseBasicAuth(undefined)).toBeUndefined();
  });

  test('constant-time comparison works across lengths', () => {
    expect(constantTimeEqual('secret', 'secret')).toBe(true);
    expect(constantTimeEqual('secret', 'secreT')).toBe(false);
    expect(constantTimeEqual('secret', 'secret-longer')).toBe(false);
    expect(constantTimeEqual('', '')).toBe(true);
  });

  test('generated passwords are long, URL-safe and different each time', () => {
    const a = generatePassword();
    expect(a).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(generatePassword()).not.toBe(a);
  });

  test('queue-discovery patterns escape glob characters in the prefix', () => {
    expect(escapeGlob('{emp}')).toBe('{emp}');
    expect(escapeGlob('a*b?[c]\\')).toBe('a\\*b\\?\\[c\\]\\\\');
  });
});
