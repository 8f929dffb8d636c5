import type { Schema } from 'convict';
import { connectorEnv } from '../../../config/connector-schema.js';
import { formats } from '../../../config/formats.js';
import { webSocketServiceSchema, type WebSocketServiceConfig } from '../../protocols/websocket/config.js';

/** Logged at start-up and shown by `emp-worker details comfyui`. */
export const VERSION = '2.0.0';

/** ComfyUI settings (`WORKER_COMFYUI_*`, each also without the `WORKER_` prefix). */
export interface ComfyUIConfig extends WebSocketServiceConfig {
  /** `""` (classic routes) or `/api` (every route under /api, ComfyUI ≥ mid-2024). */
  apiPrefix: string;
  /** Seconds without a message about a running prompt before the worker polls ComfyUI and reopens the socket. */
  watchdog: number;
  /** Seconds between polls of /queue and /history while the socket is down or silent, and for a re-attached prompt. */
  pollInterval: number;
  /** Return output files inline as base64 (besides their /view reference). */
  inlineOutputs: boolean;
  /** Most bytes of inline files per job; files past it are returned as references only. */
  inlineMaxBytes: number;
}

function apiPrefix(value: unknown): void {
  if (value !== '' && value !== '/api') throw new Error('must be "" (routes at the root) or "/api"');
}

/** The convict schema of the `comfyui` connector. */
export const comfyuiConfigSchema: Schema<ComfyUIConfig> = {
  ...webSocketServiceSchema('comfyui', {
    concurrency: 1,
    timeoutSeconds: 3600,
    host: 'localhost',
    port: 8188,
  }),
  apiPrefix: {
    doc: 'Prefix of ComfyUI\'s routes: "" (/prompt, /ws; every version) or "/api" (/api/prompt, /api/ws; ComfyUI from mid-2024, and what some proxies expose).',
    format: apiPrefix,
    default: '',
    env: connectorEnv('comfyui', 'API_PREFIX'),
  },
  watchdog: {
    doc: 'Seconds without any WebSocket message about a running prompt before the worker polls /queue and /history and reopens the socket; the job never hangs on a silent socket.',
    format: formats.positiveSeconds,
    default: 30,
    env: connectorEnv('comfyui', 'WATCHDOG'),
  },
  pollInterval: {
    doc: 'Seconds between polls of /queue and /history while the WebSocket is down or silent, and all along for a prompt re-attached after a worker restart (its messages go to the old worker).',
    format: formats.positiveSeconds,
    default: 2,
    env: connectorEnv('comfyui', 'POLL_INTERVAL'),
  },
  inlineOutputs: {
    doc: 'Also return output files inline as base64 ("data" field), fetched from /view; off by default (results then carry filename, subfolder, type and a /view URL).',
    format: formats.boolean,
    default: false,
    env: connectorEnv('comfyui', 'INLINE_IMAGES'),
  },
  inlineMaxBytes: {
    doc: 'Most bytes of inline output files per job (job results live in Redis); files past the cap are returned as references with "inline_skipped".',
    format: formats.positiveInt,
    default: 8 * 1024 * 1024,
    env: connectorEnv('comfyui', 'INLINE_MAX_BYTES'),
  },
};
