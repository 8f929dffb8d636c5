import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { RedisConfig } from '../../src/config/schema.js';
import { freePort, spawnCollecting, type Spawned } from './processes.js';
import { waitUntil } from './runtime.js';

const run = promisify(execFile);

/** A RedisConfig for one server at `url` (the other modes unset). */
export function urlRedisConfig(url: string): RedisConfig {
  return { url, sentinels: '', sentinelName: '', password: '', sentinelPassword: '', clusterNodes: '' };
}

/** A redis-server process on a free port. */
export interface RedisNode {
  port: number;
  process: Spawned;
}

async function startNode(dir: string, args: string[]): Promise<RedisNode> {
  const port = await freePort();
  const process = spawnCollecting(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--maxmemory-policy',
      'noeviction',
      ...args,
    ],
    { PATH: globalThis.process.env.PATH },
  );
  await process.waitForLine(/Ready to accept connections/, 10_000);
  return { port, process };
}

/** Three Redis Cluster masters made into one cluster with `redis-cli --cluster create`. */
export interface TestCluster {
  nodes: RedisNode[];
  /** `host:port,...` for REDIS_CLUSTER_NODES. */
  nodeList: string;
  stop(): Promise<void>;
}

/** Starts a three-master Redis Cluster (no replicas) on free ports. */
export async function startCluster(): Promise<TestCluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emp-cluster-'));
  const nodes: RedisNode[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      nodes.push(
        await startNode(dir, [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          path.join(dir, `nodes-${port}.conf`),
          '--cluster-node-timeout',
          '2000',
        ]),
      );
    }
    const addresses = nodes.map(node => `127.0.0.1:${node.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-yes'], { timeout: 30_000 });
    // The cluster is usable once every node reports cluster_state:ok.
    for (const node of nodes) {
      await waitUntil(() => clusterOk(node.port).catch(() => false), 15_000, 'cluster_state:ok');
    }
  } catch (error) {
    await Promise.all(nodes.map(node => node.process.stop()));
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    nodes,
    nodeList: nodes.map(node => `127.0.0.1:${node.port}`).join(','),
    async stop() {
      await Promise.all(nodes.map(node => node.process.stop()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function clusterOk(port: number): Promise<boolean> {
  const { stdout } = await run('redis-cli', ['-p', String(port), 'cluster', 'info']);
  return /cluster_state:ok/.test(stdout);
}

/** A master, one replica and three Sentinels watching it. */
export interface TestSentinelGroup {
  masterName: string;
  master: RedisNode;
  replica: RedisNode;
  sentinels: Array<{ port: number; process: Spawned }>;
  /** `host:port,...` for REDIS_SENTINELS. */
  sentinelList: string;
  /** The port the Sentinels currently name as master. */
  currentMasterPort(): Promise<number>;
  stop(): Promise<void>;
}

/** Starts a master, a replica and three redis-sentinel processes (quorum 2, 1 s down-after). */
export async function startSentinelGroup(masterName = 'empmaster'): Promise<TestSentinelGroup> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emp-sentinel-'));
  const started: Spawned[] = [];
  try {
    const master = await startNode(dir, []);
    started.push(master.process);
    const replica = await startNode(dir, ['--replicaof', '127.0.0.1', String(master.port)]);
    started.push(replica.process);
    await waitUntil(
      async () => {
        const { stdout } = await run('redis-cli', ['-p', String(replica.port), 'info', 'replication']);
        return /master_link_status:up/.test(stdout);
      },
      15_000,
      'the replica in sync',
    );
    const sentinels: Array<{ port: number; process: Spawned }> = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const file = path.join(dir, `sentinel-${port}.conf`);
      fs.writeFileSync(
        file,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${masterName} 127.0.0.1 ${master.port} 2`,
          `sentinel down-after-milliseconds ${masterName} 1000`,
          `sentinel failover-timeout ${masterName} 5000`,
          `sentinel parallel-syncs ${masterName} 1`,
          '',
        ].join('\n'),
      );
      const process = spawnCollecting('redis-sentinel', [file], { PATH: globalThis.process.env.PATH });
      started.push(process);
      await process.waitForLine(/Sentinel ID is|Running mode=sentinel/, 10_000);
      sentinels.push({ port, process });
    }
    // Every Sentinel must know the replica and the other Sentinels before a failover can be agreed.
    await waitUntil(
      async () => {
        for (const sentinel of sentinels) {
          const { stdout } = await run('redis-cli', [
            '-p',
            String(sentinel.port),
            'sentinel',
            'master',
            masterName,
          ]);
          const lines = stdout.split('\n').map(line => line.trim());
          const value = (name: string): number => Number(lines[lines.indexOf(name) + 1]);
          if (value('num-slaves') < 1 || value('num-other-sentinels') < 2) return false;
        }
        return true;
      },
      20_000,
      'Sentinels that know the replica and each other',
    );
    const currentMasterPort = async (): Promise<number> => {
      const { stdout } = await run('redis-cli', [
        '-p',
        String(sentinels[0]?.port ?? 0),
        'sentinel',
        'get-master-addr-by-name',
        masterName,
      ]);
      return Number(stdout.trim().split('\n')[1]);
    };
    return {
      masterName,
      master,
      replica,
      sentinels,
      sentinelList: sentinels.map(sentinel => `127.0.0.1:${sentinel.port}`).join(','),
      currentMasterPort,
      async stop() {
        await Promise.all(started.map(process => process.stop()));
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await Promise.all(started.map(process => process.stop()));
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
