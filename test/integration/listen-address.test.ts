import net from 'node:net';
import os from 'node:os';
import { describe, expect, test } from '@jest/globals';
import { startTestBoard } from '../helpers/board.js';
import { uniquePrefix } from '../helpers/redis.js';
import { startRuntime } from '../helpers/runtime.js';

/**
 * Another address of this machine than 127.0.0.1, and the host that listens on it too:
 * an external IPv4 address when there is one (0.0.0.0), else IPv6 loopback (::).
 */
function otherAddress(): { address: string; everyInterface: string } {
  const external = Object.values(os.networkInterfaces())
    .flat()
    .find(info => info !== undefined && !info.internal && info.family === 'IPv4');
  return external
    ? { address: external.address, everyInterface: '0.0.0.0' }
    : { address: '::1', everyInterface: '::' };
}

/** Whether something accepts TCP connections at `address:port`. */
function accepts(address: string, port: number): Promise<boolean> {
  return new Promise(resolve => {
    const socket = net.connect({ host: address, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('listen addresses: 127.0.0.1 unless told otherwise (WORKER_HTTP_HOST, BULL_BOARD_HOST)', () => {
  const other = otherAddress();

  test('the health and metrics server answers on 127.0.0.1 only by default, everywhere when asked', async () => {
    const local = await startRuntime({ CONNECTORS: 'simulation', WORKER_HTTP_PORT: '0' });
    try {
      const port = local.runtime.httpPort() ?? 0;
      expect(await accepts('127.0.0.1', port)).toBe(true);
      expect(await accepts(other.address, port)).toBe(false);
    } finally {
      await local.close();
    }
    const everywhere = await startRuntime({
      CONNECTORS: 'simulation',
      WORKER_HTTP_PORT: '0',
      WORKER_HTTP_HOST: other.everyInterface,
    });
    try {
      expect(await accepts(other.address, everywhere.runtime.httpPort() ?? 0)).toBe(true);
    } finally {
      await everywhere.close();
    }
  });

  test('Bull Board answers on 127.0.0.1 only by default, everywhere when asked', async () => {
    const local = await startTestBoard(uniquePrefix('listen'));
    try {
      expect(local.board.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect(await accepts('127.0.0.1', local.board.port)).toBe(true);
      expect(await accepts(other.address, local.board.port)).toBe(false);
    } finally {
      await local.board.close();
    }
    const everywhere = await startTestBoard(uniquePrefix('listen'), {
      BULL_BOARD_HOST: other.everyInterface,
    });
    try {
      expect(await accepts(other.address, everywhere.board.port)).toBe(true);
    } finally {
      await everywhere.board.close();
    }
  });
});
