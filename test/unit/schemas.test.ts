import fs from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { connectorRegistry } from '../../src/connectors/registry.js';
import { InvalidInputError } from '../../src/core/errors.js';
import { renderSchema, schemaCatalog } from '../../src/connectors/schema-catalog.js';
import { cliEnv, runCli } from '../helpers/cli.js';
import { uniquePrefix } from '../helpers/redis.js';

describe('published schemas', () => {
  test('docs/schemas/*.json are fresh (run `npm run docs:schemas` after changing a definition)', () => {
    const catalog = schemaCatalog();
    expect(fs.readdirSync('docs/schemas').sort()).toEqual(
      [...catalog.keys()].map(name => `${name}.json`).sort(),
    );
    for (const [name, schema] of catalog) {
      expect([name, fs.readFileSync(`docs/schemas/${name}.json`, 'utf8')]).toEqual([
        name,
        renderSchema(schema),
      ]);
    }
    expect([...catalog.keys()]).toEqual(expect.arrayContaining(['progress', 'result', 'webhook-event']));
  });

  test('`emp-worker schema <name>` prints the file; no name lists them; an unknown name is a usage error', async () => {
    const env = cliEnv(uniquePrefix(), { REDIS_URL: 'redis://127.0.0.1:1' }); // needs no Redis
    const one = await runCli(['schema', 'a1111'], env);
    expect(one.code).toBe(0);
    expect(one.stdout).toBe(fs.readFileSync('docs/schemas/a1111.json', 'utf8'));
    const list = await runCli(['schema'], env);
    expect(list.stdout.split('\n')).toEqual(expect.arrayContaining(['comfyui', 'simulation', 'progress']));
    const unknown = await runCli(['schema', 'nope'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no schema named "nope" \(known: simulation, comfyui/);
  });

  // The registry's own schema of each connector, on the bad payloads of the connectors' tests.
  test.each([
    ['simulation', { steps: 'abc' }, '/steps: expected integer ≥ 1 and ≤ 10000 or null, got "abc"'],
    ['simulation', { steps: 20_000 }, '/steps: expected integer ≥ 1 and ≤ 10000 or null, got 20000'],
    [
      'simulation',
      { step: 3 },
      'job data: unknown field "step" (allowed: steps, duration_ms, fail_at_step, result, webhook)',
    ],
    [
      'a1111',
      { method: 'PUT', payload: {} },
      '/method: expected one of "POST", "GET", "post", "get", got "PUT"',
    ],
    ['a1111', { endpoint: 'http://x/y', payload: {} }, /^\/endpoint: expected an sdapi path/],
    ['a1111', { payload: 'a cat' }, '/payload: expected object or null, got "a cat"'],
    ['comfyui', { prompt: 'x' }, '/prompt: expected object, got "x"'],
    ['comfyui', 'hello', 'job data: expected object, got "hello"'],
    ['comfyui', { prompt: { '1': { inputs: {} } } }, /^\/prompt\/1\/class_type: is required/],
    ['rest', [1], 'job data: expected object, got an array'],
    ['rest_async', 'x', 'job data: expected object, got "x"'],
    [
      'simulation',
      { steps: 1, webhook: { url: 'https://example.com', events: ['done'] } },
      '/webhook/events/0: expected one of "completed", "failed", got "done"',
    ],
  ])('%s rejects %j naming the pointer', (name, data, message) => {
    const schema = connectorRegistry[name]?.jobSchema;
    expect(schema).toBeDefined();
    expect(() => schema?.parse(data)).toThrow(InvalidInputError);
    expect(() => schema?.parse(data)).toThrow(message);
  });

  test('hostile data: deep nesting fails as bad input; "__proto__" keys pollute nothing', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    for (const definition of Object.values(connectorRegistry)) {
      expect(() => definition.jobSchema.parse({ result: deep, payload: deep })).toThrow(
        'job data is too deeply nested (more than 128 levels of arrays or objects)',
      );
    }
    expect(() =>
      connectorRegistry.simulation?.jobSchema.parse({
        result: JSON.parse(`${'['.repeat(120)}${']'.repeat(120)}`) as unknown,
      }),
    ).not.toThrow();
    const hostile = JSON.parse('{"__proto__": {"polluted": true}, "prompt": "x"}') as unknown;
    expect(() => connectorRegistry.simulation?.jobSchema.parse(hostile)).toThrow(
      /unknown fields? .*"__proto__"/,
    );
    const rest = connectorRegistry.rest?.jobSchema.parse(hostile) as Record<string, unknown>;
    expect(Object.getPrototypeOf(rest)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const a1111 = connectorRegistry.a1111?.jobSchema.parse(
      JSON.parse('{"payload": {"__proto__": {"polluted": true}, "steps": 2}}'),
    ) as { payload: Record<string, unknown> };
    expect(Object.getPrototypeOf(a1111.payload)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
