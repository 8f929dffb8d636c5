/**
 * CLI start-up benchmark (`npm run bench:cli`): wall time of short CLI commands, from
 * spawning `node` to its exit, against a local Redis. `cancel <queue> <missing id>` and
 * `enqueue` measure "ready to talk to Redis" plus the few round trips of the command itself.
 *
 * Runs are interleaved (every command once per round) so load from other work spreads
 * evenly; each row gives the median wall time, the median CPU time (user + system, read
 * from /proc: less sensitive to other work on the machine than wall time) and the runs. With `BENCH_BASELINE=<checkout>` (a built
 * copy of another version) every command runs there too, side by side.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { deletePrefix } from '../test/helpers/redis.js';
import { median } from './stats.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const RUNS = Number(process.env.BENCH_RUNS ?? 9);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const baseline = process.env.BENCH_BASELINE;

interface Case {
  label: string;
  /** Arguments after `node`; `{cli}` stands for the checkout's bin/emp-worker.js. */
  args: string[];
  /** Exit code that means the command did what was measured. */
  expectCode: number;
}

const CASES: Case[] = [
  { label: '`node -e 0` (floor)', args: ['-e', '0'], expectCode: 0 },
  {
    label: '`node -e "await import(\'bullmq\')"`',
    args: ['--input-type=module', '-e', "await import('bullmq')"],
    expectCode: 0,
  },
  { label: '`emp-worker --help`', args: ['{cli}', '--help'], expectCode: 0 },
  {
    label: '`emp-worker cancel q <missing id>`',
    args: ['{cli}', 'cancel', 'bench', 'no-such-job'],
    expectCode: 1,
  },
  { label: "`emp-worker enqueue q '{}'`", args: ['{cli}', 'enqueue', 'bench', '{}'], expectCode: 0 },
  { label: '`emp-worker status`', args: ['{cli}', 'status'], expectCode: 0 },
  { label: '`emp-worker details simulation`', args: ['{cli}', 'details', 'simulation'], expectCode: 0 },
];

/** CPU time (user + system) of this process's waited-for children so far, in ms (Linux). */
function childrenCpuMs(): number {
  // /proc/self/stat fields 16 and 17 (cutime, cstime), in clock ticks of 10 ms.
  const fields = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[13]) + Number(fields[14])) * 10;
}

function runOnce(
  checkout: string,
  args: string[],
  prefix: string,
): { ms: number; cpuMs: number; code: number | null; output: string } {
  const cli = path.join(checkout, 'bin/emp-worker.js');
  const cpuBefore = childrenCpuMs();
  const started = process.hrtime.bigint();
  const result = spawnSync(
    process.execPath,
    args.map(arg => (arg === '{cli}' ? cli : arg)),
    {
      cwd: checkout,
      env: {
        PATH: process.env.PATH,
        REDIS_URL,
        QUEUE_PREFIX: prefix,
        NODE_ENV: 'production',
        LOG_LEVEL: 'warn',
      },
      encoding: 'utf8',
    },
  );
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  return {
    ms,
    cpuMs: childrenCpuMs() - cpuBefore,
    code: result.status,
    output: `${result.stdout}${result.stderr}`,
  };
}

async function main(): Promise<void> {
  const prefix = `emp-bench-cli-${randomUUID().slice(0, 8)}`;
  const checkouts = [
    { name: 'this checkout', dir: root },
    ...(baseline ? [{ name: 'baseline', dir: path.resolve(baseline) }] : []),
  ];
  const times = new Map<string, { wall: number[]; cpu: number[] }>();
  try {
    for (let round = 0; round < RUNS; round++) {
      for (const testCase of CASES) {
        for (const checkout of checkouts) {
          if (!testCase.args.includes('{cli}') && checkout.name !== 'this checkout') continue;
          const { ms, cpuMs, code, output } = runOnce(checkout.dir, testCase.args, prefix);
          if (code !== testCase.expectCode) {
            throw new Error(
              `${testCase.label} in ${checkout.dir} exited ${code}, expected ${testCase.expectCode}:\n${output}`,
            );
          }
          const key = `${testCase.label}\t${checkout.name}`;
          const entry = times.get(key) ?? { wall: [], cpu: [] };
          entry.wall.push(ms);
          entry.cpu.push(cpuMs);
          times.set(key, entry);
        }
      }
    }
  } finally {
    const redis = new Redis(REDIS_URL);
    await deletePrefix(redis, prefix);
    await redis.quit();
  }
  const load = os
    .loadavg()
    .map(value => value.toFixed(2))
    .join(' ');
  process.stdout.write(`${RUNS} interleaved runs each, load average after: ${load}\n\n`);
  const columns = checkouts.flatMap(c => [`${c.name}: wall ms`, `${c.name}: CPU ms`]);
  process.stdout.write(`| command | ${columns.join(' | ')} | wall runs (ms) |\n`);
  process.stdout.write(`|---|${columns.map(() => '---|').join('')}---|\n`);
  for (const testCase of CASES) {
    const cells = checkouts.flatMap(checkout => {
      const entry = times.get(`${testCase.label}\t${checkout.name}`);
      return entry ? [median(entry.wall).toFixed(0), median(entry.cpu).toFixed(0)] : ['—', '—'];
    });
    const runs = checkouts
      .map(checkout =>
        (times.get(`${testCase.label}\t${checkout.name}`)?.wall ?? []).map(ms => ms.toFixed(0)).join(', '),
      )
      .filter(text => text !== '')
      .join(' / ');
    process.stdout.write(`| ${testCase.label} | ${cells.join(' | ')} | ${runs} |\n`);
  }
}

await main();
