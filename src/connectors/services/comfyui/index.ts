import { defineConnector } from '../../definition.js';
import { VERSION, comfyuiConfigSchema, type ComfyUIConfig } from './config.js';
import { ComfyUIConnector } from './connector.js';
import { comfyuiJobSchema } from './workflow.js';

export { VERSION, type ComfyUIConfig } from './config.js';
export { ComfyUIConnector, PROMPT_ID_KEY } from './connector.js';

/** Registry entry of the ComfyUI connector. */
export const comfyuiConnector = defineConnector<ComfyUIConfig>({
  name: 'comfyui',
  version: VERSION,
  description: 'ComfyUI workflows over WebSocket + HTTP (/prompt, /ws, /history, /view, /interrupt, /queue)',
  configSchema: comfyuiConfigSchema,
  jobSchema: comfyuiJobSchema,
  create: (config, deps) => new ComfyUIConnector(config, deps),
});
