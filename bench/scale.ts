/**
 * Scale benchmark (npm run bench:scale): the simulation throughput of one emp-worker on a
 * single redis-server against a three-master Redis Cluster (both throwaway processes started
 * here, same flags), and the pause a Sentinel failover causes (master killed to the next
 * completed job). Prints markdown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue, type Job } from 'bullmq';
import { Cluster, Redis } from 'ioredis';
import { startThrowawayRedis } from '../test/helpers/processes.js';
import { startCluster, startSentinelGroup } from '../test/helpers/redis-topologies.js';
import { median } from './stats.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const JOBS = Number(process.env.BENCH_JOBS ?? 20000);

function startWorker(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, [path.join(root, 'bin/emp-worker.js'), 'start'], {
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      LOG_FORMAT: 'json',
      CONNECTORS: 'simulation',
      WORKER_KEEP_COMPLETED_COUNT: '1000000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      text += chunk.toString();
      if (/"message":"worker \S+ ready"/.test(text)) resolve(child);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', code => reject(new Error(`worker exited (${code}) before ready:\n${text}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise(resolve => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** Jobs per second for `JOBS` zero-length simulation jobs at concurrency 50. */
async function throughput(redisEnv: Record<string, string>, queue: Queue, prefix: string): Promise<number> {
  const worker = await startWorker({
    ...redisEnv,
    QUEUE_PREFIX: prefix,
    WORKER_SIMULATION_CONCURRENCY: '50',
  });
  try {
    const data = { steps: 1, duration_ms: 0 };
    const started = performance.now();
    for (let i = 0; i < JOBS; i += 1000) {
      await queue.addBulk(
        Array.from({ length: Math.min(1000, JOBS - i) }, () => ({ name: 'simulation', data })),
      );
    }
    while ((await queue.getCompletedCount()) < JOBS) {
      if ((await queue.getFailedCount()) > 0) throw new Error('jobs failed');
      await new Promise(resolve => setTimeout(resolve, 20));
    }
    return JOBS / ((performance.now() - started) / 1000);
  } finally {
    await stop(worker);
    await queue.obliterate({ force: true });
  }
}

/**
 * Milliseconds from killing the Sentinel-managed master to the completion of a job added
 * right after the kill (what a producer sees). Completions of jobs that were finishing at
 * the kill do not count: their timestamps are taken before the write that waits out the
 * failover.
 */
async function failoverPause(): Promise<number> {
  const group = await startSentinelGroup();
  const prefix = `bench-failover-${randomUUID().slice(0, 6)}`;
  const producer = new Redis({
    sentinels: group.sentinels.map(sentinel => ({ host: '127.0.0.1', port: sentinel.port })),
    name: group.masterName,
    maxRetriesPerRequest: null,
  });
  producer.on('error', () => undefined);
  const queue = new Queue('simulation', { connection: producer, prefix });
  queue.on('error', () => undefined);
  const worker = await startWorker({
    REDIS_SENTINELS: group.sentinelList,
    REDIS_SENTINEL_NAME: group.masterName,
    QUEUE_PREFIX: prefix,
    WORKER_SIMULATION_CONCURRENCY: '4',
    WORKER_LOCK_DURATION: '3000',
    WORKER_STALLED_INTERVAL: '1000',
  });
  try {
    // Keep the worker busy with short jobs, so the kill lands mid-run.
    await queue.addBulk(
      Array.from({ length: 200 }, () => ({ name: 'simulation', data: { steps: 1, duration_ms: 20 } })),
    );
    await producer.call('WAIT', 1, 2000);
    while ((await queue.getCompletedCount()) < 20) await new Promise(resolve => setTimeout(resolve, 20));
    const killedAt = Date.now();
    group.master.process.child.kill('SIGKILL');
    // LIFO: it is the next job taken, not behind the backlog.
    const next: Job = await queue.add('simulation', { steps: 1, duration_ms: 0 }, { lifo: true });
    for (;;) {
      if ((await next.getState()) === 'completed') return Date.now() - killedAt;
      await new Promise(resolve => setTimeout(resolve, 10));
    }
  } finally {
    await stop(worker);
    await queue.close();
    producer.disconnect();
    await group.stop();
  }
}

async function main(): Promise<void> {
  const single = await startThrowawayRedis(['--maxmemory-policy', 'noeviction']);
  const cluster = await startCluster();
  const clusterClient = new Cluster(cluster.nodes.map(node => ({ host: '127.0.0.1', port: node.port })));
  const singleClient = new Redis(single.url);
  const one: number[] = [];
  const many: number[] = [];
  try {
    for (let run = 0; run < RUNS; run++) {
      const prefix = `{bench-${randomUUID().slice(0, 6)}}`;
      const singleQueue = new Queue('simulation', { connection: singleClient, prefix });
      one.push(await throughput({ REDIS_URL: single.url }, singleQueue, prefix));
      await singleQueue.close();
      const clusterQueue = new Queue('simulation', { connection: clusterClient, prefix });
      many.push(await throughput({ REDIS_CLUSTER_NODES: cluster.nodeList }, clusterQueue, prefix));
      await clusterQueue.close();
    }
  } finally {
    clusterClient.disconnect();
    singleClient.disconnect();
    await cluster.stop();
    await single.stop();
  }
  const pauses: number[] = [];
  for (let run = 0; run < RUNS; run++) pauses.push(await failoverPause());
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  process.stdout.write(
    [
      `Machine: ${os.cpus().length} × ${cpu}, Node ${process.version}, median of ${RUNS} runs, ${JOBS} jobs, concurrency 50.`,
      '',
      '| Redis | jobs/s (median) | runs |',
      '|---|---|---|',
      `| one redis-server | ${median(one).toFixed(0)} | ${one.map(v => v.toFixed(0)).join(', ')} |`,
      `| 3-master Cluster | ${median(many).toFixed(0)} | ${many.map(v => v.toFixed(0)).join(', ')} |`,
      '',
      `Sentinel failover, master kill to next completed job: median ${median(pauses).toFixed(0)} ms (runs ${pauses.join(', ')} ms).`,
      '',
    ].join('\n'),
  );
}

await main();
