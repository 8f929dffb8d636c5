import { afterEach, describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { cliEnv, expectExit, runCli, spawnCli, startWorker } from '../helpers/cli.js';
import { freePort, spawnCollecting, type Spawned } from '../helpers/processes.js';
import { removePrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const spawned: Spawned[] = [];
const prefixes: string[] = [];
afterEach(async () => {
  for (const proc of spawned.splice(0)) await proc.stop();
  for (const prefix of prefixes.splice(0)) await removePrefix(prefix);
});

/** A prefix of this test's own, deleted after it. */
function prefixFor(label: string): string {
  const prefix = uniquePrefix(label);
  prefixes.push(prefix);
  return prefix;
}

async function keysUnder(prefix: string): Promise<string[]> {
  const redis = testRedis();
  try {
    return (await redis.keys(`${prefix}:*`)).sort();
  } finally {
    await redis.quit();
  }
}

async function worker(prefix: string, env: Record<string, string> = {}): Promise<Spawned> {
  const proc = await startWorker(cliEnv(prefix, env));
  spawned.push(proc);
  return proc;
}

describe('start-up: each command loads only what it needs', () => {
  test('cancel and enqueue load BullMQ but no connector, got, ws or winston', async () => {
    // A module hook (Node's module.register) writes every file URL ESM resolves to a list;
    // a wrapper of Module._load does the same for CommonJS requires (BullMQ, ioredis…).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emp-cli-imports-'));
    const list = path.join(dir, 'loaded.txt');
    fs.writeFileSync(
      path.join(dir, 'hooks.mjs'),
      `import fs from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  fs.appendFileSync(${JSON.stringify(list)}, result.url + '\\n');
  return result;
}
`,
    );
    fs.writeFileSync(
      path.join(dir, 'register.mjs'),
      `import fs from 'node:fs';
import Module, { register } from 'node:module';
register(${JSON.stringify(pathToFileURL(path.join(dir, 'hooks.mjs')).href)});
const load = Module._load;
Module._load = function (request, parent, isMain) {
  const loaded = load.call(this, request, parent, isMain);
  try {
    fs.appendFileSync(${JSON.stringify(list)}, Module._resolveFilename(request, parent) + '\\n');
  } catch {}
  return loaded;
};
`,
    );
    const prefix = prefixFor('imports');
    const env = cliEnv(prefix, {
      NODE_OPTIONS: `--import=${pathToFileURL(path.join(dir, 'register.mjs')).href}`,
    });
    try {
      for (const args of [
        ['cancel', 'simulation', 'no-such-job'],
        ['enqueue', 'simulation', '{}'],
      ]) {
        fs.writeFileSync(list, '');
        const run = await runCli(args, env);
        expectExit(run, args[0] === 'cancel' ? 1 : 0);
        const loaded = fs.readFileSync(list, 'utf8');
        expect(loaded).toMatch(/node_modules\/bullmq\/dist\/cjs\/classes\/queue\.js/);
        // Not BullMQ's index (every class it has), nor got, ws or winston.
        expect(loaded).not.toMatch(/node_modules\/bullmq\/dist\/(cjs|esm)\/index\.js/);
        expect(loaded).not.toMatch(/node_modules\/(got|ws|winston)\//);
        expect(loaded).not.toMatch(/\/connectors\/(services|protocols|registry)/);
      }
      // `details` still loads every connector (the check above can see them).
      fs.writeFileSync(list, '');
      expectExit(await runCli(['details', 'simulation'], env), 0);
      expect(fs.readFileSync(list, 'utf8')).toMatch(/\/connectors\/registry\.js/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Redis unreachable', () => {
  test.each([
    [['enqueue', 'simulation', '{"steps":1}', '--wait']],
    [['enqueue', 'simulation', '{"steps":1}']],
    [['cancel', 'simulation', '1']],
    [['status']],
  ])('`emp-worker %j`: one line naming REDIS_URL (masked), exit 1, no stack trace', async args => {
    const port = await freePort();
    const run = await runCli(
      args,
      cliEnv(uniquePrefix(), { REDIS_URL: `redis://:s3cretpw@127.0.0.1:${port}` }),
      20_000,
    );
    expectExit(run, 1);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(
      new RegExp(
        `^Cannot reach Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port}/? \\(REDIS_URL\\): .*ECONNREFUSED.*redis-server`,
      ),
    );
    expect(run.stderr).not.toContain('s3cretpw');
  });

  test('details needs no Redis: it still answers', async () => {
    const port = await freePort();
    const run = await runCli(
      ['details', 'simulation'],
      cliEnv(uniquePrefix(), { REDIS_URL: `redis://127.0.0.1:${port}` }),
    );
    expectExit(run, 0);
    expect(run.stdout).toContain('service: OK');
  });

  test('`npm run board`: one line naming REDIS_URL, exit 1, no stack trace', async () => {
    const port = await freePort();
    const board = spawnCollecting(
      process.execPath,
      [path.resolve('dist/bull-board/server.js')],
      cliEnv(uniquePrefix(), { REDIS_URL: `redis://:s3cretpw@127.0.0.1:${port}`, BULL_BOARD_PORT: '0' }),
    );
    spawned.push(board);
    expect(await board.exited).toBe(1);
    const lines = board.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/Cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/? \(REDIS_URL\)/);
    expect(board.output()).not.toContain('s3cretpw');
  });
});

describe('enqueue', () => {
  test.each(['[1,2]', '"hello"', 'null', '42'])(
    'refuses job data %s that is not a JSON object (exit 2, nothing written)',
    async json => {
      const prefix = prefixFor('data');
      const run = await runCli(['enqueue', 'simulation', json], cliEnv(prefix));
      expectExit(run, 2);
      expect(run.stderr.trim()).toMatch(
        /^job data must be a JSON object such as '\{"steps": 3\}', got (an array|a string|null|a number)$/,
      );
      expect(await keysUnder(prefix)).toEqual([]);
    },
  );

  test('--wait to a queue no live worker serves says so at once, names the served queues, enqueues nothing', async () => {
    const prefix = prefixFor('unserved');
    const none = await runCli(['enqueue', 'simulation', '{}', '--wait'], cliEnv(prefix), 20_000);
    expectExit(none, 1);
    expect(none.stderr).toContain(
      'no live worker serves queue "simulation" (no live worker at all); nothing enqueued',
    );
    await worker(prefix, { WORKER_ID: 'w-unserved' });
    const typo = await runCli(['enqueue', 'simulaton', '{}', '--wait'], cliEnv(prefix), 20_000);
    expectExit(typo, 1);
    expect(typo.stderr).toContain(
      'no live worker serves queue "simulaton" (live workers serve "simulation")',
    );
    expect(typo.stderr).toContain('--wait-for-worker');
    expect((await keysUnder(prefix)).filter(key => key.includes('simulaton'))).toEqual([]);
  });

  test('--wait --wait-for-worker enqueues anyway and finishes once a worker starts', async () => {
    const prefix = prefixFor('waitworker');
    const cli = spawnCli(
      ['enqueue', 'simulation', '{"steps":1,"duration_ms":0}', '--wait', '--wait-for-worker'],
      cliEnv(prefix),
    );
    spawned.push(cli);
    await cli.waitForLine(/enqueued job \S+ on queue "simulation"/);
    await worker(prefix);
    expect(await cli.exited).toBe(0);
    expect(cli.output()).toContain('"duration_ms": 0');
  });

  test('--wait says when the job is handed back to the queue instead of letting the bar jump back', async () => {
    const prefix = prefixFor('handback');
    const first = await worker(prefix, { SHUTDOWN_TIMEOUT: '1', PROGRESS_MIN_INTERVAL_MS: '50' });
    const cli = spawnCli(
      ['enqueue', 'simulation', '{"steps":200,"duration_ms":60000}', '--wait', '--job-id', 'long'],
      cliEnv(prefix),
    );
    spawned.push(cli);
    await cli.waitForLine(/\] +\d+% step \d+ of 200/);
    expect(await first.stop()).toBe(0);
    await cli.waitForLine(
      /job long was handed back to the queue \(a worker stopped or its service is down\); waiting for a worker/,
    );
    // No worker left: the cancel removes the waiting job, and the follower ends.
    expectExit(await runCli(['cancel', 'simulation', 'long'], cliEnv(prefix)), 0);
    expect(await cli.exited).toBe(1);
    expect(cli.output()).toContain('job long was removed before it finished');
  });
});

describe('commands that read or cancel nothing write nothing', () => {
  test('cancel of a missing job or queue, status and details leave no key in Redis', async () => {
    const prefix = prefixFor('readonly');
    const cancel = await runCli(['cancel', 'nosuchqueue', '1'], cliEnv(prefix));
    expectExit(cancel, 1);
    expect(cancel.stderr.trim()).toBe('no job 1 in queue "nosuchqueue"');
    expectExit(await runCli(['status'], cliEnv(prefix)), 0);
    expectExit(await runCli(['details', 'simulation'], cliEnv(prefix)), 0);
    expect(await keysUnder(prefix)).toEqual([]);
  });
});

describe('start', () => {
  test('a worker whose log reader went away still stops on SIGTERM and exits 0', async () => {
    const prefix = prefixFor('epipe');
    const proc = await worker(prefix);
    // What a closed terminal or a dead log shipper does: every later write fails with EPIPE.
    proc.child.stdout?.destroy();
    proc.child.stderr?.destroy();
    proc.child.kill('SIGTERM');
    // No timer: before the fix the process spun on failing log writes and never exited.
    expect(await proc.exited).toBe(0);
  });
});

describe('details', () => {
  test('a secret that is not set shows "(not set)"; one that is set stays masked', async () => {
    const port = await freePort();
    const base = { WORKER_REST_BASE_URL: `http://127.0.0.1:${port}` };
    const unset = await runCli(['details', 'rest', '--json'], cliEnv(uniquePrefix(), base));
    expectExit(unset, 1);
    expect(JSON.parse(unset.stdout)).toMatchObject({
      config: { apiKey: '(not set)', password: '(not set)' },
    });
    const set = await runCli(
      ['details', 'rest', '--json'],
      cliEnv(uniquePrefix(), { ...base, WORKER_REST_API_KEY: 'key-4f1b2c3d' }),
    );
    expectExit(set, 1);
    expect(JSON.parse(set.stdout)).toMatchObject({
      config: { apiKey: '[Sensitive]', password: '(not set)' },
    });
    expect(set.output).not.toContain('key-4f1b2c3d');
  });
});
