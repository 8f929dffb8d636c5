import { secretValues, type AppConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/logging/logger.js';
import { startBoard, type BoardServer } from '../../bull-board/board.js';
import { testConfig } from './runtime.js';

/** Credentials the test boards use. */
export const BOARD_USER = 'admin';
export const BOARD_PASSWORD = 'board-test-password';

/** `Authorization` header value for the given credentials. */
export function basicHeader(user = BOARD_USER, password = BOARD_PASSWORD): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** A Bull Board in this process on `prefix`, on a free loopback port, rescanning every 0.2 s. */
export async function startTestBoard(
  prefix: string,
  env: Record<string, string> = {},
  extraSecrets: readonly string[] = [],
): Promise<{ board: BoardServer; config: AppConfig }> {
  const config = testConfig({ BULL_BOARD_RESCAN_INTERVAL: '0.2', ...env }, prefix);
  const logger = createLogger({ level: config.log.level, format: 'json' });
  const board = await startBoard({
    config,
    logger,
    credentials: { username: BOARD_USER, password: BOARD_PASSWORD },
    secrets: [...secretValues(config), ...extraSecrets],
    port: 0,
  });
  return { board, config };
}
