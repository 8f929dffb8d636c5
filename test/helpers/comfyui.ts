import { createLogger } from '../../src/logging/logger.js';
import { ComfyUIConnector, type ComfyUIConfig } from '../../src/connectors/services/comfyui/index.js';
import type { ComfyOutput } from '../../src/connectors/services/comfyui/outputs.js';
import type { ProgressUpdate } from '../../src/connectors/types.js';
import { testContext } from './job-context.js';
import { testConfig } from './runtime.js';

/** A ComfyUI connector built from env-style settings, the way the worker builds it. */
export function comfyConnector(port: number, env: Record<string, string> = {}): ComfyUIConnector {
  const config = testConfig({
    CONNECTORS: 'comfyui',
    WORKER_COMFYUI_HOST: '127.0.0.1',
    WORKER_COMFYUI_PORT: String(port),
    ...env,
  });
  const logger = createLogger({ level: 'error', format: 'json' });
  return new ComfyUIConnector(config.connectors.comfyui as ComfyUIConfig, { logger });
}

/** What one direct run of the connector produced. */
export interface DirectRun {
  output: ComfyOutput;
  progress: ProgressUpdate[];
  logs: string[];
  checkpoint: Record<string, unknown>;
}

/**
 * Runs one job straight through `connector.process` with an in-memory checkpoint (for
 * tests that compare outputs; the worker paths are tested end to end through Redis).
 */
export async function runComfyJob(
  connector: ComfyUIConnector,
  data: unknown,
  options: { signal?: AbortSignal; checkpoint?: Record<string, unknown> } = {},
): Promise<DirectRun> {
  const ctx = testContext(data, { id: 'direct', ...options });
  const output = (await connector.process(ctx)) as ComfyOutput;
  return { output, progress: ctx.progressSeen, logs: ctx.logLines, checkpoint: ctx.saved };
}
