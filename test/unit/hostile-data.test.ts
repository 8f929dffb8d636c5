import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createDataFormatter, createProgressFormatter } from '../../bull-board/formatters.js';
import { CliError, parseJsonArgument } from '../../src/cli/context.js';
import { HttpClient } from '../../src/connectors/protocols/http/client.js';
import { servicePathProblem } from '../../src/connectors/protocols/http/path.js';
import {
  A1111Connector,
  parseA1111Job,
  type A1111Config,
} from '../../src/connectors/services/a1111/index.js';
import { collectOutputs } from '../../src/connectors/services/comfyui/outputs.js';
import { parseComfyJob } from '../../src/connectors/services/comfyui/workflow.js';
import { loadConfigWithConnectors } from '../../src/connectors/registry.js';
import { MAX_JSON_DEPTH, TOO_DEEP_MARKER, nestingExceeds } from '../../src/json/depth.js';
import { createLogger, redactValue } from '../../src/logging/logger.js';
import { startFakeA1111, type FakeA1111Server } from '../fakes/a1111/server.js';
import { testContext } from '../helpers/job-context.js';

/** What a non-JS producer can write: arrays nested `levels` deep, as text and parsed (JSON.parse is iterative). */
function deepArrays(levels: number): { text: string; value: unknown } {
  const text = `${'['.repeat(levels)}${']'.repeat(levels)}`;
  return { text, value: JSON.parse(text) as unknown };
}

const silent = createLogger({ level: 'silent', format: 'json' });

describe('deeply nested data never reaches a recursive walk', () => {
  const deep = deepArrays(200_000);

  test('the depth check is iterative and exact at the limit', () => {
    expect(nestingExceeds(deep.value)).toBe(true);
    expect(nestingExceeds(deepArrays(MAX_JSON_DEPTH).value)).toBe(false);
    expect(nestingExceeds(deepArrays(MAX_JSON_DEPTH + 1).value)).toBe(true);
    expect(nestingExceeds({ a: [{ b: 1 }], c: 'x' }, 3)).toBe(false);
    expect(nestingExceeds({ a: [{ b: {} }] }, 3)).toBe(true);
    expect(nestingExceeds('scalar')).toBe(false);
  });

  test('log redaction and the board formatters cut it off with a marker instead of overflowing', () => {
    const redacted = redactValue({ data: deep.value }, []);
    expect(() => JSON.stringify(redacted)).not.toThrow();
    expect(JSON.stringify(redacted)).toContain(TOO_DEEP_MARKER);
    const formatted = createDataFormatter([])(deep.value);
    expect(() => JSON.stringify(formatted)).not.toThrow();
    expect(JSON.stringify(formatted)).toContain(TOO_DEEP_MARKER);
    expect(() => JSON.stringify(createProgressFormatter([])({ progress: 5, x: deep.value }))).not.toThrow();
  });

  test('a secret key deeper than the old 8-level redaction limit is still masked', () => {
    let nested: unknown = { password: 'hunter22' };
    for (let i = 0; i < 20; i++) nested = { level: nested };
    expect(JSON.stringify(redactValue(nested, []))).not.toContain('hunter22');
    expect(JSON.stringify(createDataFormatter([])(nested))).not.toContain('hunter22');
  });

  test('enqueue refuses it as a usage error before BullMQ serialises it', () => {
    let thrown: unknown;
    try {
      parseJsonArgument(deep.text, 'job data');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(CliError);
    expect(thrown).toMatchObject({ exitCode: 2, message: expect.stringMatching(/too deeply nested/) });
  });
});

describe('one path rule wherever a service URL is built from job data', () => {
  test.each([
    ['/sdapi/v1/txt2img', undefined],
    ['api/status/abc%20def?x=..', undefined],
    ['/sdapi/v1/%2e%2e/%2e%2e/internal/ping', 'it has a ".." segment'],
    ['/a/%252e%252e/b', 'it has a ".." segment'],
    ['/a/..%2f..%2fb', 'it has a ".." segment'],
    ['/a/%2E./b', 'it has a ".." segment'],
    ['%2f%2fevil.example/x', 'it is a URL, not a path below the base URL'],
    ['/a/%5c..%5cb', 'it has a backslash or a control character'],
    ['/a/%00b', 'it has a backslash or a control character'],
    ['/a/%zz', 'it has malformed percent-encoding'],
    ['/a/%2525252e', 'it is percent-encoded several times over'],
  ])('servicePathProblem(%s) is %s', (path, problem) => {
    expect(servicePathProblem(path)).toBe(problem);
  });

  test('a path must stay under the root it is given', () => {
    expect(servicePathProblem('/sdapi/v1/./options', '/sdapi/v1/')).toBeUndefined();
    expect(servicePathProblem('/internal/ping', '/sdapi/v1/')).toBe('it leaves /sdapi/v1/');
  });

  test('HttpClient.url refuses encoded traversal that the URL parser would resolve', () => {
    const client = new HttpClient({ service: 'Fake', baseUrl: 'http://127.0.0.1:1/base/', timeoutMs: 1000 });
    // What new URL() alone does with it: out of /base/ to /internal/ping.
    expect(new URL('%2e%2e/internal/ping', 'http://127.0.0.1:1/base/').pathname).toBe('/internal/ping');
    expect(() => client.url('%2e%2e/internal/ping')).toThrow(/must be a relative path without "\.\."/);
    expect(() => client.url('.%2E/internal/ping')).toThrow(/must be a relative path/);
    expect(client.url('api/x%2Fy?q=..').href).toBe('http://127.0.0.1:1/base/api/x%2Fy?q=..');
  });

  test('an A1111 endpoint may not leave /sdapi/v1/, encoded or not', () => {
    for (const endpoint of [
      '%2e%2e/%2e%2e/internal/ping',
      '/sdapi/v1/%2E%2E/%2E%2E/internal/ping',
      '..%2F..%2Finternal%2Fping',
      '%252e%252e/%252e%252e/internal/ping',
    ]) {
      expect(() => parseA1111Job({ endpoint, method: 'GET' })).toThrow(
        /^\/endpoint: expected an sdapi path .* below \/sdapi\/v1\//,
      );
    }
    expect(parseA1111Job({ endpoint: 'options', method: 'GET' }).path).toBe('/sdapi/v1/options');
  });

  describe('against the A1111 fake', () => {
    let fake: FakeA1111Server;
    beforeAll(async () => {
      fake = await startFakeA1111();
    });
    afterAll(async () => fake.close());

    test('the encoded traversal of the report fails as bad input and never reaches /internal/ping', async () => {
      const config = loadConfigWithConnectors({ CONNECTORS: 'a1111', WORKER_A1111_BASE_URL: fake.url })
        .connectors.a1111 as A1111Config;
      const connector = new A1111Connector(config, silent);
      await expect(
        connector.process(testContext({ endpoint: '%2e%2e/%2e%2e/internal/ping', method: 'GET' })),
      ).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', retryable: false });
      expect(fake.calls.filter(call => call.includes('/internal/'))).toEqual([]);
    });
  });

  test('ComfyUI /view parameters from history are checked by the same rule', async () => {
    const http = new HttpClient({ service: 'ComfyUI', baseUrl: 'http://127.0.0.1:1', timeoutMs: 1000 });
    const output = await collectOutputs(
      'p1',
      {
        outputs: {
          '9': {
            images: [
              { filename: 'ok.png', subfolder: 'a/b', type: 'output' },
              { filename: 'x.png', subfolder: '../../etc', type: 'output' },
              { filename: '../x.png', subfolder: '', type: 'output' },
              { filename: 'x.png', subfolder: '/etc', type: 'output' },
              { filename: 'x.png', subfolder: '', type: 'models' },
            ],
          },
        },
      },
      { http, apiPrefix: '', inline: false, inlineMaxBytes: 0, signal: new AbortController().signal },
    );
    const images = output.outputs['9']?.images as Array<Record<string, unknown>>;
    expect(images[0]?.url).toBe('http://127.0.0.1:1/view?filename=ok.png&subfolder=a%2Fb&type=output');
    for (const refused of images.slice(1)) {
      expect(refused.url).toBeUndefined();
      expect(refused.view_refused).toEqual(expect.any(String));
    }
  });
});

describe('untrusted keys are data, never prototypes', () => {
  test('a ComfyUI node with id "__proto__" is kept and sent', () => {
    const data = JSON.parse(
      '{"__proto__": {"class_type": "EmptyImage", "inputs": {}}, "9": {"class_type": "SaveImage", "inputs": {"images": ["__proto__", 0]}}}',
    ) as unknown;
    const job = parseComfyJob(data);
    expect(Object.keys(job.prompt).sort()).toEqual(['9', '__proto__']);
    expect(Object.hasOwn(job.prompt, '__proto__')).toBe(true);
    expect(JSON.parse(JSON.stringify({ prompt: job.prompt }))).toEqual({
      prompt: JSON.parse(
        '{"__proto__": {"class_type": "EmptyImage", "inputs": {}}, "9": {"class_type": "SaveImage", "inputs": {"images": ["__proto__", 0]}}}',
      ) as unknown,
    });
  });

  test.each(['constructor', 'toString', 'hasOwnProperty', '__proto__'])(
    'a link to "%s" that is not a node of the workflow is a dangling link',
    id => {
      expect(() => parseComfyJob({ '9': { class_type: 'SaveImage', inputs: { images: [id, 0] } } })).toThrow(
        `links to node "${id}", which is not in the workflow`,
      );
    },
  );

  test('outputs of a "__proto__" node and log/board copies keep the key', async () => {
    const http = new HttpClient({ service: 'ComfyUI', baseUrl: 'http://127.0.0.1:1', timeoutMs: 1000 });
    const entry = JSON.parse('{"outputs": {"__proto__": {"text": ["hi"]}}}') as {
      outputs: Record<string, Record<string, unknown>>;
    };
    const output = await collectOutputs('p', entry, {
      http,
      apiPrefix: '',
      inline: false,
      inlineMaxBytes: 0,
      signal: new AbortController().signal,
    });
    expect(JSON.stringify(output.outputs)).toBe('{"__proto__":{"text":["hi"]}}');
    const hostile = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as unknown;
    expect(JSON.stringify(redactValue(hostile, []))).toBe('{"__proto__":{"polluted":true},"a":1}');
    expect(JSON.stringify(createDataFormatter([])(hostile))).toBe('{"__proto__":{"polluted":true},"a":1}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
