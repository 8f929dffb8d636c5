import { spawn } from 'node:child_process';
import { REDIS_URL } from '../helpers/redis.js';

/** What a finished `emp-worker` CLI run printed. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/emp-worker.js <args>` (compiled CLI; `npm test` builds first) on a queue prefix. */
export function runCli(
  args: string[],
  prefix: string,
  env: Record<string, string> = {},
  timeoutMs = 40_000,
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/emp-worker.js', ...args], {
      env: { ...process.env, NODE_ENV: 'test', REDIS_URL, QUEUE_PREFIX: prefix, LOG_LEVEL: 'error', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`emp-worker ${args.join(' ')} did not finish: ${stdout} ${stderr}`));
    }, timeoutMs);
    child.on('exit', code => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
