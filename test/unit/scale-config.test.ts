import { describe, expect, test } from '@jest/globals';
import { ConfigError, hasHashTag, secretValues } from '../../src/config/index.js';
import { parseHostPorts } from '../../src/config/formats.js';
import { loadConfigWithConnectors as loadConfig } from '../../src/connectors/registry.js';
import { rateLimiter, type CommonConnectorConfig } from '../../src/config/connector-schema.js';
import { describeRedis } from '../../src/redis/connection.js';

const base = { NODE_ENV: 'test' };

function configError(env: NodeJS.ProcessEnv): string {
  try {
    loadConfig({ ...base, ...env });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message.split('\n')).toHaveLength(1);
    return message;
  }
  throw new Error('expected a ConfigError');
}

describe('Redis connection modes in the config', () => {
  test('host:port lists parse, IPv6 in brackets', () => {
    expect(parseHostPorts('10.0.0.5:26379, sentinel-b:26380,[::1]:26381')).toEqual([
      { host: '10.0.0.5', port: 26379 },
      { host: 'sentinel-b', port: 26380 },
      { host: '::1', port: 26381 },
    ]);
    expect(parseHostPorts('')).toEqual([]);
  });

  test('Sentinel: the list, the master name and both passwords are read; passwords are secrets', () => {
    const config = loadConfig({
      ...base,
      REDIS_SENTINELS: '127.0.0.1:26379,127.0.0.1:26380',
      REDIS_SENTINEL_NAME: 'mymaster',
      REDIS_PASSWORD: 'data-pw-1',
      REDIS_SENTINEL_PASSWORD: 'sentinel-pw-2',
    });
    expect(config.redis).toMatchObject({
      sentinels: '127.0.0.1:26379,127.0.0.1:26380',
      sentinelName: 'mymaster',
    });
    expect(secretValues(config)).toEqual(expect.arrayContaining(['data-pw-1', 'sentinel-pw-2']));
    expect(describeRedis(config.redis)).toBe(
      'the Redis master "mymaster" via the Sentinels 127.0.0.1:26379,127.0.0.1:26380 (REDIS_SENTINELS)',
    );
  });

  test('Cluster with a hash-tagged prefix is accepted', () => {
    const config = loadConfig({ ...base, REDIS_CLUSTER_NODES: '127.0.0.1:7000', QUEUE_PREFIX: '{emp}' });
    expect(config.redis.clusterNodes).toBe('127.0.0.1:7000');
    expect(hasHashTag('{emp}')).toBe(true);
    expect(hasHashTag('gpu{pool-a}')).toBe(true);
    expect(hasHashTag('{}emp')).toBe(false);
    expect(hasHashTag('emp}{')).toBe(false);
  });

  test.each([
    [
      { REDIS_SENTINELS: '127.0.0.1', REDIS_SENTINEL_NAME: 'm' },
      /^Invalid configuration: REDIS_SENTINELS="127\.0\.0\.1" \(redis\.sentinels\): entry "127\.0\.0\.1" is not host:port/,
    ],
    [
      { REDIS_CLUSTER_NODES: 'a:1,b:notaport', QUEUE_PREFIX: '{e}' },
      /REDIS_CLUSTER_NODES="a:1,b:notaport" .*entry "b:notaport" is not host:port/,
    ],
    [{ REDIS_CLUSTER_NODES: 'a:70000', QUEUE_PREFIX: '{e}' }, /entry "a:70000" is not host:port/],
    [
      { REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_NAME: 'm', REDIS_CLUSTER_NODES: 'b:2', QUEUE_PREFIX: '{e}' },
      /REDIS_SENTINELS and REDIS_CLUSTER_NODES are both set/,
    ],
    [
      { REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_NAME: 'm', REDIS_URL: 'redis://other:6379' },
      /REDIS_URL and REDIS_SENTINELS are both set/,
    ],
    [
      { REDIS_CLUSTER_NODES: 'a:1', QUEUE_PREFIX: '{e}', REDIS_URL: 'redis://:pw-in-url@other:6379' },
      /REDIS_URL and REDIS_CLUSTER_NODES are both set/,
    ],
    [{ REDIS_SENTINELS: 'a:1' }, /REDIS_SENTINELS is set without REDIS_SENTINEL_NAME/],
    [{ REDIS_SENTINEL_NAME: 'm' }, /REDIS_SENTINEL_NAME is set without REDIS_SENTINELS/],
    [
      { REDIS_CLUSTER_NODES: 'a:1', QUEUE_PREFIX: 'bull' },
      /QUEUE_PREFIX="bull" \(queuePrefix\) has no hash tag, but REDIS_CLUSTER_NODES is set: .*one slot.*set QUEUE_PREFIX to a tagged prefix such as \{bull\}/,
    ],
  ])('bad Redis settings %j: one line naming the variables', (env, pattern) => {
    const message = configError(env);
    expect(message).toMatch(pattern);
    expect(message).not.toContain('pw-in-url');
  });

  test('the default REDIS_URL may stay set next to Sentinel (it is the default, not a choice)', () => {
    expect(() =>
      loadConfig({
        ...base,
        REDIS_URL: 'redis://127.0.0.1:6379',
        REDIS_SENTINELS: 'a:1',
        REDIS_SENTINEL_NAME: 'm',
      }),
    ).not.toThrow();
  });
});

describe('cross-replica limits in the config', () => {
  const simulation = (env: NodeJS.ProcessEnv): CommonConnectorConfig =>
    loadConfig({ ...base, ...env }).connectors.simulation as CommonConnectorConfig;

  test('unset by default; set per connector (with the <NAME>_ fallback)', () => {
    expect(simulation({})).toMatchObject({
      globalConcurrency: null,
      rateLimitMax: null,
      rateLimitDuration: null,
    });
    const limited = simulation({
      WORKER_SIMULATION_GLOBAL_CONCURRENCY: '2',
      SIMULATION_RATE_LIMIT_MAX: '5',
      WORKER_SIMULATION_RATE_LIMIT_DURATION: '1000',
    });
    expect(limited.globalConcurrency).toBe(2);
    expect(rateLimiter(limited)).toEqual({ max: 5, duration: 1000 });
  });

  test.each([
    [
      { WORKER_SIMULATION_GLOBAL_CONCURRENCY: '0' },
      /^Invalid configuration: WORKER_SIMULATION_GLOBAL_CONCURRENCY="0" .*must be a whole number of 1 or more/,
    ],
    [{ WORKER_SIMULATION_GLOBAL_CONCURRENCY: '-3' }, /WORKER_SIMULATION_GLOBAL_CONCURRENCY="-3"/],
    [{ WORKER_SIMULATION_GLOBAL_CONCURRENCY: 'two' }, /WORKER_SIMULATION_GLOBAL_CONCURRENCY="two"/],
    [
      { WORKER_SIMULATION_RATE_LIMIT_MAX: '5' },
      /WORKER_SIMULATION_RATE_LIMIT_MAX is set without WORKER_SIMULATION_RATE_LIMIT_DURATION/,
    ],
    [
      { WORKER_SIMULATION_RATE_LIMIT_DURATION: '1000' },
      /WORKER_SIMULATION_RATE_LIMIT_DURATION is set without WORKER_SIMULATION_RATE_LIMIT_MAX/,
    ],
    [
      { WORKER_SIMULATION_RATE_LIMIT_MAX: '0', WORKER_SIMULATION_RATE_LIMIT_DURATION: '1000' },
      /WORKER_SIMULATION_RATE_LIMIT_MAX="0"/,
    ],
  ])('bad limits %j: exit-2 error naming the variable', (env, pattern) => {
    expect(configError(env)).toMatch(pattern);
  });
});

describe('tracing settings', () => {
  test('off by default; the standard OTEL_* names are read', () => {
    expect(loadConfig(base).telemetry).toEqual({
      endpoint: '',
      tracesEndpoint: '',
      serviceName: 'emp-worker',
      disabled: false,
    });
    const config = loadConfig({
      ...base,
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      OTEL_SERVICE_NAME: 'gpu-pool-a',
    });
    expect(config.telemetry).toMatchObject({ endpoint: 'http://collector:4318', serviceName: 'gpu-pool-a' });
  });

  test('a malformed endpoint is refused naming the variable', () => {
    expect(configError({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toMatch(
      /OTEL_EXPORTER_OTLP_ENDPOINT="collector:4318" \(telemetry\.endpoint\): must be an http/,
    );
  });
});
