import { Queue } from './bullmq.js';
import type { AppConfig } from '../config/index.js';
import { keys } from '../redis/keys.js';
import { createClientRedis, scanKeys, type RedisClient } from '../redis/connection.js';
import { bullmqTelemetry } from '../telemetry/index.js';
import { describeLimits } from '../config/connector-schema.js';
import type { HeartbeatRecord } from '../worker/runtime.js';
import { CliError, EXIT, ensureRedis } from './context.js';
import { describeError } from '../logging/errors.js';

/** What `emp-worker status --json` prints. */
export interface StatusReport {
  workers: HeartbeatRecord[];
  queues: Record<string, Record<string, number>>;
  /** Queue-wide concurrency cap stored in Redis (BullMQ global concurrency), null when none. */
  global_concurrency: Record<string, number | null>;
}

/** Every live worker's heartbeat record under `prefix`, sorted by worker id. */
export async function readHeartbeats(connection: RedisClient, prefix: string): Promise<HeartbeatRecord[]> {
  const workers: HeartbeatRecord[] = [];
  const found = await scanKeys(connection, keys.heartbeatPattern(prefix), 200);
  // One MGET: on a Cluster the prefix's hash tag keeps every heartbeat in one slot.
  const values = found.length > 0 ? await connection.mget(found) : [];
  for (const value of values) {
    if (!value) continue;
    try {
      workers.push(JSON.parse(value) as HeartbeatRecord);
    } catch {
      // A record being rewritten or foreign: skip it.
    }
  }
  return workers.sort((a, b) => a.id.localeCompare(b.id));
}

/** Reads every live heartbeat and the job counts of every queue they (or this config) use. */
export async function readStatus(config: AppConfig): Promise<StatusReport> {
  await ensureRedis(config);
  const connection = createClientRedis(config.redis);
  connection.on('error', () => undefined);
  try {
    const workers = await readHeartbeats(connection, config.queuePrefix);
    const queueNames = new Set<string>();
    for (const worker of workers) for (const connector of worker.connectors) queueNames.add(connector.queue);
    for (const name of config.enabledConnectors) {
      const slice = config.connectors[name] as { jobType?: string } | undefined;
      if (slice?.jobType) queueNames.add(slice.jobType);
    }
    const queues: StatusReport['queues'] = {};
    const globalConcurrency: StatusReport['global_concurrency'] = {};
    for (const name of [...queueNames].sort()) {
      const queue = new Queue(name, {
        connection,
        prefix: config.queuePrefix,
        skipMetasUpdate: true,
        ...bullmqTelemetry(),
      });
      try {
        queues[name] = await queue.getJobCounts(
          'waiting',
          'active',
          'delayed',
          'prioritized',
          'completed',
          'failed',
        );
        globalConcurrency[name] = await queue.getGlobalConcurrency();
      } finally {
        await queue.close();
      }
    }
    return { workers, queues, global_concurrency: globalConcurrency };
  } catch (error) {
    throw new CliError(`could not read status from Redis: ${describeError(error)}`);
  } finally {
    connection.disconnect();
  }
}

/** `emp-worker status`: live workers and queue counts, as a table or JSON. */
export async function statusCommand(
  config: AppConfig,
  json: boolean,
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  const report = await readStatus(config);
  if (json) {
    out.write(`${JSON.stringify(report, null, 2)}\n`);
    return EXIT.ok;
  }
  out.write(`Workers (${report.workers.length} live)\n`);
  if (report.workers.length === 0) out.write('  none: start one with `npm start`\n');
  for (const worker of report.workers) {
    out.write(
      `  ${worker.id}  host=${worker.host} pid=${worker.pid}${worker.stopping ? '  (stopping)' : ''}\n`,
    );
    for (const connector of worker.connectors) {
      out.write(
        `    ${connector.name} ${connector.version}  queue=${connector.queue} concurrency=${connector.concurrency}  ${connector.healthy ? 'healthy' : `UNHEALTHY: ${connector.health_detail}`}\n`,
      );
      // Records from workers older than the limits carry neither field.
      const limits = describeLimits(connector.global_concurrency ?? null, connector.rate_limit ?? null);
      if (limits !== 'no queue-wide limits') out.write(`      across replicas: ${limits}\n`);
      const capabilities = JSON.stringify(connector.capabilities);
      if (capabilities !== '{}') {
        out.write(
          `      capabilities ${capabilities.length > 200 ? `${capabilities.slice(0, 200)}…` : capabilities}\n`,
        );
      }
    }
    for (const job of worker.active_jobs) {
      out.write(`    running ${job.queue}/${job.id} since ${job.started_at}\n`);
    }
  }
  out.write('Queues\n');
  for (const [name, counts] of Object.entries(report.queues)) {
    const text = Object.entries(counts)
      .map(([state, count]) => `${state}=${count}`)
      .join(' ');
    const cap = report.global_concurrency[name];
    out.write(
      `  ${name}  ${text}${cap !== null && cap !== undefined ? `  global_concurrency=${cap}` : ''}\n`,
    );
  }
  return EXIT.ok;
}
