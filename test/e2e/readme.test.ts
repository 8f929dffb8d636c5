import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, test } from '@jest/globals';
import { cliEnv, startWorker } from '../helpers/cli.js';
import { spawnCollecting, type Spawned } from '../helpers/processes.js';
import { REDIS_URL, removePrefix, uniquePrefix } from '../helpers/redis.js';

/** The README's examples, checked by running them (docs that do not hold are bugs). */
const README = fs.readFileSync('README.md', 'utf8');

/** The first fenced block of `language` after `heading` in the README. */
function codeBlock(after: string, language: string): string {
  const start = README.indexOf(after);
  expect(start).toBeGreaterThanOrEqual(0);
  const match = new RegExp('```' + language + '\\n([\\s\\S]*?)\\n```').exec(README.slice(start));
  if (!match?.[1]) throw new Error(`no \`\`\`${language} block after "${after}" in README.md`);
  return match[1];
}

const spawned: Spawned[] = [];
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const proc of spawned.splice(0)) await proc.stop();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function ownPrefix(label: string): string {
  const prefix = uniquePrefix(label);
  cleanups.push(() => removePrefix(prefix));
  return prefix;
}

describe('README producer snippets', () => {
  test('the Node producer runs as a script against a worker and exits on its own', async () => {
    const prefix = ownPrefix('readme-node');
    spawned.push(await startWorker(cliEnv(prefix)));
    // Inside the checkout, so `import 'bullmq'` resolves from its node_modules.
    const dir = fs.mkdtempSync(path.resolve('.readme-producer-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const script = path.join(dir, 'producer.mjs');
    fs.writeFileSync(script, codeBlock('Any BullMQ producer works', 'js'));
    const producer = spawnCollecting(process.execPath, [script], {
      PATH: process.env.PATH,
      REDIS_URL,
      QUEUE_PREFIX: prefix,
    });
    spawned.push(producer);
    // No kill, no timer: it must end by itself (jest's timeout would fail the test otherwise).
    const code = await producer.exited;
    expect({ code, output: producer.output() }).toMatchObject({ code: 0 });
    expect(producer.output()).toMatch(/status: 'success'/);
    expect(producer.output()).toMatch(/progress: \d+/);
  });

  test('the Python producer compiles (no top-level await), closes its queue and shows the prefix', () => {
    const source = codeBlock('Python (`pip install bullmq`)', 'python');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emp-readme-py-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'producer.py');
    fs.writeFileSync(file, source);
    // Throws with python's SyntaxError on stderr when it does not compile.
    execFileSync('python3', ['-m', 'py_compile', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    expect(source).toMatch(/"prefix": "bull"/);
    expect(source).toMatch(/await queue\.close\(\)/);
  });
});

describe('README claims about running it', () => {
  test('Redis hints only suggest commands that publish port 6379', () => {
    const compose = fs.readFileSync('docker-compose.yml', 'utf8');
    const redisService = compose.slice(compose.indexOf('  redis:'), compose.indexOf('  worker:'));
    // The compose file's Redis is not published on the host (ports: is commented out) ...
    expect(redisService).not.toMatch(/^\s+ports:/m);
    // ... so neither the README nor the worker's error message may send a user there.
    const message = fs.readFileSync('src/redis/connection.ts', 'utf8');
    for (const text of [README, message]) {
      expect(text).not.toContain('docker compose up -d redis');
      expect(text).toContain('docker run -d -p 6379:6379 redis:7');
    }
  });

  test('connector settings in .env do not reach the worker container, and the README says so', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emp-compose-env-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    fs.copyFileSync('docker-compose.yml', path.join(dir, 'docker-compose.yml'));
    fs.writeFileSync(path.join(dir, '.env'), 'CONNECTORS=comfyui\nWORKER_COMFYUI_HOST=gpu-box\n');
    const resolved = execFileSync('docker-compose', ['config'], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: '/tmp' },
      encoding: 'utf8',
    });
    expect(resolved).toMatch(/CONNECTORS: comfyui/);
    expect(resolved).not.toContain('gpu-box');
    expect(README).toContain(
      'Connector settings\n(`WORKER_COMFYUI_HOST=…`) do not reach the container from `.env`',
    );
  });

  test('Ctrl-C on `npm start`: the worker stops gracefully, npm reports the signal (130), as the README says', async () => {
    const prefix = ownPrefix('readme-ctrlc');
    // Its own process group, like a terminal's foreground job: Ctrl-C signals the whole group.
    const npm = spawn('npm', ['start'], {
      env: cliEnv(prefix),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const ready = new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        output += chunk.toString('utf8');
        if (/"message":"worker \S+ ready"/.test(output)) resolve();
      };
      npm.stdout.on('data', onData);
      npm.stderr.on('data', onData);
      npm.once('exit', () => reject(new Error(`npm start exited before ready:\n${output}`)));
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(resolve =>
      npm.once('close', (code, signal) => resolve({ code, signal })),
    );
    cleanups.push(() => {
      if (npm.exitCode === null && npm.signalCode === null && npm.pid) process.kill(-npm.pid, 'SIGKILL');
    });
    await ready;
    process.kill(-(npm.pid ?? 0), 'SIGINT');
    // A shell reports this as exit status 128 + 2 = 130.
    expect(await exited).toEqual({ code: null, signal: 'SIGINT' });
    expect(output).toMatch(/"message":"stopped"/);
    expect(README).toContain('npm itself then exits 130');
  });
});
