import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, test } from '@jest/globals';
import { WebSocketServer } from 'ws';
import { ServiceTimeoutError, ServiceUnavailableError } from '../../src/core/errors.js';
import { ServiceSocket, decodeFrame } from '../../src/connectors/protocols/websocket/socket.js';
import { MessageStream } from '../../src/connectors/protocols/websocket/stream.js';

/** The WebSocket helpers against real servers on port 0. */

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function wsServer(
  options: { autoPong?: boolean } = {},
): Promise<{ url: string; server: WebSocketServer }> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1', autoPong: options.autoPong ?? true });
  await new Promise<void>(resolve => server.once('listening', () => resolve()));
  closers.push(
    () =>
      new Promise<void>(resolve => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  );
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`, server };
}

describe('ServiceSocket', () => {
  test('a server that accepts TCP but never answers the upgrade: a timeout error within the connect timeout', async () => {
    const accepted: net.Socket[] = [];
    const silent = net.createServer(socket => accepted.push(socket));
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', () => resolve()));
    closers.push(async () => {
      for (const socket of accepted) socket.destroy();
      silent.close();
    });
    const port = (silent.address() as AddressInfo).port;
    const opening = ServiceSocket.open({
      service: 'Svc',
      url: `ws://127.0.0.1:${port}/ws`,
      connectTimeoutMs: 200,
      pingIntervalMs: 0,
    });
    await expect(opening).rejects.toBeInstanceOf(ServiceTimeoutError);
    await expect(opening).rejects.toThrow(
      `Svc WebSocket at ws://127.0.0.1:${port}/ws did not open within 200 ms`,
    );
  });

  test('nothing listening: unavailable (retryable), naming the address and the error code', async () => {
    const { url, server } = await wsServer();
    await new Promise<void>(resolve => server.close(() => resolve()));
    closers.length = 0;
    const opening = ServiceSocket.open({ service: 'Svc', url, connectTimeoutMs: 2000, pingIntervalMs: 0 });
    await expect(opening).rejects.toBeInstanceOf(ServiceUnavailableError);
    await expect(opening).rejects.toThrow(
      /Svc WebSocket unreachable at ws:\/\/127\.0\.0\.1:\d+\/ws: ECONNREFUSED/,
    );
  });

  test('an aborted connect rejects with the abort reason', async () => {
    const { url } = await wsServer();
    const controller = new AbortController();
    controller.abort(new Error('job cancelled'));
    await expect(
      ServiceSocket.open({
        service: 'Svc',
        url,
        connectTimeoutMs: 2000,
        pingIntervalMs: 0,
        signal: controller.signal,
      }),
    ).rejects.toThrow('job cancelled');
  });

  test('frames are decoded and headers are sent on the upgrade', async () => {
    const { url, server } = await wsServer();
    const seenAuth = new Promise<string | undefined>(resolve =>
      server.once('connection', (ws, req) => {
        resolve(req.headers.authorization);
        ws.send(JSON.stringify({ type: 'status', data: { sid: 'x' } }));
        ws.send(Buffer.from([0, 0, 0, 1, 0, 0, 0, 2, 9]), { binary: true });
      }),
    );
    const socket = await ServiceSocket.open({
      service: 'Svc',
      url,
      connectTimeoutMs: 2000,
      pingIntervalMs: 0,
      headers: { authorization: 'Bearer t' },
    });
    const frames: unknown[] = [];
    await new Promise<void>(resolve => {
      socket.onMessage(message => {
        frames.push(message);
        if (frames.length === 2) resolve();
      });
    });
    expect(await seenAuth).toBe('Bearer t');
    expect(frames[0]).toEqual({ kind: 'json', type: 'status', data: { sid: 'x' } });
    expect(frames[1]).toEqual({ kind: 'binary', event: 1, payload: Buffer.from([0, 0, 0, 2, 9]) });
    await socket.close();
    expect(socket.open).toBe(false);
  });

  test('keep-alive: a peer that stops answering pings is dropped', async () => {
    const { url } = await wsServer({ autoPong: false });
    const socket = await ServiceSocket.open({
      service: 'Svc',
      url,
      connectTimeoutMs: 2000,
      pingIntervalMs: 50,
    });
    const reason = await new Promise<string>(resolve => socket.onClose(resolve));
    expect(reason).toBe('keep-alive ping unanswered');
  });

  test('keep-alive: a peer that answers pings stays connected', async () => {
    const { url, server } = await wsServer();
    const socket = await ServiceSocket.open({
      service: 'Svc',
      url,
      connectTimeoutMs: 2000,
      pingIntervalMs: 30,
    });
    let pings = 0;
    for (const client of server.clients) client.on('ping', () => pings++);
    await new Promise<void>(resolve => {
      const check = setInterval(() => {
        if (pings >= 4) {
          clearInterval(check);
          resolve();
        }
      }, 10);
    });
    expect(socket.open).toBe(true);
    await socket.close();
  });
});

describe('decodeFrame and MessageStream', () => {
  test('non-JSON text and JSON without a type stay text', () => {
    expect(decodeFrame(Buffer.from('hello'), false)).toEqual({ kind: 'text', text: 'hello' });
    expect(decodeFrame(Buffer.from('[1,2]'), false)).toEqual({ kind: 'text', text: '[1,2]' });
  });

  test('next() gives buffered events, undefined on a watchdog timeout, and the abort reason on abort', async () => {
    const controller = new AbortController();
    const stream = new MessageStream(controller.signal);
    stream.push({ kind: 'text', text: 'a' });
    expect(await stream.next(1000)).toEqual({ kind: 'text', text: 'a' });
    expect(await stream.next(20)).toBeUndefined();
    const waiting = stream.next(10_000);
    controller.abort(new Error('cancelled: by test'));
    await expect(waiting).rejects.toThrow('cancelled: by test');
  });

  test('a waiting reader is woken by a push; closing unsubscribes once', async () => {
    let closed = 0;
    const stream = new MessageStream(new AbortController().signal, () => closed++);
    const waiting = stream.next(10_000);
    stream.push({ kind: 'reconnected' });
    expect(await waiting).toEqual({ kind: 'reconnected' });
    stream.close();
    stream.close();
    expect(closed).toBe(1);
    expect(await stream.next(10)).toBeUndefined();
  });
});
