import os from 'node:os';
import type { Schema } from 'convict';
import { addFormat, formats } from './formats.js';
import type { TelemetryConfig } from '../telemetry/index.js';
import { mediaSchema, type MediaConfig } from './media.js';

/** Validated, frozen configuration of one worker process. */
export interface AppConfig {
  env: 'development' | 'test' | 'production';
  redis: RedisConfig;
  queuePrefix: string;
  enabledConnectors: string[];
  log: { level: string; format: 'json' | 'pretty' };
  workerId: string;
  http: { port: number | null; host: string };
  shutdownTimeout: number;
  progressMinIntervalMs: number;
  heartbeatInterval: number;
  healthCheckInterval: number;
  jobs: {
    lockDuration: number;
    stalledInterval: number;
    maxStalledCount: number;
    removeCompleted: boolean;
    keepCompletedSeconds: number;
    keepCompletedCount: number;
    keepFailedSeconds: number;
    bullmqMetrics: boolean;
    maxDataBytes: number;
  };
  /** The Bull Board server (`npm run board`). */
  board: BoardConfig;
  /** Signed completion webhooks (docs/producers.md). */
  webhooks: WebhookConfig;
  /** OpenTelemetry tracing (off unless an OTLP endpoint is set). */
  telemetry: TelemetryConfig;
  /** Output stores and input fetching (docs/media.md). */
  media: MediaConfig;
  /** Each connector's own settings, by registry name (typed by the connector). */
  connectors: Record<string, unknown>;
}

/**
 * Where Redis is: one server (`url`), a Sentinel-managed master (`sentinels` + `sentinelName`)
 * or a Cluster (`clusterNodes`). Lists are `host:port,...` text (see `parseHostPorts`).
 */
export interface RedisConfig {
  url: string;
  sentinels: string;
  sentinelName: string;
  password: string;
  sentinelPassword: string;
  clusterNodes: string;
}

/** REDIS_URL's default: a non-default value set together with Sentinel or Cluster is refused. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** Settings of the Bull Board server (bull-board/server.ts). */
export interface BoardConfig {
  port: number;
  /** Interface the board listens on (127.0.0.1: this machine only). */
  host: string;
  username: string;
  /** Empty: the server makes one up at start-up and prints it once. */
  password: string;
  readOnly: boolean;
  /** Seconds between scans of Redis for queues created after start-up. */
  rescanInterval: number;
  /** Path the board is served under, e.g. `/` or `/admin/queues` behind a proxy. */
  basePath: string;
}

/** Settings of completion webhooks (src/webhooks). */
export interface WebhookConfig {
  /** Worker-wide receiver of every job's completed/failed event; empty: only jobs that name one. */
  url: string;
  /** `whsec_<base64 key>` signing every delivery; empty: webhooks are off. */
  secret: string;
  /** Hours a delivery is retried before it is given up. */
  retryHours: number;
  /** Seconds before the first retry; doubled each time (capped at one hour). */
  retryDelay: number;
  /** Seconds one delivery attempt may take. */
  timeout: number;
  /** Deliveries one worker process sends at once. */
  concurrency: number;
  /** Allow webhook URLs on loopback, private and link-local addresses. */
  allowPrivateUrls: boolean;
}

/** Each connector's own config keys, by registry name (composed by the connector registry). */
export type ConnectorSchemas = Readonly<Record<string, Schema<unknown>>>;

let listFormatRegistered = false;

/**
 * Registers the `connector-list` format: a comma-separated list of names. Which names exist
 * is checked by `loadConfig` against the connector schemas it was given.
 */
function registerConnectorListFormat(): void {
  if (listFormatRegistered) return;
  listFormatRegistered = true;
  addFormat({
    name: 'connector-list',
    validate: (value: unknown) => {
      if (!Array.isArray(value) || value.length === 0) throw new Error('must name at least one connector');
      if (value.some(name => typeof name !== 'string')) {
        throw new Error('must be a comma-separated list of names');
      }
      if (new Set(value).size !== value.length) throw new Error('names a connector twice');
    },
    coerce: (value: unknown) =>
      typeof value === 'string'
        ? value
            .split(',')
            .map(name => name.trim())
            .filter(name => name !== '')
        : value,
  });
}

/** Empty, or an http(s) URL. */
function checkOptionalHttpUrl(value: unknown): void {
  if (value === '') return;
  let url: URL | undefined;
  try {
    url = new URL(String(value));
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new Error('must be an http:// or https:// URL, e.g. http://otel-collector:4318, or empty');
  }
}

/** `<host>-<pid>`: the worker id when WORKER_ID is unset. */
export function defaultWorkerId(): string {
  return `${os.hostname()}-${process.pid}`;
}

/** Builds the one schema: global keys plus the given connectors' keys under `connectors.<name>`. */
export function buildSchema(connectorSchemas: ConnectorSchemas = {}): Schema<AppConfig> {
  registerConnectorListFormat();
  const connectors: Record<string, Schema<unknown>> = { ...connectorSchemas };
  return {
    env: {
      doc: 'Which file of config/ to load on top of the defaults.',
      format: ['development', 'test', 'production'],
      default: 'development',
      env: 'NODE_ENV',
    },
    redis: {
      url: {
        doc: 'Redis the queues live in (redis:// or rediss://, may carry user:password).',
        format: formats.redisUrl,
        default: DEFAULT_REDIS_URL,
        env: 'REDIS_URL',
        sensitive: true,
      },
      sentinels: {
        doc: 'Redis Sentinels as host:port,host:port; with REDIS_SENTINEL_NAME the worker follows the master they elect (instead of REDIS_URL).',
        format: formats.hostPortList,
        default: '',
        env: 'REDIS_SENTINELS',
      },
      sentinelName: {
        doc: 'Name of the master the Sentinels monitor (their `sentinel monitor <name> ...`).',
        format: String,
        default: '',
        env: 'REDIS_SENTINEL_NAME',
      },
      password: {
        doc: 'Password of the Redis servers (with REDIS_SENTINELS or REDIS_CLUSTER_NODES; with REDIS_URL, used when the URL carries none). Keeps the password out of a URL.',
        format: String,
        default: '',
        env: 'REDIS_PASSWORD',
        sensitive: true,
      },
      sentinelPassword: {
        doc: 'Password of the Sentinels themselves, when they require one.',
        format: String,
        default: '',
        env: 'REDIS_SENTINEL_PASSWORD',
        sensitive: true,
      },
      clusterNodes: {
        doc: 'Redis Cluster seed nodes as host:port,host:port (instead of REDIS_URL); QUEUE_PREFIX must then carry a hash tag such as {emp}.',
        format: formats.hostPortList,
        default: '',
        env: 'REDIS_CLUSTER_NODES',
      },
    },
    queuePrefix: {
      doc: 'BullMQ key prefix. Use a hash tag such as {emp} on Redis Cluster.',
      format: (value: unknown) => {
        if (typeof value !== 'string' || value === '' || /\s/.test(value)) {
          throw new Error('must be a non-empty string without spaces');
        }
      },
      default: 'bull',
      env: 'QUEUE_PREFIX',
    },
    enabledConnectors: {
      doc: 'Comma-separated connectors this worker runs (falls back to WORKER_CONNECTORS).',
      format: 'connector-list',
      default: ['simulation'],
      env: 'CONNECTORS',
    },
    log: {
      level: {
        doc: 'Log level: error, warn, info, debug.',
        format: ['error', 'warn', 'info', 'debug', 'silent'],
        default: 'info',
        env: 'LOG_LEVEL',
      },
      format: {
        doc: 'Log format: json (one object per line) or pretty (for terminals).',
        format: ['json', 'pretty'],
        default: 'pretty',
        env: 'LOG_FORMAT',
      },
    },
    workerId: {
      doc: 'Name of this worker process in logs, Bull Board and `emp-worker status` (default: <host>-<pid>).',
      format: String,
      default: '',
      env: 'WORKER_ID',
    },
    http: {
      port: {
        doc: 'Port of /healthz, /readyz and /metrics; empty disables the server, 0 picks a free port.',
        format: formats.optionalPort,
        default: null,
        env: 'WORKER_HTTP_PORT',
      },
      host: {
        doc: 'Interface /healthz, /readyz and /metrics listen on: 127.0.0.1 (this machine only; /metrics has no auth) or 0.0.0.0 (every interface, as in the Docker image).',
        format: formats.listenHost,
        default: '127.0.0.1',
        env: 'WORKER_HTTP_HOST',
      },
    },
    shutdownTimeout: {
      doc: 'Seconds running jobs get to finish after SIGTERM before they are handed back to the queue.',
      format: formats.positiveSeconds,
      default: 25,
      env: 'SHUTDOWN_TIMEOUT',
    },
    progressMinIntervalMs: {
      doc: 'At most one progress write per job per this many milliseconds (latest value wins).',
      format: 'nat',
      default: 500,
      env: 'PROGRESS_MIN_INTERVAL_MS',
    },
    heartbeatInterval: {
      doc: 'Seconds between worker heartbeat records in Redis (they expire after three missed beats).',
      format: formats.positiveSeconds,
      default: 10,
      env: 'WORKER_HEARTBEAT_INTERVAL',
    },
    healthCheckInterval: {
      doc: 'Seconds between service health checks; an unhealthy service pauses its queue on this worker.',
      format: formats.positiveSeconds,
      default: 10,
      env: 'WORKER_HEALTH_CHECK_INTERVAL',
    },
    jobs: {
      lockDuration: {
        doc: "Milliseconds a job lock lasts without renewal; a dead worker's jobs return after about this long.",
        format: formats.positiveInt,
        default: 30000,
        env: 'WORKER_LOCK_DURATION',
      },
      stalledInterval: {
        doc: 'Milliseconds between checks for jobs whose worker died.',
        format: formats.positiveInt,
        default: 30000,
        env: 'WORKER_STALLED_INTERVAL',
      },
      maxStalledCount: {
        doc: 'Times a job may be recovered from a dead worker before it fails.',
        format: 'nat',
        default: 2,
        env: 'WORKER_MAX_STALLED_COUNT',
      },
      removeCompleted: {
        doc: 'Remove completed jobs by WORKER_KEEP_COMPLETED_SECONDS/_COUNT; false keeps every one (BullMQ default; Redis grows without bound).',
        format: formats.boolean,
        default: true,
        env: 'WORKER_REMOVE_COMPLETED',
      },
      keepCompletedSeconds: {
        doc: 'Seconds completed jobs are kept in Redis.',
        format: 'nat',
        default: 86400,
        env: 'WORKER_KEEP_COMPLETED_SECONDS',
      },
      keepCompletedCount: {
        doc: 'Most completed jobs kept per queue.',
        format: 'nat',
        default: 1000,
        env: 'WORKER_KEEP_COMPLETED_COUNT',
      },
      keepFailedSeconds: {
        doc: 'Seconds failed jobs are kept in Redis.',
        format: 'nat',
        default: 604800,
        env: 'WORKER_KEEP_FAILED_SECONDS',
      },
      bullmqMetrics: {
        doc: "Record BullMQ's per-minute completed/failed counts in Redis (Bull Board's throughput graph); a little Redis work per job.",
        format: formats.boolean,
        default: true,
        env: 'WORKER_BULLMQ_METRICS',
      },
      maxDataBytes: {
        doc: 'Largest job data (as JSON) a job may carry; larger jobs fail at once.',
        format: formats.positiveInt,
        default: 10 * 1024 * 1024,
        env: 'WORKER_MAX_JOB_DATA_BYTES',
      },
    },
    board: {
      port: {
        doc: 'Port of the Bull Board server (npm run board).',
        format: 'port',
        default: 3000,
        env: 'BULL_BOARD_PORT',
      },
      host: {
        doc: 'Interface Bull Board listens on: 127.0.0.1 (this machine only) or 0.0.0.0 (every interface, as in the Docker image and docker-compose.yml).',
        format: formats.listenHost,
        default: '127.0.0.1',
        env: 'BULL_BOARD_HOST',
      },
      username: {
        doc: 'Basic-auth user name of Bull Board.',
        format: (value: unknown) => {
          if (typeof value !== 'string' || value === '' || value.includes(':')) {
            throw new Error('must be a non-empty name without ":"');
          }
        },
        default: 'admin',
        env: 'BULL_BOARD_USERNAME',
      },
      password: {
        doc: 'Basic-auth password of Bull Board; empty makes one up at start-up and prints it once.',
        format: String,
        default: '',
        env: 'BULL_BOARD_PASSWORD',
        sensitive: true,
      },
      readOnly: {
        doc: 'true hides and refuses retry, clean, promote, remove, pause and every other action in Bull Board.',
        format: formats.boolean,
        default: false,
        env: 'BULL_BOARD_READ_ONLY',
      },
      rescanInterval: {
        doc: 'Seconds between scans of Redis for queues created after Bull Board started.',
        format: formats.positiveSeconds,
        default: 10,
        env: 'BULL_BOARD_RESCAN_INTERVAL',
      },
      basePath: {
        doc: 'Path Bull Board is served under (set it to the path a reverse proxy forwards, e.g. /admin/queues).',
        format: (value: unknown) => {
          if (typeof value !== 'string' || !value.startsWith('/') || /\s/.test(value)) {
            throw new Error('must be a path starting with "/", e.g. / or /admin/queues');
          }
        },
        default: '/',
        env: 'BULL_BOARD_BASE_PATH',
      },
    },
    webhooks: {
      url: {
        doc: 'Receiver of every job\'s job.completed / job.failed webhook (a job\'s own "webhook" wins); empty: only jobs that name one.',
        format: (value: unknown) => {
          if (value === '') return;
          if (typeof value !== 'string' || !/^https?:\/\/\S+$/.test(value) || value.length > 2048) {
            throw new Error('must be an http:// or https:// URL of at most 2048 characters, or empty');
          }
        },
        default: '',
        env: 'WEBHOOK_URL',
        sensitive: true,
      },
      secret: {
        doc: 'Standard Webhooks signing secret, whsec_<base64 key>; empty turns webhooks off.',
        format: (value: unknown) => {
          if (value === '') return;
          if (typeof value !== 'string' || !/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(value)) {
            throw new Error('must be whsec_ followed by a base64 key (empty turns webhooks off)');
          }
          if (Buffer.from(value.slice('whsec_'.length), 'base64').length < 16) {
            throw new Error('must hold a key of at least 16 bytes (24 base64 characters)');
          }
        },
        default: '',
        env: 'WEBHOOK_SECRET',
        sensitive: true,
      },
      retryHours: {
        doc: 'Hours a webhook delivery is retried (5xx, 408, 429, timeouts) before it is given up.',
        format: formats.positiveSeconds,
        default: 24,
        env: 'WEBHOOK_RETRY_HOURS',
      },
      retryDelay: {
        doc: 'Seconds before the first webhook retry; doubled after each failure, at most one hour apart.',
        format: formats.positiveSeconds,
        default: 5,
        env: 'WEBHOOK_RETRY_DELAY',
      },
      timeout: {
        doc: 'Seconds one webhook delivery attempt may take.',
        format: formats.positiveSeconds,
        default: 10,
        env: 'WEBHOOK_TIMEOUT',
      },
      concurrency: {
        doc: 'Webhook deliveries one worker process sends at once.',
        format: formats.positiveInt,
        default: 10,
        env: 'WEBHOOK_CONCURRENCY',
      },
      allowPrivateUrls: {
        doc: 'true allows webhook URLs on loopback, private and link-local addresses.',
        format: formats.boolean,
        default: false,
        env: 'WEBHOOK_ALLOW_PRIVATE_URLS',
      },
    },
    telemetry: {
      endpoint: {
        doc: 'OTLP/HTTP collector base URL (traces go to <it>/v1/traces); empty: no tracing and no OpenTelemetry SDK loaded. Other OTEL_* variables (headers, sampler, batching) are read by the SDK.',
        format: (value: unknown) => checkOptionalHttpUrl(value),
        default: '',
        env: 'OTEL_EXPORTER_OTLP_ENDPOINT',
      },
      tracesEndpoint: {
        doc: 'Full OTLP/HTTP traces URL; wins over OTEL_EXPORTER_OTLP_ENDPOINT.',
        format: (value: unknown) => checkOptionalHttpUrl(value),
        default: '',
        env: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
      },
      serviceName: {
        doc: 'service.name of the spans this process exports.',
        format: String,
        default: 'emp-worker',
        env: 'OTEL_SERVICE_NAME',
      },
      disabled: {
        doc: 'true turns tracing off even when an endpoint is set.',
        format: formats.boolean,
        default: false,
        env: 'OTEL_SDK_DISABLED',
      },
    },
    media: mediaSchema,
    connectors: connectors,
  };
}
