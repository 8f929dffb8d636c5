import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { connectorSchemas, loadConfigWithConnectors as loadConfig } from '../../src/connectors/registry.js';
import { buildSchema } from '../../src/config/schema.js';
import { connectorRegistry } from '../../src/connectors/registry.js';

/**
 * The compose file as Docker Compose understands it: Debian's `docker-compose config`
 * validates it against the Compose schema, resolves `${VAR:-default}`, anchors and
 * merges, and prints the result; PyYAML (which docker-compose itself runs on) turns that
 * into JSON. `.ci/run` installs docker-compose when it is missing.
 */
function composeConfig(): ComposeFile {
  let yamlText: string;
  try {
    // A bare environment: the defaults in the file are what is checked, not this shell's.
    yamlText = execFileSync('docker-compose', ['-f', 'docker-compose.yml', 'config'], {
      env: { PATH: process.env.PATH, HOME: '/tmp' },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    throw new Error(
      `docker-compose config failed (install it with \`apt-get install -y docker-compose\`; .ci/run does): ${String(error)}`,
    );
  }
  const json = execFileSync(
    'python3',
    ['-c', 'import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'],
    {
      input: yamlText,
      encoding: 'utf8',
    },
  );
  return JSON.parse(json) as ComposeFile;
}

interface ComposeService {
  image?: string;
  profiles?: string[];
  build?: { context: string };
  command?: string[];
  environment?: Record<string, string>;
  ports?: Array<{ published: number | string; target: number | string }>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas?: number };
  stop_grace_period?: string;
  volumes?: string[];
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/** The port a `node -e "fetch('http://127.0.0.1:<port>/healthz')..."` health check probes. */
function healthPort(service: ComposeService | undefined): number | undefined {
  const text = service?.healthcheck?.test.join(' ') ?? '';
  const match = /http:\/\/127\.0\.0\.1:(\d+)\/healthz/.exec(text);
  return match?.[1] ? Number(match[1]) : undefined;
}

function seconds(duration: string | undefined): number {
  const match = /^(?:(\d+)m)?(?:(\d+)s)?$/.exec(duration ?? '');
  return match ? Number(match[1] ?? 0) * 60 + Number(match[2] ?? 0) : 0;
}

/** Every env variable name the configuration schema reads, with the `WORKER_`-less fallbacks. */
function schemaEnvNames(): Set<string> {
  const names = new Set<string>();
  const walk = (node: unknown): void => {
    if (typeof node !== 'object' || node === null) return;
    const record = node as Record<string, unknown>;
    if ('default' in record) {
      if (typeof record.env === 'string') names.add(record.env);
      return;
    }
    for (const child of Object.values(record)) walk(child);
  };
  walk(buildSchema(connectorSchemas));
  return names;
}

describe('docker-compose.yml and Dockerfile', () => {
  const compose = composeConfig();
  const defaults = loadConfig({});
  const { redis, worker } = compose.services;
  const board = compose.services['bull-board'];
  const packageJson = JSON.parse(fs.readFileSync('package.json', 'utf8')) as {
    scripts: Record<string, string>;
  };

  test('docker-compose validates the file and finds exactly redis, worker and bull-board (MinIO only under its profile)', () => {
    const always = Object.entries(compose.services).filter(([, service]) => !service.profiles?.length);
    expect(always.map(([name]) => name).sort()).toEqual(['bull-board', 'redis', 'worker']);
    const optional = Object.entries(compose.services).filter(([, service]) => service.profiles?.length);
    expect(optional.map(([name, service]) => [name, service.profiles])).toEqual([
      ['minio', ['minio']],
      ['minio-bucket', ['minio']],
    ]);
  });

  test('the MinIO profile: the worker defaults point at it, one bucket and key pair on both sides; store off by default', () => {
    const env = worker?.environment ?? {};
    const minio = compose.services.minio;
    expect(env.OUTPUT_STORE).toBe(defaults.media.output.store);
    expect(env.OUTPUT_S3_ENDPOINT).toBe('http://minio:9000');
    expect(env.OUTPUT_S3_FORCE_PATH_STYLE).toBe('true');
    expect(minio?.environment?.MINIO_ROOT_USER).toBe(env.OUTPUT_S3_ACCESS_KEY_ID);
    expect(minio?.environment?.MINIO_ROOT_PASSWORD).toBe(env.OUTPUT_S3_SECRET_ACCESS_KEY);
    expect(compose.services['minio-bucket']?.command).toEqual([
      'mb',
      '--ignore-existing',
      `local/${env.OUTPUT_S3_BUCKET}`,
    ]);
    // The worker's settings pass the start-up check with the store switched on.
    const config = loadConfig(
      Object.fromEntries(Object.entries(env).map(([k, v]) => [k, k === 'OUTPUT_STORE' ? 's3' : v])),
    );
    expect(config.media.output.s3.bucket).toBe(env.OUTPUT_S3_BUCKET);
  });

  test('Redis 7 with AOF persistence on a volume, noeviction, and a health check', () => {
    expect(redis?.image).toMatch(/^redis:7(\.|$|-)/);
    const command = redis?.command?.join(' ') ?? '';
    expect(command).toContain('--appendonly yes');
    expect(command).toContain('--maxmemory-policy noeviction');
    expect(redis?.volumes?.some(volume => volume.endsWith(':/data:rw') || volume.endsWith(':/data'))).toBe(
      true,
    );
    expect(redis?.healthcheck?.test).toEqual(['CMD', 'redis-cli', 'ping']);
  });

  test('the worker: two replicas, the default connectors, health on WORKER_HTTP_PORT, time to finish jobs', () => {
    expect(worker?.deploy?.replicas).toBe(2);
    expect(worker?.build?.context).toBeDefined();
    expect(worker?.command).toBeUndefined(); // the image's CMD: npm start's command
    const env = worker?.environment ?? {};
    expect(env.CONNECTORS).toBe(defaults.enabledConnectors.join(','));
    expect(env.QUEUE_PREFIX).toBe(defaults.queuePrefix);
    expect(healthPort(worker)).toBe(Number(env.WORKER_HTTP_PORT));
    expect(worker?.ports ?? []).toEqual([]); // replicas cannot share a published port
    expect(worker?.depends_on?.redis?.condition).toBe('service_healthy');
    expect(seconds(worker?.stop_grace_period)).toBeGreaterThan(defaults.shutdownTimeout);
  });

  test('workers and board reach Redis on the port the code defaults to', () => {
    const defaultPort = new URL(defaults.redis.url).port || '6379';
    for (const service of [worker, board]) {
      const url = new URL(service?.environment?.REDIS_URL ?? '');
      expect(url.hostname).toBe('redis');
      expect(url.port || '6379').toBe(defaultPort);
    }
  });

  test('Bull Board: the npm run board command, published on the default BULL_BOARD_PORT, with a health check', () => {
    expect(board?.image).toBe(worker?.image);
    expect(board?.command?.join(' ')).toBe(packageJson.scripts.board);
    const port = defaults.board.port;
    expect(board?.environment?.BULL_BOARD_PORT).toBe(String(port));
    expect(board?.ports?.map(p => [Number(p.published), Number(p.target)])).toEqual([[port, port]]);
    expect(healthPort(board)).toBe(port);
    expect(board?.environment?.BULL_BOARD_USERNAME).toBe(defaults.board.username);
    expect(board?.environment?.BULL_BOARD_PASSWORD).toBe(''); // → generated and printed once
    expect(board?.environment?.QUEUE_PREFIX).toBe(worker?.environment?.QUEUE_PREFIX);
  });

  test('servers listen on 127.0.0.1 by default, on every interface in the image and compose', () => {
    expect(defaults.http.host).toBe('127.0.0.1');
    expect(defaults.board.host).toBe('127.0.0.1');
    const dockerfile = fs.readFileSync('Dockerfile', 'utf8');
    expect(dockerfile).toMatch(/WORKER_HTTP_HOST=0\.0\.0\.0/);
    expect(dockerfile).toMatch(/BULL_BOARD_HOST=0\.0\.0\.0/);
    expect(worker?.environment?.WORKER_HTTP_HOST).toBe('0.0.0.0');
    expect(board?.environment?.BULL_BOARD_HOST).toBe('0.0.0.0');
  });

  test('every variable the compose file sets or documents in comments is one the code reads', () => {
    const known = schemaEnvNames();
    const text = fs.readFileSync('docker-compose.yml', 'utf8');
    // MinIO's own services read MinIO's variables.
    const set = Object.values(compose.services)
      .filter(service => !service.profiles?.includes('minio'))
      .flatMap(service => Object.keys(service.environment ?? {}));
    for (const name of set) expect({ name, known: known.has(name) }).toEqual({ name, known: true });
    const documented = [...text.matchAll(/^\s*#\s*(WORKER_[A-Z0-9_]+):/gm)].map(match => match[1] ?? '');
    expect(documented.length).toBeGreaterThan(10);
    const connectors = Object.keys(connectorRegistry).map(name => name.toUpperCase());
    const designConnectors = ['COMFYUI', 'A1111', 'REST', 'REST_ASYNC'];
    for (const name of documented) {
      // The longest connector name that prefixes the variable (REST_ASYNC before REST).
      const owner = designConnectors
        .filter(c => name.startsWith(`WORKER_${c}_`))
        .sort((a, b) => b.length - a.length)[0];
      expect({ name, owner }).toEqual({ name, owner: expect.any(String) });
      // Connectors built into this checkout must read every variable documented for them.
      if (owner && connectors.includes(owner)) {
        expect({ name, known: known.has(name) }).toEqual({ name, known: true });
      }
    }
  });

  test('the Dockerfile: multi-stage, production dependencies only, non-root, health check, the start command', () => {
    const dockerfile = fs.readFileSync('Dockerfile', 'utf8');
    expect(dockerfile.match(/^FROM node:20\S* AS \w+$/gm)).toHaveLength(2);
    expect(dockerfile).toMatch(/^RUN npm ci --omit=dev --ignore-scripts/m);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK /m);
    expect(dockerfile).toMatch(/WORKER_HTTP_PORT=8080/);
    expect(worker?.environment?.WORKER_HTTP_PORT).toBe('8080');
    expect(dockerfile).toContain(`EXPOSE 8080 ${defaults.board.port}`);
    const cmd = /^CMD \[(.*)\]$/m.exec(dockerfile)?.[1] ?? '';
    expect((JSON.parse(`[${cmd}]`) as string[]).join(' ')).toBe(packageJson.scripts.start);
    const ignore = fs.readFileSync('.dockerignore', 'utf8').split('\n');
    expect(ignore).toEqual(expect.arrayContaining(['node_modules', 'dist', '.env']));
  });
});
