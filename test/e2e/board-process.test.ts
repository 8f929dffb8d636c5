import net from 'node:net';
import { afterAll, describe, expect, test } from '@jest/globals';
import { basicHeader } from '../helpers/board.js';
import { freePort, spawnCollecting, startThrowawayRedis, type Spawned } from '../helpers/processes.js';
import { REDIS_URL, uniquePrefix } from '../helpers/redis.js';

/** Environment of a spawned process: nothing from this shell but PATH. */
function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, NODE_ENV: 'test', LOG_FORMAT: 'json', LOG_LEVEL: 'info', ...extra };
}

describe('npm run board (node dist/bull-board/server.js) as a process', () => {
  const spawned: Spawned[] = [];
  afterAll(async () => {
    for (const process of spawned) await process.stop();
  });

  test('without BULL_BOARD_PASSWORD it makes one up, prints it once, and only it opens the board', async () => {
    const port = await freePort();
    const board = spawnCollecting(
      'node',
      ['dist/bull-board/server.js'],
      env({
        REDIS_URL,
        QUEUE_PREFIX: uniquePrefix('boardproc'),
        BULL_BOARD_PORT: String(port),
      }),
    );
    spawned.push(board);
    const line = await board.waitForLine(/generated a password/);
    await board.waitForLine(/Bull Board on http:\/\/127\.0\.0\.1:\d+\//);
    const record = JSON.parse(line) as { level: string; message: string };
    expect(record.level).toBe('warn');
    expect(record.message).toMatch(
      /^BULL_BOARD_PASSWORD is not set: generated a password for this run\. User "admin", password "/,
    );
    const password = /password "([^"]+)"/.exec(record.message)?.[1] ?? '';
    expect(password).toMatch(/^[A-Za-z0-9_-]{24}$/);
    const base = `http://127.0.0.1:${port}`;
    expect((await fetch(`${base}/api/queues`)).status).toBe(401);
    expect(
      (await fetch(`${base}/api/queues`, { headers: { authorization: basicHeader('admin', 'admin') } }))
        .status,
    ).toBe(401);
    expect(
      (await fetch(`${base}/api/queues`, { headers: { authorization: basicHeader('admin', password) } }))
        .status,
    ).toBe(200);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    // Printed exactly once.
    expect(board.output().split(password).length - 1).toBe(1);
    expect(await board.stop()).toBe(0);
  });

  test('a configured password is used and never printed; Redis warnings appear at start-up', async () => {
    const redis = await startThrowawayRedis(['--maxmemory-policy', 'volatile-lru']);
    try {
      const port = await freePort();
      const board = spawnCollecting(
        'node',
        ['dist/bull-board/server.js'],
        env({
          REDIS_URL: redis.url,
          QUEUE_PREFIX: uniquePrefix('boardproc'),
          BULL_BOARD_PORT: String(port),
          BULL_BOARD_USERNAME: 'ops',
          BULL_BOARD_PASSWORD: 'correct horse battery staple',
        }),
      );
      spawned.push(board);
      await board.waitForLine(/Bull Board on/);
      expect(board.output()).toContain(
        'Redis maxmemory-policy is \\"volatile-lru\\": set it to \\"noeviction\\"',
      );
      const ok = await fetch(`http://127.0.0.1:${port}/`, {
        headers: { authorization: basicHeader('ops', 'correct horse battery staple') },
      });
      expect(ok.status).toBe(200);
      expect(board.output()).not.toContain('correct horse battery staple');
      expect(board.output()).not.toContain('generated a password');
      expect(await board.stop()).toBe(0);
    } finally {
      await redis.stop();
    }
  });

  test.each([
    ['the board', ['dist/bull-board/server.js']],
    ['the worker', ['bin/emp-worker.js', 'start']],
  ])('%s stops at once with one clear line when Redis is unreachable', async (_label, args) => {
    const port = await freePort();
    const process = spawnCollecting(
      'node',
      args,
      env({ REDIS_URL: `redis://127.0.0.1:${port}`, BULL_BOARD_PORT: String(await freePort()) }),
    );
    spawned.push(process);
    expect(await process.exited).toBe(1);
    expect(process.output()).toMatch(
      /Cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+\/? \(REDIS_URL\): connect ECONNREFUSED/,
    );
  });

  test('a bad board setting stops start-up naming the variable', async () => {
    const process = spawnCollecting(
      'node',
      ['dist/bull-board/server.js'],
      env({ REDIS_URL, BULL_BOARD_PORT: 'eighty' }),
    );
    spawned.push(process);
    expect(await process.exited).toBe(2);
    expect(process.output()).toContain('BULL_BOARD_PORT="eighty" (board.port)');
  });

  test('a port already in use stops start-up with one clear line', async () => {
    const holder = net.createServer();
    await new Promise<void>(resolve => holder.listen(0, () => resolve()));
    const address = holder.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      const process = spawnCollecting(
        'node',
        ['dist/bull-board/server.js'],
        env({
          REDIS_URL,
          QUEUE_PREFIX: uniquePrefix('boardproc'),
          BULL_BOARD_PORT: String(port),
          BULL_BOARD_PASSWORD: 'x',
        }),
      );
      spawned.push(process);
      expect(await process.exited).toBe(1);
      expect(process.output()).toMatch(
        new RegExp(`Bull Board failed to start: listen EADDRINUSE: address already in use .*:${port}`),
      );
    } finally {
      await new Promise<void>(resolve => holder.close(() => resolve()));
    }
  });
});
