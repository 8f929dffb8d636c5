import type { Logger } from 'winston';
import { secretValues, type AppConfig } from '../config/index.js';
import { createLogger } from '../logging/logger.js';
import { WorkerRuntime } from '../worker/runtime.js';
import { describeError } from '../logging/errors.js';
import { startTracing, stopTracing } from '../telemetry/index.js';

/** `emp-worker start`: runs the worker until SIGTERM/SIGINT, then stops gracefully and exits 0. */
export async function startCommand(config: AppConfig): Promise<number> {
  const logger = cliLogger(config);
  const runtime = new WorkerRuntime(config, logger);
  // A reader that goes away (a closed terminal, a dead log shipper) fails every write with
  // EPIPE: unhandled, each failure is an uncaught exception whose log line fails again, a
  // busy loop that never lets the worker shut down. Lost log lines are the lesser harm.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  process.on('unhandledRejection', reason =>
    logger.error('unhandled promise rejection', { error: describeError(reason) }),
  );
  process.on('uncaughtException', error =>
    logger.error('uncaught exception', { error: error.stack ?? error.message }),
  );
  // Handlers first: a Ctrl-C that lands while the runtime starts (after its ready line, say)
  // must still stop it gracefully instead of killing the process outright.
  // Tracing first: the runtime's BullMQ workers take the tracing hook when they are built.
  const started = startTracing(config.telemetry, logger).then(() => runtime.start());
  return new Promise<number>((resolve, reject) => {
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
      started
        .then(() => runtime.stop())
        .then(() => stopTracing())
        .then(
          () => resolve(0),
          (error: unknown) => {
            logger.error('shutdown failed', { error: describeError(error) });
            resolve(1);
          },
        );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    // A failed start (Redis unreachable…) is reported by main() as one line.
    started.catch(reject);
  });
}

/** The process logger for a loaded config, masking its secrets. */
function cliLogger(config: AppConfig): Logger {
  return createLogger({ level: config.log.level, format: config.log.format, secrets: secretValues(config) });
}
