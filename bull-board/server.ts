import fs from 'node:fs';
import { ConfigError, loadConfig, secretValues } from '../src/config/index.js';
import { createLogger } from '../src/logging/logger.js';
import { RedisUnavailableError, checkRedis } from '../src/redis/connection.js';
import { generatePassword } from './auth.js';
import { startBoard } from './board.js';
import { startTracing, stopTracing } from '../src/telemetry/index.js';
import { describeError } from '../src/logging/errors.js';

/**
 * `npm run board`: Bull Board for every queue under QUEUE_PREFIX. Reads `.env` like the
 * CLI, checks Redis the way the worker does, makes up a password when none is set and
 * prints it once, then serves until SIGTERM/SIGINT.
 */
async function main(): Promise<number> {
  if (fs.existsSync('.env')) process.loadEnvFile('.env');
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const logger = createLogger({
    level: config.log.level,
    format: config.log.format,
    secrets: secretValues(config),
  });
  try {
    const check = await checkRedis(config.redis);
    for (const warning of check.warnings) logger.warn(warning);
  } catch (error) {
    if (error instanceof RedisUnavailableError) {
      logger.error(error.message);
      return 1;
    }
    throw error;
  }
  let password = config.board.password;
  if (password === '') {
    password = generatePassword();
    // Printed once, here, on purpose: it is the only way to learn it. Set
    // BULL_BOARD_PASSWORD to keep it out of logs and stable across restarts.
    logger.warn(
      `BULL_BOARD_PASSWORD is not set: generated a password for this run. User "${config.board.username}", password "${password}". ` +
        'Set BULL_BOARD_PASSWORD to choose one.',
    );
  }
  // Before the board builds its queues, which take the tracing hook at construction.
  await startTracing(config.telemetry, logger);
  const board = await startBoard({
    config,
    logger,
    credentials: { username: config.board.username, password },
    secrets: secretValues(config),
  });
  return new Promise<number>(resolve => {
    const onSignal = (signal: NodeJS.Signals): void => {
      logger.info(`${signal} received; stopping Bull Board`);
      board
        .close()
        .then(() => stopTracing())
        .then(
          () => resolve(0),
          (error: unknown) => {
            logger.error('Bull Board did not stop cleanly', { error: describeError(error) });
            resolve(1);
          },
        );
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
}

main().then(
  code => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`Bull Board failed to start: ${describeError(error)}\n`);
    process.exit(1);
  },
);
