import { parseArgs } from 'node:util';
import { ConfigError } from '../config/index.js';
import { CliError, EXIT, loadCliConfig } from './context.js';
import { describeError } from '../logging/errors.js';

// Each command is imported when it runs: `cancel` and `enqueue` then load BullMQ only, not
// every connector with got, ws and winston (bench/cli-startup.ts measures the difference).

const USAGE = `Usage: emp-worker <command> [options]

Commands:
  start                          run the worker (connectors from CONNECTORS, default simulation)
  details <connector>            version, queue, redacted config, capabilities and a live probe
  status                         live workers, their connectors and jobs; queue counts
  enqueue <queue> <json>         add a job (like any BullMQ producer)
      --wait                     follow it with a progress bar and print the result
      --wait-for-worker          with --wait: keep waiting when no live worker serves the queue
      --attempts <n>             attempts before it fails for good (default 3)
      --backoff <ms>             first retry delay, doubled each time (default 5000)
      --priority <n>             BullMQ priority (1 = highest)
      --job-id <id>              choose the job id
  cancel <queue> <job id>        stop a job wherever it runs; it fails as cancelled
      --reason <text>            reason recorded with the job
  schema [name]                  JSON Schema of a connector's job data, or of progress,
                                 result, webhook-event (no name: list them)

Options: --json (details, status)   -h, --help
Configuration comes from the environment and .env; see docs/configuration.md.`;

/** Runs the CLI and returns its exit code. */
export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        wait: { type: 'boolean', default: false },
        'wait-for-worker': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        attempts: { type: 'string' },
        backoff: { type: 'string' },
        priority: { type: 'string' },
        'job-id': { type: 'string' },
        reason: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    process.stderr.write(`${describeError(error)}\n\n${USAGE}\n`);
    return EXIT.usage;
  }
  const { values, positionals } = parsed;
  const [command = 'help', ...args] = positionals;
  if (values.help || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  try {
    switch (command) {
      case 'start': {
        const config = await loadCliConfig({ connectors: true });
        const { startCommand } = await import('./start.js');
        return await startCommand(config);
      }
      case 'details': {
        const config = await loadCliConfig({ connectors: true });
        const { detailsCommand } = await import('./details.js');
        return await detailsCommand(config, requireArg(args[0], 'connector'), values.json);
      }
      case 'status': {
        // Connector settings name the queues the enabled connectors use.
        const config = await loadCliConfig({ connectors: true });
        const [{ statusCommand }, { withCliTracing }] = await Promise.all([
          import('./status.js'),
          import('./tracing.js'),
        ]);
        return await withCliTracing(config, () => statusCommand(config, values.json));
      }
      case 'enqueue': {
        const queue = requireArg(args[0], 'queue');
        const json = requireArg(args[1], 'json');
        const options = {
          wait: values.wait,
          waitForWorker: values['wait-for-worker'],
          attempts: intOption(values.attempts, 'attempts', 3, 1),
          backoffMs: intOption(values.backoff, 'backoff', 5000, 0),
          priority: values.priority === undefined ? undefined : intOption(values.priority, 'priority', 0, 0),
          jobId: values['job-id'],
        };
        const config = await loadCliConfig({ connectors: false });
        const [{ enqueueCommand }, { withCliTracing }] = await Promise.all([
          import('./enqueue.js'),
          import('./tracing.js'),
        ]);
        return await withCliTracing(config, () => enqueueCommand(config, queue, json, options));
      }
      case 'cancel': {
        const queue = requireArg(args[0], 'queue');
        const jobId = requireArg(args[1], 'job id');
        const config = await loadCliConfig({ connectors: false });
        const [{ cancelCommand }, { withCliTracing }] = await Promise.all([
          import('./cancel.js'),
          import('./tracing.js'),
        ]);
        return await withCliTracing(config, () =>
          cancelCommand(config, queue, jobId, values.reason ?? 'cancelled from the CLI'),
        );
      }
      case 'schema': {
        // Needs no configuration or Redis: producers run it to learn the contract.
        const { schemaCommand } = await import('./schema.js');
        return schemaCommand(args[0]);
      }
      default:
        throw new CliError(`unknown command "${command}"\n\n${USAGE}`, EXIT.usage);
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return EXIT.usage;
    }
    if (error instanceof CliError) {
      process.stderr.write(`${error.message}\n`);
      return error.exitCode;
    }
    // `start` checks Redis inside the runtime; loaded only now, as every other command avoids it.
    const { RedisUnavailableError } = await import('../redis/connection.js');
    if (error instanceof RedisUnavailableError) {
      process.stderr.write(`${error.message}\n`);
      return EXIT.failure;
    }
    process.stderr.write(
      `emp-worker: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return EXIT.failure;
  }
}

function requireArg(value: string | undefined, name: string): string {
  if (value === undefined || value === '') throw new CliError(`missing <${name}>\n\n${USAGE}`, EXIT.usage);
  return value;
}

function intOption(value: string | undefined, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < min) {
    throw new CliError(`--${name} must be a whole number of ${min} or more, got "${value}"`, EXIT.usage);
  }
  return number;
}
