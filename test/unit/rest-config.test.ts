import { describe, expect, test } from '@jest/globals';
import { ConfigError, redactedConfig } from '../../src/config/index.js';
import { loadConfigWithConnectors as loadConfig } from '../../src/connectors/registry.js';
import { RestConnector, type RestConfig } from '../../src/connectors/services/rest/index.js';
import type { RestAsyncConfig } from '../../src/connectors/services/rest-async/index.js';
import type { A1111Config } from '../../src/connectors/services/a1111/index.js';
import { parseA1111Job } from '../../src/connectors/services/a1111/index.js';
import { fillJobId, normaliseState } from '../../src/connectors/protocols/rest-async/base.js';
import {
  effectiveBaseUrl,
  httpAuth,
  isSafeRelativePath,
} from '../../src/connectors/protocols/http/service-config.js';
import { createLogger } from '../../src/logging/logger.js';
import { testContext } from '../helpers/job-context.js';

const base = { NODE_ENV: 'test', LOG_LEVEL: 'silent' };

describe('REST connector configuration (the variable names of docs/configuration.md)', () => {
  test('defaults', () => {
    const config = loadConfig({ ...base, CONNECTORS: 'rest,rest_async,a1111' });
    expect(config.connectors.rest).toMatchObject({
      baseUrl: 'http://localhost:8000',
      endpoint: '/api/process',
      useSsl: false,
      timeout: 60,
      jobType: 'rest',
      concurrency: 10,
      healthEndpoint: '/health',
      apiKey: '',
      username: '',
      password: '',
    } satisfies Partial<RestConfig>);
    expect(config.connectors.rest_async).toMatchObject({
      baseUrl: 'http://localhost:8000',
      submitEndpoint: '/api/submit',
      statusEndpoint: '/api/status/{job_id}',
      resultEndpoint: '/api/result/{job_id}',
      cancelEndpoint: '',
      timeout: 300,
      pollInterval: 2,
      jobType: 'rest_async',
      concurrency: 10,
    } satisfies Partial<RestAsyncConfig>);
    expect(config.connectors.a1111).toMatchObject({
      baseUrl: 'http://localhost:7860',
      concurrency: 1,
      jobType: 'a1111',
      healthEndpoint: '/sdapi/v1/memory',
    } satisfies Partial<A1111Config>);
  });

  test('WORKER_* names, and the same names without WORKER_', () => {
    const config = loadConfig({
      ...base,
      WORKER_REST_BASE_URL: 'http://svc:9000',
      REST_ENDPOINT: '/v1/run',
      WORKER_REST_USE_SSL: 'true',
      REST_TIMEOUT: '15',
      WORKER_REST_JOB_TYPE: 'my-rest',
      REST_API_KEY: 'k-123',
      WORKER_REST_HEALTH_ENDPOINT: '/ping',
      REST_ASYNC_POLL_INTERVAL: '0.5',
      WORKER_REST_ASYNC_STATUS_ENDPOINT: '/jobs/{job_id}',
      WORKER_A1111_BASE_URL: 'http://gpu:3130',
      A1111_USERNAME: 'u',
      A1111_PASSWORD: 'p',
    });
    expect(config.connectors.rest).toMatchObject({
      baseUrl: 'http://svc:9000',
      endpoint: '/v1/run',
      useSsl: true,
      timeout: 15,
      jobType: 'my-rest',
      apiKey: 'k-123',
      healthEndpoint: '/ping',
    });
    expect(config.connectors.rest_async).toMatchObject({
      pollInterval: 0.5,
      statusEndpoint: '/jobs/{job_id}',
    });
    expect(config.connectors.a1111).toMatchObject({
      baseUrl: 'http://gpu:3130',
      username: 'u',
      password: 'p',
    });
    const shown = JSON.stringify(redactedConfig(config));
    expect(shown).not.toContain('k-123');
    expect(shown).not.toContain('"p"');
  });

  test.each([
    [
      'WORKER_REST_ENDPOINT',
      'http://evil/x',
      /WORKER_REST_ENDPOINT="http:\/\/evil\/x" \(connectors\.rest\.endpoint\): must be a path below the base URL/,
    ],
    ['WORKER_REST_ENDPOINT', '/a/../../b', /WORKER_REST_ENDPOINT.*must be a path below the base URL/],
    [
      'WORKER_REST_BASE_URL',
      'ftp://x',
      /WORKER_REST_BASE_URL="ftp:\/\/x" \(connectors\.rest\.baseUrl\): must start with http:\/\/ or https:\/\//,
    ],
    ['WORKER_REST_USE_SSL', 'maybe', /WORKER_REST_USE_SSL="maybe".*must be true or false/],
    ['WORKER_REST_ASYNC_POLL_INTERVAL', '0', /WORKER_REST_ASYNC_POLL_INTERVAL="0".*greater than 0/],
    ['WORKER_REST_ASYNC_CANCEL_METHOD', 'GET', /WORKER_REST_ASYNC_CANCEL_METHOD/],
  ])('a bad %s=%s stops start-up naming the variable', (name, value, message) => {
    expect(() => loadConfig({ ...base, [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, [name]: value })).toThrow(message);
  });
});

describe('REST helpers', () => {
  test('USE_SSL upgrades http:// only', () => {
    expect(effectiveBaseUrl({ baseUrl: 'http://svc:8000/base', useSsl: true })).toBe('https://svc:8000/base');
    expect(effectiveBaseUrl({ baseUrl: 'http://svc:8000', useSsl: false })).toBe('http://svc:8000');
    expect(effectiveBaseUrl({ baseUrl: 'https://svc', useSsl: true })).toBe('https://svc/');
  });

  test('auth: empty values are left out', () => {
    expect(httpAuth({ apiKey: '', username: 'u', password: '' })).toEqual({ username: 'u' });
  });

  test.each([
    ['/api/process', true],
    ['/api/status/{job_id}?x=1', true],
    ['api/x', true],
    ['http://evil/x', false],
    ['//evil/x', false],
    ['/a/../b', false],
    ['..', false],
    ['/a\\..\\b', false],
    ['', false],
  ])('isSafeRelativePath(%s) is %s', (path, safe) => {
    expect(isSafeRelativePath(path)).toBe(safe);
  });

  test('{job_id} templating URL-encodes the id', () => {
    expect(fillJobId('/api/status/{job_id}', 'a/b c')).toBe('/api/status/a%2Fb%20c');
    expect(fillJobId('/jobs/{job_id}/out/{job_id}', '7')).toBe('/jobs/7/out/7');
  });

  test.each([
    ['PENDING', 'queued'],
    ['in_progress', 'running'],
    ['succeeded', 'completed'],
    ['error', 'failed'],
    ['canceled', 'cancelled'],
    ['weird', undefined],
  ])('status word %s → %s', (word, state) => {
    expect(normaliseState(word)).toBe(state);
  });

  test('an A1111 job: endpoint forms and defaults', () => {
    expect(parseA1111Job({ payload: { prompt: 'x' } })).toMatchObject({
      path: '/sdapi/v1/txt2img',
      method: 'POST',
      generates: true,
    });
    expect(parseA1111Job({ endpoint: '/sdapi/v1/img2img', payload: {} })).toMatchObject({
      path: '/sdapi/v1/img2img',
      generates: true,
    });
    expect(parseA1111Job({ endpoint: 'options', method: 'GET' })).toMatchObject({
      path: '/sdapi/v1/options',
      method: 'GET',
      generates: false,
      payload: {},
    });
    expect(() => parseA1111Job({ endpoint: 'file:///etc/passwd', payload: {} })).toThrow(
      /^\/endpoint: expected an sdapi path/,
    );
    expect(() => parseA1111Job({ endpoint: 42, payload: {} })).toThrow(
      '/endpoint: expected string of 1 to 200 characters or null, got 42',
    );
  });

  test('the HttpClient also refuses a path that leaves the base URL, through the connector', async () => {
    const config = loadConfig({ ...base }).connectors.rest as RestConfig;
    // A config that skipped validation: the client is the second line of defence.
    const connector = new RestConnector(
      { ...config, endpoint: '//evil.example/x' },
      createLogger({ level: 'silent', format: 'json' }),
    );
    await expect(connector.process(testContext({ a: 1 }))).rejects.toMatchObject({
      code: 'ERR_INVALID_INPUT',
      retryable: false,
    });
    const dotted = new RestConnector(
      { ...config, endpoint: '/api/../../admin' },
      createLogger({ level: 'silent', format: 'json' }),
    );
    await expect(dotted.process(testContext({ a: 1 }))).rejects.toThrow(
      'must be a relative path without ".."',
    );
  });
});
