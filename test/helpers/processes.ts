import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

/** A port nothing listens on right now (bound to port 0, then released). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  await new Promise<void>(resolve => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

/** A spawned process whose stdout and stderr are collected as they arrive. */
export interface Spawned {
  child: ChildProcess;
  output(): string;
  /** Resolves with the first output line matching `pattern` (rejects if the process exits first). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after a grace period; resolves when it is gone. */
  stop(): Promise<number | null>;
}

/** Spawns a command with the given environment and collects its output. */
export function spawnCollecting(command: string, args: string[], env: NodeJS.ProcessEnv): Spawned {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer): void => {
    text += chunk.toString('utf8');
    for (const listener of listeners) listener();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)));
  let done = false;
  void exited.then(() => {
    done = true;
    for (const listener of listeners) listener();
  });
  return {
    child,
    output: () => text,
    exited,
    waitForLine(pattern, timeoutMs = 20_000) {
      return new Promise<string>((resolve, reject) => {
        const check = (): void => {
          const line = text.split('\n').find(candidate => pattern.test(candidate));
          if (line !== undefined) finish(() => resolve(line));
          else if (done) {
            finish(() => reject(new Error(`process exited before printing ${pattern}; output:\n${text}`)));
          }
        };
        const timer = setTimeout(
          () =>
            finish(() =>
              reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; output:\n${text}`)),
            ),
          timeoutMs,
        );
        const finish = (settle: () => void): void => {
          clearTimeout(timer);
          listeners.delete(check);
          settle();
        };
        listeners.add(check);
        check();
      });
    },
    async stop() {
      if (!done) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        const code = await exited;
        clearTimeout(killer);
        return code;
      }
      return exited;
    },
  };
}

/** A throwaway `redis-server` on a free port with the given extra arguments (no persistence). */
export async function startThrowawayRedis(
  extraArgs: string[] = [],
): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const server = spawnCollecting(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs],
    { PATH: process.env.PATH },
  );
  await server.waitForLine(/Ready to accept connections/, 10_000);
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      await server.stop();
    },
  };
}
