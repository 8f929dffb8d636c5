import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import got from 'got';
import {
  UrlRefusedError,
  checkUrl,
  guardedLookup,
  isPrivateAddress,
  redactUrl,
  resolvePublicUrl,
} from '../../src/net/url-guard.js';

describe('url guard', () => {
  test.each([
    '127.0.0.1',
    '10.1.2.3',
    '172.16.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '0.0.0.0',
    '::1',
    '::',
    'fe80::1',
    'fd00::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:a9fe:a9fe',
  ])('%s is private', address => {
    expect(isPrivateAddress(address)).toBe(true);
  });

  test.each(['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:808:808'])('%s is public', address => {
    expect(isPrivateAddress(address)).toBe(false);
  });

  test('refuses non-http schemes, private literals and bad URLs; allows them with the opt-in', () => {
    expect(() => checkUrl('file:///etc/passwd', { allowPrivate: false })).toThrow('only http and https');
    expect(() => checkUrl('http://127.0.0.1:8188/x', { allowPrivate: false })).toThrow(UrlRefusedError);
    expect(() => checkUrl('http://[::ffff:127.0.0.1]/x', { allowPrivate: false })).toThrow('private');
    expect(() => checkUrl('not a url', { allowPrivate: false })).toThrow('not a valid absolute URL');
    expect(checkUrl('http://127.0.0.1:8188/x', { allowPrivate: true }).port).toBe('8188');
  });

  test('a hostname resolving to loopback is refused before and at connect time', async () => {
    await expect(resolvePublicUrl('http://localhost:1/x', { allowPrivate: false })).rejects.toThrow(
      /localhost resolves to .*private/,
    );
    await expect(resolvePublicUrl('http://localhost:1/x', { allowPrivate: true })).resolves.toBeInstanceOf(
      URL,
    );
  });

  describe('at connect time and on redirects', () => {
    let server: http.Server;
    let port = 0;
    beforeAll(async () => {
      server = http.createServer((req, res) => {
        if (req.url === '/redirect') {
          res.writeHead(302, { location: `http://localhost:${port}/ok` }).end();
          return;
        }
        res.end('ok');
      });
      await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(async () => {
      await new Promise<void>(resolve => server.close(() => resolve()));
    });

    test('guardedLookup refuses a private address and allows it with the opt-in', async () => {
      await expect(
        got(`http://localhost:${port}/ok`, {
          dnsLookup: guardedLookup({ allowPrivate: false }),
          retry: { limit: 0 },
        }),
      ).rejects.toThrow(/private/);
      const allowed = await got(`http://localhost:${port}/ok`, {
        dnsLookup: guardedLookup({ allowPrivate: true }),
        retry: { limit: 0 },
      }).text();
      expect(allowed).toBe('ok');
    });
  });

  test('redactUrl drops credentials and the query (presigned signatures)', () => {
    expect(redactUrl('https://u:p@bucket.example/key.png?X-Amz-Signature=abc')).toBe(
      'https://bucket.example/key.png?…',
    );
  });
});
