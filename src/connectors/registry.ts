import { comfyuiConnector } from './comfyui/index.js';
import type { RegisteredConnector } from './registry-types.js';
import { a1111Connector } from './a1111/index.js';
import { restAsyncConnector } from './rest/async.js';
import { restConnector } from './rest/index.js';
import { simulationConnector } from './simulation/index.js';

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
