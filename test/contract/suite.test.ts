import { expect, test } from '@jest/globals';
import { ServiceUnavailableError } from '../../src/core/errors.js';
import type { Connector } from '../../src/connectors/types.js';
import { connectorContract, type ContractTestFunctions } from '../../src/testing/connector-contract.js';
import { startHttpServer } from '../helpers/http-server.js';

// The suite itself must catch a connector that breaks its promises: run it against one that
// breaks nearly all of them and check which of its tests fail.
const SECRET = 'suite-secret-6a1f';
/** Ends the long job, which ignores its abort signal, once the test is over. */
let release = (): void => undefined;
const released = new Promise<void>(resolve => {
  release = resolve;
});

/** Breaks the contract on purpose; only 5xx is classified right. */
function brokenConnector(url: string): Connector {
  let closed = false;
  return {
    name: 'broken',
    async process(ctx) {
      const data = ctx.data as { long?: boolean };
      ctx.progress({ progress: 50 });
      ctx.progress({ progress: 20 }); // goes down
      if (data.long) {
        await released; // ignores ctx.signal
        return {};
      }
      const answer = await fetch(url).catch(() => {
        throw new Error('fetch failed'); // a refused connection becomes ERR_INTERNAL
      });
      // Every HTTP failure called "unavailable": 4xx is retried.
      if (answer.status >= 400) throw new ServiceUnavailableError(`HTTP ${answer.status}`);
      return { token: SECRET };
    },
    async getCapabilities() {
      return { at: new Date(0) };
    },
    async close() {
      if (closed) throw new Error('closed twice');
      closed = true;
    },
  };
}

test('the contract suite fails a connector that breaks each promise, and only those', async () => {
  const registered: Array<{ name: string; body: () => Promise<void> }> = [];
  const hooks: Array<() => Promise<void>> = [];
  const teardown: Array<() => Promise<void>> = [];
  const t: ContractTestFunctions = {
    describe: (_name, body) => body(),
    test: (name, body) => registered.push({ name, body }),
    beforeAll: body => hooks.push(body),
    afterAll: body => teardown.push(body),
  };
  connectorContract(t, {
    name: 'broken',
    startService: () => startHttpServer((_req, res) => res.end('{}')),
    create: url => brokenConnector(url),
    validJob: {},
    longJob: { long: true },
    secrets: [SECRET],
    abortBoundMs: 200,
  });
  const outcome: Record<string, string> = {};
  for (const hook of hooks) await hook();
  try {
    for (const { name, body } of registered) {
      outcome[name] = await body().then(
        () => 'passed',
        () => 'failed',
      );
    }
  } finally {
    release();
    // The broken close() throws the second time: the suite's own teardown must say so too.
    for (const hook of teardown) await hook().catch(() => undefined);
  }
  expect(outcome).toEqual({
    'a valid job completes with a JSON result; its progress never decreases and stays within 0-100': 'failed',
    'an aborted job settles within 200 ms': 'failed',
    'close() is safe to call twice, after work': 'failed',
    'capabilities (when provided) are JSON and carry no secret': 'failed',
    'a 400 answer fails ERR_SERVICE_REJECTED, not retried': 'failed',
    'a 403 answer fails ERR_SERVICE_REJECTED, not retried': 'failed',
    'a 500 answer fails ERR_SERVICE_UNAVAILABLE, retried': 'passed',
    'a 503 answer fails ERR_SERVICE_UNAVAILABLE, retried': 'passed',
    'a refused connection fails ERR_SERVICE_UNAVAILABLE, retried': 'failed',
  });
});
