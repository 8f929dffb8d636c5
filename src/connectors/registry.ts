import { comfyuiConnector } from './comfyui/index.js';
import type { RegisteredConnector } from './registry-types.js';
import { simulationConnector } from './simulation/index.js';

/**
 * Every built-in connector, by the name `CONNECTORS` uses. To add one: write it on a
 * protocol base, export a `defineConnector(...)` entry and add it here.
 */
export const connectorRegistry: Readonly<Record<string, RegisteredConnector>> = {
  simulation: simulationConnector,
  comfyui: comfyuiConnector,
};

/** Names accepted by `CONNECTORS`. */
export function connectorNames(): string[] {
  return Object.keys(connectorRegistry);
}
