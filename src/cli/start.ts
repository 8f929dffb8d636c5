import type { AppConfig } from '../config/index.js';
import { WorkerRuntime } from '../worker/runtime.js';
import { cliLogger } from './context.js';
import { describeError } from '../logging/errors.js';

/** `emp-worker start`: runs the worker until SIGTERM/SIGINT, then stops gracefully and exits 0. */
export async function startCommand(config: AppConfig): Promise<number> {
  const logger = cliLogger(config);
  const runtime = new WorkerRuntime(config, logger);
  process.on('unhandledRejection', reason =>
    logger.error('unhandled promise rejection', { error: describeError(reason) }),
  );
  process.on('uncaughtException', error =>
    logger.error('uncaught exception', { error: error.stack ?? error.message }),
  );
  await runtime.start();
  return new Promise<number>(resolve => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      signals++;
      if (signals > 1) {
        logger.warn(
          `${signal} again: exiting now; unfinished jobs return to the queue after their lock expires`,
        );
        resolve(1);
        return;
      }
      logger.info(`${signal} received`);
      runtime.stop().then(
        () => resolve(0),
        (error: unknown) => {
          logger.error('shutdown failed', { error: describeError(error) });
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
