import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { ConfigError, redactedConfig, secretValues } from '../../src/config/index.js';
import { connectorSchemas, loadConfigWithConnectors as loadConfig } from '../../src/connectors/registry.js';
import { renderConfigReference } from '../../src/config/reference.js';

const base = { NODE_ENV: 'test' };

describe('configuration', () => {
  test('defaults: simulation only, local Redis, prefix bull', () => {
    const config = loadConfig({});
    expect(config.enabledConnectors).toEqual(['simulation']);
    expect(config.redis.url).toBe('redis://127.0.0.1:6379');
    expect(config.queuePrefix).toBe('bull');
    expect(config.connectors.simulation).toMatchObject({
      concurrency: 1,
      jobType: 'simulation',
      steps: 5,
      processingTime: 10,
    });
    expect(Object.isFrozen(config.connectors)).toBe(true);
  });

  test('per-environment files: test and production differ where they should', () => {
    expect(loadConfig({ NODE_ENV: 'test' }).progressMinIntervalMs).toBe(100);
    expect(loadConfig({ NODE_ENV: 'production' }).log.format).toBe('json');
    expect(loadConfig({ NODE_ENV: 'production', LOG_FORMAT: 'pretty' }).log.format).toBe('pretty');
  });

  test('WORKER_<NAME>_<KEY> wins over <NAME>_<KEY>, which is the fallback', () => {
    expect(
      (loadConfig({ ...base, SIMULATION_CONCURRENCY: '3' }).connectors.simulation as { concurrency: number })
        .concurrency,
    ).toBe(3);
    expect(
      (
        loadConfig({ ...base, SIMULATION_CONCURRENCY: '3', WORKER_SIMULATION_CONCURRENCY: '7' }).connectors
          .simulation as { concurrency: number }
      ).concurrency,
    ).toBe(7);
    expect(loadConfig({ ...base, WORKER_CONNECTORS: 'simulation' }).enabledConnectors).toEqual([
      'simulation',
    ]);
    expect(
      (
        loadConfig({ ...base, WORKER_SIMULATION_JOB_TYPE: 'sim-gpu' }).connectors.simulation as {
          jobType: string;
        }
      ).jobType,
    ).toBe('sim-gpu');
  });

  test.each([
    [
      { WORKER_SIMULATION_CONCURRENCY: 'abc' },
      'WORKER_SIMULATION_CONCURRENCY="abc" (connectors.simulation.concurrency): must be a whole number of 1 or more',
    ],
    [{ WORKER_SIMULATION_CONCURRENCY: '0' }, 'WORKER_SIMULATION_CONCURRENCY="0"'],
    [{ CONNECTORS: 'simulation,nope' }, 'unknown connector "nope" (known: '],
    [{ CONNECTORS: '' }, 'CONNECTORS="" (enabledConnectors): must name at least one connector'],
    [{ REDIS_URL: 'localhost:6379' }, 'REDIS_URL (redis.url): must'],
    [{ LOG_FORMAT: 'xml' }, 'LOG_FORMAT="xml" (log.format)'],
    [{ WORKER_HTTP_PORT: '70000' }, 'WORKER_HTTP_PORT="70000" (http.port): must be a TCP port'],
    [
      { SHUTDOWN_TIMEOUT: '-1' },
      'SHUTDOWN_TIMEOUT="-1" (shutdownTimeout): must be a number of seconds greater than 0',
    ],
  ])('bad value %j is refused naming the variable', (env, message) => {
    expect(() => loadConfig({ ...base, ...env })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, ...env })).toThrow(message);
  });

  test('messages are built per key from our formats: every bad key, in order, none in convict wording', () => {
    const message = messageOf(() =>
      loadConfig({ ...base, LOG_FORMAT: 'xml', WORKER_HTTP_PORT: 'x', PROGRESS_MIN_INTERVAL_MS: '-5' }),
    );
    expect(message).toBe(
      'Invalid configuration: LOG_FORMAT="xml" (log.format): must be one of "json", "pretty"; ' +
        'WORKER_HTTP_PORT="x" (http.port): must be a TCP port from 0 to 65535 (0 picks a free port), or empty to disable; ' +
        'PROGRESS_MIN_INTERVAL_MS="-5" (progressMinIntervalMs): must be a whole number of 0 or more',
    );
    expect(message).not.toMatch(/value was|must be of type|possible values/);
  });

  test('a secret that fails its format is named but never shown, even from the fallback variable', () => {
    const message = messageOf(() =>
      loadConfig({
        ...base,
        REDIS_URL: 'http://:hunter23@x',
        CONNECTORS: 'rest',
        REST_BASE_URL: 'ftp://k3y',
      }),
    );
    expect(message).toContain('REDIS_URL (redis.url): must start with redis:// or rediss://');
    expect(message).toContain(
      'WORKER_REST_BASE_URL="ftp://k3y" (connectors.rest.baseUrl): must start with http://',
    );
    expect(message).not.toContain('hunter23');
  });

  test('a config file: unknown keys and bad values are named by key path', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emp-config-'));
    try {
      fs.writeFileSync(path.join(dir, 'test.json'), JSON.stringify({ log: { colour: 'red' }, nope: 1 }));
      expect(messageOf(() => loadConfig(base, { configDir: dir }))).toBe(
        `Invalid configuration: ${path.join(dir, 'test.json')} sets "log.colour", "nope", which are not settings (see docs/configuration.md)`,
      );
      fs.writeFileSync(path.join(dir, 'test.json'), JSON.stringify({ shutdownTimeout: 0 }));
      expect(messageOf(() => loadConfig(base, { configDir: dir }))).toBe(
        'Invalid configuration: SHUTDOWN_TIMEOUT (shutdownTimeout): must be a number of seconds greater than 0',
      );
      fs.writeFileSync(path.join(dir, 'test.json'), '{ not json');
      expect(messageOf(() => loadConfig(base, { configDir: dir }))).toMatch(
        /test\.json is not readable JSON/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a Redis password never shows in errors, redacted config or logs', () => {
    const config = loadConfig({ ...base, REDIS_URL: 'redis://:hunter22@127.0.0.1:6379' });
    expect(secretValues(config)).toContain('hunter22');
    expect(JSON.stringify(redactedConfig(config))).not.toContain('hunter22');
    try {
      loadConfig({ ...base, REDIS_URL: 'redis//:hunter22@x' });
    } catch (error) {
      expect(String(error)).not.toContain('hunter22');
    }
  });

  test('every variable in .env.example is a real setting', () => {
    const names = [...fs.readFileSync('.env.example', 'utf8').matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map(
      m => m[1],
    );
    const reference = renderConfigReference(connectorSchemas);
    expect(names.length).toBeGreaterThan(20);
    for (const name of names) expect(reference).toContain(`\`${name}\``);
  });

  test('docs/configuration.md matches the schema (run `npm run docs:config` after changing it)', () => {
    expect(fs.readFileSync('docs/configuration.md', 'utf8')).toBe(renderConfigReference(connectorSchemas));
  });
});

/** The message of the ConfigError `load` throws. */
function messageOf(load: () => unknown): string {
  try {
    load();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
}
