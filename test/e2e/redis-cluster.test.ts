/**
 * A real three-master Redis Cluster (redis-server --cluster-enabled yes, joined with
 * redis-cli --cluster create): the worker, the CLI (enqueue --wait, cancel, status) and
 * Bull Board all run on it through REDIS_CLUSTER_NODES. Slow (about 15 s).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Cluster } from 'ioredis';
import { Queue } from 'bullmq';
import { cliEnv, runCli, startWorker } from '../helpers/cli.js';
import type { Spawned } from '../helpers/processes.js';
import { BOARD_PASSWORD, BOARD_USER, basicHeader } from '../helpers/board.js';
import { startCluster, type TestCluster } from '../helpers/redis-topologies.js';
import { waitForFinished, waitUntil } from '../helpers/runtime.js';
import { startBoard, type BoardServer } from '../../bull-board/board.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/logging/logger.js';
import { checkRedis } from '../../src/redis/connection.js';
import { keys } from '../../src/redis/keys.js';

/** REDIS_URL's default: left as is, it does not clash with REDIS_CLUSTER_NODES. */
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

let cluster: TestCluster;
let prefix: string;
let env: NodeJS.ProcessEnv;
let worker: Spawned;
let producerConnection: Cluster;
let queue: Queue;

beforeAll(async () => {
  cluster = await startCluster();
  prefix = `{emptest-${randomUUID().slice(0, 8)}}`;
  env = cliEnv(prefix, {
    REDIS_URL: DEFAULT_REDIS_URL,
    REDIS_CLUSTER_NODES: cluster.nodeList,
    WORKER_HTTP_PORT: '0',
    WORKER_SIMULATION_PROCESSING_TIME: '0.2',
  });
  worker = await startWorker(env);
  producerConnection = new Cluster(
    cluster.nodes.map(node => ({ host: '127.0.0.1', port: node.port })),
    { redisOptions: { maxRetriesPerRequest: null } },
  );
  queue = new Queue('simulation', { connection: producerConnection, prefix });
});

afterAll(async () => {
  await worker?.stop();
  await queue?.close();
  await producerConnection?.quit();
  // The cluster's nodes are throwaway processes: stopping them removes every key.
  await cluster?.stop();
});

describe('Redis Cluster', () => {
  test('a prefix without a hash tag is refused at start-up: one line, exit 2', async () => {
    const run = await runCli(['start'], { ...env, QUEUE_PREFIX: 'bull' });
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/QUEUE_PREFIX="bull" .*no hash tag.*REDIS_CLUSTER_NODES.*\{bull\}/);
  });

  test("every key emp-worker adds hashes to its queue's slot", async () => {
    const slotOf = async (key: string): Promise<number> =>
      Number(await producerConnection.cluster('KEYSLOT', key));
    const queueSlot = await slotOf(`${prefix}:simulation:wait`);
    const ours = [
      keys.heartbeat(prefix, 'worker-1'),
      keys.cancelMarker(prefix, 'simulation', '42'),
      keys.cancelChannel(prefix),
      keys.job(`${prefix}:simulation`, '42'),
    ];
    expect(await Promise.all(ours.map(slotOf))).toEqual(ours.map(() => queueSlot));
  });

  test('the start-up check reads every master', async () => {
    const config = loadConfig({ ...env });
    const check = await checkRedis(config.redis);
    expect(check.version).toMatch(/^\d+\.\d+/);
    expect(check.maxmemoryPolicy).toBe('noeviction');
  });

  test('enqueue --wait runs a job on the cluster and prints its result', async () => {
    const run = await runCli(['enqueue', 'simulation', '{"steps":3,"duration_ms":300}', '--wait'], env);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ status: 'success', connector: 'simulation' });
  });

  test('cancel stops a running job through the cluster (pub/sub and marker)', async () => {
    const job = await queue.add('simulation', { steps: 100, duration_ms: 60_000 }, { attempts: 3 });
    await waitUntil(async () => (await job.getState()) === 'active', 10_000, 'job active');
    const run = await runCli(['cancel', 'simulation', job.id ?? '', '--reason', 'on the cluster'], env);
    expect(run.code).toBe(0);
    expect(run.output).toContain(`job ${job.id} failed: ERR_CANCELLED: cancelled: on the cluster`);
    const finished = await waitForFinished(queue, job.id ?? '');
    expect(finished.failedReason).toBe('ERR_CANCELLED: cancelled: on the cluster');
  });

  test('status finds the worker heartbeat and the queue counts', async () => {
    const run = await runCli(['status', '--json'], env);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as {
      workers: Array<{ connectors: Array<{ queue: string }> }>;
      queues: Record<string, Record<string, number>>;
    };
    expect(report.workers).toHaveLength(1);
    expect(report.workers[0]?.connectors[0]?.queue).toBe('simulation');
    expect(report.queues.simulation?.completed).toBeGreaterThanOrEqual(1);
    expect(report.queues.simulation?.failed).toBeGreaterThanOrEqual(1);
  });

  test('/metrics reads the queue depth from the cluster', async () => {
    const line = await worker.waitForLine(/health and metrics on http:\/\/[^ ]+:\d+/);
    const port = /health and metrics on http:\/\/[^ ]+:(\d+)/.exec(line)?.[1];
    const delayed = await queue.add('simulation', { steps: 1 }, { delay: 60_000 });
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toMatch(/emp_queue_delayed\{queue="simulation"\} 1\b/);
    expect(text).toMatch(/emp_queue_failed\{queue="simulation"\} [1-9]/);
    await delayed.remove();
  });

  test('Bull Board lists the queue and its jobs', async () => {
    const config = loadConfig({ ...env, BULL_BOARD_RESCAN_INTERVAL: '0.2' });
    let board: BoardServer | undefined;
    try {
      board = await startBoard({
        config,
        logger: createLogger({ level: 'silent', format: 'json' }),
        credentials: { username: BOARD_USER, password: BOARD_PASSWORD },
        secrets: [],
        port: 0,
        host: '127.0.0.1',
      });
      expect(board.queueNames()).toEqual(['simulation']);
      const response = await fetch(new URL('api/queues?activeQueue=simulation&status=completed', board.url), {
        headers: { authorization: basicHeader() },
      });
      expect(response.status).toBe(200);
      const body = (await response.json()) as {
        queues: Array<{ name: string; counts: Record<string, number>; jobs: unknown[] }>;
      };
      const shown = body.queues.find(entry => entry.name === 'simulation');
      expect(shown?.counts.completed).toBeGreaterThanOrEqual(1);
      expect(shown?.jobs.length).toBeGreaterThanOrEqual(1);
    } finally {
      await board?.close();
    }
  });
});
