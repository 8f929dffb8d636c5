import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { UnrecoverableError } from 'bullmq';
import ts from 'typescript';
import * as ours from '../../src/core/errors.js';
import { classifyFailure, toBullmqError } from '../../src/worker/failure.js';

/**
 * A connector package can bring its own copy of emp-worker, so the errors it throws come
 * from a second copy of src/core/errors.ts whose classes are not ours: `instanceof`
 * fails across the copies. The worker must still classify them by `code`. The second copy
 * here is the same source compiled on its own and loaded as a separate module.
 */

type ErrorsModule = typeof ours;

describe('errors from another copy of the error module', () => {
  let dir: string;
  let other: ErrorsModule;
  beforeAll(async () => {
    const source = fs.readFileSync(new URL('../../src/core/errors.ts', import.meta.url), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
    });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emp-errors-copy-'));
    const file = path.join(dir, 'errors.mjs');
    fs.writeFileSync(file, outputText);
    other = (await import(file)) as ErrorsModule;
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('really is a second copy: its classes are not ours', () => {
    const theirs = new other.InvalidInputError('field "x" is missing');
    expect(theirs).not.toBeInstanceOf(ours.ConnectorError);
    expect(other.ConnectorError).not.toBe(ours.ConnectorError);
  });

  test('is recognised by code, in both directions', () => {
    expect(ours.isConnectorError(new other.ServiceUnavailableError('down'))).toBe(true);
    expect(other.isConnectorError(new ours.ServiceUnavailableError('down'))).toBe(true);
    expect(ours.hasErrorCode(new other.ServiceTimeoutError('slow'), 'ERR_SERVICE_TIMEOUT')).toBe(true);
    expect(ours.rateLimitWaitMs(new other.RateLimitedError('slow down', 1500))).toBe(1500);
  });

  test('is classified as itself by the worker: no ERR_INTERNAL, retry decision kept', () => {
    const rejected = new other.ServiceRejectedError('HTTP 400', { status: 400, service: 'Lingo' });
    const classified = classifyFailure(rejected, undefined, 'lingo');
    expect(classified).toBe(rejected);
    expect(classified.code).toBe('ERR_SERVICE_REJECTED');
    expect(classified.status).toBe(400);
    expect(toBullmqError(classified)).toBeInstanceOf(UnrecoverableError);

    const unavailable = classifyFailure(new other.ServiceUnavailableError('down'), undefined, 'lingo');
    expect(unavailable.code).toBe('ERR_SERVICE_UNAVAILABLE');
    expect(toBullmqError(unavailable)).not.toBeInstanceOf(UnrecoverableError);
  });

  test('errors that only look similar are not taken for ours', () => {
    const lookalike = Object.assign(new Error('x'), { code: 'ECONNREFUSED', retryable: true });
    expect(ours.isConnectorError(lookalike)).toBe(false);
    expect(ours.isConnectorError({ code: 'ERR_PROTOCOL', retryable: false, message: 'not an Error' })).toBe(
      false,
    );
    expect(classifyFailure(lookalike, undefined, 'lingo').code).toBe('ERR_INTERNAL');
  });
});
