import { spawn } from 'node:child_process';
import { describe, expect, test } from '@jest/globals';

/**
 * The SSRF guard on the worker's one fetch helper and its upload helper, without the
 * private-address opt-in. The probe runs in a private network namespace whose loopback also
 * carries 203.0.113.10, a public address for the guard, so a public URL that redirects to
 * a private one can be served on this machine (tests elsewhere allow private URLs because
 * their servers listen on 127.0.0.1). The probe runs from dist/ (`npm run build` first).
 */

function runProbe(): Promise<Record<string, string>> {
  const script =
    'ip link set lo up && ip addr add 203.0.113.10/32 dev lo && exec node dist/test/helpers/guard-probe.js';
  const child = spawn('unshare', ['-n', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('exit', code => {
      if (code !== 0) reject(new Error(`probe exited with ${code}: ${err}`));
      else resolve(JSON.parse(out) as Record<string, string>);
    });
  });
}

describe('SSRF guard without INPUT_ALLOW_PRIVATE_URLS', () => {
  test('public URLs load; loopback, a redirect to a private address, to localhost and to the metadata address are refused', async () => {
    const results = await runProbe();
    expect(results.public).toBe('ok 15');
    expect(results.publicRedirect).toBe('ok 15');
    expect(results.loopback).toMatch(/^ERR_INVALID_INPUT: image "probe.png": .*127\.0\.0\.1 is a private/);
    expect(results.redirectToPrivate).toMatch(
      /^ERR_INVALID_INPUT: image "probe.png": .*127\.0\.0\.1 is a private/,
    );
    expect(results.redirectToLocalhost).toMatch(/^ERR_INVALID_INPUT: .*localhost resolves to 127\.0\.0\.1/);
    expect(results.redirectToMetadata).toMatch(/^ERR_INVALID_INPUT: .*169\.254\.169\.254 is a private/);
    expect(results.putToLocalhost).toMatch(/^ERR_INVALID_INPUT: upload_urls entry 0 .*refused/);
    // The signature of the upload URL is not in the message.
    expect(results.putToLocalhost).not.toContain('sig=abc');
    // No request ever reached the private server.
    expect(results.privateHits).toBe('');
  });
});
