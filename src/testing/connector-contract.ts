import assert from 'node:assert/strict';
import { JobAbortError } from '../core/abort.js';
import type { ConnectorError } from '../core/errors.js';
import type { Connector } from '../connectors/types.js';
import { classifyFailure, failureReason } from '../worker/failure.js';
import { raceTimeout } from '../worker/runtime.js';
import { refusedUrl, startFaultProxy, type FaultProxy } from './fault-proxy.js';
import convict from 'convict';
import { registerFormats } from '../config/formats.js';
import { mediaSchema } from '../config/media.js';
import { Media } from '../media/media.js';
import { recordingContext, type RecordingContext } from './job-context.js';

/**
 * The test functions of your runner (jest and vitest have these shapes): the suite
 * registers its tests with them and asserts with `node:assert`, so it needs no runner.
 */
export interface ContractTestFunctions {
  describe(name: string, body: () => void): void;
  test(name: string, body: () => Promise<void>, timeoutMs?: number): void;
  beforeAll(body: () => Promise<void>, timeoutMs?: number): void;
  afterAll(body: () => Promise<void>, timeoutMs?: number): void;
}

/** A running fake of the connector's service. */
export interface ContractService {
  /** Base URL (http://127.0.0.1:<port>); WebSocket services are reached on the same host and port. */
  url: string;
  close(): Promise<void>;
}

/** What the suite needs to know about one connector. */
export interface ConnectorContractAdapter {
  /** Shown in the test names. */
  name: string;
  /**
   * Starts a fake of the service on a free port. Leave it out for a connector without a
   * service (then the failure-classification tests do not apply and are not registered).
   */
  startService?(): Promise<ContractService>;
  /**
   * Builds the connector against `serviceUrl` (a proxy in front of the fake, or a port on
   * which nothing listens), with {@link secrets} configured as its credentials.
   */
  create(serviceUrl: string): Connector | Promise<Connector>;
  /** Job data the service completes, with progress, in a few seconds at most. */
  validJob: unknown;
  /** Job data the service works on until it is stopped (longer than any test). */
  longJob: unknown;
  /** Whether {@link validJob} reports progress; default true. */
  reportsProgress?: boolean;
  /** When {@link longJob} is under way; default: after its first progress report. */
  isRunning?(ctx: RecordingContext): boolean;
  /** Credentials configured by {@link create}: they must appear in no result or failure reason. */
  secrets?: readonly string[];
  /** How long an aborted job may take to settle, in ms; default 5,000 (a bound, not a speed target). */
  abortBoundMs?: number;
  /** Timeout of each test, ms; default 30,000. */
  testTimeoutMs?: number;
  /** The media behind `ctx.outputs`/`ctx.inputs`; default: no store, loopback URLs allowed. */
  media?: Media;
}

/**
 * Answers and their classification in the README's error table: 4xx (other than 408/429,
 * which are retried) is `ERR_SERVICE_REJECTED`, 5xx is `ERR_SERVICE_UNAVAILABLE`.
 */
const STATUS_CASES: ReadonlyArray<readonly [number, ConnectorError['code'], boolean]> = [
  [400, 'ERR_SERVICE_REJECTED', false],
  [403, 'ERR_SERVICE_REJECTED', false],
  [500, 'ERR_SERVICE_UNAVAILABLE', true],
  [503, 'ERR_SERVICE_UNAVAILABLE', true],
];

/**
 * Registers the connector contract for one connector: progress never decreases and stays
 * within 0-100; an abort is honoured within a bound; 4xx, 5xx and a refused connection
 * are classified as the README's error table says; `close()` is safe twice; capabilities
 * are JSON; configured secrets appear in no result and no failure reason.
 * See docs/writing-a-connector.md ("Run the contract suite").
 */
export function connectorContract(t: ContractTestFunctions, adapter: ConnectorContractAdapter): void {
  const timeout = adapter.testTimeoutMs ?? 30_000;
  const abortBound = adapter.abortBoundMs ?? 5_000;
  const secrets = adapter.secrets ?? [];
  const media = adapter.media ?? defaultMedia();
  const testContext = (data: unknown, options: { id: string; signal?: AbortSignal }): RecordingContext =>
    recordingContext(data, { ...options, media });

  t.describe(`connector contract: ${adapter.name}`, () => {
    let service: ContractService | undefined;
    let proxy: FaultProxy | undefined;
    const opened: Connector[] = [];
    const connectTo = async (url: string): Promise<Connector> => {
      const connector = await adapter.create(url);
      opened.push(connector);
      return connector;
    };
    let connector: Connector;

    t.beforeAll(async () => {
      service = await adapter.startService?.();
      proxy = service ? await startFaultProxy(service.url) : undefined;
      connector = await connectTo(proxy?.url ?? '');
    }, timeout);

    t.afterAll(async () => {
      // Everything is closed even when a connector's close() throws; that is reported after.
      const closing = await Promise.allSettled(opened.map(async each => each.close?.()));
      await proxy?.close();
      await service?.close();
      for (const result of closing) if (result.status === 'rejected') throw result.reason;
    }, timeout);

    t.test(
      'a valid job completes with a JSON result; its progress never decreases and stays within 0-100',
      async () => {
        const ctx = testContext(adapter.validJob, { id: 'contract-valid' });
        const result = await connector.process(ctx);
        assertJson(result, 'the result');
        assertNoSecret(JSON.stringify(result), secrets, 'the result');
        const percents = ctx.progressSeen.flatMap(update =>
          update.progress === undefined ? [] : [update.progress],
        );
        if (adapter.reportsProgress ?? true) {
          assert.ok(percents.length > 0, 'the connector reported no progress');
        }
        let previous = 0;
        for (const percent of percents) {
          assert.ok(
            Number.isFinite(percent) && percent >= 0 && percent <= 100,
            `progress ${percent} is outside 0-100 (reports: ${percents.join(', ')})`,
          );
          assert.ok(
            percent >= previous,
            `progress went down from ${previous} to ${percent} (${percents.join(', ')})`,
          );
          previous = percent;
        }
      },
      timeout,
    );

    t.test(
      'close() is safe to call twice, after work',
      async () => {
        const fresh = await connectTo(proxy?.url ?? '');
        await fresh.process(testContext(adapter.validJob, { id: 'contract-close' }));
        await fresh.close?.();
        await fresh.close?.();
      },
      timeout,
    );

    t.test(
      'capabilities (when provided) are JSON and carry no secret',
      async () => {
        // Without getCapabilities the worker advertises {}.
        const capabilities = connector.getCapabilities
          ? await connector.getCapabilities(AbortSignal.timeout(timeout / 2))
          : {};
        assertJson(capabilities, 'the capabilities');
        assertNoSecret(JSON.stringify(capabilities), secrets, 'the capabilities');
      },
      timeout,
    );

    // Registered last: a service with global state (A1111's interrupt) may still be
    // stopping the aborted work when the next test starts.
    const registerAbortTest = (): void => {
      t.test(
        `an aborted job settles within ${abortBound} ms`,
        async () => {
          const controller = new AbortController();
          const ctx = testContext(adapter.longJob, {
            id: 'contract-abort',
            signal: controller.signal,
          });
          const running = connector.process(ctx);
          const outcome = running.then(
            () => 'resolved',
            () => 'rejected',
          );
          const isRunning = (c: RecordingContext): boolean =>
            adapter.isRunning ? adapter.isRunning(c) : c.progressSeen.length > 0;
          let started: boolean;
          try {
            started = await Promise.race([
              until(() => isRunning(ctx), timeout / 2).then(() => true),
              outcome.then(() => false),
            ]);
          } finally {
            controller.abort(new JobAbortError({ kind: 'cancel', reason: 'connector contract' }));
          }
          assert.ok(started, 'the long job ended before it could be aborted');
          const settled = await raceTimeout(outcome, abortBound);
          assert.ok(settled, `the job was still running ${abortBound} ms after its signal aborted`);
        },
        timeout,
      );
    };

    if (!adapter.startService) {
      registerAbortTest();
      return;
    }

    const failsAs = async (
      target: Connector,
      code: ConnectorError['code'],
      retryable: boolean,
      what: string,
    ): Promise<void> => {
      const ctx = testContext(adapter.validJob, { id: 'contract-fault' });
      const outcome = await target.process(ctx).then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
      assert.ok(outcome !== undefined, `${what}: the job succeeded`);
      const failure = classifyFailure(outcome, undefined, adapter.name);
      const reason = failureReason(failure);
      assert.equal(failure.code, code, `${what}: classified as "${reason}"`);
      assert.equal(failure.retryable, retryable, `${what}: retryable should be ${retryable} ("${reason}")`);
      assertNoSecret(reason, secrets, `${what}: the failure reason`);
      assertNoSecret(causeChain(failure), secrets, `${what}: the failure's cause chain`);
    };

    for (const [status, code, retryable] of STATUS_CASES) {
      t.test(
        `a ${status} answer fails ${code}, ${retryable ? 'retried' : 'not retried'}`,
        async () => {
          const faults = requireProxy(proxy);
          faults.answerWith(status);
          try {
            await failsAs(connector, code, retryable, `service answered ${status}`);
          } finally {
            faults.answerWith(undefined);
          }
        },
        timeout,
      );
    }

    t.test(
      'a refused connection fails ERR_SERVICE_UNAVAILABLE, retried',
      async () => {
        const unreachable = await connectTo(await refusedUrl());
        await failsAs(unreachable, 'ERR_SERVICE_UNAVAILABLE', true, 'connection refused');
      },
      timeout,
    );

    registerAbortTest();
  });
}

/** Media as configured by default, with loopback URLs allowed (fakes listen there). */
function defaultMedia(): Media {
  registerFormats();
  const config = convict(mediaSchema, { env: {}, args: [] }).getProperties();
  return new Media({ ...config, input: { ...config.input, allowPrivateUrls: true } }, undefined);
}

function requireProxy(proxy: FaultProxy | undefined): FaultProxy {
  if (!proxy) throw new Error('the service did not start');
  return proxy;
}

function assertJson(value: unknown, what: string): void {
  const problem = jsonProblem(value, '', 0);
  assert.ok(problem === undefined, `${what} is not plain JSON: ${problem ?? ''}`);
}

/**
 * Why `value` would not survive JSON unchanged (a function, undefined, NaN, a Date or other
 * class instance...), or undefined when it would. Objects without a prototype are fine.
 */
function jsonProblem(value: unknown, path: string, depth: number): string | undefined {
  const at = path === '' ? 'the value' : path;
  if (depth > 100) return `${at} is nested more than 100 deep`;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : `${at} is ${value}`;
  if (typeof value !== 'object') return `${at} is a ${typeof value}`;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = jsonProblem(value[i], `${path}[${i}]`, depth + 1);
      if (problem) return problem;
    }
    return undefined;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== null && proto !== Object.prototype) {
    return `${at} is a class instance (${value.constructor.name})`;
  }
  for (const [key, item] of Object.entries(value)) {
    const problem = jsonProblem(item, `${path}.${key}`, depth + 1);
    if (problem) return problem;
  }
  return undefined;
}

function assertNoSecret(text: string, secrets: readonly string[], what: string): void {
  for (const secret of secrets) {
    assert.ok(!text.includes(secret), `${what} contains a configured secret`);
  }
}

/** Every message down the `cause` chain (bounded), as one string. */
function causeChain(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 10 && current !== undefined && current !== null; depth++) {
    parts.push(current instanceof Error ? `${current.name}: ${current.message}` : JSON.stringify(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(' <- ');
}

async function until(predicate: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`not running after ${timeoutMs} ms`);
    await new Promise(resolve => setTimeout(resolve, 10));
  }
}
