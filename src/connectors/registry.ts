import {
  loadConfig,
  type AppConfig,
  type ConnectorSchemas,
  type LoadConfigOptions,
} from '../config/index.js';
import { comfyuiConnector } from './services/comfyui/index.js';
import type { RegisteredConnector } from './definition.js';
import { a1111Connector } from './services/a1111/index.js';
import { restAsyncConnector } from './services/rest-async/index.js';
import { restConnector } from './services/rest/index.js';
import { simulationConnector } from './services/simulation/index.js';

/**
 * Every built-in connector, by the name `CONNECTORS` uses. To add one: write it on a
 * protocol base, export a `defineConnector(...)` entry and add it here.
 */
export const connectorRegistry: Readonly<Record<string, RegisteredConnector>> = {
  simulation: simulationConnector,
  comfyui: comfyuiConnector,
  rest: restConnector,
  rest_async: restAsyncConnector,
  a1111: a1111Connector,
};

/** Names accepted by `CONNECTORS`. */
export function connectorNames(): string[] {
  return Object.keys(connectorRegistry);
}

/** Every built-in connector's config keys, by name: what `loadConfig` composes the schema from. */
export const connectorSchemas: ConnectorSchemas = Object.fromEntries(
  Object.entries(connectorRegistry).map(([name, definition]) => [name, definition.configSchema]),
);

/** Loads the configuration with every built-in connector's settings (what `start` and `details` need). */
export function loadConfigWithConnectors(
  env: NodeJS.ProcessEnv = process.env,
  options: Omit<LoadConfigOptions, 'connectorSchemas'> = {},
): AppConfig {
  return loadConfig(env, { ...options, connectorSchemas });
}
